//! The library's error type.
//!
//! One `#[non_exhaustive]` enum whose variants name *what* failed, so that a
//! caller (and the CLI's exit codes) can tell an integrity failure from a usage
//! mistake, an I/O problem or a key-service refusal. Messages never contain key
//! material.

use std::fmt;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The part of a message that a parse or integrity error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The header body (version byte through frame length / suite data).
    Header,
    /// The encryption context block inside the header.
    EncryptionContext,
    /// The encrypted data key list inside the header.
    EncryptedDataKeys,
    /// The header authentication tag (and IV, in v1).
    HeaderAuth,
    /// A frame of the framed body, by sequence number.
    Frame(u32),
    /// The non-framed body.
    Body,
    /// The signature footer.
    Footer,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::Header => f.write_str("header"),
            Part::EncryptionContext => f.write_str("encryption context"),
            Part::EncryptedDataKeys => f.write_str("encrypted data keys"),
            Part::HeaderAuth => f.write_str("header authentication"),
            Part::Frame(n) => write!(f, "frame {n}"),
            Part::Body => f.write_str("body"),
            Part::Footer => f.write_str("footer"),
        }
    }
}

impl Part {
    /// "the header", "frame 3": for use inside a sentence.
    pub fn with_article(&self) -> String {
        match self {
            Part::Frame(_) => self.to_string(),
            _ => format!("the {self}"),
        }
    }
}

/// Broad classes of failure; the CLI maps each to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The message is malformed, tampered, truncated, or does not open with the
    /// given keys or encryption context.
    Integrity,
    /// The caller asked for something invalid (bad option, bad key file, policy).
    Usage,
    /// Reading or writing failed.
    Io,
    /// The key service refused or failed (key not found, disabled, ...).
    KeyService,
}

/// Everything that can go wrong in envelope.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field of the message is malformed.
    #[error("malformed {part}: {detail}")]
    Malformed {
        /// Where in the message.
        part: Part,
        /// What was wrong.
        detail: String,
    },
    /// The input ended before the message did.
    #[error("message truncated: the input ends inside {}", .0.with_article())]
    Truncated(Part),
    /// Bytes follow the end of the message.
    #[error("trailing data after the end of the message")]
    TrailingData,
    /// The message names an algorithm suite this library does not know.
    #[error("unsupported algorithm suite 0x{0:04x}")]
    UnsupportedSuite(u16),
    /// The commitment policy forbids this suite.
    #[error("commitment policy {policy} does not allow suite {suite}")]
    CommitmentPolicy {
        /// The policy in force.
        policy: crate::suite::CommitmentPolicy,
        /// The suite's ESDK name.
        suite: &'static str,
    },
    /// The message is signed but the caller asked for unsigned messages only.
    #[error("message is signed (suite {0}) but only unsigned messages are accepted")]
    SignedMessageRefused(&'static str),
    /// The key commitment stored in the header does not match the data key.
    #[error("key commitment check failed: the data key does not match the header")]
    Commitment,
    /// A GCM tag did not verify.
    #[error("authentication failed in {}", .0.with_article())]
    Authentication(Part),
    /// The footer signature did not verify.
    #[error("signature verification failed")]
    Signature,
    /// No keyring could produce the data key.
    #[error("no data key could be decrypted: {0}")]
    NoDataKey(String),
    /// An encryption-context rule was broken (reserved key, mismatch, size).
    #[error("encryption context: {0}")]
    EncryptionContext(String),
    /// More encrypted data keys than the configured maximum.
    #[error("too many encrypted data keys: {count} exceeds the maximum of {max}")]
    TooManyEncryptedDataKeys {
        /// How many the message or materials have.
        count: usize,
        /// The configured maximum.
        max: u16,
    },
    /// A configured size limit was exceeded.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// An invalid option or argument.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A wrapping key could not be loaded or used.
    #[error("key: {0}")]
    Key(String),
    /// The KMS core (or a KMS keyring) returned an error.
    #[error(transparent)]
    Kms(#[from] crate::kms::KmsError),
    /// An I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A cryptographic primitive failed in a way not caused by the input
    /// (for example the random generator).
    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),
}

impl Error {
    /// The broad class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Malformed { .. }
            | Error::Truncated(_)
            | Error::TrailingData
            | Error::Commitment
            | Error::Authentication(_)
            | Error::Signature
            | Error::NoDataKey(_)
            | Error::EncryptionContext(_)
            | Error::UnsupportedSuite(_)
            | Error::TooManyEncryptedDataKeys { .. }
            | Error::Limit(_)
            | Error::Crypto(_) => ErrorKind::Integrity,
            Error::CommitmentPolicy { .. }
            | Error::SignedMessageRefused(_)
            | Error::Config(_)
            | Error::Key(_) => ErrorKind::Usage,
            Error::Kms(e) => e.error_kind(),
            Error::Io(_) => ErrorKind::Io,
        }
    }

    pub(crate) fn malformed(part: Part, detail: impl Into<String>) -> Self {
        Error::Malformed {
            part,
            detail: detail.into(),
        }
    }
}
