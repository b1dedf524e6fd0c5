//! The KMS keyring over the KMS core: strict and discovery, on the Keyring
//! trait directly (EDK format, context binding, failure leaves materials as they were),
//! and whole messages through it (every suite; KMS + raw AES opens with either alone).

use envelope::format::EncryptedDataKey;
use envelope::keyring::kms::{DiscoveryFilter, KmsKeyring, PROVIDER_ID};
use envelope::keyring::multi::MultiKeyring;
use envelope::keyring::raw_aes::RawAesKeyring;
use envelope::keyring::{EncryptionMaterials, Keyring};
use envelope::kms::*;
use envelope::stream::{decrypt, encrypt, EncryptOptions};
use envelope::Error;
use envelope::{AlgorithmSuite, EncryptionContext, ErrorKind};
use zeroize::Zeroizing;

use crate::support::fixtures::{allow_all, dec_materials, encrypt_options};
use crate::support::kms::Env;

fn context() -> EncryptionContext {
    [("purpose", "test"), ("aws-crypto-public-key", "AAAA")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn enc_materials(suite: &'static AlgorithmSuite) -> EncryptionMaterials {
    crate::support::fixtures::enc_materials(suite, context())
}

fn decrypt_with(
    k: &dyn Keyring,
    suite: &'static AlgorithmSuite,
    edks: &[EncryptedDataKey],
) -> Result<Vec<u8>, Error> {
    let mut m = dec_materials(suite, context());
    k.on_decrypt(&mut m, edks)?;
    Ok(m.plaintext_data_key
        .expect("keyring returned Ok without a data key")
        .to_vec())
}

#[test]
fn strict_round_trip_for_every_suite_key_length() {
    let env = Env::new();
    let k = env.key();
    env.kms
        .create_alias(&CreateAliasRequest {
            alias_name: "alias/ring".into(),
            target_key_id: k.key_id.clone(),
        })
        .unwrap();
    // Encrypting through an alias still records the key ARN.
    let encryptor = env.strict(&["alias/ring"]);
    let decryptor = env.strict(&[&k.arn]);
    for suite in AlgorithmSuite::ALL {
        let mut m = enc_materials(suite);
        encryptor.on_encrypt(&mut m).unwrap();
        let data_key = m.plaintext_data_key.clone().unwrap();
        assert_eq!(data_key.len(), suite.key_len);
        assert_eq!(m.encrypted_data_keys.len(), 1);
        let edk = &m.encrypted_data_keys[0];
        assert_eq!(edk.provider_id, PROVIDER_ID);
        assert_eq!(edk.provider_id, "aws-kms");
        assert_eq!(edk.provider_info, k.arn.as_bytes());
        // The EDK ciphertext is the KMS blob, bound to the full context.
        let d = env
            .kms
            .decrypt(&DecryptRequest {
                ciphertext_blob: edk.ciphertext.clone(),
                encryption_context: context(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(d.plaintext, data_key);
        assert_eq!(
            decrypt_with(&decryptor, suite, &m.encrypted_data_keys).unwrap(),
            data_key.to_vec()
        );
    }
}

#[test]
fn strict_with_several_keys_wraps_for_each() {
    let env = Env::new();
    let (a, b) = (env.key(), env.key());
    let suite = AlgorithmSuite::DEFAULT;
    let mut m = enc_materials(suite);
    env.strict(&[&a.arn, &b.key_id]).on_encrypt(&mut m).unwrap();
    let dk = m.plaintext_data_key.clone().unwrap().to_vec();
    let infos: Vec<&[u8]> = m
        .encrypted_data_keys
        .iter()
        .map(|e| &e.provider_info[..])
        .collect();
    assert_eq!(infos, [a.arn.as_bytes(), b.arn.as_bytes()]);
    assert_eq!(
        decrypt_with(&env.strict(&[&a.arn]), suite, &m.encrypted_data_keys).unwrap(),
        dk
    );
    assert_eq!(
        decrypt_with(&env.strict(&[&b.arn]), suite, &m.encrypted_data_keys).unwrap(),
        dk
    );
    // Only b's EDK present: a keyring for a and b still finds it.
    let only_b = &m.encrypted_data_keys[1..];
    assert_eq!(
        decrypt_with(&env.strict(&[&a.arn, &b.arn]), suite, only_b).unwrap(),
        dk
    );
}

#[test]
fn existing_data_key_is_encrypted_not_regenerated() {
    let env = Env::new();
    let k = env.key();
    let suite = AlgorithmSuite::DEFAULT;
    let mut m = enc_materials(suite);
    m.plaintext_data_key = Some(Zeroizing::new(vec![9u8; suite.key_len]));
    m.encrypted_data_keys.push(EncryptedDataKey {
        provider_id: "raw".into(),
        provider_info: b"other keyring".to_vec(),
        ciphertext: vec![1, 2, 3],
    });
    env.strict(&[&k.arn]).on_encrypt(&mut m).unwrap();
    assert_eq!(
        &m.plaintext_data_key.as_ref().unwrap()[..],
        &vec![9u8; suite.key_len][..]
    );
    assert_eq!(m.encrypted_data_keys.len(), 2);
    assert_eq!(
        decrypt_with(&env.strict(&[&k.arn]), suite, &m.encrypted_data_keys).unwrap(),
        vec![9u8; suite.key_len]
    );
}

#[test]
fn strict_matching_is_exact_and_context_bound() {
    let env = Env::new();
    let k = env.key();
    let suite = AlgorithmSuite::DEFAULT;
    let mut m = enc_materials(suite);
    env.strict(&[&k.key_id]).on_encrypt(&mut m).unwrap();
    // Configured by key id or alias: no EDK matches (provider info is the ARN).
    let e = decrypt_with(&env.strict(&[&k.key_id]), suite, &m.encrypted_data_keys).unwrap_err();
    assert!(matches!(e, Error::NoDataKey(_)), "{e}");
    // Wrong context: the KMS refuses; the materials stay without a key.
    let mut wrong = dec_materials(suite, EncryptionContext::new());
    let e = env
        .strict(&[&k.arn])
        .on_decrypt(&mut wrong, &m.encrypted_data_keys)
        .unwrap_err();
    assert!(
        matches!(&e, Error::Kms(k) if k.kind == KmsErrorKind::InvalidCiphertextException),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Integrity);
    assert!(wrong.plaintext_data_key.is_none());
    // A data key of the wrong length for the suite is refused.
    let short = AlgorithmSuite::ALL
        .iter()
        .find(|s| s.key_len != suite.key_len)
        .unwrap();
    let e = decrypt_with(&env.strict(&[&k.arn]), short, &m.encrypted_data_keys).unwrap_err();
    assert!(e.to_string().contains("bytes"), "{e}");
    // Already holding a data key: nothing to do.
    let mut done = dec_materials(suite, context());
    done.plaintext_data_key = Some(Zeroizing::new(vec![1; 32]));
    env.strict(&[&k.arn]).on_decrypt(&mut done, &[]).unwrap();
    assert_eq!(&done.plaintext_data_key.unwrap()[..], &[1; 32][..]);
}

#[test]
fn key_service_errors_keep_their_kind() {
    let env = Env::new();
    let k = env.key();
    let suite = AlgorithmSuite::DEFAULT;
    let mut m = enc_materials(suite);
    env.strict(&[&k.arn]).on_encrypt(&mut m).unwrap();
    env.kms
        .disable_key(&KeyIdRequest {
            key_id: k.key_id.clone(),
        })
        .unwrap();
    let e = decrypt_with(&env.strict(&[&k.arn]), suite, &m.encrypted_data_keys).unwrap_err();
    assert!(
        matches!(&e, Error::Kms(k) if k.kind == KmsErrorKind::DisabledException),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::KeyService);
    // Encryption under a disabled key fails and leaves the materials untouched,
    // even when an earlier key of the keyring already succeeded.
    let good = env.key();
    let mut m = enc_materials(suite);
    let e = env.strict(&[&good.arn, &k.arn]).on_encrypt(&mut m).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyService);
    assert!(m.plaintext_data_key.is_none());
    assert!(m.encrypted_data_keys.is_empty());
}

#[test]
fn discovery_decrypts_what_strict_wrote() {
    let env = Env::new();
    let (a, b) = (env.key(), env.key());
    let suite = AlgorithmSuite::DEFAULT;
    let mut m = enc_materials(suite);
    env.strict(&[&a.arn, &b.arn]).on_encrypt(&mut m).unwrap();
    let dk = m.plaintext_data_key.clone().unwrap().to_vec();
    // Multi-keyring style: other providers' EDKs first, then the KMS ones.
    let mut edks = vec![EncryptedDataKey {
        provider_id: "raw-aes-namespace".into(),
        provider_info: b"name".to_vec(),
        ciphertext: vec![0; 40],
    }];
    edks.extend(m.encrypted_data_keys.iter().cloned());

    let discovery = KmsKeyring::discovery(env.dyn_kms(), None).unwrap();
    assert_eq!(decrypt_with(&discovery, suite, &edks).unwrap(), dk);
    // b's EDK alone, after a is disabled: discovery moves on to the next EDK.
    env.kms
        .disable_key(&KeyIdRequest {
            key_id: a.key_id.clone(),
        })
        .unwrap();
    assert_eq!(decrypt_with(&discovery, suite, &edks).unwrap(), dk);
    env.kms
        .disable_key(&KeyIdRequest {
            key_id: b.key_id.clone(),
        })
        .unwrap();
    let e = decrypt_with(&discovery, suite, &edks).unwrap_err();
    assert!(
        matches!(&e, Error::NoDataKey(msg) if msg.contains("DisabledException")),
        "{e}"
    );
    env.kms
        .enable_key(&KeyIdRequest {
            key_id: a.key_id.clone(),
        })
        .unwrap();

    let filter = |partition: &str, accounts: &[&str]| {
        KmsKeyring::discovery(
            env.dyn_kms(),
            Some(DiscoveryFilter {
                partition: partition.into(),
                account_ids: accounts.iter().map(|s| s.to_string()).collect(),
            }),
        )
        .unwrap()
    };
    assert_eq!(
        decrypt_with(&filter("aws", &["111122223333"]), suite, &edks).unwrap(),
        dk
    );
    assert_eq!(
        decrypt_with(&filter("aws", &["000000000000", "111122223333"]), suite, &edks).unwrap(),
        dk
    );
    let e = decrypt_with(&filter("aws", &["000000000000"]), suite, &edks).unwrap_err();
    assert!(matches!(e, Error::NoDataKey(_)), "{e}");
    let e = decrypt_with(&filter("aws-cn", &["111122223333"]), suite, &edks).unwrap_err();
    assert!(matches!(e, Error::NoDataKey(_)), "{e}");
    assert!(KmsKeyring::discovery(
        env.dyn_kms(),
        Some(DiscoveryFilter {
            partition: "aws".into(),
            account_ids: vec![]
        })
    )
    .is_err());

    // Discovery cannot encrypt.
    let mut em = enc_materials(suite);
    assert_eq!(
        discovery.on_encrypt(&mut em).unwrap_err().kind(),
        ErrorKind::Usage
    );
    assert!(em.encrypted_data_keys.is_empty());
}

#[test]
fn bad_provider_info_fails() {
    let env = Env::new();
    let k = env.key();
    let suite = AlgorithmSuite::DEFAULT;
    for info in [
        &b"not an arn"[..],
        b"arn:aws:kms:us-east-1:111122223333:alias/x",
        &[0xff, 0xfe],
    ] {
        let edks = [EncryptedDataKey {
            provider_id: "aws-kms".into(),
            provider_info: info.to_vec(),
            ciphertext: vec![1; 100],
        }];
        for ring in [
            env.strict(&[&k.arn]),
            KmsKeyring::discovery(env.dyn_kms(), None).unwrap(),
        ] {
            let e = decrypt_with(&ring, suite, &edks).unwrap_err();
            // The message's bytes are at fault: an integrity error, not a usage one.
            assert!(matches!(e, Error::EncryptedDataKey { .. }), "{e}");
            assert_eq!(e.kind(), ErrorKind::Integrity, "{e}");
        }
    }
    // A well-formed ARN of an unknown key: discovery asks, the KMS says
    // NotFound, and since the key id came from the message, the message is
    // not for this key service: integrity, as in a strict keyring.
    let edks = [EncryptedDataKey {
        provider_id: "aws-kms".into(),
        provider_info: b"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
            .to_vec(),
        ciphertext: vec![1; 100],
    }];
    let e = decrypt_with(&KmsKeyring::discovery(env.dyn_kms(), None).unwrap(), suite, &edks).unwrap_err();
    assert!(
        matches!(&e, Error::NoDataKey(m) if m.contains("NotFoundException")),
        "{e}"
    );
    assert_eq!(e.kind(), ErrorKind::Integrity, "{e}");
}

#[test]
fn strict_needs_key_ids() {
    let env = Env::new();
    assert!(matches!(
        KmsKeyring::strict(env.dyn_kms(), vec![]),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        KmsKeyring::strict(env.dyn_kms(), vec![String::new()]),
        Err(Error::Config(_))
    ));
    // An unknown key fails on encrypt with the KMS's error.
    let mut m = enc_materials(AlgorithmSuite::DEFAULT);
    let e = env.strict(&["alias/nothing"]).on_encrypt(&mut m).unwrap_err();
    assert!(
        matches!(&e, Error::Kms(k) if k.kind == KmsErrorKind::NotFoundException),
        "{e}"
    );
}

// ---- Whole messages through the KMS keyring (the streaming engine on top) ----

fn discovery(env: &Env) -> KmsKeyring {
    KmsKeyring::discovery(env.dyn_kms(), None).unwrap()
}

fn message_opts(suite: &'static AlgorithmSuite) -> EncryptOptions {
    let mut ec = EncryptionContext::new();
    ec.insert("bucket".into(), "backups".into());
    EncryptOptions {
        encryption_context: ec,
        ..encrypt_options(suite, 1000)
    }
}

#[test]
fn every_suite_round_trips_under_a_kms_core_key() {
    let env = Env::new();
    let arn = env.key().arn;
    let plaintext: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    for suite in AlgorithmSuite::ALL {
        let ct = encrypt(&env.strict(&[&arn]), &message_opts(suite), &plaintext).unwrap();
        // Strict by ARN and discovery both open it.
        for k in [&env.strict(&[&arn]) as &dyn Keyring, &discovery(&env)] {
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
    let arn = env.key().arn;
    env.kms
        .create_alias(&CreateAliasRequest {
            alias_name: "alias/app".into(),
            target_key_id: arn.clone(),
        })
        .unwrap();
    let ct = encrypt(
        &env.strict(&["alias/app"]),
        &message_opts(AlgorithmSuite::DEFAULT),
        b"hi",
    )
    .unwrap();
    let d = decrypt(&discovery(&env), &allow_all(), &ct).unwrap();
    assert_eq!(d.header.encrypted_data_keys[0].provider_info, arn.as_bytes());
}

#[test]
fn kms_plus_raw_aes_opens_with_either_alone() {
    let env = Env::new();
    let arn = env.key().arn;
    let raw = || RawAesKeyring::new("backup-ns", "offline-key", &[0x42; 32]).unwrap();
    let multi = MultiKeyring::new(Some(Box::new(env.strict(&[&arn]))), vec![Box::new(raw())]).unwrap();
    let ct = encrypt(&multi, &message_opts(AlgorithmSuite::DEFAULT), b"two ways in").unwrap();
    assert_eq!(
        decrypt(&env.strict(&[&arn]), &allow_all(), &ct)
            .unwrap()
            .plaintext,
        b"two ways in"
    );
    assert_eq!(
        decrypt(&raw(), &allow_all(), &ct).unwrap().plaintext,
        b"two ways in"
    );
    assert_eq!(
        decrypt(&discovery(&env), &allow_all(), &ct).unwrap().plaintext,
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
    let e = decrypt(&env.strict(&[&arn]), &allow_all(), &ct).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyService, "{e}");
}

#[test]
fn a_different_key_store_cannot_open_it() {
    let a = Env::new();
    let b = Env::new();
    let arn = a.key().arn;
    let ct = encrypt(&a.strict(&[&arn]), &message_opts(AlgorithmSuite::DEFAULT), b"x").unwrap();
    let e = decrypt(&discovery(&b), &allow_all(), &ct).unwrap_err();
    assert!(matches!(e, Error::Kms(_) | Error::NoDataKey(_)), "{e}");
}
