//! Start-up and shutdown: graceful shutdown with a request in flight, seeding,
//! TLS, the refusal of exposed addresses, the request log.

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use envelope::kms::{Kms, KmsConfig, KmsCore, Seed};
use serde_json::json;

use super::support::{b64, key_works, ok, read_reply, request_bytes, start, test_limits, unb64, Proc, Store};

#[test]
fn shutdown_finishes_the_request_in_flight_then_releases_the_store() {
    let store = Store::new();
    let core = store.open();
    let server = start(core.clone(), test_limits());
    let a = server.local_addr();
    // Half a request, then shutdown, then the rest: the response still comes.
    let body = json!({"Description": "in flight"}).to_string();
    let full = request_bytes("CreateKey", body.as_bytes());
    let (first, rest) = full.split_at(full.len() - 5);
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let stopper = std::thread::spawn(move || server.shutdown());
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(rest).unwrap();
    let r = read_reply(&mut BufReader::new(s)).unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    stopper.join().unwrap().unwrap();
    // Closed for new connections; the server holds no reference to the store.
    assert!(TcpStream::connect(a).is_err());
    assert_eq!(Arc::strong_count(&core), 1);
    let listed = core.list_keys(&Default::default()).unwrap();
    assert_eq!(listed.keys.len(), 1);
}

#[test]
fn sigterm_and_request_log() {
    let store = Store::new();
    let mut child = crate::support::scrub::envelope()
        .arg("--keystore")
        .arg(store.dir())
        .args(["-v", "kms", "serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut url = String::new();
    std::io::BufRead::read_line(&mut out, &mut url).unwrap();
    let addr = url.trim().strip_prefix("http://").unwrap().parse().unwrap();
    let key = ok(addr, "CreateKey", &json!({}))["KeyMetadata"]["Arn"]
        .as_str()
        .unwrap()
        .to_owned();
    let dk = ok(
        addr,
        "GenerateDataKey",
        &json!({"KeyId": key, "NumberOfBytes": 32}),
    );
    let _ = super::support::call(addr, "DescribeKey", &json!({"KeyId": "alias/nope"}));
    // What a client sends reaches the log escaped (issue 10 finding 4).
    let _ = super::support::call(
        addr,
        "DescribeKey",
        &json!({"KeyId": "alias/x\u{1b}]0;owned\u{7}"}),
    );
    assert!(Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let log = String::from_utf8(output.stderr).unwrap();
    assert!(log.contains("WITHOUT authentication"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains(&format!(" GenerateDataKey {key} 200 "))),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains(" DescribeKey alias/nope 400 NotFoundException ")),
        "{log}"
    );
    assert!(log.contains("stopped; the key store is closed"), "{log}");
    assert!(log.contains(r"alias/x\x1b]0;owned\x07"), "{log}");
    assert!(!log.contains('\x1b') && !log.contains('\x07'), "{log:?}");
    for secret in [&dk["Plaintext"], &dk["CiphertextBlob"]] {
        assert!(!log.contains(secret.as_str().unwrap()), "the log holds a blob");
    }
}

#[test]
fn exposed_addresses_are_refused_before_binding() {
    let store = Store::new();
    for args in [
        &["--listen", "0.0.0.0:0"][..],
        &["--listen", "0.0.0.0:0", "--sigv4"],
    ] {
        let out = store.cli(&[&["kms", "serve"][..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("plaintext keys") && err.contains("--allow-exposed-plaintext-keys"),
            "{err}"
        );
    }
    assert!(!store.dir().exists(), "the store was touched");
}

#[test]
fn seeding_is_idempotent_and_fixes_ids_and_material() {
    let store = Store::new();
    let seed_path = store.tmp.path().join("seed.json");
    let material = b64(&[7u8; 32]);
    let seed = json!({
        "Keys": [
            {"KeyId": "11111111-2222-4333-8444-555555555555", "Description": "CI key", "KeyMaterial": material},
            {"KeyId": "66666666-7777-4888-9999-000000000000", "Enabled": false, "RotationPeriodInDays": 90}
        ],
        "Aliases": [{"AliasName": "alias/ci", "TargetKeyId": "11111111-2222-4333-8444-555555555555"}]
    });
    std::fs::write(&seed_path, seed.to_string()).unwrap();
    let seed_arg = seed_path.to_str().unwrap();
    let blob;
    {
        let server = Proc::start(&store.dir(), &["--seed", seed_arg]);
        key_works(server.addr, "alias/ci");
        let m = ok(
            server.addr,
            "DescribeKey",
            &json!({"KeyId": "66666666-7777-4888-9999-000000000000"}),
        );
        assert_eq!(m["KeyMetadata"]["KeyState"], "Disabled");
        let e = ok(
            server.addr,
            "Encrypt",
            &json!({"KeyId": "alias/ci", "Plaintext": b64(b"seeded")}),
        );
        blob = e["CiphertextBlob"].as_str().unwrap().to_owned();
        // Changes made after seeding survive the next start with the same seed.
        ok(
            server.addr,
            "EnableKey",
            &json!({"KeyId": "66666666-7777-4888-9999-000000000000"}),
        );
        server.signal("TERM");
        assert!(server.wait().success());
    }
    let server = Proc::start(&store.dir(), &["--seed", seed_arg]);
    let m = ok(
        server.addr,
        "DescribeKey",
        &json!({"KeyId": "66666666-7777-4888-9999-000000000000"}),
    );
    assert_eq!(
        m["KeyMetadata"]["KeyState"], "Enabled",
        "a restart overwrote a seeded key"
    );
    assert_eq!(
        ok(server.addr, "ListKeys", &json!({}))["Keys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    drop(server);
    // The same seed on another store gives the same key: the blob opens there.
    let other = Store::new();
    let core = KmsCore::open(KmsConfig::new(other.dir())).unwrap();
    let report = core
        .apply_seed(&Seed::from_json(&seed.to_string()).unwrap())
        .unwrap();
    assert_eq!(report.created_keys.len(), 2);
    let opened = core
        .decrypt(&envelope::kms::DecryptRequest {
            ciphertext_blob: unb64(&json!(blob)),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(&opened.plaintext[..], b"seeded");
    // Bad seeds are refused whole.
    let bad = json!({"Keys": [{"KeyId": "not-a-uuid"}]}).to_string();
    assert!(core.apply_seed(&Seed::from_json(&bad).unwrap()).is_err());
    assert!(Seed::from_json(r#"{"Keyz": []}"#).is_err());
}

#[test]
fn tls_with_sigv4_serves_https() {
    use tokio_rustls::rustls;
    let store = Store::new();
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/server");
    let cert = data.join("server.pem");
    let key = data.join("server.key");
    let server = Proc::start(
        &store.dir(),
        &[
            "--sigv4",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(server.url.starts_with("https://127.0.0.1:"), "{}", server.url);
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    for c in rustls_pki_types::CertificateDer::pem_file_iter(data.join("ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(&request_bytes("ListKeys", b"{}")).unwrap();
    let r = read_reply(&mut BufReader::new(tls)).unwrap();
    // Over TLS, and still refused without a signature.
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "MissingAuthenticationTokenException")
    );
    // Plain HTTP on the TLS port gets nowhere.
    assert!(super::support::raw(server.addr, &request_bytes("ListKeys", b"{}")).is_err());
}

/// The server answers for the identity fixed when its store was created,
/// whatever the environment of a later `serve` says (issue 16).
#[test]
fn the_server_serves_the_stores_identity() {
    let store = Store::new();
    let made = crate::support::scrub::envelope()
        .env("ENVELOPE_REGION", "eu-north-1")
        .env("ENVELOPE_ACCOUNT_ID", "999988887777")
        .arg("--keystore")
        .arg(store.dir())
        .args(["kms", "create-key"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let server = Proc::start(&store.dir(), &[]);
    let listed = ok(server.addr, "ListKeys", &json!({}));
    let arn = listed["Keys"][0]["KeyArn"].as_str().unwrap().to_owned();
    assert!(
        arn.starts_with("arn:aws:kms:eu-north-1:999988887777:key/"),
        "{arn}"
    );
    let d = ok(server.addr, "DescribeKey", &json!({ "KeyId": arn }));
    assert_eq!(d["KeyMetadata"]["AWSAccountId"], "999988887777");
}
