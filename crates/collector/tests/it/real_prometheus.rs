//! Kubesim pods served by emulated vLLM servers, scraped by a real Prometheus (Debian package
//! `prometheus`; `make test` installs it, CI=true fails without it): the collector's rates,
//! tokens and latencies agree with what the emulators served.

use inferno_collector::collect::{Collector, Metrics};
use inferno_collector::discover::Discovery;
use inferno_collector::prometheus::{Prometheus, PrometheusConfig};
use inferno_core::Source;
use inferno_emulator::{Host, LoadSpec, PerfParms, ServerSpec, TokenDist};
use inferno_testkit::wait;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rates_and_latencies_from_a_real_prometheus() {
    let Some(bin) = inferno_testkit::tools::prometheus() else {
        return;
    };
    // A two-replica inference Deployment in kubesim.
    let sim = kubesim::start(
        "127.0.0.1:0".parse().unwrap(),
        kubesim::Config {
            pod_ready_delay: Duration::from_millis(20),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    ns.create(&PostParams::default(), &serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "infer"}})).unwrap()).await.unwrap();
    let d: Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "granite", "namespace": "infer", "labels": {
            "inferno.server.managed": "true", "inferno.server.name": "granite", "inferno.server.model": "granite_13b",
            "inferno.server.class": "Bronze", "inferno.server.allocation.accelerator": "A100",
            "inferno.server.allocation.maxbatchsize": "32", "inferno.server.load.rpm": "999"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "granite"}},
                 "template": {"metadata": {"labels": {"app": "granite"}}, "spec": {"containers": [{"name": "vllm", "image": "x"}]}}}
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), "infer")
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
    let discovery = Discovery::start(client.clone(), vec!["infer".into()], Duration::ZERO);
    let pods = wait::until("two ready pods", Duration::from_secs(10), || async {
        let found = discovery.find().await.unwrap();
        let first = found.first()?;
        (first.ready_pods.len() == 2).then(|| first.ready_pods.clone())
    })
    .await;

    // One emulated server per pod, each under its own Poisson load (real time).
    let host = Host::loopback(None);
    let mut servers = Vec::new();
    for (i, pod) in pods.iter().enumerate() {
        let spec = ServerSpec {
            name: pod.clone(),
            model: "granite_13b".into(),
            accelerator: "A100".into(),
            perf: Some(PerfParms {
                alpha: 6.0,
                beta: 0.02,
                gamma: 0.0002,
            }),
            max_batch_size: 32,
            time_scale: 1.0,
            load: Some(LoadSpec {
                rate: 4.0,
                in_tokens: TokenDist::Fixed(200),
                out_tokens: TokenDist::Fixed(50),
                seed: i as u64 + 1,
            }),
            ..ServerSpec::default()
        };
        servers.push(host.start_server(spec).await.unwrap());
    }
    let targets: Vec<_> = servers
        .iter()
        .zip(&pods)
        .map(|(s, pod)| (s.addr(), pod.as_str()))
        .collect();
    let prom =
        inferno_testkit::prometheus::Prometheus::start(&bin, "vllm", "infer", &targets).await;
    prom.wait_scraped(Duration::from_secs(20)).await;
    let url = prom.url();
    let prometheus = Prometheus::new(
        PrometheusConfig {
            url: url.clone(),
            ..Default::default()
        },
        Duration::from_secs(5),
    )
    .unwrap();
    let collector = Collector::new(
        discovery,
        Some(prometheus),
        "20s".into(),
        Duration::from_secs(5),
        Arc::new(Metrics::default()),
    );

    // Let ~20 s of scrapes accumulate, then compare with the emulators' own counters over the
    // same stretch.
    let start = Instant::now();
    let before: Vec<u64> = servers.iter().map(|s| s.snapshot().requests).collect();
    tokio::time::sleep(Duration::from_secs(22)).await;
    let report = collector.collect().await.unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    let served_rpm: f64 = servers
        .iter()
        .zip(&before)
        .map(|(s, b)| (s.snapshot().requests - b) as f64)
        .sum::<f64>()
        / elapsed
        * 60.0;
    let obs = &report.servers[0].observation;
    let load = &obs.spec.current_alloc.load;
    assert_eq!(
        obs.reporting_pods.len(),
        2,
        "{:?} problems {:?}",
        obs,
        report.problems
    );
    assert_eq!(obs.sources[0], ("arrivalRate", Source::Prometheus));
    // Two pods at 4 req/s: ~480 requests/min; rate() over 20 s of a Poisson stream wobbles.
    assert!(
        (load.arrival_rate / served_rpm - 1.0).abs() < 0.25,
        "prometheus {} vs served {served_rpm}",
        load.arrival_rate
    );
    assert!(
        (load.arrival_rate / 480.0 - 1.0).abs() < 0.3,
        "{}",
        load.arrival_rate
    );
    // Tokens are counted as they are processed, requests when they finish: over a sliding
    // window the ratio is off by the requests in flight at its edges (a few percent).
    assert!(
        (load.avg_in_tokens as f64 / 200.0 - 1.0).abs() < 0.05,
        "{}",
        load.avg_in_tokens
    );
    assert!(
        (load.avg_out_tokens as f64 / 50.0 - 1.0).abs() < 0.05,
        "{}",
        load.avg_out_tokens
    );
    let snap: Vec<_> = servers.iter().map(|s| s.snapshot()).collect();
    let itl_ms = snap.iter().map(|s| s.itl.sum).sum::<f64>()
        / snap.iter().map(|s| s.itl.count as f64).sum::<f64>()
        * 1000.0;
    let ttft_ms = snap.iter().map(|s| s.ttft.sum).sum::<f64>()
        / snap.iter().map(|s| s.ttft.count as f64).sum::<f64>()
        * 1000.0;
    let a = &obs.spec.current_alloc;
    assert!(
        (a.itl_average / itl_ms - 1.0).abs() < 0.15,
        "itl {} vs {itl_ms}",
        a.itl_average
    );
    assert!(
        (a.ttft_average / ttft_ms - 1.0).abs() < 0.25,
        "ttft {} vs {ttft_ms}",
        a.ttft_average
    );
    host.shutdown().await;
    sim.shutdown().await.unwrap();
    drop(prom);
}
