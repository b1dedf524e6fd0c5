//! The decrypting half of the async adapters, as a state machine that the
//! `AsyncRead`, the header-first reader, the reader-to-writer function and
//! the chunk stream drive.
//!
//! The header is gathered and parsed here; the keyring authenticates it on
//! the blocking pool. The regular frames of a framed body are then read in
//! batches (1 MiB and up) and opened by blocking tasks, several at once,
//! each batch released only once every frame in it has verified, in order.
//! Whatever follows the regular frames (the final frame, the footer, and all
//! of a non-framed body or of a body with frames over 4 MiB) goes through
//! the sans-I/O [`Decryptor`], so the release rules, the checks and the
//! errors are the synchronous path's: the final frame of a signed message
//! comes out only after its signature verifies.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use ::tokio::io::{AsyncRead, ReadBuf};
use ::tokio::runtime::Handle;
use zeroize::Zeroizing;

use super::jobs::{current_runtime, HashChain, Ordered};
use super::probe::{TaskProbe, Token};
use super::{batch_frames, grow_secret, Failure, INLINE_LIMIT};
use crate::error::{Error, Part, Result};
use crate::format::header::{self, ContentType, Header};
use crate::format::{Limits, Parsed};
use crate::keyring::Keyring;
use crate::stream::content_cipher::sealed_frame_len;
use crate::stream::parallel::{split_frames, Open, SplitEnd};
use crate::stream::pipeline::{Batch, Job};
use crate::stream::setup::{prepare_decrypt, DecryptSetup};
use crate::stream::{DecryptOptions, Decryptor};

/// Bytes asked of the reader at a time outside the batches.
const READ_CHUNK: usize = 64 << 10;
/// The same for bodies that never use batches (non-framed, huge frames).
const READ_CHUNK_LARGE: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Gathering and parsing the header.
    Header,
    /// The keyring is authenticating the header.
    Keys,
    /// Regular frames, in batches.
    Batches,
    /// The rest, through the decryptor.
    Tail,
    /// The whole message verified.
    Done,
}

/// Verified plaintext ready to be taken.
enum Output {
    None,
    Batch(Batch, usize),
    Plain(Zeroizing<Vec<u8>>, usize),
}

/// What the batches of regular frames need.
struct Batches {
    job: Arc<Open>,
    frame_length: u32,
    batch_sealed: usize,
    next_seq: u32,
    chain: HashChain,
    /// Body bytes that went into batches.
    consumed: u64,
    /// No more batches: the last one was split off.
    ended: bool,
}

pub(super) struct Opener {
    runtime: Handle,
    token: Token,
    keyring: Arc<dyn Keyring>,
    opts: DecryptOptions,
    phase: Phase,
    /// The header's bytes while it is gathered.
    head: Vec<u8>,
    header_len: usize,
    parsed: Option<Header>,
    keys: Ordered<Result<DecryptSetup>>,
    dec: Option<Decryptor<'static>>,
    header: Option<Header>,
    signed: bool,
    batches: Option<Batches>,
    fill: Option<Batch>,
    filled: usize,
    /// Batches to reuse: at most as many as were ever in use at once.
    free: Vec<Batch>,
    jobs: Ordered<Batch>,
    /// Message bytes for the decryptor.
    tail: Vec<u8>,
    /// Where the header and the tail are read to (zeroed once, reused).
    rbuf: Vec<u8>,
    feeding: Ordered<(Decryptor<'static>, Zeroizing<Vec<u8>>, Result<()>)>,
    out: Output,
    eof: bool,
    failure: Failure,
    pub bytes_out: u64,
}

impl Opener {
    pub fn new(keyring: Arc<dyn Keyring>, opts: DecryptOptions) -> Result<Self> {
        let runtime = current_runtime()?;
        let token = Token::default();
        Ok(Opener {
            keys: Ordered::new(runtime.clone(), token.clone(), 1),
            jobs: Ordered::new(runtime.clone(), token.clone(), 1),
            feeding: Ordered::new(runtime.clone(), token.clone(), 1),
            runtime,
            token,
            keyring,
            opts,
            phase: Phase::Header,
            head: Vec::new(),
            header_len: 0,
            parsed: None,
            dec: None,
            header: None,
            signed: false,
            batches: None,
            fill: None,
            filled: 0,
            free: Vec::new(),
            tail: Vec::new(),
            rbuf: Vec::new(),
            out: Output::None,
            eof: false,
            failure: Failure::default(),
            bytes_out: 0,
        })
    }

    /// The authenticated header, once the keyring has opened it.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    pub fn probe(&self) -> TaskProbe {
        self.token.probe()
    }

    /// Message bytes consumed so far (all of them once the message is done).
    pub fn bytes_in(&self) -> u64 {
        match &self.dec {
            Some(d) => d.bytes_consumed(),
            None => 0,
        }
    }

    /// The verified plaintext ready to be taken.
    pub fn output(&self) -> &[u8] {
        match &self.out {
            Output::None => &[],
            Output::Batch(b, pos) => match &self.batches {
                Some(bs) => &bs.job.written(b)[*pos..],
                None => &[],
            },
            Output::Plain(v, pos) => &v[*pos..],
        }
    }

    /// Records that `n` bytes of [`Opener::output`] were taken.
    pub fn consume(&mut self, n: usize) {
        self.bytes_out += n as u64;
        match &mut self.out {
            Output::None => {}
            Output::Batch(_, pos) | Output::Plain(_, pos) => *pos += n,
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

    /// Reads and authenticates the header: `Ready(Ok(()))` once
    /// [`Opener::header`] is there; no plaintext is released before.
    pub fn poll_header<R: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
    ) -> Poll<Result<()>> {
        while matches!(self.phase, Phase::Header | Phase::Keys) {
            if let Err(e) = ready!(self.poll_step(cx, reader)) {
                return Poll::Ready(Err(e));
            }
        }
        self.failure.check()?;
        Poll::Ready(Ok(()))
    }

    /// Makes verified plaintext ready: `Ready(Ok(true))` when
    /// [`Opener::output`] has bytes, `Ready(Ok(false))` at the verified end
    /// of the message.
    pub fn poll_fill<R: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
    ) -> Poll<Result<bool>> {
        loop {
            self.failure.check()?;
            if !self.output().is_empty() {
                return Poll::Ready(Ok(true));
            }
            if self.phase == Phase::Done {
                return Poll::Ready(Ok(false));
            }
            if let Err(e) = ready!(self.poll_step(cx, reader)) {
                return Poll::Ready(Err(e));
            }
        }
    }

    /// One step of the state machine; `Ready(Ok(()))` means "look again".
    fn poll_step<R: AsyncRead + Unpin>(&mut self, cx: &mut Context<'_>, reader: &mut R) -> Poll<Result<()>> {
        self.recycle();
        let r = match self.phase {
            Phase::Header => self.poll_header_bytes(cx, reader),
            Phase::Keys => self.poll_keys(cx),
            Phase::Batches => self.poll_batches(cx, reader),
            Phase::Tail => self.poll_tail(cx, reader),
            Phase::Done => Poll::Ready(Ok(false)),
        };
        match ready!(r) {
            Ok(_) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(self.failure.set(e))),
        }
    }

    /// Reads up to `max` bytes into `rbuf`; `Ok(0)` at the end of the input.
    fn poll_read_chunk<R: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        max: usize,
    ) -> Poll<Result<usize>> {
        if self.rbuf.len() < max {
            self.rbuf.resize(max, 0);
        }
        Self::poll_read_into(cx, reader, &mut self.rbuf[..max])
    }

    /// Reads into `buf`; `Ok(0)` at the end of the input.
    fn poll_read_into<R: AsyncRead + Unpin>(
        cx: &mut Context<'_>,
        reader: &mut R,
        buf: &mut [u8],
    ) -> Poll<Result<usize>> {
        let mut rb = ReadBuf::new(buf);
        ready!(Pin::new(reader).poll_read(cx, &mut rb))?;
        Poll::Ready(Ok(rb.filled().len()))
    }

    fn poll_header_bytes<R: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
    ) -> Poll<Result<bool>> {
        let limits = Limits {
            max_encrypted_data_keys: self.opts.max_encrypted_data_keys,
            ..self.opts.limits
        };
        match header::parse(&self.head, &limits)? {
            Parsed::Done(h, n) => {
                crate::stream::setup::check_header_policy(&h, &self.opts)?;
                self.header_len = n;
                let keyring = Arc::clone(&self.keyring);
                let opts = self.opts.clone();
                let header = h.clone();
                self.parsed = Some(h);
                self.keys.push(move || prepare_decrypt(&*keyring, &header, &opts));
                self.phase = Phase::Keys;
                return Poll::Ready(Ok(true));
            }
            Parsed::Incomplete(_) => {}
        }
        if self.eof {
            return Poll::Ready(Err(Error::Truncated(Part::Header)));
        }
        let n = ready!(self.poll_read_chunk(cx, reader, READ_CHUNK))?;
        self.head.extend_from_slice(&self.rbuf[..n]);
        self.eof = n == 0;
        Poll::Ready(Ok(true))
    }

    fn poll_keys(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool>> {
        let setup = match ready!(self.keys.poll_front(cx)) {
            Some(r) => r??,
            None => return Poll::Ready(Err(Error::Unreachable("no key task"))),
        };
        let header = self
            .parsed
            .take()
            .ok_or(Error::Unreachable("the header went missing"))?;
        self.signed = setup.public_point.is_some();
        let frame_len = header.frame_length as usize;
        let framed = header.content_type == ContentType::Framed;
        self.header = Some(header.clone());
        let mut dec = Decryptor::authenticated(header, self.header_len, setup, self.opts.clone());
        let body = self.head.split_off(self.header_len);
        self.head = Vec::new();
        let (frames, depth) = batch_frames(frame_len);
        let hand_over = if framed && depth > 1 {
            dec.hand_over()
        } else {
            None
        };
        match hand_over {
            Some(h) => {
                self.jobs = Ordered::new(self.runtime.clone(), self.token.clone(), depth);
                self.batches = Some(Batches {
                    job: Arc::new(Open {
                        cipher: Arc::clone(h.cipher),
                        frame_len,
                    }),
                    frame_length: h.frame_length,
                    batch_sealed: frames * sealed_frame_len(false, frame_len),
                    next_seq: h.next_seq,
                    chain: HashChain::new(h.hasher),
                    consumed: 0,
                    ended: false,
                });
                let mut b = Batch::new(0, 0);
                b.sealed = body;
                self.filled = b.sealed.len();
                self.fill = Some(b);
                self.phase = Phase::Batches;
            }
            None => {
                self.tail = body;
                self.phase = Phase::Tail;
            }
        }
        self.dec = Some(dec);
        Poll::Ready(Ok(true))
    }

    fn poll_batches<R: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
    ) -> Poll<Result<bool>> {
        // Results first, in order.
        let front = self.jobs.poll_front(cx);
        if let Poll::Ready(Some(r)) = front {
            let mut b = r?;
            if let Some(e) = b.error.take() {
                return Poll::Ready(Err(e));
            }
            self.out = Output::Batch(b, 0);
            return Poll::Ready(Ok(true));
        }
        let Some(bs) = self.batches.as_mut() else {
            return Poll::Ready(Err(Error::Unreachable("batches without their state")));
        };
        if bs.ended {
            if !self.jobs.is_empty() {
                return Poll::Pending;
            }
            // Every batch is out: the decryptor takes the body back.
            let hasher = bs.chain.take()?;
            let dec = self
                .dec
                .as_mut()
                .ok_or(Error::Unreachable("the decryptor is away"))?;
            dec.take_back(bs.next_seq, hasher, bs.consumed);
            self.phase = Phase::Tail;
            return Poll::Ready(Ok(true));
        }
        let cap = bs.batch_sealed;
        if !self.eof && self.filled < cap {
            let fill = self
                .fill
                .get_or_insert_with(|| self.free.pop().unwrap_or_else(|| Batch::new(0, 0)));
            if fill.sealed.len() <= self.filled {
                let want = (2 * self.filled).clamp(READ_CHUNK, cap);
                fill.sealed.resize(want.max(self.filled + 1), 0);
            }
            let end = fill.sealed.len().min(cap);
            match Self::poll_read_into(cx, reader, &mut fill.sealed[self.filled..end]) {
                Poll::Ready(Ok(0)) => {
                    self.eof = true;
                    return Poll::Ready(Ok(true));
                }
                Poll::Ready(Ok(n)) => {
                    self.filled += n;
                    return Poll::Ready(Ok(true));
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    // The input is slow: open what is here if nothing else is going on.
                    if self.jobs.is_empty() && self.split_fill()? {
                        return Poll::Ready(Ok(true));
                    }
                    return Poll::Pending;
                }
            }
        }
        // A full batch, or the end of the input.
        if !self.jobs.has_room() {
            return Poll::Pending;
        }
        self.split_fill()?;
        Poll::Ready(Ok(true))
    }

    /// Splits the batch being filled into whole regular frames (handed to a
    /// task) and the rest (carried to the next batch, or to the decryptor
    /// when the regular frames end). `false` if nothing moved.
    fn split_fill(&mut self) -> Result<bool> {
        let Some(bs) = self.batches.as_mut() else {
            return Err(Error::Unreachable("batches without their state"));
        };
        let Some(mut b) = self.fill.take() else {
            return Ok(false);
        };
        let filled = self.filled;
        b.first_seq = bs.next_seq;
        b.error = None;
        let split = split_frames(&b.sealed[..filled], bs.frame_length, &mut bs.next_seq);
        b.frames = split.frames;
        let rest = split.len..filled;
        match split.end {
            SplitEnd::Error(e) => {
                b.error = Some(e);
                bs.ended = true;
            }
            SplitEnd::Final => {
                self.tail = b.sealed[rest].to_vec();
                bs.ended = true;
            }
            SplitEnd::More if self.eof => {
                self.tail = b.sealed[rest].to_vec();
                bs.ended = true;
            }
            SplitEnd::More if split.frames == 0 => {
                self.fill = Some(b);
                return Ok(false);
            }
            SplitEnd::More => {
                let mut carry = self.free.pop().unwrap_or_else(|| Batch::new(0, 0));
                let n = rest.len();
                if carry.sealed.len() < n.max(READ_CHUNK) {
                    carry.sealed.resize(n.max(READ_CHUNK).min(bs.batch_sealed), 0);
                }
                carry.sealed[..n].copy_from_slice(&b.sealed[rest]);
                self.fill = Some(carry);
                self.filled = n;
            }
        }
        if bs.ended {
            self.filled = 0;
        }
        bs.consumed += split.len as u64;
        if b.frames == 0 && b.error.is_none() {
            self.free.push(b);
            return Ok(true);
        }
        let frame_len = bs.job.frame_len;
        grow_secret(&mut b.plain, b.frames * frame_len);
        let job = Arc::clone(&bs.job);
        let inline = !self.signed
            && b.frames * frame_len <= INLINE_LIMIT
            && self.jobs.is_empty()
            && matches!(self.out, Output::None);
        if inline {
            // One small batch with nothing ahead of it: opened here.
            if b.error.is_none() {
                job.process(&mut b)?;
            }
            if let Some(e) = b.error.take() {
                return Err(e);
            }
            self.out = Output::Batch(b, 0);
            return Ok(true);
        }
        let link = bs.chain.link();
        self.jobs.push(move || {
            if b.error.is_none() {
                if let Err(e) = job.process(&mut b) {
                    b.error = Some(e);
                }
            }
            if let Some(link) = link {
                link.hash(b.error.is_some(), job.signed(&b));
            }
            b
        });
        Ok(true)
    }

    fn poll_tail<R: AsyncRead + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
    ) -> Poll<Result<bool>> {
        if let Some(r) = ready!(self.feeding.poll_front(cx)) {
            let (dec, out, result) = r?;
            self.dec = Some(dec);
            result?;
            if !out.is_empty() {
                self.out = Output::Plain(out, 0);
            }
            return Poll::Ready(Ok(true));
        }
        if !self.tail.is_empty() {
            let data = std::mem::take(&mut self.tail);
            self.feed(data)?;
            return Poll::Ready(Ok(true));
        }
        if self.eof {
            let dec = self
                .dec
                .as_mut()
                .ok_or(Error::Unreachable("the decryptor is away"))?;
            dec.finish()?;
            self.phase = Phase::Done;
            return Poll::Ready(Ok(true));
        }
        let chunk = if self.batches.is_some() {
            READ_CHUNK
        } else {
            READ_CHUNK_LARGE
        };
        // Gather up to a chunk before handing it on (one task per chunk,
        // not per read), but hand on what is there when the input is slow.
        let mut data = Vec::new();
        while data.len() < chunk {
            match self.poll_read_chunk(cx, reader, chunk - data.len()) {
                Poll::Ready(Ok(0)) => {
                    self.eof = true;
                    break;
                }
                Poll::Ready(Ok(n)) => data.extend_from_slice(&self.rbuf[..n]),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending if data.is_empty() => return Poll::Pending,
                Poll::Pending => break,
            }
        }
        self.tail = data;
        Poll::Ready(Ok(true))
    }

    /// Gives message bytes to the decryptor: here when that is at most two
    /// frames of 64 KiB without a signature, else on the blocking pool.
    fn feed(&mut self, data: Vec<u8>) -> Result<()> {
        let mut dec = self
            .dec
            .take()
            .ok_or(Error::Unreachable("the decryptor is away"))?;
        let small = self.header.as_ref().is_some_and(|h| {
            h.content_type == ContentType::Framed && h.frame_length as usize <= INLINE_LIMIT
        });
        if !self.signed && small && data.len() <= INLINE_LIMIT {
            let mut out = Zeroizing::new(Vec::new());
            let r = dec.update(&data, &mut out);
            self.dec = Some(dec);
            r?;
            if !out.is_empty() {
                self.out = Output::Plain(out, 0);
            }
            return Ok(());
        }
        self.feeding.push(move || {
            let mut out = Zeroizing::new(Vec::new());
            let r = dec.update(&data, &mut out);
            (dec, out, r)
        });
        Ok(())
    }
}
