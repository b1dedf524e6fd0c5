//! The tokio adapters (`envelope::stream::tokio`) against the synchronous
//! engine, on both runtime flavours: the same bytes for the same message id
//! whatever the sizes and the chunking on either side of a small duplex
//! pipe; keyrings (the KMS core's SQLite included) called only off the
//! runtime's workers; cancelled readers that released only verified frames;
//! dropped writers that leave a message no decryptor accepts; and tasks that
//! all end. The tampering classes go through the async reader in
//! `tamper.rs`; the memory bound under a slow reader is measured in
//! `tests/alloc_bounds.rs` (it needs a counting allocator).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use bytes::Bytes;
use envelope::format::EncryptedDataKey;
use envelope::format::Parsed;
use envelope::internal::body::{parse_footer, parse_frame_header};
use envelope::internal::tokio::{reader_probe, writer_probe, TaskProbe};
use envelope::internal::{encryptor_with_message_id, header};
use envelope::keyring::{DecryptionMaterials, EncryptionMaterials, Keyring};
use envelope::stream::tokio::{
    decrypt_stream, encrypt_stream, AuthenticatedHeader, DecryptedChunks, DecryptingReader, EncryptedChunks,
    EncryptingWriter,
};
use envelope::stream::{decrypt, encrypt_stream_parallel, DecryptOptions, Decryptor, EncryptOptions};
use envelope::{AlgorithmSuite, Error};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::runtime::{Builder, Runtime};

use crate::support::fixtures::{allow_all, encrypt_options, keyring};
use crate::support::kms::Env;

/// xorshift64*, seeded from the clock unless `TOKIO_IO_SEED` is set; the
/// seed is printed so that a failure reproduces.
pub struct Rng(u64);

impl Rng {
    pub fn seeded(what: &str) -> Rng {
        let seed = std::env::var("TOKIO_IO_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        println!("{what}: TOKIO_IO_SEED={seed}");
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(n);
        v
    }
}

fn current_thread() -> Runtime {
    Builder::new_current_thread().enable_all().build().unwrap()
}

fn multi_thread() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn suite(id: &str) -> &'static AlgorithmSuite {
    AlgorithmSuite::parse(id).unwrap()
}

fn shared_keyring() -> Arc<dyn Keyring> {
    Arc::new(keyring())
}

/// A reader that hands `data` out in pieces of random size up to `max`, and
/// now and then answers `Pending` first (waking itself), as a socket does.
pub struct Choppy {
    data: Vec<u8>,
    pos: usize,
    max: usize,
    rng: Rng,
    pended: bool,
}

impl Choppy {
    pub fn new(data: Vec<u8>, max: usize, rng: &mut Rng) -> Choppy {
        Choppy {
            data,
            pos: 0,
            max: max.max(1),
            rng: Rng(rng.next() | 1),
            pended: false,
        }
    }
}

impl AsyncRead for Choppy {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.pended && this.rng.below(4) == 0 {
            this.pended = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.pended = false;
        let n = (1 + this.rng.below(this.max))
            .min(buf.remaining())
            .min(this.data.len() - this.pos);
        buf.put_slice(&this.data[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// Writes `data` in pieces of random size up to `max`, flushing now and then.
async fn write_choppy(
    w: &mut (impl AsyncWrite + Unpin),
    data: &[u8],
    max: usize,
    rng: &mut Rng,
) -> io::Result<()> {
    let mut pos = 0;
    while pos < data.len() {
        let n = (1 + rng.below(max)).min(data.len() - pos);
        w.write_all(&data[pos..pos + n]).await?;
        pos += n;
        if rng.below(16) == 0 {
            w.flush().await?;
        }
    }
    Ok(())
}

/// Reads to the end in reads of random size up to `max`.
async fn read_choppy(r: &mut (impl AsyncRead + Unpin), max: usize, rng: &mut Rng) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; max];
    loop {
        let want = 1 + rng.below(max);
        let n = r.read(&mut buf[..want]).await?;
        if n == 0 {
            return Ok(all);
        }
        all.extend_from_slice(&buf[..n]);
    }
}

/// The error inside an adapter's `io::Error`, as text.
fn inner_error(e: &io::Error) -> String {
    match e.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
        Some(e) => e.to_string(),
        None => format!("io: {e}"),
    }
}

/// The framed body of a message: after the header, before the footer.
fn body(msg: &[u8]) -> &[u8] {
    let Ok(Parsed::Done(h, start)) = header::parse(msg, &Default::default()) else {
        panic!("no header")
    };
    let mut pos = start;
    loop {
        let Ok(Parsed::Done(fh, n)) = parse_frame_header(&msg[pos..], h.frame_length) else {
            panic!("bad frame at {pos}")
        };
        pos += n + fh.content_len as usize + envelope::suite::TAG_LEN;
        if fh.is_final {
            return &msg[start..pos];
        }
    }
}

/// Whether exactly one footer follows the body of `msg` and ends it.
fn footer_ends(msg: &[u8]) -> bool {
    let Ok(Parsed::Done(_, start)) = header::parse(msg, &Default::default()) else {
        return false;
    };
    let end = start + body(msg).len();
    matches!(parse_footer(&msg[end..]), Ok(Parsed::Done(_, n)) if end + n == msg.len())
}

/// Waits (at most 10 s) until every blocking task of an adapter has ended.
pub async fn all_ended(probe: &TaskProbe, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !probe.all_ended() {
        assert!(
            Instant::now() < deadline,
            "{what}: {} holders of the task token still alive after 10 s",
            probe.alive()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A keyring whose data key and encrypted data key are fixed, so that two
/// encryptors with the same message id write the same header (a real
/// keyring draws a fresh data key and IV each time).
struct FixedKey;

impl Keyring for FixedKey {
    fn on_encrypt(&self, m: &mut EncryptionMaterials) -> envelope::Result<()> {
        m.plaintext_data_key = Some(zeroize::Zeroizing::new(vec![0x3c; m.suite.key_len]));
        m.encrypted_data_keys.push(EncryptedDataKey {
            provider_id: "fixed".into(),
            provider_info: b"k".to_vec(),
            ciphertext: vec![0x3c],
        });
        Ok(())
    }
    fn on_decrypt(&self, m: &mut DecryptionMaterials, edks: &[EncryptedDataKey]) -> envelope::Result<()> {
        if edks.iter().any(|e| e.provider_id == "fixed") {
            m.plaintext_data_key = Some(zeroize::Zeroizing::new(vec![0x3c; m.suite.key_len]));
        }
        Ok(())
    }
}

/// One case: the synchronous engine's message and the async writer's, for
/// the same message id, written and read through a duplex pipe in random
/// pieces; then the async reader opens both.
async fn same_bytes(suite: &'static AlgorithmSuite, frame: u32, plaintext: Vec<u8>, rng: &mut Rng) {
    let what = format!("{} frame {frame} size {}", suite.name, plaintext.len());
    let k = FixedKey;
    let opts = encrypt_options(suite, frame);
    let id = rng.bytes(suite.message_id_len());
    let mut sync = encryptor_with_message_id(&k, &opts, id.clone()).unwrap();
    let mut expected = Vec::new();
    sync.update(&plaintext, &mut expected).unwrap();
    sync.finish(&mut expected).unwrap();

    let enc = encryptor_with_message_id(&k, &opts, id).unwrap();
    let pipe = 1 + rng.below(64 << 10);
    let (a, mut b) = tokio::io::duplex(pipe);
    let (wmax, rmax) = (1 + rng.below(100_000), 1 + rng.below(100_000));
    let mut wrng = Rng(rng.next() | 1);
    let pt = Arc::new(plaintext);
    let data = Arc::clone(&pt);
    let writer = tokio::spawn(async move {
        let mut w = EncryptingWriter::from_encryptor(enc, a).unwrap();
        write_choppy(&mut w, &data, wmax, &mut wrng).await.unwrap();
        w.shutdown().await.unwrap();
        let probe = writer_probe(&w);
        drop(w);
        all_ended(&probe, "writer").await;
    });
    let got = read_choppy(&mut b, rmax, rng).await.unwrap();
    writer.await.unwrap();
    if suite.is_signing() {
        // A fresh signing key per message: the header (its public key) and
        // the footer differ, the body may not. Each message is its header,
        // that body and one footer that ends it exactly (two DER signatures
        // may differ in length, so the totals are not compared).
        for msg in [&got, &expected] {
            assert!(footer_ends(msg), "{what}: not header, body and one footer");
        }
        assert_eq!(body(&got), body(&expected), "{what}: bodies differ");
    } else {
        assert_eq!(
            got, expected,
            "{what}: the async writer wrote other bytes (pipe {pipe})"
        );
    }
    for msg in [got, expected] {
        let chop = 1 + rng.below(200_000);
        let mut r =
            DecryptingReader::new(Arc::new(FixedKey), allow_all(), Choppy::new(msg, chop, rng)).unwrap();
        let opened = read_choppy(&mut r, 1 + rng.below(100_000), rng).await.unwrap();
        assert!(opened == *pt, "{what}: the async reader opened other bytes");
        let probe = reader_probe(&r);
        drop(r);
        all_ended(&probe, "reader").await;
    }
}

#[test]
fn same_bytes_as_the_synchronous_engine() {
    let mut rng = Rng::seeded("same_bytes");
    let suites = ["0x0478", "0x0578", "0x0178", "0x0378", "0x0014"];
    let frames = [1u32, 7, 100, 1000, 4096, 65536];
    let mut cases: Vec<(&str, u32, usize)> = Vec::new();
    for (i, s) in suites.iter().enumerate() {
        let f = frames[rng.below(frames.len())];
        for size in [0, 1, f as usize - 1, f as usize, f as usize + 1, 3 * f as usize] {
            cases.push((s, f, size));
        }
        // Random sizes up to a few batches (a batch is 1 MiB of frames).
        for _ in 0..3 {
            let f = frames[(i + rng.below(frames.len())) % frames.len()];
            let cap = if f < 100 { 200_000 } else { 3 << 20 };
            cases.push((s, f, rng.below(cap)));
        }
    }
    // Past the thread pipeline's 16 MiB threshold, signed and not.
    cases.push(("0x0478", 65536, (17 << 20) + 12345));
    cases.push(("0x0578", 65536, (16 << 20) + 65536 * 3));
    let rts = [current_thread(), multi_thread()];
    for (n, (s, f, size)) in cases.into_iter().enumerate() {
        let pt = rng.bytes(size);
        let mut case_rng = Rng(rng.next() | 1);
        rts[n % 2].block_on(same_bytes(suite(s), f, pt, &mut case_rng));
    }
}

fn collect_chunks(
    rt: &Runtime,
    mut s: impl futures_core::Stream<Item = envelope::Result<Bytes>> + Unpin,
) -> envelope::Result<Vec<u8>> {
    rt.block_on(async move {
        let mut all = Vec::new();
        while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut s).poll_next(cx)).await {
            all.extend_from_slice(&chunk?);
        }
        Ok(all)
    })
}

/// A stream of the given chunks, as an HTTP body would be.
struct Chunks(std::collections::VecDeque<io::Result<Bytes>>);

impl futures_core::Stream for Chunks {
    type Item = io::Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Poll::Ready(self.0.pop_front())
    }
}

fn chunked(data: &[u8], rng: &mut Rng) -> Chunks {
    let mut v = std::collections::VecDeque::new();
    let mut pos = 0;
    while pos < data.len() {
        let n = (1 + rng.below(70_000)).min(data.len() - pos);
        v.push_back(Ok(Bytes::copy_from_slice(&data[pos..pos + n])));
        pos += n;
    }
    Chunks(v)
}

#[test]
fn function_forms_and_chunk_streams_interoperate_with_the_synchronous_path() {
    let mut rng = Rng::seeded("forms");
    let k = keyring();
    for (rt, s) in [(current_thread(), "0x0478"), (multi_thread(), "0x0578")] {
        let opts = encrypt_options(suite(s), 4096);
        let n = 2_500_000 + rng.below(100_000);
        let pt = rng.bytes(n);
        // encrypt_stream -> synchronous decrypt, and the reverse.
        let mut msg = Vec::new();
        let sum = rt
            .block_on(encrypt_stream(shared_keyring(), &opts, &pt[..], &mut msg))
            .unwrap();
        assert_eq!((sum.bytes_in, sum.bytes_out), (pt.len() as u64, msg.len() as u64));
        assert!(decrypt(&k, &allow_all(), &msg).unwrap().plaintext == pt);
        let mut sync_msg = Vec::new();
        encrypt_stream_parallel(&k, &opts, &pt[..], &mut sync_msg, 2).unwrap();
        let mut opened = Vec::new();
        let sum = rt
            .block_on(decrypt_stream(
                shared_keyring(),
                &allow_all(),
                &sync_msg[..],
                &mut opened,
            ))
            .unwrap();
        assert!(opened == pt);
        assert_eq!(
            (sum.bytes_in, sum.bytes_out),
            (sync_msg.len() as u64, pt.len() as u64)
        );
        // Chunk streams both ways.
        let sealed = rt
            .block_on(EncryptedChunks::new(
                shared_keyring(),
                &opts,
                chunked(&pt, &mut rng),
            ))
            .unwrap();
        let msg = collect_chunks(&rt, sealed).unwrap();
        assert!(decrypt(&k, &allow_all(), &msg).unwrap().plaintext == pt);
        let opened = rt.block_on(async {
            DecryptedChunks::new(shared_keyring(), allow_all(), chunked(&sync_msg, &mut rng)).unwrap()
        });
        assert!(collect_chunks(&rt, opened).unwrap() == pt);
        // A source error ends the stream with an I/O error.
        let mut bad = chunked(&sync_msg[..5000], &mut rng);
        bad.0.push_back(Err(io::Error::other("connection reset")));
        let opened = rt.block_on(async { DecryptedChunks::new(shared_keyring(), allow_all(), bad).unwrap() });
        let e = collect_chunks(&rt, opened).unwrap_err();
        assert!(matches!(e, Error::Io(_)), "{e:?}");
        // A truncated chunk stream fails the same way as the synchronous path.
        let cut = &sync_msg[..sync_msg.len() - 1];
        let opened = rt.block_on(async {
            DecryptedChunks::new(shared_keyring(), allow_all(), chunked(cut, &mut rng)).unwrap()
        });
        let e = collect_chunks(&rt, opened).unwrap_err();
        let sync_e = decrypt(&k, &allow_all(), cut).unwrap_err();
        assert_eq!(e.to_string(), sync_e.to_string());
    }
}

#[test]
fn the_header_comes_first_and_can_be_refused() {
    let rt = current_thread();
    let k = keyring();
    let opts = EncryptOptions {
        encryption_context: [("tenant".to_string(), "acme".to_string())].into(),
        ..encrypt_options(suite("0x0578"), 1024)
    };
    let pt = vec![7u8; 100_000];
    let msg = envelope::encrypt(&k, &opts, &pt).unwrap();
    rt.block_on(async {
        let h = AuthenticatedHeader::read(shared_keyring(), allow_all(), &msg[..])
            .await
            .unwrap();
        assert_eq!(h.header().encryption_context["tenant"], "acme");
        assert_eq!(h.header().encrypted_data_keys[0].provider_id, "tests");
        let mut out = Vec::new();
        let sum = h.decrypt_body_to(&mut out).await.unwrap();
        assert!(out == pt);
        assert_eq!(sum.bytes_in, msg.len() as u64);
        // A reproduced context that disagrees fails before any plaintext, as
        // the synchronous path does.
        let wrong = DecryptOptions {
            reproduced_encryption_context: [("tenant".to_string(), "other".to_string())].into(),
            ..allow_all()
        };
        let e = AuthenticatedHeader::read(shared_keyring(), wrong.clone(), &msg[..])
            .await
            .unwrap_err();
        let sync_e = decrypt(&k, &wrong, &msg).unwrap_err();
        assert_eq!(e.to_string(), sync_e.to_string());
        // A signed message under unsigned_only is refused before the keyring runs.
        let unsigned_only = DecryptOptions {
            unsigned_only: true,
            ..allow_all()
        };
        let e = AuthenticatedHeader::read(shared_keyring(), unsigned_only, &msg[..])
            .await
            .unwrap_err();
        assert!(matches!(e, Error::SignedMessageRefused(_)), "{e:?}");
    });
}

/// A keyring that proves where it is called: it blocks on the calling
/// runtime's handle, which panics on a runtime worker ("Cannot start a
/// runtime from within a runtime") and works on a blocking-pool thread, and
/// it records its thread.
struct WhereCalled {
    inner: Box<dyn Keyring>,
    calls: AtomicUsize,
    threads: Mutex<Vec<ThreadId>>,
}

impl WhereCalled {
    fn new(inner: impl Keyring + 'static) -> Arc<WhereCalled> {
        Arc::new(WhereCalled {
            inner: Box::new(inner),
            calls: AtomicUsize::new(0),
            threads: Mutex::new(Vec::new()),
        })
    }

    fn probe(&self) {
        let handle = tokio::runtime::Handle::try_current()
            .expect("the adapters call keyrings on their runtime's blocking pool");
        handle.block_on(tokio::task::yield_now());
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.threads.lock().unwrap().push(std::thread::current().id());
    }
}

impl Keyring for WhereCalled {
    fn on_encrypt(&self, m: &mut EncryptionMaterials) -> envelope::Result<()> {
        self.probe();
        self.inner.on_encrypt(m)
    }
    fn on_decrypt(&self, m: &mut DecryptionMaterials, edks: &[EncryptedDataKey]) -> envelope::Result<()> {
        self.probe();
        self.inner.on_decrypt(m, edks)
    }
}

/// Every adapter once: 3 encryptions and 4 decryptions.
async fn every_adapter(k: Arc<dyn Keyring>, opts: &EncryptOptions, rng: &mut Rng) {
    let pt = rng.bytes(1_200_000);
    let mut w = EncryptingWriter::new(Arc::clone(&k), opts, Vec::new())
        .await
        .unwrap();
    w.write_all(&pt).await.unwrap();
    let m1 = w.finish().await.unwrap();
    let mut m2 = Vec::new();
    encrypt_stream(Arc::clone(&k), opts, &pt[..], &mut m2)
        .await
        .unwrap();
    let s = EncryptedChunks::new(Arc::clone(&k), opts, chunked(&pt, rng))
        .await
        .unwrap();
    let mut m3 = Vec::new();
    let mut s = s;
    while let Some(c) = std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut s), cx)).await
    {
        m3.extend_from_slice(&c.unwrap());
    }
    let mut out = Vec::new();
    DecryptingReader::new(Arc::clone(&k), allow_all(), &m1[..])
        .unwrap()
        .read_to_end(&mut out)
        .await
        .unwrap();
    assert!(out == pt);
    let mut out = Vec::new();
    decrypt_stream(Arc::clone(&k), &allow_all(), &m2[..], &mut out)
        .await
        .unwrap();
    assert!(out == pt);
    let h = AuthenticatedHeader::read(Arc::clone(&k), allow_all(), &m3[..])
        .await
        .unwrap();
    let mut out = Vec::new();
    h.decrypt_body_to(&mut out).await.unwrap();
    assert!(out == pt);
    let mut s = DecryptedChunks::new(Arc::clone(&k), allow_all(), chunked(&m3, rng)).unwrap();
    let mut out = Vec::new();
    while let Some(c) = std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut s), cx)).await
    {
        out.extend_from_slice(&c.unwrap());
    }
    assert!(out == pt);
}

#[test]
fn keyrings_are_called_only_off_the_runtime_workers() {
    let mut rng = Rng::seeded("off_workers");
    let env = Env::new();
    let key = env.key();
    for flavour in ["current_thread", "multi_thread"] {
        let rt = if flavour == "current_thread" {
            current_thread()
        } else {
            multi_thread()
        };
        let raw = WhereCalled::new(keyring());
        // The KMS core: SQLite behind the keyring.
        let kms = WhereCalled::new(env.strict(&[key.arn.as_str()]));
        for (k, s) in [(&raw, "0x0478"), (&raw, "0x0578"), (&kms, "0x0578")] {
            let dyn_k: Arc<dyn Keyring> = k.clone();
            rt.block_on(every_adapter(dyn_k, &encrypt_options(suite(s), 4096), &mut rng));
        }
        assert_eq!(raw.calls.load(Ordering::SeqCst), 14, "{flavour}");
        assert_eq!(kms.calls.load(Ordering::SeqCst), 7, "{flavour}");
        if flavour == "current_thread" {
            // Its only worker is this thread.
            let me = std::thread::current().id();
            for k in [&raw, &kms] {
                assert!(k.threads.lock().unwrap().iter().all(|t| *t != me), "{flavour}");
            }
        }
    }
    // The probe is not blind: called on a worker, it panics.
    let rt = current_thread();
    let raw = WhereCalled::new(keyring());
    let on_worker = rt.block_on(async {
        let k = Arc::clone(&raw);
        tokio::spawn(async move { k.probe() }).await
    });
    assert!(on_worker.is_err_and(|e| e.is_panic()));
    let rt = multi_thread();
    let on_worker = rt.block_on(async {
        let k = Arc::clone(&raw);
        tokio::spawn(async move { k.probe() }).await
    });
    assert!(on_worker.is_err_and(|e| e.is_panic()));
}

/// The plaintext of the frames of `frame_len` bytes that lie wholly before
/// byte `damage` of a framed message (whose final frame holds the rest).
fn verified_before(msg: &[u8], damage: usize) -> usize {
    let Ok(Parsed::Done(h, mut pos)) = header::parse(msg, &Default::default()) else {
        panic!("no header")
    };
    let mut plain = 0;
    loop {
        let Ok(Parsed::Done(fh, n)) = parse_frame_header(&msg[pos..], h.frame_length) else {
            panic!("bad frame")
        };
        let end = pos + n + fh.content_len as usize + envelope::suite::TAG_LEN;
        if end > damage || (fh.is_final && h.suite.is_signing()) {
            return plain;
        }
        plain += fh.content_len as usize;
        pos = end;
        if fh.is_final {
            return plain;
        }
    }
}

#[test]
fn cancelled_readers_release_only_verified_frames_and_leave_no_task() {
    let mut rng = Rng::seeded("cancel_readers");
    let k = keyring();
    let rts = [current_thread(), multi_thread()];
    for (i, s) in ["0x0478", "0x0578"].into_iter().enumerate() {
        let rt = &rts[i];
        let pt = rng.bytes((3 << 20) + 500);
        let msg = envelope::encrypt(&k, &encrypt_options(suite(s), 1024), &pt).unwrap();
        for trial in 0..12 {
            // Damage one byte somewhere past the header (or none).
            let mut bad = msg.clone();
            let damage = if trial % 4 == 0 {
                bad.len()
            } else {
                let at = 400 + rng.below(bad.len() - 400);
                bad[at] ^= 1 << rng.below(8);
                at
            };
            let limit = verified_before(&msg, damage);
            let stop_after = rng.below(80);
            let what = format!("{s} trial {trial}: damage at {damage}, stop after {stop_after} reads");
            let mut rrng = Rng(rng.next() | 1);
            rt.block_on(async {
                let src = Choppy::new(bad, 1 + rrng.below(300_000), &mut rrng);
                let mut r = DecryptingReader::new(shared_keyring(), allow_all(), src).unwrap();
                let mut got = Vec::new();
                let mut buf = vec![0u8; 200_000];
                for _ in 0..stop_after {
                    let want = 1 + rrng.below(buf.len());
                    match r.read(&mut buf[..want]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                assert!(
                    pt.starts_with(&got),
                    "{what}: released bytes that are not the plaintext"
                );
                if damage < msg.len() {
                    assert!(got.len() <= limit, "{what}: released {} > {limit}", got.len());
                }
                let probe = reader_probe(&r);
                drop(r);
                all_ended(&probe, &what).await;
            });
            // A whole decrypt_stream future cancelled at a random moment.
            let ms = rng.below(20) as u64;
            let mut damaged = msg.clone();
            if damage < msg.len() {
                damaged[damage] ^= 1;
            }
            rt.block_on(async {
                let mut out = Vec::new();
                let opts = allow_all();
                let f = decrypt_stream(shared_keyring(), &opts, &damaged[..], &mut out);
                let _ = tokio::time::timeout(Duration::from_millis(ms), f).await;
                assert!(pt.starts_with(&out), "{what}: cancelled decrypt_stream");
                if damage < msg.len() {
                    assert!(
                        out.len() <= limit,
                        "{what}: cancelled decrypt_stream released too much"
                    );
                }
            });
        }
    }
}

#[test]
fn a_writer_dropped_without_shutdown_leaves_a_message_no_one_accepts() {
    let mut rng = Rng::seeded("drop_writer");
    let k = keyring();
    let rts = [current_thread(), multi_thread()];
    for trial in 0..16 {
        let s = ["0x0478", "0x0578", "0x0178"][trial % 3];
        let frame = [1024u32, 4096, 65536][rng.below(3)];
        let n = rng.below(3 << 20);
        let pt = rng.bytes(n);
        // Stop after a random part of the plaintext (all of it, sometimes).
        let upto = if trial % 4 == 0 {
            pt.len()
        } else {
            rng.below(pt.len() + 1)
        };
        let flush = rng.below(2) == 0;
        let what = format!(
            "{s} frame {frame}: {upto} of {} bytes written, flush {flush}",
            pt.len()
        );
        let mut wrng = Rng(rng.next() | 1);
        let partial = rts[trial % 2].block_on(async {
            let (a, mut b) = tokio::io::duplex(1 + wrng.below(1 << 20));
            let opts = encrypt_options(suite(s), frame);
            let data = pt[..upto].to_vec();
            let reading = tokio::spawn(async move {
                let mut all = Vec::new();
                b.read_to_end(&mut all).await.unwrap();
                all
            });
            let mut w = EncryptingWriter::new(shared_keyring(), &opts, a).await.unwrap();
            write_choppy(&mut w, &data, 1 + wrng.below(200_000), &mut wrng)
                .await
                .unwrap();
            if flush {
                w.flush().await.unwrap();
            }
            let probe = writer_probe(&w);
            drop(w);
            all_ended(&probe, &what).await;
            reading.await.unwrap()
        });
        let e = decrypt(&k, &allow_all(), &partial).unwrap_err();
        assert!(matches!(e, Error::Truncated(_)), "{what}: {e:?}");
        // Streaming, it releases at most the whole frames that were written.
        let mut dec = Decryptor::new(&k, allow_all());
        let mut out = Vec::new();
        let _ = dec.update(&partial, &mut out);
        assert!(dec.finish().is_err(), "{what}: looks complete");
        assert!(pt.starts_with(&out) && out.len() <= upto, "{what}");
    }
}

#[test]
fn writes_after_an_end_or_an_error_are_refused() {
    let rt = current_thread();
    rt.block_on(async {
        let mut w = EncryptingWriter::new(shared_keyring(), &EncryptOptions::default(), Vec::new())
            .await
            .unwrap();
        w.write_all(b"abc").await.unwrap();
        w.shutdown().await.unwrap();
        let e = w.write_all(b"more").await.unwrap_err();
        assert!(inner_error(&e).contains("update after finish"), "{e}");
        // A reader whose message failed keeps failing.
        let msg = envelope::encrypt(&keyring(), &EncryptOptions::default(), b"hello").unwrap();
        let mut r = DecryptingReader::new(shared_keyring(), allow_all(), &msg[..msg.len() - 1]).unwrap();
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).await.unwrap_err();
        assert!(inner_error(&e).contains("truncated"), "{}", inner_error(&e));
        assert!(out.is_empty());
        let e = r.read_to_end(&mut out).await.unwrap_err();
        assert!(
            inner_error(&e).contains("again after an error"),
            "{}",
            inner_error(&e)
        );
    });
    // Outside a runtime the adapters say so instead of panicking.
    let e = DecryptingReader::new(shared_keyring(), allow_all(), &b""[..]).unwrap_err();
    assert!(
        matches!(e, Error::ApiMisuse(envelope::ApiMisuse::NoTokioRuntime)),
        "{e:?}"
    );
}

/// Decrypts `msg` through the async reader, fed in pieces of `chunk` bytes
/// (or all at once), on a runtime of this thread: what was released, and
/// the error's text if it failed. For `tamper.rs`.
pub fn async_release(k: Arc<dyn Keyring>, msg: &[u8], chunk: usize) -> (Vec<u8>, Result<(), String>) {
    thread_local! {
        static RT: Runtime = current_thread();
    }
    RT.with(|rt| {
        rt.block_on(async {
            let src = Pieces { data: msg, chunk };
            let mut r = DecryptingReader::new(k, allow_all(), src).unwrap();
            let mut out = Vec::new();
            let mut buf = vec![0u8; 4096];
            loop {
                match r.read(&mut buf).await {
                    Ok(0) => return (out, Ok(())),
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                    Err(e) => return (out, Err(inner_error(&e))),
                }
            }
        })
    })
}

/// A reader of fixed-size pieces.
struct Pieces<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.chunk.min(self.data.len()).min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(()))
    }
}

/// The example's own code (`examples/tokio_pipe.rs`), run in this process.
#[path = "../../examples/tokio_pipe.rs"]
#[allow(dead_code)]
mod tokio_pipe;

#[test]
fn the_tokio_pipe_example_interoperates_with_the_cli() {
    use std::io::Write as _;
    use std::process::Stdio;

    let mut rng = Rng::seeded("tokio_pipe");
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("KEYFILE");
    std::fs::write(&key_file, rng.bytes(32)).unwrap();
    let words = [
        "-w".to_string(),
        "provider=raw-aes".into(),
        format!("key={}", key_file.display()),
        format!("namespace={}", tokio_pipe::NAMESPACE),
        format!("name={}", tokio_pipe::KEY_NAME),
    ];
    let cli = |mode: &str, input: &[u8]| {
        let mut c = crate::support::scrub::envelope();
        c.arg(mode)
            .args(&words)
            .env("ENVELOPE_HOME", dir.path().join("no-keystore"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let feeding = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().unwrap();
        feeding.join().unwrap().unwrap();
        assert!(
            out.status.success(),
            "envelope {mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let rt = multi_thread();
    let n = 200_000 + rng.below(300_000);
    let pt = rng.bytes(n);
    // The example encrypts, the CLI decrypts.
    let mut msg = Vec::new();
    rt.block_on(tokio_pipe::run("encrypt", &key_file, &pt[..], &mut msg))
        .unwrap();
    assert!(
        cli("decrypt", &msg) == pt,
        "the CLI did not open the example's message"
    );
    // The CLI encrypts, the example decrypts.
    let msg = cli("encrypt", &pt);
    let mut opened = Vec::new();
    rt.block_on(tokio_pipe::run("decrypt", &key_file, &msg[..], &mut opened))
        .unwrap();
    assert!(opened == pt, "the example did not open the CLI's message");
    // A damaged message: the example fails and says so.
    let mut bad = msg.clone();
    let at = bad.len() / 2;
    bad[at] ^= 1;
    let e = rt
        .block_on(tokio_pipe::run("decrypt", &key_file, &bad[..], &mut Vec::new()))
        .unwrap_err();
    assert!(e.starts_with("decrypt: "), "{e}");
}
