//! `events.k8s.io/v1` Events: kube's `Recorder` creates one and then patches its series; the
//! same Event is a `core/v1` Event (get, list, field selectors, watches of both versions, as a
//! real server mirrors them); writes are validated as a real server validates them; discovery
//! lists the group; kubectl's `get events` and `describe` show the Recorder's Events.

use super::common::{deployment, get, request, server, TempDir, Watch, WAIT};
use super::kube_client::client;
use inferno_testkit::kubectl::Kubectl;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::events::{Event as Publish, EventType, Recorder, Reporter};
use kube::Resource;
use kubesim::resource::{DEPLOYMENTS, EVENTS};
use serde_json::{json, Value};

const JSON: (&str, &str) = ("Content-Type", "application/json");
const MERGE: (&str, &str) = ("Content-Type", "application/merge-patch+json");

/// A Deployment `web` in `default` (no replicas: no other Events), as kube reads it.
fn web(k: &kubesim::Kubesim) -> Deployment {
    let d = k
        .store()
        .create(&DEPLOYMENTS, "default", deployment("web", 0), false)
        .unwrap();
    serde_json::from_value(d).unwrap()
}

fn recorder(k: &kubesim::Kubesim) -> Recorder {
    let reporter = Reporter {
        controller: "inferno-test".into(),
        instance: Some("pod-1".into()),
    };
    Recorder::new(client(k), reporter)
}

fn scaled(note: &str) -> Publish {
    Publish {
        type_: EventType::Normal,
        reason: "Scaled".into(),
        note: Some(note.into()),
        action: "Scale".into(),
        secondary: None,
    }
}

/// The next watch event that is not a bookmark: `(type, object)`.
async fn next(w: &mut Watch) -> (String, Value) {
    loop {
        let ev = w.next().await.expect("the watch is open");
        if ev["type"] != "BOOKMARK" {
            return (
                ev["type"].as_str().unwrap().to_string(),
                ev["object"].clone(),
            );
        }
    }
}

#[tokio::test]
async fn recorder_events_are_core_events_too() {
    let k = server().await;
    let a = k.addr();
    let dep = web(&k);
    let rv = k.store().resource_version();
    let mut v1_watch = Watch::open(
        a,
        &format!("/apis/events.k8s.io/v1/namespaces/default/events?watch=1&resourceVersion={rv}"),
    )
    .await;
    let mut core_watch = Watch::open(
        a,
        &format!("/api/v1/events?watch=1&resourceVersion={rv}&fieldSelector=reason%3DScaled"),
    )
    .await;

    // The first publication creates the Event.
    let recorder = recorder(&k);
    let reference = dep.object_ref(&());
    recorder
        .publish(&scaled("replicas 1 -> 2"), &reference)
        .await
        .unwrap();
    let v1_api = Api::<Event>::namespaced(client(&k), "default");
    let core_api = Api::<CoreEvent>::namespaced(client(&k), "default");
    let mine = ListParams::default().fields("reportingController=inferno-test");
    let listed = v1_api.list(&mine).await.unwrap().items;
    assert_eq!(listed.len(), 1);
    let e = &listed[0];
    assert_eq!(e.note.as_deref(), Some("replicas 1 -> 2"));
    assert_eq!(e.regarding.as_ref().unwrap().uid, dep.metadata.uid);
    assert_eq!(e.reporting_instance.as_deref(), Some("pod-1"));
    assert!(e.series.is_none());
    let name = e.metadata.name.clone().unwrap();

    // The same object through core/v1, fields converted.
    let by_object = ListParams::default().fields("involvedObject.name=web,reason=Scaled");
    let core = core_api.list(&by_object).await.unwrap().items;
    assert_eq!(core.len(), 1);
    let c = &core[0];
    assert_eq!(c.metadata.name.as_deref(), Some(name.as_str()));
    assert_eq!(c.message.as_deref(), Some("replicas 1 -> 2"));
    assert_eq!(c.involved_object.kind.as_deref(), Some("Deployment"));
    assert_eq!(c.involved_object.uid, dep.metadata.uid);
    assert_eq!(c.reporting_component.as_deref(), Some("inferno-test"));
    assert_eq!(c.type_.as_deref(), Some("Normal"));
    assert_eq!(c.action.as_deref(), Some("Scale"));
    assert!(c.event_time.is_some() && c.count.is_none() && c.last_timestamp.is_none());

    // Repeats patch the series of that Event: no second Event, the first note stays.
    for _ in 0..2 {
        recorder
            .publish(&scaled("replicas 2 -> 3"), &reference)
            .await
            .unwrap();
    }
    let listed = v1_api.list(&mine).await.unwrap().items;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].series.as_ref().unwrap().count, 3);
    let c = core_api.get(&name).await.unwrap();
    assert_eq!(c.series.as_ref().unwrap().count, Some(3));
    assert_eq!(c.message.as_deref(), Some("replicas 1 -> 2"));

    // Watches of both versions saw the creation and the two patches, each in its own version.
    for (w, api_version, text) in [
        (&mut v1_watch, "events.k8s.io/v1", "note"),
        (&mut core_watch, "v1", "message"),
    ] {
        let (kind, obj) = next(w).await;
        assert_eq!(kind, "ADDED");
        assert_eq!(obj["apiVersion"], api_version);
        assert_eq!(obj[text], "replicas 1 -> 2");
        for count in [2, 3] {
            let (kind, obj) = next(w).await;
            assert_eq!(
                (kind.as_str(), &obj["series"]["count"]),
                ("MODIFIED", &json!(count))
            );
        }
    }

    // Deleted through one version, gone from both.
    v1_api
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        k.store().get(&EVENTS, "default", &name).unwrap_err().code,
        404
    );
    let (kind, _) = next(&mut core_watch).await;
    assert_eq!(kind, "DELETED");
    k.shutdown().await.unwrap();
}

fn event(name: &str) -> Value {
    json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": name},
        "eventTime": "2025-01-01T00:00:00.000000Z",
        "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                      "namespace": "default"},
        "reason": "Scaled", "note": "replicas 1 -> 2", "type": "Normal", "action": "Scale",
        "reportingController": "inferno-test", "reportingInstance": "pod-1",
    })
}

#[tokio::test]
async fn writes_are_validated_as_a_real_server_does() {
    let k = server().await;
    let a = k.addr();
    let events = "/apis/events.k8s.io/v1/namespaces/default/events";

    // Create: the new API's required fields, and no legacy ones.
    let mut bad = event("bad");
    bad.as_object_mut().unwrap().remove("eventTime");
    bad["deprecatedCount"] = json!(1);
    let r = request(a, "POST", events, &[JSON], &bad.to_string()).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let status = r.json();
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["group"], "events.k8s.io");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .starts_with("Event.events.k8s.io \"bad\" is invalid: [eventTime: Required value"),
        "{status}"
    );
    let r = request(a, "POST", events, &[JSON], &event("ok").to_string()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["apiVersion"], "events.k8s.io/v1");
    assert_eq!(r.json()["note"], "replicas 1 -> 2");

    // Stored once, read through core/v1.
    let core = get(a, "/api/v1/namespaces/default/events/ok").await.json();
    assert_eq!(core["apiVersion"], "v1");
    assert_eq!(core["message"], "replicas 1 -> 2");
    assert_eq!(core["involvedObject"]["name"], "web");
    assert_eq!(core["reportingComponent"], "inferno-test");

    // Update: only the series changes.
    let r = request(
        a,
        "PATCH",
        &format!("{events}/ok"),
        &[MERGE],
        r#"{"note": "rewritten"}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r
        .body
        .contains("note: Invalid value: \\\"rewritten\\\": field is immutable"));
    let series = r#"{"series": {"count": 2, "lastObservedTime": "2025-01-01T00:01:00.000000Z"}}"#;
    let r = request(a, "PATCH", &format!("{events}/ok"), &[MERGE], series).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let core = get(a, "/api/v1/namespaces/default/events/ok").await.json();
    assert_eq!(core["series"]["count"], 2);
    let r = request(
        a,
        "PATCH",
        &format!("{events}/ok"),
        &[MERGE],
        r#"{"series": {"count": 1}}"#,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);

    // A core/v1 Event (as the kubelet writes them) reads with the legacy fields deprecated.
    let legacy = json!({"metadata": {"name": "legacy"}, "reason": "Started",
        "message": "Started container", "type": "Normal", "count": 2,
        "source": {"component": "kubelet"}, "firstTimestamp": "2025-01-01T00:00:00Z",
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}});
    let r = request(
        a,
        "POST",
        "/api/v1/namespaces/default/events",
        &[JSON],
        &legacy.to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let seen = get(a, &format!("{events}/legacy")).await.json();
    assert_eq!(seen["note"], "Started container");
    assert_eq!(seen["deprecatedSource"]["component"], "kubelet");
    assert_eq!(seen["deprecatedCount"], 2);
    assert_eq!(seen["regarding"]["name"], "p");
    assert!(seen.get("message").is_none() && seen.get("count").is_none());

    // Errors name the group's resource; unknown fields are refused when asked.
    let r = get(a, &format!("{events}/missing")).await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["message"],
        "events.events.k8s.io \"missing\" not found"
    );
    let mut typo = event("typo");
    typo["mesage"] = json!("x");
    let r = request(
        a,
        "POST",
        &format!("{events}?fieldValidation=Strict"),
        &[JSON],
        &typo.to_string(),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let listed = get(a, &format!("{events}?fieldSelector=regarding.name%3Dweb"))
        .await
        .json();
    assert_eq!(listed["kind"], "EventList");
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    k.shutdown().await.unwrap();
}

#[tokio::test]
async fn discovery_lists_the_group() {
    let k = server().await;
    let a = k.addr();
    let groups = get(a, "/apis").await.json();
    assert!(groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["name"] == "events.k8s.io"
            && g["preferredVersion"]["groupVersion"] == "events.k8s.io/v1"));
    let list = get(a, "/apis/events.k8s.io/v1").await.json();
    let events = &list["resources"][0];
    assert_eq!(
        (&events["name"], &events["kind"], &events["namespaced"]),
        (&json!("events"), &json!("Event"), &json!(true))
    );
    assert_eq!(events["shortNames"], json!(["ev"]));
    for verb in ["create", "get", "list", "watch", "patch"] {
        assert!(events["verbs"].as_array().unwrap().contains(&json!(verb)));
    }
    let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
    let agg = request(a, "GET", "/apis", &[("Accept", accept)], "")
        .await
        .json();
    assert!(agg["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["metadata"]["name"] == "events.k8s.io"));
    let openapi = get(a, "/openapi/v3").await.json();
    assert!(openapi["paths"].get("apis/events.k8s.io/v1").is_some());
    k.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_shows_recorder_events() {
    let Some(bin) = inferno_testkit::tools::kubectl() else {
        return;
    };
    let k = server().await;
    let dep = web(&k);
    let recorder = recorder(&k);
    recorder
        .publish(&scaled("replicas 1 -> 2"), &dep.object_ref(&()))
        .await
        .unwrap();
    recorder
        .publish(&scaled("replicas 1 -> 2"), &dep.object_ref(&()))
        .await
        .unwrap();
    let dir = TempDir::new("kubesim-it");
    let kubeconfig = dir.path().join("kubeconfig");
    k.write_kubeconfig(&kubeconfig).unwrap();
    let kc = Kubectl::new(bin, kubeconfig)
        .cache_dir(dir.path().join("cache"))
        .bound(WAIT);

    // `get events` lists core/v1 Events: the Recorder's is one of them, its series counted.
    let table = kc
        .ok(&["get", "events", "-n", "default", "-o", "wide"])
        .await;
    let row = table
        .lines()
        .find(|l| l.contains("Scaled"))
        .unwrap_or_else(|| panic!("{table}"));
    for cell in [
        "Normal",
        "deployment/web",
        "inferno-test, pod-1",
        "replicas 1 -> 2",
    ] {
        assert!(row.contains(cell), "{cell}: {row}");
    }
    assert!(row.split_whitespace().any(|c| c == "2"), "count 2: {row}");
    let v1 = kc
        .json(&[
            "get",
            "events.v1.events.k8s.io",
            "-n",
            "default",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(v1["items"][0]["note"], "replicas 1 -> 2");
    assert_eq!(v1["items"][0]["series"]["count"], 2);
    let described = kc
        .ok(&["describe", "deployment", "web", "-n", "default"])
        .await;
    let events = described
        .split("Events:")
        .nth(1)
        .unwrap_or_else(|| panic!("{described}"));
    assert!(
        events.contains("Scaled") && events.contains("replicas 1 -> 2"),
        "{described}"
    );
    k.shutdown().await.unwrap();
}
