//! Binding, route changes under load, shutdown.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http::StatusCode;
use tokio::net::TcpStream;
use zion_proxy::{ProxyError, Route, TargetProxy, TrafficMetrics};

use crate::support::{Upstream, client, eventually, get, proxy, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_a_taken_address_names_it() {
    let (first, _) = proxy().await;
    let addr = first.local_addr();
    let err = TargetProxy::bind(addr, Arc::new(TrafficMetrics::new()))
        .await
        .unwrap_err();
    assert!(matches!(err, ProxyError::Bind { addr: a, .. } if a == addr));
    let msg = err.to_string();
    assert!(msg.contains(&addr.to_string()), "{msg}");
    assert!(msg.contains("address in use"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_change_applies_to_new_requests_only() {
    let old = Upstream::start("old").await;
    let new = Upstream::start("new").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(old.pool("1.0")));
    let addr = proxy.local_addr();

    let in_flight = tokio::spawn(async move { get(&client(), addr, "/sleep/1000").await });
    eventually("slow request reached the old upstream", || {
        old.requests.load(Ordering::SeqCst) == 1
    })
    .await;

    proxy.set_route(Route::stable_only(new.pool("1.1")));
    assert_eq!(*proxy.route(), Route::stable_only(new.pool("1.1")));
    let client = client();
    let reply = get(&client, addr, "/").await;
    assert_eq!(reply.body, "new");

    // Even routing nothing does not cut the request already sent.
    proxy.set_route(Route::default());
    assert_eq!(
        get(&client, addr, "/").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );

    let slow = within(in_flight).await.unwrap();
    assert_eq!(slow.status, StatusCode::OK);
    assert_eq!(slow.body, "old");
    assert_eq!(metrics.totals("1.0"), (1, 0));
    assert_eq!(metrics.totals("1.1"), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests_then_refuses() {
    let up = Upstream::start("stable").await;
    let (proxy, metrics) = proxy().await;
    proxy.set_route(Route::stable_only(up.pool("1.0")));
    let addr = proxy.local_addr();

    let in_flight = tokio::spawn(async move { get(&client(), addr, "/sleep/500").await });
    eventually("slow request reached the upstream", || {
        up.requests.load(Ordering::SeqCst) == 1
    })
    .await;
    within(proxy.shutdown()).await;

    let reply = within(in_flight).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "stable");
    assert_eq!(metrics.totals("1.0"), (1, 0));
    let refused = TcpStream::connect(addr).await;
    assert!(refused.is_err(), "still accepting after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_idle_keep_alive_clients_is_prompt() {
    let up = Upstream::start("stable").await;
    let (proxy, _) = proxy().await;
    proxy.set_route(Route::stable_only(up.pool("1.0")));
    // Leaves an idle kept-alive connection open in the client's pool.
    let client = client();
    assert_eq!(
        get(&client, proxy.local_addr(), "/").await.status,
        StatusCode::OK
    );

    let started = std::time::Instant::now();
    within(proxy.shutdown()).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "idle connections held shutdown for {:?}",
        started.elapsed()
    );
}
