//! Runs the official AWS Encryption SDK decrypt vectors kept in `../shared/vectors`.
//!
//! Each folder there holds messages written by another ESDK implementation. Its
//! README fixes how a harness reads the manifests, and `expectations.json` says
//! what a spec-compliant decryptor must do with every test (it wins where a
//! manifest disagrees). A positive case must decrypt to the expected plaintext,
//! one-shot and streaming; a negative case must fail both ways, the one-shot call
//! releasing no plaintext. (The streaming call may already have written frames it
//! authenticated before it hit the bad part, so for it only the failure counts.)
//!
//! Cases that need real AWS KMS are reported as skipped, never as passes, and the
//! passes of every folder must add up to the runnable cases the expectations
//! list, so a case that is silently dropped fails the test.
//!
//! Two sets are read: `../shared/vectors` (raw AES and RSA keys, decrypt
//! manifests v2 and v4, and two folders of their own layout) and
//! `../shared/vectors-ecdh` (raw ECDH keys, decrypt manifest v5 with keys
//! manifest v2), each with its own `expectations.json`.
//!
//! The vectors live outside the repository and are found by
//! `support::shared`: when `../shared` is absent the tests say so and pass
//! (fail under `CI=true`); when it is present, a missing or unreadable vector
//! folder, manifest or expectations file fails them.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{Map, Value};

use envelope::format::EncryptedDataKey;
use envelope::keyring::multi::MultiKeyring;
use envelope::keyring::raw_aes::RawAesKeyring;
use envelope::keyring::raw_ecdh::{Curve, EcdhPrivateKey, EcdhPublicKey, RawEcdhKeyring};
use envelope::keyring::raw_rsa::{RawRsaKeyring, RsaPadding};
use envelope::keyring::{DecryptionMaterials, EncryptionMaterials, Keyring};
use envelope::stream::{decrypt, decrypt_stream, DecryptOptions};
use envelope::Secret;
use envelope::{CommitmentPolicy, EncryptionContext, Error};

use crate::support::shared;

/// Folders that `expectations.json` describes only in prose (its `_notes`), with
/// the counts its README table gives: plaintext, error, skip.
const NOTED_FOLDERS: [(&str, Tally); 2] = [
    ("python-commitment", Tally::new(41, 5, 0)),
    ("python-decrypt-oracle", Tally::new(18, 0, 9)),
];

/// The two `python-commitment` cases of keyring type `static` use this raw AES key.
const COMMITMENT_STATIC_NAMESPACE: &str = "ProviderName";
const COMMITMENT_STATIC_NAME: &str = "KeyId";
const COMMITMENT_STATIC_KEY: [u8; 32] = [0; 32];

/// The EDK ciphertext the decrypt oracle's `test_counting` provider writes.
const COUNTING_EDK: [u8; 5] = [0x40, 0x41, 0x42, 0x43, 0x44];

/// One shared folder of vector folders, with its own `expectations.json`.
struct VectorSet {
    /// The folder's name under `../shared`.
    dir: &'static str,
    /// Its folders that the expectations describe only in prose.
    noted: &'static [(&'static str, Tally)],
}

/// The official raw AES / raw RSA vectors.
const OFFICIAL: VectorSet = VectorSet {
    dir: "vectors",
    noted: &NOTED_FOLDERS,
};

/// The official raw ECDH vectors.
const ECDH: VectorSet = VectorSet {
    dir: "vectors-ecdh",
    noted: &[],
};

#[test]
fn manifests_match_expectations() {
    check_manifests(&OFFICIAL);
}

#[test]
fn official_vectors_decrypt_as_expected() {
    decrypt_set(&OFFICIAL);
}

#[test]
fn ecdh_manifests_match_expectations() {
    check_manifests(&ECDH);
}

#[test]
fn ecdh_vectors_decrypt_as_expected() {
    decrypt_set(&ECDH);
}

/// Checks, without decrypting anything, that every folder's manifests load and
/// that the parsed cases match `expectations.json` case for case.
fn check_manifests(set: &VectorSet) {
    let Some(root) = vectors_root(set) else { return };
    let expectations = read_json(&root.join("expectations.json")).expect("expectations.json");
    let mut problems = Vec::new();
    for folder in folders(&root, &expectations, set).expect("vector folders") {
        let want = match expected_tally(&expectations, &folder, set) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("{folder}: {e}"));
                continue;
            }
        };
        match load_folder(&root.join(&folder), &expectations) {
            Ok(cases) => {
                let got = Tally::of(&cases);
                println!("vectors: {folder}: parsed {} cases: {got}", cases.len());
                if got != want {
                    problems.push(format!("{folder}: parsed {got}, expectations say {want}"));
                }
            }
            Err(e) => problems.push(format!("{folder}: {e}")),
        }
    }
    assert!(problems.is_empty(), "manifest problems:\n{}", problems.join("\n"));
}

/// Decrypts every vector of a set and checks each result against its expectation.
fn decrypt_set(set: &VectorSet) {
    let Some(root) = vectors_root(set) else { return };
    let expectations = read_json(&root.join("expectations.json")).expect("expectations.json");
    let mut problems = Vec::new();
    let mut total = 0usize;
    for folder in folders(&root, &expectations, set).expect("vector folders") {
        let cases = match load_folder(&root.join(&folder), &expectations) {
            Ok(cases) => cases,
            Err(e) => {
                problems.push(format!("{folder}: cannot load: {e}"));
                continue;
            }
        };
        let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
        for case in &cases {
            match run_case(case) {
                Outcome::Pass => passed += 1,
                Outcome::Skip(why) => {
                    skipped += 1;
                    println!("vectors: {folder}/{}: skipped ({why})", case.name);
                }
                Outcome::Fail(why) => {
                    failed += 1;
                    problems.push(format!("{folder}/{}: {why}", case.name));
                }
            }
        }
        println!("vectors: {folder}: {passed} passed, {failed} failed, {skipped} skipped");
        total += passed;
        match expected_tally(&expectations, &folder, set) {
            Ok(want) => {
                if passed != want.plaintext + want.error || skipped != want.skip {
                    problems.push(format!(
                        "{folder}: {passed} passed and {skipped} skipped, but expectations list {} runnable \
                         and {} to skip",
                        want.plaintext + want.error,
                        want.skip
                    ));
                }
            }
            Err(e) => problems.push(format!("{folder}: {e}")),
        }
    }
    assert!(
        problems.is_empty(),
        "{} vector problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(total > 0, "no vector of the shared {} set ran", set.dir);
}

// ---------------------------------------------------------------------------
// Cases

/// One test vector, ready to run.
struct Case {
    name: String,
    message: Vec<u8>,
    keys: Keys,
    /// Passed as the reproduced encryption context (manifest v4 only).
    reproduced: EncryptionContext,
    expect: Expect,
}

/// What a case must do.
enum Expect {
    Plaintext(Vec<u8>),
    /// Decryption must fail; with `commitment`, with a key-commitment mismatch.
    Error {
        commitment: bool,
    },
    /// Cannot run offline; the reason is printed.
    Skip(String),
}

/// Where a case's data key comes from.
enum Keys {
    /// Raw wrapping keys: the first generates, the rest are children of a multi-keyring.
    Raw(Vec<RawKey>),
    /// The published plaintext data key (python-commitment's KMS cases).
    DataKey(Vec<u8>),
    /// One of the decrypt oracle's test providers.
    Oracle(OracleKeyring),
    /// One raw ECDH keyring (manifest v5).
    Ecdh(EcdhKey),
    /// Only AWS KMS could supply it.
    None,
}

/// A raw keyring's configuration as the manifests describe it.
struct RawKey {
    namespace: String,
    name: String,
    wrap: Wrap,
}

enum Wrap {
    Aes(Vec<u8>),
    /// `pem` is the PKCS#8 private key when `private`, else the SPKI public key
    /// (a key that can never unwrap).
    Rsa {
        padding: Padding,
        pem: String,
        private: bool,
    },
}

/// The manifests' RSA padding names, kept apart from the library's type until a
/// keyring is built.
#[derive(Debug, Clone, Copy)]
enum Padding {
    Pkcs1,
    OaepSha1,
    OaepSha256,
    OaepSha384,
    OaepSha512,
}

impl Padding {
    fn parse(algorithm: &str, hash: Option<&str>) -> Result<Self, String> {
        let hash = hash.map(|h| h.to_ascii_lowercase().replace('-', ""));
        match (algorithm, hash.as_deref()) {
            ("pkcs1", _) => Ok(Padding::Pkcs1),
            ("oaep-mgf1", Some("sha1")) => Ok(Padding::OaepSha1),
            ("oaep-mgf1", Some("sha256")) => Ok(Padding::OaepSha256),
            ("oaep-mgf1", Some("sha384")) => Ok(Padding::OaepSha384),
            ("oaep-mgf1", Some("sha512")) => Ok(Padding::OaepSha512),
            _ => Err(format!("unknown RSA padding {algorithm:?} / {hash:?}")),
        }
    }

    fn to_api(self) -> RsaPadding {
        match self {
            Padding::Pkcs1 => RsaPadding::Pkcs1,
            Padding::OaepSha1 => RsaPadding::OaepSha1,
            Padding::OaepSha256 => RsaPadding::OaepSha256,
            Padding::OaepSha384 => RsaPadding::OaepSha384,
            Padding::OaepSha512 => RsaPadding::OaepSha512,
        }
    }
}

/// Counts of cases by expectation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    plaintext: usize,
    error: usize,
    skip: usize,
}

impl Tally {
    const fn new(plaintext: usize, error: usize, skip: usize) -> Tally {
        Tally {
            plaintext,
            error,
            skip,
        }
    }

    fn of(cases: &[Case]) -> Tally {
        let mut t = Tally::default();
        for c in cases {
            match c.expect {
                Expect::Plaintext(_) => t.plaintext += 1,
                Expect::Error { .. } => t.error += 1,
                Expect::Skip(_) => t.skip += 1,
            }
        }
        t
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} plaintext, {} error, {} skip",
            self.plaintext, self.error, self.skip
        )
    }
}

// ---------------------------------------------------------------------------
// Loading

/// A set's folder, or `None` (after saying so) when `../shared` is absent.
#[track_caller]
fn vectors_root(set: &VectorSet) -> Option<PathBuf> {
    shared::folder(set.dir)
}

/// The vector folders on disk, checked against the folders the expectations name
/// so that a folder cannot go unnoticed either way.
fn folders(root: &Path, expectations: &Value, set: &VectorSet) -> Result<Vec<String>, String> {
    let mut on_disk = BTreeSet::new();
    for entry in fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.path().is_dir() {
            on_disk.insert(entry.file_name().to_string_lossy().into_owned());
        }
    }
    let mut known: BTreeSet<String> = object(expectations, "expectations.json")?
        .keys()
        .filter(|k| !k.starts_with('_'))
        .cloned()
        .collect();
    known.extend(set.noted.iter().map(|(f, _)| f.to_string()));
    if on_disk != known {
        return Err(format!(
            "folders on disk {on_disk:?} differ from those expected {known:?}"
        ));
    }
    Ok(on_disk.into_iter().collect())
}

/// How many cases of `folder` must decrypt, fail, and be skipped.
fn expected_tally(expectations: &Value, folder: &str, set: &VectorSet) -> Result<Tally, String> {
    if let Some((_, t)) = set.noted.iter().find(|(f, _)| *f == folder) {
        return Ok(*t);
    }
    let mut t = Tally::default();
    for (name, entry) in object(&expectations[folder], folder)? {
        match str_field(entry, "expect", name)? {
            "plaintext" => t.plaintext += 1,
            "error" => t.error += 1,
            s if s.starts_with("skip") => t.skip += 1,
            s => return Err(format!("{name}: unknown expectation {s:?}")),
        }
    }
    Ok(t)
}

/// Loads one folder with the reader its files call for.
fn load_folder(dir: &Path, expectations: &Value) -> Result<Vec<Case>, String> {
    let folder = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if dir.join("manifest.json").is_file() {
        load_manifest_folder(dir, object(&expectations[folder.as_str()], &folder)?)
    } else if dir.join("commitment-test-vectors.json").is_file() {
        load_commitment(&dir.join("commitment-test-vectors.json"))
    } else if dir.join("decrypt_vectors.json").is_file() {
        load_decrypt_oracle(&dir.join("decrypt_vectors.json"))
    } else {
        Err("no manifest this harness knows".into())
    }
}

/// A folder with an `awses-decrypt` manifest (v2 or v4) and a keys manifest.
fn load_manifest_folder(dir: &Path, expect: &Map<String, Value>) -> Result<Vec<Case>, String> {
    let manifest = read_json(&dir.join("manifest.json"))?;
    let kind = str_field(&manifest["manifest"], "type", "manifest")?;
    let version = manifest["manifest"]["version"].as_u64();
    if kind == "awses-decrypt" && version == Some(5) {
        return load_v5_folder(dir, &manifest, expect);
    }
    if kind != "awses-decrypt" || !matches!(version, Some(2) | Some(4)) {
        return Err(format!("unsupported manifest {kind} version {version:?}"));
    }
    let keys = KeysManifest::load(&resolve(dir, str_field(&manifest, "keys", "manifest")?)?)?;

    let mut cases = Vec::new();
    let tests = object(&manifest["tests"], "tests")?;
    for (name, test) in tests {
        let err = |e: String| format!("{name}: {e}");
        let entry = expect
            .get(name)
            .ok_or_else(|| err("not in expectations.json".into()))?;
        let message =
            fs::read(resolve(dir, str_field(test, "ciphertext", name)?)?).map_err(|e| err(e.to_string()))?;

        let mut raw = Vec::new();
        for mk in array(&test["master-keys"], "master-keys").map_err(err)? {
            match str_field(mk, "type", name)? {
                "raw" => raw.push(keys.raw_key(mk).map_err(err)?),
                t if t.starts_with("aws-kms") => {}
                t => return Err(err(format!("unknown master key type {t:?}"))),
            }
        }
        let reproduced = match test.get("encryption-context") {
            Some(ec) => context(ec).map_err(err)?,
            None => EncryptionContext::new(),
        };
        if let Some(needed) = entry.get("needs_reproduced_encryption_context") {
            if context(needed).map_err(err)? != reproduced {
                return Err(err(
                    "manifest and expectations disagree on the encryption context".into(),
                ));
            }
        }

        let expect = match str_field(entry, "expect", name)? {
            "plaintext" => {
                let uri = test["result"]["output"]["plaintext"]
                    .as_str()
                    .ok_or_else(|| err("expected plaintext but the manifest names none".into()))?;
                Expect::Plaintext(fs::read(resolve(dir, uri)?).map_err(|e| err(e.to_string()))?)
            }
            "error" => Expect::Error { commitment: false },
            s if s.starts_with("skip") => Expect::Skip(s.to_string()),
            s => return Err(err(format!("unknown expectation {s:?}"))),
        };
        // The README's rule (no raw key left: skip) and the expectations must agree.
        if raw.is_empty() != matches!(expect, Expect::Skip(_)) {
            return Err(err("has no raw key but is not a skip, or the reverse".into()));
        }
        let keys = if raw.is_empty() {
            Keys::None
        } else {
            Keys::Raw(raw)
        };
        cases.push(Case {
            name: name.clone(),
            message,
            keys,
            reproduced,
            expect,
        });
    }
    if let Some(missing) = expect.keys().find(|k| !tests.contains_key(*k)) {
        return Err(format!("{missing}: in expectations.json but not in the manifest"));
    }
    Ok(cases)
}

/// A keys manifest (v1-v3): named keys with their material.
struct KeysManifest {
    keys: Map<String, Value>,
}

impl KeysManifest {
    fn load(path: &Path) -> Result<Self, String> {
        let json = read_json(path)?;
        let kind = str_field(&json["manifest"], "type", "keys manifest")?;
        let version = json["manifest"]["version"].as_u64();
        if kind != "keys" || !matches!(version, Some(1..=3)) {
            return Err(format!("unsupported keys manifest {kind} version {version:?}"));
        }
        Ok(KeysManifest {
            keys: object(&json["keys"], "keys")?.clone(),
        })
    }

    /// The raw keyring a test's `master-keys` entry describes.
    fn raw_key(&self, mk: &Value) -> Result<RawKey, String> {
        let key_ref = str_field(mk, "key", "master key")?;
        let spec = self
            .keys
            .get(key_ref)
            .ok_or_else(|| format!("key {key_ref:?} not in the keys manifest"))?;
        let namespace = str_field(mk, "provider-id", key_ref)?.to_string();
        let name = spec
            .get("key-id")
            .and_then(Value::as_str)
            .unwrap_or(key_ref)
            .to_string();
        let key_type = str_field(spec, "type", key_ref)?;
        let can_decrypt = spec["decrypt"].as_bool() != Some(false) && key_type != "public";
        let material = material(spec).map_err(|e| format!("{key_ref}: {e}"))?;

        let wrap = match str_field(mk, "encryption-algorithm", key_ref)? {
            "aes" => {
                if key_type != "symmetric" || !can_decrypt {
                    return Err(format!(
                        "{key_ref}: unsupported AES key (type {key_type}, decrypt {can_decrypt})"
                    ));
                }
                let bytes = match spec["encoding"].as_str() {
                    Some("base64") => BASE64
                        .decode(material.trim())
                        .map_err(|e| format!("{key_ref}: {e}"))?,
                    other => return Err(format!("{key_ref}: unsupported AES encoding {other:?}")),
                };
                if ![16, 24, 32].contains(&bytes.len()) {
                    return Err(format!("{key_ref}: AES key of {} bytes", bytes.len()));
                }
                Wrap::Aes(bytes)
            }
            "rsa" => {
                let padding = Padding::parse(
                    str_field(mk, "padding-algorithm", key_ref)?,
                    mk.get("padding-hash").and_then(Value::as_str),
                )?;
                let private = match key_type {
                    "private" if can_decrypt => true,
                    "public" => false,
                    _ => return Err(format!("{key_ref}: unsupported RSA key (type {key_type})")),
                };
                if !material.starts_with("-----BEGIN ") {
                    return Err(format!("{key_ref}: RSA material is not PEM"));
                }
                Wrap::Rsa {
                    padding,
                    pem: material,
                    private,
                }
            }
            other => return Err(format!("{key_ref}: unknown encryption algorithm {other:?}")),
        };
        Ok(RawKey {
            namespace,
            name,
            wrap,
        })
    }
}

/// A key's material: one string (v3) or lines joined with `line-separator` (v1).
fn material(spec: &Value) -> Result<String, String> {
    match &spec["material"] {
        Value::String(s) => Ok(s.clone()),
        Value::Array(lines) => {
            let sep = spec.get("line-separator").and_then(Value::as_str).unwrap_or("");
            let lines: Option<Vec<&str>> = lines.iter().map(Value::as_str).collect();
            Ok(lines.ok_or("material lines are not all strings")?.join(sep))
        }
        _ => Err("no material".into()),
    }
}

/// python-commitment: messages with their plaintext data keys.
fn load_commitment(path: &Path) -> Result<Vec<Case>, String> {
    let json = read_json(path)?;
    let mut cases = Vec::new();
    for (i, test) in array(&json["tests"], "tests")?.iter().enumerate() {
        let name = test["comment"]
            .as_str()
            .map_or_else(|| format!("test {}", i + 1), str::to_string);
        let err = |e: String| format!("{name}: {e}");
        let message = b64_field(test, "ciphertext").map_err(err)?;
        let keys = match str_field(test, "keyring-type", &name)? {
            "static" => Keys::Raw(vec![RawKey {
                namespace: COMMITMENT_STATIC_NAMESPACE.into(),
                name: COMMITMENT_STATIC_NAME.into(),
                wrap: Wrap::Aes(COMMITMENT_STATIC_KEY.to_vec()),
            }]),
            "aws-kms" => Keys::DataKey(b64_field(test, "decrypted-dek").map_err(err)?),
            t => return Err(err(format!("unknown keyring type {t:?}"))),
        };
        let expect = match test["status"].as_bool() {
            Some(true) => {
                let mut plaintext = Vec::new();
                for frame in array(&test["plaintext-frames"], "plaintext-frames").map_err(err)? {
                    let frame = frame
                        .as_str()
                        .ok_or_else(|| err("non-string plaintext frame".into()))?;
                    plaintext.extend_from_slice(frame.as_bytes());
                }
                Expect::Plaintext(plaintext)
            }
            Some(false) => Expect::Error { commitment: true },
            None => return Err(err("no status".into())),
        };
        cases.push(Case {
            name,
            message,
            keys,
            reproduced: EncryptionContext::new(),
            expect,
        });
    }
    Ok(cases)
}

/// python-decrypt-oracle: messages under the oracle's test providers or AWS KMS.
fn load_decrypt_oracle(path: &Path) -> Result<Vec<Case>, String> {
    let json = read_json(path)?;
    let mut cases = Vec::new();
    for (i, test) in array(&json, "decrypt vectors")?.iter().enumerate() {
        let key_type = str_field(test, "key-type", "decrypt vector")?;
        let suite = test["algorithm-suite"].as_str().unwrap_or("?");
        let name = format!("{i:02}-{key_type}-{suite}");
        let err = |e: String| format!("{name}: {e}");
        let message = b64_field(test, "ciphertext").map_err(err)?;
        let plaintext = b64_field(test, "plaintext").map_err(err)?;
        let (keys, expect) = match key_type {
            "null" => (Keys::Oracle(OracleKeyring::Null), Expect::Plaintext(plaintext)),
            "test_counting" => (
                Keys::Oracle(OracleKeyring::Counting),
                Expect::Plaintext(plaintext),
            ),
            "aws-kms" => (Keys::None, Expect::Skip("needs AWS KMS".into())),
            t => return Err(err(format!("unknown key type {t:?}"))),
        };
        cases.push(Case {
            name,
            message,
            keys,
            reproduced: EncryptionContext::new(),
            expect,
        });
    }
    Ok(cases)
}

// ---------------------------------------------------------------------------
// Running

enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

fn run_case(case: &Case) -> Outcome {
    if let Expect::Skip(why) = &case.expect {
        return Outcome::Skip(why.clone());
    }
    let keyring = match build_keyring(&case.keys) {
        Ok(k) => k,
        Err(e) => return Outcome::Fail(format!("cannot build the keyring: {e}")),
    };
    let opts = DecryptOptions {
        commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
        reproduced_encryption_context: case.reproduced.clone(),
        ..Default::default()
    };
    let keyring = keyring.as_ref();

    let one_shot = decrypt(keyring, &opts, &case.message).map(|d| d.plaintext);
    let mut whole = Vec::new();
    let streamed =
        decrypt_stream(keyring, &opts, &case.message[..], &mut whole).map(|s| (s.bytes_out, whole));
    let mut pieces = Vec::new();
    let trickled = decrypt_stream(keyring, &opts, Trickle::new(&case.message), &mut pieces)
        .map(|s| (s.bytes_out, pieces));

    let mut faults = Vec::new();
    match &case.expect {
        Expect::Plaintext(want) => {
            match one_shot {
                Ok(got) if got == *want => {}
                Ok(got) => faults.push(format!(
                    "one-shot: wrong plaintext ({} bytes, want {})",
                    got.len(),
                    want.len()
                )),
                Err(e) => faults.push(format!("one-shot: {e}")),
            }
            for (how, result) in [("streaming", streamed), ("streaming in small reads", trickled)] {
                match result {
                    Ok((n, got)) if got == *want && n == want.len() as u64 => {}
                    Ok((n, got)) => faults.push(format!(
                        "{how}: wrong plaintext ({} bytes written, {n} reported, want {})",
                        got.len(),
                        want.len()
                    )),
                    Err(e) => faults.push(format!("{how}: {e}")),
                }
            }
        }
        Expect::Error { commitment } => {
            let results = [
                ("one-shot", one_shot.map(|p| p.len() as u64)),
                ("streaming", streamed.map(|(n, _)| n)),
                ("streaming in small reads", trickled.map(|(n, _)| n)),
            ];
            for (how, result) in results {
                match result {
                    Ok(n) => faults.push(format!("{how}: decrypted ({n} bytes) but must fail")),
                    Err(Error::Commitment) => {}
                    Err(e) if *commitment => {
                        faults.push(format!("{how}: want a commitment failure, got: {e}"))
                    }
                    Err(_) => {}
                }
            }
        }
        Expect::Skip(_) => unreachable!("skips return early"),
    }
    if faults.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(faults.join("; "))
    }
}

/// The keyring a case decrypts with.
fn build_keyring(keys: &Keys) -> Result<Box<dyn Keyring>, String> {
    match keys {
        Keys::Raw(raw) => {
            let mut keyrings = raw
                .iter()
                .map(raw_keyring)
                .collect::<Result<Vec<_>, _>>()?
                .into_iter();
            let generator = keyrings.next().ok_or("no raw key")?;
            let multi = MultiKeyring::new(Some(generator), keyrings.collect()).map_err(|e| e.to_string())?;
            Ok(Box::new(multi))
        }
        Keys::DataKey(key) => Ok(Box::new(DataKeyKeyring { key: key.clone() })),
        Keys::Oracle(oracle) => Ok(Box::new(*oracle)),
        Keys::Ecdh(key) => key.keyring(),
        Keys::None => Err("no offline key".into()),
    }
}

fn raw_keyring(key: &RawKey) -> Result<Box<dyn Keyring>, String> {
    let what = |e: Error| format!("{}/{}: {e}", key.namespace, key.name);
    match &key.wrap {
        Wrap::Aes(bytes) => Ok(Box::new(
            RawAesKeyring::new(&key.namespace, &key.name, bytes).map_err(what)?,
        )),
        Wrap::Rsa {
            padding,
            pem,
            private,
        } => {
            let (public_pem, private_pem) = if *private {
                (None, Some(pem.as_bytes()))
            } else {
                (Some(pem.as_bytes()), None)
            };
            let keyring = RawRsaKeyring::new(
                &key.namespace,
                &key.name,
                padding.to_api(),
                public_pem,
                private_pem,
            )
            .map_err(what)?;
            Ok(Box::new(keyring))
        }
    }
}

/// Hands out the message in pieces of 1 to 13 bytes, so the streaming decryptor
/// has to resume inside every field.
struct Trickle<'a> {
    rest: &'a [u8],
    step: usize,
}

impl<'a> Trickle<'a> {
    fn new(message: &'a [u8]) -> Self {
        Trickle {
            rest: message,
            step: 0,
        }
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.step = self.step % 13 + 1;
        let n = self.step.min(buf.len()).min(self.rest.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

// ---------------------------------------------------------------------------
// Test keyrings for vectors whose data keys come from outside the message

/// Supplies a published plaintext data key, standing in for the AWS KMS
/// keyring that wrapped it (python-commitment).
struct DataKeyKeyring {
    key: Vec<u8>,
}

impl Keyring for DataKeyKeyring {
    fn on_encrypt(&self, _: &mut EncryptionMaterials) -> envelope::Result<()> {
        Err(Error::Config("test keyring: decrypt only".into()))
    }

    fn on_decrypt(
        &self,
        materials: &mut DecryptionMaterials,
        _: &[EncryptedDataKey],
    ) -> envelope::Result<()> {
        if materials.plaintext_data_key.is_none() {
            materials.plaintext_data_key = Some(Secret::new(self.key.clone()));
        }
        Ok(())
    }
}

/// The Python decrypt oracle's test providers. `Null` (provider id `null`)
/// yields an all-zero data key; `Counting` (provider id `test_counting`) yields
/// `01 02 03 ...` but only for an EDK whose ciphertext is `40 41 42 43 44`.
#[derive(Debug, Clone, Copy)]
enum OracleKeyring {
    Null,
    Counting,
}

impl Keyring for OracleKeyring {
    fn on_encrypt(&self, _: &mut EncryptionMaterials) -> envelope::Result<()> {
        Err(Error::Config("test keyring: decrypt only".into()))
    }

    fn on_decrypt(
        &self,
        materials: &mut DecryptionMaterials,
        edks: &[EncryptedDataKey],
    ) -> envelope::Result<()> {
        if materials.plaintext_data_key.is_some() {
            return Ok(());
        }
        let len = materials.suite.key_len;
        let (found, key) = match self {
            OracleKeyring::Null => (edks.iter().any(|e| e.provider_id == "null"), vec![0u8; len]),
            OracleKeyring::Counting => (
                edks.iter()
                    .any(|e| e.provider_id == "test_counting" && e.ciphertext == COUNTING_EDK),
                (1..=len).map(|i| i as u8).collect(),
            ),
        };
        if !found {
            return Err(Error::NoDataKey(format!(
                "no EDK from the oracle's {self:?} provider"
            )));
        }
        materials.plaintext_data_key = Some(Secret::new(key));
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// JSON helpers

fn read_json(path: &Path) -> Result<Value, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A `file://` URI, relative to the folder holding the manifest.
fn resolve(dir: &Path, uri: &str) -> Result<PathBuf, String> {
    uri.strip_prefix("file://")
        .map(|p| dir.join(p))
        .ok_or_else(|| format!("unsupported URI {uri:?}"))
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("{what}: not a JSON object"))
}

fn array<'a>(v: &'a Value, what: &str) -> Result<&'a Vec<Value>, String> {
    v.as_array().ok_or_else(|| format!("{what}: not a JSON array"))
}

fn str_field<'a>(v: &'a Value, field: &str, what: &str) -> Result<&'a str, String> {
    v[field]
        .as_str()
        .ok_or_else(|| format!("{what}: no string {field:?}"))
}

fn b64_field(v: &Value, field: &str) -> Result<Vec<u8>, String> {
    BASE64
        .decode(str_field(v, field, "vector")?)
        .map_err(|e| format!("{field}: {e}"))
}

/// An encryption context given as a JSON object of strings.
fn context(v: &Value) -> Result<EncryptionContext, String> {
    object(v, "encryption context")?
        .iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                v.as_str().ok_or("non-string context value")?.to_string(),
            ))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Raw ECDH: decrypt manifest v5 and keys manifest v2 (../shared/vectors-ecdh)

/// A raw ECDH keyring as a v5 `decryptKeyDescription` describes it, built as
/// the MPL's test harness builds it (see that folder's README).
enum EcdhKey {
    /// RawPrivateKeyToStaticPublicKey, from the `sender` entry: its
    /// `sender-material` and its `recipient-material-public-key`.
    Static {
        curve: Curve,
        sender_pem: String,
        recipient_spki: Vec<u8>,
    },
    /// PublicKeyDiscovery, from the `recipient` entry's `recipient-material`.
    Discovery { curve: Curve, recipient_pem: String },
}

impl EcdhKey {
    fn from_description(d: &Value, keys: &KeysManifest) -> Result<Self, String> {
        if str_field(d, "type", "decryptKeyDescription")? != "raw-ecdh" {
            return Err(format!("unsupported key description {d}"));
        }
        let curve: Curve = str_field(d, "ecc-curve", "decryptKeyDescription")?
            .parse()
            .map_err(|e| format!("ecc-curve: {e}"))?;
        let entry = |role: &str| -> Result<&Value, String> {
            let name = str_field(d, role, "decryptKeyDescription")?;
            let spec = keys
                .keys
                .get(name)
                .ok_or_else(|| format!("key {name:?} not in the keys manifest"))?;
            if spec["type"] != "ecc-private" || spec["algorithm"] != "ecdh" {
                return Err(format!("key {name:?} is not an ECDH key pair"));
            }
            Ok(spec)
        };
        match str_field(d, "schema", "decryptKeyDescription")? {
            "static" => {
                let spec = entry("sender")?;
                if spec["public-key-encoding"] != "base64-der" {
                    return Err("public keys are not base64 DER".into());
                }
                let recipient_spki = BASE64
                    .decode(str_field(spec, "recipient-material-public-key", "key")?)
                    .map_err(|e| format!("recipient-material-public-key: {e}"))?;
                Ok(EcdhKey::Static {
                    curve,
                    sender_pem: str_field(spec, "sender-material", "key")?.to_string(),
                    recipient_spki,
                })
            }
            "discovery" => Ok(EcdhKey::Discovery {
                curve,
                recipient_pem: str_field(entry("recipient")?, "recipient-material", "key")?.to_string(),
            }),
            other => Err(format!("unknown raw ECDH schema {other:?}")),
        }
    }

    fn keyring(&self) -> Result<Box<dyn Keyring>, String> {
        let private = |pem: &str| EcdhPrivateKey::from_pem(pem.as_bytes()).map_err(|e| e.to_string());
        let (curve, keyring) = match self {
            EcdhKey::Static {
                curve,
                sender_pem,
                recipient_spki,
            } => {
                let recipient = EcdhPublicKey::from_spki_der(recipient_spki).map_err(|e| e.to_string())?;
                let keyring = RawEcdhKeyring::static_keys(private(sender_pem)?, recipient)
                    .map_err(|e| e.to_string())?;
                (curve, keyring)
            }
            EcdhKey::Discovery { curve, recipient_pem } => {
                (curve, RawEcdhKeyring::discovery(private(recipient_pem)?))
            }
        };
        if keyring.curve() != *curve {
            return Err(format!(
                "the keys are {} keys but the description says {curve}",
                keyring.curve()
            ));
        }
        Ok(Box::new(keyring))
    }
}

/// A folder with a decrypt manifest v5: one `decryption-scenario` per test.
fn load_v5_folder(dir: &Path, manifest: &Value, expect: &Map<String, Value>) -> Result<Vec<Case>, String> {
    let keys = KeysManifest::load(&resolve(dir, str_field(manifest, "keys", "manifest")?)?)?;
    let mut cases = Vec::new();
    let tests = object(&manifest["tests"], "tests")?;
    for (name, test) in tests {
        let err = |e: String| format!("{name}: {e}");
        let entry = expect
            .get(name)
            .ok_or_else(|| err("not in expectations.json".into()))?;
        let scenario = &test["decryption-scenario"];
        let kind = str_field(scenario, "type", name)?;
        let expect = match (kind, str_field(entry, "expect", name)?) {
            ("positive-esdk", "plaintext") => {
                let uri = str_field(scenario, "result", name)?;
                Expect::Plaintext(fs::read(resolve(dir, uri)?).map_err(|e| err(e.to_string()))?)
            }
            ("negative-esdk", "error") => Expect::Error { commitment: false },
            (k, e) => return Err(err(format!("scenario {k:?} with expectation {e:?}"))),
        };
        let message = fs::read(resolve(dir, str_field(scenario, "ciphertext", name)?)?)
            .map_err(|e| err(e.to_string()))?;
        let reproduced = match scenario.get("reproduced-encryption-context") {
            Some(ec) => context(ec).map_err(err)?,
            None => EncryptionContext::new(),
        };
        let key = EcdhKey::from_description(&scenario["decryptKeyDescription"], &keys).map_err(err)?;
        cases.push(Case {
            name: name.clone(),
            message,
            keys: Keys::Ecdh(key),
            reproduced,
            expect,
        });
    }
    if let Some(missing) = expect.keys().find(|k| !tests.contains_key(*k)) {
        return Err(format!("{missing}: in expectations.json but not in the manifest"));
    }
    Ok(cases)
}
