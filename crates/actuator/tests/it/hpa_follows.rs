//! Recommend mode end to end on the emulated cluster: the actuator patches nothing, and the
//! shipped HPAs (`deploy/autoscaling/hpa.yaml`) make the Deployment follow what it decided,
//! through a real Prometheus scraping its own `/metrics` and kubesim's HPA controller running
//! the shipped prometheus-adapter rule (`deploy/autoscaling/prometheus-adapter-rules.yaml`).
//! kubesim's `tests/it/hpa.rs` checks the same files against a gauge page of its own; here the
//! gauge is the actuator's. With CI=true a missing kubectl or Prometheus fails the test;
//! elsewhere it is skipped with a message.

use crate::support::{deployment, events, get, occurrences, replicas, settled, Cluster};
use inferno_actuator::apply::{Actuator, Mode};
use inferno_actuator::metrics::Metrics;
use inferno_actuator::plan::Policy;
use inferno_actuator::service::{self, Listeners};
use inferno_proto::v1::{self, actuator_client::ActuatorClient};
use inferno_testkit::kubectl::Kubectl;
use inferno_testkit::prometheus::Prometheus;
use inferno_testkit::{http, tools, wait, TempDir};
use kubesim::{AdapterRules, HpaConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use v1::deployment_result::Outcome;

/// The Deployment the test drives: sample `deploy/samples/dep1.yaml`, server `vllm-001`.
const DEPLOYMENT: &str = "premium-llama-13b";
const SERVER: &str = "vllm-001";

/// How long a decision may take to reach the Deployment, wall time: a scrape (1 s), a sync of
/// the HPA controller (15 cluster seconds, 1.5 s at the 10x clock below) and the scale. At that
/// clock it is 150 cluster seconds, under the 300 s scale-down window an HPA without the
/// shipped `behavior` would wait.
const FOLLOW: Duration = Duration::from_secs(15);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Apply of `replicas` for the sample Deployment, with its own accelerator and batch size (so
/// the only change decided is the replica count).
fn request(uid: &str, replicas: i32) -> v1::ApplyRequest {
    v1::ApplyRequest {
        allocations: [(
            SERVER.to_string(),
            v1::AllocationData {
                accelerator: "MI250".into(),
                num_replicas: replicas,
                max_batch: 8,
                ..Default::default()
            },
        )]
        .into(),
        deployments: [(
            SERVER.to_string(),
            v1::DeploymentRef {
                uid: uid.into(),
                name: DEPLOYMENT.into(),
                namespace: "infer".into(),
            },
        )]
        .into(),
        ..Default::default()
    }
}

/// The actuator in recommend mode over kubesim with its HPA controller; the real kubectl
/// applies the samples and the shipped HPAs; a real Prometheus scrapes the actuator's ops
/// `/metrics` as the shipped PodMonitor does (the target's namespace label `inferno`, so the
/// gauge's `namespace` becomes `exported_namespace`). Apply with 3, then 5, then 2 replicas:
/// each result is RECOMMEND (nothing patched, `inferno_actuator_changes_total` stays 0) and
/// the Deployment's `spec.replicas` follows within [`FOLLOW`], rescaled by the HPA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_hpas_follow_the_actuator_in_recommend_mode() {
    let Some(kubectl) = tools::kubectl() else {
        return;
    };
    let Some(prometheus_bin) = tools::prometheus() else {
        return;
    };
    // The listeners first: Prometheus needs the ops address, kubesim Prometheus's URL, and the
    // actuator kubesim's client.
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ops = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (grpc_addr, ops_addr): (SocketAddr, SocketAddr) =
        (grpc.local_addr().unwrap(), ops.local_addr().unwrap());
    let prom = Prometheus::start(
        &prometheus_bin,
        "inferno-actuator",
        "inferno",
        &[(ops_addr, "inferno-actuator-7d9f8-abcde")],
    )
    .await;
    let rules =
        AdapterRules::load(&repo().join("deploy/autoscaling/prometheus-adapter-rules.yaml"))
            .expect("the shipped rules");
    let sim = kubesim::start(
        "127.0.0.1:0".parse().unwrap(),
        kubesim::Config {
            pod_ready_delay: Duration::from_secs(2),
            time_scale: 10.0,
            hpa: Some(HpaConfig::new(prom.url(), rules)),
            ..Default::default()
        },
    )
    .await
    .expect("kubesim starts");
    let client = kube::Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
    let c = Cluster { sim, client };

    let dir = TempDir::new("actuator-hpa");
    let kubeconfig = dir.path().join("kubeconfig");
    c.sim.write_kubeconfig(&kubeconfig).unwrap();
    let kc = Kubectl::new(kubectl, kubeconfig)
        .cache_dir(dir.path().join("cache"))
        .current_dir(repo());
    kc.ok(&["apply", "-f", "deploy/samples/ns.yaml"]).await;
    kc.ok(&[
        "apply",
        "-f",
        "deploy/samples/dep1.yaml,deploy/samples/dep2.yaml,deploy/samples/dep3.yaml",
    ])
    .await;
    kc.ok(&["apply", "-f", "deploy/autoscaling/hpa.yaml"]).await;
    let before = settled(&c, "infer", DEPLOYMENT).await;
    let uid = before.metadata.uid.clone().unwrap();
    // The sample's own count; no gauge yet, so the HPA leaves it.
    assert_eq!(replicas(&before), 4);

    let metrics = Arc::new(Metrics::default());
    let actuator = Actuator::new(
        c.client.clone(),
        Policy::default(),
        Mode::Recommend,
        metrics.clone(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(service::run(
        Listeners {
            grpc,
            ops: Some(ops),
        },
        actuator,
        metrics,
        None,
        async {
            let _ = stopped.await;
        },
    ));
    prom.wait_scraped(Duration::from_secs(30)).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc_addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .connect()
        .await
        .unwrap();
    let mut client = ActuatorClient::new(channel);

    let live = || async { replicas(&deployment(&c, DEPLOYMENT).await) };
    for n in [3, 5, 2] {
        let reply = client.apply(request(&uid, n)).await.unwrap().into_inner();
        let r = &reply.results[0];
        assert_eq!(
            (r.outcome(), r.applied),
            (Outcome::Recommend, false),
            "{r:?}"
        );
        let seen = wait::within(FOLLOW, || async { (live().await == n).then_some(()) }).await;
        let page = http::get(ops_addr, "/metrics").await.body;
        assert!(
            seen.is_some(),
            "{DEPLOYMENT}: replicas {} after {FOLLOW:?}, the actuator decided {n}; \
             Prometheus has {:?}; the actuator's page:\n{page}",
            live().await,
            prom.query("inferno_actuator_desired_replicas", None).await,
        );
        assert!(
            page.contains(&format!(
                "inferno_actuator_desired_replicas{{server=\"{SERVER}\",namespace=\"infer\",\
                 deployment=\"{DEPLOYMENT}\"}} {n}\n"
            )),
            "{page}"
        );
        // Recommend mode: the HPA scaled, the actuator patched nothing.
        assert!(
            page.contains("inferno_actuator_changes_total 0\n"),
            "{page}"
        );
    }
    // Every rescale was the HPA's (its Events, on the HPA named as the Deployment).
    wait::until(
        "the HPA's three SuccessfulRescale Events",
        FOLLOW,
        || async {
            let rescales = events(&c, "infer", DEPLOYMENT, "SuccessfulRescale").await;
            (occurrences(&rescales) == 3).then_some(())
        },
    )
    .await;
    // The other samples, with no decision for them, are left alone by their HPAs.
    for d in ["bronze-granite-13b", "free-mixtral-8-7b"] {
        let got = get(&c, "infer", d).await;
        assert_eq!(replicas(&got), 3, "{d}");
    }

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(15), server)
        .await
        .expect("the actuator stops")
        .unwrap()
        .unwrap();
    drop(prom);
    c.sim.shutdown().await.unwrap();
}
