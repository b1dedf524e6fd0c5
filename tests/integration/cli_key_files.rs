//! Key files and limits for untrusted input: an AES key file that reads two
//! ways is refused, a secret key file others can read draws a warning (as ssh
//! warns), and `--max-header-size` lowers the header limit with exit code 2.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::support::cli::{bytes, with, Env};
use crate::support::fixtures::repo_file;

fn raw_aes(file: &str) -> Vec<String> {
    [
        "-w",
        "provider=raw-aes",
        &format!("key={file}"),
        "namespace=tests",
        "name=aes-1",
    ]
    .map(String::from)
    .to_vec()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn chmod(env: &Env, rel: &str, mode: u32) {
    fs::set_permissions(env.path(rel), fs::Permissions::from_mode(mode)).unwrap();
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_aes_key_file_that_is_both_raw_and_base64_is_refused() {
    let env = Env::new();
    env.write("p", b"plaintext");
    let key16 = bytes(16, 3);
    let key24 = bytes(24, 5);
    for (name, key) in [("k16", &key16), ("k24", &key24)] {
        // 24 (or 32) base64 characters: also a raw AES-192 (AES-256) key.
        let text = STANDARD.encode(key);
        env.write(&format!("{name}.b64"), text.as_bytes());
        env.write(&format!("{name}.b64nl"), format!("{text}\n").as_bytes());
        env.write(&format!("{name}.raw"), key);
        for f in [".b64", ".b64nl", ".raw"] {
            chmod(&env, &format!("{name}{f}"), 0o600);
        }
        let ambiguous = raw_aes(&format!("{name}.b64"));
        let args = with(&["encrypt", "-i", "p", "-o", "p.enc"], &strs(&ambiguous));
        let err = env.fails(&args, 2);
        assert!(
            err.contains("ambiguous") && err.contains(&format!("{name}.b64")),
            "{err}"
        );
        assert!(
            err.contains(&format!("base64 text of a {}-byte key", key.len())),
            "{err}"
        );
        assert!(!env.path("p.enc").exists());

        // With a newline it is text, and the key is the decoded one: the
        // raw file of the same key opens the message.
        let text_key = raw_aes(&format!("{name}.b64nl"));
        env.ok(&with(&["encrypt", "-i", "p", "-o", "p.enc"], &strs(&text_key)));
        let raw_key = raw_aes(&format!("{name}.raw"));
        env.ok(&with(&["decrypt", "-i", "p.enc", "-o", "p.out"], &strs(&raw_key)));
        assert_eq!(env.read("p.out"), b"plaintext");
        fs::remove_file(env.path("p.enc")).unwrap();
        fs::remove_file(env.path("p.out")).unwrap();
    }
}

#[test]
fn secret_key_files_open_to_others_draw_one_warning_even_under_q() {
    let env = Env::new();
    env.write("p", b"plaintext");
    env.write("aes.key", &bytes(32, 9));
    for f in ["rsa-2048-public.pem", "rsa-2048-private.pem"] {
        fs::copy(repo_file(&format!("testdata/keys/{f}")), env.path(f)).unwrap();
    }
    let aes = raw_aes("aes.key");
    let rsa = |pem: &str| -> Vec<String> {
        [
            "-w",
            "provider=raw-rsa",
            &format!("key={pem}"),
            "namespace=rsa-ns",
            "name=rsa-1",
            "padding=oaep-sha256",
        ]
        .map(String::from)
        .to_vec()
    };

    // Owner-only: nothing is said.
    chmod(&env, "aes.key", 0o600);
    let out = env.ok(&with(&["encrypt", "-i", "p", "-o", "a.enc"], &strs(&aes)));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));

    // Readable by others: one warning, naming the file, the mode and the fix,
    // and the key is still used. -q does not silence it.
    chmod(&env, "aes.key", 0o644);
    let args = with(&["-q", "decrypt", "-i", "a.enc", "-o", "a.out"], &strs(&aes));
    let err = stderr(&env.ok(&args));
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    assert!(
        err.contains("key file aes.key") && err.contains("mode 0644") && err.contains("chmod 600 aes.key"),
        "{err}"
    );
    assert_eq!(env.read("a.out"), b"plaintext");
    // One file read twice in a run (rewrap's old key and new key): one warning.
    let mut twice = vec!["rewrap", "-i", "a.enc", "-o", "b.enc", "-u"];
    twice.extend(strs(&aes).into_iter().skip(1));
    twice.extend(strs(&aes));
    let err = stderr(&env.ok(&twice));
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    assert!(env.path("b.enc").exists());
    // Writable by the group: said so.
    chmod(&env, "aes.key", 0o620);
    let args = with(&["decrypt", "-f", "-i", "a.enc", "-o", "a.out"], &strs(&aes));
    let err = stderr(&env.ok(&args));
    assert!(
        err.contains("read or changed") && err.contains("mode 0620"),
        "{err}"
    );

    // An RSA public key is no secret; its private key is.
    chmod(&env, "rsa-2048-public.pem", 0o644);
    chmod(&env, "rsa-2048-private.pem", 0o644);
    let public = rsa("rsa-2048-public.pem");
    let out = env.ok(&with(&["encrypt", "-i", "p", "-o", "r.enc"], &strs(&public)));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let private = rsa("rsa-2048-private.pem");
    let out = env.ok(&with(&["decrypt", "-i", "r.enc", "-o", "r.out"], &strs(&private)));
    assert!(
        stderr(&out).contains("warning: key file rsa-2048-private.pem"),
        "{}",
        stderr(&out)
    );

    // An ECDH private key too, a public one not.
    for f in [
        "ecdh-p256-recipient-private.pem",
        "ecdh-p256-recipient-public.pem",
    ] {
        fs::copy(repo_file(&format!("testdata/kat/keys/{f}")), env.path(f)).unwrap();
        chmod(&env, f, 0o644);
    }
    let enc = [
        "encrypt",
        "-i",
        "p",
        "-o",
        "e.enc",
        "-w",
        "provider=raw-ecdh",
        "scheme=ephemeral",
        "recipient-public-key=ecdh-p256-recipient-public.pem",
    ];
    let out = env.ok(&enc);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let dec = [
        "decrypt",
        "-i",
        "e.enc",
        "-o",
        "e.out",
        "-w",
        "provider=raw-ecdh",
        "scheme=discovery",
        "recipient-key=ecdh-p256-recipient-private.pem",
    ];
    let out = env.ok(&dec);
    assert!(
        stderr(&out).contains("warning: key file ecdh-p256-recipient-private.pem"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.read("e.out"), b"plaintext");
}

#[test]
fn max_header_size_refuses_larger_headers_with_exit_2() {
    let env = Env::new();
    env.write("aes.key", &bytes(32, 11));
    chmod(&env, "aes.key", 0o600);
    env.write("p", b"plaintext");
    let aes = raw_aes("aes.key");
    let value = "v".repeat(3000);
    let ctx = format!("big={value}");
    env.ok(&with(
        &["encrypt", "-i", "p", "-o", "p.enc", "-c", &ctx],
        &strs(&aes),
    ));

    let decrypt = |limit: &'static str| {
        with(
            &[
                "decrypt",
                "-f",
                "-i",
                "p.enc",
                "-o",
                "p.out",
                "--max-header-size",
                limit,
            ],
            &strs(&aes),
        )
    };
    let err = env.fails(&decrypt("1000"), 2);
    assert!(
        err.contains("--max-header-size") && err.contains("header"),
        "{err}"
    );
    assert!(err.contains("1000 bytes"), "{err}");
    assert!(!env.path("p.out").exists());
    // Rewrap reads with the same limit.
    let rewrap = with(
        &[
            "rewrap",
            "-i",
            "p.enc",
            "-o",
            "q.enc",
            "--max-header-size",
            "1000",
            "-u",
            "provider=raw-aes",
            "key=aes.key",
            "namespace=tests",
            "name=aes-1",
        ],
        &strs(&aes),
    );
    let err = env.fails(&rewrap, 2);
    assert!(err.contains("--max-header-size"), "{err}");
    // A limit the header fits in: it decrypts. The default (16 MiB) too.
    env.ok(&decrypt("4000"));
    assert_eq!(env.read("p.out"), b"plaintext");
    env.ok(&with(
        &["decrypt", "-f", "-i", "p.enc", "-o", "p.out"],
        &strs(&aes),
    ));
    let err = env.fails(&decrypt("0"), 2);
    assert!(err.contains("--max-header-size"), "{err}");
}
