//! How a connection to PostgreSQL is secured.
//!
//! `sslmode=require` in DATABASE_URL: TLS, and the server's certificate must chain to a root this system trusts and
//! name the host of the URL, as libpq's `verify-full` checks. A managed
//! database's own CA (a cloud provider's bundle) is added with SSL_CERT_FILE
//! or SSL_CERT_DIR. Without it (`disable`, `prefer`, or no sslmode): no TLS,
//! as before; `prefer` does not try TLS, since a certificate that is never
//! checked protects nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Config, NoTls};

/// A connection's background task, whichever transport it runs on.
pub type Connection = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + Send>>;

/// Whether `config` asks for TLS.
fn wants_tls(config: &Config) -> bool {
    config.get_ssl_mode() == SslMode::Require
}

/// The TLS client: the system's roots (or SSL_CERT_FILE / SSL_CERT_DIR).
fn rustls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        // A root the system lists but rustls cannot read is skipped, not fatal.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err("sslmode=require, but no trusted root certificate was found: set SSL_CERT_FILE to the \
                    database's CA bundle"
            .into());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Connects as `config` says, TLS included; the connection's task is
/// returned to be spawned on the runtime that drives it.
pub async fn connect(config: &Config) -> Result<(Client, Connection), String> {
    let failed = |e: tokio_postgres::Error| format!("cannot connect: {}", super::reason(&e));
    if wants_tls(config) {
        let (client, connection) = config.connect(rustls_connector()?).await.map_err(failed)?;
        Ok((client, Box::pin(connection)))
    } else {
        let (client, connection) = config.connect(NoTls).await.map_err(failed)?;
        Ok((client, Box::pin(connection)))
    }
}
