//! The SQLite schema of a key store and the queries on it.
//!
//! Functions take a `&Connection` (a `Transaction` derefs to one); the caller
//! chooses the transaction, so a failed operation rolls back whole. Key
//! material is only ever stored as encrypted key tokens (`backing_keys.ekt`,
//! see [`super::rootkey`]).

use rusqlite::{params, Connection, OptionalExtension, Params, Row};

use super::error::KmsError;
use super::specs::{KeySpec, KeyState, KeyUsage};

/// Maps a SQLite failure to KMSInternalException.
pub(crate) fn db(e: rusqlite::Error) -> KmsError {
    KmsError::internal(format!("key store: {e}"))
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    key_id              TEXT PRIMARY KEY,
    created             INTEGER NOT NULL,
    description         TEXT NOT NULL,
    key_spec            TEXT NOT NULL,
    key_usage           TEXT NOT NULL,
    state               TEXT NOT NULL,
    deletion_date       INTEGER,
    pending_window_days INTEGER,
    rotation_period     INTEGER,
    next_rotation       INTEGER,
    current_version     INTEGER NOT NULL,
    on_demand_rotations INTEGER NOT NULL DEFAULT 0,
    public_key          BLOB
);
CREATE TABLE IF NOT EXISTS backing_keys (
    key_id        TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    created       INTEGER NOT NULL,
    rotation_type TEXT,
    ekt           BLOB NOT NULL,
    PRIMARY KEY (key_id, version)
);
CREATE TABLE IF NOT EXISTS aliases (
    alias_name    TEXT PRIMARY KEY,
    target_key_id TEXT NOT NULL REFERENCES keys(key_id) ON DELETE CASCADE,
    created       INTEGER NOT NULL,
    updated       INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS aliases_by_key ON aliases(target_key_id);
-- SigV4 access keys of the KMS server (module access_keys); the secret is
-- an encrypted key token under the root key.
CREATE TABLE IF NOT EXISTS access_keys (
    access_key_id TEXT PRIMARY KEY,
    created       INTEGER NOT NULL,
    description   TEXT NOT NULL,
    token         BLOB NOT NULL
);
";

/// One row of a query run through the connection's statement cache: the
/// reads behind every GenerateDataKey and Decrypt (the key, its token, an
/// alias) would otherwise parse their SQL on each call, a tenth of the time
/// of a directory of small files.
fn one_row<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, f)
}

/// Creates the tables if they do not exist.
pub(crate) fn init_schema(conn: &Connection) -> Result<(), KmsError> {
    conn.execute_batch(SCHEMA).map_err(db)
}

/// Reads a `meta` value.
pub(crate) fn meta_get(conn: &Connection, name: &str) -> Result<Option<Vec<u8>>, KmsError> {
    one_row(conn, "SELECT value FROM meta WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .optional()
    .map_err(db)
}

/// Writes a `meta` value.
pub(crate) fn meta_set(conn: &Connection, name: &str, value: &[u8]) -> Result<(), KmsError> {
    conn.execute(
        "INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)",
        params![name, value],
    )
    .map_err(db)?;
    Ok(())
}

/// One KMS key's metadata row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyRow {
    pub key_id: String,
    pub created: u64,
    pub description: String,
    pub key_spec: KeySpec,
    pub key_usage: KeyUsage,
    pub state: KeyState,
    pub deletion_date: Option<u64>,
    pub pending_window_days: Option<i32>,
    /// `Some(days)` while automatic rotation is enabled.
    pub rotation_period: Option<i32>,
    pub next_rotation: Option<u64>,
    pub current_version: u32,
    pub on_demand_rotations: u32,
    /// SubjectPublicKeyInfo DER of RSA keys.
    pub public_key: Option<Vec<u8>>,
}

const KEY_COLUMNS: &str = "key_id, created, description, key_spec, key_usage, state, deletion_date, \
     pending_window_days, rotation_period, next_rotation, current_version, on_demand_rotations, public_key";

fn parse_col<T: std::str::FromStr>(r: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    let s: String = r.get(i)?;
    s.parse().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("bad value {s}").into(),
        )
    })
}

fn key_row(r: &Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok(KeyRow {
        key_id: r.get(0)?,
        created: r.get(1)?,
        description: r.get(2)?,
        key_spec: parse_col(r, 3)?,
        key_usage: parse_col(r, 4)?,
        state: parse_col(r, 5)?,
        deletion_date: r.get(6)?,
        pending_window_days: r.get(7)?,
        rotation_period: r.get(8)?,
        next_rotation: r.get(9)?,
        current_version: r.get(10)?,
        on_demand_rotations: r.get(11)?,
        public_key: r.get(12)?,
    })
}

/// Reads a key's row.
pub(crate) fn get_key(conn: &Connection, key_id: &str) -> Result<Option<KeyRow>, KmsError> {
    one_row(
        conn,
        &format!("SELECT {KEY_COLUMNS} FROM keys WHERE key_id = ?1"),
        [key_id],
        key_row,
    )
    .optional()
    .map_err(db)
}

/// Inserts a new key row.
pub(crate) fn insert_key(conn: &Connection, k: &KeyRow) -> Result<(), KmsError> {
    conn.execute(
        &format!("INSERT INTO keys ({KEY_COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)"),
        params![
            k.key_id,
            k.created,
            k.description,
            k.key_spec.as_str(),
            k.key_usage.as_str(),
            k.state.as_str(),
            k.deletion_date,
            k.pending_window_days,
            k.rotation_period,
            k.next_rotation,
            k.current_version,
            k.on_demand_rotations,
            k.public_key
        ],
    )
    .map_err(db)?;
    Ok(())
}

/// Writes back the mutable columns of a key row.
pub(crate) fn update_key(conn: &Connection, k: &KeyRow) -> Result<(), KmsError> {
    conn.execute(
        "UPDATE keys SET state = ?2, deletion_date = ?3, pending_window_days = ?4, rotation_period = ?5, \
         next_rotation = ?6, current_version = ?7, on_demand_rotations = ?8 WHERE key_id = ?1",
        params![
            k.key_id,
            k.state.as_str(),
            k.deletion_date,
            k.pending_window_days,
            k.rotation_period,
            k.next_rotation,
            k.current_version,
            k.on_demand_rotations
        ],
    )
    .map_err(db)?;
    Ok(())
}

/// Deletes a key with its backing keys and aliases.
pub(crate) fn delete_key(conn: &Connection, key_id: &str) -> Result<(), KmsError> {
    conn.execute("DELETE FROM keys WHERE key_id = ?1", [key_id])
        .map_err(db)?;
    Ok(())
}

/// Keys in key-id order after `after`, at most `limit`.
pub(crate) fn list_keys(conn: &Connection, after: Option<&str>, limit: u32) -> Result<Vec<String>, KmsError> {
    let mut st = conn
        .prepare("SELECT key_id FROM keys WHERE key_id > ?1 ORDER BY key_id LIMIT ?2")
        .map_err(db)?;
    let rows = st
        .query_map(params![after.unwrap_or(""), limit], |r| r.get(0))
        .map_err(db)?;
    rows.collect::<Result<_, _>>().map_err(db)
}

/// Stores an encrypted key token.
pub(crate) fn insert_backing(
    conn: &Connection,
    key_id: &str,
    version: u32,
    created: u64,
    rotation_type: Option<&str>,
    ekt: &[u8],
) -> Result<(), KmsError> {
    conn.execute(
        "INSERT INTO backing_keys (key_id, version, created, rotation_type, ekt) VALUES (?1,?2,?3,?4,?5)",
        params![key_id, version, created, rotation_type, ekt],
    )
    .map_err(db)?;
    Ok(())
}

/// Reads an encrypted key token.
pub(crate) fn get_backing(
    conn: &Connection,
    key_id: &str,
    version: u32,
) -> Result<Option<Vec<u8>>, KmsError> {
    one_row(
        conn,
        "SELECT ekt FROM backing_keys WHERE key_id = ?1 AND version = ?2",
        params![key_id, version],
        |r| r.get(0),
    )
    .optional()
    .map_err(db)
}

/// One alias row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AliasRow {
    pub alias_name: String,
    pub target_key_id: String,
    pub created: u64,
    pub updated: u64,
}

fn alias_row(r: &Row<'_>) -> rusqlite::Result<AliasRow> {
    Ok(AliasRow {
        alias_name: r.get(0)?,
        target_key_id: r.get(1)?,
        created: r.get(2)?,
        updated: r.get(3)?,
    })
}

/// Reads an alias.
pub(crate) fn get_alias(conn: &Connection, name: &str) -> Result<Option<AliasRow>, KmsError> {
    one_row(
        conn,
        "SELECT alias_name, target_key_id, created, updated FROM aliases WHERE alias_name = ?1",
        [name],
        alias_row,
    )
    .optional()
    .map_err(db)
}

/// Inserts an alias, or repoints it when it exists.
pub(crate) fn put_alias(conn: &Connection, a: &AliasRow) -> Result<(), KmsError> {
    conn.execute(
        "INSERT INTO aliases (alias_name, target_key_id, created, updated) VALUES (?1,?2,?3,?4) \
         ON CONFLICT(alias_name) DO UPDATE SET target_key_id = excluded.target_key_id, updated = excluded.updated",
        params![a.alias_name, a.target_key_id, a.created, a.updated],
    )
    .map_err(db)?;
    Ok(())
}

/// Deletes an alias.
pub(crate) fn delete_alias(conn: &Connection, name: &str) -> Result<(), KmsError> {
    conn.execute("DELETE FROM aliases WHERE alias_name = ?1", [name])
        .map_err(db)?;
    Ok(())
}

/// Aliases in name order after `after`, optionally of one key, at most `limit`.
pub(crate) fn list_aliases(
    conn: &Connection,
    key_id: Option<&str>,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<AliasRow>, KmsError> {
    let mut st = conn
        .prepare(
            "SELECT alias_name, target_key_id, created, updated FROM aliases \
             WHERE alias_name > ?1 AND (?2 IS NULL OR target_key_id = ?2) ORDER BY alias_name LIMIT ?3",
        )
        .map_err(db)?;
    let rows = st
        .query_map(params![after.unwrap_or(""), key_id, limit], alias_row)
        .map_err(db)?;
    rows.collect::<Result<_, _>>().map_err(db)
}

/// Whether any key is due for deletion or automatic rotation at `now`.
pub(crate) fn maintenance_due(conn: &Connection, now: u64) -> Result<bool, KmsError> {
    one_row(
        conn,
        "SELECT EXISTS (SELECT 1 FROM keys WHERE (state = 'PendingDeletion' AND deletion_date <= ?1) \
         OR (state = 'Enabled' AND rotation_period IS NOT NULL AND next_rotation <= ?1))",
        [now],
        |r| r.get(0),
    )
    .map_err(db)
}

/// When [`maintenance_due`] turns true next: the earliest deletion date of a
/// key pending deletion or next rotation of an enabled key rotating itself.
pub(crate) fn next_due(conn: &Connection) -> Result<Option<u64>, KmsError> {
    one_row(
        conn,
        "SELECT MIN(t) FROM (SELECT deletion_date AS t FROM keys WHERE state = 'PendingDeletion' \
         UNION ALL SELECT next_rotation FROM keys WHERE state = 'Enabled' AND rotation_period IS NOT NULL)",
        [],
        |r| r.get(0),
    )
    .map_err(db)
}

/// Keys whose deletion date has passed.
pub(crate) fn expired_keys(conn: &Connection, now: u64) -> Result<Vec<String>, KmsError> {
    let mut st = conn
        .prepare("SELECT key_id FROM keys WHERE state = 'PendingDeletion' AND deletion_date <= ?1")
        .map_err(db)?;
    let rows = st.query_map([now], |r| r.get(0)).map_err(db)?;
    rows.collect::<Result<_, _>>().map_err(db)
}

/// Enabled keys whose automatic rotation is due.
pub(crate) fn due_rotations(conn: &Connection, now: u64) -> Result<Vec<KeyRow>, KmsError> {
    let mut st = conn
        .prepare(&format!(
            "SELECT {KEY_COLUMNS} FROM keys WHERE state = 'Enabled' AND rotation_period IS NOT NULL \
             AND next_rotation <= ?1"
        ))
        .map_err(db)?;
    let rows = st.query_map([now], key_row).map_err(db)?;
    rows.collect::<Result<_, _>>().map_err(db)
}
