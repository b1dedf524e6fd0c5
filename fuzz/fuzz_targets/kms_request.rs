//! The KMS server's request parsing: `X-Amz-Target` and `Content-Type`
//! headers, the JSON body checks and typed decoding of every operation, the
//! SigV4 `Authorization` header and `X-Amz-Date`. Decoded requests then run on
//! a real key store (except CreateKey, whose RSA key generation would make
//! runs crawl). Never panics; every refusal is a well-formed AWS error (HTTP
//! 400, or 500 for KMSInternalException only) whose body is a JSON object with
//! `__type` and `message`.
#![no_main]

use std::sync::OnceLock;

use envelope::kms::{CreateAliasRequest, CreateKeyRequest, Kms, KmsConfig, KmsCore};
use envelope::server::sigv4::{format_amz_date, parse_amz_date, Authorization};
use envelope::server::wire::{self, ApiError, Op, Request};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    _dir: tempfile::TempDir,
    core: KmsCore,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let core = KmsCore::open(KmsConfig::new(dir.path().join("store"))).expect("open store");
        let k = core.create_key(&CreateKeyRequest::default()).expect("create key");
        core.create_alias(&CreateAliasRequest {
            alias_name: "alias/fuzz".into(),
            target_key_id: k.key_metadata.key_id,
        })
        .expect("alias");
        Fixture { _dir: dir, core }
    })
}

#[derive(Debug, Arbitrary)]
enum Target {
    /// `TrentService.<one of the core's operations>`.
    Known(u8),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    target: Target,
    content_type: Option<Vec<u8>>,
    authorization: String,
    amz_date: String,
    body: Vec<u8>,
}

fn check_error(e: &ApiError) {
    assert!(
        e.status == 400 || (e.status == 500 && e.short_code() == "KMSInternalException"),
        "{e:?}"
    );
    let v: serde_json::Value = serde_json::from_slice(&e.body()).expect("error bodies are JSON");
    assert!(v["__type"].is_string() && v["message"].is_string());
}

fuzz_target!(|input: Input| {
    if let Err(e) = wire::check_content_type(input.content_type.as_deref()) {
        check_error(&e);
    }
    if let Ok(a) = Authorization::parse(&input.authorization) {
        assert_eq!(a.signature.len(), 64);
    }
    if let Some(t) = parse_amz_date(&input.amz_date) {
        assert_eq!(format_amz_date(t), input.amz_date);
    }
    let target = match input.target {
        Target::Known(i) => {
            let op = Op::ALL[usize::from(i) % Op::ALL.len()];
            format!("{}{}", wire::TARGET_PREFIX, op.name()).into_bytes()
        }
        Target::Raw(t) => t,
    };
    let op = match wire::operation(Some(&target)) {
        Ok(op) => op,
        Err(e) => return check_error(&e),
    };
    assert_eq!(
        target,
        format!("{}{}", wire::TARGET_PREFIX, op.name()).into_bytes()
    );
    let decoded = match wire::decode(op, &input.body) {
        Ok(d) => d,
        Err(e) => return check_error(&e),
    };
    if matches!(decoded.request, Request::CreateKey(_)) {
        return;
    }
    match decoded.request.call(&fixture().core as &dyn Kms) {
        Ok(body) => {
            let v: serde_json::Value = serde_json::from_slice(&body).expect("responses are JSON");
            assert!(v.is_object());
        }
        Err(e) => check_error(&e),
    }
});
