//! kube-rs over plain HTTP against kubesim: list with selectors, create, get errors, patch
//! (merge, strategic, server-side apply), the scale subresource, a watcher that sees ADDED and
//! MODIFIED, and concurrent writers with resourceVersion preconditions.

use super::common::{bounded, samples, server, WAIT};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use std::pin::pin;
use tokio_stream::StreamExt;

pub(crate) fn client(k: &kubesim::Kubesim) -> kube::Client {
    let config = kube::Config::new(k.url().parse().unwrap());
    kube::Client::try_from(config).unwrap()
}

async fn load_samples(client: &kube::Client) {
    for obj in kubesim::load_dir(&samples()).unwrap() {
        match obj["kind"].as_str().unwrap() {
            "Namespace" => {
                let ns: Namespace = serde_json::from_value(obj).unwrap();
                Api::<Namespace>::all(client.clone())
                    .create(&PostParams::default(), &ns)
                    .await
                    .unwrap();
            }
            _ => {
                let d: Deployment = serde_json::from_value(obj).unwrap();
                Api::<Deployment>::namespaced(client.clone(), "infer")
                    .create(&PostParams::default(), &d)
                    .await
                    .unwrap();
            }
        }
    }
}

fn status_code(e: &kube::Error) -> Option<(u16, String)> {
    match e {
        kube::Error::Api(s) => Some((s.code, s.reason.clone())),
        _ => None,
    }
}

#[tokio::test]
async fn list_create_patch_scale_and_errors() {
    let k = server().await;
    let client = client(&k);
    let info = client.apiserver_version().await.unwrap();
    assert_eq!(info.minor, "32");
    load_samples(&client).await;

    let all = Api::<Deployment>::all(client.clone());
    let managed = all
        .list(&ListParams::default().labels("inferno.server.managed=true"))
        .await
        .unwrap();
    assert_eq!(managed.items.len(), 3);
    let names: Vec<String> = managed
        .items
        .iter()
        .map(|d| d.metadata.labels.as_ref().unwrap()["inferno.server.name"].clone())
        .collect();
    assert_eq!(names, ["vllm-002", "vllm-003", "vllm-001"]);
    assert!(managed.metadata.resource_version.is_some());
    let premium = all
        .list(&ListParams::default().labels("inferno.server.class in (Premium,Gold)"))
        .await
        .unwrap();
    assert_eq!(premium.items.len(), 1);

    let deps = Api::<Deployment>::namespaced(client.clone(), "infer");
    let err = deps.get("nope").await.unwrap_err();
    assert_eq!(status_code(&err), Some((404, "NotFound".into())));
    assert!(deps.get_opt("nope").await.unwrap().is_none());
    let d = deps.get("premium-llama-13b").await.unwrap();
    let err = deps.create(&PostParams::default(), &d).await.unwrap_err();
    assert_eq!(status_code(&err), Some((409, "AlreadyExists".into())));

    // Merge patch of labels and replicas (what the actuator does), strategic merge, apply.
    let p = deps
        .patch(
            "premium-llama-13b",
            &PatchParams::default(),
            &Patch::Merge(json!({
                "metadata": {"labels": {"inferno.server.allocation.accelerator": "H100"}},
                "spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(p.spec.unwrap().replicas, Some(2));
    assert_eq!(
        p.metadata.labels.unwrap()["inferno.server.allocation.accelerator"],
        "H100"
    );
    let p = deps
        .patch(
            "premium-llama-13b",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
                {"name": "vllm", "env": [{"name": "X", "value": "1"}]}]}}}})),
        )
        .await
        .unwrap();
    let c = &p.spec.unwrap().template.spec.unwrap().containers[0];
    assert_eq!(c.image.as_deref(), Some("inferno/vllm-emulator:0.1.0"));
    // Env vars merge by name: X joins the template's own variables.
    assert!(c
        .env
        .as_ref()
        .unwrap()
        .iter()
        .any(|e| e.name == "X" && e.value.as_deref() == Some("1")));
    let applied = Api::<ConfigMap>::namespaced(client.clone(), "infer")
        .patch(
            "applied",
            &PatchParams::apply("test").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "applied"}, "data": {"a": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(applied.data.unwrap()["a"], "1");

    let err = deps
        .patch(
            "premium-llama-13b",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": -5}})),
        )
        .await
        .unwrap_err();
    assert_eq!(status_code(&err), Some((422, "Invalid".into())));

    // The scale subresource.
    let s = deps
        .patch_scale(
            "bronze-granite-13b",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(s.spec.unwrap().replicas, Some(5));
    let s = deps.get_scale("bronze-granite-13b").await.unwrap();
    assert_eq!(s.spec.unwrap().replicas, Some(5));
    assert_eq!(
        deps.get("bronze-granite-13b")
            .await
            .unwrap()
            .spec
            .unwrap()
            .replicas,
        Some(5)
    );

    // Pods follow.
    let pods = Api::<Pod>::namespaced(client.clone(), "infer");
    inferno_testkit::wait::until("5 running bronze pods", WAIT, || async {
        let l = pods
            .list(&ListParams::default().labels("app=bronze-granite-13b"))
            .await
            .unwrap();
        let running = l
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        (running == 5 && l.items.len() == 5).then_some(())
    })
    .await;

    // Delete returns the object; the namespace goes with everything in it.
    let gone = deps
        .delete("free-mixtral-8-7b", &Default::default())
        .await
        .unwrap();
    assert!(gone.left().is_some());
    Api::<Namespace>::all(client.clone())
        .delete("infer", &Default::default())
        .await
        .unwrap();
    assert!(all
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn watcher_sees_added_and_modified() {
    let k = server().await;
    let client = client(&k);
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "default");
    let mut stream = pin!(watcher(
        cms.clone(),
        watcher::Config::default().labels("w=1")
    ));
    let ev = bounded("init", stream.next()).await.unwrap().unwrap();
    assert!(matches!(ev, watcher::Event::Init));
    let ev = bounded("init done", stream.next()).await.unwrap().unwrap();
    assert!(matches!(ev, watcher::Event::InitDone));

    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "watched", "labels": {"w": "1"}}, "data": {"v": "1"}}))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cms.patch(
        "watched",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match bounded("watch event", stream.next())
            .await
            .unwrap()
            .unwrap()
        {
            watcher::Event::Apply(cm) => seen.push(cm.data.unwrap()["v"].clone()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen, ["1", "2"]);
    cms.delete("watched", &Default::default()).await.unwrap();
    match bounded("delete event", stream.next())
        .await
        .unwrap()
        .unwrap()
    {
        watcher::Event::Delete(cm) => assert_eq!(cm.metadata.name.as_deref(), Some("watched")),
        other => panic!("unexpected {other:?}"),
    }

    // Streaming lists (sendInitialEvents) work too.
    let mut streaming = pin!(watcher(
        cms.clone(),
        watcher::Config::default().streaming_lists()
    ));
    let mut init_done = false;
    while !init_done {
        match bounded("streaming init", streaming.next())
            .await
            .unwrap()
            .unwrap()
        {
            watcher::Event::InitDone => init_done = true,
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}
