//! Argon2id, which turns a passphrase into a key (the KMS core's root key).
//!
//! aws-lc-rs offers no memory-hard password hash, so this one primitive comes
//! from the `argon2` crate; it stands behind this door like the others.

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use super::error::{CryptoError, Result};
use super::Secret;

/// Argon2id cost: memory in KiB, passes, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Cost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub passes: u32,
    /// Lanes (parallelism).
    pub lanes: u32,
}

/// Derives `len` key bytes from `passphrase` and `salt` with Argon2id (version 0x13).
pub fn argon2id(passphrase: &[u8], salt: &[u8], cost: Argon2Cost, len: usize) -> Result<Secret> {
    let params = Params::new(cost.memory_kib, cost.passes, cost.lanes, Some(len))
        .map_err(|e| CryptoError::Unsupported(format!("bad Argon2id parameters: {e}")))?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, salt, &mut out)
        .map_err(|e| CryptoError::Unsupported(format!("Argon2id failed: {e}")))?;
    Ok(out)
}
