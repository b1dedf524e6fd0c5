//! Seeding: keys with fixed ids, and aliases, created from a description
//! (a JSON file for `envelope kms serve --seed`), for tests and CI that need
//! the same key ids on every machine and every run.
//!
//! Idempotent: a key or alias that already exists is left exactly as it is
//! (never overwritten, even if the seed describes it differently; the report
//! says so), so a seed can be applied at every start-up. Everything new is
//! created in one transaction: a seed that fails leaves the store unchanged.
//!
//! ```json
//! {
//!   "Keys": [
//!     {"KeyId": "11111111-2222-4333-8444-555555555555", "Description": "CI key"},
//!     {"KeyId": "66666666-7777-4888-9999-000000000000", "KeySpec": "RSA_2048",
//!      "KeyUsage": "ENCRYPT_DECRYPT"},
//!     {"KeyId": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", "Enabled": false,
//!      "KeyMaterial": "base64 of 32 bytes", "RotationPeriodInDays": 90}
//!   ],
//!   "Aliases": [
//!     {"AliasName": "alias/ci", "TargetKeyId": "11111111-2222-4333-8444-555555555555"}
//!   ]
//! }
//! ```
//!
//! `KeyMaterial` (symmetric keys only) fixes the first backing key, so
//! ciphertexts made on one machine open on another seeded the same way; it is
//! a secret in a plain file, for test keys only. Without it the material is
//! random. A key whose seed has no `KeySpec` is a symmetric key.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::core::{KmsCore, DAY};
use super::error::KmsError;
use super::ids::{check_alias_name, is_key_id};
use super::rootkey::Binding;
use super::specs::{KeySpec, KeyState, KeyUsage};
use super::store::{self, AliasRow, KeyRow};
use crate::crypto::Secret;

/// A seed: keys, then aliases.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Seed {
    /// Keys to create if absent.
    #[serde(default)]
    pub keys: Vec<SeedKey>,
    /// Aliases to create if absent.
    #[serde(default)]
    pub aliases: Vec<SeedAlias>,
}

/// One key of a seed.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SeedKey {
    /// The fixed key id: a lowercase UUID.
    pub key_id: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Default SYMMETRIC_DEFAULT.
    #[serde(default)]
    pub key_spec: Option<KeySpec>,
    /// Required for RSA key specs, as in CreateKey.
    #[serde(default)]
    pub key_usage: Option<KeyUsage>,
    /// Default true; false creates the key Disabled.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Base64 of the 32-byte first backing key (symmetric keys only).
    #[serde(default)]
    pub key_material: Option<String>,
    /// Turns on automatic rotation with this period (90 to 2560 days).
    #[serde(default)]
    pub rotation_period_in_days: Option<i32>,
}

impl std::fmt::Debug for SeedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedKey")
            .field("key_id", &self.key_id)
            .field("key_spec", &self.key_spec)
            .field("key_material", &self.key_material.as_ref().map(|_| "<secret>"))
            .finish_non_exhaustive()
    }
}

/// One alias of a seed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SeedAlias {
    /// `alias/<name>`.
    pub alias_name: String,
    /// A key id (of the seed or already in the store).
    pub target_key_id: String,
}

/// What applying a seed did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Key ids created now.
    pub created_keys: Vec<String>,
    /// Key ids that already existed and were left as they are.
    pub existing_keys: Vec<String>,
    /// Alias names created now.
    pub created_aliases: Vec<String>,
    /// Alias names that already existed and were left as they are.
    pub existing_aliases: Vec<String>,
    /// Things left as they are that differ from the seed, one sentence each.
    pub differences: Vec<String>,
}

impl Seed {
    /// Parses a seed from JSON text.
    pub fn from_json(text: &str) -> Result<Seed, KmsError> {
        serde_json::from_str(text).map_err(|e| KmsError::validation(format!("the seed is not valid: {e}")))
    }
}

/// A seed key checked and with its material ready.
struct Prepared {
    row: KeyRow,
    material: Secret,
}

fn prepare(k: &SeedKey, now: u64) -> Result<Prepared, KmsError> {
    let bad = |m: String| KmsError::validation(format!("seed key {}: {m}", k.key_id));
    if !is_key_id(&k.key_id) {
        return Err(bad(
            "KeyId must be a lowercase UUID such as 1234abcd-12ab-34cd-56ef-1234567890ab".into(),
        ));
    }
    let spec = k.key_spec.unwrap_or(KeySpec::SymmetricDefault);
    if spec != KeySpec::SymmetricDefault && k.key_usage.is_none() {
        return Err(bad("KeyUsage is required for RSA keys, as in CreateKey".into()));
    }
    let (material, public_key) = match (&k.key_material, spec) {
        (Some(b64), KeySpec::SymmetricDefault) => {
            let m = Zeroizing::new(
                STANDARD
                    .decode(b64.trim())
                    .map_err(|_| bad("KeyMaterial is not valid base64".into()))?,
            );
            if m.len() != 32 {
                return Err(bad(format!("KeyMaterial must be 32 bytes, not {}", m.len())));
            }
            (m, None)
        }
        (Some(_), _) => return Err(bad("KeyMaterial is only for symmetric keys".into())),
        (None, _) => KmsCore::generate_material(spec)?,
    };
    if let Some(p) = k.rotation_period_in_days {
        if spec != KeySpec::SymmetricDefault {
            return Err(bad("only symmetric keys rotate".into()));
        }
        if !(90..=2560).contains(&p) {
            return Err(bad("RotationPeriodInDays must be 90 to 2560".into()));
        }
    }
    let description = k.description.clone().unwrap_or_default();
    if description.chars().count() > 8192 {
        return Err(bad("Description is at most 8192 characters".into()));
    }
    Ok(Prepared {
        row: KeyRow {
            key_id: k.key_id.clone(),
            created: now,
            description,
            key_spec: spec,
            key_usage: k.key_usage.unwrap_or(KeyUsage::EncryptDecrypt),
            state: if k.enabled.unwrap_or(true) {
                KeyState::Enabled
            } else {
                KeyState::Disabled
            },
            deletion_date: None,
            pending_window_days: None,
            rotation_period: k.rotation_period_in_days,
            next_rotation: k.rotation_period_in_days.map(|p| now + p as u64 * DAY),
            current_version: 1,
            on_demand_rotations: 0,
            public_key,
        },
        material,
    })
}

impl KmsCore {
    /// Creates the seed's keys and aliases that do not exist yet (see the
    /// module documentation). ValidationException if the seed is malformed
    /// (nothing is created then).
    pub fn apply_seed(&self, seed: &Seed) -> Result<SeedReport, KmsError> {
        for a in &seed.aliases {
            check_alias_name(&a.alias_name)?;
        }
        // Key material (RSA generation is slow) is made outside the write
        // lock, and only for the keys that are missing.
        let missing: Vec<&SeedKey> = self.read(|c| {
            let mut out = Vec::new();
            for k in &seed.keys {
                if !is_key_id(&k.key_id) || store::get_key(c, &k.key_id)?.is_none() {
                    out.push(k);
                }
            }
            Ok(out)
        })?;
        let now = self.now();
        let prepared = missing
            .into_iter()
            .map(|k| prepare(k, now))
            .collect::<Result<Vec<_>, _>>()?;
        self.write(|c| {
            let mut report = SeedReport::default();
            for p in &prepared {
                if store::get_key(c, &p.row.key_id)?.is_some() {
                    // Created by another process since the read above.
                    report.existing_keys.push(p.row.key_id.clone());
                    continue;
                }
                let ekt = self.root.seal_token(Binding::key(&p.row, 1), &p.material)?;
                store::insert_key(c, &p.row)?;
                store::insert_backing(c, &p.row.key_id, 1, now, None, &ekt)?;
                report.created_keys.push(p.row.key_id.clone());
            }
            for k in &seed.keys {
                if report.created_keys.contains(&k.key_id) || report.existing_keys.contains(&k.key_id) {
                    continue;
                }
                let row = self.key_by_id(c, &k.key_id)?;
                let spec = k.key_spec.unwrap_or(KeySpec::SymmetricDefault);
                if row.key_spec != spec {
                    report.differences.push(format!(
                        "key {} exists with key spec {}, not {spec}: left as it is",
                        k.key_id, row.key_spec
                    ));
                }
                report.existing_keys.push(k.key_id.clone());
            }
            for a in &seed.aliases {
                let target = self.resolve(c, &a.target_key_id, "targetKeyId", false)?;
                match store::get_alias(c, &a.alias_name)? {
                    Some(existing) => {
                        if existing.target_key_id != target.key_id {
                            report.differences.push(format!(
                                "alias {} exists and points to {}, not {}: left as it is",
                                a.alias_name, existing.target_key_id, target.key_id
                            ));
                        }
                        report.existing_aliases.push(a.alias_name.clone());
                    }
                    None => {
                        store::put_alias(
                            c,
                            &AliasRow {
                                alias_name: a.alias_name.clone(),
                                target_key_id: target.key_id,
                                created: now,
                                updated: now,
                            },
                        )?;
                        report.created_aliases.push(a.alias_name.clone());
                    }
                }
            }
            Ok(report)
        })
    }
}
