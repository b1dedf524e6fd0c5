//! envelope: envelope encryption in the AWS Encryption SDK (ESDK) message format.
//!
//! Layers, with data flowing one way:
//!
//! * [`format`]: the pure byte codec of the ESDK message format (no I/O, no crypto).
//! * [`crypto`]: thin wrappers over aws-lc-rs (AES-GCM, HKDF, ECDSA, RSA).
//! * [`keyring`]: raw AES, raw RSA, KMS and multi keyrings that wrap data keys.
//! * [`stream`]: the sans-I/O encrypt/decrypt engine, its `Read`/`Write` adapters
//!   and one-shot helpers.
//! * [`kms`]: the embedded KMS core, a local key service with AWS KMS semantics,
//!   behind the [`kms::Kms`] trait.
//! * `server` (feature `server`, on by default): the KMS core on the AWS KMS
//!   wire protocol, for AWS SDKs, the AWS CLI and the official ESDKs.
//!
//! ```
//! use envelope::keyring::raw_aes::RawAesKeyring;
//! use envelope::stream::{decrypt, encrypt, DecryptOptions, EncryptOptions};
//!
//! let keyring = RawAesKeyring::new("my-namespace", "my-key", &[7u8; 32])?;
//! let message = encrypt(&keyring, &EncryptOptions::default(), b"hello")?;
//! let opened = decrypt(&keyring, &DecryptOptions::default(), &message)?;
//! assert_eq!(opened.plaintext, b"hello");
//!
//! // The wrong key opens nothing.
//! let other = RawAesKeyring::new("my-namespace", "my-key", &[8u8; 32])?;
//! assert!(decrypt(&other, &DecryptOptions::default(), &message).is_err());
//! # Ok::<(), envelope::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod crypto;
pub mod error;
pub mod format;
pub mod keyring;
pub mod kms;
#[cfg(feature = "server")]
pub mod server;
pub mod stream;

pub use error::{Error, ErrorKind, Result};
pub use format::context::EncryptionContext;
pub use format::suite::{AlgorithmSuite, CommitmentPolicy};
pub use stream::{decrypt, encrypt, DecryptOptions, EncryptOptions};
