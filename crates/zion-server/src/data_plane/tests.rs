//! Two replicas of `zion up` on one PostgreSQL database, each with its own
//! listeners (on 127.0.0.1 and 127.0.0.2, the spec's ports): what the
//! owner sets serves on both, and the owner judges the traffic of both.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use zion_core::spec::parse_spec;
use zion_providers::ProcessWorkloads;
use zion_store::PostgresStore;
use zion_store::test_cluster::TestCluster;

use super::*;
use crate::registry::StoreRegistry;

/// A replica that answers every request with 200, or 500 on `/fail`.
async fn upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                loop {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let fail = buf.starts_with(b"GET /fail ");
                    buf.drain(..end);
                    let status = if fail {
                        "500 Internal Server Error"
                    } else {
                        "200 OK"
                    };
                    let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 2\r\n\r\nok");
                    if conn.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One replica's targets, on `host`, joined to the data plane on `url`.
async fn replica(
    url: &str,
    name: &str,
    host: &str,
    spec: &zion_core::spec::Spec,
    dir: &std::path::Path,
) -> Arc<Targets> {
    let store: Arc<dyn Store> = Arc::new(PostgresStore::connect(url).unwrap());
    let workloads =
        ProcessWorkloads::new(dir.to_path_buf(), Arc::new(StoreRegistry(store.clone())));
    let targets = Arc::new(Targets::new(crate::workloads::Workloads::Process(
        workloads,
    )));
    targets.set_host(Some(host.parse::<IpAddr>().unwrap()));
    assert!(targets.join_data_plane(Arc::new(DataPlane::new(store, name.to_owned(), true))));
    targets.bind(spec).await.unwrap();
    targets
}

async fn get(http: &reqwest::Client, addr: SocketAddr, path: &str) -> u16 {
    match http.get(format!("http://{addr}{path}")).send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owners_route_serves_on_every_replica_and_the_owner_judges_their_sum() {
    let url = TestCluster::shared().new_database();
    let dir = tempfile::tempdir().unwrap();
    let (port, preview_port) = (free_port(), free_port());
    let yaml = format!(
        "server: {{ listen: 127.0.0.1:{api}, data_dir: state }}
environments:
  - name: production
services:
  - name: web
    workload:
      process:
        command: [\"true\", \"{{port}}\"]
    targets: {{ production: {{ listen: 127.0.0.1:{port}, preview: 127.0.0.1:{preview_port} }} }}
",
        api = free_port()
    );
    let spec = parse_spec(&yaml).unwrap();
    let a = replica(&url, "a", "127.0.0.1", &spec, dir.path()).await;
    let b = replica(&url, "b", "127.0.0.2", &spec, dir.path()).await;
    let id = TargetId::new("web", "production");
    let (a_addr, b_addr) = (a.addrs().await[&id], b.addrs().await[&id]);
    assert_eq!(a_addr, format!("127.0.0.1:{port}").parse().unwrap());
    assert_eq!(b_addr, format!("127.0.0.2:{port}").parse().unwrap());
    let b_preview = b.preview_addrs().await[&id];
    assert_eq!(
        b_preview,
        format!("127.0.0.2:{preview_port}").parse().unwrap()
    );

    // b owns the target at first, so it keeps what a publishes for later.
    let b_owns = Arc::new(AtomicBool::new(true));
    let owned: Owned = {
        let b_owns = b_owns.clone();
        Arc::new(move |_: &TargetId| b_owns.load(Ordering::SeqCst))
    };
    let wake = Arc::new(Notify::new());
    let (stop, stopped) = watch::channel(false);
    let follower = tokio::spawn(follow_routes(b.clone(), owned, wake.clone(), stopped));

    let up = upstream().await;
    a.set_route(
        &id,
        RouteListener::Main,
        Route::stable_only(Pool::new("1.0", vec![up])),
    )
    .await;
    a.set_route(
        &id,
        RouteListener::Preview,
        Route::stable_only(Pool::new("1.0", vec![up])),
    )
    .await;
    wake.notify_one();
    let http = reqwest::Client::new();
    assert_eq!(get(&http, a_addr, "/").await, 200);
    tokio::time::sleep(FOLLOW_EVERY * 3).await;
    assert_eq!(
        get(&http, b_addr, "/").await,
        503,
        "a target b owns keeps b's own route"
    );

    // b loses the target: it follows a's route within a few polls.
    b_owns.store(false, Ordering::SeqCst);
    let started = std::time::Instant::now();
    while get(&http, b_addr, "/").await != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "b never followed the route"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get(&http, b_preview, "/").await, 200);

    // Traffic through both replicas.
    for i in 0..30 {
        let path = if i % 3 == 0 { "/fail" } else { "/" };
        get(&http, a_addr, path).await;
    }
    for i in 0..20 {
        let path = if i % 4 == 0 { "/fail" } else { "/" };
        get(&http, b_addr, path).await;
    }
    let later = SystemTime::now() + Duration::from_secs(2);
    for r in [&a, &b] {
        r.data_plane().unwrap().flush(&r.all_metrics().await, later);
    }

    // The others' seconds are read OTHERS_BEHIND seconds behind: a window
    // ending that much later holds both replicas' requests.
    let end = SystemTime::now() + Duration::from_secs(OTHERS_BEHIND + 1);
    let length = Duration::from_secs(60);
    let a_local = a
        .traffic("web", "production")
        .await
        .unwrap()
        .local()
        .window("1.0", end, length);
    let b_local = b
        .traffic("web", "production")
        .await
        .unwrap()
        .local()
        .window("1.0", end, length);
    assert_eq!((a_local.requests, a_local.errors), (31, 10));
    // 20 sent, 5 failing, and the polls that found the route.
    assert!(b_local.requests >= 21 && b_local.errors == 5, "{b_local:?}");
    let judged = a
        .window("web", "production", "1.0", end, length)
        .await
        .unwrap();
    assert_eq!(
        (judged.requests, judged.errors),
        (a_local.requests + b_local.requests, 15),
        "a's window sums both replicas, its own once"
    );
    assert!(judged.latency_p99_ms.is_some());
    // And b sees the same sum from its side.
    let from_b = b
        .window("web", "production", "1.0", end, length)
        .await
        .unwrap();
    assert_eq!(from_b.requests, judged.requests);
    // A window shorter than the others' delay: an owner that forwards
    // nothing itself still judges on what the others forwarded.
    let short = Duration::from_secs(2);
    let short_end = SystemTime::now() + Duration::from_secs(OTHERS_BEHIND);
    let a_short = a
        .window("web", "production", "1.0", short_end, short)
        .await
        .unwrap();
    assert_eq!(
        (a_short.requests, a_short.errors),
        (b_local.requests, 5),
        "a's short window holds b's requests"
    );

    let _ = stop.send(true);
    follower.await.unwrap();
    a.shutdown().await;
    b.shutdown().await;
}

#[test]
fn a_route_reads_back_as_published() {
    let route = Route::split(
        Pool::new("1.0", vec!["127.0.0.1:4001".parse().unwrap()]),
        Pool::new(
            "2.0",
            vec![
                "127.0.0.1:4002".parse().unwrap(),
                "[::1]:4003".parse().unwrap(),
            ],
        ),
        25,
    )
    .with_sticky(true)
    .with_mirror(10)
    .with_matches(vec![MatchRule::HeaderEquals {
        name: "x-canary".to_owned(),
        value: "1".to_owned(),
    }])
    .with_response_timeout(Duration::from_millis(1500))
    .with_upstream_protocol(zion_proxy::UpstreamProtocol::H2c)
    .with_connect_timeout(Duration::from_millis(250));
    assert_eq!(decode_route(&encode_route(&route)).unwrap(), route);
    assert_eq!(
        decode_route(&encode_route(&Route::default())).unwrap(),
        Route::default()
    );
    assert!(decode_route("{\"stable\": 1}").is_err());
}

/// A route this replica published, then another owner changed: set here
/// again (the target came back), it is published again, not skipped as
/// already published.
#[tokio::test]
async fn a_route_changed_by_another_owner_is_published_again() {
    let store: Arc<dyn Store> = Arc::new(zion_store::SqliteStore::open_in_memory().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let targets = Targets::new(crate::workloads::Workloads::Process(ProcessWorkloads::new(
        dir.path().to_path_buf(),
        Arc::new(StoreRegistry(store.clone())),
    )));
    let plane = DataPlane::new(store.clone(), "a".to_owned(), false);
    let id = TargetId::new("web", "production");
    let mine = Route::stable_only(Pool::new("1.0", vec!["127.0.0.1:4001".parse().unwrap()]));
    let latest = |store: &Arc<dyn Store>| store.routes_since(0).unwrap().pop().unwrap();
    plane.publish(&id, RouteListener::Main, &mine);
    let first = latest(&store);
    plane.publish(&id, RouteListener::Main, &mine);
    assert_eq!(latest(&store), first, "unchanged: nothing written");
    // Another replica owns the target for a while and routes elsewhere.
    store
        .publish_route("web", "production", RouteListener::Main, "{}")
        .unwrap();
    let owned: Owned = Arc::new(|_: &TargetId| false);
    plane.apply_published(&targets, &owned).await;
    plane.publish(&id, RouteListener::Main, &mine);
    let again = latest(&store);
    assert_eq!(again.route, first.route);
    assert!(again.revision > first.revision + 1, "{again:?}");
    // The same after a takeover the follower has not seen yet.
    store
        .publish_route("web", "production", RouteListener::Main, "{}")
        .unwrap();
    plane.forget_published(&id);
    plane.publish(&id, RouteListener::Main, &mine);
    assert_eq!(latest(&store).route, first.route);
}
