//! A message header as plain data, for `envelope inspect`, `--metadata-output`
//! and `-v`. Everything here is public in the message already: the wrapped
//! data keys are summarised by length, never copied out.

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use envelope::format::{ContentType, EncryptedDataKey, Header};
use envelope::EncryptionContext;
use serde::Serialize;

/// The header fields users ask about.
#[derive(Debug, Serialize)]
pub struct HeaderInfo {
    pub format_version: u8,
    /// The suite id as ESDK documentation writes it, `0x0578`.
    pub suite_id: String,
    pub suite_name: &'static str,
    /// Lowercase hex.
    pub message_id: String,
    pub encryption_context: EncryptionContext,
    pub encrypted_data_keys: Vec<EdkInfo>,
    /// `framed` or `non-framed`.
    pub content_type: &'static str,
    pub frame_length: u32,
    /// Whether the message ends with an ECDSA signature.
    pub signed: bool,
    /// Whether the header commits to the data key (format version 2).
    pub committing: bool,
    /// Header bytes, authentication included.
    pub header_size: usize,
}

/// One encrypted data key, without its ciphertext.
#[derive(Debug, Serialize)]
pub struct EdkInfo {
    pub provider_id: String,
    /// As text when it is printable UTF-8 (key ARNs, RSA key names), else base64.
    pub provider_info: String,
    /// `utf-8` or `base64`: how `provider_info` is written.
    pub provider_info_encoding: &'static str,
    /// The key name, when the info has the raw AES keyring's layout
    /// (name, tag length 128, IV length 12, IV).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_aes_key_name: Option<String>,
    /// The recipient and sender public keys, when the EDK is a raw (or AWS
    /// KMS) ECDH keyring's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_ecdh: Option<super::ecdh::EdkKeys>,
    /// Length of the wrapped data key.
    pub ciphertext_length: usize,
}

impl HeaderInfo {
    pub fn new(h: &Header) -> HeaderInfo {
        HeaderInfo {
            format_version: h.suite.message_format_version,
            suite_id: format!("0x{:04x}", h.suite.id),
            suite_name: h.suite.name,
            message_id: hex(&h.message_id),
            encryption_context: h.encryption_context.clone(),
            encrypted_data_keys: h.encrypted_data_keys.iter().map(EdkInfo::new).collect(),
            content_type: match h.content_type {
                ContentType::Framed => "framed",
                ContentType::NonFramed => "non-framed",
            },
            frame_length: h.frame_length,
            signed: h.suite.is_signing(),
            committing: h.suite.is_committing(),
            header_size: h.len(),
        }
    }
}

impl EdkInfo {
    pub fn new(e: &EncryptedDataKey) -> EdkInfo {
        let (provider_info, provider_info_encoding) = match printable(&e.provider_info) {
            Some(s) => (s.to_owned(), "utf-8"),
            None => (STANDARD.encode(&e.provider_info), "base64"),
        };
        EdkInfo {
            provider_id: e.provider_id.clone(),
            provider_info,
            provider_info_encoding,
            raw_aes_key_name: raw_aes_key_name(&e.provider_info),
            raw_ecdh: super::ecdh::EdkKeys::of(&e.provider_id, &e.provider_info),
            ciphertext_length: e.ciphertext.len(),
        }
    }

    /// The provider id and the key's name where the info holds one (a raw
    /// AES or RSA key name, a KMS key ARN; an ECDH key's curve and keys):
    /// enough to tell which `-w` key opens it, without the IV and other bytes.
    pub fn key_label(&self) -> String {
        if let Some(k) = &self.raw_ecdh {
            return format!("{} ({})", self.provider_id, k.one_line());
        }
        let name = self
            .raw_aes_key_name
            .as_deref()
            .or((self.provider_info_encoding == "utf-8").then_some(self.provider_info.as_str()));
        match name {
            Some(n) => format!("provider {:?} key {n:?}", self.provider_id),
            None => format!("provider {:?}", self.provider_id),
        }
    }

    /// `provider-id info` on one line, for text output.
    pub fn one_line(&self) -> String {
        if let Some(k) = &self.raw_ecdh {
            return format!("{} ({})", self.provider_id, k.one_line());
        }
        let mut s = format!("{} {}", self.provider_id, self.provider_info);
        if self.provider_info_encoding != "utf-8" {
            s.push_str(" (base64)");
        }
        if let Some(n) = &self.raw_aes_key_name {
            let _ = write!(s, " (raw AES key name {n:?})");
        }
        s
    }
}

/// The text, if `b` is UTF-8 without control characters.
fn printable(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b)
        .ok()
        .filter(|s| !s.chars().any(char::is_control))
}

/// The raw AES keyring's info: `name ‖ 00000080 ‖ 0000000c ‖ IV[12]`.
fn raw_aes_key_name(info: &[u8]) -> Option<String> {
    const TAIL: usize = 4 + 4 + 12;
    let split = info.len().checked_sub(TAIL)?;
    let (name, tail) = info.split_at(split);
    if tail[..8] != [0, 0, 0, 0x80, 0, 0, 0, 0x0c] {
        return None;
    }
    printable(name).map(str::to_owned)
}

pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edk(info: &[u8]) -> EdkInfo {
        EdkInfo::new(&EncryptedDataKey {
            provider_id: "p".into(),
            provider_info: info.to_vec(),
            ciphertext: vec![0; 40],
        })
    }

    #[test]
    fn provider_info_as_text_or_base64() {
        let arn = edk(b"arn:aws:kms:us-east-1:111122223333:key/k");
        assert_eq!(arn.provider_info_encoding, "utf-8");
        assert_eq!(arn.provider_info, "arn:aws:kms:us-east-1:111122223333:key/k");
        assert_eq!(arn.raw_aes_key_name, None);
        assert_eq!(arn.ciphertext_length, 40);

        let mut aes = b"backup-key".to_vec();
        aes.extend_from_slice(&[0, 0, 0, 0x80, 0, 0, 0, 0x0c]);
        aes.extend_from_slice(&[0xff; 12]);
        let aes = edk(&aes);
        assert_eq!(aes.provider_info_encoding, "base64");
        assert_eq!(STANDARD.decode(&aes.provider_info).unwrap().len(), 30);
        assert_eq!(aes.raw_aes_key_name.as_deref(), Some("backup-key"));
        assert!(aes.one_line().contains("backup-key"));

        assert_eq!(edk(b"tab\there").provider_info_encoding, "base64");
        assert_eq!(edk(&[0; 19]).raw_aes_key_name, None);
    }

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
