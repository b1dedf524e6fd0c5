//! The AWS string enums of the KMS API: key specs, key usages, key states
//! and encryption algorithms, with AWS's names in JSON and AWS's
//! `ValidationException` for a value outside the set.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::KmsError;

/// Declares an AWS string enum: serde names, `as_str`, `Display`, and a
/// `FromStr` that fails with AWS's enum-constraint `ValidationException`.
macro_rules! aws_enum {
    ($(#[$m:meta])* $name:ident, $field:literal, { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $var,)+
        }

        impl $name {
            /// Every value, in AWS's order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The AWS name of this value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$var => $s,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = KmsError;

            fn from_str(s: &str) -> Result<Self, KmsError> {
                match s {
                    $($s => Ok($name::$var),)+
                    _ => Err(KmsError::validation(format!(
                        "1 validation error detected: Value '{}' at '{}' failed to satisfy constraint: \
                         Member must satisfy enum value set: [{}]",
                        s,
                        $field,
                        [$($s),+].join(", ")
                    ))),
                }
            }
        }
    };
}

aws_enum!(
    /// The type of key material. (ECC and HMAC specs are not supported by the KMS core.)
    KeySpec, "keySpec", {
        /// AES-256-GCM backing keys, the default.
        SymmetricDefault = "SYMMETRIC_DEFAULT",
        /// RSA 2048-bit key pair.
        Rsa2048 = "RSA_2048",
        /// RSA 3072-bit key pair.
        Rsa3072 = "RSA_3072",
        /// RSA 4096-bit key pair.
        Rsa4096 = "RSA_4096",
    }
);

impl KeySpec {
    /// The RSA modulus length in bytes, or `None` for symmetric keys.
    pub fn rsa_modulus_len(self) -> Option<usize> {
        match self {
            KeySpec::SymmetricDefault => None,
            KeySpec::Rsa2048 => Some(256),
            KeySpec::Rsa3072 => Some(384),
            KeySpec::Rsa4096 => Some(512),
        }
    }

    /// The encryption algorithms a key of this spec supports.
    pub fn encryption_algorithms(self) -> Vec<EncryptionAlgorithmSpec> {
        match self {
            KeySpec::SymmetricDefault => vec![EncryptionAlgorithmSpec::SymmetricDefault],
            _ => vec![
                EncryptionAlgorithmSpec::RsaesOaepSha1,
                EncryptionAlgorithmSpec::RsaesOaepSha256,
            ],
        }
    }
}

aws_enum!(
    /// What a key may be used for. Only encryption keys are supported.
    KeyUsage, "keyUsage", {
        /// Encrypt and decrypt.
        EncryptDecrypt = "ENCRYPT_DECRYPT",
    }
);

aws_enum!(
    /// The algorithm of an Encrypt/Decrypt/ReEncrypt request.
    EncryptionAlgorithmSpec, "encryptionAlgorithm", {
        /// The KMS core's AES-256-GCM blob (symmetric keys).
        SymmetricDefault = "SYMMETRIC_DEFAULT",
        /// RSA-OAEP with SHA-1 and MGF1-SHA-1.
        RsaesOaepSha1 = "RSAES_OAEP_SHA_1",
        /// RSA-OAEP with SHA-256 and MGF1-SHA-256.
        RsaesOaepSha256 = "RSAES_OAEP_SHA_256",
    }
);

aws_enum!(
    /// The length of a generated data key.
    DataKeySpec, "keySpec", {
        /// 16 bytes.
        Aes128 = "AES_128",
        /// 32 bytes.
        Aes256 = "AES_256",
    }
);

aws_enum!(
    /// A key's lifecycle state.
    KeyState, "keyState", {
        /// Usable for every operation.
        Enabled = "Enabled",
        /// Refuses cryptographic operations until enabled.
        Disabled = "Disabled",
        /// Scheduled for deletion; refuses cryptographic operations.
        PendingDeletion = "PendingDeletion",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_parse_errors_are_validation() {
        assert_eq!("AES_128".parse::<DataKeySpec>().unwrap(), DataKeySpec::Aes128);
        let e = "AES_512".parse::<DataKeySpec>().unwrap_err();
        assert_eq!(e.kind, super::super::KmsErrorKind::ValidationException);
        assert!(e.message.contains("[AES_128, AES_256]"), "{}", e.message);
    }
}
