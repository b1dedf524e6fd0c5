//! Building keyrings from `-w` groups, as aws-encryption-cli spells them:
//! `-w provider=raw-aes key=PATH namespace=NS name=NAME`,
//! `-w provider=raw-rsa key=FILE namespace=NS name=NAME padding=...`,
//! `-w provider=raw-ecdh scheme=static|ephemeral|discovery ...` (see `ecdh.rs`),
//! `-w key=ID [key=ID...]` (KMS-core keys, any id form), `-w discovery=true`,
//! and `-k ID` as a short form of `-w key=ID`.
//!
//! With no key at all, encrypt uses the KMS core's default key (created on
//! first use) and decrypt finds the KMS-core key named in the message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use envelope::format::EncryptedDataKey;
use envelope::keyring::kms::{DiscoveryFilter, KmsKeyring, PROVIDER_ID as KMS_PROVIDER_ID};
use envelope::keyring::multi::MultiKeyring;
use envelope::keyring::raw_aes::RawAesKeyring;
use envelope::keyring::raw_rsa::{RawRsaKeyring, RsaPadding};
use envelope::keyring::{DecryptionMaterials, EncryptionMaterials, Keyring};
use envelope::kms::{Arn, DescribeKeyRequest, Kms, KmsCore, KmsError, KmsErrorKind, DEFAULT_KEY_ALIAS};
use envelope::Secret;
use zeroize::Zeroizing;

use super::error::CliError;
use super::header_info::EdkInfo;
use super::key_files::KeyFile;
use super::kms_source::{self, Source};
use super::store::{self, Need};
use super::ui::Ui;

/// One `-w` group: its single-valued options, and the repeatable `key` and
/// `discovery-account` values.
#[derive(Default)]
struct Group {
    options: BTreeMap<String, String>,
    keys: Vec<String>,
    accounts: Vec<String>,
}

/// Parses one `-w` group's `k=v` words.
fn parse_group(words: &[String]) -> Result<Group, CliError> {
    let mut g = Group::default();
    for w in words {
        let (k, v) = w
            .split_once('=')
            .ok_or_else(|| CliError::usage(format!("-w: expected key=value, got '{w}'")))?;
        match k {
            "key" => g.keys.push(v.to_owned()),
            "discovery-account" => g.accounts.push(v.to_owned()),
            _ => {
                if g.options.insert(k.to_owned(), v.to_owned()).is_some() {
                    return Err(CliError::usage(format!("-w: '{k}' given twice in one group")));
                }
            }
        }
    }
    Ok(g)
}

/// Whether the keyrings encrypt or decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Encrypt,
    Decrypt,
}

/// The key store, opened at most once per run, on first need, so that runs
/// with raw keys never touch it. Shared with decrypt's deferred keyrings.
struct Store {
    keystore: Option<PathBuf>,
    opened: OnceLock<Result<Arc<KmsCore>, CliError>>,
}

impl Store {
    fn get(&self, need: Need) -> Result<Arc<KmsCore>, CliError> {
        self.opened
            .get_or_init(|| {
                store::open(self.keystore.as_deref(), need)
                    .map(Arc::new)
                    .map_err(|r| r.into_cli(|e| CliError::from_lib("key store", e.into())))
            })
            .clone()
    }
}

/// Where a KMS keyring's keys are: the key store (opened on first need),
/// or a remote service.
#[derive(Clone)]
enum Backend {
    /// The embedded KMS core; `chosen` when `--kms embedded` said so.
    Embedded(Arc<Store>, bool),
    /// A remote service.
    Remote(Arc<dyn Kms>),
}

impl Backend {
    /// The service, with the key ids a keyring will use checked against it.
    fn kms(&self, need: Need, ids: &[String]) -> Result<Arc<dyn Kms>, CliError> {
        match self {
            Backend::Embedded(store, chosen) => {
                let core = store.get(need).map_err(|e| {
                    // A key ARN and no key store: most likely an AWS KMS key.
                    match ids.iter().find(|id| Arn::parse(id).is_some()) {
                        Some(id) if !chosen => CliError::usage(format!(
                            "{id} names a key ARN but no key service was chosen, and the embedded \
                             one failed ({}): say which: --kms aws for AWS KMS, --kms-endpoint URL \
                             for another service",
                            e.message
                        )),
                        _ => e,
                    }
                })?;
                for id in ids {
                    kms_source::check_embedded_id(id, core.identity(), *chosen)?;
                }
                Ok(core)
            }
            Backend::Remote(kms) => Ok(kms.clone()),
        }
    }
}

/// Opens the KMS core on first need (see [`Store`]), or connects to the
/// remote key service, and builds their keyrings.
pub struct KeyService<'a> {
    ui: &'a Ui,
    store: Arc<Store>,
    source: Source,
    /// The remote services of this run, one per `-w region=`/`profile=` pair.
    remotes: BTreeMap<(Option<String>, Option<String>), Arc<dyn Kms>>,
    /// Their descriptions, for `-v`.
    remote_details: Vec<String>,
    /// The first failure of a deferred keyring, to be reported as it is.
    deferred_failure: Arc<OnceLock<CliError>>,
}

impl<'a> KeyService<'a> {
    pub fn new(keystore: Option<&'a Path>, source: Source, ui: &'a Ui) -> Self {
        KeyService {
            ui,
            store: Arc::new(Store {
                keystore: keystore.map(Path::to_path_buf),
                opened: OnceLock::new(),
            }),
            source,
            remotes: BTreeMap::new(),
            remote_details: Vec::new(),
            deferred_failure: Arc::new(OnceLock::new()),
        }
    }

    /// The `-v` lines naming the key services this run used: the key store
    /// (if opened) and every remote service.
    pub fn service_details(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .remote_details
            .iter()
            .map(|d| format!("key service: {d}"))
            .collect();
        if let Some(Ok(core)) = self.store.opened.get() {
            lines.push(format!(
                "key service: the embedded KMS core, {}",
                store::describe(core)
            ));
        }
        lines
    }

    /// What turns a decrypt error back into the failure of a deferred
    /// keyring that caused it (the library saw only a stand-in).
    pub fn explainer(&self) -> Explainer {
        Explainer(self.deferred_failure.clone())
    }

    /// The backend of a KMS key with its `-w region=` and `profile=` words.
    fn backend(&mut self, region: Option<String>, profile: Option<String>) -> Result<Backend, CliError> {
        let Some(remote) = self.source.remote_for(region.clone(), profile.clone()) else {
            if let Some(word) = [("region", &region), ("profile", &profile)]
                .iter()
                .find_map(|(w, v)| v.as_ref().map(|_| w))
            {
                return Err(CliError::usage(format!(
                    "-w {word}=: unknown option for a key of the embedded key store; it applies to \
                     a remote key service (--kms aws or --kms-endpoint URL)"
                )));
            }
            let chosen = self.source == (Source::Embedded { chosen: true });
            return Ok(Backend::Embedded(self.store.clone(), chosen));
        };
        let key = (remote.region.clone(), remote.profile.clone());
        if let Some(kms) = self.remotes.get(&key) {
            return Ok(Backend::Remote(kms.clone()));
        }
        let connected = remote.connect()?;
        self.remote_details.push(connected.description);
        self.remotes.insert(key, connected.kms.clone());
        Ok(Backend::Remote(connected.kms))
    }

    /// The KMS core's default key, created on first use (with the store).
    fn default_key(&mut self) -> Result<String, CliError> {
        if let Source::Remote(_) = self.source {
            return Err(CliError::usage(
                "a remote key service has no default key: name one with -k ARN or -w key=ARN",
            ));
        }
        let core = self.store.get(Need::MayCreate)?;
        let (arn, created) = core
            .ensure_alias_key(DEFAULT_KEY_ALIAS)
            .map_err(|e| CliError::from_lib(DEFAULT_KEY_ALIAS, e.into()))?;
        if created {
            self.ui.note(format!(
                "created the default key {DEFAULT_KEY_ALIAS} ({arn}) in the key store at {}",
                core.keystore().display()
            ));
        }
        Ok(arn)
    }

    /// A strict KMS keyring: on encrypt at once (the store must exist), on
    /// decrypt deferred until a message needs it.
    fn strict(
        &mut self,
        mode: Mode,
        ids: Vec<String>,
        backend: Backend,
    ) -> Result<Box<dyn Keyring>, CliError> {
        match mode {
            Mode::Encrypt => {
                let kms = backend.kms(Need::Existing, &ids)?;
                Ok(Box::new(
                    KmsKeyring::strict(kms, ids).map_err(|e| CliError::from_lib("-w key", e))?,
                ))
            }
            Mode::Decrypt => Ok(self.deferred(Recipe::Strict(ids), backend)),
        }
    }

    /// A discovery keyring (decrypt only), deferred until a message needs it.
    fn discovery(&mut self, filter: Option<DiscoveryFilter>, backend: Backend) -> Box<dyn Keyring> {
        self.deferred(Recipe::Discovery(filter), backend)
    }

    fn deferred(&self, recipe: Recipe, backend: Backend) -> Box<dyn Keyring> {
        Box::new(Deferred {
            backend,
            recipe,
            built: OnceLock::new(),
            failure: self.deferred_failure.clone(),
        })
    }
}

/// See [`KeyService::explainer`].
pub struct Explainer(Arc<OnceLock<CliError>>);

impl Explainer {
    /// `e`, or the deferred keyring's own failure when `e` reports it.
    pub fn explain(&self, e: CliError) -> CliError {
        match self.0.get() {
            Some(f) if e.message.contains(&f.message) => f.clone(),
            _ => e,
        }
    }
}

/// How a deferred keyring is built.
enum Recipe {
    /// A strict keyring of these key ids (any form).
    Strict(Vec<String>),
    /// A discovery keyring, with or without a filter.
    Discovery(Option<DiscoveryFilter>),
}

/// A KMS keyring of decrypt, built when a message first needs it: the
/// key store is opened only once a header with an encrypted data key has
/// arrived, so `envelope encrypt | envelope decrypt` works with a store that
/// the encrypting side creates meanwhile (it does so before it writes the
/// header), and a message opened by another keyring never touches the store
/// (nor asks a remote service anything).
struct Deferred {
    backend: Backend,
    recipe: Recipe,
    built: OnceLock<Result<Box<dyn Keyring>, CliError>>,
    failure: Arc<OnceLock<CliError>>,
}

impl Deferred {
    fn build(&self) -> Result<Box<dyn Keyring>, CliError> {
        match &self.recipe {
            Recipe::Strict(ids) => {
                let kms = self.backend.kms(Need::Existing, ids)?;
                let remote = matches!(self.backend, Backend::Remote(_));
                // The message names its key by ARN and matching is exact.
                // A remote service is not asked about key ARNs: AWS policies
                // often allow kms:Decrypt without kms:DescribeKey.
                let arns = ids
                    .iter()
                    .map(|id| match Arn::parse(id) {
                        Some(arn) if remote && arn.is_kms_key() => Ok(id.clone()),
                        _ => kms
                            .describe_key(&DescribeKeyRequest { key_id: id.clone() })
                            .map(|r| r.key_metadata.arn)
                            .map_err(|e| CliError::from_lib(format!("key {id}"), e.into())),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Box::new(
                    KmsKeyring::strict(kms, arns).map_err(|e| CliError::from_lib("-w key", e))?,
                ))
            }
            Recipe::Discovery(filter) => {
                let kms = self.backend.kms(Need::Existing, &[])?;
                Ok(Box::new(
                    KmsKeyring::discovery(kms, filter.clone())
                        .map_err(|e| CliError::from_lib("-w discovery", e))?,
                ))
            }
        }
    }
}

impl Keyring for Deferred {
    fn on_encrypt(&self, _materials: &mut EncryptionMaterials) -> envelope::Result<()> {
        Err(envelope::Error::Unreachable("a deferred keyring only decrypts"))
    }

    fn on_decrypt(
        &self,
        materials: &mut DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> envelope::Result<()> {
        if materials.plaintext_data_key.is_some() {
            return Ok(());
        }
        if !edks.iter().any(|e| e.provider_id == KMS_PROVIDER_ID) {
            return Err(envelope::Error::NoDataKey(no_kms_key(edks)));
        }
        match self.built.get_or_init(|| self.build()) {
            Ok(k) => k.on_decrypt(materials, edks),
            Err(e) => {
                let _ = self.failure.set(e.clone());
                // A stand-in of the key-service kind; the CLI reports `e` itself.
                Err(envelope::Error::Kms(KmsError::new(
                    KmsErrorKind::NotFoundException,
                    e.message.clone(),
                )))
            }
        }
    }
}

/// Why a message without any KMS-core data key cannot open with a KMS-core
/// keyring, naming the keys it has, so the user knows which `-w` to give
/// (rather than a word about discovery filters; the key store is not needed).
fn no_kms_key(edks: &[EncryptedDataKey]) -> String {
    let keys: Vec<String> = edks.iter().map(|e| EdkInfo::new(e).key_label()).collect();
    format!(
        "the message has no KMS-core ({KMS_PROVIDER_ID}) key; its data key is wrapped by {}: give that key with -w",
        keys.join(", ")
    )
}

fn take(map: &mut BTreeMap<String, String>, k: &str, provider: &str) -> Result<String, CliError> {
    map.remove(k)
        .ok_or_else(|| CliError::usage(format!("-w provider={provider}: missing {k}=")))
}

/// Reads an AES wrapping key file: 16/24/32 raw bytes, or that many bytes as
/// base64 text.
///
/// Two of those forms overlap: 24 base64 characters are also 24 raw bytes
/// (an AES-192 key) and encode a 16-byte key, and 32 characters are 32 raw
/// bytes and encode a 24-byte key. `openssl rand -base64 16 | tr -d '\n'`
/// writes such a file. Whichever reading won, a user meaning the other would
/// get a different key without a word, so such a file is refused, with the
/// two ways to make it plain.
fn read_aes_key(path: &str, ui: &Ui) -> Result<Secret, CliError> {
    let file = KeyFile::read(path, "key file")?;
    file.warn_if_exposed(path, ui);
    let raw = &file.bytes;
    let text = std::str::from_utf8(raw).map(str::trim).unwrap_or("");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(Zeroizing::new)
        .ok()
        .filter(|k| matches!(k.len(), 16 | 24 | 32));
    match (matches!(raw.len(), 16 | 24 | 32), decoded) {
        (true, Some(k)) => Err(CliError::usage(format!(
            "key file {path}: ambiguous: its {} bytes are a raw AES-{} key and also the base64 text of a {}-byte key; write the raw bytes (base64 -d) or end the text with a newline",
            raw.len(),
            raw.len() * 8,
            k.len()
        ))),
        (true, None) => Ok(Secret::new(raw.to_vec())),
        (false, Some(k)) => Ok(Secret::new(k.to_vec())),
        (false, None) => Err(CliError::usage(format!(
            "key file {path}: expected a 16, 24 or 32 byte AES key, raw or base64"
        ))),
    }
}

/// The single `key=` of a raw keyring group.
fn one_key(keys: &mut Vec<String>, provider: &str) -> Result<String, CliError> {
    match keys.len() {
        1 => Ok(keys.remove(0)),
        0 => Err(CliError::usage(format!("-w provider={provider}: missing key="))),
        _ => Err(CliError::usage(format!(
            "-w provider={provider}: give one key= per group"
        ))),
    }
}

/// One keyring from one `-w` group.
fn keyring_from_group(
    words: &[String],
    mode: Mode,
    service: &mut KeyService<'_>,
) -> Result<Box<dyn Keyring>, CliError> {
    let Group {
        options: mut map,
        mut keys,
        accounts,
    } = parse_group(words)?;
    let provider = map.remove("provider").unwrap_or_default();
    let lib = |e| CliError::from_lib("-w", e);
    let partition = map.remove("discovery-partition");
    let discovery = is_discovery(&map);
    // Where a KMS key (or a discovery key's keys) lives, for a remote service.
    let kms_words = discovery || matches!(provider.as_str(), "" | "aws-kms" | "kms");
    let (region, profile) = if kms_words {
        (map.remove("region"), map.remove("profile"))
    } else {
        (None, None)
    };
    if !discovery && (partition.is_some() || !accounts.is_empty()) {
        return Err(CliError::usage(
            "-w discovery-partition= and discovery-account= filter a discovery=true key; add discovery=true",
        ));
    }
    let keyring: Box<dyn Keyring> = match provider.as_str() {
        _ if discovery => {
            map.remove("discovery");
            if mode == Mode::Encrypt {
                return Err(CliError::usage(
                    "-w discovery=true only decrypts; name a key to encrypt",
                ));
            }
            if !keys.is_empty() {
                return Err(CliError::usage("-w discovery=true takes no key="));
            }
            let backend = service.backend(region, profile)?;
            service.discovery(discovery_filter(accounts, partition)?, backend)
        }
        "" | "aws-kms" | "kms" => {
            if keys.is_empty() {
                return Err(CliError::usage(
                    "-w: give key=ID for a KMS-core key, discovery=true, or provider=raw-aes|raw-rsa|raw-ecdh",
                ));
            }
            let backend = service.backend(region, profile)?;
            service.strict(mode, keys, backend)?
        }
        "raw-aes" => {
            let path = one_key(&mut keys, &provider)?;
            let ns = take(&mut map, "namespace", &provider)?;
            let name = take(&mut map, "name", &provider)?;
            let key = read_aes_key(&path, service.ui)?;
            Box::new(RawAesKeyring::new(&ns, &name, &key).map_err(lib)?)
        }
        "raw-rsa" => {
            let path = one_key(&mut keys, &provider)?;
            let ns = take(&mut map, "namespace", &provider)?;
            let name = take(&mut map, "name", &provider)?;
            let padding: RsaPadding = take(&mut map, "padding", &provider)?
                .parse()
                .map_err(|e| CliError::usage(format!("-w padding: {e}")))?;
            let file = KeyFile::read(&path, "key file")?;
            let keyring =
                RawRsaKeyring::from_key_file(&ns, &name, padding, &path, &file.bytes).map_err(lib)?;
            if keyring.has_private_key() {
                file.warn_if_exposed(&path, service.ui);
            }
            Box::new(keyring)
        }
        "raw-ecdh" => {
            if !keys.is_empty() {
                return Err(CliError::usage(
                    "-w provider=raw-ecdh takes no key=; name the key files with sender-key=, \
                     recipient-public-key= or recipient-key=",
                ));
            }
            Box::new(super::ecdh::keyring(&mut map, mode, service.ui)?)
        }
        other => return Err(CliError::usage(format!("-w: unknown provider '{other}'"))),
    };
    if let Some(k) = map.keys().next() {
        // Named as typed, with the kind of key it was given to.
        let kind = match provider.as_str() {
            _ if discovery => "a discovery=true key".to_owned(),
            "" => "a KMS-core key (key=ID)".to_owned(),
            p => format!("provider={p}"),
        };
        return Err(CliError::usage(format!("-w {k}=: unknown option for {kind}")));
    }
    Ok(keyring)
}

fn is_discovery(options: &BTreeMap<String, String>) -> bool {
    options.get("discovery").is_some_and(|d| d == "true")
}

/// The filter of a discovery key: both halves or neither, as in
/// aws-encryption-cli (a partition alone would filter nothing; accounts
/// alone leave the partition to a guess).
fn discovery_filter(
    accounts: Vec<String>,
    partition: Option<String>,
) -> Result<Option<DiscoveryFilter>, CliError> {
    match (accounts.is_empty(), partition) {
        (true, None) => Ok(None),
        (false, Some(partition)) => Ok(Some(DiscoveryFilter {
            partition,
            account_ids: accounts,
        })),
        (true, Some(_)) => Err(CliError::usage(
            "-w discovery-partition= needs discovery-account= (the accounts whose keys may decrypt)",
        )),
        (false, None) => Err(CliError::usage(
            "-w discovery-account= needs discovery-partition= (aws, aws-cn, aws-us-gov, ...)",
        )),
    }
}

/// Refuses `-w discovery=true` beside KMS keys named with `-k` or `-w key=`:
/// discovery accepts every KMS-core key, so the named keys would restrict
/// nothing, which is what a user naming them means.
fn refuse_discovery_mix(groups: &[Vec<String>], key_ids: &[String]) -> Result<(), CliError> {
    let mut discovery = false;
    let mut named = !key_ids.is_empty();
    for g in groups
        .iter()
        .map(|w| parse_group(w))
        .collect::<Result<Vec<_>, _>>()?
    {
        let kms = matches!(
            g.options.get("provider").map(String::as_str),
            None | Some("aws-kms" | "kms")
        );
        if is_discovery(&g.options) {
            discovery = true;
        } else if kms && !g.keys.is_empty() {
            named = true;
        }
    }
    if discovery && named {
        return Err(CliError::usage(
            "-w discovery=true accepts any KMS-core key, so it cannot go with KMS keys named by -k or -w key=: \
             give one or the other",
        ));
    }
    Ok(())
}

/// The keyring for all `-w` groups and `-k` ids: one keyring, or a
/// multi-keyring whose first member generates the data key. With none,
/// encrypt uses the default KMS-core key and decrypt uses discovery.
pub fn keyring_from_args(
    groups: &[Vec<String>],
    key_ids: &[String],
    mode: Mode,
    service: &mut KeyService<'_>,
) -> Result<Box<dyn Keyring>, CliError> {
    if mode == Mode::Decrypt {
        refuse_discovery_mix(groups, key_ids)?;
    }
    let mut rings = groups
        .iter()
        .map(|g| keyring_from_group(g, mode, service))
        .collect::<Result<Vec<_>, _>>()?;
    if !key_ids.is_empty() {
        let backend = service.backend(None, None)?;
        rings.push(service.strict(mode, key_ids.to_vec(), backend)?);
    }
    match rings.len() {
        0 => {
            let backend = service.backend(None, None)?;
            match mode {
                Mode::Encrypt => {
                    let arn = service.default_key()?;
                    service.strict(mode, vec![arn], backend)
                }
                Mode::Decrypt => Ok(service.discovery(None, backend)),
            }
        }
        1 => Ok(rings.remove(0)),
        _ => {
            let generator = rings.remove(0);
            Ok(Box::new(
                MultiKeyring::new(Some(generator), rings).map_err(|e| CliError::from_lib("-w", e))?,
            ))
        }
    }
}
