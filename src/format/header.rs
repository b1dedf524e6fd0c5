//! The message header: body (v1 or v2) and header authentication.
//!
//! v1 body: `01 ‖ 80 ‖ suite u16 ‖ messageId[16] ‖ aadLen u16 ‖ aad ‖ edks ‖
//! contentType u8 ‖ 00000000 ‖ ivLen u8 (12) ‖ frameLength u32`, then
//! auth `IV[12] ‖ tag[16]`.
//!
//! v2 body: `02 ‖ suite u16 ‖ messageId[32] ‖ aadLen u16 ‖ aad ‖ edks ‖
//! contentType u8 ‖ frameLength u32 ‖ commitment[32]`, then auth `tag[16]`
//! (the IV is implicitly zero).
//!
//! The parser keeps the header body exactly as read, because the header tag and
//! the signature cover those bytes and legacy writers encoded some fields
//! (the empty context) in forms a re-serialization would not reproduce.

use super::context::{self, EncryptionContext};
use super::edk::{self, EncryptedDataKey};
use super::{invalid, Cursor, Limits, Parsed, Stop};
use crate::error::{ApiMisuse, Error, Part, Result};
use crate::suite::{AlgorithmSuite, COMMITMENT_LEN, IV_LEN, TAG_LEN};

/// How the body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentType {
    /// One AES-GCM block for the whole plaintext (legacy; decrypt only).
    NonFramed,
    /// A sequence of frames.
    Framed,
}

impl ContentType {
    /// The byte written in the header.
    pub fn byte(self) -> u8 {
        match self {
            ContentType::NonFramed => 1,
            ContentType::Framed => 2,
        }
    }
}

/// A parsed (or about to be written) message header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The algorithm suite; its format version is the header's version.
    pub suite: &'static AlgorithmSuite,
    /// 16 bytes (v1) or 32 bytes (v2).
    pub message_id: Vec<u8>,
    /// The pairs stored in the header.
    pub encryption_context: EncryptionContext,
    /// The wrapped data keys.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    /// Framed or non-framed.
    pub content_type: ContentType,
    /// Frame length (0 for non-framed).
    pub frame_length: u32,
    /// The key commitment (v2 only).
    pub commitment: Option<[u8; COMMITMENT_LEN]>,
    /// The header body bytes exactly as read or written.
    pub raw_body: Vec<u8>,
    /// The header-auth IV (all zero except in some v1 messages).
    pub auth_iv: [u8; IV_LEN],
    /// The header-auth tag.
    pub auth_tag: [u8; TAG_LEN],
}

impl Header {
    /// Parses a header (body and authentication) from the start of `buf`,
    /// without any key: nothing is authenticated yet, so every field is only
    /// what the message claims. [`Parsed::Incomplete`] while `buf` holds a
    /// valid prefix.
    pub fn parse(buf: &[u8], limits: &Limits) -> Result<Parsed<Header>> {
        parse(buf, limits)
    }

    /// Length of the header authentication that follows the body.
    pub fn auth_len(&self) -> usize {
        auth_len(self.suite)
    }

    /// Total header size on the wire: body plus authentication.
    pub fn len(&self) -> usize {
        self.raw_body.len() + self.auth_len()
    }

    /// Whether the header is empty (never true for a real header).
    pub fn is_empty(&self) -> bool {
        self.raw_body.is_empty()
    }

    /// Appends the header authentication (IV and tag for v1, tag for v2).
    pub fn write_auth(&self, out: &mut Vec<u8>) {
        if self.suite.message_format_version == 1 {
            out.extend_from_slice(&self.auth_iv);
        }
        out.extend_from_slice(&self.auth_tag);
    }
}

/// Bytes of fixed-size fields after the EDK list: content type, (v1) reserved
/// bytes and IV length, frame length, (v2) commitment, and authentication.
fn fixed_tail_len(suite: &AlgorithmSuite) -> usize {
    let v1 = if suite.message_format_version == 1 {
        4 + 1
    } else {
        0
    };
    let commitment = if suite.is_committing() { COMMITMENT_LEN } else { 0 };
    1 + v1 + 4 + commitment + auth_len(suite)
}

fn auth_len(suite: &AlgorithmSuite) -> usize {
    if suite.message_format_version == 1 {
        IV_LEN + TAG_LEN
    } else {
        TAG_LEN
    }
}

/// Serializes a header body for a new framed message.
///
/// `commitment` is required for committing suites and must be `None` otherwise.
pub fn serialize_body(
    suite: &'static AlgorithmSuite,
    message_id: &[u8],
    stored_context: &EncryptionContext,
    edks: &[EncryptedDataKey],
    frame_length: u32,
    commitment: Option<&[u8; COMMITMENT_LEN]>,
) -> Result<Vec<u8>> {
    if message_id.len() != suite.message_id_len() {
        return Err(ApiMisuse::MessageIdLength {
            got: message_id.len(),
            want: suite.message_id_len(),
        }
        .into());
    }
    let aad = context::serialize(stored_context)?;
    let mut out = Vec::with_capacity(80 + aad.len());
    out.push(suite.message_format_version);
    if suite.message_format_version == 1 {
        out.push(0x80);
    }
    out.extend_from_slice(&suite.id.to_be_bytes());
    out.extend_from_slice(message_id);
    out.extend_from_slice(&(aad.len() as u16).to_be_bytes());
    out.extend_from_slice(&aad);
    out.extend_from_slice(&edk::serialize_list(edks)?);
    out.push(ContentType::Framed.byte());
    if suite.message_format_version == 1 {
        out.extend_from_slice(&[0, 0, 0, 0, IV_LEN as u8]);
    }
    out.extend_from_slice(&frame_length.to_be_bytes());
    match (suite.is_committing(), commitment) {
        (true, Some(c)) => out.extend_from_slice(c),
        (false, None) => {}
        _ => return Err(ApiMisuse::CommitmentForSuite.into()),
    }
    Ok(out)
}

/// A header over `limits.max_header_size`: the caller's limit refuses it
/// (the format allows far larger headers), so a larger one may accept it.
/// `length` is the header's size, or while it is still arriving the least it
/// can be.
fn header_limit(length: usize, limits: &Limits) -> Error {
    Error::LengthLimit {
        what: "header",
        length: length as u64,
        limit: limits.max_header_size as u64,
    }
}

/// Parses a header (body and authentication) from the start of `buf`.
///
/// Returns [`Parsed::Incomplete`] while the bytes so far are a valid prefix;
/// fails as soon as they cannot be, or when the header would exceed
/// `limits.max_header_size`.
pub fn parse(buf: &[u8], limits: &Limits) -> Result<Parsed<Header>> {
    let mut cur = Cursor::new(buf);
    match read(&mut cur, limits) {
        Ok(h) => Ok(Parsed::Done(h, cur.pos)),
        Err(Stop::Incomplete(n)) => {
            let least = buf.len().saturating_add(n);
            if least > limits.max_header_size.saturating_add(28) {
                Err(header_limit(least, limits))
            } else {
                Ok(Parsed::Incomplete(n))
            }
        }
        Err(Stop::Invalid(e)) => Err(e),
    }
}

fn read(cur: &mut Cursor<'_>, limits: &Limits) -> Result<Header, Stop> {
    let version = cur.u8()?;
    if version != 1 && version != 2 {
        return Err(invalid(
            Part::Header,
            format!(
                "unknown message format version 0x{version:02x}{}",
                base64_hint(version)
            ),
        ));
    }
    if version == 1 {
        let ty = cur.u8()?;
        if ty != 0x80 {
            return Err(invalid(Part::Header, format!("unknown message type 0x{ty:02x}")));
        }
    }
    let id = cur.u16()?;
    let suite = AlgorithmSuite::from_id(id).ok_or(Stop::Invalid(Error::UnsupportedSuite(id)))?;
    if suite.message_format_version != version {
        return Err(invalid(
            Part::Header,
            format!("suite 0x{id:04x} cannot appear in a version {version} header"),
        ));
    }
    let message_id = cur.take(suite.message_id_len())?.to_vec();
    let aad = cur.u16_bytes()?;
    let encryption_context = context::parse(aad).map_err(Stop::Invalid)?;
    let encrypted_data_keys = match edk::read_list(cur, limits.max_encrypted_data_keys) {
        // The fixed fields after the list are needed too (see edk::read_list).
        Err(Stop::Incomplete(n)) => return Err(Stop::Incomplete(n.saturating_add(fixed_tail_len(suite)))),
        r => r?,
    };
    let content_type = match cur.u8()? {
        1 => ContentType::NonFramed,
        2 => ContentType::Framed,
        t => return Err(invalid(Part::Header, format!("unknown content type 0x{t:02x}"))),
    };
    if version == 1 {
        if cur.take(4)? != [0, 0, 0, 0] {
            return Err(invalid(Part::Header, "reserved bytes are not zero"));
        }
        let iv_len = cur.u8()?;
        if iv_len as usize != IV_LEN {
            return Err(invalid(Part::Header, format!("IV length {iv_len} is not 12")));
        }
    }
    let frame_length = cur.u32()?;
    match content_type {
        ContentType::NonFramed if frame_length != 0 => {
            return Err(invalid(
                Part::Header,
                "non-framed message with a non-zero frame length",
            ));
        }
        ContentType::Framed if frame_length == 0 => {
            return Err(invalid(Part::Header, "framed message with a zero frame length"));
        }
        ContentType::Framed if frame_length > limits.max_frame_length => {
            return Err(Stop::Invalid(Error::LengthLimit {
                what: "frame length",
                length: frame_length.into(),
                limit: limits.max_frame_length.into(),
            }));
        }
        _ => {}
    }
    let commitment = if suite.is_committing() {
        let mut c = [0u8; COMMITMENT_LEN];
        c.copy_from_slice(cur.take(COMMITMENT_LEN)?);
        Some(c)
    } else {
        None
    };
    let body_len = cur.pos;
    if body_len > limits.max_header_size {
        return Err(Stop::Invalid(header_limit(body_len, limits)));
    }
    let mut auth_iv = [0u8; IV_LEN];
    if version == 1 {
        auth_iv.copy_from_slice(cur.take(IV_LEN)?);
    }
    let mut auth_tag = [0u8; TAG_LEN];
    auth_tag.copy_from_slice(cur.take(TAG_LEN)?);
    let raw_body = cur.prefix(body_len).to_vec();
    Ok(Header {
        suite,
        message_id,
        encryption_context,
        encrypted_data_keys,
        content_type,
        frame_length,
        commitment,
        raw_body,
        auth_iv,
        auth_tag,
    })
}

/// A base64 copy of a message starts with `AY` (v1) or `Ag` (v2): 0x41 = 'A'.
fn base64_hint(version: u8) -> &'static str {
    if version == b'A' {
        " (the input looks base64-encoded; decode it first)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(suite: &'static AlgorithmSuite) -> Vec<u8> {
        let mut ec = EncryptionContext::new();
        ec.insert("purpose".into(), "test".into());
        let edk = |ct: usize| EncryptedDataKey {
            provider_id: "ns".into(),
            provider_info: b"name".to_vec(),
            ciphertext: vec![1; ct],
        };
        let edks = vec![edk(48), edk(0), edk(3)];
        let commitment = suite.is_committing().then_some([9u8; 32]);
        let mut b = serialize_body(
            suite,
            &vec![5; suite.message_id_len()],
            &ec,
            &edks,
            4096,
            commitment.as_ref(),
        )
        .unwrap();
        b.extend_from_slice(&vec![0u8; auth_len(suite)]);
        b
    }

    #[test]
    fn round_trip_every_suite_and_every_prefix() {
        for suite in AlgorithmSuite::ALL {
            let b = sample(suite);
            let h = match parse(&b, &Limits::default()).unwrap() {
                Parsed::Done(h, n) => {
                    assert_eq!(n, b.len());
                    h
                }
                Parsed::Incomplete(_) => panic!("complete header reported incomplete"),
            };
            assert_eq!(h.suite, suite);
            assert_eq!(h.frame_length, 4096);
            assert_eq!(h.len(), b.len());
            assert_eq!(&b[..h.raw_body.len()], &h.raw_body[..]);
            for cut in 0..b.len() {
                // "At least n more" must never overshoot: a streaming reader
                // waits for that many bytes before it tries again.
                match parse(&b[..cut], &Limits::default()).unwrap() {
                    Parsed::Incomplete(n) => assert!(n >= 1 && cut + n <= b.len(), "{cut} + {n}"),
                    Parsed::Done(..) => panic!("a cut header parsed"),
                }
            }
        }
    }

    #[test]
    fn rejects_bad_fields() {
        let b = sample(AlgorithmSuite::DEFAULT);
        let mut bad_version = b.clone();
        bad_version[0] = 1;
        assert!(parse(&bad_version, &Limits::default()).is_err());
        let mut base64 = b.clone();
        base64[0] = b'A';
        let e = parse(&base64, &Limits::default()).unwrap_err().to_string();
        assert!(e.contains("base64"), "{e}");
        let mut unknown_suite = b.clone();
        unknown_suite[1..3].copy_from_slice(&[0x00, 0x70]);
        assert!(matches!(
            parse(&unknown_suite, &Limits::default()),
            Err(Error::UnsupportedSuite(0x70))
        ));
        let limits = Limits {
            max_frame_length: 1024,
            ..Limits::default()
        };
        assert!(matches!(parse(&b, &limits), Err(Error::LengthLimit { .. })));
    }
}
