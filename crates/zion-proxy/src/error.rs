//! What can go wrong when starting a target's listener.

use std::io;
use std::net::SocketAddr;

/// Errors of the built-in proxy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The target's listen address could not be bound.
    #[error("cannot listen on {addr}: {}", bind_hint(.source))]
    Bind {
        /// The address from the spec's `targets.<env>.listen`.
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// A certificate or key of the listener's TLS could not be used.
    #[error("TLS: {0}")]
    Tls(String),
}

impl ProxyError {
    /// What went wrong and what to do, without the address (for messages
    /// that name it already).
    pub fn cause(&self) -> String {
        match self {
            ProxyError::Bind { source, .. } => bind_hint(source),
            ProxyError::Tls(reason) => reason.clone(),
        }
    }
}

/// Says what the bind failure means for a person and what to do about it.
fn bind_hint(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::AddrInUse => "address in use: another process (or another target) \
             already listens there; stop it or choose another port in the spec"
            .to_owned(),
        io::ErrorKind::AddrNotAvailable => "address not available: no interface of this \
             machine has that IP; use 127.0.0.1, 0.0.0.0 or one of the machine's addresses"
            .to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied: ports below 1024 need \
             privileges; choose a port of 1024 or above"
            .to_owned(),
        _ => format!("{err}; check the listen address in the spec"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_error_names_address_and_cause() {
        let err = ProxyError::Bind {
            addr: "127.0.0.1:8080".parse().unwrap(),
            source: io::Error::from(io::ErrorKind::AddrInUse),
        };
        let msg = err.to_string();
        assert!(msg.contains("127.0.0.1:8080"), "{msg}");
        assert!(msg.contains("address in use"), "{msg}");
        assert!(msg.contains("choose another port"), "{msg}");
    }
}
