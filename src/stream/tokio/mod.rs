//! tokio adapters over the streaming engine (feature `tokio`): an
//! encrypting [`AsyncWrite`](::tokio::io::AsyncWrite), a decrypting
//! [`AsyncRead`](::tokio::io::AsyncRead), header-first decryption, whole
//! reader-to-writer functions, and streams of [`Bytes`](bytes::Bytes)
//! chunks for callers that work in chunks (an HTTP body).
//!
//! There is no second implementation of the format here: the header, the
//! final frame and the footer are the sans-I/O [`Encryptor`](super::Encryptor)'s
//! and [`Decryptor`](super::Decryptor)'s, the regular frames are sealed and
//! opened by the same per-message cipher and frame splitter as the thread
//! pipeline, and so the bytes, the release rules and the errors are the
//! synchronous path's.
//!
//! # Never blocking the runtime
//!
//! Nothing that can take long runs on the runtime's worker threads:
//!
//! * every keyring call (so every KMS call, the embedded core's SQLite
//!   included) runs on the runtime's blocking pool
//!   ([`spawn_blocking`](::tokio::task::spawn_blocking)): the
//!   [`Keyring`](crate::keyring::Keyring) and [`Kms`](crate::kms::Kms)
//!   traits are blocking interfaces;
//! * AES-GCM over batches of frames (1 MiB and up) runs on blocking tasks,
//!   as many at once as the machine has threads, plus one; the signature
//!   hash is handed from task to task in message order, and ECDSA signing
//!   and verifying run on a blocking task too;
//! * what stays on the worker is parsing, copying, and, for unsigned
//!   messages, sealing or opening a batch of at most 64 KiB when nothing is
//!   ahead of it (a few microseconds: a 64 KiB frame seals in 4-6 us here,
//!   less than a round trip through the blocking pool), which spares short
//!   messages that round trip.
//!
//! # Memory and backpressure
//!
//! A writer takes no more plaintext while every batch slot is busy and the
//! writer below has not taken the sealed output; a reader reads no more
//! while the caller has not taken the plaintext. So memory stays bounded by
//! the batches that can exist at once, about `(threads + 3) x 2 x max(1 MiB,
//! frame length)` for frames up to 4 MiB and four frames for longer ones,
//! whatever the speed of either side. Buffers that held plaintext are wiped
//! when dropped; dropping an adapter cancels its blocking tasks that have
//! not started, and a running one ends after its one batch.
//!
//! Each adapter must be made and polled inside a tokio runtime (either
//! flavour); outside one, the constructors fail with
//! [`ApiMisuse::NoTokioRuntime`].

mod chunks;
mod jobs;
mod opener;
pub(crate) mod probe;
mod reader;
mod sealer;
mod writer;

pub use chunks::{DecryptedChunks, EncryptedChunks};
pub use reader::{decrypt_stream, AuthenticatedHeader, DecryptingReader};
pub use writer::{encrypt_stream, EncryptingWriter};

use zeroize::Zeroizing;

use super::parallel::{available_threads, BATCH_BYTES, MAX_PARALLEL_FRAME};
use crate::error::{ApiMisuse, Error, Result};

/// Sealing or opening up to this many bytes (unsigned messages only) is
/// cheap enough to do on a worker thread.
const INLINE_LIMIT: usize = 64 << 10;

/// Frames per batch and how many batches may be in flight for this frame
/// length: one batch at a time for frames over 4 MiB, where the thread
/// pipeline also stays on one thread to bound memory by a frame or two.
fn batch_frames(frame_len: usize) -> (usize, usize) {
    if frame_len == 0 || frame_len > MAX_PARALLEL_FRAME {
        return (1, 1);
    }
    let depth = available_threads().clamp(1, 256) + 1;
    (BATCH_BYTES.div_ceil(frame_len).max(1), depth)
}

/// Lengthens a buffer of secret bytes to `len` (zero-filled) without leaving
/// an unwiped copy behind.
fn grow_secret(v: &mut Zeroizing<Vec<u8>>, len: usize) {
    if v.len() < len {
        let more = len - v.len();
        crate::crypto::reserve_wiping(v, more);
        v.resize(len, 0);
    }
}

/// The first error that ended an adapter's message: later calls fail too.
#[derive(Debug, Default)]
struct Failure(bool);

impl Failure {
    fn set(&mut self, e: Error) -> Error {
        self.0 = true;
        e
    }

    fn check(&self) -> Result<()> {
        if self.0 {
            return Err(ApiMisuse::UsedAfterError.into());
        }
        Ok(())
    }
}

/// The probes of [`crate::internal::tokio`].
pub(crate) fn writer_probe<W: ::tokio::io::AsyncWrite + Unpin>(w: &EncryptingWriter<W>) -> probe::TaskProbe {
    w.probe()
}

pub(crate) fn reader_probe<R: ::tokio::io::AsyncRead + Unpin>(r: &DecryptingReader<R>) -> probe::TaskProbe {
    r.probe()
}
