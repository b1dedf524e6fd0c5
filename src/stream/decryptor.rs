//! The sans-I/O decryptor: message bytes in, verified plaintext out.
//!
//! Release rules, enforced here so that every adapter inherits them:
//! * a frame's plaintext is released only after its tag verifies;
//! * for signing suites, the final frame (or non-framed body) is held until
//!   the footer signature verifies;
//! * any byte after the end of the message is an error.

use std::sync::Arc;

use zeroize::{Zeroize, Zeroizing};

use super::content_cipher::ContentCipher;
use super::setup::prepare_decrypt;
use super::setup::DecryptSetup;
use super::DecryptOptions;
use crate::crypto::signature;
use crate::error::{ApiMisuse, Error, Part, Result};
use crate::format::body::{self, BlockKind, FrameHeader, NonFramedHeader};
use crate::format::header::{self, ContentType, Header};
use crate::format::Parsed;
use crate::keyring::Keyring;

#[derive(Debug, Clone, Copy)]
enum State {
    Header,
    FrameHeader,
    Frame(FrameHeader),
    NonFramedHeader,
    NonFramed(NonFramedHeader),
    Footer,
    Done,
    /// An error ended the message: nothing more is accepted.
    Failed,
}

/// What [`Decryptor::hand_over`] lends out for the body.
pub(super) struct BodyHandOver<'a> {
    pub cipher: &'a Arc<ContentCipher>,
    pub frame_length: u32,
    pub next_seq: u32,
    pub hasher: Option<signature::Hasher>,
}

/// Decrypts an ESDK message fed in pieces of any size.
pub struct Decryptor<'k> {
    /// `None` for a decryptor made after its header was authenticated elsewhere.
    keyring: Option<&'k dyn Keyring>,
    opts: DecryptOptions,
    state: State,
    header: Option<Header>,
    setup: Option<DecryptSetup>,
    /// Input not yet consumed (only when a piece ends mid-structure).
    buf: Vec<u8>,
    /// Bytes the current structure needs at least before a retry is useful.
    need: usize,
    next_seq: u32,
    /// Final-frame plaintext of a signed message, held until the signature verifies.
    held: Zeroizing<Vec<u8>>,
    consumed: u64,
}

impl std::fmt::Debug for Decryptor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decryptor")
            .field("state", &self.state)
            .field("consumed", &self.consumed)
            .finish_non_exhaustive()
    }
}

impl<'k> Decryptor<'k> {
    /// A decryptor that will ask `keyring` for the data key once the header is read.
    pub fn new(keyring: &'k dyn Keyring, opts: DecryptOptions) -> Self {
        Decryptor {
            keyring: Some(keyring),
            opts,
            state: State::Header,
            header: None,
            setup: None,
            buf: Vec::new(),
            need: 1,
            next_seq: 1,
            held: Zeroizing::new(Vec::new()),
            consumed: 0,
        }
    }

    /// A decryptor standing after a header that was parsed (from its first
    /// `header_len` bytes) and authenticated elsewhere, with the setup that
    /// authentication produced: the async adapters get the data key on a
    /// blocking thread and go on from here.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(super) fn authenticated(
        header: Header,
        header_len: usize,
        setup: DecryptSetup,
        opts: DecryptOptions,
    ) -> Decryptor<'static> {
        let state = match header.content_type {
            ContentType::Framed => State::FrameHeader,
            ContentType::NonFramed => State::NonFramedHeader,
        };
        Decryptor {
            keyring: None,
            opts,
            state,
            header: Some(header),
            setup: Some(setup),
            buf: Vec::new(),
            need: 1,
            next_seq: 1,
            held: Zeroizing::new(Vec::new()),
            consumed: header_len as u64,
        }
    }

    /// The header, once it has been parsed and authenticated.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Whether the whole message (footer included) has been read and verified.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// Total message bytes consumed so far.
    pub fn bytes_consumed(&self) -> u64 {
        self.consumed
    }

    /// Feeds message bytes, appending any plaintext that is now releasable to `out`.
    ///
    /// After an error the decryptor is spent: every later call fails with
    /// [`ApiMisuse::UsedAfterError`](crate::ApiMisuse::UsedAfterError), and
    /// the plaintext it held is wiped, so that no input after a refusal is
    /// parsed, authenticated or released.
    pub fn update(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if matches!(self.state, State::Failed) {
            return Err(ApiMisuse::UsedAfterError.into());
        }
        let r = self.update_inner(input, out);
        if r.is_err() {
            self.fail();
        }
        r
    }

    /// Ends the message after an error: nothing buffered or held survives.
    fn fail(&mut self) {
        self.state = State::Failed;
        self.buf.zeroize();
        self.held.zeroize();
    }

    fn update_inner(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if input.is_empty() {
            return Ok(());
        }
        if matches!(self.state, State::Done) {
            return Err(Error::TrailingData);
        }
        if self.buf.is_empty() {
            // Fast path: work straight from the caller's bytes, keep the rest.
            let n = self.process(input, out)?;
            self.keep(&input[n..]);
        } else {
            self.keep(input);
            if self.buf.len() >= self.need {
                let buf = std::mem::take(&mut self.buf);
                let r = self.process(&buf, out);
                self.buf = buf;
                let n = r?;
                self.buf.drain(..n);
            }
        }
        if matches!(self.state, State::Done) && !self.buf.is_empty() {
            return Err(Error::TrailingData);
        }
        Ok(())
    }

    /// Buffers `more` input for the structure in progress. The buffer grows
    /// by doubling, as a `Vec` does, but while a body block (a frame or a
    /// non-framed body) is arriving never past what that block needs (`need`,
    /// its whole sealed length, known from its header): plain doubling would
    /// let a frame of F bytes, valid or forged, hold up to 2F of buffer besides
    /// its F of plaintext. Doubling (rather than reserving the declared length
    /// at once) keeps memory in step with the bytes actually received,
    /// whatever a hostile length field says. Elsewhere (the header, the
    /// footer) `need` is only the next field's end, a few bytes on, so the cap
    /// would make every small piece a reallocation: there it is plain doubling.
    fn keep(&mut self, more: &[u8]) {
        let len = self.buf.len() + more.len();
        if len > self.buf.capacity() {
            let doubled = self.buf.capacity().saturating_mul(2).max(len);
            let block = matches!(self.state, State::Frame(_) | State::NonFramed(_));
            let target = if block {
                doubled.min(self.need.max(len))
            } else {
                doubled
            };
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(more);
    }

    /// Signals the end of input: fails unless the message was complete.
    pub fn finish(&mut self) -> Result<()> {
        let part = match self.state {
            State::Done if self.buf.is_empty() => return Ok(()),
            State::Done => return Err(Error::TrailingData),
            State::Failed => return Err(ApiMisuse::UsedAfterError.into()),
            State::Header => Part::Header,
            State::FrameHeader => Part::Frame(self.next_seq),
            State::Frame(fh) => Part::Frame(fh.seq),
            State::NonFramedHeader | State::NonFramed(_) => Part::Body,
            State::Footer => Part::Footer,
        };
        Err(Error::Truncated(part))
    }

    fn hash(&mut self, bytes: &[u8]) {
        if let Some(h) = self.setup.as_mut().and_then(|s| s.hasher.as_mut()) {
            h.update(bytes);
        }
    }

    /// Parses and authenticates the header from the start of `data` alone
    /// (nothing is buffered): `Some(header length)`, or `None` if `data`
    /// holds only part of the header. Used to hand the body to another
    /// reader (the parallel pipeline) that needs to know where it begins.
    pub(super) fn read_header(&mut self, data: &[u8]) -> Result<Option<usize>> {
        if !matches!(self.state, State::Header) || !self.buf.is_empty() {
            return Err(Error::Unreachable("read_header after the header"));
        }
        let n = self.step_header(data)?;
        if let Some(n) = n {
            self.consumed += n as u64;
        }
        Ok(n)
    }

    /// Hands the framed body over to a caller that opens whole regular frames
    /// itself (the parallel pipeline): the content cipher, the frame length, the
    /// next sequence number and the signature hash, which the caller feeds
    /// every byte it consumes. `None` unless the decryptor stands at a frame
    /// boundary of a framed body with nothing buffered.
    pub(super) fn hand_over(&mut self) -> Option<BodyHandOver<'_>> {
        if !matches!(self.state, State::FrameHeader) || !self.buf.is_empty() {
            return None;
        }
        let frame_length = self.frame_length();
        let setup = self.setup.as_mut()?;
        let hasher = setup.hasher.take();
        Some(BodyHandOver {
            cipher: &setup.cipher,
            frame_length,
            next_seq: self.next_seq,
            hasher,
        })
    }

    /// Takes the body back after [`Decryptor::hand_over`]: the caller
    /// consumed `consumed` bytes of whole regular frames, ending before frame
    /// `next_seq`, and hashed them.
    pub(super) fn take_back(&mut self, next_seq: u32, hasher: Option<signature::Hasher>, consumed: u64) {
        self.next_seq = next_seq;
        self.consumed += consumed;
        if let Some(setup) = self.setup.as_mut() {
            setup.hasher = hasher;
        }
    }

    /// Consumes as much of `data` as forms complete structures; returns how much.
    fn process(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<usize> {
        let mut pos = 0;
        loop {
            let rest = &data[pos..];
            let step = match self.state {
                State::Done => {
                    if rest.is_empty() {
                        break;
                    }
                    return Err(Error::TrailingData);
                }
                State::Header => self.step_header(rest)?,
                State::FrameHeader => self.step_frame_header(rest)?,
                State::Frame(fh) => self.step_frame(fh, rest, out)?,
                State::NonFramedHeader => self.step_non_framed_header(rest)?,
                State::NonFramed(nh) => self.step_non_framed(nh, rest, out)?,
                State::Footer => self.step_footer(rest, out)?,
                State::Failed => return Err(ApiMisuse::UsedAfterError.into()),
            };
            match step {
                Some(n) => {
                    pos += n;
                    self.consumed += n as u64;
                }
                None => break,
            }
        }
        Ok(pos)
    }

    /// Records how many bytes a structure needs; `None` means wait for more.
    fn wait(&mut self, have: usize, more: usize) -> Option<usize> {
        self.need = have + more;
        None
    }

    fn step_header(&mut self, rest: &[u8]) -> Result<Option<usize>> {
        let limits = crate::format::Limits {
            max_encrypted_data_keys: self.opts.max_encrypted_data_keys,
            ..self.opts.limits
        };
        match header::parse(rest, &limits)? {
            Parsed::Incomplete(more) => Ok(self.wait(rest.len(), more)),
            Parsed::Done(h, n) => {
                let keyring = self
                    .keyring
                    .ok_or(Error::Unreachable("a header after the header"))?;
                let setup = prepare_decrypt(keyring, &h, &self.opts)?;
                self.state = match h.content_type {
                    ContentType::Framed => State::FrameHeader,
                    ContentType::NonFramed => State::NonFramedHeader,
                };
                self.setup = Some(setup);
                self.header = Some(h);
                Ok(Some(n))
            }
        }
    }

    fn frame_length(&self) -> u32 {
        self.header.as_ref().map_or(0, |h| h.frame_length)
    }

    fn is_signed(&self) -> bool {
        self.setup.as_ref().is_some_and(|s| s.public_point.is_some())
    }

    fn step_frame_header(&mut self, rest: &[u8]) -> Result<Option<usize>> {
        match body::parse_frame_header(rest, self.frame_length())? {
            Parsed::Incomplete(more) => Ok(self.wait(rest.len(), more)),
            Parsed::Done(fh, n) => {
                if fh.seq != self.next_seq {
                    return Err(Error::malformed(
                        Part::Frame(fh.seq),
                        format!("out of order: expected frame {}", self.next_seq),
                    ));
                }
                self.hash(&rest[..n]);
                self.state = State::Frame(fh);
                Ok(Some(n))
            }
        }
    }

    fn step_frame(&mut self, fh: FrameHeader, rest: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>> {
        let n = fh.sealed_len();
        if rest.len() < n {
            return Ok(self.wait(rest.len(), n - rest.len()));
        }
        let sealed = &rest[..n];
        let hold = fh.is_final && self.is_signed();
        let setup = self
            .setup
            .as_ref()
            .ok_or(Error::Unreachable("decryptor has no keys"))?;
        if hold {
            setup
                .cipher
                .open_block(fh.kind(), fh.seq, &fh.iv, sealed, &mut self.held)?;
        } else {
            setup.cipher.open_block(fh.kind(), fh.seq, &fh.iv, sealed, out)?;
        }
        self.hash(sealed);
        self.state = if !fh.is_final {
            self.next_seq = fh
                .seq
                .checked_add(1)
                .ok_or_else(|| Error::malformed(Part::Frame(fh.seq), "sequence number overflow"))?;
            State::FrameHeader
        } else if self.is_signed() {
            State::Footer
        } else {
            State::Done
        };
        self.need = 1;
        Ok(Some(n))
    }

    fn step_non_framed_header(&mut self, rest: &[u8]) -> Result<Option<usize>> {
        match body::parse_non_framed_header(rest, self.opts.limits.max_body_length)? {
            Parsed::Incomplete(more) => Ok(self.wait(rest.len(), more)),
            Parsed::Done(nh, n) => {
                self.hash(&rest[..n]);
                self.state = State::NonFramed(nh);
                Ok(Some(n))
            }
        }
    }

    fn step_non_framed(
        &mut self,
        nh: NonFramedHeader,
        rest: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<Option<usize>> {
        // The header parse bounds the length by the caller's limit, which is
        // a u64: on a 32-bit target a limit over 4 GiB must not wrap here.
        let n = usize::try_from(nh.content_len)
            .ok()
            .and_then(|len| len.checked_add(crate::suite::TAG_LEN))
            .ok_or_else(|| {
                Error::Limit(format!(
                    "a non-framed body of {} bytes does not fit in this machine's memory",
                    nh.content_len
                ))
            })?;
        if rest.len() < n {
            return Ok(self.wait(rest.len(), n - rest.len()));
        }
        let sealed = &rest[..n];
        let signed = self.is_signed();
        let setup = self
            .setup
            .as_ref()
            .ok_or(Error::Unreachable("decryptor has no keys"))?;
        let target: &mut Vec<u8> = if signed { &mut self.held } else { out };
        setup
            .cipher
            .open_block(BlockKind::SingleBlock, 1, &nh.iv, sealed, target)?;
        self.hash(sealed);
        self.state = if signed { State::Footer } else { State::Done };
        self.need = 1;
        Ok(Some(n))
    }

    fn step_footer(&mut self, rest: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>> {
        match body::parse_footer(rest)? {
            Parsed::Incomplete(more) => Ok(self.wait(rest.len(), more)),
            Parsed::Done(sig, n) => {
                let suite = self.header.as_ref().and_then(|h| h.suite.signature);
                let setup = self.setup.as_mut();
                let verifier = setup.and_then(|s| Some((s.hasher.take()?, s.public_point.take()?)));
                match (suite, verifier) {
                    (Some(alg), Some((hasher, point))) => signature::verify(alg, &point, hasher, &sig)?,
                    _ => return Err(Error::Unreachable("footer without a signature setup")),
                }
                crate::crypto::reserve_wiping(out, self.held.len());
                out.extend_from_slice(&self.held);
                self.held = Zeroizing::new(Vec::new());
                self.state = State::Done;
                Ok(Some(n))
            }
        }
    }
}
