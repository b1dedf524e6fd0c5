//! The CLI tests' world: a temporary working directory and key store per
//! test, and runners that check the exit code and that stderr holds clean
//! messages (no panic, no backtrace, no "unexpected error").

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A test's world: `work/` (the current directory of every run) and `home/`
/// (its ENVELOPE_HOME, not created until envelope creates it).
pub struct Env {
    tmp: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("work")).unwrap();
        Env { tmp }
    }

    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("work")
    }

    pub fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir().join(rel)
    }

    /// A command running envelope in `work/` with this test's key store (and
    /// none of the developer's settings).
    pub fn cmd(&self) -> Command {
        let mut c = super::scrub::envelope();
        c.env("ENVELOPE_HOME", self.home()).current_dir(self.dir());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd().args(args).output().unwrap();
        assert_clean(&out.stderr);
        out
    }

    /// Runs with `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            // The child may stop reading early (it failed); that is not this test's error.
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap();
        assert_clean(&out.stderr);
        out
    }

    /// Runs a command that must succeed; returns its output.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs a command that must exit with `code`; returns its stderr.
    #[track_caller]
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(!err.trim().is_empty(), "{args:?}: no message on stderr");
        err
    }

    pub fn write(&self, rel: &str, data: &[u8]) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(p, data).unwrap();
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Every file and directory under `work/` (relative path -> contents;
    /// directories map to None), to show that a failed run wrote nothing.
    pub fn snapshot(&self) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
        tree(&self.dir())
    }
}

/// Every file and directory under `root`, relative, with file contents.
pub fn tree(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let m = fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                out.insert(rel, None);
                stack.push(p);
            } else {
                out.insert(rel, Some(fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out
}

/// Stderr must hold messages, not crashes.
#[track_caller]
pub fn assert_clean(stderr: &[u8]) {
    let err = String::from_utf8_lossy(stderr);
    for bad in [
        "panicked",
        "RUST_BACKTRACE",
        "stack backtrace",
        "unexpected error",
    ] {
        assert!(!err.contains(bad), "stderr has {bad:?}: {err}");
    }
}

/// Deterministic pseudo-random bytes (xorshift), so a failure reproduces.
pub fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A 32-byte raw AES key written to `work/aes.key`, and the `-w` words naming
/// it (the test keyring's namespace and name).
pub fn aes_key(env: &Env) -> Vec<&'static str> {
    env.write("aes.key", &bytes(32, 77));
    // Owner-only, as a careful user keeps it (others' access draws a warning).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(env.path("aes.key"), fs::Permissions::from_mode(0o600)).unwrap();
    }
    vec![
        "-w",
        "provider=raw-aes",
        "key=aes.key",
        "namespace=tests",
        "name=aes-1",
    ]
}

/// `args` followed by `more`.
pub fn with<'a>(args: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    args.iter().chain(more).copied().collect()
}

/// Writes `text` to `path` as an executable script.
///
/// A child process writes it, not this one: tests run on several threads,
/// and a child that another thread forks while this process holds the file
/// open for writing would keep it open until that child's exec, so running
/// the script could fail with "text file busy" (ETXTBSY).
#[cfg(unix)]
pub fn write_executable(path: &Path, text: &str) {
    let mut child = Command::new("sh")
        .args(["-c", r#"cat > "$1" && chmod 755 "$1""#, "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "cannot write {}", path.display());
}
