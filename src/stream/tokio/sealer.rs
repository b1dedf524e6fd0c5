//! The encrypting half of the async adapters, as a state machine that the
//! `AsyncWrite`, the reader-to-writer function and the chunk stream drive.
//!
//! Plaintext is gathered into batches of whole frames (1 MiB and up); each
//! full batch is sealed by a task on the blocking pool, several at once, and
//! comes back in order to be written. The header, the final frame and the
//! footer are the sans-I/O [`Encryptor`]'s: the bytes are the synchronous
//! path's. Memory is bounded by the batches that can exist at once: the one
//! being filled, the `depth` being sealed, the one being written and one
//! spare, whatever the speed of the writer below.

use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::jobs::{current_runtime, HashChain, Ordered};
use super::probe::{TaskProbe, Token};
use super::{batch_frames, grow_secret, Failure, INLINE_LIMIT};
use crate::error::{ApiMisuse, Error, Result};
use crate::format::header::Header;
use crate::stream::content_cipher::sealed_frame_len;
use crate::stream::parallel::Seal;
use crate::stream::pipeline::{Batch, Job};
use crate::stream::Encryptor;

/// Bytes ready to go to the writer below.
enum Output {
    None,
    Bytes(Vec<u8>, usize),
    Batch(Batch, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Taking plaintext.
    Body,
    /// The final frame and footer are being made.
    Finishing,
    /// The message is complete once the output is written.
    Done,
}

pub(super) struct Sealer {
    token: Token,
    /// The engine, while it is not lent to the finishing task.
    enc: Option<Encryptor>,
    header: Header,
    signed: bool,
    job: Arc<Seal>,
    frame_len: usize,
    /// Plaintext bytes of a full batch: whole frames.
    batch_plain: usize,
    next_seq: u32,
    chain: HashChain,
    fill: Option<Batch>,
    filled: usize,
    /// Batches to reuse: at most as many as were ever in use at once.
    free: Vec<Batch>,
    jobs: Ordered<Batch>,
    finishing: Ordered<Result<(Encryptor, Vec<u8>)>>,
    out: Output,
    stage: Stage,
    failure: Failure,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Sealer {
    /// Takes over a fresh encryptor: its header is the first output.
    pub fn new(mut enc: Encryptor) -> Result<Self> {
        if !enc.is_unused() {
            return Err(ApiMisuse::EncryptorInUse.into());
        }
        let runtime = current_runtime()?;
        let token = Token::default();
        let frame_len = enc.frame_len();
        let (frames, depth) = batch_frames(frame_len);
        let mut head = Vec::new();
        let (next_seq, hasher) = enc
            .hand_over(&mut head)
            .ok_or(Error::Unreachable("a fresh encryptor refused the hand-over"))?;
        Ok(Sealer {
            jobs: Ordered::new(runtime.clone(), token.clone(), depth),
            finishing: Ordered::new(runtime.clone(), token.clone(), 1),
            token,
            header: enc.header().clone(),
            signed: enc.is_signed(),
            job: Arc::new(Seal {
                cipher: Arc::clone(enc.cipher()),
                frame_len,
            }),
            enc: Some(enc),
            frame_len,
            batch_plain: frames * frame_len,
            next_seq,
            chain: HashChain::new(hasher),
            fill: None,
            filled: 0,
            free: Vec::new(),
            out: Output::Bytes(head, 0),
            stage: Stage::Body,
            failure: Failure::default(),
            bytes_in: 0,
            bytes_out: 0,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn probe(&self) -> TaskProbe {
        self.token.probe()
    }

    /// Room for more plaintext in the batch being filled, submitting a full
    /// batch first if a task slot is free; `None` while every slot is busy.
    pub fn room(&mut self) -> Result<Option<&mut [u8]>> {
        self.failure.check()?;
        if self.stage != Stage::Body {
            return Err(ApiMisuse::UpdateAfterFinish.into());
        }
        if self.filled == self.batch_plain {
            if !self.jobs.has_room() {
                return Ok(None);
            }
            self.submit()?;
        }
        let fill = self
            .fill
            .get_or_insert_with(|| self.free.pop().unwrap_or_else(|| Batch::new(0, 0)));
        if fill.plain.len() == self.filled {
            let want = (2 * self.filled).clamp(64 << 10, self.batch_plain);
            grow_secret(&mut fill.plain, want);
        }
        let end = fill.plain.len().min(self.batch_plain);
        Ok(Some(&mut fill.plain[self.filled..end]))
    }

    /// Records `n` bytes written into [`Sealer::room`].
    pub fn commit(&mut self, n: usize) -> Result<()> {
        self.filled += n;
        self.bytes_in += n as u64;
        if self.filled == self.batch_plain && self.jobs.has_room() {
            self.submit()?;
        }
        Ok(())
    }

    /// Whether the batch being filled holds a whole frame.
    pub fn has_whole_frame(&self) -> bool {
        self.filled >= self.frame_len
    }

    /// Hands the whole frames gathered so far to a task (flush, shutdown),
    /// if a slot is free. The remainder starts the next batch.
    pub fn submit_whole_frames(&mut self) -> Result<()> {
        if self.has_whole_frame() && self.jobs.has_room() && self.stage == Stage::Body {
            self.submit()?;
        }
        Ok(())
    }

    fn submit(&mut self) -> Result<()> {
        let Some(mut b) = self.fill.take() else {
            return Ok(());
        };
        let frames = self.filled / self.frame_len;
        let used = frames * self.frame_len;
        let rest = self.filled - used;
        // 0xFFFFFFFF marks the final frame, so no regular frame may carry it.
        let next = u32::try_from(frames)
            .ok()
            .and_then(|f| self.next_seq.checked_add(f));
        let Some(next) = next else {
            return Err(self
                .failure
                .set(Error::Limit("a message holds at most 2^32-1 frames".into())));
        };
        if rest > 0 {
            let mut carry = self.free.pop().unwrap_or_else(|| Batch::new(0, 0));
            grow_secret(&mut carry.plain, rest.max(64 << 10).min(self.batch_plain));
            carry.plain[..rest].copy_from_slice(&b.plain[used..self.filled]);
            self.fill = Some(carry);
        }
        self.filled = rest;
        b.first_seq = self.next_seq;
        b.frames = frames;
        b.error = None;
        self.next_seq = next;
        let sealed = frames * sealed_frame_len(false, self.frame_len);
        if b.sealed.len() < sealed {
            b.sealed.resize(sealed, 0);
        }
        let job = Arc::clone(&self.job);
        if !self.signed && used <= INLINE_LIMIT && self.jobs.is_empty() && matches!(self.out, Output::None) {
            // One small batch with nothing ahead of it: sealed here, a few
            // microseconds, rather than a round trip to the blocking pool.
            if let Err(e) = job.process(&mut b) {
                return Err(self.failure.set(e));
            }
            self.out = Output::Batch(b, 0);
            return Ok(());
        }
        let link = self.chain.link();
        self.jobs.push(move || {
            if let Err(e) = job.process(&mut b) {
                b.error = Some(e);
            }
            if let Some(link) = link {
                link.hash(b.error.is_some(), job.signed(&b));
            }
            b
        });
        Ok(())
    }

    /// Makes output ready: `Ready(Ok(true))` when [`Sealer::output`] has
    /// bytes, `Ready(Ok(false))` when nothing is ready or in flight.
    pub fn poll_output(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool>> {
        self.failure.check()?;
        if !self.output().is_empty() {
            return Poll::Ready(Ok(true));
        }
        self.recycle();
        match ready!(self.jobs.poll_front(cx)) {
            Some(Ok(mut b)) => {
                if let Some(e) = b.error.take() {
                    return Poll::Ready(Err(self.failure.set(e)));
                }
                self.out = Output::Batch(b, 0);
                return Poll::Ready(Ok(true));
            }
            Some(Err(e)) => return Poll::Ready(Err(self.failure.set(e))),
            None => {}
        }
        match ready!(self.finishing.poll_front(cx)) {
            Some(Ok(Ok((enc, bytes)))) => {
                self.enc = Some(enc);
                self.stage = Stage::Done;
                self.out = Output::Bytes(bytes, 0);
                Poll::Ready(Ok(true))
            }
            Some(Ok(Err(e)) | Err(e)) => Poll::Ready(Err(self.failure.set(e))),
            None => Poll::Ready(Ok(false)),
        }
    }

    /// The bytes ready to write.
    pub fn output(&self) -> &[u8] {
        match &self.out {
            Output::None => &[],
            Output::Bytes(v, pos) => &v[*pos..],
            Output::Batch(b, pos) => &self.job.written(b)[*pos..],
        }
    }

    /// Records that `n` bytes of [`Sealer::output`] were written.
    pub fn consume(&mut self, n: usize) {
        self.bytes_out += n as u64;
        match &mut self.out {
            Output::None => {}
            Output::Bytes(_, pos) | Output::Batch(_, pos) => *pos += n,
        }
        if self.output().is_empty() {
            self.recycle();
        }
    }

    fn recycle(&mut self) {
        if let Output::Batch(b, _) = std::mem::replace(&mut self.out, Output::None) {
            self.free.push(b);
        }
    }

    /// Moves the message towards its end: submits the last whole frames,
    /// then (once every batch is written) starts the final frame and footer.
    /// `Ok(true)` once the message is complete and all its bytes were taken.
    pub fn step_to_end(&mut self) -> Result<bool> {
        self.failure.check()?;
        match self.stage {
            Stage::Body if self.has_whole_frame() => self.submit_whole_frames()?,
            Stage::Body if self.jobs.is_empty() && self.output().is_empty() => self.start_finish()?,
            Stage::Done => return Ok(self.output().is_empty()),
            _ => {}
        }
        Ok(false)
    }

    fn start_finish(&mut self) -> Result<()> {
        let hasher = match self.chain.take() {
            Ok(h) => h,
            Err(e) => return Err(self.failure.set(e)),
        };
        let Some(mut enc) = self.enc.take() else {
            return Err(self.failure.set(Error::Unreachable("the encryptor is away")));
        };
        let sealed = self.bytes_in - self.filled as u64;
        if let Err(e) = enc.take_back(self.next_seq, hasher, sealed) {
            return Err(self.failure.set(e));
        }
        let tail = self.fill.take();
        let len = self.filled;
        self.filled = 0;
        self.stage = Stage::Finishing;
        let finish = move || {
            let mut out = Vec::new();
            let plain: &[u8] = tail.as_ref().map_or(&[], |b| &b.plain[..len]);
            enc.update(plain, &mut out)?;
            enc.finish(&mut out)?;
            Ok((enc, out))
        };
        if !self.signed && len <= INLINE_LIMIT {
            // At most one small final frame and no signature: done here.
            match finish() {
                Ok((enc, bytes)) => {
                    self.enc = Some(enc);
                    self.stage = Stage::Done;
                    self.out = Output::Bytes(bytes, 0);
                }
                Err(e) => return Err(self.failure.set(e)),
            }
        } else {
            self.finishing.push(finish);
        }
        Ok(())
    }

    /// Whether the message is complete (every byte taken from the output).
    pub fn is_complete(&self) -> bool {
        self.stage == Stage::Done && self.output().is_empty()
    }
}
