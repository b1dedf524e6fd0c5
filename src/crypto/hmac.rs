//! HMAC, the pseudorandom function under the KMS core's key verifier and
//! under the SP 800-108 key derivation ([`super::kbkdf`]).

use aws_lc_rs::hmac;

/// The hash under an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// SHA-256 (32-byte output).
    Sha256,
    /// SHA-384 (48-byte output): the PRF of the raw ECDH keyring's key
    /// derivation, which is not built yet (issue 17); tested here already.
    #[cfg_attr(not(test), allow(dead_code))]
    Sha384,
}

impl Digest {
    fn algorithm(self) -> hmac::Algorithm {
        match self {
            Digest::Sha256 => hmac::HMAC_SHA256,
            Digest::Sha384 => hmac::HMAC_SHA384,
        }
    }
}

/// HMAC of the concatenation of `parts` under `key`.
pub fn sign(digest: Digest, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let key = hmac::Key::new(digest.algorithm(), key);
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        ctx.update(p);
    }
    ctx.sign().as_ref().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_case_2() {
        // Key "Jefe", data "what do ya want for nothing?" (RFC 4231, test case 2), in two parts.
        let mac = sign(Digest::Sha256, b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(sign(Digest::Sha384, b"k", &[b"m"]).len(), 48);
    }
}
