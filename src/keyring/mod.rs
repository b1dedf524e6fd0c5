//! Keyrings: the things that produce, wrap and unwrap data keys.
//!
//! A keyring takes *materials* (the suite, the full encryption context and the
//! data key gathered so far) and adds to them: on encrypt it generates the data
//! key if there is none yet and appends an encrypted data key (EDK); on decrypt
//! it tries the message's EDKs and, on the first that opens, sets the data key.
//! A keyring that fails leaves the materials unchanged.

pub mod kms;
pub mod multi;
pub mod raw_aes;
pub mod raw_ecdh;
pub mod raw_rsa;

use crate::crypto::Secret;
use crate::error::Result;
use crate::format::context::EncryptionContext;
use crate::format::edk::EncryptedDataKey;
use crate::suite::AlgorithmSuite;

/// What a keyring sees and adds to when a message is encrypted.
#[derive(Debug)]
pub struct EncryptionMaterials {
    /// The message's suite; the data key is `suite.key_len` bytes.
    pub suite: &'static AlgorithmSuite,
    /// The full context: the pairs stored in the header, the required-only
    /// pairs, and `aws-crypto-public-key` for signing suites.
    pub encryption_context: EncryptionContext,
    /// Keys of `encryption_context` that are authenticated but not stored.
    pub required_encryption_context_keys: Vec<String>,
    /// The plaintext data key, once a keyring has generated it.
    pub plaintext_data_key: Option<Secret>,
    /// The EDKs wrapped so far.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
}

/// What a keyring sees and adds to when a message is decrypted.
#[derive(Debug)]
pub struct DecryptionMaterials {
    /// The message's suite.
    pub suite: &'static AlgorithmSuite,
    /// The full context: the header's pairs plus any reproduced required pairs.
    pub encryption_context: EncryptionContext,
    /// Keys of `encryption_context` that were not stored in the header.
    pub required_encryption_context_keys: Vec<String>,
    /// The plaintext data key, once a keyring has unwrapped it.
    pub plaintext_data_key: Option<Secret>,
}

/// A source of data keys. Implemented by the raw AES, raw RSA, raw ECDH, KMS and multi keyrings.
///
/// # A blocking interface
///
/// `on_encrypt` and `on_decrypt` are synchronous and may block on I/O (a
/// KMS keyring calls a [`crate::kms::Kms`]: SQLite for the embedded core,
/// the network for a remote service). They must never be called on an
/// async runtime's worker thread. The async adapters
/// (`envelope::stream::tokio`) call them on the runtime's blocking pool
/// (`tokio::task::spawn_blocking`), never on a worker; code of your own
/// that calls a keyring from async code must do the same. An
/// implementation may in turn be called on any thread, a blocking-pool
/// thread of the caller's runtime included, and must neither panic nor
/// deadlock there: see the contract on [`crate::kms::Kms`] for keyrings
/// built on an async client.
pub trait Keyring: Send + Sync {
    /// Generates the data key if there is none, and appends this keyring's EDK.
    fn on_encrypt(&self, materials: &mut EncryptionMaterials) -> Result<()>;

    /// Sets the data key from the first of `edks` this keyring can open.
    /// Does nothing if the materials already hold a data key.
    fn on_decrypt(&self, materials: &mut DecryptionMaterials, edks: &[EncryptedDataKey]) -> Result<()>;
}
