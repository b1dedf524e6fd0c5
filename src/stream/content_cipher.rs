//! AES-GCM under one message's content key: the header tag, and sealing and
//! opening each body block (frame or non-framed body), a pure function of the
//! content key, the message id, the sequence number and the bytes.
//!
//! Nothing here depends on the frames before or after, so frames can be
//! sealed and opened on several threads at once; [`ContentCipher`] is `Sync`.
//! Nothing here allocates per frame either: the body AAD is built on the
//! stack from a per-message template.

use crate::crypto::aead::AesGcm;
use crate::error::{Error, Part, Result};
use crate::format::body::{
    body_aad, frame_iv, BlockKind, FrameHeader, FINAL_FRAME_HEADER_LEN, REGULAR_FRAME_HEADER_LEN,
};
use crate::suite::{IV_LEN, TAG_LEN};

/// The longest message id (format v2).
const MAX_MESSAGE_ID_LEN: usize = 32;
/// Room for the longest body AAD: message id, the longest content string
/// ("AWSKMSEncryptionClient Single Block", 35 bytes), seq u32 and length u64.
const MAX_AAD_LEN: usize = MAX_MESSAGE_ID_LEN + 35 + 12;

/// The body AAD of one block kind with the sequence number and length left
/// to fill in (they are its last 12 bytes).
#[derive(Debug, Clone, Copy)]
struct AadTemplate {
    buf: [u8; MAX_AAD_LEN],
    len: usize,
}

impl AadTemplate {
    fn new(message_id: &[u8], kind: BlockKind) -> Self {
        let aad = body_aad(message_id, kind, 0, 0);
        let mut buf = [0u8; MAX_AAD_LEN];
        buf[..aad.len()].copy_from_slice(&aad);
        AadTemplate { buf, len: aad.len() }
    }

    fn fill(&self, seq: u32, len: u64) -> ([u8; MAX_AAD_LEN], usize) {
        let mut buf = self.buf;
        let n = self.len;
        buf[n - 12..n - 8].copy_from_slice(&seq.to_be_bytes());
        buf[n - 8..n].copy_from_slice(&len.to_be_bytes());
        (buf, n)
    }
}

/// The per-message content cipher: makes and checks the header tag, seals and opens the body.
#[derive(Debug)]
pub struct ContentCipher {
    key: AesGcm,
    /// AAD templates for [`BlockKind::Frame`], `FinalFrame` and `SingleBlock`.
    aad: [AadTemplate; 3],
}

/// Bytes of a sealed frame holding `content_len` bytes: frame header, ciphertext, tag.
pub(crate) fn sealed_frame_len(is_final: bool, content_len: usize) -> usize {
    let header = if is_final {
        FINAL_FRAME_HEADER_LEN
    } else {
        REGULAR_FRAME_HEADER_LEN
    };
    header + content_len + TAG_LEN
}

impl ContentCipher {
    /// Builds the cipher from the derived content key. Message ids are 16
    /// bytes (format v1) or 32 (v2); longer ones are refused.
    pub fn new(content_key: &[u8], message_id: &[u8]) -> Result<Self> {
        if message_id.len() > MAX_MESSAGE_ID_LEN {
            return Err(Error::Unreachable("a message id longer than 32 bytes"));
        }
        Ok(ContentCipher {
            key: AesGcm::new(content_key)?,
            aad: [BlockKind::Frame, BlockKind::FinalFrame, BlockKind::SingleBlock]
                .map(|kind| AadTemplate::new(message_id, kind)),
        })
    }

    fn aad(&self, kind: BlockKind, seq: u32, len: u64) -> ([u8; MAX_AAD_LEN], usize) {
        let t = match kind {
            BlockKind::Frame => &self.aad[0],
            BlockKind::FinalFrame => &self.aad[1],
            BlockKind::SingleBlock => &self.aad[2],
        };
        t.fill(seq, len)
    }

    /// Appends one sealed frame (frame header, ciphertext, tag) to `out`.
    ///
    /// `plaintext` must be exactly the frame length for a regular frame and
    /// at most the frame length for the final frame; the caller ensures it.
    pub fn seal_frame(&self, seq: u32, is_final: bool, plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        out.resize(start + sealed_frame_len(is_final, plaintext.len()), 0);
        self.seal_frame_into(seq, is_final, plaintext, &mut out[start..])
    }

    /// Seals one frame into `out`, which is exactly
    /// [`sealed_frame_len`]`(is_final, plaintext.len())` bytes long.
    pub(crate) fn seal_frame_into(
        &self,
        seq: u32,
        is_final: bool,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        let content_len =
            u32::try_from(plaintext.len()).map_err(|_| Error::Unreachable("frame longer than 2^32-1"))?;
        if out.len() != sealed_frame_len(is_final, plaintext.len()) {
            return Err(Error::Unreachable("frame buffer of the wrong size"));
        }
        let fh = FrameHeader {
            seq,
            is_final,
            iv: frame_iv(seq),
            content_len,
        };
        let (header, header_len) = fh.encode();
        let (head, body) = out.split_at_mut(header_len);
        head.copy_from_slice(&header[..header_len]);
        let (ct, tag) = body.split_at_mut(plaintext.len());
        let (aad, n) = self.aad(fh.kind(), seq, plaintext.len() as u64);
        Ok(self.key.seal_to(&fh.iv, &aad[..n], plaintext, ct, tag)?)
    }

    /// Opens a block (frame or non-framed body) whose ciphertext and tag are
    /// `sealed`, appending the plaintext to `out` only if the tag verifies.
    pub fn open_block(
        &self,
        kind: BlockKind,
        seq: u32,
        iv: &[u8; IV_LEN],
        sealed: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let start = out.len();
        let len = sealed.len().saturating_sub(TAG_LEN);
        // Grow without leaving an unwiped copy of earlier plaintext behind.
        crate::crypto::reserve_wiping(out, len);
        out.resize(start + len, 0);
        let r = self.open_into(kind, seq, iv, sealed, &mut out[start..]);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }

    /// Opens a block into `out`, which is exactly the ciphertext's length.
    /// On failure `out` is wiped: unverified plaintext is never left behind.
    pub(crate) fn open_into(
        &self,
        kind: BlockKind,
        seq: u32,
        iv: &[u8; IV_LEN],
        sealed: &[u8],
        out: &mut [u8],
    ) -> Result<()> {
        let part = if kind == BlockKind::SingleBlock {
            Part::Body
        } else {
            Part::Frame(seq)
        };
        let ct_len = sealed.len().checked_sub(TAG_LEN).ok_or(Error::Truncated(part))?;
        if out.len() != ct_len {
            return Err(Error::Unreachable("plaintext buffer of the wrong size"));
        }
        let (ct, tag) = sealed.split_at(ct_len);
        let (aad, n) = self.aad(kind, seq, ct_len as u64);
        if self.key.open_to(iv, &aad[..n], ct, tag, out) {
            Ok(())
        } else {
            zeroize::Zeroize::zeroize(out);
            Err(Error::Authentication(part))
        }
    }

    /// The header tag: AES-GCM over empty plaintext with the header AAD.
    pub fn header_tag(&self, iv: &[u8; IV_LEN], aad: &[u8]) -> Result<[u8; TAG_LEN]> {
        Ok(self.key.seal(iv, aad, &mut [])?)
    }

    /// Verifies a header tag in constant time.
    pub fn verify_header_tag(&self, iv: &[u8; IV_LEN], aad: &[u8], tag: &[u8; TAG_LEN]) -> Result<()> {
        let mut sealed = *tag;
        self.key
            .open(iv, aad, &mut sealed)
            .map(|_| ())
            .ok_or(Error::Authentication(Part::HeaderAuth))
    }
}
