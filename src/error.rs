//! The library's error type.
//!
//! One `#[non_exhaustive]` enum whose variants name *what* failed, so that a
//! caller (and the CLI's exit codes) can tell an integrity failure from a usage
//! mistake, an I/O problem, a key-service refusal or a bug. Faults caused by a
//! message's bytes are always [`ErrorKind::Integrity`], whichever layer (codec,
//! keyring, KMS) finds them; broken internal invariants and misuse of the API
//! have kinds of their own, as rustls keeps `Unreachable` and `ApiMisuse` apart
//! from peer faults. Messages never contain key material.
//!
//! The two layers that stand on their own beside the codec keep their own
//! errors, which this one wraps: the cryptography's [`CryptoError`] and the KMS
//! core's [`KmsError`]. Neither of them names this module.

use std::fmt;

use crate::crypto::CryptoError;
use crate::kms::{KmsError, KmsErrorKind};
use crate::suite::CommitmentPolicy;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The part of a message that a parse or integrity error refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
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
    /// The calling program used the API in a way it does not allow (see
    /// [`ApiMisuse`]): a bug in the caller, not a fault of the message.
    ApiMisuse,
    /// Neither the input, the caller nor the keys caused it: an invariant
    /// inside envelope broke (a bug), or the platform's cryptography failed
    /// (the system random generator).
    Internal,
}

impl From<&KmsError> for ErrorKind {
    /// How a KMS error is classed: a ciphertext that does not open is an
    /// integrity failure, a rejected request field a usage error, and every
    /// other refusal or failure of the service a key-service error.
    fn from(e: &KmsError) -> Self {
        match e.kind {
            KmsErrorKind::InvalidCiphertextException | KmsErrorKind::IncorrectKeyException => {
                ErrorKind::Integrity
            }
            KmsErrorKind::ValidationException => ErrorKind::Usage,
            _ => ErrorKind::KeyService,
        }
    }
}

/// Ways a calling program can use the API wrongly ([`Error::ApiMisuse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiMisuse {
    /// `Encryptor::update` after `Encryptor::finish`.
    UpdateAfterFinish,
    /// `Encryptor::finish` a second time.
    FinishTwice,
    /// An encryptor handed to an adapter after it had already written output.
    EncryptorInUse,
    /// An async adapter used outside a tokio runtime, which it needs for its
    /// blocking pool.
    NoTokioRuntime,
    /// An adapter used again after an error ended its message.
    UsedAfterError,
    /// A keyring's `on_encrypt` succeeded without producing a data key.
    KeyringProducedNoDataKey,
    /// A keyring's `on_encrypt` produced a data key of the wrong length for the suite.
    DataKeyLength {
        /// The length produced.
        got: usize,
        /// The suite's key length.
        want: usize,
    },
    /// A header would carry no encrypted data key.
    NoEncryptedDataKey,
    /// A message id of the wrong length for the suite.
    MessageIdLength {
        /// The length given.
        got: usize,
        /// The suite's message id length.
        want: usize,
    },
    /// A key commitment given for a non-committing suite, or missing for a committing one.
    CommitmentForSuite,
}

impl fmt::Display for ApiMisuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiMisuse::UpdateAfterFinish => f.write_str("update after finish"),
            ApiMisuse::FinishTwice => f.write_str("finish called twice"),
            ApiMisuse::EncryptorInUse => f.write_str("the encryptor has already written output"),
            ApiMisuse::NoTokioRuntime => f.write_str("called outside a tokio runtime"),
            ApiMisuse::UsedAfterError => f.write_str("used again after an error ended the message"),
            ApiMisuse::KeyringProducedNoDataKey => f.write_str("the keyring produced no data key"),
            ApiMisuse::DataKeyLength { got, want } => {
                write!(
                    f,
                    "the keyring produced a {got}-byte data key; the suite needs {want} bytes"
                )
            }
            ApiMisuse::NoEncryptedDataKey => f.write_str("no encrypted data key to write"),
            ApiMisuse::MessageIdLength { got, want } => {
                write!(f, "message id of {got} bytes for a suite that uses {want}")
            }
            ApiMisuse::CommitmentForSuite => {
                f.write_str("a key commitment is given exactly for committing suites")
            }
        }
    }
}

/// Why an encrypted data key of the message is unusable ([`Error::EncryptedDataKey`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EdkFault {
    /// The provider info is not UTF-8 text.
    ProviderInfoNotUtf8,
    /// The provider info is not a KMS key ARN (the text as found).
    ProviderInfoNotKeyArn(String),
    /// The key unwraps to a data key of the wrong length for the message's suite.
    DataKeyLength {
        /// The length unwrapped.
        got: usize,
        /// The suite's key length.
        want: usize,
    },
}

impl fmt::Display for EdkFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EdkFault::ProviderInfoNotUtf8 => f.write_str("provider info is not UTF-8"),
            EdkFault::ProviderInfoNotKeyArn(text) => {
                write!(f, "provider info '{text}' is not a KMS key ARN")
            }
            EdkFault::DataKeyLength { got, want } => {
                write!(f, "it holds a {got}-byte data key; the suite needs {want} bytes")
            }
        }
    }
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
        policy: CommitmentPolicy,
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
    /// An encrypted data key of the message is not what its provider writes.
    #[error("{provider_id} encrypted data key: {fault}")]
    EncryptedDataKey {
        /// The EDK's provider id.
        provider_id: String,
        /// What is wrong with it.
        fault: EdkFault,
    },
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
    /// A size limit was exceeded: a bound of the format, or one that keeps
    /// a hostile input from making the parser hold too much.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// A length the message declares is allowed by the format but over the
    /// caller's limit ([`Limits::max_body_length`],
    /// [`Limits::max_frame_length`] or [`Limits::max_header_size`]). A valid message can do this, so it is
    /// the caller's setting that refuses it (a usage error): a larger limit
    /// may accept it.
    ///
    /// [`Limits::max_body_length`]: crate::format::Limits::max_body_length
    /// [`Limits::max_frame_length`]: crate::format::Limits::max_frame_length
    /// [`Limits::max_header_size`]: crate::format::Limits::max_header_size
    #[error("{what} of {length} bytes is over the limit of {limit} bytes")]
    LengthLimit {
        /// What is too long: "frame length", "non-framed body" or "header".
        what: &'static str,
        /// The length the message declares (for a header still arriving,
        /// the least it can be).
        length: u64,
        /// The limit in force.
        limit: u64,
    },
    /// An invalid option or argument.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A wrapping key could not be loaded or used.
    #[error("key: {0}")]
    Key(String),
    /// The KMS core (or a KMS keyring) returned an error.
    #[error(transparent)]
    Kms(#[from] KmsError),
    /// The key service answered with something a KMS keyring cannot accept
    /// (a key id that is not a key ARN, a data key of the wrong length).
    #[error("the key service's answer is unusable: {0}")]
    KmsResponse(String),
    /// An I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A cryptographic primitive failed in a way not caused by the input: the
    /// random generator, or the backend itself. (Key problems the crypto layer
    /// finds arrive as [`Error::Key`], bad names as [`Error::Config`], a bad
    /// signature as [`Error::Signature`].)
    #[error(transparent)]
    Crypto(CryptoError),
    /// The calling program used the API wrongly.
    #[error("API misuse: {0}")]
    ApiMisuse(ApiMisuse),
    /// An internal invariant broke: a bug in envelope.
    #[error("internal error (a bug in envelope): {0}")]
    Unreachable(&'static str),
}

impl From<CryptoError> for Error {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::Key(m) => Error::Key(m),
            CryptoError::Unsupported(m) => Error::Config(m),
            CryptoError::BadSignature => Error::Signature,
            e => Error::Crypto(e),
        }
    }
}

impl From<ApiMisuse> for Error {
    fn from(m: ApiMisuse) -> Self {
        Error::ApiMisuse(m)
    }
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
            | Error::EncryptedDataKey { .. } => ErrorKind::Integrity,
            Error::CommitmentPolicy { .. }
            | Error::SignedMessageRefused(_)
            | Error::Config(_)
            | Error::LengthLimit { .. }
            | Error::Key(_) => ErrorKind::Usage,
            Error::Kms(e) => ErrorKind::from(e),
            Error::KmsResponse(_) => ErrorKind::KeyService,
            Error::Io(_) => ErrorKind::Io,
            Error::Crypto(e) => match e {
                CryptoError::Key(_) | CryptoError::Unsupported(_) => ErrorKind::Usage,
                CryptoError::BadSignature => ErrorKind::Integrity,
                _ => ErrorKind::Internal,
            },
            Error::ApiMisuse(_) => ErrorKind::ApiMisuse,
            Error::Unreachable(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn malformed(part: Part, detail: impl Into<String>) -> Self {
        Error::Malformed {
            part,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bugs_and_a_failing_random_generator_are_not_tampering() {
        let internal = [
            Error::Unreachable("decryptor has no keys"),
            Error::from(CryptoError::Random),
            Error::from(CryptoError::Backend("AES-GCM seal failed")),
        ];
        for e in internal {
            assert_eq!(e.kind(), ErrorKind::Internal, "{e}");
        }
        for m in [ApiMisuse::UpdateAfterFinish, ApiMisuse::KeyringProducedNoDataKey] {
            assert_eq!(Error::from(m).kind(), ErrorKind::ApiMisuse, "{m}");
        }
        assert!(matches!(
            Error::from(CryptoError::Random),
            Error::Crypto(CryptoError::Random)
        ));
    }

    #[test]
    fn message_faults_are_integrity() {
        let e = Error::EncryptedDataKey {
            provider_id: "aws-kms".into(),
            fault: EdkFault::ProviderInfoNotKeyArn("arn:aws:kms:x".into()),
        };
        assert_eq!(e.kind(), ErrorKind::Integrity);
        assert_eq!(
            e.to_string(),
            "aws-kms encrypted data key: provider info 'arn:aws:kms:x' is not a KMS key ARN"
        );
        assert_eq!(
            Error::from(CryptoError::BadSignature).kind(),
            ErrorKind::Integrity
        );
    }

    #[test]
    fn crypto_key_and_name_problems_keep_their_library_variants() {
        assert!(matches!(Error::from(CryptoError::Key("k".into())), Error::Key(m) if m == "k"));
        assert!(matches!(
            Error::from(CryptoError::Unsupported("u".into())),
            Error::Config(_)
        ));
        assert!(matches!(Error::from(CryptoError::BadSignature), Error::Signature));
    }

    #[test]
    fn kms_errors_are_classed_by_their_aws_name() {
        for (k, want) in [
            (KmsErrorKind::InvalidCiphertextException, ErrorKind::Integrity),
            (KmsErrorKind::IncorrectKeyException, ErrorKind::Integrity),
            (KmsErrorKind::ValidationException, ErrorKind::Usage),
            (KmsErrorKind::NotFoundException, ErrorKind::KeyService),
            (KmsErrorKind::KMSInternalException, ErrorKind::KeyService),
        ] {
            assert_eq!(Error::from(KmsError::new(k, "m")).kind(), want, "{k:?}");
        }
    }
}
