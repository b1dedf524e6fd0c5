//! Upgrades a key store written by an earlier version, once, on open.
//!
//! Version 2 of the encrypted key tokens binds each token to its key's spec
//! and usage (see [`super::rootkey`]). A store whose `meta` table does not say
//! `token_format = 2` has version-1 tokens: they are opened with the version-1
//! AAD and sealed again under the version-2 binding of the key's row as it is
//! at that moment, all in one write transaction (a crash leaves the old store
//! whole), and the marker is set in the same transaction. From then on only
//! version-2 tokens open. Trust on first migration: a spec or usage changed by
//! a store writer *before* the upgrade is bound as it was found (the request
//! then fails when the material does not fit the spec, and
//! [`super::rsa::public_key_of`] still derives any RSA public key from the
//! private key).

use rusqlite::{params, Connection, TransactionBehavior};

use super::access_keys::token_name;
use super::error::KmsError;
use super::rootkey::{Binding, RootKey};
use super::shred;
use super::store::{self, db};

const META_TOKEN_FORMAT: &str = "token_format";
const TOKEN_FORMAT: &[u8] = b"2";

/// Re-seals version-1 tokens as version 2; nothing to do on a current store.
pub(crate) fn migrate(conn: &mut Connection, root: &RootKey) -> Result<(), KmsError> {
    if store::meta_get(conn, META_TOKEN_FORMAT)?.as_deref() == Some(TOKEN_FORMAT) {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    // Another process may have migrated while this one waited for the lock.
    if store::meta_get(&tx, META_TOKEN_FORMAT)?.as_deref() == Some(TOKEN_FORMAT) {
        return Ok(());
    }
    let backing: Vec<(String, u32, String, String, Vec<u8>)> = {
        let mut st = tx
            .prepare(
                "SELECT b.key_id, b.version, k.key_spec, k.key_usage, b.ekt \
                 FROM backing_keys b JOIN keys k ON k.key_id = b.key_id",
            )
            .map_err(db)?;
        let rows = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)?
    };
    for (key_id, version, spec, usage, ekt) in &backing {
        let binding = Binding {
            name: key_id,
            version: *version,
            spec,
            usage,
        };
        let material = root.open_token_v1(binding, ekt)?;
        tx.execute(
            "UPDATE backing_keys SET ekt = ?3 WHERE key_id = ?1 AND version = ?2",
            params![key_id, version, root.seal_token(binding, &material)?],
        )
        .map_err(db)?;
    }
    let access: Vec<(String, Vec<u8>)> = {
        let mut st = tx
            .prepare("SELECT access_key_id, token FROM access_keys")
            .map_err(db)?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db)?;
        rows.collect::<Result<_, _>>().map_err(db)?
    };
    for (id, token) in &access {
        let name = token_name(id);
        let secret = root.open_token_v1(Binding::secret(&name), token)?;
        tx.execute(
            "UPDATE access_keys SET token = ?2 WHERE access_key_id = ?1",
            params![id, root.seal_token(Binding::secret(&name), &secret)?],
        )
        .map_err(db)?;
    }
    store::meta_set(&tx, META_TOKEN_FORMAT, TOKEN_FORMAT)?;
    tx.commit().map_err(db)?;
    if backing.is_empty() && access.is_empty() {
        return Ok(());
    }
    // The version-1 tokens, and whatever earlier deletions left in freed
    // pages before secure deletion, go with the old pages.
    shred::vacuum(conn)
}
