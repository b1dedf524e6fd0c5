//! `envelope rewrap` and `envelope::stream::rewrap_stream`: every suite
//! re-keyed to the original plaintext under new keys, with the context
//! carried over and a new message id; every bit flip and truncation of a
//! small message fails the rewrap.

use envelope::keyring::raw_aes::RawAesKeyring;
use envelope::stream::{self, DecryptOptions, EncryptOptions, RewrapOptions};
use envelope::{AlgorithmSuite, CommitmentPolicy, EncryptionContext};

use envelope::format::{Header, Limits, Parsed, PUBLIC_KEY_FIELD};
use envelope::internal::header;

use crate::support::cli::{bytes, Env};
use crate::support::fixtures::{policy_for, repo_file};

fn ring(name: &str, seed: u64) -> RawAesKeyring {
    RawAesKeyring::new("tests", name, &bytes(32, seed)).unwrap()
}

#[test]
fn every_suite_rewraps_to_the_same_plaintext_under_the_new_key_only() {
    let (old, new) = (ring("old", 1), ring("new", 2));
    let plaintext = bytes(300_000, 9);
    let mut ctx = EncryptionContext::new();
    ctx.insert("team".into(), "a".into());
    for suite in AlgorithmSuite::ALL {
        let policy = policy_for(suite);
        let opts = EncryptOptions {
            suite: Some(suite),
            frame_length: 4096,
            commitment_policy: policy,
            encryption_context: ctx.clone(),
            ..EncryptOptions::default()
        };
        let msg = stream::encrypt(&old, &opts, &plaintext).unwrap();
        let ropts = RewrapOptions {
            decrypt: DecryptOptions {
                commitment_policy: policy,
                ..DecryptOptions::default()
            },
            ..RewrapOptions::default()
        };
        let mut out = Vec::new();
        let s = stream::rewrap_stream(&old, &new, &ropts, &msg[..], &mut out, 2).unwrap();
        assert_eq!(s.new.header.suite.id, suite.id);
        assert_eq!(s.new.header.frame_length, 4096);
        assert_ne!(s.new.header.message_id, s.old.header.message_id);
        let dopts = ropts.decrypt.clone();
        let d = stream::decrypt(&new, &dopts, &out).unwrap();
        assert_eq!(d.plaintext, plaintext, "suite {:04X}", suite.id);
        assert_eq!(
            d.header.encryption_context.get("team").map(String::as_str),
            Some("a")
        );
        assert!(stream::decrypt(&old, &dopts, &out).is_err());
    }
}

#[test]
fn a_required_context_stays_required_and_the_suite_can_be_upgraded() {
    let (old, new) = (ring("old", 1), ring("new", 2));
    let mut ctx = EncryptionContext::new();
    ctx.insert("stored".into(), "1".into());
    ctx.insert("secret".into(), "2".into());
    let opts = EncryptOptions {
        suite: AlgorithmSuite::parse("0178"),
        commitment_policy: CommitmentPolicy::ForbidEncryptAllowDecrypt,
        encryption_context: ctx,
        required_encryption_context_keys: vec!["secret".into()],
        ..EncryptOptions::default()
    };
    let plaintext = bytes(70_000, 3);
    let msg = stream::encrypt(&old, &opts, &plaintext).unwrap();
    let mut reproduced = EncryptionContext::new();
    reproduced.insert("secret".into(), "2".into());
    let ropts = RewrapOptions {
        decrypt: DecryptOptions {
            commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
            reproduced_encryption_context: reproduced.clone(),
            ..DecryptOptions::default()
        },
        suite: AlgorithmSuite::parse("0578"),
        ..RewrapOptions::default()
    };
    let mut out = Vec::new();
    let s = stream::rewrap_stream(&old, &new, &ropts, &msg[..], &mut out, 2).unwrap();
    assert_eq!(s.new.header.suite.id, 0x0578);
    assert!(!s.new.header.encryption_context.contains_key("secret"));
    let mut dopts = DecryptOptions::default();
    assert!(
        stream::decrypt(&new, &dopts, &out).is_err(),
        "the required pair must be needed"
    );
    dopts.reproduced_encryption_context = reproduced;
    assert_eq!(stream::decrypt(&new, &dopts, &out).unwrap().plaintext, plaintext);
}

#[test]
fn every_bit_flip_and_truncation_fails_and_writes_nothing_complete() {
    let (old, new) = (ring("old", 1), ring("new", 2));
    for id in ["0578", "0478", "0378", "0078"] {
        let suite = AlgorithmSuite::parse(id).unwrap();
        let policy = policy_for(suite);
        let opts = EncryptOptions {
            suite: Some(suite),
            frame_length: 16,
            commitment_policy: policy,
            ..EncryptOptions::default()
        };
        let msg = stream::encrypt(&old, &opts, &bytes(40, 5)).unwrap();
        let ropts = RewrapOptions {
            decrypt: DecryptOptions {
                commitment_policy: policy,
                ..DecryptOptions::default()
            },
            ..RewrapOptions::default()
        };
        for bit in 0..msg.len() * 8 {
            let mut bad = msg.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let mut out = Vec::new();
            let r = stream::rewrap_stream(&old, &new, &ropts, &bad[..], &mut out, 2);
            assert!(r.is_err(), "suite {id}: flipping bit {bit} was accepted");
            // Whatever was written is not a message that decrypts.
            assert!(
                stream::decrypt(&new, &ropts.decrypt, &out).is_err(),
                "suite {id} bit {bit}"
            );
        }
        for len in 0..msg.len() {
            let mut out = Vec::new();
            let r = stream::rewrap_stream(&old, &new, &ropts, &msg[..len], &mut out, 2);
            assert!(r.is_err(), "suite {id}: truncation to {len} was accepted");
            assert!(stream::decrypt(&new, &ropts.decrypt, &out).is_err());
        }
    }
}

#[test]
fn cli_rewrap_file_to_file_and_a_failure_writes_nothing() {
    let env = Env::new();
    env.write("old.key", &bytes(32, 11));
    env.write("new.key", &bytes(32, 12));
    env.write("p", &bytes(200_000, 4));
    let old = ["provider=raw-aes", "key=old.key", "namespace=ns", "name=old"];
    let new = ["provider=raw-aes", "key=new.key", "namespace=ns", "name=new"];
    let mut enc = vec![
        "encrypt",
        "-i",
        "p",
        "-o",
        "p.enc",
        "-c",
        "team=a",
        "--frame-length",
        "1000",
        "-w",
    ];
    enc.extend(old);
    env.ok(&enc);
    let mut rw = vec!["rewrap", "-i", "p.enc", "-o", "p.new", "-u"];
    rw.extend(old);
    rw.push("-w");
    rw.extend(new);
    env.ok(&rw);
    let mut dec = vec!["decrypt", "-i", "p.new", "-o", "p.out", "-c", "team=a", "-w"];
    dec.extend(new);
    env.ok(&dec);
    assert_eq!(env.read("p.out"), env.read("p"));
    let mut dec_old = vec!["decrypt", "-i", "p.new", "-o", "p.out2", "-w"];
    dec_old.extend(old);
    env.fails(&dec_old, 1);

    let mut m = env.read("p.enc");
    let at = m.len() - 10;
    m[at] ^= 1;
    env.write("bad.enc", &m);
    let mut rw = vec!["rewrap", "-i", "bad.enc", "-o", "bad.new", "-u"];
    rw.extend(old);
    rw.push("-w");
    rw.extend(new);
    env.fails(&rw, 1);
    assert!(!env.path("bad.new").exists());
}

/// A message's header, parsed (the test's own input, so a failure is a bug).
fn header_of(msg: &[u8]) -> Header {
    match header::parse(msg, &Limits::default()) {
        Ok(Parsed::Done(h, _)) => h,
        other => panic!("not a message header: {other:?}"),
    }
}

/// The pairs stored in a header, without the signing key (a new one per message).
fn stored_context(h: &Header) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = h
        .encryption_context
        .iter()
        .filter(|(k, _)| k.as_str() != PUBLIC_KEY_FIELD)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    pairs.sort();
    pairs
}

/// One hop of [`every_suite_rewraps_from_raw_keys_to_the_kms_core_and_back`]:
/// the keys a message is under, as `-w`/`-k` words (empty: the KMS core's
/// default key), and the words that open it (empty: KMS core discovery).
struct Keys {
    label: &'static str,
    wrap: Vec<String>,
    unwrap: Vec<String>,
}

#[test]
fn every_suite_rewraps_from_raw_keys_to_the_kms_core_and_back() {
    let env = Env::new();
    env.write("aes.key", &bytes(32, 21));
    let rsa = repo_file("testdata/keys/rsa-2048-private.pem");
    let rsa = rsa.to_str().unwrap();
    let out = env.ok(&["kms", "create-key", "--description", "rewrap target"]);
    let made: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let named = made["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
    let group = |words: &[&str]| -> Vec<String> { words.iter().map(|w| w.to_string()).collect() };
    let aes = group(&["provider=raw-aes", "key=aes.key", "namespace=ns", "name=aes"]);
    let rsa = group(&[
        "provider=raw-rsa",
        &format!("key={rsa}"),
        "namespace=ns",
        "name=rsa",
        "padding=oaep-sha256",
    ]);
    let raw = |label, g: &Vec<String>| Keys {
        label,
        wrap: [vec!["-w".to_owned()], g.clone()].concat(),
        unwrap: g.clone(),
    };
    // raw AES -> the KMS core's default key -> raw RSA -> a named KMS-core key -> raw AES.
    let hops = [
        raw("raw AES", &aes),
        Keys {
            label: "KMS core default key",
            wrap: vec![],
            unwrap: vec![],
        },
        raw("raw RSA", &rsa),
        Keys {
            label: "KMS core named key",
            wrap: vec!["-k".into(), named.clone()],
            unwrap: vec![],
        },
        raw("raw AES again", &aes),
    ];
    // Sizes up to several MiB; frame lengths change on some hops.
    let sizes = [0, 1, 4097, 300_001, 3 << 20, 65_536, 1_000_003, 2 << 20];
    let frames = ["4096", "65536", "1000", "262144"];
    for (i, suite) in AlgorithmSuite::ALL.iter().enumerate() {
        let policy = if suite.is_committing() {
            vec![]
        } else {
            vec![
                "--commitment-policy".to_owned(),
                "forbid-encrypt-allow-decrypt".to_owned(),
            ]
        };
        let plain = format!("p{i}");
        env.write(&plain, &bytes(sizes[i % sizes.len()], i as u64));
        let first = format!("m{i}-0");
        let mut args = group(&["encrypt", "-i", &plain, "-o", &first, "-c", "team=a", "-c", "é=ü"]);
        args.extend(group(&["--algorithm", &format!("0x{:04x}", suite.id)]));
        args.extend(group(&["--frame-length", frames[i % frames.len()]]));
        args.extend(hops[0].wrap.clone());
        args.extend(policy.clone());
        env.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let mut before = header_of(&env.read(&first));
        for (h, pair) in hops.windows(2).enumerate() {
            let (old, new) = (&pair[0], &pair[1]);
            let (src, dst) = (format!("m{i}-{h}"), format!("m{i}-{}", h + 1));
            let what = format!("suite {:04X}, {} -> {}", suite.id, old.label, new.label);
            let mut args = group(&["rewrap", "-i", &src, "-o", &dst]);
            if !old.unwrap.is_empty() {
                args.push("-u".into());
                args.extend(old.unwrap.clone());
            }
            args.extend(new.wrap.clone());
            if h == 2 {
                args.extend(group(&["--frame-length", frames[(i + 1) % frames.len()]]));
            }
            args.extend(policy.clone());
            env.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());

            let after = header_of(&env.read(&dst));
            assert_ne!(after.message_id, before.message_id, "{what}: same message id");
            assert_eq!(after.suite.id, suite.id, "{what}");
            assert_eq!(stored_context(&after), stored_context(&before), "{what}");
            let want_frame = if h == 2 {
                frames[(i + 1) % frames.len()]
            } else {
                ""
            };
            if !want_frame.is_empty() {
                assert_eq!(after.frame_length.to_string(), want_frame, "{what}");
            } else {
                assert_eq!(after.frame_length, before.frame_length, "{what}");
            }

            let opened = format!("o{i}-{}", h + 1);
            let mut args = group(&["decrypt", "-i", &dst, "-o", &opened, "-c", "team=a"]);
            if !new.unwrap.is_empty() {
                args.push("-w".into());
                args.extend(new.unwrap.clone());
            }
            args.extend(policy.clone());
            env.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
            assert!(env.read(&opened) == env.read(&plain), "{what}: other plaintext");

            // The old keys open the old message and no longer the new one,
            // except where old and new are the same KMS core (discovery opens both).
            if !(old.unwrap.is_empty() && new.unwrap.is_empty()) {
                let mut args = group(&["decrypt", "-i", &dst, "-o", "-", "-c", "team=a"]);
                if !old.unwrap.is_empty() {
                    args.push("-w".into());
                    args.extend(old.unwrap.clone());
                }
                args.extend(policy.clone());
                let out = env.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
                assert!(!out.status.success(), "{what}: the old keys open the new message");
                assert!(out.stdout.is_empty(), "{what}");
            }
            before = after;
        }
    }
}
