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

/// The envelope-built words of the test key, as owned strings for `format!`ed command lines.
fn key_words(env: &Env) -> String {
    aes_key(env)[1..].join(" ")
}

#[test]
fn mode_flags_stand_for_the_subcommands() {
    let env = Env::new();
    let key = aes_key(&env);
    env.write("a.txt", b"from aws-encryption-cli habits\n");
    env.ok(&with(&["-e", "-i", "a.txt", "-o", "a.enc", "-S"], &key));
    env.ok(&with(&["-i", "a.enc", "--decrypt", "-o", "a.out"], &key));
    assert_eq!(env.read("a.out"), b"from aws-encryption-cli habits\n");
    // --decrypt-unsigned is decrypt's flag of that name: this message is signed.
    let err = env.fails(
        &with(&["--decrypt-unsigned", "-i", "a.enc", "-o", "b.out"], &key),
        2,
    );
    assert!(err.contains("sign"), "{err}");
    // -S and --metadata-output contradict each other.
    env.fails(
        &with(
            &["-e", "-i", "a.txt", "-o", "c.enc", "-S", "--metadata-output", "m"],
            &key,
        ),
        2,
    );
}

#[test]
fn argument_files_are_read_as_aws_encryption_cli_reads_them() {
    let env = Env::new();
    env.write("my input.txt", b"argfile\n");
    let words = key_words(&env);
    // Quotes, a comment, a variable and a nested file, one or more words a line.
    env.write(
        "args",
        b"# encrypt with the test key\n-e -i 'my input.txt'  # quoted\n-o \"$OUT_NAME\"\n@keyargs\n",
    );
    env.write("keyargs", format!("-w {words}\n").as_bytes());
    let out = env
        .cmd()
        .args(["@args"])
        .env("OUT_NAME", "from args.enc")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    env.ok(&with(
        &["decrypt", "-i", "from args.enc", "-o", "back", "@keyargs"],
        &[],
    ));
    assert_eq!(env.read("back"), b"argfile\n");
    let err = env.fails(&["encrypt", "@missing"], 2);
    assert!(err.starts_with("envelope: argument file @missing: "), "{err}");
    env.write("open", b"-c 'unclosed\n");
    let err = env.fails(&["encrypt", "@open"], 2);
    assert!(err.contains("@open, line 1: no closing quotation"), "{err}");
}

#[test]
fn encode_and_decode_write_and_read_base64_messages() {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    let env = Env::new();
    let key = aes_key(&env);
    let plain = crate::support::cli::bytes(300_001, 16);
    env.write("p.bin", &plain);
    env.ok(&with(
        &[
            "encrypt",
            "-i",
            "p.bin",
            "-o",
            "p.b64",
            "--encode",
            "--frame-length",
            "4096",
        ],
        &key,
    ));
    let text = env.read("p.b64");
    let message = STANDARD.decode(&text).expect("--encode writes one base64 text");
    assert_eq!(message[0], 2, "a version 2 message under the base64");
    // The decoded message is an ordinary one...
    env.write("p.enc", &message);
    env.ok(&with(&["decrypt", "-i", "p.enc", "-o", "p.out"], &key));
    assert_eq!(env.read("p.out"), plain);
    // ...and --decode reads the text, wrapped in lines too (as `base64` writes it).
    let wrapped: Vec<u8> = text
        .chunks(76)
        .flat_map(|l| l.iter().copied().chain(*b"\n"))
        .collect();
    env.write("wrapped.b64", &wrapped);
    env.ok(&with(
        &["decrypt", "-i", "wrapped.b64", "--decode", "-o", "q.out"],
        &key,
    ));
    assert_eq!(env.read("q.out"), plain);
    // Both at once, through pipes: decode the input, encode the output.
    let out = env.run_stdin(&with(&["decrypt", "--decode", "--encode"], &key), &wrapped);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(STANDARD.decode(&out.stdout).unwrap(), plain);
    // Text that is not base64, or is cut short, is damaged input (exit 1, as
    // for a damaged message) that writes nothing.
    env.write("bad.b64", b"AgV4*===");
    env.fails(
        &with(&["decrypt", "-i", "bad.b64", "--decode", "-o", "bad.out"], &key),
        1,
    );
    env.write("short.b64", &text[..text.len() - 3]);
    env.fails(
        &with(
            &["decrypt", "-i", "short.b64", "--decode", "-o", "short.out"],
            &key,
        ),
        1,
    );
    assert!(!env.path("bad.out").exists() && !env.path("short.out").exists());
}

#[test]
fn quoted_wildcards_and_positional_inputs_name_the_inputs() {
    let env = Env::new();
    let key = aes_key(&env);
    env.write("logs/a.txt", b"a");
    env.write("logs/b.txt", b"b");
    env.write("logs/c.log", b"c");
    env.write("logs/.hidden.txt", b"h");
    // The shell leaves a quoted pattern alone; envelope expands it as aws-encryption-cli does.
    env.ok(&with(&["encrypt", "-i", "logs/*.txt", "-o", "out/"], &key));
    let mut made: Vec<String> = fs::read_dir(env.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    made.sort();
    assert_eq!(made, ["a.txt.encrypted", "b.txt.encrypted"]);
    let err = env.fails(&with(&["encrypt", "-i", "logs/*.md", "-o", "none/"], &key), 2);
    assert!(err.contains("-i logs/*.md: no file matches"), "{err}");
    // A bare path is an input, as for inspect.
    env.ok(&with(&["decrypt", "out/a.txt.encrypted", "-o", "a.back"], &key));
    assert_eq!(env.read("a.back"), b"a");
    // After -c it is one more context word; with no input given, that is said.
    let err = env.fails(
        &with(
            &with(&["decrypt", "-o", "b.back"], &key),
            &["-c", "k=v", "out/a.txt.encrypted"],
        ),
        2,
    );
    assert!(err.contains("give the file with -i out/a.txt.encrypted"), "{err}");
}

#[test]
fn no_overwrite_skips_existing_outputs_as_aws_encryption_cli_does() {
    let env = Env::new();
    let key = aes_key(&env);
    env.write("a.txt", b"new");
    env.write("a.enc", b"precious");
    let out = env.run(&with(
        &["encrypt", "-i", "a.txt", "-o", "a.enc", "--no-overwrite"],
        &key,
    ));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipping 1 file(s) whose output exists"));
    assert_eq!(env.read("a.enc"), b"precious");
    env.fails(
        &with(
            &[
                "encrypt",
                "-i",
                "a.txt",
                "-o",
                "a.enc",
                "--no-overwrite",
                "--force",
            ],
            &key,
        ),
        2,
    );
    // aws-encryption-cli's prompt is answered with envelope's two ways.
    let interactive = ["encrypt", "-i", "a.txt", "-o", "a.enc", "--interactive"];
    let err = env.fails(&with(&interactive, &key), 2);
    assert!(
        err.contains("--force") && err.contains("--skip-existing"),
        "{err}"
    );
    assert_eq!(env.read("a.enc"), b"precious");
}

#[test]
fn metadata_in_aws_encryption_cli_layout_and_private() {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    let env = Env::new();
    let key = aes_key(&env);
    env.write("a.txt", b"metadata");
    let meta = [
        "--metadata-output",
        "m.json",
        "--metadata-layout",
        "aws-encryption-cli",
    ];
    env.ok(&with(
        &with(&["encrypt", "-i", "a.txt", "-o", "a.enc", "-c", "k=é"], &key),
        &meta,
    ));
    env.ok(&with(
        &with(&["decrypt", "-i", "a.enc", "-o", "a.out"], &key),
        &meta,
    ));
    let text = String::from_utf8(env.read("m.json")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    // Python's json.dumps(sort_keys=True): sorted keys, ", " and ": ", ASCII only.
    assert!(
        lines[0]
            .starts_with("{\"header\": {\"algorithm\": \"AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384\", "),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("\"k\": \"\\u00e9\""), "{}", lines[0]);
    let enc: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let dec: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(enc["mode"], "encrypt");
    assert_eq!(dec["mode"], "decrypt");
    assert_eq!(enc["input"], env.path("a.txt").display().to_string());
    assert_eq!(dec["output"], env.path("a.out").display().to_string());
    assert!(
        enc.get("header_auth").is_none(),
        "aws-encryption-cli has none on encrypt"
    );
    let h = &dec["header"];
    assert_eq!(h, &enc["header"], "one message, one header");
    assert_eq!(h["version"], "2.0");
    assert_eq!(h["type"], serde_json::Value::Null);
    assert_eq!(h["header_iv_length"], serde_json::Value::Null);
    assert_eq!(h["content_type"], 2);
    assert_eq!(h["frame_length"], 65536);
    assert_eq!(
        STANDARD.decode(h["message_id"].as_str().unwrap()).unwrap().len(),
        32
    );
    assert_eq!(
        STANDARD
            .decode(h["commitment_key"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    let edk = &h["encrypted_data_keys"][0];
    assert_eq!(
        STANDARD
            .decode(edk["key_provider"]["provider_id"].as_str().unwrap())
            .unwrap(),
        b"tests"
    );
    assert!(STANDARD
        .decode(edk["key_provider"]["key_info"].as_str().unwrap())
        .unwrap()
        .starts_with(b"aes-1"));
    assert_eq!(dec["header_auth"]["iv"], "AAAAAAAAAAAAAAAA");
    assert_eq!(
        STANDARD
            .decode(dec["header_auth"]["tag"].as_str().unwrap())
            .unwrap()
            .len(),
        16
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(env.path("m.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the metadata file is private");
    }
    // --overwrite-metadata starts the file again.
    env.ok(&with(
        &with(
            &["decrypt", "-i", "a.enc", "-o", "b.out", "--overwrite-metadata"],
            &key,
        ),
        &meta,
    ));
    assert_eq!(String::from_utf8(env.read("m.json")).unwrap().lines().count(), 1);
}
