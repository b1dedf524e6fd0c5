//! `envelope encrypt` and `envelope decrypt`.

use std::fs::File;
use std::io::{self, Read, Write};

use envelope::format::context::EncryptionContext;
use envelope::stream::{DecryptOptions, Decryptor, EncryptOptions};
use envelope::{AlgorithmSuite, CommitmentPolicy};
use zeroize::Zeroizing;

use super::error::CliError;
use super::keys::{keyring_from_args, KeyService, Mode};
use super::output::Output;
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

fn open_input(common: &CommonArgs) -> Result<(Box<dyn Read>, String), CliError> {
    if common.input.as_os_str() == "-" {
        Ok((Box::new(io::stdin().lock()), "stdin".into()))
    } else {
        let name = common.input.display().to_string();
        let f = File::open(&common.input).map_err(|e| CliError::io(&name, e))?;
        Ok((Box::new(f), name))
    }
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
        // The reader of our stdout went away (`| head`): end quietly, as
        // command-line tools in a pipeline do. Only stdout can break this way,
        // so no temporary file is left behind.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(CliError::io(out.name(), e)),
    }
}

pub fn encrypt(a: EncryptArgs, service: &mut KeyService<'_>) -> Result<(), CliError> {
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
    let keyring = keyring_from_args(
        &a.common.wrapping_key_groups,
        &a.common.key_ids,
        Mode::Encrypt,
        service,
    )?;
    let opts = EncryptOptions {
        suite,
        frame_length: a.frame_length,
        commitment_policy: policy(&a.common)?,
        encryption_context: ctx.pairs,
        required_encryption_context_keys: Vec::new(),
        max_encrypted_data_keys: a.common.max_encrypted_data_keys,
    };
    let (mut input, in_name) = open_input(&a.common)?;
    let mut out = Output::open(&a.common.output, a.common.force, false)?;
    let lib = |e| CliError::from_lib(format!("encrypt {in_name}"), e);
    let mut enc = envelope::stream::Encryptor::new(keyring.as_ref(), &opts).map_err(lib)?;
    let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
    let mut sealed = Vec::with_capacity(CHUNK + CHUNK / 8);
    loop {
        let n = read_chunk(&mut input, &mut buf, &in_name)?;
        if n == 0 {
            break;
        }
        enc.update(&buf[..n], &mut sealed).map_err(lib)?;
        write_out(&mut out, &sealed)?;
        sealed.clear();
    }
    enc.finish(&mut sealed).map_err(lib)?;
    write_out(&mut out, &sealed)?;
    out.commit()
}

pub fn decrypt(a: DecryptArgs, service: &mut KeyService<'_>) -> Result<(), CliError> {
    let ctx = parse_context(&a.common.encryption_context)?;
    let keyring = keyring_from_args(
        &a.common.wrapping_key_groups,
        &a.common.key_ids,
        Mode::Decrypt,
        service,
    )?;
    let opts = DecryptOptions {
        commitment_policy: policy(&a.common)?,
        reproduced_encryption_context: ctx.pairs,
        max_encrypted_data_keys: a.common.max_encrypted_data_keys,
        unsigned_only: a.decrypt_unsigned,
        ..DecryptOptions::default()
    };
    let (mut input, in_name) = open_input(&a.common)?;
    let mut out = Output::open(&a.common.output, a.common.force, true)?;
    let lib = |e| CliError::from_lib(format!("decrypt {in_name}"), e);
    let mut dec = Decryptor::new(keyring.as_ref(), opts);
    let mut buf = vec![0u8; CHUNK];
    let mut plain = Zeroizing::new(Vec::with_capacity(CHUNK));
    let mut checked_required = false;
    loop {
        let n = read_chunk(&mut input, &mut buf, &in_name)?;
        if n == 0 {
            break;
        }
        dec.update(&buf[..n], &mut plain).map_err(lib)?;
        if !checked_required {
            if let Some(h) = dec.header() {
                if let Some(k) = ctx
                    .required_keys
                    .iter()
                    .find(|k| !h.encryption_context.contains_key(*k))
                {
                    return Err(CliError {
                        code: super::error::EXIT_INTEGRITY,
                        message: format!(
                            "decrypt {in_name}: encryption context: required key '{k}' is missing"
                        ),
                    });
                }
                checked_required = true;
            }
        }
        if !a.buffer {
            write_out(&mut out, &plain)?;
            plain.clear();
        }
    }
    dec.finish().map_err(lib)?;
    write_out(&mut out, &plain)?;
    out.commit()
}
