//! A bounded in-memory pipe of plaintext between the two halves of a rewrap.
//!
//! The writer copies what it is given into chunks held in a queue of at most
//! [`CAPACITY`] bytes, blocking while the queue is full; the reader copies
//! them out, blocking while it is empty. Chunk buffers are reused and wiped
//! when dropped (they are [`Zeroizing`]), so plaintext lives only in memory
//! that is cleared.
//!
//! The pipe ends cleanly only through [`PipeWriter::close`]; a writer dropped
//! unclosed (its message failed) makes the reader fail, and a reader dropped
//! (its side failed) makes the writer fail, so neither side waits forever.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use zeroize::Zeroizing;

use crate::error::Error;

/// Plaintext bytes the pipe holds at most: four batches of the pipelines.
const CAPACITY: usize = 4 << 20;
/// The largest chunk: a write of more is split, so that one write never
/// needs more than the capacity.
const MAX_CHUNK: usize = 1 << 20;

/// The writing end: the decrypting side's output.
pub struct PipeWriter {
    shared: Arc<Shared>,
    closed: bool,
}

/// The reading end: the encrypting side's input.
pub struct PipeReader {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    chunks: VecDeque<Zeroizing<Vec<u8>>>,
    /// Bytes of the front chunk already read.
    front_read: usize,
    /// Unread bytes in `chunks`.
    queued: usize,
    /// Emptied chunks, kept for reuse.
    spare: Vec<Zeroizing<Vec<u8>>>,
    end: End,
    reader_gone: bool,
}

#[derive(Default, PartialEq, Eq)]
enum End {
    #[default]
    Open,
    /// Everything was written and the message verified.
    Closed,
    /// The writer was dropped without closing: its message failed.
    Failed,
}

/// The writer's error when the reader has gone (the other side failed).
#[derive(Debug)]
struct ReaderGone;

impl fmt::Display for ReaderGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the new message stopped being written")
    }
}

impl std::error::Error for ReaderGone {}

/// The reader's error when the old message failed.
#[derive(Debug)]
struct WriterFailed;

impl fmt::Display for WriterFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the message being rewrapped failed")
    }
}

impl std::error::Error for WriterFailed {}

/// A connected pair.
pub fn pipe() -> (PipeWriter, PipeReader) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
    });
    (
        PipeWriter {
            shared: Arc::clone(&shared),
            closed: false,
        },
        PipeReader { shared },
    )
}

/// Whether `e` is the writer's error for a reader that went away, so that
/// the reader's own error is the one to report.
pub fn is_reader_gone(e: &Error) -> bool {
    matches!(e, Error::Io(io) if io.get_ref().is_some_and(|inner| inner.is::<ReaderGone>()))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed.wait(guard).unwrap_or_else(PoisonError::into_inner)
    }
}

impl PipeWriter {
    /// Ends the pipe cleanly: the reader gets end of input once it has read
    /// everything.
    pub fn close(&mut self) {
        self.closed = true;
        self.shared.lock().end = End::Closed;
        self.shared.changed.notify_all();
    }
}

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(MAX_CHUNK);
        if n == 0 {
            return Ok(0);
        }
        let mut state = self.shared.lock();
        while !state.reader_gone && state.queued + n > CAPACITY {
            state = self.shared.wait(state);
        }
        if state.reader_gone {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, ReaderGone));
        }
        let mut chunk = state.spare.pop().unwrap_or_default();
        chunk.clear();
        chunk.extend_from_slice(&buf[..n]);
        state.chunks.push_back(chunk);
        state.queued += n;
        drop(state);
        self.shared.changed.notify_all();
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        if !self.closed {
            self.shared.lock().end = End::Failed;
            self.shared.changed.notify_all();
        }
    }
}

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut state = self.shared.lock();
        loop {
            if state.end == End::Failed {
                return Err(io::Error::other(WriterFailed));
            }
            if !state.chunks.is_empty() {
                break;
            }
            if state.end == End::Closed {
                return Ok(0);
            }
            state = self.shared.wait(state);
        }
        let mut n = 0;
        while n < buf.len() {
            let start = state.front_read;
            let Some(front) = state.chunks.front() else {
                break;
            };
            let take = (front.len() - start).min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&front[start..start + take]);
            n += take;
            if start + take == front.len() {
                state.front_read = 0;
                if let Some(done) = state.chunks.pop_front() {
                    state.spare.push(done);
                }
            } else {
                state.front_read = start + take;
            }
        }
        state.queued -= n;
        drop(state);
        self.shared.changed.notify_all();
        Ok(n)
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.reader_gone = true;
        // What was not read is wiped now, not when the writer goes.
        state.chunks.clear();
        state.queued = 0;
        drop(state);
        self.shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_out_in_order_and_end_only_on_close() {
        let (mut w, mut r) = pipe();
        let data: Vec<u8> = (0..10_000_000u32).map(|i| (i % 251) as u8).collect();
        let got = std::thread::scope(|s| {
            let reader = s.spawn(move || {
                let mut got = Vec::new();
                r.read_to_end(&mut got).map(|_| got)
            });
            for piece in data.chunks(333_333) {
                w.write_all(piece).expect("write");
            }
            w.close();
            reader.join().expect("reader thread")
        });
        assert_eq!(got.expect("read"), data);
    }

    #[test]
    fn a_writer_dropped_unclosed_fails_the_reader() {
        let (mut w, mut r) = pipe();
        w.write_all(b"partial").expect("write");
        drop(w);
        let mut got = Vec::new();
        let e = r.read_to_end(&mut got).expect_err("must fail");
        assert!(e.get_ref().is_some_and(|i| i.is::<WriterFailed>()));
    }

    #[test]
    fn a_reader_dropped_fails_a_blocked_writer() {
        let (mut w, r) = pipe();
        let e = std::thread::scope(|s| {
            let writer = s.spawn(move || {
                let big = vec![7u8; CAPACITY * 3];
                w.write_all(&big)
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            drop(r);
            writer.join().expect("writer thread")
        });
        let e = e.expect_err("must fail");
        assert!(is_reader_gone(&Error::Io(e)));
    }
}
