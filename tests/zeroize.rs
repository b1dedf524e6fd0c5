//! Secrets are wiped before their memory is freed.
//!
//! This test binary's global allocator looks at every block the program
//! frees (or grows, since growing may move the bytes and free the old block)
//! and counts blocks that still hold a marker. The data key (from a test
//! keyring) and the plaintext carry markers, so any unwiped copy of either in
//! a buffer the library frees is found: a key in materials, a frame buffer, a
//! `Vec` that grew and left its old allocation behind.
//!
//! Only Rust allocations are seen; aws-lc's own key schedules live in its C
//! heap and aws-lc wipes them itself. The test keeps its own copies of
//! plaintext in `Zeroizing` buffers so that only the library is judged.
//!
//! That allocator is why this test is a binary of its own, apart from
//! `tests/integration`: it watches every block the process frees, and other
//! tests' secrets and buffers must not be counted as the library's.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use envelope::format::EncryptedDataKey;
use envelope::keyring::{DecryptionMaterials, EncryptionMaterials, Keyring};
use envelope::stream::{
    decrypt, decrypt_stream, encrypt, encrypt_stream, DecryptingReader, Decryptor, EncryptingWriter,
    Encryptor,
};
use envelope::AlgorithmSuite;
use zeroize::Zeroizing;

#[allow(dead_code)] // this binary uses a few of the shared helpers
mod support;

use support::fixtures::{allow_all, encrypt_options};

/// What the data key is made of (cut to the suite's key length).
const KEY_MARKER: &[u8; 32] = b"DATAKEY!marker*0123456789abcdef!";
/// What the plaintext is made of, repeated.
const PLAIN_MARKER: &[u8; 16] = b"PLAINTXT!marker*";
/// Eight bytes of either marker in a freed block count as a leak.
const NEEDLES: [&[u8]; 2] = [b"DATAKEY!", b"PLAINTXT"];

static ARMED: AtomicBool = AtomicBool::new(false);
static LEAKS: AtomicUsize = AtomicUsize::new(0);
static LARGEST_LEAK: AtomicUsize = AtomicUsize::new(0);

struct Inspecting;

/// Whether `len` bytes at `ptr` contain a marker. Allocation-free.
///
/// # Safety
/// `ptr` must be valid for reads of `len` bytes.
unsafe fn holds_marker(ptr: *const u8, len: usize) -> bool {
    let block = std::slice::from_raw_parts(ptr, len);
    block.windows(8).any(|w| NEEDLES.contains(&w))
}

fn inspect(ptr: *const u8, len: usize) {
    // SAFETY: called with a block the program still owns, before it is freed or moved.
    if ARMED.load(Ordering::SeqCst) && unsafe { holds_marker(ptr, len) } {
        LEAKS.fetch_add(1, Ordering::SeqCst);
        LARGEST_LEAK.fetch_max(len, Ordering::SeqCst);
    }
}

// SAFETY: allocation is forwarded unchanged to the system allocator; blocks
// are only read, while still allocated, before they are freed or reallocated.
unsafe impl GlobalAlloc for Inspecting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        inspect(ptr, layout.size());
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        inspect(ptr, layout.size());
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Inspecting = Inspecting;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `f` with inspection on and asserts that no freed block held a marker.
fn no_leaks(what: &str, f: impl FnOnce()) {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    LEAKS.store(0, Ordering::SeqCst);
    LARGEST_LEAK.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    f();
    ARMED.store(false, Ordering::SeqCst);
    let leaks = LEAKS.load(Ordering::SeqCst);
    assert_eq!(
        leaks,
        0,
        "{what}: {leaks} freed blocks still held a data key or plaintext (largest {} bytes)",
        LARGEST_LEAK.load(Ordering::SeqCst)
    );
}

/// A keyring whose data key is the marker, "wrapped" as nothing at all.
struct MarkerKeyring;

impl Keyring for MarkerKeyring {
    fn on_encrypt(&self, m: &mut EncryptionMaterials) -> envelope::Result<()> {
        if m.plaintext_data_key.is_none() {
            m.plaintext_data_key = Some(Zeroizing::new(KEY_MARKER[..m.suite.key_len].to_vec()));
        }
        m.encrypted_data_keys.push(EncryptedDataKey {
            provider_id: "marker".into(),
            provider_info: b"marker".to_vec(),
            ciphertext: vec![0; 4],
        });
        Ok(())
    }

    fn on_decrypt(&self, m: &mut DecryptionMaterials, edks: &[EncryptedDataKey]) -> envelope::Result<()> {
        if m.plaintext_data_key.is_none() && edks.iter().any(|e| e.provider_id == "marker") {
            m.plaintext_data_key = Some(Zeroizing::new(KEY_MARKER[..m.suite.key_len].to_vec()));
        }
        Ok(())
    }
}

fn plaintext(len: usize) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(PLAIN_MARKER.iter().copied().cycle().take(len).collect())
}

/// The sanity check that makes the others mean something: an unwiped buffer is caught.
#[test]
fn an_unwiped_buffer_is_caught() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    LEAKS.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    let mut v = Vec::with_capacity(4);
    v.extend_from_slice(PLAIN_MARKER);
    v.extend_from_slice(&[0; 100]); // grows: the old block is inspected
    drop(v);
    ARMED.store(false, Ordering::SeqCst);
    assert!(LEAKS.load(Ordering::SeqCst) >= 2);
}

#[test]
fn one_shot_every_suite() {
    for suite in AlgorithmSuite::ALL {
        no_leaks(suite.name, || {
            let p = plaintext(1000);
            let ct = encrypt(&MarkerKeyring, &encrypt_options(suite, 64), &p).unwrap();
            let d = decrypt(&MarkerKeyring, &allow_all(), &ct).unwrap();
            let out = Zeroizing::new(d.plaintext);
            assert_eq!(&out[..], &p[..]);
        });
    }
}

#[test]
fn incremental_in_small_pieces() {
    for suite in [AlgorithmSuite::DEFAULT, AlgorithmSuite::parse("0x0078").unwrap()] {
        no_leaks(&format!("{} in pieces", suite.name), || {
            let p = plaintext(5000);
            // Plaintext fed 1..13 bytes at a time: the pending frame grows piece by piece.
            let mut enc = Encryptor::new(&MarkerKeyring, &encrypt_options(suite, 1000)).unwrap();
            let mut ct = Vec::new();
            let mut rest = &p[..];
            let mut n = 1;
            while !rest.is_empty() {
                let (piece, tail) = rest.split_at(n.min(rest.len()));
                enc.update(piece, &mut ct).unwrap();
                rest = tail;
                n = n % 13 + 1;
            }
            enc.finish(&mut ct).unwrap();
            drop(enc);
            // Decrypted into an output that starts empty and grows with each frame.
            let mut dec = Decryptor::new(&MarkerKeyring, allow_all());
            let mut out = Zeroizing::new(Vec::new());
            for piece in ct.chunks(7) {
                dec.update(piece, &mut out).unwrap();
            }
            dec.finish().unwrap();
            assert_eq!(&out[..], &p[..]);
        });
    }
}

/// A writer into a buffer reserved up front and wiped on drop.
struct SecretSink(Zeroizing<Vec<u8>>);

impl Write for SecretSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        assert!(
            self.0.len() + buf.len() <= self.0.capacity(),
            "sink must not grow"
        );
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn io_adapters() {
    let suite = AlgorithmSuite::DEFAULT;
    no_leaks("encrypt_stream / decrypt_stream", || {
        let p = plaintext(300_000);
        let mut ct = Vec::new();
        encrypt_stream(&MarkerKeyring, &encrypt_options(suite, 4096), &p[..], &mut ct).unwrap();
        let mut sink = SecretSink(Zeroizing::new(Vec::with_capacity(p.len())));
        decrypt_stream(&MarkerKeyring, &allow_all(), &ct[..], &mut sink).unwrap();
        assert_eq!(&sink.0[..], &p[..]);
    });
    no_leaks("EncryptingWriter / DecryptingReader", || {
        let p = plaintext(100_000);
        let mut w = EncryptingWriter::new(&MarkerKeyring, &encrypt_options(suite, 3000), Vec::new()).unwrap();
        for piece in p.chunks(777) {
            w.write_all(piece).unwrap();
        }
        let ct = w.finish().unwrap();
        let mut r = DecryptingReader::new(&MarkerKeyring, allow_all(), &ct[..]);
        let mut out = Zeroizing::new(vec![0u8; p.len()]);
        let mut n = 0;
        loop {
            let k = r.read(&mut out[n..]).unwrap();
            if k == 0 {
                break;
            }
            n += k;
        }
        assert_eq!(&out[..n], &p[..]);
    });
}

#[test]
fn failed_decryption() {
    // A tampered final frame of a signed message: the held frame is wiped too.
    no_leaks("tampered", || {
        let p = plaintext(3000);
        let mut ct = encrypt(
            &MarkerKeyring,
            &encrypt_options(AlgorithmSuite::DEFAULT, 1000),
            &p,
        )
        .unwrap();
        let n = ct.len();
        ct[n - 10] ^= 1;
        let mut dec = Decryptor::new(&MarkerKeyring, allow_all());
        let mut out = Zeroizing::new(Vec::new());
        assert!(dec.update(&ct, &mut out).is_err());
    });
}

/// Decrypts `ct` into `sink` the way `envelope decrypt --buffer` does: the
/// authenticated header, then the whole body, on `threads` threads.
fn hold_body(ct: &[u8], sink: impl Write + Send, threads: usize) {
    let d = envelope::stream::AuthenticatedHeader::read(&MarkerKeyring, &allow_all(), ct).unwrap();
    d.decrypt_body_to(sink, threads).unwrap();
}

/// `--buffer`'s plaintext holder leaves no copy in freed memory, where the
/// `Zeroizing<Vec<u8>>` it used before did (that `Vec` grew, and growing
/// freed each old block unwiped; the first half shows the inspector sees it).
#[test]
fn buffered_plaintext_leaves_no_copy_behind() {
    let suite = AlgorithmSuite::DEFAULT;
    let p = plaintext(3_000_000);
    let mut ct = Vec::new();
    encrypt_stream(&MarkerKeyring, &encrypt_options(suite, 4096), &p[..], &mut ct).unwrap();
    {
        let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        LEAKS.store(0, Ordering::SeqCst);
        ARMED.store(true, Ordering::SeqCst);
        let mut grown = Zeroizing::new(Vec::new());
        hold_body(&ct, &mut *grown, 1);
        drop(grown);
        ARMED.store(false, Ordering::SeqCst);
        assert!(LEAKS.load(Ordering::SeqCst) > 0, "the old way's leak is not seen");
    }
    for threads in [1, 4] {
        no_leaks(&format!("HeldPlaintext, {threads} threads"), || {
            let mut held = envelope::stream::HeldPlaintext::new();
            hold_body(&ct, &mut held, threads);
            assert_eq!(held.len(), p.len());
            let mut out = Zeroizing::new(Vec::with_capacity(p.len()));
            held.write_to(&mut *out).unwrap();
            assert_eq!(&out[..], &p[..]);
        });
    }
}
