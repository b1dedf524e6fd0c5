//! What users coming from aws-encryption-cli type, and what its messages and
//! keys look like: `--max-length` for large non-framed messages, `-c a=1 b=2`,
//! messages without a KMS-core key decrypted without `-w`, and RSA key files
//! in every common encoding.

use std::fs;

use envelope::format::{Limits, Parsed};
use envelope::internal::header;

use crate::support::cli::{aes_key, with, Env};
use crate::support::fixtures::repo_file;

/// The known-answer set's signed 9000-byte non-framed message, its
/// plaintext, and the `-w` words of its key (copied into the test's world).
fn non_framed_kat(env: &Env) -> (Vec<u8>, Vec<u8>, Vec<&'static str>) {
    let msg = fs::read(repo_file("testdata/kat/messages/nonframed-suite-0578.esdk")).unwrap();
    let plain = fs::read(repo_file("testdata/kat/plaintexts/medium.bin")).unwrap();
    env.write(
        "kat.key",
        &fs::read(repo_file("testdata/kat/keys/aes-256.key")).unwrap(),
    );
    let words = vec![
        "-w",
        "provider=raw-aes",
        "key=kat.key",
        "namespace=envelope-kat",
        "name=aes-256",
    ];
    (msg, plain, words)
}

/// `v` as the `&str`s the runners take.
fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Where the non-framed body's length field lies in `msg`.
fn body_length_at(msg: &[u8]) -> usize {
    let Ok(Parsed::Done(_, header_len)) = header::parse(msg, &Limits::default()) else {
        panic!("header")
    };
    header_len + 12
}

#[test]
fn max_length_bounds_non_framed_bodies_and_frames_with_exit_2() {
    let env = Env::new();
    let (msg, plain, words) = non_framed_kat(&env);
    env.write("m.esdk", &msg);
    let decrypt = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["decrypt", "-i", "m.esdk", "-o", "m.out"]
            .map(String::from)
            .to_vec();
        v.extend(words.iter().map(|s| s.to_string()));
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };

    // One byte under the body's length: a usage error naming the flag, nothing written.
    let small = decrypt(&["--max-length", "8999"]);
    let err = env.fails(&strs(&small), 2);
    assert!(err.contains("--max-length"), "{err}");
    assert!(err.contains("9000"), "{err}");
    assert!(!env.path("m.out").exists());
    // Exactly the body's length: it decrypts.
    env.ok(&strs(&decrypt(&["--max-length", "9000"])));
    assert_eq!(env.read("m.out"), plain);
    fs::remove_file(env.path("m.out")).unwrap();

    // A body over the default limit (64 MiB): exit 2 naming the flag, never
    // 1 as if tampered. (The length field says so; the body is not there,
    // so with a larger limit the message is found truncated: exit 1.)
    let mut big = msg.clone();
    let at = body_length_at(&big);
    big[at..at + 8].copy_from_slice(&((64u64 << 20) + 1).to_be_bytes());
    env.write("m.esdk", &big);
    let err = env.fails(&strs(&decrypt(&[])), 2);
    assert!(err.contains("--max-length"), "{err}");
    let err = env.fails(&strs(&decrypt(&["--max-length", "100000000"])), 1);
    assert!(!err.contains("--max-length"), "{err}");

    // Frames too: a framed message whose frames are longer than --max-length.
    env.write("f", &plain);
    env.ok(&[
        "encrypt",
        "-i",
        "f",
        "-o",
        "f.enc",
        "-w",
        "provider=raw-aes",
        "key=kat.key",
        "namespace=envelope-kat",
        "name=aes-256",
        "--frame-length",
        "4096",
    ]);
    let err = env.fails(
        &[
            "decrypt",
            "-i",
            "f.enc",
            "-o",
            "f.out",
            "-w",
            "provider=raw-aes",
            "key=kat.key",
            "namespace=envelope-kat",
            "name=aes-256",
            "--max-length",
            "4095",
        ],
        2,
    );
    assert!(err.contains("--max-length") && err.contains("4096"), "{err}");
    assert!(!env.path("f.out").exists());
}

#[test]
fn several_context_pairs_after_one_c() {
    let env = Env::new();
    let key = aes_key(&env);
    env.write("x", b"context");
    env.ok(&with(
        &["encrypt", "-c", "a=1", "b=2", "-i", "x", "-o", "x.enc"],
        &key,
    ));
    let out = env.ok(&["inspect", "--json", "x.enc"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["encryption_context"]["a"], "1", "{v}");
    assert_eq!(v["encryption_context"]["b"], "2", "{v}");
    // On decrypt too, pairs and bare keys mixed, with -c repeated as well.
    env.ok(&with(
        &[
            "decrypt", "-c", "a=1", "b", "-c", "a", "-i", "x.enc", "-o", "x.out",
        ],
        &key,
    ));
    assert_eq!(env.read("x.out"), b"context");
    let err = env.fails(
        &with(&["decrypt", "-c", "a=1", "b=3", "-i", "x.enc", "-o", "y"], &key),
        1,
    );
    assert!(err.contains("'b'"), "{err}");
}

#[test]
fn a_message_without_a_kms_key_names_the_keys_it_has() {
    let env = Env::new();
    let key = aes_key(&env);
    env.write("x", b"raw");
    env.ok(&with(&["encrypt", "-i", "x", "-o", "x.enc"], &key));
    for extra in [&[][..], &["-k", "alias/none"]] {
        let args = with(&["decrypt", "-i", "x.enc", "-o", "x.out"], extra);
        let err = env.fails(&args, 1);
        assert!(err.contains("the message has no KMS-core (aws-kms) key"), "{err}");
        assert!(err.contains("tests") && err.contains("aes-1"), "{err}");
        assert!(err.contains("-w"), "{err}");
        assert!(!err.contains("discovery filter"), "{err}");
        assert!(!env.path("x.out").exists());
    }
    // Nothing needed the key store, so none was made.
    assert!(!env.home().exists());
}

/// The `-w` words of the test RSA key pair, with its key in `file`.
fn rsa_words(file: &str) -> Vec<String> {
    [
        "-w",
        "provider=raw-rsa",
        &format!("key={file}"),
        "namespace=rsa-ns",
        "name=rsa-1",
        "padding=oaep-sha256",
    ]
    .map(String::from)
    .to_vec()
}

/// Copies `testdata/keys/NAME` into the test's world.
fn key_file(env: &Env, name: &str) {
    env.write(
        name,
        &fs::read(repo_file(&format!("testdata/keys/{name}"))).unwrap(),
    );
}

#[test]
fn rsa_keys_in_pem_and_der_pkcs8_pkcs1_and_spki() {
    let env = Env::new();
    env.write("p", b"rsa formats");
    let public = [
        "rsa-2048-public.pem",
        "rsa-2048-public.der",
        "rsa-2048-public-pkcs1.pem",
        "rsa-2048-public-pkcs1.der",
    ];
    let private = [
        "rsa-2048-private.pem",
        "rsa-2048-private-pkcs8.der",
        "rsa-2048-private-pkcs1.pem",
        "rsa-2048-private-pkcs1.der",
    ];
    for f in public.iter().chain(&private) {
        key_file(&env, f);
    }
    // Every public form encrypts, every private form decrypts (and encrypts).
    for (i, enc_key) in public.iter().chain(&private).enumerate() {
        let enc = format!("p{i}.enc");
        let mut args: Vec<String> = ["encrypt", "-i", "p", "-o", &enc].map(String::from).to_vec();
        args.extend(rsa_words(enc_key));
        env.ok(&strs(&args));
        let dec_key = private[i % private.len()];
        let out = format!("p{i}.out");
        let mut args: Vec<String> = ["decrypt", "-i", &enc, "-o", &out].map(String::from).to_vec();
        args.extend(rsa_words(dec_key));
        env.ok(&strs(&args));
        assert_eq!(env.read(&out), b"rsa formats", "{enc_key} -> {dec_key}");
    }
}

#[test]
fn rsa_key_errors_name_the_file_and_say_what_it_is() {
    let env = Env::new();
    env.write("p", b"x");
    for f in [
        "ec-p256-private.pem",
        "ec-p256-public.pem",
        "ec-p256-private-sec1.pem",
        "rsa-2048-private-encrypted.pem",
    ] {
        key_file(&env, f);
    }
    env.write("garbage.key", b"not a key at all");
    let run = |file: &str| {
        let mut args: Vec<String> = ["encrypt", "-i", "p", "-o", "p.enc"].map(String::from).to_vec();
        args.extend(rsa_words(file));
        let err = env.fails(&strs(&args), 2);
        assert!(err.contains(file), "{file}: {err}");
        assert!(!env.path("p.enc").exists());
        err
    };
    for ec in [
        "ec-p256-private.pem",
        "ec-p256-public.pem",
        "ec-p256-private-sec1.pem",
    ] {
        let err = run(ec);
        assert!(err.contains(&format!("{ec} is an EC key, not RSA")), "{err}");
        assert!(!err.contains("WrongAlgorithm"), "{err}");
    }
    let err = run("rsa-2048-private-encrypted.pem");
    assert!(
        err.contains("openssl pkcs8 -in rsa-2048-private-encrypted.pem -out"),
        "{err}"
    );
    assert!(!err.contains("-nocrypt"), "{err}");
    run("garbage.key");
}
