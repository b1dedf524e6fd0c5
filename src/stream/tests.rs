//! Engine tests with a minimal in-test keyring (the real keyrings have their own).

use super::*;
use crate::crypto::Secret;
use crate::error::Error;
use crate::format::edk::EncryptedDataKey;
use crate::keyring::{DecryptionMaterials, EncryptionMaterials};

/// Hands out a fixed data key; its EDK is a marker, not a wrapped key.
pub(super) struct FixedKey(pub(super) u8);

impl Keyring for FixedKey {
    fn on_encrypt(&self, m: &mut EncryptionMaterials) -> crate::error::Result<()> {
        m.plaintext_data_key = Some(Secret::new(vec![self.0; m.suite.key_len]));
        m.encrypted_data_keys.push(EncryptedDataKey {
            provider_id: "fixed".into(),
            provider_info: vec![self.0],
            ciphertext: vec![0; 4],
        });
        Ok(())
    }

    fn on_decrypt(&self, m: &mut DecryptionMaterials, edks: &[EncryptedDataKey]) -> crate::error::Result<()> {
        if edks.iter().any(|e| e.provider_id == "fixed") {
            m.plaintext_data_key = Some(Secret::new(vec![self.0; m.suite.key_len]));
            Ok(())
        } else {
            Err(Error::NoDataKey("no fixed EDK".into()))
        }
    }
}

pub(super) fn allow_all() -> DecryptOptions {
    DecryptOptions {
        commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
        ..DecryptOptions::default()
    }
}

pub(super) fn enc_opts(suite: &'static AlgorithmSuite, frame_length: u32) -> EncryptOptions {
    let policy = if suite.is_committing() {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    };
    let mut ec = EncryptionContext::new();
    ec.insert("purpose".into(), "unit test".into());
    EncryptOptions {
        suite: Some(suite),
        frame_length,
        commitment_policy: policy,
        encryption_context: ec,
        ..EncryptOptions::default()
    }
}

pub(super) fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn round_trip_every_suite_sizes_and_frames() {
    let k = FixedKey(7);
    for suite in AlgorithmSuite::ALL {
        for (frame, size) in [(1, 0), (1, 3), (16, 16), (16, 33), (4096, 10_000), (65536, 65536)] {
            let pt = pattern(size);
            let ct = encrypt(&k, &enc_opts(suite, frame), &pt).unwrap();
            let d = decrypt(&k, &allow_all(), &ct).unwrap();
            assert_eq!(d.plaintext, pt, "{suite} frame {frame} size {size}");
            assert_eq!(d.header.suite, suite);
            // Chunked decryption in odd piece sizes gives the same result.
            let mut dec = Decryptor::new(&k, allow_all());
            let mut out = Vec::new();
            for piece in ct.chunks(7) {
                dec.update(piece, &mut out).unwrap();
            }
            dec.finish().unwrap();
            assert_eq!(out, pt);
        }
    }
}

#[test]
fn exact_multiple_ends_with_empty_final_frame() {
    let k = FixedKey(1);
    let suite = &AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    let ct = encrypt(&k, &enc_opts(suite, 16), &pattern(32)).unwrap();
    // Two regular frames (16 + 32 bytes each) and an empty final frame (40 bytes).
    let mut dec = Decryptor::new(&k, allow_all());
    dec.update(&ct, &mut Vec::new()).unwrap();
    let header_len = dec.header().unwrap().len();
    assert_eq!(ct.len(), header_len + 2 * (16 + 32) + 40);
    assert_eq!(&ct[ct.len() - 40..ct.len() - 36], &[0xff; 4]);
    assert_eq!(&ct[ct.len() - 20..ct.len() - 16], &[0, 0, 0, 0]);
}

#[test]
fn tamper_truncate_and_trailing_data_fail() {
    let k = FixedKey(9);
    for suite in [
        &AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
        &AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        &AlgorithmSuite::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256,
        &AlgorithmSuite::AES_128_GCM_IV12_TAG16_NO_KDF,
    ] {
        let pt = pattern(50);
        let ct = encrypt(&k, &enc_opts(suite, 16), &pt).unwrap();
        for i in 0..ct.len() {
            let mut bad = ct.clone();
            bad[i] ^= 0x01;
            assert!(
                decrypt(&k, &allow_all(), &bad).is_err(),
                "{suite}: flip at {i} accepted"
            );
        }
        for cut in 0..ct.len() {
            assert!(
                decrypt(&k, &allow_all(), &ct[..cut]).is_err(),
                "{suite}: cut at {cut} accepted"
            );
        }
        let mut long = ct.clone();
        long.push(0);
        assert!(matches!(
            decrypt(&k, &allow_all(), &long),
            Err(Error::TrailingData)
        ));
    }
}

#[test]
fn signed_final_frame_is_held_until_the_signature() {
    let k = FixedKey(3);
    let suite = AlgorithmSuite::DEFAULT;
    let pt = pattern(40);
    let ct = encrypt(&k, &enc_opts(suite, 16), &pt).unwrap();
    let mut dec = Decryptor::new(&k, allow_all());
    let mut out = Vec::new();
    // Everything but the footer: the two regular frames are out, the final one is held.
    let header_len = match crate::format::header::parse(&ct, &Default::default()).unwrap() {
        crate::format::Parsed::Done(h, _) => h.len(),
        crate::format::Parsed::Incomplete(_) => unreachable!("whole message given"),
    };
    let body_end = header_len + 2 * (16 + 32) + (40 + 8);
    dec.update(&ct[..body_end], &mut out).unwrap();
    assert_eq!(out, pt[..32]);
    dec.update(&ct[body_end..], &mut out).unwrap();
    dec.finish().unwrap();
    assert_eq!(out, pt);
}

#[test]
fn policies_are_enforced() {
    let k = FixedKey(5);
    let legacy = &AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA256;
    let ct = encrypt(&k, &enc_opts(legacy, 64), b"x").unwrap();
    assert!(matches!(
        decrypt(&k, &DecryptOptions::default(), &ct),
        Err(Error::CommitmentPolicy { .. })
    ));
    let committing_under_forbid = EncryptOptions {
        commitment_policy: CommitmentPolicy::ForbidEncryptAllowDecrypt,
        ..enc_opts(AlgorithmSuite::DEFAULT, 64)
    };
    assert!(encrypt(&k, &committing_under_forbid, b"x").is_err());
    let signed = encrypt(&k, &enc_opts(AlgorithmSuite::DEFAULT, 64), b"x").unwrap();
    let unsigned_only = DecryptOptions {
        unsigned_only: true,
        ..allow_all()
    };
    assert!(matches!(
        decrypt(&k, &unsigned_only, &signed),
        Err(Error::SignedMessageRefused(_))
    ));
    let mut reserved = enc_opts(AlgorithmSuite::DEFAULT, 64);
    reserved
        .encryption_context
        .insert("aws-crypto-x".into(), "y".into());
    assert!(matches!(encrypt(&k, &reserved, b"x"), Err(Error::Config(_))));
}

#[test]
fn reproduced_and_required_context() {
    let k = FixedKey(2);
    let mut opts = enc_opts(&AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY, 64);
    opts.encryption_context.insert("tenant".into(), "a".into());
    opts.required_encryption_context_keys = vec!["tenant".into()];
    let ct = encrypt(&k, &opts, b"secret").unwrap();
    // Without the required pair the header tag cannot verify.
    assert!(matches!(
        decrypt(&k, &allow_all(), &ct),
        Err(Error::Authentication(_))
    ));
    let mut d = allow_all();
    d.reproduced_encryption_context
        .insert("tenant".into(), "a".into());
    let out = decrypt(&k, &d, &ct).unwrap();
    assert_eq!(out.plaintext, b"secret");
    assert!(!out.header.encryption_context.contains_key("tenant"));
    // A stored pair with a different value is a mismatch.
    d.reproduced_encryption_context
        .insert("purpose".into(), "other".into());
    assert!(matches!(decrypt(&k, &d, &ct), Err(Error::EncryptionContext(_))));
    // A wrong required value fails authentication.
    let mut wrong = allow_all();
    wrong
        .reproduced_encryption_context
        .insert("tenant".into(), "b".into());
    assert!(decrypt(&k, &wrong, &ct).is_err());
}

#[test]
fn io_adapters_match_one_shot() {
    use std::io::{Read, Write};
    let k = FixedKey(4);
    let opts = enc_opts(AlgorithmSuite::DEFAULT, 1000);
    let pt = pattern(3 * super::io::IO_CHUNK + 17);
    let mut w = EncryptingWriter::new(&k, &opts, Vec::new()).unwrap();
    for piece in pt.chunks(333_333) {
        w.write_all(piece).unwrap();
    }
    let ct = w.finish().unwrap();
    let mut r = DecryptingReader::new(&k, allow_all(), &ct[..]);
    let mut back = Vec::new();
    r.read_to_end(&mut back).unwrap();
    assert_eq!(back, pt);
    let mut sink = Vec::new();
    let s = decrypt_stream(&k, &allow_all(), &ct[..], &mut sink).unwrap();
    assert_eq!(sink, pt);
    assert_eq!(s.bytes_in, ct.len() as u64);
    let mut ct2 = Vec::new();
    let s = encrypt_stream(&k, &opts, &pt[..], &mut ct2).unwrap();
    assert_eq!(s.bytes_out, ct2.len() as u64);
    assert_eq!(decrypt(&k, &allow_all(), &ct2).unwrap().plaintext, pt);
}

#[test]
fn a_reproduced_pair_the_message_lacks_is_named() {
    let k = FixedKey(6);
    let ct = encrypt(&k, &enc_opts(AlgorithmSuite::DEFAULT, 64), b"x").unwrap();
    let mut d = allow_all();
    d.reproduced_encryption_context
        .insert("owner".into(), "ops".into());
    match decrypt(&k, &d, &ct) {
        Err(Error::EncryptionContext(m)) => assert!(m.contains("owner"), "{m}"),
        other => panic!("expected a context error naming the key, got {other:?}"),
    }
}

/// A decryptor that refused its input accepts nothing more (issue 10,
/// informational): not the rest of a message whose frame failed, and not a
/// whole valid message fed after a failure.
#[test]
fn a_failed_decryptor_accepts_no_more_input() {
    let k = FixedKey(9);
    let suite = &AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY;
    let pt = pattern(200);
    let ct = encrypt(&k, &enc_opts(suite, 16), &pt).unwrap();
    let header_len = {
        let mut d = Decryptor::new(&k, allow_all());
        d.read_header(&ct).unwrap().unwrap()
    };
    // A bit flipped in the second frame: the first frame is released, then the
    // failure; the frames after it are never opened, whatever comes next.
    let mut bad = ct.clone();
    bad[header_len + 4 + 12 + 16 + 16 + 10] ^= 1;
    let mut d = Decryptor::new(&k, allow_all());
    let mut out = Vec::new();
    assert!(matches!(d.update(&bad, &mut out), Err(Error::Authentication(_))));
    let released = out.len();
    assert_eq!(&out[..], &pt[..released]);
    for more in [&ct[header_len..], &ct[..], &[][..]] {
        assert!(matches!(
            d.update(more, &mut out),
            Err(Error::ApiMisuse(crate::error::ApiMisuse::UsedAfterError))
        ));
    }
    assert!(d.finish().is_err());
    assert_eq!(out.len(), released);
}
