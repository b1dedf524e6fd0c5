//! Changing a store's root key or passphrase ([`KmsCore::change_root_key`]).
//!
//! Every encrypted key token (each backing-key version of every key, deleted
//! keys' pending ones included, and the access keys' secrets) is opened under
//! the old root key and sealed under the new one in a single write
//! transaction, together with the new verifier (and, for a passphrase, the
//! new salt and Argon2id cost). SQLite makes that transaction all or nothing;
//! the one step outside it, a key-file store's new `root.key`, is written as
//! `root.key.new` before the transaction and renamed over `root.key` after it,
//! and an opener finishes a rename that a crash interrupted (see
//! [`rootkey::change`]). So at every moment the old root key or the new one
//! opens the store, never neither and never both.
//!
//! Afterwards the old tokens are shredded (the database is vacuumed and the
//! WAL emptied), so the old root key opens nothing left in the store's files.
//! Copies made before (backups of `kms.db`) still open with the old key.

use rusqlite::{params, Connection};

use crate::crypto::Secret;

use super::access_keys::token_name;
use super::core::KmsCore;
use super::error::KmsError;
use super::rootkey::{self, Binding, RootKey};
use super::shred;
use super::store::db;

/// What a root-key change re-sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootKeyChange {
    /// Backing-key versions (of every key, whatever its state).
    pub backing_keys: usize,
    /// Access-key secrets of the KMS server.
    pub access_keys: usize,
}

impl KmsCore {
    /// Re-seals every key of the store under a new root key, atomically (see
    /// the module docs): in key-file mode a new random `root.key`; in
    /// passphrase mode the key of `new_passphrase`, which is then the only
    /// passphrase that opens the store. The store keeps its mode:
    /// `new_passphrase` must be given exactly for a passphrase store
    /// (ValidationException otherwise).
    ///
    /// Consumes the core, whose root key is the old one: open the store again
    /// to use it. Other processes that have the store open refuse further
    /// operations with AccessDeniedException until they open it again.
    pub fn change_root_key(self, new_passphrase: Option<&[u8]>) -> Result<RootKeyChange, KmsError> {
        let dir = self.keystore().to_path_buf();
        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        self.root.check_current(&tx, &dir)?;
        match (rootkey::is_passphrase_store(&tx)?, new_passphrase) {
            (true, None) => {
                return Err(KmsError::validation(
                    "the key store is protected by a passphrase: give the new passphrase",
                ))
            }
            (false, Some(_)) => {
                return Err(KmsError::validation(
                    "the key store is protected by its root key file: a new one is made, \
                     a passphrase cannot replace it",
                ))
            }
            _ => {}
        }
        let new = rootkey::change(&tx, &dir, new_passphrase)?;
        let change = reseal(&tx, |b, t| self.root.open_token(b, t), &new)?;
        tx.commit().map_err(db)?;
        if new_passphrase.is_none() {
            rootkey::publish(&dir)?;
        }
        shred::vacuum(&conn)?;
        Ok(change)
    }
}

/// Opens every token with `open` and seals it under `new`, in `tx`: the one
/// walk over the store's tokens, shared by a root-key change (`open` is the
/// old root key) and the token-format upgrade ([`super::migrate`]: `open`
/// reads version-1 tokens, `new` is the same root key).
pub(super) fn reseal(
    tx: &Connection,
    open: impl Fn(Binding<'_>, &[u8]) -> Result<Secret, KmsError>,
    new: &RootKey,
) -> Result<RootKeyChange, KmsError> {
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
        let material = open(binding, ekt)?;
        tx.execute(
            "UPDATE backing_keys SET ekt = ?3 WHERE key_id = ?1 AND version = ?2",
            params![key_id, version, new.seal_token(binding, &material)?],
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
        let secret = open(Binding::secret(&name), token)?;
        tx.execute(
            "UPDATE access_keys SET token = ?2 WHERE access_key_id = ?1",
            params![id, new.seal_token(Binding::secret(&name), &secret)?],
        )
        .map_err(db)?;
    }
    Ok(RootKeyChange {
        backing_keys: backing.len(),
        access_keys: access.len(),
    })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;
    use crate::kms::{
        CreateKeyRequest, DecryptRequest, EncryptRequest, KeyIdRequest, Kms, KmsConfig, KmsErrorKind,
    };

    fn config(dir: &Path, passphrase: Option<&[u8]>) -> KmsConfig {
        let mut c = KmsConfig::new(dir);
        c.passphrase = passphrase.map(|p| zeroize::Zeroizing::new(p.to_vec()));
        c
    }

    /// A store with two keys (one rotated) and a ciphertext under each.
    fn store(dir: &Path, passphrase: Option<&[u8]>) -> Vec<Vec<u8>> {
        let core = KmsCore::open(config(dir, passphrase)).unwrap();
        let mut blobs = Vec::new();
        for rotate in [false, true] {
            let id = core
                .create_key(&CreateKeyRequest::default())
                .unwrap()
                .key_metadata
                .key_id;
            let enc = |core: &KmsCore| {
                core.encrypt(&EncryptRequest {
                    key_id: id.clone(),
                    plaintext: zeroize::Zeroizing::new(b"material".to_vec()),
                    encryption_context: Default::default(),
                    encryption_algorithm: None,
                })
                .unwrap()
                .ciphertext_blob
            };
            blobs.push(enc(&core));
            if rotate {
                core.rotate_key_on_demand(&KeyIdRequest { key_id: id.clone() })
                    .unwrap();
                blobs.push(enc(&core));
            }
        }
        blobs
    }

    fn opens(dir: &Path, passphrase: Option<&[u8]>, blobs: &[Vec<u8>]) -> Result<(), KmsError> {
        let core = KmsCore::open_existing(config(dir, passphrase))?;
        for b in blobs {
            let r = core.decrypt(&DecryptRequest {
                ciphertext_blob: b.clone(),
                ..Default::default()
            })?;
            assert_eq!(&r.plaintext[..], b"material");
        }
        Ok(())
    }

    fn denied(r: Result<(), KmsError>) -> bool {
        matches!(r, Err(e) if e.kind == KmsErrorKind::AccessDeniedException)
    }

    #[test]
    fn a_new_key_file_opens_every_key_and_the_old_one_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ks");
        let blobs = store(&dir, None);
        let old = fs::read(dir.join("root.key")).unwrap();
        let change = KmsCore::open(config(&dir, None))
            .unwrap()
            .change_root_key(None)
            .unwrap();
        assert_eq!(
            change,
            RootKeyChange {
                backing_keys: 3,
                access_keys: 0
            }
        );
        assert_ne!(fs::read(dir.join("root.key")).unwrap(), old);
        assert!(!dir.join(rootkey::PENDING_KEY_FILE).exists());
        opens(&dir, None, &blobs).unwrap();
        fs::write(dir.join("root.key"), &old).unwrap();
        assert!(denied(opens(&dir, None, &blobs)));
        // A passphrase cannot replace a key file.
        fs::remove_dir_all(&dir).unwrap();
        store(&dir, None);
        let e = KmsCore::open(config(&dir, None))
            .unwrap()
            .change_root_key(Some(b"p"))
            .unwrap_err();
        assert_eq!(e.kind, KmsErrorKind::ValidationException);
    }

    #[test]
    fn a_new_passphrase_replaces_the_old_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ks");
        let blobs = store(&dir, Some(b"old"));
        let e = KmsCore::open(config(&dir, Some(b"old")))
            .unwrap()
            .change_root_key(None)
            .unwrap_err();
        assert_eq!(e.kind, KmsErrorKind::ValidationException);
        KmsCore::open(config(&dir, Some(b"old")))
            .unwrap()
            .change_root_key(Some(b"new"))
            .unwrap();
        opens(&dir, Some(b"new"), &blobs).unwrap();
        assert!(denied(opens(&dir, Some(b"old"), &blobs)));
    }

    /// The two crash points of a key-file change, stopped by hand: before
    /// the commit the old key opens the store; after the commit and before
    /// the rename, the pending key does, and the opener puts it in place.
    #[test]
    fn a_change_stopped_at_either_side_of_its_commit_leaves_one_working_key() {
        for committed in [false, true] {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("ks");
            let blobs = store(&dir, None);
            let old = fs::read(dir.join("root.key")).unwrap();
            {
                let core = KmsCore::open(config(&dir, None)).unwrap();
                let mut conn = core.lock().unwrap();
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .unwrap();
                let new = rootkey::change(&tx, &dir, None).unwrap();
                reseal(&tx, |b, t| core.root.open_token(b, t), &new).unwrap();
                if committed {
                    tx.commit().unwrap();
                }
                // Dropped uncommitted: rolled back, as a kill would.
            }
            let pending = fs::read(dir.join(rootkey::PENDING_KEY_FILE)).unwrap();
            opens(&dir, None, &blobs).unwrap();
            let now = fs::read(dir.join("root.key")).unwrap();
            if committed {
                assert_eq!(now, pending, "rolled forward");
                assert!(!dir.join(rootkey::PENDING_KEY_FILE).exists());
            } else {
                assert_eq!(now, old, "the old key stays");
                // A later change replaces the stray pending file.
                KmsCore::open(config(&dir, None))
                    .unwrap()
                    .change_root_key(None)
                    .unwrap();
                opens(&dir, None, &blobs).unwrap();
            }
        }
    }

    #[test]
    fn a_process_that_opened_the_store_before_the_change_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ks");
        store(&dir, None);
        let stale = KmsCore::open(config(&dir, None)).unwrap();
        KmsCore::open(config(&dir, None))
            .unwrap()
            .change_root_key(None)
            .unwrap();
        let e = stale.create_key(&CreateKeyRequest::default()).unwrap_err();
        assert_eq!(e.kind, KmsErrorKind::AccessDeniedException, "{e}");
        let e = stale.list_keys(&Default::default()).unwrap_err();
        assert_eq!(e.kind, KmsErrorKind::AccessDeniedException, "{e}");
    }
}
