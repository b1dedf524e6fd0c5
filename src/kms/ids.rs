//! Key identifiers: key ids, key ARNs, alias names and alias ARNs.
//!
//! Every request's identifier is normalised once, here, to either a key id
//! or an alias name; operations then say whether they accept aliases.

use uuid::Uuid;

use super::config::Identity;
use super::error::KmsError;

/// An ARN split into its six fields: `arn:partition:service:region:account:resource`,
/// with the resource split at its first `/` into type and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    /// `aws`, `aws-cn`, ...
    pub partition: String,
    /// `kms` for KMS ARNs.
    pub service: String,
    /// The region.
    pub region: String,
    /// The account id.
    pub account: String,
    /// `key` or `alias`.
    pub resource_type: String,
    /// The key id, or the alias name without `alias/`.
    pub resource_id: String,
}

impl Arn {
    /// Parses an ARN; `None` if it is not `arn:` followed by five `:`-separated
    /// non-empty fields whose last is `type/id`.
    pub fn parse(s: &str) -> Option<Arn> {
        let mut parts = s.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let partition = parts.next()?;
        let service = parts.next()?;
        let region = parts.next()?;
        let account = parts.next()?;
        let (rtype, rid) = parts.next()?.split_once('/')?;
        if [partition, service, region, account, rtype, rid]
            .iter()
            .any(|f| f.is_empty())
        {
            return None;
        }
        Some(Arn {
            partition: partition.into(),
            service: service.into(),
            region: region.into(),
            account: account.into(),
            resource_type: rtype.into(),
            resource_id: rid.into(),
        })
    }

    /// Whether this is a KMS key ARN (`arn:*:kms:*:*:key/<id>`).
    pub fn is_kms_key(&self) -> bool {
        self.service == "kms" && self.resource_type == "key"
    }
}

/// What an identifier in a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyRef {
    /// A key id (canonical lowercase UUID).
    Key(String),
    /// An alias name, `alias/...`.
    Alias(String),
}

/// Whether `s` is a key id as this service writes them: a lowercase hyphenated UUID.
pub(crate) fn is_key_id(s: &str) -> bool {
    s.len() == 36 && Uuid::parse_str(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

/// Normalises an identifier. Aliases are refused when `allow_alias` is false
/// (the operations that take "key id or key ARN" only).
pub(crate) fn parse_key_ref(
    config: &Identity,
    id: &str,
    field: &str,
    allow_alias: bool,
) -> Result<KeyRef, KmsError> {
    if id.is_empty() || id.len() > 2048 {
        return Err(KmsError::validation(format!(
            "1 validation error detected: Value at '{field}' failed to satisfy constraint: \
             Member must have length between 1 and 2048"
        )));
    }
    let r = if id.starts_with("arn:") {
        let arn = Arn::parse(id).ok_or_else(|| KmsError::not_found(format!("Invalid arn '{id}'")))?;
        if arn.partition != config.partition
            || arn.service != "kms"
            || arn.region != config.region
            || arn.account != config.account_id
        {
            return Err(KmsError::not_found(format!(
                "Invalid arn '{id}': this key store serves {}",
                config.arn_prefix()
            )));
        }
        match arn.resource_type.as_str() {
            "key" if is_key_id(&arn.resource_id) => KeyRef::Key(arn.resource_id),
            "alias" => KeyRef::Alias(format!("alias/{}", arn.resource_id)),
            _ => return Err(KmsError::not_found(format!("Invalid arn '{id}'"))),
        }
    } else if id.starts_with("alias/") {
        KeyRef::Alias(id.to_owned())
    } else if is_key_id(id) {
        KeyRef::Key(id.to_owned())
    } else {
        return Err(KmsError::not_found(format!("Invalid keyId '{id}'")));
    };
    if !allow_alias && matches!(r, KeyRef::Alias(_)) {
        return Err(KmsError::not_found(format!(
            "Invalid keyId '{id}': this operation takes a key id or key ARN, not an alias"
        )));
    }
    Ok(r)
}

/// Checks an alias name: `alias/` then 1 to 250 of `[a-zA-Z0-9:/_-]`, not `alias/aws/...`.
pub(crate) fn check_alias_name(name: &str) -> Result<(), KmsError> {
    if name.is_empty() || name.len() > 256 {
        return Err(KmsError::validation(
            "1 validation error detected: Value at 'aliasName' failed to satisfy constraint: \
             Member must have length between 1 and 256",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'_' | b'-'))
    {
        return Err(KmsError::validation(format!(
            "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
        )));
    }
    match name.strip_prefix("alias/") {
        Some("") | None => Err(KmsError::validation(format!(
            "Alias must start with the prefix \"alias/\" followed by a name: '{name}'"
        ))),
        Some(rest) if rest.starts_with("aws/") => Err(KmsError::validation(format!(
            "Alias '{name}' is reserved: the alias/aws/ prefix is for AWS managed keys"
        ))),
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_forms() {
        let c = Identity {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account_id: "111122223333".into(),
        };
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let key = KeyRef::Key(id.into());
        assert_eq!(parse_key_ref(&c, id, "keyId", true).unwrap(), key);
        assert_eq!(parse_key_ref(&c, &c.key_arn(id), "keyId", false).unwrap(), key);
        let alias = KeyRef::Alias("alias/x".into());
        assert_eq!(parse_key_ref(&c, "alias/x", "keyId", true).unwrap(), alias);
        assert_eq!(
            parse_key_ref(&c, &c.alias_arn("alias/x"), "keyId", true).unwrap(),
            alias
        );
        assert!(parse_key_ref(&c, "alias/x", "keyId", false).is_err());
        // Other region, upper-case id, junk: all NotFound; empty: Validation.
        let other = id_err(&c, &format!("arn:aws:kms:eu-west-1:111122223333:key/{id}"));
        assert_eq!(other.kind, super::super::KmsErrorKind::NotFoundException);
        assert!(parse_key_ref(&c, &id.to_uppercase(), "keyId", true).is_err());
        assert!(parse_key_ref(&c, "fake-key-id", "keyId", true).is_err());
        assert_eq!(
            id_err(&c, "").kind,
            super::super::KmsErrorKind::ValidationException
        );
    }

    fn id_err(c: &Identity, s: &str) -> KmsError {
        parse_key_ref(c, s, "keyId", true).unwrap_err()
    }

    #[test]
    fn alias_names() {
        assert!(check_alias_name("alias/envelope-default").is_ok());
        assert!(check_alias_name("alias/a:b/c_d-e").is_ok());
        for bad in [
            "",
            "alias/",
            "foo",
            "alias/aws/x",
            "alias/sp ace",
            &"a".repeat(257),
        ] {
            assert!(check_alias_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arn_parse() {
        let a = Arn::parse("arn:aws:kms:us-west-2:658956600833:key/b3537ef1-d8dc-4780-9f5a-55776cbb2f7f")
            .unwrap();
        assert!(a.is_kms_key());
        assert_eq!(a.account, "658956600833");
        assert!(Arn::parse("arn:aws:kms:us-west-2:658956600833:key").is_none());
        assert!(Arn::parse("arn:aws:kms::658956600833:key/x").is_none());
        assert!(!Arn::parse("arn:aws:kms:r:a:alias/x").unwrap().is_kms_key());
    }
}
