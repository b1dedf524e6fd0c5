//! What read requests learned from the key store, kept while the store is
//! unchanged: key rows, alias targets and decrypted key material.
//!
//! A directory run makes one GenerateDataKey or Decrypt per file, each a
//! read transaction of half a dozen statements and a decryption of the same
//! backing key. Most of that is the same answer again. A read transaction
//! here first takes the store's stamp: `PRAGMA data_version`, which changes
//! when another connection (another process) commits, and `total_changes()`,
//! which counts this connection's own changes. Under the same stamp the
//! snapshot is the one the entries were read from, so they are what a fresh
//! read would return; a new stamp empties them. Time-driven changes (a
//! deletion date or automatic rotation falling due) are not commits, so the
//! entries also end at the store's next due time, when the request goes the
//! full way and maintenance runs.
//!
//! Disabling or deleting a key in another process is a commit: the next
//! request of this one sees it, exactly as without the entries.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::ops::Deref;

use rusqlite::Connection;

use super::core::KmsCore;
use super::error::KmsError;
use super::store::{db, KeyRow};
use crate::crypto::Secret;

/// Entries kept at most; past this they are all dropped (a store with many
/// keys in use gets no help, and memory stays bounded).
const MAX_ENTRIES: usize = 256;

/// The store's state as a read transaction sees it: (data_version, total_changes).
pub(crate) type Stamp = (i64, u64);

/// Reads the stamp; inside a transaction this is its first read, so the
/// stamp is that of the transaction's snapshot.
pub(crate) fn stamp(c: &Connection) -> Result<Stamp, KmsError> {
    let version = c
        .prepare_cached("PRAGMA data_version")
        .and_then(|mut st| st.query_row([], |r| r.get(0)))
        .map_err(db)?;
    Ok((version, c.total_changes()))
}

/// The entries, and the stamp and time range they are good for.
#[derive(Default)]
pub(crate) struct Recent {
    stamp: Option<Stamp>,
    /// The store's next due time (a deletion date or a rotation): entries
    /// are not used from then on.
    until: u64,
    aliases: HashMap<String, String>,
    rows: HashMap<String, KeyRow>,
    materials: HashMap<(String, u32), Secret>,
}

impl Recent {
    /// Whether the entries hold for a snapshot with `stamp` at time `now`.
    pub(crate) fn holds(&self, stamp: Stamp, now: u64) -> bool {
        self.stamp == Some(stamp) && now < self.until
    }

    /// Empties the entries and keeps new ones for `stamp`, until `until`.
    pub(crate) fn restart(&mut self, stamp: Stamp, until: Option<u64>) {
        *self = Recent {
            stamp: Some(stamp),
            until: until.unwrap_or(u64::MAX),
            ..Recent::default()
        };
    }

    fn full(&self) -> bool {
        self.aliases.len() + self.rows.len() + self.materials.len() >= MAX_ENTRIES
    }

    /// Drops the entries (not the stamp) when there are too many.
    fn make_room(&mut self) {
        if self.full() {
            self.aliases.clear();
            self.rows.clear();
            self.materials.clear();
        }
    }
}

/// A read transaction's connection, with the entries valid for its snapshot.
/// It dereferences to the connection, for the statements that are not kept.
pub(crate) struct Reader<'a> {
    pub(crate) conn: &'a Connection,
    pub(crate) recent: RefCell<&'a mut Recent>,
}

impl Deref for Reader<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Reader<'_> {
    /// [`KmsCore::resolve`], answered from the entries where it can be.
    pub(crate) fn resolve(
        &self,
        core: &KmsCore,
        id: &str,
        field: &str,
        allow_alias: bool,
    ) -> Result<KeyRow, KmsError> {
        let key_id = core.key_id_of(id, field, allow_alias, |a| {
            self.kept(
                |r| &mut r.aliases,
                a.clone(),
                || core.alias_key_id(self.conn, &a).map(Some),
            )?
            .ok_or(KmsError::internal("an alias target went missing"))
        })?;
        self.key_by_id(core, &key_id)
    }

    /// [`KmsCore::key_by_id`], answered from the entries where it can be.
    pub(crate) fn key_by_id(&self, core: &KmsCore, key_id: &str) -> Result<KeyRow, KmsError> {
        self.kept(
            |r| &mut r.rows,
            key_id.to_owned(),
            || core.key_by_id(self.conn, key_id).map(Some),
        )?
        .ok_or(KmsError::internal("a key row went missing"))
    }

    /// [`KmsCore::material`], answered from the entries where it can be.
    pub(crate) fn material(
        &self,
        core: &KmsCore,
        row: &KeyRow,
        version: u32,
    ) -> Result<Option<Secret>, KmsError> {
        self.kept(
            |r| &mut r.materials,
            (row.key_id.clone(), version),
            || core.material(self.conn, row, version),
        )
    }

    /// The entry for `key` in the map `map` picks, or else what `fetch`
    /// reads from the store, kept for the next request (`None` is not kept).
    fn kept<K: Hash + Eq, V: Clone>(
        &self,
        map: fn(&mut Recent) -> &mut HashMap<K, V>,
        key: K,
        fetch: impl FnOnce() -> Result<Option<V>, KmsError>,
    ) -> Result<Option<V>, KmsError> {
        let known = map(&mut self.recent.borrow_mut()).get(&key).cloned();
        if known.is_some() {
            return Ok(known);
        }
        let Some(v) = fetch()? else { return Ok(None) };
        let mut recent = self.recent.borrow_mut();
        recent.make_room();
        map(&mut recent).insert(key, v.clone());
        Ok(Some(v))
    }
}
