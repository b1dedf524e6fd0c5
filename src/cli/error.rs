//! CLI errors and exit codes.

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

use envelope::ErrorKind;

/// Exit codes, as documented in `--help` and the README.
pub const EXIT_INTEGRITY: u8 = 1;
/// Bad arguments or options (clap also exits 2 for parse errors).
pub const EXIT_USAGE: u8 = 2;
/// Reading or writing failed.
pub const EXIT_IO: u8 = 3;
/// The key service refused or failed.
pub const EXIT_KEY_SERVICE: u8 = 4;

/// The exit-code table shown at the end of `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  integrity or authentication failure (tampered, truncated, wrong key,
     context mismatch, bad signature, not a message)
  2  usage error
  3  I/O error
  4  key-service error (key not found, disabled, pending deletion, access)
  130  interrupted (Ctrl-C, SIGTERM, SIGHUP); temporary output files are removed";

/// A failure to report: one line on stderr and an exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    pub fn io(context: impl fmt::Display, e: std::io::Error) -> Self {
        CliError {
            code: EXIT_IO,
            message: format!("{context}: {e}"),
        }
    }

    /// Wraps a library error, prefixed with what was being done (e.g. the file).
    pub fn from_lib(context: impl fmt::Display, e: envelope::Error) -> Self {
        let code = match e.kind() {
            ErrorKind::Integrity => EXIT_INTEGRITY,
            ErrorKind::Usage => EXIT_USAGE,
            ErrorKind::Io => EXIT_IO,
            ErrorKind::KeyService => EXIT_KEY_SERVICE,
        };
        CliError {
            code,
            message: format!("{context}: {e}"),
        }
    }

    /// The reader of the output went away (a broken pipe): not a failure,
    /// the run just ends, silently and with exit code 0, as `cat | head` does.
    pub fn reader_gone() -> Self {
        CliError {
            code: 0,
            message: String::new(),
        }
    }

    pub fn is_reader_gone(&self) -> bool {
        self.code == 0
    }

    pub fn exit(self) -> ExitCode {
        if !self.is_reader_gone() {
            // A stderr that cannot be written is ignored: the exit code still tells.
            let _ = writeln!(std::io::stderr(), "envelope: {}", self.message);
        }
        ExitCode::from(self.code)
    }
}
