//! CLI errors and the one exit-code table of every subcommand.

use std::fmt;
use std::process::ExitCode;

use envelope::kms::KmsError;
use envelope::ErrorKind;

/// Exit codes, as documented in `--help` and the README.
pub const EXIT_INTEGRITY: u8 = 1;
/// Bad arguments or options (clap also exits 2 for parse errors).
pub const EXIT_USAGE: u8 = 2;
/// Reading or writing failed, or the system failed envelope otherwise (its
/// random generator, or an internal error: a bug).
pub const EXIT_IO: u8 = 3;
/// The key service refused or failed.
pub const EXIT_KEY_SERVICE: u8 = 4;
/// A bug in envelope, or the system's random generator failed: the guide
/// keeps exit codes to 0-4, so these share the "system failure" code with
/// I/O. Never 1: a bug must not read as tampering.
pub const EXIT_INTERNAL: u8 = EXIT_IO;

/// The exit code of each kind of library error: the one table for
/// encrypt, decrypt, inspect and every `kms` operation.
pub fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Integrity => EXIT_INTEGRITY,
        ErrorKind::Usage => EXIT_USAGE,
        ErrorKind::Io => EXIT_IO,
        ErrorKind::KeyService => EXIT_KEY_SERVICE,
        // The CLI is the caller: its misuse of the library is envelope's bug.
        ErrorKind::ApiMisuse | ErrorKind::Internal => EXIT_INTERNAL,
        // A kind added later is not a fault of the message until classed as one.
        _ => EXIT_INTERNAL,
    }
}

/// The exit-code table shown at the end of `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  integrity or authentication failure (tampered, truncated, wrong key,
     context mismatch, bad signature, not a message)
  2  usage error
  3  I/O or system error (also: the system's random generator failed, or an
     internal error in envelope: please report it)
  4  key-service error (key not found, disabled, pending deletion, access)
  130  interrupted (Ctrl-C, SIGTERM, SIGHUP); temporary output files are removed";

/// A failure to report: one line on stderr, `envelope: <message>`, and an exit code.
#[derive(Debug, Clone)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    /// A failure with an exit code from the table above.
    pub fn with_code(code: u8, message: String) -> Self {
        CliError { code, message }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError::with_code(EXIT_USAGE, message.into())
    }

    pub fn io(context: impl fmt::Display, e: std::io::Error) -> Self {
        CliError::with_code(EXIT_IO, format!("{context}: {e}"))
    }

    /// An I/O failure already put in words.
    pub fn io_message(message: impl Into<String>) -> Self {
        CliError::with_code(EXIT_IO, message.into())
    }

    /// Wraps a library error, prefixed with what was being done (e.g. the file).
    pub fn from_lib(context: impl fmt::Display, e: envelope::Error) -> Self {
        let hint = match &e {
            // Two flags decide this, and neither appears in the library's words.
            envelope::Error::CommitmentPolicy { .. } => {
                " (choose another --commitment-policy, or on encrypt another --algorithm)"
            }
            _ => "",
        };
        CliError::with_code(exit_code(e.kind()), format!("{context}: {e}{hint}"))
    }

    /// A KMS error from a `kms` operation: `ErrorName: message`, as the AWS
    /// CLI names it, after the prefix every error line has.
    pub fn from_kms(e: KmsError) -> Self {
        CliError::with_code(exit_code(ErrorKind::from(&e)), e.to_string())
    }

    /// A command-line parse error of clap, whose report is a block of lines
    /// (the error, a tip, the usage, a pointer to `--help`), folded into one
    /// line that keeps the error and its tips and names the `--help` to read.
    pub fn from_clap(e: &clap::Error) -> Self {
        CliError::usage(fold_clap(&e.render().to_string()))
    }

    /// The reader of the output went away (a broken pipe): not a failure,
    /// the run just ends, silently and with exit code 0, as `cat | head` does.
    pub fn reader_gone() -> Self {
        CliError::with_code(0, String::new())
    }

    pub fn is_reader_gone(&self) -> bool {
        self.code == 0
    }

    pub fn exit(self) -> ExitCode {
        if !self.is_reader_gone() {
            super::terminal::stderr_line("envelope", &self.message);
        }
        ExitCode::from(self.code)
    }
}

/// Folds clap's rendered error: `error: WHAT`, then indented `tip: ...`
/// lines, `Usage: envelope CMD ...` and `For more information, try
/// '--help'.` become `WHAT; tip: ...; try 'envelope CMD --help'`.
fn fold_clap(rendered: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut command = "envelope".to_owned();
    for line in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(usage) = line.strip_prefix("Usage: ") {
            // The command path: the words before the first option or operand.
            let words: Vec<&str> = usage
                .split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect();
            if !words.is_empty() {
                command = words.join(" ");
            }
        } else if !line.starts_with("For more information") {
            parts.push(line.strip_prefix("error: ").unwrap_or(line).to_owned());
        }
    }
    parts.push(format!("try '{command} --help'"));
    // A line ending in ':' introduces the next ("not provided: --key-id").
    parts.iter().fold(String::new(), |mut line, part| {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
        line
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_blocks_fold_into_one_line() {
        let block = "error: unexpected argument 'x' found\n\n  tip: to pass 'x' as a value, use '-- x'\n\n\
                     Usage: envelope encrypt [OPTIONS]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            fold_clap(block),
            "unexpected argument 'x' found; tip: to pass 'x' as a value, use '-- x'; \
             try 'envelope encrypt --help'"
        );
        assert_eq!(
            fold_clap("error: invalid value\n\nFor more information, try '--help'.\n"),
            "invalid value; try 'envelope --help'"
        );
        assert_eq!(
            fold_clap(
                "error: the following required arguments were not provided:\n  --key-id <KEY_ID>\n\n\
                 Usage: envelope kms describe-key --key-id <KEY_ID>\n"
            ),
            "the following required arguments were not provided: --key-id <KEY_ID>; \
             try 'envelope kms describe-key --help'"
        );
    }

    #[test]
    fn internal_errors_do_not_exit_as_tampering() {
        assert_eq!(exit_code(ErrorKind::Integrity), 1);
        assert_eq!(exit_code(ErrorKind::Internal), EXIT_INTERNAL);
        assert_eq!(exit_code(ErrorKind::ApiMisuse), EXIT_INTERNAL);
        let bug = envelope::Error::Unreachable("decryptor has no keys");
        assert_eq!(CliError::from_lib("x", bug).code, EXIT_INTERNAL);
        for code in [EXIT_INTEGRITY, EXIT_USAGE, EXIT_KEY_SERVICE] {
            assert_ne!(code, EXIT_INTERNAL);
        }
    }
}
