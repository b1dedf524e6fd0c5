//! The raw keyrings on the official vectors in `../shared/vectors`, below the
//! message level: EDKs written by the Python ESDK unwrap (raw AES, and a
//! multi-keyring of the test's master keys), and the published RSA test keys
//! parse and round-trip. (Moved here from unit tests in `src/keyring/`: they
//! need only the public API, and `../shared` is located in one place.)

use base64::Engine as _;

use envelope::format::EncryptedDataKey;
use envelope::keyring::multi::MultiKeyring;
use envelope::keyring::raw_aes::RawAesKeyring;
use envelope::keyring::raw_rsa::{RawRsaKeyring, RsaPadding};
use envelope::keyring::{DecryptionMaterials, Keyring};
use envelope::{AlgorithmSuite, EncryptionContext, Error};

use crate::support::fixtures::{dec_materials, enc_materials};
use crate::support::shared;

/// Known answer: a raw AES EDK written by the Python ESDK (wrapping key of
/// 32 zero bytes, namespace `ProviderName`, key name `KeyId`), whose data
/// key the vector file publishes.
#[test]
fn python_commitment_vector_known_answer() {
    let Some(vectors) = shared::folder("vectors") else {
        return;
    };
    let path = vectors.join("python-commitment/commitment-test-vectors.json");
    let text = shared::read_to_string(&path);
    let b64 = |v: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let kr = RawAesKeyring::new("ProviderName", "KeyId", &[0; 32]).unwrap();
    let mut checked = 0;
    for t in json["tests"].as_array().unwrap() {
        if t["keyring-type"] != "static" {
            continue;
        }
        let header = b64(&t["header"]);
        // v2 header: version, suite id, 32-byte message id, then the
        // context length and block, then the EDK list.
        assert_eq!(header[0], 2);
        let suite = AlgorithmSuite::from_id(u16::from_be_bytes([header[1], header[2]])).unwrap();
        let ec_len = u16::from_be_bytes([header[35], header[36]]) as usize;
        let ec = envelope::internal::context::parse(&header[37..37 + ec_len]).unwrap();
        let edks = match envelope::internal::edk::parse_list(&header[37 + ec_len..], None).unwrap() {
            envelope::format::Parsed::Done(e, _) => e,
            envelope::format::Parsed::Incomplete(_) => panic!("truncated EDK list"),
        };
        let mut dm = dec_materials(suite, ec);
        kr.on_decrypt(&mut dm, &edks).unwrap();
        assert_eq!(
            dm.plaintext_data_key.as_ref().map(|k| &k[..]),
            Some(&b64(&t["decrypted-dek"])[..])
        );
        checked += 1;
    }
    assert_eq!(checked, 2, "expected the two static-key vectors");
}

/// Interop: unwraps the EDKs of every positive `python-4.0.7-generated`
/// vector (written by the Python ESDK 4.0.7) with a multi-keyring built
/// from the test's master keys, and checks that the vectors whose failure
/// lies in the keys (wrong key, wrong namespace, tampered EDK or context)
/// do not unwrap.
#[test]
fn python_generated_vectors_unwrap() {
    let Some(vectors) = shared::folder("vectors") else {
        return;
    };
    let dir = vectors.join("python-4.0.7-generated");
    let manifest = shared::read_to_string(&dir.join("manifest.json"));
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let keys: serde_json::Value =
        serde_json::from_str(&shared::read_to_string(&dir.join("keys.json"))).unwrap();
    let keys = &keys["keys"];
    // Negative tests whose failure is the keyring's to detect.
    let keyring_failures = ["neg-07-", "neg-10-", "neg-20-", "neg-21-", "neg-22-"];
    let (mut positives, mut negatives) = (0, 0);
    for (id, test) in manifest["tests"].as_object().unwrap() {
        let positive = test["result"].get("output").is_some();
        let negative = keyring_failures.iter().any(|p| id.starts_with(p));
        if !positive && !negative {
            continue;
        }
        let mut members: Vec<Box<dyn Keyring>> = test["master-keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|mk| vector_keyring(mk, keys))
            .collect();
        let generator = members.remove(0);
        let multi = MultiKeyring::new(Some(generator), members).unwrap();

        let file = test["ciphertext"]
            .as_str()
            .unwrap()
            .strip_prefix("file://")
            .unwrap();
        let message = std::fs::read(dir.join(file)).unwrap();
        let (suite, ec, edks) = header_keys(&message);
        let mut dm = DecryptionMaterials {
            suite,
            encryption_context: ec,
            required_encryption_context_keys: Vec::new(),
            plaintext_data_key: None,
        };
        let r = multi.on_decrypt(&mut dm, &edks);
        if positive {
            r.unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(
                dm.plaintext_data_key.as_ref().map(|k| k.len()),
                Some(suite.key_len)
            );
            positives += 1;
        } else {
            assert!(matches!(r, Err(Error::NoDataKey(_))), "{id} unwrapped");
            assert!(dm.plaintext_data_key.is_none());
            negatives += 1;
        }
    }
    assert_eq!((positives, negatives), (33, 5));
}

fn vector_keyring(mk: &serde_json::Value, keys: &serde_json::Value) -> Box<dyn Keyring> {
    let key_ref = mk["key"].as_str().unwrap();
    let key = &keys[key_ref];
    let name = key["key-id"].as_str().unwrap_or(key_ref);
    let namespace = mk["provider-id"].as_str().unwrap();
    let material = key["material"].as_str().unwrap();
    match mk["encryption-algorithm"].as_str().unwrap() {
        "aes" => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(material)
                .unwrap();
            Box::new(RawAesKeyring::new(namespace, name, &bytes).unwrap())
        }
        "rsa" => {
            let padding = match (mk["padding-algorithm"].as_str(), mk["padding-hash"].as_str()) {
                (Some("pkcs1"), _) => "pkcs1".to_string(),
                (Some("oaep-mgf1"), Some(h)) => format!("oaep-{h}"),
                other => panic!("unknown padding {other:?}"),
            };
            let pem = Some(material.as_bytes());
            let (public, private) = if key["type"] == "private" {
                (None, pem)
            } else {
                (pem, None)
            };
            Box::new(RawRsaKeyring::new(namespace, name, padding.parse().unwrap(), public, private).unwrap())
        }
        other => panic!("unknown algorithm {other}"),
    }
}

/// Reads the suite, encryption context and EDKs from the start of a v1 or v2 header.
fn header_keys(m: &[u8]) -> (&'static AlgorithmSuite, EncryptionContext, Vec<EncryptedDataKey>) {
    // v1: version, type, suite id, 16-byte message id; v2: version, suite id, 32-byte message id.
    let (suite_at, ec_at) = match m[0] {
        1 => (2, 20),
        2 => (1, 35),
        v => panic!("unknown version {v}"),
    };
    let suite = AlgorithmSuite::from_id(u16::from_be_bytes([m[suite_at], m[suite_at + 1]])).unwrap();
    let ec_len = u16::from_be_bytes([m[ec_at], m[ec_at + 1]]) as usize;
    let ec = envelope::internal::context::parse(&m[ec_at + 2..ec_at + 2 + ec_len]).unwrap();
    match envelope::internal::edk::parse_list(&m[ec_at + 2 + ec_len..], None).unwrap() {
        envelope::format::Parsed::Done(edks, _) => (suite, ec, edks),
        envelope::format::Parsed::Incomplete(_) => panic!("truncated EDK list"),
    }
}

/// The published ESDK test-vector RSA keys parse, form a pair, and
/// round-trip under every padding.
#[test]
fn published_vector_keys_parse() {
    let Some(vectors) = shared::folder("vectors") else {
        return;
    };
    let path = vectors.join("python-4.0.7-generated/keys.json");
    let text = shared::read_to_string(&path);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let pem = |k: &str| json["keys"][k]["material"].as_str().unwrap().as_bytes().to_vec();
    let (public, private) = (pem("rsa-4096-public"), pem("rsa-4096-private"));
    for p in RsaPadding::ALL {
        let kr = RawRsaKeyring::new("ns", "n", p, Some(&public), Some(&private)).unwrap();
        let suite = AlgorithmSuite::DEFAULT;
        let mut em = enc_materials(suite, EncryptionContext::new());
        kr.on_encrypt(&mut em).unwrap();
        assert_eq!(em.encrypted_data_keys[0].ciphertext.len(), 512);
        let mut dm = dec_materials(suite, EncryptionContext::new());
        kr.on_decrypt(&mut dm, &em.encrypted_data_keys).unwrap();
        assert_eq!(dm.plaintext_data_key, em.plaintext_data_key);
    }
}
