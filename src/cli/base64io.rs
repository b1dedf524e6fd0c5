//! `--decode` and `--encode`: base64 messages, as aws-encryption-cli reads
//! and writes them (its `Base64IO`: standard alphabet with `=` padding, no
//! line breaks written, whitespace ignored when reading). Both stream: the
//! reader holds under one read's worth of text, the writer (see
//! [`super::output::Output::base64`]) three bytes.

use std::io::{self, Read};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Text bytes read from the source at a time.
const CHUNK: usize = 64 * 1024;

/// Decodes base64 text from `inner`, skipping whitespace.
pub struct Base64Reader<R> {
    inner: R,
    /// Base64 characters read but not yet decoded (fewer than 4 between reads).
    text: Vec<u8>,
    /// Decoded bytes not yet handed out, from `start`.
    decoded: Vec<u8>,
    start: usize,
    /// `=` padding was seen: the text has ended.
    ended: bool,
}

impl<R: Read> Base64Reader<R> {
    pub fn new(inner: R) -> Self {
        Base64Reader {
            inner,
            text: Vec::with_capacity(CHUNK + 4),
            decoded: Vec::new(),
            start: 0,
            ended: false,
        }
    }

    /// Reads and decodes the next piece; false at the end of the input.
    fn refill(&mut self) -> io::Result<bool> {
        let mut raw = vec![0u8; CHUNK];
        loop {
            let n = match self.inner.read(&mut raw) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                if !self.text.is_empty() {
                    return Err(invalid(
                        "the base64 input ends in the middle of a group (--decode)",
                    ));
                }
                return Ok(false);
            }
            for &b in raw[..n].iter().filter(|b| !b.is_ascii_whitespace()) {
                if self.ended {
                    return Err(invalid("base64 text after its padding (--decode)"));
                }
                self.text.push(b);
                if b == b'=' && self.text.len().is_multiple_of(4) {
                    self.ended = true;
                }
            }
            let whole = self.text.len() / 4 * 4;
            if whole == 0 {
                continue;
            }
            self.decoded.clear();
            self.start = 0;
            STANDARD
                .decode_vec(&self.text[..whole], &mut self.decoded)
                .map_err(|e| invalid(&format!("the input is not base64 (--decode): {e}")))?;
            self.text.drain(..whole);
            if !self.decoded.is_empty() {
                return Ok(true);
            }
        }
    }
}

/// Input that `--decode` cannot read as base64: damaged input, which the CLI
/// reports with the integrity exit code (1), not as an I/O failure.
#[derive(Debug)]
struct NotBase64(String);

impl std::fmt::Display for NotBase64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotBase64 {}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, NotBase64(why.to_owned()))
}

/// Whether `e` is a [`Base64Reader`]'s refusal of its input.
pub fn is_not_base64(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<NotBase64>())
}

impl<R: Read> Read for Base64Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.start == self.decoded.len() && !self.refill()? {
            return Ok(0);
        }
        let n = buf.len().min(self.decoded.len() - self.start);
        buf[..n].copy_from_slice(&self.decoded[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(text: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Base64Reader::new(text).read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn decodes_across_whitespace_and_reads() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
        let text = STANDARD.encode(&data);
        let wrapped: Vec<u8> = text
            .as_bytes()
            .chunks(76)
            .flat_map(|l| l.iter().copied().chain(*b"\r\n"))
            .collect();
        assert_eq!(decode(&wrapped).unwrap(), data);
        assert_eq!(decode(b"").unwrap(), b"");
        assert_eq!(decode(b"YWI=\n").unwrap(), b"ab");
        assert!(decode(b"YWI").is_err());
        assert!(decode(b"YW*=").is_err());
        assert!(decode(b"YWI=YWI=").is_err());
    }
}
