//! What a primitive reports when it fails, in words that name no backend.
//!
//! The library error ([`crate::Error`]) and the KMS core's error both wrap
//! this type, each in its own terms: for the library a bad key is a usage
//! error and a failing random generator an internal one; for the KMS core
//! both are a `KMSInternalException`, as AWS names its own failures.

/// A failure of the cryptography layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The system random generator failed.
    #[error("the system random generator failed")]
    Random,
    /// The backend refused an operation whose inputs were valid: a broken
    /// backend or a bug in envelope, never something the input caused.
    #[error("cryptographic failure: {0}")]
    Backend(&'static str),
    /// A key could not be loaded or used: wrong length, not a key of the
    /// expected kind, a bad encoding, too small for what it must wrap.
    #[error("key: {0}")]
    Key(String),
    /// A name that names no algorithm or parameter this layer offers.
    #[error("{0}")]
    Unsupported(String),
    /// A signature did not verify.
    #[error("signature verification failed")]
    BadSignature,
}

/// Shorthand for results of the cryptography layer.
pub type Result<T, E = CryptoError> = std::result::Result<T, E>;
