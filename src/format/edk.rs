//! Encrypted data keys (EDKs) and their list in the header.
//!
//! Entry: `providerIdLen u16 ‖ providerId ‖ providerInfoLen u16 ‖ providerInfo ‖
//! ciphertextLen u16 ‖ ciphertext`; the list is `count u16 (≥ 1)` entries.

use super::{finish, invalid, put_u16_bytes, Cursor, Parsed, Stop};
use crate::error::{ApiMisuse, Error, Part, Result};

/// A data key encrypted by one keyring, as stored in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedDataKey {
    /// Who wrapped it: a raw keyring's namespace, or `aws-kms`.
    pub provider_id: String,
    /// Provider-specific key reference (key name, IV, key ARN, ...).
    pub provider_info: Vec<u8>,
    /// The wrapped data key.
    pub ciphertext: Vec<u8>,
}

impl EncryptedDataKey {
    /// Appends the serialized entry; fails if a field exceeds 65535 bytes.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<()> {
        for (name, f) in [
            ("provider id", self.provider_id.as_bytes()),
            ("provider info", &self.provider_info[..]),
            ("ciphertext", &self.ciphertext[..]),
        ] {
            if f.len() > u16::MAX as usize {
                return Err(Error::Limit(format!(
                    "encrypted data key {name} is {} bytes, more than 65535",
                    f.len()
                )));
            }
        }
        put_u16_bytes(out, self.provider_id.as_bytes());
        put_u16_bytes(out, &self.provider_info);
        put_u16_bytes(out, &self.ciphertext);
        Ok(())
    }
}

/// Serializes an EDK list with its count.
pub fn serialize_list(edks: &[EncryptedDataKey]) -> Result<Vec<u8>> {
    if edks.is_empty() {
        return Err(ApiMisuse::NoEncryptedDataKey.into());
    }
    if edks.len() > u16::MAX as usize {
        return Err(Error::Limit("more than 65535 encrypted data keys".into()));
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(edks.len() as u16).to_be_bytes());
    for e in edks {
        e.write(&mut out)?;
    }
    Ok(out)
}

/// Parses an EDK list (count and entries) from the start of `buf`.
///
/// The count is checked against `max` as soon as it is read, before any
/// entry is parsed, as the ESDK requires.
pub fn parse_list(buf: &[u8], max: Option<u16>) -> Result<Parsed<Vec<EncryptedDataKey>>> {
    let mut cur = Cursor::new(buf);
    let r = read_list(&mut cur, max);
    finish(r, &cur)
}

pub(crate) fn read_list(cur: &mut Cursor<'_>, max: Option<u16>) -> Result<Vec<EncryptedDataKey>, Stop> {
    let count = cur.u16()?;
    if count == 0 {
        return Err(invalid(Part::EncryptedDataKeys, "the count is zero"));
    }
    if let Some(max) = max {
        if count > max {
            return Err(Stop::Invalid(Error::TooManyEncryptedDataKeys {
                count: count as usize,
                max,
            }));
        }
    }
    // No reservation from the untrusted count: entries are pushed as parsed,
    // each at least 6 bytes of input, so memory follows the input's real size.
    let mut edks = Vec::new();
    for i in 0..count {
        match read_entry(cur) {
            Ok(e) => edks.push(e),
            // The entries still to come need at least their three length
            // fields each. Saying so lets a streaming caller wait for them
            // instead of re-parsing the list after every few bytes, which
            // would be quadratic in the number of entries.
            Err(Stop::Incomplete(n)) => {
                let rest = usize::from(count - i - 1) * MIN_ENTRY_LEN;
                return Err(Stop::Incomplete(n.saturating_add(rest)));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(edks)
}

/// The smallest serialized entry: three empty length-prefixed fields.
const MIN_ENTRY_LEN: usize = 6;

fn read_entry(cur: &mut Cursor<'_>) -> Result<EncryptedDataKey, Stop> {
    let id = cur.u16_bytes()?;
    let provider_id = std::str::from_utf8(id)
        .map_err(|_| invalid(Part::EncryptedDataKeys, "provider id is not UTF-8"))?
        .to_owned();
    let provider_info = cur.u16_bytes()?.to_vec();
    let ciphertext = cur.u16_bytes()?.to_vec();
    Ok(EncryptedDataKey {
        provider_id,
        provider_info,
        ciphertext,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edk(id: &str) -> EncryptedDataKey {
        EncryptedDataKey {
            provider_id: id.into(),
            provider_info: b"info".to_vec(),
            ciphertext: vec![7; 40],
        }
    }

    #[test]
    fn round_trip_and_incremental() {
        let list = vec![edk("raw"), edk("aws-kms")];
        let b = serialize_list(&list).unwrap();
        assert_eq!(parse_list(&b, None).unwrap(), Parsed::Done(list, b.len()));
        for cut in 0..b.len() {
            assert!(matches!(parse_list(&b[..cut], None).unwrap(), Parsed::Incomplete(n) if n >= 1));
        }
    }

    #[test]
    fn incomplete_counts_the_entries_still_to_come() {
        // Count 5, one complete entry, then the first byte of the second.
        let mut b = vec![0, 5];
        edk("a").write(&mut b).unwrap();
        b.push(0);
        // One more byte for the length field, then three more entries.
        assert_eq!(parse_list(&b, None).unwrap(), Parsed::Incomplete(1 + 3 * 6));
        // The bound is exact for minimal entries: with it the list parses.
        b.extend_from_slice(&[0, 0, 0, 0, 0]);
        b.extend_from_slice(&[0; 18]);
        assert!(matches!(parse_list(&b, None).unwrap(), Parsed::Done(l, _) if l.len() == 5));
    }

    #[test]
    fn max_checked_on_count() {
        // Declares 65535 EDKs with no entries: rejected from the count alone.
        let r = parse_list(&[0xff, 0xff], Some(10));
        assert!(matches!(
            r,
            Err(Error::TooManyEncryptedDataKeys {
                count: 65535,
                max: 10
            })
        ));
        assert!(parse_list(&[0, 0], None).is_err());
    }
}
