//! Property tests: random sizes and frame lengths round-trip; a message opens
//! only with the right key and context; any single changed byte breaks it.

use envelope::stream::{decrypt, encrypt, Decryptor, EncryptOptions};
use envelope::AlgorithmSuite;
use envelope::EncryptionContext;
use proptest::prelude::*;

use crate::support::fixtures::{allow_all, encrypt_options, keyring_with};

fn suite_strategy() -> impl Strategy<Value = &'static AlgorithmSuite> {
    prop::sample::select(AlgorithmSuite::ALL.to_vec())
}

fn opts(suite: &'static AlgorithmSuite, frame_length: u32, ec: EncryptionContext) -> EncryptOptions {
    EncryptOptions {
        encryption_context: ec,
        ..encrypt_options(suite, frame_length)
    }
}

fn context_strategy() -> impl Strategy<Value = EncryptionContext> {
    prop::collection::btree_map("[a-z]{1,8}", "\\PC{0,12}", 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trips(
        suite in suite_strategy(),
        frame_length in prop_oneof![1u32..64, 64u32..5000],
        plaintext in prop::collection::vec(any::<u8>(), 0..20_000),
        ec in context_strategy(),
        key in prop::collection::vec(any::<u8>(), 32),
        chunk in 1usize..5000,
    ) {
        let k = keyring_with(&key);
        let ct = encrypt(&k, &opts(suite, frame_length, ec.clone()), &plaintext).unwrap();
        let d = decrypt(&k, &allow_all(), &ct).unwrap();
        prop_assert_eq!(&d.plaintext, &plaintext);
        // Stored context comes back (plus the public key for signing suites).
        for (key, v) in &ec {
            prop_assert_eq!(d.header.encryption_context.get(key), Some(v));
        }
        // Streaming in arbitrary chunk sizes gives the same plaintext.
        let mut dec = Decryptor::new(&k, allow_all());
        let mut out = Vec::new();
        for piece in ct.chunks(chunk) {
            dec.update(piece, &mut out).unwrap();
        }
        dec.finish().unwrap();
        prop_assert_eq!(out, plaintext);
    }

    #[test]
    fn opens_only_with_the_right_key_and_context(
        suite in suite_strategy(),
        plaintext in prop::collection::vec(any::<u8>(), 0..2000),
        key in prop::collection::vec(any::<u8>(), 32),
        other in prop::collection::vec(any::<u8>(), 32),
        value in "[a-z]{1,8}",
        other_value in "[a-z]{1,8}",
    ) {
        prop_assume!(key != other && value != other_value);
        let mut ec = EncryptionContext::new();
        ec.insert("tenant".into(), value.clone());
        let ct = encrypt(&keyring_with(&key), &opts(suite, 512, ec), &plaintext).unwrap();
        prop_assert!(decrypt(&keyring_with(&other), &allow_all(), &ct).is_err());
        let mut wrong_ctx = allow_all();
        wrong_ctx.reproduced_encryption_context.insert("tenant".into(), other_value);
        prop_assert!(decrypt(&keyring_with(&key), &wrong_ctx, &ct).is_err());
        let mut right_ctx = allow_all();
        right_ctx.reproduced_encryption_context.insert("tenant".into(), value);
        prop_assert_eq!(decrypt(&keyring_with(&key), &right_ctx, &ct).unwrap().plaintext, plaintext);
    }

    #[test]
    fn any_changed_byte_fails(
        suite in suite_strategy(),
        plaintext in prop::collection::vec(any::<u8>(), 0..3000),
        frame_length in 1u32..1024,
        key in prop::collection::vec(any::<u8>(), 32),
        pos in any::<prop::sample::Index>(),
        delta in 1u8..=255,
    ) {
        let k = keyring_with(&key);
        let mut ct = encrypt(&k, &opts(suite, frame_length, EncryptionContext::new()), &plaintext).unwrap();
        let i = pos.index(ct.len());
        ct[i] = ct[i].wrapping_add(delta);
        prop_assert!(decrypt(&k, &allow_all(), &ct).is_err(), "byte {} changed yet decrypted", i);
    }
}
