//! Creating a key store so that no other process ever sees half of one, and
//! telling a missing store from a half-present one.
//!
//! A store is complete once `kms.db` is in its directory. A new store is
//! built whole in a staging directory inside the store's directory
//! (`.creating-*`: the database with its schema, root-key record and
//! identity, and, in key-file mode, `root.key`), then published by hard links,
//! which never replace an existing file: `root.key` first, then `kms.db`. Of
//! two processes creating a store at once, the one whose `root.key` link
//! fails has lost and uses the winner's store.
//!
//! Between the two links the directory holds `root.key` without `kms.db`.
//! Whoever finds that state (the creator's competitor, a reader, or a later
//! run after the creator was killed right there) looks for the staging
//! directory whose `root.key` is the very same file and links its `kms.db`
//! too, finishing the publication. Anything else with `root.key` and no
//! `kms.db` is a damaged store (its database was deleted or lost), and it is
//! refused, never replaced: a new database would hide every key the old one
//! held.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::config::KmsConfig;
use super::core::DB_FILE;
use super::error::{KmsError, KmsErrorKind};
use super::rootkey::{self, RootKey, KEY_FILE};
use super::store::db;
use super::{files, identity};

/// Name prefix of staging directories.
const STAGING_PREFIX: &str = ".creating-";

/// What a key-store directory holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// No directory, or neither `kms.db` nor `root.key` in it.
    Missing,
    /// `kms.db` is there (its root key is checked when it is unlocked).
    Complete,
    /// `root.key` without `kms.db`, and no creation to finish.
    KeyFileOnly,
}

fn io_err(what: &str, path: &Path, e: io::Error) -> KmsError {
    KmsError::internal(format!("cannot {what} {}: {e}", path.display()))
}

fn exists(path: &Path) -> Result<bool, KmsError> {
    path.try_exists().map_err(|e| io_err("inspect", path, e))
}

/// What `dir` holds, after finishing any creation that stopped between its
/// two links.
pub(crate) fn look(dir: &Path) -> Result<Found, KmsError> {
    if exists(&dir.join(DB_FILE))? {
        return Ok(Found::Complete);
    }
    if !exists(&dir.join(KEY_FILE))? {
        return Ok(Found::Missing);
    }
    finish_publication(dir)?;
    Ok(if exists(&dir.join(DB_FILE))? {
        Found::Complete
    } else {
        Found::KeyFileOnly
    })
}

/// The refusal of a store that has `root.key` but no `kms.db`.
pub(crate) fn key_file_only(dir: &Path) -> KmsError {
    KmsError::new(
        KmsErrorKind::AccessDeniedException,
        format!(
            "the key store in {} is incomplete: {} is missing ({KEY_FILE} is there); restore \
             {DB_FILE} from a backup, or move the directory away to start a new store",
            dir.display(),
            dir.join(DB_FILE).display()
        ),
    )
}

/// Links the `kms.db` of the staging directory whose `root.key` is the
/// store's (a creation that stopped between its links). Staging directories
/// that vanish meanwhile (their creator finished and removed them) are skipped.
fn finish_publication(dir: &Path) -> Result<(), KmsError> {
    let key = dir.join(KEY_FILE);
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("read the key-store directory", dir, e)),
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
            continue;
        }
        let staging = entry.path();
        if same_file(&staging.join(KEY_FILE), &key) && exists(&staging.join(DB_FILE))? {
            return link(&staging.join(DB_FILE), &dir.join(DB_FILE)).map(|_| ());
        }
    }
    Ok(())
}

/// Whether two paths name one file (a hard link of it). A path that cannot
/// be read is no match.
#[cfg(unix)]
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(a: &Path, b: &Path) -> bool {
    matches!((fs::read(a), fs::read(b)), (Ok(a), Ok(b)) if a == b)
}

/// Hard-links `from` to `to`; `Ok(false)` if `to` exists already.
fn link(from: &Path, to: &Path) -> Result<bool, KmsError> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_err("publish the new key store as", to, e)),
    }
}

/// Creates a complete store in `config.keystore` (see the module docs).
/// Returns its unlocked root key, or `None` when another process's store
/// was published first (then that one is opened as any existing store).
pub(crate) fn create(config: &KmsConfig) -> Result<Option<RootKey>, KmsError> {
    let dir = &config.keystore;
    files::private_dir(dir, config.allow_insecure_permissions)?;
    let staging = tempfile::Builder::new()
        .prefix(STAGING_PREFIX)
        .tempdir_in(dir)
        .map_err(|e| io_err("create a staging directory in", dir, e))?;
    let root = build(staging.path(), config)?;
    let key_file = config.passphrase.is_none();
    if key_file && !link(&staging.path().join(KEY_FILE), &dir.join(KEY_FILE))? {
        return Ok(None);
    }
    let won = link(&staging.path().join(DB_FILE), &dir.join(DB_FILE))?;
    sync_dir(dir)?;
    Ok(won.then_some(root))
}

/// Builds the database and root key of a new store in `staging`. The
/// database is switched to WAL mode here, where a kill mid-switch leaves its
/// rollback journal in a directory nobody opens, and closed, which
/// checkpoints and removes the WAL: one file to link, needing no recovery.
fn build(staging: &Path, config: &KmsConfig) -> Result<RootKey, KmsError> {
    let path: PathBuf = staging.join(DB_FILE);
    files::private_file(&path).map_err(|e| io_err("create the key store", &path, e))?;
    let mut conn = Connection::open(&path).map_err(db)?;
    let root = rootkey::create(&mut conn, staging, config.passphrase.as_deref().map(|p| &p[..]))?;
    identity::adopt(&mut conn, config)?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
        .map_err(db)?;
    conn.close().map_err(|(_, e)| db(e))?;
    let wal = staging.join(format!("{DB_FILE}-wal"));
    if exists(&wal)? {
        return Err(KmsError::internal(format!(
            "the new key store's database was not checkpointed ({} remains)",
            wal.display()
        )));
    }
    Ok(root)
}

/// Makes the new directory entries durable before the store is used.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), KmsError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err("sync", dir, e))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), KmsError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A creation killed between its two links is finished by whoever looks
    /// next; `root.key` alone, with nothing to finish, is a damaged store.
    #[test]
    fn an_interrupted_publication_is_finished_and_a_lone_key_file_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ks");
        let config = KmsConfig::new(&dir);
        files::private_dir(&dir, false).unwrap();
        let staging = dir.join(format!("{STAGING_PREFIX}test"));
        fs::create_dir(&staging).unwrap();
        build(&staging, &config).unwrap();
        assert_eq!(look(&dir).unwrap(), Found::Missing);
        assert!(link(&staging.join(KEY_FILE), &dir.join(KEY_FILE)).unwrap());
        assert_eq!(look(&dir).unwrap(), Found::Complete);
        assert!(same_file(&staging.join(DB_FILE), &dir.join(DB_FILE)));

        fs::remove_dir_all(&staging).unwrap();
        fs::remove_file(dir.join(DB_FILE)).unwrap();
        assert_eq!(look(&dir).unwrap(), Found::KeyFileOnly);
        assert_eq!(key_file_only(&dir).kind, KmsErrorKind::AccessDeniedException);
    }
}
