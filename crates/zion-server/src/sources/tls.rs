//! The client side of https for Zion's outgoing calls (notification
//! receivers, hooks, metric sources): rustls with the ring provider, the
//! one the data plane's listeners use (no C toolchain build), and the
//! platform's root certificates, read once. `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` replace the platform's store, as OpenSSL's tools do, so
//! a private CA can be trusted without touching the system.

use std::sync::{Arc, OnceLock};

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The client configuration, or why there is none (no root certificate).
fn config() -> Result<Arc<ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG.get_or_init(build).clone()
}

fn build() -> Result<Arc<ClientConfig>, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(format!(
            "no trusted root certificate found{why}: install the system's CA certificates (Debian's ca-certificates) or point SSL_CERT_FILE at a PEM bundle"
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Opens TLS over `tcp` to `host`, checking its certificate against the
/// trusted roots and the name. A failure names the certificate problem.
pub(crate) async fn connect(tcp: TcpStream, host: &str) -> Result<TlsStream<TcpStream>, String> {
    let config = config()?;
    // An IPv6 literal comes bracketed in a URL's authority.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(bare.to_owned())
        .map_err(|e| format!("`{host}` is not a name TLS can check: {e}"))?;
    TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| {
            format!("TLS handshake with {host} failed: {e} (is its certificate's CA trusted? SSL_CERT_FILE names extra ones)")
        })
}
