//! A KMS core in a temporary key store, with a clock the test moves.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use envelope::keyring::kms::KmsKeyring;
use envelope::kms::{
    Clock, CreateKeyRequest, DecryptRequest, DecryptResponse, EmptyResponse, EncryptRequest, EncryptResponse,
    KeyIdRequest, KeyMetadata, KeySpec, KeyUsage, Kms, KmsConfig, KmsCore, KmsError,
};
use envelope::EncryptionContext;
use envelope::Secret;
use zeroize::Zeroizing;

/// Where the test clock starts (Unix seconds, in 2027).
pub const T0: u64 = 1_800_000_000;

/// Opens (or creates) a store in `dir` whose clock reads `clock`.
pub fn open_at(dir: &Path, clock: &Arc<AtomicU64>) -> Result<KmsCore, KmsError> {
    let mut c = KmsConfig::new(dir);
    let t = clock.clone();
    c.clock = Clock::from_fn(move || t.load(Ordering::SeqCst));
    KmsCore::open(c)
}

/// A fresh store (`ks/` in a temporary directory) whose clock starts at [`T0`].
pub struct Env {
    _dir: tempfile::TempDir,
    pub clock: Arc<AtomicU64>,
    pub kms: Arc<KmsCore>,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(AtomicU64::new(T0));
        let kms = Arc::new(open_at(&dir.path().join("ks"), &clock).unwrap());
        Env {
            _dir: dir,
            clock,
            kms,
        }
    }

    /// The key store's directory.
    pub fn path(&self) -> PathBuf {
        self.kms.keystore().to_path_buf()
    }

    /// Moves the clock on by `secs`.
    pub fn advance(&self, secs: u64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    /// The core as a `Kms`, for keyrings.
    pub fn dyn_kms(&self) -> Arc<dyn Kms> {
        self.kms.clone()
    }

    /// A new symmetric key.
    pub fn key(&self) -> KeyMetadata {
        self.key_spec(None)
    }

    /// A new key of `spec` (symmetric when `None`).
    pub fn key_spec(&self, spec: Option<KeySpec>) -> KeyMetadata {
        self.kms
            .create_key(&CreateKeyRequest {
                key_spec: spec,
                key_usage: spec.map(|_| KeyUsage::EncryptDecrypt),
                ..Default::default()
            })
            .unwrap()
            .key_metadata
    }

    /// A strict KMS keyring over this core for the key ids or aliases `ids`.
    pub fn strict(&self, ids: &[&str]) -> KmsKeyring {
        KmsKeyring::strict(self.dyn_kms(), ids.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    pub fn encrypt(
        &self,
        key_id: &str,
        pt: &[u8],
        ec: &EncryptionContext,
    ) -> Result<EncryptResponse, KmsError> {
        self.kms.encrypt(&EncryptRequest {
            key_id: key_id.into(),
            plaintext: secret(pt),
            encryption_context: ec.clone(),
            encryption_algorithm: None,
        })
    }

    pub fn decrypt(
        &self,
        blob: &[u8],
        ec: &EncryptionContext,
        key_id: Option<&str>,
    ) -> Result<DecryptResponse, KmsError> {
        self.kms.decrypt(&DecryptRequest {
            ciphertext_blob: blob.to_vec(),
            encryption_context: ec.clone(),
            key_id: key_id.map(Into::into),
            encryption_algorithm: None,
        })
    }

    /// Runs an operation that takes only a key id.
    pub fn key_id_op(
        &self,
        f: fn(&KmsCore, &KeyIdRequest) -> Result<EmptyResponse, KmsError>,
        id: &str,
    ) -> Result<(), KmsError> {
        f(&self.kms, &KeyIdRequest { key_id: id.into() }).map(|_| ())
    }
}

/// `b` as a secret.
pub fn secret(b: &[u8]) -> Secret {
    Zeroizing::new(b.to_vec())
}
