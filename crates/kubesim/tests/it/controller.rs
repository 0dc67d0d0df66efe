//! The Deployment controller seen from the store and the pod-event channel: ReplicaSets and
//! pods follow replicas, pods turn Ready after the delay, scale-down terminates the newest,
//! template changes roll to a new ReplicaSet, statuses stay true; and the binary with `--load`.

use super::common::{bounded, deployment, eventually, get, samples, server, TempDir};
use kubesim::resource::{DEPLOYMENTS, EVENTS, PODS, REPLICA_SETS};
use kubesim::{FieldSelector, LabelSelector, PatchType, PodEventKind, Subresource};
use serde_json::{json, Value};
use std::sync::Arc;

fn list(
    k: &kubesim::Kubesim,
    rt: &'static kubesim::resource::ResourceType,
    sel: &str,
) -> Vec<Arc<Value>> {
    k.store()
        .list(
            rt,
            Some("default"),
            &LabelSelector::parse(sel).unwrap(),
            &FieldSelector::default(),
        )
        .0
}

fn scale(k: &kubesim::Kubesim, name: &str, replicas: i64) {
    k.store()
        .patch(
            &DEPLOYMENTS,
            "default",
            name,
            PatchType::Merge,
            &json!({"spec": {"replicas": replicas}}),
            Subresource::Main,
            false,
        )
        .unwrap();
}

#[tokio::test]
async fn pods_follow_replicas_and_announce_themselves() {
    let k = server().await;
    let mut events = k.pod_events();
    k.store()
        .create(&DEPLOYMENTS, "default", deployment("web", 2), false)
        .unwrap();

    let mut created = Vec::new();
    let mut started = Vec::new();
    while started.len() < 2 {
        let ev = bounded("pod started", events.recv()).await.unwrap();
        if ev.kind == PodEventKind::Created {
            assert_eq!(ev.pod["status"]["phase"], "Pending");
            created.push(ev.name().to_string());
            continue;
        }
        assert_eq!(ev.kind, PodEventKind::Started);
        assert!(
            created.contains(&ev.name().to_string()),
            "Created comes first"
        );
        assert_eq!(ev.deployment(), Some("web"));
        assert_eq!(ev.label("app"), Some("web"));
        assert_eq!(ev.pod["status"]["podIP"], kubesim::POD_IP);
        started.push(ev.name().to_string());
    }
    let d = eventually("deployment status", || {
        let d = k.store().get(&DEPLOYMENTS, "default", "web").unwrap();
        (d["status"]["readyReplicas"] == 2).then_some(d)
    })
    .await;
    assert_eq!(d["status"]["replicas"], 2);
    assert_eq!(d["status"]["updatedReplicas"], 2);
    assert_eq!(d["status"]["availableReplicas"], 2);
    assert_eq!(d["status"]["observedGeneration"], 1);
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "1"
    );
    let conditions = d["status"]["conditions"].as_array().unwrap();
    for c in ["Available", "Progressing"] {
        assert!(
            conditions
                .iter()
                .any(|x| x["type"] == c && x["status"] == "True"),
            "{c}"
        );
    }

    let rs = list(&k, &REPLICA_SETS, "app=web");
    assert_eq!(rs.len(), 1);
    let rs = &rs[0];
    let hash = rs["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap();
    assert_eq!(rs["metadata"]["name"], format!("web-{hash}"));
    assert_eq!(rs["metadata"]["ownerReferences"][0]["kind"], "Deployment");
    assert_eq!(
        rs["metadata"]["ownerReferences"][0]["uid"],
        d["metadata"]["uid"]
    );
    assert_eq!(rs["status"]["readyReplicas"], 2);
    let pods = list(&k, &PODS, "app=web");
    for p in &pods {
        let name = p["metadata"]["name"].as_str().unwrap();
        let suffix = name.strip_prefix(&format!("web-{hash}-")).unwrap();
        assert_eq!(suffix.len(), 5, "{name}");
        assert_eq!(p["metadata"]["labels"]["pod-template-hash"], hash);
        assert_eq!(
            p["metadata"]["ownerReferences"][0]["uid"],
            rs["metadata"]["uid"]
        );
        assert_eq!(p["status"]["phase"], "Running");
        assert!(p["status"]["startTime"].is_string());
        assert_eq!(p["spec"]["nodeName"], kubesim::NODE_NAME);
    }

    // Scale up by one, then down by one: the newest pod terminates, then goes.
    scale(&k, "web", 3);
    let third = bounded("third pod", events.recv()).await.unwrap();
    assert_eq!(third.kind, PodEventKind::Created);
    let newest = bounded("third pod", events.recv()).await.unwrap();
    assert_eq!(newest.kind, PodEventKind::Started);
    assert_eq!(newest.name(), third.name());
    assert!(!started.contains(&newest.name().to_string()));
    scale(&k, "web", 2);
    let terminating = bounded("pod terminating", events.recv()).await.unwrap();
    assert_eq!(terminating.kind, PodEventKind::Terminating);
    assert_eq!(terminating.name(), newest.name());
    assert!(terminating.pod["metadata"]["deletionTimestamp"].is_string());
    let stopped = bounded("pod stopped", events.recv()).await.unwrap();
    assert_eq!(stopped.kind, PodEventKind::Stopped);
    assert_eq!(stopped.name(), newest.name());
    let names: Vec<String> = list(&k, &PODS, "app=web")
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    let mut expected = started.clone();
    expected.sort();
    assert_eq!(names, expected);

    // Events as the real controllers write them.
    let evs = k
        .store()
        .list(
            &EVENTS,
            Some("default"),
            &LabelSelector::default(),
            &FieldSelector::default(),
        )
        .0;
    let messages: Vec<&str> = evs.iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert!(messages.contains(&format!("Scaled up replica set web-{hash} from 0 to 2").as_str()));
    assert!(messages.contains(&format!("Scaled down replica set web-{hash} from 3 to 2").as_str()));
    assert!(messages.iter().any(|m| m.starts_with("Created pod: web-")));

    // Scale to zero: no pods, Available still true.
    scale(&k, "web", 0);
    eventually("no pods", || {
        list(&k, &PODS, "app=web").is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn template_changes_roll_to_a_new_replica_set() {
    let k = server().await;
    k.store()
        .create(&DEPLOYMENTS, "default", deployment("web", 2), false)
        .unwrap();
    eventually("ready", || {
        let d = k.store().get(&DEPLOYMENTS, "default", "web").unwrap();
        (d["status"]["readyReplicas"] == 2).then_some(())
    })
    .await;
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "img:2"}]}}}});
    k.store()
        .patch(
            &DEPLOYMENTS,
            "default",
            "web",
            PatchType::Strategic,
            &patch,
            Subresource::Main,
            false,
        )
        .unwrap();
    let d = eventually("rolled", || {
        let d = k.store().get(&DEPLOYMENTS, "default", "web").unwrap();
        let done = d["status"]["updatedReplicas"] == 2
            && d["status"]["readyReplicas"] == 2
            && d["status"]["replicas"] == 2
            && d["status"]["observedGeneration"] == 2;
        done.then_some(d)
    })
    .await;
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    let rs = list(&k, &REPLICA_SETS, "app=web");
    assert_eq!(rs.len(), 2);
    let replicas: Vec<i64> = rs
        .iter()
        .map(|r| r["spec"]["replicas"].as_i64().unwrap())
        .collect();
    assert!(
        replicas.contains(&0) && replicas.contains(&2),
        "{replicas:?}"
    );
    // Old pods may still be terminating; every other pod runs the new image.
    let image = |p: &Value| p["spec"]["containers"][0]["image"].clone();
    for p in list(&k, &PODS, "app=web") {
        assert!(
            image(&p) == "img:2" || p["metadata"]["deletionTimestamp"].is_string(),
            "{p}"
        );
    }
    eventually("old pods gone", || {
        let pods = list(&k, &PODS, "app=web");
        (pods.len() == 2 && pods.iter().all(|p| image(p) == "img:2")).then_some(())
    })
    .await;

    // Deleting the Deployment deletes its ReplicaSets at once; its pods terminate, then go.
    k.store()
        .delete(&DEPLOYMENTS, "default", "web", &Default::default())
        .unwrap();
    assert!(list(&k, &REPLICA_SETS, "app=web").is_empty());
    assert!(list(&k, &PODS, "app=web")
        .iter()
        .all(|p| p["metadata"]["deletionTimestamp"].is_string()));
    eventually("pods gone", || {
        list(&k, &PODS, "app=web").is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn preloads_the_samples() {
    let objects = kubesim::load_dir(&samples()).unwrap();
    assert_eq!(objects[0]["kind"], "Namespace");
    let k = super::common::server_with(kubesim::Config {
        preload: objects,
        pod_ready_delay: std::time::Duration::from_millis(100),
        ..Default::default()
    })
    .await;
    let (deps, _) = k.store().list(
        &DEPLOYMENTS,
        Some("infer"),
        &LabelSelector::parse("inferno.server.managed=true").unwrap(),
        &FieldSelector::default(),
    );
    let names: Vec<&str> = deps
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "bronze-granite-13b",
            "free-mixtral-8-7b",
            "premium-llama-13b"
        ]
    );
    eventually("10 pods running", || {
        let (pods, _) = k.store().list(
            &PODS,
            Some("infer"),
            &LabelSelector::default(),
            &FieldSelector::parse("status.phase=Running", &PODS).unwrap(),
        );
        (pods.len() == 10).then_some(())
    })
    .await;
}

/// The binary: `--load`, `--kubeconfig`, `--listen 127.0.0.1:0`.
#[tokio::test]
async fn binary_writes_a_kubeconfig_and_serves() {
    let dir = TempDir::new("kubesim-it");
    let kubeconfig = dir.path().join("kubeconfig");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kubesim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--pod-ready-delay",
            "0.1",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .arg("--load")
        .arg(samples())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server = eventually("kubeconfig written", || {
        let text = std::fs::read_to_string(&kubeconfig).ok()?;
        let v: Value = serde_yaml_ng::from_str(&text).ok()?;
        v["clusters"][0]["cluster"]["server"]
            .as_str()
            .map(str::to_string)
    })
    .await;
    let addr: std::net::SocketAddr = server.strip_prefix("http://").unwrap().parse().unwrap();
    let v = get(addr, "/version").await.json();
    assert_eq!(v["minor"], "32");
    let list = get(addr, "/apis/apps/v1/deployments").await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 3);
    child.kill().unwrap();
    child.wait().unwrap();
}
