//! Bad input: each is refused (or the connection dropped) with the error AWS
//! clients understand, and the server keeps answering everyone else.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::json;

use super::support::{
    b64, call, key_works, ok, raw, read_reply, request_bytes, start, test_limits, Proc, Store,
};

fn expect(addr: SocketAddr, request: &[u8], status: u16, code: &str) {
    let r = raw(addr, request).unwrap();
    assert_eq!(
        (r.status, r.code().as_str()),
        (status, code),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
    assert!(r.header("x-amzn-requestid").is_some());
}

fn with_headers(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[test]
fn malformed_requests_get_aws_errors() {
    let store = Store::new();
    let server = start(store.open(), test_limits());
    let a = server.local_addr();
    let key = ok(a, "CreateKey", &json!({}))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let ser = "SerializationException";
    // Unknown operations and targets, wrong content type, wrong method or path.
    expect(
        a,
        &request_bytes("Frobnicate", b"{}"),
        400,
        "UnknownOperationException",
    );
    let no_target = with_headers("content-type: application/x-amz-json-1.1\r\n", b"{}");
    expect(a, &no_target, 400, "UnknownOperationException");
    let wrong_type = with_headers(
        "content-type: application/json\r\nx-amz-target: TrentService.ListKeys\r\n",
        b"{}",
    );
    expect(a, &wrong_type, 400, "UnknownOperationException");
    expect(
        a,
        b"GET / HTTP/1.1\r\nhost: x\r\n\r\n",
        400,
        "UnknownOperationException",
    );
    let path = String::from_utf8(request_bytes("ListKeys", b"{}"))
        .unwrap()
        .replacen("POST /", "POST /x?y=1", 1);
    expect(a, path.as_bytes(), 400, "UnknownOperationException");
    expect(
        a,
        &request_bytes("Sign", b"{}"),
        400,
        "UnsupportedOperationException",
    );
    // Bodies: empty, truncated, not an object, not UTF-8, wrong member types, bad base64.
    for body in [
        &b""[..],
        b"{\"KeyId\":",
        b"[1,2]",
        b"\"x\"",
        b"{\"KeyId\":\"\xff\xfe\"}",
        b"{}}",
    ] {
        expect(a, &request_bytes("DescribeKey", body), 400, ser);
    }
    for body in [
        json!({"KeyId": 7}),
        json!({"KeyId": ["a"]}),
        json!({"Limit": "10"}),
        json!({"Limit": 1e12}),
        json!({"KeyId": key, "Plaintext": "not base64!"}),
        json!({"KeyId": key, "Plaintext": "QQ"}),
        json!({"KeyId": key, "Plaintext": b64(b"x"), "EncryptionContext": {"a": 1}}),
        json!({"KeyId": key, "Plaintext": b64(b"x"), "EncryptionContext": "a=b"}),
    ] {
        let op = if body.get("Plaintext").is_some() {
            "Encrypt"
        } else if body.get("Limit").is_some() {
            "ListKeys"
        } else {
            "DescribeKey"
        };
        let r = call(a, op, &body);
        assert_eq!(
            (r.status, r.code()),
            (400, ser.to_owned()),
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // Missing members and enum values outside AWS's sets.
    let r = call(a, "Encrypt", &json!({"Plaintext": b64(b"x")}));
    assert_eq!(r.code(), "ValidationException");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("Value null at 'keyId'"),
        "{:?}",
        r.json()
    );
    let r = call(a, "CreateKey", &json!({"KeySpec": "AES_512"}));
    assert_eq!(r.code(), "ValidationException");
    let r = call(
        a,
        "CreateKey",
        &json!({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}),
    );
    assert_eq!(r.code(), "UnsupportedOperationException");
    // A tampered blob and a garbage blob.
    let e = ok(a, "Encrypt", &json!({"KeyId": key, "Plaintext": b64(b"abc")}));
    let mut blob = super::support::unb64(&e["CiphertextBlob"]);
    let last = blob.len() - 1;
    blob[last] ^= 1;
    assert_eq!(
        call(a, "Decrypt", &json!({"CiphertextBlob": b64(&blob)})).code(),
        "InvalidCiphertextException"
    );
    assert_eq!(
        call(a, "Decrypt", &json!({"CiphertextBlob": b64(b"junk")})).code(),
        "InvalidCiphertextException"
    );
    // Oversized bodies: declared, and streamed in chunks without a length.
    let big = vec![b' '; 70 * 1024];
    expect(
        a,
        &request_bytes("ListKeys", &big),
        413,
        "RequestEntityTooLargeException",
    );
    let mut chunked = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-amz-json-1.1\r\nx-amz-target: TrentService.ListKeys\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..20 {
        chunked.extend_from_slice(format!("{:x}\r\n", 8192).as_bytes());
        chunked.extend_from_slice(&[b' '; 8192]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    expect(a, &chunked, 413, "RequestEntityTooLargeException");
    // Huge headers: hyper refuses them without reading further.
    let mut huge = b"POST / HTTP/1.1\r\nhost: x\r\nx-big: ".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 40_000));
    huge.extend_from_slice(b"\r\n\r\n");
    let r = raw(a, &huge);
    assert!(r.as_ref().map_or(true, |r| r.status == 431), "{r:?}");
    // After all of that, the server still works.
    key_works(a, &key);
    server.shutdown().unwrap();
}

/// Sends `bytes` one at a time, `gap` apart, until the server closes or `limit` passes.
/// Returns how long the server let it go on.
fn trickle(addr: SocketAddr, bytes: &[u8], gap: Duration, limit: Duration) -> Duration {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    for b in bytes.iter().cycle() {
        if start.elapsed() > limit || s.write_all(&[*b]).is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
            }
            Err(_) => break,
        }
        std::thread::sleep(gap);
    }
    start.elapsed()
}

#[test]
fn slow_clients_are_cut_off_and_others_still_served() {
    let store = Store::new();
    let server = start(store.open(), test_limits());
    let a = server.local_addr();
    let key = ok(a, "CreateKey", &json!({}))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    // A slowloris client (a header byte every 50 ms, scaled down from one per
    // second) is dropped at the 0.8 s header timeout, while others are served.
    let head = b"POST / HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let slow: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || trickle(a, head, Duration::from_millis(50), Duration::from_secs(10)))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..5 {
        key_works(a, &key);
    }
    for t in slow {
        let held = t.join().unwrap();
        assert!(
            held < Duration::from_secs(4),
            "a slowloris client held its connection for {held:?}"
        );
    }
    // A body that stops arriving gets 408 at the body timeout.
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut partial = request_bytes("ListKeys", &[b' '; 100]);
    partial.truncate(partial.len() - 90);
    s.write_all(&partial).unwrap();
    let start = Instant::now();
    let r = read_reply(&mut BufReader::new(s)).unwrap();
    assert_eq!((r.status, r.code().as_str()), (408, "RequestTimeoutException"));
    assert!(start.elapsed() < Duration::from_secs(4));
    key_works(a, &key);
    server.shutdown().unwrap();
}

#[test]
fn connection_limit_evicts_idle_connections_and_refuses_when_all_busy() {
    let store = Store::new();
    let mut limits = test_limits();
    limits.max_connections = 4;
    limits.header_timeout = Duration::from_secs(3);
    let server = start(store.open(), limits);
    let a = server.local_addr();
    let key = ok(a, "CreateKey", &json!({}))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    // Eight idle connections against a limit of four: the oldest idle ones are
    // closed to make room, and every newcomer is served.
    let idle: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(a).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    key_works(a, &key);
    let mut closed = 0;
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        let mut b = [0u8; 1];
        if matches!(s.read(&mut b), Ok(0) | Err(_)) {
            closed += 1;
        }
    }
    assert!(closed >= 4, "only {closed} of 8 idle connections were closed");
    std::thread::sleep(Duration::from_millis(100));
    // Four connections in the middle of a request (a partial head): none is
    // idle, so a fifth is refused with a JSON 503 until they time out.
    let busy: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(a).unwrap();
            s.write_all(b"POST / HTTP/1.1\r\nhost: x\r\n").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let r = raw(a, &request_bytes("ListKeys", b"{}")).unwrap();
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "ServiceUnavailableException")
    );
    std::thread::sleep(Duration::from_secs(3));
    key_works(a, &key);
    drop(busy);
    server.shutdown().unwrap();
}

#[test]
fn memory_stays_bounded_under_a_flood_of_bad_input() {
    let store = Store::new();
    let server = Proc::start(
        &store.dir(),
        &[
            "--header-timeout",
            "1",
            "--body-timeout",
            "1",
            "--max-connections",
            "64",
        ],
    );
    let a = server.addr;
    let key = ok(a, "CreateKey", &json!({}))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    key_works(a, &key);
    let before = server.mem_kib("VmRSS");
    let big = request_bytes("ListKeys", &vec![b'{'; 60 * 1024]);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let big = big.clone();
            std::thread::spawn(move || {
                for n in 0..150 {
                    let r = match (n + i) % 3 {
                        0 => raw(a, &big),
                        1 => raw(a, &request_bytes("ListKeys", &vec![b' '; 200 * 1024])),
                        _ => raw(
                            a,
                            &request_bytes("Encrypt", b"{\"KeyId\":\"x\",\"Plaintext\":\"!!\"}"),
                        ),
                    };
                    if let Ok(r) = r {
                        assert!(r.status == 400 || r.status == 413, "{r:?}");
                    }
                }
            })
        })
        .collect();
    // Idle connections beyond the limit, held while the flood runs.
    let held: Vec<_> = (0..100).filter_map(|_| TcpStream::connect(a).ok()).collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(held);
    key_works(a, &key);
    let after = server.mem_kib("VmRSS");
    let peak = server.mem_kib("VmHWM");
    eprintln!("server memory: RSS {before} KiB before, {after} KiB after, peak {peak} KiB");
    assert!(peak < 200 * 1024, "peak RSS {peak} KiB");
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    server.signal("TERM");
    assert!(server.wait().success());
}
