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
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use envelope::format::EncryptedDataKey;
use envelope::keyring::kms::{DiscoveryFilter, KmsKeyring, PROVIDER_ID as KMS_PROVIDER_ID};
use envelope::keyring::multi::MultiKeyring;
use envelope::keyring::raw_aes::RawAesKeyring;
use envelope::keyring::raw_rsa::{RawRsaKeyring, RsaPadding};
use envelope::keyring::{DecryptionMaterials, EncryptionMaterials, Keyring};
use envelope::kms::{DescribeKeyRequest, Kms, KmsCore, KmsError, KmsErrorKind, DEFAULT_KEY_ALIAS};
use envelope::Secret;
use zeroize::Zeroizing;

use super::error::CliError;
use super::header_info::EdkInfo;
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

/// Opens the KMS core on first need (see [`Store`]), and builds its keyrings.
pub struct KeyService<'a> {
    ui: &'a Ui,
    store: Arc<Store>,
    /// The first failure of a deferred keyring, to be reported as it is.
    deferred_failure: Arc<OnceLock<CliError>>,
}

impl<'a> KeyService<'a> {
    pub fn new(keystore: Option<&'a Path>, ui: &'a Ui) -> Self {
        KeyService {
            ui,
            store: Arc::new(Store {
                keystore: keystore.map(Path::to_path_buf),
                opened: OnceLock::new(),
            }),
            deferred_failure: Arc::new(OnceLock::new()),
        }
    }

    /// The `-v` line about the key store, if this run opened it.
    pub fn store_detail(&self) -> Option<String> {
        match self.store.opened.get() {
            Some(Ok(core)) => Some(store::describe(core)),
            _ => None,
        }
    }

    /// What turns a decrypt error back into the failure of a deferred
    /// keyring that caused it (the library saw only a stand-in).
    pub fn explainer(&self) -> Explainer {
        Explainer(self.deferred_failure.clone())
    }

    /// The KMS core's default key, created on first use (with the store).
    fn default_key(&mut self) -> Result<String, CliError> {
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
    fn strict(&mut self, mode: Mode, ids: Vec<String>) -> Result<Box<dyn Keyring>, CliError> {
        match mode {
            Mode::Encrypt => {
                let kms: Arc<dyn Kms> = self.store.get(Need::Existing)?;
                Ok(Box::new(
                    KmsKeyring::strict(kms, ids).map_err(|e| CliError::from_lib("-w key", e))?,
                ))
            }
            Mode::Decrypt => Ok(self.deferred(Recipe::Strict(ids))),
        }
    }

    /// A discovery keyring (decrypt only), deferred until a message needs it.
    fn discovery(&mut self, filter: Option<DiscoveryFilter>) -> Box<dyn Keyring> {
        self.deferred(Recipe::Discovery(filter))
    }

    fn deferred(&self, recipe: Recipe) -> Box<dyn Keyring> {
        Box::new(Deferred {
            store: self.store.clone(),
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

/// A KMS-core keyring of decrypt, built when a message first needs it: the
/// key store is opened only once a header with an encrypted data key has
/// arrived, so `envelope encrypt | envelope decrypt` works with a store that
/// the encrypting side creates meanwhile (it does so before it writes the
/// header), and a message opened by another keyring never touches the store.
struct Deferred {
    store: Arc<Store>,
    recipe: Recipe,
    built: OnceLock<Result<Box<dyn Keyring>, CliError>>,
    failure: Arc<OnceLock<CliError>>,
}

impl Deferred {
    fn build(&self) -> Result<Box<dyn Keyring>, CliError> {
        let core = self.store.get(Need::Existing)?;
        match &self.recipe {
            Recipe::Strict(ids) => {
                // The message names its key by ARN and matching is exact.
                let arns = ids
                    .iter()
                    .map(|id| {
                        core.describe_key(&DescribeKeyRequest { key_id: id.clone() })
                            .map(|r| r.key_metadata.arn)
                            .map_err(|e| CliError::from_lib(format!("key {id}"), e.into()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let kms: Arc<dyn Kms> = core;
                Ok(Box::new(
                    KmsKeyring::strict(kms, arns).map_err(|e| CliError::from_lib("-w key", e))?,
                ))
            }
            Recipe::Discovery(filter) => {
                let kms: Arc<dyn Kms> = core;
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

/// Reads an AES wrapping key file: 16/24/32 raw bytes, or that many bytes as base64 text.
fn read_aes_key(path: &str) -> Result<Secret, CliError> {
    let raw = Zeroizing::new(fs::read(path).map_err(|e| CliError::io(format!("key file {path}"), e))?);
    if matches!(raw.len(), 16 | 24 | 32) {
        return Ok(Secret::new(raw.to_vec()));
    }
    let text = std::str::from_utf8(&raw).map(str::trim).unwrap_or("");
    match base64::engine::general_purpose::STANDARD.decode(text) {
        Ok(k) if matches!(k.len(), 16 | 24 | 32) => Ok(Secret::new(k)),
        _ => Err(CliError::usage(format!(
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
            service.discovery(discovery_filter(accounts, partition)?)
        }
        "" | "aws-kms" | "kms" => {
            if keys.is_empty() {
                return Err(CliError::usage(
                    "-w: give key=ID for a KMS-core key, discovery=true, or provider=raw-aes|raw-rsa|raw-ecdh",
                ));
            }
            service.strict(mode, keys)?
        }
        "raw-aes" => {
            let path = one_key(&mut keys, &provider)?;
            let ns = take(&mut map, "namespace", &provider)?;
            let name = take(&mut map, "name", &provider)?;
            let key = read_aes_key(&path)?;
            Box::new(RawAesKeyring::new(&ns, &name, &key).map_err(lib)?)
        }
        "raw-rsa" => {
            let path = one_key(&mut keys, &provider)?;
            let ns = take(&mut map, "namespace", &provider)?;
            let name = take(&mut map, "name", &provider)?;
            let padding: RsaPadding = take(&mut map, "padding", &provider)?
                .parse()
                .map_err(|e| CliError::usage(format!("-w padding: {e}")))?;
            let bytes =
                Zeroizing::new(fs::read(&path).map_err(|e| CliError::io(format!("key file {path}"), e))?);
            Box::new(RawRsaKeyring::from_key_file(&ns, &name, padding, &path, &bytes).map_err(lib)?)
        }
        "raw-ecdh" => {
            if !keys.is_empty() {
                return Err(CliError::usage(
                    "-w provider=raw-ecdh takes no key=; name the key files with sender-key=, \
                     recipient-public-key= or recipient-key=",
                ));
            }
            Box::new(super::ecdh::keyring(&mut map, mode)?)
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
        rings.push(service.strict(mode, key_ids.to_vec())?);
    }
    match rings.len() {
        0 => match mode {
            Mode::Encrypt => {
                let arn = service.default_key()?;
                service.strict(mode, vec![arn])
            }
            Mode::Decrypt => Ok(service.discovery(None)),
        },
        1 => Ok(rings.remove(0)),
        _ => {
            let generator = rings.remove(0);
            Ok(Box::new(
                MultiKeyring::new(Some(generator), rings).map_err(|e| CliError::from_lib("-w", e))?,
            ))
        }
    }
}
