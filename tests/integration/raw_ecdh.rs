//! The raw ECDH keyring through the CLI: `envelope keygen ecdh`, the three
//! `-w provider=raw-ecdh` schemes on every curve, key files as the ESDK takes
//! them (PKCS#8 PEM private keys, DER or PEM SubjectPublicKeyInfo public
//! keys), usage errors (exit 2) and hostile messages (exit 1, one clear line,
//! nothing written), and the keys `inspect` shows.

use std::process::Command;

use crate::support::cli::{aes_key, bytes, with, Env};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

const CURVES: [(&str, &str, usize); 3] = [
    ("p256", "P-256", 33),
    ("p384", "P-384", 49),
    ("p521", "P-521", 67),
];

fn keygen(env: &Env, curve: &str, prefix: &str) {
    env.ok(&["-q", "keygen", "ecdh", "--curve", curve, "-o", prefix]);
}

fn static_group<'a>(sender: &'a str, recipient_public: &'a str) -> Vec<String> {
    vec![
        "-w".into(),
        "provider=raw-ecdh".into(),
        "scheme=static".into(),
        format!("sender-key={sender}"),
        format!("recipient-public-key={recipient_public}"),
    ]
}

fn ephemeral_group(recipient_public: &str) -> Vec<String> {
    vec![
        "-w".into(),
        "provider=raw-ecdh".into(),
        "scheme=ephemeral".into(),
        format!("recipient-public-key={recipient_public}"),
    ]
}

fn discovery_group(recipient: &str) -> Vec<String> {
    vec![
        "-w".into(),
        "provider=raw-ecdh".into(),
        "scheme=discovery".into(),
        format!("recipient-key={recipient}"),
    ]
}

fn args<'a>(base: &[&'a str], group: &'a [String]) -> Vec<&'a str> {
    let mut v = base.to_vec();
    v.extend(group.iter().map(String::as_str));
    v
}

/// The base64 body of a PEM file: the DER in one line.
fn pem_body(pem: &[u8]) -> String {
    std::str::from_utf8(pem)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect()
}

fn encrypt(env: &Env, out: &str, group: &[String], extra: &[&str]) {
    let base = with(&["-q", "encrypt", "-i", "pt", "-o", out], extra);
    env.ok(&args(&base, group));
}

fn decrypts(env: &Env, msg: &str, group: &[String], extra: &[&str]) {
    let out = env.ok(&args(
        &with(&["-q", "decrypt", "-i", msg, "-o", "-"], extra),
        group,
    ));
    assert_eq!(out.stdout, env.read("pt"), "{msg} with {group:?}");
}

#[test]
fn every_scheme_and_curve_round_trips_through_the_cli() {
    let env = Env::new();
    env.write("pt", &bytes(70_000, 17));
    for (curve, name, _) in CURVES {
        let (a, b) = (format!("alice-{curve}"), format!("bob-{curve}"));
        keygen(&env, curve, &a);
        keygen(&env, curve, &b);
        let (a_priv, a_pub) = (format!("{a}-private.pem"), format!("{a}-public.pem"));
        let (b_priv, b_pub) = (format!("{b}-private.pem"), format!("{b}-public.pem"));
        // Bob's public key also as DER, the form the ESDK's API takes.
        let der = format!("{b}-public.der");
        env.write(&der, &STANDARD.decode(pem_body(&env.read(&b_pub))).unwrap());

        let st = format!("{curve}.static");
        encrypt(
            &env,
            &st,
            &static_group(&a_priv, &der),
            &["--frame-length", "4096"],
        );
        decrypts(&env, &st, &static_group(&a_priv, &b_pub), &[]); // the sender itself
        decrypts(&env, &st, &static_group(&b_priv, &a_pub), &[]); // the recipient, configured back to front
        decrypts(&env, &st, &discovery_group(&b_priv), &[]);

        let eph = format!("{curve}.ephemeral");
        encrypt(
            &env,
            &eph,
            &ephemeral_group(&b_pub),
            &[
                "--algorithm",
                "0x0178",
                "--commitment-policy",
                "forbid-encrypt-allow-decrypt",
            ],
        );
        decrypts(
            &env,
            &eph,
            &discovery_group(&b_priv),
            &["--commitment-policy", "require-encrypt-allow-decrypt"],
        );
        // Neither Alice nor a static keyring of Bob's opens an ephemeral sender's message.
        let e = env.fails(
            &args(
                &[
                    "decrypt",
                    "-i",
                    &eph,
                    "-o",
                    "-",
                    "--commitment-policy",
                    "require-encrypt-allow-decrypt",
                ],
                &static_group(&b_priv, &a_pub),
            ),
            1,
        );
        assert!(e.contains(name), "{e}");

        // inspect shows both public keys, as their key files hold them.
        let v: Value = serde_json::from_slice(&env.ok(&["inspect", "--json", &st]).stdout).unwrap();
        let k = &v["encrypted_data_keys"][0]["raw_ecdh"];
        assert_eq!(k["curve"], name);
        assert_eq!(k["recipient_public_key"]["spki"], pem_body(&env.read(&b_pub)));
        assert_eq!(k["sender_public_key"]["spki"], pem_body(&env.read(&a_pub)));
        let text = String::from_utf8(env.ok(&["inspect", &st]).stdout).unwrap();
        assert!(
            text.contains(&format!(
                "raw-ecdh (raw ECDH {name}: recipient public key {}",
                pem_body(&env.read(&b_pub))
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("sender public key {}", pem_body(&env.read(&a_pub)))),
            "{text}"
        );
    }
}

#[test]
fn ecdh_and_aes_keys_make_a_multi_keyring() {
    let env = Env::new();
    env.write("pt", &bytes(5000, 3));
    keygen(&env, "p384", "r");
    let aes = aes_key(&env);
    let mut group = ephemeral_group("r-public.pem");
    group.extend(aes.iter().map(|s| s.to_string()));
    encrypt(&env, "m", &group, &[]);
    decrypts(&env, "m", &discovery_group("r-private.pem"), &[]);
    let aes_only: Vec<String> = aes.iter().map(|s| s.to_string()).collect();
    decrypts(&env, "m", &aes_only, &[]);
    let v: Value = serde_json::from_slice(&env.ok(&["inspect", "--json", "m"]).stdout).unwrap();
    assert_eq!(v["encrypted_data_keys"].as_array().unwrap().len(), 2);
    assert!(v["encrypted_data_keys"][1].get("raw_ecdh").is_none());
}

#[test]
fn keygen_writes_a_private_pkcs8_and_a_public_spki_and_never_overwrites() {
    let env = Env::new();
    keygen(&env, "p521", "k");
    let private = String::from_utf8(env.read("k-private.pem")).unwrap();
    let public = String::from_utf8(env.read("k-public.pem")).unwrap();
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{private}");
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{public}");
    assert_eq!(STANDARD.decode(pem_body(public.as_bytes())).unwrap().len(), 158);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(env.path("k-private.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "private key mode {mode:o}");
    }
    let before = env.snapshot();
    let e = env.fails(&["keygen", "ecdh", "-o", "k"], 2);
    assert!(e.contains("already exists") && e.contains("--force"), "{e}");
    assert_eq!(env.snapshot(), before);
    // Only the public file exists: still refused, and no private file appears.
    std::fs::remove_file(env.path("k-private.pem")).unwrap();
    env.fails(&["keygen", "ecdh", "-o", "k"], 2);
    assert!(!env.path("k-private.pem").exists());
    env.ok(&["-q", "keygen", "ecdh", "-o", "k", "--force"]);
    assert_ne!(env.read("k-public.pem"), public.as_bytes());
    env.fails(&["keygen", "ecdh", "--curve", "p224", "-o", "x"], 2);
}

/// The README's openssl lines make keys envelope takes (where openssl exists).
#[test]
fn openssl_made_keys_work() {
    let env = Env::new();
    let openssl = |a: &[&str]| Command::new("openssl").args(a).current_dir(env.dir()).output();
    match openssl(&["version"]) {
        Ok(o) if o.status.success() => {}
        _ => {
            println!("NOTE: openssl is not installed; the README's openssl key lines were not checked");
            return;
        }
    }
    env.write("pt", b"made with openssl keys");
    for curve in ["P-256", "P-384", "P-521"] {
        let ok = |a: &[&str]| assert!(openssl(a).unwrap().status.success(), "openssl {a:?}");
        ok(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &format!("ec_paramgen_curve:{curve}"),
            "-out",
            "key.pem",
        ]);
        ok(&["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
        ok(&[
            "pkey", "-in", "key.pem", "-pubout", "-outform", "DER", "-out", "pub.der",
        ]);
        encrypt(&env, "m", &ephemeral_group("pub.der"), &["-f"]);
        decrypts(&env, "m", &discovery_group("key.pem"), &[]);
        encrypt(&env, "m", &ephemeral_group("pub.pem"), &["-f"]);
        decrypts(&env, "m", &discovery_group("key.pem"), &[]);
    }
}

#[test]
fn bad_options_and_key_files_are_usage_errors() {
    let env = Env::new();
    env.write("pt", b"x");
    keygen(&env, "p256", "a");
    keygen(&env, "p384", "b");
    env.write(
        "rsa-private.pem",
        include_bytes!("../../testdata/keys/rsa-2048-private.pem"),
    );
    env.write("garbage.der", &[0x30, 0x03, 1, 2, 3]);
    fn enc<'a>(words: &[&'a str]) -> Vec<&'a str> {
        with(
            &["encrypt", "-i", "pt", "-o", "out"],
            &with(&["-w", "provider=raw-ecdh"], words),
        )
    }
    fn dec<'a>(words: &[&'a str]) -> Vec<&'a str> {
        with(
            &["decrypt", "-i", "pt", "-o", "out"],
            &with(&["-w", "provider=raw-ecdh"], words),
        )
    }
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (
            enc(&["scheme=discovery", "recipient-key=a-private.pem"]),
            &["only decrypts", "scheme=ephemeral"],
        ),
        (
            dec(&["scheme=ephemeral", "recipient-public-key=a-public.pem"]),
            &["only encrypts", "scheme=discovery"],
        ),
        (enc(&[]), &["missing scheme="]),
        (enc(&["scheme=magic"]), &["unknown scheme 'magic'"]),
        (
            enc(&["scheme=static", "sender-key=a-private.pem"]),
            &["missing recipient-public-key="],
        ),
        (dec(&["scheme=discovery"]), &["missing recipient-key="]),
        (
            enc(&[
                "scheme=static",
                "sender-key=a-private.pem",
                "recipient-public-key=b-public.pem",
            ]),
            &["a-private.pem is a P-256 key", "b-public.pem is a P-384 key"],
        ),
        (
            enc(&[
                "scheme=ephemeral",
                "recipient-public-key=b-public.pem",
                "curve=p256",
            ]),
            &["b-public.pem is a P-384 key", "curve=p256"],
        ),
        (
            enc(&["scheme=ephemeral", "recipient-public-key=a-private.pem"]),
            &["a-private.pem", "private key"],
        ),
        (
            dec(&["scheme=discovery", "recipient-key=a-public.pem"]),
            &["a-public.pem", "public key"],
        ),
        (
            dec(&["scheme=discovery", "recipient-key=rsa-private.pem"]),
            &["rsa-private.pem", "P-256, P-384 or P-521"],
        ),
        (
            enc(&["scheme=ephemeral", "recipient-public-key=garbage.der"]),
            &["garbage.der", "SubjectPublicKeyInfo"],
        ),
        (
            enc(&[
                "scheme=ephemeral",
                "recipient-public-key=a-public.pem",
                "colour=blue",
            ]),
            &["-w colour=: unknown option for provider=raw-ecdh"],
        ),
        (
            enc(&[
                "scheme=ephemeral",
                "recipient-public-key=a-public.pem",
                "key=a-public.pem",
            ]),
            &["takes no key="],
        ),
        (
            enc(&[
                "scheme=ephemeral",
                "recipient-public-key=a-public.pem",
                "curve=p999",
            ]),
            &["unknown curve"],
        ),
    ];
    for (a, words) in cases {
        let e = env.fails(&a, 2);
        for w in words {
            assert!(e.contains(w), "{a:?}: {e:?} lacks {w:?}");
        }
        assert!(!env.path("out").exists());
    }
    let e = env.fails(&enc(&["scheme=ephemeral", "recipient-public-key=missing.pem"]), 3);
    assert!(e.contains("missing.pem"), "{e}");
}

/// A message whose one EDK is a P-256 raw ECDH key, with the provider info
/// (75 bytes, preceded by its u16 length) at the returned offset.
fn ecdh_message(env: &Env) -> (Vec<u8>, usize) {
    env.write("pt", &bytes(3000, 9));
    keygen(env, "p256", "r");
    encrypt(env, "m", &ephemeral_group("r-public.pem"), &[]);
    let msg = env.read("m");
    let v: Value = serde_json::from_slice(&env.ok(&["inspect", "--json", "m"]).stdout).unwrap();
    let info = STANDARD
        .decode(v["encrypted_data_keys"][0]["provider_info"].as_str().unwrap())
        .unwrap();
    assert_eq!(info.len(), 75);
    let at = msg.windows(75).position(|w| w == info).unwrap();
    assert_eq!(msg[at - 2..at], [0, 75]);
    (msg, at)
}

#[test]
fn hostile_edks_are_integrity_errors_with_a_clear_line() {
    let env = Env::new();
    let (msg, at) = ecdh_message(&env);
    let sender = at + 9 + 33;
    // x = 3 has no point on P-256: 3^3 - 3*3 + b is not a square mod p.
    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    let mut off = msg.clone();
    off[sender..sender + 33].fill(0);
    off[sender] = 2;
    off[sender + 32] = 3;
    cases.push(("sender point off the curve", off, "not a point on P-256"));
    let mut inf = msg.clone();
    inf[sender..sender + 33].fill(0);
    cases.push(("sender point as infinity's encoding", inf, "starts with 00"));
    let mut big = msg.clone();
    big[sender + 1..sender + 33].fill(0xff);
    cases.push(("sender x above the field prime", big, "not a point on P-256"));
    let mut tag = msg.clone();
    tag[sender] = 4;
    cases.push(("sender key with an uncompressed tag", tag, "starts with 04"));
    let mut version = msg.clone();
    version[at] = 2;
    cases.push(("provider info version 2", version, "version 2"));
    let mut rlen = msg.clone();
    rlen[at + 4] = 32;
    cases.push(("recipient length field 32", rlen, "recipient key 32 bytes"));
    // Truncated provider info: one byte shorter, its length field too.
    let mut short = msg[..at - 2].to_vec();
    short.extend_from_slice(&[0, 74]);
    short.extend_from_slice(&msg[at..at + 74]);
    short.extend_from_slice(&msg[at + 75..]);
    cases.push(("truncated provider info", short, "74 bytes"));
    // The recipient's key altered: no EDK is addressed to the key any more.
    let mut recipient = msg.clone();
    recipient[at + 5 + 32] ^= 1;
    cases.push(("recipient key altered", recipient, "none of the 1"));

    for (what, bytes, want) in cases {
        env.write("bad", &bytes);
        let e = env.fails(
            &args(
                &["decrypt", "-i", "bad", "-o", "bad.out"],
                &discovery_group("r-private.pem"),
            ),
            1,
        );
        assert!(e.contains(want), "{what}: {e}");
        assert!(
            e.starts_with("envelope: ") && !e.trim_end().contains('\n'),
            "{what}: {e:?}"
        );
        assert!(!env.path("bad.out").exists(), "{what}");
        // inspect still describes it, and never fails on the keys.
        env.ok(&["inspect", "--json", "bad"]);
    }
}

#[test]
fn a_curve_mismatch_between_message_and_key_is_named() {
    let env = Env::new();
    env.write("pt", b"for a P-521 key");
    keygen(&env, "p521", "big");
    keygen(&env, "p256", "small");
    encrypt(&env, "m", &ephemeral_group("big-public.pem"), &[]);
    let e = env.fails(
        &args(
            &["decrypt", "-i", "m", "-o", "-"],
            &discovery_group("small-private.pem"),
        ),
        1,
    );
    assert!(e.contains("another curve than P-256"), "{e}");
    let e = env.fails(
        &args(
            &["decrypt", "-i", "m", "-o", "-"],
            &static_group("small-private.pem", "small-public.pem"),
        ),
        1,
    );
    assert!(e.contains("another curve than P-256"), "{e}");
}

#[test]
fn help_names_the_raw_ecdh_options_and_keygen() {
    let env = Env::new();
    let help = String::from_utf8(env.ok(&["encrypt", "--help"]).stdout).unwrap();
    for w in [
        "provider=raw-ecdh",
        "scheme=static",
        "scheme=ephemeral",
        "scheme=discovery",
        "recipient-public-key",
    ] {
        assert!(help.contains(w), "encrypt --help lacks {w}");
    }
    let help = String::from_utf8(env.ok(&["keygen", "ecdh", "--help"]).stdout).unwrap();
    assert!(help.contains("--curve") && help.contains("p521"), "{help}");
}
