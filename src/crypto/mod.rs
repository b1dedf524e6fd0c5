//! The one door to cryptography: thin wrappers over aws-lc-rs (and the
//! `argon2` crate for the one primitive aws-lc-rs lacks).
//!
//! Nothing in this module implements a primitive; it adapts the backend's API
//! to the shapes the ESDK format and the KMS core need (detached tags,
//! explicit IVs, DER keys) and keeps every secret in a buffer that is
//! zeroized on drop. No backend type crosses the door: callers see this
//! module's own key types, [`Secret`] buffers, plain byte slices, the
//! [`crate::suite`] vocabulary and [`CryptoError`]. A second backend could
//! therefore stand behind the same types (one file per primitive, chosen at
//! build time) without a change outside this directory. Nothing here knows
//! the message format, the keyrings, the engine or the KMS core; the layering
//! test (`src/layering.rs`) keeps it so.

pub mod aead;
#[cfg(feature = "server")]
pub mod digest;
pub mod ecdh;
mod error;
pub mod hkdf;
pub mod hmac;
pub mod kbkdf;
pub mod password;
pub mod rsa;
pub mod signature;
#[cfg(feature = "server")]
pub mod tls;

pub use error::{CryptoError, Result};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::{Zeroize, Zeroizing};

/// Secret bytes (data keys, derived keys, wrapping keys), zeroized on drop.
pub type Secret = Zeroizing<Vec<u8>>;

/// Fills `buf` from the system CSPRNG.
pub fn fill_random(buf: &mut [u8]) -> Result<()> {
    SystemRandom::new().fill(buf).map_err(|_| CryptoError::Random)
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

/// Makes room for `additional` more bytes in a buffer of secret bytes
/// (plaintext, key material) without leaving a copy behind. `Vec`'s own growth
/// frees the old allocation unwiped, so here the contents move to a new
/// allocation (at least double, as `Vec` grows) and the old one is zeroized.
pub fn reserve_wiping(buf: &mut Vec<u8>, additional: usize) {
    let needed = buf.len().saturating_add(additional);
    if needed <= buf.capacity() {
        return;
    }
    let mut bigger = Vec::with_capacity(needed.max(buf.capacity().saturating_mul(2)));
    bigger.extend_from_slice(buf);
    std::mem::replace(buf, bigger).zeroize();
}

#[cfg(test)]
mod tests {
    use super::reserve_wiping;

    #[test]
    fn reserve_wiping_keeps_contents_and_grows_geometrically() {
        let mut v = Vec::with_capacity(2);
        v.extend_from_slice(b"ab");
        reserve_wiping(&mut v, 10);
        assert_eq!(v, b"ab");
        assert!(v.capacity() >= 12);
        let cap = v.capacity();
        reserve_wiping(&mut v, cap - 2);
        assert_eq!(v.capacity(), cap);
        reserve_wiping(&mut v, cap);
        assert!(v.capacity() >= 2 * cap);
        assert_eq!(v, b"ab");
    }
}
