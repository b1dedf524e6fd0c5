//! `std::io` adapters over the sans-I/O engine.
//!
//! Reads and writes are large (1 MiB) so that system calls stay cheap next to
//! the cryptography. Buffers that hold plaintext are zeroized when dropped.

use std::io::{self, Read, Write};

use zeroize::{Zeroize, Zeroizing};

use super::{DecryptOptions, Decryptor, EncryptOptions, Encryptor};
use crate::error::{Error, Result};
use crate::format::header::Header;
use crate::keyring::Keyring;

/// Size of each read from the input.
pub(crate) const IO_CHUNK: usize = 1 << 20;

/// The first read of a plaintext stream asks for this much (see [`ReadBuf`]).
const FIRST_READ: usize = 16 << 10;

/// A plaintext read buffer that starts at 16 KiB and grows fourfold after
/// every read that fills it, up to `max`. A 2 KB file then allocates, zeroes
/// and wipes 16 KiB instead of 1 MiB (which cost more than its encryption:
/// the wipe alone ran a million instructions), while a long input soon reads
/// `max` at a time. Sizes are multiples of `unit` (a frame length where full
/// reads must end on frame boundaries). Wiped when dropped or outgrown.
pub(crate) struct ReadBuf {
    buf: Vec<u8>,
    /// How far reads have written into `buf`: the part the wipe must cover
    /// (past it the buffer holds only the zeroes it was allocated with).
    written: usize,
    unit: usize,
    max: usize,
    /// Whether the last read filled the buffer.
    full: bool,
    /// Whether the input has ended. A short read means it has, and the input is
    /// not read again: on a terminal every further read would wait for
    /// another Ctrl-D.
    ended: bool,
}

impl ReadBuf {
    pub fn new(unit: usize, max: usize) -> ReadBuf {
        let unit = unit.max(1);
        let max = round_up(max, unit);
        ReadBuf {
            buf: vec![0u8; round_up(FIRST_READ.min(max), unit)],
            written: 0,
            unit,
            max,
            full: false,
            ended: false,
        }
    }

    /// Reads until the buffer is full or the input ends. Returns the bytes
    /// read and whether they filled the buffer (the input may go on).
    pub fn fill(&mut self, reader: &mut impl Read) -> io::Result<(&[u8], bool)> {
        if self.ended {
            return Ok((&[], false));
        }
        if self.full && self.buf.len() < self.max {
            let len = round_up(self.buf.len().saturating_mul(4).min(self.max), self.unit);
            self.wipe();
            self.buf = vec![0u8; len];
        }
        // Counted before the read: a failed read may have written some of it.
        let before = self.written;
        self.written = self.buf.len();
        let n = read_full(reader, &mut self.buf)?;
        self.written = before.max(n);
        self.full = n == self.buf.len();
        self.ended = !self.full;
        Ok((&self.buf[..n], self.full))
    }

    fn wipe(&mut self) {
        self.buf[..self.written].zeroize();
        self.written = 0;
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// `n` rounded up to a multiple of `unit` (at least one `unit`).
fn round_up(n: usize, unit: usize) -> usize {
    n.div_ceil(unit).max(1).saturating_mul(unit)
}

/// What a whole-stream operation did.
#[derive(Debug, Clone)]
pub struct StreamSummary {
    /// The message header.
    pub header: Header,
    /// Bytes read from the input.
    pub bytes_in: u64,
    /// Bytes written to the output.
    pub bytes_out: u64,
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Encrypts everything `reader` yields into `writer`.
pub fn encrypt_stream(
    keyring: &dyn Keyring,
    opts: &EncryptOptions,
    mut reader: impl Read,
    mut writer: impl Write,
) -> Result<StreamSummary> {
    let mut enc = Encryptor::new(keyring, opts)?;
    let mut input = ReadBuf::new(1, IO_CHUNK);
    let mut counts = Counts::default();
    encrypt_to_end(&mut enc, &mut reader, &mut writer, &mut input, &mut counts)?;
    Ok(counts.summary(enc.header().clone()))
}

/// Byte counts of a whole-stream operation.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Counts {
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Counts {
    pub fn summary(self, header: Header) -> StreamSummary {
        StreamSummary {
            header,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
        }
    }
}

/// Writes `bytes` and counts them.
pub(super) fn emit(writer: &mut impl Write, bytes: &[u8], counts: &mut Counts) -> Result<()> {
    writer.write_all(bytes)?;
    counts.bytes_out += bytes.len() as u64;
    Ok(())
}

/// Encrypts the rest of `reader` on this thread, reading through `input`,
/// then writes the final frame and footer and flushes.
pub(super) fn encrypt_to_end(
    enc: &mut Encryptor,
    reader: &mut impl Read,
    writer: &mut impl Write,
    input: &mut ReadBuf,
    counts: &mut Counts,
) -> Result<()> {
    // Ciphertext: it may grow as it likes.
    let mut out = Vec::new();
    loop {
        let (data, _) = input.fill(reader)?;
        if data.is_empty() {
            break;
        }
        counts.bytes_in += data.len() as u64;
        enc.update(data, &mut out)?;
        emit(writer, &out, counts)?;
        out.clear();
    }
    enc.finish(&mut out)?;
    emit(writer, &out, counts)?;
    writer.flush()?;
    Ok(())
}

/// Decrypts the message `reader` yields into `writer`, writing each frame's
/// plaintext as soon as it verifies (the final frame of a signed message only
/// after the signature). On error, plaintext already written was
/// authenticated but the message as a whole is not: the caller must discard it.
pub fn decrypt_stream(
    keyring: &dyn Keyring,
    opts: &DecryptOptions,
    mut reader: impl Read,
    mut writer: impl Write,
) -> Result<StreamSummary> {
    let mut dec = Decryptor::new(keyring, opts.clone());
    // Reads start small and grow: a small message does not pay for zeroing
    // a 1 MiB buffer, a large one still goes through in 1 MiB reads.
    let mut input = ReadBuf::new(1, IO_CHUNK);
    let mut counts = Counts::default();
    let mut out = Zeroizing::new(Vec::new());
    loop {
        let (data, _) = input.fill(&mut reader)?;
        if data.is_empty() {
            break;
        }
        dec.update(data, &mut out)?;
        emit(&mut writer, &out, &mut counts)?;
        out.clear();
    }
    dec.finish()?;
    writer.flush()?;
    let header = dec
        .header()
        .cloned()
        .ok_or(Error::Truncated(crate::error::Part::Header))?;
    counts.bytes_in = dec.bytes_consumed();
    Ok(counts.summary(header))
}

/// Decrypts the rest of `reader` on this thread, reading through `input`,
/// and checks that the message is complete; flushes `writer`.
pub(super) fn decrypt_to_end(
    dec: &mut Decryptor<'_>,
    reader: &mut impl Read,
    writer: &mut impl Write,
    input: &mut [u8],
    counts: &mut Counts,
) -> Result<()> {
    let mut out = Zeroizing::new(Vec::with_capacity(input.len()));
    loop {
        let n = read_full(reader, input)?;
        if n == 0 {
            break;
        }
        dec.update(&input[..n], &mut out)?;
        emit(writer, &out, counts)?;
        out.clear();
    }
    dec.finish()?;
    writer.flush()?;
    Ok(())
}

/// A `Write` that encrypts what is written to it into an inner writer.
/// Call [`EncryptingWriter::finish`] to write the final frame and footer.
pub struct EncryptingWriter<W: Write> {
    enc: Encryptor,
    inner: W,
    out: Vec<u8>,
}

impl<W: Write> EncryptingWriter<W> {
    /// Starts a message (gets the data key from `keyring`).
    pub fn new(keyring: &dyn Keyring, opts: &EncryptOptions, inner: W) -> Result<Self> {
        Ok(EncryptingWriter {
            enc: Encryptor::new(keyring, opts)?,
            inner,
            out: Vec::new(),
        })
    }

    /// The message header.
    pub fn header(&self) -> &Header {
        self.enc.header()
    }

    /// Completes the message and returns the inner writer.
    pub fn finish(mut self) -> Result<W> {
        self.enc.finish(&mut self.out)?;
        self.inner.write_all(&self.out)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.enc.update(buf, &mut self.out).map_err(into_io)?;
        self.inner.write_all(&self.out)?;
        self.out.clear();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A `Read` that yields the verified plaintext of the message read from an
/// inner reader. It returns end-of-file only after the whole message,
/// signature included, has verified; any failure is an `InvalidData` error
/// wrapping the [`Error`].
pub struct DecryptingReader<'k, R: Read> {
    dec: Decryptor<'k>,
    inner: R,
    /// Starts small and grows: a small message costs no 1 MiB buffer.
    input: ReadBuf,
    plain: Zeroizing<Vec<u8>>,
    pos: usize,
    finished: bool,
}

impl<'k, R: Read> DecryptingReader<'k, R> {
    /// Wraps `inner`; the data key is fetched when the header arrives.
    pub fn new(keyring: &'k dyn Keyring, opts: DecryptOptions, inner: R) -> Self {
        DecryptingReader {
            dec: Decryptor::new(keyring, opts),
            inner,
            input: ReadBuf::new(1, IO_CHUNK),
            plain: Zeroizing::new(Vec::new()),
            pos: 0,
            finished: false,
        }
    }

    /// The authenticated header, once read.
    pub fn header(&self) -> Option<&Header> {
        self.dec.header()
    }
}

impl<R: Read> Read for DecryptingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.plain.len() {
            if self.finished {
                return Ok(0);
            }
            self.plain.clear();
            self.pos = 0;
            let (data, _) = self.input.fill(&mut self.inner)?;
            if data.is_empty() {
                self.dec.finish().map_err(into_io)?;
                self.finished = true;
            } else {
                self.dec.update(data, &mut self.plain).map_err(into_io)?;
            }
        }
        let n = buf.len().min(self.plain.len() - self.pos);
        buf[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

pub(super) fn into_io(e: Error) -> io::Error {
    match e {
        Error::Io(e) => e,
        e => io::Error::new(io::ErrorKind::InvalidData, e),
    }
}
