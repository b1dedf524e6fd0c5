//! The region and account a key store's ARNs name, kept in its `meta` table.
//!
//! They are fixed when the store is first opened: the ARNs of its keys are
//! written into every message and ciphertext made with them, so a region that
//! followed the environment of each run would make those keys look missing
//! (AWS itself never moves a key to another region or account). A store
//! written before identities were stored adopts one on its next open, from the
//! configuration or else the defaults, and keeps it from then on. A
//! configuration that asks for another region or account is refused.

use rusqlite::{Connection, TransactionBehavior};

use super::config::{
    check_account, check_region, Identity, KmsConfig, DEFAULT_ACCOUNT_ID, DEFAULT_REGION, ENV_ACCOUNT_ID,
    ENV_REGION,
};
use super::error::KmsError;
use super::store::{self, db};

const META_REGION: &str = "region";
const META_ACCOUNT: &str = "account_id";

/// The stored region and account, if the store has them.
fn read(conn: &Connection) -> Result<Option<(String, String)>, KmsError> {
    let text = |name| -> Result<Option<String>, KmsError> {
        store::meta_get(conn, name)?
            .map(|v| {
                String::from_utf8(v)
                    .map_err(|_| KmsError::internal(format!("the key store's {name} is not text")))
            })
            .transpose()
    };
    Ok(text(META_REGION)?.zip(text(META_ACCOUNT)?))
}

/// Stores the configured (or default) identity in a store that has none (a
/// new store, or one made before identities were stored); another process
/// may have done so meanwhile, and then its values stand.
pub(crate) fn adopt(conn: &mut Connection, config: &KmsConfig) -> Result<(String, String), KmsError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    if let Some(found) = read(&tx)? {
        return Ok(found);
    }
    let region = config.region.clone().unwrap_or_else(|| DEFAULT_REGION.into());
    let account = config
        .account_id
        .clone()
        .unwrap_or_else(|| DEFAULT_ACCOUNT_ID.into());
    store::meta_set(&tx, META_REGION, region.as_bytes())?;
    store::meta_set(&tx, META_ACCOUNT, account.as_bytes())?;
    tx.commit().map_err(db)?;
    Ok((region, account))
}

/// The store's identity (adopted now if it has none); ValidationException
/// naming the setting when the configuration asks for another one.
pub(crate) fn resolve(conn: &mut Connection, config: &KmsConfig) -> Result<Identity, KmsError> {
    let (region, account_id) = match read(conn)? {
        Some(found) => found,
        None => adopt(conn, config)?,
    };
    // Values written by another program are checked like configured ones.
    check_region(&region)?;
    check_account(&account_id)?;
    let identity = Identity {
        partition: config.partition.clone(),
        region,
        account_id,
    };
    for (name, asked, stored) in [
        (ENV_REGION, &config.region, &identity.region),
        (ENV_ACCOUNT_ID, &config.account_id, &identity.account_id),
    ] {
        if let Some(asked) = asked.as_ref().filter(|a| *a != stored) {
            return Err(conflict(config, &identity, name, asked, stored));
        }
    }
    Ok(identity)
}

fn conflict(config: &KmsConfig, id: &Identity, name: &str, asked: &str, stored: &str) -> KmsError {
    KmsError::validation(format!(
        "{name}={asked} does not match the key store in {}, which has region {} and account {} \
         (fixed when it was created): unset {name} or set it to {stored}",
        config.keystore.display(),
        id.region,
        id.account_id
    ))
}
