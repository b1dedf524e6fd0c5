//! `envelope encrypt` and `envelope decrypt`: the keyring and options are
//! set up once, then each job of the [`Plan`] runs through
//! [`encrypt_one`]/[`decrypt_one`], the per-file loops.
//!
//! With several files, a file that fails is reported and the others still
//! run; the exit code is the first failure's. A failed file leaves nothing
//! behind (see [`Output`]).

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};

use envelope::format::{Header, Limits};
use envelope::keyring::Keyring;
use envelope::stream::{AuthenticatedHeader, DecryptOptions, EncryptOptions, StreamSummary};
use envelope::EncryptionContext;
use envelope::{AlgorithmSuite, CommitmentPolicy};

use super::base64io::{is_not_base64, Base64Reader};
use super::batch;
use super::error::{CliError, EXIT_INTEGRITY};
use super::header_info::HeaderInfo;
use super::held::Held;
use super::keyrings::{keyring_from_args, KeyService, Mode};
use super::metadata::Metadata;
use super::output::{check_stdout, Output, Parents};
use super::plan::{self, Dest, Job, Op, Plan, Source};
use super::ui::{Progress, Ui};
use super::{CommonArgs, DecryptArgs, EncryptArgs};

/// `-c` words split into pairs (k=v) and bare required keys (k).
pub(super) struct ContextArgs {
    pub pairs: EncryptionContext,
    pub required_keys: Vec<String>,
}

/// A bare `-c` word that names a file while no input was given: `-c k=v
/// FILE` reads FILE as a context key (`-c` takes every word after it), so
/// the input was meant.
pub(super) fn check_swallowed_input(common: &CommonArgs) -> Result<(), CliError> {
    if !common.input.is_empty() {
        return Ok(());
    }
    let swallowed = common
        .encryption_context
        .iter()
        .find(|w| !w.contains('=') && std::path::Path::new(w).is_file());
    match swallowed {
        Some(w) => Err(CliError::usage(format!(
            "-c takes every word after it, so '{w}' was read as a context key, and there is no \
             input: give the file with -i {w}, or before -c"
        ))),
        None => Ok(()),
    }
}

pub(super) fn parse_context(words: &[String]) -> Result<ContextArgs, CliError> {
    let mut c = ContextArgs {
        pairs: EncryptionContext::new(),
        required_keys: Vec::new(),
    };
    for w in words {
        match w.split_once('=') {
            Some((k, v)) => {
                if c.pairs.insert(k.to_owned(), v.to_owned()).is_some() {
                    return Err(CliError::usage(format!("-c: key '{k}' given twice")));
                }
            }
            None => c.required_keys.push(w.clone()),
        }
    }
    Ok(c)
}

/// Every suite as `0xID NAME`, joined by `sep`: for `--algorithm`'s help and
/// for its error, so that neither sends the user to the documentation.
pub fn suite_list(sep: &str) -> String {
    AlgorithmSuite::ALL
        .iter()
        .map(|s| format!("0x{:04X} {}", s.id, s.name))
        .collect::<Vec<_>>()
        .join(sep)
}

/// `--algorithm`, if given.
pub(super) fn parse_suite(s: Option<&str>) -> Result<Option<&'static AlgorithmSuite>, CliError> {
    let Some(s) = s else { return Ok(None) };
    match AlgorithmSuite::parse(s) {
        Some(suite) => Ok(Some(suite)),
        None => Err(CliError::usage(format!(
            "unknown algorithm suite '{s}': --algorithm takes one of {}",
            suite_list(", ")
        ))),
    }
}

pub(super) fn policy(common: &CommonArgs) -> Result<CommitmentPolicy, CliError> {
    common.commitment_policy.parse().map_err(CliError::usage)
}

/// `--threads`, else every available core.
pub(super) fn threads(common: &CommonArgs) -> usize {
    common
        .threads
        .map_or_else(envelope::stream::available_threads, usize::from)
}

pub fn encrypt(a: EncryptArgs, service: &mut KeyService<'_>, ui: &Ui) -> Result<(), CliError> {
    check_swallowed_input(&a.common)?;
    let ctx = parse_context(&a.common.encryption_context)?;
    if let Some(k) = ctx.required_keys.first() {
        return Err(CliError::usage(format!(
            "-c: key '{k}' has no value: encrypt needs key=value pairs"
        )));
    }
    let suite = parse_suite(a.algorithm.as_deref())?;
    let commitment_policy = policy(&a.common)?;
    let plan = plan::plan(&a.common, Op::Encrypt, ui)?;
    if plan.writes_stdout() {
        check_stdout(a.common.encode)?;
    }
    let mut meta = Metadata::open(&a.common, plan.writes_stdout(), "encrypt")?;
    let keyring = keyring_from_args(
        &a.common.wrapping_key_groups,
        &a.common.key_ids,
        Mode::Encrypt,
        service,
    )?;
    let opts = EncryptOptions {
        suite,
        frame_length: a.frame_length,
        commitment_policy,
        encryption_context: ctx.pairs,
        required_encryption_context_keys: Vec::new(),
        max_encrypted_data_keys: a.common.max_encrypted_data_keys,
        plaintext_length: None,
        caching: a.caching.as_deref().map(super::caching::parse).transpose()?,
    };
    let threads = threads(&a.common);
    let r = run(
        &plan,
        &a.common,
        Op::Encrypt,
        ui,
        &mut meta,
        &|input, len, name, out, progress| {
            // The file's length, for the cache's byte count (checked as it is read).
            let sized = EncryptOptions {
                plaintext_length: len,
                ..opts.clone()
            };
            encrypt_one(keyring.as_ref(), &sized, threads, input, name, out, progress)
        },
    );
    store_detail(service, ui);
    r
}

/// The `-v` lines naming the key services the run used: the key store with
/// its region and account, and any remote service.
pub(super) fn store_detail(service: &KeyService<'_>, ui: &Ui) {
    for line in service.service_details() {
        ui.detail(1, line);
    }
}

pub fn decrypt(a: DecryptArgs, service: &mut KeyService<'_>, ui: &Ui) -> Result<(), CliError> {
    check_swallowed_input(&a.common)?;
    let ctx = parse_context(&a.common.encryption_context)?;
    let commitment_policy = policy(&a.common)?;
    let plan = plan::plan(&a.common, Op::Decrypt, ui)?;
    let mut meta = Metadata::open(
        &a.common,
        plan.writes_stdout(),
        if a.decrypt_unsigned {
            "decrypt-unsigned"
        } else {
            "decrypt"
        },
    )?;
    let keyring = keyring_from_args(
        &a.common.wrapping_key_groups,
        &a.common.key_ids,
        Mode::Decrypt,
        service,
    )?;
    let opts = DecryptOptions {
        commitment_policy,
        reproduced_encryption_context: ctx.pairs,
        max_encrypted_data_keys: Some(max_edks_read(&a.common)),
        unsigned_only: a.decrypt_unsigned,
        limits: limits(a.max_length, a.max_header_size),
    };
    let check = DecryptChecks {
        required_keys: &ctx.required_keys,
        buffer: a.buffer,
        threads: threads(&a.common),
    };
    let explainer = service.explainer();
    let r = run(
        &plan,
        &a.common,
        Op::Decrypt,
        ui,
        &mut meta,
        &|input, _len, name, out, progress| {
            decrypt_one(keyring.as_ref(), &opts, &check, input, name, out, progress)
                .map_err(|e| explainer.explain(e))
        },
    );
    store_detail(service, ui);
    r
}

/// The CLI's limit on the encrypted data keys of a message it opens, unless
/// `--max-encrypted-data-keys` says otherwise: more than any real message
/// carries (one per wrapping key), few enough that trying each costs little.
/// The library has no default limit, as the ESDK has none.
pub const DEFAULT_MAX_EDKS_READ: u16 = 32;

/// `--max-encrypted-data-keys` for messages read (decrypt, rewrap's input).
pub(super) fn max_edks_read(common: &CommonArgs) -> u16 {
    common.max_encrypted_data_keys.unwrap_or(DEFAULT_MAX_EDKS_READ)
}

/// The parser's limits under `--max-length N` (frames and non-framed bodies
/// up to N bytes; frames cannot be longer than 2^32-1 anyway) and
/// `--max-header-size N`.
pub(super) fn limits(max_length: Option<u64>, max_header_size: Option<usize>) -> Limits {
    let default = Limits::default();
    let lengths = match max_length {
        None => default,
        Some(n) => Limits {
            max_frame_length: u32::try_from(n).unwrap_or(u32::MAX),
            max_body_length: n,
            ..default
        },
    };
    Limits {
        max_header_size: max_header_size.unwrap_or(default.max_header_size),
        ..lengths
    }
}

/// The per-file work of encrypt or decrypt: reads one input (named as given)
/// into one output, counting progress. Shared by the threads of a directory run.
pub type Body<'a> = dyn Fn(&mut dyn Read, Option<u64>, &str, &mut Output, &Progress) -> Result<StreamSummary, CliError>
    + Sync
    + 'a;

/// Runs every job through `body`, recording each outcome.
pub(super) fn run(
    plan: &Plan,
    common: &CommonArgs,
    mode: Op,
    ui: &Ui,
    meta: &mut Metadata,
    body: &Body<'_>,
) -> Result<(), CliError> {
    if plan.files == 0 && plan.skipped == 0 {
        ui.note("no files to process");
    }
    // Plaintext shown on the terminal would be torn by a bar drawn on the same screen.
    let stdout_on_terminal = plan.writes_stdout() && io::stdout().is_terminal();
    // Nor over text being typed on the terminal.
    let stdin_on_terminal =
        plan.single().is_some_and(|j| j.source == Source::Stdin) && io::stdin().is_terminal();
    // The bar counts what the body reads: under --decode, about 3 bytes per 4 of text.
    let total = plan.total_size.map(|t| if common.decode { t / 4 * 3 } else { t });
    let progress = ui.progress(total, !stdout_on_terminal && !stdin_on_terminal);
    let Some(job) = plan.single() else {
        return batch::run(plan, common, mode, ui, meta, &progress, body);
    };
    if plan.skips(job) {
        return Ok(());
    }
    progress.set_file(&job.input_name());
    let r = run_job(job, common, Parents::Create, mode, &progress, body)
        .and_then(|(summary, out)| out.commit().map(|()| summary));
    drop(progress);
    match r {
        Ok(summary) => {
            meta.ok(mode, job, &summary)?;
            report(ui, mode, job, &summary);
            Ok(())
        }
        Err(e) => {
            if !e.is_reader_gone() {
                meta.failed(mode, job, &e)?;
            }
            Err(e)
        }
    }
}

/// One job: opens its input and output and runs `body`; the output, all
/// written, is the caller's to commit.
pub fn run_job(
    job: &Job,
    common: &CommonArgs,
    parents: Parents<'_>,
    mode: Op,
    progress: &Progress,
    body: &Body<'_>,
) -> Result<(StreamSummary, Output), CliError> {
    let name = job.input_name();
    if job.source == Source::Stdin || job.dest == Dest::Stdout {
        super::pipes::widen_stdio();
    }
    let (mut input, len): (Box<dyn Read>, _) = match &job.source {
        Source::Stdin => (Box::new(io::stdin().lock()), None),
        Source::File(p) => {
            let f = File::open(p).map_err(|e| CliError::io(&name, e))?;
            // A regular file's length as opened (a FIFO or device has none).
            let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
            (Box::new(f), len)
        }
    };
    // Under --decode the file holds base64 text: its length is not the plaintext's.
    let len = if common.decode { None } else { len };
    if common.decode {
        input = Box::new(Base64Reader::new(input));
    }
    // Base64 text is safe on a terminal; ciphertext is not.
    let text_ok = mode == Op::Decrypt || common.encode;
    let mut out = match &job.dest {
        Dest::Stdout => Output::stdout(text_ok)?,
        Dest::File(p) => Output::file(p, common.force, parents, text_ok)?,
    };
    if common.encode {
        out = out.base64();
    }
    let summary = body(&mut input, len, &name, &mut out, progress)?;
    Ok((summary, out))
}

/// The `-v` lines for a finished file.
pub(super) fn report(ui: &Ui, mode: Op, job: &Job, s: &StreamSummary) {
    if !ui.verbose(1) {
        return;
    }
    let out = match &job.dest {
        Dest::Stdout => "stdout".to_owned(),
        Dest::File(p) => p.display().to_string(),
    };
    let verb = match mode {
        Op::Encrypt => "encrypted",
        Op::Decrypt => "decrypted",
        Op::Rewrap => "rewrapped",
    };
    ui.detail(
        1,
        format!(
            "{verb} {} -> {out} ({} bytes in, {} bytes out)",
            job.input_name(),
            s.bytes_in,
            s.bytes_out
        ),
    );
    let h = HeaderInfo::new(&s.header);
    for e in &h.encrypted_data_keys {
        ui.detail(1, format!("  data key wrapped by {}", e.one_line()));
    }
    ui.detail(2, format!("  suite {} {}", h.suite_id, h.suite_name));
    ui.detail(2, format!("  message id {}", h.message_id));
    for (k, v) in &h.encryption_context {
        // Unquoted: the one escaping of what reaches stderr is the Ui's.
        ui.detail(2, format!("  encryption context {k} = {v}"));
    }
}

/// Encrypts one input into one output through the parallel pipeline
/// (single-threaded for small inputs or `--threads 1`).
pub fn encrypt_one(
    keyring: &dyn Keyring,
    opts: &EncryptOptions,
    threads: usize,
    input: &mut dyn Read,
    in_name: &str,
    out: &mut Output,
    progress: &Progress,
) -> Result<StreamSummary, CliError> {
    let out_name = out.name();
    let mut src = Blame::new(Counted {
        inner: input,
        progress,
    });
    let mut sink = Blame::new(out);
    let r = envelope::stream::encrypt_stream_parallel(keyring, opts, &mut src, &mut sink, threads);
    Failed {
        what: format!("encrypt {in_name}"),
        input: (src.failed, in_name),
        output: (sink.failed, &out_name),
    }
    .check(r)
}

/// What decrypt checks beyond the library's options.
pub struct DecryptChecks<'a> {
    /// `-c k`: keys the message's encryption context must have.
    pub required_keys: &'a [String],
    /// `--buffer`: release nothing until the whole message has verified.
    pub buffer: bool,
    /// `--threads`: threads that open frames.
    pub threads: usize,
}

/// Decrypts one input into one output. Authenticated frames are written as
/// they verify (the library holds the final frame until the signature has
/// verified); with `--buffer`, nothing is written until the end (see `held`). The `-c k`
/// checks run on the authenticated header, before any plaintext is written.
pub fn decrypt_one(
    keyring: &dyn Keyring,
    opts: &DecryptOptions,
    check: &DecryptChecks<'_>,
    input: &mut dyn Read,
    in_name: &str,
    out: &mut Output,
    progress: &Progress,
) -> Result<StreamSummary, CliError> {
    let out_name = out.name();
    // A file output is released only once verified anyway (see `output`).
    let hold = check.buffer && !matches!(out, Output::File(_));
    let mut src = Blame::new(Counted {
        inner: input,
        progress,
    });
    let mut sink = Blame::new(&mut *out);
    let mut held = Held::default();
    let r = AuthenticatedHeader::read(keyring, opts, &mut src).and_then(|d| {
        if let Err(e) = check_required_keys(check.required_keys, d.header(), &format!("decrypt {in_name}")) {
            return Ok(Err(e));
        }
        if hold {
            d.decrypt_body_to(&mut held, check.threads).map(Ok)
        } else {
            d.decrypt_body_to(&mut sink, check.threads).map(Ok)
        }
    });
    let summary = Failed {
        what: format!("decrypt {in_name}"),
        input: (src.failed, in_name),
        output: (sink.failed, &out_name),
    }
    .check(r)??;
    match held.release(out) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(CliError::reader_gone()),
        Err(e) => Err(CliError::io(out_name, e)),
        Ok(()) => Ok(summary),
    }
}

/// `-c k`: fails unless the authenticated header's context has every key.
pub(super) fn check_required_keys(keys: &[String], h: &Header, what: &str) -> Result<(), CliError> {
    match keys.iter().find(|k| !h.encryption_context.contains_key(*k)) {
        Some(k) => Err(CliError::with_code(
            EXIT_INTEGRITY,
            format!("{what}: encryption context: required key '{k}' is missing"),
        )),
        None => Ok(()),
    }
}

/// A reader that advances the progress bar by what it reads.
pub(super) struct Counted<'a> {
    pub inner: &'a mut dyn Read,
    pub progress: &'a Progress,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}

/// A reader or writer that remembers whether it failed, so that an I/O error
/// coming back from the library names the right file.
pub(super) struct Blame<T> {
    inner: T,
    pub failed: bool,
}

impl<T> Blame<T> {
    pub(super) fn new(inner: T) -> Self {
        Blame { inner, failed: false }
    }

    fn note<V>(&mut self, r: io::Result<V>) -> io::Result<V> {
        if r.as_ref().is_err_and(|e| e.kind() != io::ErrorKind::Interrupted) {
            self.failed = true;
        }
        r
    }
}

impl<R: Read> Read for Blame<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let r = self.inner.read(buf);
        self.note(r)
    }
}

impl<W: Write> Write for Blame<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.inner.write(buf);
        self.note(r)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let r = self.inner.write_all(buf);
        self.note(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.flush();
        self.note(r)
    }
}

/// How a library call that read the input and wrote the output failed.
pub(super) struct Failed<'a> {
    pub what: String,
    /// Whether the input failed, and its name.
    pub input: (bool, &'a str),
    /// Whether the output failed, and its name.
    pub output: (bool, &'a str),
}

impl Failed<'_> {
    pub(super) fn check<T>(self, r: envelope::Result<T>) -> Result<T, CliError> {
        match r {
            Ok(v) => Ok(v),
            // The reader of our stdout went away (`| head`): end quietly (see `write_out`).
            Err(envelope::Error::Io(e)) if self.output.0 && e.kind() == io::ErrorKind::BrokenPipe => {
                Err(CliError::reader_gone())
            }
            Err(envelope::Error::Io(e)) if self.output.0 => Err(CliError::io(self.output.1, e)),
            // Text that --decode cannot read is damaged input, as a damaged message is.
            Err(envelope::Error::Io(e)) if self.input.0 && is_not_base64(&e) => Err(CliError::with_code(
                EXIT_INTEGRITY,
                format!("{}: {e}", self.input.1),
            )),
            Err(envelope::Error::Io(e)) if self.input.0 => Err(CliError::io(self.input.1, e)),
            // Only decrypt sets these limits; the message may be valid.
            Err(e @ envelope::Error::LengthLimit { what, .. }) => {
                let flag = if what == "header" {
                    "--max-header-size N accepts larger ones"
                } else {
                    "--max-length N accepts longer ones"
                };
                Err(CliError::usage(format!("{}: {e}; {flag}", self.what)))
            }
            // Likewise: a valid message may carry more keys than the limit.
            Err(e @ envelope::Error::TooManyEncryptedDataKeys { .. }) => Err(CliError::usage(format!(
                "{}: {e}; --max-encrypted-data-keys N (default {DEFAULT_MAX_EDKS_READ}) accepts more",
                self.what
            ))),
            Err(e) => Err(CliError::from_lib(self.what, e)),
        }
    }
}
