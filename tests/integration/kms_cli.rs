//! `envelope kms <operation>` as separate processes: every operation, JSON
//! output, exit codes, persistence across processes, concurrent processes.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

use crate::support::scrub;

fn cmd(store: &Path) -> Command {
    let mut c = scrub::envelope();
    c.arg("--keystore").arg(store).arg("kms");
    c
}

fn run(store: &Path, args: &[&str]) -> Output {
    cmd(store).args(args).output().unwrap()
}

/// Runs a command that must succeed and returns its JSON (Null if it printed nothing).
#[track_caller]
fn ok(store: &Path, args: &[&str]) -> Value {
    let out = run(store, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Runs a command that must fail with `code` and one `envelope: Name: message` line; returns stderr.
#[track_caller]
fn fails(store: &Path, args: &[&str], code: i32, name: &str) -> String {
    let out = run(store, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    assert!(
        err.lines().count() == 1 && err.starts_with(&format!("envelope: {name}: ")),
        "{args:?}: {err}"
    );
    assert!(out.stdout.is_empty());
    err
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

#[test]
fn every_operation_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path();
    let k = ok(st, &["create-key", "--description", "cli key"]);
    let arn = s(&k["KeyMetadata"]["Arn"]).to_owned();
    let id = s(&k["KeyMetadata"]["KeyId"]).to_owned();
    assert_eq!(k["KeyMetadata"]["Description"], "cli key");
    let k2 = ok(
        st,
        &["create-key", "--customer-master-key-spec", "SYMMETRIC_DEFAULT"],
    );
    let id2 = s(&k2["KeyMetadata"]["KeyId"]).to_owned();
    let rsa = ok(
        st,
        &[
            "create-key",
            "--key-spec",
            "RSA_2048",
            "--key-usage",
            "ENCRYPT_DECRYPT",
        ],
    );
    let rsa_id = s(&rsa["KeyMetadata"]["KeyId"]).to_owned();

    assert_eq!(
        ok(st, &["describe-key", "--key-id", &arn])["KeyMetadata"]["KeyId"],
        id.as_str()
    );
    let keys = ok(st, &["list-keys"]);
    assert_eq!(keys["Keys"].as_array().unwrap().len(), 3);
    let page = ok(st, &["list-keys", "--limit", "1"]);
    assert_eq!(page["Truncated"], true);
    let next = ok(
        st,
        &["list-keys", "--limit", "5", "--marker", s(&page["NextMarker"])],
    );
    assert_eq!(next["Keys"].as_array().unwrap().len(), 2);

    assert_eq!(
        ok(
            st,
            &[
                "create-alias",
                "--alias-name",
                "alias/cli",
                "--target-key-id",
                &id
            ]
        ),
        Value::Null
    );
    ok(
        st,
        &[
            "update-alias",
            "--alias-name",
            "alias/cli",
            "--target-key-id",
            &id2,
        ],
    );
    let aliases = ok(st, &["list-aliases", "--key-id", &id2]);
    assert_eq!(aliases["Aliases"][0]["AliasName"], "alias/cli");
    ok(
        st,
        &[
            "update-alias",
            "--alias-name",
            "alias/cli",
            "--target-key-id",
            &arn,
        ],
    );

    // Encrypt with a base64 plaintext and a file plaintext; decrypt both ways.
    let enc = ok(
        st,
        &[
            "encrypt",
            "--key-id",
            "alias/cli",
            "--plaintext",
            &STANDARD.encode(b"hello"),
            "--encryption-context",
            "app=cli",
            "--encryption-context",
            "v=1",
        ],
    );
    assert_eq!(enc["KeyId"], arn.as_str());
    let blob = s(&enc["CiphertextBlob"]).to_owned();
    let blob_file = dir.path().join("blob.bin");
    std::fs::write(&blob_file, STANDARD.decode(&blob).unwrap()).unwrap();
    let fileb = format!("fileb://{}", blob_file.display());
    for ct in [blob.as_str(), fileb.as_str()] {
        let d = ok(
            st,
            &[
                "decrypt",
                "--ciphertext-blob",
                ct,
                "--encryption-context",
                r#"{"v":"1","app":"cli"}"#,
            ],
        );
        assert_eq!(STANDARD.decode(s(&d["Plaintext"])).unwrap(), b"hello");
        assert_eq!(d["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
    }
    let pt_file = dir.path().join("pt.bin");
    std::fs::write(&pt_file, [0u8, 255, 10]).unwrap();
    let enc2 = ok(
        st,
        &[
            "encrypt",
            "--key-id",
            &id,
            "--plaintext",
            &format!("fileb://{}", pt_file.display()),
        ],
    );
    let d = ok(
        st,
        &[
            "decrypt",
            "--ciphertext-blob",
            s(&enc2["CiphertextBlob"]),
            "--key-id",
            &arn,
        ],
    );
    assert_eq!(STANDARD.decode(s(&d["Plaintext"])).unwrap(), [0u8, 255, 10]);

    let re = ok(
        st,
        &[
            "re-encrypt",
            "--ciphertext-blob",
            &blob,
            "--source-encryption-context",
            "app=cli",
            "--source-encryption-context",
            "v=1",
            "--destination-key-id",
            &id2,
            "--destination-encryption-context",
            "v=2",
        ],
    );
    assert_eq!(re["SourceKeyId"], arn.as_str());
    let d = ok(
        st,
        &[
            "decrypt",
            "--ciphertext-blob",
            s(&re["CiphertextBlob"]),
            "--encryption-context",
            "v=2",
        ],
    );
    assert_eq!(STANDARD.decode(s(&d["Plaintext"])).unwrap(), b"hello");

    let gdk = ok(
        st,
        &[
            "generate-data-key",
            "--key-id",
            &id,
            "--key-spec",
            "AES_256",
            "--encryption-context",
            "a=b",
        ],
    );
    assert_eq!(STANDARD.decode(s(&gdk["Plaintext"])).unwrap().len(), 32);
    let d = ok(
        st,
        &[
            "decrypt",
            "--ciphertext-blob",
            s(&gdk["CiphertextBlob"]),
            "--encryption-context",
            "a=b",
        ],
    );
    assert_eq!(d["Plaintext"], gdk["Plaintext"]);
    let gdkw = ok(
        st,
        &[
            "generate-data-key-without-plaintext",
            "--key-id",
            &id,
            "--number-of-bytes",
            "1024",
        ],
    );
    assert!(gdkw.get("Plaintext").is_none());
    let d = ok(st, &["decrypt", "--ciphertext-blob", s(&gdkw["CiphertextBlob"])]);
    assert_eq!(STANDARD.decode(s(&d["Plaintext"])).unwrap().len(), 1024);
    let r = ok(st, &["generate-random", "--number-of-bytes", "17"]);
    assert_eq!(STANDARD.decode(s(&r["Plaintext"])).unwrap().len(), 17);

    let pk = ok(st, &["get-public-key", "--key-id", &rsa_id]);
    assert_eq!(pk["KeySpec"], "RSA_2048");
    let der = STANDARD.decode(s(&pk["PublicKey"])).unwrap();
    assert_eq!(der[0], 0x30, "DER SEQUENCE");
    let renc = ok(
        st,
        &[
            "encrypt",
            "--key-id",
            &rsa_id,
            "--plaintext",
            &STANDARD.encode([1u8; 190]),
            "--encryption-algorithm",
            "RSAES_OAEP_SHA_256",
        ],
    );
    let d = ok(
        st,
        &[
            "decrypt",
            "--ciphertext-blob",
            s(&renc["CiphertextBlob"]),
            "--key-id",
            &rsa_id,
            "--encryption-algorithm",
            "RSAES_OAEP_SHA_256",
        ],
    );
    assert_eq!(STANDARD.decode(s(&d["Plaintext"])).unwrap(), [1u8; 190]);

    ok(
        st,
        &[
            "enable-key-rotation",
            "--key-id",
            &id,
            "--rotation-period-in-days",
            "90",
        ],
    );
    let rs = ok(st, &["get-key-rotation-status", "--key-id", &arn]);
    assert_eq!(
        (
            rs["KeyRotationEnabled"].clone(),
            rs["RotationPeriodInDays"].clone()
        ),
        (Value::Bool(true), Value::from(90))
    );
    ok(st, &["disable-key-rotation", "--key-id", &id]);
    assert_eq!(
        ok(st, &["rotate-key-on-demand", "--key-id", &id])["KeyId"],
        arn.as_str()
    );
    // Blobs from before the rotation still decrypt.
    ok(
        st,
        &[
            "decrypt",
            "--ciphertext-blob",
            &blob,
            "--encryption-context",
            "app=cli",
            "--encryption-context",
            "v=1",
        ],
    );

    ok(st, &["disable-key", "--key-id", &id]);
    fails(
        st,
        &["encrypt", "--key-id", &id, "--plaintext", "AA=="],
        4,
        "DisabledException",
    );
    ok(st, &["enable-key", "--key-id", &id]);
    let sd = ok(
        st,
        &[
            "schedule-key-deletion",
            "--key-id",
            &id,
            "--pending-window-in-days",
            "7",
        ],
    );
    assert_eq!(sd["KeyState"], "PendingDeletion");
    assert_eq!(sd["PendingWindowInDays"], 7);
    fails(
        st,
        &["encrypt", "--key-id", &id, "--plaintext", "AA=="],
        4,
        "KMSInvalidStateException",
    );
    ok(st, &["cancel-key-deletion", "--key-id", &id]);
    assert_eq!(
        ok(st, &["describe-key", "--key-id", &id])["KeyMetadata"]["KeyState"],
        "Disabled"
    );
    ok(st, &["delete-alias", "--alias-name", "alias/cli"]);
    assert_eq!(ok(st, &["list-aliases"])["Aliases"].as_array().unwrap().len(), 0);
}

#[test]
fn exit_codes_and_error_lines() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path();
    let k = ok(st, &["create-key"]);
    let id = s(&k["KeyMetadata"]["KeyId"]).to_owned();
    let enc = ok(
        st,
        &[
            "encrypt",
            "--key-id",
            &id,
            "--plaintext",
            "aGk=",
            "--encryption-context",
            "a=b",
        ],
    );
    let blob = s(&enc["CiphertextBlob"]).to_owned();

    // 1: the ciphertext does not open, or names another key.
    fails(
        st,
        &["decrypt", "--ciphertext-blob", &blob],
        1,
        "InvalidCiphertextException",
    );
    let other = ok(st, &["create-key"]);
    fails(
        st,
        &[
            "decrypt",
            "--ciphertext-blob",
            &blob,
            "--encryption-context",
            "a=b",
            "--key-id",
            s(&other["KeyMetadata"]["KeyId"]),
        ],
        1,
        "IncorrectKeyException",
    );
    // 2: validation and usage.
    fails(
        st,
        &["generate-random", "--number-of-bytes", "0"],
        2,
        "ValidationException",
    );
    fails(st, &["generate-random"], 2, "ValidationException");
    fails(
        st,
        &[
            "encrypt",
            "--key-id",
            &id,
            "--plaintext",
            &STANDARD.encode([0u8; 4097]),
        ],
        2,
        "ValidationException",
    );
    fails(
        st,
        &["encrypt", "--key-id", &id, "--plaintext", "not base64!"],
        2,
        "ValidationException",
    );
    fails(
        st,
        &[
            "encrypt",
            "--key-id",
            &id,
            "--plaintext",
            "aGk=",
            "--encryption-context",
            "novalue",
        ],
        2,
        "ValidationException",
    );
    fails(
        st,
        &["create-key", "--key-spec", "RSA_1024"],
        2,
        "ValidationException",
    );
    let out = run(st, &["encrypt", "--plaintext", "aGk="]);
    assert_eq!(out.status.code(), Some(2), "clap usage error");
    // 3: I/O.
    let err = {
        let out = run(
            st,
            &[
                "encrypt",
                "--key-id",
                &id,
                "--plaintext",
                "fileb:///nonexistent/file",
            ],
        );
        assert_eq!(out.status.code(), Some(3));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(err.contains("/nonexistent/file"), "{err}");
    // 4: other key-service errors.
    let e = fails(
        st,
        &["describe-key", "--key-id", "alias/missing"],
        4,
        "NotFoundException",
    );
    assert!(
        e.contains("Alias arn:aws:kms:us-east-1:111122223333:alias/missing is not found."),
        "{e}"
    );
    ok(
        st,
        &[
            "create-alias",
            "--alias-name",
            "alias/dup",
            "--target-key-id",
            &id,
        ],
    );
    fails(
        st,
        &[
            "create-alias",
            "--alias-name",
            "alias/dup",
            "--target-key-id",
            &id,
        ],
        4,
        "AlreadyExistsException",
    );
    fails(
        st,
        &["get-public-key", "--key-id", &id],
        4,
        "UnsupportedOperationException",
    );
    fails(
        st,
        &["cancel-key-deletion", "--key-id", &id],
        4,
        "KMSInvalidStateException",
    );
    fails(
        st,
        &["list-keys", "--marker", "nope"],
        4,
        "InvalidMarkerException",
    );
}

#[test]
fn persistence_across_processes_and_first_run_note() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("home");
    let first = cmd(&st).args(["create-key"]).output().unwrap();
    assert!(first.status.success());
    let note = String::from_utf8_lossy(&first.stderr);
    assert!(note.contains("created a new key store"), "{note}");
    let k: Value = serde_json::from_slice(&first.stdout).unwrap();
    let id = s(&k["KeyMetadata"]["KeyId"]).to_owned();
    let enc = ok(&st, &["encrypt", "--key-id", &id, "--plaintext", "cGVyc2lzdA=="]);
    let second = run(&st, &["decrypt", "--ciphertext-blob", s(&enc["CiphertextBlob"])]);
    assert!(second.status.success());
    assert!(second.stderr.is_empty(), "no note once the store exists");
    let d: Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(d["Plaintext"], "cGVyc2lzdA==");
}

#[test]
fn environment_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("env-home");
    let env_cmd = || {
        let mut c = scrub::envelope();
        c.env("ENVELOPE_HOME", &home)
            .env("ENVELOPE_REGION", "ap-southeast-2")
            .env("ENVELOPE_ACCOUNT_ID", "123456789012")
            .args(["kms", "create-key"]);
        c
    };
    let out = env_cmd().output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let k: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(s(&k["KeyMetadata"]["Arn"]).starts_with("arn:aws:kms:ap-southeast-2:123456789012:key/"));
    assert!(home.join("kms.db").exists() && home.join("root.key").exists());
    let bad = env_cmd().env("ENVELOPE_ACCOUNT_ID", "12").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn passphrase_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path();
    let with = |p: &str, args: &[&str]| cmd(st).env("ENVELOPE_PASSPHRASE", p).args(args).output().unwrap();
    let out = with("right one", &["create-key"]);
    assert!(out.status.success());
    let k: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = s(&k["KeyMetadata"]["KeyId"]);
    let out = with("wrong one", &["describe-key", "--key-id", id]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("envelope: AccessDeniedException: wrong passphrase"),
        "{err}"
    );
    fails(st, &["describe-key", "--key-id", id], 4, "AccessDeniedException");
    assert!(with("right one", &["describe-key", "--key-id", id])
        .status
        .success());
}

#[test]
fn concurrent_processes_create_keys() {
    // A fresh store each round, so the processes also race to create it.
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let st = dir.path().join("store");
        let children: Vec<_> = (0..2)
            .map(|_| {
                cmd(&st)
                    .args(["create-key"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut ids: Vec<String> = children
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().unwrap();
                assert!(
                    out.status.success(),
                    "round {round}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let v: Value = serde_json::from_slice(&out.stdout).unwrap();
                s(&v["KeyMetadata"]["KeyId"]).to_owned()
            })
            .collect();
        ids.sort();
        let listed = ok(&st, &["list-keys"]);
        let mut got: Vec<String> = listed["Keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| s(&k["KeyId"]).to_owned())
            .collect();
        got.sort();
        assert_eq!(got, ids, "round {round}");
        // Both processes agreed on one root key: both keys work.
        for id in &ids {
            ok(
                &st,
                &["generate-data-key", "--key-id", id, "--number-of-bytes", "32"],
            );
        }
    }
}

/// `--plaintext -` reads the secret from stdin, so it need not be on the
/// command line (issue 10, informational).
#[test]
fn encrypt_takes_the_plaintext_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let st = &dir.path().join("ks");
    let id = s(&ok(st, &["create-key"])["KeyMetadata"]["KeyId"]).to_owned();
    let mut child = cmd(st)
        .args(["encrypt", "--key-id", &id, "--plaintext", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"from stdin\x00\xff").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let enc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = ok(st, &["decrypt", "--ciphertext-blob", s(&enc["CiphertextBlob"])]);
    assert_eq!(
        STANDARD.decode(s(&d["Plaintext"])).unwrap(),
        b"from stdin\x00\xff"
    );
    let help = String::from_utf8(run(st, &["encrypt", "--help"]).stdout).unwrap();
    assert!(help.contains("- (stdin)"), "{help}");
}
