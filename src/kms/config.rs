//! Where the key store lives, how its root key is unlocked, and which region
//! and account the key ARNs name ([`Identity`]: fixed when a store is created).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use super::error::KmsError;
use crate::crypto::Secret;

/// Region of a new store when neither the config nor `ENVELOPE_REGION` names one.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Account id of a new store when neither the config nor `ENVELOPE_ACCOUNT_ID` names one
/// (the placeholder account of the AWS documentation).
pub const DEFAULT_ACCOUNT_ID: &str = "111122223333";
/// The ARN partition.
pub const DEFAULT_PARTITION: &str = "aws";

/// Environment variable naming the key-store directory.
pub const ENV_HOME: &str = "ENVELOPE_HOME";
/// Environment variable holding the root-key passphrase.
pub const ENV_PASSPHRASE: &str = "ENVELOPE_PASSPHRASE";
/// Environment variable naming the region.
pub const ENV_REGION: &str = "ENVELOPE_REGION";
/// Environment variable naming the account id.
pub const ENV_ACCOUNT_ID: &str = "ENVELOPE_ACCOUNT_ID";
/// Environment variable that, set to `1`, lets the KMS core use a key store
/// whose directory or files give group or others access.
pub const ENV_ALLOW_INSECURE: &str = "ENVELOPE_ALLOW_INSECURE_KEYSTORE";

/// The source of "now", in whole seconds since the Unix epoch.
///
/// Key deletion and automatic rotation happen when their date has passed;
/// tests swap in a clock they can move forward.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        }))
    }

    /// A clock reading `f`.
    pub fn from_fn(f: impl Fn() -> u64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(f))
    }

    /// The current time, epoch seconds.
    pub fn now(&self) -> u64 {
        (self.0)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock(..)")
    }
}

/// Configuration of a [`KmsCore`](super::KmsCore).
#[derive(Clone)]
pub struct KmsConfig {
    /// The key-store directory (created 0700 if missing).
    pub keystore: PathBuf,
    /// ARN partition, default `aws`.
    pub partition: String,
    /// Region in key ARNs. A store keeps the region it was created with
    /// (`None`: [`DEFAULT_REGION`]); opening it with a different `Some` is
    /// refused (ValidationException), so that a changed setting cannot make
    /// every stored key look missing.
    pub region: Option<String>,
    /// 12-digit account id in key ARNs; fixed at creation like `region`
    /// (`None`: [`DEFAULT_ACCOUNT_ID`]).
    pub account_id: Option<String>,
    /// When set, the root key is derived from this passphrase with Argon2id
    /// instead of being kept in a key file. A store keeps the mode it was
    /// created with.
    pub passphrase: Option<Secret>,
    /// The time source.
    pub clock: Clock,
    /// Use an existing store even if its directory or files give group or
    /// others access (by default such a store is refused with
    /// AccessDeniedException). New stores are created owner-only regardless.
    pub allow_insecure_permissions: bool,
}

impl fmt::Debug for KmsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KmsConfig")
            .field("keystore", &self.keystore)
            .field("partition", &self.partition)
            .field("region", &self.region)
            .field("account_id", &self.account_id)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "<set>"))
            .field("allow_insecure_permissions", &self.allow_insecure_permissions)
            .finish()
    }
}

impl KmsConfig {
    /// A key-file store in `keystore` that takes the store's region and
    /// account (the defaults for a new store), ignoring the environment.
    pub fn new(keystore: impl Into<PathBuf>) -> KmsConfig {
        KmsConfig {
            keystore: keystore.into(),
            partition: DEFAULT_PARTITION.into(),
            region: None,
            account_id: None,
            passphrase: None,
            clock: Clock::system(),
            allow_insecure_permissions: false,
        }
    }

    /// The configuration the CLI uses: the key store is `keystore` if given,
    /// else `$ENVELOPE_HOME`, else `<user data dir>/envelope`; region, account
    /// and passphrase come from `ENVELOPE_REGION`, `ENVELOPE_ACCOUNT_ID` and
    /// `ENVELOPE_PASSPHRASE`; `ENVELOPE_ALLOW_INSECURE_KEYSTORE=1` sets
    /// [`KmsConfig::allow_insecure_permissions`].
    pub fn from_env(keystore: Option<&Path>) -> Result<KmsConfig, KmsError> {
        let dir = match keystore {
            Some(d) => d.to_path_buf(),
            None => match non_empty_env(ENV_HOME) {
                Some(h) => PathBuf::from(h),
                None => dirs::data_dir().map(|d| d.join("envelope")).ok_or_else(|| {
                    KmsError::validation(
                        "cannot find the user data directory: pass --keystore DIR or set ENVELOPE_HOME",
                    )
                })?,
            },
        };
        let mut config = KmsConfig::new(dir);
        config.region = non_empty_env(ENV_REGION);
        config.account_id = non_empty_env(ENV_ACCOUNT_ID);
        config.allow_insecure_permissions = match non_empty_env(ENV_ALLOW_INSECURE).as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(v) => {
                return Err(KmsError::validation(format!(
                    "{ENV_ALLOW_INSECURE} must be 1 or 0, not '{v}'"
                )))
            }
        };
        if let Some(p) = std::env::var_os(ENV_PASSPHRASE) {
            let p = Zeroizing::new(p.into_encoded_bytes());
            if p.is_empty() {
                return Err(KmsError::validation("ENVELOPE_PASSPHRASE is set but empty"));
            }
            config.passphrase = Some(p);
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks the region, account id and partition are usable in ARNs.
    pub fn validate(&self) -> Result<(), KmsError> {
        if let Some(r) = &self.region {
            check_region(r)?;
        }
        if let Some(a) = &self.account_id {
            check_account(a)?;
        }
        if !is_label(&self.partition) {
            return Err(KmsError::validation(format!(
                "partition '{}' is not valid",
                self.partition
            )));
        }
        Ok(())
    }
}

/// Lowercase letters, digits and `-`, 1 to 64 of them (regions, partitions).
fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub(crate) fn check_region(region: &str) -> Result<(), KmsError> {
    if is_label(region) {
        return Ok(());
    }
    Err(KmsError::validation(format!(
        "region '{region}' is not valid (lowercase letters, digits and '-')"
    )))
}

pub(crate) fn check_account(account: &str) -> Result<(), KmsError> {
    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    Err(KmsError::validation(format!(
        "account id '{account}' is not 12 digits"
    )))
}

/// Whom a key store's ARNs name: partition, region and account. Region and
/// account are stored with the store when it is created (module `identity`)
/// and never change, so the ARNs inside existing messages keep matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// ARN partition, `aws`.
    pub partition: String,
    /// Region.
    pub region: String,
    /// 12-digit account id.
    pub account_id: String,
}

impl Identity {
    /// The ARN prefix, `arn:<partition>:kms:<region>:<account>:`.
    pub(crate) fn arn_prefix(&self) -> String {
        format!("arn:{}:kms:{}:{}:", self.partition, self.region, self.account_id)
    }

    /// The key ARN of `key_id`.
    pub fn key_arn(&self, key_id: &str) -> String {
        format!("{}key/{}", self.arn_prefix(), key_id)
    }

    /// The alias ARN of `alias_name` (`alias/...`).
    pub fn alias_arn(&self, alias_name: &str) -> String {
        format!("{}{}", self.arn_prefix(), alias_name)
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
