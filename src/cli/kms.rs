//! `envelope kms <operation>`: the KMS operations from the shell, on the
//! embedded KMS core or on a remote service (`--kms aws`, `--kms-endpoint`).
//!
//! Named and shaped like the AWS CLI: kebab-case operations, options named
//! after the request fields, blob arguments as `fileb://PATH` or base64 text,
//! the JSON response on stdout (blobs base64; nothing for operations without
//! output), and errors as `envelope: ErrorName: message` on stderr. Exit codes come from
//! the CLI's one table ([`super::error::exit_code`]): 1 for
//! InvalidCiphertextException/IncorrectKeyException, 2 for
//! ValidationException and usage errors, 3 for I/O errors, 4 for other
//! key-service errors.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use clap::{Args, Subcommand};
use serde::Serialize;
use zeroize::Zeroizing;

use envelope::kms::{self, EncryptionContext, Kms, KmsCore, KmsError};
use envelope::Secret;

use super::error::CliError;
use super::kms_source::Source;
use super::store::{self, Need, Refused};
use super::terminal;

/// The key of a management operation: AWS KMS takes a key id or key ARN there.
#[derive(Args, Debug)]
pub struct KeyIdArg {
    /// Key id or key ARN (aliases are not accepted, as in AWS KMS).
    #[arg(long)]
    key_id: String,
}

/// The key of an operation that takes any id form (DescribeKey, GetPublicKey).
#[derive(Args, Debug)]
pub struct AnyKeyIdArg {
    /// Key id, key ARN, alias name or alias ARN.
    #[arg(long)]
    key_id: String,
}

/// The fields of GenerateDataKey and GenerateDataKeyWithoutPlaintext.
#[derive(Args, Debug)]
pub struct DataKeyArgs {
    /// A symmetric KMS key, any id form.
    #[arg(long)]
    key_id: String,
    /// KEY=VALUE pair bound to the ciphertext (repeatable), or a JSON object.
    #[arg(long, value_name = "KEY=VALUE")]
    encryption_context: Vec<String>,
    /// Data key length, 1 to 1024 (or use --key-spec).
    #[arg(long, allow_negative_numbers = true)]
    number_of_bytes: Option<i32>,
    /// AES_128 or AES_256 (or use --number-of-bytes).
    #[arg(long)]
    key_spec: Option<String>,
}

/// The fields of CreateAlias and UpdateAlias.
#[derive(Args, Debug)]
pub struct AliasArgs {
    /// `alias/<name>`.
    #[arg(long)]
    alias_name: String,
    /// Key id or key ARN (aliases are not accepted, as in AWS KMS).
    #[arg(long)]
    target_key_id: String,
}

/// The KMS core operations.
#[derive(Subcommand, Debug)]
pub enum KmsCommand {
    /// Create a KMS key: symmetric (default) or RSA_2048/3072/4096 for ENCRYPT_DECRYPT.
    CreateKey {
        /// Free text.
        #[arg(long)]
        description: Option<String>,
        /// ENCRYPT_DECRYPT (required for RSA key specs).
        #[arg(long)]
        key_usage: Option<String>,
        /// SYMMETRIC_DEFAULT, RSA_2048, RSA_3072 or RSA_4096.
        #[arg(long)]
        key_spec: Option<String>,
        /// Deprecated synonym of --key-spec.
        #[arg(long)]
        customer_master_key_spec: Option<String>,
        /// Request a multi-Region key (not supported).
        #[arg(long)]
        multi_region: bool,
    },
    /// Show a key's metadata.
    DescribeKey(AnyKeyIdArg),
    /// List keys.
    ListKeys {
        /// Page size, 1 to 1000.
        #[arg(long, allow_negative_numbers = true)]
        limit: Option<i32>,
        /// NextMarker of the previous page.
        #[arg(long)]
        marker: Option<String>,
    },
    /// Create an alias for a key.
    CreateAlias(AliasArgs),
    /// Point an alias at another key.
    UpdateAlias(AliasArgs),
    /// Delete an alias.
    DeleteAlias {
        /// `alias/<name>`.
        #[arg(long)]
        alias_name: String,
    },
    /// List aliases.
    ListAliases {
        /// Only the aliases of this key (key id or key ARN).
        #[arg(long)]
        key_id: Option<String>,
        /// Page size, 1 to 100.
        #[arg(long, allow_negative_numbers = true)]
        limit: Option<i32>,
        /// NextMarker of the previous page.
        #[arg(long)]
        marker: Option<String>,
    },
    /// Enable a key.
    EnableKey(KeyIdArg),
    /// Disable a key.
    DisableKey(KeyIdArg),
    /// Schedule a key's deletion after a waiting period.
    ScheduleKeyDeletion {
        /// Key id or key ARN (aliases are not accepted, as in AWS KMS).
        #[arg(long)]
        key_id: String,
        /// 7 to 30 days (default 30).
        #[arg(long, allow_negative_numbers = true)]
        pending_window_in_days: Option<i32>,
    },
    /// Cancel a scheduled deletion; the key becomes Disabled.
    CancelKeyDeletion(KeyIdArg),
    /// Turn on automatic rotation.
    EnableKeyRotation {
        /// Key id or key ARN (aliases are not accepted, as in AWS KMS).
        #[arg(long)]
        key_id: String,
        /// 90 to 2560 days (default 365).
        #[arg(long, allow_negative_numbers = true)]
        rotation_period_in_days: Option<i32>,
    },
    /// Turn off automatic rotation.
    DisableKeyRotation(KeyIdArg),
    /// Show whether automatic rotation is on.
    GetKeyRotationStatus(KeyIdArg),
    /// Rotate a key's material now.
    RotateKeyOnDemand(KeyIdArg),
    /// Encrypt up to 4096 bytes.
    Encrypt {
        /// Any id form.
        #[arg(long)]
        key_id: String,
        /// fileb://PATH, - (stdin), or base64 text. Prefer fileb:// or -: a secret on the command
        /// line is visible to other users of the machine (in the process list) and in shell history.
        #[arg(long)]
        plaintext: String,
        /// KEY=VALUE pair bound to the ciphertext (repeatable), or a JSON object.
        #[arg(long, value_name = "KEY=VALUE")]
        encryption_context: Vec<String>,
        /// SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256.
        #[arg(long)]
        encryption_algorithm: Option<String>,
    },
    /// Decrypt a ciphertext blob.
    Decrypt {
        /// fileb://PATH or base64 text.
        #[arg(long)]
        ciphertext_blob: String,
        /// The context given at encryption (repeatable KEY=VALUE, or a JSON object).
        #[arg(long, value_name = "KEY=VALUE")]
        encryption_context: Vec<String>,
        /// Optional for symmetric blobs; required for RSA.
        #[arg(long)]
        key_id: Option<String>,
        /// SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256.
        #[arg(long)]
        encryption_algorithm: Option<String>,
    },
    /// Decrypt and encrypt again under another key or context.
    ReEncrypt {
        /// fileb://PATH or base64 text.
        #[arg(long)]
        ciphertext_blob: String,
        /// The blob's context (repeatable KEY=VALUE, or a JSON object).
        #[arg(long, value_name = "KEY=VALUE")]
        source_encryption_context: Vec<String>,
        /// As decrypt's --key-id.
        #[arg(long)]
        source_key_id: Option<String>,
        /// The key to encrypt under.
        #[arg(long)]
        destination_key_id: String,
        /// The new context.
        #[arg(long, value_name = "KEY=VALUE")]
        destination_encryption_context: Vec<String>,
        /// As decrypt's --encryption-algorithm.
        #[arg(long)]
        source_encryption_algorithm: Option<String>,
        /// As encrypt's --encryption-algorithm.
        #[arg(long)]
        destination_encryption_algorithm: Option<String>,
    },
    /// Generate a data key: plaintext and encrypted copy.
    GenerateDataKey(DataKeyArgs),
    /// Generate a data key, returning only its encrypted copy.
    GenerateDataKeyWithoutPlaintext(DataKeyArgs),
    /// Return random bytes.
    GenerateRandom {
        /// Number of bytes (1 to 1024).
        #[arg(long, allow_negative_numbers = true)]
        number_of_bytes: Option<i32>,
    },
    /// Return the public key of an RSA key (DER SubjectPublicKeyInfo).
    GetPublicKey(AnyKeyIdArg),
    /// Re-wrap every backing key of the key store under a new root key: a key-file store gets a
    /// new random root.key; a passphrase store the passphrase of --new-passphrase-file. Atomic: a
    /// crash leaves the old or the new root key working, never neither.
    ChangeRootKey(super::root_key::ChangeRootKeyArgs),
    /// Serve the key store on the AWS KMS protocol (AWS SDKs, AWS CLI, ESDKs) until SIGTERM or Ctrl-C.
    #[cfg(feature = "server")]
    Serve(super::serve::ServeArgs),
    /// Issue an access key for `serve --sigv4`; the secret is shown only now.
    #[cfg(feature = "server")]
    CreateAccessKey(super::serve::CreateAccessKeyArgs),
    /// List the access keys of the key store (no secrets).
    #[cfg(feature = "server")]
    ListAccessKeys,
    /// Delete an access key; requests signed with it are refused from then on.
    #[cfg(feature = "server")]
    DeleteAccessKey(super::serve::DeleteAccessKeyArgs),
}

/// A failure before or after the service call.
enum Failure {
    /// A KMS error (or an argument the service would reject the same way).
    Kms(KmsError),
    /// Reading an input file or writing the output failed.
    Io(String),
    /// The key store did not open.
    Store(Refused),
    /// The remote key service could not be set up.
    Cli(CliError),
}

impl From<KmsError> for Failure {
    fn from(e: KmsError) -> Self {
        Failure::Kms(e)
    }
}

/// A call ready to run against the key service (and the key store, when it
/// is the embedded one), returning its JSON (None when empty).
type Call = Box<dyn FnOnce(&dyn Kms, Option<&KmsCore>) -> Result<Option<String>, KmsError>>;

fn json<T: Serialize>(r: Result<T, KmsError>) -> Result<Option<String>, KmsError> {
    let v = r?;
    let text = serde_json::to_string_pretty(&v).map_err(|e| {
        KmsError::new(
            kms::KmsErrorKind::KMSInternalException,
            format!("cannot serialize the response: {e}"),
        )
    })?;
    Ok((text != "{}").then_some(text))
}

/// A response with a `KeyStore` member beside AWS's: the store's directory,
/// region and account (fixed when it was created), which the ARN alone
/// leaves to be picked apart. The server's DescribeKey stays as AWS's.
fn with_key_store(core: &KmsCore, response: impl Serialize) -> serde_json::Value {
    let mut v = serde_json::to_value(response).unwrap_or_default();
    if let Some(map) = v.as_object_mut() {
        let id = core.identity();
        map.insert(
            "KeyStore".into(),
            serde_json::json!({
                "Path": core.keystore().display().to_string(),
                "Region": id.region,
                "AccountId": id.account_id,
            }),
        );
    }
    v
}

/// Reads a blob argument: `fileb://PATH` or base64 text.
fn blob(arg: &str, option: &str) -> Result<Secret, Failure> {
    if arg == "-" {
        let mut bytes = Zeroizing::new(Vec::new());
        return std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
            .map(|_| bytes)
            .map_err(|e| Failure::Io(format!("cannot read {option} from stdin: {e}")));
    }
    if let Some(path) = arg.strip_prefix("fileb://") {
        return std::fs::read(path)
            .map(Zeroizing::new)
            .map_err(|e| Failure::Io(format!("cannot read {path}: {e}")));
    }
    STANDARD.decode(arg.trim()).map(Zeroizing::new).map_err(|e| {
        Failure::Kms(KmsError::new(
            kms::KmsErrorKind::ValidationException,
            format!("{option} is not valid base64 ({e}); give base64 text or fileb://PATH"),
        ))
    })
}

/// Parses repeatable `KEY=VALUE` pairs, or one JSON object.
fn context(args: &[String], option: &str) -> Result<EncryptionContext, KmsError> {
    let bad = |m: String| KmsError::new(kms::KmsErrorKind::ValidationException, format!("{option}: {m}"));
    let mut ec = EncryptionContext::new();
    for a in args {
        let pairs: Vec<(String, String)> = if a.trim_start().starts_with('{') {
            serde_json::from_str::<EncryptionContext>(a)
                .map_err(|e| bad(format!("not a JSON object of strings: {e}")))?
                .into_iter()
                .collect()
        } else {
            let (k, v) = a
                .split_once('=')
                .ok_or_else(|| bad(format!("expected KEY=VALUE, got '{a}'")))?;
            vec![(k.to_owned(), v.to_owned())]
        };
        for (k, v) in pairs {
            if ec.get(&k).is_some_and(|old| *old != v) {
                return Err(bad(format!("key '{k}' is given twice with different values")));
            }
            ec.insert(k, v);
        }
    }
    Ok(ec)
}

fn parse<T: std::str::FromStr<Err = KmsError>>(v: Option<String>) -> Result<Option<T>, KmsError> {
    v.map(|s| s.parse()).transpose()
}

fn data_key_request(a: DataKeyArgs) -> Result<kms::GenerateDataKeyRequest, KmsError> {
    Ok(kms::GenerateDataKeyRequest {
        key_id: a.key_id,
        encryption_context: context(&a.encryption_context, "--encryption-context")?,
        number_of_bytes: a.number_of_bytes,
        key_spec: parse(a.key_spec)?,
    })
}

/// Turns the command line into a request, without touching the key store.
fn prepare(op: KmsCommand) -> Result<Call, Failure> {
    use KmsCommand as C;
    Ok(match op {
        #[cfg(feature = "server")]
        C::Serve(_) | C::CreateAccessKey(_) | C::ListAccessKeys | C::DeleteAccessKey(_) => {
            unreachable!("handled by run before prepare")
        }
        C::ChangeRootKey(_) => unreachable!("handled by run before prepare"),
        C::CreateKey {
            description,
            key_usage,
            key_spec,
            customer_master_key_spec,
            multi_region,
        } => {
            let req = kms::CreateKeyRequest {
                description,
                key_usage: parse(key_usage)?,
                key_spec: parse(key_spec)?,
                customer_master_key_spec: parse(customer_master_key_spec)?,
                multi_region: multi_region.then_some(true),
            };
            Box::new(move |k, _| json(k.create_key(&req)))
        }
        C::DescribeKey(a) => Box::new(move |k, core| {
            let r = k.describe_key(&kms::KeyIdRequest { key_id: a.key_id });
            match core {
                Some(core) => json(r.map(|r| with_key_store(core, r))),
                None => json(r),
            }
        }),
        C::ListKeys { limit, marker } => {
            Box::new(move |k, _| json(k.list_keys(&kms::ListKeysRequest { limit, marker })))
        }
        C::CreateAlias(a) => Box::new(move |k, _| {
            json(k.create_alias(&kms::CreateAliasRequest {
                alias_name: a.alias_name,
                target_key_id: a.target_key_id,
            }))
        }),
        C::UpdateAlias(a) => Box::new(move |k, _| {
            json(k.update_alias(&kms::UpdateAliasRequest {
                alias_name: a.alias_name,
                target_key_id: a.target_key_id,
            }))
        }),
        C::DeleteAlias { alias_name } => {
            Box::new(move |k, _| json(k.delete_alias(&kms::DeleteAliasRequest { alias_name })))
        }
        C::ListAliases {
            key_id,
            limit,
            marker,
        } => Box::new(move |k, _| {
            json(k.list_aliases(&kms::ListAliasesRequest {
                key_id,
                limit,
                marker,
            }))
        }),
        C::EnableKey(a) => Box::new(move |k, _| json(k.enable_key(&kms::KeyIdRequest { key_id: a.key_id }))),
        C::DisableKey(a) => {
            Box::new(move |k, _| json(k.disable_key(&kms::KeyIdRequest { key_id: a.key_id })))
        }
        C::ScheduleKeyDeletion {
            key_id,
            pending_window_in_days,
        } => Box::new(move |k, _| {
            json(k.schedule_key_deletion(&kms::ScheduleKeyDeletionRequest {
                key_id,
                pending_window_in_days,
            }))
        }),
        C::CancelKeyDeletion(a) => {
            Box::new(move |k, _| json(k.cancel_key_deletion(&kms::KeyIdRequest { key_id: a.key_id })))
        }
        C::EnableKeyRotation {
            key_id,
            rotation_period_in_days,
        } => Box::new(move |k, _| {
            json(k.enable_key_rotation(&kms::EnableKeyRotationRequest {
                key_id,
                rotation_period_in_days,
            }))
        }),
        C::DisableKeyRotation(a) => {
            Box::new(move |k, _| json(k.disable_key_rotation(&kms::KeyIdRequest { key_id: a.key_id })))
        }
        C::GetKeyRotationStatus(a) => {
            Box::new(move |k, _| json(k.get_key_rotation_status(&kms::KeyIdRequest { key_id: a.key_id })))
        }
        C::RotateKeyOnDemand(a) => {
            Box::new(move |k, _| json(k.rotate_key_on_demand(&kms::KeyIdRequest { key_id: a.key_id })))
        }
        C::Encrypt {
            key_id,
            plaintext,
            encryption_context,
            encryption_algorithm,
        } => {
            let req = kms::EncryptRequest {
                key_id,
                plaintext: blob(&plaintext, "--plaintext")?,
                encryption_context: context(&encryption_context, "--encryption-context")?,
                encryption_algorithm: parse(encryption_algorithm)?,
            };
            Box::new(move |k, _| json(k.encrypt(&req)))
        }
        C::Decrypt {
            ciphertext_blob,
            encryption_context,
            key_id,
            encryption_algorithm,
        } => {
            let req = kms::DecryptRequest {
                ciphertext_blob: blob(&ciphertext_blob, "--ciphertext-blob")?.to_vec(),
                encryption_context: context(&encryption_context, "--encryption-context")?,
                key_id,
                encryption_algorithm: parse(encryption_algorithm)?,
            };
            Box::new(move |k, _| json(k.decrypt(&req)))
        }
        C::ReEncrypt {
            ciphertext_blob,
            source_encryption_context,
            source_key_id,
            destination_key_id,
            destination_encryption_context,
            source_encryption_algorithm,
            destination_encryption_algorithm,
        } => {
            let req = kms::ReEncryptRequest {
                ciphertext_blob: blob(&ciphertext_blob, "--ciphertext-blob")?.to_vec(),
                source_encryption_context: context(
                    &source_encryption_context,
                    "--source-encryption-context",
                )?,
                source_key_id,
                destination_key_id,
                destination_encryption_context: context(
                    &destination_encryption_context,
                    "--destination-encryption-context",
                )?,
                source_encryption_algorithm: parse(source_encryption_algorithm)?,
                destination_encryption_algorithm: parse(destination_encryption_algorithm)?,
            };
            Box::new(move |k, _| json(k.re_encrypt(&req)))
        }
        C::GenerateDataKey(a) => {
            let req = data_key_request(a)?;
            Box::new(move |k, _| json(k.generate_data_key(&req)))
        }
        C::GenerateDataKeyWithoutPlaintext(a) => {
            let req = data_key_request(a)?;
            Box::new(move |k, _| json(k.generate_data_key_without_plaintext(&req)))
        }
        C::GenerateRandom { number_of_bytes } => {
            Box::new(move |k, _| json(k.generate_random(&kms::GenerateRandomRequest { number_of_bytes })))
        }
        C::GetPublicKey(a) => {
            Box::new(move |k, _| json(k.get_public_key(&kms::KeyIdRequest { key_id: a.key_id })))
        }
    })
}

fn execute(op: KmsCommand, keystore: Option<&Path>, source: &Source, verbose: bool) -> Result<(), Failure> {
    // Only CreateKey makes a key, so only it may make a store; every other
    // operation needs keys that a new store could not have.
    let need = match op {
        KmsCommand::CreateKey { .. } => Need::MayCreate,
        _ => Need::Existing,
    };
    let call = prepare(op)?;
    let text = match source.remote_for(None, None) {
        Some(remote) => {
            let connected = remote.connect().map_err(Failure::Cli)?;
            if verbose {
                terminal::stderr_line("envelope", format_args!("key service: {}", connected.description));
            }
            call(connected.kms.as_ref(), None)?
        }
        None => {
            let core = store::open(keystore, need).map_err(Failure::Store)?;
            if verbose {
                terminal::stderr_line("envelope", store::describe(&core));
            }
            call(&core, Some(&core))?
        }
    };
    if let Some(text) = text {
        let mut out = std::io::stdout().lock();
        match writeln!(out, "{text}").and_then(|_| out.flush()) {
            // The reader went away (`| head`): the operation is done; end quietly.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            r => r.map_err(|e| Failure::Io(format!("cannot write the response: {e}")))?,
        }
    }
    Ok(())
}

/// Runs one operation against the key store and prints its JSON response.
pub fn run(op: KmsCommand, keystore: Option<&Path>, source: &Source, quiet: bool, verbose: bool) -> ExitCode {
    let op = match op {
        KmsCommand::ChangeRootKey(a) => {
            return match super::root_key::run(a, keystore, source, quiet) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => e.exit(),
            }
        }
        op => op,
    };
    #[cfg(feature = "server")]
    {
        use super::serve;
        if let (
            Source::Remote(_),
            KmsCommand::Serve(_)
            | KmsCommand::CreateAccessKey(_)
            | KmsCommand::ListAccessKeys
            | KmsCommand::DeleteAccessKey(_),
        ) = (source, &op)
        {
            return CliError::usage(
                "serve and the access-key operations work on the embedded key store; \
                 drop --kms aws / --kms-endpoint (and ENVELOPE_KMS_ENDPOINT, AWS_ENDPOINT_URL_KMS)",
            )
            .exit();
        }
        let r = match op {
            KmsCommand::Serve(a) => serve::serve(a, keystore, quiet, verbose),
            KmsCommand::CreateAccessKey(a) => serve::create_access_key(a, keystore),
            KmsCommand::ListAccessKeys => serve::list_access_keys(keystore),
            KmsCommand::DeleteAccessKey(a) => serve::delete_access_key(a, keystore),
            op => return run_operation(op, keystore, source, verbose),
        };
        match r {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => e.exit(),
        }
    }
    #[cfg(not(feature = "server"))]
    {
        let _ = quiet;
        run_operation(op, keystore, source, verbose)
    }
}

fn run_operation(op: KmsCommand, keystore: Option<&Path>, source: &Source, verbose: bool) -> ExitCode {
    match execute(op, keystore, source, verbose) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Io(m)) => CliError::io_message(m).exit(),
        Err(Failure::Kms(e)) => CliError::from_kms(e).exit(),
        Err(Failure::Store(r)) => r.into_cli(CliError::from_kms).exit(),
        Err(Failure::Cli(e)) => e.exit(),
    }
}
