//! The AWS KMS keyring, over any [`Kms`] (the embedded core, or later a remote one).
//!
//! EDKs it writes carry provider id `aws-kms`, the key ARN from the KMS
//! response as provider info, and the KMS ciphertext blob, exactly as the
//! official SDKs' KMS keyring writes them.
//!
//! * Strict: encrypts with GenerateDataKey under the first key id (or Encrypt
//!   if the data key already exists) and Encrypt under the others, always with
//!   the message's full encryption context; decrypts only EDKs whose provider
//!   info equals one of its key ids (an exact string match, so configure ARNs
//!   to decrypt), and accepts a result only if KMS names that same key.
//! * Discovery: decrypt only; tries every `aws-kms` EDK whose ARN passes the
//!   optional partition/account filter, asking KMS to decrypt with that ARN.
//!
//! Error kinds follow where the fault lies, the same however the keyring is
//! nested: an EDK whose provider info is not a key ARN, that unwraps to a data
//! key of the wrong length, or (in discovery) that names a key the service
//! does not have, is the message's fault (integrity); a key the service
//! refuses to use keeps the service's error; an answer the keyring cannot
//! accept (not an ARN, a data key of the wrong length on encrypt) is the
//! service's fault.

use std::sync::Arc;

use crate::crypto::Secret;
use crate::error::{EdkFault, Error, Result};
use crate::format::context::EncryptionContext;
use crate::format::edk::EncryptedDataKey;
use crate::keyring::{DecryptionMaterials, EncryptionMaterials, Keyring};
use crate::kms::{self, Arn, DecryptRequest, EncryptRequest, GenerateDataKeyRequest, Kms, KmsErrorKind};

/// The provider id of KMS-wrapped EDKs.
pub const PROVIDER_ID: &str = "aws-kms";

/// Which EDKs a discovery keyring may try: those of one partition and of
/// the listed accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryFilter {
    /// The ARN partition, e.g. `aws`.
    pub partition: String,
    /// Account ids allowed (must not be empty).
    pub account_ids: Vec<String>,
}

enum Mode {
    Strict(Vec<String>),
    Discovery(Option<DiscoveryFilter>),
}

/// A keyring whose wrapping keys live in a KMS.
pub struct KmsKeyring {
    kms: Arc<dyn Kms>,
    mode: Mode,
}

impl std::fmt::Debug for KmsKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.mode {
            Mode::Strict(ids) => f.debug_struct("KmsKeyring").field("key_ids", ids).finish(),
            Mode::Discovery(filter) => f.debug_struct("KmsKeyring").field("discovery", filter).finish(),
        }
    }
}

/// The message's encryption context as the AWS encryption context of a KMS
/// request: the same pairs, in the key service's own type.
fn kms_context(ec: &EncryptionContext) -> kms::EncryptionContext {
    ec.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn bad_edk(fault: EdkFault) -> Error {
    Error::EncryptedDataKey {
        provider_id: PROVIDER_ID.into(),
        fault,
    }
}

/// Parses provider info as a KMS key ARN; the ESDK fails decryption outright otherwise.
fn edk_arn(edk: &EncryptedDataKey) -> Result<(String, Arn)> {
    let text = std::str::from_utf8(&edk.provider_info).map_err(|_| bad_edk(EdkFault::ProviderInfoNotUtf8))?;
    match Arn::parse(text) {
        Some(arn) if arn.is_kms_key() && names_a_place(&arn) => Ok((text.to_owned(), arn)),
        _ => Err(bad_edk(EdkFault::ProviderInfoNotKeyArn(text.to_owned()))),
    }
}

/// Whether the ARN's partition, region and account are words AWS could
/// have written (lowercase letters, digits, hyphens). A damaged one (a bit
/// flipped in `us-east-1` gives `us,east-1`) is the message's fault, found
/// here as tampering, rather than a request the key service's client
/// cannot even build (which would read as a key-service failure).
fn names_a_place(arn: &Arn) -> bool {
    [&arn.partition, &arn.region, &arn.account].iter().all(|f| {
        f.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// Checks a response's KeyId is a key ARN, as the ESDK requires before writing it.
fn response_arn(key_id: &str) -> Result<()> {
    match Arn::parse(key_id) {
        Some(arn) if arn.is_kms_key() => Ok(()),
        _ => Err(Error::KmsResponse(format!(
            "KMS returned '{key_id}', which is not a key ARN"
        ))),
    }
}

impl KmsKeyring {
    /// A strict keyring over `key_ids` (any id form for encryption; key ARNs
    /// to match EDKs on decryption). Fails if `key_ids` is empty.
    pub fn strict(kms: Arc<dyn Kms>, key_ids: Vec<String>) -> Result<KmsKeyring> {
        if key_ids.is_empty() || key_ids.iter().any(String::is_empty) {
            return Err(Error::Config(
                "a strict KMS keyring needs at least one non-empty key id".into(),
            ));
        }
        Ok(KmsKeyring {
            kms,
            mode: Mode::Strict(key_ids),
        })
    }

    /// A discovery keyring, limited to `filter`'s partition and accounts if given.
    pub fn discovery(kms: Arc<dyn Kms>, filter: Option<DiscoveryFilter>) -> Result<KmsKeyring> {
        if let Some(f) = &filter {
            if f.partition.is_empty()
                || f.account_ids.is_empty()
                || f.account_ids.iter().any(String::is_empty)
            {
                return Err(Error::Config(
                    "a discovery filter needs a partition and at least one account id".into(),
                ));
            }
        }
        Ok(KmsKeyring {
            kms,
            mode: Mode::Discovery(filter),
        })
    }

    /// Decrypts one EDK with `key_id`, accepting it only if KMS answers for that key.
    fn unwrap_edk(&self, key_id: &str, edk: &EncryptedDataKey, m: &DecryptionMaterials) -> Result<Secret> {
        let r = self
            .kms
            .decrypt(&DecryptRequest {
                ciphertext_blob: edk.ciphertext.clone(),
                encryption_context: kms_context(&m.encryption_context),
                key_id: Some(key_id.to_owned()),
                encryption_algorithm: None,
            })
            .map_err(|e| match &self.mode {
                // The key id came from the message: a key the service does not
                // have means the message is not for this service (or was altered).
                Mode::Discovery(_) if e.kind == KmsErrorKind::NotFoundException => Error::NoDataKey(format!(
                    "the aws-kms encrypted data key names a key this key service does not have ({e})"
                )),
                _ => Error::Kms(e),
            })?;
        if r.key_id != key_id {
            return Err(Error::KmsResponse(format!(
                "KMS decrypted with {} instead of the requested {key_id}",
                r.key_id
            )));
        }
        if r.plaintext.len() != m.suite.key_len {
            return Err(bad_edk(EdkFault::DataKeyLength {
                got: r.plaintext.len(),
                want: m.suite.key_len,
            }));
        }
        Ok(r.plaintext)
    }
}

impl Keyring for KmsKeyring {
    fn on_encrypt(&self, materials: &mut EncryptionMaterials) -> Result<()> {
        let Mode::Strict(key_ids) = &self.mode else {
            return Err(Error::Config("a discovery KMS keyring cannot encrypt".into()));
        };
        // Work on copies so that a failure leaves the materials unchanged.
        let mut data_key = materials.plaintext_data_key.clone();
        let mut edks = Vec::with_capacity(key_ids.len());
        let ec = kms_context(&materials.encryption_context);
        for key_id in key_ids {
            let (arn, blob) = match &data_key {
                None => {
                    let r = self.kms.generate_data_key(&GenerateDataKeyRequest {
                        key_id: key_id.clone(),
                        encryption_context: ec.clone(),
                        number_of_bytes: Some(materials.suite.key_len as i32),
                        key_spec: None,
                    })?;
                    if r.plaintext.len() != materials.suite.key_len {
                        return Err(Error::KmsResponse(format!(
                            "KMS returned a {}-byte data key; the suite needs {} bytes",
                            r.plaintext.len(),
                            materials.suite.key_len
                        )));
                    }
                    data_key = Some(r.plaintext);
                    (r.key_id, r.ciphertext_blob)
                }
                Some(k) => {
                    let r = self.kms.encrypt(&EncryptRequest {
                        key_id: key_id.clone(),
                        plaintext: k.clone(),
                        encryption_context: ec.clone(),
                        encryption_algorithm: None,
                    })?;
                    (r.key_id, r.ciphertext_blob)
                }
            };
            response_arn(&arn)?;
            edks.push(EncryptedDataKey {
                provider_id: PROVIDER_ID.into(),
                provider_info: arn.into_bytes(),
                ciphertext: blob,
            });
        }
        materials.plaintext_data_key = data_key;
        materials.encrypted_data_keys.extend(edks);
        Ok(())
    }

    fn on_decrypt(&self, materials: &mut DecryptionMaterials, edks: &[EncryptedDataKey]) -> Result<()> {
        if materials.plaintext_data_key.is_some() {
            return Ok(());
        }
        let mut errors: Vec<Error> = Vec::new();
        let mut tried = false;
        for edk in edks.iter().filter(|e| e.provider_id == PROVIDER_ID) {
            let (arn_text, arn) = edk_arn(edk)?;
            let key_id = match &self.mode {
                Mode::Strict(ids) => match ids.iter().find(|id| **id == arn_text) {
                    Some(id) => id.as_str(),
                    None => continue,
                },
                Mode::Discovery(Some(f))
                    if arn.partition != f.partition || !f.account_ids.contains(&arn.account) =>
                {
                    continue
                }
                Mode::Discovery(_) => arn_text.as_str(),
            };
            tried = true;
            match self.unwrap_edk(key_id, edk, materials) {
                Ok(k) => {
                    materials.plaintext_data_key = Some(k);
                    return Ok(());
                }
                Err(e) => errors.push(e),
            }
        }
        if !tried {
            return Err(Error::NoDataKey(match &self.mode {
                Mode::Strict(ids) => {
                    format!("no aws-kms encrypted data key is wrapped by {}", ids.join(", "))
                }
                Mode::Discovery(_) => "no aws-kms encrypted data key passes the discovery filter".into(),
            }));
        }
        // One failure keeps its own kind (a disabled key stays a key-service error).
        if errors.len() == 1 {
            return Err(errors.remove(0));
        }
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        Err(Error::NoDataKey(format!(
            "every aws-kms encrypted data key failed: {}",
            all.join("; ")
        )))
    }
}
