//! A kubesim with the sample Deployments (deploy/samples, namespace `infer`) and a kube-rs
//! client to it, and small helpers to read and change them.

use inferno_testkit::wait;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The namespace of the samples.
pub(crate) const NS: &str = "infer";

/// kubesim in-process and a client.
pub(crate) struct Cluster {
    pub(crate) sim: kubesim::Kubesim,
    pub(crate) client: kube::Client,
}

/// The repository's `deploy/samples`.
pub(crate) fn deploy_samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/samples")
}

/// kubesim serving the samples, pods ready 50 ms after creation, deleted pods terminating
/// gracefully.
pub(crate) async fn cluster() -> Cluster {
    cluster_with(true).await
}

/// The same, with graceful termination or with deleted pods removed at once.
pub(crate) async fn cluster_with(graceful_termination: bool) -> Cluster {
    let config = kubesim::Config {
        pod_ready_delay: Duration::from_millis(50),
        graceful_termination,
        preload: kubesim::load_dir(&deploy_samples()).expect("deploy/samples loads"),
        ..Default::default()
    };
    let sim = kubesim::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("kubesim starts");
    let client =
        kube::Client::try_from(kube::Config::new(sim.url().parse().unwrap())).expect("kube client");
    Cluster { sim, client }
}

impl Cluster {
    pub(crate) fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), NS)
    }

    /// The managed Deployments' names, sorted.
    pub(crate) async fn names(&self) -> Vec<String> {
        let list = self
            .deployments()
            .list(&ListParams::default().labels("inferno.server.managed=true"))
            .await
            .unwrap();
        let mut names: Vec<String> = list
            .items
            .into_iter()
            .filter_map(|d| d.metadata.name)
            .collect();
        names.sort();
        names
    }

    pub(crate) async fn labels(&self, name: &str) -> BTreeMap<String, String> {
        self.deployments()
            .get(name)
            .await
            .unwrap()
            .metadata
            .labels
            .unwrap_or_default()
    }

    /// Merge-patches labels (`None` removes one).
    pub(crate) async fn set_labels(&self, name: &str, labels: &[(&str, Option<&str>)]) {
        let map: serde_json::Map<String, serde_json::Value> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.map_or(serde_json::Value::Null, Into::into)))
            .collect();
        let body = serde_json::json!({"metadata": {"labels": map}});
        self.deployments()
            .patch(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .unwrap();
    }

    pub(crate) async fn scale(&self, name: &str, replicas: i32) {
        let body = serde_json::json!({"spec": {"replicas": replicas}});
        self.deployments()
            .patch(name, &PatchParams::default(), &Patch::Merge(&body))
            .await
            .unwrap();
    }

    pub(crate) async fn delete(&self, name: &str) {
        self.deployments()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }

    /// Names of the Running and Ready pods of a Deployment, sorted.
    pub(crate) async fn ready_pods(&self, deployment: &str) -> Vec<String> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), NS);
        let list = pods
            .list(&ListParams::default().labels(&format!("app={deployment}")))
            .await
            .unwrap();
        let mut names: Vec<String> = list
            .items
            .into_iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.status.as_ref().is_some_and(|s| {
                        s.phase.as_deref() == Some("Running")
                            && s.conditions.as_ref().is_some_and(|cs| {
                                cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                            })
                    })
            })
            .filter_map(|p| p.metadata.name)
            .collect();
        names.sort();
        names
    }
}

/// Waits until every managed Deployment has as many ready pods as replicas.
pub(crate) async fn settle(c: &Cluster) {
    wait::until("pods ready", Duration::from_secs(15), || async {
        for name in c.names().await {
            let want = c
                .deployments()
                .get(&name)
                .await
                .ok()?
                .spec?
                .replicas
                .unwrap_or(1);
            if c.ready_pods(&name).await.len() != want as usize {
                return None;
            }
        }
        Some(())
    })
    .await
}
