//! KMS errors, named as AWS KMS names them.
//!
//! The KMS core's error stands on its own: it names no other layer of the
//! crate, so the core can be served (or replaced by a remote service) behind
//! the [`super::Kms`] trait. The library error wraps it, and classes it by its
//! AWS name ([`crate::ErrorKind`]'s `From<&KmsError>`).

use std::fmt;

use crate::crypto::CryptoError;

/// The AWS error names the KMS core returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KmsErrorKind {
    /// The key, alias or ARN does not exist.
    NotFoundException,
    /// The key is disabled.
    DisabledException,
    /// The key's state does not allow the operation.
    KMSInvalidStateException,
    /// The ciphertext or its encryption context is wrong or tampered.
    InvalidCiphertextException,
    /// The key id given does not match the ciphertext's key.
    IncorrectKeyException,
    /// The key's usage does not allow the operation.
    InvalidKeyUsageException,
    /// A request field is invalid.
    ValidationException,
    /// The alias already exists.
    AlreadyExistsException,
    /// The operation is not supported for this key.
    UnsupportedOperationException,
    /// A quota was reached (for example on-demand rotations of one key).
    LimitExceededException,
    /// A pagination marker is not one this service returned.
    InvalidMarkerException,
    /// The key store cannot be unlocked: wrong root key file or passphrase.
    AccessDeniedException,
    /// The key store failed.
    KMSInternalException,
    /// A remote service refused the request rate.
    ThrottlingException,
    /// A remote service timed out on a service it depends on.
    DependencyTimeoutException,
    /// A remote service's key material is unavailable for now.
    KeyUnavailableException,
    /// A remote service refused an ARN as malformed.
    InvalidArnException,
    /// A remote service refused a grant token.
    InvalidGrantTokenException,
    /// An error name this list does not have, from a remote service: the
    /// message begins with the service's own name for it
    /// (`UnrecognizedClientException: ...`), so that name is never lost.
    Other,
    /// A remote service could not be reached or gave no usable answer
    /// (connection refused, DNS, TLS, timeout, a response that is not AWS
    /// KMS's); the message names the endpoint. Not an AWS error name.
    Unreachable,
}

impl KmsErrorKind {
    /// The AWS error name, as in the `__type` field of a KMS error response.
    pub fn name(self) -> &'static str {
        match self {
            KmsErrorKind::NotFoundException => "NotFoundException",
            KmsErrorKind::DisabledException => "DisabledException",
            KmsErrorKind::KMSInvalidStateException => "KMSInvalidStateException",
            KmsErrorKind::InvalidCiphertextException => "InvalidCiphertextException",
            KmsErrorKind::IncorrectKeyException => "IncorrectKeyException",
            KmsErrorKind::InvalidKeyUsageException => "InvalidKeyUsageException",
            KmsErrorKind::ValidationException => "ValidationException",
            KmsErrorKind::AlreadyExistsException => "AlreadyExistsException",
            KmsErrorKind::UnsupportedOperationException => "UnsupportedOperationException",
            KmsErrorKind::LimitExceededException => "LimitExceededException",
            KmsErrorKind::InvalidMarkerException => "InvalidMarkerException",
            KmsErrorKind::AccessDeniedException => "AccessDeniedException",
            KmsErrorKind::KMSInternalException => "KMSInternalException",
            KmsErrorKind::ThrottlingException => "ThrottlingException",
            KmsErrorKind::DependencyTimeoutException => "DependencyTimeoutException",
            KmsErrorKind::KeyUnavailableException => "KeyUnavailableException",
            KmsErrorKind::InvalidArnException => "InvalidArnException",
            KmsErrorKind::InvalidGrantTokenException => "InvalidGrantTokenException",
            // The service's own name is the start of the message.
            KmsErrorKind::Other => "KMSException",
            KmsErrorKind::Unreachable => "Unreachable",
        }
    }

    /// The kind of an AWS error name; [`KmsErrorKind::Other`] for a name not listed.
    pub fn from_name(name: &str) -> KmsErrorKind {
        const ALL: &[KmsErrorKind] = &[
            KmsErrorKind::NotFoundException,
            KmsErrorKind::DisabledException,
            KmsErrorKind::KMSInvalidStateException,
            KmsErrorKind::InvalidCiphertextException,
            KmsErrorKind::IncorrectKeyException,
            KmsErrorKind::InvalidKeyUsageException,
            KmsErrorKind::ValidationException,
            KmsErrorKind::AlreadyExistsException,
            KmsErrorKind::UnsupportedOperationException,
            KmsErrorKind::LimitExceededException,
            KmsErrorKind::InvalidMarkerException,
            KmsErrorKind::AccessDeniedException,
            KmsErrorKind::KMSInternalException,
            KmsErrorKind::ThrottlingException,
            KmsErrorKind::DependencyTimeoutException,
            KmsErrorKind::KeyUnavailableException,
            KmsErrorKind::InvalidArnException,
            KmsErrorKind::InvalidGrantTokenException,
        ];
        ALL.iter()
            .copied()
            .find(|k| k.name() == name)
            .unwrap_or(KmsErrorKind::Other)
    }
}

/// An error from the KMS core: an AWS error name and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsError {
    /// The AWS error name.
    pub kind: KmsErrorKind,
    /// The human-readable message (never key material).
    pub message: String,
}

impl KmsError {
    /// Makes an error of `kind` with `message`.
    pub fn new(kind: KmsErrorKind, message: impl Into<String>) -> Self {
        KmsError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn validation(message: impl Into<String>) -> Self {
        KmsError::new(KmsErrorKind::ValidationException, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        KmsError::new(KmsErrorKind::NotFoundException, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        KmsError::new(KmsErrorKind::KMSInternalException, message)
    }

    /// The one message for every ciphertext that does not open: AWS does not
    /// say whether the blob, the key material or the encryption context was wrong.
    pub(crate) fn invalid_ciphertext() -> Self {
        KmsError::new(
            KmsErrorKind::InvalidCiphertextException,
            "The ciphertext is invalid, was tampered with, or its encryption context does not match.",
        )
    }
}

impl From<CryptoError> for KmsError {
    /// A failure of the cryptography under the service is the service's own
    /// failure, as AWS reports it: `KMSInternalException`.
    fn from(e: CryptoError) -> Self {
        KmsError::internal(e.to_string())
    }
}

impl fmt::Display for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            // The message carries the service's name, or is not an AWS error.
            KmsErrorKind::Other | KmsErrorKind::Unreachable => f.write_str(&self.message),
            _ => write!(f, "{}: {}", self.kind.name(), self.message),
        }
    }
}

impl std::error::Error for KmsError {}
