//! Commands that do not inherit the developer's settings.
//!
//! A developer may have `ENVELOPE_HOME`, `ENVELOPE_PASSPHRASE` or
//! `ENVELOPE_ALLOW_INSECURE_KEYSTORE=1` set, or an AWS profile and endpoint;
//! a test run under them would test something else (another store, relaxed
//! checks, a remote service). [`scrub`] removes every variable the library and
//! the CLI read, by the library's own names, every AWS variable a KMS client
//! follows, and, so that a variable added later cannot slip through, every
//! `ENVELOPE_*` and `AWS_*` variable of this process's environment.
//! `the_scrub_is_complete` (in the integration binary) checks that the
//! library defines no variable name this list lacks.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use envelope::kms::{ENV_ACCOUNT_ID, ENV_ALLOW_INSECURE, ENV_HOME, ENV_PASSPHRASE, ENV_REGION};

/// Every environment variable the library and the CLI read.
pub const ENVELOPE_VARS: [&str; 6] = [
    ENV_HOME,
    ENV_PASSPHRASE,
    ENV_REGION,
    ENV_ACCOUNT_ID,
    ENV_ALLOW_INSECURE,
    // The CLI's (src/cli/kms_source.rs, in the binary: no path to import).
    "ENVELOPE_KMS_ENDPOINT",
];

/// The AWS SDKs' variables that choose credentials, a region, a profile or an
/// endpoint: what could steer a KMS client to a real service.
pub const AWS_VARS: [&str; 22] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_KMS",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_USE_FIPS_ENDPOINT",
];

/// Prefixes of the variables removed whatever their name.
pub const PREFIXES: [&str; 2] = ["ENVELOPE_", "AWS_"];

/// What a scrubbed command gets instead, so that an AWS client started by it
/// finds no profile or credentials in the developer's home and never asks the
/// instance metadata service.
pub fn aws_isolation() -> [(&'static str, PathBuf); 3] {
    let nowhere = PathBuf::from("/nonexistent/envelope-tests");
    [
        ("AWS_CONFIG_FILE", nowhere.join("config")),
        ("AWS_SHARED_CREDENTIALS_FILE", nowhere.join("credentials")),
        ("AWS_EC2_METADATA_DISABLED", PathBuf::from("true")),
    ]
}

/// Whether [`scrub`] removes `name`.
pub fn is_scrubbed(name: &str) -> bool {
    ENVELOPE_VARS.contains(&name) || AWS_VARS.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Removes the developer's settings from `cmd` (see the module docs). Call it
/// before setting the variables the test wants.
pub fn scrub(cmd: &mut Command) -> &mut Command {
    for v in ENVELOPE_VARS.iter().chain(&AWS_VARS) {
        cmd.env_remove(v);
    }
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_scrubbed) {
            cmd.env_remove(&name);
        }
    }
    for (name, value) in aws_isolation() {
        cmd.env(name, value);
    }
    cmd
}

/// The envelope binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_envelope"))
}

/// `program` with a scrubbed environment.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut c = Command::new(program);
    scrub(&mut c);
    c
}

/// The envelope binary with a scrubbed environment and stdin from /dev/null.
pub fn envelope() -> Command {
    let mut c = command(bin());
    c.stdin(Stdio::null());
    c
}
