//! Raw ECDH on the command line: the `-w provider=raw-ecdh scheme=...` group,
//! and the public keys of `raw-ecdh` EDKs for `inspect` and the metadata.
//!
//! * `scheme=static sender-key=PEM recipient-public-key=FILE` encrypts and
//!   decrypts. To decrypt as the recipient, give your own private key as
//!   `sender-key` and the sender's public key as `recipient-public-key`.
//! * `scheme=ephemeral recipient-public-key=FILE` encrypts only.
//! * `scheme=discovery recipient-key=PEM` decrypts only.
//!
//! Private keys are PEM PKCS#8 files; public keys are DER or PEM
//! SubjectPublicKeyInfo files. The curve comes from the keys; `curve=` may
//! name it too, and then must agree.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use envelope::keyring::raw_ecdh::{
    parse_provider_info, Curve, EcdhPrivateKey, EcdhPublicKey, RawEcdhKeyring, KMS_ECDH_PROVIDER_ID,
    PROVIDER_ID,
};
use serde::Serialize;
use zeroize::Zeroizing;

use super::error::CliError;
use super::header_info::hex;
use super::key_files::KeyFile;
use super::keyrings::Mode;
use super::ui::Ui;

const GROUP: &str = "-w provider=raw-ecdh";

fn take(map: &mut BTreeMap<String, String>, k: &str, scheme: &str) -> Result<String, CliError> {
    map.remove(k).ok_or_else(|| {
        CliError::usage(format!(
            "{GROUP} scheme={scheme}: missing {k}= ({})",
            usage_line(scheme)
        ))
    })
}

fn usage_line(scheme: &str) -> &'static str {
    match scheme {
        "static" => "scheme=static takes sender-key=PEM recipient-public-key=FILE",
        "ephemeral" => "scheme=ephemeral takes recipient-public-key=FILE",
        _ => "scheme=discovery takes recipient-key=PEM",
    }
}

fn read(path: &str, what: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    Ok(KeyFile::read(path, &format!("{GROUP}: {what}"))?.bytes)
}

/// A PEM PKCS#8 private key file.
fn private_key(path: &str, option: &str, ui: &Ui) -> Result<EcdhPrivateKey, CliError> {
    let file = KeyFile::read(path, &format!("{GROUP}: {option}"))?;
    file.warn_if_exposed(path, ui);
    let bytes = file.bytes;
    EcdhPrivateKey::from_pem(&bytes).map_err(|e| {
        let hint = if bytes.windows(10).any(|w| w == b"PUBLIC KEY") {
            " (this is a public key; this option takes the private key)"
        } else {
            ""
        };
        CliError::usage(format!("{GROUP}: {option}={path}: {e}{hint}"))
    })
}

/// A DER or PEM SubjectPublicKeyInfo file.
fn public_key(path: &str, option: &str) -> Result<EcdhPublicKey, CliError> {
    let bytes = read(path, option)?;
    EcdhPublicKey::from_spki_der_or_pem(&bytes).map_err(|e| {
        let hint = if bytes.windows(11).any(|w| w == b"PRIVATE KEY") {
            " (this is a private key; give its public key, e.g. from `openssl pkey -in KEY -pubout`)"
        } else {
            ""
        };
        CliError::usage(format!("{GROUP}: {option}={path}: {e}{hint}"))
    })
}

/// Checks a key's curve against `curve=`, naming the file.
fn check_curve(want: Option<Curve>, got: Curve, option: &str, path: &str) -> Result<(), CliError> {
    match want {
        Some(want) if want != got => Err(CliError::usage(format!(
            "{GROUP}: {option}={path} is a {got} key, but curve={} was given",
            want.name().to_ascii_lowercase().replace('-', "")
        ))),
        _ => Ok(()),
    }
}

/// The keyring of one `-w provider=raw-ecdh` group; `map` holds its options
/// and keeps those it does not know, for the caller to report.
pub fn keyring(map: &mut BTreeMap<String, String>, mode: Mode, ui: &Ui) -> Result<RawEcdhKeyring, CliError> {
    let scheme = map.remove("scheme").ok_or_else(|| {
        CliError::usage(format!(
            "{GROUP}: missing scheme= (static, ephemeral or discovery)"
        ))
    })?;
    let curve = map
        .remove("curve")
        .map(|c| c.parse::<Curve>())
        .transpose()
        .map_err(|e| CliError::usage(format!("{GROUP}: {e}")))?;
    match scheme.as_str() {
        "static" => {
            let sender_path = take(map, "sender-key", &scheme)?;
            let recipient_path = take(map, "recipient-public-key", &scheme)?;
            let sender = private_key(&sender_path, "sender-key", ui)?;
            let recipient = public_key(&recipient_path, "recipient-public-key")?;
            check_curve(curve, sender.curve(), "sender-key", &sender_path)?;
            check_curve(curve, recipient.curve(), "recipient-public-key", &recipient_path)?;
            if sender.curve() != recipient.curve() {
                return Err(CliError::usage(format!(
                    "{GROUP}: sender-key={sender_path} is a {} key but recipient-public-key={recipient_path} \
                     is a {} key; both must be on the same curve",
                    sender.curve(),
                    recipient.curve()
                )));
            }
            RawEcdhKeyring::static_keys(sender, recipient).map_err(|e| CliError::from_lib(GROUP, e))
        }
        "ephemeral" => {
            if mode == Mode::Decrypt {
                return Err(CliError::usage(format!(
                    "{GROUP} scheme=ephemeral only encrypts; to decrypt, use scheme=discovery \
                     recipient-key=PEM with the recipient's private key"
                )));
            }
            let path = take(map, "recipient-public-key", &scheme)?;
            let recipient = public_key(&path, "recipient-public-key")?;
            check_curve(curve, recipient.curve(), "recipient-public-key", &path)?;
            Ok(RawEcdhKeyring::ephemeral(recipient))
        }
        "discovery" => {
            if mode == Mode::Encrypt {
                return Err(CliError::usage(format!(
                    "{GROUP} scheme=discovery only decrypts; to encrypt to a public key, use \
                     scheme=ephemeral recipient-public-key=FILE (or scheme=static)"
                )));
            }
            let path = take(map, "recipient-key", &scheme)?;
            let recipient = private_key(&path, "recipient-key", ui)?;
            check_curve(curve, recipient.curve(), "recipient-key", &path)?;
            Ok(RawEcdhKeyring::discovery(recipient))
        }
        other => Err(CliError::usage(format!(
            "{GROUP}: unknown scheme '{other}' (expected static, ephemeral or discovery)"
        ))),
    }
}

/// The two public keys of a raw ECDH EDK, for `inspect` and the metadata.
#[derive(Debug, Serialize)]
pub struct EdkKeys {
    /// `P-256`, `P-384` or `P-521`, from the provider info's length.
    pub curve: &'static str,
    pub recipient_public_key: EdkKey,
    pub sender_public_key: EdkKey,
}

/// One public key of an EDK, as stored and as a key file holds it.
#[derive(Debug, Serialize)]
pub struct EdkKey {
    /// The compressed point as stored in the message, in hex.
    pub compressed: String,
    /// The DER SubjectPublicKeyInfo in base64 (the body of a PEM public key
    /// file), or `None` when the bytes are not a point on the curve.
    pub spki: Option<String>,
}

impl EdkKeys {
    /// The keys, if `provider_id` is an ECDH keyring's and the info parses.
    pub fn of(provider_id: &str, info: &[u8]) -> Option<EdkKeys> {
        if provider_id != PROVIDER_ID && provider_id != KMS_ECDH_PROVIDER_ID {
            return None;
        }
        let info = parse_provider_info(info).ok()?;
        let key = |bytes: &[u8]| EdkKey {
            compressed: hex(bytes),
            spki: EcdhPublicKey::from_compressed(info.curve, bytes)
                .ok()
                .map(|k| STANDARD.encode(k.spki_der())),
        };
        Some(EdkKeys {
            curve: info.curve.name(),
            recipient_public_key: key(info.recipient),
            sender_public_key: key(info.sender),
        })
    }

    /// `raw ECDH P-256: recipient <spki>, sender <spki>`.
    pub fn one_line(&self) -> String {
        let shown = |k: &EdkKey| match &k.spki {
            Some(s) => s.clone(),
            None => format!("{} (not a point on {})", k.compressed, self.curve),
        };
        format!(
            "raw ECDH {}: recipient public key {}, sender public key {}",
            self.curve,
            shown(&self.recipient_public_key),
            shown(&self.sender_public_key)
        )
    }
}
