//! The raw RSA keyring: wraps data keys with a local RSA key pair.
//!
//! Byte-compatible with the ESDK's raw RSA keyring (Python `RawMasterKey` with
//! an RSA wrapping key, Java `JceMasterKey` in asymmetric mode): provider id =
//! key namespace, provider info = the key name's bytes, ciphertext = the RSA
//! encryption of the data key (as long as the modulus). Unlike the AES keyring
//! there is no binding to the encryption context.

use std::fmt;

use super::raw_aes::{check_namespace, data_key_to_wrap};
use super::{DecryptionMaterials, EncryptionMaterials, Keyring};
pub use crate::crypto::rsa::RsaPadding;
use crate::crypto::rsa::{RsaKey, RsaPrivateKey, RsaPublicKey};
use crate::error::{Error, Result};
use crate::format::edk::EncryptedDataKey;

/// A keyring holding an RSA public key (to encrypt), a private key (to
/// decrypt), or both, with one padding scheme.
pub struct RawRsaKeyring {
    namespace: String,
    name: String,
    padding: RsaPadding,
    public: Option<RsaPublicKey>,
    private: Option<RsaPrivateKey>,
}

impl fmt::Debug for RawRsaKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawRsaKeyring")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("padding", &self.padding)
            .field("public", &self.public)
            .field("private", &self.private.is_some())
            .finish()
    }
}

impl RawRsaKeyring {
    /// Builds a keyring from its namespace (the EDK provider id), key name,
    /// padding, and at least one of a PEM SubjectPublicKeyInfo public key
    /// (`BEGIN PUBLIC KEY`) and a PEM PKCS#8 private key (`BEGIN PRIVATE KEY`).
    ///
    /// envelope's choice, unlike the ESDK: with only a private key, the
    /// keyring also encrypts, with the public key derived from it, because
    /// users expect a key pair's private half to be enough. If both are given
    /// they must belong to the same key pair.
    pub fn new(
        namespace: &str,
        name: &str,
        padding: RsaPadding,
        public_key_pem: Option<&[u8]>,
        private_key_pem: Option<&[u8]>,
    ) -> Result<Self> {
        let public = public_key_pem
            .map(|pem| RsaPublicKey::from_pem(pem, padding))
            .transpose()?;
        let private = private_key_pem
            .map(|pem| RsaPrivateKey::from_pem(pem, padding))
            .transpose()?;
        Self::with_keys(namespace, name, padding, public, private)
    }

    /// Builds a keyring from one RSA key file, private or public, in any of
    /// the encodings OpenSSL writes: PEM or DER, PKCS#8 or PKCS#1 private
    /// keys, SubjectPublicKeyInfo or PKCS#1 public keys. `file` names the
    /// file in errors (an EC key, an encrypted key, anything else).
    pub fn from_key_file(
        namespace: &str,
        name: &str,
        padding: RsaPadding,
        file: &str,
        bytes: &[u8],
    ) -> Result<Self> {
        match RsaKey::from_key_file(file, bytes, padding)? {
            RsaKey::Private(k) => Self::with_keys(namespace, name, padding, None, Some(k)),
            RsaKey::Public(k) => Self::with_keys(namespace, name, padding, Some(k), None),
        }
    }

    /// Whether this keyring holds a private key (it can decrypt), as opposed
    /// to a public key alone: a front end warns when such a key file is open
    /// to other users.
    pub fn has_private_key(&self) -> bool {
        self.private.is_some()
    }

    fn with_keys(
        namespace: &str,
        name: &str,
        padding: RsaPadding,
        public: Option<RsaPublicKey>,
        private: Option<RsaPrivateKey>,
    ) -> Result<Self> {
        check_namespace(namespace)?;
        if name.len() > u16::MAX as usize {
            return Err(Error::Config(
                "raw RSA key name is longer than 65535 bytes".into(),
            ));
        }
        if public.is_none() && private.is_none() {
            return Err(Error::Config(
                "a raw RSA keyring needs a public key, a private key, or both".into(),
            ));
        }
        if let (Some(public), Some(private)) = (&public, &private) {
            check_pair(public, private)?;
        }
        Ok(RawRsaKeyring {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            padding,
            public,
            private,
        })
    }

    fn describe(&self) -> String {
        format!(
            "raw RSA keyring (namespace '{}', key name '{}', padding {})",
            self.namespace, self.name, self.padding
        )
    }
}

/// Checks that a public and a private key form a pair by a round trip, so a
/// mismatch is reported when the keyring is built rather than as undecryptable
/// messages later.
fn check_pair(public: &RsaPublicKey, private: &RsaPrivateKey) -> Result<()> {
    let probe = [0x5a_u8; 16];
    let ok = private
        .decrypt(&public.encrypt(&probe)?)
        .is_some_and(|p| p[..] == probe);
    if ok {
        Ok(())
    } else {
        Err(Error::Key(
            "the RSA public and private keys do not belong to the same key pair".into(),
        ))
    }
}

impl Keyring for RawRsaKeyring {
    fn on_encrypt(&self, materials: &mut EncryptionMaterials) -> Result<()> {
        let public = match (&self.public, &self.private) {
            (Some(p), _) => p,
            (None, Some(private)) => private.public_key(),
            (None, None) => return Err(Error::Key(format!("{} has no key", self.describe()))),
        };
        let (data_key, generated) = data_key_to_wrap(materials)?;
        let ciphertext = public.encrypt(&data_key)?;
        materials.encrypted_data_keys.push(EncryptedDataKey {
            provider_id: self.namespace.clone(),
            provider_info: self.name.as_bytes().to_vec(),
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
        let Some(private) = &self.private else {
            return Err(Error::Key(format!(
                "{} has only a public key and cannot decrypt",
                self.describe()
            )));
        };
        let key_len = materials.suite.key_len;
        let mut matched = 0usize;
        let mut found = None;
        // Every matching EDK is tried, whatever the ones before gave: no exit
        // that depends on an unwrap's outcome, and a bad padding and a good
        // padding of the wrong length are one failure (see `unwrap_key`).
        // The message's EDK count bounds the work (`max_encrypted_data_keys`).
        for edk in edks {
            if edk.provider_id != self.namespace || edk.provider_info != self.name.as_bytes() {
                continue;
            }
            matched += 1;
            let key = private.unwrap_key(&edk.ciphertext, key_len);
            if found.is_none() {
                found = key;
            }
        }
        if let Some(key) = found {
            materials.plaintext_data_key = Some(key);
            return Ok(());
        }
        Err(Error::NoDataKey(if matched == 0 {
            format!(
                "{}: none of the {} encrypted data keys matches its namespace and key name",
                self.describe(),
                edks.len()
            )
        } else {
            format!(
                "{}: {matched} of the {} encrypted data keys match its namespace and key name \
                 but none decrypts (wrong key or padding)",
                self.describe(),
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

    const PRIVATE: &[u8] = include_bytes!("../../testdata/keys/rsa-2048-private.pem");
    const PUBLIC: &[u8] = include_bytes!("../../testdata/keys/rsa-2048-public.pem");
    const OTHER_PRIVATE: &[u8] = include_bytes!("../../testdata/keys/rsa-2048-other-private.pem");

    fn enc_materials(suite: &'static AlgorithmSuite) -> EncryptionMaterials {
        EncryptionMaterials {
            suite,
            encryption_context: EncryptionContext::new(),
            required_encryption_context_keys: Vec::new(),
            plaintext_data_key: None,
            encrypted_data_keys: Vec::new(),
        }
    }

    fn dec_materials(suite: &'static AlgorithmSuite) -> DecryptionMaterials {
        DecryptionMaterials {
            suite,
            encryption_context: EncryptionContext::new(),
            required_encryption_context_keys: Vec::new(),
            plaintext_data_key: None,
        }
    }

    fn keyring(p: RsaPadding, public: Option<&[u8]>, private: Option<&[u8]>) -> RawRsaKeyring {
        RawRsaKeyring::new("rsa-ns", "rsa-key", p, public, private).unwrap()
    }

    #[test]
    fn round_trip_every_padding_and_suite() {
        for p in RsaPadding::ALL {
            let enc = keyring(p, Some(PUBLIC), None);
            let dec = keyring(p, None, Some(PRIVATE));
            for suite in AlgorithmSuite::ALL {
                let mut em = enc_materials(suite);
                enc.on_encrypt(&mut em).unwrap();
                let key = em.plaintext_data_key.clone().unwrap();
                assert_eq!(key.len(), suite.key_len);
                let edk = &em.encrypted_data_keys[0];
                assert_eq!(edk.provider_id, "rsa-ns");
                assert_eq!(edk.provider_info, b"rsa-key");
                assert_eq!(edk.ciphertext.len(), 256);

                let mut dm = dec_materials(suite);
                dec.on_decrypt(&mut dm, &em.encrypted_data_keys).unwrap();
                assert_eq!(dm.plaintext_data_key, Some(key), "{p} {suite}");
            }
        }
    }

    #[test]
    fn private_key_alone_encrypts_and_decrypts() {
        let kr = keyring(RsaPadding::OaepSha1, None, Some(PRIVATE));
        let suite = AlgorithmSuite::DEFAULT;
        let mut em = enc_materials(suite);
        kr.on_encrypt(&mut em).unwrap();
        let mut dm = dec_materials(suite);
        kr.on_decrypt(&mut dm, &em.encrypted_data_keys).unwrap();
        assert_eq!(dm.plaintext_data_key, em.plaintext_data_key);
    }

    #[test]
    fn public_only_keyring_cannot_decrypt() {
        let kr = keyring(RsaPadding::Pkcs1, Some(PUBLIC), None);
        let mut em = enc_materials(AlgorithmSuite::DEFAULT);
        kr.on_encrypt(&mut em).unwrap();
        let mut dm = dec_materials(AlgorithmSuite::DEFAULT);
        assert!(matches!(
            kr.on_decrypt(&mut dm, &em.encrypted_data_keys),
            Err(Error::Key(_))
        ));
        assert!(dm.plaintext_data_key.is_none());
    }

    #[test]
    fn wraps_an_existing_data_key_and_fails_cleanly_on_bad_length() {
        let kr = keyring(RsaPadding::OaepSha256, Some(PUBLIC), Some(PRIVATE));
        let suite = &AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256;
        let mut em = enc_materials(suite);
        em.plaintext_data_key = Some(zeroize::Zeroizing::new(vec![3; 16]));
        kr.on_encrypt(&mut em).unwrap();
        assert_eq!(
            em.plaintext_data_key.as_ref().map(|k| &k[..]),
            Some(&[3u8; 16][..])
        );
        let mut dm = dec_materials(suite);
        kr.on_decrypt(&mut dm, &em.encrypted_data_keys).unwrap();
        assert_eq!(
            dm.plaintext_data_key.as_ref().map(|k| &k[..]),
            Some(&[3u8; 16][..])
        );

        em.plaintext_data_key = Some(zeroize::Zeroizing::new(vec![3; 32]));
        assert!(kr.on_encrypt(&mut em).is_err());
        assert_eq!(em.encrypted_data_keys.len(), 1);
    }

    fn expect_no_key(
        kr: &RawRsaKeyring,
        suite: &'static AlgorithmSuite,
        edks: &[EncryptedDataKey],
    ) -> String {
        let mut dm = dec_materials(suite);
        let r = kr.on_decrypt(&mut dm, edks);
        assert!(dm.plaintext_data_key.is_none());
        match r {
            Err(Error::NoDataKey(m)) => m,
            other => panic!("expected NoDataKey, got {other:?}"),
        }
    }

    /// A bad PKCS#1 v1.5 padding and a good padding around a key of the
    /// wrong length end the same way: the same error, no key, and a good EDK
    /// after either still opens.
    #[test]
    fn pkcs1_padding_failures_are_indistinguishable() {
        let suite = AlgorithmSuite::DEFAULT;
        let kr = keyring(RsaPadding::Pkcs1, Some(PUBLIC), Some(PRIVATE));
        let public = RsaPublicKey::from_pem(PUBLIC, RsaPadding::Pkcs1).unwrap();
        let edk = |ciphertext: Vec<u8>| EncryptedDataKey {
            provider_id: "rsa-ns".into(),
            provider_info: b"rsa-key".to_vec(),
            ciphertext,
        };
        // Below the modulus (first byte zero) but not a type-2 block.
        let mut bad_padding = vec![0x42u8; 256];
        bad_padding[0] = 0;
        let bad_padding = edk(bad_padding);
        assert!(RsaPrivateKey::from_pem(PRIVATE, RsaPadding::Pkcs1)
            .unwrap()
            .decrypt(&bad_padding.ciphertext)
            .is_none());
        let wrong_length = edk(public.encrypt(&[9u8; 16]).unwrap());
        assert_eq!(
            RsaPrivateKey::from_pem(PRIVATE, RsaPadding::Pkcs1)
                .unwrap()
                .decrypt(&wrong_length.ciphertext)
                .map(|k| k.len()),
            Some(16)
        );
        let a = expect_no_key(&kr, suite, std::slice::from_ref(&bad_padding));
        let b = expect_no_key(&kr, suite, std::slice::from_ref(&wrong_length));
        assert_eq!(a, b);
        assert_eq!(
            expect_no_key(&kr, suite, &[bad_padding.clone(), wrong_length.clone()]),
            expect_no_key(&kr, suite, &[wrong_length.clone(), bad_padding.clone()])
        );
        let mut em = enc_materials(suite);
        kr.on_encrypt(&mut em).unwrap();
        let good = em.encrypted_data_keys[0].clone();
        for edks in [
            [bad_padding.clone(), good.clone()],
            [wrong_length.clone(), good.clone()],
            [good.clone(), bad_padding.clone()],
            [good.clone(), wrong_length.clone()],
        ] {
            let mut dm = dec_materials(suite);
            kr.on_decrypt(&mut dm, &edks).unwrap();
            assert_eq!(dm.plaintext_data_key, em.plaintext_data_key);
        }
    }

    #[test]
    fn wrong_key_namespace_name_padding_or_length_fails_cleanly() {
        let suite = AlgorithmSuite::DEFAULT;
        let mut em = enc_materials(suite);
        keyring(RsaPadding::OaepSha256, Some(PUBLIC), None)
            .on_encrypt(&mut em)
            .unwrap();
        let edks = em.encrypted_data_keys;

        let other = keyring(RsaPadding::OaepSha256, None, Some(OTHER_PRIVATE));
        assert!(expect_no_key(&other, suite, &edks).contains("1 of the 1"));
        let padding = keyring(RsaPadding::OaepSha512, None, Some(PRIVATE));
        expect_no_key(&padding, suite, &edks);
        for (ns, name) in [
            ("rsa-ns2", "rsa-key"),
            ("rsa-ns", "rsa-key2"),
            ("rsa-ns", "rsa-ke"),
        ] {
            let kr = RawRsaKeyring::new(ns, name, RsaPadding::OaepSha256, None, Some(PRIVATE)).unwrap();
            assert!(expect_no_key(&kr, suite, &edks).contains("none of the 1"));
        }
        // The key decrypts but is the wrong length for a 16-byte suite.
        let right = keyring(RsaPadding::OaepSha256, None, Some(PRIVATE));
        expect_no_key(&right, &AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256, &edks);
        let mut tampered = edks[0].clone();
        tampered.ciphertext[0] ^= 1;
        expect_no_key(&right, suite, &[tampered]);
        expect_no_key(&right, suite, &[]);
    }

    #[test]
    fn bad_configuration_is_refused() {
        let p = RsaPadding::Pkcs1;
        assert!(matches!(
            RawRsaKeyring::new("ns", "n", p, None, None),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            RawRsaKeyring::new("aws-kms-rsa", "n", p, Some(PUBLIC), None),
            Err(Error::Config(_))
        ));
        // Keys swapped between the slots, and a public key from another pair.
        assert!(matches!(
            RawRsaKeyring::new("ns", "n", p, Some(PRIVATE), None),
            Err(Error::Key(_))
        ));
        assert!(matches!(
            RawRsaKeyring::new("ns", "n", p, None, Some(PUBLIC)),
            Err(Error::Key(_))
        ));
        let mismatch = RawRsaKeyring::new("ns", "n", p, Some(PUBLIC), Some(OTHER_PRIVATE));
        assert!(matches!(mismatch, Err(Error::Key(m)) if m.contains("same key pair")));
    }
}
