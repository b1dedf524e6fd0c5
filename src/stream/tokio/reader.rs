//! The decrypting `AsyncRead`, the header-first reader and the
//! reader-to-writer function.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::opener::Opener;
use super::probe::TaskProbe;
use crate::error::{Error, Result};
use crate::format::header::Header;
use crate::keyring::Keyring;
use crate::stream::io::into_io;
use crate::stream::{DecryptOptions, StreamSummary};

/// An [`AsyncRead`] that yields the verified plaintext of the message read
/// from an inner reader, as [`crate::stream::DecryptingReader`] does for
/// `std::io`, with the same release rules: a frame's plaintext comes out
/// only after its tag verifies (regular frames in batches of 1 MiB and up,
/// each released once every frame in it verified), the final frame of a
/// signed message only after the signature, and end-of-file only after the
/// whole message verified. A failure is an `InvalidData` error wrapping the
/// [`Error`] (`io::Error::get_ref` and `downcast_ref::<Error>()` give it
/// back); plaintext read before it was authenticated, but the message as a
/// whole is not: discard it.
///
/// The keyring is called once the header has arrived, on the runtime's
/// blocking pool; frames are opened by blocking tasks. Memory is bounded by
/// `(available threads + 3)` batches whatever the speed of the two sides:
/// nothing more is read while the caller does not take the plaintext.
/// Dropping the reader wipes the plaintext it held.
///
/// To look at the header before any plaintext (to check the encryption
/// context, say), use [`AuthenticatedHeader`].
pub struct DecryptingReader<R> {
    opener: Opener,
    inner: R,
}

impl<R> std::fmt::Debug for DecryptingReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptingReader")
            .field("header", &self.opener.header())
            .field("bytes_out", &self.opener.bytes_out)
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin> DecryptingReader<R> {
    /// Wraps `inner`; the data key is fetched when the header arrives. Must
    /// be called inside a tokio runtime.
    pub fn new(keyring: Arc<dyn Keyring>, opts: DecryptOptions, inner: R) -> Result<Self> {
        Ok(DecryptingReader {
            opener: Opener::new(keyring, opts)?,
            inner,
        })
    }

    /// The authenticated header, once read.
    pub fn header(&self) -> Option<&Header> {
        self.opener.header()
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Watches this reader's blocking tasks (tests, through `envelope::internal`).
    pub(crate) fn probe(&self) -> TaskProbe {
        self.opener.probe()
    }

    fn poll_header(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        self.opener.poll_header(cx, &mut self.inner)
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for DecryptingReader<R> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if !ready!(this.opener.poll_fill(cx, &mut this.inner)).map_err(into_io)? {
            return Poll::Ready(Ok(()));
        }
        let out = this.opener.output();
        let n = out.len().min(buf.remaining());
        buf.put_slice(&out[..n]);
        this.opener.consume(n);
        Poll::Ready(Ok(()))
    }
}

/// A message whose header has been read and authenticated, its body not
/// yet: look at [`AuthenticatedHeader::header`] (the encryption context, the
/// encrypted data keys' providers) and refuse the message by dropping this,
/// before any plaintext exists. The async form of
/// [`crate::stream::AuthenticatedHeader`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> envelope::Result<()> {
/// use std::sync::Arc;
/// use envelope::keyring::raw_aes::RawAesKeyring;
/// use envelope::stream::tokio::AuthenticatedHeader;
/// use envelope::stream::EncryptOptions;
/// use tokio::io::AsyncReadExt;
///
/// let keyring = Arc::new(RawAesKeyring::new("my-namespace", "my-key", &[7u8; 32])?);
/// let opts = EncryptOptions {
///     encryption_context: [("tenant".to_string(), "acme".to_string())].into(),
///     ..EncryptOptions::default()
/// };
/// let message = envelope::encrypt(&*keyring, &opts, b"for acme only")?;
///
/// let opened = AuthenticatedHeader::read(keyring, Default::default(), &message[..]).await?;
/// let header = opened.header();
/// assert_eq!(header.encryption_context.get("tenant").map(String::as_str), Some("acme"));
/// assert_eq!(header.encrypted_data_keys[0].provider_id, "my-namespace");
/// // Satisfied: read the body.
/// let mut plaintext = Vec::new();
/// opened.into_reader().read_to_end(&mut plaintext).await?;
/// assert_eq!(plaintext, b"for acme only");
/// # Ok(()) }
/// ```
pub struct AuthenticatedHeader<R> {
    header: Header,
    reader: DecryptingReader<R>,
}

impl<R> std::fmt::Debug for AuthenticatedHeader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticatedHeader")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl<R: AsyncRead + Unpin> AuthenticatedHeader<R> {
    /// Reads the header from `reader`, gets the data key from `keyring` (on
    /// the blocking pool) and authenticates the header. Reads ahead at most
    /// 64 KiB past the header.
    pub async fn read(keyring: Arc<dyn Keyring>, opts: DecryptOptions, reader: R) -> Result<Self> {
        let mut reader = DecryptingReader::new(keyring, opts, reader)?;
        std::future::poll_fn(|cx| reader.poll_header(cx)).await?;
        let header = reader
            .header()
            .cloned()
            .ok_or(Error::Unreachable("the header was read but not kept"))?;
        Ok(AuthenticatedHeader { header, reader })
    }

    /// The authenticated header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The body's verified plaintext, as a [`DecryptingReader`].
    pub fn into_reader(self) -> DecryptingReader<R> {
        self.reader
    }

    /// Decrypts the body into `writer` (flushed, not shut down) and checks
    /// that the message ends where it should.
    pub async fn decrypt_body_to<W: AsyncWrite + Unpin>(self, writer: W) -> Result<StreamSummary> {
        pump(self.reader, writer).await
    }
}

/// Decrypts the message `reader` yields into `writer` (flushed, not shut
/// down), as [`crate::stream::decrypt_stream_parallel`] does for `std::io`:
/// the same release rules and errors. Verified plaintext goes from the
/// batches straight to `writer`. See [`AuthenticatedHeader`] to look at the
/// header first.
pub async fn decrypt_stream<R, W>(
    keyring: Arc<dyn Keyring>,
    opts: &DecryptOptions,
    reader: R,
    writer: W,
) -> Result<StreamSummary>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    pump(DecryptingReader::new(keyring, opts.clone(), reader)?, writer).await
}

async fn pump<R, W>(mut r: DecryptingReader<R>, mut writer: W) -> Result<StreamSummary>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    std::future::poll_fn(|cx| {
        while ready!(r.opener.poll_fill(cx, &mut r.inner))? {
            let n = ready!(Pin::new(&mut writer).poll_write(cx, r.opener.output()))?;
            if n == 0 {
                return Poll::Ready(Err(Error::Io(io::ErrorKind::WriteZero.into())));
            }
            r.opener.consume(n);
        }
        ready!(Pin::new(&mut writer).poll_flush(cx))?;
        Poll::Ready(Ok::<(), Error>(()))
    })
    .await?;
    let header = r
        .opener
        .header()
        .cloned()
        .ok_or(Error::Unreachable("a message without a header"))?;
    Ok(StreamSummary {
        header,
        bytes_in: r.opener.bytes_in(),
        bytes_out: r.opener.bytes_out,
    })
}

impl<R: AsyncRead + Unpin> DecryptingReader<R> {
    /// The next run of verified plaintext as `Bytes`; `None` at the verified end.
    pub(super) fn poll_opened(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<bytes::Bytes>>> {
        if !ready!(self.opener.poll_fill(cx, &mut self.inner))? {
            return Poll::Ready(Ok(None));
        }
        let chunk = bytes::Bytes::copy_from_slice(self.opener.output());
        self.opener.consume(chunk.len());
        Poll::Ready(Ok(Some(chunk)))
    }
}
