//! Crypto-shredding that shreds: what a deleted key leaves in the store's files.
//!
//! Deleting a key deletes its encrypted key tokens, but SQLite would keep
//! their bytes: in the freed cells and pages of `kms.db`, and in the frames of
//! `kms.db-wal` until a checkpoint. Under the unchanged root key such a token
//! still opens. So every connection runs with `PRAGMA secure_delete = ON`
//! (deleted content and freed pages are overwritten with zeros), and a
//! deletion of key material is followed by `PRAGMA wal_checkpoint(TRUNCATE)`,
//! which copies the zeroed pages into `kms.db` and empties the WAL.
//!
//! Limits, stated in SECURITY.md: a checkpoint cannot finish while another
//! process reads an older snapshot (it is retried at the next deletion, and
//! SQLite checkpoints on its own as the WAL grows); copies the file system or
//! the disk keep (journaling, snapshots, SSD remapping, backups) are out of
//! reach of any program.

use rusqlite::Connection;

use super::error::KmsError;
use super::store::db;

/// Turns on secure deletion for this connection.
pub(crate) fn secure_delete(conn: &Connection) -> Result<(), KmsError> {
    conn.pragma_update(None, "secure_delete", true).map_err(db)
}

/// Moves the WAL's content into the database and empties the WAL, so freed
/// (zeroed) pages replace the old ones everywhere. Call outside a transaction.
pub(crate) fn checkpoint(conn: &Connection) -> Result<(), KmsError> {
    // (busy, frames in the WAL, frames checkpointed); busy = 1 means a reader
    // holds an older snapshot: the WAL is then emptied at a later checkpoint.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get::<_, i64>(0))
        .map_err(db)?;
    Ok(())
}

/// Rewrites the whole database without free pages (for stores written before
/// secure deletion, whose freed pages may hold old tokens), then checkpoints.
pub(crate) fn vacuum(conn: &Connection) -> Result<(), KmsError> {
    conn.execute_batch("VACUUM").map_err(db)?;
    checkpoint(conn)
}
