//! `envelope rewrap` and `envelope::stream::rewrap_stream`: every suite
//! re-keyed to the original plaintext under new keys, with the context
//! carried over and a new message id; every bit flip and truncation of a
//! small message fails the rewrap.

use envelope::keyring::raw_aes::RawAesKeyring;
use envelope::stream::{self, DecryptOptions, EncryptOptions, RewrapOptions};
use envelope::{AlgorithmSuite, CommitmentPolicy, EncryptionContext};

use crate::support::cli::{bytes, Env};

fn ring(name: &str, seed: u64) -> RawAesKeyring {
    RawAesKeyring::new("tests", name, &bytes(32, seed)).unwrap()
}

fn policy_for(suite: &AlgorithmSuite) -> CommitmentPolicy {
    if suite.is_committing() {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    }
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
