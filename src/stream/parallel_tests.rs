//! The parallel pipeline against the single-threaded engine: same bytes out,
//! same errors, and nothing released that the single-threaded rules hold back.
//!
//! Batches are shrunk to one or a few frames and the small-input shortcut is
//! turned off, so that short messages cross many batch boundaries.

use std::io::{self, Read, Write};

use super::parallel::{encrypt_with, Tuning};
use super::setup::prepare_encrypt_with_id;
use super::tests::{allow_all, enc_opts, pattern, FixedKey};
use super::*;
use crate::crypto::fill_random;
use crate::error::{Error, Part};
use crate::format::Parsed;

const WORKERS: [usize; 4] = [1, 2, 3, 8];

fn tuning(workers: usize, batch_bytes: usize) -> Tuning {
    Tuning {
        workers,
        batch_bytes,
        small: 0,
    }
}

/// With `small` bytes on the calling thread first (not a frame multiple, so
/// the hand-over point has to be found).
fn tuning_warm(workers: usize, batch_bytes: usize, small: usize) -> Tuning {
    Tuning {
        small,
        ..tuning(workers, batch_bytes)
    }
}

/// Two encryptors in the same state: same message id and data key (and so
/// the same frame keys). Signing suites get different signing keys, so their
/// headers and footers differ while their bodies must not.
fn twins(k: &FixedKey, opts: &EncryptOptions) -> (Encryptor, Encryptor) {
    let suite = opts.suite.unwrap_or(AlgorithmSuite::DEFAULT);
    let mut id = vec![0u8; suite.message_id_len()];
    fill_random(&mut id).unwrap();
    let make = || Encryptor::from_setup(prepare_encrypt_with_id(k, opts, id.clone()).unwrap());
    (make(), make())
}

/// The single-threaded engine's message.
fn sequential(mut enc: Encryptor, pt: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    enc.update(pt, &mut out).unwrap();
    enc.finish(&mut out).unwrap();
    out
}

fn parallel_encrypt(enc: Encryptor, pt: &[u8], t: Tuning) -> Vec<u8> {
    let mut out = Vec::new();
    let s = encrypt_with(enc, pt, &mut out, t).unwrap();
    assert_eq!(s.bytes_in, pt.len() as u64);
    assert_eq!(s.bytes_out, out.len() as u64);
    out
}

fn parallel_decrypt(k: &dyn Keyring, ct: &[u8], t: Tuning) -> (crate::error::Result<StreamSummary>, Vec<u8>) {
    let mut out = Vec::new();
    let r = AuthenticatedHeader::read(k, &allow_all(), ct).and_then(|d| d.decrypt_with(&mut out, t));
    (r, out)
}

fn header_len(ct: &[u8]) -> usize {
    match crate::format::header::parse(ct, &Default::default()).unwrap() {
        Parsed::Done(h, n) => {
            assert_eq!(n, h.len());
            n
        }
        Parsed::Incomplete(_) => panic!("no whole header"),
    }
}

/// Body bytes: regular frames, then the final frame with the remainder.
fn body_len(size: usize, fl: usize) -> usize {
    (size / fl) * (fl + 32) + (24 + size % fl + 16)
}

/// Sizes around frame and batch boundaries.
fn sizes(fl: usize, per_batch: usize) -> Vec<usize> {
    let b = per_batch * fl;
    let mut v = vec![
        0,
        1,
        fl - 1,
        fl,
        fl + 1,
        b - 1,
        b,
        b + 1,
        3 * b + fl / 2 + 1,
        7 * fl + 3,
    ];
    v.sort_unstable();
    v.dedup();
    v
}

#[test]
fn parallel_encryption_writes_the_single_threaded_bytes() {
    let k = FixedKey(11);
    let suites = [
        &AlgorithmSuite::AES_128_GCM_IV12_TAG16_NO_KDF,
        &AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA256,
        &AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256,
        &AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        AlgorithmSuite::DEFAULT,
    ];
    let mut runs = 0;
    for suite in suites {
        for fl in [1usize, 7, 16, 4096] {
            let opts = enc_opts(suite, fl as u32);
            for (i, per_batch) in [1usize, 3].into_iter().enumerate() {
                for size in sizes(fl, per_batch) {
                    // Every worker count meets every suite and frame length.
                    let workers = WORKERS[(runs + i) % WORKERS.len()];
                    runs += 1;
                    let t = match runs % 3 {
                        0 => tuning_warm(workers, per_batch * fl, 2 * fl + 5),
                        _ => tuning(workers, per_batch * fl),
                    };
                    let what = format!("{suite} frame {fl} size {size} workers {workers} batch {per_batch}");
                    let pt = pattern(size);
                    let (a, b) = twins(&k, &opts);
                    let want = sequential(a, &pt);
                    let got = parallel_encrypt(b, &pt, t);
                    let (hw, hg) = (header_len(&want), header_len(&got));
                    let body = body_len(size, fl);
                    if suite.is_signing() {
                        assert_eq!(want[hw..hw + body], got[hg..hg + body], "{what}: body");
                    } else {
                        assert_eq!(want, got, "{what}");
                        assert_eq!(got.len(), hg + body, "{what}: framing");
                    }
                    let (r, out) = parallel_decrypt(&k, &got, t);
                    let s = r.unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!(out, pt, "{what}: parallel decrypt");
                    assert_eq!(
                        (s.bytes_in, s.bytes_out),
                        (got.len() as u64, size as u64),
                        "{what}"
                    );
                    assert_eq!(decrypt(&k, &allow_all(), &got).unwrap().plaintext, pt, "{what}");
                }
            }
        }
    }
    assert!(runs > 300, "only {runs} runs");
}

/// With the real tuning, reads start small and grow fourfold up to a batch
/// (`io::ReadBuf`), and the pipeline takes over after 16 MiB: around each of
/// those sizes, for frame lengths that do and do not divide them, the bytes
/// are the single-threaded engine's, given the same message id and data key.
#[test]
fn growing_reads_write_the_single_threaded_bytes() {
    let k = FixedKey(12);
    let suite = &AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    let mut sizes = vec![0, 1];
    for edge in [16 << 10, 80 << 10, 336 << 10, (1 << 20) + (336 << 10), 16 << 20] {
        sizes.extend([edge - 1, edge, edge + 1]);
    }
    sizes.push((19 << 20) + 12345);
    let mut id = vec![0u8; suite.message_id_len()];
    fill_random(&mut id).unwrap();
    for fl in [1000u32, 4096] {
        let opts = enc_opts(suite, fl);
        let make = || Encryptor::from_setup(prepare_encrypt_with_id(&k, &opts, id.clone()).unwrap());
        for &size in &sizes {
            let pt = pattern(size);
            let want = sequential(make(), &pt);
            for threads in [1, 2] {
                let got = parallel_encrypt(make(), &pt, Tuning::for_threads(threads));
                assert!(want == got, "frame {fl} size {size} threads {threads}");
            }
        }
    }
}

/// Every single-byte change, every truncation and a trailing byte fail in the
/// pipeline with the error the single-threaded decryptor gives, and release
/// only plaintext of whole frames before the first damaged byte (never the
/// final frame of a signed message).
#[test]
fn parallel_decryption_fails_like_the_single_threaded_one() {
    let k = FixedKey(12);
    let fl = 16;
    let size = 10 * fl + 5;
    let pt = pattern(size);
    let p256 = &AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256;
    for (suite, workers, per_batch, small) in [
        (AlgorithmSuite::DEFAULT, 2, 3, 0),
        (&AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY, 3, 1, 0),
        (p256, 8, 4, 0),
        (AlgorithmSuite::DEFAULT, 2, 2, 3 * fl + 1),
    ] {
        let t = tuning_warm(workers, per_batch * fl, small);
        let ct = encrypt(&k, &enc_opts(suite, fl as u32), &pt).unwrap();
        let hl = header_len(&ct);
        let regular = size / fl;
        // Plaintext that may be out when the first damaged byte is at `i`.
        let allowed = |i: usize| fl * regular.min(i.saturating_sub(hl) / (fl + 32));
        let check = |bad: &[u8], first_damage: usize, what: &str| {
            let want = decrypt(&k, &allow_all(), bad).expect_err(what);
            let (r, out) = parallel_decrypt(&k, bad, t);
            let got = r.expect_err(what);
            assert_eq!(got.to_string(), want.to_string(), "{suite} {what}");
            assert!(
                pt.starts_with(&out),
                "{suite} {what}: released bytes that are not plaintext"
            );
            assert!(
                out.len() <= allowed(first_damage),
                "{suite} {what}: released {} bytes",
                out.len()
            );
        };
        for i in 0..ct.len() {
            let mut bad = ct.clone();
            bad[i] ^= 0x40;
            check(&bad, i, &format!("flip at {i}"));
        }
        for cut in 0..ct.len() {
            check(&ct[..cut], cut, &format!("cut at {cut}"));
        }
        let mut long = ct.clone();
        long.push(0);
        check(&long, ct.len(), "a trailing byte");
    }
}

#[test]
fn a_tampered_frame_is_named_and_its_batch_withheld() {
    let k = FixedKey(13);
    let fl = 64;
    let pt = pattern(20 * fl + 9);
    let ct = encrypt(&k, &enc_opts(AlgorithmSuite::DEFAULT, fl as u32), &pt).unwrap();
    let hl = header_len(&ct);
    for workers in WORKERS {
        // Batches of three frames: frame 5 is in the second batch.
        let t = tuning(workers, 3 * fl);
        let mut bad = ct.clone();
        bad[hl + 4 * (fl + 32) + 16 + 7] ^= 1;
        let (r, out) = parallel_decrypt(&k, &bad, t);
        assert!(matches!(r, Err(Error::Authentication(Part::Frame(5)))), "{r:?}");
        assert_eq!(out, pt[..3 * fl], "workers {workers}: only the first batch");
    }
}

#[test]
fn the_final_frame_waits_for_the_signature() {
    let k = FixedKey(14);
    let fl = 100;
    let pt = pattern(9 * fl + 50);
    let ct = encrypt(&k, &enc_opts(AlgorithmSuite::DEFAULT, fl as u32), &pt).unwrap();
    let mut bad = ct.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    for workers in WORKERS {
        let (r, out) = parallel_decrypt(&k, &bad, tuning(workers, 2 * fl));
        assert!(matches!(r, Err(Error::Signature)), "{r:?}");
        assert_eq!(out, pt[..9 * fl], "workers {workers}: regular frames only");
        let (r, out) = parallel_decrypt(&k, &ct, tuning(workers, 2 * fl));
        r.unwrap();
        assert_eq!(out, pt);
    }
}

/// Hands out `data`, then fails.
struct FailingReader<'a>(&'a [u8]);

impl Read for FailingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.0.len()).min(1000);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// Accepts `limit` bytes, then fails.
struct FailingWriter(usize);

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() > self.0 {
            return Err(io::Error::other("disk full"));
        }
        self.0 -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn io_errors_stop_the_pipeline() {
    let k = FixedKey(15);
    let fl = 16;
    let pt = pattern(500 * fl);
    let opts = enc_opts(AlgorithmSuite::DEFAULT, fl as u32);
    let ct = encrypt(&k, &opts, &pt).unwrap();
    for workers in WORKERS {
        let t = tuning(workers, 4 * fl);
        let (enc, _) = twins(&k, &opts);
        let r = encrypt_with(enc, FailingReader(&pt[..3000]), Vec::new(), t);
        assert!(matches!(r, Err(Error::Io(_))), "{r:?}");
        let (enc, _) = twins(&k, &opts);
        let r = encrypt_with(enc, &pt[..], FailingWriter(2000), t);
        assert!(matches!(r, Err(Error::Io(_))), "{r:?}");

        let mut out = Vec::new();
        let r = AuthenticatedHeader::read(&k, &allow_all(), FailingReader(&ct[..ct.len() / 2]))
            .and_then(|d| d.decrypt_with(&mut out, t));
        assert!(matches!(r, Err(Error::Io(_))), "{r:?}");
        assert!(pt.starts_with(&out));
        let r = AuthenticatedHeader::read(&k, &allow_all(), &ct[..])
            .and_then(|d| d.decrypt_with(FailingWriter(3000), t));
        assert!(matches!(r, Err(Error::Io(_))), "{r:?}");
    }
}

/// The public functions with their real batch size and small-input limit
/// (16 MiB), on inputs above the limit and on one below it.
#[test]
fn public_functions_round_trip_large_and_small_inputs() {
    let k = FixedKey(16);
    for (suite, size) in [
        (AlgorithmSuite::DEFAULT, (17 << 20) + 5),
        (&AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY, 20 << 20),
        (&AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY, 1000),
    ] {
        let pt = pattern(size);
        let opts = enc_opts(suite, 65536);
        for threads in [1, 2, 3] {
            let mut ct = Vec::new();
            let s = encrypt_stream_parallel(&k, &opts, &pt[..], &mut ct, threads).unwrap();
            assert_eq!((s.bytes_in, s.bytes_out), (size as u64, ct.len() as u64));
            let framed = header_len(&ct) + body_len(size, 65536);
            if suite.is_signing() {
                assert!(ct.len() > framed + 100, "{suite}: no footer");
            } else {
                assert_eq!(ct.len(), framed, "{suite}: framing");
            }
            let d = AuthenticatedHeader::read(&k, &allow_all(), &ct[..]).unwrap();
            assert_eq!(d.header().message_id, s.header.message_id);
            let mut out = Vec::new();
            let back = d.decrypt_body_to(&mut out, threads).unwrap();
            assert_eq!(out, pt, "{suite} size {size} threads {threads}");
            assert_eq!(back.bytes_in, ct.len() as u64);
            assert_eq!(decrypt(&k, &allow_all(), &ct).unwrap().plaintext, pt);
            let mut out = Vec::new();
            decrypt_stream_parallel(&k, &allow_all(), &ct[..], &mut out, threads).unwrap();
            assert_eq!(out, pt);
        }
    }
    assert!(available_threads() >= 1);
}

/// The messages the Python ESDK wrote (testdata/kat) that open with one raw
/// AES key, through the pipeline: the same plaintext or the same error as the
/// single-threaded decryptor, framed and non-framed alike.
#[test]
fn python_messages_decrypt_in_the_pipeline_as_in_the_engine() {
    use crate::keyring::raw_aes::RawAesKeyring;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/kat");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let mut compared = 0;
    for c in manifest["cases"].as_array().unwrap() {
        let keys = c["decrypt_keys"].as_array().unwrap();
        if keys.len() != 1 || keys[0]["provider"] != "raw-aes" {
            continue;
        }
        let key = &keys[0];
        let ring = RawAesKeyring::new(
            key["namespace"].as_str().unwrap(),
            key["name"].as_str().unwrap(),
            &std::fs::read(dir.join(key["key_file"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        let d = &c["decrypt"];
        let opts = DecryptOptions {
            commitment_policy: match d["commitment_policy"].as_str().unwrap() {
                "forbid-encrypt-allow-decrypt" => CommitmentPolicy::ForbidEncryptAllowDecrypt,
                "require-encrypt-allow-decrypt" => CommitmentPolicy::RequireEncryptAllowDecrypt,
                _ => CommitmentPolicy::RequireEncryptRequireDecrypt,
            },
            reproduced_encryption_context: serde_json::from_value(d["reproduced_encryption_context"].clone())
                .unwrap(),
            max_encrypted_data_keys: d["max_encrypted_data_keys"].as_u64().map(|n| n as u16),
            unsigned_only: d["unsigned_only"].as_bool().unwrap(),
            ..DecryptOptions::default()
        };
        let message = std::fs::read(dir.join(c["message"].as_str().unwrap())).unwrap();
        let want = decrypt(&ring, &opts, &message);
        for (workers, per_batch) in [(1, 1), (3, 2)] {
            let fl = (c["frame_length"].as_u64().unwrap() as usize).max(1);
            let mut out = Vec::new();
            let got = AuthenticatedHeader::read(&ring, &opts, &message[..])
                .and_then(|p| p.decrypt_with(&mut out, tuning(workers, per_batch * fl)));
            let name = c["name"].as_str().unwrap();
            match (&want, got) {
                (Ok(w), Ok(_)) => assert_eq!(out, w.plaintext, "{name}"),
                (Err(w), Err(g)) => {
                    assert_eq!(g.to_string(), w.to_string(), "{name}");
                }
                (w, g) => panic!("{name}: single-threaded {w:?}, pipeline {g:?}"),
            }
        }
        compared += 1;
    }
    assert!(compared > 40, "only {compared} known-answer cases compared");
}

#[test]
fn absurd_thread_counts_are_capped() {
    assert_eq!(Tuning::for_threads(usize::MAX).workers, 256);
    assert_eq!(Tuning::for_threads(0).workers, 0);
    assert_eq!(Tuning::for_threads(1).workers, 0);
    let k = FixedKey(17);
    let pt = pattern((16 << 20) + 3 * 65536 + 1);
    let opts = enc_opts(&AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY, 65536);
    let mut ct = Vec::new();
    encrypt_stream_parallel(&k, &opts, &pt[..], &mut ct, usize::MAX).unwrap();
    let mut out = Vec::new();
    decrypt_stream_parallel(&k, &allow_all(), &ct[..], &mut out, usize::MAX).unwrap();
    assert_eq!(out, pt);
}
