//! Full decryption of arbitrary bytes with fixed raw AES keys (the known-answer
//! set's, so its messages are meaningful seeds): the differential target,
//! one-shot, streaming and the thread pipeline side by side.
//!
//! Input: one byte seeding the chunk sizes and the pipeline's shape, then the
//! message.
//!
//! Checks, beyond "never panics":
//! * one-shot, streaming and the thread pipeline (1-3 workers, batches of a
//!   few frames, from the first frame on) agree on success or failure;
//! * the pipeline writes exactly the plaintext on success, and on failure a
//!   prefix of what streaming released;
//! * on success the streamed plaintext equals the one-shot plaintext;
//! * the bytes released while streaming do not depend on how the input was
//!   cut (they are exactly what a single `update` with all of it releases),
//!   so the release decision rests on the message, not on buffering;
//! * on failure nothing is released before the header authenticates, and for
//!   signed suites only whole regular frames (never the final frame or a
//!   non-framed body) are released;
//! * the one exception is a complete, verified message followed by trailing
//!   bytes: its plaintext may have been released before the trailing bytes
//!   arrived, and then it is exactly what the message without them decrypts to.
#![no_main]

use std::sync::OnceLock;

use envelope::format::ContentType;
use envelope::internal::decrypt_pipelined;
use envelope::keyring::multi::MultiKeyring;
use envelope::keyring::raw_aes::RawAesKeyring;
use envelope::keyring::Keyring;
use envelope::stream::{decrypt, DecryptOptions, Decryptor};
use envelope::{CommitmentPolicy, Error, Result};
use libfuzzer_sys::fuzz_target;

fn keyring() -> &'static MultiKeyring {
    static K: OnceLock<MultiKeyring> = OnceLock::new();
    K.get_or_init(|| {
        let raw = |name: &str, key: &[u8]| -> Box<dyn Keyring> {
            Box::new(RawAesKeyring::new("envelope-kat", name, key).expect("valid test key"))
        };
        let children = vec![
            raw("aes-128", include_bytes!("../../testdata/kat/keys/aes-128.key")),
            raw("aes-192", include_bytes!("../../testdata/kat/keys/aes-192.key")),
        ];
        let generator = raw("aes-256", include_bytes!("../../testdata/kat/keys/aes-256.key"));
        MultiKeyring::new(Some(generator), children).expect("valid multi keyring")
    })
}

fn options() -> DecryptOptions {
    DecryptOptions {
        commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
        ..DecryptOptions::default()
    }
}

/// What a streaming run released, and how it ended.
struct Streamed {
    released: Vec<u8>,
    result: Result<()>,
    /// (signed, content type, frame length) once the header has authenticated.
    header: Option<(bool, ContentType, u32)>,
    /// Message bytes consumed.
    consumed: usize,
}

fn stream(message: &[u8], mut seed: u32) -> Streamed {
    let k = keyring();
    let mut dec = Decryptor::new(k, options());
    let mut released = Vec::new();
    let mut rest = message;
    let mut result = Ok(());
    while !rest.is_empty() {
        // xorshift: chunk sizes from 1 byte up to the whole input.
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = match seed % 4 {
            0 => 1 + (seed as usize >> 8) % 4,
            1 => 1 + (seed as usize >> 8) % 64,
            2 => 1 + (seed as usize >> 8) % 1024,
            _ => rest.len(),
        }
        .min(rest.len());
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        if let Err(e) = dec.update(piece, &mut released) {
            result = Err(e);
            break;
        }
    }
    if result.is_ok() {
        result = dec.finish();
    }
    let header = dec
        .header()
        .map(|h| (h.suite.is_signing(), h.content_type, h.frame_length));
    Streamed {
        released,
        result,
        header,
        consumed: usize::try_from(dec.bytes_consumed()).expect("fits"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, message)) = data.split_first() else {
        return;
    };
    let one_shot = decrypt(keyring(), &options(), message);
    let whole = stream(message, 0);
    let chunked = stream(message, 0x9e37_79b9 ^ u32::from(seed));

    let workers = 1 + usize::from(seed % 3);
    let batch = 1 + usize::from(seed >> 2) * 97;
    let (piped, piped_result) = decrypt_pipelined(keyring(), &options(), message, workers, batch);

    assert_eq!(one_shot.is_ok(), whole.result.is_ok());
    assert_eq!(one_shot.is_ok(), chunked.result.is_ok());
    assert_eq!(
        one_shot.is_ok(),
        piped_result.is_ok(),
        "the pipeline disagrees: {piped_result:?}"
    );
    assert_eq!(whole.released, chunked.released, "release depends on chunking");
    assert!(
        whole.released.starts_with(&piped),
        "the pipeline wrote what streaming did not release"
    );
    match one_shot {
        Ok(d) => {
            assert_eq!(d.plaintext, chunked.released);
            assert_eq!(d.plaintext, piped);
        }
        Err(Error::TrailingData) => {
            let complete = decrypt(keyring(), &options(), &message[..chunked.consumed])
                .expect("the message before the trailing bytes verified");
            assert!(complete.plaintext.starts_with(&chunked.released));
        }
        Err(_) => match chunked.header {
            None => assert!(
                chunked.released.is_empty(),
                "plaintext before the header verified"
            ),
            Some((true, ContentType::NonFramed, _)) => assert!(chunked.released.is_empty()),
            Some((true, ContentType::Framed, frame_length)) => {
                assert_eq!(
                    chunked.released.len() % frame_length as usize,
                    0,
                    "final frame released"
                )
            }
            Some((false, _, _)) => {}
        },
    }
});
