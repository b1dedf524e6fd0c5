//! Temporary outputs left by runs that died (SIGKILL, a crash, power loss):
//! the interrupt handler cannot remove those, so a later run writing into
//! the same directory does.
//!
//! A temporary output is named `.envelope-PID-RANDOM.tmp` after the process
//! writing it. One is stale when that process is gone and the file has not
//! changed for [`QUIET`]: the second condition keeps the files of a live run
//! in another PID namespace (a container sharing the directory), whose PID
//! may mean nothing here. Where process liveness cannot be told (no `/proc`),
//! nothing is removed. Files of the older naming, without a PID, are left alone.

use std::fs;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// How long a dead process's temporary file must have been unchanged.
const QUIET: Duration = Duration::from_secs(60);

/// The name prefix of this process's temporary outputs.
pub fn temp_prefix() -> &'static str {
    // Made once: a directory run names thousands of temporary files.
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| format!(".envelope-{}-", std::process::id()))
}

/// The PID in a temporary output's name, if the name is one.
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(".envelope-")?.strip_suffix(".tmp")?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

/// Whether process `pid` exists; `None` when this cannot be told.
fn alive(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return None;
    }
    Some(proc.join(pid.to_string()).exists())
}

/// Removes the stale temporary outputs in `dir`; returns how many went.
pub fn clean(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let me = std::process::id();
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(owner) else {
            continue;
        };
        if pid == me || alive(pid) != Some(false) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let quiet = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|d| d >= QUIET);
        if meta.is_file() && quiet && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_owner() {
        assert_eq!(owner(".envelope-1234-AbC9.tmp"), Some(1234));
        assert_eq!(
            owner(&format!("{}x.tmp", temp_prefix())),
            Some(std::process::id())
        );
        assert_eq!(owner(".envelope-AbC9.tmp"), None);
        assert_eq!(owner(".envelope-12-x.txt"), None);
    }
}
