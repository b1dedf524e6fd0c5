//! The KMS core: a local key service with AWS KMS semantics.
//!
//! [`Kms`] is the service's interface, one method per AWS KMS operation with
//! typed requests and responses shaped like the AWS JSON API, and
//! free of storage details so that the same types can be served over HTTP.
//! [`KmsCore`] implements it over a SQLite key store.
//!
//! Key hierarchy, after AWS KMS: a root (domain) key, from a key file or an
//! Argon2id passphrase, protects every backing key at rest (module `rootkey`);
//! each request derives a one-use AES-256-GCM key from a backing key and a
//! fresh 128-bit nonce with the SP 800-108 counter-mode KDF (module `blob`,
//! which also documents the ciphertext layout). Rotation adds backing-key
//! versions and keeps the old ones, so older ciphertexts still decrypt.
//!
//! The store is SQLite in WAL mode (module `core` describes the locking), in a
//! directory chosen by [`KmsConfig::from_env`]: `--keystore DIR`, else
//! `$ENVELOPE_HOME`, else `<user data dir>/envelope`. Region and account of
//! the ARNs are fixed when a store is created ([`Identity`]), by default
//! [`DEFAULT_REGION`] and [`DEFAULT_ACCOUNT_ID`].
//!
//! Key ids are accepted in the four AWS forms (key id, key ARN, alias name,
//! alias ARN) where AWS accepts them; responses name keys by ARN. ARNs use
//! the store's partition, region and account ([`KmsCore::identity`]).

mod access_keys;
mod admin;
mod b64;
mod blob;
mod config;
mod core;
mod creation;
mod error;
mod files;
mod identity;
mod ids;
mod migrate;
mod ops;
mod recent;
mod rekey;
mod rootkey;
mod rsa;
mod seed;
mod service;
mod shred;
mod specs;
mod store;
mod types;

pub use self::core::{KmsCore, DB_FILE};
pub use access_keys::{AccessKeyInfo, NewAccessKey, ACCESS_KEY_ID_PREFIX};
pub use blob::OVERHEAD as SYMMETRIC_BLOB_OVERHEAD;
pub use config::{
    Clock, Identity, KmsConfig, DEFAULT_ACCOUNT_ID, DEFAULT_PARTITION, DEFAULT_REGION, ENV_ACCOUNT_ID,
    ENV_ALLOW_INSECURE, ENV_HOME, ENV_PASSPHRASE, ENV_REGION,
};
pub use error::{KmsError, KmsErrorKind};
pub use ids::Arn;
pub use ops::{MAX_CIPHERTEXT_BLOB, MAX_NUMBER_OF_BYTES, MAX_PLAINTEXT};
pub use rekey::RootKeyChange;
pub use seed::{Seed, SeedAlias, SeedKey, SeedReport};
pub use specs::{DataKeySpec, EncryptionAlgorithmSpec, KeySpec, KeyState, KeyUsage};
pub use types::{
    AliasListEntry, CancelKeyDeletionRequest, CancelKeyDeletionResponse, CreateAliasRequest,
    CreateKeyRequest, CreateKeyResponse, DecryptRequest, DecryptResponse, DeleteAliasRequest,
    DescribeKeyRequest, DescribeKeyResponse, DisableKeyRequest, DisableKeyRotationRequest, EmptyResponse,
    EnableKeyRequest, EnableKeyRotationRequest, EncryptRequest, EncryptResponse, EncryptionContext,
    GenerateDataKeyRequest, GenerateDataKeyResponse, GenerateDataKeyWithoutPlaintextRequest,
    GenerateDataKeyWithoutPlaintextResponse, GenerateRandomRequest, GenerateRandomResponse,
    GetKeyRotationStatusRequest, GetKeyRotationStatusResponse, GetPublicKeyRequest, GetPublicKeyResponse,
    KeyIdRequest, KeyIdResponse, KeyListEntry, KeyMetadata, ListAliasesRequest, ListAliasesResponse,
    ListKeysRequest, ListKeysResponse, ReEncryptRequest, ReEncryptResponse, RotateKeyOnDemandRequest,
    RotateKeyOnDemandResponse, ScheduleKeyDeletionRequest, ScheduleKeyDeletionResponse, UpdateAliasRequest,
};

/// The alias of the CLI's default key, created on first use.
pub const DEFAULT_KEY_ALIAS: &str = "alias/envelope-default";

/// An AWS KMS-compatible key service. Every method is one AWS operation.
///
/// # A blocking interface
///
/// The methods are synchronous and may block on I/O: the embedded
/// [`KmsCore`] reads and writes SQLite, a remote service waits on the
/// network. So they must never be called on an async runtime's worker
/// thread: from async code, call them through
/// `tokio::task::spawn_blocking` (the async stream adapters,
/// `envelope::stream::tokio`, do so for every keyring call, and keyrings are
/// what call this trait).
///
/// The contract for implementations: a method may be called from any
/// thread, including a blocking-pool thread inside the caller's own tokio
/// runtime, and must then neither panic nor deadlock. An implementation
/// built on an async client (such as `aws-sdk-kms`) therefore owns a
/// private runtime on its own threads, sends each request there and waits
/// for the answer on a plain (`std`) channel; it must not call
/// `Runtime::block_on` or `Handle::block_on` on the caller's runtime, which
/// panics on a worker thread ("Cannot start a runtime from within a
/// runtime") and can starve a current-thread runtime. `RemoteKms` (module
/// `remote_kms`, feature `remote`) is built so.
///
/// What a caller inside a tokio runtime must do: run the call (or the
/// keyring, or the whole synchronous encryption) in
/// `tokio::task::spawn_blocking`, or use the async adapters, which do that
/// themselves; never call it directly in an `async fn`.
pub trait Kms: Send + Sync {
    /// CreateKey: a symmetric (default) or RSA encryption key.
    fn create_key(&self, req: &CreateKeyRequest) -> Result<CreateKeyResponse, KmsError>;
    /// DescribeKey.
    fn describe_key(&self, req: &DescribeKeyRequest) -> Result<DescribeKeyResponse, KmsError>;
    /// ListKeys, paginated.
    fn list_keys(&self, req: &ListKeysRequest) -> Result<ListKeysResponse, KmsError>;
    /// CreateAlias.
    fn create_alias(&self, req: &CreateAliasRequest) -> Result<EmptyResponse, KmsError>;
    /// UpdateAlias: point an alias at another key of the same type.
    fn update_alias(&self, req: &UpdateAliasRequest) -> Result<EmptyResponse, KmsError>;
    /// DeleteAlias.
    fn delete_alias(&self, req: &DeleteAliasRequest) -> Result<EmptyResponse, KmsError>;
    /// ListAliases, paginated, optionally of one key.
    fn list_aliases(&self, req: &ListAliasesRequest) -> Result<ListAliasesResponse, KmsError>;
    /// EnableKey.
    fn enable_key(&self, req: &EnableKeyRequest) -> Result<EmptyResponse, KmsError>;
    /// DisableKey.
    fn disable_key(&self, req: &DisableKeyRequest) -> Result<EmptyResponse, KmsError>;
    /// ScheduleKeyDeletion: the key is deleted once the waiting period is over.
    fn schedule_key_deletion(
        &self,
        req: &ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError>;
    /// CancelKeyDeletion: the key returns as Disabled.
    fn cancel_key_deletion(
        &self,
        req: &CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError>;
    /// EnableKeyRotation (automatic rotation).
    fn enable_key_rotation(&self, req: &EnableKeyRotationRequest) -> Result<EmptyResponse, KmsError>;
    /// DisableKeyRotation.
    fn disable_key_rotation(&self, req: &DisableKeyRotationRequest) -> Result<EmptyResponse, KmsError>;
    /// GetKeyRotationStatus.
    fn get_key_rotation_status(
        &self,
        req: &GetKeyRotationStatusRequest,
    ) -> Result<GetKeyRotationStatusResponse, KmsError>;
    /// RotateKeyOnDemand: new key material now; older material keeps decrypting.
    fn rotate_key_on_demand(
        &self,
        req: &RotateKeyOnDemandRequest,
    ) -> Result<RotateKeyOnDemandResponse, KmsError>;
    /// Encrypt up to 4096 bytes.
    fn encrypt(&self, req: &EncryptRequest) -> Result<EncryptResponse, KmsError>;
    /// Decrypt.
    fn decrypt(&self, req: &DecryptRequest) -> Result<DecryptResponse, KmsError>;
    /// ReEncrypt: decrypt and encrypt again without releasing the plaintext.
    fn re_encrypt(&self, req: &ReEncryptRequest) -> Result<ReEncryptResponse, KmsError>;
    /// GenerateDataKey.
    fn generate_data_key(&self, req: &GenerateDataKeyRequest) -> Result<GenerateDataKeyResponse, KmsError>;
    /// GenerateDataKeyWithoutPlaintext.
    fn generate_data_key_without_plaintext(
        &self,
        req: &GenerateDataKeyWithoutPlaintextRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError>;
    /// GenerateRandom.
    fn generate_random(&self, req: &GenerateRandomRequest) -> Result<GenerateRandomResponse, KmsError>;
    /// GetPublicKey of an RSA key.
    fn get_public_key(&self, req: &GetPublicKeyRequest) -> Result<GetPublicKeyResponse, KmsError>;
}
