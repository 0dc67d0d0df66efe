//! Shared fixtures: kubesim with the sample Deployments, the actuator over it, and readers.

use inferno_actuator::apply::{Actuator, Mode};
use inferno_actuator::metrics::Metrics;
use inferno_actuator::plan::Policy;
use inferno_api::AllocationData;
use inferno_core::contract::keys;
use inferno_core::ServerRef;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct Cluster {
    pub(crate) sim: kubesim::Kubesim,
    pub(crate) client: kube::Client,
}

pub(crate) async fn cluster() -> Cluster {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/samples");
    let preload = kubesim::load_dir(&samples).expect("sample manifests");
    let config = kubesim::Config {
        pod_ready_delay: Duration::from_millis(50),
        preload,
        ..kubesim::Config::default()
    };
    let sim = kubesim::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("kubesim starts");
    let client = kube::Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
    Cluster { sim, client }
}

pub(crate) fn actuator(c: &Cluster, policy: Policy) -> Actuator {
    Actuator::new(
        c.client.clone(),
        policy,
        Mode::Patch,
        Arc::new(Metrics::default()),
    )
}

pub(crate) async fn deployment(c: &Cluster, name: &str) -> Deployment {
    Api::<Deployment>::namespaced(c.client.clone(), "infer")
        .get(name)
        .await
        .unwrap()
}

pub(crate) fn label(d: &Deployment, key: &str) -> String {
    d.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(key))
        .cloned()
        .unwrap_or_default()
}

pub(crate) fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(-1)
}

/// The three samples: server name -> Deployment.
pub(crate) async fn refs(c: &Cluster) -> std::collections::BTreeMap<String, ServerRef> {
    let list = Api::<Deployment>::namespaced(c.client.clone(), "infer")
        .list(&ListParams::default())
        .await
        .unwrap();
    for d in &list.items {
        settled(c, "infer", d.metadata.name.as_deref().unwrap()).await;
    }
    list.items
        .into_iter()
        .map(|d| {
            (
                label(&d, keys::NAME),
                ServerRef {
                    uid: d.metadata.uid.clone().unwrap(),
                    name: d.metadata.name.clone().unwrap(),
                    namespace: "infer".into(),
                },
            )
        })
        .collect()
}

pub(crate) fn alloc(acc: &str, n: i64, batch: i64) -> AllocationData {
    AllocationData {
        accelerator: acc.into(),
        num_replicas: n,
        max_batch: batch,
        ..AllocationData::default()
    }
}

/// Creates namespace `namespace` (if needed) and in it a Deployment `name` with `replicas` and
/// `labels` (none of Inferno's unless given): someone else's workload.
pub(crate) async fn foreign_deployment(
    c: &Cluster,
    namespace: &str,
    name: &str,
    replicas: i32,
    labels: &[(&str, &str)],
) -> Deployment {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.client.clone());
    if namespaces.get_opt(namespace).await.unwrap().is_none() {
        let ns = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}
        }))
        .unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
    }
    let mut all_labels = serde_json::Map::new();
    all_labels.insert("app".into(), name.into());
    for (k, v) in labels {
        all_labels.insert((*k).into(), (*v).into());
    }
    let d: Deployment = serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": all_labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "example/payments:1"}]}
            }
        }
    }))
    .unwrap();
    let api = Api::<Deployment>::namespaced(c.client.clone(), namespace);
    api.create(&PostParams::default(), &d).await.unwrap();
    settled(c, namespace, name).await
}

/// The Deployment once kubesim's Deployment controller has taken it up (it sets the revision
/// annotation), so what the tests compare is not moved by the controller afterwards.
pub(crate) async fn settled(c: &Cluster, namespace: &str, name: &str) -> Deployment {
    let api = Api::<Deployment>::namespaced(c.client.clone(), namespace);
    let what = format!("kubesim to take up {namespace}/{name}");
    inferno_testkit::wait::until(&what, Duration::from_secs(30), || async {
        let d = api.get(name).await.unwrap();
        let annotations = d.metadata.annotations.as_ref();
        annotations
            .is_some_and(|a| a.contains_key("deployment.kubernetes.io/revision"))
            .then_some(d)
    })
    .await
}

/// A Deployment in any namespace.
pub(crate) async fn get(c: &Cluster, namespace: &str, name: &str) -> Deployment {
    Api::<Deployment>::namespaced(c.client.clone(), namespace)
        .get(name)
        .await
        .unwrap()
}

/// What the actuator must not move on a refused Deployment: spec (and its generation), labels
/// and annotations. The resourceVersion is no witness: kubesim's controller updates the status
/// (pods becoming ready) on its own schedule.
pub(crate) fn owned(d: &Deployment) -> serde_json::Value {
    serde_json::json!({
        "spec": d.spec,
        "generation": d.metadata.generation,
        "labels": d.metadata.labels,
        "annotations": d.metadata.annotations,
    })
}

/// The Events with `reason` on Deployment `name` of `namespace`.
pub(crate) async fn events(c: &Cluster, namespace: &str, name: &str, reason: &str) -> Vec<Event> {
    Api::<Event>::namespaced(c.client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some(reason) && e.involved_object.name.as_deref() == Some(name)
        })
        .collect()
}

/// How many times `events` happened: a repeat that the Recorder folded into an Event's series
/// counts as many times as the series says.
pub(crate) fn occurrences(events: &[Event]) -> i32 {
    events
        .iter()
        .map(|e| e.series.as_ref().and_then(|s| s.count).unwrap_or(1))
        .sum()
}

/// A ServerRef from a live Deployment, with the uid given.
pub(crate) fn kube_ref(d: &Deployment, uid: &str) -> ServerRef {
    ServerRef {
        uid: uid.into(),
        name: d.metadata.name.clone().unwrap(),
        namespace: d.metadata.namespace.clone().unwrap(),
    }
}

/// The live uid.
pub(crate) fn uid(d: &Deployment) -> String {
    d.metadata.uid.clone().unwrap()
}
