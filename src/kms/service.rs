//! The service face: [`Kms`] for [`KmsCore`], one AWS operation per method,
//! each handed to its operation in `ops.rs` (cryptographic operations) or
//! `admin.rs` (key management).

use super::core::KmsCore;
use super::error::KmsError;
use super::types::*;
use super::Kms;

impl Kms for KmsCore {
    fn create_key(&self, req: &CreateKeyRequest) -> Result<CreateKeyResponse, KmsError> {
        self.op_create_key(req)
    }
    fn describe_key(&self, req: &DescribeKeyRequest) -> Result<DescribeKeyResponse, KmsError> {
        self.op_describe_key(req)
    }
    fn list_keys(&self, req: &ListKeysRequest) -> Result<ListKeysResponse, KmsError> {
        self.op_list_keys(req)
    }
    fn create_alias(&self, req: &CreateAliasRequest) -> Result<EmptyResponse, KmsError> {
        self.op_create_alias(req)
    }
    fn update_alias(&self, req: &UpdateAliasRequest) -> Result<EmptyResponse, KmsError> {
        self.op_update_alias(req)
    }
    fn delete_alias(&self, req: &DeleteAliasRequest) -> Result<EmptyResponse, KmsError> {
        self.op_delete_alias(req)
    }
    fn list_aliases(&self, req: &ListAliasesRequest) -> Result<ListAliasesResponse, KmsError> {
        self.op_list_aliases(req)
    }
    fn enable_key(&self, req: &EnableKeyRequest) -> Result<EmptyResponse, KmsError> {
        self.op_set_enabled(req, true)
    }
    fn disable_key(&self, req: &DisableKeyRequest) -> Result<EmptyResponse, KmsError> {
        self.op_set_enabled(req, false)
    }
    fn schedule_key_deletion(
        &self,
        req: &ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError> {
        self.op_schedule_key_deletion(req)
    }
    fn cancel_key_deletion(
        &self,
        req: &CancelKeyDeletionRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError> {
        self.op_cancel_key_deletion(req)
    }
    fn enable_key_rotation(&self, req: &EnableKeyRotationRequest) -> Result<EmptyResponse, KmsError> {
        self.op_set_rotation(&req.key_id, Some(req.rotation_period_in_days))
    }
    fn disable_key_rotation(&self, req: &DisableKeyRotationRequest) -> Result<EmptyResponse, KmsError> {
        self.op_set_rotation(&req.key_id, None)
    }
    fn get_key_rotation_status(
        &self,
        req: &GetKeyRotationStatusRequest,
    ) -> Result<GetKeyRotationStatusResponse, KmsError> {
        self.op_get_key_rotation_status(req)
    }
    fn rotate_key_on_demand(
        &self,
        req: &RotateKeyOnDemandRequest,
    ) -> Result<RotateKeyOnDemandResponse, KmsError> {
        self.op_rotate_key_on_demand(req)
    }
    fn encrypt(&self, req: &EncryptRequest) -> Result<EncryptResponse, KmsError> {
        self.op_encrypt(req)
    }
    fn decrypt(&self, req: &DecryptRequest) -> Result<DecryptResponse, KmsError> {
        self.op_decrypt(req)
    }
    fn re_encrypt(&self, req: &ReEncryptRequest) -> Result<ReEncryptResponse, KmsError> {
        self.op_re_encrypt(req)
    }
    fn generate_data_key(&self, req: &GenerateDataKeyRequest) -> Result<GenerateDataKeyResponse, KmsError> {
        self.op_generate_data_key(req, "GenerateDataKey")
    }
    fn generate_data_key_without_plaintext(
        &self,
        req: &GenerateDataKeyWithoutPlaintextRequest,
    ) -> Result<GenerateDataKeyWithoutPlaintextResponse, KmsError> {
        let r = self.op_generate_data_key(req, "GenerateDataKeyWithoutPlaintext")?;
        Ok(GenerateDataKeyWithoutPlaintextResponse {
            ciphertext_blob: r.ciphertext_blob,
            key_id: r.key_id,
        })
    }
    fn generate_random(&self, req: &GenerateRandomRequest) -> Result<GenerateRandomResponse, KmsError> {
        self.op_generate_random(req)
    }
    fn get_public_key(&self, req: &GetPublicKeyRequest) -> Result<GetPublicKeyResponse, KmsError> {
        self.op_get_public_key(req)
    }
}
