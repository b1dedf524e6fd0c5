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

use rusqlite::{Connection, TransactionBehavior};

use super::error::KmsError;
use super::rootkey::RootKey;
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
    let resealed = super::rekey::reseal(&tx, |b, t| root.open_token_v1(b, t), root)?;
    store::meta_set(&tx, META_TOKEN_FORMAT, TOKEN_FORMAT)?;
    tx.commit().map_err(db)?;
    if resealed.backing_keys == 0 && resealed.access_keys == 0 {
        return Ok(());
    }
    // The version-1 tokens, and whatever earlier deletions left in freed
    // pages before secure deletion, go with the old pages.
    shred::vacuum(conn)
}
