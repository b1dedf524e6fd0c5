//! Serde helpers for the KMS API's JSON: blobs as standard padded base64 text.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{de::Error as _, Deserialize, Deserializer, Serializer};
use zeroize::Zeroizing;

use crate::crypto::Secret;

pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&STANDARD.encode(bytes))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = Zeroizing::new(String::deserialize(d)?);
    STANDARD.decode(text.as_bytes()).map_err(D::Error::custom)
}

/// The same for secret blobs; the decoded bytes go straight into a [`Secret`].
pub mod secret {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &Secret, s: S) -> Result<S::Ok, S::Error> {
        super::serialize(bytes, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        super::deserialize(d).map(Zeroizing::new)
    }
}
