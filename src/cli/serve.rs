//! `envelope kms serve` and the access-key commands: the KMS core on the AWS
//! KMS wire protocol (see the library's `server` module).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::Args;

use envelope::kms::{KmsCore, KmsError, Seed};
use envelope::server::{self, Limits, ServerConfig, ServerError, TlsFiles};

use super::error::{CliError, EXIT_IO, EXIT_USAGE};
use super::store::{self, Need};

/// Options of `envelope kms serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port. The URL is printed on stdout.
    #[arg(long, value_name = "ADDR:PORT", default_value = server::DEFAULT_LISTEN)]
    listen: SocketAddr,

    /// Require requests signed (SigV4) with an access key of this key store
    /// (see `envelope kms create-access-key`).
    #[arg(long)]
    sigv4: bool,

    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Allow a non-loopback --listen address without both --sigv4 and TLS, accepting
    /// that plaintext data keys then cross the network unprotected and anyone who
    /// reaches the port can use every key.
    #[arg(long)]
    allow_exposed_plaintext_keys: bool,

    /// Create the keys (with fixed ids) and aliases of this JSON file if they do
    /// not exist yet; existing ones are left as they are. See the README.
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,

    /// Most connections open at once.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections,
          value_parser = clap::value_parser!(u32).range(1..=65_536).map(|n| n as usize))]
    max_connections: usize,

    /// Most operations running at once (others wait; default twice the cores, at least 4).
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_in_flight,
          value_parser = clap::value_parser!(u32).range(1..=4096).map(|n| n as usize))]
    max_in_flight: usize,

    /// Largest request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_body_bytes,
          value_parser = clap::value_parser!(u32).range(1024..=16_777_216).map(|n| n as usize))]
    max_body_bytes: usize,

    /// Seconds a client has to send a request's headers (idle keep-alive connections close after it).
    #[arg(long, value_name = "SECS", default_value = "20", value_parser = seconds)]
    header_timeout: Duration,

    /// Seconds a client has to send a request's body.
    #[arg(long, value_name = "SECS", default_value = "20", value_parser = seconds)]
    body_timeout: Duration,

    /// Seconds shutdown waits for requests in flight.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = seconds)]
    shutdown_grace: Duration,
}

/// Options of `envelope kms create-access-key`.
#[derive(Args, Debug)]
pub struct CreateAccessKeyArgs {
    /// Free text (who or what the key is for).
    #[arg(long, default_value = "")]
    description: String,
}

/// Options of `envelope kms delete-access-key`.
#[derive(Args, Debug)]
pub struct DeleteAccessKeyArgs {
    /// The access key id (`ENVK...`).
    #[arg(long)]
    access_key_id: String,
}

fn seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(0.01..=86_400.0).contains(&v) {
        return Err("give 0.01 to 86400 seconds".into());
    }
    Ok(Duration::from_secs_f64(v))
}

fn note(quiet: bool, line: std::fmt::Arguments<'_>) {
    if !quiet {
        super::terminal::stderr_line("envelope kms serve", line);
    }
}

/// The exit code of a KMS error, from the one table in `cli/error.rs`.
fn kms_exit_code(e: &KmsError) -> u8 {
    super::error::exit_code(envelope::ErrorKind::from(e))
}

fn kms_error(e: KmsError) -> CliError {
    CliError::with_code(kms_exit_code(&e), e.to_string())
}

fn open(keystore: Option<&Path>, need: Need) -> Result<KmsCore, CliError> {
    store::open(keystore, need).map_err(|r| r.into_cli(kms_error))
}

fn server_error(e: ServerError) -> CliError {
    let code = match &e {
        ServerError::Io { .. } => EXIT_IO,
        ServerError::Kms(k) => kms_exit_code(k),
        _ => EXIT_USAGE,
    };
    CliError::with_code(code, e.to_string())
}

fn apply_seed(core: &KmsCore, path: &Path, quiet: bool) -> Result<(), CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?;
    let seed =
        Seed::from_json(&text).map_err(|e| CliError::usage(format!("{}: {}", path.display(), e.message)))?;
    let report = core.apply_seed(&seed).map_err(kms_error)?;
    note(
        quiet,
        format_args!(
            "seed {}: created {} key(s) and {} alias(es); {} key(s) and {} alias(es) already existed",
            path.display(),
            report.created_keys.len(),
            report.created_aliases.len(),
            report.existing_keys.len(),
            report.existing_aliases.len()
        ),
    );
    for d in &report.differences {
        note(quiet, format_args!("seed: {d}"));
    }
    Ok(())
}

/// Runs the server until SIGTERM or Ctrl-C.
pub fn serve(a: ServeArgs, keystore: Option<&Path>, quiet: bool, verbose: bool) -> Result<(), CliError> {
    let config = ServerConfig {
        listen: a.listen,
        require_sigv4: a.sigv4,
        tls: a
            .tls_cert
            .zip(a.tls_key)
            .map(|(cert, key)| TlsFiles { cert, key }),
        allow_exposed_plaintext_keys: a.allow_exposed_plaintext_keys,
        limits: Limits {
            max_body_bytes: a.max_body_bytes,
            max_connections: a.max_connections,
            max_in_flight: a.max_in_flight,
            header_timeout: a.header_timeout,
            body_timeout: a.body_timeout,
            shutdown_grace: a.shutdown_grace,
        },
        log_requests: verbose,
        // What clients sent reaches the terminal through the CLI's one escaping.
        log: Some(envelope::server::RequestLog(Arc::new(|line: &str| {
            super::terminal::stderr_line("envelope kms serve", line)
        }))),
    };
    // Refused before the store is touched.
    config.check_exposure().map_err(server_error)?;
    // A server makes keys (for its clients, or from --seed): it may create the store.
    let core = open(keystore, Need::MayCreate)?;
    if let Some(path) = &a.seed {
        apply_seed(&core, path, quiet)?;
    }
    let sigv4 = config.require_sigv4;
    if sigv4 && core.list_access_keys().map_err(kms_error)?.is_empty() {
        note(
            quiet,
            format_args!("--sigv4 is on but the key store has no access keys: every request will be refused; create one with `envelope kms create-access-key`"),
        );
    }
    let store = core.keystore().display().to_string();
    let identity = server::StoreIdentity::of(&core);
    let core = Arc::new(core);
    server::run_until_signal(core, config, |url| {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{url}").and_then(|_| out.flush());
        if sigv4 {
            note(quiet, format_args!("listening on {url} for key store {store} (region {}); requests must be signed with an access key of the store", identity.region));
        } else {
            note(quiet, format_args!("listening on {url} for key store {store} (region {}) WITHOUT authentication: any process that can reach it can use every key (--sigv4 requires signed requests)", identity.region));
        }
    })
    .map_err(server_error)?;
    note(quiet, format_args!("stopped; the key store is closed"));
    Ok(())
}

/// `envelope kms create-access-key`: prints the new key, secret included, once.
pub fn create_access_key(a: CreateAccessKeyArgs, keystore: Option<&Path>) -> Result<(), CliError> {
    let core = open(keystore, Need::MayCreate)?;
    let key = core.create_access_key(&a.description).map_err(kms_error)?;
    let json = serde_json::json!({"AccessKey": {
        "AccessKeyId": key.access_key_id,
        "SecretAccessKey": key.secret_access_key.as_str(),
        "Description": a.description,
        "CreateDate": key.created,
    }});
    let text = zeroize::Zeroizing::new(serde_json::to_string_pretty(&json).unwrap_or_default());
    print(&text)
}

/// `envelope kms list-access-keys`: ids and descriptions, never secrets.
pub fn list_access_keys(keystore: Option<&Path>) -> Result<(), CliError> {
    let core = open(keystore, Need::Existing)?;
    let keys = core.list_access_keys().map_err(kms_error)?;
    print(&serde_json::to_string_pretty(&serde_json::json!({ "AccessKeys": keys })).unwrap_or_default())
}

/// `envelope kms delete-access-key`.
pub fn delete_access_key(a: DeleteAccessKeyArgs, keystore: Option<&Path>) -> Result<(), CliError> {
    let core = open(keystore, Need::Existing)?;
    core.delete_access_key(&a.access_key_id).map_err(kms_error)
}

fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.map_err(|e| CliError::io("cannot write the response", e)),
    }
}
