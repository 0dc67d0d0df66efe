//! Collections against kubesim with the sample Deployments.

use crate::fake_prometheus::{self, Behaviour};
use inferno_collector::collect::{Collector, Metrics, Report};
use inferno_collector::discover::Discovery;
use inferno_collector::prometheus::{Prometheus, PrometheusConfig};
use inferno_collector::window::Windows;
use inferno_core::Source;
use inferno_testkit::wait;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct Cluster {
    pub(crate) sim: kubesim::Kubesim,
    pub(crate) client: kube::Client,
}

pub(crate) async fn cluster() -> Cluster {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/samples");
    let preload = kubesim::load_dir(&samples).unwrap();
    let config = kubesim::Config {
        pod_ready_delay: Duration::from_millis(20),
        preload,
        ..kubesim::Config::default()
    };
    let sim = kubesim::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let client = kube::Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
    Cluster { sim, client }
}

pub(crate) fn collector(
    c: &Cluster,
    namespaces: &[&str],
    prom: Option<&str>,
    deadline: Duration,
) -> Collector {
    let discovery = Discovery::start(
        c.client.clone(),
        namespaces.iter().map(|s| s.to_string()).collect(),
        Duration::ZERO,
    );
    let prometheus = prom.map(|url| {
        Prometheus::new(
            PrometheusConfig {
                url: url.into(),
                ..Default::default()
            },
            deadline,
        )
        .unwrap()
    });
    Collector::new(
        discovery,
        prometheus,
        Windows::around(60).unwrap(),
        deadline,
        Arc::new(Metrics::default()),
    )
}

/// Collects until every sample server has all its pods ready (pods start after a delay).
pub(crate) async fn settled(col: &Collector) -> Report {
    wait::until("pods ready", Duration::from_secs(10), || async {
        let r = col.collect().await.unwrap();
        let ready = r
            .servers
            .iter()
            .all(|s| i64::from(s.observation.ready_replicas) == s.deployment.desired);
        (r.servers.len() >= 3 && ready).then_some(r)
    })
    .await
}

pub(crate) fn source(r: &Report, server: &str, field: &str) -> Source {
    let s = r
        .servers
        .iter()
        .find(|s| s.observation.spec.name == server)
        .unwrap();
    s.observation
        .sources
        .iter()
        .find(|(f, _)| *f == field)
        .unwrap()
        .1
}

pub(crate) fn pods(r: &Report) -> Vec<(String, String)> {
    r.servers
        .iter()
        .flat_map(|s| {
            s.deployment
                .ready_pods
                .iter()
                .map(|p| ("infer".to_string(), p.clone()))
        })
        .collect()
}

#[tokio::test]
async fn labels_only_discovers_the_samples() {
    let c = cluster().await;
    let r = settled(&collector(&c, &[], None, Duration::from_secs(2))).await;
    assert_eq!(r.servers.len(), 3);
    let s = &r.servers[0];
    let spec = &s.observation.spec;
    assert_eq!(spec.name, "vllm-001");
    assert_eq!(
        (spec.model.as_str(), spec.class.as_str()),
        ("llama_13b", "Premium")
    );
    let a = &spec.current_alloc;
    assert_eq!(
        (a.accelerator.as_str(), a.num_replicas, a.max_batch),
        ("MI250", 4, 8)
    );
    assert_eq!(
        (
            a.load.arrival_rate,
            a.load.avg_in_tokens,
            a.load.avg_out_tokens
        ),
        (30.0, 128, 1024)
    );
    assert_eq!(source(&r, "vllm-001", "arrivalRate"), Source::Label);
    assert_eq!(s.deployment.namespace, "infer");
    assert!(!s.deployment.uid.is_empty());
    assert_eq!(s.observation.ready_replicas, 4);
    c.sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn prometheus_values_win_over_labels() {
    let c = cluster().await;
    let first = settled(&collector(&c, &[], None, Duration::from_secs(2))).await;
    let (url, seen) = fake_prometheus::start(Behaviour::Values {
        pods: pods(&first),
        values: [12.0, 0.02, 0.15, 1000.0, 5000.0, 10.0],
    })
    .await;
    let r = collector(&c, &[], Some(&url), Duration::from_secs(2))
        .collect()
        .await
        .unwrap();
    let s = r
        .servers
        .iter()
        .find(|s| s.observation.spec.name == "vllm-001")
        .unwrap();
    let a = &s.observation.spec.current_alloc;
    // Four pods at 12 requests/min each: 48 in a minute, short of 50; 96 in two.
    assert_eq!(a.load.arrival_rate, 48.0);
    let demand = s.observation.demand;
    assert_eq!((demand.window_seconds, demand.requests), (120.0, 96.0));
    assert_eq!((a.load.avg_in_tokens, a.load.avg_out_tokens), (100, 500));
    assert!((a.itl_average - 20.0).abs() < 1e-9 && (a.ttft_average - 150.0).abs() < 1e-9);
    assert_eq!(source(&r, "vllm-001", "arrivalRate"), Source::Prometheus);
    assert_eq!(source(&r, "vllm-001", "avgInTokens"), Source::Prometheus);
    // The output-length buckets of the four pods, read by their `le` (as either client writes
    // it), give a spread.
    assert!(
        a.load.out_tokens_cv > 0.3 && a.load.out_tokens_cv < 2.0,
        "{}",
        a.load.out_tokens_cv
    );
    assert_eq!(source(&r, "vllm-001", "outTokensCv"), Source::Prometheus);
    let queries = seen.lock().unwrap().clone();
    assert!(
        queries.iter().all(|q| q.starts_with('|')),
        "no token configured, none sent"
    );
    assert!(
        queries
            .iter()
            .all(|q| q.contains("pod=~") && !q.contains("job=")),
        "{queries:?}"
    );
    // Batched: 13 quantities per window of 1, 2, 4 and 8 minutes (two of them subqueries,
    // `[<window>:<step>]`), the coverage of each, 4 once, over every pod.
    assert_eq!(queries.len(), 4 * 13 + 4 + 4, "{queries:?}");
    for w in ["60s", "120s", "240s", "480s"] {
        assert_eq!(
            queries
                .iter()
                .filter(|q| q.contains(&format!("[{w}]")))
                .count(),
            if w == "60s" { 11 + 3 } else { 11 },
            "{w}"
        );
        assert_eq!(
            queries
                .iter()
                .filter(|q| q.contains(&format!("[{w}:")))
                .count(),
            2,
            "{w}"
        );
    }
    assert_eq!(
        queries
            .iter()
            .filter(|q| q.contains(
                "sum by(namespace, pod, le)(last_over_time(vllm:request_generation_tokens_bucket{"
            ))
            .count(),
        4
    );
    c.sim.shutdown().await.unwrap();
}

/// A pod of a server's Deployment that is no longer in Kubernetes (deleted mid-window) still
/// has series in the window: they count for its server, found by the pod's name. Series of a
/// like-named pod of another namespace, or of a pod named like no managed Deployment, do not.
#[tokio::test]
async fn a_deleted_pods_requests_count_for_its_server() {
    let c = cluster().await;
    let first = settled(&collector(&c, &[], None, Duration::from_secs(2))).await;
    let server = |r: &Report| {
        r.servers
            .iter()
            .find(|s| s.observation.spec.name == "vllm-001")
            .unwrap()
            .clone()
    };
    let deployment = server(&first).deployment.name;
    let gone = format!("{deployment}-5b7d9f-q9xz2");
    let mut pods = pods(&first);
    pods.push(("infer".into(), gone.clone()));
    pods.push(("elsewhere".into(), format!("{deployment}-5b7d9f-q9xz3")));
    pods.push(("infer".into(), format!("{deployment}-x-5b7d9f-q9xz4")));
    let (url, seen) = fake_prometheus::start(Behaviour::Values {
        pods,
        values: [12.0, 0.02, 0.15, 1000.0, 5000.0, 10.0],
    })
    .await;
    let r = collector(&c, &[], Some(&url), Duration::from_secs(2))
        .collect()
        .await
        .unwrap();
    let s = server(&r);
    let o = &s.observation;
    // Four ready pods and the deleted one at 12 requests/min each: 60 in a minute.
    assert_eq!(o.spec.current_alloc.load.arrival_rate, 60.0);
    assert_eq!(o.demand.requests, 60.0);
    assert_eq!(source(&r, "vllm-001", "arrivalRate"), Source::Prometheus);
    assert_eq!(o.counted_pods.len(), 5, "{:?}", o.counted_pods);
    assert!(o.counted_pods.contains(&format!("infer/{gone}")));
    // Still four replicas, and only ready pods listed as pods.
    assert_eq!(
        (o.ready_replicas, o.reporting_pods.len(), s.pods.len()),
        (4, 4, 4)
    );
    let windowed = seen.lock().unwrap().clone();
    let pattern = format!("{deployment}-[a-z0-9]+-[a-z0-9]+");
    assert!(
        windowed
            .iter()
            .filter(|q| q.contains("last_over_time(vllm:request_success_total"))
            .all(|q| q.contains(&pattern)),
        "{windowed:?}"
    );
    c.sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn prometheus_trouble_falls_back_to_labels() {
    let c = cluster().await;
    let first = settled(&collector(&c, &[], None, Duration::from_secs(2))).await;
    let cases = [
        ("nan", Behaviour::NaN { pods: pods(&first) }, false),
        ("empty", Behaviour::Empty, false),
        ("error", Behaviour::Error, true),
        ("hung", Behaviour::Hung, true),
    ];
    for (name, behaviour, problem) in cases {
        let (url, _) = fake_prometheus::start(behaviour).await;
        let r = collector(&c, &[], Some(&url), Duration::from_secs(2))
            .collect()
            .await
            .unwrap();
        assert_eq!(r.servers.len(), 3, "{name}");
        let a = &r.servers[0].observation.spec.current_alloc;
        assert_eq!(a.load.arrival_rate, 30.0, "{name}");
        assert_eq!(
            source(&r, "vllm-001", "arrivalRate"),
            Source::Label,
            "{name}"
        );
        assert_eq!(a.itl_average, 0.0, "{name}");
        assert_eq!(
            r.problems.iter().any(|(_, m)| m.starts_with("prometheus")),
            problem,
            "{name}: {:?}",
            r.problems
        );
    }
    // Nobody listening at all.
    let r = collector(
        &c,
        &[],
        Some("http://127.0.0.1:9"),
        Duration::from_millis(500),
    )
    .collect()
    .await
    .unwrap();
    assert_eq!(
        r.servers[0]
            .observation
            .spec
            .current_alloc
            .load
            .arrival_rate,
        30.0
    );
    assert!(r.problems.iter().any(|(_, m)| m.contains("prometheus")));
    c.sim.shutdown().await.unwrap();
}

pub(crate) fn deployment(ns: &str, name: &str, labels: serde_json::Value) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}
    }))
    .unwrap()
}

#[tokio::test]
async fn label_edge_cases_and_namespaces() {
    let c = cluster().await;
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "infer");
    let pp = PostParams::default();
    api.create(
        &pp,
        &deployment(
            "infer",
            "no-name",
            serde_json::json!({"inferno.server.managed": "true"}),
        ),
    )
    .await
    .unwrap();
    api.create(&pp, &deployment("infer", "dup", serde_json::json!({"inferno.server.managed": "true", "inferno.server.name": "vllm-001"}))).await.unwrap();
    api.create(
        &pp,
        &deployment("infer", "odd", serde_json::json!({"inferno.server.managed": "true", "inferno.server.name": "odd", "inferno.server.load.rpm": "many", "inferno.server.model": "m"})),
    )
    .await
    .unwrap();
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.client.clone());
    ns.create(&pp, &serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})).unwrap()).await.unwrap();
    Api::<Deployment>::namespaced(c.client.clone(), "other")
        .create(&pp, &deployment("other", "elsewhere", serde_json::json!({"inferno.server.managed": "true", "inferno.server.name": "elsewhere"})))
        .await
        .unwrap();

    let r = collector(&c, &[], None, Duration::from_secs(1))
        .collect()
        .await
        .unwrap();
    let names: Vec<&str> = r
        .servers
        .iter()
        .map(|s| s.observation.spec.name.as_str())
        .collect();
    assert!(
        names.contains(&"elsewhere") && names.contains(&"odd"),
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| **n == "vllm-001").count(),
        1,
        "duplicates are not emitted twice"
    );
    let problems: Vec<&str> = r.problems.iter().map(|(_, m)| m.as_str()).collect();
    assert!(
        problems
            .iter()
            .any(|m| m.contains("duplicate server name") && m.contains("infer/dup")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|m| m.contains("infer/no-name") && m.contains("skipped")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|m| m.contains("inferno.server.load.rpm=\"many\"")),
        "{problems:?}"
    );
    let odd = r
        .servers
        .iter()
        .find(|s| s.observation.spec.name == "odd")
        .unwrap();
    assert_eq!(
        odd.observation.spec.class, "",
        "missing class stays empty: the optimizer reads it as Free"
    );
    // A load label that says something unreadable is not "no load": the server is left out of
    // the decision instead of being sized for 0.
    assert_eq!(
        odd.observation.unusable.as_deref(),
        Some(
            r#"arrival rate unknown: label inferno.server.load.rpm="many": not a number, and Prometheus measured no rate"#
        )
    );

    let only = collector(&c, &["other"], None, Duration::from_secs(1))
        .collect()
        .await
        .unwrap();
    let names: Vec<&str> = only
        .servers
        .iter()
        .map(|s| s.observation.spec.name.as_str())
        .collect();
    assert_eq!(names, ["elsewhere"]);
    c.sim.shutdown().await.unwrap();
}

/// The gRPC Collect answer: servers, Kubernetes references, per-field sources, problems, and
/// `/metrics` on the same port.
#[tokio::test]
async fn grpc_collect() {
    let c = cluster().await;
    let col = collector(&c, &[], None, Duration::from_secs(1));
    settled(&col).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Arc::new(Metrics::default());
    tokio::spawn(inferno_collector::service::run(
        listener,
        col,
        metrics,
        std::future::pending(),
    ));
    let mut client =
        inferno_proto::v1::collector_client::CollectorClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
    let r = client
        .collect(inferno_proto::v1::CollectRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.servers.len(), 3);
    assert_eq!(r.deployments["vllm-001"].namespace, "infer");
    let o = r
        .observations
        .iter()
        .find(|o| o.server == "vllm-001")
        .unwrap();
    assert_eq!(o.ready_replicas, 4);
    assert!(o.sources.iter().any(|s| s.field == "arrivalRate"
        && s.source() == inferno_proto::v1::field_source::Source::Label));
    let filtered = client
        .collect(inferno_proto::v1::CollectRequest {
            namespaces: vec!["nowhere".into()],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(filtered.servers.is_empty());
    c.sim.shutdown().await.unwrap();
}

/// A bearer token is read from its file on every query (projected tokens rotate).
#[tokio::test]
async fn bearer_token_is_re_read_from_its_file() {
    let c = cluster().await;
    let first = settled(&collector(&c, &[], None, Duration::from_secs(2))).await;
    let (url, seen) = fake_prometheus::start(Behaviour::Values {
        pods: pods(&first),
        values: [1.0; 6],
    })
    .await;
    let token = std::env::temp_dir().join(format!("inferno-token-{}", std::process::id()));
    std::fs::write(&token, "first\n").unwrap();
    let discovery = Discovery::start(c.client.clone(), vec![], Duration::ZERO);
    let config = PrometheusConfig {
        url,
        token_file: Some(token.clone()),
        ..Default::default()
    };
    let col = Collector::new(
        discovery,
        Some(Prometheus::new(config, Duration::from_secs(2)).unwrap()),
        Windows::around(60).unwrap(),
        Duration::from_secs(2),
        Arc::new(Metrics::default()),
    );
    col.collect().await.unwrap();
    std::fs::write(&token, "second").unwrap();
    col.collect().await.unwrap();
    let log = seen.lock().unwrap().clone();
    assert!(
        log.iter().any(|q| q.starts_with("Bearer first|")),
        "{log:?}"
    );
    assert!(log.last().unwrap().starts_with("Bearer second|"));
    // A missing CA file is a configuration error naming the file.
    let bad = PrometheusConfig {
        url: "https://127.0.0.1:1".into(),
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..Default::default()
    };
    let err = Prometheus::new(bad, Duration::from_secs(1)).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    std::fs::remove_file(token).unwrap();
    c.sim.shutdown().await.unwrap();
}

/// A pod's start-up is read from its creation and Ready times and reported in the servers'
/// clock: kubesim running 4 cluster seconds per wall second starts the `slow` pod 12 cluster
/// seconds (3 wall seconds) after its creation, the `quick` one at once; the collector at the
/// same time scale reports about 12 and about 0. Kubernetes times have whole seconds, so each
/// reading may be up to one wall second (4 of the servers') off.
#[tokio::test]
async fn a_pods_startup_is_reported_in_the_servers_clock() {
    const SCALE: f64 = 4.0;
    let config = kubesim::Config {
        pod_ready_delay: Duration::from_millis(20),
        time_scale: SCALE,
        ..kubesim::Config::default()
    };
    let sim = kubesim::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let client = kube::Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
    let c = Cluster { sim, client };
    let pp = PostParams::default();
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.client.clone());
    ns.create(&pp, &serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "starting"}})).unwrap()).await.unwrap();
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "starting");
    for (name, startup) in [("slow", "12"), ("quick", "0")] {
        let labels = serde_json::json!({"inferno.server.managed": "true",
            "inferno.server.name": name, "inferno.server.model": "m"});
        let mut d = deployment("starting", name, labels);
        let template = d.spec.as_mut().unwrap().template.metadata.as_mut().unwrap();
        template.annotations =
            Some([(kubesim::STARTUP_ANNOTATION.to_string(), startup.to_string())].into());
        api.create(&pp, &d).await.unwrap();
    }
    let col = collector(&c, &["starting"], None, Duration::from_secs(2)).with_time_scale(SCALE);
    let first = wait::until("both pods ready", Duration::from_secs(10), || async {
        let r = col.collect().await.unwrap();
        let ready =
            r.servers.len() == 2 && r.servers.iter().all(|s| s.observation.ready_replicas == 1);
        ready.then_some(r)
    })
    .await;
    let pods: Vec<(String, String)> = first
        .servers
        .iter()
        .map(|s| ("starting".into(), s.deployment.ready_pods[0].clone()))
        .collect();
    let (url, _) = fake_prometheus::start(Behaviour::Holding {
        pods,
        outstanding: 2.0,
    })
    .await;
    let r = collector(&c, &["starting"], Some(&url), Duration::from_secs(2))
        .with_time_scale(SCALE)
        .collect()
        .await
        .unwrap();
    let startup = |server: &str| {
        let s = r
            .servers
            .iter()
            .find(|s| s.observation.spec.name == server)
            .unwrap();
        let loads = &s.observation.pod_loads;
        assert_eq!(loads.len(), 1, "{server}: {loads:?}");
        assert_eq!(loads[0].pod, s.deployment.ready_pods[0]);
        assert_eq!(loads[0].outstanding, 2.0);
        loads[0].startup_seconds
    };
    let slow = startup("slow");
    // Whole seconds on both timestamps, and the kubelet's own delay on a loaded machine: a few
    // wall seconds of slack, times the scale. Unscaled, the slow pod would read about 3.
    assert!((12.0..=12.0 + 5.0 * SCALE).contains(&slow), "slow: {slow}");
    let quick = startup("quick");
    assert!((0.0..=5.0 * SCALE).contains(&quick), "quick: {quick}");
    c.sim.shutdown().await.unwrap();
}
