//! envelope: envelope encryption in the AWS Encryption SDK (ESDK) message format.
//!
//! Layers, each with one job, importing only downward (a test,
//! `src/layering.rs`, fails the build's tests when an import crosses back):
//!
//! * [`suite`]: the ground vocabulary, pure data: the algorithm suites, the
//!   commitment policy, the AES-GCM and commitment lengths.
//! * [`format`](mod@format): the message's data types and its pure,
//!   incremental byte codec (no I/O, no cryptography).
//! * `crypto` (private): the one door to aws-lc-rs (AES-GCM, HKDF, HMAC,
//!   SP 800-108, ECDSA, RSA, ECDH, Argon2id); its errors are [`CryptoError`].
//! * [`keyring`]: raw AES, raw RSA, raw ECDH, KMS and multi keyrings that wrap data keys.
//! * [`stream`]: the sans-I/O encrypt/decrypt engine, its `Read`/`Write` adapters
//!   and one-shot helpers.
//! * [`kms`]: the embedded KMS core, a local key service with AWS KMS semantics,
//!   behind the [`kms::Kms`] trait, standing beside the others on `crypto` alone.
//! * `server` (feature `server`, on by default): the KMS core on the AWS KMS
//!   wire protocol, for AWS SDKs, the AWS CLI and the official ESDKs.
//! * `remote_kms` (feature `remote`, on by default): a remote key service
//!   (AWS KMS, an `envelope kms serve`, an emulator) as a [`kms::Kms`], on
//!   the official AWS SDK; it stands beside `kms`, on its types alone.
//!
//! Errors are one [`Error`] enum; [`Error::kind`] says whose fault it was
//! ([`ErrorKind`]). What a message carries is in [`format`](mod@format)
//! ([`format::Header`], [`format::EncryptedDataKey`]); the most used names
//! are re-exported here.
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
#![deny(rustdoc::broken_intra_doc_links)]
#![deny(unused_must_use)]

mod crypto;
mod error;
pub mod format;
pub mod keyring;
pub mod kms;
#[cfg(feature = "remote")]
pub mod remote_kms;
#[cfg(feature = "server")]
pub mod server;
pub mod stream;
pub mod suite;

#[doc(hidden)]
pub mod internal;

#[cfg(test)]
mod layering;

pub use crypto::{CryptoError, Secret};
pub use error::{ApiMisuse, EdkFault, Error, ErrorKind, Part, Result};
pub use format::EncryptionContext;
pub use stream::{decrypt, encrypt, DecryptOptions, EncryptOptions};
pub use suite::{AlgorithmSuite, CommitmentPolicy};
