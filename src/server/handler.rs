//! One request: route, read the body within the limits, check the signature,
//! decode, run the operation on the blocking pool, answer.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Buf;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response};
use zeroize::Zeroizing;

use super::conn::ConnState;
use super::sigv4::{self, Authorization, SignedParts};
use super::wire::{self, ApiError, Op};
use super::{Limits, StoreIdentity};
use crate::kms::{Kms, KmsCore};

/// What every request handler shares.
pub(super) struct State {
    pub core: Arc<KmsCore>,
    pub identity: StoreIdentity,
    pub require_sigv4: bool,
    pub log_requests: bool,
    pub log: Option<super::RequestLog>,
    pub limits: Limits,
}

/// A response body held in a buffer that is wiped when dropped: responses
/// carry plaintext data keys.
pub(super) struct SecretBody(Option<SecretBuf>);

/// The bytes of a [`SecretBody`], wiped when dropped.
pub(super) struct SecretBuf {
    bytes: Zeroizing<Vec<u8>>,
    pos: usize,
}

impl Buf for SecretBuf {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn chunk(&self) -> &[u8] {
        &self.bytes[self.pos..]
    }

    fn advance(&mut self, cnt: usize) {
        self.pos = (self.pos + cnt).min(self.bytes.len());
    }
}

impl Body for SecretBody {
    type Data = SecretBuf;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<SecretBuf>, Infallible>>> {
        Poll::Ready(self.0.take().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.remaining() as u64))
    }
}

/// The outcome of one request, before it becomes an HTTP response.
struct Outcome {
    status: u16,
    body: Zeroizing<Vec<u8>>,
    /// The AWS error code, for the log.
    error: Option<String>,
    /// Whether the connection must close (the body was not read).
    close: bool,
}

impl Outcome {
    fn error(e: ApiError) -> Outcome {
        Outcome {
            status: e.status,
            body: Zeroizing::new(e.body()),
            error: Some(e.short_code().to_owned()),
            close: false,
        }
    }
}

fn request_id() -> String {
    let mut b = [0u8; 16];
    // A request id needs uniqueness, not secrecy; a failed draw leaves zeros.
    let _ = crate::crypto::fill_random(&mut b);
    uuid::Builder::from_random_bytes(b)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// Serves one request; never fails (every failure is an AWS error response).
pub(super) async fn handle(
    state: Arc<State>,
    conn: Arc<ConnState>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<SecretBody>, Infallible> {
    let _guard = conn.begin();
    let start = Instant::now();
    let mut log = LogLine::default();
    let outcome = process(&state, req, &mut log).await;
    if state.log_requests {
        log.print(state.log.as_ref(), peer, &outcome, start);
    }
    let status =
        hyper::StatusCode::from_u16(outcome.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = Response::new(SecretBody(Some(SecretBuf {
        bytes: outcome.body,
        pos: 0,
    })));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(wire::CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        headers.insert("x-amzn-requestid", v);
    }
    if outcome.close {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response)
}

async fn process(state: &State, req: Request<Incoming>, log: &mut LogLine) -> Outcome {
    if req.method() != Method::POST || req.uri().path() != "/" || req.uri().query().is_some() {
        return Outcome::error(ApiError::protocol(
            "UnknownOperationException",
            "AWS KMS requests are POST / with an X-Amz-Target header",
        ));
    }
    let headers = req.headers();
    let op = match wire::operation(headers.get("x-amz-target").map(HeaderValue::as_bytes)) {
        Ok(op) => op,
        Err(e) => return Outcome::error(e),
    };
    log.op = Some(op);
    if let Err(e) = wire::check_content_type(headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes)) {
        return Outcome::error(e);
    }
    let max = state.limits.max_body_bytes;
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return too_large(max);
    }
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(state.limits.body_timeout, Limited::new(body, max).collect()).await
    {
        Err(_) => {
            let mut o = Outcome::error(ApiError::new(
                408,
                "RequestTimeoutException",
                format!(
                    "the request body did not arrive within {:?}",
                    state.limits.body_timeout
                ),
            ));
            o.close = true;
            return o;
        }
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(max),
        Ok(Err(_)) => {
            let mut o = Outcome::error(ApiError::protocol(
                "SerializationException",
                "the request body could not be read",
            ));
            o.close = true;
            return o;
        }
        Ok(Ok(collected)) => Zeroizing::new(collected.to_bytes().to_vec()),
    };
    if state.require_sigv4 {
        if let Err(e) = check_signature(state, &parts, &body, log).await {
            return Outcome::error(e);
        }
    }
    let decoded = match wire::decode(op, &body) {
        Ok(d) => d,
        Err(e) => return Outcome::error(e),
    };
    drop(body);
    let core = state.core.clone();
    let log_keys = state.log_requests;
    let key = decoded.key;
    let request = decoded.request;
    let joined = tokio::task::spawn_blocking(move || request.call(core.as_ref() as &dyn Kms)).await;
    match joined.map(|r| (r, key)) {
        Ok((Ok(body), key)) => {
            let body = Zeroizing::new(body);
            if log_keys {
                log.key = response_key(&body).or(key);
            }
            Outcome {
                status: 200,
                body,
                error: None,
                close: false,
            }
        }
        Ok((Err(e), key)) => {
            log.key = key;
            Outcome::error(e)
        }
        Err(_) => Outcome::error(ApiError::new(
            500,
            "KMSInternalException",
            "the operation failed unexpectedly",
        )),
    }
}

fn too_large(max: usize) -> Outcome {
    let mut o = Outcome::error(ApiError::new(
        413,
        "RequestEntityTooLargeException",
        format!("the request body is larger than this server's limit of {max} bytes"),
    ));
    o.close = true;
    o
}

fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

async fn check_signature(
    state: &State,
    parts: &hyper::http::request::Parts,
    body: &[u8],
    log: &mut LogLine,
) -> Result<(), ApiError> {
    let header = parts.headers.get("authorization").ok_or_else(sigv4::missing)?;
    let header = header.to_str().map_err(|_| sigv4::missing())?;
    let auth = Authorization::parse(header)?;
    log.access_key = Some(auth.access_key_id.clone());
    let amz_date = sigv4::check_scope(&auth, &parts.headers, now_epoch(), &state.identity.region)?;
    let core = state.core.clone();
    let akid = auth.access_key_id.clone();
    let secret = tokio::task::spawn_blocking(move || core.access_key_secret(&akid))
        .await
        .map_err(|_| {
            ApiError::new(
                500,
                "KMSInternalException",
                "the access key lookup failed unexpectedly",
            )
        })??
        .ok_or_else(sigv4::unrecognized)?;
    sigv4::verify(
        &auth,
        &amz_date,
        &SignedParts {
            method: parts.method.as_str(),
            headers: &parts.headers,
            body,
        },
        &secret,
    )
}

/// The key ARN a response names, for the log; reads no other member.
fn response_key(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(rename = "Arn")]
        arn: String,
    }
    #[derive(serde::Deserialize)]
    struct Keyed {
        #[serde(rename = "KeyId")]
        key_id: Option<String>,
        #[serde(rename = "KeyMetadata")]
        key_metadata: Option<Meta>,
    }
    let k: Keyed = serde_json::from_slice(body).ok()?;
    k.key_id.or(k.key_metadata.map(|m| m.arn))
}

/// The fields of a request's log line.
#[derive(Default)]
struct LogLine {
    op: Option<Op>,
    key: Option<String>,
    access_key: Option<String>,
}

impl LogLine {
    fn print(&self, sink: Option<&super::RequestLog>, peer: SocketAddr, outcome: &Outcome, start: Instant) {
        let op = self.op.map_or("-", Op::name);
        let key = self.key.as_deref().unwrap_or("-");
        let error = outcome
            .error
            .as_deref()
            .map(|e| format!(" {e}"))
            .unwrap_or_default();
        let who = self
            .access_key
            .as_deref()
            .map(|a| format!(" by {a}"))
            .unwrap_or_default();
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        super::RequestLog::write(
            sink,
            format_args!("{peer}{who} {op} {key} {}{error} {ms:.2}ms", outcome.status),
        );
    }
}
