//! Key management operations: keys, aliases, states, deletion and rotation.

use super::core::{check_len, check_range, KmsCore, DAY};
use super::error::{KmsError, KmsErrorKind};
use super::ids::{check_alias_name, is_key_id};
use super::specs::*;
use super::store::{self, AliasRow, KeyRow};
use super::types::*;

/// AWS's quota of on-demand rotations per key.
const MAX_ON_DEMAND_ROTATIONS: u32 = 25;

impl KmsCore {
    /// Returns the key ARN behind `alias` (`alias/...`), first creating a
    /// symmetric key and the alias if the alias does not exist. The flag says
    /// whether a key was created. Atomic across processes. An existing alias
    /// is returned as is, even if its key is disabled or pending deletion
    /// (operations on it then fail with the key's state error).
    pub fn ensure_alias_key(&self, alias: &str) -> Result<(String, bool), KmsError> {
        check_alias_name(alias)?;
        let (material, _) = Self::generate_material(KeySpec::SymmetricDefault)?;
        self.write(|c| {
            if let Some(a) = store::get_alias(c, alias)? {
                return Ok((self.identity.key_arn(&a.target_key_id), false));
            }
            let description = format!("Default key of envelope, created on first use of {alias}");
            let row = self.new_key(c, KeySpec::SymmetricDefault, description, &material, None)?;
            let now = self.now();
            store::put_alias(
                c,
                &AliasRow {
                    alias_name: alias.to_owned(),
                    target_key_id: row.key_id.clone(),
                    created: now,
                    updated: now,
                },
            )?;
            Ok((self.identity.key_arn(&row.key_id), true))
        })
    }

    pub(super) fn op_create_key(&self, req: &CreateKeyRequest) -> Result<CreateKeyResponse, KmsError> {
        let description = req.description.clone().unwrap_or_default();
        check_len("description", description.chars().count(), 0, 8192)?;
        let spec = match (req.key_spec, req.customer_master_key_spec) {
            (Some(_), Some(_)) => {
                return Err(KmsError::validation(
                    "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. \
                     CustomerMasterKeySpec parameter is deprecated. Use KeySpec only.",
                ))
            }
            (a, b) => a.or(b).unwrap_or(KeySpec::SymmetricDefault),
        };
        if spec != KeySpec::SymmetricDefault && req.key_usage.is_none() {
            return Err(KmsError::validation(
                "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.",
            ));
        }
        if req.multi_region == Some(true) {
            return Err(KmsError::new(
                KmsErrorKind::UnsupportedOperationException,
                "Multi-Region keys are not supported by the KMS core.",
            ));
        }
        let (material, public_key) = Self::generate_material(spec)?;
        let row = self.write(|c| self.new_key(c, spec, description, &material, public_key))?;
        Ok(CreateKeyResponse {
            key_metadata: self.metadata(&row),
        })
    }

    pub(super) fn op_describe_key(&self, req: &DescribeKeyRequest) -> Result<DescribeKeyResponse, KmsError> {
        let row = self.read(|c| self.resolve(c, &req.key_id, "keyId", true))?;
        Ok(CreateKeyResponse {
            key_metadata: self.metadata(&row),
        })
    }

    pub(super) fn op_list_keys(&self, req: &ListKeysRequest) -> Result<ListKeysResponse, KmsError> {
        let limit = req.limit.unwrap_or(100);
        check_range("limit", limit.into(), 1, 1000)?;
        if let Some(m) = &req.marker {
            if !is_key_id(m) {
                return Err(invalid_marker(m));
            }
        }
        let mut ids = self.read(|c| store::list_keys(c, req.marker.as_deref(), limit as u32 + 1))?;
        let truncated = ids.len() > limit as usize;
        ids.truncate(limit as usize);
        Ok(ListKeysResponse {
            next_marker: truncated.then(|| ids.last().cloned()).flatten(),
            truncated,
            keys: ids
                .into_iter()
                .map(|id| KeyListEntry {
                    key_arn: self.arn(&id),
                    key_id: id,
                })
                .collect(),
        })
    }

    /// Checks an alias target: it exists and is not pending deletion.
    fn alias_target(&self, c: &rusqlite::Connection, target: &str) -> Result<KeyRow, KmsError> {
        let row = self.resolve(c, target, "targetKeyId", false)?;
        if row.state == KeyState::PendingDeletion {
            return Err(self.pending_deletion(&row));
        }
        Ok(row)
    }

    pub(super) fn op_create_alias(&self, req: &CreateAliasRequest) -> Result<EmptyResponse, KmsError> {
        check_alias_name(&req.alias_name)?;
        self.write(|c| {
            let target = self.alias_target(c, &req.target_key_id)?;
            if store::get_alias(c, &req.alias_name)?.is_some() {
                return Err(KmsError::new(
                    KmsErrorKind::AlreadyExistsException,
                    format!(
                        "An alias with the name {} already exists",
                        self.identity.alias_arn(&req.alias_name)
                    ),
                ));
            }
            let now = self.now();
            store::put_alias(
                c,
                &AliasRow {
                    alias_name: req.alias_name.clone(),
                    target_key_id: target.key_id,
                    created: now,
                    updated: now,
                },
            )
        })?;
        Ok(EmptyResponse {})
    }

    pub(super) fn op_update_alias(&self, req: &UpdateAliasRequest) -> Result<EmptyResponse, KmsError> {
        check_alias_name(&req.alias_name)?;
        self.write(|c| {
            let mut alias =
                store::get_alias(c, &req.alias_name)?.ok_or_else(|| self.alias_not_found(&req.alias_name))?;
            let target = self.alias_target(c, &req.target_key_id)?;
            let current = self.key_by_id(c, &alias.target_key_id)?;
            let symmetric = |s: KeySpec| s == KeySpec::SymmetricDefault;
            if symmetric(current.key_spec) != symmetric(target.key_spec)
                || current.key_usage != target.key_usage
            {
                return Err(KmsError::validation(format!(
                    "{} cannot point to {}: the current and new key must be the same type (symmetric or \
                     asymmetric) and have the same key usage",
                    req.alias_name,
                    self.arn(&target.key_id)
                )));
            }
            alias.target_key_id = target.key_id;
            alias.updated = self.now();
            store::put_alias(c, &alias)
        })?;
        Ok(EmptyResponse {})
    }

    pub(super) fn op_delete_alias(&self, req: &DeleteAliasRequest) -> Result<EmptyResponse, KmsError> {
        check_alias_name(&req.alias_name)?;
        self.write(|c| {
            store::get_alias(c, &req.alias_name)?.ok_or_else(|| self.alias_not_found(&req.alias_name))?;
            store::delete_alias(c, &req.alias_name)
        })?;
        Ok(EmptyResponse {})
    }

    pub(super) fn op_list_aliases(&self, req: &ListAliasesRequest) -> Result<ListAliasesResponse, KmsError> {
        let limit = req.limit.unwrap_or(50);
        check_range("limit", limit.into(), 1, 100)?;
        if let Some(m) = &req.marker {
            check_alias_name(m).map_err(|_| invalid_marker(m))?;
        }
        let mut rows = self.read(|c| {
            let key = match &req.key_id {
                Some(k) => Some(self.resolve(c, k, "keyId", false)?.key_id),
                None => None,
            };
            store::list_aliases(c, key.as_deref(), req.marker.as_deref(), limit as u32 + 1)
        })?;
        let truncated = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok(ListAliasesResponse {
            next_marker: truncated
                .then(|| rows.last().map(|a| a.alias_name.clone()))
                .flatten(),
            truncated,
            aliases: rows
                .into_iter()
                .map(|a| AliasListEntry {
                    alias_arn: self.identity.alias_arn(&a.alias_name),
                    alias_name: a.alias_name,
                    target_key_id: a.target_key_id,
                    creation_date: a.created,
                    last_updated_date: a.updated,
                })
                .collect(),
        })
    }

    /// Loads a key for a management operation (key id or key ARN only),
    /// applies `f` to its row and saves it, in one write transaction.
    fn update<T>(
        &self,
        key_id: &str,
        f: impl FnOnce(&mut KeyRow) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        self.write(|c| {
            let mut row = self.resolve(c, key_id, "keyId", false)?;
            let out = f(&mut row)?;
            store::update_key(c, &row)?;
            Ok(out)
        })
    }

    pub(super) fn op_set_enabled(
        &self,
        req: &KeyIdRequest,
        enabled: bool,
    ) -> Result<EmptyResponse, KmsError> {
        self.update(&req.key_id, |row| {
            if row.state == KeyState::PendingDeletion {
                return Err(self.pending_deletion(row));
            }
            row.state = if enabled {
                KeyState::Enabled
            } else {
                KeyState::Disabled
            };
            Ok(EmptyResponse {})
        })
    }

    pub(super) fn op_schedule_key_deletion(
        &self,
        req: &ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError> {
        let days = req.pending_window_in_days.unwrap_or(30);
        check_range("pendingWindowInDays", days.into(), 7, 30)?;
        let deletion_date = self.now() + days as u64 * DAY;
        self.update(&req.key_id, |row| {
            if row.state == KeyState::PendingDeletion {
                return Err(self.pending_deletion(row));
            }
            row.state = KeyState::PendingDeletion;
            row.deletion_date = Some(deletion_date);
            row.pending_window_days = Some(days);
            Ok(ScheduleKeyDeletionResponse {
                key_id: self.arn(&row.key_id),
                deletion_date,
                key_state: KeyState::PendingDeletion,
                pending_window_in_days: days,
            })
        })
    }

    pub(super) fn op_cancel_key_deletion(
        &self,
        req: &CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError> {
        self.update(&req.key_id, |row| {
            if row.state != KeyState::PendingDeletion {
                return Err(KmsError::new(
                    KmsErrorKind::KMSInvalidStateException,
                    format!("{} is not pending deletion.", self.arn(&row.key_id)),
                ));
            }
            row.state = KeyState::Disabled;
            row.deletion_date = None;
            row.pending_window_days = None;
            Ok(KeyIdResponse {
                key_id: self.arn(&row.key_id),
            })
        })
    }

    /// The checks of the rotation operations: symmetric keys only, and (except
    /// for the status query) Enabled keys only.
    fn check_rotatable(&self, row: &KeyRow, needs_enabled: bool) -> Result<(), KmsError> {
        if row.key_spec != KeySpec::SymmetricDefault {
            return Err(KmsError::new(
                KmsErrorKind::UnsupportedOperationException,
                format!(
                    "{} has key spec {}: only symmetric encryption keys can be rotated",
                    self.arn(&row.key_id),
                    row.key_spec
                ),
            ));
        }
        if needs_enabled {
            self.check_usable(row)?;
        }
        Ok(())
    }

    /// EnableKeyRotation (`Some(period)`) and DisableKeyRotation (`None`).
    pub(super) fn op_set_rotation(
        &self,
        key_id: &str,
        enable: Option<Option<i32>>,
    ) -> Result<EmptyResponse, KmsError> {
        let period = enable.map(|p| p.unwrap_or(365));
        if let Some(p) = period {
            check_range("rotationPeriodInDays", p.into(), 90, 2560)?;
        }
        let now = self.now();
        self.update(key_id, |row| {
            self.check_rotatable(row, true)?;
            row.rotation_period = period;
            row.next_rotation = period.map(|p| now + p as u64 * DAY);
            Ok(EmptyResponse {})
        })
    }

    pub(super) fn op_get_key_rotation_status(
        &self,
        req: &GetKeyRotationStatusRequest,
    ) -> Result<GetKeyRotationStatusResponse, KmsError> {
        let row = self.read(|c| self.resolve(c, &req.key_id, "keyId", false))?;
        self.check_rotatable(&row, false)?;
        let on = row.rotation_period.is_some() && row.state != KeyState::PendingDeletion;
        Ok(GetKeyRotationStatusResponse {
            key_rotation_enabled: on,
            key_id: self.arn(&row.key_id),
            rotation_period_in_days: row.rotation_period.filter(|_| on),
            next_rotation_date: row.next_rotation.filter(|_| on),
        })
    }

    pub(super) fn op_rotate_key_on_demand(
        &self,
        req: &RotateKeyOnDemandRequest,
    ) -> Result<RotateKeyOnDemandResponse, KmsError> {
        self.write(|c| {
            let mut row = self.resolve(c, &req.key_id, "keyId", false)?;
            self.check_rotatable(&row, true)?;
            if row.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS {
                return Err(KmsError::new(
                    KmsErrorKind::LimitExceededException,
                    format!(
                        "The on-demand rotations limit has been reached for the given keyId. \
                         No more on-demand rotations can be performed for this key: {}",
                        self.arn(&row.key_id)
                    ),
                ));
            }
            self.rotate(c, &mut row, "ON_DEMAND")?;
            row.on_demand_rotations += 1;
            store::update_key(c, &row)?;
            Ok(KeyIdResponse {
                key_id: self.arn(&row.key_id),
            })
        })
    }
}

fn invalid_marker(m: &str) -> KmsError {
    KmsError::new(
        KmsErrorKind::InvalidMarkerException,
        format!("Invalid marker '{m}': pass the NextMarker of the previous response"),
    )
}
