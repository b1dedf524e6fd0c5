//! ECDSA footer signatures over a streamed SHA-256/SHA-384 digest.
//!
//! The signature covers every byte before the footer, so both sides hash the
//! message as it passes and sign or verify the digest at the end. The public
//! key travels in the encryption context as base64 of the SEC1 compressed point.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};

use super::error::{CryptoError, Result};
use crate::suite::Signature;

fn digest_alg(sig: Signature) -> &'static digest::Algorithm {
    match sig {
        Signature::EcdsaP256Sha256 => &digest::SHA256,
        Signature::EcdsaP384Sha384 => &digest::SHA384,
    }
}

/// A running hash of the message bytes covered by the signature.
#[derive(Clone)]
pub struct Hasher(digest::Context);

impl Hasher {
    /// Starts a hash for the suite's signature algorithm.
    pub fn new(sig: Signature) -> Self {
        Hasher(digest::Context::new(digest_alg(sig)))
    }

    /// Adds message bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(self) -> digest::Digest {
        self.0.finish()
    }
}

/// An ephemeral signing key, made fresh for each message.
pub struct Signer {
    key: EcdsaKeyPair,
}

impl Signer {
    /// Generates a key pair for the suite's curve.
    pub fn generate(sig: Signature) -> Result<Self> {
        let alg = match sig {
            Signature::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            Signature::EcdsaP384Sha384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        };
        let key =
            EcdsaKeyPair::generate(alg).map_err(|_| CryptoError::Backend("ECDSA key generation failed"))?;
        Ok(Signer { key })
    }

    /// The SEC1 compressed public point (`02|03 ‖ X`).
    pub fn public_key_compressed(&self) -> Result<Vec<u8>> {
        let c: EcPublicKeyCompressedBin<'static> = self
            .key
            .public_key()
            .as_be_bytes()
            .map_err(|_| CryptoError::Backend("ECDSA public key encoding failed"))?;
        Ok(c.as_ref().to_vec())
    }

    /// Signs the hashed message; returns a DER signature.
    pub fn sign(&self, hasher: Hasher) -> Result<Vec<u8>> {
        let sig = self
            .key
            .sign_digest(&hasher.finish())
            .map_err(|_| CryptoError::Backend("ECDSA signing failed"))?;
        Ok(sig.as_ref().to_vec())
    }
}

/// Verifies a DER signature over the hashed message with a SEC1 public point.
pub fn verify(sig: Signature, public_point: &[u8], hasher: Hasher, der_signature: &[u8]) -> Result<()> {
    let alg = match sig {
        Signature::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
        Signature::EcdsaP384Sha384 => &signature::ECDSA_P384_SHA384_ASN1,
    };
    UnparsedPublicKey::new(alg, public_point)
        .verify_digest(&hasher.finish(), der_signature)
        .map_err(|_| CryptoError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_both_curves() {
        for (sig, len) in [(Signature::EcdsaP256Sha256, 33), (Signature::EcdsaP384Sha384, 49)] {
            let s = Signer::generate(sig).unwrap();
            let pk = s.public_key_compressed().unwrap();
            assert_eq!(pk.len(), len);
            let mut h = Hasher::new(sig);
            h.update(b"message");
            let der = s.sign(h).unwrap();
            let mut h = Hasher::new(sig);
            h.update(b"message");
            verify(sig, &pk, h.clone(), &der).unwrap();
            let mut other = Hasher::new(sig);
            other.update(b"massage");
            assert!(verify(sig, &pk, other, &der).is_err());
        }
    }
}
