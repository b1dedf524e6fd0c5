//! The multi-keyring: one generator and any number of children.
//!
//! On encrypt the generator makes the data key and wraps it, then every child
//! wraps the same key, so any one of them can later decrypt the message. On
//! decrypt the generator and then the children are tried in order until one
//! produces the data key.

use std::fmt;

use super::{DecryptionMaterials, EncryptionMaterials, Keyring};
use crate::error::{Error, Result};
use crate::format::edk::EncryptedDataKey;

/// A keyring combining an optional generator with child keyrings.
pub struct MultiKeyring {
    generator: Option<Box<dyn Keyring>>,
    children: Vec<Box<dyn Keyring>>,
}

impl fmt::Debug for MultiKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiKeyring")
            .field("generator", &self.generator.is_some())
            .field("children", &self.children.len())
            .finish()
    }
}

impl MultiKeyring {
    /// Builds a multi-keyring. Without a generator, encryption needs materials
    /// that already hold a data key (as when this keyring is itself a child).
    pub fn new(generator: Option<Box<dyn Keyring>>, children: Vec<Box<dyn Keyring>>) -> Result<Self> {
        if generator.is_none() && children.is_empty() {
            return Err(Error::Config(
                "a multi-keyring needs a generator or at least one child keyring".into(),
            ));
        }
        Ok(MultiKeyring { generator, children })
    }

    fn wrap_all(&self, materials: &mut EncryptionMaterials) -> Result<()> {
        match &self.generator {
            Some(_) if materials.plaintext_data_key.is_some() => {
                return Err(Error::Config(
                    "a multi-keyring with a generator cannot encrypt materials that already hold a data key"
                        .into(),
                ))
            }
            Some(g) => {
                g.on_encrypt(materials)?;
                if materials.plaintext_data_key.is_none() {
                    return Err(Error::Config(
                        "the multi-keyring's generator did not produce a data key".into(),
                    ));
                }
            }
            None if materials.plaintext_data_key.is_none() => {
                return Err(Error::Config(
                    "a multi-keyring without a generator needs a data key that is already generated".into(),
                ))
            }
            None => {}
        }
        for child in &self.children {
            child.on_encrypt(materials)?;
        }
        Ok(())
    }
}

impl Keyring for MultiKeyring {
    fn on_encrypt(&self, materials: &mut EncryptionMaterials) -> Result<()> {
        let edk_count = materials.encrypted_data_keys.len();
        let had_key = materials.plaintext_data_key.is_some();
        let r = self.wrap_all(materials);
        if r.is_err() {
            // Undo what the keyrings that did succeed added.
            materials.encrypted_data_keys.truncate(edk_count);
            if !had_key {
                materials.plaintext_data_key = None;
            }
        }
        r
    }

    fn on_decrypt(&self, materials: &mut DecryptionMaterials, edks: &[EncryptedDataKey]) -> Result<()> {
        if materials.plaintext_data_key.is_some() {
            return Ok(());
        }
        let mut errors = Vec::new();
        for (i, kr) in self.generator.iter().chain(&self.children).enumerate() {
            let role = if i == 0 && self.generator.is_some() {
                "generator".to_string()
            } else {
                format!("child {}", i + 1 - usize::from(self.generator.is_some()))
            };
            match kr.on_decrypt(materials, edks) {
                Ok(()) if materials.plaintext_data_key.is_some() => return Ok(()),
                Ok(()) => errors.push(format!("{role}: produced no data key")),
                Err(e) => errors.push(format!("{role}: {e}")),
            }
        }
        Err(Error::NoDataKey(format!(
            "no keyring of the multi-keyring could decrypt: {}",
            errors.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::rsa::RsaPadding;
    use crate::format::context::EncryptionContext;
    use crate::keyring::raw_aes::RawAesKeyring;
    use crate::keyring::raw_rsa::RawRsaKeyring;
    use crate::suite::AlgorithmSuite;

    const PRIVATE: &[u8] = include_bytes!("../../testdata/keys/rsa-2048-private.pem");
    const PUBLIC: &[u8] = include_bytes!("../../testdata/keys/rsa-2048-public.pem");

    fn aes(name: &str, byte: u8) -> Box<dyn Keyring> {
        Box::new(RawAesKeyring::new("ns", name, &[byte; 32]).unwrap())
    }

    fn rsa_public() -> Box<dyn Keyring> {
        Box::new(RawRsaKeyring::new("ns", "rsa", RsaPadding::OaepSha256, Some(PUBLIC), None).unwrap())
    }

    fn rsa_private() -> Box<dyn Keyring> {
        Box::new(RawRsaKeyring::new("ns", "rsa", RsaPadding::OaepSha256, None, Some(PRIVATE)).unwrap())
    }

    fn enc_materials() -> EncryptionMaterials {
        EncryptionMaterials {
            suite: AlgorithmSuite::DEFAULT,
            encryption_context: [("a".to_string(), "b".to_string())].into(),
            required_encryption_context_keys: Vec::new(),
            plaintext_data_key: None,
            encrypted_data_keys: Vec::new(),
        }
    }

    fn dec_materials(ec: &EncryptionContext) -> DecryptionMaterials {
        DecryptionMaterials {
            suite: AlgorithmSuite::DEFAULT,
            encryption_context: ec.clone(),
            required_encryption_context_keys: Vec::new(),
            plaintext_data_key: None,
        }
    }

    #[test]
    fn generate_then_wrap_and_decrypt_by_any_member() {
        let multi = MultiKeyring::new(Some(aes("gen", 1)), vec![rsa_public(), aes("child", 2)]).unwrap();
        let mut em = enc_materials();
        multi.on_encrypt(&mut em).unwrap();
        let key = em.plaintext_data_key.clone().unwrap();
        let infos: Vec<_> = em
            .encrypted_data_keys
            .iter()
            .map(|e| e.provider_info.clone())
            .collect();
        assert_eq!(infos.len(), 3);
        assert!(infos[0].starts_with(b"gen") && infos[0].len() == 23);
        assert_eq!(infos[1], b"rsa");
        assert!(infos[2].starts_with(b"child") && infos[2].len() == 25);

        for single in [aes("gen", 1), rsa_private(), aes("child", 2)] {
            let mut dm = dec_materials(&em.encryption_context);
            single.on_decrypt(&mut dm, &em.encrypted_data_keys).unwrap();
            assert_eq!(dm.plaintext_data_key.as_ref(), Some(&key));
        }
        // A multi-keyring whose only useful member is its last child.
        let dec = MultiKeyring::new(Some(aes("gen", 9)), vec![aes("nope", 1), rsa_private()]).unwrap();
        let mut dm = dec_materials(&em.encryption_context);
        dec.on_decrypt(&mut dm, &em.encrypted_data_keys).unwrap();
        assert_eq!(dm.plaintext_data_key.as_ref(), Some(&key));
        // Children only, no generator.
        let dec = MultiKeyring::new(None, vec![aes("child", 2)]).unwrap();
        let mut dm = dec_materials(&em.encryption_context);
        dec.on_decrypt(&mut dm, &em.encrypted_data_keys).unwrap();
        assert_eq!(dm.plaintext_data_key.as_ref(), Some(&key));
    }

    #[test]
    fn decrypt_failure_lists_every_member() {
        let mut em = enc_materials();
        aes("gen", 1).on_encrypt(&mut em).unwrap();
        let dec = MultiKeyring::new(Some(aes("gen", 7)), vec![aes("x", 1), rsa_public()]).unwrap();
        let mut dm = dec_materials(&em.encryption_context);
        let msg = match dec.on_decrypt(&mut dm, &em.encrypted_data_keys) {
            Err(Error::NoDataKey(m)) => m,
            other => panic!("expected NoDataKey, got {other:?}"),
        };
        assert!(dm.plaintext_data_key.is_none());
        assert!(msg.contains("generator: ") && msg.contains("child 1: ") && msg.contains("child 2: "));
        assert!(msg.contains("cannot decrypt"), "{msg}");
    }

    #[test]
    fn encrypt_rules() {
        assert!(matches!(MultiKeyring::new(None, vec![]), Err(Error::Config(_))));

        // No generator and no data key yet.
        let children_only = MultiKeyring::new(None, vec![aes("c", 1)]).unwrap();
        let mut em = enc_materials();
        assert!(matches!(children_only.on_encrypt(&mut em), Err(Error::Config(_))));
        assert!(em.encrypted_data_keys.is_empty());
        // ... but with a data key already there, the children wrap it.
        em.plaintext_data_key = Some(zeroize::Zeroizing::new(vec![4; 32]));
        children_only.on_encrypt(&mut em).unwrap();
        assert_eq!(em.encrypted_data_keys.len(), 1);
        assert_eq!(
            em.plaintext_data_key.as_ref().map(|k| &k[..]),
            Some(&[4u8; 32][..])
        );

        // A generator with a data key already present is refused.
        let with_gen = MultiKeyring::new(Some(aes("g", 1)), vec![]).unwrap();
        assert!(with_gen.on_encrypt(&mut em).is_err());
        assert_eq!(em.encrypted_data_keys.len(), 1);
    }

    /// A keyring that always fails, to check that a multi-keyring rolls back.
    struct Failing;
    impl Keyring for Failing {
        fn on_encrypt(&self, _: &mut EncryptionMaterials) -> Result<()> {
            Err(Error::Key("failing keyring".into()))
        }
        fn on_decrypt(&self, _: &mut DecryptionMaterials, _: &[EncryptedDataKey]) -> Result<()> {
            Err(Error::Key("failing keyring".into()))
        }
    }

    #[test]
    fn failing_child_leaves_materials_unchanged() {
        let multi = MultiKeyring::new(Some(aes("g", 1)), vec![aes("c", 2), Box::new(Failing)]).unwrap();
        let mut em = enc_materials();
        let err = multi.on_encrypt(&mut em).unwrap_err();
        assert!(matches!(err, Error::Key(_)));
        assert!(em.plaintext_data_key.is_none());
        assert!(em.encrypted_data_keys.is_empty());
    }
}
