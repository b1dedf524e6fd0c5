//! Connections: the accept loop, the connection limit, TLS, and graceful
//! shutdown.
//!
//! Each connection is served by hyper's HTTP/1.1 state machine (keep-alive,
//! header-read timeout) over a socket wrapper that counts reads, so the
//! server knows which connections are idle: no request in flight and no byte
//! received since the last response. When the connection limit is reached,
//! the connection idle the longest is asked to close (hyper closes an idle
//! connection at once and lets a busy one finish its response); if none is
//! idle, the newcomer gets `503` with a JSON error and is closed.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;

use super::handler::{self, State};
use super::{RequestLog, ServerConfig, ServerError, StoreIdentity, TlsFiles};
use crate::kms::KmsCore;

/// hyper's read buffer, which bounds a request head (request line and
/// headers); larger heads get 431. Bodies stream through it in pieces.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Builds the TLS acceptor (rustls on aws-lc-rs) of `files`.
pub(super) fn tls_acceptor(files: Option<&TlsFiles>) -> Result<Option<TlsAcceptor>, ServerError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let Some(files) = files else {
        return Ok(None);
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            ServerError::Tls(format!(
                "cannot read certificates from {}: {e}",
                files.cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(ServerError::Tls(format!(
            "{} holds no certificate",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| {
        ServerError::Tls(format!(
            "cannot read a private key from {}: {e}",
            files.key.display()
        ))
    })?;
    let provider = crate::crypto::tls::provider();
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ServerError::Tls(format!("the certificate and key do not make a usable pair: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

/// What the server knows about one connection.
pub(super) struct ConnState {
    /// Reads that returned data.
    reads: AtomicU64,
    /// `reads` when the last response was done.
    reads_at_done: AtomicU64,
    /// Requests being handled.
    in_flight: AtomicU32,
    /// Milliseconds since the server started, at the last read or response.
    last_activity: AtomicU64,
    /// Set when the connection was asked to close to make room.
    evicted: AtomicBool,
    evict: Notify,
    epoch: Instant,
}

impl ConnState {
    fn new(epoch: Instant) -> ConnState {
        let c = ConnState {
            reads: AtomicU64::new(0),
            reads_at_done: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            last_activity: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
            epoch,
        };
        c.touch();
        c
    }

    fn touch(&self) {
        self.last_activity
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
            && self.reads.load(Ordering::Acquire) == self.reads_at_done.load(Ordering::Acquire)
    }

    /// Marks the start of a request; the guard marks its end.
    pub(super) fn begin(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        RequestGuard(self.clone())
    }
}

/// Ends a request's accounting when dropped.
pub(super) struct RequestGuard(Arc<ConnState>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let c = &self.0;
        c.reads_at_done
            .store(c.reads.load(Ordering::Acquire), Ordering::Release);
        c.in_flight.fetch_sub(1, Ordering::AcqRel);
        c.touch();
    }
}

/// The open connections.
struct Registry {
    conns: Mutex<HashMap<u64, Arc<ConnState>>>,
    next_id: AtomicU64,
    epoch: Instant,
}

impl Registry {
    /// Admits a new connection, evicting the longest-idle one when full.
    /// `None` when full and nothing is idle.
    fn admit(&self, max: usize) -> Option<(u64, Arc<ConnState>)> {
        let mut conns = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        let live = conns
            .values()
            .filter(|c| !c.evicted.load(Ordering::Acquire))
            .count();
        if live >= max {
            let victim = conns
                .values()
                .filter(|c| !c.evicted.load(Ordering::Acquire) && c.idle())
                .min_by_key(|c| c.last_activity.load(Ordering::Relaxed))?;
            victim.evicted.store(true, Ordering::Release);
            victim.evict.notify_one();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let c = Arc::new(ConnState::new(self.epoch));
        conns.insert(id, c.clone());
        Some((id, c))
    }

    fn remove(&self, id: u64) {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }

    fn len(&self) -> usize {
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// A socket that counts the reads that return data.
struct Tracked<S> {
    inner: S,
    conn: Arc<ConnState>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.conn.reads.fetch_add(1, Ordering::AcqRel);
            self.conn.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The answer to a connection over the limit when nothing can be evicted.
fn busy_response() -> Vec<u8> {
    let body = super::wire::ApiError::new(
        503,
        "ServiceUnavailableException",
        "the server has reached its connection limit and every connection is busy; retry later",
    )
    .body();
    let mut r = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        super::wire::CONTENT_TYPE,
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(&body);
    r
}

/// Accepts and serves connections until `stopped` turns true, then drains.
pub(super) async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    core: Arc<KmsCore>,
    config: ServerConfig,
    mut stopped: watch::Receiver<bool>,
) -> Result<(), ServerError> {
    let limits = config.limits.clone();
    let state = Arc::new(State {
        identity: StoreIdentity::of(&core),
        core,
        require_sigv4: config.require_sigv4,
        log_requests: config.log_requests,
        log: config.log.clone(),
        limits: limits.clone(),
    });
    let registry = Arc::new(Registry {
        conns: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(0),
        epoch: Instant::now(),
    });
    let in_flight = GlobalConcurrencyLimitLayer::new(limits.max_in_flight);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    if state.log_requests {
                        RequestLog::write(state.log.as_ref(), format_args!("accept failed: {e}"));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.wait_for(|s| *s) => break,
        };
        let _ = stream.set_nodelay(true);
        let Some((id, conn)) = registry.admit(limits.max_connections) else {
            if state.log_requests {
                RequestLog::write(
                    state.log.as_ref(),
                    format_args!("{peer} refused: connection limit reached"),
                );
            }
            if tls.is_none() {
                let _ = stream.try_write(&busy_response());
            }
            continue;
        };
        let (state, registry, tls, stopped, limit) = (
            state.clone(),
            registry.clone(),
            tls.clone(),
            stopped.clone(),
            in_flight.clone(),
        );
        tokio::spawn(async move {
            serve_connection(stream, peer, tls, state, conn, stopped, limit).await;
            registry.remove(id);
        });
    }
    drop(listener);
    let deadline = Instant::now() + limits.shutdown_grace;
    while registry.len() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
    conn: Arc<ConnState>,
    stopped: watch::Receiver<bool>,
    limit: GlobalConcurrencyLimitLayer,
) {
    let io = Tracked {
        inner: stream,
        conn: conn.clone(),
    };
    match tls {
        None => drive(TokioIo::new(io), peer, state, conn, stopped, limit).await,
        Some(acceptor) => {
            let timeout = state.limits.header_timeout;
            if let Ok(Ok(s)) = tokio::time::timeout(timeout, acceptor.accept(io)).await {
                drive(TokioIo::new(s), peer, state, conn, stopped, limit).await;
            }
        }
    }
}

async fn drive<I>(
    io: I,
    peer: SocketAddr,
    state: Arc<State>,
    conn: Arc<ConnState>,
    mut stopped: watch::Receiver<bool>,
    limit: GlobalConcurrencyLimitLayer,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let handler_conn = conn.clone();
    let handler_state = state.clone();
    let service = ServiceBuilder::new()
        .layer(limit)
        .service_fn(move |req| handler::handle(handler_state.clone(), handler_conn.clone(), peer, req));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(state.limits.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    let connection = builder.serve_connection(io, TowerToHyperService::new(service));
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = connection.as_mut() => break,
            _ = stopped.wait_for(|s| *s), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = conn.evict.notified(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
