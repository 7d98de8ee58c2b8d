//! TLS on a target's listener: the certificate chosen by the client's SNI,
//! HTTP/2 or HTTP/1.1 by ALPN, and a certificate swapped on disk taken by new
//! handshakes while a connection opened before keeps working; a connection
//! silent after its handshake closed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use zion_proxy::{
    ListenerSettings, Route, TargetProxy, TlsCertificate, TlsSettings, TrafficMetrics,
};

use crate::support::{Upstream, within};

/// A self-signed certificate for `name` written to `dir` (openssl's CLI),
/// returned as (cert, key) paths.
fn self_signed(dir: &Path, file: &str, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{file}.crt"));
    let key = dir.join(format!("{file}.key"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj"])
        .arg(format!("/CN={name}"))
        .arg("-addext")
        .arg(format!("subjectAltName=DNS:{name}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

fn der(cert: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(cert).unwrap()
}

/// Accepts whatever certificate the server presents and keeps it: what
/// these tests check is which one the listener chose, by comparing it with
/// the file, which a real verifier would only approximate.
#[derive(Debug, Default)]
struct Presented(Mutex<Option<CertificateDer<'static>>>);

impl ServerCertVerifier for Presented {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.0.lock().unwrap() = Some(end_entity.clone().into_owned());
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS connection to `addr` asking for `name`, offering `alpn`: the
/// stream and the certificate the server presented.
async fn connect(
    addr: SocketAddr,
    name: &str,
    alpn: &[&[u8]],
) -> (TlsStream<TcpStream>, CertificateDer<'static>) {
    let presented = Arc::new(Presented::default());
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(&presented) as Arc<dyn ServerCertVerifier>)
            .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let stream = within(
        TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from(name.to_owned()).unwrap(), tcp),
    )
    .await
    .unwrap();
    let cert = presented.0.lock().unwrap().clone().unwrap();
    (stream, cert)
}

/// Swaps a file's content as deployment tools do: a new file renamed over it.
fn replace(target: &Path, with: &Path) {
    let next = target.with_extension("next");
    std::fs::copy(with, &next).unwrap();
    std::fs::rename(next, target).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_chooses_the_certificate_and_a_swap_on_disk_keeps_open_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (a_cert, a_key) = self_signed(dir.path(), "a", "a.test");
    let (b_cert, b_key) = self_signed(dir.path(), "b", "b.test");
    let up = Upstream::start("stable").await;
    let metrics = Arc::new(TrafficMetrics::new());
    let settings = TlsSettings {
        certificates: vec![
            TlsCertificate {
                names: vec!["a.test".into()],
                cert: a_cert.clone(),
                key: a_key.clone(),
            },
            TlsCertificate {
                names: vec!["b.test".into()],
                cert: b_cert.clone(),
                key: b_key.clone(),
            },
        ],
    };
    let settings = ListenerSettings {
        tls: Some(settings),
        ..ListenerSettings::default()
    };
    let proxy = TargetProxy::bind_with("127.0.0.1:0".parse().unwrap(), metrics, settings)
        .await
        .unwrap();
    proxy.set_route(Route::stable_only(up.pool("1.0")));
    let addr = proxy.local_addr();

    // Each name gets its own certificate; an unknown one the first.
    let (_, got) = connect(addr, "b.test", &[b"http/1.1"]).await;
    assert_eq!(got, der(&b_cert));
    let (_, got) = connect(addr, "other.test", &[b"http/1.1"]).await;
    assert_eq!(got, der(&a_cert));

    // HTTP/2 by ALPN, kept open across the swap.
    let (stream, got) = connect(addr, "a.test", &[b"h2", b"http/1.1"]).await;
    assert_eq!(got, der(&a_cert));
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let get = || {
        Request::get("https://a.test/headers")
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let resp = within(h2.send_request(get())).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = within(resp.into_body().collect()).await.unwrap().to_bytes();
    let seen = String::from_utf8(body.to_vec()).unwrap();
    assert!(seen.contains("x-forwarded-proto: https\n"), "{seen}");

    // HTTP/1.1 by ALPN, kept open across the swap too.
    let (stream, _) = connect(addr, "b.test", &[b"http/1.1"]).await;
    let (mut h1, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = within(h1.send_request(get())).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    within(resp.into_body().collect()).await.unwrap();

    // a.test's certificate renewed on disk: new handshakes get it.
    let (new_cert, new_key) = self_signed(dir.path(), "a2", "a.test");
    replace(&a_key, &new_key);
    replace(&a_cert, &new_cert);
    let fresh = der(&new_cert);
    let deadline = tokio::time::Instant::now() + crate::support::PATIENCE;
    loop {
        let (_, got) = connect(addr, "a.test", &[b"h2"]).await;
        if got == fresh {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // b.test's did not change.
    let (_, got) = connect(addr, "b.test", &[b"http/1.1"]).await;
    assert_eq!(got, der(&b_cert));

    // The connections opened before the swap still carry requests.
    for _ in 0..3 {
        let resp = within(h2.send_request(get())).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        within(resp.into_body().collect()).await.unwrap();
        let resp = within(h1.send_request(get())).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        within(resp.into_body().collect()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_does_not_match_its_certificate_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let (a_cert, _) = self_signed(dir.path(), "a", "a.test");
    let (_, b_key) = self_signed(dir.path(), "b", "b.test");
    let settings = TlsSettings {
        certificates: vec![TlsCertificate {
            names: vec!["a.test".into()],
            cert: a_cert,
            key: b_key.clone(),
        }],
    };
    let err = TargetProxy::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(TrafficMetrics::new()),
        ListenerSettings {
            tls: Some(settings),
            ..ListenerSettings::default()
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains(&b_key.display().to_string()), "{err}");
    let key_text = std::fs::read_to_string(&b_key).unwrap();
    let secret = key_text.lines().nth(1).unwrap();
    assert!(!err.contains(secret), "the key's text leaked: {err}");
}

/// A client that finishes its handshake and then sends nothing holds a
/// connection: it is closed after `header_timeout`, whichever protocol ALPN
/// chose (slow-loris guard), while a client that speaks in time is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_silent_after_its_handshake_is_closed_after_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path(), "a", "a.test");
    let up = Upstream::start("stable").await;
    let settings = ListenerSettings {
        tls: Some(TlsSettings {
            certificates: vec![TlsCertificate {
                names: vec!["a.test".into()],
                cert,
                key,
            }],
        }),
        header_timeout: Duration::from_millis(300),
        ..ListenerSettings::default()
    };
    let proxy = TargetProxy::bind_with(
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(TrafficMetrics::new()),
        settings,
    )
    .await
    .unwrap();
    proxy.set_route(Route::stable_only(up.pool("1.0")));
    for alpn in [&[][..], &[&b"http/1.1"[..]], &[&b"h2"[..]]] {
        let started = Instant::now();
        let (mut silent, _) = connect(proxy.local_addr(), "a.test", alpn).await;
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut rest)).await;
        assert!(
            closed.is_ok(),
            "ALPN {alpn:?}: a silent connection was never closed"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "ALPN {alpn:?}: closed before its timeout: {:?}",
            started.elapsed()
        );
        if alpn != [&b"h2"[..]] {
            assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
        }
    }
    // A client that speaks within the timeout is answered.
    let (mut talking, _) = connect(proxy.local_addr(), "a.test", &[b"http/1.1"]).await;
    talking
        .write_all(b"GET / HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    within(talking.read_to_string(&mut answer)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
