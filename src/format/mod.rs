//! The ESDK message format as a pure byte codec: no I/O and no cryptography.
//!
//! Every parser here is incremental. It is handed whatever bytes are available
//! and either returns a value with the number of bytes it consumed, or says how
//! many more bytes it needs at least ([`Parsed::Incomplete`]). The streaming
//! decryptor and the fuzz targets both drive it this way. Lengths read from the
//! input are checked against [`Limits`] before anything is allocated, so a
//! hostile length field cannot make the parser reserve memory.
//!
//! The public face of this module is the message's data ([`Header`],
//! [`EncryptedDataKey`], [`EncryptionContext`], [`Limits`]) and
//! [`Header::parse`]; the codec functions themselves are internal (the fuzz
//! targets reach them through the hidden `envelope::internal`).

pub(crate) mod body;
pub(crate) mod context;
pub(crate) mod edk;
pub(crate) mod header;

pub use context::{EncryptionContext, PUBLIC_KEY_FIELD, RESERVED_PREFIX};
pub use edk::EncryptedDataKey;
pub use header::{ContentType, Header};

use crate::error::{Error, Part};

/// The outcome of an incremental parse.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    /// A value, and how many input bytes it used.
    Done(T, usize),
    /// The input ends too early: at least this many more bytes are needed.
    Incomplete(usize),
}

/// Size limits applied while parsing untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of encrypted data keys in a header (`None`: 65535, the format's own limit).
    pub max_encrypted_data_keys: Option<u16>,
    /// Maximum frame length accepted on decrypt. The encrypt side allows 2^31-1.
    pub max_frame_length: u32,
    /// Maximum size of the header body in bytes.
    pub max_header_size: usize,
    /// Maximum length of a non-framed body in bytes. A non-framed body is one
    /// AES-GCM block whose tag comes after all of it, so the decryptor must
    /// hold the whole body before it may release a byte: this bounds that buffer.
    pub max_body_length: u64,
}

/// The largest frame length envelope writes, and (by default) reads: 2^31-1,
/// the bound the Python ESDK enforces.
pub const MAX_FRAME_LENGTH: u32 = i32::MAX as u32;

/// The AES-GCM limit on a single non-framed body: 2^36 - 32 bytes.
pub const MAX_NON_FRAMED_LENGTH: u64 = (1 << 36) - 32;

/// The default [`Limits::max_body_length`]: 64 MiB. Non-framed messages are a
/// legacy form (envelope and current ESDKs write framed ones) and decrypting
/// one buffers its whole body, so the default is far below the AES-GCM limit
/// of [`MAX_NON_FRAMED_LENGTH`]: a hostile stream cannot make the decryptor
/// hold gigabytes. Raise it (up to that limit) for large legacy messages.
pub const DEFAULT_MAX_BODY_LENGTH: u64 = 64 << 20;

/// The default [`Limits::max_header_size`]: 16 MiB. A header holds at most
/// 64 KiB of context and 65535 EDKs of up to 3 x 64 KiB each; 16 MiB is far
/// above anything a real writer makes (one EDK per wrapping key) while still
/// bounding what a hostile header can make the parser buffer.
pub const DEFAULT_MAX_HEADER_SIZE: usize = 16 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_encrypted_data_keys: None,
            max_frame_length: MAX_FRAME_LENGTH,
            max_header_size: DEFAULT_MAX_HEADER_SIZE,
            max_body_length: DEFAULT_MAX_BODY_LENGTH,
        }
    }
}

/// Why a cursor read stopped: not enough input, or bad input.
#[derive(Debug)]
pub(crate) enum Stop {
    Incomplete(usize),
    Invalid(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Invalid(e)
    }
}

/// Converts a cursor-level result into the public incremental form.
pub(crate) fn finish<T>(r: Result<T, Stop>, cur: &Cursor<'_>) -> crate::error::Result<Parsed<T>> {
    match r {
        Ok(v) => Ok(Parsed::Done(v, cur.pos)),
        Err(Stop::Incomplete(n)) => Ok(Parsed::Incomplete(n)),
        Err(Stop::Invalid(e)) => Err(e),
    }
}

/// A read position over a borrowed buffer with big-endian readers.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        let avail = self.buf.len() - self.pos;
        if avail < n {
            return Err(Stop::Incomplete(n - avail));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Stop> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Stop> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Stop> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Stop> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// Reads a u16 length prefix and then that many bytes.
    pub(crate) fn u16_bytes(&mut self) -> Result<&'a [u8], Stop> {
        let n = self.u16()? as usize;
        self.take(n)
    }

    /// The first `len` bytes of the buffer (already read).
    pub(crate) fn prefix(&self, len: usize) -> &'a [u8] {
        &self.buf[..len.min(self.buf.len())]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }
}

/// Appends a u16 length prefix and the bytes; the caller has checked the length.
pub(crate) fn put_u16_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

pub(crate) fn invalid(part: Part, detail: impl Into<String>) -> Stop {
    Stop::Invalid(Error::malformed(part, detail))
}
