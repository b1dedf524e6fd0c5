//! Where output goes: stdout, or a file written atomically.
//!
//! A file output is written to a temporary file in the destination directory
//! and renamed over the destination only after the whole operation has
//! succeeded (for decrypt, after the signature has verified). On failure the
//! temporary file is removed, so no partial file ever appears under the final
//! name and an existing file is never touched.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::error::CliError;

/// An open output.
pub enum Output {
    /// Standard output.
    Stdout(io::Stdout),
    /// A temporary file that becomes `dest` on [`Output::commit`].
    File {
        tmp: tempfile::NamedTempFile,
        dest: PathBuf,
        force: bool,
    },
}

impl Output {
    /// Opens `path` (`-` is stdout). Refuses an existing file unless `force`.
    /// `binary_to_terminal_ok` is false for ciphertext, which is never written to a terminal.
    pub fn open(path: &Path, force: bool, binary_to_terminal_ok: bool) -> Result<Output, CliError> {
        if path.as_os_str() == "-" {
            let out = io::stdout();
            if !binary_to_terminal_ok && out.is_terminal() {
                return Err(CliError::usage(
                    "refusing to write ciphertext to a terminal: redirect stdout or use -o FILE",
                ));
            }
            return Ok(Output::Stdout(out));
        }
        if !force && path.exists() {
            return Err(CliError::usage(format!(
                "{} already exists: use --force to overwrite it",
                path.display()
            )));
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".envelope-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| CliError::io(format!("cannot create a file in {}", dir.display()), e))?;
        Ok(Output::File {
            tmp,
            dest: path.to_path_buf(),
            force,
        })
    }

    /// A name for messages.
    pub fn name(&self) -> String {
        match self {
            Output::Stdout(_) => "stdout".into(),
            Output::File { dest, .. } => dest.display().to_string(),
        }
    }

    /// Makes the output final: flushes stdout, or syncs and renames the file.
    pub fn commit(self) -> Result<(), CliError> {
        match self {
            Output::Stdout(mut s) => s.flush().map_err(|e| CliError::io("stdout", e)),
            Output::File { tmp, dest, force } => {
                let name = dest.display().to_string();
                tmp.as_file().sync_all().map_err(|e| CliError::io(&name, e))?;
                let r = if force {
                    tmp.persist(&dest)
                } else {
                    tmp.persist_noclobber(&dest)
                };
                r.map_err(|e| CliError::io(&name, e.error))?;
                if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
                    // Make the rename itself durable; best effort where directories can't be opened.
                    if let Ok(d) = File::open(parent) {
                        let _ = d.sync_all();
                    }
                }
                Ok(())
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(s) => s.write(buf),
            Output::File { tmp, .. } => tmp.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout(s) => s.write_all(buf),
            Output::File { tmp, .. } => tmp.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(s) => s.flush(),
            Output::File { tmp, .. } => tmp.flush(),
        }
    }
}
