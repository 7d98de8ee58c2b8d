//! The console's history, delivery report and SLO pages against a real
//! `zion up`: a deployment that succeeds and one rolled back on its
//! errors, listed with their outcomes and links; the report's figures
//! read from the page's `data-` attributes equal to `zion report`'s JSON
//! for the same period; each SLO's SLI and budget equal to `zion slo
//! status`'s, with the alert the failing traffic fired; and every page
//! refused to a signed-out browser.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

const STEPS: &str = "        - { weight: 20, pause: 2s }\n        - { weight: 100 }";

/// History made elsewhere on the same target, so every DORA figure has
/// data: two changes with commit times, one rolled back and its incident
/// restored 35 minutes after it opened.
const HISTORY: &str = r#"{"external_id":"h1","service":"web","environment":"staging","version":"0.1","type":"feature","started_at":"2026-03-01T10:00:00Z","finished_at":"2026-03-01T10:10:00Z","result":"succeeded","commit":"a1","committed_at":"2026-03-01T08:00:00Z"}
{"external_id":"h2","service":"web","environment":"staging","version":"0.2","type":"feature","started_at":"2026-03-02T10:00:00Z","finished_at":"2026-03-02T10:20:00Z","result":"rolled_back","commit":"a2","committed_at":"2026-03-02T09:00:00Z"}
{"kind":"incident","external_id":"i1","service":"web","environment":"staging","opened_at":"2026-03-02T10:25:00Z","resolved_at":"2026-03-02T11:00:00Z","caused_by":"h2"}
{"external_id":"h3","service":"web","environment":"staging","version":"0.3","type":"hotfix","started_at":"2026-03-02T12:00:00Z","finished_at":"2026-03-02T12:05:00Z","result":"succeeded","commit":"a3","committed_at":"2026-03-02T11:30:00Z"}
"#;

/// The support spec, its one environment counted as production (so the
/// DORA figures take its deployments), 2.0 failing half its requests, and
/// an availability SLO.
fn project() -> Project {
    Project::with_spec(|api, target| {
        let base = spec(api, target, STEPS, &["2.0:errors=0.5"], "20s").replace(
            "  - name: staging\n",
            "  - name: staging\n    production: true\n",
        );
        format!(
            "{base}slos:\n  - {{ name: availability, service: web, environment: staging, objective: 99.9% }}\n"
        )
    })
}

/// One request on a fresh connection: the status, the `Location` and
/// `Set-Cookie` headers, and the body.
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
) -> (u16, String, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    (
        status,
        header("location"),
        header("set-cookie"),
        body.to_string(),
    )
}

/// A page's HTML, asserting a 200.
fn page(addr: SocketAddr, path: &str, cookie: &str) -> String {
    let (status, _, _, body) = call(addr, "GET", path, cookie, "");
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// The opening tag holding `needle`.
fn tag<'a>(html: &'a str, needle: &str) -> Option<&'a str> {
    let at = html.find(needle)?;
    // The needle may begin with the tag's own `<`.
    let start = html[..=at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    Some(&html[start..=end])
}

/// The value of attribute `name` in an opening tag.
fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(tag[at..at + tag[at..].find('"')?].to_string())
}

/// The part of `html` from `start` to the next `end`.
fn part<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let at = html
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in {html}"));
    let rest = &html[at..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// A figure of the page equals the JSON's: both absent, or the same
/// number to the last bit.
fn same_figure(html_value: Option<String>, json: &Value, what: &str) {
    match (html_value, json.as_f64()) {
        (None, None) => {}
        (Some(h), Some(j)) => assert_eq!(h.parse::<f64>().unwrap(), j, "{what}"),
        (h, _) => panic!("{what}: the page says {h:?}, the JSON {json}"),
    }
}

/// What a live stream sends until `needle` is in it (or 10 s pass).
fn stream_until(addr: SocketAddr, path: &str, cookie: &str, needle: &str) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\r\n");
    s.write_all(request.as_bytes()).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => panic!(
                "the stream ended without {needle}: {}",
                String::from_utf8_lossy(&seen)
            ),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

fn signed_in(p: &Project, token: &str) -> String {
    let (nonce, fields) = console_login_form(p.api);
    let (status, location, cookie, body) = call(
        p.api,
        "POST",
        "/ui/login",
        &nonce,
        &format!("{fields}token={token}"),
    );
    assert_eq!((status, location.as_str()), (303, "/ui/"), "{body}");
    cookie.split(';').next().unwrap().to_string()
}

#[test]
fn history_report_and_slo_pages_show_what_the_cli_shows() {
    let mut p = project();
    p.start();
    let viewer = p.token("vic", "viewer");

    // Signed out, every page leads to the sign-in form.
    for path in ["/ui/history", "/ui/report", "/ui/slos?period=week"] {
        let (status, location, _, _) = call(p.api, "GET", path, "", "");
        assert_eq!((status, location.as_str()), (303, "/ui/login"), "{path}");
    }

    let file = p.dir.path().join("history.jsonl");
    std::fs::write(&file, HISTORY).unwrap();
    let out = p.zion(&["import", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());
    let (bad, _) = faulty_version_rolled_back(&p, p.target, "2.0");
    let bad_id = bad["id"].as_i64().unwrap();
    let history = p.json(&["history", "web", "--env", "staging"]);
    let good_id = history.as_array().unwrap()[1]["id"].as_i64().unwrap();
    assert_eq!(history[1]["phase"], "succeeded", "{history}");

    let cookie = signed_in(&p, &viewer);

    // History: both, newest first, with their outcomes and links.
    let html = page(p.api, "/ui/history", &cookie);
    for nav in [
        r#"href="/ui/history""#,
        r#"href="/ui/report""#,
        r#"href="/ui/slos""#,
    ] {
        assert!(html.contains(nav), "the nav lacks {nav}");
    }
    let bad_row =
        tag(&html, &format!("data-deployment=\"{bad_id}\"")).expect("the rolled back one");
    assert_eq!(attr(bad_row, "data-phase").as_deref(), Some("rolled_back"));
    let good_row =
        tag(&html, &format!("data-deployment=\"{good_id}\"")).expect("the succeeded one");
    assert_eq!(attr(good_row, "data-phase").as_deref(), Some("succeeded"));
    assert!(
        html.find(&format!("data-deployment=\"{bad_id}\""))
            < html.find(&format!("data-deployment=\"{good_id}\"")),
        "newest first"
    );
    for id in [bad_id, good_id] {
        assert!(
            html.contains(&format!(r#"href="/ui/deployments/{id}""#)),
            "{html}"
        );
    }
    assert!(
        html.contains(r#"<label for="service">"#) && html.contains(r#"<label for="environment">"#)
    );
    // Paged: one a page, the next one older.
    let first = page(p.api, "/ui/history?limit=1", &cookie);
    assert!(first.contains(&format!("data-deployment=\"{bad_id}\"")));
    assert!(!first.contains(&format!("data-deployment=\"{good_id}\"")));
    let older = attr(tag(&first, "id=\"older\"").expect("an Older link"), "href").unwrap();
    let second = page(p.api, &older.replace("&amp;", "&"), &cookie);
    assert!(
        second.contains(&format!("data-deployment=\"{good_id}\"")),
        "{older}: {second}"
    );
    assert!(page(p.api, "/ui/history?service=nope", &cookie).contains("id=\"no-deployments\""));
    let (status, _, _, body) = call(p.api, "GET", "/ui/history?limit=0", &cookie, "");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("limit `0`"), "{body}");

    // The SLO: wait until the failing traffic's alert fires and the
    // counts stand still, then the page shows the CLI's figures.
    let mut last = Value::Null;
    let slo = eventually(
        Duration::from_secs(60),
        "an SLO alert to fire and the counts to settle",
        || {
            let now = p.json(&["slo", "status"])[0].clone();
            let firing = now["alerts"]
                .as_array()
                .is_some_and(|a| a.iter().any(|s| s["firing"] == true));
            let settled = now["total"] == last["total"] && now["good"] == last["good"];
            last = now.clone();
            (firing && settled).then_some(now)
        },
    );
    eprintln!(
        "SLO figures compared: {} good of {}, budget left {}, alerts {}",
        slo["good"], slo["total"], slo["budget"]["remaining"], slo["alerts"]
    );
    let html = page(p.api, "/ui/slos?period=day", &cookie);
    let card = part(&html, "data-slo=\"web/staging/availability\"", "</article>");
    let sli = tag(card, "data-field=\"sli\"").unwrap();
    assert_eq!(attr(sli, "data-good").unwrap(), slo["good"].to_string());
    assert_eq!(attr(sli, "data-total").unwrap(), slo["total"].to_string());
    same_figure(attr(sli, "data-value"), &slo["sli_now"], "SLI now");
    for (field, key) in [
        ("budget-remaining", "remaining"),
        ("budget-consumed", "consumed"),
    ] {
        let t = tag(card, &format!("data-field=\"{field}\"")).unwrap();
        same_figure(attr(t, "data-value"), &slo["budget"][key], field);
    }
    for alert in slo["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["firing"] == true)
    {
        let name = alert["alert"].as_str().unwrap();
        let li = tag(card, &format!("<li data-alert=\"{name}\""))
            .unwrap_or_else(|| panic!("{name} in {card}"));
        assert_eq!(attr(li, "data-firing").as_deref(), Some("true"), "{li}");
        assert!(
            attr(li, "data-severity").is_some_and(|s| !s.is_empty()),
            "{li}"
        );
    }
    assert!(
        card.contains("<svg class=\"chart\""),
        "the budget chart: {card}"
    );
    let transitions = part(&html, "id=\"transition-table\"", "</table>");
    assert!(
        transitions.contains("data-firing=\"true\""),
        "{transitions}"
    );
    // The page's live stream sends the SLO's figures now.
    let sent = stream_until(
        p.api,
        "/ui/events?page=slos",
        &cookie,
        "slo-web--staging--availability--now",
    );
    assert!(sent.contains("event: fragment"), "{sent}");

    // The report over a fixed period, the page against the CLI's JSON.
    let until = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(24))
        .unwrap()
        .to_string();
    let since = "2026-02-25";
    let out = p.zion(&[
        "report", "--format", "json", "--since", since, "--until", &until,
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let query = format!(
        "/ui/report?since={since}&until={}",
        until.replace(':', "%3A")
    );
    let html = page(p.api, &query, &cookie);
    let period = tag(&html, "id=\"period\"").unwrap();
    assert_eq!(
        attr(period, "data-total").unwrap(),
        json["total_deployments"].to_string()
    );
    assert!(json["total_deployments"].as_u64().unwrap() >= 5, "{json}");
    for field in ["attempted", "succeeded", "failed", "rolled_back"] {
        let t = tag(&html, &format!("data-field=\"{field}\"")).unwrap();
        assert_eq!(
            attr(t, "data-value").unwrap(),
            json["summary"][field].to_string(),
            "{field}"
        );
    }
    let metrics = [
        "deployment_frequency",
        "lead_time_for_changes",
        "change_failure_rate",
        "failed_deployment_recovery_time",
        "deployment_rework_rate",
    ];
    let overall = part(&html, "data-dora=\"all\"", "</tr>");
    let web = part(&html, "data-dora=\"service\" data-key=\"web\"", "</tr>");
    let by_service = json["dora"]["by_service"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "web")
        .unwrap();
    let mut with_data = 0;
    for m in metrics {
        let figure = &json[m]["value"];
        with_data += usize::from(figure.is_number());
        same_figure(
            attr(
                tag(overall, &format!("data-metric=\"{m}\"")).unwrap(),
                "data-value",
            ),
            figure,
            m,
        );
        same_figure(
            attr(
                tag(web, &format!("data-metric=\"{m}\"")).unwrap(),
                "data-value",
            ),
            &by_service[m]["value"],
            m,
        );
    }
    assert!(with_data >= 4, "the figures compared have data: {json}");
    eprintln!(
        "report figures equal on the page and in zion report: {}",
        metrics
            .map(|m| format!("{m}={}", json[m]["value"]))
            .join(", ")
    );
    let slo_row = tag(&html, "data-slo=\"web/staging/availability\"").unwrap();
    assert_eq!(
        attr(slo_row, "data-total").unwrap(),
        json["slos"][0]["total"].to_string()
    );
    same_figure(
        attr(slo_row, "data-budget-remaining"),
        &json["slos"][0]["budget"]["remaining"],
        "the period's budget",
    );
    // The rollback opened an incident on the target, listed with its
    // deployment and still open.
    let incident =
        tag(&html, &format!("data-deployment=\"{bad_id}\"")).expect("the rollback's incident");
    assert_eq!(
        attr(incident, "data-open").as_deref(),
        Some("true"),
        "{incident}"
    );
    assert!(html.contains(&format!(r#"href="/ui/deployments/{bad_id}""#)));

    // A period the API refuses is refused on the page with its words.
    let (status, _, _, body) = call(
        p.api,
        "GET",
        "/ui/report?since=2026-03-05&until=2026-03-01",
        &cookie,
        "",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("the period is empty"), "{body}");
    assert!(
        body.contains("id=\"report-period\""),
        "the form again: {body}"
    );
}

/// The three pages in a real headless Chromium: nothing wider than a
/// phone's screen (375 px) or a desktop's, and every control labelled.
#[test]
fn the_pages_fit_a_phone_and_label_every_control() {
    use crate::webdriver::Browser;

    let mut p = project();
    p.start();
    let file = p.dir.path().join("history.jsonl");
    std::fs::write(&file, HISTORY).unwrap();
    assert!(p.zion(&["import", file.to_str().unwrap()]).status.success());
    let out = p.zion(&["deploy", "web", "1.0", "--env", "staging", "--wait"]);
    assert!(out.status.success(), "{}\n{}", describe(&out), p.log());
    let viewer = p.token("vic", "viewer");

    let b = Browser::start(1280, 900);
    b.goto(&format!("http://{}/ui/login", p.api));
    let field = b.wait("#token", Duration::from_secs(20));
    b.type_into(&field, &viewer);
    let submit = b.wait("form button[type=submit]", Duration::from_secs(20));
    b.click(&submit);
    b.wait("#principal", Duration::from_secs(20));
    for (name, path) in [
        ("history", "/ui/history"),
        ("report", "/ui/report?since=2026-02-25"),
        ("slos", "/ui/slos?period=month"),
    ] {
        b.goto(&format!("http://{}{path}", p.api));
        b.wait("main h1", Duration::from_secs(20));
        for (w, h) in [(375, 800), (1280, 900)] {
            b.resize(w, h);
            b.screenshot(&format!("{name}-{w}"));
            let over = b.exec(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
                vec![],
            );
            assert_eq!(
                over.as_i64(),
                Some(0),
                "{name} overflows sideways at {w} px"
            );
        }
        let unlabelled = b.exec(
            r#"return [...document.querySelectorAll('a[href], button, input, select')]
                .filter(e => e.type !== 'hidden' && e.getClientRects().length > 0)
                .filter(e => !((e.labels && [...e.labels].some(l => l.textContent.trim()))
                    || (['A', 'BUTTON'].includes(e.tagName) && e.textContent.trim())
                    || (e.getAttribute('aria-label') || '').trim()))
                .map(e => e.outerHTML.slice(0, 120))"#,
            vec![],
        );
        assert_eq!(
            unlabelled,
            serde_json::json!([]),
            "{name}: controls without a label"
        );
    }
}
