//! A remote key service as a [`Kms`]: AWS KMS itself, an `envelope kms
//! serve` that several machines share, or any AWS KMS emulator.
//!
//! Built on the official SDK (`aws-sdk-kms` with `aws-config`): SigV4, the
//! standard credential chain (environment, profiles, SSO, container and
//! instance roles), retries with backoff and timeouts all come from it; this
//! module only translates requests, responses and errors, and decides which
//! client a request goes through.
//!
//! # Regions
//!
//! As the ESDK's KMS keyring does, a request naming a key by ARN goes to
//! that ARN's region: one client per region, built on first use and kept.
//! Other requests (a key id or alias, ListKeys, CreateKey, GenerateRandom, a
//! Decrypt without a key id) go to the default region:
//! [`RemoteKmsConfig::region`], else `AWS_REGION` / `AWS_DEFAULT_REGION`,
//! else the profile's `region`. (The instance-metadata region lookup is
//! left out on purpose: a machine outside EC2 would wait on it.)
//!
//! # Threads
//!
//! The [`Kms`] trait is synchronous and the SDK is async, so a `RemoteKms`
//! owns a small tokio runtime on threads of its own. Each call is spawned
//! there and its caller waits on a `std` channel; the caller's thread may be
//! any thread, a blocking-pool thread of the caller's own tokio runtime
//! included (`Runtime::block_on` is never used on the caller's side). It
//! must not be an async worker thread, which would sit idle while the call
//! runs: see the trait's documentation.
//!
//! # Errors
//!
//! A service error keeps AWS's name ([`KmsErrorKind::from_name`]; a name the
//! list lacks becomes [`KmsErrorKind::Other`] with the name at the start of
//! the message). A network failure, a timeout, or an answer that is not AWS
//! KMS's is [`KmsErrorKind::Unreachable`], and its message names the
//! endpoint.

mod convert;
mod errors;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{Credentials, Region};
use aws_sdk_kms::Client;
use tokio::runtime::Runtime;
use tokio::sync::OnceCell;

use crate::kms::{Arn, Kms, KmsError, KmsErrorKind};

/// How to reach a remote key service.
#[derive(Debug, Clone)]
pub struct RemoteKmsConfig {
    /// The endpoint for every region (`http://127.0.0.1:4566`, an `envelope
    /// kms serve` URL); `None` is AWS KMS's own regional endpoints (or
    /// `AWS_ENDPOINT_URL_KMS`, which the SDK reads itself).
    pub endpoint: Option<String>,
    /// The region of requests that name no key ARN.
    pub region: Option<String>,
    /// The shared-config profile for credentials and region (`AWS_PROFILE`
    /// when `None`).
    pub profile: Option<String>,
    /// Fixed credentials instead of the standard chain (tests, emulators).
    pub credentials: Option<StaticCredentials>,
    /// Time to open a connection before the attempt fails.
    pub connect_timeout: Duration,
    /// Time one attempt (connect, send, answer) may take.
    pub attempt_timeout: Duration,
    /// Time one operation may take, retries included.
    pub operation_timeout: Duration,
    /// Attempts per operation, the first included (the SDK's standard
    /// retry mode: exponential backoff with jitter, on throttling and
    /// transient errors only).
    pub max_attempts: u32,
}

impl Default for RemoteKmsConfig {
    fn default() -> Self {
        RemoteKmsConfig {
            endpoint: None,
            region: None,
            profile: None,
            credentials: None,
            // A KMS call is small: seconds, not the SDK's unbounded default.
            connect_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(20),
            operation_timeout: Duration::from_secs(60),
            max_attempts: 3,
        }
    }
}

/// An access key pair given directly.
#[derive(Clone)]
pub struct StaticCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A [`Kms`] over the network; see the module documentation.
pub struct RemoteKms {
    /// `Some` until dropped (then shut down without waiting, so a drop on
    /// any thread, an async one included, cannot block or panic).
    runtime: Option<Runtime>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RemoteKms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKms")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

/// What the runtime's tasks share.
struct Shared {
    config: RemoteKmsConfig,
    /// The SDK configuration (credentials chain, retries, timeouts), loaded
    /// once on first use.
    base: OnceCell<SdkConfig>,
    /// One client per region.
    clients: Mutex<HashMap<String, Client>>,
}

/// The client of one request and the endpoint it reaches (for messages).
struct Target {
    client: Client,
    endpoint: String,
}

impl RemoteKms {
    /// A remote key service; nothing is contacted until the first call.
    pub fn new(config: RemoteKmsConfig) -> Result<RemoteKms, KmsError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("envelope-remote-kms")
            .enable_all()
            .build()
            .map_err(|e| KmsError::internal(format!("cannot start the key-service runtime: {e}")))?;
        Ok(RemoteKms {
            runtime: Some(runtime),
            shared: Arc::new(Shared {
                config,
                base: OnceCell::new(),
                clients: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RemoteKmsConfig {
        &self.shared.config
    }

    /// A description of the service for `-v` lines and messages: the
    /// endpoint URL, or AWS KMS with its default region.
    pub fn describe(&self) -> String {
        let c = &self.shared.config;
        let region = c
            .region
            .as_deref()
            .map(|r| format!(", default region {r}"))
            .unwrap_or_default();
        let profile = c
            .profile
            .as_deref()
            .map(|p| format!(", profile {p}"))
            .unwrap_or_default();
        match &c.endpoint {
            Some(url) => format!("the KMS endpoint {url}{region}{profile}"),
            None => format!("AWS KMS (the region of each key ARN{region}{profile})"),
        }
    }

    /// Runs `op` for a request about `key_id` on the runtime and waits for it.
    fn call<T, F, Fut>(&self, key_id: Option<&str>, op: F) -> Result<T, KmsError>
    where
        T: Send + 'static,
        F: FnOnce(Target) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, KmsError>> + Send + 'static,
    {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| KmsError::internal("the key-service runtime is shut down"))?;
        let shared = self.shared.clone();
        let key_id = key_id.map(str::to_owned);
        let (tx, rx) = mpsc::sync_channel(1);
        runtime.spawn(async move {
            let r = match shared.target(key_id.as_deref()).await {
                Ok(t) => op(t).await,
                Err(e) => Err(e),
            };
            // The caller is waiting; if it went away there is no one to tell.
            let _ = tx.send(r);
        });
        rx.recv()
            .unwrap_or_else(|_| Err(KmsError::internal("the key-service call ended without an answer")))
    }
}

impl Drop for RemoteKms {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Shared {
    async fn base(&self) -> &SdkConfig {
        self.base.get_or_init(|| load(&self.config)).await
    }

    /// The client for a request about `key_id`: its ARN's region, else the default region.
    async fn target(&self, key_id: Option<&str>) -> Result<Target, KmsError> {
        let base = self.base().await;
        let region = match key_id.and_then(Arn::parse) {
            Some(arn) if arn.service == "kms" => arn.region,
            _ => base.region().map(|r| r.to_string()).ok_or_else(|| {
                let what = key_id.map_or_else(|| "this request".to_owned(), |k| format!("key '{k}'"));
                KmsError::new(
                    KmsErrorKind::ValidationException,
                    format!(
                        "no region for {what}: name the key by its ARN, or give a region \
                         (-w region=R, --kms-region R, AWS_REGION, or the profile's region)"
                    ),
                )
            })?,
        };
        let client = {
            let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
            clients
                .entry(region.clone())
                .or_insert_with(|| {
                    let conf = aws_sdk_kms::config::Builder::from(base)
                        .region(Region::new(region.clone()))
                        .build();
                    Client::from_conf(conf)
                })
                .clone()
        };
        Ok(Target {
            client,
            endpoint: self.endpoint_name(&region),
        })
    }

    /// The endpoint of `region`, as messages name it.
    fn endpoint_name(&self, region: &str) -> String {
        let configured = self
            .config
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_KMS").ok())
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        match configured {
            Some(url) => format!("{url} (region {region})"),
            None if region.starts_with("cn-") => format!("https://kms.{region}.amazonaws.com.cn"),
            None => format!("https://kms.{region}.amazonaws.com"),
        }
    }
}

/// Loads the SDK configuration: credentials from the standard chain (or the
/// static pair), the endpoint, timeouts and retries.
async fn load(c: &RemoteKmsConfig) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(c.connect_timeout)
        .operation_attempt_timeout(c.attempt_timeout)
        .operation_timeout(c.operation_timeout)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(c.max_attempts.max(1)));
    if let Some(p) = &c.profile {
        loader = loader.profile_name(p);
    }
    if let Some(url) = &c.endpoint {
        loader = loader.endpoint_url(url);
    }
    loader = match &c.region {
        Some(r) => loader.region(Region::new(r.clone())),
        None => {
            let mut profile = ProfileFileRegionProvider::builder();
            if let Some(p) = &c.profile {
                profile = profile.profile_name(p);
            }
            loader.region(
                RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
                    .or_else(profile.build()),
            )
        }
    };
    if let Some(k) = &c.credentials {
        loader = loader.credentials_provider(Credentials::new(
            k.access_key_id.clone(),
            k.secret_access_key.clone(),
            None,
            None,
            "envelope",
        ));
    }
    loader.load().await
}

/// Runs an SDK call's future and maps its error.
macro_rules! send {
    ($t:expr, $fut:expr) => {
        $fut.send().await.map_err(|e| errors::from_sdk(e, &$t.endpoint))
    };
}
impl Kms for RemoteKms {
    fn create_key(
        &self,
        req: &crate::kms::CreateKeyRequest,
    ) -> Result<crate::kms::CreateKeyResponse, KmsError> {
        let req = req.clone();
        if req.key_spec.is_some() && req.customer_master_key_spec.is_some() {
            // What AWS answers, said before the request leaves.
            return Err(KmsError::new(
                KmsErrorKind::ValidationException,
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request.",
            ));
        }
        self.call(None, move |t| async move {
            let r = send!(t, convert::create_key(&t.client, &req))?;
            convert::create_key_response(r.key_metadata)
        })
    }

    fn describe_key(
        &self,
        req: &crate::kms::DescribeKeyRequest,
    ) -> Result<crate::kms::DescribeKeyResponse, KmsError> {
        let key = req.key_id.clone();
        self.call(Some(&req.key_id), move |t| async move {
            let r = send!(t, t.client.describe_key().key_id(key))?;
            convert::create_key_response(r.key_metadata)
        })
    }

    fn list_keys(&self, req: &crate::kms::ListKeysRequest) -> Result<crate::kms::ListKeysResponse, KmsError> {
        let req = req.clone();
        self.call(None, move |t| async move {
            let r = send!(
                t,
                t.client.list_keys().set_limit(req.limit).set_marker(req.marker)
            )?;
            Ok(convert::list_keys_response(r))
        })
    }

    fn create_alias(
        &self,
        req: &crate::kms::CreateAliasRequest,
    ) -> Result<crate::kms::EmptyResponse, KmsError> {
        let req = req.clone();
        self.call(Some(&req.target_key_id.clone()), move |t| async move {
            send!(
                t,
                t.client
                    .create_alias()
                    .alias_name(req.alias_name)
                    .target_key_id(req.target_key_id)
            )?;
            Ok(crate::kms::EmptyResponse {})
        })
    }

    fn update_alias(
        &self,
        req: &crate::kms::UpdateAliasRequest,
    ) -> Result<crate::kms::EmptyResponse, KmsError> {
        let req = req.clone();
        self.call(Some(&req.target_key_id.clone()), move |t| async move {
            send!(
                t,
                t.client
                    .update_alias()
                    .alias_name(req.alias_name)
                    .target_key_id(req.target_key_id)
            )?;
            Ok(crate::kms::EmptyResponse {})
        })
    }

    fn delete_alias(
        &self,
        req: &crate::kms::DeleteAliasRequest,
    ) -> Result<crate::kms::EmptyResponse, KmsError> {
        let name = req.alias_name.clone();
        self.call(None, move |t| async move {
            send!(t, t.client.delete_alias().alias_name(name))?;
            Ok(crate::kms::EmptyResponse {})
        })
    }

    fn list_aliases(
        &self,
        req: &crate::kms::ListAliasesRequest,
    ) -> Result<crate::kms::ListAliasesResponse, KmsError> {
        let req = req.clone();
        self.call(req.key_id.clone().as_deref(), move |t| async move {
            let r = send!(
                t,
                t.client
                    .list_aliases()
                    .set_key_id(req.key_id)
                    .set_limit(req.limit)
                    .set_marker(req.marker)
            )?;
            Ok(convert::list_aliases_response(r))
        })
    }

    fn enable_key(&self, req: &crate::kms::EnableKeyRequest) -> Result<crate::kms::EmptyResponse, KmsError> {
        let key = req.key_id.clone();
        self.call(Some(&req.key_id), move |t| async move {
            send!(t, t.client.enable_key().key_id(key))?;
            Ok(crate::kms::EmptyResponse {})
        })
    }

    fn disable_key(
        &self,
        req: &crate::kms::DisableKeyRequest,
    ) -> Result<crate::kms::EmptyResponse, KmsError> {
        let key = req.key_id.clone();
        self.call(Some(&req.key_id), move |t| async move {
            send!(t, t.client.disable_key().key_id(key))?;
            Ok(crate::kms::EmptyResponse {})
        })
    }

    fn schedule_key_deletion(
        &self,
        req: &crate::kms::ScheduleKeyDeletionRequest,
    ) -> Result<crate::kms::ScheduleKeyDeletionResponse, KmsError> {
        let req = req.clone();
        self.call(Some(&req.key_id.clone()), move |t| async move {
            let r = send!(
                t,
                t.client
                    .schedule_key_deletion()
                    .key_id(req.key_id)
                    .set_pending_window_in_days(req.pending_window_in_days)
            )?;
            convert::schedule_key_deletion_response(r)
        })
    }

    fn cancel_key_deletion(
        &self,
        req: &crate::kms::CancelKeyDeletionRequest,
    ) -> Result<crate::kms::CancelKeyDeletionResponse, KmsError> {
        let key = req.key_id.clone();
        self.call(Some(&req.key_id), move |t| async move {
            let r = send!(t, t.client.cancel_key_deletion().key_id(key))?;
            Ok(crate::kms::KeyIdResponse {
                key_id: convert::required(r.key_id, "KeyId")?,
            })
        })
    }

    fn enable_key_rotation(
        &self,
        req: &crate::kms::EnableKeyRotationRequest,
    ) -> Result<crate::kms::EmptyResponse, KmsError> {
        let req = req.clone();
        self.call(Some(&req.key_id.clone()), move |t| async move {
            send!(
                t,
                t.client
                    .enable_key_rotation()
                    .key_id(req.key_id)
                    .set_rotation_period_in_days(req.rotation_period_in_days)
            )?;
            Ok(crate::kms::EmptyResponse {})
        })
    }

    fn disable_key_rotation(
        &self,
        req: &crate::kms::DisableKeyRotationRequest,
    ) -> Result<crate::kms::EmptyResponse, KmsError> {
        let key = req.key_id.clone();
        self.call(Some(&req.key_id), move |t| async move {
            send!(t, t.client.disable_key_rotation().key_id(key))?;
            Ok(crate::kms::EmptyResponse {})
        })
    }

    fn get_key_rotation_status(
        &self,
        req: &crate::kms::GetKeyRotationStatusRequest,
    ) -> Result<crate::kms::GetKeyRotationStatusResponse, KmsError> {
        let key = req.key_id.clone();
        self.call(Some(&req.key_id), move |t| async move {
            let r = send!(t, t.client.get_key_rotation_status().key_id(key.clone()))?;
            Ok(crate::kms::GetKeyRotationStatusResponse {
                key_rotation_enabled: r.key_rotation_enabled,
                key_id: r.key_id.unwrap_or(key),
                rotation_period_in_days: r.rotation_period_in_days,
                next_rotation_date: r.next_rotation_date.map(|d| convert::secs(&d)),
            })
        })
    }

    fn rotate_key_on_demand(
        &self,
        req: &crate::kms::RotateKeyOnDemandRequest,
    ) -> Result<crate::kms::RotateKeyOnDemandResponse, KmsError> {
        let key = req.key_id.clone();
        self.call(Some(&req.key_id), move |t| async move {
            let r = send!(t, t.client.rotate_key_on_demand().key_id(key))?;
            Ok(crate::kms::KeyIdResponse {
                key_id: convert::required(r.key_id, "KeyId")?,
            })
        })
    }

    fn encrypt(&self, req: &crate::kms::EncryptRequest) -> Result<crate::kms::EncryptResponse, KmsError> {
        let req = req.clone();
        self.call(Some(&req.key_id.clone()), move |t| async move {
            let r = send!(t, convert::encrypt(&t.client, &req))?;
            convert::encrypt_response(r)
        })
    }

    fn decrypt(&self, req: &crate::kms::DecryptRequest) -> Result<crate::kms::DecryptResponse, KmsError> {
        let req = req.clone();
        self.call(req.key_id.clone().as_deref(), move |t| async move {
            let r = send!(t, convert::decrypt(&t.client, &req))?;
            convert::decrypt_response(r)
        })
    }

    fn re_encrypt(
        &self,
        req: &crate::kms::ReEncryptRequest,
    ) -> Result<crate::kms::ReEncryptResponse, KmsError> {
        let req = req.clone();
        // The destination key decides the region, as the ESDK does for the key it encrypts under.
        self.call(Some(&req.destination_key_id.clone()), move |t| async move {
            let r = send!(t, convert::re_encrypt(&t.client, &req))?;
            convert::re_encrypt_response(r)
        })
    }

    fn generate_data_key(
        &self,
        req: &crate::kms::GenerateDataKeyRequest,
    ) -> Result<crate::kms::GenerateDataKeyResponse, KmsError> {
        let req = req.clone();
        self.call(Some(&req.key_id.clone()), move |t| async move {
            let r = send!(t, convert::generate_data_key(&t.client, &req))?;
            convert::generate_data_key_response(r)
        })
    }

    fn generate_data_key_without_plaintext(
        &self,
        req: &crate::kms::GenerateDataKeyWithoutPlaintextRequest,
    ) -> Result<crate::kms::GenerateDataKeyWithoutPlaintextResponse, KmsError> {
        let req = req.clone();
        self.call(Some(&req.key_id.clone()), move |t| async move {
            let r = send!(t, convert::generate_data_key_without_plaintext(&t.client, &req))?;
            Ok(crate::kms::GenerateDataKeyWithoutPlaintextResponse {
                ciphertext_blob: convert::required(r.ciphertext_blob, "CiphertextBlob")?.into_inner(),
                key_id: convert::required(r.key_id, "KeyId")?,
            })
        })
    }

    fn generate_random(
        &self,
        req: &crate::kms::GenerateRandomRequest,
    ) -> Result<crate::kms::GenerateRandomResponse, KmsError> {
        let n = req.number_of_bytes;
        self.call(None, move |t| async move {
            let r = send!(t, t.client.generate_random().set_number_of_bytes(n))?;
            Ok(crate::kms::GenerateRandomResponse {
                plaintext: convert::secret(convert::required(r.plaintext, "Plaintext")?),
            })
        })
    }

    fn get_public_key(
        &self,
        req: &crate::kms::GetPublicKeyRequest,
    ) -> Result<crate::kms::GetPublicKeyResponse, KmsError> {
        let key = req.key_id.clone();
        self.call(Some(&req.key_id), move |t| async move {
            let r = send!(t, t.client.get_public_key().key_id(key))?;
            convert::get_public_key_response(r)
        })
    }
}
