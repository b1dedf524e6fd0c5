//! Whole-stream encryption and decryption on several threads.
//!
//! Frames are independent (each frame's IV and AAD carry its sequence
//! number), so regular frames are sealed and opened in batches by a pool of
//! workers ([`super::pipeline`]) while the signature hash, the only sequential
//! work, runs on its own thread beside them. The header, the final frame and
//! the footer go through the sans-I/O [`Encryptor`] and [`Decryptor`], so the
//! release rules and every check stay theirs: the output is byte for byte
//! what the single-threaded functions write.
//!
//! The first 16 MiB, and everything when `threads <= 1`, go through on the
//! calling thread: small inputs start no thread.

use std::io::{Read, Write};
use std::sync::Arc;

use zeroize::Zeroizing;

use super::content_cipher::{sealed_frame_len, ContentCipher};
use super::io::{decrypt_to_end, emit, encrypt_to_end, read_full, Counts, ReadBuf, IO_CHUNK};
use super::pipeline::{self, Batch, Job};
use super::AuthenticatedHeader;
use super::{DecryptOptions, Decryptor, EncryptOptions, Encryptor, StreamSummary};
use crate::error::{Error, Part, Result};
use crate::format::body::{parse_frame_header, BlockKind, REGULAR_FRAME_HEADER_LEN};
use crate::format::header::{ContentType, Header};
use crate::format::Parsed;
use crate::keyring::Keyring;
use crate::suite::IV_LEN;

/// Plaintext bytes per batch, rounded up to whole frames: every read and
/// write is at least this large. Small enough that the batches in flight
/// stay in the L3 cache (about 12 MiB for two workers).
pub(super) const BATCH_BYTES: usize = 1 << 20;
/// Bytes (plaintext for encryption, message body for decryption) that always
/// go through on the calling thread. On two cores the pipeline's fixed costs
/// (faulting in its buffers, starting threads, moving batches between
/// caches) come to a few milliseconds, which inputs below this size do not
/// earn back; above it, the rest goes through the pipeline.
const SMALL_INPUT: usize = 16 << 20;
/// More threads than this are taken as this many.
const MAX_THREADS: usize = 256;
/// Longer frames take the single-threaded path, which holds about one frame
/// where the pipeline would hold one per batch in flight.
pub(super) const MAX_PARALLEL_FRAME: usize = 4 << 20;

/// The number of threads the machine offers (1 if unknown): the default for
/// the `threads` argument of [`encrypt_stream_parallel`] and friends.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How the work is spread; tests shrink the batches and the small-input limit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tuning {
    /// Threads that seal or open frames; 0 keeps everything on the calling thread.
    pub workers: usize,
    /// Plaintext bytes per batch.
    pub batch_bytes: usize,
    /// Bytes processed on the calling thread before the pipeline starts.
    pub small: usize,
}

impl Tuning {
    pub fn for_threads(threads: usize) -> Self {
        Tuning {
            workers: if threads > 1 { threads.min(MAX_THREADS) } else { 0 },
            batch_bytes: BATCH_BYTES,
            small: SMALL_INPUT,
        }
    }

    /// Frames per batch, or `None` if this frame length runs single-threaded.
    fn frames_per_batch(&self, frame_len: usize) -> Option<usize> {
        if self.workers == 0 || frame_len == 0 || frame_len > MAX_PARALLEL_FRAME {
            return None;
        }
        Some(self.batch_bytes.div_ceil(frame_len).max(1))
    }
}

/// Encrypts everything `reader` yields into `writer` like
/// [`encrypt_stream`](super::encrypt_stream), with `threads` threads sealing
/// frames (at most 256); reading, writing and the signature hash get a thread
/// each besides.
/// `threads <= 1`, or an input of at most 16 MiB, runs on the calling thread.
/// Memory stays bounded by about `2 x (1 MiB + frame length) x (threads + 4)`.
pub fn encrypt_stream_parallel(
    keyring: &dyn Keyring,
    opts: &EncryptOptions,
    reader: impl Read,
    writer: impl Write + Send,
    threads: usize,
) -> Result<StreamSummary> {
    let enc = Encryptor::new(keyring, opts)?;
    encrypt_with(enc, reader, writer, Tuning::for_threads(threads))
}

/// Decrypts the message `reader` yields into `writer` like
/// [`decrypt_stream`](super::decrypt_stream), with `threads` threads opening
/// frames. The release rules are the same: a batch of frames is written only
/// once every frame in it has verified, the final frame of a signed message
/// only after the signature. See [`AuthenticatedHeader`] to inspect the
/// header first.
pub fn decrypt_stream_parallel(
    keyring: &dyn Keyring,
    opts: &DecryptOptions,
    reader: impl Read,
    writer: impl Write + Send,
    threads: usize,
) -> Result<StreamSummary> {
    AuthenticatedHeader::read(keyring, opts, reader)?.decrypt_body_to(writer, threads)
}

/// Encrypts with a prepared encryptor (tests build two identical ones).
pub(crate) fn encrypt_with(
    mut enc: Encryptor,
    mut reader: impl Read,
    mut writer: impl Write + Send,
    tuning: Tuning,
) -> Result<StreamSummary> {
    let mut counts = Counts::default();
    let frame_len = enc.frame_len();
    let Some(per_batch) = tuning.frames_per_batch(frame_len) else {
        let mut input = ReadBuf::new(1, IO_CHUNK);
        encrypt_to_end(&mut enc, &mut reader, &mut writer, &mut input, &mut counts)?;
        return Ok(counts.summary(enc.header().clone()));
    };
    // The first `tuning.small` bytes go through on this thread, in whole
    // frames (reads of up to a batch): inputs that end there start no thread
    // at all, and the encryptor is left at a frame boundary for the pipeline.
    let mut out = Vec::new();
    let mut input = ReadBuf::new(frame_len, per_batch * frame_len);
    while counts.bytes_in < tuning.small as u64 {
        let (data, full) = input.fill(&mut reader)?;
        counts.bytes_in += data.len() as u64;
        out.clear();
        enc.update(data, &mut out)?;
        emit(&mut writer, &out, &mut counts)?;
        if !full {
            encrypt_to_end(&mut enc, &mut reader, &mut writer, &mut input, &mut counts)?;
            return Ok(counts.summary(enc.header().clone()));
        }
    }
    drop(input);

    out.clear();
    let (mut next_seq, hasher) = enc
        .hand_over(&mut out)
        .ok_or(Error::Unreachable("the encryptor stopped between frames"))?;
    emit(&mut writer, &out, &mut counts)?;
    let mut tail = Zeroizing::new(Vec::new());
    let mut bytes_in = 0u64;
    let job = Seal {
        cipher: Arc::clone(enc.cipher()),
        frame_len,
    };
    let outcome = pipeline::run(
        &job,
        tuning.workers,
        || {
            Batch::new(
                per_batch * frame_len,
                per_batch * sealed_frame_len(false, frame_len),
            )
        },
        hasher,
        &mut writer,
        |b| {
            let cap = b.plain.len();
            let n = match read_full(&mut reader, &mut b.plain) {
                Ok(n) => n,
                Err(e) => {
                    b.frames = 0;
                    b.error = Some(Error::Io(e));
                    return false;
                }
            };
            bytes_in += n as u64;
            let frames = n / frame_len;
            b.first_seq = next_seq;
            // 0xFFFFFFFF marks the final frame, so no regular frame may carry it.
            match u32::try_from(frames).ok().and_then(|f| next_seq.checked_add(f)) {
                Some(next) => {
                    next_seq = next;
                    b.frames = frames;
                }
                None => {
                    b.frames = 0;
                    b.error = Some(Error::Limit("a message holds at most 2^32-1 frames".into()));
                    return false;
                }
            }
            if n < cap {
                tail.extend_from_slice(&b.plain[frames * frame_len..n]);
                return false;
            }
            true
        },
    );
    counts.bytes_in += bytes_in;
    counts.bytes_out += outcome.written;
    outcome.result?;
    enc.take_back(next_seq, outcome.hasher, bytes_in - tail.len() as u64)?;
    out.clear();
    enc.update(&tail, &mut out)?;
    enc.finish(&mut out)?;
    emit(&mut writer, &out, &mut counts)?;
    writer.flush()?;
    Ok(counts.summary(enc.header().clone()))
}

/// Seals regular frames: plaintext in, sealed frames out.
pub(super) struct Seal {
    pub cipher: Arc<ContentCipher>,
    pub frame_len: usize,
}

impl Job for Seal {
    fn process(&self, b: &mut Batch) -> Result<()> {
        let sealed_len = sealed_frame_len(false, self.frame_len);
        let frames = b.plain[..b.frames * self.frame_len].chunks_exact(self.frame_len);
        let sealed = b.sealed[..b.frames * sealed_len].chunks_exact_mut(sealed_len);
        for ((pt, out), seq) in frames.zip(sealed).zip(b.first_seq..) {
            self.cipher.seal_frame_into(seq, false, pt, out)?;
        }
        Ok(())
    }

    fn signed<'b>(&self, b: &'b Batch) -> &'b [u8] {
        self.written(b)
    }

    fn written<'b>(&self, b: &'b Batch) -> &'b [u8] {
        &b.sealed[..b.frames * sealed_frame_len(false, self.frame_len)]
    }
}

/// Opens regular frames: sealed frames in, plaintext out.
pub(super) struct Open {
    pub cipher: Arc<ContentCipher>,
    pub frame_len: usize,
}

impl Job for Open {
    fn process(&self, b: &mut Batch) -> Result<()> {
        let sealed_len = sealed_frame_len(false, self.frame_len);
        let frames = b.sealed[..b.frames * sealed_len].chunks_exact(sealed_len);
        let plain = b.plain[..b.frames * self.frame_len].chunks_exact_mut(self.frame_len);
        for ((frame, out), seq) in frames.zip(plain).zip(b.first_seq..) {
            // The reader checked the sequence numbers; the IV is taken as stored.
            let (head, sealed) = frame.split_at(REGULAR_FRAME_HEADER_LEN);
            let mut iv = [0u8; IV_LEN];
            iv.copy_from_slice(&head[4..]);
            self.cipher.open_into(BlockKind::Frame, seq, &iv, sealed, out)?;
        }
        Ok(())
    }

    fn signed<'b>(&self, b: &'b Batch) -> &'b [u8] {
        &b.sealed[..b.frames * sealed_frame_len(false, self.frame_len)]
    }

    fn written<'b>(&self, b: &'b Batch) -> &'b [u8] {
        &b.plain[..b.frames * self.frame_len]
    }
}

/// The body of a message whose header has been read and authenticated
/// ([`AuthenticatedHeader`]), decrypted by the pipeline.
pub(super) struct Body<'k, R: Read> {
    pub dec: Decryptor<'k>,
    pub header: Header,
    pub reader: R,
    /// Bytes read after the header.
    pub rest: Vec<u8>,
    /// Whether `reader` has ended.
    pub eof: bool,
}

impl<R: Read> Body<'_, R> {
    pub(super) fn decrypt_with(
        mut self,
        mut writer: impl Write + Send,
        tuning: Tuning,
    ) -> Result<StreamSummary> {
        let mut counts = Counts::default();
        let mut out = Zeroizing::new(Vec::new());
        let frame_len = self.header.frame_length as usize;
        let mut per_batch = match self.header.content_type {
            ContentType::Framed => tuning.frames_per_batch(frame_len),
            ContentType::NonFramed => None,
        };
        let sealed_len = sealed_frame_len(false, frame_len) as u64;
        // Bytes read but not yet given to the decryptor: `data[pos..]`.
        let mut data = std::mem::take(&mut self.rest);
        let mut pos = 0;
        // The first `tuning.small` body bytes go through on this thread, so a
        // message that ends there starts no thread at all; then the decryptor
        // is fed up to the next regular-frame boundary and the pipeline takes
        // over from there. If a final frame came first, it never does.
        let mut body_fed = 0u64;
        loop {
            let warm = body_fed >= tuning.small as u64;
            if let Some(pb) = per_batch.filter(|_| warm && body_fed.is_multiple_of(sealed_len)) {
                match self.decrypt_frames(&data[pos..], pb, tuning.workers, &mut writer, &mut counts)? {
                    Some(tail) => {
                        (data, pos) = (tail, 0);
                        break;
                    }
                    None => per_batch = None,
                }
            }
            let mut take = data.len() - pos;
            if per_batch.is_some() && warm {
                take = take.min((sealed_len - body_fed % sealed_len) as usize);
            }
            if take > 0 {
                out.clear();
                self.dec.update(&data[pos..pos + take], &mut out)?;
                emit(&mut writer, &out, &mut counts)?;
                pos += take;
                body_fed += take as u64;
                continue;
            }
            if self.eof {
                break;
            }
            data.clear();
            data.resize(IO_CHUNK, 0);
            let n = read_full(&mut self.reader, &mut data)?;
            data.truncate(n);
            pos = 0;
            self.eof = n < IO_CHUNK;
        }
        // The final frame, the footer and anything after: on this thread.
        out.clear();
        self.dec.update(&data[pos..], &mut out)?;
        emit(&mut writer, &out, &mut counts)?;
        if self.eof {
            self.dec.finish()?;
            writer.flush()?;
        } else {
            data.resize(IO_CHUNK, 0);
            decrypt_to_end(
                &mut self.dec,
                &mut self.reader,
                &mut writer,
                &mut data,
                &mut counts,
            )?;
        }
        counts.bytes_in = self.dec.bytes_consumed();
        Ok(counts.summary(self.header))
    }

    /// Opens the regular frames in the pipeline, starting with `carry` (read
    /// but not yet decrypted); returns what follows them (the final frame
    /// onward, or an incomplete frame at the end of the input). `None` if the
    /// decryptor does not stand at a frame boundary of the body.
    fn decrypt_frames(
        &mut self,
        carry: &[u8],
        per_batch: usize,
        workers: usize,
        writer: &mut (impl Write + Send),
        counts: &mut Counts,
    ) -> Result<Option<Vec<u8>>> {
        let Some(body) = self.dec.hand_over() else {
            return Ok(None);
        };
        let frame_len = self.header.frame_length as usize;
        let frame_length = body.frame_length;
        let sealed_len = sealed_frame_len(false, frame_len);
        let mut next_seq = body.next_seq;
        let (reader, eof) = (&mut self.reader, &mut self.eof);
        let mut carry_pos = 0;
        let mut consumed = 0u64;
        let mut tail = Vec::new();
        let job = Open {
            cipher: Arc::clone(body.cipher),
            frame_len,
        };
        let outcome = pipeline::run(
            &job,
            workers,
            || Batch::new(per_batch * frame_len, per_batch * sealed_len),
            body.hasher,
            writer,
            |b| {
                let cap = b.sealed.len();
                let take = (carry.len() - carry_pos).min(cap);
                b.sealed[..take].copy_from_slice(&carry[carry_pos..carry_pos + take]);
                carry_pos += take;
                let mut n = take;
                if n < cap && !*eof {
                    match read_full(reader, &mut b.sealed[n..]) {
                        Ok(k) => {
                            *eof = n + k < cap;
                            n += k;
                        }
                        Err(e) => {
                            b.frames = 0;
                            b.error = Some(Error::Io(e));
                            return false;
                        }
                    }
                }
                // Batches start at a frame boundary and hold a whole number of
                // regular frames when full, so a frame is cut only at the end
                // of the input.
                let data = &b.sealed[..n];
                b.first_seq = next_seq;
                let split = split_frames(data, frame_length, &mut next_seq);
                b.frames = split.frames;
                let rest = &data[split.len..];
                let more = match split.end {
                    SplitEnd::Error(e) => {
                        b.error = Some(e);
                        false
                    }
                    SplitEnd::Final => {
                        tail.extend_from_slice(rest);
                        tail.extend_from_slice(&carry[carry_pos..]);
                        false
                    }
                    SplitEnd::More if *eof && carry_pos == carry.len() => {
                        tail.extend_from_slice(rest);
                        false
                    }
                    SplitEnd::More if rest.is_empty() => true,
                    SplitEnd::More => {
                        b.error = Some(Error::Unreachable("a batch ended inside a frame"));
                        false
                    }
                };
                consumed += split.len as u64;
                more
            },
        );
        counts.bytes_out += outcome.written;
        outcome.result?;
        self.dec.take_back(next_seq, outcome.hasher, consumed);
        Ok(Some(tail))
    }
}

/// How body bytes that start at a regular-frame boundary split into whole
/// regular frames and what follows them ([`split_frames`]).
pub(super) struct Split {
    /// Whole regular frames at the start.
    pub frames: usize,
    /// The bytes those frames take.
    pub len: usize,
    /// What stands at `len`.
    pub end: SplitEnd,
}

/// What follows the whole regular frames of a [`Split`].
pub(super) enum SplitEnd {
    /// Nothing, or the start of a regular frame that needs more bytes.
    More,
    /// The final frame's header.
    Final,
    /// A frame header that is malformed or out of order: the first fault
    /// after the whole frames, in message order.
    Error(Error),
}

/// Walks the frame headers of `data` (body bytes starting at frame
/// `*next_seq`), counting the whole regular frames and advancing `*next_seq`
/// past them. Shared by the thread pipeline and the async adapters, so that
/// both check sequence numbers and frame headers the same way.
pub(super) fn split_frames(data: &[u8], frame_length: u32, next_seq: &mut u32) -> Split {
    let sealed_len = sealed_frame_len(false, frame_length as usize);
    let mut split = Split {
        frames: 0,
        len: 0,
        end: SplitEnd::More,
    };
    loop {
        let rest = &data[split.len..];
        match parse_frame_header(rest, frame_length) {
            Err(e) => {
                split.end = SplitEnd::Error(e);
                return split;
            }
            Ok(Parsed::Done(fh, _)) if fh.is_final => {
                split.end = SplitEnd::Final;
                return split;
            }
            Ok(Parsed::Done(fh, _)) if fh.seq != *next_seq => {
                split.end = SplitEnd::Error(Error::malformed(
                    Part::Frame(fh.seq),
                    format!("out of order: expected frame {next_seq}"),
                ));
                return split;
            }
            Ok(Parsed::Done(fh, _)) if rest.len() >= sealed_len => {
                let Some(next) = fh.seq.checked_add(1) else {
                    split.end =
                        SplitEnd::Error(Error::malformed(Part::Frame(fh.seq), "sequence number overflow"));
                    return split;
                };
                *next_seq = next;
                split.frames += 1;
                split.len += sealed_len;
            }
            Ok(_) => return split,
        }
    }
}
