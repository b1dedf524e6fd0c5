//! KMS-core Decrypt of arbitrary ciphertext blobs, contexts, key ids and
//! algorithms, against a real key store (a temporary directory) holding one
//! symmetric and one RSA key. Never panics; succeeds only for the blob the
//! store itself produced, with its exact context, and then returns its
//! plaintext.
#![no_main]

use std::sync::OnceLock;

use envelope::kms::EncryptionContext;
use envelope::kms::{
    CreateAliasRequest, CreateKeyRequest, DecryptRequest, EncryptRequest, EncryptionAlgorithmSpec, KeySpec,
    Kms, KmsConfig, KmsCore,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

const PLAINTEXT: &[u8] = b"fuzz target plaintext";

struct Fixture {
    _dir: tempfile::TempDir,
    core: KmsCore,
    sym_id: String,
    sym_uuid: uuid::Uuid,
    sym_arn: String,
    rsa_arn: String,
    /// A genuine blob of PLAINTEXT under the symmetric key, with `context()`.
    blob: Vec<u8>,
}

fn context() -> EncryptionContext {
    EncryptionContext::from([("purpose".to_string(), "fuzz".to_string())])
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let core = KmsCore::open(KmsConfig::new(dir.path().join("store"))).expect("open store");
        let sym = core.create_key(&CreateKeyRequest::default()).expect("create key");
        let rsa = core
            .create_key(&CreateKeyRequest {
                key_spec: Some(KeySpec::Rsa2048),
                key_usage: Some(envelope::kms::KeyUsage::EncryptDecrypt),
                ..CreateKeyRequest::default()
            })
            .expect("create RSA key");
        core.create_alias(&CreateAliasRequest {
            alias_name: "alias/fuzz".into(),
            target_key_id: sym.key_metadata.key_id.clone(),
        })
        .expect("alias");
        let blob = core
            .encrypt(&EncryptRequest {
                key_id: sym.key_metadata.arn.clone(),
                plaintext: PLAINTEXT.to_vec().into(),
                encryption_context: context(),
                encryption_algorithm: None,
            })
            .expect("encrypt")
            .ciphertext_blob;
        Fixture {
            _dir: dir,
            core,
            sym_uuid: uuid::Uuid::parse_str(&sym.key_metadata.key_id).expect("key ids are UUIDs"),
            sym_id: sym.key_metadata.key_id,
            sym_arn: sym.key_metadata.arn,
            rsa_arn: rsa.key_metadata.arn,
            blob,
        }
    })
}

#[derive(Debug, Arbitrary)]
enum Blob {
    /// Taken as is.
    Raw(Vec<u8>),
    /// The genuine blob with bytes xored in from `offset`.
    Tampered { offset: u16, mask: Vec<u8> },
    /// The genuine blob cut to a length, or with bytes appended.
    Resized { len: u16, tail: Vec<u8> },
    /// The symmetric key's id and version 1 spliced in, so the parse gets to the key lookup and tag.
    Spliced(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum KeyChoice {
    None,
    SymId,
    SymArn,
    Alias,
    Rsa,
    Other(String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    blob: Blob,
    /// `None`: the genuine blob's own context.
    context: Option<Vec<(String, String)>>,
    key: KeyChoice,
    algorithm: Option<u8>,
}

fuzz_target!(|input: Input| {
    let f = fixture();
    let mut blob = match input.blob {
        Blob::Raw(b) => b,
        Blob::Tampered { offset, mask } => {
            let mut b = f.blob.clone();
            for (x, m) in b.iter_mut().skip(usize::from(offset)).zip(&mask) {
                *x ^= m;
            }
            b
        }
        Blob::Resized { len, tail } => {
            let mut b = f.blob.clone();
            b.truncate(usize::from(len));
            b.extend_from_slice(&tail);
            b
        }
        Blob::Spliced(mut b) => {
            if b.len() >= 21 {
                b[0] = 1;
                b[1..17].copy_from_slice(f.sym_uuid.as_bytes());
                b[17..21].copy_from_slice(&1u32.to_be_bytes());
            }
            b
        }
    };
    blob.truncate(8192);
    let genuine = blob == f.blob;
    let context = match input.context {
        None => context(),
        Some(pairs) => pairs.into_iter().collect(),
    };
    let right_context = context == self::context();
    // Other(..) may happen to name the symmetric key in another form, so it
    // may open but need not.
    let (must, may) = match &input.key {
        KeyChoice::None | KeyChoice::SymId | KeyChoice::SymArn | KeyChoice::Alias => (true, true),
        KeyChoice::Rsa => (false, false),
        KeyChoice::Other(_) => (false, true),
    };
    let key_id = match input.key {
        KeyChoice::None => None,
        KeyChoice::SymId => Some(f.sym_id.clone()),
        KeyChoice::SymArn => Some(f.sym_arn.clone()),
        KeyChoice::Alias => Some("alias/fuzz".to_string()),
        KeyChoice::Rsa => Some(f.rsa_arn.clone()),
        KeyChoice::Other(s) => Some(s),
    };
    let encryption_algorithm = input.algorithm.map(|a| match a % 3 {
        0 => EncryptionAlgorithmSpec::SymmetricDefault,
        1 => EncryptionAlgorithmSpec::RsaesOaepSha1,
        _ => EncryptionAlgorithmSpec::RsaesOaepSha256,
    });
    let right_algorithm = matches!(
        encryption_algorithm,
        None | Some(EncryptionAlgorithmSpec::SymmetricDefault)
    );
    let r = f.core.decrypt(&DecryptRequest {
        ciphertext_blob: blob,
        encryption_context: context,
        key_id,
        encryption_algorithm,
    });
    let opens = genuine && right_context && right_algorithm;
    match r {
        Ok(resp) => {
            assert!(opens && may, "a blob opened that should not have");
            assert_eq!(&resp.plaintext[..], PLAINTEXT);
            assert_eq!(resp.key_id, f.sym_arn);
        }
        Err(e) => assert!(!(opens && must), "the genuine blob failed: {e}"),
    }
});
