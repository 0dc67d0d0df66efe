//! The host registry: servers added and removed at run time, duplicate names, stopping with
//! requests in flight, runtime allocation changes through the handle with a catalog.

use crate::http::spec;
use crate::support::{get, init_logs, post, request, samples};
use inferno_emulator::{Catalog, Error, Host, LoadSpec, ServerSpec, TokenDist};
use inferno_testkit::wait;
use std::time::Duration;

#[tokio::test]
async fn servers_come_and_go_at_run_time() {
    init_logs();
    let host = Host::loopback(None);
    let a = host.start_server(spec("a")).await.unwrap();
    let b = host.start_server(spec("b")).await.unwrap();
    assert_ne!(a.port(), b.port());
    assert_eq!(a.url(), format!("http://127.0.0.1:{}", a.port()));
    let names: Vec<String> = host.servers().iter().map(|h| h.name().to_owned()).collect();
    assert_eq!(names, ["a", "b"]);
    assert!(matches!(
        host.start_server(spec("a")).await,
        Err(Error::DuplicateServer(_))
    ));
    assert!(matches!(
        host.start_server(ServerSpec {
            perf: None,
            ..spec("c")
        })
        .await,
        Err(Error::UnknownPerf { .. })
    ));

    host.stop_server("a").await.unwrap();
    assert!(host.server("a").is_none());
    assert!(request(a.addr(), "GET", "/health", None).await.is_err());
    assert!(
        a.set_max_batch_size(4).is_err(),
        "a stopped server takes no changes"
    );
    assert_eq!(get(b.addr(), "/health").await.status, 200);
    assert!(matches!(
        host.stop_server("a").await,
        Err(Error::NoSuchServer(_))
    ));

    // The name is free again, on a new port.
    let a2 = host.start_server(spec("a")).await.unwrap();
    assert_eq!(get(a2.addr(), "/health").await.status, 200);
    host.shutdown().await;
    assert!(host.servers().is_empty());
    assert!(request(b.addr(), "GET", "/health", None).await.is_err());
}

#[tokio::test]
async fn fixed_port_and_bind_errors() {
    init_logs();
    let host = Host::loopback(None);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = host
        .start_server(ServerSpec {
            port,
            ..spec("busy")
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Bind { .. }), "{err}");
    drop(taken);
    let h = host
        .start_server(ServerSpec {
            port,
            ..spec("busy")
        })
        .await
        .unwrap();
    assert_eq!(h.port(), port);
    host.shutdown().await;
}

#[tokio::test]
async fn stopping_answers_requests_in_flight_with_503() {
    init_logs();
    let host = Host::loopback(None);
    // Real time, 10 ms iterations: 1000 tokens take 10 s, far longer than the test waits.
    let h = host
        .start_server(ServerSpec {
            time_scale: 1.0,
            ..spec("slow")
        })
        .await
        .unwrap();
    let addr = h.addr();
    let pending = tokio::spawn(async move {
        post(
            addr,
            "/v1/completions",
            r#"{"prompt":"a","max_tokens":1000}"#,
        )
        .await
    });
    wait::until("the request is running", Duration::from_secs(5), || async {
        (h.snapshot().running == 1).then_some(())
    })
    .await;
    tokio::time::timeout(Duration::from_secs(10), host.stop_server("slow"))
        .await
        .expect("stop is bounded")
        .unwrap();
    let r = pending.await.unwrap();
    assert_eq!(r.status, 503, "{}", r.body);
}

#[tokio::test]
async fn allocation_follows_the_catalog_at_run_time() {
    init_logs();
    let catalog = Catalog::load(&samples().join("small")).unwrap();
    let a100 = catalog.perf("granite_13b", "A100").unwrap();
    let l4 = catalog.perf("granite_13b", "L4").unwrap();
    let host = Host::loopback(Some(catalog));
    let h = host
        .start_server(ServerSpec {
            name: "g".into(),
            model: "granite_13b".into(),
            accelerator: "A100".into(),
            time_scale: 20.0,
            ..ServerSpec::default()
        })
        .await
        .unwrap();
    // Catalog row: perf and maxBatchSize 64.
    let alloc = h.allocation();
    assert_eq!((alloc.perf, alloc.max_batch_size), (a100, 64));

    let one = |addr| async move {
        let v = post(addr, "/v1/completions", r#"{"prompt":"a","max_tokens":4}"#)
            .await
            .json();
        let e = &v["emulator"];
        e["e2e_ms"].as_f64().unwrap() - e["queue_ms"].as_f64().unwrap()
    };
    // A lone request: 1 prefill + 4 decodes with contexts 1..5.
    let alone = |p: inferno_emulator::PerfParms| {
        (p.alpha + p.beta + p.gamma)
            + (1..=4)
                .map(|j| p.alpha + p.beta + p.gamma * f64::from(1 + j))
                .sum::<f64>()
    };
    assert!((one(h.addr()).await - alone(a100)).abs() < 1e-6);

    let alloc = h.set_accelerator("L4").unwrap();
    assert_eq!((alloc.accelerator.as_str(), alloc.perf), ("L4", l4));
    assert!((one(h.addr()).await - alone(l4)).abs() < 1e-6);
    assert!(matches!(
        h.set_accelerator("TPU"),
        Err(Error::UnknownPerf { .. })
    ));
    assert_eq!(h.set_max_batch_size(5).unwrap().max_batch_size, 5);
    assert!(h.set_max_batch_size(0).is_err());

    // A batch cap of 1 serialises an internal load: the waiting gauge fills up.
    h.set_max_batch_size(1).unwrap();
    h.start_load(LoadSpec {
        rate: 50.0,
        in_tokens: TokenDist::Fixed(10),
        out_tokens: TokenDist::Fixed(20),
        seed: 1,
    })
    .unwrap();
    let s = wait::until(
        "a queue behind the cap of 1",
        Duration::from_secs(10),
        || async {
            let s = h.snapshot();
            assert!(s.running <= 1, "{s:?}");
            (s.waiting > 5).then_some(s)
        },
    )
    .await;
    assert!(s.running <= 1);
    h.stop_load().unwrap();
    assert!(h.load().is_none());
    host.shutdown().await;
}

#[tokio::test]
async fn kv_cache_pressure_preempts() {
    init_logs();
    let host = Host::loopback(None);
    let h = host
        .start_server(ServerSpec {
            kv_cache_tokens: 400,
            max_batch_size: 16,
            time_scale: 50.0,
            load: Some(LoadSpec {
                rate: 40.0,
                in_tokens: TokenDist::Fixed(50),
                out_tokens: TokenDist::Uniform(20, 100),
                seed: 4,
            }),
            ..spec("kv")
        })
        .await
        .unwrap();
    let s = wait::until("a preemption", Duration::from_secs(10), || async {
        let s = h.snapshot();
        (s.preemptions > 0 && s.requests > 0).then_some(s)
    })
    .await;
    assert!(s.requests > 0);
    assert!((0.0..=1.0).contains(&s.kv_usage));
    let text = get(h.addr(), "/metrics").await.body;
    let preempted = crate::http::sample(
        &text,
        "vllm:num_preemptions_total{model_name=\"granite_13b\"}",
    );
    assert!(preempted >= s.preemptions as f64);
    host.shutdown().await;
}
