//! The AWS JSON 1.1 protocol of AWS KMS: operation names, request checks and
//! error bodies.
//!
//! A request is `POST /` with `Content-Type: application/x-amz-json-1.1`,
//! `X-Amz-Target: TrentService.<Operation>` and a JSON object whose members
//! are named as in the AWS API (PascalCase), blobs in padded base64. This
//! module turns the target and the body into a typed [`Request`] of the KMS
//! core, or an [`ApiError`] shaped as AWS sends it.
//!
//! Checks, in AWS's order: the body must be a JSON object
//! (`SerializationException` otherwise), each known member must have the
//! model's JSON type (`SerializationException`: a string where a number
//! belongs, a blob that is not base64), required members must be present
//! (`ValidationException`, `Value null at 'keyId' ... Member must not be
//! null`, several collected into one message as AWS does), and enum values
//! must be in the AWS value set (`ValidationException` with the set).
//!
//! Where the AWS API allows something the KMS core does not do, the request
//! is refused with `UnsupportedOperationException` naming it, never silently
//! half-done: an operation of the AWS API that the core lacks, a key spec,
//! usage or algorithm it does not implement (ECC, HMAC, SM2, ML-DSA...),
//! `DryRun: true`, tags, a `Recipient` (Nitro attestation), a non-`AWS_KMS`
//! origin or a custom key store. Key policies (`Policy`,
//! `BypassPolicyLockoutSafetyCheck`) and `GrantTokens` are accepted and have
//! no effect: the core has no policies or grants, and whoever reaches the
//! server may use every key (see the server's access control). Members that
//! are not in the AWS model are ignored, as AWS ignores them.
//!
//! Error bodies are `{"__type": "<Code>", "message": "<text>"}`. Errors of the
//! protocol layer carry the `com.amazon.coral.service#` prefix, as AWS's
//! JSON services send them (recorded from DynamoDB, the same framework); KMS's
//! own errors carry the bare name. botocore and the Rust SDK both strip any
//! `namespace#` prefix and `:suffix` and read `message` or `Message`.
//! Client faults are HTTP 400, `KMSInternalException` is 500.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::kms::{self, KmsError, KmsErrorKind};

/// The `X-Amz-Target` prefix of AWS KMS.
pub const TARGET_PREFIX: &str = "TrentService.";
/// The content type of requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
const CORAL: &str = "com.amazon.coral.service#";

/// An error response: HTTP status, AWS error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// The `__type` value, possibly with a namespace prefix.
    pub code: String,
    /// Human-readable text; never key material, plaintext or blobs.
    pub message: String,
}

impl ApiError {
    /// An error of the protocol layer (prefixed code, HTTP 400).
    pub fn protocol(code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            code: format!("{CORAL}{code}"),
            message: message.into(),
        }
    }

    /// A KMS-level error with a bare code.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::protocol("SerializationException", message)
    }

    fn unsupported(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "UnsupportedOperationException", message)
    }

    fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "ValidationException", message)
    }

    /// The code without a namespace prefix, as clients report it.
    pub fn short_code(&self) -> &str {
        self.code.rsplit('#').next().unwrap_or(&self.code)
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"__type": self.code, "message": self.message}))
            .unwrap_or_else(|_| br#"{"__type":"KMSInternalException","message":""}"#.to_vec())
    }
}

impl From<KmsError> for ApiError {
    fn from(e: KmsError) -> ApiError {
        let status = match e.kind {
            KmsErrorKind::KMSInternalException => 500,
            _ => 400,
        };
        ApiError::new(status, e.kind.name(), e.message)
    }
}

/// The JSON type of a request member, as the AWS model declares it.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Blob,
    Int,
    Bool,
    /// A map of strings (EncryptionContext).
    StrMap,
    /// A list of strings (GrantTokens, DryRunModifiers, ResourceOwners).
    StrList,
    /// A list of objects (Tags).
    ObjList,
    /// A structure (Recipient).
    Object,
    /// A string from an enum: the AWS value set and the values the core implements.
    Enum(&'static [&'static str], &'static [&'static str]),
}

/// What the server does with a member beyond checking its type.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Passed to the core.
    Core,
    /// Accepted and without effect (policies, grant tokens).
    Ignored,
    /// Refused with UnsupportedOperationException when it asks for something
    /// (true, non-empty, present; for `Origin`, anything but AWS_KMS).
    Refused,
}

struct Member {
    name: &'static str,
    kind: Kind,
    required: bool,
    usage: Use,
}

const fn m(name: &'static str, kind: Kind, required: bool, usage: Use) -> Member {
    Member {
        name,
        kind,
        required,
        usage,
    }
}

// The AWS value sets (from the AWS KMS model) and the subsets the core implements.
const KEY_SPECS: &[&str] = &[
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "SYMMETRIC_DEFAULT",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "SM2",
    "ML_DSA_44",
    "ML_DSA_65",
    "ML_DSA_87",
    "ECC_NIST_EDWARDS25519",
    "ML_KEM_512",
    "ML_KEM_768",
    "ML_KEM_1024",
];
const CMK_SPECS: &[&str] = &[
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "SYMMETRIC_DEFAULT",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "SM2",
];
const CORE_KEY_SPECS: &[&str] = &["SYMMETRIC_DEFAULT", "RSA_2048", "RSA_3072", "RSA_4096"];
const KEY_USAGES: &[&str] = &[
    "SIGN_VERIFY",
    "ENCRYPT_DECRYPT",
    "GENERATE_VERIFY_MAC",
    "KEY_AGREEMENT",
    "ENCAPSULATE_DECAPSULATE",
];
const CORE_KEY_USAGES: &[&str] = &["ENCRYPT_DECRYPT"];
const ENCRYPTION_ALGORITHMS: &[&str] = &[
    "SYMMETRIC_DEFAULT",
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "SM2PKE",
];
const CORE_ENCRYPTION_ALGORITHMS: &[&str] = &["SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"];
const DATA_KEY_SPECS: &[&str] = &["AES_256", "AES_128"];
const ORIGINS: &[&str] = &["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"];

use Kind::*;
use Use::*;

const KEY_ID: Member = m("KeyId", Str, true, Core);
const GRANT_TOKENS: Member = m("GrantTokens", StrList, false, Ignored);
const DRY_RUN: Member = m("DryRun", Bool, false, Refused);
const DRY_RUN_MODIFIERS: Member = m("DryRunModifiers", StrList, false, Ignored);
const RECIPIENT: Member = m("Recipient", Object, false, Refused);
const CONTEXT: Member = m("EncryptionContext", StrMap, false, Core);
const ALG: Member = m(
    "EncryptionAlgorithm",
    Enum(ENCRYPTION_ALGORITHMS, CORE_ENCRYPTION_ALGORITHMS),
    false,
    Core,
);
const DATA_KEY: &[Member] = &[
    KEY_ID,
    CONTEXT,
    m("NumberOfBytes", Int, false, Core),
    m("KeySpec", Enum(DATA_KEY_SPECS, DATA_KEY_SPECS), false, Core),
    GRANT_TOKENS,
    RECIPIENT,
    DRY_RUN,
];
const KEY_ONLY: &[Member] = &[KEY_ID];
const ALIAS: &[Member] = &[m("AliasName", Str, true, Core), m("TargetKeyId", Str, true, Core)];

macro_rules! operations {
    ($($op:ident => $method:ident($req:ty) $members:expr;)+) => {
        /// An operation the KMS core implements.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Op {
            $(#[allow(missing_docs)] $op,)+
        }

        impl Op {
            /// Every operation.
            pub const ALL: &'static [Op] = &[$(Op::$op),+];

            /// The AWS operation name.
            pub fn name(self) -> &'static str {
                match self {
                    $(Op::$op => stringify!($op),)+
                }
            }

            fn members(self) -> &'static [Member] {
                match self {
                    $(Op::$op => {
                        const MEMBERS: &[Member] = $members;
                        MEMBERS
                    })+
                }
            }
        }

        /// A decoded request, ready for the KMS core.
        #[derive(Debug)]
        pub enum Request {
            $(#[allow(missing_docs)] $op($req),)+
        }

        impl Request {
            fn from_value(op: Op, v: Value) -> Result<Request, ApiError> {
                Ok(match op {
                    $(Op::$op => Request::$op(typed(v)?),)+
                })
            }

            /// Runs the request on `k` and serializes the response body.
            pub fn call(&self, k: &dyn kms::Kms) -> Result<Vec<u8>, ApiError> {
                match self {
                    $(Request::$op(r) => to_body(&k.$method(r)?),)+
                }
            }
        }
    };
}

operations! {
    CreateKey => create_key(kms::CreateKeyRequest) &[
        m("Policy", Str, false, Ignored),
        m("Description", Str, false, Core),
        m("KeyUsage", Enum(KEY_USAGES, CORE_KEY_USAGES), false, Core),
        m("CustomerMasterKeySpec", Enum(CMK_SPECS, CORE_KEY_SPECS), false, Core),
        m("KeySpec", Enum(KEY_SPECS, CORE_KEY_SPECS), false, Core),
        m("Origin", Enum(ORIGINS, ORIGINS), false, Refused),
        m("CustomKeyStoreId", Str, false, Refused),
        m("BypassPolicyLockoutSafetyCheck", Bool, false, Ignored),
        m("Tags", ObjList, false, Refused),
        m("MultiRegion", Bool, false, Core),
        m("XksKeyId", Str, false, Refused),
    ];
    DescribeKey => describe_key(kms::DescribeKeyRequest) &[KEY_ID, GRANT_TOKENS];
    ListKeys => list_keys(kms::ListKeysRequest) &[
        m("Limit", Int, false, Core),
        m("Marker", Str, false, Core),
        m("ResourceOwners", StrList, false, Ignored),
    ];
    CreateAlias => create_alias(kms::CreateAliasRequest) ALIAS;
    UpdateAlias => update_alias(kms::UpdateAliasRequest) ALIAS;
    DeleteAlias => delete_alias(kms::DeleteAliasRequest) &[m("AliasName", Str, true, Core)];
    ListAliases => list_aliases(kms::ListAliasesRequest) &[
        m("KeyId", Str, false, Core),
        m("Limit", Int, false, Core),
        m("Marker", Str, false, Core),
    ];
    EnableKey => enable_key(kms::EnableKeyRequest) KEY_ONLY;
    DisableKey => disable_key(kms::DisableKeyRequest) KEY_ONLY;
    ScheduleKeyDeletion => schedule_key_deletion(kms::ScheduleKeyDeletionRequest) &[
        KEY_ID,
        m("PendingWindowInDays", Int, false, Core),
    ];
    CancelKeyDeletion => cancel_key_deletion(kms::CancelKeyDeletionRequest) KEY_ONLY;
    EnableKeyRotation => enable_key_rotation(kms::EnableKeyRotationRequest) &[
        KEY_ID,
        m("RotationPeriodInDays", Int, false, Core),
    ];
    DisableKeyRotation => disable_key_rotation(kms::DisableKeyRotationRequest) KEY_ONLY;
    GetKeyRotationStatus => get_key_rotation_status(kms::GetKeyRotationStatusRequest) KEY_ONLY;
    RotateKeyOnDemand => rotate_key_on_demand(kms::RotateKeyOnDemandRequest) KEY_ONLY;
    Encrypt => encrypt(kms::EncryptRequest) &[
        KEY_ID,
        m("Plaintext", Blob, true, Core),
        CONTEXT,
        GRANT_TOKENS,
        ALG,
        DRY_RUN,
    ];
    Decrypt => decrypt(kms::DecryptRequest) &[
        m("CiphertextBlob", Blob, true, Core),
        CONTEXT,
        GRANT_TOKENS,
        m("KeyId", Str, false, Core),
        ALG,
        RECIPIENT,
        DRY_RUN,
        DRY_RUN_MODIFIERS,
    ];
    ReEncrypt => re_encrypt(kms::ReEncryptRequest) &[
        m("CiphertextBlob", Blob, true, Core),
        m("SourceEncryptionContext", StrMap, false, Core),
        m("SourceKeyId", Str, false, Core),
        m("DestinationKeyId", Str, true, Core),
        m("DestinationEncryptionContext", StrMap, false, Core),
        m("SourceEncryptionAlgorithm", Enum(ENCRYPTION_ALGORITHMS, CORE_ENCRYPTION_ALGORITHMS), false, Core),
        m("DestinationEncryptionAlgorithm", Enum(ENCRYPTION_ALGORITHMS, CORE_ENCRYPTION_ALGORITHMS), false, Core),
        GRANT_TOKENS,
        DRY_RUN,
        DRY_RUN_MODIFIERS,
    ];
    GenerateDataKey => generate_data_key(kms::GenerateDataKeyRequest) DATA_KEY;
    GenerateDataKeyWithoutPlaintext =>
        generate_data_key_without_plaintext(kms::GenerateDataKeyWithoutPlaintextRequest) DATA_KEY;
    GenerateRandom => generate_random(kms::GenerateRandomRequest) &[
        m("NumberOfBytes", Int, false, Core),
        m("CustomKeyStoreId", Str, false, Refused),
        RECIPIENT,
    ];
    GetPublicKey => get_public_key(kms::GetPublicKeyRequest) &[KEY_ID, GRANT_TOKENS];
}

/// Operations of the AWS KMS API that the KMS core does not implement: they
/// get UnsupportedOperationException rather than UnknownOperationException,
/// which AWS keeps for names outside its API.
const AWS_ONLY_OPERATIONS: &[&str] = &[
    "ConnectCustomKeyStore",
    "CreateCustomKeyStore",
    "CreateGrant",
    "Decapsulate",
    "DeleteCustomKeyStore",
    "DeleteImportedKeyMaterial",
    "DeriveSharedSecret",
    "DescribeCustomKeyStores",
    "DisconnectCustomKeyStore",
    "Encapsulate",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "GetKeyLastUsage",
    "GetKeyPolicy",
    "GetParametersForImport",
    "ImportKeyMaterial",
    "ListGrants",
    "ListKeyPolicies",
    "ListKeyRotations",
    "ListResourceTags",
    "ListRetirableGrants",
    "PutKeyPolicy",
    "ReplicateKey",
    "RetireGrant",
    "RevokeGrant",
    "Sign",
    "TagResource",
    "UntagResource",
    "UpdateCustomKeyStore",
    "UpdateKeyDescription",
    "UpdatePrimaryRegion",
    "Verify",
    "VerifyMac",
];

/// Finds the operation an `X-Amz-Target` header names.
pub fn operation(target: Option<&[u8]>) -> Result<Op, ApiError> {
    let unknown = || ApiError::protocol("UnknownOperationException", "");
    let target = target
        .and_then(|t| std::str::from_utf8(t).ok())
        .ok_or_else(unknown)?;
    let name = target.strip_prefix(TARGET_PREFIX).ok_or_else(unknown)?;
    if let Some(op) = Op::ALL.iter().find(|o| o.name() == name) {
        return Ok(*op);
    }
    if AWS_ONLY_OPERATIONS.contains(&name) {
        return Err(ApiError::unsupported(format!(
            "{name} is not supported by the KMS core; it implements {}",
            Op::ALL.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")
        )));
    }
    Err(unknown())
}

/// Checks the request's `Content-Type` (parameters such as `charset` allowed).
/// AWS answers any other type as an operation it cannot find.
pub fn check_content_type(value: Option<&[u8]>) -> Result<(), ApiError> {
    let ok = value
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .is_some_and(|t| t.eq_ignore_ascii_case(CONTENT_TYPE));
    if ok {
        Ok(())
    } else {
        Err(ApiError::protocol(
            "UnknownOperationException",
            format!("requests must have Content-Type: {CONTENT_TYPE}"),
        ))
    }
}

/// The lowerCamel form AWS uses for member names in validation messages.
fn lower_camel(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_ascii_lowercase().to_string() + c.as_str())
        .unwrap_or_default()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Checks one present member's JSON type; returns a refusal if it asks for
/// something the core does not do.
fn check_member(member: &Member, v: &Value, errors: &mut Vec<String>) -> Result<(), ApiError> {
    let name = member.name;
    let wrong =
        |expected: &str| ApiError::serialization(format!("{name} must be {expected}, not {}", type_name(v)));
    match member.kind {
        Str => {
            v.as_str().ok_or_else(|| wrong("a string"))?;
        }
        Blob => {
            let s = v.as_str().ok_or_else(|| wrong("a base64 string"))?;
            if STANDARD.decode(s).is_err() {
                return Err(ApiError::serialization(format!(
                    "{name} is not valid base64 (standard alphabet, with padding)"
                )));
            }
        }
        Int => {
            v.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| wrong("a 32-bit integer"))?;
        }
        Bool => {
            v.as_bool().ok_or_else(|| wrong("a boolean"))?;
        }
        StrMap => {
            let map = v.as_object().ok_or_else(|| wrong("an object of strings"))?;
            if map.values().any(|x| !x.is_string()) {
                return Err(ApiError::serialization(format!(
                    "the values of {name} must be strings"
                )));
            }
        }
        StrList => {
            let list = v.as_array().ok_or_else(|| wrong("a list of strings"))?;
            if list.iter().any(|x| !x.is_string()) {
                return Err(ApiError::serialization(format!(
                    "the items of {name} must be strings"
                )));
            }
        }
        ObjList => {
            let list = v.as_array().ok_or_else(|| wrong("a list of objects"))?;
            if list.iter().any(|x| !x.is_object()) {
                return Err(ApiError::serialization(format!(
                    "the items of {name} must be objects"
                )));
            }
        }
        Object => {
            v.as_object().ok_or_else(|| wrong("an object"))?;
        }
        Enum(all, core) => {
            let s = v.as_str().ok_or_else(|| wrong("a string"))?;
            if !all.contains(&s) {
                errors.push(format!(
                    "Value '{s}' at '{}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    lower_camel(name),
                    all.join(", ")
                ));
            } else if !core.contains(&s) {
                return Err(ApiError::unsupported(format!(
                    "{name} {s} is not supported by the KMS core; it supports {}",
                    core.join(", ")
                )));
            }
        }
    }
    if member.usage == Refused {
        let asks = match v {
            Value::Bool(b) => *b,
            Value::Array(a) => !a.is_empty(),
            Value::String(s) if name == "Origin" => s != "AWS_KMS",
            _ => true,
        };
        if asks {
            return Err(ApiError::unsupported(format!(
                "{name} is not supported by the KMS core"
            )));
        }
    }
    Ok(())
}

/// A decoded request and the key it names, as given (for the request log).
#[derive(Debug)]
pub struct Decoded {
    /// The typed request.
    pub request: Request,
    /// `KeyId`, `TargetKeyId` or `DestinationKeyId`, whichever comes first.
    pub key: Option<String>,
}

/// Decodes and checks the body of `op` into a typed request.
pub fn decode(op: Op, body: &[u8]) -> Result<Decoded, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::serialization(
            "the request body is empty: send a JSON object ({} when there are no members)",
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::serialization(format!("the request body is not valid JSON: {}", json_error(&e)))
    })?;
    let Value::Object(mut object) = value else {
        return Err(ApiError::serialization("the request body must be a JSON object"));
    };
    // AWS treats a null member as an absent one.
    object.retain(|_, v| !v.is_null());
    let mut errors = Vec::new();
    let mut kept = Map::new();
    for member in op.members() {
        match object.remove(member.name) {
            Some(v) => {
                check_member(member, &v, &mut errors)?;
                if member.usage == Core {
                    kept.insert(member.name.to_owned(), v);
                }
            }
            None if member.required => errors.push(format!(
                "Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_camel(member.name)
            )),
            None => {}
        }
    }
    if !errors.is_empty() {
        let n = errors.len();
        let plural = if n == 1 { "" } else { "s" };
        return Err(ApiError::validation(format!(
            "{n} validation error{plural} detected: {}",
            errors.join("; ")
        )));
    }
    let key = ["KeyId", "TargetKeyId", "DestinationKeyId"]
        .iter()
        .find_map(|k| kept.get(*k).and_then(Value::as_str))
        .map(str::to_owned);
    Ok(Decoded {
        request: Request::from_value(op, Value::Object(kept))?,
        key,
    })
}

/// A JSON syntax error's category and position, without echoing the input.
fn json_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "it ends too early",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected value",
        serde_json::error::Category::Io => "read error",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

fn typed<T: DeserializeOwned>(v: Value) -> Result<T, ApiError> {
    // The checks above leave nothing for serde to refuse; its message could
    // quote the input, so it is not passed on.
    serde_json::from_value(v).map_err(|_| ApiError::serialization("the request does not match the KMS API"))
}

fn to_body<T: serde::Serialize>(r: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(r).map_err(|e| {
        ApiError::new(
            500,
            "KMSInternalException",
            format!("cannot encode the response: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(op: Op, body: &str) -> ApiError {
        decode(op, body.as_bytes()).unwrap_err()
    }

    #[test]
    fn targets() {
        assert_eq!(operation(Some(b"TrentService.Encrypt")).unwrap(), Op::Encrypt);
        assert_eq!(
            operation(Some(b"TrentService.Nope")).unwrap_err().code,
            "com.amazon.coral.service#UnknownOperationException"
        );
        assert_eq!(
            operation(None).unwrap_err().short_code(),
            "UnknownOperationException"
        );
        assert_eq!(
            operation(Some(b"DynamoDB_20120810.Encrypt"))
                .unwrap_err()
                .short_code(),
            "UnknownOperationException"
        );
        assert_eq!(
            operation(Some(b"TrentService.Sign")).unwrap_err().code,
            "UnsupportedOperationException"
        );
    }

    #[test]
    fn content_types() {
        assert!(check_content_type(Some(b"application/x-amz-json-1.1")).is_ok());
        assert!(check_content_type(Some(b"application/x-amz-json-1.1; charset=utf-8")).is_ok());
        assert!(check_content_type(Some(b"application/json")).is_err());
        assert!(check_content_type(None).is_err());
    }

    #[test]
    fn body_checks() {
        assert_eq!(err(Op::ListKeys, "").short_code(), "SerializationException");
        assert_eq!(
            err(Op::ListKeys, "{\"Limit\":").short_code(),
            "SerializationException"
        );
        assert_eq!(err(Op::ListKeys, "[]").short_code(), "SerializationException");
        assert_eq!(
            err(Op::ListKeys, r#"{"Limit":"5"}"#).short_code(),
            "SerializationException"
        );
        assert_eq!(
            err(Op::ListKeys, r#"{"Limit":5.5}"#).short_code(),
            "SerializationException"
        );
        let e = err(Op::Encrypt, r#"{"KeyId":"k","Plaintext":"!!!"}"#);
        assert_eq!(e.short_code(), "SerializationException");
        assert!(!e.message.contains("!!!"), "{}", e.message);
        let e = err(Op::Encrypt, "{}");
        assert_eq!(e.code, "ValidationException");
        assert!(
            e.message
                .starts_with("2 validation errors detected: Value null at 'keyId'"),
            "{}",
            e.message
        );
        let e = err(Op::CreateKey, r#"{"KeySpec":"AES_512"}"#);
        assert_eq!(e.code, "ValidationException");
        assert!(e.message.contains("at 'keySpec'"), "{}", e.message);
        assert_eq!(
            err(Op::CreateKey, r#"{"KeySpec":"ECC_NIST_P256"}"#).code,
            "UnsupportedOperationException"
        );
        assert_eq!(
            err(Op::CreateKey, r#"{"Tags":[{"TagKey":"a","TagValue":"b"}]}"#).code,
            "UnsupportedOperationException"
        );
        assert_eq!(
            err(Op::CreateKey, r#"{"Origin":"EXTERNAL"}"#).code,
            "UnsupportedOperationException"
        );
        assert_eq!(
            err(Op::Encrypt, r#"{"KeyId":"k","Plaintext":"AA==","DryRun":true}"#).code,
            "UnsupportedOperationException"
        );
        // Accepted: nulls, empty tags, policies, grant tokens, AWS_KMS origin, unknown members.
        for body in [
            r#"{"Tags":[],"Policy":"{}","Origin":"AWS_KMS","Description":null,"SomethingNew":1}"#,
            "{}",
        ] {
            assert!(
                matches!(
                    decode(Op::CreateKey, body.as_bytes()).map(|d| d.request),
                    Ok(Request::CreateKey(_))
                ),
                "{body}"
            );
        }
        let d = decode(
            Op::Encrypt,
            br#"{"KeyId":"k","Plaintext":"AQID","GrantTokens":["t"],"DryRun":false}"#,
        )
        .unwrap();
        assert_eq!(d.key.as_deref(), Some("k"));
        let Request::Encrypt(r) = d.request else { panic!() };
        assert_eq!(&r.plaintext[..], &[1, 2, 3]);
    }

    #[test]
    fn error_bodies() {
        let e = ApiError::from(KmsError::new(KmsErrorKind::NotFoundException, "gone"));
        assert_eq!(e.status, 400);
        let v: Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"__type": "NotFoundException", "message": "gone"})
        );
        assert_eq!(
            ApiError::from(KmsError::new(KmsErrorKind::KMSInternalException, "x")).status,
            500
        );
    }
}
