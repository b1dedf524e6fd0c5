//! RSA key pairs of asymmetric KMS keys: generation and RSAES-OAEP, all from aws-lc-rs.
//!
//! As in AWS KMS, an RSA ciphertext is the bare OAEP output (no header), so
//! Decrypt needs the KeyId and the algorithm.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{
    KeySize, OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use zeroize::Zeroizing;

use super::error::KmsError;
use super::types::{EncryptionAlgorithmSpec, KeySpec};
use crate::crypto::Secret;

/// A new key pair: the private key as PKCS#8 DER and the public key as
/// SubjectPublicKeyInfo DER.
pub(crate) fn generate(spec: KeySpec) -> Result<(Secret, Vec<u8>), KmsError> {
    let size = match spec {
        KeySpec::Rsa2048 => KeySize::Rsa2048,
        KeySpec::Rsa3072 => KeySize::Rsa3072,
        KeySpec::Rsa4096 => KeySize::Rsa4096,
        KeySpec::SymmetricDefault => return Err(KmsError::internal("not an RSA key spec")),
    };
    let failed = |_| KmsError::internal("RSA key generation failed");
    let private = PrivateDecryptingKey::generate(size).map_err(failed)?;
    let pkcs8: Pkcs8V1Der<'static> = private.as_der().map_err(failed)?;
    let spki: PublicKeyX509Der<'static> = private.public_key().as_der().map_err(failed)?;
    Ok((Zeroizing::new(pkcs8.as_ref().to_vec()), spki.as_ref().to_vec()))
}

fn oaep(alg: EncryptionAlgorithmSpec) -> Option<&'static OaepAlgorithm> {
    match alg {
        EncryptionAlgorithmSpec::RsaesOaepSha1 => Some(&OAEP_SHA1_MGF1SHA1),
        EncryptionAlgorithmSpec::RsaesOaepSha256 => Some(&OAEP_SHA256_MGF1SHA256),
        EncryptionAlgorithmSpec::SymmetricDefault => None,
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
    let failed = |_| KmsError::internal("RSA-OAEP encryption failed");
    let alg = oaep(alg).ok_or_else(|| KmsError::internal("not an RSA algorithm"))?;
    let key = OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(spki).map_err(failed_key)?)
        .map_err(failed)?;
    let mut out = vec![0u8; key.ciphertext_size()];
    let n = key.encrypt(alg, plaintext, &mut out, None).map_err(failed)?.len();
    out.truncate(n);
    Ok(out)
}

/// Decrypts with the private key (PKCS#8 DER); InvalidCiphertextException if OAEP fails.
pub(crate) fn decrypt(
    pkcs8: &[u8],
    alg: EncryptionAlgorithmSpec,
    ciphertext: &[u8],
) -> Result<Secret, KmsError> {
    let alg = oaep(alg).ok_or_else(|| KmsError::internal("not an RSA algorithm"))?;
    let key = OaepPrivateDecryptingKey::new(PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(failed_key)?)
        .map_err(|_| KmsError::internal("RSA key setup failed"))?;
    if ciphertext.len() != key.key_size_bytes() {
        return Err(KmsError::invalid_ciphertext());
    }
    let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
    let n = key
        .decrypt(alg, ciphertext, &mut out, None)
        .map_err(|_| KmsError::invalid_ciphertext())?
        .len();
    out.truncate(n);
    Ok(out)
}

fn failed_key(_: aws_lc_rs::error::KeyRejected) -> KmsError {
    KmsError::internal("stored RSA key material is not valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public_of(pkcs8: &[u8]) -> Vec<u8> {
        let k = PrivateDecryptingKey::from_pkcs8(pkcs8).unwrap();
        let d: PublicKeyX509Der<'static> = k.public_key().as_der().unwrap();
        d.as_ref().to_vec()
    }

    #[test]
    fn rsa_2048_round_trip_and_limits() {
        let (private, public) = generate(KeySpec::Rsa2048).unwrap();
        assert_eq!(public_of(&private), public);
        for (alg, max) in [
            (EncryptionAlgorithmSpec::RsaesOaepSha1, 214),
            (EncryptionAlgorithmSpec::RsaesOaepSha256, 190),
        ] {
            assert_eq!(max_plaintext(KeySpec::Rsa2048, alg), max);
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
