//! The NIST SP 800-108 key derivation in counter mode over HMAC.
//!
//! Block `i` (from 1) is `HMAC(key, u32 BE i ‖ Label ‖ 00 ‖ Context ‖ u32 BE L)`,
//! with `L` the output length in bits; the output is the blocks' concatenation,
//! cut to length. The KMS core derives its per-request working keys with it
//! (HMAC-SHA256, one block), and the ESDK's raw ECDH keyring its wrapping keys
//! (HMAC-SHA384, two blocks), so the digest is a parameter.

use aws_lc_rs::kdf::{get_kbkdf_ctr_hmac_algorithm, kbkdf_ctr_hmac, KbkdfCtrHmacAlgorithmId};

use super::error::{CryptoError, Result};
use super::hmac::Digest;

/// Fills `out` with SP 800-108 counter-mode output of HMAC-`digest` under
/// `key`, for `label` and `context` (joined by the standard's `00` byte).
pub fn counter_mode_hmac(
    digest: Digest,
    key: &[u8],
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let bits = out
        .len()
        .checked_mul(8)
        .and_then(|b| u32::try_from(b).ok())
        .ok_or(CryptoError::Backend("SP 800-108 output too long"))?;
    // aws-lc puts the counter in front of the fixed input itself.
    let mut fixed = Vec::with_capacity(label.len() + 1 + context.len() + 4);
    fixed.extend_from_slice(label);
    fixed.push(0);
    fixed.extend_from_slice(context);
    fixed.extend_from_slice(&bits.to_be_bytes());
    let id = match digest {
        Digest::Sha256 => KbkdfCtrHmacAlgorithmId::Sha256,
        Digest::Sha384 => KbkdfCtrHmacAlgorithmId::Sha384,
    };
    let alg = get_kbkdf_ctr_hmac_algorithm(id).ok_or(CryptoError::Backend("SP 800-108 KDF unavailable"))?;
    kbkdf_ctr_hmac(alg, key, &fixed, out).map_err(|_| CryptoError::Backend("SP 800-108 KDF failed"))
}

#[cfg(test)]
mod tests {
    use super::super::hmac::sign;
    use super::*;

    /// The standard's construction, block by block, from HMAC alone.
    fn by_hand(digest: Digest, key: &[u8], label: &[u8], context: &[u8], len: usize) -> Vec<u8> {
        let bits = ((len * 8) as u32).to_be_bytes();
        let mut out = Vec::new();
        for i in 1u32.. {
            if out.len() >= len {
                break;
            }
            out.extend(sign(
                digest,
                key,
                &[&i.to_be_bytes(), label, &[0], context, &bits],
            ));
        }
        out.truncate(len);
        out
    }

    #[test]
    fn matches_the_construction_for_one_and_several_blocks() {
        for (digest, len) in [
            (Digest::Sha256, 32),
            (Digest::Sha384, 64),
            (Digest::Sha384, 100),
            (Digest::Sha256, 7),
        ] {
            let mut out = vec![0u8; len];
            counter_mode_hmac(digest, b"key", b"label", b"context", &mut out).unwrap();
            assert_eq!(
                out,
                by_hand(digest, b"key", b"label", b"context", len),
                "{digest:?} {len}"
            );
        }
    }
}
