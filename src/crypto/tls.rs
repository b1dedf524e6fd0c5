//! The TLS cryptography of the server front: rustls's provider on aws-lc-rs,
//! handed out here so that the front names no backend itself.

use std::sync::Arc;

use tokio_rustls::rustls::crypto::CryptoProvider;

/// rustls's default cipher suites and key exchanges, on aws-lc-rs.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider())
}
