//! Safe scale-downs (issue 19): before lowering replicas the actuator sets each pod's
//! `controller.kubernetes.io/pod-deletion-cost` to its outstanding requests, so the ReplicaSet
//! controller removes the least loaded pods; a failure to do so is a warning in the result's
//! reason and the scale-down goes on.

use crate::support::{actuator, alloc, cluster, refs, replicas, Cluster};
use inferno_actuator::order::POD_DELETION_COST;
use inferno_actuator::plan::Policy;
use inferno_core::contract::keys;
use inferno_core::{ApplyRequest, PodLoad};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The sample whose Deployment runs 3 replicas.
const DEPLOYMENT: &str = "bronze-granite-13b";

async fn pods(c: &Cluster) -> Vec<Pod> {
    Api::<Pod>::namespaced(c.client.clone(), "infer")
        .list(&ListParams::default().labels(&format!("app={DEPLOYMENT}")))
        .await
        .unwrap()
        .items
}

fn name(p: &Pod) -> String {
    p.metadata.name.clone().unwrap()
}

fn ready(p: &Pod) -> bool {
    let conditions = p.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn cost(p: &Pod) -> Option<String> {
    let annotations = p.metadata.annotations.as_ref();
    annotations.and_then(|a| a.get(POD_DELETION_COST)).cloned()
}

fn load(pod: &str, outstanding: f64) -> PodLoad {
    PodLoad {
        pod: pod.into(),
        outstanding,
        ..PodLoad::default()
    }
}

/// A scale-down from 3 to 2 removes the pod with the fewest outstanding requests, here the
/// oldest one, which Kubernetes' own order (the newest first) would keep; the others carry
/// their load as their cost. A dry run of the same request writes nothing. Before: the newest
/// pod went, whatever it was serving.
#[tokio::test]
async fn a_scale_down_removes_the_least_loaded_pod() {
    let c = cluster().await;
    let refs = refs(&c).await;
    let (server, target) = refs
        .iter()
        .find(|(_, r)| r.name == DEPLOYMENT)
        .map(|(s, r)| (s.clone(), r.clone()))
        .unwrap();
    let mut running = inferno_testkit::wait::until("3 ready pods", Duration::from_secs(10), || {
        let c = &c;
        async move {
            let p = pods(c).await;
            (p.len() == 3 && p.iter().all(ready)).then_some(p)
        }
    })
    .await;
    // Oldest first, as the ReplicaSet controller ranks equal pods (the timestamp has seconds).
    running.sort_by_key(|p| {
        let rv = p.metadata.resource_version.as_deref().unwrap_or("0");
        (
            p.metadata.creation_timestamp.clone(),
            rv.parse::<u64>().unwrap(),
        )
    });
    let (idle, busy, busiest) = (name(&running[0]), name(&running[1]), name(&running[2]));
    let request = ApplyRequest {
        allocations: [(server.clone(), alloc("G2", 2, 16))].into(),
        refs: [(server.clone(), target)].into(),
        pod_loads: [(
            server.clone(),
            vec![load(&busy, 5.2), load(&idle, 0.4), load(&busiest, 9.0)],
        )]
        .into(),
        dry_run: true,
        ..ApplyRequest::default()
    };
    let a = actuator(&c, Policy::default());
    assert_eq!(a.apply(&request).await[0].error(), "dry run");
    assert!(
        pods(&c).await.iter().all(|p| cost(p).is_none()),
        "a dry run writes nothing"
    );

    let outcomes = a
        .apply(&ApplyRequest {
            dry_run: false,
            ..request
        })
        .await;
    let o = &outcomes[0];
    assert!(o.applied(), "{o:?}");
    assert!(o.decision.as_ref().unwrap().notes.is_empty(), "{o:?}");
    // The idle pod terminates (or is gone); the two busy ones stay, with their costs.
    let left = inferno_testkit::wait::until("one pod going", Duration::from_secs(10), || {
        let c = &c;
        async move {
            let p = pods(c).await;
            let staying: Vec<Pod> = p
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect();
            (staying.len() == 2).then_some(staying)
        }
    })
    .await;
    let costs: BTreeMap<String, Option<String>> = left.iter().map(|p| (name(p), cost(p))).collect();
    assert_eq!(
        costs,
        [(busy, Some("5".into())), (busiest, Some("9".into()))].into(),
        "{idle} (cost 0) should have gone"
    );
    let d = crate::support::deployment(&c, DEPLOYMENT).await;
    assert_eq!(replicas(&d), 2);
    c.sim.shutdown().await.unwrap();
}

/// What a fake API server saw: method and path (with query) of each call.
type Calls = Arc<Mutex<Vec<String>>>;

/// An API server with one managed Deployment `infer/web` (3 replicas, uid `u1`) and its three
/// ready pods, that forbids patching pods (an actuator whose Role lacks `patch pods`) and
/// accepts everything else.
async fn forbidding_pod_patches() -> (kube::Client, Calls) {
    let deployment = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "infer", "uid": "u1", "resourceVersion": "1",
            "labels": {keys::MANAGED: "true", keys::NAME: "web-server", keys::ACCELERATOR: "G2"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "vllm", "image": "vllm:1"}]}}}
    });
    let pod = |n: usize| {
        serde_json::json!({"metadata": {"name": format!("web-{n}"), "namespace": "infer",
            "labels": {"app": "web"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    };
    let pods = serde_json::json!({"apiVersion": "v1", "kind": "PodList",
        "metadata": {"resourceVersion": "1"}, "items": [pod(0), pod(1), pod(2)]});
    let forbidden = serde_json::json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
        "reason": "Forbidden", "code": 403,
        "message": "pods is forbidden: User \"system:serviceaccount:inferno:inferno\" cannot patch \
                    resource \"pods\" in API group \"\" in the namespace \"infer\""});
    let calls = Calls::default();
    let seen = calls.clone();
    let router = axum::Router::new().fallback(
        move |method: axum::http::Method, uri: axum::http::Uri, body: String| {
            let call = format!("{method} {uri}");
            seen.lock().unwrap().push(call);
            let path = uri.path().to_string();
            let (status, answer) = if path.ends_with("/deployments/web") {
                (200, deployment.clone())
            } else if path.ends_with("/pods") {
                (200, pods.clone())
            } else if path.contains("/pods/") {
                (403, forbidden.clone())
            } else {
                // Events: the Recorder's, echoed as created.
                (201, serde_json::from_str(&body).unwrap_or_default())
            };
            async move {
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    answer.to_string(),
                )
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    (client, calls)
}

/// Pods that cannot be annotated (403: RBAC without `patch pods`) do not stop the scale-down:
/// the replicas are patched, and the result's reason says what was not done and why.
#[tokio::test]
async fn a_failure_to_rank_pods_is_a_warning_and_the_scale_down_goes_on() {
    let (client, calls) = forbidding_pod_patches().await;
    let a = inferno_actuator::apply::Actuator::new(
        client,
        Policy::default(),
        inferno_actuator::apply::Mode::Patch,
        Arc::default(),
    );
    let server = "web-server".to_string();
    let target = inferno_core::ServerRef {
        uid: "u1".into(),
        name: "web".into(),
        namespace: "infer".into(),
    };
    let request = ApplyRequest {
        allocations: [(server.clone(), alloc("G2", 2, 16))].into(),
        refs: [(server.clone(), target)].into(),
        pod_loads: [(server.clone(), vec![load("web-1", 0.0)])].into(),
        ..ApplyRequest::default()
    };
    let outcomes = a.apply(&request).await;
    let o = &outcomes[0];
    assert!(o.applied(), "{o:?}");
    let result = inferno_core::DeploymentResult::from(o);
    assert!(
        result.reason.starts_with("scale down to cut cost (")
            && result.reason.contains(&format!(
                "{POD_DELETION_COST} not set on 3 of 3 pods (first web-0: "
            ))
            && result.reason.contains(
                "cannot patch resource \"pods\" in API group \"\" in \
                                       the namespace \"infer\" (403)"
            )
            && result
                .reason
                .ends_with("Kubernetes' own order applies to them)"),
        "{}",
        result.reason
    );
    let calls = calls.lock().unwrap().clone();
    let at = |prefix: &str| calls.iter().position(|c| c.starts_with(prefix));
    let listed = at("GET /api/v1/namespaces/infer/pods?").expect("pods listed");
    assert!(
        calls[listed].contains("labelSelector=app%3Dweb"),
        "{calls:?}"
    );
    let scaled = at("PATCH /apis/apps/v1/namespaces/infer/deployments/web").expect("scaled");
    assert!(listed < scaled, "the pods first: {calls:?}");
}
