//! Owner-only permissions for the key-store directory (0700) and its files (0600).
//!
//! Modes are set explicitly after creation, so the result does not depend on
//! the process umask. An existing store whose directory or files grant any
//! access to group or others is refused (AccessDeniedException naming the
//! path, its mode and the `chmod` that fixes it), because another user who
//! can read the store can copy the root key file, and one who can write it
//! can swap keys or aliases. [`KmsConfig::allow_insecure_permissions`]
//! (`ENVELOPE_ALLOW_INSECURE_KEYSTORE=1`) turns the refusal off, for setups
//! that protect the store by other means.
//!
//! [`KmsConfig::allow_insecure_permissions`]: super::KmsConfig::allow_insecure_permissions

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

use super::config::ENV_ALLOW_INSECURE;
use super::error::{KmsError, KmsErrorKind};

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

fn io_err(what: &str, path: &Path, e: io::Error) -> KmsError {
    KmsError::internal(format!("cannot {what} {}: {e}", path.display()))
}

/// Refuses `path` if its permission bits grant anything to group or others.
/// A missing path passes (it will be created owner-only).
#[cfg(unix)]
pub(crate) fn check_private(path: &Path, allow_insecure: bool) -> Result<(), KmsError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("inspect", path, e)),
    };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 || allow_insecure {
        return Ok(());
    }
    let (what, fix) = if meta.is_dir() {
        ("key-store directory", 0o700)
    } else {
        ("key-store file", 0o600)
    };
    Err(KmsError::new(
        KmsErrorKind::AccessDeniedException,
        format!(
            "the {what} {} has mode {mode:04o}, which gives other users access to the keys: \
             run `chmod {fix:o} {}` (or set {ENV_ALLOW_INSECURE}=1 to use it anyway)",
            path.display(),
            path.display()
        ),
    ))
}

#[cfg(not(unix))]
pub(crate) fn check_private(_path: &Path, _allow_insecure: bool) -> Result<(), KmsError> {
    Ok(())
}

/// Prepares the key-store directory: creates it (and its parents) 0700 if it
/// is missing, makes an existing empty directory 0700 (a store is about to be
/// created in it), and checks an existing store's directory with [`check_private`].
pub(crate) fn private_dir(dir: &Path, allow_insecure: bool) -> Result<(), KmsError> {
    if dir.is_dir() {
        let empty = fs::read_dir(dir)
            .map_err(|e| io_err("read the key-store directory", dir, e))?
            .next()
            .is_none();
        return if empty {
            set_mode(dir, 0o700).map_err(|e| io_err("restrict", dir, e))
        } else {
            check_private(dir, allow_insecure)
        };
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| io_err("create", parent, e))?;
    }
    let mut b = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    match b.create(dir) {
        Ok(()) => set_mode(dir, 0o700).map_err(|e| io_err("restrict", dir, e)),
        // Another process created it meanwhile: it is checked like any existing store.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => check_private(dir, allow_insecure),
        Err(e) => Err(io_err("create the key-store directory", dir, e)),
    }
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
