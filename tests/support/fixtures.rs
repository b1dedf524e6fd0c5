//! Keys, keyrings and options that many tests need in the same shape.

use std::path::{Path, PathBuf};

use envelope::keyring::raw_aes::RawAesKeyring;
use envelope::keyring::{DecryptionMaterials, EncryptionMaterials};
use envelope::stream::{DecryptOptions, EncryptOptions};
use envelope::{AlgorithmSuite, CommitmentPolicy, EncryptionContext};

/// The wrapping key of [`keyring`]: 32 bytes, as AES-256 wants.
pub const KEY: [u8; 32] = [0x42; 32];
/// The key namespace (provider id) of the test keyrings, in the library and on the CLI.
pub const NAMESPACE: &str = "tests";
/// The key name of the test keyrings, in the library and on the CLI.
pub const KEY_NAME: &str = "aes-1";

/// The raw AES keyring of tests that need some keyring: [`KEY`] under
/// [`NAMESPACE`] / [`KEY_NAME`].
pub fn keyring() -> RawAesKeyring {
    keyring_with(&KEY)
}

/// The test keyring with another wrapping key (16, 24 or 32 bytes).
pub fn keyring_with(key: &[u8]) -> RawAesKeyring {
    RawAesKeyring::new(NAMESPACE, KEY_NAME, key).expect("a 16-, 24- or 32-byte AES key")
}

/// The CLI's `-w` words for the test keyring whose key bytes are in `key_file`.
pub fn raw_aes_words(key_file: &Path) -> Vec<String> {
    vec![
        "-w".into(),
        "provider=raw-aes".into(),
        format!("key={}", key_file.display()),
        format!("namespace={NAMESPACE}"),
        format!("name={KEY_NAME}"),
    ]
}

/// A file of the repository, by its path from the crate root (tests do not
/// depend on the directory they are run from).
/// Writes [`KEY`] to `path` as a CLI key file: owner-only, as a careful user
/// keeps one (envelope warns about a secret key file others can read), and as
/// base64 text with its newline, since its 32 raw bytes (`B` x 32) are also
/// base64 text, which the CLI refuses as ambiguous.
pub fn write_key_file(path: &Path) {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(KEY) + "\n";
    std::fs::write(path, text).expect("write the key file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod the key file");
    }
}

pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The known-answer set's AES-256 keyring (`testdata/kat/keys/aes-256.key`,
/// namespace `envelope-kat`), which opens the messages under `testdata/kat`.
pub fn kat_keyring() -> RawAesKeyring {
    let key =
        std::fs::read(repo_file("testdata/kat/keys/aes-256.key")).expect("testdata/kat/keys/aes-256.key");
    RawAesKeyring::new("envelope-kat", "aes-256", &key).expect("the known-answer AES key")
}

/// The commitment policy under which `suite` may encrypt: committing suites
/// under the strictest policy, the others under the only policy that allows
/// them.
pub fn policy_for(suite: &AlgorithmSuite) -> CommitmentPolicy {
    if suite.is_committing() {
        CommitmentPolicy::RequireEncryptRequireDecrypt
    } else {
        CommitmentPolicy::ForbidEncryptAllowDecrypt
    }
}

/// Options that encrypt with `suite` in frames of `frame_length` bytes, under
/// the policy that suite needs; everything else as the library's default.
pub fn encrypt_options(suite: &'static AlgorithmSuite, frame_length: u32) -> EncryptOptions {
    EncryptOptions {
        suite: Some(suite),
        frame_length,
        commitment_policy: policy_for(suite),
        ..EncryptOptions::default()
    }
}

/// Options that decrypt messages of every suite, committing or not.
pub fn allow_all() -> DecryptOptions {
    DecryptOptions {
        commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
        ..DecryptOptions::default()
    }
}

/// Encryption materials for `suite` and `ec`, before any keyring has run.
pub fn enc_materials(suite: &'static AlgorithmSuite, ec: EncryptionContext) -> EncryptionMaterials {
    EncryptionMaterials {
        suite,
        encryption_context: ec,
        required_encryption_context_keys: Vec::new(),
        plaintext_data_key: None,
        encrypted_data_keys: Vec::new(),
    }
}

/// Decryption materials for `suite` and `ec`, before any keyring has run.
pub fn dec_materials(suite: &'static AlgorithmSuite, ec: EncryptionContext) -> DecryptionMaterials {
    DecryptionMaterials {
        suite,
        encryption_context: ec,
        required_encryption_context_keys: Vec::new(),
        plaintext_data_key: None,
    }
}
