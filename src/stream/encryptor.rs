//! The sans-I/O encryptor: plaintext in, message bytes out.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::content_cipher::ContentCipher;
use super::setup::{prepare_encrypt, EncryptSetup};
use super::EncryptOptions;
use crate::crypto::signature::{Hasher, Signer};
use crate::error::{ApiMisuse, Error, Result};
use crate::format::body::write_footer;
use crate::format::header::Header;
use crate::keyring::Keyring;

/// Turns plaintext into an ESDK message incrementally.
///
/// Memory is bounded by one frame of buffered plaintext. A regular frame is
/// written as soon as a full frame of plaintext is available, so when the
/// plaintext is an exact multiple of the frame length the message ends with
/// an empty final frame: no read-ahead is needed, and every ESDK (including
/// Python 3.x, which rejects a full final frame) reads the result.
pub struct Encryptor {
    cipher: Arc<ContentCipher>,
    header: Header,
    frame_len: usize,
    next_seq: u32,
    pending: Zeroizing<Vec<u8>>,
    signer: Option<Arc<Signer>>,
    /// The length the caller declared, and the plaintext taken so far.
    declared: Option<u64>,
    taken: u64,
    /// The signature hash of everything written so far (signing suites only).
    hasher: Option<Hasher>,
    header_written: bool,
    finished: bool,
}

impl std::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryptor")
            .field("suite", &self.header.suite.name)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl Encryptor {
    /// Gets materials from `keyring` and prepares the header.
    pub fn new(keyring: &dyn Keyring, opts: &EncryptOptions) -> Result<Self> {
        Ok(Self::from_setup(prepare_encrypt(keyring, opts)?))
    }

    pub(super) fn from_setup(setup: EncryptSetup) -> Self {
        let (signer, hasher) = match setup.signer {
            Some((s, h)) => (Some(s), Some(h)),
            None => (None, None),
        };
        Encryptor {
            frame_len: setup.header.frame_length as usize,
            cipher: setup.cipher,
            header: setup.header,
            next_seq: 1,
            pending: Zeroizing::new(Vec::new()),
            signer,
            declared: setup.plaintext_length,
            taken: 0,
            hasher,
            header_written: false,
            finished: false,
        }
    }

    /// The message header (also useful for metadata before any output).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The content cipher, for callers that seal frames themselves (the
    /// parallel pipeline, the async adapters' blocking tasks).
    pub(super) fn cipher(&self) -> &Arc<ContentCipher> {
        &self.cipher
    }

    /// Whether nothing has been written yet (not even the header).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(super) fn is_unused(&self) -> bool {
        !self.header_written && !self.finished
    }

    /// Whether the message will end with a signature footer.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(super) fn is_signed(&self) -> bool {
        self.signer.is_some()
    }

    fn write_header(&mut self, out: &mut Vec<u8>) {
        if !self.header_written {
            let start = out.len();
            out.extend_from_slice(&self.header.raw_body);
            self.header.write_auth(out);
            self.hash(&out[start..]);
            self.header_written = true;
        }
    }

    fn hash(&mut self, bytes: &[u8]) {
        if let Some(h) = &mut self.hasher {
            h.update(bytes);
        }
    }

    /// The frame length in bytes.
    pub(super) fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Hands the body over to a caller that seals whole frames itself (the
    /// parallel pipeline): writes the header if not yet written, and returns
    /// the next sequence number and the signature hash, which the caller
    /// feeds every frame it writes. `None` if plaintext is buffered, since
    /// the caller's frames would then come out of order.
    pub(super) fn hand_over(&mut self, out: &mut Vec<u8>) -> Option<(u32, Option<Hasher>)> {
        if self.finished || !self.pending.is_empty() {
            return None;
        }
        self.write_header(out);
        Some((self.next_seq, self.hasher.take()))
    }

    /// Takes the body back after [`Encryptor::hand_over`]: the next sequence
    /// number and the hash of everything written in between.
    /// `sealed` is the plaintext the caller sealed meanwhile.
    pub(super) fn take_back(&mut self, next_seq: u32, hasher: Option<Hasher>, sealed: u64) -> Result<()> {
        self.next_seq = next_seq;
        self.hasher = hasher;
        self.take(sealed)
    }

    /// Counts plaintext against the declared length, if any: a cached data
    /// key's byte budget was charged with that length.
    fn take(&mut self, n: u64) -> Result<()> {
        self.taken = self.taken.saturating_add(n);
        match self.declared {
            Some(d) if self.taken > d => Err(Error::Config(format!(
                "the plaintext is longer than its declared length of {d} bytes"
            ))),
            _ => Ok(()),
        }
    }

    fn seal_regular(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        // 0xFFFFFFFF marks the final frame, so no regular frame may carry it.
        let seq = self.next_seq;
        if seq == u32::MAX {
            return Err(Error::Limit("a message holds at most 2^32-1 frames".into()));
        }
        self.next_seq = seq + 1;
        let start = out.len();
        self.cipher.seal_frame(seq, false, plaintext, out)?;
        self.hash(&out[start..]);
        Ok(())
    }

    /// Encrypts more plaintext, appending whatever message bytes are ready.
    /// The first call also writes the header.
    pub fn update(&mut self, mut plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.finished {
            return Err(ApiMisuse::UpdateAfterFinish.into());
        }
        self.take(plaintext.len() as u64)?;
        self.write_header(out);
        if !self.pending.is_empty() {
            let want = self.frame_len - self.pending.len();
            let n = want.min(plaintext.len());
            crate::crypto::reserve_wiping(&mut self.pending, n);
            self.pending.extend_from_slice(&plaintext[..n]);
            plaintext = &plaintext[n..];
            if self.pending.len() == self.frame_len {
                let frame = std::mem::take(&mut *self.pending);
                let frame = Zeroizing::new(frame);
                self.seal_regular(&frame, out)?;
            }
        }
        while plaintext.len() >= self.frame_len {
            let (frame, rest) = plaintext.split_at(self.frame_len);
            self.seal_regular(frame, out)?;
            plaintext = rest;
        }
        crate::crypto::reserve_wiping(&mut self.pending, plaintext.len());
        self.pending.extend_from_slice(plaintext);
        Ok(())
    }

    /// Writes the final frame (the buffered remainder, possibly empty) and,
    /// for signing suites, the footer.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        if self.finished {
            return Err(ApiMisuse::FinishTwice.into());
        }
        self.write_header(out);
        self.finished = true;
        let seq = self.next_seq;
        let last = std::mem::take(&mut *self.pending);
        let last = Zeroizing::new(last);
        let start = out.len();
        self.cipher.seal_frame(seq, true, &last, out)?;
        self.hash(&out[start..]);
        if let Some(signer) = self.signer.take() {
            let h = self
                .hasher
                .take()
                .ok_or(Error::Unreachable("the signature hash was not handed back"))?;
            let sig = signer.sign(h)?;
            write_footer(out, &sig)?;
        }
        Ok(())
    }

    /// For the structure-aware fuzz target ([`crate::internal::Forger`]):
    /// seals `content` as a frame with any sequence number and kind, where
    /// [`Encryptor::update`] only ever writes the next one. The frame is
    /// hashed for the signature like any other.
    pub(crate) fn forge_frame(
        &mut self,
        seq: u32,
        is_final: bool,
        content: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        self.write_header(out);
        let start = out.len();
        self.cipher.seal_frame(seq, is_final, content, out)?;
        self.hash(&out[start..]);
        Ok(())
    }

    /// For [`crate::internal::Forger`]: appends raw bytes to the signed part
    /// of the message.
    pub(crate) fn forge_bytes(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.write_header(out);
        out.extend_from_slice(bytes);
        self.hash(bytes);
    }

    /// For [`crate::internal::Forger`]: ends the message with the signature
    /// over everything written so far (signing suites; nothing otherwise).
    pub(crate) fn forge_footer(mut self, out: &mut Vec<u8>) -> Result<()> {
        self.write_header(out);
        if let (Some(signer), Some(h)) = (self.signer.take(), self.hasher.take()) {
            write_footer(out, &signer.sign(h)?)?;
        }
        Ok(())
    }
}
