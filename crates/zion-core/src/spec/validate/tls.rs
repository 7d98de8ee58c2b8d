//! `targets.<env>.tls`: the certificates of a target's listener. Only their
//! shape is checked here (the core reads no file); the server reads them
//! when it binds the listener and names the file it cannot use.

use super::{Report, at, text};
use crate::spec::raw::{RawTls, RawTlsCertificate, keys};
use crate::spec::{TargetTls, TlsCertificateSpec};

pub(super) fn tls(r: &mut Report, p: &str, raw: &RawTls) -> Option<TargetTls> {
    r.unknown(p, &raw.unknown, keys::TLS);
    let path = at(p, "certificates");
    let list = match raw.certificates.as_deref() {
        Some(list) if !list.is_empty() => list,
        _ => {
            r.add(
                path,
                "missing: list at least one certificate, e.g. \
                 `certificates: [{ names: [shop.example], cert: shop.crt, key: shop.key }]`",
            );
            return None;
        }
    };
    let certificates: Vec<TlsCertificateSpec> = list
        .iter()
        .enumerate()
        .filter_map(|(i, c)| certificate(r, &format!("{path}[{i}]"), c))
        .collect();
    (certificates.len() == list.len()).then_some(TargetTls { certificates })
}

fn certificate(r: &mut Report, p: &str, raw: &RawTlsCertificate) -> Option<TlsCertificateSpec> {
    r.unknown(p, &raw.unknown, keys::TLS_CERTIFICATE);
    let mut ok = true;
    let names: Vec<String> = raw
        .names
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, n)| {
            let name = n.as_str().trim();
            if is_host_name(name) {
                Some(name.to_ascii_lowercase())
            } else {
                r.add(
                    format!("{p}.names[{i}]"),
                    format!(
                        "{:?} is not a host name: use letters, digits, '-' and '.', \
                         optionally starting with `*.` (e.g. shop.example, *.shop.example)",
                        n.as_str()
                    ),
                );
                ok = false;
                None
            }
        })
        .collect();
    if raw.names.as_ref().is_none_or(Vec::is_empty) {
        r.add(
            at(p, "names"),
            "missing: the host names clients ask for (SNI) that this certificate serves, \
             e.g. `names: [shop.example]`",
        );
        ok = false;
    }
    let mut file = |key: &str, value: Option<&str>, what: &str| match value {
        Some(v) if !v.trim().is_empty() => Some(v.to_owned()),
        _ => {
            r.add(
                at(p, key),
                format!(
                    "missing: the {what} file (PEM), relative to the spec's folder or absolute"
                ),
            );
            None
        }
    };
    let cert = file("cert", text(raw.cert.as_ref()), "certificate chain");
    let key = file("key", text(raw.key.as_ref()), "private key");
    Some(TlsCertificateSpec {
        names,
        cert: cert?,
        key: key?,
    })
    .filter(|_| ok)
}

fn is_host_name(name: &str) -> bool {
    let bare = name.strip_prefix("*.").unwrap_or(name);
    !bare.is_empty()
        && bare.len() <= 253
        && bare.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}
