//! Whole messages through the KMS keyring: every suite round-trips under a
//! KMS-core key, the EDK is written as the official KMS keyring writes it, and
//! a message wrapped under a KMS-core key and a raw AES key opens with either alone.

use std::sync::Arc;

use envelope::format::context::EncryptionContext;
use envelope::keyring::kms::{KmsKeyring, PROVIDER_ID};
use envelope::keyring::multi::MultiKeyring;
use envelope::keyring::raw_aes::RawAesKeyring;
use envelope::keyring::Keyring;
use envelope::kms::{CreateAliasRequest, CreateKeyRequest, DisableKeyRequest, Kms, KmsConfig, KmsCore};
use envelope::stream::{decrypt, encrypt, DecryptOptions, EncryptOptions};
use envelope::{AlgorithmSuite, CommitmentPolicy, Error, ErrorKind};

struct Env {
    _dir: tempfile::TempDir,
    kms: Arc<KmsCore>,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let kms = Arc::new(KmsCore::open(KmsConfig::new(dir.path())).unwrap());
        Env { _dir: dir, kms }
    }

    fn dyn_kms(&self) -> Arc<dyn Kms> {
        self.kms.clone()
    }

    fn new_key_arn(&self) -> String {
        self.kms
            .create_key(&CreateKeyRequest::default())
            .unwrap()
            .key_metadata
            .arn
    }

    fn strict(&self, id: &str) -> KmsKeyring {
        KmsKeyring::strict(self.dyn_kms(), vec![id.to_owned()]).unwrap()
    }

    fn discovery(&self) -> KmsKeyring {
        KmsKeyring::discovery(self.dyn_kms(), None).unwrap()
    }
}

fn opts(suite: &'static AlgorithmSuite) -> EncryptOptions {
    let mut ec = EncryptionContext::new();
    ec.insert("bucket".into(), "backups".into());
    EncryptOptions {
        suite: Some(suite),
        frame_length: 1000,
        commitment_policy: if suite.is_committing() {
            CommitmentPolicy::RequireEncryptRequireDecrypt
        } else {
            CommitmentPolicy::ForbidEncryptAllowDecrypt
        },
        encryption_context: ec,
        ..EncryptOptions::default()
    }
}

fn allow_all() -> DecryptOptions {
    DecryptOptions {
        commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
        ..DecryptOptions::default()
    }
}

#[test]
fn every_suite_round_trips_under_a_kms_core_key() {
    let env = Env::new();
    let arn = env.new_key_arn();
    let plaintext: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    for suite in AlgorithmSuite::ALL {
        let ct = encrypt(&env.strict(&arn), &opts(suite), &plaintext).unwrap();
        // Strict by ARN and discovery both open it.
        for k in [&env.strict(&arn) as &dyn Keyring, &env.discovery()] {
            let d = decrypt(k, &allow_all(), &ct).unwrap();
            assert_eq!(d.plaintext, plaintext, "{suite}");
            let edk = &d.header.encrypted_data_keys[0];
            assert_eq!(edk.provider_id, PROVIDER_ID);
            assert_eq!(edk.provider_info, arn.as_bytes());
        }
    }
}

#[test]
fn an_alias_encrypts_and_the_edk_names_the_key_arn() {
    let env = Env::new();
    let arn = env.new_key_arn();
    env.kms
        .create_alias(&CreateAliasRequest {
            alias_name: "alias/app".into(),
            target_key_id: arn.clone(),
        })
        .unwrap();
    let ct = encrypt(&env.strict("alias/app"), &opts(AlgorithmSuite::DEFAULT), b"hi").unwrap();
    let d = decrypt(&env.discovery(), &allow_all(), &ct).unwrap();
    assert_eq!(d.header.encrypted_data_keys[0].provider_info, arn.as_bytes());
}

#[test]
fn kms_plus_raw_aes_opens_with_either_alone() {
    let env = Env::new();
    let arn = env.new_key_arn();
    let raw = || RawAesKeyring::new("backup-ns", "offline-key", &[0x42; 32]).unwrap();
    let multi = MultiKeyring::new(Some(Box::new(env.strict(&arn))), vec![Box::new(raw())]).unwrap();
    let ct = encrypt(&multi, &opts(AlgorithmSuite::DEFAULT), b"two ways in").unwrap();
    assert_eq!(
        decrypt(&env.strict(&arn), &allow_all(), &ct).unwrap().plaintext,
        b"two ways in"
    );
    assert_eq!(
        decrypt(&raw(), &allow_all(), &ct).unwrap().plaintext,
        b"two ways in"
    );
    assert_eq!(
        decrypt(&env.discovery(), &allow_all(), &ct).unwrap().plaintext,
        b"two ways in"
    );
    // With the KMS key disabled, the raw key still opens it; the KMS path fails as a key-service error.
    env.kms
        .disable_key(&DisableKeyRequest { key_id: arn.clone() })
        .unwrap();
    assert_eq!(
        decrypt(&raw(), &allow_all(), &ct).unwrap().plaintext,
        b"two ways in"
    );
    let e = decrypt(&env.strict(&arn), &allow_all(), &ct).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyService, "{e}");
}

#[test]
fn a_different_key_store_cannot_open_it() {
    let a = Env::new();
    let b = Env::new();
    let arn = a.new_key_arn();
    let ct = encrypt(&a.strict(&arn), &opts(AlgorithmSuite::DEFAULT), b"x").unwrap();
    let e = decrypt(&b.discovery(), &allow_all(), &ct).unwrap_err();
    assert!(matches!(e, Error::Kms(_) | Error::NoDataKey(_)), "{e}");
}
