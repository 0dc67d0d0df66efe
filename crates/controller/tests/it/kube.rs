//! The controller's Kubernetes parts against kubesim: data from ConfigMaps, leader election
//! and the release of the Lease on shutdown.

use inferno_controller::data::{
    refresh, Data, Source, CAPACITY_FILE, DYNAMIC_CONFIGMAP, STATIC_CONFIGMAP, STATIC_FILES,
};
use inferno_controller::leader::Leadership;
use inferno_testkit::{process, wait};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

async fn sim() -> (kubesim::Kubesim, kube::Client) {
    let sim = kubesim::start("127.0.0.1:0".parse().unwrap(), kubesim::Config::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let body = serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "inferno"}})).unwrap();
    ns.create(&PostParams::default(), &body).await.unwrap();
    (sim, client)
}

fn configmap(name: &str, files: &[&str]) -> ConfigMap {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/small");
    let data: BTreeMap<String, String> = files
        .iter()
        .map(|f| (f.to_string(), std::fs::read_to_string(dir.join(f)).unwrap()))
        .collect();
    serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "inferno"}, "data": data})).unwrap()
}

/// `kubectl create configmap inferno-static-data --from-file=...` and the dynamic one, read
/// through the API; an edit of the capacity applies on the next refresh, a broken edit keeps
/// the last good data.
#[tokio::test]
async fn data_from_configmaps() {
    let (sim, client) = sim().await;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "inferno");
    let source = Source::ConfigMaps {
        client: client.clone(),
        namespace: "inferno".into(),
    };
    let mut data = Data::default();
    let err = refresh(&source, &mut data, true)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("configmap inferno/inferno-static-data not found"),
        "{err}"
    );
    api.create(
        &PostParams::default(),
        &configmap(STATIC_CONFIGMAP, &STATIC_FILES),
    )
    .await
    .unwrap();
    api.create(
        &PostParams::default(),
        &configmap(DYNAMIC_CONFIGMAP, &[CAPACITY_FILE]),
    )
    .await
    .unwrap();
    refresh(&source, &mut data, true).await.unwrap();
    let capacity = |d: &Data| {
        d.spec
            .as_ref()
            .unwrap()
            .capacity_data
            .count
            .iter()
            .find(|c| c.acc_type == "G2")
            .unwrap()
            .count
    };
    assert_eq!(capacity(&data), 512);
    assert_eq!(
        data.spec
            .as_ref()
            .unwrap()
            .accelerator_data
            .accelerators
            .len(),
        6
    );

    let edit = serde_json::json!({"data": {CAPACITY_FILE: "{\"count\": [{\"type\": \"G2\", \"count\": 7}]}"}});
    api.patch(
        DYNAMIC_CONFIGMAP,
        &PatchParams::default(),
        &Patch::Merge(edit),
    )
    .await
    .unwrap();
    refresh(&source, &mut data, false).await.unwrap();
    assert_eq!(capacity(&data), 7);

    let broken = serde_json::json!({"data": {CAPACITY_FILE: "{\"count\": [{\"type\": \"G2\", \"count\": -1}]}"}});
    api.patch(
        DYNAMIC_CONFIGMAP,
        &PatchParams::default(),
        &Patch::Merge(broken),
    )
    .await
    .unwrap();
    let err = refresh(&source, &mut data, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("configmap inferno/inferno-dynamic-data key capacity-data.json")
            && err.contains("count"),
        "{err}"
    );
    assert_eq!(capacity(&data), 7, "the last good data is kept");
    sim.shutdown().await.unwrap();
}

/// Two controllers compete for the Lease: exactly one leads; when the leader's lease is taken
/// away (expired), the other takes over.
#[tokio::test]
async fn one_leader_at_a_time() {
    let (sim, client) = sim().await;
    let duration = Duration::from_secs(3);
    let a = Leadership::elect(
        client.clone(),
        "inferno",
        "inferno-controller",
        "a",
        duration,
    );
    let b = Leadership::elect(
        client.clone(),
        "inferno",
        "inferno-controller",
        "b",
        duration,
    );
    wait::until_sync("one leader", Duration::from_secs(6), || {
        (usize::from(a.is_leader()) + usize::from(b.is_leader()) == 1).then_some(())
    })
    .await;
    // Never two leaders over one lease duration of wall-clock time (the Lease's renew times are
    // wall-clock timestamps: tokio's paused clock would not move them).
    for _ in 0..15 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!(a.is_leader() && b.is_leader()), "two leaders");
    }
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), "inferno");
    let lease = leases.get("inferno-controller").await.unwrap();
    let holder = lease.spec.unwrap().holder_identity.unwrap();
    assert_eq!(holder == "a", a.is_leader());
    sim.shutdown().await.unwrap();
}

async fn lease(client: &kube::Client) -> Option<LeaseSpec> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), "inferno");
    leases
        .get_opt("inferno-controller")
        .await
        .unwrap()
        .and_then(|l| l.spec)
}

/// The bound of every wait: a guard, not a timing.
const WAIT: Duration = Duration::from_secs(60);

/// Stepping down releases the Lease (no holder), as client-go's ReleaseOnCancel does: a
/// standby takes it at its first try instead of after the 60 s the lease would still run.
#[tokio::test]
async fn the_leader_releases_the_lease_when_it_steps_down() {
    let (sim, client) = sim().await;
    let duration = Duration::from_secs(60);
    let a = Leadership::elect(
        client.clone(),
        "inferno",
        "inferno-controller",
        "a",
        duration,
    );
    wait::until("a to lead", WAIT, || async { a.is_leader().then_some(()) }).await;
    let held = lease(&client).await.unwrap();
    assert_eq!(held.holder_identity.as_deref(), Some("a"));

    a.release().await;
    assert!(!a.is_leader());
    let released = lease(&client).await.unwrap();
    assert_eq!(released.holder_identity, None, "{released:?}");
    assert_eq!(released.lease_duration_seconds, Some(1));
    assert_eq!(released.lease_transitions, held.lease_transitions);

    let b = Leadership::elect(
        client.clone(),
        "inferno",
        "inferno-controller",
        "b",
        duration,
    );
    wait::until("the lease to name b", WAIT, || async {
        let holder = lease(&client).await.and_then(|l| l.holder_identity);
        (holder.as_deref() == Some("b")).then_some(())
    })
    .await;
    wait::until("b to lead", WAIT, || async { b.is_leader().then_some(()) }).await;
    a.release().await; // twice is harmless, and a standby's release leaves the lease alone
    assert_eq!(
        lease(&client).await.unwrap().holder_identity.as_deref(),
        Some("b")
    );
    b.release().await;
    sim.shutdown().await.unwrap();
}

/// The binary, leading with --leader-elect, releases the Lease when it gets SIGTERM (what
/// Kubernetes sends): the Lease names no holder once the process has exited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_the_lease() {
    let (sim, client) = sim().await;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("inferno-controller-lease-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_inferno-controller"))
        .args(["--listen", "127.0.0.1:0", "--period", "0", "--leader-elect"])
        .args(["--lease-namespace", "inferno", "--identity", "controller-a"])
        .args(["--lease-duration", "60", "--data-path"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/small"))
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait::until("the controller to hold the lease", WAIT, || async {
        let holder = lease(&client).await.and_then(|l| l.holder_identity);
        (holder.as_deref() == Some("controller-a")).then_some(())
    })
    .await;
    let status = process::terminate(&mut child, WAIT).await;
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(status.success(), "{status}: {log}");
    let spec = lease(&client).await.unwrap();
    assert_eq!(spec.holder_identity, None, "{spec:?}\n{log}");
    assert!(log.contains("lease released"), "{log}");
    std::fs::remove_dir_all(&dir).unwrap();
    sim.shutdown().await.unwrap();
}

/// What a controller learnt of llama_13b on G2 (the samples' catalog): tuned 1.2-1.3x slower,
/// with the given pod start-up times.
fn learnt(startups: &[f64]) -> inferno_controller::policy::tuning::Persisted {
    use inferno_controller::policy::tuning::{Params, Persisted};
    Persisted {
        model: "llama_13b".into(),
        accelerator: "G2".into(),
        catalog: Params {
            alpha: 16.78,
            beta: 0.073,
            gamma: 0.00228125,
        },
        relative: [1.3, 1.2, 1.25],
        covariance: [[0.01, 0.0, 0.0], [0.0, 0.02, 0.0], [0.0, 0.0, 0.03]],
        updates: 12,
        rejected: 1,
        startups: startups.to_vec(),
    }
}

/// `--tuning-configmap`: what the loop learnt is written to a ConfigMap (created on first
/// write, our key only) and read back by the next controller; a state nobody can read is
/// an error naming the ConfigMap and key, not a crash.
#[tokio::test]
async fn tuning_is_kept_in_a_configmap() {
    use inferno_controller::persist::{Store, KEY};
    let (sim, client) = sim().await;
    let store = Store::new(client.clone(), "inferno", "inferno-tuning");
    assert_eq!(store.load().await.unwrap(), Vec::new(), "nothing yet");
    let state = vec![learnt(&[118.0, 121.0])];
    store.save(&state).await.unwrap();
    assert_eq!(store.load().await.unwrap(), state);
    let mut next = state.clone();
    next[0].updates += 1;
    store.save(&next).await.unwrap();
    assert_eq!(
        store.load().await.unwrap(),
        next,
        "overwritten, not appended"
    );
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "inferno");
    let patch = serde_json::json!({"data": {KEY: "{not json"}});
    api.patch(
        "inferno-tuning",
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .unwrap();
    let err = store.load().await.unwrap_err();
    assert!(
        err.contains("configmap inferno/inferno-tuning") && err.contains(KEY),
        "{err}"
    );
    sim.shutdown().await.unwrap();
}

/// A controller started with `--tuning-configmap` resumes what an earlier one learnt: the
/// start-up times it kept are there before any pod of this run has started, and a cycle that
/// learnt nothing new does not rewrite the ConfigMap.
#[tokio::test]
async fn a_new_controller_resumes_what_the_last_one_learnt() {
    use inferno_controller::persist::{Store, KEY};
    use inferno_controller::policy::tuning::Persisted;
    let (sim, client) = sim().await;
    let store = Store::new(client.clone(), "inferno", "inferno-tuning");
    let earlier = vec![learnt(&[100.0, 120.0, 140.0])];
    store.save(&earlier).await.unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "inferno");
    let version = |cm: ConfigMap| cm.metadata.resource_version.unwrap_or_default();
    let before = version(api.get("inferno-tuning").await.unwrap());
    let l = crate::cycles::start_with(crate::cycles::samples("small"), None, Some(store)).await;
    let resumed = wait::until("the state to be resumed", WAIT, || async {
        l.runner.tuning().into_iter().next()
    })
    .await;
    assert_eq!(
        (resumed.model.as_str(), resumed.accelerator.as_str()),
        ("llama_13b", "G2")
    );
    assert_eq!(
        (resumed.startup_seconds, resumed.startup_samples),
        (120.0, 3)
    );
    let report = l.runner.invoke(false).await.unwrap();
    assert_eq!(
        report.outcome,
        inferno_controller::cycle::CycleOutcome::Ok,
        "{}",
        report.reason
    );
    let after = api.get("inferno-tuning").await.unwrap();
    assert_eq!(version(after.clone()), before, "nothing new: not rewritten");
    let kept: Vec<Persisted> = serde_json::from_str(&after.data.unwrap()[KEY]).unwrap();
    assert_eq!(kept, earlier);
    sim.shutdown().await.unwrap();
}
