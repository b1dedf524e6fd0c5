//! Structure-aware decryption: the fuzz input describes a message (suite,
//! frame length, encryption context, which keys wrap the data key, and a
//! body of frames with any sequence numbers, kinds and lengths, raw bytes
//! between them, with or without a valid signature), which is built under a
//! real header and data key ([`envelope::internal::Forger`]) and then
//! optionally truncated or has one bit flipped. Random bytes almost never
//! get past the header tag; these messages do, so the frame, final-frame,
//! footer and signature checks behind it are what gets explored.
//!
//! Checks, beyond "never panics":
//! * one-shot, streaming (in random pieces) and the thread pipeline (1-3
//!   workers, small batches) all agree, and each accepts the message exactly
//!   when it is well formed by the format's rules (frames numbered from 1,
//!   regular frames of exactly the frame length, one final frame of at most
//!   the frame length at the end, the footer exactly when the suite signs,
//!   nothing cut, flipped or added), decrypting it to the frames' contents.
//!   A cut can make a message well formed: an unsigned one cut just after
//!   its final frame is whole, whatever the input put after that frame;
//! * whatever a failing run released (streaming or pipeline) is a prefix of
//!   the plaintext of the frames that lie whole before the first fault, and
//!   for signing suites never includes the final frame.
#![no_main]

use std::sync::OnceLock;

use envelope::internal::{decrypt_pipelined, Forger};
use envelope::keyring::multi::MultiKeyring;
use envelope::keyring::raw_aes::RawAesKeyring;
use envelope::keyring::Keyring;
use envelope::stream::{decrypt, DecryptOptions, Decryptor, EncryptOptions};
use envelope::{AlgorithmSuite, CommitmentPolicy, EncryptionContext};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

const KEYS: [(&str, &[u8]); 3] = [
    ("aes-256", include_bytes!("../../testdata/kat/keys/aes-256.key")),
    ("aes-128", include_bytes!("../../testdata/kat/keys/aes-128.key")),
    ("aes-192", include_bytes!("../../testdata/kat/keys/aes-192.key")),
];

fn raw(i: usize) -> Box<dyn Keyring> {
    let (name, key) = KEYS[i];
    Box::new(RawAesKeyring::new("envelope-kat", name, key).expect("valid test key"))
}

/// Every key: what decryption uses.
fn all_keys() -> &'static MultiKeyring {
    static K: OnceLock<MultiKeyring> = OnceLock::new();
    K.get_or_init(|| MultiKeyring::new(Some(raw(0)), vec![raw(1), raw(2)]).expect("valid multi keyring"))
}

#[derive(Arbitrary, Debug)]
struct Input {
    suite: u8,
    /// Frame length 1..=64 (small, so that messages have many frames).
    frame_length: u8,
    context: Vec<(u8, u8)>,
    /// Which of the three keys wrap the data key (the first always does).
    wrappers: u8,
    frames: Vec<Frame>,
    /// For signing suites: whether the footer is written.
    footer: bool,
    /// Bytes after the footer.
    trailing: Vec<u8>,
    fault: Fault,
    chunk_seed: u32,
    workers: u8,
    batch_frames: u8,
}

#[derive(Arbitrary, Debug)]
struct Frame {
    seq: Seq,
    is_final: bool,
    /// The content's length relative to the frame length.
    len: Len,
    fill: u8,
    /// Raw bytes written before the frame.
    junk: Vec<u8>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Seq {
    Next,
    Repeat,
    Skip,
    Any(u32),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Len {
    Exact,
    Less(u8),
    More(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Fault {
    None,
    Cut(u16),
    Flip(u16, u8),
}

/// The message, and what a correct decoder does with it.
struct Built {
    message: Vec<u8>,
    /// `Some(plaintext)` if the message is well formed.
    expect: Option<Vec<u8>>,
    /// The plaintext of the frames that lie whole, well formed and in order
    /// before the first fault (the final frame only for unsigned suites): all
    /// a failing run may release.
    releasable: Vec<u8>,
}

fn build(inp: &Input) -> Option<Built> {
    let suite = AlgorithmSuite::ALL[inp.suite as usize % AlgorithmSuite::ALL.len()];
    let frame_length = u32::from(inp.frame_length % 64) + 1;
    let fl = frame_length as usize;
    let mut context = EncryptionContext::new();
    for (k, v) in inp.context.iter().take(4) {
        context.insert(format!("k{k}"), format!("v{v}"));
    }
    let mut children = Vec::new();
    for i in 1..3 {
        if inp.wrappers & (1 << i) != 0 {
            children.push(raw(i));
        }
    }
    let wrap = MultiKeyring::new(Some(raw(0)), children).ok()?;
    let opts = EncryptOptions {
        suite: Some(suite),
        frame_length,
        commitment_policy: if suite.is_committing() {
            CommitmentPolicy::RequireEncryptRequireDecrypt
        } else {
            CommitmentPolicy::ForbidEncryptAllowDecrypt
        },
        encryption_context: context,
        ..EncryptOptions::default()
    };
    let mut forger = Forger::new(&wrap, &opts).expect("the test keys encrypt");
    let mut well_formed = true;
    let mut plaintext = Vec::new();
    // Frames well formed and in order from the first, with their end offsets
    // and lengths; the final frame counts only where no signature follows.
    let mut good: Vec<(usize, usize)> = Vec::new();
    let mut good_run = true;
    // For unsigned suites, where a well-formed message of these frames ends
    // (just after its final frame) and its plaintext's length: a cut there
    // drops whatever the input put after it and leaves a whole message.
    let mut unsigned_end: Option<(usize, usize)> = None;
    let mut seq = 0u32;
    let mut ended = false;
    for f in inp.frames.iter().take(40) {
        if !f.junk.is_empty() {
            forger.raw(&f.junk);
            well_formed = false;
            good_run = false;
        }
        let next = seq.wrapping_add(1);
        seq = match f.seq {
            Seq::Next => next,
            Seq::Repeat => seq,
            Seq::Skip => seq.wrapping_add(2),
            Seq::Any(n) => n,
        };
        let len = match f.len {
            Len::Exact => fl,
            Len::Less(n) => fl.saturating_sub(usize::from(n) % (fl + 1)),
            Len::More(n) => fl + 1 + usize::from(n) % 8,
        };
        let content = vec![f.fill; len];
        forger.frame(seq, f.is_final, &content).ok()?;
        // The final-frame marker is no sequence number a regular frame may carry.
        let in_order = seq == next && seq != u32::MAX && !ended;
        let frame_ok = in_order && if f.is_final { len <= fl } else { len == fl };
        if !frame_ok {
            well_formed = false;
            good_run = false;
        }
        if good_run && (!f.is_final || !suite.is_signing()) {
            good.push((forger.bytes().len(), content.len()));
            if f.is_final {
                unsigned_end = Some((forger.bytes().len(), plaintext.len() + content.len()));
            }
        }
        if f.is_final {
            ended = true;
            good_run = false;
        }
        plaintext.extend_from_slice(&content);
    }
    if !ended {
        well_formed = false;
    }
    let mut message = if suite.is_signing() && inp.footer {
        forger.finish().ok()?
    } else {
        if suite.is_signing() {
            well_formed = false;
        }
        forger.unsigned()
    };
    // The message proper; what follows is trailing bytes.
    let complete = message.len();
    message.extend_from_slice(&inp.trailing);
    let mut fault_at = message.len();
    let mut flipped = false;
    match inp.fault {
        Fault::None => {}
        Fault::Cut(at) => {
            fault_at = usize::from(at) % (message.len() + 1);
            message.truncate(fault_at);
        }
        Fault::Flip(at, bit) => {
            if !message.is_empty() {
                fault_at = usize::from(at) % message.len();
                message[fault_at] ^= 1 << (bit % 8);
                flipped = true;
            }
        }
    }
    let whole = well_formed && fault_at >= complete;
    // A complete, verified message followed by trailing bytes may have been
    // released whole before the trailing bytes arrived.
    let releasable_len: usize = if whole {
        plaintext.len()
    } else {
        good.iter()
            .take_while(|&&(end, _)| end <= fault_at)
            .map(|&(_, len)| len)
            .sum()
    };
    let releasable = plaintext[..releasable_len].to_vec();
    let well_formed = whole && message.len() == complete && !flipped;
    let cut_at_end =
        matches!(inp.fault, Fault::Cut(_)) && unsigned_end.is_some_and(|(end, _)| end == fault_at);
    let expect = match unsigned_end {
        Some((_, len)) if cut_at_end => Some(plaintext[..len].to_vec()),
        _ => well_formed.then_some(plaintext),
    };
    Some(Built {
        message,
        expect,
        releasable,
    })
}

fn options() -> DecryptOptions {
    DecryptOptions {
        commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
        ..DecryptOptions::default()
    }
}

/// Streaming decryption in pieces whose sizes follow `seed`.
fn streamed(message: &[u8], mut seed: u32) -> (Vec<u8>, bool) {
    let mut dec = Decryptor::new(all_keys(), options());
    let mut released = Vec::new();
    let mut rest = message;
    while !rest.is_empty() {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = (1 + (seed as usize >> 4) % 97).min(rest.len());
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        if dec.update(piece, &mut released).is_err() {
            return (released, false);
        }
    }
    let ok = dec.finish().is_ok();
    (released, ok)
}

fuzz_target!(|inp: Input| {
    let Some(b) = build(&inp) else {
        return;
    };
    let keys = all_keys();
    let one_shot = decrypt(keys, &options(), &b.message);
    let (released, streamed_ok) = streamed(&b.message, inp.chunk_seed | 1);
    let workers = 1 + usize::from(inp.workers % 3);
    let frame_length = usize::from(inp.frame_length % 64) + 1;
    let batch = frame_length * (1 + usize::from(inp.batch_frames % 8));
    let (piped, piped_result) = decrypt_pipelined(keys, &options(), &b.message, workers, batch);

    match &b.expect {
        Some(plaintext) => {
            let d = one_shot.expect("a well-formed message decrypts");
            assert_eq!(&d.plaintext, plaintext, "one-shot");
            assert!(streamed_ok, "streaming refused a well-formed message");
            assert_eq!(&released, plaintext, "streaming");
            assert!(
                piped_result.is_ok(),
                "the pipeline refused a well-formed message: {piped_result:?}"
            );
            assert_eq!(&piped, plaintext, "pipeline");
        }
        None => {
            assert!(one_shot.is_err(), "one-shot accepted a malformed message");
            assert!(!streamed_ok, "streaming accepted a malformed message");
            assert!(piped_result.is_err(), "the pipeline accepted a malformed message");
            for (what, out) in [("streaming", &released), ("pipeline", &piped)] {
                assert!(
                    b.releasable.starts_with(out),
                    "{what} released {} bytes that are not the verified frames' {} bytes",
                    out.len(),
                    b.releasable.len()
                );
            }
        }
    }
});
