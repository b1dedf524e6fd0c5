//! Command-line front end: argument parsing, exit codes, and the subcommands.

mod kms;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Envelope encryption in the AWS Encryption SDK message format.
#[derive(Parser, Debug)]
#[command(name = "envelope", version, about)]
pub struct Cli {
    /// Key-store directory of the embedded KMS core (else $ENVELOPE_HOME, else the user data directory).
    #[arg(long, global = true, value_name = "DIR")]
    keystore: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run an operation of the embedded KMS core (AWS KMS API, kebab-case names).
    Kms {
        #[command(subcommand)]
        op: kms::KmsCommand,
    },
}

/// Parses the command line, runs it, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Kms { op } => kms::run(op, cli.keystore.as_deref()),
    }
}
