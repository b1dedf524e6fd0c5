//! Known answers from the reference implementation.
//!
//! Every message under `testdata/kat/messages/` was written by the Python ESDK
//! (`testdata/generate.py`, which also wrote `testdata/kat/manifest.json`). Each
//! case must decrypt to its plaintext file exactly, or fail with one of the
//! errors the manifest names, both through the one-shot `decrypt` and through
//! `decrypt_stream` fed a few bytes at a time; a failing stream may have written
//! only a prefix of the true plaintext. Each positive case is then re-encrypted by
//! envelope with the same keys, suite, frame length and context, and must
//! round-trip (the cross-check of envelope's output against Python is
//! `tests/interop/interop.py`).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use envelope::keyring::multi::MultiKeyring;
use envelope::keyring::raw_aes::RawAesKeyring;
use envelope::keyring::raw_ecdh::{Curve, EcdhPrivateKey, EcdhPublicKey, RawEcdhKeyring};
use envelope::keyring::raw_rsa::{RawRsaKeyring, RsaPadding};
use envelope::keyring::Keyring;
use envelope::stream::{self, DecryptOptions, EncryptOptions};
use envelope::Part;
use envelope::{AlgorithmSuite, CommitmentPolicy, EncryptionContext, Error};
use serde::Deserialize;

use crate::support::fixtures::encrypt_options;

#[derive(Deserialize)]
struct Manifest {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    description: String,
    message: String,
    plaintext: String,
    suite: String,
    frame_length: u32,
    encryption_context: EncryptionContext,
    encrypt_keys: Vec<KeyDesc>,
    decrypt_keys: Vec<KeyDesc>,
    decrypt: DecryptDesc,
    expect: Expect,
}

#[derive(Deserialize)]
struct KeyDesc {
    provider: String,
    /// Raw AES and RSA keys only.
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name: String,
    key_file: Option<String>,
    padding: Option<String>,
    private_key_file: Option<String>,
    public_key_file: Option<String>,
    /// Raw ECDH keys: `static`, `ephemeral` or `discovery`, the curve, and
    /// the key files the scheme takes.
    scheme: Option<String>,
    curve: Option<String>,
    sender_key_file: Option<String>,
    recipient_public_key_file: Option<String>,
    recipient_key_file: Option<String>,
}

#[derive(Deserialize)]
struct DecryptDesc {
    commitment_policy: String,
    reproduced_encryption_context: EncryptionContext,
    max_encrypted_data_keys: Option<u16>,
    unsigned_only: bool,
}

#[derive(Deserialize)]
#[serde(tag = "result", rename_all = "lowercase")]
enum Expect {
    Plaintext,
    Error {
        errors: Vec<String>,
        #[serde(default)]
        part: Option<String>,
    },
}

fn kat_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join("kat")
}

fn manifest() -> Manifest {
    let path = kat_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read(rel: &str) -> Vec<u8> {
    let path = kat_dir().join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn policy(name: &str) -> CommitmentPolicy {
    match name {
        "forbid-encrypt-allow-decrypt" => CommitmentPolicy::ForbidEncryptAllowDecrypt,
        "require-encrypt-allow-decrypt" => CommitmentPolicy::RequireEncryptAllowDecrypt,
        "require-encrypt-require-decrypt" => CommitmentPolicy::RequireEncryptRequireDecrypt,
        other => panic!("unknown commitment policy {other:?} in the manifest"),
    }
}

fn padding(name: &str) -> RsaPadding {
    match name {
        "pkcs1" => RsaPadding::Pkcs1,
        "oaep-sha1" => RsaPadding::OaepSha1,
        "oaep-sha256" => RsaPadding::OaepSha256,
        "oaep-sha384" => RsaPadding::OaepSha384,
        "oaep-sha512" => RsaPadding::OaepSha512,
        other => panic!("unknown RSA padding {other:?} in the manifest"),
    }
}

/// One keyring for a key description. RSA keyrings get the public key alone
/// for encryption and the private key alone for decryption, as a sender and a
/// recipient would hold them.
fn one_keyring(k: &KeyDesc, for_encrypt: bool) -> Result<Box<dyn Keyring>, Error> {
    let file = |f: &Option<String>, what: &str| {
        read(
            f.as_deref()
                .unwrap_or_else(|| panic!("key {:?} has no {what}", k.name)),
        )
    };
    match k.provider.as_str() {
        "raw-aes" => {
            let key = file(&k.key_file, "key_file");
            Ok(Box::new(RawAesKeyring::new(&k.namespace, &k.name, &key)?))
        }
        "raw-rsa" => {
            let pad = padding(k.padding.as_deref().expect("RSA key without padding"));
            let ring = if for_encrypt {
                let public = file(&k.public_key_file, "public_key_file");
                RawRsaKeyring::new(&k.namespace, &k.name, pad, Some(&public), None)?
            } else {
                let private = file(&k.private_key_file, "private_key_file");
                RawRsaKeyring::new(&k.namespace, &k.name, pad, None, Some(&private))?
            };
            Ok(Box::new(ring))
        }
        "raw-ecdh" => {
            let private = |f: &Option<String>, what| {
                EcdhPrivateKey::from_pem(&file(f, what)).unwrap_or_else(|e| panic!("{what}: {e}"))
            };
            let public = |f: &Option<String>, what| {
                EcdhPublicKey::from_spki_der_or_pem(&file(f, what)).unwrap_or_else(|e| panic!("{what}: {e}"))
            };
            let ring = match k.scheme.as_deref() {
                Some("static") => RawEcdhKeyring::static_keys(
                    private(&k.sender_key_file, "sender_key_file"),
                    public(&k.recipient_public_key_file, "recipient_public_key_file"),
                )?,
                Some("ephemeral") => RawEcdhKeyring::ephemeral(public(
                    &k.recipient_public_key_file,
                    "recipient_public_key_file",
                )),
                Some("discovery") => {
                    RawEcdhKeyring::discovery(private(&k.recipient_key_file, "recipient_key_file"))
                }
                other => panic!("unknown raw ECDH scheme {other:?} in the manifest"),
            };
            let curve: Curve = k
                .curve
                .as_deref()
                .expect("raw ECDH key without curve")
                .parse()
                .unwrap();
            assert_eq!(
                ring.curve(),
                curve,
                "the key files are not on the manifest's curve"
            );
            Ok(Box::new(ring))
        }
        other => panic!("unknown key provider {other:?} in the manifest"),
    }
}

/// The keyring for a list of keys: the key itself, or a multi-keyring whose
/// first key generates and whose others wrap too (and are tried in order).
fn keyring(keys: &[KeyDesc], for_encrypt: bool) -> Result<Box<dyn Keyring>, Error> {
    let mut rings = keys
        .iter()
        .map(|k| one_keyring(k, for_encrypt))
        .collect::<Result<Vec<_>, _>>()?;
    assert!(!rings.is_empty(), "a case with no keys");
    if rings.len() == 1 {
        return Ok(rings.remove(0));
    }
    let generator = rings.remove(0);
    Ok(Box::new(MultiKeyring::new(Some(generator), rings)?))
}

fn decrypt_options(c: &Case) -> DecryptOptions {
    DecryptOptions {
        commitment_policy: policy(&c.decrypt.commitment_policy),
        reproduced_encryption_context: c.decrypt.reproduced_encryption_context.clone(),
        max_encrypted_data_keys: c.decrypt.max_encrypted_data_keys,
        unsigned_only: c.decrypt.unsigned_only,
        ..Default::default()
    }
}

/// The `Error` variant's name, as the manifest spells expected errors.
fn variant(e: &Error) -> &'static str {
    match e {
        Error::Malformed { .. } => "Malformed",
        Error::Truncated(_) => "Truncated",
        Error::TrailingData => "TrailingData",
        Error::UnsupportedSuite(_) => "UnsupportedSuite",
        Error::CommitmentPolicy { .. } => "CommitmentPolicy",
        Error::SignedMessageRefused(_) => "SignedMessageRefused",
        Error::Commitment => "Commitment",
        Error::Authentication(_) => "Authentication",
        Error::Signature => "Signature",
        Error::NoDataKey(_) => "NoDataKey",
        Error::EncryptionContext(_) => "EncryptionContext",
        Error::TooManyEncryptedDataKeys { .. } => "TooManyEncryptedDataKeys",
        Error::Limit(_) => "Limit",
        Error::Config(_) => "Config",
        Error::Key(_) => "Key",
        Error::Kms(_) => "Kms",
        Error::Io(_) => "Io",
        Error::Crypto(_) => "Crypto",
        _ => "(a variant this test does not know)",
    }
}

fn authentication_part(e: &Error) -> Option<&Part> {
    match e {
        Error::Authentication(part) => Some(part),
        _ => None,
    }
}

/// A reader that hands out at most `chunk` bytes per call, so the streaming
/// decryptor must resume its parse at arbitrary points.
struct Trickle<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The suite id an ESDK message header names (v1: bytes 2..4, v2: bytes 1..3).
fn header_suite_id(message: &[u8]) -> Option<u16> {
    match message.first()? {
        1 => Some(u16::from_be_bytes([*message.get(2)?, *message.get(3)?])),
        2 => Some(u16::from_be_bytes([*message.get(1)?, *message.get(2)?])),
        _ => None,
    }
}

/// Runs one case; returns a description of what went wrong, if anything.
fn run_case(c: &Case) -> Result<String, String> {
    let message = read(&c.message);
    let expected = read(&c.plaintext);
    let ring = keyring(&c.decrypt_keys, false).map_err(|e| format!("building the decrypt keyring: {e}"))?;
    let opts = decrypt_options(c);

    let one_shot = stream::decrypt(ring.as_ref(), &opts, &message);
    let mut streamed_out = Vec::new();
    let streamed = stream::decrypt_stream(
        ring.as_ref(),
        &opts,
        Trickle {
            data: &message,
            chunk: 7,
        },
        &mut streamed_out,
    );

    match &c.expect {
        Expect::Plaintext => {
            let got = one_shot.map_err(|e| format!("decrypt failed: {e}"))?;
            if got.plaintext != expected {
                return Err(format!(
                    "decrypt gave {} bytes that differ from the {}-byte plaintext",
                    got.plaintext.len(),
                    expected.len()
                ));
            }
            let n = streamed
                .map_err(|e| format!("decrypt_stream failed: {e}"))?
                .bytes_out;
            if streamed_out != expected || n != expected.len() as u64 {
                return Err(format!(
                    "decrypt_stream wrote {} bytes (reported {n}) that differ from the plaintext",
                    streamed_out.len()
                ));
            }
            reencrypt(c, &expected)?;
            Ok("decrypted; envelope's re-encryption round-trips".into())
        }
        Expect::Error { errors, part } => {
            let e = match one_shot {
                Ok(_) => return Err(format!("decrypt succeeded; expected {errors:?}")),
                Err(e) => e,
            };
            check_error("decrypt", &e, errors, part.as_deref())?;
            match streamed {
                Ok(_) => return Err(format!("decrypt_stream succeeded; expected {errors:?}")),
                Err(e) => check_error("decrypt_stream", &e, errors, part.as_deref())?,
            }
            // A failed stream may have released frames that verified before the
            // failure, never anything else.
            if !expected.starts_with(&streamed_out) {
                return Err(format!(
                    "decrypt_stream failed but first wrote {} bytes that are not a prefix of the plaintext",
                    streamed_out.len()
                ));
            }
            Ok(format!("refused: {e}"))
        }
    }
}

fn check_error(what: &str, e: &Error, errors: &[String], part: Option<&str>) -> Result<(), String> {
    let name = variant(e);
    if !errors.iter().any(|x| x == name) {
        return Err(format!(
            "{what} failed with {name} ({e}); expected one of {errors:?}"
        ));
    }
    if let Some(want) = part {
        match authentication_part(e) {
            Some(p) if p.to_string() == want => {}
            _ => return Err(format!("{what} failed with {e:?}; expected the part {want:?}")),
        }
    }
    let text = e.to_string();
    if text.is_empty() || text.contains('\n') {
        return Err(format!("{what}: the error message {text:?} is not a single line"));
    }
    Ok(())
}

/// Encrypts the plaintext with envelope as Python did (same keys, suite, frame
/// length and context; non-framed messages become framed, as envelope only
/// writes framed bodies) and decrypts it back with the case's decrypt keys.
fn reencrypt(c: &Case, plaintext: &[u8]) -> Result<(), String> {
    let suite = AlgorithmSuite::parse(&c.suite).ok_or_else(|| format!("unknown suite {}", c.suite))?;
    let enc_ring =
        keyring(&c.encrypt_keys, true).map_err(|e| format!("building the encrypt keyring: {e}"))?;
    let frame_length = if c.frame_length == 0 { 4096 } else { c.frame_length };
    let opts = EncryptOptions {
        encryption_context: c.encryption_context.clone(),
        ..encrypt_options(suite, frame_length)
    };
    let message = stream::encrypt(enc_ring.as_ref(), &opts, plaintext)
        .map_err(|e| format!("re-encrypt failed: {e}"))?;
    if header_suite_id(&message) != Some(suite.id) {
        return Err(format!("re-encrypted header does not name suite {}", c.suite));
    }
    let dec_ring =
        keyring(&c.decrypt_keys, false).map_err(|e| format!("building the decrypt keyring: {e}"))?;
    let back = stream::decrypt(dec_ring.as_ref(), &decrypt_options(c), &message)
        .map_err(|e| format!("decrypting envelope's re-encryption failed: {e}"))?;
    if back.plaintext != plaintext {
        return Err("envelope's re-encryption decrypted to different bytes".into());
    }
    Ok(())
}

#[test]
fn python_messages_decrypt_to_the_known_answers() {
    let m = manifest();
    assert!(!m.cases.is_empty(), "the manifest lists no cases");
    let mut failed = Vec::new();
    for c in &m.cases {
        match run_case(c) {
            Ok(note) => println!("ok   {:<34} {note}", c.name),
            Err(why) => {
                println!("FAIL {:<34} {} -- {why}", c.name, c.description);
                failed.push(format!("{}: {why}", c.name));
            }
        }
    }
    println!(
        "known answers: {} passed, {} failed",
        m.cases.len() - failed.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "failed cases:\n{}", failed.join("\n"));
}

/// The set must keep covering what issue 2 asks of it, so that regenerating it
/// cannot silently drop a suite, key size, padding or frame length.
#[test]
fn known_answer_set_covers_the_required_cases() {
    let m = manifest();
    let positive: Vec<&Case> = m
        .cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::Plaintext))
        .collect();

    let suites: BTreeSet<u16> = positive
        .iter()
        .filter_map(|c| AlgorithmSuite::parse(&c.suite).map(|s| s.id))
        .collect();
    let all: BTreeSet<u16> = AlgorithmSuite::ALL.iter().map(|s| s.id).collect();
    assert_eq!(suites, all, "every suite must have a positive case");

    let aes_sizes: BTreeSet<usize> = positive
        .iter()
        .flat_map(|c| &c.decrypt_keys)
        .filter_map(|k| k.key_file.as_deref())
        .map(|f| read(f).len())
        .collect();
    assert_eq!(
        aes_sizes,
        BTreeSet::from([16, 24, 32]),
        "AES-128/192/256 wrapping keys"
    );

    let paddings: BTreeSet<&str> = positive
        .iter()
        .flat_map(|c| &c.decrypt_keys)
        .filter_map(|k| k.padding.as_deref())
        .collect();
    assert_eq!(
        paddings,
        BTreeSet::from(["pkcs1", "oaep-sha1", "oaep-sha256", "oaep-sha384", "oaep-sha512"]),
        "every RSA padding"
    );

    for fl in [1, 128, 4096, 65536] {
        assert!(positive.iter().any(|c| c.frame_length == fl), "frame length {fl}");
        assert!(
            positive.iter().any(|c| c.frame_length == fl && {
                let n = read(&c.plaintext).len();
                n > 0 && n.is_multiple_of(fl as usize)
            }),
            "a plaintext that is an exact multiple of frame length {fl}"
        );
    }
    assert!(positive
        .iter()
        .any(|c| c.encrypt_keys.len() > 1 && c.decrypt_keys.len() == 1));
    assert!(
        positive.iter().any(|c| read(&c.plaintext).is_empty()),
        "empty plaintext"
    );
    assert!(
        positive.iter().any(|c| c.encryption_context.is_empty()),
        "empty context"
    );
    assert!(
        positive.iter().any(|c| c
            .encryption_context
            .iter()
            .any(|(k, v)| !k.is_ascii() && !v.is_ascii())),
        "unicode context"
    );
    assert!(
        m.cases
            .iter()
            .filter(|c| matches!(c.expect, Expect::Error { .. }))
            .count()
            >= 10,
        "negative cases"
    );

    // Raw ECDH (issue 17): on every curve, a static and an ephemeral sender, and
    // decryption by each scheme that decrypts (static from both sides, discovery).
    let ecdh = |k: &KeyDesc| {
        (k.provider == "raw-ecdh").then(|| (k.curve.clone().unwrap(), k.scheme.clone().unwrap()))
    };
    let mut seen = BTreeSet::new();
    for c in &positive {
        for (enc, dec) in c.encrypt_keys.iter().zip(&c.decrypt_keys) {
            if let (Some((curve, e)), Some((_, d))) = (ecdh(enc), ecdh(dec)) {
                let reversed = d == "static" && dec.sender_key_file != enc.sender_key_file;
                seen.insert((
                    curve,
                    e,
                    if reversed {
                        "static-recipient".to_string()
                    } else {
                        d
                    },
                ));
            }
        }
    }
    for curve in ["p256", "p384", "p521"] {
        for (e, d) in [
            ("static", "static"),
            ("static", "static-recipient"),
            ("static", "discovery"),
            ("ephemeral", "discovery"),
        ] {
            assert!(
                seen.contains(&(curve.to_string(), e.to_string(), d.to_string())),
                "raw ECDH {curve}: a {e} sender's message opened by {d}"
            );
        }
    }
}
