//! The pods of the manifests, run as local processes against kubesim: each container's binary
//! (the one its image's Dockerfile builds) with the container's `args` and `env` exactly as
//! written, probed the way the kubelet would, then driven the way the seed README does
//! (`curl /invoke`).
//!
//! What stands in for the cluster, and nothing else is changed:
//! - the API server is kubesim (KUBECONFIG instead of the in-cluster service account);
//! - the ports 3300-3303, 3311-3313 and 8000 are mapped to free ports, in every variable that
//!   names them (`*_PORT`, and the port of a `*_LISTEN` address), consistently; what the pod
//!   serves on its IP (the controller's `CONTROLLER_HOST`, the ops listeners' `0.0.0.0`) listens
//!   on 127.0.0.1 here; the internal gRPC APIs run with the manifest's own loopback host;
//! - the mounted ConfigMaps are a directory with the same files (the kubectl test checks
//!   that `kubectl create configmap --from-file` of samples/large holds exactly them), and
//!   variables that point into the mount point into that directory;
//! - `fieldRef` variables get what the kubelet would give (pod name, namespace, labels).
//!
//! The binaries are built first with `cargo build` (debug profile; the images build the same
//! packages and binaries with --release).

use super::common::{root, TempDir};
use inferno_manifests::contract::{Listen, IMAGES, IMAGE_PREFIX, SERVICES};
use inferno_manifests::pods::{pod_labels, pod_spec};
use inferno_manifests::{manifest, Object};
use inferno_testkit::{http, process, wait};
use kubesim::resource::{DEPLOYMENTS, EVENTS};
use kubesim::{FieldSelector, LabelSelector};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Longest wait for the binaries to build (a fresh debug build of the services).
const BUILD_BOUND: Duration = Duration::from_secs(1800);
/// Longest wait for a container to pass its probes, or for a cycle's effect.
const READY_BOUND: Duration = Duration::from_secs(60);

/// The binaries of the images, built (or found up to date) by cargo.
async fn build_binaries() -> PathBuf {
    let cargo = inferno_manifests::workspace::cargo();
    let mut cmd = Command::new(cargo);
    // The whole workspace's binaries, not `-p` each image's package: with `-p` cargo resolves
    // other features, builds a second copy of a dozen crates and overwrites the binaries that
    // `cargo test` built, so that every later `cargo test` or `make demo` relinks them.
    cmd.current_dir(root())
        .args(["build", "--locked", "--workspace", "--bins"]);
    let out = process::output(&mut cmd, None, BUILD_BOUND).await;
    assert!(
        out.status.success(),
        "cargo build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // target/debug/deps/it-<hash> -> target/debug
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// A running container; killed when dropped.
struct Proc {
    name: String,
    /// Behind a lock: a wait checks it through a shared reference.
    child: Mutex<process::Guard>,
    log: PathBuf,
}

impl Proc {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn assert_running(&self) {
        let exited = self.child.lock().unwrap().try_wait().unwrap();
        if let Some(status) = exited {
            panic!("{} exited ({status}):\n{}", self.name, self.log_tail());
        }
    }
}

/// How one container is run here.
struct Plan {
    name: String,
    bin: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
}

/// Free loopback ports for the manifest's ports.
fn port_map(ports: &[u16]) -> BTreeMap<u16, u16> {
    let listeners: Vec<std::net::TcpListener> = ports
        .iter()
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    ports
        .iter()
        .zip(&listeners)
        .map(|(p, l)| (*p, l.local_addr().unwrap().port()))
        .collect()
}

/// The plan of container `c` of `pod`: binary of its image, args as written, env as written
/// with the stand-ins of the module docs.
fn plan(
    pod: &Object,
    c: &Value,
    bins: &Path,
    ports: &BTreeMap<u16, u16>,
    mounts: &BTreeMap<String, PathBuf>,
    kubeconfig: &Path,
    own_host: Option<&str>,
) -> Plan {
    let name = c["name"].as_str().unwrap().to_string();
    let image = c["image"].as_str().unwrap();
    let stem = image
        .strip_prefix(IMAGE_PREFIX)
        .and_then(|i| i.split(':').next())
        .unwrap();
    let bin = IMAGES.iter().find(|i| i.name == stem).unwrap().bin;
    let labels = pod_labels(pod);
    let mut env = BTreeMap::new();
    for e in c["env"].as_array().into_iter().flatten() {
        let key = e["name"].as_str().unwrap().to_string();
        let value = match e["value"].as_str() {
            Some(v) => v.to_string(),
            None => {
                let path = e["valueFrom"]["fieldRef"]["fieldPath"].as_str().unwrap();
                match path {
                    "metadata.name" => format!("{}-test", pod.name()),
                    "metadata.namespace" => pod.namespace().unwrap().to_string(),
                    p => {
                        let label = p
                            .strip_prefix("metadata.labels['")
                            .and_then(|p| p.strip_suffix("']"))
                            .unwrap_or_else(|| panic!("fieldRef {p} not emulated"));
                        labels[label].as_str().unwrap().to_string()
                    }
                }
            }
        };
        // Ports, consistently mapped; listen addresses on loopback.
        let value = match value.parse::<u16>().ok().and_then(|p| ports.get(&p)) {
            Some(mapped) if key.ends_with("_PORT") => mapped.to_string(),
            _ => value,
        };
        let value = match value.parse::<std::net::SocketAddr>() {
            Ok(a) if key.ends_with("_LISTEN") => {
                let port = ports
                    .get(&a.port())
                    .unwrap_or_else(|| panic!("{key} = {value}: port {} is not mapped", a.port()));
                format!("127.0.0.1:{port}")
            }
            _ => value,
        };
        // Paths into a mounted volume.
        let value = mounts
            .iter()
            .find_map(|(at, dir)| {
                value
                    .strip_prefix(at.as_str())
                    .map(|rest| format!("{}/{}", dir.display(), rest.trim_start_matches('/')))
            })
            .unwrap_or(value);
        env.insert(key, value);
    }
    if let Some(host) = own_host {
        env.insert(host.to_string(), "127.0.0.1".to_string());
    }
    env.insert("KUBECONFIG".into(), kubeconfig.display().to_string());
    Plan {
        name,
        bin: bins.join(bin),
        args: c["args"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| a.as_str().unwrap().to_string())
            .collect(),
        env,
    }
}

fn start(plan: &Plan, logs: &Path) -> Proc {
    let log = logs.join(format!("{}.log", plan.name));
    let out = std::fs::File::create(&log).unwrap();
    let child = Command::new(&plan.bin)
        .args(&plan.args)
        .env_clear()
        .envs(&plan.env)
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("{} ({}): {e}", plan.name, plan.bin.display()));
    Proc {
        name: plan.name.clone(),
        child: Mutex::new(process::Guard(child)),
        log,
    }
}

/// GET http://127.0.0.1:port{path}: status and body; `None` without an answer.
async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let r = http::request(addr, "GET", path, &[], "").await.ok()?;
    Some((r.status, r.body))
}

/// grpc.health.v1 Check of the server's overall health (service "").
async fn grpc_serving(port: u16) -> bool {
    let Ok(endpoint) = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
    else {
        return false;
    };
    let Ok(channel) = endpoint
        .connect_timeout(Duration::from_secs(1))
        .connect()
        .await
    else {
        return false;
    };
    let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
    client
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .is_ok_and(|r| {
            r.into_inner().status
                == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        })
}

/// Passes `probe` of container `c` as the kubelet would (HTTP 2xx-3xx, or gRPC SERVING).
async fn probe_passes(probe: &Value, c: &Value, ports: &BTreeMap<u16, u16>) -> bool {
    let port = ["httpGet", "grpc"]
        .iter()
        .map(|h| &probe[*h]["port"])
        .find(|p| !p.is_null())
        .and_then(|p| match p {
            Value::Number(n) => n.as_u64(),
            Value::String(name) => c["ports"]
                .as_array()?
                .iter()
                .find(|q| q["name"] == *name.as_str())?["containerPort"]
                .as_u64(),
            _ => None,
        })
        .and_then(|p| u16::try_from(p).ok())
        .expect("probe port");
    let port = ports[&port];
    if let Some(path) = probe["httpGet"]["path"].as_str() {
        http_get(port, path)
            .await
            .is_some_and(|(status, _)| (200..400).contains(&status))
    } else {
        grpc_serving(port).await
    }
}

/// Waits until every probe of every container passes.
async fn wait_ready(procs: &[Proc], containers: &[&Value], ports: &BTreeMap<u16, u16>) {
    let deadline = Instant::now() + READY_BOUND;
    for (p, c) in procs.iter().zip(containers) {
        for kind in ["readinessProbe", "livenessProbe"] {
            let probe = &c[kind];
            assert!(!probe.is_null(), "{}: no {kind}", p.name);
            let left = deadline.saturating_duration_since(Instant::now());
            let passed = wait::within(left, || async {
                if probe_passes(probe, c, ports).await {
                    return Some(());
                }
                p.assert_running();
                None
            })
            .await;
            assert!(
                passed.is_some(),
                "{}: {kind} still failing after {READY_BOUND:?}:\n{}",
                p.name,
                p.log_tail()
            );
        }
    }
}

fn find<'a>(objects: &'a [Object], kind: &str, ns: &str, name: &str) -> &'a Object {
    objects
        .iter()
        .find(|o| o.is(kind, Some(ns), name))
        .unwrap_or_else(|| panic!("{kind} {ns}/{name}"))
}

fn deployments(k: &kubesim::Kubesim) -> Vec<Value> {
    k.store()
        .list(
            &DEPLOYMENTS,
            Some("infer"),
            &LabelSelector::parse("inferno.server.managed=true").unwrap(),
            &FieldSelector::default(),
        )
        .0
        .iter()
        .map(|d| Value::clone(d))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pods_run_as_written() {
    let bins = build_binaries().await;
    let objects = manifest::load_dir(&root().join("deploy")).unwrap();
    // The cluster: kubesim with the sample namespace and Deployments.
    let samples = kubesim::load_dir(&root().join("deploy/samples")).unwrap();
    let k = kubesim::start(
        "127.0.0.1:0".parse().unwrap(),
        kubesim::Config {
            pod_ready_delay: Duration::from_millis(200),
            preload: samples,
            ..kubesim::Config::default()
        },
    )
    .await
    .unwrap();
    let dir = TempDir::new("pod");
    let kubeconfig = dir.path().join("kubeconfig");
    k.write_kubeconfig(&kubeconfig).unwrap();
    // The projected volume of both ConfigMaps: the files of samples/large.
    let data = dir.path().join("etc-data");
    std::fs::create_dir_all(&data).unwrap();
    for f in [
        "accelerator-data.json",
        "model-data.json",
        "serviceclass-data.json",
        "optimizer-data.json",
        "capacity-data.json",
    ] {
        std::fs::copy(root().join("samples/large").join(f), data.join(f)).unwrap();
    }

    // The inferno pod.
    let inferno = find(&objects, "Deployment", "inferno", "inferno");
    let spec = pod_spec(inferno).unwrap();
    let containers: Vec<&Value> = spec["containers"].as_array().unwrap().iter().collect();
    let manifest_ports: Vec<u16> = SERVICES
        .iter()
        .flat_map(|s| [Some(s.port), s.ops.map(|o| o.port)])
        .flatten()
        .collect();
    let ports = port_map(&manifest_ports);
    let mut mounts = BTreeMap::new();
    for c in &containers {
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            mounts.insert(m["mountPath"].as_str().unwrap().to_string(), data.clone());
        }
    }
    let mut procs = Vec::new();
    for (c, s) in containers.iter().zip(SERVICES) {
        // The controller serves on the pod IP (0.0.0.0): loopback here. The others keep the
        // manifest's own host, which must be loopback.
        let own_host = (s.listen == Listen::Pod).then_some("CONTROLLER_HOST");
        let p = plan(inferno, c, &bins, &ports, &mounts, &kubeconfig, own_host);
        procs.push(start(&p, dir.path()));
    }
    wait_ready(&procs, &containers, &ports).await;

    // The internal gRPC APIs answer on 127.0.0.1 only: bound to the loopback address, not to
    // every address (a listener on 0.0.0.0 also answers on 127.0.0.2, which Linux routes to
    // the loopback interface too; on the pod IP it would be reachable from other pods). Their
    // ops listeners serve /metrics for Prometheus.
    for s in SERVICES.iter().filter(|s| s.ops.is_some()) {
        let grpc = ports[&s.port];
        assert!(
            grpc_serving(grpc).await,
            "{}: no gRPC health at 127.0.0.1:{grpc}",
            s.container
        );
        let elsewhere = tokio::net::TcpStream::connect(("127.0.0.2", grpc)).await;
        assert!(
            elsewhere.is_err(),
            "{}: the gRPC API (manifest port {}) also answers on 127.0.0.2:{grpc}: it listens \
             on every address, so on the pod IP too",
            s.container,
            s.port
        );
        let ops = ports[&s.pod_port()];
        let (status, metrics) = http_get(ops, "/metrics")
            .await
            .unwrap_or_else(|| panic!("{}: no ops listener at 127.0.0.1:{ops}", s.container));
        assert_eq!(status, 200, "{}: GET /metrics: {metrics}", s.container);
    }

    // The seed's `curl http://localhost:8080/invoke`: one cycle, collect -> optimize -> apply.
    let controller = ports[&3300];
    let (status, body) = http_get(controller, "/invoke")
        .await
        .expect("controller answers");
    let report: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(status, 200, "{report:#}");
    assert_eq!(report["outcome"], "OK", "{report:#}");
    assert_eq!(
        report["servers"].as_array().map(Vec::len),
        Some(3),
        "{report:#}"
    );
    // The actuator patched the Deployments it changed and recorded an Event on each.
    let changes = report["changes"].as_u64().unwrap();
    assert!(
        changes >= 1,
        "the sample allocations are not the optimal ones: {report:#}"
    );
    let events = k
        .store()
        .list(
            &EVENTS,
            Some("infer"),
            &LabelSelector::default(),
            &FieldSelector::default(),
        )
        .0;
    let scaled = events
        .iter()
        .filter(|e| e["reason"] == "InfernoScaled")
        .count();
    assert_eq!(scaled as u64, changes, "{events:#?}");
    let allocation = |d: &Value| {
        let l = &d["metadata"]["labels"];
        (
            d["spec"]["replicas"].clone(),
            l["inferno.server.allocation.accelerator"].clone(),
            l["inferno.server.allocation.maxbatchsize"].clone(),
        )
    };
    let now = deployments(&k);
    let differing = now
        .iter()
        .filter(|d| {
            let name = d["metadata"]["name"].as_str().unwrap();
            allocation(d) != allocation(&find(&objects, "Deployment", "infer", name).value)
        })
        .count();
    assert_eq!(differing as u64, changes, "{now:#?}");

    // An emulated vLLM server of a sample, as its pod runs it.
    let dep1 = find(&objects, "Deployment", "infer", "premium-llama-13b");
    let c = &pod_spec(dep1).unwrap()["containers"][0];
    let vllm_ports = port_map(&[8000]);
    let p = plan(
        dep1,
        c,
        &bins,
        &vllm_ports,
        &BTreeMap::new(),
        &kubeconfig,
        Some("INFERNO_EMULATOR_HOST"),
    );
    let vllm = vec![start(&p, dir.path())];
    wait_ready(&vllm, &[c], &vllm_ports).await;
    let (status, state) = http_get(vllm_ports[&8000], "/emulator/state")
        .await
        .unwrap();
    assert_eq!(status, 200, "{state}");
    for needle in ["vllm-001", "llama_13b", "MI250", "12.58"] {
        assert!(
            state.contains(needle),
            "{needle} not in the emulated server's state: {state}"
        );
    }
    let (_, metrics) = http_get(vllm_ports[&8000], "/metrics").await.unwrap();
    assert!(metrics.contains("model_name=\"llama_13b\""), "{metrics}");

    // The load emulator: its first update is immediate; it writes load labels in `infer`.
    let load = find(&objects, "Pod", "inferno", "load-emulator");
    let c = &pod_spec(load).unwrap()["containers"][0];
    let p = plan(
        load,
        c,
        &bins,
        &BTreeMap::new(),
        &BTreeMap::new(),
        &kubeconfig,
        None,
    );
    let emulator = start(&p, dir.path());
    let updated = wait::within_sync(READY_BOUND, || {
        let nominal = deployments(&k)
            .iter()
            .filter(|d| d["metadata"]["labels"]["inferno.server.load.nominal.rpm"].is_string())
            .count();
        if nominal == 3 {
            return Some(());
        }
        emulator.assert_running();
        None
    })
    .await;
    assert!(
        updated.is_some(),
        "the load emulator did not update the samples:\n{}",
        emulator.log_tail()
    );
    for p in procs.iter().chain(vllm.iter()) {
        p.assert_running();
    }
    drop(emulator);
    drop(vllm);
    drop(procs);
    k.shutdown().await.unwrap();
}
