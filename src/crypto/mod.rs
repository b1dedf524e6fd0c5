//! Thin wrappers over aws-lc-rs, the only source of cryptography here.
//!
//! Nothing in this module implements a primitive; it adapts aws-lc-rs's API to
//! the shapes the ESDK format needs (detached tags, explicit IVs) and keeps
//! every secret in a buffer that is zeroized on drop.

pub mod aead;
pub mod kdf;
pub mod rsa;
pub mod signature;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Secret bytes (data keys, derived keys, wrapping keys), zeroized on drop.
pub type Secret = Zeroizing<Vec<u8>>;

/// Fills `buf` from the system CSPRNG.
pub fn fill_random(buf: &mut [u8]) -> Result<()> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| Error::Crypto("the system random generator failed"))
}

/// Returns `len` fresh random secret bytes.
pub fn random_secret(len: usize) -> Result<Secret> {
    let mut s = Zeroizing::new(vec![0u8; len]);
    fill_random(&mut s)?;
    Ok(s)
}

/// Compares two byte strings in constant time (for equal lengths).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}
