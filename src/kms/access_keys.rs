//! SigV4 access keys issued by a key store, for the KMS server's optional
//! request-signature check.
//!
//! An access key is a pair like AWS's: a public id (`ENVK` and 16 characters
//! of base32, so it is never mistaken for an AWS `AKIA...` key) and a
//! 40-character secret. The secret is stored only as an encrypted key token
//! under the root key (the same AES-256-GCM token as backing keys, bound to
//! the name `access-key/<id>`, which no KMS key id can take), so a copy of
//! the database alone does not reveal it. The secret is shown once, when the
//! key is created.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rusqlite::{params, OptionalExtension};
use zeroize::Zeroizing;

use super::core::KmsCore;
use super::error::KmsError;
use super::rootkey::Binding;
use super::store::db;
use crate::crypto::fill_random;

/// Prefix of every access key id this service issues.
pub const ACCESS_KEY_ID_PREFIX: &str = "ENVK";
const ID_RANDOM_CHARS: usize = 16;
const SECRET_BYTES: usize = 30;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A newly created access key, with its secret (shown once).
pub struct NewAccessKey {
    /// The access key id, `ENVK...`.
    pub access_key_id: String,
    /// The secret access key (40 characters), wiped on drop.
    pub secret_access_key: Zeroizing<String>,
    /// Creation time, epoch seconds.
    pub created: u64,
}

impl std::fmt::Debug for NewAccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccessKey")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<secret>")
            .field("created", &self.created)
            .finish()
    }
}

/// An access key as listed: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyInfo {
    /// The access key id.
    pub access_key_id: String,
    /// Free text given at creation.
    pub description: String,
    /// Creation time, epoch seconds.
    pub create_date: u64,
}

pub(crate) fn token_name(access_key_id: &str) -> String {
    format!("access-key/{access_key_id}")
}

/// Whether `s` has the shape of an access key id this service issues.
fn is_access_key_id(s: &str) -> bool {
    s.len() == ACCESS_KEY_ID_PREFIX.len() + ID_RANDOM_CHARS
        && s.starts_with(ACCESS_KEY_ID_PREFIX)
        && s[ACCESS_KEY_ID_PREFIX.len()..]
            .bytes()
            .all(|b| BASE32.contains(&b))
}

fn not_found(access_key_id: &str) -> KmsError {
    KmsError::not_found(format!("Access key '{access_key_id}' does not exist"))
}

impl KmsCore {
    /// Issues a new access key. Its secret is returned here and never again.
    pub fn create_access_key(&self, description: &str) -> Result<NewAccessKey, KmsError> {
        if description.chars().count() > 256 {
            return Err(KmsError::validation(
                "the description of an access key is at most 256 characters",
            ));
        }
        let random = |n: usize| -> Result<Zeroizing<Vec<u8>>, KmsError> {
            let mut b = Zeroizing::new(vec![0u8; n]);
            fill_random(&mut b).map_err(|e| KmsError::internal(e.to_string()))?;
            Ok(b)
        };
        let id_bytes = random(ID_RANDOM_CHARS)?;
        let access_key_id: String = ACCESS_KEY_ID_PREFIX
            .chars()
            .chain(id_bytes.iter().map(|b| BASE32[(b & 31) as usize] as char))
            .collect();
        let secret = Zeroizing::new(STANDARD.encode(&random(SECRET_BYTES)?[..]));
        let created = self.now();
        let token = self
            .root
            .seal_token(Binding::secret(&token_name(&access_key_id)), secret.as_bytes())?;
        self.write(|c| {
            c.execute(
                "INSERT INTO access_keys (access_key_id, created, description, token) VALUES (?1, ?2, ?3, ?4)",
                params![access_key_id, created, description, token],
            )
            .map_err(db)?;
            Ok(())
        })?;
        Ok(NewAccessKey {
            access_key_id,
            secret_access_key: secret,
            created,
        })
    }

    /// The access keys of this store, in id order.
    pub fn list_access_keys(&self) -> Result<Vec<AccessKeyInfo>, KmsError> {
        self.read(|c| {
            let mut st = c
                .prepare("SELECT access_key_id, description, created FROM access_keys ORDER BY access_key_id")
                .map_err(db)?;
            let rows = st
                .query_map([], |r| {
                    Ok(AccessKeyInfo {
                        access_key_id: r.get(0)?,
                        description: r.get(1)?,
                        create_date: r.get(2)?,
                    })
                })
                .map_err(db)?;
            rows.collect::<Result<_, _>>().map_err(db)
        })
    }

    /// Deletes an access key; requests signed with it are refused from then on.
    /// NotFoundException if there is no such key.
    pub fn delete_access_key(&self, access_key_id: &str) -> Result<(), KmsError> {
        let n = self.write(|c| {
            c.execute(
                "DELETE FROM access_keys WHERE access_key_id = ?1",
                [access_key_id],
            )
            .map_err(db)
        })?;
        if n == 0 {
            return Err(not_found(access_key_id));
        }
        self.shred()
    }

    /// The secret of an access key, for verifying a signature; `None` if the
    /// store has no such key.
    pub fn access_key_secret(&self, access_key_id: &str) -> Result<Option<Zeroizing<String>>, KmsError> {
        if !is_access_key_id(access_key_id) {
            return Ok(None);
        }
        let token: Option<Vec<u8>> = self.read(|c| {
            c.query_row(
                "SELECT token FROM access_keys WHERE access_key_id = ?1",
                [access_key_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)
        })?;
        let Some(token) = token else {
            return Ok(None);
        };
        let secret = self
            .root
            .open_token(Binding::secret(&token_name(access_key_id)), &token)?;
        String::from_utf8(secret.to_vec())
            .map(|s| Some(Zeroizing::new(s)))
            .map_err(|_| {
                KmsError::internal(format!(
                    "the stored secret of access key {access_key_id} is not text"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_shape() {
        assert!(is_access_key_id("ENVKABCDEFGHIJKLMN23"));
        assert!(!is_access_key_id("AKIAABCDEFGHIJKLMN23"));
        assert!(!is_access_key_id("ENVKabcdefghijklmn23"));
        assert!(!is_access_key_id("ENVK"));
    }
}
