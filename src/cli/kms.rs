//! `envelope kms <operation>`: the KMS core's operations from the shell.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

/// The KMS core operations.
#[derive(Subcommand, Debug)]
pub enum KmsCommand {
    /// Return a random byte string.
    GenerateRandom {
        /// Number of bytes (1 to 1024).
        #[arg(long)]
        number_of_bytes: u32,
    },
}

/// Runs one operation against the key store and prints its JSON response.
pub fn run(op: KmsCommand, keystore: Option<&Path>) -> ExitCode {
    let _ = (op, keystore);
    eprintln!("envelope: the KMS core is not built yet");
    ExitCode::from(4)
}
