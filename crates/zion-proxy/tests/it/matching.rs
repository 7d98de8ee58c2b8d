//! Header and cookie rules: matching requests reach the canary whatever the
//! weight, the others never do (or only by the split).

use http::{Request, StatusCode};
use http_body_util::Full;
use zion_proxy::{MatchRule, Route};

use crate::support::{Upstream, client, proxy, send, tally_with, within};

fn header_equals(name: &str, value: &str) -> MatchRule {
    MatchRule::HeaderEquals {
        name: name.into(),
        value: value.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_equals_at_weight_0_sends_only_matching_requests_to_canary() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(
        Route::split(stable.pool("1.0"), canary.pool("1.1"), 0)
            .with_matches(vec![header_equals("X-Team", "blue")]),
    );
    let addr = proxy.local_addr();

    // Field names are case-insensitive, values are not.
    for name in ["x-team", "X-TEAM"] {
        let counts = tally_with(addr, 100, &[(name, "blue")]).await;
        assert_eq!(counts.get("canary"), Some(&100), "{name}: {counts:?}");
        assert_eq!(counts.len(), 1, "{counts:?}");
    }
    for headers in [
        &[][..],
        &[("x-team", "red")],
        &[("x-team", "Blue")],
        &[("x-other", "blue")],
    ] {
        let counts = tally_with(addr, 100, headers).await;
        assert_eq!(counts.get("stable"), Some(&100), "{headers:?}: {counts:?}");
        assert_eq!(counts.len(), 1, "{headers:?}: {counts:?}");
    }
    assert_eq!(metrics.totals("1.1"), (200, 0));
    assert_eq!(metrics.totals("1.0"), (400, 0));
    assert_eq!(
        canary.requests.load(std::sync::atomic::Ordering::SeqCst),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_regex_matches_anywhere_in_the_value() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let (proxy, _) = proxy().await;
    proxy.set_route(
        Route::split(stable.pool("1.0"), canary.pool("1.1"), 0).with_matches(vec![
            MatchRule::HeaderRegex {
                name: "user-agent".into(),
                regex: "(?i)mobile|android".into(),
            },
        ]),
    );
    let addr = proxy.local_addr();
    for ua in ["Mozilla/5.0 (Linux; Android 14)", "Something MOBILE Safari"] {
        let counts = tally_with(addr, 50, &[("user-agent", ua)]).await;
        assert_eq!(counts.get("canary"), Some(&50), "{ua}: {counts:?}");
    }
    for ua in ["Mozilla/5.0 (X11; Linux x86_64)", "curl/8.5"] {
        let counts = tally_with(addr, 50, &[("user-agent", ua)]).await;
        assert_eq!(counts.get("stable"), Some(&50), "{ua}: {counts:?}");
        assert_eq!(counts.len(), 1, "{counts:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_rule_reads_every_cookie_field() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(
        Route::split(stable.pool("1.0"), canary.pool("1.1"), 0).with_matches(vec![
            MatchRule::CookieEquals {
                name: "beta".into(),
                value: "yes".into(),
            },
        ]),
    );
    let addr = proxy.local_addr();
    let client = client();
    let ask = |cookies: &[&str]| {
        let mut req = Request::get(format!("http://{addr}/"));
        for c in cookies {
            req = req.header("cookie", *c);
        }
        send(&client, req.body(Full::default()).unwrap())
    };

    let matching: [&[&str]; 4] = [
        &["beta=yes"],
        &["session=abc; beta=yes; theme=dark"],
        &["session=abc", "theme=dark;beta=yes"],
        &["beta=\"yes\""],
    ];
    for cookies in matching {
        let reply = ask(cookies).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, "canary", "{cookies:?}");
        assert!(
            !reply.headers.contains_key("set-cookie"),
            "not a sticky route"
        );
    }
    let other: [&[&str]; 5] = [
        &[],
        &["beta=no"],
        &["xbeta=yes; beta=yes2"],
        &["session=beta=yes"],
        &["Beta=yes"],
    ];
    for cookies in other {
        let reply = ask(cookies).await;
        assert_eq!(reply.body, "stable", "{cookies:?}");
    }
    // A header named like the cookie is not the cookie.
    let req = Request::get(format!("http://{addr}/"))
        .header("beta", "yes")
        .body(Full::default())
        .unwrap();
    assert_eq!(send(&client, req).await.body, "stable");
    assert_eq!(metrics.totals("1.1"), (4, 0));
    assert_eq!(metrics.totals("1.0"), (6, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_leave_the_split_of_other_requests_exact() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(
        Route::split(stable.pool("1.0"), canary.pool("1.1"), 10)
            .with_matches(vec![header_equals("x-team", "blue")]),
    );
    let addr = proxy.local_addr();
    // Matching and other requests at the same time: matching ones do not
    // take turns of the split.
    let (matching, rest) = tokio::join!(
        tally_with(addr, 150, &[("x-team", "blue")]),
        tally_with(addr, 300, &[("x-team", "red")]),
    );
    assert_eq!(matching.get("canary"), Some(&150), "{matching:?}");
    assert_eq!(rest.get("canary"), Some(&30), "{rest:?}");
    assert_eq!(rest.get("stable"), Some(&270), "{rest:?}");
    assert_eq!(metrics.totals("1.1"), (180, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matching_requests_fall_back_to_stable_without_a_canary() {
    let stable = Upstream::start("stable").await;
    let (proxy, _) = proxy().await;
    proxy.set_route(
        Route::stable_only(stable.pool("1.0")).with_matches(vec![header_equals("x-team", "blue")]),
    );
    let counts = tally_with(proxy.local_addr(), 20, &[("x-team", "blue")]).await;
    assert_eq!(counts.get("stable"), Some(&20), "{counts:?}");
}

/// Read the answers on a kept-alive connection: each head's `x-version`,
/// then its body, `n` times.
async fn versions_on(stream: &mut tokio::net::TcpStream, n: usize) -> Vec<String> {
    use tokio::io::AsyncReadExt;
    let mut versions = Vec::new();
    let mut pending = Vec::new();
    while versions.len() < n {
        let mut chunk = [0u8; 4096];
        let got = within(stream.read(&mut chunk)).await.unwrap();
        assert!(got > 0, "closed after {versions:?}");
        pending.extend_from_slice(&chunk[..got]);
        // Each answer: a head, then a body of content-length bytes.
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .map_or(0, |v| v.trim().parse().unwrap());
            if pending.len() < end + 4 + length {
                break;
            }
            let version = head
                .lines()
                .find_map(|l| l.strip_prefix("x-version: "))
                .unwrap_or("?")
                .to_owned();
            versions.push(version);
            pending.drain(..end + 4 + length);
        }
    }
    versions
}

/// A kept-alive connection that began on a plain split goes on when the
/// route gains a header rule: its next requests, pipelined, are routed by
/// the rule. When mirroring starts, hyper's path takes the connection over
/// with the bytes already read, pipelined requests included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_kept_alive_across_a_new_rule_is_routed_by_it() {
    use tokio::io::AsyncWriteExt;
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let (proxy, _) = proxy().await;
    proxy.set_route(Route::split(stable.pool("1.0"), canary.pool("1.1"), 0));
    let mut conn = tokio::net::TcpStream::connect(proxy.local_addr())
        .await
        .unwrap();
    let get = |team: &str| format!("GET / HTTP/1.1\r\nhost: a\r\nx-team: {team}\r\n\r\n");
    conn.write_all(get("blue").as_bytes()).await.unwrap();
    assert_eq!(versions_on(&mut conn, 1).await, ["stable"]);

    proxy.set_route(
        Route::split(stable.pool("1.0"), canary.pool("1.1"), 0)
            .with_matches(vec![header_equals("X-Team", "blue")]),
    );
    let pipelined = format!("{}{}{}", get("blue"), get("red"), get("blue"));
    conn.write_all(pipelined.as_bytes()).await.unwrap();
    assert_eq!(
        versions_on(&mut conn, 3).await,
        ["canary", "stable", "canary"]
    );

    proxy.set_route(
        Route::split(stable.pool("1.0"), canary.pool("1.1"), 0)
            .with_matches(vec![header_equals("X-Team", "blue")])
            .with_mirror(100),
    );
    conn.write_all(pipelined.as_bytes()).await.unwrap();
    assert_eq!(
        versions_on(&mut conn, 3).await,
        ["canary", "stable", "canary"]
    );
    // The stable request was copied to the canary (mirroring is hyper's).
    crate::support::eventually("the copy reached the canary", || {
        canary.requests.load(std::sync::atomic::Ordering::SeqCst) == 5
    })
    .await;
}
