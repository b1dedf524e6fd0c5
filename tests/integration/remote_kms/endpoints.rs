//! The three endpoints of the keyring suite, each a `Arc<dyn Kms>` with the
//! process or store behind it, and a small TCP proxy that counts KMS
//! operations and can go away on cue.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use envelope::kms::{Kms, KmsConfig, KmsCore};
use envelope::remote_kms::{RemoteKms, RemoteKmsConfig, StaticCredentials};

use crate::kms_server::support::Proc;
use crate::support::fixtures::repo_file;
use crate::support::{scrub, shared};

/// The region every endpoint's keys are made in.
pub const REGION: &str = "us-east-1";
/// The region a wrong-region ARN names.
pub const OTHER_REGION: &str = "us-west-2";
/// The dummy credentials of the emulators (and of `kms serve` without --sigv4).
pub const ACCESS_KEY: &str = "testing";
pub const SECRET_KEY: &str = "testing";

/// One endpoint of the suite: its name, the service, and what keeps it alive.
pub struct Endpoint {
    pub name: &'static str,
    pub kms: Arc<dyn Kms>,
    /// The URL for the CLI's `--kms-endpoint` (None for the embedded core).
    pub url: Option<String>,
    _keep: Box<dyn std::any::Any>,
}

/// A remote client of `url` with the dummy credentials, default region [`REGION`].
pub fn remote(url: &str) -> RemoteKms {
    RemoteKms::new(RemoteKmsConfig {
        endpoint: Some(url.to_owned()),
        region: Some(REGION.to_owned()),
        credentials: Some(StaticCredentials {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
        }),
        // A dead endpoint fails fast in the fault tests.
        connect_timeout: Duration::from_secs(2),
        max_attempts: 2,
        ..RemoteKmsConfig::default()
    })
    .unwrap()
}

/// The embedded core in a temporary store.
pub fn embedded() -> Endpoint {
    let dir = tempfile::tempdir().unwrap();
    let core = Arc::new(KmsCore::open(KmsConfig::new(dir.path().join("ks"))).unwrap());
    Endpoint {
        name: "embedded core",
        kms: core,
        url: None,
        _keep: Box::new(dir),
    }
}

/// `envelope kms serve` as a child process on a free port.
pub fn serve() -> Endpoint {
    let dir = tempfile::tempdir().unwrap();
    let proc = Proc::start(&dir.path().join("ks"), &[]);
    let url = proc.url.clone();
    Endpoint {
        name: "envelope kms serve",
        kms: Arc::new(remote(&url)),
        url: Some(url),
        _keep: Box::new((proc, dir)),
    }
}

/// moto's server, as a child process.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where moto's server is, if the venv has it.
fn moto_server() -> Option<PathBuf> {
    let p = repo_file(".venv/bin/moto_server");
    p.exists().then_some(p)
}

/// Starts moto on 127.0.0.1, a free port (it prints the port it took), or
/// says why it cannot (and fails under `CI=true`).
pub fn start_moto(test: &str) -> Option<Moto> {
    let Some(bin) = moto_server() else {
        assert!(
            !shared::in_ci(),
            "{test}: moto is not installed (.venv/bin/moto_server) and CI=true: run scripts/setup-venv.sh"
        );
        eprintln!(
            "moto ABSENT: {test}: .venv/bin/moto_server is missing (run scripts/setup-venv.sh); \
             the moto endpoint is left out of this run"
        );
        return None;
    };
    let mut c = scrub::command(&bin);
    c.args(["-H", "127.0.0.1", "-p", "0"])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_DEFAULT_REGION", REGION)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut url = None;
    let mut line = String::new();
    while url.is_none() {
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 {
            let _ = child.kill();
            panic!("{test}: moto_server ended before it said where it listens");
        }
        if let Some(i) = line.find("http://127.0.0.1:") {
            url = Some(line[i..].trim().to_owned());
        }
    }
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = err.read_to_end(&mut sink);
    });
    Some(Moto {
        child,
        url: url.unwrap(),
    })
}

/// moto's server as an endpoint.
pub fn moto(test: &str) -> Option<Endpoint> {
    let m = start_moto(test)?;
    let url = m.url.clone();
    Some(Endpoint {
        name: "moto",
        kms: Arc::new(remote(&url)),
        url: Some(url),
        _keep: Box::new(m),
    })
}

/// Every endpoint this run has.
pub fn all(test: &str) -> Vec<Endpoint> {
    let mut v = vec![embedded(), serve()];
    v.extend(moto(test));
    v
}

/// A TCP proxy in front of `upstream` that counts each KMS operation's
/// requests (by its `X-Amz-Target` header) and, once told to, refuses
/// every connection and cuts the open ones: the endpoint has gone away.
pub struct Proxy {
    pub url: String,
    counts: Arc<Mutex<Vec<String>>>,
    gone: Arc<AtomicBool>,
    /// Go away after this many GenerateDataKey requests (0: never).
    pub cut_after: Arc<AtomicUsize>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let counts = Arc::new(Mutex::new(Vec::new()));
        let gone = Arc::new(AtomicBool::new(false));
        let cut_after = Arc::new(AtomicUsize::new(0));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (c, g, k, cs) = (counts.clone(), gone.clone(), cut_after.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if g.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                cs.lock().unwrap().push(client.try_clone().unwrap());
                let (c, g, k) = (c.clone(), g.clone(), k.clone());
                let (client_r, server_w) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump_requests(client_r, server_w, c, g, k));
                std::thread::spawn(move || pump(server, client));
            }
        });
        Proxy {
            url,
            counts,
            gone,
            cut_after,
            conns,
        }
    }

    /// How many requests of `op` (e.g. `GenerateDataKey`) went through.
    pub fn count(&self, op: &str) -> usize {
        self.counts.lock().unwrap().iter().filter(|o| *o == op).count()
    }

    /// The endpoint goes away: no new connection, the open ones cut.
    pub fn go_away(&self) {
        go_away(&self.gone, &self.conns);
    }
}

fn go_away(gone: &AtomicBool, conns: &Mutex<Vec<TcpStream>>) {
    gone.store(true, Ordering::SeqCst);
    for c in conns.lock().unwrap().drain(..) {
        let _ = c.shutdown(Shutdown::Both);
    }
}

/// Client to server: copies bytes, noting each request's operation.
fn pump_requests(
    mut from: TcpStream,
    mut to: TcpStream,
    counts: Arc<Mutex<Vec<String>>>,
    gone: Arc<AtomicBool>,
    cut_after: Arc<AtomicUsize>,
) {
    let marker = b"trentservice.";
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if gone.load(Ordering::SeqCst) {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        let lower = tail.to_ascii_lowercase();
        let mut consumed = 0;
        let mut cut = false;
        while let Some(i) = find(&lower[consumed..], marker) {
            let start = consumed + i + marker.len();
            let Some(end) = lower[start..].iter().position(|b| !b.is_ascii_alphanumeric()) else {
                break;
            };
            let op = String::from_utf8_lossy(&tail[start..start + end]).into_owned();
            let mut c = counts.lock().unwrap();
            c.push(op.clone());
            let limit = cut_after.load(Ordering::SeqCst);
            if op == "GenerateDataKey"
                && limit > 0
                && c.iter().filter(|o| *o == "GenerateDataKey").count() > limit
            {
                cut = true;
            }
            consumed = start + end;
        }
        if cut {
            // This request never reaches the service, and no new one does;
            // answers already on their way still arrive.
            gone.store(true, Ordering::SeqCst);
            let _ = from.shutdown(Shutdown::Both);
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        // Keep only what may hold the start of a marker.
        let keep = tail.len().saturating_sub(consumed).min(64);
        tail.drain(..tail.len() - keep);
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Waits until `addr` accepts connections (a server that was just started).
pub fn wait_listening(addr: SocketAddr) {
    let t = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "{addr} never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A command of the envelope binary for a remote endpoint: scrubbed, with
/// the dummy credentials in its environment.
pub fn envelope_cmd() -> Command {
    let mut c = scrub::envelope();
    c.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    c
}
