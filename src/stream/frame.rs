//! Sealing and opening one frame: a pure function of the content key, the
//! message id, the sequence number and the bytes.
//!
//! Nothing here depends on the frames before or after, so frames can be
//! sealed and opened on several threads at once; [`FrameCipher`] is `Sync`.

use crate::crypto::aead::AesGcm;
use crate::error::{Error, Part, Result};
use crate::format::body::{body_aad, frame_iv, BlockKind, FrameHeader};
use crate::format::suite::{IV_LEN, TAG_LEN};

/// The per-message frame cipher.
#[derive(Debug)]
pub struct FrameCipher {
    key: AesGcm,
    message_id: Vec<u8>,
}

impl FrameCipher {
    /// Builds the cipher from the derived content key.
    pub fn new(content_key: &[u8], message_id: &[u8]) -> Result<Self> {
        Ok(FrameCipher {
            key: AesGcm::new(content_key)?,
            message_id: message_id.to_vec(),
        })
    }

    /// Appends one sealed frame (frame header, ciphertext, tag) to `out`.
    ///
    /// `plaintext` must be exactly the frame length for a regular frame and
    /// at most the frame length for the final frame; the caller ensures it.
    pub fn seal_frame(&self, seq: u32, is_final: bool, plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let content_len =
            u32::try_from(plaintext.len()).map_err(|_| Error::Config("frame longer than 2^32-1".into()))?;
        let fh = FrameHeader {
            seq,
            is_final,
            iv: frame_iv(seq),
            content_len,
        };
        fh.write(out);
        let start = out.len();
        out.resize(start + plaintext.len() + TAG_LEN, 0);
        let (ct, tag) = out[start..].split_at_mut(plaintext.len());
        let aad = body_aad(&self.message_id, fh.kind(), seq, plaintext.len() as u64);
        self.key.seal_to(&fh.iv, &aad, plaintext, ct, tag)
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
        let part = if kind == BlockKind::SingleBlock {
            Part::Body
        } else {
            Part::Frame(seq)
        };
        let ct_len = sealed.len().checked_sub(TAG_LEN).ok_or(Error::Truncated(part))?;
        let (ct, tag) = sealed.split_at(ct_len);
        let aad = body_aad(&self.message_id, kind, seq, ct_len as u64);
        let start = out.len();
        crate::crypto::reserve_wiping(out, ct_len);
        out.resize(start + ct_len, 0);
        if self.key.open_to(iv, &aad, ct, tag, &mut out[start..]) {
            Ok(())
        } else {
            // Wipe and drop whatever the failed open wrote: never released.
            zeroize::Zeroize::zeroize(&mut out[start..]);
            out.truncate(start);
            Err(Error::Authentication(part))
        }
    }

    /// The header tag: AES-GCM over empty plaintext with the header AAD.
    pub fn header_tag(&self, iv: &[u8; IV_LEN], aad: &[u8]) -> Result<[u8; TAG_LEN]> {
        self.key.seal(iv, aad, &mut [])
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
