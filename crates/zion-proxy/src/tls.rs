//! TLS termination on a target's listener: rustls (ring), certificates
//! chosen by the name the client asks for (SNI), HTTP/2 or HTTP/1.1 by ALPN,
//! and the files read again when they change on disk.
//!
//! A reload swaps the certificates the resolver hands out, not the listener
//! nor the rustls configuration: handshakes from then on get the new
//! certificate, connections already open keep theirs and are not dropped.
//! Files that fail to load (a key half written, a certificate that does
//! not match its key) leave the certificates in force and are tried again
//! at their next change.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::error::ProxyError;
use crate::proxy::RunState;

/// How often the files' modification times are compared.
const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// One certificate of a listener: its chain and key (PEM files) and the
/// names it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsCertificate {
    /// Host names this certificate is chosen for (`*.example.com` covers
    /// one label); the first certificate also serves clients that name
    /// none of them, or no name at all.
    pub names: Vec<String>,
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A listener's TLS: its certificates, at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub certificates: Vec<TlsCertificate>,
}

/// The certificates in force, by lower-case name.
#[derive(Debug)]
struct Certs {
    by_name: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

#[derive(Debug)]
struct Resolver {
    current: ArcSwap<Certs>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let certs = self.current.load();
        let chosen = hello.server_name().and_then(|name| {
            let name = name.to_ascii_lowercase();
            certs.by_name.get(&name).or_else(|| {
                let (_, parent) = name.split_once('.')?;
                certs.by_name.get(&format!("*.{parent}"))
            })
        });
        Some(Arc::clone(chosen.unwrap_or(&certs.default)))
    }
}

/// What the accept path needs.
pub(crate) struct Tls {
    pub(crate) acceptor: TlsAcceptor,
}

impl Tls {
    /// Loads every certificate (refusing the listener if one cannot be
    /// used) and starts watching the files until the proxy stops.
    pub(crate) fn start(
        settings: TlsSettings,
        state: watch::Receiver<RunState>,
    ) -> Result<Tls, ProxyError> {
        let certs = load(&settings)?;
        let resolver = Arc::new(Resolver {
            current: ArcSwap::from_pointee(certs),
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ProxyError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&resolver) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        tokio::spawn(watch_files(settings, resolver, state));
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

fn load(settings: &TlsSettings) -> Result<Certs, ProxyError> {
    let mut by_name = HashMap::new();
    let mut default = None;
    for c in &settings.certificates {
        let key = Arc::new(certified_key(&c.cert, &c.key)?);
        for name in &c.names {
            by_name
                .entry(name.to_ascii_lowercase())
                .or_insert_with(|| Arc::clone(&key));
        }
        default.get_or_insert(key);
    }
    let default = default.ok_or_else(|| {
        ProxyError::Tls("no certificate: give at least one `{ names, cert, key }`".to_owned())
    })?;
    Ok(Certs { by_name, default })
}

fn certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, ProxyError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect)
        .map_err(|e| {
            ProxyError::Tls(format!(
                "cannot read the certificate {}: {e} (a PEM file with `BEGIN CERTIFICATE` blocks, leaf first)",
                cert.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(ProxyError::Tls(format!(
            "{} holds no certificate (a PEM file with `BEGIN CERTIFICATE` blocks, leaf first)",
            cert.display()
        )));
    }
    // The key's text is never repeated in a message: only its path.
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        ProxyError::Tls(format!(
            "cannot read the private key {}: {e} (a PEM file with a PKCS#8, RSA or EC private key)",
            key.display()
        ))
    })?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, private, &provider).map_err(|e| {
        ProxyError::Tls(format!(
            "the key {} cannot serve the certificate {}: {e}",
            key.display(),
            cert.display()
        ))
    })
}

/// Each file's modification time and length, or None when it cannot be read.
fn stamps(settings: &TlsSettings) -> Vec<Option<(SystemTime, u64)>> {
    settings
        .certificates
        .iter()
        .flat_map(|c| [&c.cert, &c.key])
        .map(|path| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}

async fn watch_files(
    settings: TlsSettings,
    resolver: Arc<Resolver>,
    mut state: watch::Receiver<RunState>,
) {
    let mut seen = stamps(&settings);
    let mut tick = tokio::time::interval(RELOAD_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = state.changed() => {
                if changed.is_err() || *state.borrow() != RunState::Running {
                    return;
                }
            }
        }
        let now = stamps(&settings);
        if now == seen {
            continue;
        }
        seen = now;
        match load(&settings) {
            Ok(certs) => {
                resolver.current.store(Arc::new(certs));
                info!(
                    "TLS certificates reloaded: new handshakes use them, open connections keep theirs"
                );
            }
            Err(err) => {
                warn!(%err, "TLS certificates changed on disk but cannot be used; the previous ones stay in force");
            }
        }
    }
}
