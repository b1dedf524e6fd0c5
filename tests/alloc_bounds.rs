//! Allocation bounds: a message of a few hundred bytes whose length fields
//! declare 65,535 encrypted data keys, a 64 KiB encryption context, a 2 GiB
//! frame or a 64 GiB non-framed body is refused with a clear error (or ends
//! as truncated, when the declared size is within the limits) without
//! allocating memory in proportion to what it declares.
//!
//! A counting global allocator (this test binary's own) records the peak of
//! live heap bytes during each decryption; the bound asserted is far below
//! what any of the declared sizes would need. That allocator is why this
//! test is a binary of its own, apart from `tests/integration`: it sees every
//! allocation of the process, and other tests must not add to its counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use envelope::format::{Limits, Parsed, DEFAULT_MAX_BODY_LENGTH, MAX_FRAME_LENGTH, MAX_NON_FRAMED_LENGTH};
use envelope::internal::body::FINAL_FRAME_MARKER;
use envelope::internal::header;
use envelope::stream::{decrypt, decrypt_stream, DecryptOptions, Decryptor, EncryptOptions};
use envelope::{AlgorithmSuite, Error};

#[allow(dead_code)] // this binary uses a few of the shared helpers
mod support;

use support::fixtures::{allow_all, kat_keyring, keyring};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counters are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
            grew(new_size);
        }
        p
    }
}

fn grew(n: usize) {
    CALLS.fetch_add(1, Ordering::SeqCst);
    let live = LIVE.fetch_add(n, Ordering::SeqCst) + n;
    PEAK.fetch_max(live, Ordering::SeqCst);
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Serializes the measurements: tests in this binary run on several threads.
static MEASURING: Mutex<()> = Mutex::new(());

/// Runs `f` and returns its result with the number of allocations it made.
fn allocations_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let _guard = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let before = CALLS.load(Ordering::SeqCst);
    let r = f();
    (r, CALLS.load(Ordering::SeqCst) - before)
}

/// Runs `f` and returns its result with the peak of live heap bytes it added.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let _guard = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    peak_of_held(f)
}

/// [`peak_of`] for a test that holds [`MEASURING`] itself, because its own
/// set-up allocates megabytes that would disturb another test's measurement.
fn peak_of_held<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let r = f();
    (r, PEAK.load(Ordering::SeqCst).saturating_sub(base))
}

/// Far below every declared size; these small messages need a few KiB.
const BOUND: usize = 64 << 10;
/// `decrypt_stream` owns two 1 MiB I/O buffers whatever the input.
const STREAM_BOUND: usize = (2 << 20) + BOUND;

/// Decrypts `msg` three ways (one-shot, fed to a `Decryptor` 16 bytes at a
/// time, `decrypt_stream`), checks each fails with an error satisfying
/// `expected` and stays within the allocation bounds, and returns the
/// one-shot error's text.
fn refuse(what: &str, msg: &[u8], opts: &DecryptOptions, expected: impl Fn(&Error) -> bool) -> String {
    assert!(msg.len() < 1024, "{what}: the message should be small");
    let k = keyring();
    let (r, one_shot) = peak_of(|| decrypt(&k, opts, msg).map(|_| ()));
    let e = r.expect_err(what);
    assert!(expected(&e), "{what}: unexpected error {e:?}");
    assert!(
        one_shot < BOUND,
        "{what}: one-shot decrypt allocated {one_shot} bytes"
    );

    let (r, streaming) = peak_of(|| {
        let mut dec = Decryptor::new(&k, opts.clone());
        let mut out = Vec::new();
        for piece in msg.chunks(16) {
            dec.update(piece, &mut out)?;
        }
        dec.finish()?;
        Ok::<_, Error>(out)
    });
    let e2 = r.expect_err(what);
    assert!(expected(&e2), "{what}: streaming: unexpected error {e2:?}");
    assert!(
        streaming < BOUND,
        "{what}: streaming decrypt allocated {streaming} bytes"
    );

    let (r, io) = peak_of(|| decrypt_stream(&k, opts, msg, std::io::sink()));
    let e3 = r.expect_err(what);
    assert!(expected(&e3), "{what}: decrypt_stream: unexpected error {e3:?}");
    assert!(io < STREAM_BOUND, "{what}: decrypt_stream allocated {io} bytes");
    println!("{what}: {e} (peak bytes: one-shot {one_shot}, Decryptor {streaming}, decrypt_stream {io})");
    e.to_string()
}

const V2_SUITE: u16 = 0x0478;

/// The start of a v2 header: version, suite, message id.
fn v2_prefix() -> Vec<u8> {
    let mut b = vec![2];
    b.extend_from_slice(&V2_SUITE.to_be_bytes());
    b.extend_from_slice(&[0x11; 32]);
    b
}

/// One minimal EDK entry: provider id "p", info "i", 4 ciphertext bytes.
fn edk_entry(b: &mut Vec<u8>) {
    b.extend_from_slice(&[0, 1, b'p', 0, 1, b'i', 0, 4, 1, 2, 3, 4]);
}

#[test]
fn header_declaring_65535_edks() {
    let mut msg = v2_prefix();
    msg.extend_from_slice(&[0, 0]); // empty context
    msg.extend_from_slice(&[0xff, 0xff]);
    while msg.len() < 400 {
        edk_entry(&mut msg);
    }
    // With a maximum, refused as soon as the count is read.
    let limited = DecryptOptions {
        max_encrypted_data_keys: Some(10),
        ..allow_all()
    };
    let e = refuse("65535 EDKs, max 10", &msg, &limited, |e| {
        matches!(
            e,
            Error::TooManyEncryptedDataKeys {
                count: 65535,
                max: 10
            }
        )
    });
    assert!(e.contains("65535") && e.contains("10"), "{e}");
    // Without one (the format allows 65535), entries are parsed as they
    // arrive: memory follows the input, and the short input ends as truncated.
    let e = refuse("65535 EDKs, no max", &msg, &allow_all(), |e| {
        matches!(e, Error::Truncated(_))
    });
    assert!(e.contains("truncated") && e.contains("header"), "{e}");
}

#[test]
fn header_declaring_a_64_kib_context() {
    // The context block's length field says 65535 bytes; 300 follow.
    let mut msg = v2_prefix();
    msg.extend_from_slice(&[0xff, 0xff]);
    msg.extend_from_slice(&[0, 1, 0, 3, b'k', b'e', b'y', 0xff, 0xff]);
    msg.resize(340, b'v');
    let e = refuse("64 KiB context", &msg, &allow_all(), |e| {
        matches!(e, Error::Truncated(_))
    });
    assert!(e.contains("truncated"), "{e}");

    // A block of 300 bytes that declares 65535 pairs of 64 KiB values.
    let mut msg = v2_prefix();
    let mut block = vec![0xff, 0xff, 0, 1, b'k', 0xff, 0xff];
    block.resize(300, b'v');
    msg.extend_from_slice(&(block.len() as u16).to_be_bytes());
    msg.extend_from_slice(&block);
    msg.extend_from_slice(&[0, 1]);
    edk_entry(&mut msg);
    msg.push(2);
    msg.extend_from_slice(&4096u32.to_be_bytes());
    msg.extend_from_slice(&[0; 32 + 16]);
    let e = refuse("65535 context pairs", &msg, &allow_all(), |e| {
        matches!(e, Error::Malformed { .. })
    });
    assert!(e.contains("encryption context"), "{e}");
}

/// A complete v2 header (with a dummy tag) with the given content type and frame length.
fn v2_header(content_type: u8, frame_length: u32) -> Vec<u8> {
    let mut msg = v2_prefix();
    msg.extend_from_slice(&[0, 0]);
    msg.extend_from_slice(&[0, 1]);
    edk_entry(&mut msg);
    msg.push(content_type);
    msg.extend_from_slice(&frame_length.to_be_bytes());
    msg.extend_from_slice(&[0x22; 32]); // commitment
    msg.extend_from_slice(&[0x33; 16]); // tag
    msg
}

#[test]
fn header_declaring_a_2_gib_frame() {
    let mut msg = v2_header(2, 1 << 31);
    msg.extend_from_slice(&[0x44; 200]);
    // Sanity: with a higher limit the same header parses.
    let high = Limits {
        max_frame_length: u32::MAX,
        ..Limits::default()
    };
    assert!(matches!(header::parse(&msg, &high), Ok(Parsed::Done(..))));
    let e = refuse("2 GiB frame", &msg, &allow_all(), |e| {
        matches!(e, Error::LengthLimit { .. })
    });
    assert!(e.contains("frame length of 2147483648 bytes"), "{e}");
}

/// A genuine message (valid header tag) with the largest frame length, whose
/// frame then declares the full 2^31-1 bytes: the decryptor waits for them,
/// holding only what arrives, and ends as truncated.
#[test]
fn authenticated_header_then_a_2_gib_frame() {
    let suite = AlgorithmSuite::parse("0x0478").unwrap();
    let opts = EncryptOptions {
        suite: Some(suite),
        frame_length: MAX_FRAME_LENGTH,
        ..EncryptOptions::default()
    };
    let genuine = envelope::encrypt(&keyring(), &opts, b"small").unwrap();
    let Ok(Parsed::Done(_, header_len)) = header::parse(&genuine, &Limits::default()) else {
        panic!("header")
    };
    assert_eq!(
        &genuine[header_len..header_len + 4],
        &FINAL_FRAME_MARKER.to_be_bytes()
    );

    // The final frame turned into a regular frame of 2^31-1 bytes.
    let mut regular = genuine[..header_len].to_vec();
    regular.extend_from_slice(&1u32.to_be_bytes());
    regular.extend_from_slice(&[0x55; 12]);
    regular.extend_from_slice(&[0x66; 150]);
    refuse("regular frame of 2^31-1 bytes", &regular, &allow_all(), |e| {
        matches!(e, Error::Truncated(_))
    });

    // The final frame declaring 2^31-1 bytes of content.
    let mut last = genuine[..header_len + 4 + 4 + 12].to_vec();
    last.extend_from_slice(&MAX_FRAME_LENGTH.to_be_bytes());
    last.extend_from_slice(&[0x66; 150]);
    refuse("final frame of 2^31-1 bytes", &last, &allow_all(), |e| {
        matches!(e, Error::Truncated(_))
    });
}

/// A refusal for a length: the format's bound ([`Error::Limit`]) or the
/// caller's ([`Error::LengthLimit`]).
fn over_limit(e: &Error) -> bool {
    matches!(e, Error::Limit(_) | Error::LengthLimit { .. })
}

/// The known-answer set's empty non-framed message, with its body length
/// field set to `len`.
fn non_framed_declaring(len: u64) -> Vec<u8> {
    let mut msg = std::fs::read("testdata/kat/messages/empty-nonframed-0478.esdk").unwrap();
    let Ok(Parsed::Done(_, header_len)) = header::parse(&msg, &Limits::default()) else {
        panic!("header")
    };
    let at = header_len + 12;
    msg[at..at + 8].copy_from_slice(&len.to_be_bytes());
    msg
}

#[test]
fn non_framed_body_of_64_gib() {
    let k = kat_keyring();
    let opts = allow_all();
    // Sanity: the untouched message decrypts.
    let genuine = non_framed_declaring(0);
    assert!(decrypt(&k, &opts, &genuine).unwrap().plaintext.is_empty());

    for (what, len) in [
        ("64 GiB non-framed body", 64u64 << 30),
        ("2^36-32 byte non-framed body", (1 << 36) - 32),
        (
            "non-framed body just over the default limit",
            DEFAULT_MAX_BODY_LENGTH + 1,
        ),
    ] {
        let msg = non_framed_declaring(len);
        let (r, peak) = peak_of(|| decrypt(&k, &opts, &msg).map(|_| ()));
        let e = r.expect_err(what);
        assert!(over_limit(&e), "{what}: {e:?}");
        assert!(e.to_string().contains(&len.to_string()), "{what}: {e}");
        assert!(peak < BOUND, "{what}: allocated {peak} bytes");
        let (r, peak) = peak_of(|| decrypt_stream(&k, &opts, &msg[..], std::io::sink()));
        assert!(r.as_ref().is_err_and(over_limit), "{what}");
        assert!(
            peak < STREAM_BOUND,
            "{what}: decrypt_stream allocated {peak} bytes"
        );
    }

    // Within the limit: the decryptor waits for the body, holding only what
    // arrives, and a short input ends as truncated.
    let msg = non_framed_declaring(DEFAULT_MAX_BODY_LENGTH);
    let (r, peak) = peak_of(|| decrypt(&k, &opts, &msg).map(|_| ()));
    assert!(matches!(r, Err(Error::Truncated(_))), "{r:?}");
    assert!(peak < BOUND, "allocated {peak} bytes");
    // A caller may raise the limit up to the AES-GCM bound (a higher limit
    // is that bound: longer bodies are invalid).
    let raised = DecryptOptions {
        limits: Limits {
            max_body_length: 64 << 30,
            ..Limits::default()
        },
        ..allow_all()
    };
    let msg = non_framed_declaring(MAX_NON_FRAMED_LENGTH);
    let (r, peak) = peak_of(|| decrypt(&k, &raised, &msg).map(|_| ()));
    assert!(matches!(r, Err(Error::Truncated(_))), "{r:?}");
    assert!(peak < BOUND, "allocated {peak} bytes");
}

/// A forged frame of the full frame length, fed in 64 KiB pieces, costs its
/// length once in buffered ciphertext and once in (wiped, never released)
/// plaintext: the input buffer grows by doubling but stops at what the frame
/// needs. Plain `Vec` doubling made it 4 MiB of plaintext plus up to 8 MiB of
/// buffer for a 4 MiB frame (and both buffers live while it reallocated).
#[test]
fn a_forged_full_length_frame_costs_its_length_twice_at_most() {
    const FRAME: usize = 4 << 20;
    // Held from the start: the 4 MiB plaintext and message made here must
    // not count in another test's peak.
    let _guard = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let suite = AlgorithmSuite::parse("0x0478").unwrap();
    let opts = EncryptOptions {
        suite: Some(suite),
        frame_length: FRAME as u32,
        ..EncryptOptions::default()
    };
    let k = keyring();
    let plaintext = vec![0x5a; FRAME + 1000];
    let mut msg = envelope::encrypt(&k, &opts, &plaintext).unwrap();
    let Ok(Parsed::Done(_, header_len)) = header::parse(&msg, &Limits::default()) else {
        panic!("header")
    };
    // The first frame's last ciphertext byte: its tag no longer verifies.
    let frame_end = header_len + 4 + 12 + FRAME;
    msg[frame_end - 1] ^= 1;
    let (r, peak) = peak_of_held(|| {
        let mut dec = Decryptor::new(&k, allow_all());
        let mut out = Vec::new();
        for piece in msg.chunks(64 << 10) {
            dec.update(piece, &mut out)?;
        }
        dec.finish()
    });
    assert!(
        matches!(r, Err(Error::Authentication(_))),
        "the forged frame must fail its tag: {r:?}"
    );
    println!("forged {FRAME}-byte frame in 64 KiB pieces: peak {peak} bytes");
    assert!(
        peak < 2 * FRAME + BOUND,
        "a forged {FRAME}-byte frame held {peak} bytes"
    );
}

/// A long EDK list arriving a few bytes at a time is not parsed again from
/// the start after every few bytes (which made the work quadratic in the
/// number of entries: 8,000 entries fed 16 bytes at a time took 1.6 s, 65,535
/// about 100 s). Counted in allocations, since each parsed entry allocates.
#[test]
fn a_long_edk_list_fed_in_small_pieces_is_parsed_a_few_times_only() {
    const ENTRIES: u16 = 4000;
    let mut msg = v2_prefix();
    msg.extend_from_slice(&[0, 0]);
    msg.extend_from_slice(&ENTRIES.to_be_bytes());
    for _ in 0..ENTRIES {
        msg.extend_from_slice(&[0, 1, b'p', 0, 1, b'i', 0, 1, 7]);
    }
    let k = keyring();
    let (r, calls) = allocations_of(|| {
        let mut dec = Decryptor::new(&k, allow_all());
        let mut out = Vec::new();
        for piece in msg.chunks(16) {
            dec.update(piece, &mut out)?;
        }
        dec.finish()
    });
    assert!(matches!(r, Err(Error::Truncated(_))), "{r:?}");
    // Parsed once, each entry allocates 3 times; a handful of re-parses is fine.
    let per_entry = calls / usize::from(ENTRIES);
    println!("{ENTRIES} EDKs fed 16 bytes at a time: {calls} allocations ({per_entry} per entry)");
    assert!(per_entry < 30, "{calls} allocations for {ENTRIES} entries");
}

/// The tokio adapters under a slow reader: the live heap stays bounded by
/// the batches in flight, whatever the message size. Measured for a 16 MiB
/// and a 64 MiB message (the plaintext is made on the fly, 64 KiB at a
/// time): an encrypting writer whose ciphertext is read slowly, and an
/// encrypting writer feeding a decrypting reader whose plaintext is taken
/// slowly. Backpressure must hold the writer back; buffering the difference
/// would need the whole message.
#[cfg(feature = "tokio")]
#[test]
fn a_slow_reader_bounds_the_tokio_adapters_memory() {
    use std::sync::Arc;
    use std::time::Duration;

    use envelope::keyring::Keyring;
    use envelope::stream::tokio::{DecryptingReader, EncryptingWriter};
    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

    const CHUNK: usize = 64 << 10;
    /// Takes everything `r` yields in 16 KiB reads, pausing 1 ms every 512 KiB.
    async fn slowly(mut r: impl AsyncRead + Unpin) -> u64 {
        let mut buf = vec![0u8; 16 << 10];
        let mut total = 0u64;
        loop {
            let n = r.read(&mut buf).await.unwrap();
            if n == 0 {
                return total;
            }
            total += n as u64;
            if total % (512 << 10) < n as u64 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let threads = envelope::stream::available_threads();
    // Per adapter: the batch being filled, `threads + 1` in flight, the one
    // being written and a spare, each 1 MiB of plaintext and 1 MiB sealed.
    let per_adapter = (threads + 4) * (2 << 20);
    for size in [16usize << 20, 64 << 20] {
        for both in [false, true] {
            let k: Arc<dyn Keyring> = Arc::new(keyring());
            let (taken, peak) = peak_of(|| {
                rt.block_on(async move {
                    let (a, b) = tokio::io::duplex(64 << 10);
                    let writing = tokio::spawn({
                        let k = Arc::clone(&k);
                        async move {
                            let mut w = EncryptingWriter::new(k, &EncryptOptions::default(), a)
                                .await
                                .unwrap();
                            let chunk = vec![0x5a; CHUNK];
                            for _ in 0..size / CHUNK {
                                w.write_all(&chunk).await.unwrap();
                            }
                            w.shutdown().await.unwrap();
                        }
                    });
                    let taken = if both {
                        slowly(DecryptingReader::new(k, allow_all(), b).unwrap()).await
                    } else {
                        slowly(b).await
                    };
                    writing.await.unwrap();
                    taken
                })
            });
            let what = if both {
                "writer -> reader -> slow consumer"
            } else {
                "writer -> slow reader"
            };
            println!(
                "tokio adapters, {what}, {} MiB message: peak live heap {:.1} MiB ({threads} threads)",
                size >> 20,
                peak as f64 / (1 << 20) as f64
            );
            if both {
                assert_eq!(taken, size as u64, "{what}");
            } else {
                assert!(taken > size as u64, "{what}");
            }
            let bound = if both { 2 * per_adapter } else { per_adapter } + (2 << 20);
            assert!(
                peak < bound,
                "{what}, {} MiB: peak {peak} bytes, bound {bound}",
                size >> 20
            );
        }
    }
}
