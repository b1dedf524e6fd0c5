//! Encryption context serialization.
//!
//! An encryption context is a map of UTF-8 strings, kept as a `BTreeMap` so
//! that iteration order is the sort order the format requires (ascending by
//! the raw UTF-8 bytes of the key, which is how `String` orders).
//!
//! Serialized form: `count u16` then, per pair, `keyLen u16 ‖ key ‖ valueLen u16 ‖ value`.
//! An empty context serializes to zero bytes. The same bytes are the raw AES
//! keyring's wrapping AAD and the required-context term of header auth.

use std::collections::BTreeMap;

use super::{finish, invalid, put_u16_bytes, Cursor, Parsed, Stop};
use crate::error::{Error, Part, Result};

/// An encryption context: non-secret key/value pairs bound to a message.
pub type EncryptionContext = BTreeMap<String, String>;

/// Prefix of context keys reserved for the ESDK itself.
pub const RESERVED_PREFIX: &str = "aws-crypto-";

/// The context key holding the signing suites' public verification key.
pub const PUBLIC_KEY_FIELD: &str = "aws-crypto-public-key";

/// Serializes a context; empty gives an empty vector.
///
/// Fails if the result would not fit the header's u16 length field.
pub fn serialize(ec: &EncryptionContext) -> Result<Vec<u8>> {
    if ec.is_empty() {
        return Ok(Vec::new());
    }
    if ec.len() > u16::MAX as usize {
        return Err(Error::EncryptionContext("more than 65535 pairs".into()));
    }
    let mut out = Vec::new();
    out.extend_from_slice(&(ec.len() as u16).to_be_bytes());
    for (k, v) in ec {
        if k.len() > u16::MAX as usize || v.len() > u16::MAX as usize {
            return Err(Error::EncryptionContext(
                "a key or value is longer than 65535 bytes".into(),
            ));
        }
        put_u16_bytes(&mut out, k.as_bytes());
        put_u16_bytes(&mut out, v.as_bytes());
    }
    if out.len() > u16::MAX as usize {
        return Err(Error::EncryptionContext(format!(
            "serialized context is {} bytes, more than the 65535 the header allows",
            out.len()
        )));
    }
    Ok(out)
}

/// Parses a complete serialized context block (the header's AAD field).
///
/// Accepts the empty block and the legacy empty form `00 00` (count zero);
/// rejects duplicate keys, invalid UTF-8 and trailing bytes. Sorted order is
/// not required on read, as in the official decoders.
pub fn parse(block: &[u8]) -> Result<EncryptionContext> {
    let mut cur = Cursor::new(block);
    let r = parse_pairs(&mut cur, block.len());
    match finish(r, &cur)? {
        Parsed::Done(ec, _) => Ok(ec),
        Parsed::Incomplete(_) => Err(Error::malformed(
            Part::EncryptionContext,
            "pair lengths run past the end of the context block",
        )),
    }
}

fn parse_pairs(cur: &mut Cursor<'_>, total: usize) -> Result<EncryptionContext, Stop> {
    let mut ec = EncryptionContext::new();
    if total == 0 {
        return Ok(ec);
    }
    let count = cur.u16()?;
    for _ in 0..count {
        let k = utf8(cur.u16_bytes()?)?;
        let v = utf8(cur.u16_bytes()?)?;
        if ec.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(invalid(Part::EncryptionContext, format!("duplicate key '{k}'")));
        }
    }
    if !cur.is_empty() {
        return Err(invalid(
            Part::EncryptionContext,
            "trailing bytes after the last pair",
        ));
    }
    Ok(ec)
}

fn utf8(b: &[u8]) -> Result<&str, Stop> {
    std::str::from_utf8(b).map_err(|_| invalid(Part::EncryptionContext, "invalid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_legacy_empty() {
        assert!(serialize(&EncryptionContext::new()).unwrap().is_empty());
        assert!(parse(&[]).unwrap().is_empty());
        assert!(parse(&[0, 0]).unwrap().is_empty());
    }

    #[test]
    fn round_trip_sorted_by_bytes() {
        let mut ec = EncryptionContext::new();
        ec.insert("zeta".into(), "1".into());
        ec.insert("Alpha".into(), "ü".into());
        ec.insert("a".into(), String::new());
        let b = serialize(&ec).unwrap();
        assert_eq!(&b[..2], &[0, 3]);
        assert_eq!(&b[2..4], &[0, 5]);
        assert_eq!(&b[4..9], b"Alpha");
        assert_eq!(parse(&b).unwrap(), ec);
    }

    #[test]
    fn rejects_bad_blocks() {
        // Duplicate key.
        let dup = [0, 2, 0, 1, b'a', 0, 0, 0, 1, b'a', 0, 0];
        assert!(parse(&dup).is_err());
        // Trailing byte.
        assert!(parse(&[0, 0, 9]).is_err());
        // Length past the end.
        assert!(parse(&[0, 1, 0, 9, b'a']).is_err());
        // Invalid UTF-8.
        assert!(parse(&[0, 1, 0, 1, 0xff, 0, 0]).is_err());
    }
}
