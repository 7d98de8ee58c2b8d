//! Header and cookie rules: matching requests reach the canary whatever the
//! weight, the others never do (or only by the split).

use http::{Request, StatusCode};
use http_body_util::Full;
use zion_proxy::{MatchRule, Route};

use crate::support::{Upstream, client, proxy, send, tally_with};

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
