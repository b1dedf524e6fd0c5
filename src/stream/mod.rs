//! The streaming engine: encrypt and decrypt input of any size in memory
//! bounded by the frame length.
//!
//! The core is sans-I/O: [`Encryptor`] and [`Decryptor`] take byte slices and
//! append to a `Vec<u8>`. On top of it sit the `std::io` adapters
//! ([`EncryptingWriter`], [`DecryptingReader`], [`encrypt_stream`],
//! [`decrypt_stream`]) and one-shot helpers for byte slices ([`encrypt`],
//! [`decrypt`]). Each frame is sealed and opened by one per-message cipher, a pure
//! function of key, message id, sequence number and bytes, so
//! [`encrypt_stream_parallel`] and [`decrypt_stream_parallel`] spread the
//! frames of large inputs over several threads and hash beside them, writing
//! the same bytes. [`rewrap_stream`] joins the two to re-key a message in one
//! pass, its plaintext held only in memory.

mod authenticated_header;
pub mod cache;
pub(crate) mod content_cipher;
mod decryptor;
mod encryptor;
mod held;
mod io;
mod parallel;
mod pipeline;
mod rewrap;
mod setup;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use authenticated_header::AuthenticatedHeader;
pub use decryptor::Decryptor;
pub use encryptor::Encryptor;
pub use held::HeldPlaintext;
pub use io::{decrypt_stream, encrypt_stream, DecryptingReader, EncryptingWriter, StreamSummary};
pub(crate) use parallel::Tuning;
pub use parallel::{available_threads, decrypt_stream_parallel, encrypt_stream_parallel};
pub use rewrap::{rewrap_stream, RewrapOptions, RewrapSummary};

use zeroize::Zeroizing;

use crate::error::{Error, Part, Result};
use crate::format::context::EncryptionContext;
use crate::format::header::Header;
use crate::format::Limits;
use crate::keyring::Keyring;
use crate::suite::{AlgorithmSuite, CommitmentPolicy};

/// The default frame length: 64 KiB.
pub const DEFAULT_FRAME_LENGTH: u32 = 65536;

/// How to encrypt.
#[derive(Debug, Clone)]
pub struct EncryptOptions {
    /// The suite; `None` picks the policy's default (0x0578 under REQUIRE_*).
    pub suite: Option<&'static AlgorithmSuite>,
    /// Plaintext bytes per frame, 1 to 2^31-1.
    pub frame_length: u32,
    /// Which suites may be used.
    pub commitment_policy: CommitmentPolicy,
    /// Pairs bound to the message; keys may not start with `aws-crypto-`.
    pub encryption_context: EncryptionContext,
    /// Keys of the context that are authenticated but not stored in the
    /// header; the decryptor must supply those pairs again.
    pub required_encryption_context_keys: Vec<String>,
    /// Fail if the keyrings produce more encrypted data keys than this.
    /// Default `None`: no limit beyond the format's 65,535.
    pub max_encrypted_data_keys: Option<u16>,
    /// The plaintext's length, when known in advance. Encrypting more bytes
    /// than declared fails. Data-key caching needs it: a message of unknown
    /// length is never cached (as in the ESDK).
    pub plaintext_length: Option<u64>,
    /// Reuse data keys across messages (see [`cache`]); `None`, the
    /// default, asks the keyring for a fresh data key per message.
    pub caching: Option<cache::Caching>,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        EncryptOptions {
            suite: None,
            frame_length: DEFAULT_FRAME_LENGTH,
            commitment_policy: CommitmentPolicy::default(),
            encryption_context: EncryptionContext::new(),
            required_encryption_context_keys: Vec::new(),
            max_encrypted_data_keys: None,
            plaintext_length: None,
            caching: None,
        }
    }
}

/// How to decrypt.
#[derive(Debug, Clone, Default)]
pub struct DecryptOptions {
    /// Which suites are accepted.
    pub commitment_policy: CommitmentPolicy,
    /// Pairs the caller expects. Each must match the header's value where the
    /// header has the key; pairs the header lacks are the required-only pairs
    /// of a required-encryption-context message.
    pub reproduced_encryption_context: EncryptionContext,
    /// Fail as soon as a header declares more encrypted data keys than this,
    /// before any is unwrapped ([`Error::TooManyEncryptedDataKeys`]).
    ///
    /// Default `None`: no limit beyond the format's 65,535, as in the ESDK.
    /// Set it for untrusted messages: each EDK may cost the keyring a
    /// decryption attempt (a raw RSA private-key operation, a KMS call), so a
    /// hostile header can make opening it slow. The `envelope` CLI uses 32.
    ///
    /// [`Error::TooManyEncryptedDataKeys`]: crate::Error::TooManyEncryptedDataKeys
    pub max_encrypted_data_keys: Option<u16>,
    /// Refuse signed messages right after the header is parsed.
    pub unsigned_only: bool,
    /// Parser size limits.
    pub limits: Limits,
}

/// A decrypted message: what the one-shot [`decrypt`] returns.
pub struct DecryptedMessage {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// The authenticated header.
    pub header: Header,
}

impl std::fmt::Debug for DecryptedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptedMessage")
            .field("plaintext_len", &self.plaintext.len())
            .field("header", &self.header)
            .finish()
    }
}

/// An encryptor with a given message id (tests only, through
/// `internal::encryptor_with_message_id`).
pub(crate) fn encryptor_with_message_id(
    keyring: &dyn Keyring,
    opts: &EncryptOptions,
    message_id: Vec<u8>,
) -> Result<Encryptor> {
    Ok(Encryptor::from_setup(setup::prepare_encrypt_with_id(
        keyring, opts, message_id,
    )?))
}

/// Encrypts a byte slice into a complete message.
pub fn encrypt(keyring: &dyn Keyring, opts: &EncryptOptions, plaintext: &[u8]) -> Result<Vec<u8>> {
    let sized;
    let opts = match opts.plaintext_length {
        Some(_) => opts,
        None => {
            sized = EncryptOptions {
                plaintext_length: Some(plaintext.len() as u64),
                ..opts.clone()
            };
            &sized
        }
    };
    let mut enc = Encryptor::new(keyring, opts)?;
    let frames = plaintext.len() / (opts.frame_length as usize).max(1) + 1;
    let mut out = Vec::with_capacity(enc.header().len() + plaintext.len() + frames * 40 + 110);
    enc.update(plaintext, &mut out)?;
    enc.finish(&mut out)?;
    Ok(out)
}

/// Decrypts a complete message. Nothing is returned unless every check,
/// signature included, has passed.
pub fn decrypt(keyring: &dyn Keyring, opts: &DecryptOptions, message: &[u8]) -> Result<DecryptedMessage> {
    let mut dec = Decryptor::new(keyring, opts.clone());
    let mut out = Zeroizing::new(Vec::with_capacity(message.len()));
    dec.update(message, &mut out)?;
    dec.finish()?;
    let header = dec.header().cloned().ok_or(Error::Truncated(Part::Header))?;
    Ok(DecryptedMessage {
        plaintext: std::mem::take(&mut *out),
        header,
    })
}

#[cfg(test)]
mod parallel_tests;
#[cfg(test)]
mod tests;
