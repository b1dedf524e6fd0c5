//! The batch pipeline behind the parallel stream functions.
//!
//! The calling thread fills batches of whole frames from the input; a pool of
//! workers seals or opens each batch from its input buffer into its output
//! buffer; one thread feeds the signature hash with the covered bytes in
//! message order (signing suites only), and one thread writes the batches in
//! order and hands their buffers back to the reader. So the reading, the
//! AES-GCM work, the hash and the writing all overlap.
//!
//! Batch `k` goes to worker `k % workers`, and the stages after the workers
//! take batch `k` from that same worker: order is kept without a reorder
//! buffer. At most `workers + 4` batches exist, allocated on demand and reused,
//! so memory is bounded by the thread count times the batch size whatever the
//! input size, and nothing is allocated per frame.
//!
//! Errors travel inside the batches, in message order: whatever the reader
//! meets (an I/O error, a malformed frame header) is attached to the batch
//! holding the frames before it, and a worker's error (a tag that fails)
//! replaces it, being earlier in the message. The writer stops at the first
//! batch with an error and writes none of it, so only batches whose every
//! frame verified are written.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::{self, Scope, ScopedJoinHandle};

use zeroize::Zeroizing;

use crate::crypto::signature::Hasher;
use crate::error::{Error, Result};

/// Batches in flight beyond one per worker: one being read, one being
/// hashed, one being written, and one queued.
const SPARE_BATCHES: usize = 4;

/// A run of consecutive frames with its buffers: the reader fills one and
/// the workers write the other.
pub(super) struct Batch {
    /// The frames' plaintext, wiped when the batch is dropped.
    pub plain: Zeroizing<Vec<u8>>,
    /// The sealed frames (frame headers, ciphertext and tags).
    pub sealed: Vec<u8>,
    /// Sequence number of the first frame.
    pub first_seq: u32,
    /// How many frames the batch holds.
    pub frames: usize,
    /// The first error at or after the batch's frames, in message order.
    pub error: Option<Error>,
}

impl Batch {
    pub fn new(plain_len: usize, sealed_len: usize) -> Self {
        Batch {
            plain: Zeroizing::new(vec![0u8; plain_len]),
            sealed: vec![0u8; sealed_len],
            first_seq: 0,
            frames: 0,
            error: None,
        }
    }
}

/// What the workers do to a batch: seal or open its frames.
pub(super) trait Job: Sync {
    /// Seals or opens the batch's frames; the first error names its frame.
    fn process(&self, batch: &mut Batch) -> Result<()>;
    /// The batch's bytes that the signature covers.
    fn signed<'b>(&self, batch: &'b Batch) -> &'b [u8];
    /// The batch's bytes to write.
    fn written<'b>(&self, batch: &'b Batch) -> &'b [u8];
}

/// How a pipeline run ended.
pub(super) struct Outcome {
    /// The first error in message order, or a write error.
    pub result: Result<()>,
    /// The signature hash, fed every batch that was written.
    pub hasher: Option<Hasher>,
    /// Bytes written.
    pub written: u64,
}

/// Runs the pipeline until `fill` reports the last batch or something fails.
///
/// `fill` fills a batch (buffers from `make`) on the calling thread and
/// returns whether more batches follow; it records failures in the batch.
pub(super) fn run<J: Job>(
    job: &J,
    workers: usize,
    make: impl Fn() -> Batch,
    hasher: Option<Hasher>,
    writer: &mut (impl Write + Send),
    mut fill: impl FnMut(&mut Batch) -> bool,
) -> Outcome {
    let workers = workers.max(1);
    let slots = workers + SPARE_BATCHES;
    let stop = AtomicBool::new(false);
    let failed = |e: std::io::Error| Outcome {
        result: Err(Error::Io(e)),
        hasher: None,
        written: 0,
    };
    thread::scope(|s| {
        let (free_tx, free_rx) = sync_channel::<Batch>(slots);
        let mut to_workers = Vec::with_capacity(workers);
        let mut from_workers = Vec::with_capacity(workers);
        for i in 0..workers {
            let (in_tx, in_rx) = sync_channel::<Batch>(slots);
            let (out_tx, out_rx) = sync_channel::<Batch>(slots);
            if let Err(e) = spawn(s, format!("envelope-frames-{i}"), move || {
                work(job, in_rx, out_tx)
            }) {
                return failed(e);
            }
            to_workers.push(in_tx);
            from_workers.push(out_rx);
        }
        let in_order = InOrder {
            from: from_workers,
            next: 0,
        };
        let stop = &stop;
        let spawned = match hasher {
            Some(h) => {
                let (tx, rx) = sync_channel::<Batch>(slots);
                let hashing = spawn(s, "envelope-hash".into(), move || hash(job, h, in_order, tx));
                hashing.and_then(|hashing| {
                    let src = rx.into_iter();
                    let w = spawn(s, "envelope-write".into(), move || {
                        write(job, src, writer, free_tx, stop)
                    });
                    w.map(|w| (Some(hashing), w))
                })
            }
            None => spawn(s, "envelope-write".into(), move || {
                write(job, in_order, writer, free_tx, stop)
            })
            .map(|w| (None, w)),
        };
        let (hashing, writing) = match spawned {
            Ok(handles) => handles,
            Err(e) => return failed(e),
        };

        let mut allocated = 0;
        let mut k = 0;
        while !stop.load(Ordering::Relaxed) {
            let mut batch = match free_rx.try_recv() {
                Ok(b) => b,
                Err(_) if allocated < slots => {
                    allocated += 1;
                    make()
                }
                Err(_) => match free_rx.recv() {
                    Ok(b) => b,
                    Err(_) => break,
                },
            };
            let more = fill(&mut batch);
            if to_workers[k % workers].send(batch).is_err() {
                break;
            }
            k += 1;
            if !more {
                break;
            }
        }
        drop(to_workers);

        let hasher = hashing.map(join);
        let (result, written) = join(writing);
        Outcome {
            result,
            hasher,
            written,
        }
    })
}

fn spawn<'scope, T: Send + 'scope>(
    s: &'scope Scope<'scope, '_>,
    name: String,
    f: impl FnOnce() -> T + Send + 'scope,
) -> std::io::Result<ScopedJoinHandle<'scope, T>> {
    thread::Builder::new().name(name).spawn_scoped(s, f)
}

/// Joins a pipeline thread; a panic there is a bug and goes on unwinding here.
fn join<T>(h: ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// A worker: processes its batches in the order it receives them.
fn work(job: &impl Job, from: Receiver<Batch>, to: SyncSender<Batch>) {
    for mut batch in from {
        if let Err(e) = job.process(&mut batch) {
            batch.error = Some(e);
        }
        if to.send(batch).is_err() {
            break;
        }
    }
}

/// The workers' output in batch order.
struct InOrder {
    from: Vec<Receiver<Batch>>,
    next: usize,
}

impl Iterator for InOrder {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        let b = self.from[self.next].recv().ok()?;
        self.next = (self.next + 1) % self.from.len();
        Some(b)
    }
}

/// The hash thread: feeds the signed bytes of each batch, in order.
fn hash(job: &impl Job, mut hasher: Hasher, from: InOrder, to: SyncSender<Batch>) -> Hasher {
    for batch in from {
        if batch.error.is_none() {
            hasher.update(job.signed(&batch));
        }
        if to.send(batch).is_err() {
            break;
        }
    }
    hasher
}

/// The write thread: writes batches in order until the first error, then
/// stops the reader.
fn write(
    job: &impl Job,
    from: impl Iterator<Item = Batch>,
    writer: &mut impl Write,
    free: SyncSender<Batch>,
    stop: &AtomicBool,
) -> (Result<()>, u64) {
    let mut written = 0u64;
    for mut batch in from {
        if let Some(e) = batch.error.take() {
            stop.store(true, Ordering::Relaxed);
            return (Err(e), written);
        }
        let bytes = job.written(&batch);
        if let Err(e) = writer.write_all(bytes) {
            stop.store(true, Ordering::Relaxed);
            return (Err(Error::Io(e)), written);
        }
        written += bytes.len() as u64;
        // The reader is gone once it has sent its last batch: nothing to hand back then.
        let _ = free.send(batch);
    }
    (Ok(()), written)
}
