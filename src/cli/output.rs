//! Where output goes: stdout, or a file written atomically.
//!
//! A file output is written to a temporary file in the destination directory
//! and renamed over the destination only after the whole operation has
//! succeeded (for decrypt, after the signature has verified). On failure the
//! temporary file is removed, and so are the directories created for it, so
//! no partial file ever appears under the final name and an existing file is
//! never touched.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::error::CliError;

/// An open output.
pub enum Output {
    /// Standard output.
    Stdout(io::Stdout),
    /// A temporary file that becomes its destination on [`Output::commit`].
    File(FileOutput),
    /// An existing device, FIFO or socket (`/dev/null`, a named pipe), written
    /// directly like stdout: renaming a file over it would replace it.
    Special { file: File, name: String },
}

/// A file output in progress.
pub struct FileOutput {
    /// `None` once committed or discarded.
    tmp: Option<tempfile::NamedTempFile>,
    dest: PathBuf,
    force: bool,
    /// Directories made for this output, outermost first; removed again (if
    /// still empty) when the output is discarded.
    created_dirs: Vec<PathBuf>,
}

impl Output {
    /// Standard output. `binary_to_terminal_ok` is false for ciphertext, which
    /// is never written to a terminal.
    pub fn stdout(binary_to_terminal_ok: bool) -> Result<Output, CliError> {
        check_stdout(binary_to_terminal_ok)?;
        Ok(Output::Stdout(io::stdout()))
    }

    /// A file at `path`. Refuses an existing file unless `force`. With
    /// `make_dirs`, missing parent directories are created (directory mode);
    /// otherwise the parent must exist. A device or FIFO is written directly;
    /// `binary_to_terminal_ok` is as for [`Output::stdout`].
    pub fn file(
        path: &Path,
        force: bool,
        make_dirs: bool,
        binary_to_terminal_ok: bool,
    ) -> Result<Output, CliError> {
        // Write where a link points rather than replace the link (think of
        // /dev/stdout, or a link into a shared directory).
        let resolved;
        let path = match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(path) {
                Ok(p) => {
                    resolved = p;
                    &resolved
                }
                Err(_) => path,
            },
            _ => path,
        };
        if is_special(path) {
            let name = path.display().to_string();
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| CliError::io(&name, e))?;
            if !binary_to_terminal_ok && file.is_terminal() {
                return Err(CliError::usage(format!(
                    "refusing to write ciphertext to the terminal {name}"
                )));
            }
            return Ok(Output::Special { file, name });
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
        let created_dirs = if make_dirs { create_dirs(&dir)? } else { Vec::new() };
        let mut out = FileOutput {
            tmp: None,
            dest: path.to_path_buf(),
            force,
            created_dirs,
        };
        match tempfile::Builder::new()
            .prefix(".envelope-")
            .suffix(".tmp")
            .tempfile_in(&dir)
        {
            Ok(tmp) => {
                super::interrupt::register(tmp.path());
                out.tmp = Some(tmp);
                Ok(Output::File(out))
            }
            Err(e) => {
                out.remove_created_dirs();
                Err(CliError::io(
                    format!("cannot create a file in {}", dir.display()),
                    e,
                ))
            }
        }
    }

    /// A name for messages.
    pub fn name(&self) -> String {
        match self {
            Output::Stdout(_) => "stdout".into(),
            Output::File(f) => f.dest.display().to_string(),
            Output::Special { name, .. } => name.clone(),
        }
    }

    /// Makes the output final: flushes stdout, or syncs and renames the file.
    pub fn commit(self) -> Result<(), CliError> {
        match self {
            Output::Stdout(mut s) => s.flush().map_err(|e| CliError::io("stdout", e)),
            Output::File(mut f) => f.commit(),
            Output::Special { mut file, name } => file.flush().map_err(|e| CliError::io(name, e)),
        }
    }

    fn writer(&mut self) -> io::Result<&mut dyn Write> {
        match self {
            Output::Stdout(s) => Ok(s),
            Output::Special { file, .. } => Ok(file),
            Output::File(f) => match &mut f.tmp {
                Some(t) => Ok(t),
                None => Err(io::Error::other("output already closed")),
            },
        }
    }
}

/// Whether `path` exists and is neither a regular file nor a directory.
pub fn is_special(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Refuses a terminal stdout for ciphertext (`binary_to_terminal_ok` false).
pub fn check_stdout(binary_to_terminal_ok: bool) -> Result<(), CliError> {
    if !binary_to_terminal_ok && io::stdout().is_terminal() {
        return Err(CliError::usage(
            "refusing to write ciphertext to a terminal: redirect stdout or use -o FILE",
        ));
    }
    Ok(())
}

impl FileOutput {
    fn commit(&mut self) -> Result<(), CliError> {
        let name = self.dest.display().to_string();
        let Some(tmp) = self.tmp.take() else {
            return Err(CliError::io(&name, io::Error::other("output already closed")));
        };
        let tmp_path = tmp.path().to_path_buf();
        let r = self.persist(tmp, &name);
        super::interrupt::unregister(&tmp_path);
        r
    }

    /// Syncs the temporary file and renames it to the destination.
    fn persist(&mut self, tmp: tempfile::NamedTempFile, name: &str) -> Result<(), CliError> {
        if let Err(e) = tmp.as_file().sync_all() {
            drop(tmp);
            self.remove_created_dirs();
            return Err(CliError::io(name, e));
        }
        if self.force {
            // Replacing a file keeps its permissions; new files stay owner-only.
            if let Ok(m) = fs::metadata(&self.dest) {
                let _ = fs::set_permissions(tmp.path(), m.permissions());
            }
        }
        let r = if self.force {
            tmp.persist(&self.dest)
        } else {
            tmp.persist_noclobber(&self.dest)
        };
        if let Err(e) = r {
            drop(e.file);
            self.remove_created_dirs();
            return Err(CliError::io(name, e.error));
        }
        self.created_dirs.clear();
        if let Some(parent) = self.dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Make the rename itself durable; best effort where directories can't be opened.
            if let Ok(d) = File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    fn remove_created_dirs(&mut self) {
        for d in self.created_dirs.drain(..).rev() {
            // Fails, as it should, if another output has since put a file there.
            let _ = fs::remove_dir(d);
        }
    }
}

impl Drop for FileOutput {
    /// Discards an output that was not committed: the temporary file goes first,
    /// so that the directories made for it are empty and can go too.
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let path = tmp.path().to_path_buf();
            drop(tmp);
            super::interrupt::unregister(&path);
            self.remove_created_dirs();
        }
    }
}

/// Creates `dir` and its missing ancestors; returns the ones created, outermost first.
fn create_dirs(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let mut missing = Vec::new();
    let mut p = Some(dir);
    while let Some(d) = p.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        missing.push(d.to_path_buf());
        p = d.parent();
    }
    missing.reverse();
    let mut created = Vec::new();
    for d in missing {
        match fs::create_dir(&d) {
            Ok(()) => created.push(d),
            // Another process (or a symlink race) got there first: fine if it is a directory.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && d.is_dir() => {}
            Err(e) => {
                for c in created.iter().rev() {
                    let _ = fs::remove_dir(c);
                }
                return Err(CliError::io(
                    format!("cannot create the directory {}", d.display()),
                    e,
                ));
            }
        }
    }
    Ok(created)
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer()?.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer()?.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer()?.flush()
    }
}
