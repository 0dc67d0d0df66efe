//! The API over raw HTTP: discovery, `Status` errors with their codes, selectors, pagination,
//! tables, and watch semantics (replay, selector transitions, 410, timeouts, bookmarks).

use super::common::{deployment, get, request, server, server_with, Watch};
use kubesim::{resource, Config};
use serde_json::{json, Value};
use std::time::Duration;

const JSON: (&str, &str) = ("Content-Type", "application/json");
const MERGE: (&str, &str) = ("Content-Type", "application/merge-patch+json");

#[tokio::test]
async fn discovery_legacy_and_aggregated() {
    let k = server().await;
    let a = k.addr();
    let v = get(a, "/version").await.json();
    assert_eq!(
        (v["major"].as_str(), v["minor"].as_str()),
        (Some("1"), Some("32"))
    );

    let api = get(a, "/api").await.json();
    assert_eq!(api["versions"], json!(["v1"]));
    let groups = get(a, "/apis").await.json();
    let names: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"apps") && names.contains(&"coordination.k8s.io"));

    let apps = get(a, "/apis/apps/v1").await.json();
    let res = apps["resources"].as_array().unwrap();
    let find = |n: &str| res.iter().find(|r| r["name"] == n).unwrap().clone();
    assert_eq!(find("deployments")["shortNames"], json!(["deploy"]));
    assert_eq!(find("deployments")["namespaced"], true);
    assert_eq!(find("deployments/scale")["kind"], "Scale");
    assert_eq!(find("deployments/scale")["group"], "autoscaling");
    assert!(find("deployments")["verbs"]
        .as_array()
        .unwrap()
        .contains(&json!("watch")));
    let core = get(a, "/api/v1").await.json();
    let ns = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "namespaces")
        .unwrap()
        .clone();
    assert_eq!(ns["namespaced"], false);
    let leases = get(a, "/apis/coordination.k8s.io/v1").await.json();
    assert_eq!(leases["resources"][0]["name"], "leases");

    let accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
                  application/json";
    let r = request(a, "GET", "/apis", &[("Accept", accept)], "").await;
    assert!(r
        .header("content-type")
        .unwrap()
        .contains("as=APIGroupDiscoveryList"));
    let agg = r.json();
    assert_eq!(agg["kind"], "APIGroupDiscoveryList");
    let apps = agg["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["metadata"]["name"] == "apps")
        .unwrap()
        .clone();
    let deploy = &apps["versions"][0]["resources"][0];
    assert_eq!(deploy["resource"], "deployments");
    assert_eq!(deploy["scope"], "Namespaced");
    let r = request(a, "GET", "/api", &[("Accept", accept)], "").await;
    assert_eq!(r.json()["items"][0]["metadata"]["name"], "");

    let r = get(a, "/apis/batch/v1").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["kind"], "Status");
    assert_eq!(get(a, "/healthz").await.body, "ok");
}

#[tokio::test]
async fn errors_are_status_objects() {
    let k = server().await;
    let a = k.addr();
    let base = "/apis/apps/v1/namespaces/default/deployments";

    let r = get(a, &format!("{base}/nope")).await;
    assert_eq!(r.status, 404);
    let s = r.json();
    assert_eq!(
        (
            s["kind"].as_str(),
            s["apiVersion"].as_str(),
            s["status"].as_str()
        ),
        (Some("Status"), Some("v1"), Some("Failure"))
    );
    assert_eq!(s["reason"], "NotFound");
    assert_eq!(s["code"], 404);
    assert_eq!(s["message"], "deployments.apps \"nope\" not found");
    assert_eq!(
        s["details"],
        json!({"name": "nope", "group": "apps", "kind": "deployments"})
    );

    let body = deployment("web", 1).to_string();
    let r = request(a, "POST", base, &[JSON], &body).await;
    assert_eq!(r.status, 201);
    let r = request(a, "POST", base, &[JSON], &body).await;
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (409, json!("AlreadyExists"))
    );

    // PUT with the right resourceVersion, then again with the stale one (a ConfigMap: no
    // controller writes to it in between).
    let cms = "/api/v1/namespaces/default/configmaps";
    let r = request(
        a,
        "POST",
        cms,
        &[JSON],
        r#"{"metadata": {"name": "cfg"}, "data": {"a": "1"}}"#,
    )
    .await;
    let created = r.json();
    let rv = created["metadata"]["resourceVersion"].clone();
    let mut update = created.clone();
    update["data"]["a"] = json!("2");
    let r = request(
        a,
        "PUT",
        &format!("{cms}/cfg"),
        &[JSON],
        &update.to_string(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["data"]["a"], "2");
    assert_ne!(r.json()["metadata"]["resourceVersion"], rv);
    let r = request(
        a,
        "PUT",
        &format!("{cms}/cfg"),
        &[JSON],
        &update.to_string(),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["reason"], "Conflict");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("the object has been modified"));
    let r = request(
        a,
        "PATCH",
        &format!("{cms}/cfg"),
        &[MERGE],
        &json!({"metadata": {"resourceVersion": rv}, "data": {"a": "3"}}).to_string(),
    )
    .await;
    assert_eq!(r.status, 409);

    let r = request(
        a,
        "PATCH",
        &format!("{base}/web"),
        &[MERGE],
        r#"{"spec": {"replicas": -1}}"#,
    )
    .await;
    assert_eq!(r.status, 422);
    let s = r.json();
    assert_eq!(s["reason"], "Invalid");
    assert_eq!(s["details"]["kind"], "Deployment");
    assert_eq!(s["details"]["causes"][0]["field"], "spec.replicas");

    let mut bad = deployment("bad", 1);
    bad["spec"]["template"]["metadata"]["labels"]["app"] = json!("other");
    let r = request(a, "POST", base, &[JSON], &bad.to_string()).await;
    assert_eq!(r.status, 422);

    let r = request(
        a,
        "PATCH",
        &format!("{base}/web"),
        &[("Content-Type", "application/json-patch+json")],
        r#"[{"op": "replace", "path": "/metadata/labels/missing", "value": "x"}]"#,
    )
    .await;
    assert_eq!(r.status, 422);
    let r = request(a, "PATCH", &format!("{base}/web"), &[JSON], "{}").await;
    assert_eq!(r.status, 415);
    let r = request(a, "POST", base, &[JSON], "{not json").await;
    assert_eq!(
        (r.status, r.json()["reason"].clone()),
        (400, json!("BadRequest"))
    );
    let r = get(a, &format!("{base}?labelSelector=a%20b")).await;
    assert_eq!(r.status, 400);
    let r = get(a, &format!("{base}?fieldSelector=spec.replicas%3D1")).await;
    assert_eq!(r.status, 400);
    let r = request(
        a,
        "POST",
        "/api/v1/namespaces/missing/configmaps",
        &[JSON],
        r#"{"metadata": {"name": "c"}}"#,
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["message"], "namespaces \"missing\" not found");
    let r = request(
        a,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &[JSON],
        r#"{"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "c"}}"#,
    )
    .await;
    assert_eq!(r.status, 400);

    let r = request(
        a,
        "DELETE",
        &format!("{base}/web"),
        &[JSON],
        r#"{"preconditions": {"uid": "not-the-uid"}}"#,
    )
    .await;
    assert_eq!(r.status, 409);
    let r = request(a, "DELETE", &format!("{base}/web"), &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["metadata"]["name"], "web");
    assert_eq!(get(a, &format!("{base}/web")).await.status, 404);
}

#[tokio::test]
async fn lists_selectors_pages_and_tables() {
    let k = server().await;
    let a = k.addr();
    let store = k.store();
    store
        .create(
            &resource::NAMESPACES,
            "",
            json!({"metadata": {"name": "other"}}),
            false,
        )
        .unwrap();
    for (ns, name, tier) in [
        ("default", "a", "front"),
        ("default", "b", "back"),
        ("default", "c", "front"),
        ("other", "d", "back"),
    ] {
        let cm = json!({"metadata": {"name": name, "labels": {"tier": tier}},
                        "data": {"k": "v"}});
        store.create(&resource::CONFIGMAPS, ns, cm, false).unwrap();
    }
    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let list = get(a, "/api/v1/namespaces/default/configmaps").await.json();
    assert_eq!(list["kind"], "ConfigMapList");
    assert_eq!(names(&list), ["a", "b", "c"]);
    assert!(list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .is_ok());
    let all = get(a, "/api/v1/configmaps?labelSelector=tier%3Dback")
        .await
        .json();
    assert_eq!(names(&all), ["b", "d"]);
    let l = get(
        a,
        "/api/v1/configmaps?labelSelector=tier%20notin%20(back),!missing",
    )
    .await
    .json();
    assert_eq!(names(&l), ["a", "c"]);
    let l = get(
        a,
        "/api/v1/configmaps?labelSelector=tier!%3Dfront&fieldSelector=metadata.namespace%3Dother",
    )
    .await
    .json();
    assert_eq!(names(&l), ["d"]);
    let l = get(
        a,
        "/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Db",
    )
    .await
    .json();
    assert_eq!(names(&l), ["b"]);

    // Pages of two.
    let p1 = get(a, "/api/v1/configmaps?limit=2").await.json();
    assert_eq!(names(&p1), ["a", "b"]);
    assert_eq!(p1["metadata"]["remainingItemCount"], 2);
    let token = p1["metadata"]["continue"].as_str().unwrap();
    let p2 = get(a, &format!("/api/v1/configmaps?limit=2&continue={token}"))
        .await
        .json();
    assert_eq!(names(&p2), ["c", "d"]);
    assert!(p2["metadata"].get("continue").is_none());

    // Server-side printing.
    let r = request(
        a,
        "GET",
        "/api/v1/namespaces/default/configmaps",
        &[(
            "Accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )],
        "",
    )
    .await;
    let t = r.json();
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["columnDefinitions"][0]["name"], "Name");
    assert_eq!(t["rows"].as_array().unwrap().len(), 3);
    assert_eq!(t["rows"][0]["cells"][1], 1);

    // generateName.
    let r = request(
        a,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        &[JSON],
        r#"{"metadata": {"generateName": "gen-"}}"#,
    )
    .await;
    assert_eq!(r.status, 201);
    let name = r.json()["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");
}

#[tokio::test]
async fn watches_replay_transition_and_expire() {
    let k = server_with(Config {
        watch_history: 50,
        bookmark_interval: Duration::from_millis(100),
        ..Default::default()
    })
    .await;
    let a = k.addr();
    let store = k.store();
    let cms = "/api/v1/namespaces/default/configmaps";
    let cm = |name: &str, tier: &str| json!({"metadata": {"name": name, "labels": {"tier": tier}}, "data": {"k": "v"}});
    store
        .create(&resource::CONFIGMAPS, "default", cm("old", "front"), false)
        .unwrap();
    let rv = store.resource_version();

    // Without a resourceVersion: the current objects first.
    let mut w = Watch::open(a, &format!("{cms}?watch=true&labelSelector=tier%3Dfront")).await;
    assert_eq!(w.status, 200);
    assert_eq!(w.next_change().await, Some(("ADDED".into(), "old".into())));

    // From a resourceVersion: every later change, selector transitions included.
    let mut from = Watch::open(
        a,
        &format!("{cms}?watch=1&resourceVersion={rv}&labelSelector=tier%3Dfront"),
    )
    .await;
    store
        .create(&resource::CONFIGMAPS, "default", cm("new", "front"), false)
        .unwrap();
    let patch = |name: &str, tier: &str| {
        store
            .patch(
                &resource::CONFIGMAPS,
                "default",
                name,
                kubesim::PatchType::Merge,
                &json!({"metadata": {"labels": {"tier": tier}}}),
                kubesim::Subresource::Main,
                false,
            )
            .unwrap();
    };
    patch("new", "back");
    patch("new", "front");
    store
        .patch(
            &resource::CONFIGMAPS,
            "default",
            "new",
            kubesim::PatchType::Merge,
            &json!({"data": {"k": "w"}}),
            kubesim::Subresource::Main,
            false,
        )
        .unwrap();
    store
        .delete(&resource::CONFIGMAPS, "default", "new", &Default::default())
        .unwrap();
    for w in [&mut w, &mut from] {
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(w.next_change().await.unwrap());
        }
        let expected: Vec<(String, String)> = ["ADDED", "DELETED", "ADDED", "MODIFIED", "DELETED"]
            .iter()
            .map(|t| (t.to_string(), "new".to_string()))
            .collect();
        assert_eq!(seen, expected);
    }

    // Bookmarks carry the latest resourceVersion.
    let mut b = Watch::open(
        a,
        &format!(
            "{cms}?watch=true&allowWatchBookmarks=true&resourceVersion={}",
            store.resource_version()
        ),
    )
    .await;
    let ev = b.next().await.unwrap();
    assert_eq!(ev["type"], "BOOKMARK");
    assert_eq!(
        ev["object"]["metadata"]["resourceVersion"],
        store.resource_version().to_string()
    );

    // timeoutSeconds ends the stream.
    let mut t = Watch::open(
        a,
        &format!("{cms}?watch=true&timeoutSeconds=1&resourceVersion={rv}"),
    )
    .await;
    while t.next().await.is_some() {}

    // A resourceVersion older than the kept history: 410 Expired as an ERROR event.
    for i in 0..60 {
        store
            .create(
                &resource::CONFIGMAPS,
                "default",
                cm(&format!("x{i}"), "x"),
                false,
            )
            .unwrap();
    }
    let mut old = Watch::open(a, &format!("{cms}?watch=true&resourceVersion={rv}")).await;
    let ev = old.next().await.unwrap();
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(ev["object"]["reason"], "Expired");
    assert!(old.next().await.is_none());

    // Streaming lists end their initial events with a marked bookmark.
    let mut s = Watch::open(
        a,
        &format!(
            "{cms}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&\
             resourceVersionMatch=NotOlderThan&labelSelector=tier%3Dfront"
        ),
    )
    .await;
    assert_eq!(s.next_change().await, Some(("ADDED".into(), "old".into())));
    let ev = s.next().await.unwrap();
    assert_eq!(ev["type"], "BOOKMARK");
    assert_eq!(
        ev["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    drop(k);
}

#[tokio::test]
async fn scale_subresource_and_status() {
    let k = server().await;
    let a = k.addr();
    let base = "/apis/apps/v1/namespaces/default/deployments";
    let r = request(a, "POST", base, &[JSON], &deployment("web", 1).to_string()).await;
    assert_eq!(r.status, 201);
    let s = get(a, &format!("{base}/web/scale")).await.json();
    assert_eq!(s["kind"], "Scale");
    assert_eq!(s["apiVersion"], "autoscaling/v1");
    assert_eq!(s["spec"]["replicas"], 1);
    assert_eq!(s["status"]["selector"], "app=web");

    let r = request(
        a,
        "PATCH",
        &format!("{base}/web/scale"),
        &[MERGE],
        r#"{"spec":{"replicas":3}}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["spec"]["replicas"], 3);
    // The controller writes status meanwhile: retry on conflict as a client would.
    let s = super::common::bounded("scale PUT", async {
        loop {
            let mut s = get(a, &format!("{base}/web/scale")).await.json();
            s["spec"]["replicas"] = json!(4);
            let r = request(
                a,
                "PUT",
                &format!("{base}/web/scale"),
                &[JSON],
                &s.to_string(),
            )
            .await;
            if r.status != 409 {
                assert_eq!(r.status, 200);
                return s;
            }
        }
    })
    .await;
    // The same Scale again: its resourceVersion is stale now.
    let r = request(
        a,
        "PUT",
        &format!("{base}/web/scale"),
        &[JSON],
        &s.to_string(),
    )
    .await;
    assert_eq!(r.status, 409);
    let r = request(
        a,
        "PATCH",
        &format!("{base}/web/scale"),
        &[MERGE],
        r#"{"spec":{"replicas":-3}}"#,
    )
    .await;
    assert_eq!(r.status, 422);
    let d = get(a, &format!("{base}/web")).await.json();
    assert_eq!(d["spec"]["replicas"], 4);
    assert_eq!(d["metadata"]["generation"], 3);

    // Writes to the main resource keep the status; the status subresource changes only it.
    let r = request(
        a,
        "PATCH",
        &format!("{base}/web/status"),
        &[MERGE],
        r#"{"spec":{"replicas":9},"status":{"observedGeneration":42}}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"]["observedGeneration"], 42);
    assert_eq!(r.json()["spec"]["replicas"], 4);
}
