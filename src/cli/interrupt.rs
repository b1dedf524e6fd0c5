//! Ctrl-C, SIGTERM and SIGHUP: remove the temporary output files, then exit.
//!
//! File outputs are written to `.envelope-*.tmp` files and renamed into place
//! only on success (see [`super::output`]). Without this, an interrupt would
//! leave those files behind (never under the final name, but still clutter,
//! and after a decrypt they hold verified plaintext). Every temporary file is
//! registered here while it exists; on a termination signal the handler
//! removes them all and exits with 130. SIGKILL cannot be caught: SECURITY.md
//! says how to find what it leaves.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Exit code after an interrupt (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A panic elsewhere while holding the lock leaves a list still worth using.
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Installs the handler; called once at start-up. If it cannot be installed
/// the default action (exit without cleanup) stays, which is safe.
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        for p in pending().drain(..) {
            let _ = std::fs::remove_file(p);
        }
        std::process::exit(EXIT_INTERRUPTED);
    });
}

/// Registers a temporary file to remove on interrupt.
pub fn register(path: &Path) {
    pending().push(path.to_path_buf());
}

/// Forgets a temporary file (renamed into place, or already removed).
pub fn unregister(path: &Path) {
    pending().retain(|p| p != path);
}
