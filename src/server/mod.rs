//! The KMS core as a network service, on the AWS KMS wire protocol.
//!
//! Every AWS SDK, the AWS CLI and the official Encryption SDKs speak AWS KMS's
//! protocol and can be pointed at another endpoint (`--endpoint-url`,
//! `endpoint_url=`, `AWS_ENDPOINT_URL_KMS`); this server answers them with a
//! [`KmsCore`], so each of them becomes an envelope client. `envelope kms
//! serve` runs one; [`Server::start`] runs one inside another program.
//!
//! * Protocol ([`wire`]): AWS JSON 1.1, `POST /`, `X-Amz-Target:
//!   TrentService.<Operation>`, every operation of the core, errors as AWS
//!   sends them (400 for client faults, 500 for `KMSInternalException`).
//! * Access ([`ServerConfig::require_sigv4`]): by default anyone who can reach
//!   the socket may use every key, like every KMS emulator; that is only
//!   allowed on a loopback address. With SigV4 on, requests must be signed with
//!   an access key the key store issued ([`KmsCore::create_access_key`]);
//!   [`sigv4`] checks them. A non-loopback address is refused unless SigV4
//!   and TLS are both on, or [`ServerConfig::allow_exposed_plaintext_keys`]
//!   accepts that GenerateDataKey and Decrypt responses, which carry
//!   plaintext keys, cross the network unprotected.
//! * Limits ([`Limits`]): request bodies are capped, a client has a bounded
//!   time to send its headers (counted from the end of the previous response,
//!   so idle keep-alive connections close too) and its body, the number of
//!   connections is bounded (when full, the connection idle the longest is
//!   closed to make room, else the newcomer gets a 503), and at most
//!   [`Limits::max_in_flight`] operations run at once (a `tower` concurrency
//!   limit; the rest wait their turn).
//! * Blocking work: every key-store operation runs on tokio's blocking pool,
//!   never on the async workers.
//! * Shutdown ([`Server::shutdown`], SIGTERM or Ctrl-C for the CLI): the
//!   listener closes, requests in flight finish and get their responses, idle
//!   connections close, then the key store is released.
//! * Log ([`ServerConfig::log_requests`]): one line per request on stderr:
//!   peer, operation, key ARN, status (and error code), latency. Never a
//!   plaintext, a data key or a blob.
//!
//! Limitation: responses are built in buffers that are wiped when dropped,
//! but the HTTP stack's own read and write buffers, which also see request
//! and response bodies, are not wiped.

mod conn;
mod handler;
pub mod sigv4;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::kms::{KmsCore, KmsError};

/// The address `envelope kms serve` listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The identity the server answers for: the partition, region and account of
/// its key store. ARNs in requests must name them (the core refuses others
/// with NotFoundException, as AWS does), and a SigV4 credential must be
/// scoped to the region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreIdentity {
    /// ARN partition, `aws`.
    pub partition: String,
    /// Region.
    pub region: String,
    /// 12-digit account id.
    pub account_id: String,
}

impl StoreIdentity {
    /// The identity of `core`'s key store. The one place the server reads it.
    pub fn of(core: &KmsCore) -> StoreIdentity {
        let c = core.identity();
        StoreIdentity {
            partition: c.partition.clone(),
            region: c.region.clone(),
            account_id: c.account_id.clone(),
        }
    }
}

/// Resource limits of a server. The defaults suit KMS requests, which are a
/// few KiB; tests shorten the timeouts.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted (default 64 KiB; a 4096-byte Encrypt is
    /// about 5.5 KiB). Larger bodies get 413.
    pub max_body_bytes: usize,
    /// Most connections open at once (default 256).
    pub max_connections: usize,
    /// Most operations running at once on the blocking pool (default twice
    /// the available cores, at least 4): key-store work takes one SQLite lock
    /// per store, so more threads than that only contend; waiting requests
    /// queue without a thread.
    pub max_in_flight: usize,
    /// Time a client has to send a request's headers, from the connection's
    /// start or the end of the previous response (default 20 s).
    pub header_timeout: Duration,
    /// Time a client has to send a request's body once its headers are in
    /// (default 20 s).
    pub body_timeout: Duration,
    /// How long shutdown waits for requests in flight (default 30 s).
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 64 * 1024,
            max_connections: 256,
            max_in_flight: std::thread::available_parallelism().map_or(4, |n| (2 * n.get()).max(4)),
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(20),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// A PEM certificate chain and private key for TLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM file with the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// How a server listens and whom it lets in.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind; port 0 picks a free port ([`Server::local_addr`] tells which).
    pub listen: SocketAddr,
    /// Require requests signed (SigV4) with an access key of the key store.
    pub require_sigv4: bool,
    /// Serve HTTPS with this certificate.
    pub tls: Option<TlsFiles>,
    /// Allow a non-loopback address without SigV4 and TLS, accepting that
    /// plaintext data keys then cross the network unprotected.
    pub allow_exposed_plaintext_keys: bool,
    /// Resource limits.
    pub limits: Limits,
    /// One line per request on stderr.
    pub log_requests: bool,
    /// Where the log's lines go instead of stderr (each line without a
    /// prefix or line end). The lines carry what clients sent (key ids,
    /// access key ids, the errors about them), control characters included:
    /// a sink that shows them on a terminal should escape them, as the CLI's
    /// does. `None`: stderr, as `envelope kms serve: LINE`, unescaped.
    pub log: Option<RequestLog>,
}

/// A destination for the request log's lines ([`ServerConfig::log`]).
#[derive(Clone)]
pub struct RequestLog(pub Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for RequestLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestLog(..)")
    }
}

impl RequestLog {
    /// Writes one line to this sink, or to stderr when there is none.
    pub(crate) fn write(sink: Option<&RequestLog>, line: std::fmt::Arguments<'_>) {
        match sink {
            Some(RequestLog(f)) => f(&line.to_string()),
            None => eprintln!("envelope kms serve: {line}"),
        }
    }
}

impl ServerConfig {
    /// A loopback server on `listen` with default limits, no SigV4, no TLS.
    pub fn new(listen: SocketAddr) -> ServerConfig {
        ServerConfig {
            listen,
            require_sigv4: false,
            tls: None,
            allow_exposed_plaintext_keys: false,
            limits: Limits::default(),
            log_requests: false,
            log: None,
        }
    }

    /// Refuses a non-loopback address unless SigV4 and TLS are both on or the
    /// risk is accepted explicitly.
    pub fn check_exposure(&self) -> Result<(), ServerError> {
        if self.listen.ip().is_loopback()
            || (self.require_sigv4 && self.tls.is_some())
            || self.allow_exposed_plaintext_keys
        {
            return Ok(());
        }
        Err(ServerError::Config(format!(
            "refusing to listen on {}, which is not a loopback address, without both SigV4 verification \
             (--sigv4) and TLS (--tls-cert, --tls-key): GenerateDataKey and Decrypt responses carry \
             plaintext keys, and anyone who can reach the port could use every key. Pass \
             --allow-exposed-plaintext-keys to accept that risk.",
            self.listen
        )))
    }

    /// The URL clients use: `http://ADDR` or `https://ADDR`.
    pub fn url_for(&self, addr: SocketAddr) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{addr}")
    }
}

/// Why a server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is refused.
    #[error("{0}")]
    Config(String),
    /// Binding or serving failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The certificate or key cannot be used.
    #[error("TLS: {0}")]
    Tls(String),
    /// The key store failed.
    #[error("{0}")]
    Kms(#[from] KmsError),
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let what = what.into();
    move |source| ServerError::Io { what, source }
}

/// A running server (see [`Server::start`]).
pub struct Server {
    addr: SocketAddr,
    url: String,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<Result<(), ServerError>>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("url", &self.url).finish()
    }
}

fn runtime(limits: &Limits) -> Result<tokio::runtime::Runtime, ServerError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("envelope-kms-server")
        .max_blocking_threads(limits.max_in_flight + 8)
        .build()
        .map_err(io_error("cannot start the server's runtime"))
}

impl Server {
    /// Binds `config.listen` and serves `core` on threads of its own until
    /// [`Server::shutdown`] (or drop). Returns once the socket is bound, so
    /// [`Server::local_addr`] can be used at once. Does not need (and does not
    /// disturb) a tokio runtime of the caller.
    pub fn start(core: Arc<KmsCore>, config: ServerConfig) -> Result<Server, ServerError> {
        config.check_exposure()?;
        let tls = conn::tls_acceptor(config.tls.as_ref())?;
        let rt = runtime(&config.limits)?;
        // Bound here with std, so that this works inside a caller's runtime too.
        let listener = std::net::TcpListener::bind(config.listen)
            .map_err(io_error(format!("cannot listen on {}", config.listen)))?;
        listener
            .set_nonblocking(true)
            .map_err(io_error("cannot configure the listening socket"))?;
        let addr = listener
            .local_addr()
            .map_err(io_error("cannot read the bound address"))?;
        let (stop, stopped) = watch::channel(false);
        let url = config.url_for(addr);
        let thread = std::thread::Builder::new()
            .name("envelope-kms-server".into())
            .spawn(move || {
                let r = rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .map_err(io_error("cannot register the listening socket"))?;
                    conn::serve(listener, tls, core, config, stopped).await
                });
                rt.shutdown_timeout(Duration::from_secs(5));
                r
            })
            .map_err(io_error("cannot start the server thread"))?;
        Ok(Server {
            addr,
            url,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL for clients (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops accepting, lets requests in flight finish (up to
    /// [`Limits::shutdown_grace`]), and waits until the server has released
    /// the key store.
    pub fn shutdown(mut self) -> Result<(), ServerError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), ServerError> {
        let _ = self.stop.send(true);
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(ServerError::Config("the server thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// Serves `core` until SIGTERM or Ctrl-C, then shuts down gracefully: the
/// entry point of `envelope kms serve`. `on_ready` is called with the URL
/// once the socket is bound.
pub fn run_until_signal(
    core: Arc<KmsCore>,
    config: ServerConfig,
    on_ready: impl FnOnce(&str),
) -> Result<(), ServerError> {
    config.check_exposure()?;
    let tls = conn::tls_acceptor(config.tls.as_ref())?;
    let rt = runtime(&config.limits)?;
    let r = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(io_error(format!("cannot listen on {}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(io_error("cannot read the bound address"))?;
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = stop.send(true);
        });
        on_ready(&config.url_for(addr));
        conn::serve(listener, tls, core, config, stopped).await
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    r
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposure_policy() {
        let mut c = ServerConfig::new("127.0.0.1:0".parse().unwrap());
        assert!(c.check_exposure().is_ok());
        c.listen = "[::1]:0".parse().unwrap();
        assert!(c.check_exposure().is_ok());
        c.listen = "0.0.0.0:8080".parse().unwrap();
        let e = c.check_exposure().unwrap_err().to_string();
        assert!(e.contains("plaintext keys"), "{e}");
        c.require_sigv4 = true;
        assert!(c.check_exposure().is_err());
        c.tls = Some(TlsFiles {
            cert: "c.pem".into(),
            key: "k.pem".into(),
        });
        assert!(c.check_exposure().is_ok());
        c.require_sigv4 = false;
        assert!(c.check_exposure().is_err());
        c.allow_exposed_plaintext_keys = true;
        assert!(c.check_exposure().is_ok());
    }
}
