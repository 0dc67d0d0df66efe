//! Kubesim pods served by emulated vLLM servers, scraped by a real Prometheus (Debian package
//! `prometheus`; `make test` installs it, CI=true fails without it): the collector's arrival
//! rates, tokens and latencies agree with what the emulators saw, overloaded or not.

use inferno_collector::collect::{Collector, Metrics};
use inferno_collector::discover::Discovery;
use inferno_collector::prometheus::{Prometheus, PrometheusConfig};
use inferno_collector::window::Windows;
use inferno_core::Source;
use inferno_emulator::{Host, LoadSpec, PerfParms, ServerSpec, Snapshot, TokenDist};
use inferno_testkit::wait;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A Deployment `name` of `replicas` pods serving `model` in namespace `infer`.
fn deployment(name: &str, replicas: u32) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "infer", "labels": {
            "inferno.server.managed": "true", "inferno.server.name": name, "inferno.server.model": "granite_13b",
            "inferno.server.class": "Bronze", "inferno.server.allocation.accelerator": "A100",
            "inferno.server.allocation.maxbatchsize": "32", "inferno.server.load.rpm": "999"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "vllm", "image": "x"}]}}}
    }))
    .unwrap()
}

/// One emulated server for `pod`: `perf` and batch cap, under a Poisson load of `rate`
/// requests/s of `in_tokens` / `out_tokens` (real time).
fn emulated(
    pod: &str,
    perf: PerfParms,
    max_batch_size: u32,
    load: (f64, u32, u32, u64),
) -> ServerSpec {
    let (rate, in_tokens, out_tokens, seed) = load;
    ServerSpec {
        name: pod.into(),
        model: "granite_13b".into(),
        accelerator: "A100".into(),
        perf: Some(perf),
        max_batch_size,
        time_scale: 1.0,
        load: Some(LoadSpec {
            rate,
            in_tokens: TokenDist::Fixed(in_tokens),
            out_tokens: TokenDist::Fixed(out_tokens),
            seed,
        }),
        ..ServerSpec::default()
    }
}

/// Requests that arrived at `now` since `then`: completed, plus the change of what is held.
fn arrived(then: &Snapshot, now: &Snapshot) -> f64 {
    let held = |s: &Snapshot| (s.running + s.waiting) as f64;
    (now.requests - then.requests) as f64 + held(now) - held(then)
}

/// `granite` (two pods, well within capacity) and `flood` (one pod offered 2.5 times what it
/// can serve) scraped by a real Prometheus. The collector's arrival rates, tokens and latencies
/// agree with what the emulators saw; the overloaded server's arrival rate is what it was
/// offered, not the throughput it is stuck at (which completions alone used to report).
/// granite has a third pod that Kubernetes no longer knows (deleted, or terminating, while
/// Prometheus still has its series): its requests count for granite, found by its name.
/// `spread` (one pod) has output lengths spread uniformly: its fitted output-length spread is
/// well above 0, granite's (every output 50 tokens) about 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rates_and_latencies_from_a_real_prometheus() {
    let Some(bin) = inferno_testkit::tools::prometheus() else {
        return;
    };
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
    let deployments = Api::<Deployment>::namespaced(client.clone(), "infer");
    for (name, replicas) in [("granite", 2), ("flood", 1), ("spread", 1)] {
        deployments
            .create(&PostParams::default(), &deployment(name, replicas))
            .await
            .unwrap();
    }
    let discovery = Discovery::start(client.clone(), vec!["infer".into()], Duration::ZERO);
    let pods = wait::until("four ready pods", Duration::from_secs(10), || async {
        let found = discovery.find().await.unwrap();
        let pods = |name: &str| {
            found
                .iter()
                .find(|d| d.name == name)
                .map(|d| d.ready_pods.clone())
                .unwrap_or_default()
        };
        let (granite, flood, spread) = (pods("granite"), pods("flood"), pods("spread"));
        (granite.len() == 2 && flood.len() == 1 && spread.len() == 1)
            .then(|| [granite, flood, spread].concat())
    })
    .await;

    // granite: 4 requests/s per pod, well within capacity. flood: 5 requests/s at a batch of
    // one and 5 iterations of 100 ms per request, i.e. 2 requests/s served: its queue grows.
    let host = Host::loopback(None);
    let light = PerfParms {
        alpha: 6.0,
        beta: 0.02,
        gamma: 0.0002,
    };
    let slow = PerfParms {
        alpha: 100.0,
        beta: 0.0,
        gamma: 0.0,
    };
    // granite-<hash>-<suffix>, the hash of the ready ones.
    let gone = format!("{}-gone0", pods[0].rsplit_once('-').unwrap().0);
    // spread: 3 requests/s whose output lengths are uniform on 10..=190 (cv 0.52).
    let mut spread = emulated(&pods[3], light, 32, (3.0, 100, 100, 5));
    if let Some(load) = spread.load.as_mut() {
        load.out_tokens = TokenDist::Uniform(10, 190);
    }
    let specs = [
        emulated(&pods[0], light, 32, (4.0, 200, 50, 1)),
        emulated(&pods[1], light, 32, (4.0, 200, 50, 2)),
        emulated(&pods[2], slow, 1, (5.0, 10, 4, 3)),
        emulated(&gone, light, 32, (2.0, 200, 50, 4)),
        spread,
    ];
    // granite's two, flood's, granite's gone one, spread's.
    let pods = [&pods[..3], &[gone.clone(), pods[3].clone()]].concat();
    let mut servers = Vec::new();
    for spec in specs {
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
    let prometheus = Prometheus::new(
        PrometheusConfig {
            url: prom.url(),
            ..Default::default()
        },
        Duration::from_secs(5),
    )
    .unwrap();
    // 20 s, 40 s, ... 160 s: Prometheus has scraped for about 22 s when the collection runs,
    // so only the shortest window is covered, whatever each server holds.
    let collector = Collector::new(
        discovery,
        Some(prometheus),
        Windows::around(20).unwrap(),
        Duration::from_secs(5),
        Arc::new(Metrics::default()),
    );

    // Let ~20 s of scrapes accumulate, then compare with the emulators' own counters over the
    // same stretch.
    let start = Instant::now();
    let before: Vec<Snapshot> = servers.iter().map(|s| s.snapshot()).collect();
    tokio::time::sleep(Duration::from_secs(22)).await;
    let report = collector.collect().await.unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    let after: Vec<Snapshot> = servers.iter().map(|s| s.snapshot()).collect();
    let per_minute = |n: f64| n / elapsed * 60.0;
    let server = |name: &str| {
        &report
            .servers
            .iter()
            .find(|s| s.observation.spec.name == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", report.servers))
            .observation
    };

    let obs = server("granite");
    let load = &obs.spec.current_alloc.load;
    assert_eq!(
        obs.reporting_pods.len(),
        2,
        "{:?} problems {:?}",
        obs,
        report.problems
    );
    assert_eq!(obs.sources[0], ("arrivalRate", Source::Prometheus));
    let granite = [0, 1, 3];
    let served_rpm = per_minute(
        granite
            .iter()
            .map(|&i| arrived(&before[i], &after[i]))
            .sum(),
    );
    eprintln!(
        "granite: arrivals {} throughput {} (emulators: {served_rpm} arrived) {:?}",
        load.arrival_rate, load.throughput, obs.demand
    );
    // Two pods at 4 req/s and the gone one at 2: ~600 requests/min; a Poisson stream over
    // 20 s wobbles. The ready pods alone would read ~480.
    assert!(
        (load.arrival_rate / served_rpm - 1.0).abs() < 0.15,
        "prometheus {} vs served {served_rpm}",
        load.arrival_rate
    );
    assert!(
        (load.arrival_rate / 600.0 - 1.0).abs() < 0.3,
        "{}",
        load.arrival_rate
    );
    assert_eq!(obs.counted_pods.len(), 3, "{:?}", obs.counted_pods);
    assert!(obs.counted_pods.contains(&format!("infer/{gone}")));
    // The per-request histograms count prompt and output tokens of the same requests: exact
    // (the token counters over completions were off by what was in flight).
    assert_eq!((load.avg_in_tokens, load.avg_out_tokens), (200, 50));
    // Every output exactly 50 tokens, a bucket bound (le=50 holds it): no spread, not the ~0.6
    // a fit at the bound itself reads.
    assert!(
        load.out_tokens_cv < 0.05,
        "granite cv {}",
        load.out_tokens_cv
    );
    assert!(obs.sources.contains(&("outTokensCv", Source::Prometheus)));
    // About 200 requests in the shortest window, enough: the estimate rests on them.
    let demand = obs.demand;
    assert_eq!(demand.window_seconds, 20.0);
    assert!((demand.requests / 200.0 - 1.0).abs() < 0.3, "{demand:?}");
    assert!((demand.rate_error - demand.requests.sqrt() / 20.0 * 60.0).abs() < 1e-9);
    assert!(
        (load.arrival_rate - demand.requests * 3.0).abs() < 1e-6,
        "{demand:?}"
    );
    let names: Vec<&str> = obs.pod_loads.iter().map(|p| p.pod.as_str()).collect();
    assert_eq!(names, [pods[0].as_str(), pods[1].as_str()]);
    let granite: Vec<&Snapshot> = granite.iter().map(|&i| &after[i]).collect();
    let itl_ms = granite.iter().map(|s| s.itl.sum).sum::<f64>()
        / granite.iter().map(|s| s.itl.count as f64).sum::<f64>()
        * 1000.0;
    let ttft_ms = granite.iter().map(|s| s.ttft.sum).sum::<f64>()
        / granite.iter().map(|s| s.ttft.count as f64).sum::<f64>()
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

    // The overloaded server: completions stay at ~120/min while ~300/min arrive.
    let obs = server("flood");
    let load = &obs.spec.current_alloc.load;
    assert_eq!(obs.sources[0], ("arrivalRate", Source::Prometheus));
    let offered = per_minute(arrived(&before[2], &after[2]));
    let served = per_minute((after[2].requests - before[2].requests) as f64);
    eprintln!(
        "flood: arrivals {} throughput {} (emulator: {offered} arrived, {served} served) {:?} {:?}",
        load.arrival_rate, load.throughput, obs.demand, obs.pod_loads
    );
    assert!(
        (load.arrival_rate / offered - 1.0).abs() < 0.25,
        "prometheus {} vs offered {offered} (served {served})",
        load.arrival_rate
    );
    assert!(
        (load.throughput / served - 1.0).abs() < 0.25,
        "prometheus {} vs served {served}",
        load.throughput
    );
    assert!(
        load.arrival_rate > 1.8 * load.throughput,
        "arrivals {} vs throughput {}",
        load.arrival_rate,
        load.throughput
    );
    assert_eq!((load.avg_in_tokens, load.avg_out_tokens), (10, 4));
    // About 40 completions in 20 s: short of 50, but the longer windows reach back before the
    // first scrape, so the shortest is used rather than one that would under-count.
    assert_eq!(obs.demand.window_seconds, 20.0);
    // What the pod holds now (its last scrape, at most a second old, ~3 more a second).
    let held = (after[2].running + after[2].waiting) as f64;
    assert_eq!(obs.pod_loads.len(), 1);
    assert!(
        (obs.pod_loads[0].outstanding - held).abs() <= 10.0,
        "{:?} vs {held}",
        obs.pod_loads
    );
    assert!(held > 20.0, "the queue grows: {held}");

    // Output lengths spread uniformly on 10..=190 (cv 0.52): fitted from the scraped buckets
    // over the ~60 requests of the window.
    let obs = server("spread");
    let load = &obs.spec.current_alloc.load;
    eprintln!(
        "spread: out tokens {} cv {} {:?}",
        load.avg_out_tokens, load.out_tokens_cv, obs.demand
    );
    assert!(obs.sources.contains(&("outTokensCv", Source::Prometheus)));
    assert!(
        load.out_tokens_cv > 0.25 && load.out_tokens_cv < 1.2,
        "spread cv {}",
        load.out_tokens_cv
    );
    host.shutdown().await;
    sim.shutdown().await.unwrap();
    drop(prom);
}
