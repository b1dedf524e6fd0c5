//! Between the KMS types of this crate and the SDK's: requests become SDK
//! calls, SDK outputs become responses. A member the service must send and
//! did not, or a value outside what the KMS types can hold (a key spec or
//! state the KMS core does not know), is the service's fault:
//! `KMSInternalException` naming the member.

use std::collections::HashMap;
use std::str::FromStr;

use aws_sdk_kms::operation::create_key::builders::CreateKeyFluentBuilder;
use aws_sdk_kms::operation::decrypt::builders::DecryptFluentBuilder;
use aws_sdk_kms::operation::decrypt::DecryptOutput;
use aws_sdk_kms::operation::encrypt::builders::EncryptFluentBuilder;
use aws_sdk_kms::operation::encrypt::EncryptOutput;
use aws_sdk_kms::operation::generate_data_key::builders::GenerateDataKeyFluentBuilder;
use aws_sdk_kms::operation::generate_data_key::GenerateDataKeyOutput;
use aws_sdk_kms::operation::generate_data_key_without_plaintext::builders::GenerateDataKeyWithoutPlaintextFluentBuilder;
use aws_sdk_kms::operation::get_public_key::GetPublicKeyOutput;
use aws_sdk_kms::operation::list_aliases::ListAliasesOutput;
use aws_sdk_kms::operation::list_keys::ListKeysOutput;
use aws_sdk_kms::operation::re_encrypt::builders::ReEncryptFluentBuilder;
use aws_sdk_kms::operation::re_encrypt::ReEncryptOutput;
use aws_sdk_kms::operation::schedule_key_deletion::ScheduleKeyDeletionOutput;
use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types as sdk;
use aws_sdk_kms::Client;
use zeroize::Zeroizing;

use crate::crypto::Secret;
use crate::kms::{
    AliasListEntry, CreateKeyRequest, CreateKeyResponse, DecryptRequest, DecryptResponse, EncryptRequest,
    EncryptResponse, EncryptionAlgorithmSpec, EncryptionContext, GenerateDataKeyRequest,
    GenerateDataKeyResponse, GetPublicKeyResponse, KeyListEntry, KeyMetadata, KeySpec, KeyState, KeyUsage,
    KmsError, KmsErrorKind, ListAliasesResponse, ListKeysResponse, ReEncryptRequest, ReEncryptResponse,
    ScheduleKeyDeletionResponse,
};

/// A member the service left out.
fn missing(member: &str) -> KmsError {
    KmsError::new(
        KmsErrorKind::KMSInternalException,
        format!("the key service's response has no {member}"),
    )
}

/// A member the service must send.
pub(super) fn required<T>(v: Option<T>, member: &str) -> Result<T, KmsError> {
    v.ok_or_else(|| missing(member))
}

/// A value of one of the KMS types' enums, from the SDK's name for it.
fn known<T: FromStr<Err = KmsError>>(name: &str, member: &str) -> Result<T, KmsError> {
    name.parse().map_err(|_| {
        KmsError::new(
            KmsErrorKind::KMSInternalException,
            format!("the key service's {member} is {name}, which envelope does not support"),
        )
    })
}

/// Epoch seconds of an SDK timestamp (0 for dates before 1970).
pub(super) fn secs(d: &DateTime) -> u64 {
    u64::try_from(d.secs()).unwrap_or(0)
}

/// A plaintext blob, wiped when dropped from here on.
pub(super) fn secret(b: Blob) -> Secret {
    Zeroizing::new(b.into_inner())
}

fn context(ec: &EncryptionContext) -> Option<HashMap<String, String>> {
    (!ec.is_empty()).then(|| ec.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn algorithm(a: Option<EncryptionAlgorithmSpec>) -> Option<sdk::EncryptionAlgorithmSpec> {
    a.map(|a| sdk::EncryptionAlgorithmSpec::from(a.as_str()))
}

fn algorithm_out(a: Option<sdk::EncryptionAlgorithmSpec>) -> Result<EncryptionAlgorithmSpec, KmsError> {
    // AWS omits nothing here, but older emulators do: SYMMETRIC_DEFAULT is what they mean.
    match a {
        Some(a) => known(a.as_str(), "EncryptionAlgorithm"),
        None => Ok(EncryptionAlgorithmSpec::SymmetricDefault),
    }
}

pub(super) fn create_key(client: &Client, req: &CreateKeyRequest) -> CreateKeyFluentBuilder {
    client
        .create_key()
        .set_description(req.description.clone())
        .set_key_usage(req.key_usage.map(|u| sdk::KeyUsageType::from(u.as_str())))
        // CustomerMasterKeySpec is KeySpec's deprecated synonym, with the same values.
        .set_key_spec(
            req.key_spec
                .or(req.customer_master_key_spec)
                .map(|s| sdk::KeySpec::from(s.as_str())),
        )
        .set_multi_region(req.multi_region)
}

pub(super) fn key_metadata(m: sdk::KeyMetadata) -> Result<KeyMetadata, KmsError> {
    let key_spec: KeySpec = match m.key_spec() {
        Some(s) => known(s.as_str(), "KeySpec")?,
        None => KeySpec::SymmetricDefault,
    };
    Ok(KeyMetadata {
        aws_account_id: m.aws_account_id.unwrap_or_default(),
        arn: required(m.arn, "KeyMetadata.Arn")?,
        creation_date: m.creation_date.as_ref().map_or(0, secs),
        enabled: m.enabled,
        description: m.description.unwrap_or_default(),
        key_usage: match &m.key_usage {
            Some(u) => known(u.as_str(), "KeyUsage")?,
            None => KeyUsage::EncryptDecrypt,
        },
        key_state: match &m.key_state {
            Some(s) => known(s.as_str(), "KeyState")?,
            None if m.enabled => KeyState::Enabled,
            None => KeyState::Disabled,
        },
        deletion_date: m.deletion_date.as_ref().map(secs),
        origin: m
            .origin
            .map_or_else(|| "AWS_KMS".to_owned(), |o| o.as_str().to_owned()),
        key_manager: m
            .key_manager
            .map_or_else(|| "CUSTOMER".to_owned(), |o| o.as_str().to_owned()),
        customer_master_key_spec: key_spec,
        key_spec,
        encryption_algorithms: m
            .encryption_algorithms
            .unwrap_or_default()
            .iter()
            .map(|a| known(a.as_str(), "EncryptionAlgorithms"))
            .collect::<Result<_, _>>()?,
        multi_region: m.multi_region.unwrap_or(false),
        pending_deletion_window_in_days: m.pending_deletion_window_in_days,
        key_id: m.key_id,
    })
}

pub(super) fn create_key_response(m: Option<sdk::KeyMetadata>) -> Result<CreateKeyResponse, KmsError> {
    Ok(CreateKeyResponse {
        key_metadata: key_metadata(required(m, "KeyMetadata")?)?,
    })
}

pub(super) fn list_keys_response(r: ListKeysOutput) -> ListKeysResponse {
    ListKeysResponse {
        keys: r
            .keys
            .unwrap_or_default()
            .into_iter()
            .map(|k| KeyListEntry {
                key_id: k.key_id.unwrap_or_default(),
                key_arn: k.key_arn.unwrap_or_default(),
            })
            .collect(),
        next_marker: r.next_marker,
        truncated: r.truncated,
    }
}

pub(super) fn list_aliases_response(r: ListAliasesOutput) -> ListAliasesResponse {
    ListAliasesResponse {
        aliases: r
            .aliases
            .unwrap_or_default()
            .into_iter()
            .map(|a| AliasListEntry {
                alias_name: a.alias_name.unwrap_or_default(),
                alias_arn: a.alias_arn.unwrap_or_default(),
                // AWS's own aliases (alias/aws/...) may have no key yet.
                target_key_id: a.target_key_id.unwrap_or_default(),
                creation_date: a.creation_date.as_ref().map_or(0, secs),
                last_updated_date: a.last_updated_date.as_ref().map_or(0, secs),
            })
            .collect(),
        next_marker: r.next_marker,
        truncated: r.truncated,
    }
}

pub(super) fn schedule_key_deletion_response(
    r: ScheduleKeyDeletionOutput,
) -> Result<ScheduleKeyDeletionResponse, KmsError> {
    Ok(ScheduleKeyDeletionResponse {
        key_id: required(r.key_id, "KeyId")?,
        deletion_date: r.deletion_date.as_ref().map_or(0, secs),
        key_state: match &r.key_state {
            Some(s) => known(s.as_str(), "KeyState")?,
            None => KeyState::PendingDeletion,
        },
        pending_window_in_days: r.pending_window_in_days.unwrap_or(30),
    })
}

pub(super) fn encrypt(client: &Client, req: &EncryptRequest) -> EncryptFluentBuilder {
    client
        .encrypt()
        .key_id(&req.key_id)
        .plaintext(Blob::new(req.plaintext.to_vec()))
        .set_encryption_context(context(&req.encryption_context))
        .set_encryption_algorithm(algorithm(req.encryption_algorithm))
}

pub(super) fn encrypt_response(r: EncryptOutput) -> Result<EncryptResponse, KmsError> {
    Ok(EncryptResponse {
        ciphertext_blob: required(r.ciphertext_blob, "CiphertextBlob")?.into_inner(),
        key_id: required(r.key_id, "KeyId")?,
        encryption_algorithm: algorithm_out(r.encryption_algorithm)?,
    })
}

pub(super) fn decrypt(client: &Client, req: &DecryptRequest) -> DecryptFluentBuilder {
    client
        .decrypt()
        .ciphertext_blob(Blob::new(req.ciphertext_blob.clone()))
        .set_encryption_context(context(&req.encryption_context))
        .set_key_id(req.key_id.clone())
        .set_encryption_algorithm(algorithm(req.encryption_algorithm))
}

pub(super) fn decrypt_response(r: DecryptOutput) -> Result<DecryptResponse, KmsError> {
    Ok(DecryptResponse {
        key_id: required(r.key_id, "KeyId")?,
        plaintext: secret(required(r.plaintext, "Plaintext")?),
        encryption_algorithm: algorithm_out(r.encryption_algorithm)?,
    })
}

pub(super) fn re_encrypt(client: &Client, req: &ReEncryptRequest) -> ReEncryptFluentBuilder {
    client
        .re_encrypt()
        .ciphertext_blob(Blob::new(req.ciphertext_blob.clone()))
        .set_source_encryption_context(context(&req.source_encryption_context))
        .set_source_key_id(req.source_key_id.clone())
        .destination_key_id(&req.destination_key_id)
        .set_destination_encryption_context(context(&req.destination_encryption_context))
        .set_source_encryption_algorithm(algorithm(req.source_encryption_algorithm))
        .set_destination_encryption_algorithm(algorithm(req.destination_encryption_algorithm))
}

pub(super) fn re_encrypt_response(r: ReEncryptOutput) -> Result<ReEncryptResponse, KmsError> {
    Ok(ReEncryptResponse {
        ciphertext_blob: required(r.ciphertext_blob, "CiphertextBlob")?.into_inner(),
        source_key_id: required(r.source_key_id, "SourceKeyId")?,
        key_id: required(r.key_id, "KeyId")?,
        source_encryption_algorithm: algorithm_out(r.source_encryption_algorithm)?,
        destination_encryption_algorithm: algorithm_out(r.destination_encryption_algorithm)?,
    })
}

pub(super) fn generate_data_key(
    client: &Client,
    req: &GenerateDataKeyRequest,
) -> GenerateDataKeyFluentBuilder {
    client
        .generate_data_key()
        .key_id(&req.key_id)
        .set_encryption_context(context(&req.encryption_context))
        .set_number_of_bytes(req.number_of_bytes)
        .set_key_spec(req.key_spec.map(|s| sdk::DataKeySpec::from(s.as_str())))
}

pub(super) fn generate_data_key_response(
    r: GenerateDataKeyOutput,
) -> Result<GenerateDataKeyResponse, KmsError> {
    Ok(GenerateDataKeyResponse {
        ciphertext_blob: required(r.ciphertext_blob, "CiphertextBlob")?.into_inner(),
        plaintext: secret(required(r.plaintext, "Plaintext")?),
        key_id: required(r.key_id, "KeyId")?,
    })
}

pub(super) fn generate_data_key_without_plaintext(
    client: &Client,
    req: &GenerateDataKeyRequest,
) -> GenerateDataKeyWithoutPlaintextFluentBuilder {
    client
        .generate_data_key_without_plaintext()
        .key_id(&req.key_id)
        .set_encryption_context(context(&req.encryption_context))
        .set_number_of_bytes(req.number_of_bytes)
        .set_key_spec(req.key_spec.map(|s| sdk::DataKeySpec::from(s.as_str())))
}

pub(super) fn get_public_key_response(r: GetPublicKeyOutput) -> Result<GetPublicKeyResponse, KmsError> {
    let key_spec: KeySpec = known(required(r.key_spec.as_ref(), "KeySpec")?.as_str(), "KeySpec")?;
    Ok(GetPublicKeyResponse {
        key_id: required(r.key_id, "KeyId")?,
        public_key: required(r.public_key, "PublicKey")?.into_inner(),
        key_spec,
        customer_master_key_spec: key_spec,
        key_usage: match &r.key_usage {
            Some(u) => known(u.as_str(), "KeyUsage")?,
            None => KeyUsage::EncryptDecrypt,
        },
        encryption_algorithms: r
            .encryption_algorithms
            .unwrap_or_default()
            .iter()
            .map(|a| known(a.as_str(), "EncryptionAlgorithms"))
            .collect::<Result<_, _>>()?,
    })
}
