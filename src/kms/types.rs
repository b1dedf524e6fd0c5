//! Requests and responses of the KMS operations, shaped like the AWS JSON 1.1 API.
//!
//! Member names are AWS's (PascalCase, `AWSAccountId`), blobs are standard
//! padded base64 in JSON, timestamps are whole epoch seconds, and optional
//! members are omitted when absent. An absent `EncryptionContext` and an empty
//! one are the same thing, so the context is a plain map that defaults to empty.
//! Plaintext members hold [`Secret`]s so they are wiped when dropped.

use serde::{Deserialize, Serialize};

use super::b64;
use super::specs::{DataKeySpec, EncryptionAlgorithmSpec, KeySpec, KeyState, KeyUsage};
use crate::crypto::Secret;

/// The AWS encryption context of a request: string pairs bound to a
/// ciphertext. An AWS concept of its own; the KMS keyring passes a message's
/// encryption context to the service as one of these.
pub type EncryptionContext = std::collections::BTreeMap<String, String>;

/// Output of operations that return nothing; serializes to `{}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmptyResponse {}

/// A request naming only a key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyIdRequest {
    /// The key: key id or key ARN (DescribeKey and GetPublicKey also accept aliases).
    pub key_id: String,
}

/// DescribeKey request.
pub type DescribeKeyRequest = KeyIdRequest;
/// EnableKey request.
pub type EnableKeyRequest = KeyIdRequest;
/// DisableKey request.
pub type DisableKeyRequest = KeyIdRequest;
/// CancelKeyDeletion request.
pub type CancelKeyDeletionRequest = KeyIdRequest;
/// DisableKeyRotation request.
pub type DisableKeyRotationRequest = KeyIdRequest;
/// GetKeyRotationStatus request.
pub type GetKeyRotationStatusRequest = KeyIdRequest;
/// RotateKeyOnDemand request.
pub type RotateKeyOnDemandRequest = KeyIdRequest;
/// GetPublicKey request.
pub type GetPublicKeyRequest = KeyIdRequest;

/// A response naming only a key (by ARN).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyIdResponse {
    /// The key ARN.
    pub key_id: String,
}

/// CancelKeyDeletion response.
pub type CancelKeyDeletionResponse = KeyIdResponse;
/// RotateKeyOnDemand response.
pub type RotateKeyOnDemandResponse = KeyIdResponse;

/// CreateKey request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateKeyRequest {
    /// Free text, 0 to 8192 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Required for RSA keys; defaults to ENCRYPT_DECRYPT for symmetric keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_usage: Option<KeyUsage>,
    /// Defaults to SYMMETRIC_DEFAULT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_spec: Option<KeySpec>,
    /// Deprecated synonym of `KeySpec`; give at most one of the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_master_key_spec: Option<KeySpec>,
    /// Multi-Region keys are not supported: `true` is an UnsupportedOperationException.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_region: Option<bool>,
}

/// Everything DescribeKey tells about a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    /// The account id of the key store's configuration.
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    /// The key id (a UUID).
    pub key_id: String,
    /// The key ARN.
    pub arn: String,
    /// Creation time, epoch seconds.
    pub creation_date: u64,
    /// Whether the state is Enabled.
    pub enabled: bool,
    /// The description given at creation.
    pub description: String,
    /// Always ENCRYPT_DECRYPT.
    pub key_usage: KeyUsage,
    /// The lifecycle state.
    pub key_state: KeyState,
    /// When a key pending deletion will be deleted, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<u64>,
    /// Always `AWS_KMS`.
    pub origin: String,
    /// Always `CUSTOMER`.
    pub key_manager: String,
    /// Same as `key_spec` (deprecated AWS member).
    pub customer_master_key_spec: KeySpec,
    /// The key material type.
    pub key_spec: KeySpec,
    /// The algorithms Encrypt/Decrypt accept for this key.
    pub encryption_algorithms: Vec<EncryptionAlgorithmSpec>,
    /// Always false.
    pub multi_region: bool,
    /// The waiting period of a key pending deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<i32>,
}

/// CreateKey response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateKeyResponse {
    /// The new key.
    pub key_metadata: KeyMetadata,
}

/// DescribeKey response.
pub type DescribeKeyResponse = CreateKeyResponse;

/// ListKeys request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysRequest {
    /// Page size, 1 to 1000 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
    /// The `NextMarker` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// One key in a ListKeys page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyListEntry {
    /// The key id.
    pub key_id: String,
    /// The key ARN.
    pub key_arn: String,
}

/// ListKeys response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysResponse {
    /// Keys in key-id order, including keys pending deletion.
    pub keys: Vec<KeyListEntry>,
    /// Present when `truncated`: pass it as `Marker` for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether more keys follow.
    pub truncated: bool,
}

/// CreateAlias and UpdateAlias request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateAliasRequest {
    /// `alias/<name>`, 1 to 256 characters of `[a-zA-Z0-9:/_-]`, not `alias/aws/...`.
    pub alias_name: String,
    /// The key: key id or key ARN.
    pub target_key_id: String,
}

/// UpdateAlias request.
pub type UpdateAliasRequest = CreateAliasRequest;

/// DeleteAlias request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteAliasRequest {
    /// `alias/<name>`.
    pub alias_name: String,
}

/// ListAliases request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesRequest {
    /// Only aliases of this key (key id or key ARN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Page size, 1 to 100 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
    /// The `NextMarker` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
}

/// One alias in a ListAliases page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasListEntry {
    /// `alias/<name>`.
    pub alias_name: String,
    /// The alias ARN.
    pub alias_arn: String,
    /// The key id the alias points to.
    pub target_key_id: String,
    /// Epoch seconds.
    pub creation_date: u64,
    /// Epoch seconds of the last UpdateAlias (or creation).
    pub last_updated_date: u64,
}

/// ListAliases response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    /// Aliases in name order.
    pub aliases: Vec<AliasListEntry>,
    /// Present when `truncated`: pass it as `Marker` for the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    /// Whether more aliases follow.
    pub truncated: bool,
}

/// ScheduleKeyDeletion request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionRequest {
    /// The key: key id or key ARN.
    pub key_id: String,
    /// 7 to 30 days (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_window_in_days: Option<i32>,
}

/// ScheduleKeyDeletion response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionResponse {
    /// The key ARN.
    pub key_id: String,
    /// When the key will be deleted, epoch seconds.
    pub deletion_date: u64,
    /// Always PendingDeletion.
    pub key_state: KeyState,
    /// The waiting period.
    pub pending_window_in_days: i32,
}

/// EnableKeyRotation request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnableKeyRotationRequest {
    /// The key: key id or key ARN.
    pub key_id: String,
    /// 90 to 2560 days (default 365).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<i32>,
}

/// GetKeyRotationStatus response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyRotationStatusResponse {
    /// Whether automatic rotation is on (false for a key pending deletion).
    pub key_rotation_enabled: bool,
    /// The key ARN.
    pub key_id: String,
    /// The rotation period, when rotation is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<i32>,
    /// The next automatic rotation, epoch seconds, when rotation is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<u64>,
}

/// Encrypt request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptRequest {
    /// The key, in any of the four id forms.
    pub key_id: String,
    /// 1 to 4096 bytes (less for RSA keys).
    #[serde(with = "b64::secret")]
    pub plaintext: Secret,
    /// Bound to the ciphertext; symmetric keys only.
    #[serde(default, skip_serializing_if = "EncryptionContext::is_empty")]
    pub encryption_context: EncryptionContext,
    /// Required (an RSAES_OAEP algorithm) for RSA keys; defaults to SYMMETRIC_DEFAULT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<EncryptionAlgorithmSpec>,
}

/// Encrypt response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptResponse {
    /// The ciphertext blob (at most 6144 bytes).
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// The key ARN.
    pub key_id: String,
    /// The algorithm used.
    pub encryption_algorithm: EncryptionAlgorithmSpec,
}

/// Decrypt request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptRequest {
    /// 1 to 6144 bytes.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// Must equal the context given at encryption, exactly.
    #[serde(default, skip_serializing_if = "EncryptionContext::is_empty")]
    pub encryption_context: EncryptionContext,
    /// Optional for symmetric blobs (then it must name the blob's key); required for RSA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Required (an RSAES_OAEP algorithm) for RSA keys; defaults to SYMMETRIC_DEFAULT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_algorithm: Option<EncryptionAlgorithmSpec>,
}

/// Decrypt response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    /// The ARN of the key that decrypted.
    pub key_id: String,
    /// The plaintext.
    #[serde(with = "b64::secret")]
    pub plaintext: Secret,
    /// The algorithm used.
    pub encryption_algorithm: EncryptionAlgorithmSpec,
}

/// ReEncrypt request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptRequest {
    /// The blob to re-encrypt.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// The blob's context.
    #[serde(default, skip_serializing_if = "EncryptionContext::is_empty")]
    pub source_encryption_context: EncryptionContext,
    /// As Decrypt's `KeyId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_key_id: Option<String>,
    /// The key to encrypt under, any id form.
    pub destination_key_id: String,
    /// The new context.
    #[serde(default, skip_serializing_if = "EncryptionContext::is_empty")]
    pub destination_encryption_context: EncryptionContext,
    /// As Decrypt's `EncryptionAlgorithm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_encryption_algorithm: Option<EncryptionAlgorithmSpec>,
    /// As Encrypt's `EncryptionAlgorithm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_encryption_algorithm: Option<EncryptionAlgorithmSpec>,
}

/// ReEncrypt response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptResponse {
    /// The new blob.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// The source key ARN.
    pub source_key_id: String,
    /// The destination key ARN.
    pub key_id: String,
    /// The algorithm that decrypted.
    pub source_encryption_algorithm: EncryptionAlgorithmSpec,
    /// The algorithm that encrypted.
    pub destination_encryption_algorithm: EncryptionAlgorithmSpec,
}

/// GenerateDataKey and GenerateDataKeyWithoutPlaintext request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyRequest {
    /// A symmetric key, any id form.
    pub key_id: String,
    /// Bound to the ciphertext.
    #[serde(default, skip_serializing_if = "EncryptionContext::is_empty")]
    pub encryption_context: EncryptionContext,
    /// 1 to 1024; give this or `KeySpec`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_bytes: Option<i32>,
    /// AES_128 or AES_256; give this or `NumberOfBytes`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_spec: Option<DataKeySpec>,
}

/// GenerateDataKeyWithoutPlaintext request.
pub type GenerateDataKeyWithoutPlaintextRequest = GenerateDataKeyRequest;

/// GenerateDataKey response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyResponse {
    /// The data key encrypted under the KMS key.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// The data key.
    #[serde(with = "b64::secret")]
    pub plaintext: Secret,
    /// The key ARN.
    pub key_id: String,
}

/// GenerateDataKeyWithoutPlaintext response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyWithoutPlaintextResponse {
    /// The data key encrypted under the KMS key.
    #[serde(with = "b64")]
    pub ciphertext_blob: Vec<u8>,
    /// The key ARN.
    pub key_id: String,
}

/// GenerateRandom request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomRequest {
    /// 1 to 1024 (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_bytes: Option<i32>,
}

/// GenerateRandom response.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomResponse {
    /// The random bytes.
    #[serde(with = "b64::secret")]
    pub plaintext: Secret,
}

/// GetPublicKey response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetPublicKeyResponse {
    /// The key ARN.
    pub key_id: String,
    /// DER SubjectPublicKeyInfo.
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
    /// The key spec.
    pub key_spec: KeySpec,
    /// Same as `key_spec` (deprecated AWS member).
    pub customer_master_key_spec: KeySpec,
    /// Always ENCRYPT_DECRYPT.
    pub key_usage: KeyUsage,
    /// The algorithms Encrypt/Decrypt accept for this key.
    pub encryption_algorithms: Vec<EncryptionAlgorithmSpec>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_member_names_and_base64() {
        let r = EncryptResponse {
            ciphertext_blob: vec![1, 2, 3],
            key_id: "arn".into(),
            encryption_algorithm: EncryptionAlgorithmSpec::SymmetricDefault,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"CiphertextBlob":"AQID","KeyId":"arn","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}"#
        );
        let req: DecryptRequest =
            serde_json::from_str(r#"{"CiphertextBlob":"AQID","EncryptionContext":{"a":"b"}}"#).unwrap();
        assert_eq!(req.ciphertext_blob, vec![1, 2, 3]);
        assert_eq!(req.encryption_context.get("a").map(String::as_str), Some("b"));
        assert!(serde_json::from_str::<DecryptRequest>(r#"{"CiphertextBlob":"!!"}"#).is_err());
        assert_eq!(serde_json::to_string(&EmptyResponse {}).unwrap(), "{}");
        let ks: KeySpec = serde_json::from_str(r#""RSA_3072""#).unwrap();
        assert_eq!(ks, KeySpec::Rsa3072);
    }
}
