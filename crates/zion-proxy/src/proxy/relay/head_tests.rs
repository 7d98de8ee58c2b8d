use super::*;

/// The client's head for the answer at the start of `raw`, as the relay
/// writes it (the replica's head read, then what the proxy adds).
fn parse_response(
    raw: &[u8],
    request: &RequestHead,
    close: bool,
    set_cookie: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<Response, BadResponse> {
    let mut answer = AnswerHead::new(out);
    let response = read_response(raw, request.head, &mut answer)?;
    if let Response::Final(head) = &response {
        answer.finish(head, close, set_cookie);
    }
    Ok(response)
}

fn relay(raw: &[u8]) -> (RequestHead, String) {
    let mut out = Vec::new();
    match parse_request(raw, b"10.0.0.9", b"http", &mut out, |_| Some(())) {
        Request::Relay(head, ()) => {
            finish_request(&mut out, &head, b"127.0.0.1:9000");
            (head, String::from_utf8(out).expect("ascii head"))
        }
        other => panic!("{:?} not relayed: {other:?}", String::from_utf8_lossy(raw)),
    }
}

fn handed_over(raw: &[u8]) -> bool {
    matches!(
        parse_request(raw, b"10.0.0.9", b"http", &mut Vec::new(), |_| Some(())),
        Request::Handover
    )
}

#[test]
fn a_plain_get_is_rewritten_for_the_upstream() {
    let (head, out) = relay(b"GET /a?b=1 HTTP/1.1\r\nHost: web\r\nAccept: */*\r\n\r\n");
    assert_eq!(head.len, 47);
    assert_eq!(
        (head.body, head.close, head.head, head.idempotent),
        (0, false, false, true)
    );
    assert_eq!(
        out,
        "GET /a?b=1 HTTP/1.1\r\nHost: web\r\nAccept: */*\r\nx-forwarded-for: 10.0.0.9\r\nx-forwarded-proto: http\r\nx-forwarded-host: web\r\n\r\n"
    );
}

#[test]
fn hop_by_hop_and_spoofed_fields_are_dropped_and_earlier_hops_kept() {
    let (head, out) = relay(
        b"POST /x HTTP/1.1\r\nConnection: keep-alive, close\r\nKeep-Alive: 5\r\nProxy-Connection: x\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: real\r\nx-zion-mirror: 1\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert!(head.close);
    assert_eq!(head.body, 3);
    assert!(!head.idempotent);
    assert_eq!(
        out,
        "POST /x HTTP/1.1\r\nX-Forwarded-Host: real\r\nContent-Length: 3\r\nx-forwarded-for: 1.1.1.1, 2.2.2.2, 10.0.0.9\r\nx-forwarded-proto: http\r\nhost: 127.0.0.1:9000\r\n\r\n"
    );
}

#[test]
fn what_the_relay_does_not_frame_itself_goes_to_hyper() {
    for raw in [
        // Framing another parser could read differently, or that needs hyper.
        &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 0x3\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n",
        b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
        b"GET / HTTP/1.1\r\nConnection: x-secret\r\nX-Secret: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nTE: trailers\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        // Not origin-form HTTP/1.1.
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET http://a/ HTTP/1.1\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\n\r\n",
        b"CONNECT a:443 HTTP/1.1\r\n\r\n",
        b"GET /a\"b HTTP/1.1\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        // Malformed: hyper answers 400.
        b"GET / HTTP/1.1\r\nBad Name: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: x\0y\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"G(T / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.2\r\n\r\n",
    ] {
        assert!(
            handed_over(raw),
            "{:?} relayed",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn a_partial_head_waits_for_more() {
    let mut out = Vec::new();
    for raw in [&b"GET / HT"[..], b"GET / HTTP/1.1\r\nHost: a\r\n"] {
        assert!(matches!(
            parse_request(raw, b"1", b"http", &mut out, |_| Some(())),
            Request::Partial
        ));
    }
}

#[test]
fn pipelined_requests_are_taken_one_at_a_time() {
    let raw = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
    let (head, _) = relay(raw);
    assert_eq!(head.len, raw.len() / 2);
    let (_, out) = relay(&raw[head.len..]);
    assert!(out.starts_with("GET /2 "));
}

fn respond(
    raw: &[u8],
    head_request: bool,
    close: bool,
) -> Result<(ResponseHead, String), BadResponse> {
    let request = asked(close, head_request);
    let mut out = Vec::new();
    match parse_response(raw, &request, close, None, &mut out)? {
        Response::Final(head) => Ok((head, String::from_utf8(out).expect("ascii head"))),
        other => panic!("not final: {other:?}"),
    }
}

#[test]
fn response_framing_follows_rfc_9112() {
    let framing = |raw: &[u8], head| respond(raw, head, false).map(|(h, _)| h.framing);
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false),
        Ok(Framing::Length(5))
    );
    assert_eq!(
        framing(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
            false
        ),
        Ok(Framing::Length(5))
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false),
        Ok(Framing::Empty)
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true),
        Ok(Framing::Empty)
    );
    assert_eq!(
        framing(b"HTTP/1.1 204 No Content\r\n\r\n", false),
        Ok(Framing::Empty)
    );
    assert_eq!(
        framing(
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            false
        ),
        Ok(Framing::Empty)
    );
    assert_eq!(
        framing(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            false
        ),
        Ok(Framing::Chunked)
    );
    assert_eq!(
        framing(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            false
        ),
        Ok(Framing::Chunked)
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false),
        Ok(Framing::UntilClose)
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\n\r\n", false),
        Ok(Framing::UntilClose)
    );
    assert_eq!(
        framing(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            false
        ),
        Err(BadResponse::Framing)
    );
    assert_eq!(
        framing(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            false
        ),
        Err(BadResponse::Malformed)
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n", false),
        Err(BadResponse::Malformed)
    );
    assert_eq!(
        framing(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            false
        ),
        Err(BadResponse::Framing)
    );
    assert_eq!(
        framing(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", false),
        Err(BadResponse::Switch)
    );
    assert_eq!(
        framing(b"HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n", false),
        Err(BadResponse::Malformed)
    );
}

#[test]
fn the_clients_head_drops_hop_by_hop_fields() {
    let (head, out) = respond(
        b"HTTP/1.1 200 Fine\r\nConnection: x-hop, close\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nContent-Length: 2\r\nX-Version: 2\r\nDate: Thu, 03 Dec 2026 10:00:00 GMT\r\n\r\nok",
        false,
        false,
    )
    .expect("valid");
    assert!(head.upstream_closes);
    assert_eq!(head.status, 200);
    assert_eq!(
        out,
        "HTTP/1.1 200 Fine\r\nContent-Length: 2\r\nX-Version: 2\r\nDate: Thu, 03 Dec 2026 10:00:00 GMT\r\n\r\n"
    );
    let (_, out) = respond(
        b"HTTP/1.0 503 Busy\r\ndate: Thu, 03 Dec 2026 10:00:00 GMT\r\n\r\n",
        false,
        true,
    )
    .expect("valid");
    assert_eq!(
        out,
        "HTTP/1.1 503 Busy\r\ndate: Thu, 03 Dec 2026 10:00:00 GMT\r\nconnection: close\r\n\r\n"
    );
}

#[test]
fn http_1_0_upstreams_close_unless_kept_alive() {
    let closes = |raw: &[u8]| respond(raw, false, false).expect("valid").0.upstream_closes;
    assert!(closes(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
    assert!(!closes(
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"
    ));
    assert!(!closes(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
}

#[test]
fn interim_answers_are_told_apart() {
    let request = asked(false, false);
    let raw = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n";
    match parse_response(raw, &request, false, None, &mut Vec::new()) {
        Ok(Response::Interim(len)) => assert_eq!(len, 40),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_route_sees_the_fields_and_a_request_without_one_is_handed_over() {
    let raw = b"GET / HTTP/1.1\r\nX-Team: blue\r\nCookie: a=1; zion_version=2.0\r\n\r\n";
    let mut out = Vec::new();
    let seen = parse_request(raw, b"1", b"http", &mut out, |fields| {
        Some(
            fields
                .iter()
                .map(|f| format!("{}={}", f.name, String::from_utf8_lossy(f.value)))
                .collect::<Vec<_>>(),
        )
    });
    match seen {
        Request::Relay(_, fields) => {
            assert_eq!(fields, ["X-Team=blue", "Cookie=a=1; zion_version=2.0"]);
        }
        other => panic!("{other:?}"),
    }
    let nowhere = parse_request(raw, b"1", b"http", &mut out, |_| None::<()>);
    assert!(matches!(nowhere, Request::Handover));
}

#[test]
fn a_sticky_assignment_is_added_to_the_answer() {
    let request = asked(false, false);
    let mut out = Vec::new();
    let cookie = b"zion_version=2.0; Path=/; HttpOnly; SameSite=Lax";
    let raw = b"HTTP/1.1 200 OK\r\nSet-Cookie: own=1\r\nContent-Length: 0\r\nDate: Thu, 03 Dec 2026 10:00:00 GMT\r\n\r\n";
    assert!(matches!(
        parse_response(raw, &request, false, Some(cookie), &mut out),
        Ok(Response::Final(_))
    ));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 200 OK\r\nSet-Cookie: own=1\r\nContent-Length: 0\r\nDate: Thu, 03 Dec 2026 10:00:00 GMT\r\nset-cookie: zion_version=2.0; Path=/; HttpOnly; SameSite=Lax\r\n\r\n"
    );
}

/// A bodyless GET (or HEAD) the answer is parsed for.
fn asked(close: bool, head: bool) -> RequestHead {
    RequestHead {
        len: 0,
        body: 0,
        close,
        head,
        idempotent: true,
        has_host: true,
    }
}

#[test]
fn an_answer_without_date_gets_the_time_it_was_received() {
    let before = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
    let (_, out) = respond(
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        false,
        false,
    )
    .expect("valid");
    let date = out
        .lines()
        .find_map(|l| l.strip_prefix("date: "))
        .unwrap_or_else(|| panic!("no date in {out:?}"));
    let when = httpdate::parse_http_date(date).expect("an HTTP-date");
    assert!(
        when >= before && when <= std::time::SystemTime::now(),
        "{date}"
    );
    // The replica's own is kept, and not doubled.
    let (_, out) = respond(
        b"HTTP/1.1 200 OK\r\nDATE: Thu, 03 Dec 2026 10:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
        false,
        false,
    )
    .expect("valid");
    assert_eq!(
        out,
        "HTTP/1.1 200 OK\r\nDATE: Thu, 03 Dec 2026 10:00:00 GMT\r\nContent-Length: 0\r\n\r\n"
    );
}
