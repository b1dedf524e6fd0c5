//! Data-key caching (`envelope::stream::cache`, `encrypt --caching`),
//! counted where it matters: GenerateDataKey requests reaching a KMS server,
//! seen by the counting proxy in front of it.

use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use envelope::format::{EncryptedDataKey, Header};
use envelope::format::{Limits, Parsed};
use envelope::internal::header;
use envelope::keyring::kms::KmsKeyring;
use envelope::keyring::{DecryptionMaterials, EncryptionMaterials, Keyring};
use envelope::kms::{CreateKeyRequest, Kms};
use envelope::server::Server;
use envelope::stream::cache::{CacheClock, CachePolicy, Caching, DataKeyCache};
use envelope::stream::{decrypt, encrypt, encrypt_stream, DecryptOptions, EncryptOptions};
use envelope::{AlgorithmSuite, EncryptionContext, Error};

use super::endpoints::{self, envelope_cmd, Proxy};
use crate::kms_server::support::{self as server, Store};
use crate::support::cli::{assert_clean, bytes, Env};
use crate::support::fixtures::{allow_all, encrypt_options, policy_for};

/// A KMS server in this process with one key, behind a counting proxy.
struct Counted {
    proxy: Proxy,
    /// The key's ARN, and a strict keyring on it through the proxy.
    key: String,
    keyring: Arc<KmsKeyring>,
    _server: Server,
    _store: Store,
}

impl Counted {
    fn start() -> Counted {
        let store = Store::new();
        let core = store.open();
        let key = core
            .create_key(&CreateKeyRequest::default())
            .unwrap()
            .key_metadata
            .arn;
        let server = server::start(core, server::test_limits());
        let proxy = Proxy::start(server.local_addr());
        let kms: Arc<dyn Kms> = Arc::new(endpoints::remote(&proxy.url));
        let keyring = Arc::new(KmsKeyring::strict(kms, vec![key.clone()]).unwrap());
        Counted {
            proxy,
            key,
            keyring,
            _server: server,
            _store: store,
        }
    }

    fn calls(&self) -> usize {
        self.proxy.count("GenerateDataKey")
    }
}

fn caching(cache: &DataKeyCache, max_messages: u64) -> Caching {
    let policy = CachePolicy {
        max_messages,
        ..CachePolicy::new(Duration::from_secs(3600))
    };
    Caching::new(cache.clone(), policy).unwrap()
}

fn cached(suite: &'static AlgorithmSuite, c: &Caching) -> EncryptOptions {
    EncryptOptions {
        caching: Some(c.clone()),
        ..encrypt_options(suite, 4096)
    }
}

fn header(message: &[u8]) -> Header {
    match header::parse(message, &Limits::default()).unwrap() {
        Parsed::Done(h, _) => h,
        Parsed::Incomplete(_) => panic!("a truncated header"),
    }
}

/// The wrapped data key of a message: equal for messages under one data key.
fn edk(message: &[u8]) -> Vec<u8> {
    header(message).encrypted_data_keys[0].ciphertext.clone()
}

const UNSIGNED: &AlgorithmSuite = &AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;

#[test]
fn ten_thousand_messages_under_max_messages_1000_make_ten_calls() {
    let kms = Counted::start();
    // Without a cache each message makes its own call: the count is real.
    for i in 0..20u32 {
        encrypt(
            kms.keyring.as_ref(),
            &encrypt_options(UNSIGNED, 4096),
            &i.to_be_bytes(),
        )
        .unwrap();
    }
    assert_eq!(kms.calls(), 20);

    let cache = DataKeyCache::new(16).unwrap();
    let opts = cached(UNSIGNED, &caching(&cache, 1000));
    let mut keys = Vec::new();
    for i in 0..10_000u32 {
        let plaintext = format!("small message {i}");
        let m = encrypt(kms.keyring.as_ref(), &opts, plaintext.as_bytes()).unwrap();
        if i % 500 == 0 || i % 1000 == 999 {
            assert_eq!(
                decrypt(kms.keyring.as_ref(), &allow_all(), &m).unwrap().plaintext,
                plaintext.as_bytes()
            );
            keys.push((i, edk(&m)));
        }
    }
    assert_eq!(kms.calls() - 20, 10);
    // Messages 0..999 share a data key, 1000.. the next one.
    for w in keys.windows(2) {
        let ((a, ka), (b, kb)) = (&w[0], &w[1]);
        assert_eq!(a / 1000 == b / 1000, ka == kb, "messages {a} and {b}");
    }
}

#[test]
fn sixty_four_concurrent_cold_encryptions_make_one_call() {
    let kms = Counted::start();
    let cache = DataKeyCache::new(4).unwrap();
    // A signing suite: the cached signing key comes along with the data key.
    let opts = cached(AlgorithmSuite::DEFAULT, &caching(&cache, 1000));
    let barrier = Barrier::new(64);
    let messages: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..64u8)
            .map(|i| {
                let (barrier, opts, ring) = (&barrier, &opts, kms.keyring.as_ref());
                s.spawn(move || {
                    barrier.wait();
                    encrypt(ring, opts, &[i; 100]).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(kms.calls(), 1);
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(edk(m), edk(&messages[0]));
        assert_eq!(
            decrypt(kms.keyring.as_ref(), &allow_all(), m).unwrap().plaintext,
            [i as u8; 100]
        );
    }
}

/// A keyring that always fails, counting its calls.
struct Failing(Mutex<usize>);

impl Keyring for Failing {
    fn on_encrypt(&self, _: &mut EncryptionMaterials) -> envelope::Result<()> {
        *self.0.lock().unwrap() += 1;
        std::thread::sleep(Duration::from_millis(20));
        Err(Error::NoDataKey("this keyring never works".into()))
    }
    fn on_decrypt(&self, _: &mut DecryptionMaterials, _: &[EncryptedDataKey]) -> envelope::Result<()> {
        Ok(())
    }
}

#[test]
fn when_the_one_call_fails_every_waiter_gets_an_error_and_none_hangs() {
    let ring = Failing(Mutex::new(0));
    let cache = DataKeyCache::new(4).unwrap();
    let opts = cached(UNSIGNED, &caching(&cache, 1000));
    let barrier = Barrier::new(16);
    std::thread::scope(|s| {
        for _ in 0..16 {
            let (barrier, opts, ring) = (&barrier, &opts, &ring);
            s.spawn(move || {
                barrier.wait();
                let e = encrypt(ring, opts, b"x").unwrap_err();
                assert!(e.to_string().contains("never works"), "{e}");
            });
        }
    });
    // Each failed message made at most its own call; nothing was cached.
    let calls = *ring.0.lock().unwrap();
    assert!((1..=16).contains(&calls), "{calls}");
    assert!(cache.is_empty());
}

/// A clock the test moves by hand.
struct TestClock(Mutex<Instant>);

impl TestClock {
    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

impl CacheClock for TestClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap()
    }
}

#[test]
fn an_expired_entry_is_never_used() {
    let kms = Counted::start();
    let clock = Arc::new(TestClock(Mutex::new(Instant::now())));
    let cache = DataKeyCache::with_clock(4, clock.clone()).unwrap();
    let max_age = Duration::from_secs(60);
    let c = Caching::new(cache, CachePolicy::new(max_age)).unwrap();
    let opts = cached(UNSIGNED, &c);
    let ring = kms.keyring.as_ref();

    let first = encrypt(ring, &opts, b"one").unwrap();
    clock.advance(max_age - Duration::from_nanos(1));
    let young = encrypt(ring, &opts, b"two").unwrap();
    assert_eq!(kms.calls(), 1);
    assert_eq!(edk(&first), edk(&young));
    // At its maximum age an entry is expired: never used again.
    clock.advance(Duration::from_nanos(1));
    let after = encrypt(ring, &opts, b"three").unwrap();
    assert_eq!(kms.calls(), 2);
    assert_ne!(edk(&first), edk(&after));
    clock.advance(max_age * 10);
    let later = encrypt(ring, &opts, b"four").unwrap();
    assert_eq!(kms.calls(), 3);
    assert_ne!(edk(&after), edk(&later));
}

fn context(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn entries_for_different_contexts_suites_or_keyrings_never_mix() {
    let kms = Counted::start();
    let cache = DataKeyCache::new(16).unwrap();
    let c = caching(&cache, 1000);
    let ring = kms.keyring.as_ref();
    let (a, b) = (context(&[("tenant", "a")]), context(&[("tenant", "b")]));
    let under = |ec: &EncryptionContext, suite| EncryptOptions {
        encryption_context: ec.clone(),
        ..cached(suite, &c)
    };
    let mut by_a = Vec::new();
    let mut by_b = Vec::new();
    for i in 0..5u8 {
        by_a.push(encrypt(ring, &under(&a, UNSIGNED), &[i]).unwrap());
        by_b.push(encrypt(ring, &under(&b, UNSIGNED), &[i]).unwrap());
    }
    assert_eq!(kms.calls(), 2, "one data key per context");
    for i in 0..5 {
        assert_eq!(edk(&by_a[i]), edk(&by_a[0]));
        assert_eq!(edk(&by_b[i]), edk(&by_b[0]));
        assert_ne!(edk(&by_a[i]), edk(&by_b[i]));
        assert_eq!(header(&by_a[i]).encryption_context, a);
        assert_eq!(header(&by_b[i]).encryption_context, b);
        let expect = |ec: &EncryptionContext| DecryptOptions {
            reproduced_encryption_context: ec.clone(),
            ..allow_all()
        };
        assert!(decrypt(ring, &expect(&a), &by_a[i]).is_ok());
        assert!(decrypt(ring, &expect(&b), &by_b[i]).is_ok());
        assert!(decrypt(ring, &expect(&b), &by_a[i]).is_err());
        assert!(decrypt(ring, &expect(&a), &by_b[i]).is_err());
    }
    // A context that only adds a pair is another context.
    let ab = context(&[("tenant", "a"), ("x", "y")]);
    encrypt(ring, &under(&ab, UNSIGNED), b"x").unwrap();
    assert_eq!(kms.calls(), 3);
    // Another suite under the same context: another entry.
    let suite = &AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;
    let signed = encrypt(ring, &under(&a, suite), b"x").unwrap();
    assert_eq!(kms.calls(), 4);
    assert_ne!(edk(&signed), edk(&by_a[0]));
    // Another keyring sharing the store gets a partition of its own.
    let other = Counted::start();
    let own = caching(&cache, 1000);
    let theirs = EncryptOptions {
        encryption_context: a.clone(),
        ..cached(UNSIGNED, &own)
    };
    let m = encrypt(other.keyring.as_ref(), &theirs, b"x").unwrap();
    assert_eq!(other.calls(), 1);
    assert!(
        decrypt(ring, &allow_all(), &m).is_err(),
        "not under the first keyring's key"
    );
    assert_eq!(kms.calls(), 4);
}

#[test]
fn identity_kdf_suites_and_unknown_lengths_are_never_cached_and_bytes_are_counted() {
    let kms = Counted::start();
    let cache = DataKeyCache::new(16).unwrap();
    let c = caching(&cache, 1000);
    let ring = kms.keyring.as_ref();
    for suite in [
        &AlgorithmSuite::AES_128_GCM_IV12_TAG16_NO_KDF,
        &AlgorithmSuite::AES_192_GCM_IV12_TAG16_NO_KDF,
        &AlgorithmSuite::AES_256_GCM_IV12_TAG16_NO_KDF,
    ] {
        let opts = EncryptOptions {
            commitment_policy: policy_for(suite),
            ..cached(suite, &c)
        };
        let before = kms.calls();
        let (m1, m2) = (
            encrypt(ring, &opts, b"1").unwrap(),
            encrypt(ring, &opts, b"2").unwrap(),
        );
        assert_eq!(kms.calls() - before, 2, "{}", suite.name);
        assert_ne!(edk(&m1), edk(&m2));
    }
    assert!(cache.is_empty());

    // A stream of unknown length: a fresh data key each time.
    let opts = cached(UNSIGNED, &c);
    let before = kms.calls();
    for _ in 0..3 {
        encrypt_stream(ring, &opts, &b"streamed"[..], Vec::new()).unwrap();
    }
    assert_eq!(kms.calls() - before, 3);
    // A declared length is held to.
    let declared = EncryptOptions {
        plaintext_length: Some(4),
        ..opts.clone()
    };
    let e = encrypt_stream(ring, &declared, &b"longer than four"[..], Vec::new()).unwrap_err();
    assert!(e.to_string().contains("declared length"), "{e}");

    // Bytes: 40-byte messages under a 100-byte limit share a key two at a time.
    let policy = CachePolicy {
        max_bytes: 100,
        ..CachePolicy::new(Duration::from_secs(3600))
    };
    let by_bytes = cached(
        UNSIGNED,
        &Caching::new(DataKeyCache::new(4).unwrap(), policy).unwrap(),
    );
    let before = kms.calls();
    let m: Vec<_> = (0..4)
        .map(|_| encrypt(ring, &by_bytes, &[7; 40]).unwrap())
        .collect();
    assert_eq!(kms.calls() - before, 2);
    assert_eq!(edk(&m[0]), edk(&m[1]));
    assert_ne!(edk(&m[1]), edk(&m[2]));
    assert_eq!(edk(&m[2]), edk(&m[3]));
    // A message over the limit bypasses the cache.
    encrypt(ring, &by_bytes, &[7; 101]).unwrap();
    encrypt(ring, &by_bytes, &[7; 101]).unwrap();
    assert_eq!(kms.calls() - before, 4);
}

#[test]
fn encrypt_r_with_caching_shares_data_keys_across_files() {
    let counted = Counted::start();
    let (proxy, key) = (&counted.proxy, &counted.key);
    let env = Env::new();
    let files = 200;
    for i in 0..files {
        env.write(
            &format!("in/d{}/f{i:03}.txt", i % 4),
            &bytes(100 + i * 7, i as u64),
        );
    }
    let run = |extra: &[&str], out: &str| {
        let mut c = envelope_cmd();
        let o = c
            .current_dir(env.dir())
            .env("ENVELOPE_HOME", env.home())
            .args([
                "--kms-endpoint",
                &proxy.url,
                "encrypt",
                "-r",
                "-i",
                "in",
                "-o",
                out,
                "-k",
                key,
            ])
            .args(extra)
            .output()
            .unwrap();
        assert_clean(&o.stderr);
        o
    };
    let o = run(
        &[
            "--caching",
            "capacity=10",
            "max_age=600",
            "max_messages_encrypted=64",
        ],
        "cached",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(proxy.count("GenerateDataKey"), files.div_ceil(64));
    // Without the flag: one call per file.
    let o = run(&[], "fresh");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(proxy.count("GenerateDataKey"), files.div_ceil(64) + files);

    // Every cached output decrypts to its input.
    let mut c = envelope_cmd();
    let o = c
        .current_dir(env.dir())
        .env("ENVELOPE_HOME", env.home())
        .args([
            "--kms-endpoint",
            &proxy.url,
            "decrypt",
            "-r",
            "-i",
            "cached",
            "-o",
            "back",
            "-k",
            key,
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for i in 0..files {
        let d = i % 4;
        assert_eq!(
            env.read(&format!("back/d{d}/f{i:03}.txt")),
            bytes(100 + i * 7, i as u64),
        );
    }

    // The words are checked: capacity and max_age are required.
    for words in [
        &["max_age=5"][..],
        &["capacity=5"],
        &["capacity=5", "max_age=0"],
        &["capacity=1", "max_age=1", "size=3"],
    ] {
        let mut args = vec!["--caching"];
        args.extend_from_slice(words);
        let o = run(&args, "never");
        assert_eq!(o.status.code(), Some(2), "{words:?}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("--caching"),
            "{words:?}"
        );
    }
}
