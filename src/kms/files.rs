//! Owner-only permissions for the key-store directory (0700) and its files (0600).
//!
//! Modes are set explicitly after creation, so the result does not depend on
//! the process umask.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Creates `dir` (and parents) if needed and makes it 0700.
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    set_mode(dir, 0o700)
}

/// Makes an existing file 0600 (a no-op if it does not exist).
pub(crate) fn restrict_file(path: &Path) -> io::Result<()> {
    match set_mode(path, 0o600) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Opens `path` for writing, creating it if needed (never truncating), as a 0600 file.
pub(crate) fn private_file(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let f = o.open(path)?;
    set_mode(path, 0o600)?;
    Ok(f)
}
