//! Cycles end to end through gRPC, with the real optimizer.

use crate::fakes::{self, CollectorState, FakeActuator};
use inferno_controller::cycle::{Deadlines, Stages};
use inferno_controller::data::Source;
use inferno_controller::grpc::{Clients, Endpoints};
use inferno_controller::leader::Leadership;
use inferno_controller::metrics::Metrics;
use inferno_controller::runner::{self, Runner, Settings};
use inferno_proto::v1;
use inferno_telemetry::Credential;
use inferno_testkit::wait;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The small samples with the reference's batch rule named (`scaled`): the loop asks for
/// `fit` when the data names none, and the figures these tests check are the reference's
/// solution of the samples. One copy per test process, under cargo's temporary directory for
/// integration tests (inside the target directory), written before any test reads it.
pub(crate) fn reference_samples() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("reference-samples-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(samples("small")).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
        let optimizer = dir.join("optimizer-data.json");
        let mut data: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&optimizer).unwrap()).unwrap();
        data["optimizer"]["batchSizing"] = "scaled".into();
        std::fs::write(&optimizer, data.to_string()).unwrap();
        dir
    })
    .clone()
}

pub(crate) fn samples(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../samples")
        .join(name)
}

/// The small sample's servers as the collector would report them.
pub(crate) fn collected() -> v1::CollectResponse {
    let spec = inferno_api::load_path(&samples("small")).unwrap().spec;
    let servers: Vec<v1::ServerSpec> = spec
        .server_data
        .servers
        .iter()
        .map(|s| s.try_into().unwrap())
        .collect();
    let deployments = servers
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                v1::DeploymentRef {
                    uid: format!("uid-{}", s.name),
                    name: s.name.to_lowercase(),
                    namespace: "infer".into(),
                },
            )
        })
        .collect();
    v1::CollectResponse {
        servers,
        deployments,
        ..Default::default()
    }
}

pub(crate) struct Loop {
    pub(crate) runner: Runner,
    pub(crate) collector: Arc<Mutex<CollectorState>>,
    pub(crate) actuator: FakeActuator,
    optimizer_addr: SocketAddr,
    _stops: Vec<tokio::sync::oneshot::Sender<()>>,
    optimizer_stop: Option<OptimizerTask>,
    pub(crate) metrics: Arc<Metrics>,
}

impl Loop {
    /// Serves the controller's port for this loop on 127.0.0.1:0, with `credential` if set.
    pub(crate) async fn serve(&self, credential: Option<Credential>) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(inferno_controller::server::run(
            listener,
            self.runner.clone(),
            Leadership::always(),
            self.metrics.clone(),
            credential,
            std::future::pending(),
        ));
        addr
    }
}

/// A running optimizer: the signal that stops it and the task that ends when it has stopped.
struct OptimizerTask {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl OptimizerTask {
    /// Stops the server and returns once it no longer serves (no timing assumption).
    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}

async fn optimizer_on(listener: tokio::net::TcpListener) -> OptimizerTask {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(inferno_optimizer::grpc::run(
        listener,
        Default::default(),
        async {
            let _ = stopped.await;
        },
    ));
    OptimizerTask { stop, task }
}

pub(crate) async fn start(data: PathBuf, cycle_log: Option<PathBuf>) -> Loop {
    start_with(data, cycle_log, None).await
}

/// [`start`], keeping what the loop learns in `store`.
pub(crate) async fn start_with(
    data: PathBuf,
    cycle_log: Option<PathBuf>,
    store: Option<inferno_controller::persist::Store>,
) -> Loop {
    let collector = Arc::new(Mutex::new(CollectorState {
        response: collected(),
        ..Default::default()
    }));
    let actuator = FakeActuator::default();
    let (collector_addr, s1) = fakes::collector(collector.clone()).await;
    let (actuator_addr, s2) = fakes::actuator(actuator.clone()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let optimizer_addr = listener.local_addr().unwrap();
    let optimizer_stop = optimizer_on(listener).await;
    let endpoints = Endpoints {
        collector: format!("http://{collector_addr}"),
        optimizer: format!("http://{optimizer_addr}"),
        actuator: format!("http://{actuator_addr}"),
    };
    let stages = Stages {
        ports: Clients::connect(endpoints, None).unwrap(),
        source: Source::Dir(data),
        dynamic: false,
        deadlines: Deadlines {
            collect: Duration::from_secs(2),
            optimize: Duration::from_secs(10),
            apply: Duration::from_secs(5),
        },
        dry_run: false,
        explain: true,
        // The reference's solution of the samples (the figures below) is for the data's own
        // targets: no ITL margin here (the policy's own tests cover it).
        policy: std::sync::Arc::new(std::sync::Mutex::new(
            inferno_controller::policy::Policy::new(inferno_controller::policy::Settings {
                itl_margin: 0.0,
                ..Default::default()
            }),
        )),
    };
    let metrics = Arc::new(Metrics::default());
    let runner = runner::start(
        stages,
        Settings {
            period: None,
            cycle_log,
            store,
        },
        Leadership::always(),
        metrics.clone(),
        std::future::pending(),
    );
    Loop {
        runner,
        collector,
        actuator,
        optimizer_addr,
        _stops: vec![s1, s2],
        optimizer_stop: Some(optimizer_stop),
        metrics,
    }
}

#[tokio::test]
async fn a_cycle_collects_optimizes_and_applies() {
    let log = std::env::temp_dir().join(format!("inferno-cycles-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let l = start(reference_samples(), Some(log.clone())).await;
    let report = l.runner.invoke(false).await.unwrap();
    assert_eq!(report.outcome, "ok", "{}", report.reason);
    assert_eq!(report.servers.len(), 15);
    assert_eq!(report.total_cost, 25_826.0);
    let llama = report
        .servers
        .iter()
        .find(|s| s.name == "Free-llama_70b")
        .unwrap();
    assert_eq!((llama.accelerator.as_str(), llama.replicas), ("4xA100", 54));
    assert!(
        llama.slo_itl > 0.0 && llama.predicted_itl > 0.0 && llama.predicted_itl <= llama.slo_itl
    );
    assert_eq!(report.changes, 15);
    let applied = l.actuator.0.lock().unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].allocations.len(), 15);
    assert_eq!(applied[0].deployments["Free-llama_70b"].namespace, "infer");
    // The JSONL record of control-loop spec 9.2.
    let line = std::fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(v["cycle"], 1);
    assert_eq!(v["totalCost"], 25826.0);
    let solved = &v["solution"]["report"];
    assert_eq!(
        (&solved["solver"], &solved["status"]),
        (&"GREEDY".into(), &"HEURISTIC".into())
    );
    assert!(solved["bound"].as_f64().unwrap() <= solved["objective"].as_f64().unwrap());
    assert!(v["servers"][0]["sloItl"].as_f64().unwrap() > 0.0);
    assert_eq!(v["timings"][2]["stage"], "OPTIMIZE");
    assert!(v["timings"][2]["duration"].as_str().unwrap().ends_with('s'));
    assert!(l
        .metrics
        .render()
        .contains("inferno_controller_cycles_total{outcome=\"ok\"} 1"));
    std::fs::remove_file(log).unwrap();
}

#[tokio::test]
async fn dry_run_applies_nothing() {
    let l = start(reference_samples(), None).await;
    let report = l.runner.invoke(true).await.unwrap();
    assert_eq!(
        (report.outcome.name(), report.dry_run, report.changes),
        ("ok", true, 0)
    );
    assert!(l.actuator.0.lock().unwrap()[0].dry_run);
}

#[tokio::test]
async fn no_servers_skips_optimize_and_apply() {
    let l = start(reference_samples(), None).await;
    l.collector.lock().unwrap().response = v1::CollectResponse::default();
    let report = l.runner.invoke(false).await.unwrap();
    assert_eq!(report.outcome, "skipped");
    assert!(report.reason.contains("no managed servers"));
    assert!(l.actuator.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_hung_collector_fails_the_cycle_by_its_deadline() {
    let l = start(reference_samples(), None).await;
    // A gate with no permit: the collector never answers.
    l.collector.lock().unwrap().gate = Some(Arc::new(tokio::sync::Semaphore::new(0)));
    let report = l.runner.invoke(false).await.unwrap();
    assert_eq!(report.outcome, "failed");
    assert!(
        report
            .reason
            .starts_with("collect: collector at http://127.0.0.1:")
            && report.reason.contains(": no answer within"),
        "{}",
        report.reason
    );
    l.collector.lock().unwrap().gate = None;
    assert_eq!(l.runner.invoke(false).await.unwrap().outcome, "ok");
}

#[tokio::test]
async fn a_killed_optimizer_fails_cleanly_and_recovers() {
    let mut l = start(reference_samples(), None).await;
    assert_eq!(l.runner.invoke(false).await.unwrap().outcome, "ok");
    l.optimizer_stop.take().unwrap().stop().await;
    let report = l.runner.invoke(false).await.unwrap();
    assert_eq!(report.outcome, "failed");
    assert!(report.reason.starts_with("optimize:"), "{}", report.reason);
    assert_eq!(
        l.actuator.0.lock().unwrap().len(),
        1,
        "nothing applied by the failed cycle"
    );
    // The optimizer comes back on the same address.
    let listener = tokio::net::TcpListener::bind(l.optimizer_addr)
        .await
        .unwrap();
    l.optimizer_stop = Some(optimizer_on(listener).await);
    let recovered = wait::within(Duration::from_secs(5), || async {
        (l.runner.invoke(false).await.unwrap().outcome == "ok").then_some(())
    })
    .await;
    if recovered.is_none() {
        let last = l.runner.invoke(false).await.unwrap();
        panic!("did not recover: {}", last.reason);
    }
}

#[tokio::test]
async fn concurrent_invocations_are_coalesced() {
    let l = start(reference_samples(), None).await;
    // The first cycle is held in its collect stage until every other call has been made, so
    // the outcome does not depend on how fast this machine is.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    l.collector.lock().unwrap().gate = Some(gate.clone());
    let invoke = || {
        let r = l.runner.clone();
        tokio::spawn(async move { r.invoke(false).await.unwrap() })
    };
    let mut calls = vec![invoke()];
    wait::until_sync("the first collect", Duration::from_secs(60), || {
        (l.collector.lock().unwrap().calls > 0).then_some(())
    })
    .await;
    calls.extend((0..5).map(|_| invoke()));
    // The test runtime has one thread: yielding lets every spawned call send its trigger.
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    gate.add_permits(100);
    let mut cycles = Vec::new();
    for c in calls {
        let report = c.await.unwrap();
        assert_eq!(report.outcome, "ok");
        cycles.push(report.cycle);
    }
    cycles.sort();
    cycles.dedup();
    // The first call runs a cycle; the rest arrive during it and share one follow-up.
    assert!(cycles.len() <= 2, "{cycles:?}");
    assert!(l.collector.lock().unwrap().calls <= 2);
}

#[tokio::test]
async fn bad_data_keeps_the_last_good_data() {
    let dir = std::env::temp_dir().join(format!("inferno-data-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in std::fs::read_dir(samples("small")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
    }
    let l = start(dir.clone(), None).await;
    assert_eq!(l.runner.invoke(false).await.unwrap().outcome, "ok");
    std::fs::write(dir.join("capacity-data.json"), "{ not json").unwrap();
    let report = l.runner.invoke(false).await.unwrap();
    assert_eq!(report.outcome, "ok");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("capacity-data.json") && p.contains("keeping the last good data")),
        "{:?}",
        report.problems
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn missing_data_at_start_fails_with_the_file_named() {
    let l = start(PathBuf::from("/nonexistent/inferno-data"), None).await;
    let report = l.runner.invoke(false).await.unwrap();
    assert_eq!(report.outcome, "failed");
    assert!(
        report.reason.contains("load data") && report.reason.contains("accelerator-data.json"),
        "{}",
        report.reason
    );
}

/// `GET /invoke` over plain HTTP (what `curl` through a port-forward does), `/healthz`, and
/// gRPC `Invoke` on the same port.
#[tokio::test]
async fn invoke_over_http_and_grpc() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = start(reference_samples(), None).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(inferno_controller::server::run(
        listener,
        l.runner.clone(),
        Leadership::always(),
        l.metrics.clone(),
        None,
        std::future::pending(),
    ));
    let get = |path: &'static str| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(30), s.read_to_string(&mut out))
            .await
            .unwrap()
            .unwrap();
        out
    };
    let response = get("/invoke").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        (v["outcome"].as_str(), v["totalCost"].as_f64()),
        (Some("OK"), Some(25826.0))
    );
    assert!(get("/healthz").await.ends_with("ok"));
    let dry = get("/invoke?dryRun=true").await;
    assert!(dry.contains("\"dryRun\": true"), "{dry}");
    let dry: serde_json::Value =
        serde_json::from_str(&dry[dry.find("\r\n\r\n").unwrap() + 4..]).unwrap();

    let mut client = v1::controller_client::ControllerClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let report = client
        .invoke(v1::InvokeRequest { dry_run: true })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.outcome(), v1::cycle_report::Outcome::Ok);
    assert!(report.reason.is_empty());
    assert_eq!(report.solution.as_ref().unwrap().total_cost, 25826.0);
    assert!(report.timings.iter().any(|t| {
        t.stage() == v1::stage_timing::Stage::Optimize
            && inferno_proto::time::millis(t.duration.as_ref().unwrap()) > 0.0
    }));
    // One shape: the HTTP report is the gRPC one in proto3 JSON, field for field (the two
    // dry runs differ in values only). Before: two reports with different fields and names.
    let grpc = inferno_proto::json::to_value(&report);
    assert_eq!(paths(&dry), paths(&grpc));
    assert!(paths(&grpc).contains("servers.plan.plannedRpm"));
}

/// Every key path of a JSON value (`servers.plan.plannedRpm`; list items merged).
fn paths(v: &serde_json::Value) -> std::collections::BTreeSet<String> {
    fn walk(v: &serde_json::Value, at: &str, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    // A map's keys are data (server names), not fields.
                    if at.ends_with("allocations") {
                        walk(v, at, out);
                        continue;
                    }
                    out.insert(path.clone());
                    walk(v, &path, out);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    walk(item, at, out);
                }
            }
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(v, "", &mut out);
    out
}
