//! `envelope keygen ecdh [--curve C] -o PREFIX`: a key pair for the raw ECDH
//! keyring, as the ESDK takes it: `PREFIX-private.pem` (PEM PKCS#8, created
//! 0600) and `PREFIX-public.pem` (PEM SubjectPublicKeyInfo). Both files are
//! written through temporary files and appear together, or neither does.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use envelope::keyring::raw_ecdh::{Curve, EcdhPrivateKey};

use super::error::CliError;
use super::output::{Output, Parents};
use super::ui::Ui;

#[derive(Subcommand, Debug)]
pub enum KeygenCommand {
    /// An elliptic-curve key pair for `-w provider=raw-ecdh`: PREFIX-private.pem
    /// (PKCS#8, keep it secret) and PREFIX-public.pem (SubjectPublicKeyInfo, give it to senders).
    Ecdh(EcdhArgs),
}

#[derive(Args, Debug)]
pub struct EcdhArgs {
    /// The curve.
    #[arg(long, default_value = "p256", value_parser = ["p256", "p384", "p521"])]
    curve: String,

    /// Path prefix of the two files: PREFIX-private.pem and PREFIX-public.pem.
    #[arg(short, long, value_name = "PREFIX")]
    output: PathBuf,

    /// Overwrite existing key files.
    #[arg(short, long)]
    force: bool,
}

pub fn run(cmd: KeygenCommand, ui: &Ui) -> Result<(), CliError> {
    let KeygenCommand::Ecdh(a) = cmd;
    let curve: Curve = a
        .curve
        .parse()
        .map_err(|e| CliError::usage(format!("--curve: {e}")))?;
    let with_suffix = |suffix: &str| {
        let mut p = a.output.clone().into_os_string();
        p.push(suffix);
        PathBuf::from(p)
    };
    let (private_path, public_path) = (with_suffix("-private.pem"), with_suffix("-public.pem"));
    // Open both before writing either, so an existing file stops the run early.
    let mut private_out = Output::file(&private_path, a.force, Parents::MustExist, true)?;
    let mut public_out = Output::file(&public_path, a.force, Parents::MustExist, true)?;
    let key = EcdhPrivateKey::generate(curve).map_err(|e| CliError::usage(format!("keygen: {e}")))?;
    let private_pem = key
        .to_pkcs8_pem()
        .map_err(|e| CliError::usage(format!("keygen: {e}")))?;
    let public_pem = key.public_key().to_pem();
    for (out, text) in [
        (&mut private_out, private_pem.as_bytes()),
        (&mut public_out, public_pem.as_bytes()),
    ] {
        let name = out.name();
        out.write_all(text).map_err(|e| CliError::io(name, e))?;
    }
    private_out.commit()?;
    public_out.commit()?;
    ui.note(format!(
        "wrote a {curve} key pair: {} (the private key: keep it secret) and {} (the public key)",
        private_path.display(),
        public_path.display()
    ));
    Ok(())
}
