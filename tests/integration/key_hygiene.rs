//! Key hygiene: the key store is owner-only and a store others can reach is
//! refused; key material and plaintext never appear in `{:?}` output or in
//! error messages.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use envelope::keyring::kms::KmsKeyring;
use envelope::keyring::multi::MultiKeyring;
use envelope::keyring::raw_rsa::{RawRsaKeyring, RsaPadding};
use envelope::keyring::{DecryptionMaterials, EncryptionMaterials, Keyring};
use envelope::kms::{
    CreateKeyRequest, DecryptRequest, EncryptRequest, GenerateDataKeyRequest, GenerateRandomRequest, Kms,
    KmsConfig, KmsCore, KmsErrorKind,
};
use envelope::stream::{decrypt, encrypt, DecryptOptions, EncryptOptions};
use envelope::AlgorithmSuite;
use envelope::EncryptionContext;
use zeroize::Zeroizing;

use crate::support::fixtures::{keyring_with, raw_aes_words};
use crate::support::scrub;

/// A wrapping key whose bytes are easy to spot in any encoding.
const AES_KEY: [u8; 32] = [
    0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18, 0x29, 0x3a, 0x4b, 0x5c, 0x6d, 0x7e, 0x8f, 0x90, 0xa1,
    0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18, 0x29, 0x3a, 0x4b, 0x5c, 0x6d, 0x7e, 0x8f, 0x91,
];

/// The forms a secret could take in text: raw, hex, base64, and `{:?}` of bytes.
fn forms(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut f = Vec::new();
    for w in secret.windows(8.min(secret.len())).step_by(4) {
        f.push(w.to_vec());
        let hex: String = w.iter().map(|b| format!("{b:02x}")).collect();
        f.push(hex.to_uppercase().into_bytes());
        f.push(hex.into_bytes());
        let dbg = format!("{w:?}");
        f.push(
            dbg.trim_start_matches('[')
                .trim_end_matches(']')
                .as_bytes()
                .to_vec(),
        );
    }
    f.push(STANDARD.encode(secret).into_bytes());
    f
}

/// The first form of `secret` found in `text`.
fn shown(text: &[u8], secret: &[u8]) -> Option<Vec<u8>> {
    forms(secret)
        .into_iter()
        .find(|f| text.windows(f.len()).any(|w| w == &f[..]))
}

#[track_caller]
fn assert_hidden(what: &str, text: &[u8], secret: &[u8]) {
    if let Some(f) = shown(text, secret) {
        panic!(
            "{what} shows secret bytes as {:?}:\n{}",
            String::from_utf8_lossy(&f),
            String::from_utf8_lossy(text)
        );
    }
}

#[test]
fn the_search_finds_every_form() {
    let key = &AES_KEY[..];
    let hex: String = key.iter().map(|b| format!("{b:02X}")).collect();
    for text in [
        format!("key {key:?}"),
        format!("key {}", &hex[8..40]),
        format!("key {}", hex[8..40].to_lowercase()),
        format!("key {}", STANDARD.encode(key)),
        format!("{:?}", Zeroizing::new(key[5..20].to_vec()).to_vec()),
    ] {
        assert!(shown(text.as_bytes(), key).is_some(), "not found in {text}");
    }
    assert!(shown(format!("{:?}", &key[..7]).as_bytes(), key).is_none());
}

// ---------------------------------------------------------------- Debug

#[test]
fn debug_output_of_keyrings_and_materials_hides_keys() {
    let rsa_pem = std::fs::read("testdata/keys/rsa-2048-private.pem").unwrap();
    let rsa = RawRsaKeyring::new("ns", "rsa", RsaPadding::OaepSha256, None, Some(&rsa_pem)).unwrap();
    let pem_body: Vec<&[u8]> = rsa_pem.split(|b| *b == b'\n').filter(|l| l.len() > 40).collect();
    let text = format!("{rsa:?}");
    for line in &pem_body {
        assert_hidden("RawRsaKeyring", text.as_bytes(), line);
    }
    assert_hidden(
        "RawAesKeyring",
        format!("{:?}", keyring_with(&AES_KEY)).as_bytes(),
        &AES_KEY,
    );
    let multi = MultiKeyring::new(Some(Box::new(keyring_with(&AES_KEY))), vec![Box::new(rsa)]).unwrap();
    assert_hidden("MultiKeyring", format!("{multi:?}").as_bytes(), &AES_KEY);

    // Materials once a keyring has put the data key in them.
    let suite = AlgorithmSuite::DEFAULT;
    let mut em = EncryptionMaterials {
        suite,
        encryption_context: EncryptionContext::new(),
        required_encryption_context_keys: Vec::new(),
        plaintext_data_key: None,
        encrypted_data_keys: Vec::new(),
    };
    multi.on_encrypt(&mut em).unwrap();
    let data_key = em.plaintext_data_key.clone().unwrap();
    let text = format!("{em:?}");
    assert!(text.contains("plaintext_data_key"), "{text}");
    assert_hidden("EncryptionMaterials", text.as_bytes(), &data_key);
    let mut dm = DecryptionMaterials {
        suite,
        encryption_context: EncryptionContext::new(),
        required_encryption_context_keys: Vec::new(),
        plaintext_data_key: None,
    };
    multi.on_decrypt(&mut dm, &em.encrypted_data_keys).unwrap();
    assert_eq!(
        dm.plaintext_data_key.as_ref().map(|k| &k[..]),
        Some(&data_key[..])
    );
    assert_hidden("DecryptionMaterials", format!("{dm:?}").as_bytes(), &data_key);

    // A decrypted message prints its length, not its plaintext.
    let secret_text = b"Zq7!Xv9#Lm2$Rt5%Wp8&Ks3*Hd6^Nb1";
    let ct = encrypt(&keyring_with(&AES_KEY), &EncryptOptions::default(), secret_text).unwrap();
    let d = decrypt(&keyring_with(&AES_KEY), &DecryptOptions::default(), &ct).unwrap();
    assert_hidden("Decrypted", format!("{d:?}").as_bytes(), secret_text);
}

#[test]
fn debug_output_of_the_kms_core_hides_keys_and_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = KmsConfig::new(dir.path().join("store"));
    let passphrase = b"Kp3#Wz8!Rq5$Lt2%";
    config.passphrase = Some(Zeroizing::new(passphrase.to_vec()));
    assert_hidden("KmsConfig", format!("{config:?}").as_bytes(), passphrase);
    let core = Arc::new(KmsCore::open(config).unwrap());
    assert_hidden("KmsCore", format!("{core:?}").as_bytes(), passphrase);
    let key = core
        .create_key(&CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .arn;

    let gdk = core
        .generate_data_key(&GenerateDataKeyRequest {
            key_id: key.clone(),
            number_of_bytes: Some(32),
            ..Default::default()
        })
        .unwrap();
    assert_hidden(
        "GenerateDataKeyResponse",
        format!("{gdk:?}").as_bytes(),
        &gdk.plaintext,
    );
    let d = core
        .decrypt(&DecryptRequest {
            ciphertext_blob: gdk.ciphertext_blob.clone(),
            ..Default::default()
        })
        .unwrap();
    assert_hidden("DecryptResponse", format!("{d:?}").as_bytes(), &d.plaintext);
    let req = EncryptRequest {
        key_id: key.clone(),
        plaintext: Zeroizing::new(AES_KEY.to_vec()),
        ..Default::default()
    };
    assert_hidden("EncryptRequest", format!("{req:?}").as_bytes(), &AES_KEY);
    let r = core
        .generate_random(&GenerateRandomRequest {
            number_of_bytes: Some(64),
        })
        .unwrap();
    assert_hidden(
        "GenerateRandomResponse",
        format!("{r:?}").as_bytes(),
        &r.plaintext,
    );
    let kms: Arc<dyn Kms> = core;
    let keyring = KmsKeyring::strict(kms, vec![key]).unwrap();
    assert_hidden("KmsKeyring", format!("{keyring:?}").as_bytes(), passphrase);
}

// ---------------------------------------------------------------- errors

fn envelope(home: &Path) -> Command {
    let mut c = scrub::envelope();
    c.env("ENVELOPE_HOME", home);
    c
}

#[test]
fn errors_logs_and_metadata_never_show_keys_or_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let home = d.join("home");
    let key_file = d.join("aes.key");
    std::fs::write(&key_file, AES_KEY).unwrap();
    let mut other = AES_KEY;
    other[0] ^= 0xff;
    let other_file = d.join("other.key");
    std::fs::write(&other_file, other).unwrap();
    let secret_text = b"Yu4@Gc8!Fj3#Qe6$Vn9%Ta2^Bx5&Sm7*";
    std::fs::write(d.join("plain"), secret_text).unwrap();

    let out = envelope(&home)
        .args(["encrypt", "-i"])
        .arg(d.join("plain"))
        .arg("-o")
        .arg(d.join("ct"))
        .args(raw_aes_words(&key_file))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut ct = std::fs::read(d.join("ct")).unwrap();

    let mut runs: Vec<(String, Output)> = Vec::new();
    // The wrong key.
    runs.push((
        "wrong key".into(),
        envelope(&home)
            .args(["decrypt", "-i"])
            .arg(d.join("ct"))
            .args(["-o", "-"])
            .args(raw_aes_words(&other_file))
            .output()
            .unwrap(),
    ));
    // A tampered last frame (after earlier frames verified).
    let n = ct.len();
    ct[n - 120] ^= 1;
    std::fs::write(d.join("bad"), &ct).unwrap();
    runs.push((
        "tampered".into(),
        envelope(&home)
            .args(["decrypt", "-i"])
            .arg(d.join("bad"))
            .arg("-o")
            .arg(d.join("out"))
            .args(raw_aes_words(&key_file))
            .output()
            .unwrap(),
    ));
    // Key files of the wrong size, raw and as (bad) base64 text.
    for (name, bytes) in [
        ("31-byte key file", AES_KEY[..31].to_vec()),
        ("33-byte key file", [&AES_KEY[..], &[0]].concat()),
        (
            "base64 key of 31 bytes",
            STANDARD.encode(&AES_KEY[..31]).into_bytes(),
        ),
    ] {
        std::fs::write(d.join("badkey"), &bytes).unwrap();
        runs.push((
            name.into(),
            envelope(&home)
                .args(["encrypt", "-i"])
                .arg(d.join("plain"))
                .args(["-o", "-"])
                .args(raw_aes_words(&d.join("badkey")))
                .output()
                .unwrap(),
        ));
    }
    // Successful runs with verbose output and metadata lines, a failed run's
    // metadata line, and `inspect`: what they print is checked below too.
    let meta = d.join("meta.jsonl");
    for (op, input, output) in [
        ("encrypt", "plain", "ct2"),
        ("decrypt", "ct2", "plain2"),
        ("decrypt", "bad", "x"),
    ] {
        let out = envelope(&home)
            .args(["-vv", op, "-i"])
            .arg(d.join(input))
            .arg("-o")
            .arg(d.join(output))
            .arg("--metadata-output")
            .arg(&meta)
            .args(raw_aes_words(&key_file))
            .output()
            .unwrap();
        assert_eq!(out.status.success(), output != "x", "{op} {input}");
        runs.push((format!("-vv {op} {input}"), out));
    }
    let meta_text = std::fs::read(&meta).unwrap();
    assert_eq!(
        meta_text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count(),
        3
    );
    assert_hidden("--metadata-output", &meta_text, &AES_KEY);
    assert_hidden("--metadata-output", &meta_text, secret_text);
    let out = envelope(&home)
        .arg("inspect")
        .arg(d.join("ct2"))
        .output()
        .unwrap();
    assert!(out.status.success());
    runs.push(("inspect".into(), out));
    for (what, out) in &runs {
        if !what.starts_with("-vv") && what != "inspect" {
            assert!(!out.status.success(), "{what}: should fail");
            assert!(!out.stderr.is_empty(), "{what}: no message");
        }
        for stream in [&out.stderr, &out.stdout] {
            assert_hidden(what, stream, &AES_KEY);
            assert_hidden(what, stream, &other);
            assert_hidden(what, stream, secret_text);
        }
    }

    // KMS core: a wrong passphrase is not echoed.
    let store = d.join("store");
    let pass = "Mv6!Hs9#Dc4$Ug1%";
    let out = envelope(&home)
        .arg("--keystore")
        .arg(&store)
        .args(["kms", "create-key"])
        .env("ENVELOPE_PASSPHRASE", pass)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = envelope(&home)
        .arg("--keystore")
        .arg(&store)
        .args(["kms", "list-keys"])
        .env("ENVELOPE_PASSPHRASE", "Jx7@Ne2!Pb8#Yf5$")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert_hidden("wrong passphrase", &out.stderr, pass.as_bytes());
    assert_hidden("wrong passphrase", &out.stderr, b"Jx7@Ne2!Pb8#Yf5$");
}

// ---------------------------------------------------------------- permissions

#[cfg(unix)]
mod permissions {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn chmod(p: &Path, m: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    }

    fn kms(store: &Path, args: &[&str]) -> Command {
        let mut c = envelope(&store.join("unused-home"));
        c.arg("--keystore").arg(store).arg("kms").args(args);
        c
    }

    #[test]
    fn the_store_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        // Parents are made as usual; the store itself is 0700.
        let store = dir.path().join("a/b/store");
        let out = kms(&store, &["create-key"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(mode(&store), 0o700);
        let mut names = Vec::new();
        for e in std::fs::read_dir(&store).unwrap() {
            let p = e.unwrap().path();
            assert_eq!(mode(&p), 0o600, "{}", p.display());
            names.push(p.file_name().unwrap().to_string_lossy().into_owned());
        }
        for expected in ["kms.db", "root.key"] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} missing in {names:?}"
            );
        }
    }

    /// Runs `list-keys` and returns its stderr, asserting AccessDenied naming `path`, `mode`, `fix`.
    #[track_caller]
    fn refused(store: &Path, path: &Path, mode: &str, fix: &str) -> String {
        let out = kms(store, &["list-keys"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(4), "{err}");
        assert!(err.starts_with("envelope: AccessDeniedException: "), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains(mode), "{err}");
        assert!(err.contains(&format!("chmod {fix} {}", path.display())), "{err}");
        assert!(err.contains("ENVELOPE_ALLOW_INSECURE_KEYSTORE=1"), "{err}");
        err
    }

    #[test]
    fn a_store_others_can_reach_is_refused_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        assert!(kms(&store, &["create-key"]).output().unwrap().status.success());

        chmod(&store, 0o755);
        refused(&store, &store, "0755", "700");
        // The library refuses the same way, and nothing was changed.
        let e = KmsCore::open(KmsConfig::new(&store)).unwrap_err();
        assert_eq!(e.kind, KmsErrorKind::AccessDeniedException);
        assert_eq!(mode(&store), 0o755);
        // Told to, it uses the store as it is.
        let out = kms(&store, &["list-keys"])
            .env("ENVELOPE_ALLOW_INSECURE_KEYSTORE", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let mut config = KmsConfig::new(&store);
        config.allow_insecure_permissions = true;
        KmsCore::open(config).unwrap();
        assert_eq!(mode(&store), 0o755);
        // Only 1 (or 0) is accepted.
        let out = kms(&store, &["list-keys"])
            .env("ENVELOPE_ALLOW_INSECURE_KEYSTORE", "yes")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("ENVELOPE_ALLOW_INSECURE_KEYSTORE"));
        chmod(&store, 0o700);

        // Files: a readable database or root key file is refused too.
        for (name, m, shown) in [("kms.db", 0o640, "0640"), ("root.key", 0o604, "0604")] {
            let p = store.join(name);
            chmod(&p, m);
            refused(&store, &p, shown, "600");
            chmod(&p, 0o600);
        }
        // Group-writable directory: refused as well.
        chmod(&store, 0o770);
        refused(&store, &store, "0770", "700");
        chmod(&store, 0o700);
        assert!(kms(&store, &["list-keys"]).output().unwrap().status.success());
    }

    #[test]
    fn encrypting_with_a_refused_store_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        assert!(kms(&store, &["create-key"]).output().unwrap().status.success());
        chmod(&store, 0o711);
        std::fs::write(dir.path().join("plain"), b"data").unwrap();
        let out = envelope(&dir.path().join("home"))
            .arg("--keystore")
            .arg(&store)
            .args(["encrypt", "-i"])
            .arg(dir.path().join("plain"))
            .arg("-o")
            .arg(dir.path().join("ct"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(4),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 700"));
        assert!(!dir.path().join("ct").exists());
    }

    #[test]
    fn an_existing_empty_directory_becomes_a_private_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir(&store).unwrap();
        chmod(&store, 0o755);
        assert!(kms(&store, &["create-key"]).output().unwrap().status.success());
        assert_eq!(mode(&store), 0o700);
    }
}
