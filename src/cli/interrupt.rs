//! Ctrl-C, SIGTERM and SIGHUP: remove the temporary output files, then exit.
//!
//! File outputs are written to `.envelope-*.tmp` files and renamed into place
//! only on success (see [`super::output`]). Without this, an interrupt would
//! leave those files behind (never under the final name, but still clutter,
//! and after a decrypt they hold verified plaintext). Every temporary file is
//! registered here while it exists; on a termination signal the handler
//! removes them all, says so in one `envelope: interrupted` line (clearing
//! the progress bar's last frame first) and exits with 130. SIGKILL cannot be
//! caught: a later run into the same directory removes what it leaves
//! ([`super::stale`]).

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;

/// Exit code after an interrupt (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

/// The temporary files, by path. A set, not a list: a directory run holds a
/// batch of them at once, and forgets each in turn (a list made that
/// quadratic: a tenth of the time of a run over 5,000 small files).
static PENDING: Mutex<Option<HashSet<OsString>>> = Mutex::new(None);

fn pending<T>(f: impl FnOnce(&mut HashSet<OsString>) -> T) -> T {
    // A panic elsewhere while holding the lock leaves a set still worth using.
    let mut guard = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(HashSet::new))
}

/// Installs the handler; called once at start-up. If it cannot be installed
/// the default action (exit without cleanup) stays, which is safe.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        let mut removed = 0;
        for p in pending(std::mem::take) {
            removed += usize::from(std::fs::remove_file(p).is_ok());
        }
        let mut err = std::io::stderr().lock();
        // The progress bar's last frame would otherwise stay on the line.
        if err.is_terminal() {
            let _ = err.write_all(b"\r\x1b[2K");
        }
        let _ = match removed {
            0 => writeln!(err, "envelope: interrupted"),
            n => writeln!(
                err,
                "envelope: interrupted; removed {n} unfinished output file(s)"
            ),
        };
        std::process::exit(EXIT_INTERRUPTED);
    });
}

/// Registers a temporary file to remove on interrupt.
pub fn register(path: &Path) {
    pending(|set| set.insert(path.as_os_str().to_owned()));
}

/// Forgets a temporary file (renamed into place, or already removed).
pub fn unregister(path: &Path) {
    pending(|set| set.remove(path.as_os_str()));
}
