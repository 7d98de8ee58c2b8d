//! Notifications over https: a webhook receiver on 127.0.0.1 serving a
//! certificate from a CA made here (openssl's CLI) gets its deliveries when
//! `zion up` trusts that CA through `SSL_CERT_FILE`; a receiver whose
//! certificate no trusted CA signed gets none, and `zion notifications`
//! names the certificate problem.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

use crate::support::*;

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA named `name` in `dir`: (`name.crt`, `name.key`).
fn ca(dir: &Path, name: &str) {
    let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &key,
            "-out",
            &crt,
        ],
        dir,
    );
}

/// A certificate for `localhost` signed by the CA `issuer`: its paths.
fn leaf(dir: &Path, name: &str, issuer: &str) -> (PathBuf, PathBuf) {
    let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
    openssl(
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            &key,
            "-out",
            &format!("{name}.csr"),
        ],
        dir,
    );
    std::fs::write(
        dir.join(format!("{name}.ext")),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{issuer}.crt"),
            "-CAkey",
            &format!("{issuer}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &crt,
        ],
        dir,
    );
    (dir.join(crt), dir.join(key))
}

/// An https receiver answering 200 to every POST, keeping each body.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<String>>>,
}

impl Receiver {
    fn start(cert: &Path, key: &Path) -> Receiver {
        let certs = vec![CertificateDer::from_pem_file(cert).unwrap()];
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let config = Arc::new(
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let got: Arc<Mutex<Vec<String>>> = Default::default();
        let log = got.clone();
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                // A client that refuses the certificate ends here.
                let Some(body) = read_body(&mut tls) else {
                    continue;
                };
                log.lock().unwrap().push(body);
                let _ = write!(
                    tls,
                    "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        Receiver { addr, got }
    }
}

/// The body of one HTTP/1.1 request read from `stream`.
fn read_body(stream: &mut impl Read) -> Option<String> {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    String::from_utf8(body).ok()
}

#[test]
fn a_webhook_over_https_is_delivered_when_its_ca_is_trusted_and_refused_with_the_reason_when_not() {
    let certs = tempfile::tempdir().unwrap();
    ca(certs.path(), "trusted-ca");
    ca(certs.path(), "other-ca");
    let (good_crt, good_key) = leaf(certs.path(), "good", "trusted-ca");
    let (bad_crt, bad_key) = leaf(certs.path(), "bad", "other-ca");
    let good = Receiver::start(&good_crt, &good_key);
    let bad = Receiver::start(&bad_crt, &bad_key);
    let (good_port, bad_port) = (good.addr.port(), bad.addr.port());
    let mut p = Project::with_spec(|api, target| {
        format!(
            "{}notifications:
  receivers:
    secure: {{ webhook: {{ url: \"https://localhost:{good_port}/zion\" }} }}
    stranger: {{ webhook: {{ url: \"https://127.0.0.1:{bad_port}/zion\" }} }}
  subscriptions:
    - {{ receiver: secure, events: [deployment.requested] }}
    - {{ receiver: stranger, events: [deployment.requested] }}
  max_attempts: 2
  timeout: 2s
",
            spec(api, target, "        - { weight: 100 }", &[], "20s")
        )
    });
    p.env.push((
        "SSL_CERT_FILE".into(),
        certs.path().join("trusted-ca.crt").display().to_string(),
    ));
    p.start();
    let id = p.json(&["deploy", "web", "1.0", "--env", "staging"])["id"]
        .as_i64()
        .unwrap();

    let rows = eventually(
        Duration::from_secs(30),
        "one delivered, one given up",
        || {
            let rows = p.json(&["notifications"]);
            let rows = rows.as_array().unwrap().clone();
            let state = |r: &str| {
                rows.iter()
                    .find(|row| row["receiver"] == r)
                    .map(|row| row["state"].as_str().unwrap_or("").to_owned())
            };
            (state("secure").as_deref() == Some("delivered")
                && state("stranger").as_deref() == Some("given_up"))
            .then_some(rows)
        },
    );
    let body: Value = serde_json::from_str(&good.got.lock().unwrap()[0]).unwrap();
    assert_eq!(body["event"], "deployment.requested", "{body}");
    assert_eq!(body["details"]["service"], "web", "{body}");
    assert!(body.to_string().contains(&id.to_string()), "{body}");
    assert!(bad.got.lock().unwrap().is_empty());
    let stranger = rows.iter().find(|r| r["receiver"] == "stranger").unwrap();
    let error = stranger["last_error"].as_str().unwrap();
    assert!(
        error.contains("receiver `stranger`")
            && error.contains("TLS handshake")
            && error.contains("UnknownIssuer"),
        "{error}"
    );
    let text = p.zion(&["notifications"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("invalid peer certificate"), "{text}");
}
