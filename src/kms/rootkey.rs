//! The root (domain) key that protects every backing key at rest.
//!
//! The root key is 256 bits, either random and kept in the file `root.key`
//! (0600) beside the database, or derived with Argon2id from
//! `ENVELOPE_PASSPHRASE` and a random salt kept in the database. A store keeps
//! the mode it was created with. The database also keeps a verifier,
//! `HMAC-SHA256(root key, "envelope kms-core root key verifier v1")`, so a
//! wrong key file or passphrase is refused up front with AccessDeniedException
//! instead of failing later, key by key.
//!
//! Backing keys (and RSA private keys) are stored as encrypted key tokens:
//! `IV (12) ‖ AES-256-GCM(root key, IV, material) ‖ tag (16)`, with AAD
//! `"envelope kms-core EKT v1" ‖ key id ‖ u32 BE version`, so a token cannot be
//! moved to another key or version.

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};
use zeroize::Zeroizing;

use super::error::{KmsError, KmsErrorKind};
use super::files;
use super::store::{self, db};
use crate::crypto::aead::{AesGcm, IV_LEN, TAG_LEN};
use crate::crypto::hmac::{self, Digest};
use crate::crypto::password::{argon2id, Argon2Cost};
use crate::crypto::{ct_eq, fill_random, random_secret, Secret};

/// File name of the root key in key-file mode.
pub(crate) const KEY_FILE: &str = "root.key";
const ROOT_LEN: usize = 32;
const SALT_LEN: usize = 16;
/// Argon2id cost for new stores: 19 MiB, 2 passes, 1 lane (OWASP's baseline).
/// The parameters are stored with the salt, so later changes keep old stores working.
const ARGON2_PARAMS: (u32, u32, u32) = (19 * 1024, 2, 1);
const VERIFIER_LABEL: &[u8] = b"envelope kms-core root key verifier v1";
const EKT_LABEL: &[u8] = b"envelope kms-core EKT v1";

const META_KIND: &str = "root_kind";
const META_VERIFIER: &str = "root_verifier";
const META_SALT: &str = "argon2id_salt";
const META_PARAMS: &str = "argon2id_params";

fn denied(message: String) -> KmsError {
    KmsError::new(KmsErrorKind::AccessDeniedException, message)
}

fn io_err(what: &str, path: &Path, e: io::Error) -> KmsError {
    KmsError::internal(format!("cannot {what} {}: {e}", path.display()))
}

/// The unlocked root key.
pub(crate) struct RootKey {
    gcm: AesGcm,
}

impl RootKey {
    fn new(key: &[u8]) -> Result<RootKey, KmsError> {
        Ok(RootKey {
            gcm: AesGcm::new(key)?,
        })
    }

    fn token_aad(key_id: &str, version: u32) -> Vec<u8> {
        [EKT_LABEL, key_id.as_bytes(), &version.to_be_bytes()].concat()
    }

    /// Encrypts key material into a token bound to `key_id` and `version`.
    pub(crate) fn seal_token(
        &self,
        key_id: &str,
        version: u32,
        material: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        let mut iv = [0u8; IV_LEN];
        fill_random(&mut iv)?;
        let mut body = material.to_vec();
        let tag = self.gcm.seal(&iv, &Self::token_aad(key_id, version), &mut body)?;
        Ok([&iv[..], &body, &tag].concat())
    }

    /// Decrypts a token; KMSInternalException if it does not open (a corrupted store).
    pub(crate) fn open_token(&self, key_id: &str, version: u32, token: &[u8]) -> Result<Secret, KmsError> {
        let corrupt = || {
            KmsError::internal(format!(
                "the stored key material of key {key_id} (version {version}) does not open under the root key"
            ))
        };
        if token.len() < IV_LEN + TAG_LEN {
            return Err(corrupt());
        }
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&token[..IV_LEN]);
        let mut buf = Zeroizing::new(token[IV_LEN..].to_vec());
        let n = self
            .gcm
            .open(&iv, &Self::token_aad(key_id, version), &mut buf)
            .map(|p| p.len())
            .ok_or_else(corrupt)?;
        buf.truncate(n);
        Ok(buf)
    }
}

fn verifier(root: &[u8]) -> Vec<u8> {
    hmac::sign(Digest::Sha256, root, &[VERIFIER_LABEL])
}

fn derive(passphrase: &[u8], salt: &[u8], (m, t, p): (u32, u32, u32)) -> Result<Secret, KmsError> {
    let cost = Argon2Cost {
        memory_kib: m,
        passes: t,
        lanes: p,
    };
    Ok(argon2id(passphrase, salt, cost, ROOT_LEN)?)
}

fn encode_params((m, t, p): (u32, u32, u32)) -> Vec<u8> {
    format!("{m},{t},{p}").into_bytes()
}

fn decode_params(b: &[u8]) -> Option<(u32, u32, u32)> {
    let s = std::str::from_utf8(b).ok()?;
    let mut it = s.split(',').map(str::parse::<u32>);
    let r = (it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?);
    it.next().is_none().then_some(r)
}

/// Reads the 32-byte root key file.
fn read_key_file(path: &Path) -> Result<Option<Secret>, KmsError> {
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("read the root key file", path, e)),
    };
    let mut key = Zeroizing::new(Vec::with_capacity(ROOT_LEN + 1));
    Read::by_ref(&mut f)
        .take(ROOT_LEN as u64 + 1)
        .read_to_end(&mut key)
        .map_err(|e| io_err("read the root key file", path, e))?;
    if key.len() != ROOT_LEN {
        return Err(denied(format!(
            "the root key file {} is not {ROOT_LEN} bytes: it is not a root key of this key store",
            path.display()
        )));
    }
    Ok(Some(key))
}

/// Writes a fresh root key file atomically (temporary file, then rename).
fn create_key_file(dir: &Path) -> Result<Secret, KmsError> {
    let path = dir.join(KEY_FILE);
    let key = random_secret(ROOT_LEN)?;
    let tmp = dir.join(format!("{KEY_FILE}.tmp-{}", std::process::id()));
    let write = || -> io::Result<()> {
        let mut f = files::private_file(&tmp)?;
        f.set_len(0)?;
        f.write_all(&key)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err("write the root key file", &path, e)
    })?;
    Ok(key)
}

/// Unlocks the root key of the store open on `conn`, creating the schema and
/// the root key if the store is new. Returns the key and whether the store was
/// just created.
pub(crate) fn unlock(
    conn: &mut Connection,
    dir: &Path,
    passphrase: Option<&[u8]>,
) -> Result<(RootKey, bool), KmsError> {
    // Creation happens under the write lock, so two processes opening a new
    // store at once agree on one root key.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    store::init_schema(&tx)?;
    let kind = store::meta_get(&tx, META_KIND)?;
    let Some(kind) = kind else {
        let root = match passphrase {
            Some(p) => {
                let mut salt = [0u8; SALT_LEN];
                fill_random(&mut salt)?;
                let root = derive(p, &salt, ARGON2_PARAMS)?;
                store::meta_set(&tx, META_SALT, &salt)?;
                store::meta_set(&tx, META_PARAMS, &encode_params(ARGON2_PARAMS))?;
                store::meta_set(&tx, META_KIND, b"passphrase")?;
                root
            }
            None => {
                // A key file left from an earlier store in this directory is reused.
                let root = match read_key_file(&dir.join(KEY_FILE))? {
                    Some(k) => k,
                    None => create_key_file(dir)?,
                };
                store::meta_set(&tx, META_KIND, b"file")?;
                root
            }
        };
        store::meta_set(&tx, META_VERIFIER, &verifier(&root))?;
        tx.commit().map_err(db)?;
        return Ok((RootKey::new(&root)?, true));
    };
    let expected = store::meta_get(&tx, META_VERIFIER)?
        .ok_or_else(|| KmsError::internal("the key store has no root key verifier"))?;
    let salt = store::meta_get(&tx, META_SALT)?;
    let params = store::meta_get(&tx, META_PARAMS)?;
    drop(tx);

    let root = match (kind.as_slice(), passphrase) {
        (b"file", Some(_)) => {
            return Err(denied(format!(
                "the key store in {} is protected by its root key file, not a passphrase: unset ENVELOPE_PASSPHRASE",
                dir.display()
            )))
        }
        (b"file", None) => {
            let path = dir.join(KEY_FILE);
            read_key_file(&path)?.ok_or_else(|| {
                denied(format!(
                    "the root key file {} is missing: the keys in this store cannot be opened",
                    path.display()
                ))
            })?
        }
        (b"passphrase", None) => {
            return Err(denied(format!(
                "the key store in {} is protected by a passphrase: set ENVELOPE_PASSPHRASE",
                dir.display()
            )))
        }
        (b"passphrase", Some(p)) => {
            let salt = salt.ok_or_else(|| KmsError::internal("the key store has no Argon2id salt"))?;
            let params = params
                .as_deref()
                .and_then(decode_params)
                .ok_or_else(|| KmsError::internal("the key store's Argon2id parameters are unreadable"))?;
            derive(p, &salt, params)?
        }
        _ => return Err(KmsError::internal("the key store's root key mode is unknown")),
    };
    if !ct_eq(&verifier(&root), &expected) {
        return Err(denied(match passphrase {
            Some(_) => format!(
                "wrong passphrase: ENVELOPE_PASSPHRASE does not unlock the key store in {}",
                dir.display()
            ),
            None => format!(
                "wrong root key: {} is not the root key of the key store in {}",
                dir.join(KEY_FILE).display(),
                dir.display()
            ),
        }));
    }
    Ok((RootKey::new(&root)?, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_key_and_version() {
        let root = RootKey::new(&[1u8; 32]).unwrap();
        let t = root.seal_token("a", 1, b"material").unwrap();
        assert_eq!(&root.open_token("a", 1, &t).unwrap()[..], b"material");
        assert!(root.open_token("a", 2, &t).is_err());
        assert!(root.open_token("b", 1, &t).is_err());
        assert!(root.open_token("a", 1, &t[..20]).is_err());
        assert!(RootKey::new(&[2u8; 32]).unwrap().open_token("a", 1, &t).is_err());
    }

    #[test]
    fn params_round_trip() {
        assert_eq!(decode_params(&encode_params((1, 2, 3))), Some((1, 2, 3)));
        assert_eq!(decode_params(b"1,2"), None);
        assert_eq!(decode_params(b"1,2,3,4"), None);
    }
}
