//! The adapters as streams of [`Bytes`] chunks, for callers that work in
//! chunks (an HTTP request or response body, a queue's messages).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use ::tokio::io::{AsyncRead, ReadBuf};
use bytes::{Buf, Bytes};
use futures_core::Stream;

use super::reader::DecryptingReader;
use super::writer::EncryptingWriter;
use crate::error::{Error, Result};
use crate::format::header::Header;
use crate::keyring::Keyring;
use crate::stream::{DecryptOptions, EncryptOptions};

/// The error of a chunk source, as the I/O error it is to envelope.
fn source_error(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::other(e)
}

/// A [`Stream`] of message chunks made from a stream of plaintext chunks:
/// the header first, then sealed frames as their batches complete, and the
/// final frame and footer once the source ends. The message is complete
/// only when this stream has ended (`None`) without an error; a consumer
/// that stops early holds a truncated message, which no decryptor accepts.
/// Chunk boundaries carry no meaning: the bytes are those of
/// [`EncryptingWriter`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> envelope::Result<()> {
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use envelope::keyring::raw_aes::RawAesKeyring;
/// use envelope::stream::tokio::{DecryptedChunks, EncryptedChunks};
///
/// // Stand-ins for an HTTP body: any `Stream<Item = Result<Bytes, E>>`.
/// struct Chunks(Vec<Bytes>);
/// impl futures_core::Stream for Chunks {
///     type Item = Result<Bytes, std::io::Error>;
///     fn poll_next(
///         mut self: std::pin::Pin<&mut Self>,
///         _: &mut std::task::Context<'_>,
///     ) -> std::task::Poll<Option<Self::Item>> {
///         let next = (!self.0.is_empty()).then(|| Ok(self.0.remove(0)));
///         std::task::Poll::Ready(next)
///     }
/// }
/// async fn collect(
///     mut s: impl futures_core::Stream<Item = envelope::Result<Bytes>> + Unpin,
/// ) -> envelope::Result<Vec<u8>> {
///     let mut all = Vec::new();
///     while let Some(chunk) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut s).poll_next(cx)).await {
///         all.extend_from_slice(&chunk?);
///     }
///     Ok(all)
/// }
///
/// let keyring = Arc::new(RawAesKeyring::new("my-namespace", "my-key", &[7u8; 32])?);
/// let body = Chunks(vec![Bytes::from_static(b"part one, "), Bytes::from_static(b"part two")]);
/// let sealed = EncryptedChunks::new(keyring.clone(), &Default::default(), body).await?;
/// let message = collect(sealed).await?;
///
/// let opened = DecryptedChunks::new(keyring, Default::default(), Chunks(vec![message.into()]))?;
/// assert_eq!(collect(opened).await?, b"part one, part two");
/// # Ok(()) }
/// ```
pub struct EncryptedChunks<S> {
    writer: EncryptingWriter<Vec<u8>>,
    source: S,
    pending: Bytes,
    source_done: bool,
    complete: bool,
    ended: bool,
}

impl<S> std::fmt::Debug for EncryptedChunks<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedChunks")
            .field("writer", &self.writer)
            .finish_non_exhaustive()
    }
}

impl<S, E> EncryptedChunks<S>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Starts a message over `source`: gets the data key from `keyring` on
    /// the blocking pool.
    pub async fn new(keyring: Arc<dyn Keyring>, opts: &EncryptOptions, source: S) -> Result<Self> {
        Ok(EncryptedChunks {
            writer: EncryptingWriter::new(keyring, opts, Vec::new()).await?,
            source,
            pending: Bytes::new(),
            source_done: false,
            complete: false,
            ended: false,
        })
    }

    /// The message header.
    pub fn header(&self) -> &Header {
        self.writer.header()
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            // Sealed batches that are done go out first.
            let _ = self.writer.poll_drain(cx)?;
            let out = self.writer.get_mut();
            if !out.is_empty() {
                return Poll::Ready(Some(Ok(Bytes::from(std::mem::take(out)))));
            }
            if self.complete {
                self.ended = true;
                continue;
            }
            if self.source_done {
                ready!(self.writer.poll_complete(cx))?;
                self.complete = true;
                continue;
            }
            if !self.pending.is_empty() {
                let pending = &mut self.pending;
                let n = ready!(self.writer.poll_take(cx, |room, _| {
                    let n = room.len().min(pending.len());
                    room[..n].copy_from_slice(&pending[..n]);
                    Poll::Ready(Ok(n))
                }))?;
                self.pending.advance(n);
                continue;
            }
            match ready!(Pin::new(&mut self.source).poll_next(cx)) {
                Some(Ok(chunk)) => self.pending = chunk,
                Some(Err(e)) => return Poll::Ready(Some(Err(Error::Io(source_error(e))))),
                None => self.source_done = true,
            }
        }
    }
}

impl<S, E> Stream for EncryptedChunks<S>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        let this = self.get_mut();
        match ready!(this.poll_chunk(cx)) {
            Some(Err(e)) => {
                this.ended = true;
                Poll::Ready(Some(Err(e)))
            }
            other => Poll::Ready(other),
        }
    }
}

/// A chunk stream read as an [`AsyncRead`].
struct ChunkReader<S> {
    source: S,
    chunk: Bytes,
}

impl<S, E> AsyncRead for ChunkReader<S>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.chunk.is_empty() {
            match ready!(Pin::new(&mut this.source).poll_next(cx)) {
                Some(Ok(chunk)) => this.chunk = chunk,
                Some(Err(e)) => return Poll::Ready(Err(source_error(e))),
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = this.chunk.len().min(buf.remaining());
        buf.put_slice(&this.chunk[..n]);
        this.chunk.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// A [`Stream`] of verified plaintext chunks made from a stream of message
/// chunks, with the release rules of [`DecryptingReader`]: each chunk is
/// plaintext that has verified (the final frame of a signed message only
/// after its signature), and the stream ends (`None`) only after the whole
/// message verified; an error ends it early. The chunks are `Bytes` the
/// caller owns: envelope cannot wipe them once handed out.
pub struct DecryptedChunks<S> {
    reader: DecryptingReader<ChunkReader<S>>,
    ended: bool,
}

impl<S> std::fmt::Debug for DecryptedChunks<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptedChunks")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

impl<S, E> DecryptedChunks<S>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// Decrypts the message `source` yields; the data key is fetched (on the
    /// blocking pool) when the header has arrived. Must be called inside a
    /// tokio runtime.
    pub fn new(keyring: Arc<dyn Keyring>, opts: DecryptOptions, source: S) -> Result<Self> {
        let inner = ChunkReader {
            source,
            chunk: Bytes::new(),
        };
        Ok(DecryptedChunks {
            reader: DecryptingReader::new(keyring, opts, inner)?,
            ended: false,
        })
    }

    /// The authenticated header, once read.
    pub fn header(&self) -> Option<&Header> {
        self.reader.header()
    }
}

impl<S, E> Stream for DecryptedChunks<S>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes>>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        match ready!(this.reader.poll_opened(cx)) {
            Ok(Some(chunk)) => Poll::Ready(Some(Ok(chunk))),
            Ok(None) => {
                this.ended = true;
                Poll::Ready(None)
            }
            Err(e) => {
                this.ended = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }
}
