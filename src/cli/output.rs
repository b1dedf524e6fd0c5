//! Where output goes: stdout, or a file written atomically.
//!
//! A file output is written to a temporary file in the destination directory
//! and renamed over the destination only after the whole operation has
//! succeeded (for decrypt, after the signature has verified). On failure the
//! temporary file is removed, and so are the directories created for it (in a
//! directory run, where outputs share them, those left empty when the run
//! ends: [`MadeDirs`]), so
//! no partial file ever appears under the final name and an existing file is
//! never touched.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use base64::engine::general_purpose::{GeneralPurpose, STANDARD};
use base64::write::EncoderWriter;

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
    /// Another output, written base64-encoded (`--encode`).
    Base64 {
        encoder: Box<EncoderWriter<'static, GeneralPurpose, Output>>,
        name: String,
    },
}

/// What [`Output::file`] does about a missing parent directory.
#[derive(Clone, Copy)]
pub enum Parents<'a> {
    /// It is an error (the files of `keygen`, named next to each other).
    MustExist,
    /// They are created, and removed again if the output is discarded (a
    /// single output file, as directory outputs create theirs). Only for an
    /// output made final by [`Output::commit`].
    Create,
    /// It is created and recorded in a [`MadeDirs`]: in a directory run several
    /// outputs share directories, so none of them can remove one alone.
    Shared(&'a MadeDirs),
}

/// The directories a directory run created: their parents are synced with
/// the next batch ([`commit_all`]), and those still empty at the end are
/// removed ([`MadeDirs::remove_empty`]).
#[derive(Default)]
pub struct MadeDirs(Mutex<Made>);

#[derive(Default)]
struct Made {
    all: Vec<PathBuf>,
    /// Parents of directories made since the last batch was committed.
    unsynced_parents: Vec<PathBuf>,
    /// The output directory found or made last, and its
    /// filesystem: a walk writes a directory's files one after another, so
    /// most outputs need no look at their directory at all.
    known: Option<(PathBuf, u64)>,
}

impl MadeDirs {
    fn lock(&self) -> std::sync::MutexGuard<'_, Made> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, dirs: Vec<PathBuf>) {
        let mut made = self.lock();
        made.unsynced_parents.extend(dirs.iter().map(|d| parent_of(d)));
        made.all.extend(dirs);
    }

    /// The filesystem of `dir` if it was found or made last.
    fn known(&self, dir: &Path) -> Option<u64> {
        match &self.lock().known {
            Some((d, dev)) if d == dir => Some(*dev),
            _ => None,
        }
    }

    fn set_known(&self, dir: PathBuf, dev: u64) {
        self.lock().known = Some((dir, dev));
    }

    fn take_unsynced_parents(&self) -> Vec<PathBuf> {
        std::mem::take(&mut self.lock().unsynced_parents)
    }

    /// Removes those of the recorded directories that hold nothing (every
    /// output meant for them failed), innermost first.
    pub fn remove_empty(&self) {
        let mut dirs = std::mem::take(&mut self.lock().all);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            // Fails, as it should, where a file (or another directory) remains.
            let _ = fs::remove_dir(d);
        }
    }
}

/// The directory holding `path` (`.` for a bare name).
pub fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A file output in progress.
pub struct FileOutput {
    /// `None` once committed or discarded.
    tmp: Option<tempfile::NamedTempFile>,
    dest: PathBuf,
    force: bool,
    /// Directories made for this output ([`Parents::Create`]), outermost
    /// first: removed if it is discarded.
    made: Vec<PathBuf>,
    /// The filesystem of the destination directory, when already known.
    dev: Option<u64>,
}

impl Output {
    /// Standard output. `binary_to_terminal_ok` is false for ciphertext, which
    /// is never written to a terminal.
    pub fn stdout(binary_to_terminal_ok: bool) -> Result<Output, CliError> {
        check_stdout(binary_to_terminal_ok)?;
        Ok(Output::Stdout(io::stdout()))
    }

    /// A file at `path`. Refuses an existing file unless `force`. `parents`
    /// says whether missing parent directories are created. A device or FIFO
    /// is written directly; `binary_to_terminal_ok` is as for [`Output::stdout`].
    pub fn file(
        path: &Path,
        force: bool,
        parents: Parents<'_>,
        binary_to_terminal_ok: bool,
    ) -> Result<Output, CliError> {
        // Write where a link points rather than replace the link (think of
        // /dev/stdout, or a link into a shared directory).
        let resolved;
        let found = fs::symlink_metadata(path).ok();
        let (path, found) = match found {
            Some(m) if m.file_type().is_symlink() => {
                resolved = resolve_link(path)?;
                (resolved.as_path(), fs::metadata(&resolved).ok())
            }
            other => (path, other),
        };
        // One look at the destination serves every check (a directory run
        // makes thousands of these).
        if found.as_ref().is_some_and(|m| !m.is_file() && !m.is_dir()) {
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
        if !force && found.is_some() {
            return Err(CliError::usage(format!(
                "{} already exists: use --force to overwrite it",
                path.display()
            )));
        }
        let dir = parent_of(path);
        let mut dev = None;
        let made = match parents {
            Parents::MustExist => Vec::new(),
            Parents::Create => create_dirs(&dir)?,
            Parents::Shared(made) => {
                dev = made.known(&dir);
                if dev.is_none() {
                    made.record(create_dirs(&dir)?);
                    let d = fs::metadata(&dir)
                        .map(|m| device(&m))
                        .map_err(|e| CliError::io(format!("cannot create a file in {}", dir.display()), e))?;
                    made.set_known(dir.clone(), d);
                    dev = Some(d);
                }
                Vec::new()
            }
        };
        match tempfile::Builder::new()
            .prefix(super::stale::temp_prefix())
            .suffix(".tmp")
            .tempfile_in(absolute(&dir))
        {
            Ok(tmp) => {
                super::interrupt::register(tmp.path());
                Ok(Output::File(FileOutput {
                    tmp: Some(tmp),
                    dest: path.to_path_buf(),
                    force,
                    made,
                    dev,
                }))
            }
            Err(e) => {
                remove_dirs(&made);
                Err(CliError::io(
                    format!("cannot create a file in {}", dir.display()),
                    without_path(e),
                ))
            }
        }
    }

    /// This output, with what is written to it base64-encoded (`--encode`).
    pub fn base64(self) -> Output {
        let name = self.name();
        Output::Base64 {
            encoder: Box::new(EncoderWriter::new(self, &STANDARD)),
            name,
        }
    }

    /// A name for messages.
    pub fn name(&self) -> String {
        match self {
            Output::Base64 { name, .. } => name.clone(),
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
            Output::Base64 { mut encoder, name } => {
                encoder.finish().map_err(|e| CliError::io(name, e))?.commit()
            }
        }
    }

    /// Ends writing. A file output comes back [`Finished`], to be made durable
    /// and final with others by [`commit_all`]; stdout and special files are
    /// only flushed (they have nothing to rename).
    pub fn finish(self) -> Result<Option<Finished>, CliError> {
        match self {
            Output::File(mut f) => f.finish().map(Some),
            Output::Base64 { mut encoder, name } => {
                encoder.finish().map_err(|e| CliError::io(name, e))?.finish()
            }
            other => other.commit().map(|()| None),
        }
    }

    fn writer(&mut self) -> io::Result<&mut dyn Write> {
        match self {
            Output::Stdout(s) => Ok(s),
            Output::Special { file, .. } => Ok(file),
            Output::Base64 { encoder, .. } => Ok(encoder.as_mut()),
            Output::File(f) => match &mut f.tmp {
                Some(t) => Ok(t),
                None => Err(io::Error::other("output already closed")),
            },
        }
    }
}

/// The file a symbolic link output points to. A link to nothing is refused,
/// as `cp` refuses to write through one: creating its target (perhaps in
/// another directory, perhaps under a mistyped name) is rarely the wish.
fn resolve_link(path: &Path) -> Result<PathBuf, CliError> {
    match fs::canonicalize(path) {
        Ok(p) => Ok(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let target = fs::read_link(path).map_err(|e| CliError::io(path.display(), e))?;
            Err(CliError::usage(format!(
                "{} is a symbolic link to a missing file {}",
                path.display(),
                target.display()
            )))
        }
        Err(e) => Err(CliError::io(path.display(), e)),
    }
}

/// `e` without the temporary file's path that `tempfile` adds to its errors:
/// messages name the output, never a hidden `.envelope-*.tmp` file.
fn without_path(e: io::Error) -> io::Error {
    let os_error = e
        .get_ref()
        .and_then(|inner| inner.source())
        .and_then(|source| source.downcast_ref::<io::Error>())
        .and_then(io::Error::raw_os_error)
        .or_else(|| e.raw_os_error());
    match os_error {
        Some(code) => io::Error::from_raw_os_error(code),
        None if e.get_ref().is_some() => io::Error::from(e.kind()),
        None => e,
    }
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
    /// Makes the output durable and final; on failure removes what was made
    /// for it (the temporary file, the directories).
    fn commit(&mut self) -> Result<(), CliError> {
        let r = self.sync_and_rename();
        if r.is_err() {
            remove_dirs(&self.made);
        }
        r
    }

    fn sync_and_rename(&mut self) -> Result<(), CliError> {
        let name = self.dest.display().to_string();
        let Some(tmp) = self.tmp.take() else {
            return Err(CliError::io(&name, io::Error::other("output already closed")));
        };
        if let Err(e) = tmp.as_file().sync_all() {
            super::interrupt::unregister(tmp.path());
            return Err(CliError::io(name, e));
        }
        let finished = Finished {
            tmp: Some(tmp.into_temp_path()),
            dest: self.dest.clone(),
            force: self.force,
            dev: 0,
        };
        let mut dirs: Vec<PathBuf> = self.made.iter().map(|d| parent_of(d)).collect();
        dirs.push(parent_of(&finished.dest));
        finished.rename()?;
        sync_dirs(dirs.iter());
        Ok(())
    }

    /// Ends writing without making the output durable or final: see [`Finished`].
    fn finish(&mut self) -> Result<Finished, CliError> {
        let name = self.dest.display().to_string();
        let Some(mut tmp) = self.tmp.take() else {
            return Err(CliError::io(&name, io::Error::other("output already closed")));
        };
        let flushed = tmp.flush().and_then(|()| match self.dev {
            Some(d) => Ok(d),
            None => tmp.as_file().metadata().map(|m| device(&m)),
        });
        let finished = Finished {
            tmp: Some(tmp.into_temp_path()),
            dest: self.dest.clone(),
            force: self.force,
            dev: *flushed.as_ref().unwrap_or(&0),
        };
        match flushed {
            Ok(_) => Ok(finished),
            Err(e) => Err(CliError::io(name, e)),
        }
    }
}

/// A file output whose bytes are all written to its temporary file, which is
/// neither synced nor renamed yet. Directory runs collect many of these and
/// make them durable together ([`commit_all`]): one filesystem sync for the
/// lot, then the renames, then one more sync for the renames, instead of a
/// file sync and a directory sync for each file. Dropped, it removes its temporary file.
pub struct Finished {
    /// `None` once renamed.
    tmp: Option<tempfile::TempPath>,
    dest: PathBuf,
    force: bool,
    /// The filesystem holding the temporary file.
    dev: u64,
}

impl Finished {
    /// Renames the (already durable) temporary file to its destination. Without
    /// `--force` an existing destination is never replaced, even one that
    /// appeared while this output was written.
    fn rename(mut self) -> Result<(), CliError> {
        let name = self.dest.display().to_string();
        let Some(tmp) = self.tmp.take() else {
            return Err(CliError::io(&name, io::Error::other("output already closed")));
        };
        let tmp_path = tmp.to_path_buf();
        if self.force {
            // Replacing a file keeps its permissions; new files stay owner-only.
            if let Ok(m) = fs::metadata(&self.dest) {
                let _ = fs::set_permissions(&tmp, m.permissions());
            }
        }
        let r = if self.force {
            tmp.persist(&self.dest)
        } else {
            tmp.persist_noclobber(&self.dest)
        };
        // A failed rename hands the temporary file back: it goes here.
        let outcome = r.map_err(|e| CliError::io(name, without_path(e.error)));
        super::interrupt::unregister(&tmp_path);
        outcome
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            super::interrupt::unregister(&tmp);
        }
    }
}

/// Makes every output of `batch` durable and final, in that order: no file
/// appears under its name before its bytes are on disk. Then makes the
/// renames durable, and the directories made for the outputs (`made`): on
/// Linux with one more sync of each filesystem (one journal commit for the
/// lot), elsewhere with a sync of each directory. Returns each output's
/// outcome, in the order given.
pub fn commit_all(batch: Vec<Finished>, made: &MadeDirs) -> Vec<Result<(), CliError>> {
    let synced = sync_files(&batch);
    let mut dirs = made.take_unsynced_parents();
    let mut devs = Vec::new();
    let outcomes = batch
        .into_iter()
        .zip(synced)
        .map(|(f, synced)| {
            synced?;
            if SYNC_WHOLE_FILESYSTEM {
                if !devs.contains(&f.dev) {
                    devs.push(f.dev);
                    dirs.push(parent_of(&f.dest));
                }
            } else {
                dirs.push(parent_of(&f.dest));
            }
            f.rename()
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    sync_dirs(dirs.iter());
    outcomes
}

/// Whether one sync of a filesystem makes every file on it durable: Linux's
/// `syncfs` writes out every dirty page of the filesystem and waits for it
/// (and reports write-back errors since Linux 5.8). Elsewhere each file is
/// synced on its own.
const SYNC_WHOLE_FILESYSTEM: bool = cfg!(target_os = "linux");

/// Syncs the temporary files of `batch`, once per filesystem where that suffices.
fn sync_files(batch: &[Finished]) -> Vec<Result<(), CliError>> {
    let mut by_dev: HashMap<u64, Result<(), String>> = HashMap::new();
    batch
        .iter()
        .map(|f| {
            let name = f.dest.display().to_string();
            let Some(tmp) = &f.tmp else {
                return Err(CliError::io(&name, io::Error::other("output already closed")));
            };
            let r = if SYNC_WHOLE_FILESYSTEM {
                by_dev
                    .entry(f.dev)
                    .or_insert_with(|| sync_fs_of(tmp).map_err(|e| e.to_string()))
                    .clone()
            } else {
                sync_fs_of(tmp).map_err(|e| e.to_string())
            };
            r.map_err(|e| CliError::io(name, io::Error::other(e)))
        })
        .collect()
}

#[cfg(target_os = "linux")]
fn sync_fs_of(path: &Path) -> io::Result<()> {
    sync_fs(&File::open(path)?)
}

#[cfg(not(target_os = "linux"))]
fn sync_fs_of(path: &Path) -> io::Result<()> {
    OpenOptions::new().write(true).open(path)?.sync_all()
}

/// Syncs the filesystem holding `f`.
#[cfg(target_os = "linux")]
fn sync_fs(f: &File) -> io::Result<()> {
    rustix::fs::syncfs(f).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn sync_fs(f: &File) -> io::Result<()> {
    f.sync_all()
}

#[cfg(unix)]
fn device(meta: &fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.dev()
}

#[cfg(not(unix))]
fn device(_meta: &fs::Metadata) -> u64 {
    0
}

/// Makes renames into `dirs`, and the directories themselves, durable: on
/// Linux a sync of each filesystem they are on (the parents of made
/// directories may be on others), elsewhere a sync of each directory. Best
/// effort where directories cannot be opened.
fn sync_dirs<'a>(dirs: impl Iterator<Item = &'a PathBuf>) {
    let mut synced = Vec::new();
    for d in dirs {
        let Ok(f) = File::open(d) else { continue };
        if SYNC_WHOLE_FILESYSTEM {
            let dev = f.metadata().map_or(0, |m| device(&m));
            if !synced.contains(&dev) {
                synced.push(dev);
                let _ = sync_fs(&f);
            }
        } else {
            let _ = f.sync_all();
        }
    }
}

impl Drop for FileOutput {
    /// Discards an output that was not committed.
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let path = tmp.path().to_path_buf();
            drop(tmp);
            super::interrupt::unregister(&path);
            remove_dirs(&self.made);
        }
    }
}

/// Removes directories made for an output (outermost first in `dirs`),
/// innermost first; one that is no longer empty stays.
fn remove_dirs(dirs: &[PathBuf]) {
    for d in dirs.iter().rev() {
        let _ = fs::remove_dir(d);
    }
}

/// `path` made absolute against the working directory as it was first
/// asked for (this program never changes it): the temporary file's name is
/// then absolute without a `getcwd` for each file.
fn absolute(path: &Path) -> PathBuf {
    static CWD: OnceLock<Option<PathBuf>> = OnceLock::new();
    match CWD.get_or_init(|| std::env::current_dir().ok()) {
        Some(cwd) if path.is_relative() => cwd.join(path),
        _ => path.to_path_buf(),
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
                remove_dirs(&created);
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
