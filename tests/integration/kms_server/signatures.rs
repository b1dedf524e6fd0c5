//! SigV4: envelope's verifier against the official signer (`aws-sigv4`) as
//! an oracle, and a `--sigv4` server against the Rust SDK and raw requests.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use envelope::server::sigv4::{self, Authorization, SignedParts};
use envelope::server::{Server, ServerConfig};
use proptest::prelude::*;

use super::sdk::client;
use super::support::{raw, request_bytes, test_limits, Store};

const REGION: &str = "us-east-1";

/// Signs a KMS request with the official signer at `time`.
fn signed(
    akid: &str,
    secret: &str,
    time: SystemTime,
    headers: &[(String, String)],
    body: &[u8],
) -> http::Request<Vec<u8>> {
    let mut req = http::Request::builder()
        .method("POST")
        .uri("http://127.0.0.1:4599/");
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let mut req = req.body(body.to_vec()).unwrap();
    let identity: Identity = aws_sdk_kms::config::Credentials::new(akid, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("kms")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let pairs: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    let signable = SignableRequest::new(
        "POST",
        req.uri().to_string(),
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    instructions.apply_to_request_http1x(&mut req);
    req
}

/// envelope's verdict on a request, with `secret` and the clock at `now`.
fn verdict(req: &http::Request<Vec<u8>>, secret: &str, now: SystemTime) -> Result<(), String> {
    let mut headers = hyper::HeaderMap::new();
    for (k, v) in req.headers() {
        headers.append(k.clone(), v.clone());
    }
    let now = now.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let auth = headers
        .get("authorization")
        .ok_or("no authorization")?
        .to_str()
        .map_err(|e| e.to_string())?;
    let auth = Authorization::parse(auth).map_err(|e| e.code)?;
    let date = sigv4::check_scope(&auth, &headers, now, REGION).map_err(|e| e.code)?;
    sigv4::verify(
        &auth,
        &date,
        &SignedParts {
            method: "POST",
            headers: &headers,
            body: req.body(),
        },
        secret,
    )
    .map_err(|e| e.code)
}

fn base_headers(extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut h = vec![
        ("host".to_owned(), "127.0.0.1:4599".to_owned()),
        ("content-type".to_owned(), "application/x-amz-json-1.1".to_owned()),
        ("x-amz-target".to_owned(), "TrentService.ListKeys".to_owned()),
    ];
    h.extend_from_slice(extra);
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the official signer signs verifies; any change to the body, a
    /// signed header or the secret does not.
    #[test]
    fn verifier_agrees_with_the_official_signer(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        value in "[ -~]{0,40}",
        secret in "[A-Za-z0-9/+]{40}",
        skew in -290i64..290,
        flip in any::<prop::sample::Index>(),
    ) {
        let t = SystemTime::now();
        let extra = vec![("x-custom-header".to_owned(), format!("  {value}  value "))];
        let req = signed("ENVKTESTTESTTESTTEST", &secret, t, &base_headers(&extra), &body);
        let now = if skew >= 0 { t + Duration::from_secs(skew as u64) } else { t - Duration::from_secs((-skew) as u64) };
        prop_assert_eq!(verdict(&req, &secret, now), Ok(()));
        let wrong = format!("{}x", secret);
        prop_assert!(verdict(&req, &wrong, now).is_err());
        if !body.is_empty() {
            let mut tampered = req.clone();
            let i = flip.index(body.len());
            tampered.body_mut()[i] ^= 1;
            prop_assert_eq!(verdict(&tampered, &secret, now), Err("InvalidSignatureException".to_owned()));
        }
        let mut other = req.clone();
        other.headers_mut().insert("x-amz-target", "TrentService.Decrypt".parse().unwrap());
        prop_assert_eq!(verdict(&other, &secret, now), Err("InvalidSignatureException".to_owned()));
    }
}

#[test]
fn skewed_clocks_and_bad_scopes_are_refused() {
    let t = SystemTime::now();
    let req = signed("ENVKTESTTESTTESTTEST", "s", t, &base_headers(&[]), b"{}");
    let err = |now| verdict(&req, "s", now).unwrap_err();
    assert_eq!(err(t + Duration::from_secs(301)), "InvalidSignatureException");
    assert_eq!(err(t - Duration::from_secs(301)), "InvalidSignatureException");
    let mut token = req.clone();
    token
        .headers_mut()
        .insert("x-amz-security-token", "t".parse().unwrap());
    assert_eq!(
        verdict(&token, "s", t).unwrap_err(),
        "UnrecognizedClientException"
    );
    let mut no_date = req.clone();
    no_date.headers_mut().remove("x-amz-date");
    assert_eq!(
        verdict(&no_date, "s", t).unwrap_err(),
        "IncompleteSignatureException"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigv4_server_accepts_issued_keys_only() {
    let store = Store::new();
    let core = store.open();
    let key = core.create_access_key("test").unwrap();
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    config.require_sigv4 = true;
    config.limits = test_limits();
    let server = Server::start(core.clone(), config).unwrap();

    let good = client(server.url(), &key.access_key_id, &key.secret_access_key).await;
    let made = good.create_key().send().await.unwrap();
    assert!(made.key_metadata.is_some());
    good.list_keys().send().await.unwrap();

    let wrong_secret = client(server.url(), &key.access_key_id, "not the secret").await;
    let e = wrong_secret.list_keys().send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidSignatureException"), "{e:?}");
    let unknown = client(server.url(), "ENVKAAAAAAAAAAAAAAAA", "x").await;
    let e = unknown.list_keys().send().await.unwrap_err();
    assert_eq!(e.code(), Some("UnrecognizedClientException"), "{e:?}");
    let aws_style = client(server.url(), "AKIAIOSFODNN7EXAMPLE", "x").await;
    assert_eq!(
        aws_style.list_keys().send().await.unwrap_err().code(),
        Some("UnrecognizedClientException")
    );

    // No signature at all.
    let r = raw(server.local_addr(), &request_bytes("ListKeys", b"{}")).unwrap();
    assert_eq!(
        (r.status, r.code()),
        (400, "MissingAuthenticationTokenException".to_owned())
    );

    // A signature made ten minutes ago, with the right key.
    let old = signed(
        &key.access_key_id,
        &key.secret_access_key,
        SystemTime::now() - Duration::from_secs(600),
        &base_headers(&[]),
        b"{}",
    );
    let mut bytes = b"POST / HTTP/1.1\r\ncontent-length: 2\r\n".to_vec();
    for (k, v) in old.headers() {
        bytes.extend_from_slice(format!("{k}: {}\r\n", v.to_str().unwrap()).as_bytes());
    }
    bytes.extend_from_slice(b"\r\n{}");
    let r = raw(server.local_addr(), &bytes).unwrap();
    assert_eq!(r.code(), "InvalidSignatureException");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("Signature expired"),
        "{:?}",
        r.json()
    );

    // A deleted key stops working at once.
    core.delete_access_key(&key.access_key_id).unwrap();
    let e = good.list_keys().send().await.unwrap_err();
    assert_eq!(e.code(), Some("UnrecognizedClientException"));
    server.shutdown().unwrap();
}

#[test]
fn access_key_cli_round_trip() {
    let store = Store::new();
    let out = store.cli(&["kms", "create-access-key", "--description", "ci"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = v["AccessKey"]["AccessKeyId"].as_str().unwrap().to_owned();
    let secret = v["AccessKey"]["SecretAccessKey"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ENVK") && secret.len() == 40, "{v}");
    let list = store.cli(&["kms", "list-access-keys"]);
    let text = String::from_utf8(list.stdout).unwrap();
    assert!(text.contains(&id) && !text.contains(&secret), "{text}");
    assert_eq!(
        store
            .open()
            .access_key_secret(&id)
            .unwrap()
            .as_deref()
            .map(String::as_str),
        Some(secret.as_str())
    );
    assert!(store
        .cli(&["kms", "delete-access-key", "--access-key-id", &id])
        .status
        .success());
    let again = store.cli(&["kms", "delete-access-key", "--access-key-id", &id]);
    assert_eq!(again.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&again.stderr).contains("NotFoundException"));
    // The secret is not in the database file in the clear.
    for file in ["kms.db", "kms.db-wal"] {
        let bytes = std::fs::read(store.dir().join(file)).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{file}"
        );
    }
}
