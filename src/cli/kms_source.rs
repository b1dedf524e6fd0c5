//! Which key service a run's KMS keys live in: the embedded KMS core (the
//! local key store) or a remote AWS KMS-compatible service, chosen on the
//! command line and never guessed from a key's name.
//!
//! * `--kms embedded`: the key store, whatever the keys are called.
//! * `--kms aws`: AWS KMS itself: the region of each key ARN (one client per
//!   region), credentials from the standard AWS chain.
//! * `--kms-endpoint URL`, else `$ENVELOPE_KMS_ENDPOINT`, else the AWS
//!   standard `$AWS_ENDPOINT_URL_KMS`: a remote service at URL (an `envelope
//!   kms serve`, an emulator, a VPC endpoint), every region through it.
//! * None of these: the key store, but a key ARN of another partition,
//!   region or account than the store's is refused, naming the choices: such
//!   an ARN is most likely an AWS KMS key, and neither sending it to AWS nor
//!   failing on it in the store would be what its user expects.

use std::sync::Arc;

use clap::Args;

use envelope::kms::{Arn, Identity, Kms};

use super::error::CliError;

/// The AWS standard variable of the KMS endpoint, read by every AWS SDK.
pub const AWS_ENDPOINT_ENV: &str = "AWS_ENDPOINT_URL_KMS";
/// envelope's own variable of the KMS endpoint, read before the AWS one.
pub const ENV_ENDPOINT: &str = "ENVELOPE_KMS_ENDPOINT";

/// The global options that choose the key service.
#[derive(Args, Debug, Default)]
pub struct SourceArgs {
    /// The key service of KMS keys: `embedded` (the local key store, the default) or `aws` (AWS
    /// KMS: each key ARN's region, credentials from the standard AWS chain). A key ARN outside the
    /// key store's partition, region and account is refused unless --kms or --kms-endpoint is given.
    #[arg(long, global = true, value_name = "SERVICE", value_parser = ["embedded", "aws"])]
    kms: Option<String>,

    /// A remote AWS KMS-compatible endpoint (an `envelope kms serve`, an emulator); else
    /// $ENVELOPE_KMS_ENDPOINT, else $AWS_ENDPOINT_URL_KMS. Credentials from the standard AWS chain.
    #[arg(long, global = true, value_name = "URL")]
    kms_endpoint: Option<String>,

    /// Region of a remote key service for key ids and aliases (a key ARN names its own); else
    /// $AWS_REGION, else the profile's region. `-w region=` sets it for one key.
    #[arg(long, global = true, value_name = "REGION")]
    kms_region: Option<String>,

    /// AWS profile of a remote key service's credentials and region (else $AWS_PROFILE).
    /// `-w profile=` sets it for one key.
    #[arg(long, global = true, value_name = "PROFILE")]
    kms_profile: Option<String>,
}

/// The key service of a run, once chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The embedded KMS core; `chosen` when `--kms embedded` said so.
    Embedded { chosen: bool },
    /// A remote service: AWS KMS's own endpoints (`endpoint: None`) or one URL.
    Remote(Remote),
}

/// How to reach a remote key service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
}

impl Source {
    /// The choice the options and the environment make (see the module documentation).
    pub fn resolve(args: &SourceArgs) -> Result<Source, CliError> {
        Source::resolve_with(args, |name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    fn resolve_with(args: &SourceArgs, env: impl Fn(&str) -> Option<String>) -> Result<Source, CliError> {
        let remote = |endpoint| {
            Source::Remote(Remote {
                endpoint,
                region: args.kms_region.clone(),
                profile: args.kms_profile.clone(),
            })
        };
        let source = match (args.kms.as_deref(), &args.kms_endpoint) {
            (Some("embedded"), Some(_)) => {
                return Err(CliError::usage(
                    "--kms embedded and --kms-endpoint contradict each other: give one",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(CliError::usage(
                    "--kms aws is AWS KMS's own endpoints, --kms-endpoint another service: give one",
                ))
            }
            // An explicit choice of the key store outranks endpoints in the environment.
            (Some("embedded"), None) => Source::Embedded { chosen: true },
            // The SDK itself still honours $AWS_ENDPOINT_URL_KMS; name it so `-v` says so.
            (Some(_), None) => remote(env(AWS_ENDPOINT_ENV)),
            (None, Some(url)) => remote(Some(url.clone())),
            (None, None) => match env(ENV_ENDPOINT).or_else(|| env(AWS_ENDPOINT_ENV)) {
                Some(url) => remote(Some(url)),
                None => Source::Embedded { chosen: false },
            },
        };
        if matches!(source, Source::Embedded { .. }) {
            if let Some(opt) = [
                ("--kms-region", &args.kms_region),
                ("--kms-profile", &args.kms_profile),
            ]
            .iter()
            .find_map(|(name, v)| v.as_ref().map(|_| name))
            {
                return Err(CliError::usage(format!(
                    "{opt} applies to a remote key service (--kms aws or --kms-endpoint URL); \
                     the embedded key store has its region fixed at creation"
                )));
            }
        }
        Ok(source)
    }

    /// The remote service with one key's `-w region=` and `-w profile=` applied.
    pub fn remote_for(&self, region: Option<String>, profile: Option<String>) -> Option<Remote> {
        match self {
            Source::Embedded { .. } => None,
            Source::Remote(r) => Some(Remote {
                endpoint: r.endpoint.clone(),
                region: region.or_else(|| r.region.clone()),
                profile: profile.or_else(|| r.profile.clone()),
            }),
        }
    }
}

/// Refuses a key ARN outside the key store when no key service was chosen
/// (see the module documentation); other ids and chosen services pass.
pub fn check_embedded_id(id: &str, store: &Identity, chosen: bool) -> Result<(), CliError> {
    let Some(arn) = Arn::parse(id) else {
        return Ok(());
    };
    if chosen
        || (arn.partition == store.partition && arn.region == store.region && arn.account == store.account_id)
    {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "{id} is not a key of the embedded key store (partition {}, region {}, account {}): \
         say which key service holds it: --kms aws for AWS KMS, --kms-endpoint URL for another \
         service, or --kms embedded to ask the key store anyway",
        store.partition, store.region, store.account_id
    )))
}

/// A remote key service's client, and its description for `-v` and messages.
pub struct Connected {
    pub kms: Arc<dyn Kms>,
    pub description: String,
}

impl Remote {
    /// The remote key service client; nothing is contacted yet.
    #[cfg(feature = "remote")]
    pub fn connect(&self) -> Result<Connected, CliError> {
        use envelope::remote_kms::{RemoteKms, RemoteKmsConfig};
        let config = RemoteKmsConfig {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            profile: self.profile.clone(),
            ..RemoteKmsConfig::default()
        };
        let kms = RemoteKms::new(config).map_err(CliError::from_kms)?;
        Ok(Connected {
            description: kms.describe(),
            kms: Arc::new(kms),
        })
    }

    /// Refuses: this build has no remote key service.
    #[cfg(not(feature = "remote"))]
    pub fn connect(&self) -> Result<Connected, CliError> {
        Err(CliError::usage(
            "this envelope was built without the `remote` feature: only the embedded key store \
                 is available (rebuild with default features for --kms aws and --kms-endpoint)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(kms: Option<&str>, endpoint: Option<&str>, env: &[(&str, &str)]) -> Result<Source, CliError> {
        let args = SourceArgs {
            kms: kms.map(Into::into),
            kms_endpoint: endpoint.map(Into::into),
            ..SourceArgs::default()
        };
        Source::resolve_with(&args, |n| {
            env.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
        })
    }

    fn endpoint(s: Source) -> Option<String> {
        match s {
            Source::Remote(r) => r.endpoint,
            Source::Embedded { .. } => panic!("embedded"),
        }
    }

    #[test]
    fn the_choice_is_explicit() {
        assert_eq!(
            resolve(None, None, &[]).unwrap(),
            Source::Embedded { chosen: false }
        );
        assert_eq!(
            resolve(Some("embedded"), None, &[(ENV_ENDPOINT, "http://x")]).unwrap(),
            Source::Embedded { chosen: true }
        );
        assert_eq!(endpoint(resolve(Some("aws"), None, &[]).unwrap()), None);
        assert_eq!(
            endpoint(resolve(None, Some("http://a"), &[(ENV_ENDPOINT, "http://b")]).unwrap()).as_deref(),
            Some("http://a")
        );
        assert_eq!(
            endpoint(
                resolve(
                    None,
                    None,
                    &[(ENV_ENDPOINT, "http://b"), (AWS_ENDPOINT_ENV, "http://c")]
                )
                .unwrap()
            )
            .as_deref(),
            Some("http://b")
        );
        assert_eq!(
            endpoint(resolve(None, None, &[(AWS_ENDPOINT_ENV, "http://c")]).unwrap()).as_deref(),
            Some("http://c")
        );
        assert_eq!(
            resolve(Some("embedded"), Some("http://a"), &[]).unwrap_err().code,
            2
        );
        assert_eq!(resolve(Some("aws"), Some("http://a"), &[]).unwrap_err().code, 2);
    }

    #[test]
    fn foreign_arns_need_a_choice() {
        let store = Identity {
            partition: "aws".into(),
            region: "us-east-1".into(),
            account_id: "111122223333".into(),
        };
        let own = "arn:aws:kms:us-east-1:111122223333:key/k";
        let other = "arn:aws:kms:eu-west-1:123456789012:key/k";
        assert!(check_embedded_id(own, &store, false).is_ok());
        assert!(check_embedded_id("alias/x", &store, false).is_ok());
        let e = check_embedded_id(other, &store, false).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(
            e.message.contains("--kms aws") && e.message.contains("--kms-endpoint"),
            "{}",
            e.message
        );
        assert!(check_embedded_id(other, &store, true).is_ok());
    }
}
