//! `envelope encrypt` and `envelope decrypt`: the keyring and options are
//! set up once, then each job of the [`Plan`] runs through
//! [`encrypt_one`]/[`decrypt_one`], the per-file loops.
//!
//! With several files, a file that fails is reported and the others still
//! run; the exit code is the first failure's. A failed file leaves nothing
//! behind (see [`Output`]).

use std::fs::{self, File};
use std::io::{self, IsTerminal, Read, Write};

use envelope::format::context::EncryptionContext;
use envelope::keyring::Keyring;
use envelope::stream::{DecryptOptions, Decryptor, EncryptOptions, Encryptor, StreamSummary};
use envelope::{AlgorithmSuite, CommitmentPolicy};
use zeroize::Zeroizing;

use super::describe::HeaderInfo;
use super::error::{CliError, EXIT_INTEGRITY};
use super::keys::{keyring_from_args, KeyService, Mode};
use super::metadata::Metadata;
use super::output::{check_stdout, Output};
use super::plan::{self, Dest, Job, Plan, Source};
use super::ui::{Progress, Ui};
use super::{CommonArgs, DecryptArgs, EncryptArgs};

const CHUNK: usize = 1 << 20;

/// `-c` words split into pairs (k=v) and bare required keys (k).
struct ContextArgs {
    pairs: EncryptionContext,
    required_keys: Vec<String>,
}

fn parse_context(words: &[String]) -> Result<ContextArgs, CliError> {
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

fn policy(common: &CommonArgs) -> Result<CommitmentPolicy, CliError> {
    common.commitment_policy.parse().map_err(CliError::usage)
}

fn read_chunk(r: &mut dyn Read, buf: &mut [u8], name: &str) -> Result<usize, CliError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CliError::io(name, e)),
        }
    }
    Ok(n)
}

fn write_out(out: &mut Output, bytes: &[u8]) -> Result<(), CliError> {
    match out.write_all(bytes) {
        Ok(()) => Ok(()),
        // The reader of our stdout (or FIFO) went away (`| head`): end quietly,
        // as command-line tools in a pipeline do.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(CliError::reader_gone()),
        Err(e) => Err(CliError::io(out.name(), e)),
    }
}

pub fn encrypt(a: EncryptArgs, service: &mut KeyService<'_>, ui: &Ui) -> Result<(), CliError> {
    let ctx = parse_context(&a.common.encryption_context)?;
    if let Some(k) = ctx.required_keys.first() {
        return Err(CliError::usage(format!("-c {k}: encrypt needs key=value pairs")));
    }
    let suite = match &a.algorithm {
        Some(s) => Some(
            AlgorithmSuite::parse(s)
                .ok_or_else(|| CliError::usage(format!("unknown algorithm suite '{s}'")))?,
        ),
        None => None,
    };
    let commitment_policy = policy(&a.common)?;
    let plan = plan::plan(&a.common, Mode::Encrypt, ui)?;
    if plan.jobs.iter().any(|j| j.dest == Dest::Stdout) {
        check_stdout(false)?;
    }
    let mut meta = Metadata::open(a.common.metadata_output.as_deref(), &plan)?;
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
    };
    run(
        &plan,
        &a.common,
        Mode::Encrypt,
        ui,
        &mut meta,
        |input, name, out, progress| encrypt_one(keyring.as_ref(), &opts, input, name, out, progress),
    )
}

pub fn decrypt(a: DecryptArgs, service: &mut KeyService<'_>, ui: &Ui) -> Result<(), CliError> {
    let ctx = parse_context(&a.common.encryption_context)?;
    let commitment_policy = policy(&a.common)?;
    let plan = plan::plan(&a.common, Mode::Decrypt, ui)?;
    let mut meta = Metadata::open(a.common.metadata_output.as_deref(), &plan)?;
    let keyring = keyring_from_args(
        &a.common.wrapping_key_groups,
        &a.common.key_ids,
        Mode::Decrypt,
        service,
    )?;
    let opts = DecryptOptions {
        commitment_policy,
        reproduced_encryption_context: ctx.pairs,
        max_encrypted_data_keys: a.common.max_encrypted_data_keys,
        unsigned_only: a.decrypt_unsigned,
        ..DecryptOptions::default()
    };
    let check = DecryptChecks {
        required_keys: &ctx.required_keys,
        buffer: a.buffer,
    };
    run(
        &plan,
        &a.common,
        Mode::Decrypt,
        ui,
        &mut meta,
        |input, name, out, progress| decrypt_one(keyring.as_ref(), &opts, &check, input, name, out, progress),
    )
}

/// Runs every job through `body`, recording each outcome.
fn run(
    plan: &Plan,
    common: &CommonArgs,
    mode: Mode,
    ui: &Ui,
    meta: &mut Metadata,
    mut body: impl FnMut(&mut dyn Read, &str, &mut Output, &Progress) -> Result<StreamSummary, CliError>,
) -> Result<(), CliError> {
    if plan.jobs.is_empty() {
        ui.note("no files to process");
    }
    // Plaintext shown on the terminal would be torn by a bar drawn on the same screen.
    let stdout_on_terminal = plan.jobs.iter().any(|j| j.dest == Dest::Stdout) && io::stdout().is_terminal();
    let progress = ui.progress(plan.total_size(), !stdout_on_terminal);
    let mut first_failure = None;
    let mut failures = 0usize;
    for job in &plan.jobs {
        progress.set_file(&job.input_name());
        match run_job(job, common.force, plan.to_directory, mode, &progress, &mut body) {
            Ok(summary) => {
                meta.ok(mode, job, &summary)?;
                report(ui, mode, job, &summary);
            }
            Err(e) if e.is_reader_gone() => return Err(e),
            Err(e) => {
                meta.failed(mode, job, &e)?;
                if plan.jobs.len() == 1 {
                    return Err(e);
                }
                ui.error(&e.message);
                first_failure.get_or_insert(e.code);
                failures += 1;
            }
        }
    }
    drop(progress);
    if let Some(code) = first_failure {
        return Err(CliError {
            code,
            message: format!("{failures} of {} files failed", plan.jobs.len()),
        });
    }
    for d in &plan.mirror_dirs {
        fs::create_dir_all(d).map_err(|e| CliError::io(format!("cannot create {}", d.display()), e))?;
    }
    Ok(())
}

/// One job: opens its input and output, runs `body`, and commits the output.
fn run_job(
    job: &Job,
    force: bool,
    make_dirs: bool,
    mode: Mode,
    progress: &Progress,
    body: &mut impl FnMut(&mut dyn Read, &str, &mut Output, &Progress) -> Result<StreamSummary, CliError>,
) -> Result<StreamSummary, CliError> {
    let name = job.input_name();
    let mut input: Box<dyn Read> = match &job.source {
        Source::Stdin => Box::new(io::stdin().lock()),
        Source::File(p) => Box::new(File::open(p).map_err(|e| CliError::io(&name, e))?),
    };
    let mut out = match &job.dest {
        Dest::Stdout => Output::stdout(mode == Mode::Decrypt)?,
        Dest::File(p) => Output::file(p, force, make_dirs, mode == Mode::Decrypt)?,
    };
    let summary = body(&mut input, &name, &mut out, progress)?;
    out.commit()?;
    Ok(summary)
}

/// The `-v` lines for a finished file.
fn report(ui: &Ui, mode: Mode, job: &Job, s: &StreamSummary) {
    if !ui.verbose(1) {
        return;
    }
    let out = match &job.dest {
        Dest::Stdout => "stdout".to_owned(),
        Dest::File(p) => p.display().to_string(),
    };
    let verb = match mode {
        Mode::Encrypt => "encrypted",
        Mode::Decrypt => "decrypted",
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
        ui.detail(2, format!("  encryption context {k:?} = {v:?}"));
    }
}

/// Encrypts one input into one output.
pub fn encrypt_one(
    keyring: &dyn Keyring,
    opts: &EncryptOptions,
    input: &mut dyn Read,
    in_name: &str,
    out: &mut Output,
    progress: &Progress,
) -> Result<StreamSummary, CliError> {
    let lib = |e| CliError::from_lib(format!("encrypt {in_name}"), e);
    let mut enc = Encryptor::new(keyring, opts).map_err(lib)?;
    let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
    let mut sealed = Vec::with_capacity(CHUNK + CHUNK / 8);
    let (mut bytes_in, mut bytes_out) = (0u64, 0u64);
    loop {
        let n = read_chunk(input, &mut buf, in_name)?;
        if n == 0 {
            break;
        }
        bytes_in += n as u64;
        progress.inc(n as u64);
        enc.update(&buf[..n], &mut sealed).map_err(lib)?;
        write_out(out, &sealed)?;
        bytes_out += sealed.len() as u64;
        sealed.clear();
    }
    enc.finish(&mut sealed).map_err(lib)?;
    write_out(out, &sealed)?;
    bytes_out += sealed.len() as u64;
    Ok(StreamSummary {
        header: enc.header().clone(),
        bytes_in,
        bytes_out,
    })
}

/// What decrypt checks beyond the library's options.
pub struct DecryptChecks<'a> {
    /// `-c k`: keys the message's encryption context must have.
    pub required_keys: &'a [String],
    /// `--buffer`: release nothing until the whole message has verified.
    pub buffer: bool,
}

/// Decrypts one input into one output. Authenticated frames are written as
/// they verify (the library holds the final frame until the signature has
/// verified); with `--buffer`, nothing is written until the end.
pub fn decrypt_one(
    keyring: &dyn Keyring,
    opts: &DecryptOptions,
    check: &DecryptChecks<'_>,
    input: &mut dyn Read,
    in_name: &str,
    out: &mut Output,
    progress: &Progress,
) -> Result<StreamSummary, CliError> {
    let lib = |e| CliError::from_lib(format!("decrypt {in_name}"), e);
    let mut dec = Decryptor::new(keyring, opts.clone());
    let mut buf = vec![0u8; CHUNK];
    let mut plain = Zeroizing::new(Vec::with_capacity(CHUNK));
    let mut checked_required = false;
    let (mut bytes_in, mut bytes_out) = (0u64, 0u64);
    loop {
        let n = read_chunk(input, &mut buf, in_name)?;
        if n == 0 {
            break;
        }
        bytes_in += n as u64;
        progress.inc(n as u64);
        dec.update(&buf[..n], &mut plain).map_err(lib)?;
        if !checked_required {
            if let Some(h) = dec.header() {
                if let Some(k) = check
                    .required_keys
                    .iter()
                    .find(|k| !h.encryption_context.contains_key(*k))
                {
                    return Err(CliError {
                        code: EXIT_INTEGRITY,
                        message: format!(
                            "decrypt {in_name}: encryption context: required key '{k}' is missing"
                        ),
                    });
                }
                checked_required = true;
            }
        }
        if !check.buffer {
            write_out(out, &plain)?;
            bytes_out += plain.len() as u64;
            plain.clear();
        }
    }
    dec.finish().map_err(lib)?;
    write_out(out, &plain)?;
    bytes_out += plain.len() as u64;
    let header = dec.header().cloned().ok_or_else(|| {
        CliError::from_lib(
            format!("decrypt {in_name}"),
            envelope::Error::Truncated(envelope::error::Part::Header),
        )
    })?;
    Ok(StreamSummary {
        header,
        bytes_in,
        bytes_out,
    })
}
