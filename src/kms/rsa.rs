//! RSA key pairs of asymmetric KMS keys: generation and RSAES-OAEP, through
//! the crypto layer.
//!
//! As in AWS KMS, an RSA ciphertext is the bare OAEP output (no header), so
//! Decrypt needs the KeyId and the algorithm. This module maps the KMS
//! vocabulary (key specs, encryption algorithms) onto [`crate::crypto::rsa`].

use super::error::KmsError;
use super::specs::{EncryptionAlgorithmSpec, KeySpec};
use crate::crypto::rsa::{self, RsaPadding, RsaPrivateKey, RsaPublicKey};
use crate::crypto::{CryptoError, Secret};

/// A new key pair: the private key as PKCS#8 DER and the public key as
/// SubjectPublicKeyInfo DER.
pub(crate) fn generate(spec: KeySpec) -> Result<(Secret, Vec<u8>), KmsError> {
    let bits = spec
        .rsa_modulus_len()
        .ok_or_else(|| KmsError::internal("not an RSA key spec"))?
        * 8;
    rsa::generate_key_pair(bits).map_err(|_| KmsError::internal("RSA key generation failed"))
}

fn padding(alg: EncryptionAlgorithmSpec) -> Result<RsaPadding, KmsError> {
    match alg {
        EncryptionAlgorithmSpec::RsaesOaepSha1 => Ok(RsaPadding::OaepSha1),
        EncryptionAlgorithmSpec::RsaesOaepSha256 => Ok(RsaPadding::OaepSha256),
        EncryptionAlgorithmSpec::SymmetricDefault => Err(KmsError::internal("not an RSA algorithm")),
    }
}

/// The largest plaintext OAEP can take: modulus length − 2·hash length − 2
/// (214/190 bytes for RSA_2048, 342/318 for RSA_3072, 470/446 for RSA_4096).
pub(crate) fn max_plaintext(spec: KeySpec, alg: EncryptionAlgorithmSpec) -> usize {
    let hash_len = match alg {
        EncryptionAlgorithmSpec::RsaesOaepSha1 => 20,
        _ => 32,
    };
    spec.rsa_modulus_len().map_or(0, |k| k - 2 * hash_len - 2)
}

/// Encrypts with the public key (SPKI DER).
pub(crate) fn encrypt(
    spki: &[u8],
    alg: EncryptionAlgorithmSpec,
    plaintext: &[u8],
) -> Result<Vec<u8>, KmsError> {
    let key = RsaPublicKey::from_der(spki, padding(alg)?).map_err(stored_key)?;
    key.encrypt(plaintext)
        .map_err(|_| KmsError::internal("RSA-OAEP encryption failed"))
}

/// Decrypts with the private key (PKCS#8 DER); InvalidCiphertextException if OAEP fails.
pub(crate) fn decrypt(
    pkcs8: &[u8],
    alg: EncryptionAlgorithmSpec,
    ciphertext: &[u8],
) -> Result<Secret, KmsError> {
    let key = RsaPrivateKey::from_pkcs8_der(pkcs8, padding(alg)?).map_err(stored_key)?;
    if ciphertext.len() != key.bits().div_ceil(8) {
        return Err(KmsError::invalid_ciphertext());
    }
    key.decrypt(ciphertext).ok_or_else(KmsError::invalid_ciphertext)
}

/// The public key (SPKI DER) of a stored private key (PKCS#8 DER): derived,
/// so a public key planted in the store's `public_key` column is never used.
pub(crate) fn public_key_of(pkcs8: &[u8]) -> Result<Vec<u8>, KmsError> {
    rsa::public_key_der(pkcs8).map_err(stored_key)
}

/// A stored key that does not load: the store is corrupt, or a bug.
fn stored_key(e: CryptoError) -> KmsError {
    match e {
        CryptoError::Key(_) => KmsError::internal("stored RSA key material is not valid"),
        e => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_2048_round_trip_and_limits() {
        let (private, public) = generate(KeySpec::Rsa2048).unwrap();
        for (alg, max) in [
            (EncryptionAlgorithmSpec::RsaesOaepSha1, 214),
            (EncryptionAlgorithmSpec::RsaesOaepSha256, 190),
        ] {
            assert_eq!(max_plaintext(KeySpec::Rsa2048, alg), max);
            assert_eq!(public_key_of(&private).unwrap(), public);
            let ct = encrypt(&public, alg, &vec![1u8; max]).unwrap();
            assert_eq!(ct.len(), 256);
            assert_eq!(&decrypt(&private, alg, &ct).unwrap()[..], &vec![1u8; max][..]);
            assert!(encrypt(&public, alg, &vec![1u8; max + 1]).is_err());
        }
        assert_eq!(
            max_plaintext(KeySpec::Rsa3072, EncryptionAlgorithmSpec::RsaesOaepSha1),
            342
        );
        assert_eq!(
            max_plaintext(KeySpec::Rsa3072, EncryptionAlgorithmSpec::RsaesOaepSha256),
            318
        );
        assert_eq!(
            max_plaintext(KeySpec::Rsa4096, EncryptionAlgorithmSpec::RsaesOaepSha1),
            470
        );
        assert_eq!(
            max_plaintext(KeySpec::Rsa4096, EncryptionAlgorithmSpec::RsaesOaepSha256),
            446
        );
    }
}
