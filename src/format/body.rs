//! The message body (frames or one non-framed block) and the footer.
//!
//! Regular frame: `seq u32 ‖ IV[12] ‖ ciphertext[frameLength] ‖ tag[16]`.
//! Final frame:   `FFFFFFFF ‖ seq u32 ‖ IV[12] ‖ contentLen u32 ‖ ciphertext ‖ tag[16]`.
//! Non-framed:    `IV[12] ‖ contentLen u64 ‖ ciphertext ‖ tag[16]`.
//! Footer:        `sigLen u16 ‖ DER signature`.
//!
//! The parsers here read only the fixed prefix of a frame (its "frame header");
//! the caller then waits for `content_len + 16` bytes of ciphertext and tag.

use super::{finish, invalid, Cursor, Parsed};
use crate::error::{Error, Part, Result};
use crate::suite::{IV_LEN, TAG_LEN};

/// Marks a final frame in place of a sequence number.
pub const FINAL_FRAME_MARKER: u32 = u32::MAX;
/// Bytes before the ciphertext of a regular frame.
pub const REGULAR_FRAME_HEADER_LEN: usize = 4 + IV_LEN;
/// Bytes before the ciphertext of a final frame.
pub const FINAL_FRAME_HEADER_LEN: usize = 4 + 4 + IV_LEN + 4;

/// Which body AAD content string a block uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// A regular frame.
    Frame,
    /// The final frame.
    FinalFrame,
    /// A non-framed body.
    SingleBlock,
}

impl BlockKind {
    fn content_string(self) -> &'static [u8] {
        match self {
            BlockKind::Frame => b"AWSKMSEncryptionClient Frame",
            BlockKind::FinalFrame => b"AWSKMSEncryptionClient Final Frame",
            BlockKind::SingleBlock => b"AWSKMSEncryptionClient Single Block",
        }
    }
}

/// The body AAD: `messageId ‖ content string ‖ seq u32 ‖ length u64`.
pub fn body_aad(message_id: &[u8], kind: BlockKind, seq: u32, len: u64) -> Vec<u8> {
    let s = kind.content_string();
    let mut aad = Vec::with_capacity(message_id.len() + s.len() + 12);
    aad.extend_from_slice(message_id);
    aad.extend_from_slice(s);
    aad.extend_from_slice(&seq.to_be_bytes());
    aad.extend_from_slice(&len.to_be_bytes());
    aad
}

/// The deterministic frame IV envelope writes: 8 zero bytes ‖ seq u32.
pub fn frame_iv(seq: u32) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    iv[8..].copy_from_slice(&seq.to_be_bytes());
    iv
}

/// The fixed prefix of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Sequence number (1-based).
    pub seq: u32,
    /// Whether this is the final frame.
    pub is_final: bool,
    /// The IV as stored (readers use it; they do not recompute it).
    pub iv: [u8; IV_LEN],
    /// Ciphertext length: the frame length, or the final frame's contentLen.
    pub content_len: u32,
}

impl FrameHeader {
    /// The body-AAD kind of this frame.
    pub fn kind(&self) -> BlockKind {
        if self.is_final {
            BlockKind::FinalFrame
        } else {
            BlockKind::Frame
        }
    }

    /// Bytes of ciphertext and tag that follow this frame header.
    pub fn sealed_len(&self) -> usize {
        self.content_len as usize + TAG_LEN
    }

    /// Appends the frame header bytes.
    pub fn write(&self, out: &mut Vec<u8>) {
        let (buf, n) = self.encode();
        out.extend_from_slice(&buf[..n]);
    }

    /// The frame header bytes in a fixed buffer (no allocation) and their length.
    pub fn encode(&self) -> ([u8; FINAL_FRAME_HEADER_LEN], usize) {
        let mut buf = [0u8; FINAL_FRAME_HEADER_LEN];
        let mut n = 0;
        let mut put = |bytes: &[u8]| {
            buf[n..n + bytes.len()].copy_from_slice(bytes);
            n += bytes.len();
        };
        if self.is_final {
            put(&FINAL_FRAME_MARKER.to_be_bytes());
        }
        put(&self.seq.to_be_bytes());
        put(&self.iv);
        if self.is_final {
            put(&self.content_len.to_be_bytes());
        }
        (buf, n)
    }
}

/// Parses a frame header, given the header's frame length.
///
/// Rejects a final frame whose content length exceeds the frame length
/// before any content is read.
pub fn parse_frame_header(buf: &[u8], frame_length: u32) -> Result<Parsed<FrameHeader>> {
    let mut cur = Cursor::new(buf);
    let r = (|| {
        let first = cur.u32()?;
        let is_final = first == FINAL_FRAME_MARKER;
        let seq = if is_final { cur.u32()? } else { first };
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(cur.take(IV_LEN)?);
        let content_len = if is_final {
            let n = cur.u32()?;
            if n > frame_length {
                return Err(invalid(
                    Part::Frame(seq),
                    format!("final frame length {n} exceeds the frame length {frame_length}"),
                ));
            }
            n
        } else {
            frame_length
        };
        Ok(FrameHeader {
            seq,
            is_final,
            iv,
            content_len,
        })
    })();
    finish(r, &cur)
}

/// The prefix of a non-framed body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonFramedHeader {
    /// The body's IV.
    pub iv: [u8; IV_LEN],
    /// Ciphertext length.
    pub content_len: u64,
}

/// Parses the prefix of a non-framed body, rejecting lengths over `max_len`
/// before anything is read or allocated: over the AES-GCM bound the message
/// is invalid ([`Error::Limit`]), under it only too long for the caller
/// ([`Error::LengthLimit`]).
pub fn parse_non_framed_header(buf: &[u8], max_len: u64) -> Result<Parsed<NonFramedHeader>> {
    let mut cur = Cursor::new(buf);
    let r = (|| {
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(cur.take(IV_LEN)?);
        let content_len = cur.u64()?;
        if content_len > super::MAX_NON_FRAMED_LENGTH {
            return Err(super::Stop::Invalid(Error::Limit(format!(
                "non-framed body of {content_len} bytes exceeds the AES-GCM limit of {}",
                super::MAX_NON_FRAMED_LENGTH
            ))));
        }
        if content_len > max_len {
            return Err(super::Stop::Invalid(Error::LengthLimit {
                what: "non-framed body",
                length: content_len,
                limit: max_len,
            }));
        }
        Ok(NonFramedHeader { iv, content_len })
    })();
    finish(r, &cur)
}

/// Parses the footer; returns the DER signature bytes.
pub fn parse_footer(buf: &[u8]) -> Result<Parsed<Vec<u8>>> {
    let mut cur = Cursor::new(buf);
    let r = cur.u16_bytes().map(|s| s.to_vec());
    finish(r, &cur)
}

/// Appends a footer.
pub fn write_footer(out: &mut Vec<u8>, signature: &[u8]) -> Result<()> {
    if signature.len() > u16::MAX as usize {
        return Err(Error::Unreachable("signature longer than 65535 bytes"));
    }
    super::put_u16_bytes(out, signature);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_headers_round_trip() {
        for fh in [
            FrameHeader {
                seq: 7,
                is_final: false,
                iv: frame_iv(7),
                content_len: 100,
            },
            FrameHeader {
                seq: 8,
                is_final: true,
                iv: frame_iv(8),
                content_len: 3,
            },
        ] {
            let mut b = Vec::new();
            fh.write(&mut b);
            assert_eq!(parse_frame_header(&b, 100).unwrap(), Parsed::Done(fh, b.len()));
            for cut in 0..b.len() {
                assert!(matches!(
                    parse_frame_header(&b[..cut], 100).unwrap(),
                    Parsed::Incomplete(_)
                ));
            }
        }
    }

    #[test]
    fn final_frame_longer_than_frame_length_rejected() {
        let mut b = Vec::new();
        FrameHeader {
            seq: 1,
            is_final: true,
            iv: frame_iv(1),
            content_len: 101,
        }
        .write(&mut b);
        assert!(parse_frame_header(&b, 100).is_err());
    }

    #[test]
    fn non_framed_length_limit() {
        let mut b = vec![0u8; 12];
        b.extend_from_slice(&(64u64 << 30).to_be_bytes());
        assert!(matches!(
            parse_non_framed_header(&b, super::super::MAX_NON_FRAMED_LENGTH),
            Err(Error::Limit(_))
        ));
        // Within the AES-GCM bound, over the caller's limit: the caller's refusal.
        b.truncate(12);
        b.extend_from_slice(&(1u64 << 30).to_be_bytes());
        assert!(matches!(
            parse_non_framed_header(&b, 1 << 20),
            Err(Error::LengthLimit { length, limit: 1048576, .. }) if length == 1 << 30
        ));
    }

    #[test]
    fn aad_layout() {
        let aad = body_aad(&[1; 16], BlockKind::FinalFrame, 2, 5);
        assert_eq!(aad.len(), 16 + 34 + 4 + 8);
        assert_eq!(&aad[50..54], &[0, 0, 0, 2]);
    }
}
