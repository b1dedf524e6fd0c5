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
use super::ui::Ui;
use super::CommonArgs;

/// Added to file names on encrypt (into a directory); removed on decrypt.
pub const DEFAULT_SUFFIX: &str = ".encrypted";
/// Added on decrypt to names that lack the suffix.
pub const DECRYPTED_SUFFIX: &str = ".decrypted";

/// What a run does to each file: it decides the output names (and the
/// `mode` of metadata lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Encrypt,
    Decrypt,
    Rewrap,
}

impl Op {
    /// The name of the subcommand.
    pub fn name(self) -> &'static str {
        match self {
            Op::Encrypt => "encrypt",
            Op::Decrypt => "decrypt",
            Op::Rewrap => "rewrap",
        }
    }
}

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
#[derive(Debug, Clone)]
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

/// The jobs of one command line. A directory's jobs are not held in memory:
/// [`Plan::steps`] walks the input trees again each time it is called, so a
/// run over 100,000 files holds one directory listing at a time, not a list
/// of 100,000 jobs.
#[derive(Debug)]
pub struct Plan {
    shape: Shape,
    mode: Op,
    suffix: Option<String>,
    /// How many files the checked plan processes.
    pub files: u64,
    /// Total input bytes, if every input is a file and a progress bar may
    /// show them (see [`check`]).
    pub total_size: Option<u64>,
    /// `--skip-existing`: jobs whose output file exists are not run.
    pub skip_existing: bool,
    /// How many jobs the checked plan skips so.
    pub skipped: u64,
}

#[derive(Debug)]
enum Shape {
    /// One input into one output: stdin, stdout or files.
    Single(Job),
    /// Files and trees (with `-r`) into the directory `out` (missing
    /// directories are created). Each input comes with where it goes: a
    /// file into `out`; a directory's contents into `out` itself when it is
    /// the only input, else into `out/NAME` (as `cp -r d1 d2 out/` does), so
    /// that trees never merge.
    Tree { inputs: Vec<(PathBuf, PathBuf)> },
}

/// One step of a walk: a file to process, or an output directory that mirrors
/// an input directory (announced before the files that go into it).
pub enum Step {
    File(Job),
    Dir(PathBuf),
}

impl Plan {
    /// The one job of a plan that is not a directory run.
    pub fn single(&self) -> Option<&Job> {
        match &self.shape {
            Shape::Single(job) => Some(job),
            Shape::Tree { .. } => None,
        }
    }

    /// Whether `job` is skipped: `--skip-existing`, and its output file exists
    /// (outputs appear under their names only when complete).
    pub fn skips(&self, job: &Job) -> bool {
        self.skip_existing && matches!(&job.dest, Dest::File(p) if p.is_file())
    }

    /// Whether a job writes to stdout.
    pub fn writes_stdout(&self) -> bool {
        self.single().is_some_and(|j| j.dest == Dest::Stdout)
    }

    /// The steps of the plan, in order: each input in turn, each tree in name
    /// order (a directory's files before its subdirectories). `ui` gets the
    /// notes about skipped entries (`None`: a later walk, quiet). With
    /// `sizes`, every file of a tree is looked up for its size, a system call
    /// per file; without, a regular file is known from its directory entry
    /// alone and its job has no size.
    pub fn steps<'a>(&'a self, ui: Option<&'a Ui>, sizes: bool) -> Steps<'a> {
        Steps {
            plan: self,
            next_input: 0,
            walk: Walk::default(),
            ui,
            sizes,
        }
    }
}

/// The iterator of [`Plan::steps`].
pub struct Steps<'a> {
    plan: &'a Plan,
    next_input: usize,
    walk: Walk,
    ui: Option<&'a Ui>,
    sizes: bool,
}

/// The state of a walk through one input tree.
#[derive(Default)]
struct Walk {
    /// Directories still to list, with their output directories; the next on top.
    pending: Vec<(PathBuf, PathBuf)>,
    /// The files of the directory being walked, in reverse name order.
    files: Vec<Job>,
}

impl Iterator for Steps<'_> {
    type Item = Result<Step, CliError>;

    fn next(&mut self) -> Option<Self::Item> {
        let inputs = match &self.plan.shape {
            Shape::Single(job) => {
                if self.next_input > 0 {
                    return None;
                }
                self.next_input = 1;
                return Some(Ok(Step::File(job.clone())));
            }
            Shape::Tree { inputs } => inputs,
        };
        loop {
            if let Some(job) = self.walk.files.pop() {
                return Some(Ok(Step::File(job)));
            }
            if let Some((dir, o)) = self.walk.pending.pop() {
                return Some(self.list(&dir, &o).map(|()| Step::Dir(o)));
            }
            let (input, out) = inputs.get(self.next_input)?;
            self.next_input += 1;
            if input.is_dir() {
                self.walk.pending.push((input.clone(), out.clone()));
                continue;
            }
            let Some(name) = input.file_name() else {
                return Some(Err(CliError::usage(format!(
                    "{} has no file name",
                    input.display()
                ))));
            };
            let size = fs::metadata(input).ok().filter(|m| m.is_file()).map(|m| m.len());
            return Some(Ok(Step::File(Job {
                source: Source::File(input.clone()),
                dest: Dest::File(out.join(output_name(name, self.plan.mode, self.plan.suffix.as_deref()))),
                size,
            })));
        }
    }
}

impl Steps<'_> {
    /// Lists `dir` (mirrored as `out`): its files become the next jobs, its
    /// subdirectories the next directories. Symbolic links to files are
    /// followed; links to directories are not (they could loop), and neither
    /// are sockets, FIFOs or devices: those are skipped with a note.
    fn list(&mut self, dir: &Path, out: &Path) -> Result<(), CliError> {
        let mut entries = fs::read_dir(dir)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| CliError::io(dir.display(), e))?;
        // Reverse name order: the walk pops from the end.
        entries.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
        let (mode, suffix) = (self.plan.mode, self.plan.suffix.as_deref());
        let mut subdirs = Vec::new();
        for e in entries {
            let path = e.path();
            let kind = e.file_type().map_err(|err| CliError::io(path.display(), err))?;
            let name = e.file_name();
            if kind.is_dir() {
                subdirs.push((path, out.join(&name)));
                continue;
            }
            let dest = || Dest::File(out.join(output_name(&name, mode, suffix)));
            // The directory entry already says what a regular file is.
            if !self.sizes && kind.is_file() {
                self.walk.files.push(Job {
                    source: Source::File(path),
                    dest: dest(),
                    size: None,
                });
                continue;
            }
            let meta = if kind.is_symlink() {
                fs::metadata(&path).ok()
            } else {
                e.metadata().ok()
            };
            let skip = match meta {
                Some(m) if m.is_file() => {
                    self.walk.files.push(Job {
                        source: Source::File(path),
                        dest: dest(),
                        size: Some(m.len()),
                    });
                    continue;
                }
                Some(m) if m.is_dir() => "a link to a directory",
                None if kind.is_symlink() => "a broken link",
                _ => "not a regular file",
            };
            if let Some(ui) = self.ui {
                ui.note(format!("skipping {}: {skip}", path.display()));
            }
        }
        // Subdirectories in reverse name order, so that the stack yields them in name order.
        self.walk.pending.extend(subdirs);
        Ok(())
    }
}

fn is_dash(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Builds and checks the jobs for `common` in `mode`. The check walks every
/// input tree once (see [`check`]), so a bad command line writes nothing.
pub fn plan(common: &CommonArgs, mode: Op, ui: &Ui) -> Result<Plan, CliError> {
    if common.interactive {
        return Err(CliError::usage(
            "--interactive: envelope never prompts; existing outputs are refused unless --force \
             (overwrite) or --skip-existing (keep them)",
        ));
    }
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

    let shape = if !to_directory {
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
        Shape::Single(Job { source, dest, size })
    } else {
        for input in inputs.iter().filter(|p| p.is_dir()) {
            if absolute(out).starts_with(absolute(input)) {
                return Err(CliError::usage(format!(
                    "the output directory {} is inside the input directory {}",
                    out.display(),
                    input.display()
                )));
            }
        }
        Shape::Tree {
            inputs: destinations(inputs, out)?,
        }
    };
    let mut plan = Plan {
        shape,
        mode,
        suffix: common.suffix.clone(),
        files: 0,
        total_size: Some(0),
        skip_existing: common.skip_existing,
        skipped: 0,
    };
    check(&mut plan, common, ui)?;
    Ok(plan)
}

/// Where each input of a directory run goes (see [`Shape::Tree`]). Refuses
/// inputs that overlap (one directory inside another, or given twice: its
/// files would be processed twice) and two directories of one name (they
/// would be mirrored into one), before anything is written.
fn destinations(inputs: &[PathBuf], out: &Path) -> Result<Vec<(PathBuf, PathBuf)>, CliError> {
    let dirs: Vec<(&PathBuf, PathBuf)> = inputs
        .iter()
        .filter(|p| p.is_dir())
        .map(|p| (p, absolute(p)))
        .collect();
    for input in inputs {
        let abs = absolute(input);
        if let Some((dir, _)) = dirs
            .iter()
            .find(|(d, d_abs)| !std::ptr::eq(*d, input) && abs.starts_with(d_abs))
        {
            let how = if abs == absolute(dir) {
                "is given twice"
            } else {
                "overlaps"
            };
            return Err(CliError::usage(format!(
                "-i {} {how} -i {}: each file must come from one input",
                input.display(),
                dir.display()
            )));
        }
    }
    let mut mirrored: HashMap<PathBuf, &Path> = HashMap::new();
    inputs
        .iter()
        .map(|input| {
            if inputs.len() == 1 || !input.is_dir() {
                return Ok((input.clone(), out.to_path_buf()));
            }
            let name = absolute(input).file_name().map(OsStr::to_owned).ok_or_else(|| {
                CliError::usage(format!("{} has no name to mirror it under", input.display()))
            })?;
            let root = out.join(name);
            if let Some(other) = mirrored.insert(root.clone(), input) {
                return Err(CliError::usage(format!(
                    "-i {} and -i {} would both be mirrored as {}",
                    other.display(),
                    input.display(),
                    root.display()
                )));
            }
            Ok((input.clone(), root))
        })
        .collect()
}

/// The output file name in a directory: on encrypt, `name` + suffix; on
/// decrypt, `name` without the suffix, or `name.decrypted` if it lacks it;
/// on rewrap, `name` as it is (a message stays a message), or `name` + suffix
/// if one is given. An empty suffix (a bare `--suffix`) keeps names as they are.
pub fn output_name(name: &OsStr, mode: Op, suffix: Option<&str>) -> OsString {
    let suffix = match (mode, suffix) {
        (Op::Rewrap, None) => "",
        (_, s) => s.unwrap_or(DEFAULT_SUFFIX),
    };
    if suffix.is_empty() {
        return name.to_owned();
    }
    match mode {
        Op::Encrypt | Op::Rewrap => {
            let mut n = name.to_owned();
            n.push(suffix);
            n
        }
        Op::Decrypt => strip_suffix(name, suffix).unwrap_or_else(|| {
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
/// input, a directory, the metadata output, or (without `--force`) an
/// existing file, and no two inputs may map to the same output. Counts the
/// files on the way, and their bytes when a progress bar may show them: the
/// bytes cost a look at every file of a tree, which the bar alone uses (for
/// 5,000 files, 3-5% of a run; README, Small work).
///
/// Two inputs of one tree can only meet in one output directory, so within a
/// tree the names are compared a directory at a time (memory stays that of
/// one listing); with several `-i` inputs, whose files share the output
/// directory, every output path is remembered.
fn check(plan: &mut Plan, common: &CommonArgs, ui: &Ui) -> Result<(), CliError> {
    let metadata = common.metadata_output.as_deref().filter(|p| !is_dash(p));
    let remember_all = matches!(&plan.shape, Shape::Tree { inputs } if inputs.len() > 1);
    let mut seen: HashMap<PathBuf, String> = HashMap::new();
    let (mut files, mut total, mut skipped) = (0u64, Some(0u64), 0u64);
    // Stale temporary outputs of dead runs, in the directories written to.
    let mut stale = match &plan.shape {
        Shape::Single(Job {
            dest: Dest::File(p), ..
        }) => super::stale::clean(&super::output::parent_of(p)),
        Shape::Single(_) => 0,
        Shape::Tree { .. } => super::stale::clean(&common.output),
    };
    // The output directory of the files listed next, if it does not exist:
    // nothing in it can, so its files' outputs need no look (a new tree of
    // thousands of files saves as many system calls).
    let mut missing_dir: Option<PathBuf> = None;
    for step in plan.steps(Some(ui), ui.may_show_progress()) {
        let job = match step? {
            Step::Dir(d) => {
                missing_dir = fs::symlink_metadata(&d).is_err().then(|| d.clone());
                stale += super::stale::clean(&d);
                if !remember_all {
                    seen.clear();
                }
                continue;
            }
            Step::File(job) => job,
        };
        if plan.skips(&job) {
            skipped += 1;
            continue;
        }
        files += 1;
        total = total.zip(job.size).map(|(t, s)| t + s);
        if let (Some(m), Source::File(src)) = (metadata, &job.source) {
            if same_file(src, m) {
                return Err(metadata_clash(m));
            }
        }
        let Dest::File(dest) = &job.dest else { continue };
        if metadata.is_some_and(|m| m == dest || same_file(m, dest)) {
            return Err(metadata_clash(dest));
        }
        // Within one tree the paths are spelled alike; across inputs they may not be.
        let key = if remember_all {
            absolute(dest)
        } else {
            dest.clone()
        };
        if let Some(other) = seen.insert(key, job.input_name()) {
            return Err(CliError::usage(format!(
                "{other} and {} would both be written to {}: use separate runs or --suffix",
                job.input_name(),
                dest.display()
            )));
        }
        if missing_dir.as_deref().is_some_and(|m| dest.parent() == Some(m)) {
            continue;
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
        if !common.force && meta.is_file() {
            return Err(CliError::usage(format!(
                "{} already exists: use --force to overwrite it",
                dest.display()
            )));
        }
    }
    plan.files = files;
    plan.total_size = total;
    plan.skipped = skipped;
    if stale > 0 {
        ui.note(format!(
            "removed {stale} temporary file(s) left by runs that were killed (.envelope-*.tmp)"
        ));
    }
    if skipped > 0 {
        ui.note(format!(
            "skipping {skipped} file(s) whose output exists (--skip-existing)"
        ));
    }
    Ok(())
}

fn metadata_clash(path: &Path) -> CliError {
    CliError::usage(format!(
        "--metadata-output {}: that file is also an input or an output",
        path.display()
    ))
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

    fn name(n: &str, mode: Op, suffix: Option<&str>) -> String {
        output_name(OsStr::new(n), mode, suffix)
            .into_string()
            .unwrap_or_default()
    }

    #[test]
    fn output_names() {
        assert_eq!(name("a.txt", Op::Encrypt, None), "a.txt.encrypted");
        assert_eq!(name("a.txt", Op::Encrypt, Some(".enc")), "a.txt.enc");
        assert_eq!(name("a.txt", Op::Encrypt, Some("")), "a.txt");
        assert_eq!(name("a.txt.encrypted", Op::Decrypt, None), "a.txt");
        assert_eq!(name("a.txt.enc", Op::Decrypt, Some(".enc")), "a.txt");
        assert_eq!(name("a.txt.enc", Op::Decrypt, None), "a.txt.enc.decrypted");
        assert_eq!(name(".encrypted", Op::Decrypt, None), ".encrypted.decrypted");
        assert_eq!(name("a.txt.enc", Op::Decrypt, Some("")), "a.txt.enc");
        assert_eq!(name("a.txt.encrypted", Op::Rewrap, None), "a.txt.encrypted");
        assert_eq!(
            name("a.txt.encrypted", Op::Rewrap, Some(".new")),
            "a.txt.encrypted.new"
        );
    }

    /// The walk looks files up for their sizes only when asked: a tree's jobs
    /// carry their input sizes then, and none otherwise, with the same jobs.
    #[test]
    fn a_walk_gives_sizes_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        fs::create_dir_all(tree.join("sub")).unwrap();
        fs::write(tree.join("a"), [0u8; 3]).unwrap();
        fs::write(tree.join("sub/b"), [0u8; 5]).unwrap();
        let plan = Plan {
            shape: Shape::Tree {
                inputs: vec![(tree, dir.path().join("out"))],
            },
            mode: Op::Encrypt,
            suffix: None,
            files: 0,
            total_size: None,
            skip_existing: false,
            skipped: 0,
        };
        let jobs = |sizes| -> Vec<(PathBuf, Option<u64>)> {
            plan.steps(None, sizes)
                .filter_map(|s| match s.unwrap() {
                    Step::File(Job {
                        source: Source::File(p),
                        size,
                        ..
                    }) => Some((p, size)),
                    _ => None,
                })
                .collect()
        };
        let with = jobs(true);
        let sizes: Vec<_> = with.iter().map(|(_, s)| *s).collect();
        assert_eq!(sizes, [Some(3), Some(5)]);
        let without = jobs(false);
        assert!(without.iter().all(|(_, s)| s.is_none()), "{without:?}");
        let paths = |j: &[(PathBuf, Option<u64>)]| j.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        assert_eq!(paths(&with), paths(&without));
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
