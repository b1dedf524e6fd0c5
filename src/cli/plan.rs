//! Turning `-i`/`-o`/`-r`/`--suffix` into a list of jobs, each one input and
//! one output, and checking the whole list before any of it runs.
//!
//! The pairings are aws-encryption-cli's: stdin to stdout or a file; a file to
//! stdout, a file or a directory; several inputs or a directory (with `-r`)
//! to a directory only. Usage mistakes (an input that is also an output, an
//! existing output without `--force`, stdin into a directory, two inputs that
//! map to one output) are all found here, so that a bad command line writes
//! nothing at all.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Component, Path, PathBuf, MAIN_SEPARATOR};

use super::error::CliError;
use super::keyrings::Mode;
use super::ui::Ui;
use super::CommonArgs;

/// Added to file names on encrypt (into a directory); removed on decrypt.
pub const DEFAULT_SUFFIX: &str = ".encrypted";
/// Added on decrypt to names that lack the suffix.
pub const DECRYPTED_SUFFIX: &str = ".decrypted";

/// Where a job reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdin,
    File(PathBuf),
}

/// Where a job writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    Stdout,
    File(PathBuf),
}

/// One input processed into one output.
#[derive(Debug)]
pub struct Job {
    pub source: Source,
    pub dest: Dest,
    /// Input size, when the input is a regular file.
    pub size: Option<u64>,
}

impl Job {
    /// The input as messages name it.
    pub fn input_name(&self) -> String {
        match &self.source {
            Source::Stdin => "stdin".into(),
            Source::File(p) => p.display().to_string(),
        }
    }
}

/// The jobs of one command line.
#[derive(Debug)]
pub struct Plan {
    pub jobs: Vec<Job>,
    /// Whether outputs go into a directory (missing directories are created).
    pub to_directory: bool,
    /// Directories of the input trees, mirrored under the output directory
    /// even when empty, once every job has succeeded.
    pub mirror_dirs: Vec<PathBuf>,
}

impl Plan {
    /// Total input bytes, if every input is a file.
    pub fn total_size(&self) -> Option<u64> {
        self.jobs.iter().map(|j| j.size).sum()
    }
}

fn is_dash(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Builds and checks the jobs for `common` in `mode`.
pub fn plan(common: &CommonArgs, mode: Mode, ui: &Ui) -> Result<Plan, CliError> {
    let stdin = [PathBuf::from("-")];
    let inputs: &[PathBuf] = if common.input.is_empty() {
        &stdin
    } else {
        &common.input
    };
    let reads_stdin = inputs.iter().any(|p| is_dash(p));
    if reads_stdin && inputs.len() > 1 {
        return Err(CliError::usage(
            "-i -: stdin cannot be combined with other inputs",
        ));
    }
    let mut any_dir = false;
    for p in inputs.iter().filter(|p| !is_dash(p)) {
        let meta = fs::metadata(p).map_err(|e| CliError::io(p.display(), e))?;
        if meta.is_dir() {
            if !common.recursive {
                return Err(CliError::usage(format!(
                    "{} is a directory: use -r to process it and everything below it",
                    p.display()
                )));
            }
            any_dir = true;
        }
    }
    let out = &common.output;
    let to_stdout = is_dash(out);
    let several = inputs.len() > 1 || any_dir;
    if to_stdout && several {
        return Err(CliError::usage(
            "several inputs or a directory need an output directory: -o DIR",
        ));
    }
    let out_is_dir = !to_stdout && (out.is_dir() || ends_with_separator(out));
    let to_directory = several || out_is_dir;
    if to_directory {
        if reads_stdin {
            return Err(CliError::usage(
                "stdin has no file name to write into a directory: give -o FILE or -o -",
            ));
        }
        if out.exists() && !out.is_dir() {
            return Err(CliError::usage(format!(
                "{} is not a directory: several inputs or a directory need an output directory",
                out.display()
            )));
        }
    }

    let mut plan = Plan {
        jobs: Vec::new(),
        to_directory,
        mirror_dirs: Vec::new(),
    };
    if !to_directory {
        let source = match inputs.first() {
            Some(p) if !is_dash(p) => Source::File(p.clone()),
            _ => Source::Stdin,
        };
        let size = match &source {
            Source::File(p) => fs::metadata(p).ok().filter(|m| m.is_file()).map(|m| m.len()),
            Source::Stdin => None,
        };
        let dest = if to_stdout {
            Dest::Stdout
        } else {
            Dest::File(out.clone())
        };
        plan.jobs.push(Job { source, dest, size });
    } else {
        let suffix = common.suffix.as_deref();
        for input in inputs {
            if input.is_dir() {
                let root = absolute(input);
                if absolute(out).starts_with(&root) {
                    return Err(CliError::usage(format!(
                        "the output directory {} is inside the input directory {}",
                        out.display(),
                        input.display()
                    )));
                }
                walk(input, out, mode, suffix, ui, &mut plan)?;
            } else {
                let name = input
                    .file_name()
                    .ok_or_else(|| CliError::usage(format!("{} has no file name", input.display())))?;
                let size = fs::metadata(input).ok().filter(|m| m.is_file()).map(|m| m.len());
                plan.jobs.push(Job {
                    source: Source::File(input.clone()),
                    dest: Dest::File(out.join(output_name(name, mode, suffix))),
                    size,
                });
            }
        }
    }
    check(&plan, common.force)?;
    Ok(plan)
}

/// Adds a job for every file below `dir`, mirrored under `out`. Symbolic links
/// to files are followed; links to directories are not (they could loop), and
/// neither are sockets, FIFOs or devices: those are skipped with a note.
fn walk(
    dir: &Path,
    out: &Path,
    mode: Mode,
    suffix: Option<&str>,
    ui: &Ui,
    plan: &mut Plan,
) -> Result<(), CliError> {
    let mut stack = vec![(dir.to_path_buf(), out.to_path_buf())];
    while let Some((d, o)) = stack.pop() {
        let mut entries = fs::read_dir(&d)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| CliError::io(d.display(), e))?;
        entries.sort_by_key(|e| e.file_name());
        let mut subdirs = Vec::new();
        for e in entries {
            let path = e.path();
            let kind = e.file_type().map_err(|err| CliError::io(path.display(), err))?;
            let name = e.file_name();
            if kind.is_dir() {
                subdirs.push((path, o.join(&name)));
                continue;
            }
            let meta = if kind.is_symlink() {
                fs::metadata(&path).ok()
            } else {
                e.metadata().ok()
            };
            match meta {
                Some(m) if m.is_file() => plan.jobs.push(Job {
                    source: Source::File(path),
                    dest: Dest::File(o.join(output_name(&name, mode, suffix))),
                    size: Some(m.len()),
                }),
                Some(m) if m.is_dir() => {
                    ui.note(format!("skipping {}: a link to a directory", path.display()))
                }
                None if kind.is_symlink() => ui.note(format!("skipping {}: a broken link", path.display())),
                _ => ui.note(format!("skipping {}: not a regular file", path.display())),
            }
        }
        plan.mirror_dirs.push(o);
        // Reversed so that the stack yields them in name order.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}

/// The output file name in a directory: on encrypt, `name` + suffix; on
/// decrypt, `name` without the suffix, or `name.decrypted` if it lacks it.
/// An empty suffix (a bare `--suffix`) keeps names as they are.
pub fn output_name(name: &OsStr, mode: Mode, suffix: Option<&str>) -> OsString {
    let suffix = suffix.unwrap_or(DEFAULT_SUFFIX);
    if suffix.is_empty() {
        return name.to_owned();
    }
    match mode {
        Mode::Encrypt => {
            let mut n = name.to_owned();
            n.push(suffix);
            n
        }
        Mode::Decrypt => strip_suffix(name, suffix).unwrap_or_else(|| {
            let mut n = name.to_owned();
            n.push(DECRYPTED_SUFFIX);
            n
        }),
    }
}

/// `name` without `suffix`, if it ends with it and is longer.
fn strip_suffix(name: &OsStr, suffix: &str) -> Option<OsString> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let stem = name.as_bytes().strip_suffix(suffix.as_bytes())?;
        (!stem.is_empty()).then(|| OsStr::from_bytes(stem).to_owned())
    }
    #[cfg(not(unix))]
    {
        let stem = name.to_str()?.strip_suffix(suffix)?;
        (!stem.is_empty()).then(|| OsString::from(stem))
    }
}

fn ends_with_separator(p: &Path) -> bool {
    let s = p.as_os_str().as_encoded_bytes();
    s.last() == Some(&b'/') || s.last() == Some(&(MAIN_SEPARATOR as u8))
}

/// Checks every output before anything is written: none may be its own
/// input, a directory, or (without `--force`) an existing file, and no two
/// inputs may map to the same output.
fn check(plan: &Plan, force: bool) -> Result<(), CliError> {
    let mut seen: HashMap<PathBuf, &Job> = HashMap::new();
    for job in &plan.jobs {
        let Dest::File(dest) = &job.dest else { continue };
        if let Some(other) = seen.insert(absolute(dest), job) {
            return Err(CliError::usage(format!(
                "{} and {} would both be written to {}: use separate runs or --suffix",
                other.input_name(),
                job.input_name(),
                dest.display()
            )));
        }
        let Ok(meta) = fs::metadata(dest) else { continue };
        if let Source::File(src) = &job.source {
            if same_file(src, dest) {
                return Err(CliError::usage(format!(
                    "{}: the input and the output are the same file",
                    src.display()
                )));
            }
        }
        if meta.is_dir() {
            return Err(CliError::usage(format!(
                "{} is a directory, not an output file",
                dest.display()
            )));
        }
        if !force && meta.is_file() {
            return Err(CliError::usage(format!(
                "{} already exists: use --force to overwrite it",
                dest.display()
            )));
        }
    }
    Ok(())
}

/// Whether two existing paths name the same file (through links too).
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (fs::metadata(a), fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        matches!((fs::canonicalize(a), fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
    }
}

/// `p` as an absolute path with symbolic links resolved as far as it exists,
/// for comparing paths that may not exist yet.
pub fn absolute(p: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut cur = p.to_path_buf();
    loop {
        if let Ok(c) = fs::canonicalize(&cur) {
            let mut out = c;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (cur.file_name().map(OsStr::to_owned), cur.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                cur = if parent.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    parent.to_path_buf()
                };
            }
            // Nothing of it exists (or it ends in `..`): compare it as written.
            _ => {
                return std::path::absolute(p)
                    .unwrap_or_else(|_| p.to_path_buf())
                    .components()
                    .filter(|c| !matches!(c, Component::CurDir))
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str, mode: Mode, suffix: Option<&str>) -> String {
        output_name(OsStr::new(n), mode, suffix)
            .into_string()
            .unwrap_or_default()
    }

    #[test]
    fn output_names() {
        assert_eq!(name("a.txt", Mode::Encrypt, None), "a.txt.encrypted");
        assert_eq!(name("a.txt", Mode::Encrypt, Some(".enc")), "a.txt.enc");
        assert_eq!(name("a.txt", Mode::Encrypt, Some("")), "a.txt");
        assert_eq!(name("a.txt.encrypted", Mode::Decrypt, None), "a.txt");
        assert_eq!(name("a.txt.enc", Mode::Decrypt, Some(".enc")), "a.txt");
        assert_eq!(name("a.txt.enc", Mode::Decrypt, None), "a.txt.enc.decrypted");
        assert_eq!(name(".encrypted", Mode::Decrypt, None), ".encrypted.decrypted");
        assert_eq!(name("a.txt.enc", Mode::Decrypt, Some("")), "a.txt.enc");
    }

    #[test]
    fn absolute_paths_of_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let base = fs::canonicalize(dir.path()).unwrap();
        assert_eq!(absolute(&dir.path().join("x/y")), base.join("x/y"));
        assert_eq!(absolute(dir.path()), base);
        assert!(absolute(&dir.path().join("x")).starts_with(&base));
    }
}
