//! What a writer of `kms.db` without the root key can and cannot do
//! (issue 10, findings 1 and 2; SECURITY.md, "The key store"), and the
//! stores made by earlier versions (testdata/keystore-v1).
//!
//! The attacks are plain SQL on the store's database while the owner's
//! [`KmsCore`] has it open, as an attacker with write access to the file would
//! do them.

use std::path::Path;

use envelope::kms::{
    DecryptRequest, EncryptRequest, EncryptionAlgorithmSpec, KeyIdRequest, KeySpec, Kms, KmsErrorKind,
    DB_FILE,
};
use envelope::EncryptionContext;

use crate::support::kms::{secret, Env};

const OAEP_256: EncryptionAlgorithmSpec = EncryptionAlgorithmSpec::RsaesOaepSha256;

fn sql(store: &Path, statement: &str, key_id: &str) {
    let db = rusqlite::Connection::open(store.join(DB_FILE)).unwrap();
    let n = db.execute(statement, [key_id]).unwrap();
    assert_eq!(n, 1, "{statement}");
}

fn public_key(env: &Env, key_id: &str) -> Result<Vec<u8>, envelope::kms::KmsError> {
    env.kms
        .get_public_key(&KeyIdRequest {
            key_id: key_id.into(),
        })
        .map(|r| r.public_key)
}

fn rsa_encrypt(env: &Env, key_id: &str, pt: &[u8]) -> Result<Vec<u8>, envelope::kms::KmsError> {
    env.kms
        .encrypt(&EncryptRequest {
            key_id: key_id.into(),
            plaintext: secret(pt),
            encryption_context: EncryptionContext::new(),
            encryption_algorithm: Some(OAEP_256),
        })
        .map(|r| r.ciphertext_blob)
}

fn rsa_decrypt(env: &Env, key_id: &str, ct: &[u8]) -> Result<Vec<u8>, envelope::kms::KmsError> {
    env.kms
        .decrypt(&DecryptRequest {
            ciphertext_blob: ct.to_vec(),
            encryption_context: EncryptionContext::new(),
            key_id: Some(key_id.into()),
            encryption_algorithm: Some(OAEP_256),
        })
        .map(|r| r.plaintext.to_vec())
}

/// Writes `spki` into key `key_id`'s `public_key` column with plain SQL, as
/// a writer of `kms.db` without the root key can.
fn plant_public_key(db: &rusqlite::Connection, spki: &[u8], key_id: &str) {
    let n = db
        .execute(
            "UPDATE keys SET public_key = ?1 WHERE key_id = ?2",
            rusqlite::params![spki, key_id],
        )
        .unwrap();
    assert_eq!(n, 1, "no row for {key_id}");
}

/// Finding 1: an attacker's public key planted in the `public_key` column is
/// never served and never encrypts.
#[test]
fn keystore_planted_public_key_is_never_used() {
    let owner = Env::new();
    let attacker = Env::new();
    let victim = owner.key_spec(Some(KeySpec::Rsa2048)).key_id;
    let theirs = attacker.key_spec(Some(KeySpec::Rsa2048)).key_id;
    let genuine = public_key(&owner, &victim).unwrap();
    let planted = public_key(&attacker, &theirs).unwrap();
    assert_ne!(genuine, planted);

    let db = rusqlite::Connection::open(owner.path().join(DB_FILE)).unwrap();
    plant_public_key(&db, &planted, &victim);

    assert_eq!(
        public_key(&owner, &victim).unwrap(),
        genuine,
        "GetPublicKey served the planted key"
    );
    let ct = rsa_encrypt(&owner, &victim, b"for the owner only").unwrap();
    assert_eq!(rsa_decrypt(&owner, &victim, &ct).unwrap(), b"for the owner only");
    assert!(
        rsa_decrypt(&attacker, &theirs, &ct).is_err(),
        "the attacker's key opens it"
    );

    // A public key planted on a symmetric key does not turn it into an RSA key.
    let sym = owner.key().key_id;
    plant_public_key(&db, &planted, &sym);
    let ec = EncryptionContext::from([("k".to_string(), "v".to_string())]);
    let blob = owner.encrypt(&sym, b"symmetric", &ec).unwrap().ciphertext_blob;
    assert_eq!(
        &owner.decrypt(&blob, &ec, None).unwrap().plaintext[..],
        b"symmetric"
    );
    let e = public_key(&owner, &sym).unwrap_err();
    assert_eq!(e.kind, KmsErrorKind::UnsupportedOperationException, "{e}");
}

/// Finding 1: the key spec and usage are bound to the key material, so a
/// changed column makes the key fail clearly instead of choosing another
/// code path.
#[test]
fn keystore_changed_key_spec_or_usage_is_refused() {
    let env = Env::new();
    let rsa = env.key_spec(Some(KeySpec::Rsa2048)).key_id;
    let sym = env.key().key_id;
    let sym2 = env.key().key_id;
    let ec = EncryptionContext::new();
    let blob = env.encrypt(&sym, b"x", &ec).unwrap().ciphertext_blob;

    sql(
        &env.path(),
        "UPDATE keys SET key_spec = 'SYMMETRIC_DEFAULT' WHERE key_id = ?1",
        &rsa,
    );
    let e = env.encrypt(&rsa, b"x", &ec).unwrap_err();
    assert_eq!(e.kind, KmsErrorKind::KMSInternalException, "{e}");
    assert!(e.to_string().contains("does not open"), "{e}");

    sql(
        &env.path(),
        "UPDATE keys SET key_spec = 'RSA_2048' WHERE key_id = ?1",
        &sym,
    );
    assert_eq!(
        public_key(&env, &sym).unwrap_err().kind,
        KmsErrorKind::KMSInternalException
    );
    assert_eq!(
        rsa_encrypt(&env, &sym, b"x").unwrap_err().kind,
        KmsErrorKind::KMSInternalException
    );

    sql(
        &env.path(),
        "UPDATE keys SET key_usage = 'SIGN_VERIFY' WHERE key_id = ?1",
        &sym2,
    );
    assert_eq!(
        env.encrypt(&sym2, b"x", &ec).unwrap_err().kind,
        KmsErrorKind::KMSInternalException
    );
    // Keys nobody touched keep working.
    let fresh = env.key().key_id;
    let b = env.encrypt(&fresh, b"y", &ec).unwrap().ciphertext_blob;
    assert_eq!(&env.decrypt(&b, &ec, None).unwrap().plaintext[..], b"y");
    assert!(!blob.is_empty());
}

/// Every 16-byte window of `secret` that occurs in a file of `dir`, as
/// (file name, offset).
fn traces(dir: &Path, secrets: &[Vec<u8>]) -> Vec<(String, usize)> {
    const W: usize = 16;
    let windows: std::collections::HashSet<&[u8]> = secrets.iter().flat_map(|s| s.windows(W)).collect();
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for (i, w) in bytes.windows(W).enumerate() {
            if windows.contains(w) {
                found.push((path.file_name().unwrap().to_string_lossy().into_owned(), i));
            }
        }
    }
    found
}

fn tokens_of(store: &Path, key_id: &str) -> Vec<Vec<u8>> {
    let db = rusqlite::Connection::open(store.join(DB_FILE)).unwrap();
    let mut st = db
        .prepare("SELECT ekt FROM backing_keys WHERE key_id = ?1")
        .unwrap();
    let rows = st.query_map([key_id], |r| r.get(0)).unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

/// Finding 2: once a key's deletion happens, no byte string of 16 bytes or
/// more of its encrypted key tokens is left in any file of the store (the
/// database, its WAL, freed pages).
#[test]
fn keystore_deleted_key_tokens_leave_no_trace() {
    use envelope::kms::{ListKeysRequest, ScheduleKeyDeletionRequest};
    let env = Env::new();
    let kept = env.key().key_id;
    let doomed = [
        env.key().key_id,
        env.key_spec(Some(KeySpec::Rsa2048)).key_id,
        env.key().key_id,
    ];
    // Rotations give the symmetric keys several tokens, and page churn.
    for id in [&doomed[0], &kept] {
        for _ in 0..3 {
            env.kms
                .rotate_key_on_demand(&KeyIdRequest { key_id: id.clone() })
                .unwrap();
        }
    }
    let secrets: Vec<Vec<u8>> = doomed.iter().flat_map(|id| tokens_of(&env.path(), id)).collect();
    assert_eq!(secrets.len(), 4 + 1 + 1);
    let kept_tokens = tokens_of(&env.path(), &kept);
    assert!(
        !traces(&env.path(), &secrets).is_empty(),
        "the search finds live tokens"
    );
    for id in &doomed {
        env.kms
            .schedule_key_deletion(&ScheduleKeyDeletionRequest {
                key_id: id.clone(),
                pending_window_in_days: Some(7),
            })
            .unwrap();
    }
    env.advance(7 * 86_400);
    // Any operation applies the deletions that are due.
    let listed = env.kms.list_keys(&ListKeysRequest::default()).unwrap();
    assert_eq!(listed.keys.len(), 1);
    let left = traces(&env.path(), &secrets);
    assert!(left.is_empty(), "token bytes of deleted keys remain: {left:?}");
    // The key that stays is still there and still works.
    assert!(!traces(&env.path(), &kept_tokens).is_empty());
    let ec = EncryptionContext::new();
    let b = env.encrypt(&kept, b"still here", &ec).unwrap().ciphertext_blob;
    assert_eq!(&env.decrypt(&b, &ec, None).unwrap().plaintext[..], b"still here");
}

/// Copies `testdata/keystore-v1/<mode>` into a fresh private directory (git
/// keeps no 0600 modes).
fn old_store(mode: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("ks");
    std::fs::create_dir(&ks).unwrap();
    std::fs::set_permissions(&ks, std::fs::Permissions::from_mode(0o700)).unwrap();
    let src = crate::support::fixtures::repo_file(&format!("testdata/keystore-v1/{mode}"));
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = ks.join(entry.file_name());
        std::fs::copy(entry.path(), &to).unwrap();
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    (dir, ks)
}

/// The fixture's manifest.
fn manifest() -> serde_json::Value {
    let path = crate::support::fixtures::repo_file("testdata/keystore-v1/manifest.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Stores made by the code before issue 10 (v1 tokens, Argon2id 19 MiB/2/1,
/// public keys in a column) open, are migrated once, and every key works.
#[test]
fn keystore_old_stores_still_open() {
    use base64::Engine as _;
    use envelope::kms::{KmsConfig, KmsCore};
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let m = manifest();
    let plaintext = m["plaintext"].as_str().unwrap().as_bytes();
    for mode in ["file", "passphrase"] {
        let f = &m[mode];
        let (_dir, ks) = old_store(mode);
        let mut config = KmsConfig::new(&ks);
        if let Some(p) = f["passphrase"].as_str() {
            config.passphrase = Some(secret(p.as_bytes()));
        }
        for round in 0..2 {
            let kms = KmsCore::open(config.clone()).unwrap();
            let ec: EncryptionContext = serde_json::from_value(f["encryption_context"].clone()).unwrap();
            let sym = kms
                .decrypt(&DecryptRequest {
                    ciphertext_blob: b64(&f["symmetric_ciphertext"]),
                    encryption_context: ec.clone(),
                    key_id: None,
                    encryption_algorithm: None,
                })
                .unwrap_or_else(|e| panic!("{mode} round {round}: {e}"));
            assert_eq!(&sym.plaintext[..], plaintext);
            let rsa_id = f["rsa_key_id"].as_str().unwrap();
            let rsa = kms
                .decrypt(&DecryptRequest {
                    ciphertext_blob: b64(&f["rsa_ciphertext"]),
                    encryption_context: EncryptionContext::new(),
                    key_id: Some(rsa_id.into()),
                    encryption_algorithm: Some(OAEP_256),
                })
                .unwrap();
            assert_eq!(&rsa.plaintext[..], plaintext);
            let public = kms
                .get_public_key(&KeyIdRequest {
                    key_id: rsa_id.into(),
                })
                .unwrap();
            assert_eq!(public.public_key, b64(&f["rsa_public_key"]));
            let blob = kms
                .encrypt(&EncryptRequest {
                    key_id: "alias/fixture".into(),
                    plaintext: secret(b"new"),
                    encryption_context: ec.clone(),
                    encryption_algorithm: None,
                })
                .unwrap()
                .ciphertext_blob;
            let back = kms
                .decrypt(&DecryptRequest {
                    ciphertext_blob: blob,
                    encryption_context: ec,
                    key_id: None,
                    encryption_algorithm: None,
                })
                .unwrap();
            assert_eq!(&back.plaintext[..], b"new");
        }
    }
}

/// New passphrase stores record their Argon2id parameters, and the stored
/// parameters are the ones used: changed, they derive another root key,
/// which the verifier refuses.
#[test]
fn keystore_argon2_parameters_are_stored_and_honoured() {
    use envelope::kms::{KmsConfig, KmsCore};
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("ks");
    let mut config = KmsConfig::new(&ks);
    config.passphrase = Some(secret(b"correct horse"));
    drop(KmsCore::open(config.clone()).unwrap());
    let db = rusqlite::Connection::open(ks.join(DB_FILE)).unwrap();
    let params: Vec<u8> = db
        .query_row("SELECT value FROM meta WHERE name = 'argon2id_params'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(params, b"65536,3,1");
    drop(KmsCore::open(config.clone()).unwrap());
    db.execute(
        "UPDATE meta SET value = ?1 WHERE name = 'argon2id_params'",
        [b"65536,2,1".to_vec()],
    )
    .unwrap();
    let e = KmsCore::open(config).unwrap_err();
    assert_eq!(e.kind, KmsErrorKind::AccessDeniedException, "{e}");
}

/// A store made before identities were stored adopts one on its first open
/// (from ENVELOPE_REGION / ENVELOPE_ACCOUNT_ID, else the defaults) and keeps it.
#[test]
fn keystore_old_stores_adopt_an_identity() {
    let m = manifest();
    let id = m["file"]["symmetric_key_id"].as_str().unwrap();
    let (_dir, ks) = old_store("file");
    let describe = |vars: &[(&str, &str)]| {
        let mut c = crate::support::scrub::envelope();
        for (k, v) in vars {
            c.env(k, v);
        }
        c.arg("--keystore")
            .arg(&ks)
            .args(["kms", "describe-key", "--key-id", id])
            .output()
            .unwrap()
    };
    let arn = |out: &std::process::Output| -> String {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["KeyMetadata"]["Arn"].as_str().unwrap().to_owned()
    };
    let want = format!("arn:aws:kms:ap-south-1:111122223333:key/{id}");
    assert_eq!(arn(&describe(&[("ENVELOPE_REGION", "ap-south-1")])), want);
    assert_eq!(arn(&describe(&[])), want, "the adopted region is kept");
    let refused = describe(&[("ENVELOPE_REGION", "us-east-1")]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
