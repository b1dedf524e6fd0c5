//! The KMS core: a local key service with AWS KMS semantics.

mod error;

pub use error::{KmsError, KmsErrorKind};
