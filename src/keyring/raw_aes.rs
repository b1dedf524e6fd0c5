//! The raw AES keyring: wraps data keys with a local AES-GCM key.
//!
//! Byte-compatible with the ESDK's raw AES keyring (Python `RawMasterKey`,
//! Java `JceMasterKey` in symmetric mode):
//!
//! * provider id = key namespace;
//! * provider info = key name ‖ tag length in bits (u32 BE, 128) ‖ IV length (u32 BE, 12) ‖ IV;
//! * ciphertext = AES-GCM(wrapping key, IV, AAD = serialized encryption context)(data key) ‖ tag.
//!
//! The AAD is the *full* context in the materials, so the EDK is bound to the
//! required-only pairs and `aws-crypto-public-key` as well as the stored pairs.

use std::fmt;

use super::{DecryptionMaterials, EncryptionMaterials, Keyring};
use crate::crypto::aead::AesGcm;
use crate::crypto::{fill_random, random_secret, Secret};
use crate::error::{Error, Result};
use crate::format::context;
use crate::format::edk::EncryptedDataKey;
use crate::suite::{IV_LEN, TAG_LEN};
use zeroize::Zeroizing;

/// Tag length field of the provider info, in bits.
const TAG_LEN_BITS: u32 = (TAG_LEN * 8) as u32;
/// Bytes of provider info after the key name: tag length, IV length, IV.
const INFO_SUFFIX_LEN: usize = 4 + 4 + IV_LEN;

/// A keyring holding one AES-128/192/256 wrapping key.
///
/// Only the aws-lc-rs key schedule is kept (wiped by aws-lc-rs on drop); the
/// caller's key bytes are not copied.
pub struct RawAesKeyring {
    namespace: String,
    name: String,
    key: AesGcm,
}

impl fmt::Debug for RawAesKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawAesKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl RawAesKeyring {
    /// Builds a keyring from its namespace (the EDK provider id), key name and
    /// a 16, 24 or 32-byte wrapping key.
    pub fn new(namespace: &str, name: &str, key: &[u8]) -> Result<Self> {
        check_namespace(namespace)?;
        if name.len() + INFO_SUFFIX_LEN > u16::MAX as usize {
            return Err(Error::Config(format!(
                "raw AES key name is {} bytes; at most {} fit in the provider info",
                name.len(),
                u16::MAX as usize - INFO_SUFFIX_LEN
            )));
        }
        Ok(RawAesKeyring {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            key: AesGcm::new(key)?,
        })
    }

    /// Returns the IV if `edk` has this keyring's provider id and info layout
    /// and a ciphertext of the right length for a `key_len`-byte data key.
    fn match_edk(&self, edk: &EncryptedDataKey, key_len: usize) -> Option<[u8; IV_LEN]> {
        if edk.provider_id != self.namespace || edk.ciphertext.len() != key_len + TAG_LEN {
            return None;
        }
        let rest = edk.provider_info.strip_prefix(self.name.as_bytes())?;
        if rest.len() != INFO_SUFFIX_LEN
            || rest[..4] != TAG_LEN_BITS.to_be_bytes()
            || rest[4..8] != (IV_LEN as u32).to_be_bytes()
        {
            return None;
        }
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&rest[8..]);
        Some(iv)
    }
}

/// Refuses provider ids reserved for AWS KMS keyrings, as the ESDK does.
pub(crate) fn check_namespace(namespace: &str) -> Result<()> {
    if namespace.starts_with("aws-kms") {
        return Err(Error::Config(format!(
            "key namespace '{namespace}' is reserved for AWS KMS keyrings"
        )));
    }
    if namespace.len() > u16::MAX as usize {
        return Err(Error::Config("key namespace is longer than 65535 bytes".into()));
    }
    Ok(())
}

/// The data key a raw keyring should wrap: a copy of the one in the materials
/// (checked against the suite's key length), or a fresh random one, flagged
/// `true`, that the caller stores only once its wrapping has succeeded, so
/// that a failed keyring leaves the materials unchanged.
pub(crate) fn data_key_to_wrap(materials: &EncryptionMaterials) -> Result<(Secret, bool)> {
    let key_len = materials.suite.key_len;
    match &materials.plaintext_data_key {
        Some(k) if k.len() == key_len => Ok((Zeroizing::new(k.to_vec()), false)),
        Some(k) => Err(Error::Key(format!(
            "the data key is {} bytes but suite {} needs {key_len}",
            k.len(),
            materials.suite
        ))),
        None => Ok((random_secret(key_len)?, true)),
    }
}

impl Keyring for RawAesKeyring {
    fn on_encrypt(&self, materials: &mut EncryptionMaterials) -> Result<()> {
        let (data_key, generated) = data_key_to_wrap(materials)?;
        let aad = context::serialize(&materials.encryption_context)?;

        let mut iv = [0u8; IV_LEN];
        fill_random(&mut iv)?;
        // Zeroizing: the buffer holds the plaintext key until sealed, and would still if sealing failed.
        let mut buf = Zeroizing::new(Vec::with_capacity(data_key.len() + TAG_LEN));
        buf.extend_from_slice(&data_key);
        let tag = self.key.seal(&iv, &aad, &mut buf)?;
        buf.extend_from_slice(&tag);
        let ciphertext = std::mem::take(&mut *buf);

        let mut provider_info = Vec::with_capacity(self.name.len() + INFO_SUFFIX_LEN);
        provider_info.extend_from_slice(self.name.as_bytes());
        provider_info.extend_from_slice(&TAG_LEN_BITS.to_be_bytes());
        provider_info.extend_from_slice(&(IV_LEN as u32).to_be_bytes());
        provider_info.extend_from_slice(&iv);

        materials.encrypted_data_keys.push(EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info,
            ciphertext,
        });
        if generated {
            materials.plaintext_data_key = Some(data_key);
        }
        Ok(())
    }

    fn on_decrypt(&self, materials: &mut DecryptionMaterials, edks: &[EncryptedDataKey]) -> Result<()> {
        if materials.plaintext_data_key.is_some() {
            return Ok(());
        }
        let key_len = materials.suite.key_len;
        let aad = context::serialize(&materials.encryption_context)?;
        let mut matched = 0usize;
        for edk in edks {
            let Some(iv) = self.match_edk(edk, key_len) else {
                continue;
            };
            matched += 1;
            let mut buf = Zeroizing::new(edk.ciphertext.clone());
            if let Some(plain) = self.key.open(&iv, &aad, &mut buf) {
                if plain.len() == key_len {
                    materials.plaintext_data_key = Some(Zeroizing::new(plain.to_vec()));
                    return Ok(());
                }
            }
        }
        Err(Error::NoDataKey(if matched == 0 {
            format!(
                "raw AES keyring (namespace '{}', key name '{}'): none of the {} encrypted data keys \
                 has its namespace, key name and wrapped-key layout",
                self.namespace,
                self.name,
                edks.len()
            )
        } else {
            format!(
                "raw AES keyring (namespace '{}', key name '{}'): {matched} of the {} encrypted data keys \
                 are addressed to it but none decrypts (wrong key or encryption context)",
                self.namespace,
                self.name,
                edks.len()
            )
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::context::EncryptionContext;
    use crate::suite::AlgorithmSuite;

    fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn enc_materials(suite: &'static AlgorithmSuite, ec: EncryptionContext) -> EncryptionMaterials {
        EncryptionMaterials {
            suite,
            encryption_context: ec,
            required_encryption_context_keys: Vec::new(),
            plaintext_data_key: None,
            encrypted_data_keys: Vec::new(),
        }
    }

    fn dec_materials(suite: &'static AlgorithmSuite, ec: EncryptionContext) -> DecryptionMaterials {
        DecryptionMaterials {
            suite,
            encryption_context: ec,
            required_encryption_context_keys: Vec::new(),
            plaintext_data_key: None,
        }
    }

    fn keyring(len: usize) -> RawAesKeyring {
        RawAesKeyring::new("my-namespace", "my-key", &vec![0x42; len]).unwrap()
    }

    #[test]
    fn round_trip_every_wrapping_key_and_suite() {
        let ec = ctx(&[("purpose", "test"), ("aws-crypto-public-key", "AAAA")]);
        for wrap_len in [16, 24, 32] {
            let kr = keyring(wrap_len);
            for suite in AlgorithmSuite::ALL {
                let mut em = enc_materials(suite, ec.clone());
                kr.on_encrypt(&mut em).unwrap();
                let key = em.plaintext_data_key.clone().unwrap();
                assert_eq!(key.len(), suite.key_len);
                assert_eq!(em.encrypted_data_keys.len(), 1);
                assert_eq!(em.encrypted_data_keys[0].ciphertext.len(), suite.key_len + 16);

                let mut dm = dec_materials(suite, ec.clone());
                kr.on_decrypt(&mut dm, &em.encrypted_data_keys).unwrap();
                assert_eq!(
                    dm.plaintext_data_key.as_ref().map(|k| &k[..]),
                    Some(&key[..]),
                    "{suite} / {wrap_len}"
                );
            }
        }
    }

    #[test]
    fn provider_info_and_ciphertext_layout() {
        let kr = keyring(32);
        let mut em = enc_materials(
            &AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
            ctx(&[("a", "b")]),
        );
        kr.on_encrypt(&mut em).unwrap();
        let edk = &em.encrypted_data_keys[0];
        assert_eq!(edk.provider_id, "my-namespace");
        let info = &edk.provider_info;
        assert_eq!(info.len(), "my-key".len() + 20);
        assert_eq!(&info[..6], b"my-key");
        assert_eq!(&info[6..14], &[0, 0, 0, 0x80, 0, 0, 0, 0x0c]);

        // Re-derive the ciphertext independently from the IV in the info.
        let iv: [u8; 12] = info[14..].try_into().unwrap();
        let mut expect = em.plaintext_data_key.as_ref().unwrap().to_vec();
        let aad = [0, 1, 0, 1, b'a', 0, 1, b'b'];
        let tag = AesGcm::new(&[0x42; 32])
            .unwrap()
            .seal(&iv, &aad, &mut expect)
            .unwrap();
        expect.extend_from_slice(&tag);
        assert_eq!(edk.ciphertext, expect);
    }

    #[test]
    fn fresh_iv_and_key_each_time() {
        let kr = keyring(16);
        let suite = &AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256;
        let mut a = enc_materials(suite, EncryptionContext::new());
        let mut b = enc_materials(suite, EncryptionContext::new());
        kr.on_encrypt(&mut a).unwrap();
        kr.on_encrypt(&mut b).unwrap();
        assert_ne!(a.plaintext_data_key, b.plaintext_data_key);
        assert_ne!(
            a.encrypted_data_keys[0].provider_info,
            b.encrypted_data_keys[0].provider_info
        );
    }

    #[test]
    fn wraps_an_existing_data_key() {
        let kr = keyring(24);
        let suite = &AlgorithmSuite::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384;
        let mut em = enc_materials(suite, EncryptionContext::new());
        em.plaintext_data_key = Some(Zeroizing::new(vec![9; 24]));
        kr.on_encrypt(&mut em).unwrap();
        assert_eq!(
            em.plaintext_data_key.as_ref().map(|k| &k[..]),
            Some(&[9u8; 24][..])
        );
        let mut dm = dec_materials(suite, EncryptionContext::new());
        kr.on_decrypt(&mut dm, &em.encrypted_data_keys).unwrap();
        assert_eq!(
            dm.plaintext_data_key.as_ref().map(|k| &k[..]),
            Some(&[9u8; 24][..])
        );

        // A data key of the wrong length is refused and nothing is appended.
        em.plaintext_data_key = Some(Zeroizing::new(vec![9; 16]));
        assert!(matches!(kr.on_encrypt(&mut em), Err(Error::Key(_))));
        assert_eq!(em.encrypted_data_keys.len(), 1);
    }

    fn assert_decrypt_fails(kr: &RawAesKeyring, ec: EncryptionContext, edks: &[EncryptedDataKey]) -> String {
        let mut dm = dec_materials(&AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY, ec.clone());
        let err = kr.on_decrypt(&mut dm, edks).unwrap_err();
        assert!(dm.plaintext_data_key.is_none());
        assert_eq!(dm.encryption_context, ec);
        match err {
            Error::NoDataKey(m) => m,
            e => panic!("expected NoDataKey, got {e:?}"),
        }
    }

    #[test]
    fn wrong_key_namespace_name_or_context_fails_cleanly() {
        let ec = ctx(&[("k", "v")]);
        let mut em = enc_materials(&AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY, ec.clone());
        keyring(32).on_encrypt(&mut em).unwrap();
        let edks = em.encrypted_data_keys;

        let other_key = RawAesKeyring::new("my-namespace", "my-key", &[0x43; 32]).unwrap();
        assert!(assert_decrypt_fails(&other_key, ec.clone(), &edks).contains("1 of the 1"));
        // Same bytes, different size: the AES-128 key cannot open it either.
        let short = RawAesKeyring::new("my-namespace", "my-key", &[0x42; 16]).unwrap();
        assert_decrypt_fails(&short, ec.clone(), &edks);
        let other_ns = RawAesKeyring::new("other", "my-key", &[0x42; 32]).unwrap();
        assert!(assert_decrypt_fails(&other_ns, ec.clone(), &edks).contains("none of the 1"));
        let other_name = RawAesKeyring::new("my-namespace", "my-key2", &[0x42; 32]).unwrap();
        assert!(assert_decrypt_fails(&other_name, ec.clone(), &edks).contains("none of the 1"));
        let prefix_name = RawAesKeyring::new("my-namespace", "my-ke", &[0x42; 32]).unwrap();
        assert_decrypt_fails(&prefix_name, ec.clone(), &edks);
        assert_decrypt_fails(&keyring(32), ctx(&[("k", "w")]), &edks);
        assert_decrypt_fails(&keyring(32), EncryptionContext::new(), &edks);
        assert_decrypt_fails(&keyring(32), ec.clone(), &[]);

        // Tampered fields.
        let tamper = |f: &dyn Fn(&mut EncryptedDataKey)| {
            let mut e = edks[0].clone();
            f(&mut e);
            assert_decrypt_fails(&keyring(32), ec.clone(), &[e]);
        };
        tamper(&|e| e.ciphertext[0] ^= 1);
        tamper(&|e| e.ciphertext.push(0));
        tamper(&|e| e.ciphertext.truncate(40));
        tamper(&|e| e.provider_info[9] = 0x60); // tag length 96 bits
        tamper(&|e| e.provider_info[13] = 0x10); // IV length 16
        tamper(&|e| e.provider_info.push(0));
        tamper(&|e| e.provider_info[19] ^= 1); // IV
    }

    #[test]
    fn first_matching_edk_that_opens_wins() {
        let ec = EncryptionContext::new();
        let suite = &AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
        let mut em = enc_materials(suite, ec.clone());
        keyring(32).on_encrypt(&mut em).unwrap();
        let good = em.encrypted_data_keys[0].clone();
        let mut broken = good.clone();
        broken.ciphertext[5] ^= 0x80;
        let foreign = EncryptedDataKey {
            provider_id: "aws-kms".into(),
            provider_info: b"arn".to_vec(),
            ciphertext: vec![1; 10],
        };
        let mut dm = dec_materials(suite, ec);
        keyring(32).on_decrypt(&mut dm, &[foreign, broken, good]).unwrap();
        assert_eq!(dm.plaintext_data_key, em.plaintext_data_key);

        // A key already present is left alone.
        let before = dm.plaintext_data_key.clone();
        keyring(32).on_decrypt(&mut dm, &[]).unwrap();
        assert_eq!(dm.plaintext_data_key, before);
    }

    #[test]
    fn bad_configuration_is_refused() {
        for len in [0, 15, 17, 31, 33, 64] {
            assert!(matches!(
                RawAesKeyring::new("ns", "n", &vec![0; len]),
                Err(Error::Key(_))
            ));
        }
        assert!(matches!(
            RawAesKeyring::new("aws-kms", "n", &[0; 32]),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            RawAesKeyring::new("ns", &"n".repeat(65516), &[0; 32]),
            Err(Error::Config(_))
        ));
        assert!(RawAesKeyring::new("ns", &"n".repeat(65515), &[0; 32]).is_ok());
    }
}
