//! The KMS core in process: every operation, every error name, the limits at
//! their boundaries, key states, rotation, deletion, the root key and the store.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use envelope::kms::*;
use envelope::EncryptionContext;

use crate::support::kms::{open_at, secret, Env, T0};

const DAY: u64 = 86_400;

fn ec(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[track_caller]
fn kind<T: std::fmt::Debug>(r: Result<T, KmsError>, k: KmsErrorKind) -> KmsError {
    match r {
        Err(e) => {
            assert_eq!(e.kind, k, "wrong error: {e}");
            e
        }
        Ok(v) => panic!("expected {}, got Ok({v:?})", k.name()),
    }
}

#[test]
fn kms_core_is_send_sync_and_a_dyn_kms() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<KmsCore>();
    let env = Env::new();
    let k = env.key();
    let shared: Arc<dyn Kms> = env.kms;
    let h = {
        let shared = shared.clone();
        std::thread::spawn(move || shared.describe_key(&KeyIdRequest { key_id: k.key_id }).unwrap())
    };
    assert_eq!(h.join().unwrap().key_metadata.key_state, KeyState::Enabled);
}

#[test]
fn create_and_describe_in_all_four_id_forms() {
    let env = Env::new();
    assert!(env.kms.created());
    let k = env.key();
    assert_eq!(
        k.arn,
        format!("arn:aws:kms:us-east-1:111122223333:key/{}", k.key_id)
    );
    assert_eq!(k.aws_account_id, DEFAULT_ACCOUNT_ID);
    assert_eq!(k.key_spec, KeySpec::SymmetricDefault);
    assert_eq!(
        k.encryption_algorithms,
        vec![EncryptionAlgorithmSpec::SymmetricDefault]
    );
    assert_eq!(k.creation_date, T0);
    assert!(k.enabled);
    env.kms
        .create_alias(&CreateAliasRequest {
            alias_name: "alias/app".into(),
            target_key_id: k.key_id.clone(),
        })
        .unwrap();
    let alias_arn = "arn:aws:kms:us-east-1:111122223333:alias/app";
    for id in [k.key_id.as_str(), &k.arn, "alias/app", alias_arn] {
        let d = env.kms.describe_key(&KeyIdRequest { key_id: id.into() }).unwrap();
        assert_eq!(d.key_metadata, k, "{id}");
        // Crypto operations take every form too, and answer with the key ARN.
        let e = env.encrypt(id, b"x", &EncryptionContext::new()).unwrap();
        assert_eq!(e.key_id, k.arn);
        let d = env
            .decrypt(&e.ciphertext_blob, &EncryptionContext::new(), Some(id))
            .unwrap();
        assert_eq!(d.key_id, k.arn);
    }
    // Management operations take only key id or key ARN.
    kind(
        env.key_id_op(KmsCore::disable_key, "alias/app"),
        KmsErrorKind::NotFoundException,
    );
    kind(
        env.key_id_op(KmsCore::disable_key, alias_arn),
        KmsErrorKind::NotFoundException,
    );
    env.key_id_op(KmsCore::disable_key, &k.arn).unwrap();
    env.key_id_op(KmsCore::enable_key, &k.key_id).unwrap();
}

#[test]
fn bad_key_ids() {
    let env = Env::new();
    let k = env.key();
    let d = |id: &str| env.kms.describe_key(&KeyIdRequest { key_id: id.into() });
    let e = kind(d("fake-key-id"), KmsErrorKind::NotFoundException);
    assert_eq!(e.message, "Invalid keyId 'fake-key-id'");
    let absent = "1234abcd-12ab-34cd-56ef-1234567890ab";
    let e = kind(d(absent), KmsErrorKind::NotFoundException);
    assert_eq!(
        e.message,
        format!("Key 'arn:aws:kms:us-east-1:111122223333:key/{absent}' does not exist")
    );
    kind(
        d(&k.arn.replace("us-east-1", "eu-west-1")),
        KmsErrorKind::NotFoundException,
    );
    kind(
        d(&k.arn.replace("111122223333", "444455556666")),
        KmsErrorKind::NotFoundException,
    );
    kind(
        d(&k.arn.replace(":kms:", ":s3:")),
        KmsErrorKind::NotFoundException,
    );
    kind(d(&k.key_id.to_uppercase()), KmsErrorKind::NotFoundException);
    let e = kind(d("alias/none"), KmsErrorKind::NotFoundException);
    assert_eq!(
        e.message,
        "Alias arn:aws:kms:us-east-1:111122223333:alias/none is not found."
    );
    kind(d(""), KmsErrorKind::ValidationException);
}

#[test]
fn create_key_validation() {
    let env = Env::new();
    let c = |r: CreateKeyRequest| env.kms.create_key(&r);
    kind(
        c(CreateKeyRequest {
            key_spec: Some(KeySpec::Rsa2048),
            ..Default::default()
        }),
        KmsErrorKind::ValidationException,
    );
    kind(
        c(CreateKeyRequest {
            key_spec: Some(KeySpec::SymmetricDefault),
            customer_master_key_spec: Some(KeySpec::SymmetricDefault),
            ..Default::default()
        }),
        KmsErrorKind::ValidationException,
    );
    kind(
        c(CreateKeyRequest {
            multi_region: Some(true),
            ..Default::default()
        }),
        KmsErrorKind::UnsupportedOperationException,
    );
    kind(
        c(CreateKeyRequest {
            description: Some("d".repeat(8193)),
            ..Default::default()
        }),
        KmsErrorKind::ValidationException,
    );
    let ok = c(CreateKeyRequest {
        description: Some("d".repeat(8192)),
        customer_master_key_spec: Some(KeySpec::SymmetricDefault),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(ok.key_metadata.description.len(), 8192);
    // Unknown enum names are ValidationExceptions, as in AWS.
    kind(
        "ECC_NIST_P256".parse::<KeySpec>(),
        KmsErrorKind::ValidationException,
    );
    kind(
        "SIGN_VERIFY".parse::<KeyUsage>(),
        KmsErrorKind::ValidationException,
    );
    assert!(serde_json::from_str::<CreateKeyRequest>(r#"{"KeySpec":"HMAC_256"}"#).is_err());
}

#[test]
fn list_keys_paginates() {
    let env = Env::new();
    let mut ids: Vec<String> = (0..5).map(|_| env.key().key_id).collect();
    ids.sort();
    let page = |limit, marker: Option<String>| env.kms.list_keys(&ListKeysRequest { limit, marker });
    let p1 = page(Some(2), None).unwrap();
    assert!(p1.truncated);
    let p2 = page(Some(2), p1.next_marker.clone()).unwrap();
    let p3 = page(Some(2), p2.next_marker.clone()).unwrap();
    assert!(!p3.truncated && p3.next_marker.is_none());
    let all: Vec<String> = [p1.keys, p2.keys, p3.keys]
        .concat()
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    assert_eq!(all, ids);
    let full = page(None, None).unwrap();
    assert_eq!(full.keys.len(), 5);
    assert_eq!(
        full.keys[0].key_arn,
        format!("arn:aws:kms:us-east-1:111122223333:key/{}", ids[0])
    );
    page(Some(1), None).unwrap();
    page(Some(1000), None).unwrap();
    kind(page(Some(0), None), KmsErrorKind::ValidationException);
    kind(page(Some(1001), None), KmsErrorKind::ValidationException);
    kind(
        page(None, Some("garbage".into())),
        KmsErrorKind::InvalidMarkerException,
    );
}

#[test]
fn aliases() {
    let env = Env::new();
    let a = env.key();
    let b = env.key();
    let create = |name: &str, target: &str| {
        env.kms.create_alias(&CreateAliasRequest {
            alias_name: name.into(),
            target_key_id: target.into(),
        })
    };
    create("alias/one", &a.key_id).unwrap();
    create("alias/two", &a.arn).unwrap();
    create("alias/three", &b.key_id).unwrap();
    let e = kind(
        create("alias/one", &b.key_id),
        KmsErrorKind::AlreadyExistsException,
    );
    assert_eq!(
        e.message,
        "An alias with the name arn:aws:kms:us-east-1:111122223333:alias/one already exists"
    );
    for bad in [
        "one",
        "alias/",
        "alias/aws/reserved",
        "alias/has space",
        &format!("alias/{}", "x".repeat(251)),
    ] {
        kind(create(bad, &a.key_id), KmsErrorKind::ValidationException);
    }
    kind(create("alias/four", "alias/one"), KmsErrorKind::NotFoundException);
    kind(
        create("alias/four", "1234abcd-12ab-34cd-56ef-1234567890ab"),
        KmsErrorKind::NotFoundException,
    );

    let list = |key_id: Option<&str>, limit, marker| {
        env.kms.list_aliases(&ListAliasesRequest {
            key_id: key_id.map(Into::into),
            limit,
            marker,
        })
    };
    let all = list(None, None, None).unwrap();
    let names: Vec<_> = all.aliases.iter().map(|a| a.alias_name.as_str()).collect();
    assert_eq!(names, ["alias/one", "alias/three", "alias/two"]);
    assert_eq!(
        all.aliases[0].alias_arn,
        "arn:aws:kms:us-east-1:111122223333:alias/one"
    );
    assert_eq!(all.aliases[0].target_key_id, a.key_id);
    let of_a = list(Some(&a.arn), None, None).unwrap();
    assert_eq!(of_a.aliases.len(), 2);
    let p1 = list(None, Some(1), None).unwrap();
    assert!(p1.truncated);
    assert_eq!(list(None, Some(100), p1.next_marker).unwrap().aliases.len(), 2);
    kind(list(None, Some(0), None), KmsErrorKind::ValidationException);
    kind(list(None, Some(101), None), KmsErrorKind::ValidationException);
    kind(
        list(None, None, Some("?".into())),
        KmsErrorKind::InvalidMarkerException,
    );
    kind(
        list(Some("1234abcd-12ab-34cd-56ef-1234567890ab"), None, None),
        KmsErrorKind::NotFoundException,
    );

    // UpdateAlias repoints; the alias then encrypts under the new key.
    env.advance(10);
    env.kms
        .update_alias(&UpdateAliasRequest {
            alias_name: "alias/one".into(),
            target_key_id: b.arn.clone(),
        })
        .unwrap();
    assert_eq!(
        env.encrypt("alias/one", b"x", &EncryptionContext::new())
            .unwrap()
            .key_id,
        b.arn
    );
    let one = list(Some(&b.key_id), None, None).unwrap();
    let one = one.aliases.iter().find(|x| x.alias_name == "alias/one").unwrap();
    assert_eq!((one.creation_date, one.last_updated_date), (T0, T0 + 10));
    kind(
        env.kms.update_alias(&UpdateAliasRequest {
            alias_name: "alias/none".into(),
            target_key_id: b.key_id.clone(),
        }),
        KmsErrorKind::NotFoundException,
    );

    let del = |n: &str| env.kms.delete_alias(&DeleteAliasRequest { alias_name: n.into() });
    del("alias/one").unwrap();
    let e = kind(del("alias/one"), KmsErrorKind::NotFoundException);
    assert_eq!(
        e.message,
        "Alias arn:aws:kms:us-east-1:111122223333:alias/one is not found."
    );
    kind(del("one"), KmsErrorKind::ValidationException);
}

#[test]
fn update_alias_needs_same_key_type() {
    let env = Env::new();
    let sym = env.key();
    let rsa = env.key_spec(Some(KeySpec::Rsa2048));
    env.kms
        .create_alias(&CreateAliasRequest {
            alias_name: "alias/a".into(),
            target_key_id: sym.key_id.clone(),
        })
        .unwrap();
    kind(
        env.kms.update_alias(&UpdateAliasRequest {
            alias_name: "alias/a".into(),
            target_key_id: rsa.key_id.clone(),
        }),
        KmsErrorKind::ValidationException,
    );
}

#[test]
fn encrypt_limits_and_blob_size() {
    let env = Env::new();
    let k = env.key();
    let none = EncryptionContext::new();
    kind(
        env.encrypt(&k.key_id, b"", &none),
        KmsErrorKind::ValidationException,
    );
    env.encrypt(&k.key_id, &[7], &none).unwrap();
    let big = env.encrypt(&k.key_id, &[7; 4096], &none).unwrap();
    assert!(big.ciphertext_blob.len() <= MAX_CIPHERTEXT_BLOB);
    assert_eq!(big.ciphertext_blob.len(), 4096 + SYMMETRIC_BLOB_OVERHEAD);
    let e = kind(
        env.encrypt(&k.key_id, &[7; 4097], &none),
        KmsErrorKind::ValidationException,
    );
    assert!(e.message.contains("less than or equal to 4096"), "{}", e.message);
    assert_eq!(
        &env.decrypt(&big.ciphertext_blob, &none, None).unwrap().plaintext[..],
        &[7; 4096][..]
    );
    // Two encryptions of the same plaintext differ (fresh nonce and IV).
    let a = env.encrypt(&k.key_id, b"same", &none).unwrap();
    let b = env.encrypt(&k.key_id, b"same", &none).unwrap();
    assert_ne!(a.ciphertext_blob, b.ciphertext_blob);
}

#[test]
fn decrypt_context_rules_and_bad_blobs() {
    let env = Env::new();
    let k = env.key();
    let other = env.key();
    let ctx = ec(&[("purpose", "test"), ("Tenant", "a")]);
    let blob = env.encrypt(&k.key_id, b"data", &ctx).unwrap().ciphertext_blob;
    // Pair order does not matter; the map is compared exactly.
    let d = env
        .decrypt(&blob, &ec(&[("Tenant", "a"), ("purpose", "test")]), None)
        .unwrap();
    assert_eq!(
        (&d.plaintext[..], d.key_id.as_str()),
        (&b"data"[..], k.arn.as_str())
    );
    assert_eq!(d.encryption_algorithm, EncryptionAlgorithmSpec::SymmetricDefault);
    for wrong in [
        EncryptionContext::new(),
        ec(&[("purpose", "test")]),
        ec(&[("purpose", "test"), ("Tenant", "a"), ("x", "y")]),
        ec(&[("purpose", "Test"), ("Tenant", "a")]),
        ec(&[("Purpose", "test"), ("Tenant", "a")]),
    ] {
        kind(
            env.decrypt(&blob, &wrong, None),
            KmsErrorKind::InvalidCiphertextException,
        );
    }
    // An absent context and an empty one are the same.
    let plain = env
        .encrypt(&k.key_id, b"p", &EncryptionContext::new())
        .unwrap()
        .ciphertext_blob;
    let json = format!(
        r#"{{"CiphertextBlob":"{}","EncryptionContext":{{}}}}"#,
        base64_encode(&plain)
    );
    let req: DecryptRequest = serde_json::from_str(&json).unwrap();
    assert_eq!(&env.kms.decrypt(&req).unwrap().plaintext[..], b"p");

    // KeyId of another key: IncorrectKeyException.
    let e = kind(
        env.decrypt(&blob, &ctx, Some(&other.arn)),
        KmsErrorKind::IncorrectKeyException,
    );
    assert_eq!(
        e.message,
        "The key ID in the request does not identify a CMK that can perform this operation."
    );
    // Tampering anywhere: InvalidCiphertextException (or NotFound if the key id no longer names a key).
    for i in 0..blob.len() {
        let mut t = blob.clone();
        t[i] ^= 0x80;
        let err = env.decrypt(&t, &ctx, None).unwrap_err();
        let expected = if (1..17).contains(&i) {
            KmsErrorKind::NotFoundException
        } else {
            KmsErrorKind::InvalidCiphertextException
        };
        assert_eq!(err.kind, expected, "byte {i}: {err}");
    }
    // Malformed and oversized blobs.
    kind(env.decrypt(&[], &ctx, None), KmsErrorKind::ValidationException);
    kind(
        env.decrypt(&[1; 6145], &ctx, None),
        KmsErrorKind::ValidationException,
    );
    kind(
        env.decrypt(&[0; 6144], &ctx, None),
        KmsErrorKind::InvalidCiphertextException,
    );
    kind(
        env.decrypt(&blob[..40], &ctx, None),
        KmsErrorKind::InvalidCiphertextException,
    );
    kind(
        env.decrypt(&blob[..blob.len() - 1], &ctx, None),
        KmsErrorKind::InvalidCiphertextException,
    );
    let mut v2 = blob.clone();
    v2[0] = 2;
    kind(
        env.decrypt(&v2, &ctx, None),
        KmsErrorKind::InvalidCiphertextException,
    );
    // A blob naming a backing-key version that does not exist.
    let mut v9 = blob.clone();
    v9[20] = 9;
    kind(
        env.decrypt(&v9, &ctx, None),
        KmsErrorKind::InvalidCiphertextException,
    );
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[test]
fn generate_data_key_limits() {
    let env = Env::new();
    let k = env.key();
    let ctx = ec(&[("k", "v")]);
    let gdk = |n: Option<i32>, spec: Option<DataKeySpec>| {
        env.kms.generate_data_key(&GenerateDataKeyRequest {
            key_id: k.key_id.clone(),
            encryption_context: ctx.clone(),
            number_of_bytes: n,
            key_spec: spec,
        })
    };
    for n in [1, 1024] {
        let r = gdk(Some(n), None).unwrap();
        assert_eq!(r.plaintext.len(), n as usize);
        assert_eq!(r.key_id, k.arn);
        assert_eq!(
            env.decrypt(&r.ciphertext_blob, &ctx, None).unwrap().plaintext,
            r.plaintext
        );
    }
    for n in [0, 1025, -1] {
        kind(gdk(Some(n), None), KmsErrorKind::ValidationException);
    }
    assert_eq!(gdk(None, Some(DataKeySpec::Aes128)).unwrap().plaintext.len(), 16);
    assert_eq!(gdk(None, Some(DataKeySpec::Aes256)).unwrap().plaintext.len(), 32);
    kind(gdk(None, None), KmsErrorKind::ValidationException);
    kind(
        gdk(Some(32), Some(DataKeySpec::Aes256)),
        KmsErrorKind::ValidationException,
    );

    let r = env
        .kms
        .generate_data_key_without_plaintext(&GenerateDataKeyRequest {
            key_id: "alias/none".into(),
            number_of_bytes: Some(32),
            ..Default::default()
        });
    kind(r, KmsErrorKind::NotFoundException);
    let r = env
        .kms
        .generate_data_key_without_plaintext(&GenerateDataKeyRequest {
            key_id: k.arn.clone(),
            encryption_context: ctx.clone(),
            key_spec: Some(DataKeySpec::Aes256),
            number_of_bytes: None,
        })
        .unwrap();
    assert_eq!(r.key_id, k.arn);
    assert_eq!(
        env.decrypt(&r.ciphertext_blob, &ctx, None)
            .unwrap()
            .plaintext
            .len(),
        32
    );
    let json = serde_json::to_value(&r).unwrap();
    assert!(json.get("Plaintext").is_none());
}

#[test]
fn generate_random_limits() {
    let env = Env::new();
    let g = |n| {
        env.kms
            .generate_random(&GenerateRandomRequest { number_of_bytes: n })
    };
    assert_eq!(g(Some(1)).unwrap().plaintext.len(), 1);
    let a = g(Some(1024)).unwrap().plaintext;
    assert_eq!(a.len(), 1024);
    assert_ne!(a, g(Some(1024)).unwrap().plaintext);
    kind(g(Some(0)), KmsErrorKind::ValidationException);
    kind(g(Some(1025)), KmsErrorKind::ValidationException);
    let e = kind(g(None), KmsErrorKind::ValidationException);
    assert_eq!(e.message, "NumberOfBytes is required.");
}

#[test]
fn re_encrypt() {
    let env = Env::new();
    let a = env.key();
    let b = env.key();
    let (c1, c2) = (ec(&[("v", "1")]), ec(&[("v", "2")]));
    let blob = env.encrypt(&a.key_id, b"move me", &c1).unwrap().ciphertext_blob;
    let req = |src_ctx: &EncryptionContext, src_key: Option<&str>| ReEncryptRequest {
        ciphertext_blob: blob.clone(),
        source_encryption_context: src_ctx.clone(),
        source_key_id: src_key.map(Into::into),
        destination_key_id: "alias/b".into(),
        destination_encryption_context: c2.clone(),
        ..Default::default()
    };
    env.kms
        .create_alias(&CreateAliasRequest {
            alias_name: "alias/b".into(),
            target_key_id: b.key_id.clone(),
        })
        .unwrap();
    let r = env.kms.re_encrypt(&req(&c1, Some(&a.key_id))).unwrap();
    assert_eq!(
        (r.source_key_id.as_str(), r.key_id.as_str()),
        (a.arn.as_str(), b.arn.as_str())
    );
    assert_eq!(
        &env.decrypt(&r.ciphertext_blob, &c2, None).unwrap().plaintext[..],
        b"move me"
    );
    kind(
        env.decrypt(&r.ciphertext_blob, &c1, None),
        KmsErrorKind::InvalidCiphertextException,
    );
    kind(
        env.kms.re_encrypt(&req(&c2, None)),
        KmsErrorKind::InvalidCiphertextException,
    );
    kind(
        env.kms.re_encrypt(&req(&c1, Some(&b.key_id))),
        KmsErrorKind::IncorrectKeyException,
    );
    let mut to_missing = req(&c1, None);
    to_missing.destination_key_id = "alias/missing".into();
    kind(env.kms.re_encrypt(&to_missing), KmsErrorKind::NotFoundException);
}

#[test]
fn rsa_keys_limits_and_errors() {
    let env = Env::new();
    let sym = env.key();
    // One key per size; RSA_4096 generation is the slow one, so only one.
    for (spec, sha1_max, sha256_max) in [
        (KeySpec::Rsa2048, 214, 190),
        (KeySpec::Rsa3072, 342, 318),
        (KeySpec::Rsa4096, 470, 446),
    ] {
        let k = env.key_spec(Some(spec));
        assert_eq!(k.key_spec, spec);
        assert_eq!(
            k.encryption_algorithms,
            vec![
                EncryptionAlgorithmSpec::RsaesOaepSha1,
                EncryptionAlgorithmSpec::RsaesOaepSha256
            ]
        );
        for (alg, max) in [
            (EncryptionAlgorithmSpec::RsaesOaepSha1, sha1_max),
            (EncryptionAlgorithmSpec::RsaesOaepSha256, sha256_max),
        ] {
            let enc = |n: usize| {
                env.kms.encrypt(&EncryptRequest {
                    key_id: k.arn.clone(),
                    plaintext: secret(&vec![3u8; n]),
                    encryption_context: EncryptionContext::new(),
                    encryption_algorithm: Some(alg),
                })
            };
            let ok = enc(max).unwrap();
            assert_eq!(ok.ciphertext_blob.len(), spec.rsa_modulus_len().unwrap());
            assert_eq!(ok.encryption_algorithm, alg);
            let e = kind(enc(max + 1), KmsErrorKind::ValidationException);
            assert_eq!(
                e.message,
                format!("Algorithm {alg} and key spec {spec} cannot encrypt data larger than {max} bytes.")
            );
            let d = env
                .kms
                .decrypt(&DecryptRequest {
                    ciphertext_blob: ok.ciphertext_blob.clone(),
                    key_id: Some(k.key_id.clone()),
                    encryption_algorithm: Some(alg),
                    ..Default::default()
                })
                .unwrap();
            assert_eq!(d.plaintext.len(), max);
            assert_eq!(d.key_id, k.arn);
        }
    }

    let k = env.key_spec(Some(KeySpec::Rsa2048));
    let sha256 = Some(EncryptionAlgorithmSpec::RsaesOaepSha256);
    let enc = |key: &str, alg, ctx: &EncryptionContext| {
        env.kms.encrypt(&EncryptRequest {
            key_id: key.into(),
            plaintext: secret(b"rsa"),
            encryption_context: ctx.clone(),
            encryption_algorithm: alg,
        })
    };
    // Encryption context is rejected for asymmetric keys.
    kind(
        enc(&k.key_id, sha256, &ec(&[("a", "b")])),
        KmsErrorKind::ValidationException,
    );
    // Algorithm / key spec mismatches.
    kind(
        enc(&k.key_id, None, &EncryptionContext::new()),
        KmsErrorKind::InvalidKeyUsageException,
    );
    kind(
        enc(&sym.key_id, sha256, &EncryptionContext::new()),
        KmsErrorKind::InvalidKeyUsageException,
    );
    let blob = enc(&k.key_id, sha256, &EncryptionContext::new())
        .unwrap()
        .ciphertext_blob;
    let dec = |key: Option<&str>, alg, ct: &[u8]| {
        env.kms.decrypt(&DecryptRequest {
            ciphertext_blob: ct.to_vec(),
            key_id: key.map(Into::into),
            encryption_algorithm: alg,
            ..Default::default()
        })
    };
    kind(dec(None, sha256, &blob), KmsErrorKind::ValidationException);
    kind(
        dec(
            Some(&k.key_id),
            Some(EncryptionAlgorithmSpec::RsaesOaepSha1),
            &blob,
        ),
        KmsErrorKind::InvalidCiphertextException,
    );
    let mut t = blob.clone();
    t[10] ^= 1;
    kind(
        dec(Some(&k.key_id), sha256, &t),
        KmsErrorKind::InvalidCiphertextException,
    );
    kind(
        dec(Some(&k.key_id), sha256, &blob[1..]),
        KmsErrorKind::InvalidCiphertextException,
    );
    kind(
        dec(Some(&sym.key_id), sha256, &blob),
        KmsErrorKind::InvalidKeyUsageException,
    );
    // A symmetric blob presented with an RSA KeyId names another key.
    let sym_blob = enc(&sym.key_id, None, &EncryptionContext::new())
        .unwrap()
        .ciphertext_blob;
    kind(
        dec(Some(&k.key_id), None, &sym_blob),
        KmsErrorKind::IncorrectKeyException,
    );
    // GenerateDataKey needs a symmetric key; rotation is for symmetric keys only.
    kind(
        env.kms.generate_data_key(&GenerateDataKeyRequest {
            key_id: k.key_id.clone(),
            number_of_bytes: Some(32),
            ..Default::default()
        }),
        KmsErrorKind::InvalidKeyUsageException,
    );
    kind(
        env.key_id_op(KmsCore::disable_key_rotation, &k.key_id),
        KmsErrorKind::UnsupportedOperationException,
    );
    kind(
        env.kms.enable_key_rotation(&EnableKeyRotationRequest {
            key_id: k.key_id.clone(),
            rotation_period_in_days: None,
        }),
        KmsErrorKind::UnsupportedOperationException,
    );
    kind(
        env.kms.get_key_rotation_status(&KeyIdRequest {
            key_id: k.key_id.clone(),
        }),
        KmsErrorKind::UnsupportedOperationException,
    );
    kind(
        env.kms.rotate_key_on_demand(&KeyIdRequest {
            key_id: k.key_id.clone(),
        }),
        KmsErrorKind::UnsupportedOperationException,
    );

    // GetPublicKey gives an SPKI that encrypts offline; Decrypt opens it.
    let pk = env
        .kms
        .get_public_key(&KeyIdRequest {
            key_id: k.arn.clone(),
        })
        .unwrap();
    assert_eq!(
        (pk.key_id.as_str(), pk.key_spec, pk.key_usage),
        (k.arn.as_str(), KeySpec::Rsa2048, KeyUsage::EncryptDecrypt)
    );
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
    let offline =
        OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&pk.public_key).unwrap()).unwrap();
    let mut ct = vec![0u8; offline.ciphertext_size()];
    let ct = offline
        .encrypt(&OAEP_SHA256_MGF1SHA256, b"offline", &mut ct, None)
        .unwrap()
        .to_vec();
    assert_eq!(
        &dec(Some(&k.key_id), sha256, &ct).unwrap().plaintext[..],
        b"offline"
    );
    kind(
        env.kms.get_public_key(&KeyIdRequest {
            key_id: sym.key_id.clone(),
        }),
        KmsErrorKind::UnsupportedOperationException,
    );
    // ReEncrypt from RSA to symmetric and back.
    let r = env
        .kms
        .re_encrypt(&ReEncryptRequest {
            ciphertext_blob: blob.clone(),
            source_key_id: Some(k.key_id.clone()),
            source_encryption_algorithm: sha256,
            destination_key_id: sym.key_id.clone(),
            destination_encryption_context: ec(&[("x", "y")]),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        &env.decrypt(&r.ciphertext_blob, &ec(&[("x", "y")]), None)
            .unwrap()
            .plaintext[..],
        b"rsa"
    );
    let back = env.kms.re_encrypt(&ReEncryptRequest {
        ciphertext_blob: r.ciphertext_blob.clone(),
        source_encryption_context: ec(&[("x", "y")]),
        destination_key_id: k.key_id.clone(),
        destination_encryption_algorithm: Some(EncryptionAlgorithmSpec::RsaesOaepSha1),
        ..Default::default()
    });
    let back = back.unwrap();
    assert_eq!(
        back.destination_encryption_algorithm,
        EncryptionAlgorithmSpec::RsaesOaepSha1
    );
    assert_eq!(
        &dec(
            Some(&k.key_id),
            Some(EncryptionAlgorithmSpec::RsaesOaepSha1),
            &back.ciphertext_blob
        )
        .unwrap()
        .plaintext[..],
        b"rsa"
    );
}

#[test]
fn disabled_keys() {
    let env = Env::new();
    let k = env.key();
    let none = EncryptionContext::new();
    let blob = env.encrypt(&k.key_id, b"x", &none).unwrap().ciphertext_blob;
    env.key_id_op(KmsCore::disable_key, &k.key_id).unwrap();
    let d = env
        .kms
        .describe_key(&KeyIdRequest {
            key_id: k.key_id.clone(),
        })
        .unwrap();
    assert_eq!(
        (d.key_metadata.key_state, d.key_metadata.enabled),
        (KeyState::Disabled, false)
    );
    let e = kind(
        env.encrypt(&k.key_id, b"x", &none),
        KmsErrorKind::DisabledException,
    );
    assert_eq!(e.message, format!("{} is disabled.", k.arn));
    kind(env.decrypt(&blob, &none, None), KmsErrorKind::DisabledException);
    kind(
        env.kms.generate_data_key(&GenerateDataKeyRequest {
            key_id: k.key_id.clone(),
            number_of_bytes: Some(16),
            ..Default::default()
        }),
        KmsErrorKind::DisabledException,
    );
    kind(
        env.kms.rotate_key_on_demand(&KeyIdRequest {
            key_id: k.key_id.clone(),
        }),
        KmsErrorKind::DisabledException,
    );
    kind(
        env.kms.enable_key_rotation(&EnableKeyRotationRequest {
            key_id: k.key_id.clone(),
            rotation_period_in_days: None,
        }),
        KmsErrorKind::DisabledException,
    );
    // Disabling twice is fine; enabling restores every operation.
    env.key_id_op(KmsCore::disable_key, &k.key_id).unwrap();
    env.key_id_op(KmsCore::enable_key, &k.key_id).unwrap();
    assert_eq!(&env.decrypt(&blob, &none, None).unwrap().plaintext[..], b"x");
}

#[test]
fn pending_deletion_and_real_deletion() {
    let env = Env::new();
    let k = env.key();
    let keep = env.key();
    let none = EncryptionContext::new();
    let blob = env.encrypt(&k.key_id, b"x", &none).unwrap().ciphertext_blob;
    env.kms
        .create_alias(&CreateAliasRequest {
            alias_name: "alias/doomed".into(),
            target_key_id: k.key_id.clone(),
        })
        .unwrap();
    let sched = |days| {
        env.kms.schedule_key_deletion(&ScheduleKeyDeletionRequest {
            key_id: k.arn.clone(),
            pending_window_in_days: days,
        })
    };
    kind(sched(Some(6)), KmsErrorKind::ValidationException);
    kind(sched(Some(31)), KmsErrorKind::ValidationException);
    let s = sched(Some(7)).unwrap();
    assert_eq!(
        (
            s.key_id.as_str(),
            s.deletion_date,
            s.key_state,
            s.pending_window_in_days
        ),
        (k.arn.as_str(), T0 + 7 * DAY, KeyState::PendingDeletion, 7)
    );
    let md = env
        .kms
        .describe_key(&KeyIdRequest {
            key_id: k.key_id.clone(),
        })
        .unwrap()
        .key_metadata;
    assert_eq!(
        (md.deletion_date, md.pending_deletion_window_in_days),
        (Some(T0 + 7 * DAY), Some(7))
    );
    let e = kind(sched(None), KmsErrorKind::KMSInvalidStateException);
    assert_eq!(e.message, format!("{} is pending deletion.", k.arn));
    kind(
        env.encrypt(&k.key_id, b"x", &none),
        KmsErrorKind::KMSInvalidStateException,
    );
    kind(
        env.decrypt(&blob, &none, None),
        KmsErrorKind::KMSInvalidStateException,
    );
    kind(
        env.key_id_op(KmsCore::enable_key, &k.key_id),
        KmsErrorKind::KMSInvalidStateException,
    );
    kind(
        env.key_id_op(KmsCore::disable_key, &k.key_id),
        KmsErrorKind::KMSInvalidStateException,
    );
    kind(
        env.kms.create_alias(&CreateAliasRequest {
            alias_name: "alias/late".into(),
            target_key_id: k.key_id.clone(),
        }),
        KmsErrorKind::KMSInvalidStateException,
    );
    let st = env
        .kms
        .get_key_rotation_status(&KeyIdRequest {
            key_id: k.key_id.clone(),
        })
        .unwrap();
    assert!(!st.key_rotation_enabled);
    // Still listed while pending.
    assert_eq!(
        env.kms.list_keys(&ListKeysRequest::default()).unwrap().keys.len(),
        2
    );

    // Cancel: back to Disabled; cancelling again is refused.
    let c = env
        .kms
        .cancel_key_deletion(&KeyIdRequest {
            key_id: k.key_id.clone(),
        })
        .unwrap();
    assert_eq!(c.key_id, k.arn);
    let md = env
        .kms
        .describe_key(&KeyIdRequest {
            key_id: k.key_id.clone(),
        })
        .unwrap()
        .key_metadata;
    assert_eq!((md.key_state, md.deletion_date), (KeyState::Disabled, None));
    let e = kind(
        env.kms.cancel_key_deletion(&KeyIdRequest {
            key_id: k.key_id.clone(),
        }),
        KmsErrorKind::KMSInvalidStateException,
    );
    assert_eq!(e.message, format!("{} is not pending deletion.", k.arn));

    // Schedule again (default 30 days); one second before the date it still exists.
    assert_eq!(sched(None).unwrap().deletion_date, T0 + 30 * DAY);
    env.advance(30 * DAY - 1);
    env.kms
        .describe_key(&KeyIdRequest {
            key_id: k.key_id.clone(),
        })
        .unwrap();
    env.advance(1);
    kind(
        env.kms.describe_key(&KeyIdRequest {
            key_id: k.key_id.clone(),
        }),
        KmsErrorKind::NotFoundException,
    );
    kind(env.decrypt(&blob, &none, None), KmsErrorKind::NotFoundException);
    let keys = env.kms.list_keys(&ListKeysRequest::default()).unwrap().keys;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].key_id, keep.key_id);
    assert!(env
        .kms
        .list_aliases(&ListAliasesRequest::default())
        .unwrap()
        .aliases
        .is_empty());
    // And the deletion is in the store: gone for a new handle too, material included.
    let again = open_at(&env.path(), &env.clock).unwrap();
    kind(
        again.describe_key(&KeyIdRequest {
            key_id: k.key_id.clone(),
        }),
        KmsErrorKind::NotFoundException,
    );
    let db = rusqlite::Connection::open(env.path().join(DB_FILE)).unwrap();
    let n: i64 = db
        .query_row(
            "SELECT count(*) FROM backing_keys WHERE key_id = ?1",
            [&k.key_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn deletion_happens_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(T0));
    let k = {
        let kms = open_at(dir.path(), &clock).unwrap();
        let k = kms.create_key(&CreateKeyRequest::default()).unwrap().key_metadata;
        kms.schedule_key_deletion(&ScheduleKeyDeletionRequest {
            key_id: k.key_id.clone(),
            pending_window_in_days: Some(7),
        })
        .unwrap();
        k
    };
    clock.store(T0 + 7 * DAY, Ordering::SeqCst);
    let _kms = open_at(dir.path(), &clock).unwrap();
    let db = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let n: i64 = db
        .query_row("SELECT count(*) FROM keys WHERE key_id = ?1", [&k.key_id], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 0);
}

fn blob_version(blob: &[u8]) -> u32 {
    u32::from_be_bytes(blob[17..21].try_into().unwrap())
}

#[test]
fn rotation_keeps_old_material() {
    let env = Env::new();
    let k = env.key();
    let ctx = ec(&[("a", "1")]);
    let mut blobs = vec![env.encrypt(&k.key_id, b"v1", &ctx).unwrap().ciphertext_blob];
    assert_eq!(blob_version(&blobs[0]), 1);
    let r = env
        .kms
        .rotate_key_on_demand(&KeyIdRequest {
            key_id: k.arn.clone(),
        })
        .unwrap();
    assert_eq!(r.key_id, k.arn);
    blobs.push(env.encrypt(&k.key_id, b"v2", &ctx).unwrap().ciphertext_blob);
    assert_eq!(blob_version(&blobs[1]), 2);

    // Automatic rotation: period bounds, status, then the clock passes the date.
    let enable = |p| {
        env.kms.enable_key_rotation(&EnableKeyRotationRequest {
            key_id: k.key_id.clone(),
            rotation_period_in_days: p,
        })
    };
    kind(enable(Some(89)), KmsErrorKind::ValidationException);
    kind(enable(Some(2561)), KmsErrorKind::ValidationException);
    enable(Some(2560)).unwrap();
    enable(Some(90)).unwrap();
    let st = env
        .kms
        .get_key_rotation_status(&KeyIdRequest {
            key_id: k.key_id.clone(),
        })
        .unwrap();
    assert_eq!(
        (
            st.key_rotation_enabled,
            st.rotation_period_in_days,
            st.next_rotation_date,
            st.key_id.as_str()
        ),
        (true, Some(90), Some(T0 + 90 * DAY), k.arn.as_str())
    );
    env.advance(90 * DAY);
    blobs.push(env.encrypt(&k.key_id, b"v3", &ctx).unwrap().ciphertext_blob);
    assert_eq!(blob_version(&blobs[2]), 3);
    let st = env
        .kms
        .get_key_rotation_status(&KeyIdRequest {
            key_id: k.key_id.clone(),
        })
        .unwrap();
    assert_eq!(st.next_rotation_date, Some(T0 + 180 * DAY));
    env.key_id_op(KmsCore::disable_key_rotation, &k.key_id).unwrap();
    let st = env
        .kms
        .get_key_rotation_status(&KeyIdRequest {
            key_id: k.key_id.clone(),
        })
        .unwrap();
    assert_eq!(
        (st.key_rotation_enabled, st.rotation_period_in_days),
        (false, None)
    );
    env.advance(365 * DAY);
    blobs.push(env.encrypt(&k.key_id, b"v3", &ctx).unwrap().ciphertext_blob);
    assert_eq!(blob_version(&blobs[3]), 3);

    // Every blob from before each rotation still decrypts, also after a re-open.
    for (i, b) in blobs.iter().enumerate() {
        let want: &[u8] = [b"v1", b"v2", b"v3", b"v3"][i];
        assert_eq!(&env.decrypt(b, &ctx, None).unwrap().plaintext[..], want);
    }
    let again = open_at(&env.path(), &env.clock).unwrap();
    for b in &blobs {
        again
            .decrypt(&DecryptRequest {
                ciphertext_blob: b.clone(),
                encryption_context: ctx.clone(),
                ..Default::default()
            })
            .unwrap();
    }
}

#[test]
fn on_demand_rotation_limit() {
    let env = Env::new();
    let k = env.key();
    let rot = || {
        env.kms.rotate_key_on_demand(&KeyIdRequest {
            key_id: k.key_id.clone(),
        })
    };
    for _ in 0..25 {
        rot().unwrap();
    }
    kind(rot(), KmsErrorKind::LimitExceededException);
    let blob = env
        .encrypt(&k.key_id, b"x", &EncryptionContext::new())
        .unwrap()
        .ciphertext_blob;
    assert_eq!(blob_version(&blob), 26);
}

#[test]
fn persistence_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicU64::new(T0));
    let (k, blob) = {
        let kms = open_at(dir.path(), &clock).unwrap();
        assert!(kms.created());
        let k = kms.create_key(&CreateKeyRequest::default()).unwrap().key_metadata;
        kms.create_alias(&CreateAliasRequest {
            alias_name: "alias/p".into(),
            target_key_id: k.key_id.clone(),
        })
        .unwrap();
        let blob = kms
            .encrypt(&EncryptRequest {
                key_id: "alias/p".into(),
                plaintext: secret(b"persist"),
                ..Default::default()
            })
            .unwrap()
            .ciphertext_blob;
        (k, blob)
    };
    let kms = open_at(dir.path(), &clock).unwrap();
    assert!(!kms.created());
    let d = kms
        .decrypt(&DecryptRequest {
            ciphertext_blob: blob,
            key_id: Some("alias/p".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!((&d.plaintext[..], d.key_id), (&b"persist"[..], k.arn));
}

#[cfg(unix)]
#[test]
fn permissions_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("store");
    std::fs::create_dir(&ks).unwrap();
    std::fs::set_permissions(&ks, std::fs::Permissions::from_mode(0o755)).unwrap();
    let kms = KmsCore::open(KmsConfig::new(&ks)).unwrap();
    kms.create_key(&CreateKeyRequest::default()).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&ks), 0o700);
    let mut files = 0;
    for e in std::fs::read_dir(&ks).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
        files += 1;
    }
    assert!(files >= 2, "kms.db and root.key expected");
}

#[test]
fn wrong_root_key_file_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let blob = {
        let kms = KmsCore::open(KmsConfig::new(dir.path())).unwrap();
        let k = kms.create_key(&CreateKeyRequest::default()).unwrap().key_metadata;
        kms.encrypt(&EncryptRequest {
            key_id: k.key_id,
            plaintext: secret(b"x"),
            ..Default::default()
        })
        .unwrap()
        .ciphertext_blob
    };
    let key_file = dir.path().join("root.key");
    let original = std::fs::read(&key_file).unwrap();
    assert_eq!(original.len(), 32);

    std::fs::write(&key_file, [0x42u8; 32]).unwrap();
    let e = kind(
        KmsCore::open(KmsConfig::new(dir.path())),
        KmsErrorKind::AccessDeniedException,
    );
    assert!(e.message.contains("wrong root key"), "{}", e.message);
    std::fs::write(&key_file, [0x42u8; 31]).unwrap();
    let e = kind(
        KmsCore::open(KmsConfig::new(dir.path())),
        KmsErrorKind::AccessDeniedException,
    );
    assert!(e.message.contains("not 32 bytes"), "{}", e.message);
    std::fs::remove_file(&key_file).unwrap();
    let e = kind(
        KmsCore::open(KmsConfig::new(dir.path())),
        KmsErrorKind::AccessDeniedException,
    );
    assert!(e.message.contains("missing"), "{}", e.message);
    // The missing key was not silently replaced.
    assert!(!key_file.exists());
    let mut with_pass = KmsConfig::new(dir.path());
    with_pass.passphrase = Some(secret(b"pw"));
    std::fs::write(&key_file, &original).unwrap();
    // Recreated files get the umask's mode; a readable root key file is refused.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let e = kind(KmsCore::open(with_pass), KmsErrorKind::AccessDeniedException);
    assert!(e.message.contains("unset ENVELOPE_PASSPHRASE"), "{}", e.message);

    // With the right file back, everything opens again.
    let kms = KmsCore::open(KmsConfig::new(dir.path())).unwrap();
    let d = kms
        .decrypt(&DecryptRequest {
            ciphertext_blob: blob,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(&d.plaintext[..], b"x");
}

#[test]
fn passphrase_store() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |p: Option<&[u8]>| {
        let mut c = KmsConfig::new(dir.path());
        c.passphrase = p.map(secret);
        c
    };
    let blob = {
        let kms = KmsCore::open(cfg(Some(b"correct horse"))).unwrap();
        assert!(kms.created());
        let k = kms.create_key(&CreateKeyRequest::default()).unwrap().key_metadata;
        kms.encrypt(&EncryptRequest {
            key_id: k.key_id,
            plaintext: secret(b"pp"),
            ..Default::default()
        })
        .unwrap()
        .ciphertext_blob
    };
    assert!(
        !dir.path().join("root.key").exists(),
        "passphrase stores keep no key file"
    );
    let e = kind(
        KmsCore::open(cfg(Some(b"wrong horse"))),
        KmsErrorKind::AccessDeniedException,
    );
    assert!(e.message.starts_with("wrong passphrase"), "{}", e.message);
    let e = kind(KmsCore::open(cfg(None)), KmsErrorKind::AccessDeniedException);
    assert!(e.message.contains("set ENVELOPE_PASSPHRASE"), "{}", e.message);
    let kms = KmsCore::open(cfg(Some(b"correct horse"))).unwrap();
    assert!(!kms.created());
    let d = kms
        .decrypt(&DecryptRequest {
            ciphertext_blob: blob,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(&d.plaintext[..], b"pp");
}

#[test]
fn corrupted_key_material_is_an_internal_error() {
    let env = Env::new();
    let k = env.key();
    let blob = env
        .encrypt(&k.key_id, b"x", &EncryptionContext::new())
        .unwrap()
        .ciphertext_blob;
    let db = rusqlite::Connection::open(env.path().join(DB_FILE)).unwrap();
    db.execute(
        "UPDATE backing_keys SET ekt = zeroblob(60) WHERE key_id = ?1",
        [&k.key_id],
    )
    .unwrap();
    let e = kind(
        env.decrypt(&blob, &EncryptionContext::new(), None),
        KmsErrorKind::KMSInternalException,
    );
    assert!(!e.message.is_empty());
}

/// Every row of every table, for before/after comparisons.
fn snapshot(path: &Path) -> Vec<String> {
    let db = rusqlite::Connection::open(path.join(DB_FILE)).unwrap();
    let mut out = Vec::new();
    for t in ["meta", "keys", "backing_keys", "aliases"] {
        let mut st = db.prepare(&format!("SELECT * FROM {t} ORDER BY 1, 2")).unwrap();
        let cols = st.column_count();
        let rows = st
            .query_map([], |r| {
                let vals: Vec<String> = (0..cols)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect();
                Ok(format!("{t}: {}", vals.join("|")))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

#[test]
fn failed_operations_change_nothing() {
    let env = Env::new();
    let k = env.key();
    let other = env.key();
    let rsa = env.key_spec(Some(KeySpec::Rsa2048));
    env.kms
        .create_alias(&CreateAliasRequest {
            alias_name: "alias/a".into(),
            target_key_id: k.key_id.clone(),
        })
        .unwrap();
    for _ in 0..25 {
        env.kms
            .rotate_key_on_demand(&KeyIdRequest {
                key_id: other.key_id.clone(),
            })
            .unwrap();
    }
    let before = snapshot(&env.path());
    let none = EncryptionContext::new();
    let blob = env
        .encrypt(&k.key_id, b"x", &ec(&[("a", "b")]))
        .unwrap()
        .ciphertext_blob;
    let failures: Vec<KmsError> = vec![
        env.kms
            .create_alias(&CreateAliasRequest {
                alias_name: "alias/a".into(),
                target_key_id: other.key_id.clone(),
            })
            .unwrap_err(),
        env.kms
            .update_alias(&UpdateAliasRequest {
                alias_name: "alias/a".into(),
                target_key_id: rsa.key_id.clone(),
            })
            .unwrap_err(),
        env.kms
            .delete_alias(&DeleteAliasRequest {
                alias_name: "alias/b".into(),
            })
            .unwrap_err(),
        env.kms
            .schedule_key_deletion(&ScheduleKeyDeletionRequest {
                key_id: k.key_id.clone(),
                pending_window_in_days: Some(99),
            })
            .unwrap_err(),
        env.kms
            .cancel_key_deletion(&KeyIdRequest {
                key_id: k.key_id.clone(),
            })
            .unwrap_err(),
        env.kms
            .rotate_key_on_demand(&KeyIdRequest {
                key_id: other.key_id.clone(),
            })
            .unwrap_err(),
        env.kms
            .enable_key_rotation(&EnableKeyRotationRequest {
                key_id: k.key_id.clone(),
                rotation_period_in_days: Some(1),
            })
            .unwrap_err(),
        env.kms
            .disable_key(&KeyIdRequest {
                key_id: "alias/a".into(),
            })
            .unwrap_err(),
        env.kms
            .create_key(&CreateKeyRequest {
                key_spec: Some(KeySpec::Rsa2048),
                ..Default::default()
            })
            .unwrap_err(),
        env.decrypt(&blob, &none, None).unwrap_err(),
        env.encrypt(&k.key_id, &[0; 4097], &none).unwrap_err(),
        env.kms
            .re_encrypt(&ReEncryptRequest {
                ciphertext_blob: blob.clone(),
                source_encryption_context: ec(&[("a", "b")]),
                destination_key_id: rsa.key_id.clone(),
                destination_encryption_algorithm: Some(EncryptionAlgorithmSpec::RsaesOaepSha1),
                destination_encryption_context: ec(&[("not", "allowed")]),
                ..Default::default()
            })
            .unwrap_err(),
    ];
    assert_eq!(failures.len(), 12);
    assert_eq!(snapshot(&env.path()), before);
}

#[test]
fn ensure_alias_key_creates_once_even_concurrently() {
    let dir = tempfile::tempdir().unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let p = dir.path().to_path_buf();
            std::thread::spawn(move || {
                let kms = KmsCore::open(KmsConfig::new(&p)).unwrap();
                kms.ensure_alias_key(DEFAULT_KEY_ALIAS).unwrap()
            })
        })
        .collect();
    let results: Vec<(String, bool)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.1).count(), 1, "{results:?}");
    assert!(results.iter().all(|r| r.0 == results[0].0));
    let kms = KmsCore::open(KmsConfig::new(dir.path())).unwrap();
    assert_eq!(
        kms.ensure_alias_key(DEFAULT_KEY_ALIAS).unwrap(),
        (results[0].0.clone(), false)
    );
    let d = kms
        .describe_key(&KeyIdRequest {
            key_id: DEFAULT_KEY_ALIAS.into(),
        })
        .unwrap();
    assert_eq!(d.key_metadata.arn, results[0].0);
    kind(
        kms.ensure_alias_key("no-prefix"),
        KmsErrorKind::ValidationException,
    );
}

#[test]
fn two_handles_create_keys_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let p = dir.path().to_path_buf();
            std::thread::spawn(move || {
                let kms = KmsCore::open(KmsConfig::new(&p)).unwrap();
                (0..10)
                    .map(|_| {
                        kms.create_key(&CreateKeyRequest::default())
                            .unwrap()
                            .key_metadata
                            .key_id
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    ids.sort();
    let kms = KmsCore::open(KmsConfig::new(dir.path())).unwrap();
    let listed: Vec<String> = kms
        .list_keys(&ListKeysRequest::default())
        .unwrap()
        .keys
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    assert_eq!(listed, ids);
}

#[test]
fn region_and_account_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = KmsConfig::new(dir.path());
    c.region = Some("eu-central-1".into());
    c.account_id = Some("444455556666".into());
    let kms = KmsCore::open(c.clone()).unwrap();
    let k = kms.create_key(&CreateKeyRequest::default()).unwrap().key_metadata;
    assert_eq!(
        k.arn,
        format!("arn:aws:kms:eu-central-1:444455556666:key/{}", k.key_id)
    );
    assert_eq!(k.aws_account_id, "444455556666");
    kind(
        kms.describe_key(&KeyIdRequest {
            key_id: format!("arn:aws:kms:us-east-1:111122223333:key/{}", k.key_id),
        }),
        KmsErrorKind::NotFoundException,
    );
    drop(kms);
    // The store keeps its identity: unset it is adopted, another is refused.
    let again = KmsCore::open(KmsConfig::new(dir.path())).unwrap();
    assert_eq!(again.identity().region, "eu-central-1");
    let mut other = c.clone();
    other.region = Some("us-east-1".into());
    kind(KmsCore::open(other), KmsErrorKind::ValidationException);
    let mut bad = c.clone();
    bad.account_id = Some("12345".into());
    kind(KmsCore::open(bad), KmsErrorKind::ValidationException);
    let mut bad = c;
    bad.region = Some("EU WEST".into());
    kind(KmsCore::open(bad), KmsErrorKind::ValidationException);
}

#[test]
fn responses_use_aws_json_names() {
    let env = Env::new();
    let k = env.key();
    let v = serde_json::to_value(
        env.kms
            .describe_key(&KeyIdRequest {
                key_id: k.key_id.clone(),
            })
            .unwrap(),
    )
    .unwrap();
    let md = &v["KeyMetadata"];
    for f in [
        "AWSAccountId",
        "KeyId",
        "Arn",
        "CreationDate",
        "Enabled",
        "KeyUsage",
        "KeyState",
        "KeySpec",
    ] {
        assert!(md.get(f).is_some(), "{f} missing in {md}");
    }
    let r = env
        .kms
        .generate_data_key(&GenerateDataKeyRequest {
            key_id: k.key_id.clone(),
            key_spec: Some(DataKeySpec::Aes256),
            ..Default::default()
        })
        .unwrap();
    let v = serde_json::to_value(&r).unwrap();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(
        b64.decode(v["Plaintext"].as_str().unwrap()).unwrap(),
        &r.plaintext[..]
    );
    assert_eq!(
        b64.decode(v["CiphertextBlob"].as_str().unwrap()).unwrap(),
        r.ciphertext_blob
    );
    // Requests parse from AWS JSON.
    let req: GenerateDataKeyRequest =
        serde_json::from_str(&format!(r#"{{"KeyId":"{}","NumberOfBytes":64}}"#, k.arn)).unwrap();
    assert_eq!(env.kms.generate_data_key(&req).unwrap().plaintext.len(), 64);
}

/// One handle keeps what its reads learned (key rows, alias targets,
/// decrypted material) while the store is unchanged; every change another
/// handle (another process) commits must reach its very next request.
#[test]
fn a_handle_sees_every_change_another_handle_commits_at_once() {
    let env = Env::new();
    let other = open_at(&env.path(), &env.clock).unwrap();
    let (a, b) = (env.key(), env.key());
    let alias = || CreateAliasRequest {
        alias_name: "alias/app".into(),
        target_key_id: a.key_id.clone(),
    };
    env.kms.create_alias(&alias()).unwrap();
    let gen = |id: &str| {
        env.kms.generate_data_key(&GenerateDataKeyRequest {
            key_id: id.into(),
            encryption_context: EncryptionContext::new(),
            number_of_bytes: None,
            key_spec: Some(DataKeySpec::Aes256),
        })
    };
    // Warm: the same answers again, as a handle that keeps them would give.
    for _ in 0..3 {
        assert_eq!(gen("alias/app").unwrap().key_id, a.arn);
        assert_eq!(blob_version(&gen(&a.key_id).unwrap().ciphertext_blob), 1);
    }
    let id = |k: &KeyMetadata| KeyIdRequest {
        key_id: k.key_id.clone(),
    };

    other.disable_key(&id(&a)).unwrap();
    kind(gen("alias/app"), KmsErrorKind::DisabledException);
    kind(gen(&a.key_id), KmsErrorKind::DisabledException);
    other.enable_key(&id(&a)).unwrap();
    assert_eq!(gen("alias/app").unwrap().key_id, a.arn);

    other.rotate_key_on_demand(&id(&a)).unwrap();
    let blob = gen(&a.key_id).unwrap().ciphertext_blob;
    assert_eq!(blob_version(&blob), 2, "the rotation is used at once");
    env.decrypt(&blob, &EncryptionContext::new(), None).unwrap();

    other
        .update_alias(&UpdateAliasRequest {
            alias_name: "alias/app".into(),
            target_key_id: b.key_id.clone(),
        })
        .unwrap();
    assert_eq!(gen("alias/app").unwrap().key_id, b.arn, "the alias moved");
    other
        .delete_alias(&DeleteAliasRequest {
            alias_name: "alias/app".into(),
        })
        .unwrap();
    kind(gen("alias/app"), KmsErrorKind::NotFoundException);

    other
        .schedule_key_deletion(&ScheduleKeyDeletionRequest {
            key_id: b.key_id.clone(),
            pending_window_in_days: Some(7),
        })
        .unwrap();
    kind(gen(&b.key_id), KmsErrorKind::KMSInvalidStateException);

    // The handle's own changes too, and the clock: a deletion date passing
    // is no commit, yet the key is gone at its time.
    env.kms.cancel_key_deletion(&id(&b)).unwrap();
    env.kms.enable_key(&id(&b)).unwrap();
    assert_eq!(gen(&b.key_id).unwrap().key_id, b.arn);
    env.kms
        .schedule_key_deletion(&ScheduleKeyDeletionRequest {
            key_id: b.key_id.clone(),
            pending_window_in_days: Some(7),
        })
        .unwrap();
    kind(gen(&b.key_id), KmsErrorKind::KMSInvalidStateException);
    assert_eq!(gen(&a.key_id).unwrap().key_id, a.arn);
    env.advance(7 * DAY);
    kind(gen(&b.key_id), KmsErrorKind::NotFoundException);
    assert_eq!(gen(&a.key_id).unwrap().key_id, a.arn);
}
