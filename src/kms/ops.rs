//! Cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey*,
//! GenerateRandom and GetPublicKey.
//!
//! Request fields are validated first (ValidationException), then the key is
//! resolved and its state and spec checked inside a read transaction, which
//! also decrypts the needed key material; the data itself is processed after
//! the transaction.

use super::core::{check_len, check_range, KmsCore};
use super::error::{KmsError, KmsErrorKind};
use super::recent::Reader;
use super::specs::*;
use super::store::KeyRow;
use super::types::*;
use super::{blob, rsa};
use crate::crypto::{random_secret, Secret};

/// AWS's bound on Encrypt's plaintext.
pub const MAX_PLAINTEXT: usize = 4096;
/// AWS's bound on a ciphertext blob.
pub const MAX_CIPHERTEXT_BLOB: usize = 6144;
/// AWS's bound on GenerateDataKey and GenerateRandom lengths.
pub const MAX_NUMBER_OF_BYTES: i32 = 1024;

/// Key material loaded for one request.
enum Material {
    /// A symmetric backing key and its version.
    Symmetric(Secret, u32),
    /// An RSA public key (SPKI DER), for encryption.
    RsaPublic(Vec<u8>),
    /// An RSA private key (PKCS#8 DER), for decryption.
    RsaPrivate(Secret),
}

impl KmsCore {
    fn invalid_usage(&self, message: String) -> KmsError {
        KmsError::new(KmsErrorKind::InvalidKeyUsageException, message)
    }

    /// Checks `alg` suits the key: SYMMETRIC_DEFAULT for symmetric keys, an
    /// RSAES_OAEP algorithm for RSA keys.
    fn check_algorithm(&self, row: &KeyRow, alg: EncryptionAlgorithmSpec) -> Result<(), KmsError> {
        let symmetric_alg = alg == EncryptionAlgorithmSpec::SymmetricDefault;
        let symmetric_key = row.key_spec == KeySpec::SymmetricDefault;
        if symmetric_alg == symmetric_key {
            return Ok(());
        }
        let hint = if symmetric_key {
            ""
        } else {
            ": give EncryptionAlgorithm RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256"
        };
        Err(self.invalid_usage(format!(
            "The encryption algorithm {alg} is not valid for {}, whose key spec is {}{hint}.",
            self.arn(&row.key_id),
            row.key_spec
        )))
    }

    /// Checks an encryption key and loads its current material.
    fn encryption_material(
        &self,
        c: &Reader<'_>,
        row: KeyRow,
        alg: EncryptionAlgorithmSpec,
    ) -> Result<(KeyRow, Material), KmsError> {
        self.check_usable(&row)?;
        self.check_algorithm(&row, alg)?;
        let material = match row.key_spec {
            KeySpec::SymmetricDefault => {
                let backing = c.material(self, &row, row.current_version)?.ok_or_else(|| {
                    KmsError::internal(format!("key {} has no current key material", row.key_id))
                })?;
                Material::Symmetric(backing, row.current_version)
            }
            _ => Material::RsaPublic(self.rsa_public_key(c, &row)?),
        };
        Ok((row, material))
    }

    /// The public key of an RSA key, derived from its private key (the
    /// `public_key` column is not authenticated, so it is never read).
    fn rsa_public_key(&self, c: &Reader<'_>, row: &KeyRow) -> Result<Vec<u8>, KmsError> {
        let private = c
            .material(self, row, 1)?
            .ok_or_else(|| KmsError::internal(format!("key {} has no private key", row.key_id)))?;
        rsa::public_key_of(&private)
    }

    /// Encrypts under loaded material, applying the asymmetric rules (no
    /// context, OAEP's plaintext bound).
    fn seal_with(
        &self,
        row: &KeyRow,
        material: &Material,
        alg: EncryptionAlgorithmSpec,
        ec: &EncryptionContext,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KmsError> {
        match material {
            Material::Symmetric(backing, version) => {
                blob::seal(backing, &row.key_id, *version, ec, plaintext)
            }
            Material::RsaPublic(public) => {
                if !ec.is_empty() {
                    return Err(KmsError::validation(
                        "EncryptionContext is not supported with asymmetric KMS keys.",
                    ));
                }
                let max = rsa::max_plaintext(row.key_spec, alg);
                if plaintext.len() > max {
                    return Err(KmsError::validation(format!(
                        "Algorithm {alg} and key spec {} cannot encrypt data larger than {max} bytes.",
                        row.key_spec
                    )));
                }
                rsa::encrypt(public, alg, plaintext)
            }
            Material::RsaPrivate(_) => Err(KmsError::internal("private key loaded for encryption")),
        }
    }

    fn encrypt_under(
        &self,
        key_id: &str,
        field: &str,
        alg: EncryptionAlgorithmSpec,
        ec: &EncryptionContext,
        plaintext: &[u8],
    ) -> Result<(String, Vec<u8>), KmsError> {
        let (row, material) = self.read(|c| {
            let row = c.resolve(self, key_id, field, true)?;
            self.encryption_material(c, row, alg)
        })?;
        let blob = self.seal_with(&row, &material, alg, ec, plaintext)?;
        Ok((self.arn(&row.key_id), blob))
    }

    /// Decrypt's logic, shared with ReEncrypt: returns the key ARN and plaintext.
    fn decrypt_blob(
        &self,
        ciphertext: &[u8],
        ec: &EncryptionContext,
        key_id: Option<&str>,
        field: &str,
        alg: EncryptionAlgorithmSpec,
    ) -> Result<(String, Secret), KmsError> {
        check_len("ciphertextBlob", ciphertext.len(), 1, MAX_CIPHERTEXT_BLOB)?;
        let (row, material) = self.read(|c| {
            let given = key_id.map(|k| c.resolve(self, k, field, true)).transpose()?;
            if alg != EncryptionAlgorithmSpec::SymmetricDefault {
                // RSA ciphertexts carry no key reference: the caller names the key.
                let row = given.ok_or_else(|| {
                    KmsError::validation(format!(
                        "KeyId is required to decrypt with {alg}: asymmetric ciphertexts do not name their key."
                    ))
                })?;
                self.check_usable(&row)?;
                self.check_algorithm(&row, alg)?;
                let private = c.material(self, &row, 1)?
                    .ok_or_else(|| KmsError::internal(format!("key {} has no private key", row.key_id)))?;
                return Ok((row, Material::RsaPrivate(private)));
            }
            let header = blob::parse_header(ciphertext)?;
            if let Some(g) = &given {
                if g.key_id != header.key_id {
                    return Err(KmsError::new(
                        KmsErrorKind::IncorrectKeyException,
                        "The key ID in the request does not identify a CMK that can perform this operation.",
                    ));
                }
            }
            let row = match given {
                Some(g) => g,
                None => c.key_by_id(self, &header.key_id)?,
            };
            self.check_usable(&row)?;
            self.check_algorithm(&row, alg)?;
            let backing = c.material(self, &row, header.version)?
                .ok_or_else(KmsError::invalid_ciphertext)?;
            Ok((row, Material::Symmetric(backing, header.version)))
        })?;
        let plaintext = match &material {
            Material::Symmetric(backing, _) => blob::open(backing, ciphertext, ec)?,
            Material::RsaPrivate(private) => {
                if !ec.is_empty() {
                    return Err(KmsError::validation(
                        "EncryptionContext is not supported with asymmetric KMS keys.",
                    ));
                }
                rsa::decrypt(private, alg, ciphertext)?
            }
            Material::RsaPublic(_) => return Err(KmsError::internal("public key loaded for decryption")),
        };
        Ok((self.arn(&row.key_id), plaintext))
    }

    pub(super) fn op_encrypt(&self, req: &EncryptRequest) -> Result<EncryptResponse, KmsError> {
        check_len("plaintext", req.plaintext.len(), 1, MAX_PLAINTEXT)?;
        let alg = req
            .encryption_algorithm
            .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault);
        let (key_id, ciphertext_blob) =
            self.encrypt_under(&req.key_id, "keyId", alg, &req.encryption_context, &req.plaintext)?;
        Ok(EncryptResponse {
            ciphertext_blob,
            key_id,
            encryption_algorithm: alg,
        })
    }

    pub(super) fn op_decrypt(&self, req: &DecryptRequest) -> Result<DecryptResponse, KmsError> {
        let alg = req
            .encryption_algorithm
            .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault);
        let (key_id, plaintext) = self.decrypt_blob(
            &req.ciphertext_blob,
            &req.encryption_context,
            req.key_id.as_deref(),
            "keyId",
            alg,
        )?;
        Ok(DecryptResponse {
            key_id,
            plaintext,
            encryption_algorithm: alg,
        })
    }

    pub(super) fn op_re_encrypt(&self, req: &ReEncryptRequest) -> Result<ReEncryptResponse, KmsError> {
        let source_alg = req
            .source_encryption_algorithm
            .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault);
        let dest_alg = req
            .destination_encryption_algorithm
            .unwrap_or(EncryptionAlgorithmSpec::SymmetricDefault);
        let (source_key_id, plaintext) = self.decrypt_blob(
            &req.ciphertext_blob,
            &req.source_encryption_context,
            req.source_key_id.as_deref(),
            "sourceKeyId",
            source_alg,
        )?;
        let (key_id, ciphertext_blob) = self.encrypt_under(
            &req.destination_key_id,
            "destinationKeyId",
            dest_alg,
            &req.destination_encryption_context,
            &plaintext,
        )?;
        Ok(ReEncryptResponse {
            ciphertext_blob,
            source_key_id,
            key_id,
            source_encryption_algorithm: source_alg,
            destination_encryption_algorithm: dest_alg,
        })
    }

    /// GenerateDataKey; GenerateDataKeyWithoutPlaintext drops the plaintext.
    pub(super) fn op_generate_data_key(
        &self,
        req: &GenerateDataKeyRequest,
        op: &str,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        let len = match (req.number_of_bytes, req.key_spec) {
            (Some(_), Some(_)) => {
                return Err(KmsError::validation(
                    "Please specify either number of bytes or key spec, not both.",
                ))
            }
            (None, None) => {
                return Err(KmsError::validation(
                    "Please specify either number of bytes or key spec.",
                ))
            }
            (Some(n), None) => {
                check_range("numberOfBytes", n.into(), 1, MAX_NUMBER_OF_BYTES.into())?;
                n as usize
            }
            (None, Some(DataKeySpec::Aes128)) => 16,
            (None, Some(DataKeySpec::Aes256)) => 32,
        };
        let alg = EncryptionAlgorithmSpec::SymmetricDefault;
        let (row, material) = self.read(|c| {
            let row = c.resolve(self, &req.key_id, "keyId", true)?;
            self.check_usable(&row)?;
            if row.key_spec != KeySpec::SymmetricDefault {
                return Err(self.invalid_usage(format!(
                    "{} key spec is {} which is not valid for {op}.",
                    self.arn(&row.key_id),
                    row.key_spec
                )));
            }
            self.encryption_material(c, row, alg)
        })?;
        let plaintext = random_secret(len)?;
        let ciphertext_blob = self.seal_with(&row, &material, alg, &req.encryption_context, &plaintext)?;
        Ok(GenerateDataKeyResponse {
            ciphertext_blob,
            plaintext,
            key_id: self.arn(&row.key_id),
        })
    }

    pub(super) fn op_generate_random(
        &self,
        req: &GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, KmsError> {
        let n = req
            .number_of_bytes
            .ok_or_else(|| KmsError::validation("NumberOfBytes is required."))?;
        check_range("numberOfBytes", n.into(), 1, MAX_NUMBER_OF_BYTES.into())?;
        Ok(GenerateRandomResponse {
            plaintext: random_secret(n as usize)?,
        })
    }

    pub(super) fn op_get_public_key(
        &self,
        req: &GetPublicKeyRequest,
    ) -> Result<GetPublicKeyResponse, KmsError> {
        let (row, public_key) = self.read(|c| {
            let row = c.resolve(self, &req.key_id, "keyId", true)?;
            self.check_usable(&row)?;
            if row.key_spec == KeySpec::SymmetricDefault {
                return Err(KmsError::new(
                    KmsErrorKind::UnsupportedOperationException,
                    format!(
                        "{} key spec is {} which is not valid for GetPublicKey: it has no public key.",
                        self.arn(&row.key_id),
                        row.key_spec
                    ),
                ));
            }
            let public_key = self.rsa_public_key(c, &row)?;
            Ok((row, public_key))
        })?;
        Ok(GetPublicKeyResponse {
            key_id: self.arn(&row.key_id),
            public_key,
            key_spec: row.key_spec,
            customer_master_key_spec: row.key_spec,
            key_usage: row.key_usage,
            encryption_algorithms: row.key_spec.encryption_algorithms(),
        })
    }
}
