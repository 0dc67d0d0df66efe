//! Pod lifecycle as a real cluster has it: start-up delays per kind of pod (rules on labels and
//! node selectors, the per-pod annotation), a clock running `time_scale` times faster, and
//! graceful termination (a deleted Running pod stays, not Ready, with a `deletionTimestamp`
//! until its grace period ends or a zero-grace delete; its ReplicaSet replaces it at once;
//! namespaces wait for their pods).

use super::common::{bounded, deployment, eventually, request, server_with, Watch, TIME_SCALE};
use kubesim::resource::{CONFIGMAPS, DEPLOYMENTS, NAMESPACES, PODS, REPLICA_SETS};
use kubesim::{
    Config, DeleteOptions, FieldSelector, LabelSelector, PodEvent, PodEventKind, StartupRule,
    STARTUP_ANNOTATION,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

fn pods(k: &kubesim::Kubesim, ns: &str, sel: &str) -> Vec<Arc<Value>> {
    k.store()
        .list(
            &PODS,
            Some(ns),
            &LabelSelector::parse(sel).unwrap(),
            &FieldSelector::default(),
        )
        .0
}

fn condition(p: &Value, kind: &str) -> String {
    p["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
        .to_string()
}

fn terminating(p: &Value) -> bool {
    p["metadata"]["deletionTimestamp"].is_string()
}

/// A Deployment `name` with `replicas` pods whose template has `labels` (besides `app`),
/// `node_selector`, `annotations` and `grace` (terminationGracePeriodSeconds).
fn workload(
    name: &str,
    labels: Value,
    node_selector: Value,
    annotations: Value,
    grace: i64,
) -> Value {
    let mut d = deployment(name, 1);
    let t = &mut d["spec"]["template"];
    for (k, v) in labels.as_object().unwrap() {
        t["metadata"]["labels"][k] = v.clone();
    }
    t["metadata"]["annotations"] = annotations;
    t["spec"]["nodeSelector"] = node_selector;
    t["spec"]["terminationGracePeriodSeconds"] = json!(grace);
    d
}

fn rv(o: &Value) -> u64 {
    o["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The (only) pod matching `sel` as it was at resourceVersion `at`, replayed from the store's
/// change history.
fn state_at(k: &kubesim::Kubesim, sel: &str, at: u64) -> Option<Value> {
    let sel = LabelSelector::parse(sel).unwrap();
    let mut state = None;
    for c in k.store().changes_since(0).expect("history kept") {
        let labels = c.object["metadata"]["labels"].as_object();
        if c.rv > at || !std::ptr::eq(c.resource, &PODS) || !labels.is_some_and(|l| sel.matches(l))
        {
            continue;
        }
        state = (c.kind != kubesim::ChangeType::Deleted).then(|| (*c.object).clone());
    }
    state
}

/// The next event of `kind`, skipping others.
async fn next_event(events: &mut broadcast::Receiver<PodEvent>, kind: PodEventKind) -> PodEvent {
    bounded(&format!("{kind:?} event"), async {
        loop {
            let ev = events.recv().await.unwrap();
            if ev.kind == kind {
                return ev;
            }
        }
    })
    .await
}

#[tokio::test]
async fn start_up_rules_annotation_and_default() {
    // 20 cluster seconds per wall second: 40 s rules take 2 s, 2 s ones 0.1 s.
    let k = server_with(Config {
        time_scale: 20.0,
        pod_ready_delay: Duration::from_secs(4),
        startup: vec![
            StartupRule::parse("40:model=slow").unwrap(),
            StartupRule::parse("2:gpu=H100").unwrap(),
        ],
        ..Default::default()
    })
    .await;
    let mut events = k.pod_events();
    let none = json!({});
    let slow = json!({"model": "slow"});
    let h100 = json!({"gpu": "H100"});
    let fast_start = json!({STARTUP_ANNOTATION: "1"});
    // Names sort slow-first, so a stalled controller would start them in the wrong order.
    for d in [
        workload("a-slow", slow.clone(), none.clone(), none.clone(), 30),
        // Matches both rules: the first one (slow) wins.
        workload("b-both", slow.clone(), h100.clone(), none.clone(), 30),
        // The node selector counts as a label for the rules.
        workload("c-fast", none.clone(), h100, none.clone(), 30),
        // The annotation overrides the rules.
        workload("d-annotated", slow, none.clone(), fast_start, 30),
        workload("e-default", none.clone(), none.clone(), none, 30),
    ] {
        k.store().create(&DEPLOYMENTS, "default", d, false).unwrap();
    }
    let mut fast = Vec::new();
    let mut last_fast_rv = 0;
    while fast.len() < 3 {
        let ev = next_event(&mut events, PodEventKind::Started).await;
        fast.push(ev.deployment().unwrap().to_string());
        last_fast_rv = rv(&ev.pod);
    }
    fast.sort();
    assert_eq!(fast, ["c-fast", "d-annotated", "e-default"]);
    // When the last fast pod turned Ready, the slow ones existed and were Pending.
    for slow in ["a-slow", "b-both"] {
        let p = state_at(&k, &format!("app={slow}"), last_fast_rv).expect(slow);
        assert_eq!(p["status"]["phase"], "Pending", "{slow}");
        assert_eq!(condition(&p, "Ready"), "", "{slow}");
    }
    let mut slow = Vec::new();
    while slow.len() < 2 {
        let ev = next_event(&mut events, PodEventKind::Started).await;
        slow.push(ev.deployment().unwrap().to_string());
    }
    slow.sort();
    assert_eq!(slow, ["a-slow", "b-both"]);
}

#[tokio::test]
async fn time_scale_shortens_delays() {
    // A 1000 s start-up runs in a second at 1000x; at 1x this would outlast the wait bound.
    let k = server_with(Config {
        time_scale: 1000.0,
        pod_ready_delay: Duration::from_secs(1000),
        ..Default::default()
    })
    .await;
    k.store()
        .create(&DEPLOYMENTS, "default", deployment("web", 1), false)
        .unwrap();
    eventually("ready after 1000 cluster seconds", || {
        let d = k.store().get(&DEPLOYMENTS, "default", "web").unwrap();
        (d["status"]["readyReplicas"] == 1).then_some(())
    })
    .await;

    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = kubesim::Server::new(Config {
            time_scale: bad,
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().starts_with("time_scale: "), "{e}");
    }
    let e = kubesim::Server::new(Config {
        startup: vec![
            StartupRule::parse("1:a=b").unwrap(),
            StartupRule {
                selector: "a b".into(),
                seconds: 1.0,
            },
        ],
        ..Default::default()
    })
    .unwrap_err();
    assert!(e.to_string().starts_with("startup[1]"), "{e}");
}

#[tokio::test]
async fn deleted_pods_terminate_gracefully() {
    let k = server_with(Config {
        time_scale: TIME_SCALE,
        pod_ready_delay: Duration::from_secs(10),
        ..Default::default()
    })
    .await;
    let a = k.addr();
    let mut events = k.pod_events();
    // A grace period far beyond the test: the pod only goes when told to.
    let d = workload("web", json!({}), json!({}), json!({}), 1_000_000);
    k.store().create(&DEPLOYMENTS, "default", d, false).unwrap();
    let started = next_event(&mut events, PodEventKind::Started).await;
    let name = started.name().to_string();
    let base = "/api/v1/namespaces/default/pods";
    let mut watch = Watch::open(
        a,
        &format!(
            "{base}?watch=true&resourceVersion={}",
            k.store().resource_version()
        ),
    )
    .await;

    let r = request(a, "DELETE", &format!("{base}/{name}"), &[], "").await;
    assert_eq!(r.status, 200);
    let marked = r.json();
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 1_000_000);
    assert!(terminating(&marked));
    let p = k.store().get(&PODS, "default", &name).unwrap();
    assert!(terminating(&p));
    assert_eq!(condition(&p, "Ready"), "False");
    assert_eq!(condition(&p, "ContainersReady"), "False");
    assert_eq!(p["status"]["phase"], "Running");
    let ev = next_event(&mut events, PodEventKind::Terminating).await;
    assert_eq!(ev.name(), name);
    // Watchers see the mark as a modification.
    loop {
        let ev = watch.next().await.unwrap();
        if ev["object"]["metadata"]["name"] == name.as_str() {
            assert_eq!(ev["type"], "MODIFIED");
            assert!(terminating(&ev["object"]));
            break;
        }
    }

    // The ReplicaSet replaces it at once; the statuses do not count it.
    let replacement = next_event(&mut events, PodEventKind::Started).await;
    assert_ne!(replacement.name(), name);
    assert!(terminating(
        &k.store().get(&PODS, "default", &name).unwrap()
    ));
    let d = eventually("status counts the replacement only", || {
        let d = k.store().get(&DEPLOYMENTS, "default", "web").unwrap();
        (d["status"]["readyReplicas"] == 1 && d["status"]["availableReplicas"] == 1).then_some(d)
    })
    .await;
    assert_eq!(d["status"]["replicas"], 1);
    assert_eq!(pods(&k, "default", "app=web").len(), 2);
    let rs = &k
        .store()
        .list(
            &REPLICA_SETS,
            Some("default"),
            &LabelSelector::default(),
            &FieldSelector::default(),
        )
        .0[0];
    assert_eq!(rs["status"]["replicas"], 1);

    // A longer grace period does not extend it; a shorter one (1 s = 10 ms here) ends it.
    let body = r#"{"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 5000000}"#;
    let r = request(a, "DELETE", &format!("{base}/{name}"), &[JSON], body).await;
    assert_eq!(
        r.json()["metadata"]["deletionGracePeriodSeconds"],
        1_000_000
    );
    let r = request(
        a,
        "DELETE",
        &format!("{base}/{name}?gracePeriodSeconds=1"),
        &[],
        "",
    )
    .await;
    assert_eq!(r.json()["metadata"]["deletionGracePeriodSeconds"], 1);
    let stopped = next_event(&mut events, PodEventKind::Stopped).await;
    assert_eq!(stopped.name(), name);
    assert!(k.store().get(&PODS, "default", &name).is_err());

    // gracePeriodSeconds=0 (what the kubelet sends once the containers have exited): at once.
    let other = replacement.name().to_string();
    let r = request(
        a,
        "DELETE",
        &format!("{base}/{other}"),
        &[JSON],
        r#"{"gracePeriodSeconds": 0}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        request(a, "GET", &format!("{base}/{other}"), &[], "")
            .await
            .status,
        404
    );
    // A Pending pod (this one would start in 30 years) is deleted at once.
    let pending = json!({"metadata": {"name": "pending",
                                      "annotations": {STARTUP_ANNOTATION: "1e9"}},
                         "spec": {"containers": [{"name": "c", "image": "i:1"}]}});
    k.store().create(&PODS, "default", pending, false).unwrap();
    let out = k
        .store()
        .delete(&PODS, "default", "pending", &DeleteOptions::default())
        .unwrap();
    assert!(!terminating(&out));
    assert!(k.store().get(&PODS, "default", "pending").is_err());
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

#[tokio::test]
async fn grace_periods_end_on_their_own() {
    let k = server_with(Config {
        time_scale: TIME_SCALE,
        pod_ready_delay: Duration::from_secs(10),
        ..Default::default()
    })
    .await;
    let mut events = k.pod_events();
    // 50 cluster seconds: half a second of wall time.
    let d = workload("web", json!({}), json!({}), json!({}), 50);
    k.store().create(&DEPLOYMENTS, "default", d, false).unwrap();
    let started = next_event(&mut events, PodEventKind::Started).await;
    k.store()
        .patch(
            &DEPLOYMENTS,
            "default",
            "web",
            kubesim::PatchType::Merge,
            &json!({"spec": {"replicas": 0}}),
            kubesim::Subresource::Main,
            false,
        )
        .unwrap();
    let mut seen = HashMap::new();
    while !seen.contains_key(&PodEventKind::Stopped) {
        let ev = bounded("pod events", events.recv()).await.unwrap();
        if ev.name() == started.name() {
            seen.insert(ev.kind, ev.pod);
        }
    }
    let marked = &seen[&PodEventKind::Terminating];
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 50);
    assert_eq!(condition(marked, "Ready"), "False");
    assert!(pods(&k, "default", "app=web").is_empty());
}

#[tokio::test]
async fn namespaces_wait_for_their_pods_and_immediate_mode() {
    let k = server_with(Config {
        time_scale: TIME_SCALE,
        pod_ready_delay: Duration::from_secs(10),
        ..Default::default()
    })
    .await;
    let mut events = k.pod_events();
    k.store()
        .create(&NAMESPACES, "", json!({"metadata": {"name": "tmp"}}), false)
        .unwrap();
    let mut d = workload("web", json!({}), json!({}), json!({}), 1_000_000);
    d["spec"]["replicas"] = json!(2);
    k.store().create(&DEPLOYMENTS, "tmp", d, false).unwrap();
    next_event(&mut events, PodEventKind::Started).await;
    next_event(&mut events, PodEventKind::Started).await;
    let ns = k
        .store()
        .delete(&NAMESPACES, "", "tmp", &DeleteOptions::default())
        .unwrap();
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(terminating(&ns));
    assert!(k.store().get(&DEPLOYMENTS, "tmp", "web").is_err());
    let left = pods(&k, "tmp", "");
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|p| terminating(p)), "{left:?}");
    let e = k
        .store()
        .create(
            &CONFIGMAPS,
            "tmp",
            json!({"metadata": {"name": "c"}, "data": {}}),
            false,
        )
        .unwrap_err();
    assert_eq!((e.code, e.reason), (403, "Forbidden"));
    let now = DeleteOptions {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    for (i, p) in left.iter().enumerate() {
        let name = p["metadata"]["name"].as_str().unwrap();
        k.store().delete(&PODS, "tmp", name, &now).unwrap();
        let ns = k.store().get(&NAMESPACES, "", "tmp");
        assert_eq!(ns.is_ok(), i == 0, "the namespace goes with its last pod");
    }

    // graceful_termination: false deletes Running pods at once.
    let k = server_with(Config {
        graceful_termination: false,
        pod_ready_delay: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    let mut events = k.pod_events();
    k.store()
        .create(&DEPLOYMENTS, "default", deployment("web", 1), false)
        .unwrap();
    let p = next_event(&mut events, PodEventKind::Started).await;
    let out = k
        .store()
        .delete(&PODS, "default", p.name(), &DeleteOptions::default())
        .unwrap();
    assert!(!terminating(&out));
    assert!(k.store().get(&PODS, "default", p.name()).is_err());
}
