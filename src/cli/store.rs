//! Opening the KMS core's key store for a CLI run: which runs may create a
//! store, the note when one is created, and the message when there is none.

use std::path::{Path, PathBuf};

use envelope::kms::{KmsConfig, KmsCore, KmsError, KmsErrorKind};

use super::error::{CliError, EXIT_KEY_SERVICE};

/// What a run needs of the key store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A store that exists: the run only uses keys that are already there,
    /// which a new, empty store could not have.
    Existing,
    /// A store, created if missing: the run makes a new key (the default key
    /// of `encrypt`, `kms create-key`, an access key, a server's keys).
    MayCreate,
}

/// Why the key store did not open.
#[derive(Debug)]
pub enum Refused {
    /// There is no store at this path (only with [`Need::Existing`]).
    NoStore(PathBuf),
    /// The configuration or the store refused or failed.
    Kms(KmsError),
}

impl Refused {
    /// The CLI error, with KMS errors put in words by `kms`.
    pub fn into_cli(self, kms: impl FnOnce(KmsError) -> CliError) -> CliError {
        match self {
            // The key-service code, as for a key that is not found: the keys
            // the run needs are unavailable, and neither the message nor the
            // command line is at fault (the path may be, but it is a setting,
            // not an argument of this command).
            Refused::NoStore(dir) => CliError::with_code(
                EXIT_KEY_SERVICE,
                format!(
                    "no key store at {} (check --keystore / ENVELOPE_HOME)",
                    dir.display()
                ),
            ),
            Refused::Kms(e) => kms(e),
        }
    }
}

/// Opens the store named by `--keystore` / the environment. A store created
/// now is announced even under `-q`: it is a new secret to back up.
pub fn open(keystore: Option<&Path>, need: Need) -> Result<KmsCore, Refused> {
    let config = KmsConfig::from_env(keystore).map_err(Refused::Kms)?;
    let dir = config.keystore.clone();
    let core = match need {
        Need::Existing => KmsCore::open_existing(config).map_err(|e| match e.kind {
            // The only NotFoundException of opening: no store.
            KmsErrorKind::NotFoundException => Refused::NoStore(dir),
            _ => Refused::Kms(e),
        })?,
        Need::MayCreate => KmsCore::open(config).map_err(Refused::Kms)?,
    };
    if core.created() {
        super::terminal::stderr_line("envelope", creation_note(&core));
    }
    Ok(core)
}

fn creation_note(core: &KmsCore) -> String {
    let dir = core.keystore().display();
    let id = core.identity();
    let keep = if core.config().passphrase.is_some() {
        "kms.db; without it and ENVELOPE_PASSPHRASE"
    } else {
        "kms.db and root.key; without root.key"
    };
    format!(
        "created a new key store in {dir} (region {}, account {}); back up {keep}, \
         nothing encrypted under its keys can be decrypted again",
        id.region, id.account_id
    )
}

/// The `-v` line naming the store and its identity.
pub fn describe(core: &KmsCore) -> String {
    let id = core.identity();
    format!(
        "key store {}: region {}, account {}",
        core.keystore().display(),
        id.region,
        id.account_id
    )
}
