//! The header-first way to decrypt a stream: read and authenticate the header,
//! let the caller look at it, and only then decrypt the body.
//!
//! The CLI uses it to check the encryption context before any plaintext is
//! written; the body then goes through the parallel pipeline
//! ([`super::decrypt_stream_parallel`] is this, without the look).

use std::io::{Read, Write};

use super::io::{StreamSummary, IO_CHUNK};
use super::parallel::{Body, Tuning};
use super::{DecryptOptions, Decryptor};
use crate::error::{Error, Part, Result};
use crate::format::header::Header;
use crate::keyring::Keyring;

/// Room made for the first read: a small message in one read, a header of
/// hundreds of data keys too.
const FIRST_READ: usize = 64 << 10;

/// A message whose header has been read and authenticated, its body not yet:
/// look at [`AuthenticatedHeader::header`] (to check the encryption context,
/// say) before [`AuthenticatedHeader::decrypt_body_to`] writes any plaintext.
pub struct AuthenticatedHeader<'k, R: Read> {
    body: Body<'k, R>,
}

impl<R: Read> std::fmt::Debug for AuthenticatedHeader<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticatedHeader")
            .field("header", &self.body.header)
            .finish_non_exhaustive()
    }
}

impl<'k, R: Read> AuthenticatedHeader<'k, R> {
    /// Reads the header from `reader`, gets the data key from `keyring` and
    /// authenticates the header. Reads ahead up to 1 MiB.
    pub fn read(keyring: &'k dyn Keyring, opts: &DecryptOptions, mut reader: R) -> Result<Self> {
        let mut dec = Decryptor::new(keyring, opts.clone());
        // Filled by `read_to_end`, which neither zeroes the buffer first nor
        // makes it larger than the input needs: a zeroed 1 MiB buffer for each
        // small file was a quarter of a directory run's decryption time.
        // (With no room at all it would read in small probes first.)
        let mut buf = Vec::with_capacity(FIRST_READ);
        loop {
            let before = buf.len();
            (&mut reader).take(IO_CHUNK as u64).read_to_end(&mut buf)?;
            let eof = buf.len() - before < IO_CHUNK;
            if let Some(header_len) = dec.read_header(&buf)? {
                buf.drain(..header_len);
                let header = dec
                    .header()
                    .cloned()
                    .ok_or(Error::Unreachable("header read but not kept"))?;
                return Ok(AuthenticatedHeader {
                    body: Body {
                        dec,
                        header,
                        reader,
                        rest: buf,
                        eof,
                    },
                });
            }
            if eof {
                return Err(Error::Truncated(Part::Header));
            }
            // A header longer than what was read (many data keys): read more.
        }
    }

    /// The authenticated header.
    pub fn header(&self) -> &Header {
        &self.body.header
    }

    /// Decrypts the body into `writer` with `threads` threads opening frames
    /// (see [`super::decrypt_stream_parallel`]) and checks that the message
    /// ends where it should.
    pub fn decrypt_body_to(self, writer: impl Write + Send, threads: usize) -> Result<StreamSummary> {
        self.decrypt_with(writer, Tuning::for_threads(threads))
    }

    /// [`AuthenticatedHeader::decrypt_body_to`] with a given tuning (tests
    /// shrink the batches and the small-input limit).
    pub(crate) fn decrypt_with(self, writer: impl Write + Send, tuning: Tuning) -> Result<StreamSummary> {
        self.body.decrypt_with(writer, tuning)
    }
}
