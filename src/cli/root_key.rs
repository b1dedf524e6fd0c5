//! `envelope kms change-root-key`: a new root key or passphrase for the
//! embedded key store, every backing key re-wrapped under it at once (see
//! `KmsCore::change_root_key` for why a crash leaves one of the two working).

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use zeroize::Zeroizing;

use super::error::CliError;
use super::kms_source::Source;
use super::store::{self, Need};
use super::terminal;

/// Options of `envelope kms change-root-key`.
#[derive(Args, Debug)]
pub struct ChangeRootKeyArgs {
    /// A passphrase store's new passphrase: the first line of FILE, or of stdin with `-` (never
    /// on the command line). The old one is ENVELOPE_PASSPHRASE. Not for a key-file store, which
    /// gets a new random root.key.
    #[arg(long, value_name = "FILE|-")]
    new_passphrase_file: Option<PathBuf>,
}

/// Reads the new passphrase: FILE's (or stdin's) first line, without its line end.
fn read_passphrase(path: &Path) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let mut text = Zeroizing::new(Vec::new());
    let r = if path.as_os_str() == "-" {
        io::stdin().lock().read_to_end(&mut text)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut text))
    };
    r.map_err(|e| CliError::io(format!("--new-passphrase-file {}", path.display()), e))?;
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Err(CliError::usage(format!(
            "--new-passphrase-file {}: the passphrase is empty",
            path.display()
        )));
    }
    Ok(Zeroizing::new(line.to_vec()))
}

/// Changes the root key and prints what was re-wrapped (JSON on stdout).
pub fn run(
    a: ChangeRootKeyArgs,
    keystore: Option<&Path>,
    source: &Source,
    quiet: bool,
) -> Result<(), CliError> {
    if let Source::Remote(_) = source {
        return Err(CliError::usage(
            "change-root-key works on the embedded key store; drop --kms aws / --kms-endpoint \
             (and ENVELOPE_KMS_ENDPOINT, AWS_ENDPOINT_URL_KMS)",
        ));
    }
    let new = a
        .new_passphrase_file
        .as_deref()
        .map(read_passphrase)
        .transpose()?;
    let core = store::open(keystore, Need::Existing).map_err(|r| r.into_cli(CliError::from_kms))?;
    let dir = core.keystore().to_path_buf();
    let change = core
        .change_root_key(new.as_deref().map(|p| &p[..]))
        .map_err(CliError::from_kms)?;
    let text = serde_json::json!({
        "BackingKeys": change.backing_keys,
        "AccessKeys": change.access_keys,
    });
    let mut out = io::stdout().lock();
    match writeln!(out, "{text:#}").and_then(|_| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => return Err(CliError::io("stdout", e)),
        _ => {}
    }
    if !quiet {
        let keep = match new {
            Some(_) => "the new passphrase is now the only one that opens it",
            None => "back up the new root.key now: the old one no longer opens it",
        };
        terminal::stderr_line(
            "envelope",
            format_args!(
                "the key store in {} has a new root key; {keep} (copies of kms.db made before still \
                 open with the old one)",
                dir.display()
            ),
        );
    }
    Ok(())
}
