//! Re-keying a message in one pass: every frame of the old message is opened
//! and its plaintext sealed into a new message, in memory.
//!
//! The old header cannot be rewritten with new data keys over the old frames:
//! the header tag is AES-GCM under the message's derived key with the
//! format's fixed IV, so a second header tag under that key would reuse a GCM
//! nonce and give away the authentication key of both messages. A rewrap
//! therefore draws a new data key and message id and encrypts the plaintext
//! again (see SECURITY.md).
//!
//! The two halves are the ordinary parallel pipelines, joined by a bounded
//! in-memory [`pipe`]: the decrypting side writes the plaintext it releases
//! into the pipe, and the encrypting side, on another thread, reads it. So the
//! release rules are the decryptor's: nothing of an old frame reaches the new
//! message before its tag verified, and since the decryptor withholds a signed
//! message's final frame until the signature verified, the new message's final
//! frame and footer (its end) cannot be written before that either. The pipe
//! ends only when the old message was read to its verified end; any failure
//! of the old message fails the new one.

use std::io::{Read, Write};

use super::authenticated_header::AuthenticatedHeader;
use super::parallel::{encrypt_with, Tuning};
use super::{DecryptOptions, EncryptOptions, Encryptor, StreamSummary, DEFAULT_FRAME_LENGTH};
use crate::error::{Error, Result};
use crate::format::header::{ContentType, Header};
use crate::format::{EncryptionContext, PUBLIC_KEY_FIELD};
use crate::keyring::Keyring;
use crate::suite::AlgorithmSuite;

mod pipe;

/// How to rewrap: how to open the old message, and what may change in the
/// new one. Everything else carries over from the old message's header.
#[derive(Debug, Clone, Default)]
pub struct RewrapOptions {
    /// How the old message is opened. Its commitment policy also governs the
    /// new message; its reproduced encryption context supplies the pairs of a
    /// required-encryption-context message, which stay required.
    pub decrypt: DecryptOptions,
    /// The new message's suite; `None` keeps the old one (which the
    /// commitment policy must then allow for encryption).
    pub suite: Option<&'static AlgorithmSuite>,
    /// The new message's frame length; `None` keeps the old one (a
    /// non-framed message becomes framed with the default, 64 KiB).
    pub frame_length: Option<u32>,
    /// Fail if the new keyrings produce more encrypted data keys than this.
    pub max_encrypted_data_keys: Option<u16>,
}

impl RewrapOptions {
    /// The options that encrypt the new message for the authenticated
    /// `header` of the old one: the stored pairs stay stored (less the
    /// signing key's `aws-crypto-public-key`, which the new message gets
    /// afresh), the reproduced pairs the header lacks are the required-only
    /// pairs and stay required, and the suite and frame length carry over
    /// unless changed.
    pub fn encrypt_options(&self, header: &Header) -> EncryptOptions {
        let mut context: EncryptionContext = header.encryption_context.clone();
        context.remove(PUBLIC_KEY_FIELD);
        let mut required = Vec::new();
        for (k, v) in &self.decrypt.reproduced_encryption_context {
            if !context.contains_key(k) {
                context.insert(k.clone(), v.clone());
                required.push(k.clone());
            }
        }
        let kept_frame_length = match header.content_type {
            ContentType::Framed => header.frame_length,
            ContentType::NonFramed => DEFAULT_FRAME_LENGTH,
        };
        EncryptOptions {
            suite: Some(self.suite.unwrap_or(header.suite)),
            frame_length: self.frame_length.unwrap_or(kept_frame_length),
            commitment_policy: self.decrypt.commitment_policy,
            encryption_context: context,
            required_encryption_context_keys: required,
            max_encrypted_data_keys: self.max_encrypted_data_keys,
            plaintext_length: None,
            caching: None,
        }
    }
}

/// What a rewrap read and wrote.
#[derive(Debug)]
pub struct RewrapSummary {
    /// The old message: its header, its bytes (in) and its plaintext bytes (out).
    pub old: StreamSummary,
    /// The new message: its header, the plaintext bytes (in) and its bytes (out).
    pub new: StreamSummary,
}

/// Rewraps the message `reader` yields into `writer`: opens it with
/// `unwrap`, and encrypts its plaintext under a new data key from `wrap`,
/// with the options [`RewrapOptions::encrypt_options`] derives from its
/// header. `threads` threads open frames and as many seal them (see
/// [`super::decrypt_stream_parallel`]). Memory stays bounded as for the two
/// parallel functions plus 4 MiB of plaintext in the pipe between them; no
/// plaintext is written anywhere but to memory that is wiped when dropped.
///
/// `writer` gets the new message as it is made; it is complete only if this
/// returns `Ok`, which it does only once the whole old message, signature
/// included, verified. Write to a temporary file and rename it on success
/// when a partial message must never appear. See [`AuthenticatedHeader`] and
/// [`AuthenticatedHeader::rewrap_body_to`] to look at the header first.
pub fn rewrap_stream(
    unwrap: &dyn Keyring,
    wrap: &dyn Keyring,
    opts: &RewrapOptions,
    reader: impl Read,
    writer: impl Write + Send,
    threads: usize,
) -> Result<RewrapSummary> {
    let old = AuthenticatedHeader::read(unwrap, &opts.decrypt, reader)?;
    let enc_opts = opts.encrypt_options(old.header());
    old.rewrap_body_to(wrap, &enc_opts, writer, threads)
}

impl<R: Read> AuthenticatedHeader<'_, R> {
    /// Rewraps this message's body into a new message encrypted with `wrap`
    /// and `opts` (usually [`RewrapOptions::encrypt_options`] of this
    /// header), written to `writer`; see [`rewrap_stream`].
    pub fn rewrap_body_to(
        self,
        wrap: &dyn Keyring,
        opts: &EncryptOptions,
        writer: impl Write + Send,
        threads: usize,
    ) -> Result<RewrapSummary> {
        self.rewrap_with(wrap, opts, writer, Tuning::for_threads(threads))
    }

    /// [`AuthenticatedHeader::rewrap_body_to`] with a given tuning (tests
    /// shrink the batches and the small-input limit).
    pub(crate) fn rewrap_with(
        self,
        wrap: &dyn Keyring,
        opts: &EncryptOptions,
        writer: impl Write + Send,
        tuning: Tuning,
    ) -> Result<RewrapSummary> {
        // The new data key first: a refusal (a suite the policy forbids, a
        // keyring that fails) comes before any of the old body is read.
        let enc = Encryptor::new(wrap, opts)?;
        let (plain_in, plain_out) = pipe::pipe();
        let (old, new) = std::thread::scope(|s| {
            let sealing = s.spawn(move || encrypt_with(enc, plain_out, writer, tuning));
            let mut plain_in = plain_in;
            let old = self.decrypt_with(&mut plain_in, tuning);
            // Only a fully verified old message ends the pipe; any failure
            // (dropping the writer unclosed) fails the new message.
            if old.is_ok() {
                plain_in.close();
            }
            drop(plain_in);
            let new = sealing
                .join()
                .unwrap_or(Err(Error::Unreachable("the sealing thread panicked")));
            (old, new)
        });
        match (old, new) {
            (Ok(old), Ok(new)) => Ok(RewrapSummary { old, new }),
            // The sealing side stopped first (the output failed): the old
            // side's error only says the pipe closed.
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
            (Err(old), Err(new)) => Err(if pipe::is_reader_gone(&old) { new } else { old }),
        }
    }
}
