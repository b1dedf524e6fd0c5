//! The one locator of `../shared`, the official test vectors and reference
//! documents that live beside the repository rather than in it.
//!
//! The rules, for every test that reads it:
//! * absent (and not under `CI=true`): the test says so on stderr, past the
//!   test harness's capture, in a line starting with [`ABSENT`] that
//!   `scripts/test.sh` counts, and passes;
//! * absent under `CI=true`: the test fails;
//! * present: a folder, manifest or expectations file that is missing or
//!   unreadable fails the test, like any other broken input.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Overrides where `../shared` is.
pub const DIR_VAR: &str = "ENVELOPE_SHARED_DIR";
/// How the line that reports an absent `../shared` starts.
pub const ABSENT: &str = "shared-dir ABSENT:";

/// Where the shared directory is, and how that was decided (for messages):
/// `$ENVELOPE_SHARED_DIR` when set and not empty, else `../shared` beside
/// the crate root.
fn located() -> (PathBuf, &'static str) {
    match std::env::var_os(DIR_VAR) {
        Some(d) if !d.is_empty() => (PathBuf::from(d), "from $ENVELOPE_SHARED_DIR"),
        _ => (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
            "../shared beside the crate; $ENVELOPE_SHARED_DIR names another",
        ),
    }
}

/// Whether this run is CI's (`CI=true`, as CI services set it), where a
/// missing `../shared` is a failure rather than a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The folder `sub` of the shared directory (e.g. `vectors`): `Some(path)`
/// when the shared directory is present, after checking that `sub` is a
/// directory that can be listed (the test panics otherwise); `None` when it
/// is absent, after saying so (the test panics under `CI=true`).
#[track_caller]
pub fn folder(sub: &str) -> Option<PathBuf> {
    // The harness runs each test on a thread named after it.
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let (root, how) = located();
    match std::fs::metadata(&root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => panic!("{test}: {} is not a directory", root.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if in_ci() {
                panic!(
                    "{test}: the shared directory {} is absent and CI=true: the official vectors must \
                     run in CI (set {DIR_VAR} to where they are)",
                    root.display()
                );
            }
            // Straight to the process's stderr: the harness captures `eprintln!`
            // of passing tests, and this line must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "{ABSENT} {test}: {} ({how}) does not exist, so these official-vector checks did not run \
                 (a failure under CI=true)",
                root.display()
            );
            return None;
        }
        Err(e) => panic!(
            "{test}: the shared directory {} cannot be read: {e}",
            root.display()
        ),
    }
    let path = root.join(sub);
    if let Err(e) = std::fs::read_dir(&path) {
        panic!(
            "{test}: the shared directory {} is present but {} cannot be read: {e}",
            root.display(),
            path.display()
        );
    }
    Some(path)
}

/// Reads `path` (a file in a folder from [`folder`]) as text; a missing or
/// unreadable file fails the test.
#[track_caller]
pub fn read_to_string(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => panic!(
            "the shared directory is present but {} cannot be read: {e}",
            path.display()
        ),
    }
}
