//! Follow mode against kubesim: one server per ready pod, the targets file, scaling, allocation
//! and load labels followed by the running servers, and the `follow` subcommand of the binary.

use crate::cluster::{cluster, cluster_with, settle, Cluster, NS};
use crate::support::{get, init_logs, samples, TempDir};
use inferno_emulator::follow::{FollowConfig, Follower, FALLBACK_PERF};
use inferno_emulator::{labels, Catalog, Error, Host, PerfParms, ServerHandle};
use inferno_testkit::{process, wait};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// One entry of the targets file.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    addr: SocketAddr,
    namespace: String,
    pod: String,
    deployment: String,
    model: String,
}

fn read_targets(path: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&text) else {
        return Vec::new();
    };
    items
        .iter()
        .map(|t| {
            assert_eq!(t["targets"].as_array().unwrap().len(), 1, "{t}");
            let l = &t["labels"];
            Entry {
                addr: t["targets"][0].as_str().unwrap().parse().unwrap(),
                namespace: l["namespace"].as_str().unwrap().into(),
                pod: l["pod"].as_str().unwrap().into(),
                deployment: l["deployment"].as_str().unwrap().into(),
                model: l["model_name"].as_str().unwrap().into(),
            }
        })
        .collect()
}

fn catalog() -> Catalog {
    Catalog::load(&samples().join("large")).unwrap()
}

/// Every (deployment, pod) that is Running and Ready, from the API.
async fn ready(c: &Cluster) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for d in c.names().await {
        for p in c.ready_pods(&d).await {
            out.insert(p, d.clone());
        }
    }
    out
}

/// Waits until the targets file lists exactly the ready pods of the API (and the host runs a
/// server for each), and returns the entries.
async fn synced(c: &Cluster, host: &Host, path: &Path, expect_pods: usize) -> Vec<Entry> {
    wait::until("targets file matches the ready pods", WAIT, || async {
        let want = ready(c).await;
        let got = read_targets(path);
        let listed: BTreeMap<String, String> = got
            .iter()
            .map(|e| (e.pod.clone(), e.deployment.clone()))
            .collect();
        (want.len() == expect_pods
            && listed == want
            && got.len() == want.len()
            && host.servers().len() == want.len())
        .then_some(got)
    })
    .await
}

fn server(host: &Host, pod: &str) -> ServerHandle {
    host.server(&format!("{NS}/{pod}"))
        .unwrap_or_else(|| panic!("no server for {pod}"))
}

fn servers_of<'a>(entries: &'a [Entry], deployment: &'a str) -> impl Iterator<Item = &'a Entry> {
    entries.iter().filter(move |e| e.deployment == deployment)
}

struct Fixture {
    c: Cluster,
    follower: Follower,
    targets: std::path::PathBuf,
    _dir: TempDir,
    /// Ready pods per Deployment at the start (the samples' replicas).
    replicas: BTreeMap<String, usize>,
}

async fn fixture(tag: &str, drive: bool) -> Fixture {
    fixture_on(cluster().await, tag, drive).await
}

async fn fixture_on(c: Cluster, tag: &str, drive: bool) -> Fixture {
    init_logs();
    let dir = TempDir::new(tag);
    let targets = dir.path().join("targets.json");
    // 10x: a driven request of ~1000 tokens lasts 2-3 s of wall time, so a scaled-down pod
    // drains quickly.
    let config = FollowConfig {
        namespaces: vec![NS.into()],
        drive,
        time_scale: 10.0,
        resync: Duration::from_millis(500),
        ..FollowConfig::new(&targets)
    };
    let follower = Follower::start(c.client.clone(), Some(catalog()), config).unwrap();
    let mut replicas = BTreeMap::new();
    for d in c.names().await {
        let n = c
            .deployments()
            .get(&d)
            .await
            .unwrap()
            .spec
            .unwrap()
            .replicas
            .unwrap();
        replicas.insert(d, n as usize);
    }
    Fixture {
        c,
        follower,
        targets,
        _dir: dir,
        replicas,
    }
}

impl Fixture {
    fn total(&self) -> usize {
        self.replicas.values().sum()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_server_per_ready_pod_listed_in_the_targets_file() {
    let f = fixture("follow-start", true).await;
    let host = f.follower.host();
    let entries = synced(&f.c, host, &f.targets, f.total()).await;
    assert!(f.replicas.len() >= 3, "{:?}", f.replicas);
    let cat = catalog();
    for e in &entries {
        assert_eq!(e.namespace, NS);
        assert_eq!(e.addr.ip().to_string(), "127.0.0.1");
        let s = server(host, &e.pod);
        assert_eq!(s.port(), e.addr.port());
        let l = f.c.labels(&e.deployment).await;
        assert_eq!(e.model, l[labels::MODEL]);
        assert_eq!(s.model(), l[labels::MODEL]);
        // Allocation from the labels and the catalog.
        let a = s.allocation();
        let acc = &l[labels::ACCELERATOR];
        assert_eq!(&a.accelerator, acc);
        assert_eq!(a.perf, cat.perf(&l[labels::MODEL], acc).unwrap());
        assert_eq!(a.max_batch_size.to_string(), l[labels::MAX_BATCH]);
        // --drive: rpm / 60 / ready pods, labelled tokens.
        let load = s.load().expect("driven");
        let rpm: f64 = l[labels::LOAD_RPM].parse().unwrap();
        let n = f.replicas[&e.deployment] as f64;
        assert!((load.rate - rpm / 60.0 / n).abs() < 1e-12, "{load:?}");
        assert_eq!(load.in_tokens.to_string(), l[labels::LOAD_IN_TOKENS]);
        assert_eq!(load.out_tokens.to_string(), l[labels::LOAD_OUT_TOKENS]);
    }
    // Each target serves vLLM metrics with its model name.
    let e = &entries[0];
    let metrics = get(e.addr, "/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics.body.contains(&format!(
            "vllm:num_requests_running{{model_name=\"{}\"}}",
            e.model
        )),
        "{}",
        metrics.body
    );
    // Names are <namespace>/<pod>, and the file is sorted by them.
    let mut sorted = entries.clone();
    sorted.sort_by(|a, b| a.pod.cmp(&b.pod));
    assert_eq!(sorted, entries);

    let targets = f.targets.clone();
    f.follower.shutdown().await;
    assert_eq!(std::fs::read_to_string(&targets).unwrap().trim(), "[]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_adds_and_removes_servers_and_resplits_the_load() {
    let f = fixture("follow-scale", true).await;
    let host = f.follower.host();
    let before = synced(&f.c, host, &f.targets, f.total()).await;
    let (big, big_n) = f
        .replicas
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(d, n)| (d.clone(), *n))
        .unwrap();
    assert!(big_n >= 2);
    let rpm: f64 = f.c.labels(&big).await[labels::LOAD_RPM].parse().unwrap();
    // The ports of the servers that stay do not change.
    let kept_ports: BTreeMap<String, u16> = before
        .iter()
        .map(|e| (e.pod.clone(), e.addr.port()))
        .collect();

    f.c.scale(&big, 1).await;
    let after = synced(&f.c, host, &f.targets, f.total() - big_n + 1).await;
    let mine: Vec<&Entry> = servers_of(&after, &big).collect();
    assert_eq!(mine.len(), 1);
    let s = server(host, &mine[0].pod);
    assert!((s.load().unwrap().rate - rpm / 60.0).abs() < 1e-12);
    for e in &after {
        assert_eq!(kept_ports[&e.pod], e.addr.port(), "{} moved", e.pod);
    }
    for e in servers_of(&before, &big).filter(|e| e.pod != mine[0].pod) {
        assert!(host.server(&format!("{NS}/{}", e.pod)).is_none());
        assert!(crate::support::request(e.addr, "GET", "/health", None)
            .await
            .is_err());
    }

    f.c.scale(&big, big_n as i32 + 2).await;
    let grown = synced(&f.c, host, &f.targets, f.total() + 2).await;
    let n = servers_of(&grown, &big).count();
    assert_eq!(n, big_n + 2);
    for e in servers_of(&grown, &big) {
        let rate = server(host, &e.pod).load().unwrap().rate;
        assert!((rate - rpm / 60.0 / n as f64).abs() < 1e-12, "{rate}");
    }
    f.follower.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_and_load_labels_are_followed() {
    let f = fixture("follow-labels", true).await;
    let host = f.follower.host();
    let entries = synced(&f.c, host, &f.targets, f.total()).await;
    let name = f.replicas.keys().next().unwrap().clone();
    let pods: Vec<String> = servers_of(&entries, &name).map(|e| e.pod.clone()).collect();
    let model = f.c.labels(&name).await[labels::MODEL].clone();
    let cat = catalog();
    let ports: Vec<u16> = pods.iter().map(|p| server(host, p).port()).collect();
    let all = |check: Box<dyn Fn(&ServerHandle) -> bool>| {
        let pods = pods.clone();
        let host = host.clone();
        move || {
            let ok = pods
                .iter()
                .all(|p| host.server(&format!("{NS}/{p}")).is_some_and(|s| check(&s)));
            std::future::ready(ok.then_some(()))
        }
    };

    // maxbatchsize.
    f.c.set_labels(&name, &[(labels::MAX_BATCH, Some("3"))])
        .await;
    wait::until(
        "batch 3",
        WAIT,
        all(Box::new(|s| s.allocation().max_batch_size == 3)),
    )
    .await;

    // A known accelerator: the catalog's parameters.
    f.c.set_labels(&name, &[(labels::ACCELERATOR, Some("A100"))])
        .await;
    let a100 = cat.perf(&model, "A100").unwrap();
    wait::until(
        "A100",
        WAIT,
        all(Box::new(move |s| {
            let a = s.allocation();
            a.accelerator == "A100" && a.perf == a100 && a.max_batch_size == 3
        })),
    )
    .await;

    // No maxbatchsize label: the catalog row's batch size.
    f.c.set_labels(&name, &[(labels::MAX_BATCH, None)]).await;
    let a100_batch = cat.get(&model, "A100").unwrap().max_batch_size as u32;
    wait::until(
        "catalog batch",
        WAIT,
        all(Box::new(move |s| {
            s.allocation().max_batch_size == a100_batch
        })),
    )
    .await;

    // An unknown accelerator: the model's first catalog row, under the labelled name.
    f.c.set_labels(&name, &[(labels::ACCELERATOR, Some("NOPE"))])
        .await;
    let first = cat.first_of_model(&model).unwrap().clone();
    wait::until(
        "first row",
        WAIT,
        all(Box::new(move |s| {
            let a = s.allocation();
            a.accelerator == "NOPE"
                && a.perf == first.perf_parms
                && i64::from(a.max_batch_size) == first.max_batch_size
        })),
    )
    .await;

    // Load labels: rpm, tokens, numtokens fallback; no rpm stops the load.
    let n = pods.len() as f64;
    f.c.set_labels(
        &name,
        &[
            (labels::LOAD_RPM, Some("240")),
            (labels::LOAD_IN_TOKENS, None),
            (labels::LOAD_NUM_TOKENS, Some("300")),
            (labels::LOAD_OUT_TOKENS, Some("7")),
        ],
    )
    .await;
    wait::until(
        "new load",
        WAIT,
        all(Box::new(move |s| {
            s.load().is_some_and(|l| {
                (l.rate - 4.0 / n).abs() < 1e-12
                    && l.in_tokens.to_string() == "300"
                    && l.out_tokens.to_string() == "7"
            })
        })),
    )
    .await;
    f.c.set_labels(&name, &[(labels::LOAD_RPM, None)]).await;
    wait::until("no load", WAIT, all(Box::new(|s| s.load().is_none()))).await;

    // Every change was applied in place: same servers, same ports.
    let now: Vec<u16> = pods.iter().map(|p| server(host, p).port()).collect();
    assert_eq!(now, ports);
    assert_eq!(read_targets(&f.targets).len(), f.total());

    // A model change restarts the servers with the new model; an unknown model gets the
    // default parameters.
    f.c.set_labels(&name, &[(labels::MODEL, Some("unknown_model"))])
        .await;
    wait::until(
        "new model",
        WAIT,
        all(Box::new(|s| {
            s.model() == "unknown_model" && s.allocation().perf == FALLBACK_PERF
        })),
    )
    .await;
    wait::until("targets show the model", WAIT, || {
        let entries = read_targets(&f.targets);
        let ok = servers_of(&entries, &name).count() == pods.len()
            && servers_of(&entries, &name).all(|e| e.model == "unknown_model");
        std::future::ready(ok.then_some(()))
    })
    .await;

    // An unmanaged Deployment's servers stop.
    f.c.set_labels(&name, &[(labels::MANAGED, Some("false"))])
        .await;
    wait::until("unmanaged", WAIT, || {
        let ok = pods
            .iter()
            .all(|p| host.server(&format!("{NS}/{p}")).is_none())
            && read_targets(&f.targets).len() == f.total() - pods.len();
        std::future::ready(ok.then_some(()))
    })
    .await;
    f.follower.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_drive_no_load_and_a_deleted_deployment_stops_its_servers() {
    let f = fixture("follow-nodrive", false).await;
    let host = f.follower.host();
    synced(&f.c, host, &f.targets, f.total()).await;
    assert!(host.servers().iter().all(|s| s.load().is_none()));
    let name = f.replicas.keys().next().unwrap().clone();
    f.c.delete(&name).await;
    synced(&f.c, host, &f.targets, f.total() - f.replicas[&name]).await;
    f.follower.shutdown().await;
}

/// Every pod of a Deployment as the API lists it: (name, terminating).
async fn pods_of(c: &Cluster, deployment: &str) -> BTreeMap<String, bool> {
    let pods: Api<Pod> = Api::namespaced(c.client.clone(), NS);
    let list = pods
        .list(&ListParams::default().labels(&format!("app={deployment}")))
        .await
        .unwrap();
    list.items
        .into_iter()
        .map(|p| {
            let terminating = p.metadata.deletion_timestamp.is_some();
            (p.metadata.name.unwrap_or_default(), terminating)
        })
        .collect()
}

/// Scales `deployment` to 0 while each of its servers runs `requests` requests of
/// `max_tokens` tokens at 1 ms of wall time per token, and waits until every pod is Terminating
/// while its server still runs them and is still a target. The pods' grace period is a day,
/// so only a delete with `gracePeriodSeconds=0` removes them during the test.
async fn terminate_busy(
    f: &Fixture,
    deployment: &str,
    requests: usize,
    max_tokens: u32,
) -> Vec<(
    String,
    tokio::task::JoinHandle<inferno_emulator::Result<inferno_emulator::Completion>>,
)> {
    let host = f.follower.host();
    let pods: Vec<String> = pods_of(&f.c, deployment).await.into_keys().collect();
    assert!(!pods.is_empty());
    let api: Api<Pod> = Api::namespaced(f.c.client.clone(), NS);
    let day = serde_json::json!({"spec": {"terminationGracePeriodSeconds": 86_400}});
    let mut pending = Vec::new();
    for p in &pods {
        api.patch(p, &PatchParams::default(), &Patch::Merge(&day))
            .await
            .unwrap();
        let s = server(host, p);
        // 10 ms per iteration at 10x: 1 ms of wall time per token.
        let perf = PerfParms {
            alpha: 10.0,
            beta: 0.0,
            gamma: 0.0,
        };
        s.set_perf("test", perf).unwrap();
        for _ in 0..requests {
            let s = s.clone();
            let task = tokio::spawn(async move { s.complete(10, max_tokens).await });
            pending.push((p.clone(), task));
        }
    }
    wait::until("requests in flight", WAIT, || async {
        let n = pods
            .iter()
            .map(|p| server(host, p).in_flight())
            .sum::<u64>();
        (n == (requests * pods.len()) as u64).then_some(())
    })
    .await;
    f.c.scale(deployment, 0).await;
    wait::until("terminating pods still serving", WAIT, || async {
        let listed = pods_of(&f.c, deployment).await;
        let targets = read_targets(&f.targets);
        let ok = pods.iter().all(|p| {
            listed.get(p) == Some(&true)
                && host
                    .server(&format!("{NS}/{p}"))
                    .is_some_and(|s| s.in_flight() > 0 && s.load().is_none())
                && targets.iter().any(|e| &e.pod == p)
        });
        ok.then_some(())
    })
    .await;
    pending
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminating_pod_drains_then_the_follower_removes_it() {
    let f = fixture("follow-drain", true).await;
    let host = f.follower.host();
    synced(&f.c, host, &f.targets, f.total()).await;
    let (small, n) = f
        .replicas
        .iter()
        .min_by_key(|(_, n)| **n)
        .map(|(d, n)| (d.clone(), *n))
        .unwrap();
    // 2 requests of 5000 tokens per pod: about 5 s of wall time each, all in one batch.
    let pending = terminate_busy(&f, &small, 2, 5000).await;
    assert_eq!(pending.len(), 2 * n);
    // Not cut off: every request completes, on a pod that is still listed.
    for (pod, task) in pending {
        let c = task.await.unwrap().unwrap_or_else(|e| panic!("{pod}: {e}"));
        assert_eq!(c.completion_tokens, 5000);
    }
    // Then the server stops, its target goes and the pod is removed, long before its grace
    // period of a day would end.
    wait::until("drained pods removed", WAIT, || async {
        let gone = pods_of(&f.c, &small).await.is_empty();
        let servers = host
            .servers()
            .iter()
            .filter(|s| s.name().starts_with(&format!("{NS}/{small}-")))
            .count();
        let targets = servers_of(&read_targets(&f.targets), &small).count();
        (gone && servers == 0 && targets == 0).then_some(())
    })
    .await;
    synced(&f.c, host, &f.targets, f.total() - n).await;
    f.follower.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminating_pod_removed_before_it_drained_cuts_its_requests_off() {
    let f = fixture("follow-cut", false).await;
    let host = f.follower.host();
    synced(&f.c, host, &f.targets, f.total()).await;
    let small = f
        .replicas
        .iter()
        .min_by_key(|(_, n)| **n)
        .map(|(d, _)| d.clone())
        .unwrap();
    // 50,000 tokens: 50 s of wall time, far longer than the test.
    let pending = terminate_busy(&f, &small, 1, 50_000).await;
    // The grace period ends (here: someone deletes the pods with a zero grace period).
    let api: Api<Pod> = Api::namespaced(f.c.client.clone(), NS);
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    for p in pods_of(&f.c, &small).await.keys() {
        api.delete(p, &now).await.unwrap();
    }
    for (pod, task) in pending {
        let r = tokio::time::timeout(WAIT, task).await.expect("answered");
        let err = r.unwrap().unwrap_err();
        assert!(matches!(err, Error::CutOff(_)), "{pod}: {err}");
    }
    synced(&f.c, host, &f.targets, f.total() - f.replicas[&small]).await;
    f.follower.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_pods_without_a_server_are_removed() {
    // Pods deleted before the follower starts: their containers (servers) are not running,
    // so the follower, their kubelet, removes them at once.
    let c = cluster().await;
    settle(&c).await;
    let small = c.names().await[0].clone();
    let api: Api<Pod> = Api::namespaced(c.client.clone(), NS);
    let day = serde_json::json!({"spec": {"terminationGracePeriodSeconds": 86_400}});
    for p in pods_of(&c, &small).await.keys() {
        api.patch(p, &PatchParams::default(), &Patch::Merge(&day))
            .await
            .unwrap();
    }
    c.scale(&small, 0).await;
    wait::until("terminating pods", WAIT, || async {
        let pods = pods_of(&c, &small).await;
        (!pods.is_empty() && pods.values().all(|t| *t)).then_some(())
    })
    .await;
    let f = fixture_on(c, "follow-orphans", false).await;
    wait::until("terminating pods removed", WAIT, || async {
        pods_of(&f.c, &small).await.is_empty().then_some(())
    })
    .await;
    synced(&f.c, f.follower.host(), &f.targets, f.total()).await;
    f.follower.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_graceful_termination_a_deleted_pod_stops_its_server_at_once() {
    let f = fixture_on(cluster_with(false).await, "follow-immediate", false).await;
    let host = f.follower.host();
    synced(&f.c, host, &f.targets, f.total()).await;
    let (small, n) = f
        .replicas
        .iter()
        .min_by_key(|(_, n)| **n)
        .map(|(d, n)| (d.clone(), *n))
        .unwrap();
    let mut pending = Vec::new();
    for p in pods_of(&f.c, &small).await.into_keys() {
        let s = server(host, &p);
        pending.push(tokio::spawn(async move { s.complete(10, 50_000).await }));
    }
    wait::until("requests in flight", WAIT, || async {
        let n: u64 = host.servers().iter().map(ServerHandle::in_flight).sum();
        (n == pending.len() as u64).then_some(())
    })
    .await;
    f.c.scale(&small, 0).await;
    for task in pending {
        let r = tokio::time::timeout(WAIT, task).await.expect("answered");
        let err = r.unwrap().unwrap_err();
        assert!(matches!(err, Error::CutOff(_)), "{err}");
    }
    synced(&f.c, host, &f.targets, f.total() - n).await;
    f.follower.shutdown().await;
}

/// The `follow` subcommand as the demo runs it, with KUBECONFIG, until SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_follow_subcommand() {
    init_logs();
    let c = cluster().await;
    let dir = TempDir::new("follow-bin");
    let kubeconfig = dir.path().join("kubeconfig");
    c.sim.write_kubeconfig(&kubeconfig).unwrap();
    let targets = dir.path().join("targets.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_inferno-vllm-emulator"))
        .arg("follow")
        .arg("--model-data")
        .arg(samples().join("large/model-data.json"))
        .arg("--targets-file")
        .arg(&targets)
        .args([
            "--namespace",
            NS,
            "--drive",
            "--time-scale",
            "2",
            "--seed",
            "7",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    settle(&c).await;
    let expected = ready(&c).await.len();
    let waited = wait::within_sync(WAIT, || {
        let entries = read_targets(&targets);
        (entries.len() == expected && expected > 0).then_some(entries)
    })
    .await;
    let healthy = match &waited {
        Some(entries) => get(entries[0].addr, "/health").await.status == 200,
        None => false,
    };
    let status = process::terminate(&mut child, Duration::from_secs(10)).await;
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(waited.is_some(), "no {expected} targets: {log}");
    assert!(healthy, "{log}");
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("pod ready: server started"), "{log}");
    assert_eq!(std::fs::read_to_string(&targets).unwrap().trim(), "[]");
}
