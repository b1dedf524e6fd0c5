//! Helpers of the KMS server tests: key stores, servers in process and as
//! `envelope kms serve` processes, and a raw HTTP/1.1 client for the cases no
//! SDK will send.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use envelope::kms::{KmsConfig, KmsCore};
use envelope::server::{Limits, Server, ServerConfig};
use serde_json::Value;

use crate::support::scrub;

/// A temporary key-store directory.
pub struct Store {
    pub tmp: tempfile::TempDir,
}

impl Store {
    pub fn new() -> Store {
        Store {
            tmp: tempfile::tempdir().unwrap(),
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("store")
    }

    pub fn open(&self) -> Arc<KmsCore> {
        Arc::new(KmsCore::open(KmsConfig::new(self.dir())).unwrap())
    }

    /// `envelope --keystore DIR ARGS...` with a clean environment.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut c = scrub::envelope();
        c.arg("--keystore").arg(self.dir()).args(args).output().unwrap()
    }
}

/// Short limits, so the timeout tests take a second, not a minute.
pub fn test_limits() -> Limits {
    Limits {
        max_connections: 16,
        header_timeout: Duration::from_millis(800),
        body_timeout: Duration::from_millis(800),
        shutdown_grace: Duration::from_secs(10),
        ..Limits::default()
    }
}

/// A server in this process over `core`.
pub fn start(core: Arc<KmsCore>, limits: Limits) -> Server {
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    config.limits = limits;
    Server::start(core, config).unwrap()
}

/// `envelope kms serve` as a child process.
pub struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    pub url: String,
    _stdout: BufReader<ChildStdout>,
}

impl Proc {
    pub fn start(store: &Path, extra: &[&str]) -> Proc {
        let mut c = scrub::envelope();
        let mut child = c
            .arg("--keystore")
            .arg(store)
            .args(["-q", "kms", "serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let url = line.trim().to_owned();
        let addr = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .unwrap_or_else(|| panic!("the server printed {line:?}, not its URL"))
            .parse()
            .unwrap();
        Proc {
            child,
            addr,
            url,
            _stdout: stdout,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// A field of /proc/PID/status, in KiB (VmRSS, VmHWM).
    pub fn mem_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| {
                l.strip_prefix(field)
                    .map(|r| r.trim_start_matches(':').trim().trim_end_matches(" kB"))
            })
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    pub fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The error code without a namespace, as clients read it.
    pub fn code(&self) -> String {
        let t = self.json()["__type"].as_str().unwrap_or_default().to_owned();
        t.rsplit('#').next().unwrap_or_default().to_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one HTTP/1.1 response (Content-Length framed) from `r`.
pub fn read_reply(r: &mut impl BufRead) -> std::io::Result<Reply> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed before a response",
        ));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// Sends raw bytes on a new connection and reads one response.
pub fn raw(addr: SocketAddr, request: &[u8]) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(request)?;
    read_reply(&mut BufReader::new(s))
}

/// A KMS request as an SDK sends it, with `body` as is.
pub fn request_bytes(op: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST / HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/x-amz-json-1.1\r\n\
         x-amz-target: TrentService.{op}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Calls `op` with a JSON body and returns the response.
pub fn call(addr: SocketAddr, op: &str, body: &Value) -> Reply {
    raw(addr, &request_bytes(op, body.to_string().as_bytes())).unwrap()
}

/// Calls `op` and insists on 200.
pub fn ok(addr: SocketAddr, op: &str, body: &Value) -> Value {
    let r = call(addr, op, body);
    assert_eq!(r.status, 200, "{op}: {}", String::from_utf8_lossy(&r.body));
    r.json()
}

pub fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn unb64(v: &Value) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().unwrap())
        .unwrap()
}

/// Every key id ListKeys reports, following `NextMarker` page by page as a
/// real client does (a page holds at most 1000 keys).
pub fn list_key_ids(addr: SocketAddr) -> Vec<String> {
    let mut ids = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut req = serde_json::json!({"Limit": 1000});
        if let Some(m) = &marker {
            req["Marker"] = Value::String(m.clone());
        }
        let page = ok(addr, "ListKeys", &req);
        for k in page["Keys"].as_array().unwrap() {
            ids.push(k["KeyId"].as_str().unwrap().to_owned());
        }
        if page["Truncated"].as_bool() != Some(true) {
            return ids;
        }
        marker = Some(page["NextMarker"].as_str().unwrap().to_owned());
    }
}

/// Encrypts and decrypts a few bytes under `key`: the key works.
pub fn key_works(addr: SocketAddr, key: &str) {
    let pt = b"still works";
    let e = ok(
        addr,
        "Encrypt",
        &serde_json::json!({"KeyId": key, "Plaintext": b64(pt)}),
    );
    let d = ok(
        addr,
        "Decrypt",
        &serde_json::json!({"CiphertextBlob": e["CiphertextBlob"]}),
    );
    assert_eq!(unb64(&d["Plaintext"]), pt);
}
