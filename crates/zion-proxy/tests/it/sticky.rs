//! Sticky sessions: the split assigns a client once, its cookie keeps it there.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, StatusCode};
use http_body_util::Full;
use tokio::task::JoinSet;
use zion_proxy::{MatchRule, Route, STICKY_COOKIE};

use crate::support::{Reply, TestClient, Upstream, client, proxy, send, within};

/// GETs `/` with `cookie` (if any) as the Cookie field.
async fn visit(client: &TestClient, addr: SocketAddr, cookie: Option<&str>) -> Reply {
    let mut req = Request::get(format!("http://{addr}/"));
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    let reply = send(client, req.body(Full::default()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
}

/// The version a `Set-Cookie` field pins to, checking the whole field.
fn pinned_version(reply: &Reply) -> String {
    let fields: Vec<_> = reply.headers.get_all("set-cookie").iter().collect();
    assert_eq!(fields.len(), 1, "{fields:?}");
    let field = fields[0].to_str().unwrap();
    let version = field
        .strip_prefix("zion_version=")
        .and_then(|rest| rest.strip_suffix("; Path=/; HttpOnly; SameSite=Lax"))
        .unwrap_or_else(|| panic!("unexpected Set-Cookie: {field}"));
    version.to_owned()
}

fn body_of(version: &str) -> &'static str {
    match version {
        "1.0" => "stable",
        "1.1" => "canary",
        "1.2" => "canary-2",
        other => panic!("unknown version {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_clients_follow_the_weights_then_keep_their_version() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::split(stable.pool("1.0"), canary.pool("1.1"), 25).with_sticky(true));
    let addr = proxy.local_addr();

    // 200 clients, 8 at a time: a first visit, then 20 with the cookie.
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let next = Arc::clone(&next);
        tasks.spawn(async move {
            let mut assigned = Vec::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 200 {
                let client = client();
                let first = visit(&client, addr, None).await;
                let version = pinned_version(&first);
                assert_eq!(first.body, body_of(&version));
                let cookie = format!("{STICKY_COOKIE}={version}");
                for i in 0..20 {
                    let again = visit(&client, addr, Some(&cookie)).await;
                    assert_eq!(again.body, first.body, "visit {i} of a {version} client");
                    assert!(
                        !again.headers.contains_key("set-cookie"),
                        "a pinned client is not assigned again"
                    );
                }
                assigned.push(version);
            }
            assigned
        });
    }
    let assigned: Vec<String> = within(tasks.join_all()).await.concat();
    assert_eq!(assigned.len(), 200);
    // The split is deterministic over new clients: exactly 25%.
    let to_canary = assigned.iter().filter(|v| *v == "1.1").count();
    assert_eq!(to_canary, 50, "{assigned:?}");
    assert_eq!(metrics.totals("1.1"), (50 * 21, 0));
    assert_eq!(metrics.totals("1.0"), (150 * 21, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_naming_other_versions_are_reassigned() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let canary2 = Upstream::start("canary-2").await;
    let (proxy, _) = proxy().await;
    proxy.set_route(Route::split(stable.pool("1.0"), canary.pool("1.1"), 50).with_sticky(true));
    let addr = proxy.local_addr();
    let client = client();

    // Among other cookies, in a second Cookie field: still found.
    let req = Request::get(format!("http://{addr}/"))
        .header("cookie", "session=abc")
        .header("cookie", "theme=dark; zion_version=1.1")
        .body(Full::default())
        .unwrap();
    let reply = send(&client, req).await;
    assert_eq!(reply.body, "canary");
    assert!(!reply.headers.contains_key("set-cookie"));

    // A version that was never in the route: assigned afresh.
    let reply = visit(&client, addr, Some("zion_version=0.9")).await;
    let version = pinned_version(&reply);
    assert_eq!(reply.body, body_of(&version));

    // The canary is replaced: its clients are assigned again, now between
    // 1.0 and 1.2, and every one gets a new cookie.
    proxy.set_route(Route::split(stable.pool("1.0"), canary2.pool("1.2"), 50).with_sticky(true));
    let mut seen = Vec::new();
    for _ in 0..10 {
        let reply = visit(&client, addr, Some("zion_version=1.1")).await;
        let version = pinned_version(&reply);
        assert_eq!(reply.body, body_of(&version));
        seen.push(version);
    }
    assert_eq!(seen.iter().filter(|v| *v == "1.2").count(), 5, "{seen:?}");
    assert_eq!(seen.iter().filter(|v| *v == "1.0").count(), 5, "{seen:?}");

    // Stickiness off: cookies are neither read nor set.
    proxy.set_route(Route::split(stable.pool("1.0"), canary2.pool("1.2"), 0));
    for _ in 0..5 {
        let reply = visit(&client, addr, Some("zion_version=1.2")).await;
        assert_eq!(reply.body, "stable");
        assert!(!reply.headers.contains_key("set-cookie"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_rules_win_over_the_cookie() {
    let stable = Upstream::start("stable").await;
    let canary = Upstream::start("canary").await;
    let (proxy, _) = proxy().await;
    proxy.set_route(
        Route::split(stable.pool("1.0"), canary.pool("1.1"), 0)
            .with_sticky(true)
            .with_matches(vec![MatchRule::HeaderEquals {
                name: "x-team".into(),
                value: "blue".into(),
            }]),
    );
    let addr = proxy.local_addr();
    let client = client();
    for _ in 0..5 {
        let req = Request::get(format!("http://{addr}/"))
            .header("cookie", "zion_version=1.0")
            .header("x-team", "blue")
            .body(Full::default())
            .unwrap();
        let reply = send(&client, req).await;
        assert_eq!(reply.body, "canary");
        assert!(!reply.headers.contains_key("set-cookie"));
        // Without the header, the cookie decides.
        assert_eq!(
            visit(&client, addr, Some("zion_version=1.0")).await.body,
            "stable"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_cookies_are_kept_beside_the_proxys() {
    // An upstream that sets a cookie of its own.
    let raw = crate::support::RawUpstream::start(
        b"HTTP/1.1 200 OK\r\nSet-Cookie: app=1\r\nContent-Length: 2\r\n\r\nok",
        false,
    )
    .await;
    let canary = Upstream::start("canary").await;
    let (proxy, _) = proxy().await;
    proxy.set_route(
        Route::split(
            zion_proxy::Pool::new("1.0", vec![raw.addr]),
            canary.pool("1.1"),
            0,
        )
        .with_sticky(true),
    );
    let reply = visit(&client(), proxy.local_addr(), None).await;
    let fields: Vec<_> = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        fields,
        ["app=1", "zion_version=1.0; Path=/; HttpOnly; SameSite=Lax"]
    );
}
