//! Content-key derivation for the ESDK suites (HKDF from aws-lc-rs).
//!
//! * Identity suites use the data key as is.
//! * Non-committing HKDF suites: HKDF(hash, salt = none, IKM = data key,
//!   info = suite id ‖ message id, L = key length).
//! * Committing suites: PRK = HKDF-Extract(SHA-512, salt = message id, IKM = data key);
//!   content key = Expand(PRK, suite id ‖ "DERIVEKEY", 32);
//!   commitment = Expand(PRK, "COMMITKEY", 32).

use aws_lc_rs::hkdf;
use zeroize::Zeroizing;

use super::error::{CryptoError, Result};
use super::Secret;
use crate::suite::{AlgorithmSuite, Kdf, COMMITMENT_LEN};

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn expand(prk: &hkdf::Prk, info: &[&[u8]], out: &mut [u8]) -> Result<()> {
    prk.expand(info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| CryptoError::Backend("HKDF expand failed"))
}

/// The content key and, for committing suites, the key commitment.
pub struct Derived {
    /// The AES-GCM key for the header tag and every frame.
    pub content_key: Secret,
    /// The commitment value stored in (or checked against) a v2 header.
    pub commitment: Option<[u8; COMMITMENT_LEN]>,
}

/// Derives the content key (and commitment) for one message.
///
/// The caller checks the data key's length first, because whether a wrong
/// length is the message's fault or a keyring's depends on the direction;
/// here it is refused as a bad key.
pub fn derive(suite: &AlgorithmSuite, data_key: &[u8], message_id: &[u8]) -> Result<Derived> {
    if data_key.len() != suite.key_len {
        return Err(CryptoError::Key(format!(
            "data key is {} bytes but suite {} needs {}",
            data_key.len(),
            suite.name,
            suite.key_len
        )));
    }
    let id = suite.id.to_be_bytes();
    let mut key = Zeroizing::new(vec![0u8; suite.key_len]);
    let alg = match suite.kdf {
        Kdf::Identity => {
            key.copy_from_slice(data_key);
            return Ok(Derived {
                content_key: key,
                commitment: None,
            });
        }
        Kdf::HkdfSha256 => hkdf::HKDF_SHA256,
        Kdf::HkdfSha384 => hkdf::HKDF_SHA384,
        Kdf::HkdfSha512Commit => {
            let prk = hkdf::Salt::new(hkdf::HKDF_SHA512, message_id).extract(data_key);
            expand(&prk, &[&id, b"DERIVEKEY"], &mut key)?;
            let mut commitment = [0u8; COMMITMENT_LEN];
            expand(&prk, &[b"COMMITKEY"], &mut commitment)?;
            return Ok(Derived {
                content_key: key,
                commitment: Some(commitment),
            });
        }
    };
    let prk = hkdf::Salt::new(alg, &[]).extract(data_key);
    expand(&prk, &[&id, message_id], &mut key)?;
    Ok(Derived {
        content_key: key,
        commitment: None,
    })
}
