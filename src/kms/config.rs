//! Where the key store lives, how its root key is unlocked, and which region
//! and account the key ARNs name.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use super::error::KmsError;
use crate::crypto::Secret;

/// Region used when neither the config nor `ENVELOPE_REGION` names one.
pub const DEFAULT_REGION: &str = "us-east-1";
/// Account id used when neither the config nor `ENVELOPE_ACCOUNT_ID` names one
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
    /// Region in key ARNs, default [`DEFAULT_REGION`].
    pub region: String,
    /// 12-digit account id in key ARNs, default [`DEFAULT_ACCOUNT_ID`].
    pub account_id: String,
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
    /// A key-file store in `keystore` with the default region and account,
    /// ignoring the environment.
    pub fn new(keystore: impl Into<PathBuf>) -> KmsConfig {
        KmsConfig {
            keystore: keystore.into(),
            partition: DEFAULT_PARTITION.into(),
            region: DEFAULT_REGION.into(),
            account_id: DEFAULT_ACCOUNT_ID.into(),
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
        if let Some(r) = non_empty_env(ENV_REGION) {
            config.region = r;
        }
        if let Some(a) = non_empty_env(ENV_ACCOUNT_ID) {
            config.account_id = a;
        }
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
        let label = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !label(&self.region) {
            return Err(KmsError::validation(format!(
                "region '{}' is not valid (lowercase letters, digits and '-')",
                self.region
            )));
        }
        if !label(&self.partition) {
            return Err(KmsError::validation(format!(
                "partition '{}' is not valid",
                self.partition
            )));
        }
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(KmsError::validation(format!(
                "account id '{}' is not 12 digits",
                self.account_id
            )));
        }
        Ok(())
    }

    /// The ARN prefix of this configuration, `arn:<partition>:kms:<region>:<account>:`.
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
