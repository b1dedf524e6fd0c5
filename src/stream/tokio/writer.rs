//! The encrypting `AsyncWrite` and the reader-to-writer function.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::jobs::off_runtime;
use super::probe::TaskProbe;
use super::sealer::Sealer;
use crate::error::{Error, Result};
use crate::format::header::Header;
use crate::keyring::Keyring;
use crate::stream::io::into_io;
use crate::stream::{EncryptOptions, Encryptor, StreamSummary};

/// An [`AsyncWrite`] that encrypts what is written to it into an inner
/// writer, as [`crate::stream::EncryptingWriter`] does for `std::io`.
///
/// # Finishing the message: `shutdown`
///
/// **A message is complete only after [`shutdown`](::tokio::io::AsyncWriteExt::shutdown)
/// (or [`EncryptingWriter::finish`]) has returned `Ok`.** Shutdown seals the
/// last, partial frame as the final frame, writes the signature footer of a
/// signing suite, flushes, and then shuts the inner writer down;
/// [`EncryptingWriter::finish`] does the same but hands the inner writer
/// back open instead (to write more after the message). `flush` is not
/// enough: it writes every whole frame sealed so far, but a message can only
/// end with its final frame.
///
/// The trap this avoids is the silent truncation of other streaming
/// encryption APIs, where output that stopped early looks like a shorter
/// message. Here it is the other way round: a writer dropped without
/// shutdown (a cancelled task, an early `return`, a `?` on the way) leaves
/// a message with no final frame, which every ESDK decryptor, envelope's
/// included, rejects as truncated. So a missing shutdown costs the message,
/// never its integrity; but the caller must treat the output as garbage.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> envelope::Result<()> {
/// use std::sync::Arc;
/// use envelope::keyring::raw_aes::RawAesKeyring;
/// use envelope::stream::tokio::EncryptingWriter;
/// use envelope::stream::EncryptOptions;
/// use tokio::io::AsyncWriteExt;
///
/// let keyring = Arc::new(RawAesKeyring::new("my-namespace", "my-key", &[7u8; 32])?);
/// let mut writer = EncryptingWriter::new(keyring.clone(), &EncryptOptions::default(), Vec::new()).await?;
/// writer.write_all(b"hello, ").await?;
/// writer.write_all(b"world").await?;
/// let message = writer.finish().await?; // or `shutdown().await`: the message ends here
///
/// let opened = envelope::decrypt(&*keyring, &Default::default(), &message)?;
/// assert_eq!(opened.plaintext, b"hello, world");
/// # Ok(()) }
/// ```
///
/// The keyring is called once, on the runtime's blocking pool, by
/// [`EncryptingWriter::new`]; frames are sealed in batches of at least
/// 1 MiB by blocking tasks (several at once) and written in order. A write
/// returns `Pending` while every batch slot is taken, so a slow inner writer
/// holds back the caller rather than filling memory: at most
/// `(available threads + 3)` batches of about 2 MiB each exist at once.
/// Dropping the writer wipes the plaintext it held; blocking tasks that had
/// not started are cancelled, a running one ends after its batch.
pub struct EncryptingWriter<W> {
    sealer: Sealer,
    inner: W,
}

impl<W> std::fmt::Debug for EncryptingWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptingWriter")
            .field("suite", &self.sealer.header().suite.name)
            .field("bytes_in", &self.sealer.bytes_in)
            .field("bytes_out", &self.sealer.bytes_out)
            .finish_non_exhaustive()
    }
}

impl<W: AsyncWrite + Unpin> EncryptingWriter<W> {
    /// Starts a message: gets the data key from `keyring` on the blocking
    /// pool (never on a runtime worker: a keyring may block on SQLite or the
    /// network) and prepares the header.
    pub async fn new(keyring: Arc<dyn Keyring>, opts: &EncryptOptions, inner: W) -> Result<Self> {
        let opts = opts.clone();
        let enc = off_runtime(move || Encryptor::new(&*keyring, &opts)).await??;
        Self::from_encryptor(enc, inner)
    }

    /// Wraps an [`Encryptor`] that has not written anything yet (made off the
    /// runtime by the caller, say). Must be called inside a tokio runtime.
    pub fn from_encryptor(enc: Encryptor, inner: W) -> Result<Self> {
        Ok(EncryptingWriter {
            sealer: Sealer::new(enc)?,
            inner,
        })
    }

    /// The message header.
    pub fn header(&self) -> &Header {
        self.sealer.header()
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer, mutably: writing to it directly corrupts the message.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Completes the message (final frame, footer), flushes the inner
    /// writer and returns it, still open.
    pub async fn finish(mut self) -> Result<W> {
        std::future::poll_fn(|cx| self.poll_complete(cx)).await?;
        Ok(self.inner)
    }

    /// Completes the message and returns what it did.
    async fn finish_summary(mut self) -> Result<StreamSummary> {
        std::future::poll_fn(|cx| self.poll_complete(cx)).await?;
        Ok(StreamSummary {
            header: self.sealer.header().clone(),
            bytes_in: self.sealer.bytes_in,
            bytes_out: self.sealer.bytes_out,
        })
    }

    /// Writes whatever output is ready; `Ready` once nothing is ready or in
    /// flight, `Pending` while the inner writer or a task is not done.
    pub(super) fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        while ready!(self.sealer.poll_output(cx))? {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, self.sealer.output()))?;
            if n == 0 {
                return Poll::Ready(Err(Error::Io(io::ErrorKind::WriteZero.into())));
            }
            self.sealer.consume(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Takes plaintext from `fill` (which copies into the room it is given
    /// and says how much it wrote) while there is room.
    pub(super) fn poll_take(
        &mut self,
        cx: &mut Context<'_>,
        mut fill: impl FnMut(&mut [u8], &mut Context<'_>) -> Poll<Result<usize>>,
    ) -> Poll<Result<usize>> {
        let drained = self.poll_drain(cx)?;
        if let Some(room) = self.sealer.room()? {
            let n = ready!(fill(room, cx))?;
            self.sealer.commit(n)?;
            return Poll::Ready(Ok(n));
        }
        if drained.is_pending() {
            return Poll::Pending;
        }
        // Everything was written and no task is in flight, so a slot is free.
        Poll::Ready(Err(Error::Unreachable("no room after a full drain")))
    }

    /// Drives the message to its end and flushes the inner writer.
    pub(super) fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        loop {
            if self.sealer.step_to_end()? {
                break;
            }
            ready!(self.poll_drain(cx))?;
            if self.sealer.is_complete() {
                break;
            }
        }
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }

    /// Watches this writer's blocking tasks (tests, through `envelope::internal`).
    pub(crate) fn probe(&self) -> TaskProbe {
        self.sealer.probe()
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for EncryptingWriter<W> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        this.poll_take(cx, |room, _| {
            let n = room.len().min(buf.len());
            room[..n].copy_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        })
        .map_err(into_io)
    }

    /// Writes every whole frame gathered so far and flushes the inner
    /// writer. The last partial frame stays until more plaintext or shutdown.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            this.sealer.submit_whole_frames().map_err(into_io)?;
            ready!(this.poll_drain(cx)).map_err(into_io)?;
            if !this.sealer.has_whole_frame() {
                break;
            }
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    /// Completes the message (see the type's documentation), then shuts the
    /// inner writer down.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_complete(cx)).map_err(into_io)?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Encrypts everything `reader` yields into `writer`, as
/// [`crate::stream::encrypt_stream_parallel`] does for `std::io`, and
/// flushes `writer` (it is not shut down). The same bytes as the synchronous
/// path; the plaintext is read straight into the batches that blocking tasks
/// seal, so no byte is copied more often than there.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> envelope::Result<()> {
/// use std::sync::Arc;
/// use envelope::keyring::raw_aes::RawAesKeyring;
/// use envelope::stream::tokio::{decrypt_stream, encrypt_stream};
///
/// let keyring = Arc::new(RawAesKeyring::new("my-namespace", "my-key", &[7u8; 32])?);
/// let plaintext = vec![0x5a; 300_000];
/// let mut message = Vec::new();
/// let sent = encrypt_stream(keyring.clone(), &Default::default(), &plaintext[..], &mut message).await?;
/// assert_eq!(sent.bytes_out, message.len() as u64);
///
/// let mut opened = Vec::new();
/// decrypt_stream(keyring, &Default::default(), &message[..], &mut opened).await?;
/// assert_eq!(opened, plaintext);
/// # Ok(()) }
/// ```
pub async fn encrypt_stream<R, W>(
    keyring: Arc<dyn Keyring>,
    opts: &EncryptOptions,
    mut reader: R,
    writer: W,
) -> Result<StreamSummary>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut w = EncryptingWriter::new(keyring, opts, writer).await?;
    std::future::poll_fn(|cx| loop {
        let n = ready!(w.poll_take(cx, |room, cx| {
            let mut rb = ReadBuf::new(room);
            ready!(Pin::new(&mut reader).poll_read(cx, &mut rb))?;
            Poll::Ready(Ok(rb.filled().len()))
        }))?;
        if n == 0 {
            return Poll::Ready(Ok::<(), Error>(()));
        }
    })
    .await?;
    w.finish_summary().await
}
