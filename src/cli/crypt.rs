//! `envelope encrypt` and `envelope decrypt`.

use std::fs::File;
use std::io::{self, Read, Write};

use envelope::format::context::EncryptionContext;
use envelope::stream::{DecryptOptions, Decryption, EncryptOptions};
use envelope::{AlgorithmSuite, CommitmentPolicy};
use zeroize::Zeroizing;

use super::error::CliError;
use super::keys::keyring_from_groups;
use super::output::Output;
use super::{CommonArgs, DecryptArgs, EncryptArgs};

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

fn open_input(common: &CommonArgs) -> Result<(Box<dyn Read>, String), CliError> {
    super::pipes::widen_stdio();
    if common.input.as_os_str() == "-" {
        Ok((Box::new(io::stdin().lock()), "stdin".into()))
    } else {
        let name = common.input.display().to_string();
        let f = File::open(&common.input).map_err(|e| CliError::io(&name, e))?;
        Ok((Box::new(f), name))
    }
}

fn write_out(out: &mut Output, bytes: &[u8]) -> Result<(), CliError> {
    match out.write_all(bytes) {
        Ok(()) => Ok(()),
        // The reader of our stdout went away (`| head`): end quietly, as
        // command-line tools in a pipeline do. Only stdout can break this way,
        // so no temporary file is left behind.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(CliError::io(out.name(), e)),
    }
}

pub fn encrypt(a: EncryptArgs) -> Result<(), CliError> {
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
    let keyring = keyring_from_groups(&a.common.wrapping_key_groups)?;
    let opts = EncryptOptions {
        suite,
        frame_length: a.frame_length,
        commitment_policy: policy(&a.common)?,
        encryption_context: ctx.pairs,
        required_encryption_context_keys: Vec::new(),
        max_encrypted_data_keys: a.common.max_encrypted_data_keys,
    };
    let (input, in_name) = open_input(&a.common)?;
    let mut out = Output::open(&a.common.output, a.common.force, false)?;
    let out_name = out.name();
    let mut input = Blame::new(input);
    let mut sink = Blame::new(&mut out);
    let r = envelope::stream::encrypt_stream_parallel(
        keyring.as_ref(),
        &opts,
        &mut input,
        &mut sink,
        threads(&a.common),
    );
    let failed = Failed {
        what: format!("encrypt {in_name}"),
        input: (input.failed, &in_name),
        output: (sink.failed, &out_name),
    };
    failed.check(r)?;
    out.commit()
}

pub fn decrypt(a: DecryptArgs) -> Result<(), CliError> {
    let ctx = parse_context(&a.common.encryption_context)?;
    let keyring = keyring_from_groups(&a.common.wrapping_key_groups)?;
    let opts = DecryptOptions {
        commitment_policy: policy(&a.common)?,
        reproduced_encryption_context: ctx.pairs,
        max_encrypted_data_keys: a.common.max_encrypted_data_keys,
        unsigned_only: a.decrypt_unsigned,
        ..DecryptOptions::default()
    };
    let (input, in_name) = open_input(&a.common)?;
    let mut out = Output::open(&a.common.output, a.common.force, true)?;
    let out_name = out.name();
    let threads = threads(&a.common);
    let mut input = Blame::new(input);
    let mut sink = Blame::new(&mut out);
    let mut plain = Zeroizing::new(Vec::new());
    // Ok(Some(key)): the header lacks a key that `-c key` requires; nothing was written.
    let r = (|| {
        let d = Decryption::start(keyring.as_ref(), &opts, &mut input)?;
        let context = &d.header().encryption_context;
        if let Some(k) = ctx.required_keys.iter().find(|k| !context.contains_key(*k)) {
            return Ok(Some(k.clone()));
        }
        if a.buffer {
            d.decrypt_to(&mut *plain, threads)?;
        } else {
            d.decrypt_to(&mut sink, threads)?;
        }
        Ok(None)
    })();
    let failed = Failed {
        what: format!("decrypt {in_name}"),
        input: (input.failed, &in_name),
        output: (sink.failed, &out_name),
    };
    if let Some(k) = failed.check(r)? {
        return Err(CliError {
            code: super::error::EXIT_INTEGRITY,
            message: format!("decrypt {in_name}: encryption context: required key '{k}' is missing"),
        });
    }
    write_out(&mut out, &plain)?;
    out.commit()
}

fn threads(common: &CommonArgs) -> usize {
    common
        .threads
        .map_or_else(envelope::stream::available_threads, usize::from)
}

/// A reader or writer that remembers whether it failed, so that an I/O error
/// coming back from the library names the right file.
struct Blame<T> {
    inner: T,
    failed: bool,
}

impl<T> Blame<T> {
    fn new(inner: T) -> Self {
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
struct Failed<'a> {
    what: String,
    /// Whether the input failed, and its name.
    input: (bool, &'a str),
    /// Whether the output failed, and its name.
    output: (bool, &'a str),
}

impl Failed<'_> {
    fn check<T>(self, r: envelope::Result<T>) -> Result<T, CliError> {
        match r {
            Ok(v) => Ok(v),
            // The reader of our stdout went away (`| head`): end quietly, as
            // command-line tools in a pipeline do (see `write_out`).
            Err(envelope::Error::Io(e)) if self.output.0 && e.kind() == io::ErrorKind::BrokenPipe => {
                std::process::exit(0)
            }
            Err(envelope::Error::Io(e)) if self.output.0 => Err(CliError::io(self.output.1, e)),
            Err(envelope::Error::Io(e)) if self.input.0 => Err(CliError::io(self.input.1, e)),
            Err(e) => Err(CliError::from_lib(self.what, e)),
        }
    }
}
