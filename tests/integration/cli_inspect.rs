//! `envelope inspect` (text and --json) and `--metadata-output` lines.

use std::collections::BTreeSet;

use crate::support::cli::{aes_key, bytes, with, Env};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

fn json(out: &[u8]) -> Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(out)))
}

#[test]
fn inspect_json_shows_the_header_without_keys() {
    let env = Env::new();
    env.write("p", &bytes(10_000, 1));
    env.ok(&[
        "-q",
        "encrypt",
        "-i",
        "p",
        "-o",
        "kms.enc",
        "-c",
        "purpose=backup",
        "--frame-length",
        "1024",
    ]);
    let size = std::fs::metadata(env.path("kms.enc")).unwrap().len();
    // A different key store: inspect needs no key at all.
    let stranger = Env::new();
    std::fs::copy(env.path("kms.enc"), stranger.path("kms.enc")).unwrap();
    let out = stranger.ok(&["inspect", "--json", "kms.enc"]);
    assert!(!stranger.home().exists(), "inspect must not open a key store");
    let v = json(&out.stdout);
    assert_eq!(v["input"], "kms.enc");
    assert_eq!(v["format_version"], 2);
    assert_eq!(v["suite_id"], "0x0578");
    assert_eq!(v["suite_name"], "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384");
    assert_eq!(v["message_id"].as_str().unwrap().len(), 64);
    assert!(v["message_id"]
        .as_str()
        .unwrap()
        .bytes()
        .all(|b| b.is_ascii_hexdigit()));
    assert_eq!(v["encryption_context"]["purpose"], "backup");
    assert!(v["encryption_context"]["aws-crypto-public-key"].is_string());
    let edks = v["encrypted_data_keys"].as_array().unwrap();
    assert_eq!(edks.len(), 1);
    assert_eq!(edks[0]["provider_id"], "aws-kms");
    assert_eq!(edks[0]["provider_info_encoding"], "utf-8");
    assert!(edks[0]["provider_info"]
        .as_str()
        .unwrap()
        .starts_with("arn:aws:kms:us-east-1:111122223333:key/"));
    assert!(edks[0]["ciphertext_length"].as_u64().unwrap() > 0);
    assert_eq!(v["content_type"], "framed");
    assert_eq!(v["frame_length"], 1024);
    assert_eq!(v["signed"], true);
    assert_eq!(v["committing"], true);
    let header_size = v["header_size"].as_u64().unwrap();
    assert!(header_size > 100 && header_size < size);
    assert_eq!(v["message_size"], size);

    // From stdin: no message size.
    let out = stranger.run_stdin(&["inspect", "--json", "-"], &env.read("kms.enc"));
    let w = json(&out.stdout);
    assert_eq!(w["message_id"], v["message_id"]);
    assert_eq!(w["input"], "-");
    assert!(w["message_size"].is_null());
    let out = stranger.run_stdin(&["inspect", "--json"], &env.read("kms.enc"));
    assert_eq!(json(&out.stdout)["header_size"], header_size);

    // Text form.
    let out = stranger.ok(&["inspect", "kms.enc"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "format version:     2",
        "suite:              0x0578 AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
        "signed:             yes",
        "content type:       framed",
        "frame length:       1024",
        "  purpose = backup",
        "encrypted data keys: 1",
        "  aws-kms arn:aws:kms:",
        &format!("header size:        {header_size} bytes"),
        &format!("message size:       {size} bytes"),
        &format!("message id:         {}", v["message_id"].as_str().unwrap()),
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
}

#[test]
fn inspect_raw_keys_and_v1_messages() {
    let env = Env::new();
    let key = aes_key(&env);
    env.write("p", b"p");
    env.ok(&with(
        &["encrypt", "-i", "p", "-o", "aes.enc", "--algorithm", "0x0478"],
        &key,
    ));
    let v = json(&env.ok(&["inspect", "--json", "aes.enc"]).stdout);
    assert_eq!(v["signed"], false);
    assert_eq!(v["suite_id"], "0x0478");
    assert!(v["encryption_context"].as_object().unwrap().is_empty());
    let edk = &v["encrypted_data_keys"][0];
    assert_eq!(edk["provider_id"], "tests");
    assert_eq!(edk["provider_info_encoding"], "base64");
    assert_eq!(edk["raw_aes_key_name"], "aes-1");
    let info = STANDARD.decode(edk["provider_info"].as_str().unwrap()).unwrap();
    assert!(info.starts_with(b"aes-1"));
    assert_eq!(info.len(), 5 + 20);
    let text = String::from_utf8_lossy(&env.ok(&["inspect", "aes.enc"]).stdout).into_owned();
    assert!(text.contains("(raw AES key name \"aes-1\")"), "{text}");
    assert!(text.contains("encryption context: (empty)"), "{text}");

    // Format version 1, written under the forbid policy.
    env.ok(&with(
        &[
            "encrypt",
            "-i",
            "p",
            "-o",
            "v1.enc",
            "--commitment-policy",
            "forbid-encrypt-allow-decrypt",
            "--algorithm",
            "0x0178",
        ],
        &key,
    ));
    let v = json(&env.ok(&["inspect", "--json", "v1.enc"]).stdout);
    assert_eq!(v["format_version"], 1);
    assert_eq!(v["suite_id"], "0x0178");
    assert_eq!(v["committing"], false);
    assert_eq!(v["message_id"].as_str().unwrap().len(), 32);
}

#[test]
fn inspect_rejects_what_is_not_a_message() {
    let env = Env::new();
    env.write("text", b"hello, this is text");
    let err = env.fails(&["inspect", "text"], 1);
    assert!(
        err.contains("text: not an AWS Encryption SDK message: malformed header"),
        "{err}"
    );
    env.write("empty", b"");
    let err = env.fails(&["inspect", "empty"], 1);
    assert!(err.contains("empty: the input is empty"), "{err}");
    env.write("p", b"p");
    env.ok(&["-q", "encrypt", "-i", "p", "-o", "p.enc"]);
    let m = env.read("p.enc");
    env.write("cut", &m[..40]);
    let err = env.fails(&["inspect", "cut"], 1);
    assert!(
        err.contains("cut: message truncated: the input ends inside the header, after 40 bytes"),
        "{err}"
    );
    let out = env.run_stdin(&["inspect", "-"], b"\x02\x05\x78");
    assert_eq!(out.status.code(), Some(1));
    let err = env.fails(&["inspect", "missing"], 3);
    assert!(err.contains("missing: "), "{err}");
    env.fails(&["inspect", "a", "b"], 2);
}

/// The metadata file's lines, parsed.
fn lines(env: &Env, name: &str) -> Vec<Value> {
    String::from_utf8(env.read(name))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn metadata_lines_per_file() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.write("b.txt", &bytes(70_000, 2));
    env.ok(&[
        "-q",
        "encrypt",
        "-i",
        "a.txt",
        "b.txt",
        "-o",
        "enc",
        "-c",
        "k=v",
        "--metadata-output",
        "meta.jsonl",
    ]);
    let l = lines(&env, "meta.jsonl");
    assert_eq!(l.len(), 2);
    let want: BTreeSet<String> = [
        "mode",
        "input",
        "output",
        "status",
        "format_version",
        "suite_id",
        "suite_name",
        "message_id",
        "encryption_context",
        "encrypted_data_keys",
        "content_type",
        "frame_length",
        "signed",
        "committing",
        "header_size",
        "bytes_in",
        "bytes_out",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for x in &l {
        assert_eq!(keys(x), want);
        assert_eq!(x["mode"], "encrypt");
        assert_eq!(x["status"], "ok");
        assert_eq!(x["encryption_context"]["k"], "v");
        assert_eq!(x["encrypted_data_keys"][0]["provider_id"], "aws-kms");
        // Only the length of the wrapped data key, never the key.
        assert_eq!(
            keys(&x["encrypted_data_keys"][0]),
            [
                "provider_id",
                "provider_info",
                "provider_info_encoding",
                "ciphertext_length"
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()
        );
    }
    assert_eq!(l[0]["input"], "a.txt");
    assert_eq!(l[0]["output"], "enc/a.txt.encrypted");
    assert_eq!(l[0]["bytes_in"], 5);
    let enc_len = std::fs::metadata(env.path("enc/b.txt.encrypted")).unwrap().len();
    assert_eq!(l[1]["bytes_in"], 70_000);
    assert_eq!(l[1]["bytes_out"], enc_len);
    // The message id is the one inspect reports.
    let v = json(&env.ok(&["inspect", "--json", "enc/b.txt.encrypted"]).stdout);
    assert_eq!(l[1]["message_id"], v["message_id"]);

    // Decrypt appends, and a failure gets its own line.
    env.write("enc/bad.encrypted", b"not a message at all");
    let out = env.run(&[
        "decrypt",
        "-r",
        "-i",
        "enc",
        "-o",
        "dec",
        "--metadata-output",
        "meta.jsonl",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let l = lines(&env, "meta.jsonl");
    assert_eq!(l.len(), 5);
    let a = l.iter().find(|x| x["input"] == "enc/a.txt.encrypted").unwrap();
    assert_eq!(a["mode"], "decrypt");
    assert_eq!(a["output"], "dec/a.txt");
    assert_eq!(a["bytes_out"], 5);
    let bad = l.iter().find(|x| x["input"] == "enc/bad.encrypted").unwrap();
    assert_eq!(bad["status"], "failed");
    assert!(bad["output"].is_null());
    assert_eq!(bad["exit_code"], 1);
    assert!(bad["error"].as_str().unwrap().contains("malformed header"));

    // To stdout, while the data goes to a file; stdin is "-".
    let out = env.run_stdin(
        &["encrypt", "-o", "s.enc", "--metadata-output", "-"],
        b"from stdin",
    );
    assert!(out.status.success());
    let v = json(&out.stdout);
    assert_eq!(v["input"], "-");
    assert_eq!(v["output"], "s.enc");
    assert_eq!(v["bytes_in"], 10);
    let out = env.ok(&[
        "decrypt",
        "-i",
        "s.enc",
        "-o",
        "/dev/null",
        "--metadata-output",
        "-",
    ]);
    assert_eq!(json(&out.stdout)["bytes_out"], 10);
}
