//! The eleven ESDK algorithm suites and the commitment policy.
//!
//! A suite fixes everything about a message's cryptography: the AES key size,
//! how the data key becomes the content key (identity, HKDF, or committing
//! HKDF-SHA512), whether frames are followed by an ECDSA signature, and the
//! header format version. The table mirrors the ESDK specification exactly.
//!
//! This is the ground of the crate: pure data that names nothing else in it,
//! so every layer (the codec, the cryptography, the keyrings, the engine)
//! speaks of suites, policies and lengths in the same words.

use std::fmt;
use std::str::FromStr;

/// How the data key becomes the per-message content key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kdf {
    /// The data key is used directly (legacy 0x00xx suites).
    Identity,
    /// HKDF-SHA256 with info = suite id ‖ message id.
    HkdfSha256,
    /// HKDF-SHA384 with info = suite id ‖ message id.
    HkdfSha384,
    /// HKDF-SHA512 with salt = message id, plus a key commitment (v2 suites).
    HkdfSha512Commit,
}

/// The footer signature algorithm of a signing suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// ECDSA over P-256 with SHA-256.
    EcdsaP256Sha256,
    /// ECDSA over P-384 with SHA-384.
    EcdsaP384Sha384,
}

/// One ESDK algorithm suite.
#[derive(Debug, PartialEq, Eq)]
pub struct AlgorithmSuite {
    /// The two-byte suite id as written in the header.
    pub id: u16,
    /// The ESDK's name for the suite.
    pub name: &'static str,
    /// Message format version: 1, or 2 for committing suites.
    pub message_format_version: u8,
    /// AES key length in bytes; also the data key length.
    pub key_len: usize,
    /// Key derivation.
    pub kdf: Kdf,
    /// Footer signature, if any.
    pub signature: Option<Signature>,
}

/// Length of every AES-GCM IV used by the ESDK.
pub const IV_LEN: usize = 12;
/// Length of every AES-GCM tag used by the ESDK.
pub const TAG_LEN: usize = 16;
/// Length of the key commitment stored in a v2 header.
pub const COMMITMENT_LEN: usize = 32;

macro_rules! suite {
    ($c:ident, $id:expr, $name:expr, $v:expr, $len:expr, $kdf:ident, $sig:expr) => {
        #[doc = concat!("Suite `", $name, "`.")]
        pub const $c: AlgorithmSuite = AlgorithmSuite {
            id: $id,
            name: $name,
            message_format_version: $v,
            key_len: $len,
            kdf: Kdf::$kdf,
            signature: $sig,
        };
    };
}

impl AlgorithmSuite {
    suite!(
        AES_128_GCM_IV12_TAG16_NO_KDF,
        0x0014,
        "AES_128_GCM_IV12_TAG16_NO_KDF",
        1,
        16,
        Identity,
        None
    );
    suite!(
        AES_192_GCM_IV12_TAG16_NO_KDF,
        0x0046,
        "AES_192_GCM_IV12_TAG16_NO_KDF",
        1,
        24,
        Identity,
        None
    );
    suite!(
        AES_256_GCM_IV12_TAG16_NO_KDF,
        0x0078,
        "AES_256_GCM_IV12_TAG16_NO_KDF",
        1,
        32,
        Identity,
        None
    );
    suite!(
        AES_128_GCM_IV12_TAG16_HKDF_SHA256,
        0x0114,
        "AES_128_GCM_IV12_TAG16_HKDF_SHA256",
        1,
        16,
        HkdfSha256,
        None
    );
    suite!(
        AES_192_GCM_IV12_TAG16_HKDF_SHA256,
        0x0146,
        "AES_192_GCM_IV12_TAG16_HKDF_SHA256",
        1,
        24,
        HkdfSha256,
        None
    );
    suite!(
        AES_256_GCM_IV12_TAG16_HKDF_SHA256,
        0x0178,
        "AES_256_GCM_IV12_TAG16_HKDF_SHA256",
        1,
        32,
        HkdfSha256,
        None
    );
    suite!(
        AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256,
        0x0214,
        "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256",
        1,
        16,
        HkdfSha256,
        Some(Signature::EcdsaP256Sha256)
    );
    suite!(
        AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
        0x0346,
        "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
        1,
        24,
        HkdfSha384,
        Some(Signature::EcdsaP384Sha384)
    );
    suite!(
        AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
        0x0378,
        "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
        1,
        32,
        HkdfSha384,
        Some(Signature::EcdsaP384Sha384)
    );
    suite!(
        AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        0x0478,
        "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
        2,
        32,
        HkdfSha512Commit,
        None
    );
    suite!(
        AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
        0x0578,
        "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
        2,
        32,
        HkdfSha512Commit,
        Some(Signature::EcdsaP384Sha384)
    );

    /// Every suite, in id order.
    pub const ALL: [&'static AlgorithmSuite; 11] = [
        &Self::AES_128_GCM_IV12_TAG16_NO_KDF,
        &Self::AES_192_GCM_IV12_TAG16_NO_KDF,
        &Self::AES_256_GCM_IV12_TAG16_NO_KDF,
        &Self::AES_128_GCM_IV12_TAG16_HKDF_SHA256,
        &Self::AES_192_GCM_IV12_TAG16_HKDF_SHA256,
        &Self::AES_256_GCM_IV12_TAG16_HKDF_SHA256,
        &Self::AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256,
        &Self::AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
        &Self::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
        &Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        &Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
    ];

    /// The default suite under the REQUIRE_* commitment policies.
    pub const DEFAULT: &'static AlgorithmSuite = &Self::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384;

    /// Looks a suite up by its two-byte id.
    pub fn from_id(id: u16) -> Option<&'static AlgorithmSuite> {
        Self::ALL.iter().copied().find(|s| s.id == id)
    }

    /// Parses a suite given as its ESDK name or its id in hex (`0478`, `0x0578`).
    pub fn parse(text: &str) -> Option<&'static AlgorithmSuite> {
        let t = text.trim();
        if let Some(s) = Self::ALL.iter().copied().find(|s| s.name.eq_ignore_ascii_case(t)) {
            return Some(s);
        }
        let hex = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(t);
        if hex.is_empty() || hex.len() > 4 {
            return None;
        }
        u16::from_str_radix(hex, 16).ok().and_then(Self::from_id)
    }

    /// Whether the suite carries a key commitment (and uses header format v2).
    pub fn is_committing(&self) -> bool {
        self.kdf == Kdf::HkdfSha512Commit
    }

    /// Whether the message ends with an ECDSA signature footer.
    pub fn is_signing(&self) -> bool {
        self.signature.is_some()
    }

    /// Message id length: 16 bytes in format v1, 32 in v2.
    pub fn message_id_len(&self) -> usize {
        if self.message_format_version == 2 {
            32
        } else {
            16
        }
    }
}

impl fmt::Display for AlgorithmSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:04x})", self.name, self.id)
    }
}

/// The client's key-commitment policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitmentPolicy {
    /// Encrypt with non-committing suites only; decrypt anything.
    ForbidEncryptAllowDecrypt,
    /// Encrypt with committing suites only; decrypt anything.
    RequireEncryptAllowDecrypt,
    /// Encrypt and decrypt committing suites only (the default).
    #[default]
    RequireEncryptRequireDecrypt,
}

impl CommitmentPolicy {
    /// Whether encryption under `suite` is allowed.
    pub fn allows_encrypt(self, suite: &AlgorithmSuite) -> bool {
        match self {
            CommitmentPolicy::ForbidEncryptAllowDecrypt => !suite.is_committing(),
            _ => suite.is_committing(),
        }
    }

    /// Whether decryption of a message under `suite` is allowed.
    pub fn allows_decrypt(self, suite: &AlgorithmSuite) -> bool {
        match self {
            CommitmentPolicy::RequireEncryptRequireDecrypt => suite.is_committing(),
            _ => true,
        }
    }

    /// The suite used when the caller names none.
    pub fn default_suite(self) -> &'static AlgorithmSuite {
        match self {
            CommitmentPolicy::ForbidEncryptAllowDecrypt => {
                &AlgorithmSuite::AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384
            }
            _ => AlgorithmSuite::DEFAULT,
        }
    }
}

impl fmt::Display for CommitmentPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommitmentPolicy::ForbidEncryptAllowDecrypt => "FORBID_ENCRYPT_ALLOW_DECRYPT",
            CommitmentPolicy::RequireEncryptAllowDecrypt => "REQUIRE_ENCRYPT_ALLOW_DECRYPT",
            CommitmentPolicy::RequireEncryptRequireDecrypt => "REQUIRE_ENCRYPT_REQUIRE_DECRYPT",
        })
    }
}

impl FromStr for CommitmentPolicy {
    type Err = String;

    /// Accepts the CLI's kebab-case names and the ESDK's upper-case names.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "forbid-encrypt-allow-decrypt" => Ok(CommitmentPolicy::ForbidEncryptAllowDecrypt),
            "require-encrypt-allow-decrypt" => Ok(CommitmentPolicy::RequireEncryptAllowDecrypt),
            "require-encrypt-require-decrypt" => Ok(CommitmentPolicy::RequireEncryptRequireDecrypt),
            _ => Err(format!("unknown commitment policy '{s}'")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_by_name_and_hex() {
        assert_eq!(AlgorithmSuite::parse("0478").map(|s| s.id), Some(0x0478));
        assert_eq!(AlgorithmSuite::parse("0x0578").map(|s| s.id), Some(0x0578));
        assert_eq!(
            AlgorithmSuite::parse("AES_256_GCM_HKDF_SHA512_COMMIT_KEY").map(|s| s.id),
            Some(0x0478)
        );
        assert!(AlgorithmSuite::parse("0070").is_none());
        assert!(AlgorithmSuite::parse("0000").is_none());
        assert!(AlgorithmSuite::parse("").is_none());
    }

    #[test]
    fn committing_iff_v2() {
        for s in AlgorithmSuite::ALL {
            assert_eq!(s.is_committing(), s.message_format_version == 2, "{s}");
            assert_eq!(s.is_committing(), s.id >> 8 >= 4, "{s}");
        }
    }

    #[test]
    fn policy_defaults() {
        assert_eq!(CommitmentPolicy::default().default_suite().id, 0x0578);
        assert_eq!(
            CommitmentPolicy::ForbidEncryptAllowDecrypt.default_suite().id,
            0x0378
        );
    }
}
