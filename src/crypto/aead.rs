//! AES-GCM with 12-byte IVs and 16-byte detached tags, for 128/192/256-bit keys.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};

use super::error::{CryptoError, Result};
/// AES-GCM as the ESDK (and the KMS core) use it: 12-byte IVs, 16-byte tags.
pub use crate::suite::{IV_LEN, TAG_LEN};

/// An AES-GCM key ready to seal and open. aws-lc-rs wipes its key schedule on drop.
pub struct AesGcm {
    key: LessSafeKey,
}

impl std::fmt::Debug for AesGcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesGcm(..)")
    }
}

impl AesGcm {
    /// Builds a key from 16, 24 or 32 bytes.
    pub fn new(key: &[u8]) -> Result<Self> {
        let alg = match key.len() {
            16 => &aead::AES_128_GCM,
            24 => &aead::AES_192_GCM,
            32 => &aead::AES_256_GCM,
            n => {
                return Err(CryptoError::Key(format!(
                    "AES key must be 16, 24 or 32 bytes, not {n}"
                )))
            }
        };
        let unbound =
            UnboundKey::new(alg, key).map_err(|_| CryptoError::Backend("AES-GCM key setup failed"))?;
        Ok(AesGcm {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Encrypts `in_out` in place and returns the tag.
    pub fn seal(&self, iv: &[u8; IV_LEN], aad: &[u8], in_out: &mut [u8]) -> Result<[u8; TAG_LEN]> {
        let tag = self
            .key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*iv), Aad::from(aad), in_out)
            .map_err(|_| CryptoError::Backend("AES-GCM seal failed"))?;
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(tag.as_ref());
        Ok(t)
    }

    /// Decrypts `ciphertext_and_tag` in place (ciphertext followed by the
    /// 16-byte tag) and returns the plaintext prefix. `None` if the tag fails;
    /// on failure the buffer's contents are unspecified and must not be used.
    pub fn open<'a>(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        ciphertext_and_tag: &'a mut [u8],
    ) -> Option<&'a mut [u8]> {
        self.key
            .open_in_place(
                Nonce::assume_unique_for_key(*iv),
                Aad::from(aad),
                ciphertext_and_tag,
            )
            .ok()
    }
}

impl AesGcm {
    /// Encrypts `plaintext` into `ciphertext` (same length) and writes the tag.
    pub fn seal_to(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        plaintext: &[u8],
        ciphertext: &mut [u8],
        tag: &mut [u8],
    ) -> Result<()> {
        self.key
            .seal_out_of_place_scatter(
                Nonce::assume_unique_for_key(*iv),
                Aad::from(aad),
                plaintext,
                ciphertext,
                &[],
                tag,
            )
            .map_err(|_| CryptoError::Backend("AES-GCM seal failed"))
    }

    /// Decrypts `ciphertext` with its detached `tag` into `plaintext` (same
    /// length). Returns false if the tag fails; `plaintext` must then be
    /// discarded (the caller wipes it).
    pub fn open_to(
        &self,
        iv: &[u8; IV_LEN],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
        plaintext: &mut [u8],
    ) -> bool {
        self.key
            .open_separate_gather(
                Nonce::assume_unique_for_key(*iv),
                Aad::from(aad),
                ciphertext,
                tag,
                plaintext,
            )
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_all_key_sizes() {
        for len in [16, 24, 32] {
            let k = AesGcm::new(&vec![3u8; len]).unwrap();
            let iv = [1u8; 12];
            let mut buf = b"hello".to_vec();
            let tag = k.seal(&iv, b"aad", &mut buf).unwrap();
            buf.extend_from_slice(&tag);
            let mut wrong = buf.clone();
            assert!(k.open(&iv, b"other", &mut wrong).is_none());
            assert_eq!(k.open(&iv, b"aad", &mut buf).unwrap(), b"hello");
        }
        assert!(AesGcm::new(&[0u8; 17]).is_err());
    }
}
