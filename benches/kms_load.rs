//! A small load generator for AWS KMS endpoints (`benches/kms_server.sh` runs
//! it against `envelope kms serve` and against moto's server).
//!
//!     cargo bench --bench kms_load -- URL [SECONDS] [CONNECTIONS...]
//!
//! Against URL it creates a symmetric key and one data key, then, for each
//! connection count (default 1 16 64), drives GenerateDataKey and then Decrypt
//! (of that data key's blob) over that many keep-alive HTTP/1.1 connections,
//! each sending its next request as soon as the previous response is in, for
//! SECONDS seconds (default 5) after a one-second warm-up. Prints one line per
//! run: operation, connections, requests/s, p50 and p99 latency, errors (any
//! response that is not 200, or no response), and reconnects (a server that
//! answers `Connection: close`, as moto's does, makes each client connect
//! again; that time counts in the latency). Requests carry a
//! syntactically valid SigV4 header (the servers are run without
//! verification) so they look like an SDK's.

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/kms/aws4_request, \
    SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
    Signature=0000000000000000000000000000000000000000000000000000000000000000";

fn request(host: &str, op: &str, body: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: TrentService.{op}\r\nX-Amz-Date: 20260101T000000Z\r\nAuthorization: {AUTH}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A response: status, body, and whether the server closes the connection after it.
struct Resp {
    status: u16,
    body: Vec<u8>,
    close: bool,
}

/// Reads one response.
async fn response(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> std::io::Result<Resp> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut len = 0usize;
    let mut chunked = false;
    let mut close = line.starts_with("HTTP/1.0");
    loop {
        line.clear();
        r.read_line(&mut line).await?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let lower = l.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
        if lower.starts_with("connection:") {
            close = lower.contains("close");
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line).await?;
            let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(len, 0);
        r.read_exact(&mut body).await?;
    }
    Ok(Resp { status, body, close })
}

async fn one_shot(addr: &str, req: &[u8]) -> (u16, serde_json::Value) {
    let s = TcpStream::connect(addr).await.expect("connect");
    let (rd, mut wr) = s.into_split();
    wr.write_all(req).await.expect("send");
    let r = response(&mut BufReader::new(rd)).await.expect("response");
    (r.status, serde_json::from_slice(&r.body).unwrap_or_default())
}

struct Stats {
    latencies_us: Vec<u32>,
    errors: u64,
    /// Connections opened again because the server closed the previous one.
    reconnects: u64,
}

type Conn = (
    BufReader<tokio::net::tcp::OwnedReadHalf>,
    tokio::net::tcp::OwnedWriteHalf,
);

async fn connect(addr: &str) -> Option<Conn> {
    let s = TcpStream::connect(addr).await.ok()?;
    let _ = s.set_nodelay(true);
    let (rd, wr) = s.into_split();
    Some((BufReader::new(rd), wr))
}

/// One client: sends its next request as soon as the previous response is in,
/// over one keep-alive connection (a new one only if the server closes it).
async fn connection(addr: String, req: Vec<u8>, warmup_end: Instant, end: Instant) -> Stats {
    let mut stats = Stats {
        latencies_us: Vec::new(),
        errors: 0,
        reconnects: 0,
    };
    let mut conn: Option<Conn> = None;
    while Instant::now() < end {
        let t = Instant::now();
        if conn.is_none() {
            conn = connect(&addr).await;
            if conn.is_none() {
                stats.errors += 1;
                break;
            }
        }
        let Some((rd, wr)) = conn.as_mut() else { break };
        if wr.write_all(&req).await.is_err() {
            stats.errors += 1;
            conn = None;
            continue;
        }
        match tokio::time::timeout(Duration::from_secs(10), response(rd)).await {
            Ok(Ok(r)) => {
                if r.status == 200 {
                    if t >= warmup_end {
                        stats
                            .latencies_us
                            .push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                    }
                } else {
                    stats.errors += 1;
                }
                if r.close {
                    stats.reconnects += 1;
                    conn = None;
                }
            }
            _ => {
                stats.errors += 1;
                conn = None;
            }
        }
    }
    stats
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

async fn run(addr: &str, op: &str, req: Vec<u8>, connections: usize, seconds: f64) {
    let start = Instant::now();
    let warmup_end = start + Duration::from_secs(1);
    let end = warmup_end + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(connection(addr.to_owned(), req.clone(), warmup_end, end)))
        .collect();
    let mut all = Vec::new();
    let (mut errors, mut reconnects) = (0, 0);
    for t in tasks {
        let s = t.await.expect("task");
        all.extend(s.latencies_us);
        errors += s.errors;
        reconnects += s.reconnects;
    }
    all.sort_unstable();
    println!(
        "{op:<16} conns={connections:<3} req/s={:<9.0} p50_ms={:<7.3} p99_ms={:<7.3} errors={errors} reconnects={reconnects}",
        all.len() as f64 / seconds,
        percentile(&all, 0.50),
        percentile(&all, 0.99),
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let Some(url) = args.first() else {
        eprintln!("usage: kms_load URL [SECONDS] [CONNECTIONS...]");
        std::process::exit(2);
    };
    let addr = url.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let seconds: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let conns: Vec<usize> = if args.len() > 2 {
        args[2..].iter().filter_map(|s| s.parse().ok()).collect()
    } else {
        vec![1, 16, 64]
    };
    // One thread: the generator shares the machine with the server under test.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (status, key) = one_shot(&addr, &request(&addr, "CreateKey", "{}")).await;
        assert_eq!(status, 200, "CreateKey: {key}");
        let key_id = key["KeyMetadata"]["KeyId"].as_str().expect("KeyId").to_owned();
        let gdk_body =
            format!(r#"{{"KeyId":"{key_id}","KeySpec":"AES_256","EncryptionContext":{{"bench":"load"}}}}"#);
        let (status, dk) = one_shot(&addr, &request(&addr, "GenerateDataKey", &gdk_body)).await;
        assert_eq!(status, 200, "GenerateDataKey: {dk}");
        let blob = dk["CiphertextBlob"].as_str().expect("CiphertextBlob").to_owned();
        let dec_body = format!(r#"{{"CiphertextBlob":"{blob}","EncryptionContext":{{"bench":"load"}}}}"#);
        let (status, d) = one_shot(&addr, &request(&addr, "Decrypt", &dec_body)).await;
        assert_eq!(status, 200, "Decrypt: {d}");
        for &c in &conns {
            run(
                &addr,
                "GenerateDataKey",
                request(&addr, "GenerateDataKey", &gdk_body),
                c,
                seconds,
            )
            .await;
            run(&addr, "Decrypt", request(&addr, "Decrypt", &dec_body), c, seconds).await;
        }
    });
}
