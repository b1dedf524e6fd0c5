//! Setting a message up: policies, materials from the keyring, key
//! derivation, and the header with its authentication.
//!
//! This plays the role of the ESDK's default CMM (adding the signing key to
//! the context) and its required-encryption-context CMM (pairs authenticated
//! but not stored) in one place.

use std::sync::Arc;

use base64::Engine as _;

use super::cache::CachedMaterials;
use super::content_cipher::ContentCipher;
use super::{DecryptOptions, EncryptOptions};
use crate::crypto::hkdf;
use crate::crypto::signature::{Hasher, Signer};
use crate::crypto::{ct_eq, fill_random};
use crate::error::{ApiMisuse, Error, Result};
use crate::format::context::{self, EncryptionContext, PUBLIC_KEY_FIELD, RESERVED_PREFIX};
use crate::format::header::{self, ContentType, Header};
use crate::format::MAX_FRAME_LENGTH;
use crate::keyring::{DecryptionMaterials, EncryptionMaterials, Keyring};
use crate::suite::{AlgorithmSuite, IV_LEN};

/// Everything the encryptor needs once the header is written.
pub(crate) struct EncryptSetup {
    pub header: Header,
    pub cipher: Arc<ContentCipher>,
    pub signer: Option<(Arc<Signer>, Hasher)>,
    /// The declared plaintext length, which the encryptor holds the caller to.
    pub plaintext_length: Option<u64>,
}

/// Everything the decryptor needs once the header has verified.
pub(crate) struct DecryptSetup {
    /// Shared with the workers that open frames (threads or blocking tasks).
    pub cipher: Arc<ContentCipher>,
    /// The signature hash, already fed the header (signing suites only).
    pub hasher: Option<Hasher>,
    /// The signer's public point (signing suites only).
    pub public_point: Option<Vec<u8>>,
}

fn required_pairs(ec: &EncryptionContext, keys: &[String]) -> EncryptionContext {
    keys.iter()
        .filter_map(|k| ec.get_key_value(k).map(|(k, v)| (k.clone(), v.clone())))
        .collect()
}

fn header_aad(raw_body: &[u8], required: &EncryptionContext) -> Result<Vec<u8>> {
    let mut aad = raw_body.to_vec();
    aad.extend_from_slice(&context::serialize(required)?);
    Ok(aad)
}

pub(crate) fn prepare_encrypt(keyring: &dyn Keyring, opts: &EncryptOptions) -> Result<EncryptSetup> {
    let policy = opts.commitment_policy;
    let suite = opts.suite.unwrap_or_else(|| policy.default_suite());
    let mut message_id = vec![0u8; suite.message_id_len()];
    fill_random(&mut message_id)?;
    prepare_encrypt_with_id(keyring, opts, message_id)
}

/// [`prepare_encrypt`] with a given message id (tests use it to build two
/// encryptors that must write the same bytes).
pub(crate) fn prepare_encrypt_with_id(
    keyring: &dyn Keyring,
    opts: &EncryptOptions,
    message_id: Vec<u8>,
) -> Result<EncryptSetup> {
    let policy = opts.commitment_policy;
    let suite = opts.suite.unwrap_or_else(|| policy.default_suite());
    if !policy.allows_encrypt(suite) {
        return Err(Error::CommitmentPolicy {
            policy,
            suite: suite.name,
        });
    }
    if opts.frame_length == 0 || opts.frame_length > MAX_FRAME_LENGTH {
        return Err(Error::Config(format!(
            "frame length must be between 1 and {MAX_FRAME_LENGTH}, not {}",
            opts.frame_length
        )));
    }
    if let Some(k) = opts
        .encryption_context
        .keys()
        .find(|k| k.starts_with(RESERVED_PREFIX))
    {
        // The caller's context, not a message, is at fault: a usage error.
        return Err(Error::Config(format!(
            "encryption context: key '{k}' uses the reserved prefix '{RESERVED_PREFIX}'"
        )));
    }
    for k in &opts.required_encryption_context_keys {
        if !opts.encryption_context.contains_key(k) {
            return Err(Error::Config(format!(
                "encryption context: required key '{k}' is missing"
            )));
        }
    }
    let materials = match opts.caching.as_ref().and_then(|c| {
        c.key_for(
            suite,
            &opts.encryption_context,
            &opts.required_encryption_context_keys,
            opts.plaintext_length,
        )
        .map(|key| (c, key))
    }) {
        Some((c, key)) => {
            c.cache
                .get_or_generate(&key, opts.plaintext_length.unwrap_or(0), &c.policy, &|| {
                    fresh_materials(keyring, suite, opts)
                })?
        }
        None => Arc::new(fresh_materials(keyring, suite, opts)?),
    };
    let data_key = &materials.data_key;
    if let Some(max) = opts.max_encrypted_data_keys {
        // More keys than the caller's own maximum: the configuration
        // contradicts itself (on decrypt, the same limit is the message's fault).
        let count = materials.encrypted_data_keys.len();
        if count > max as usize {
            return Err(Error::Config(format!(
                "the keyrings wrap the data key {count} times, more than the maximum of {max} \
                 encrypted data keys"
            )));
        }
    }
    if message_id.len() != suite.message_id_len() {
        return Err(ApiMisuse::MessageIdLength {
            got: message_id.len(),
            want: suite.message_id_len(),
        }
        .into());
    }
    let derived = hkdf::derive(suite, data_key, &message_id)?;
    let required = required_pairs(
        &materials.encryption_context,
        &opts.required_encryption_context_keys,
    );
    let mut stored = materials.encryption_context.clone();
    stored.retain(|k, _| !required.contains_key(k));
    let raw_body = header::serialize_body(
        suite,
        &message_id,
        &stored,
        &materials.encrypted_data_keys,
        opts.frame_length,
        derived.commitment.as_ref(),
    )?;
    let cipher = ContentCipher::new(&derived.content_key, &message_id)?;
    let auth_iv = [0u8; IV_LEN];
    let auth_tag = cipher.header_tag(&auth_iv, &header_aad(&raw_body, &required)?)?;
    let header = Header {
        suite,
        message_id,
        encryption_context: stored,
        encrypted_data_keys: materials.encrypted_data_keys.clone(),
        content_type: ContentType::Framed,
        frame_length: opts.frame_length,
        commitment: derived.commitment,
        raw_body,
        auth_iv,
        auth_tag,
    };
    let signer = materials
        .signer
        .as_ref()
        .zip(suite.signature)
        .map(|(s, sig)| (Arc::clone(s), Hasher::new(sig)));
    Ok(EncryptSetup {
        header,
        cipher: Arc::new(cipher),
        signer,
        plaintext_length: opts.plaintext_length,
    })
}

/// New materials from the keyring: the signing key first (its public key
/// enters the context the keyring wraps under), then the data key.
fn fresh_materials(
    keyring: &dyn Keyring,
    suite: &'static AlgorithmSuite,
    opts: &EncryptOptions,
) -> Result<CachedMaterials> {
    let mut ec = opts.encryption_context.clone();
    let signer = match suite.signature {
        Some(sig) => {
            let s = Signer::generate(sig)?;
            let point = s.public_key_compressed()?;
            ec.insert(
                PUBLIC_KEY_FIELD.to_owned(),
                base64::engine::general_purpose::STANDARD.encode(point),
            );
            Some(Arc::new(s))
        }
        None => None,
    };
    let mut m = EncryptionMaterials {
        suite,
        encryption_context: ec,
        required_encryption_context_keys: opts.required_encryption_context_keys.clone(),
        plaintext_data_key: None,
        encrypted_data_keys: Vec::new(),
    };
    keyring.on_encrypt(&mut m)?;
    let data_key = m.plaintext_data_key.ok_or(ApiMisuse::KeyringProducedNoDataKey)?;
    if data_key.len() != suite.key_len {
        return Err(ApiMisuse::DataKeyLength {
            got: data_key.len(),
            want: suite.key_len,
        }
        .into());
    }
    Ok(CachedMaterials {
        data_key,
        encryption_context: m.encryption_context,
        encrypted_data_keys: m.encrypted_data_keys,
        signer,
    })
}

/// Checks policies that need only the parsed header; runs before any keyring.
pub(crate) fn check_header_policy(header: &Header, opts: &DecryptOptions) -> Result<()> {
    let suite: &'static AlgorithmSuite = header.suite;
    if !opts.commitment_policy.allows_decrypt(suite) {
        return Err(Error::CommitmentPolicy {
            policy: opts.commitment_policy,
            suite: suite.name,
        });
    }
    if opts.unsigned_only && suite.is_signing() {
        return Err(Error::SignedMessageRefused(suite.name));
    }
    Ok(())
}

pub(crate) fn prepare_decrypt(
    keyring: &dyn Keyring,
    header: &Header,
    opts: &DecryptOptions,
) -> Result<DecryptSetup> {
    check_header_policy(header, opts)?;
    let suite = header.suite;
    let ec = &header.encryption_context;
    let public_point =
        match (suite.signature, ec.get(PUBLIC_KEY_FIELD)) {
            (Some(_), Some(b64)) => Some(base64::engine::general_purpose::STANDARD.decode(b64).map_err(
                |_| Error::EncryptionContext(format!("'{PUBLIC_KEY_FIELD}' is not valid base64")),
            )?),
            (Some(_), None) => {
                return Err(Error::EncryptionContext(format!(
                    "signed suite but no '{PUBLIC_KEY_FIELD}' in the encryption context"
                )))
            }
            (None, Some(_)) => {
                return Err(Error::EncryptionContext(format!(
                    "unsigned suite but '{PUBLIC_KEY_FIELD}' is in the encryption context"
                )))
            }
            (None, None) => None,
        };
    // Reproduced pairs must agree with the header; those the header lacks
    // are the required-only pairs, authenticated through the header AAD.
    let mut required = EncryptionContext::new();
    for (k, v) in &opts.reproduced_encryption_context {
        match ec.get(k) {
            Some(stored) if stored == v => {}
            Some(_) => {
                return Err(Error::EncryptionContext(format!(
                    "the message's value for key '{k}' does not match the expected value"
                )))
            }
            None => {
                required.insert(k.clone(), v.clone());
            }
        }
    }
    let mut full = ec.clone();
    full.extend(required.clone());
    let mut m = DecryptionMaterials {
        suite,
        encryption_context: full,
        required_encryption_context_keys: required.keys().cloned().collect(),
        plaintext_data_key: None,
    };
    let cipher = unwrap_and_authenticate(keyring, header, &mut m, &required).map_err(|e| {
        // A reproduced pair the header lacks is taken as a required-only pair;
        // when the message does not authenticate it, say so rather than only
        // "authentication failed".
        if required.is_empty() || e.kind() != crate::error::ErrorKind::Integrity {
            return e;
        }
        let keys: Vec<String> = required.keys().map(|k| format!("'{k}'")).collect();
        let (noun, pronoun) = if keys.len() == 1 { ("key", "it") } else { ("keys", "them") };
        Error::EncryptionContext(format!(
            "the message has no pair for {noun} {} and does not authenticate {pronoun} as required context ({e})",
            keys.join(", ")
        ))
    })?;
    let hasher = match (suite.signature, &public_point) {
        (Some(sig), Some(_)) => {
            let mut h = Hasher::new(sig);
            h.update(&header.raw_body);
            let mut auth = Vec::with_capacity(header.auth_len());
            header.write_auth(&mut auth);
            h.update(&auth);
            Some(h)
        }
        _ => None,
    };
    Ok(DecryptSetup {
        cipher: Arc::new(cipher),
        hasher,
        public_point,
    })
}

/// Gets the data key from the keyring, checks the key commitment and the
/// header tag, and returns the content cipher.
fn unwrap_and_authenticate(
    keyring: &dyn Keyring,
    header: &Header,
    m: &mut DecryptionMaterials,
    required: &EncryptionContext,
) -> Result<ContentCipher> {
    keyring.on_decrypt(m, &header.encrypted_data_keys)?;
    let data_key = m
        .plaintext_data_key
        .as_ref()
        .ok_or_else(|| Error::NoDataKey("no keyring could decrypt any encrypted data key".into()))?;
    if data_key.len() != header.suite.key_len {
        // The key came out of the message's EDKs: a wrong length is the message's fault.
        return Err(Error::NoDataKey(format!(
            "the keyring unwrapped a {}-byte data key; suite {} needs {} bytes",
            data_key.len(),
            header.suite.name,
            header.suite.key_len
        )));
    }
    let derived = hkdf::derive(header.suite, data_key, &header.message_id)?;
    if let (Some(stored), Some(computed)) = (&header.commitment, &derived.commitment) {
        if !ct_eq(stored, computed) {
            return Err(Error::Commitment);
        }
    }
    let cipher = ContentCipher::new(&derived.content_key, &header.message_id)?;
    cipher.verify_header_tag(
        &header.auth_iv,
        &header_aad(&header.raw_body, required)?,
        &header.auth_tag,
    )?;
    Ok(cipher)
}
