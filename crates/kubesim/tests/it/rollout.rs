//! Deployment rollouts with Kubernetes' semantics, observed through every store change: a
//! rolling update never has more than replicas + maxSurge pods (terminating ones aside) nor
//! fewer than replicas - maxUnavailable ready ones; Recreate never has old and new pods at
//! once; a rollback re-uses the old ReplicaSet; a replicas change mid-rollout is shared in
//! proportion; invalid strategies are refused.

use super::common::{bounded, deployment, eventually, request, server};
use kubesim::resource::{DEPLOYMENTS, EVENTS, PODS, REPLICA_SETS};
use kubesim::{ChangeType, FieldSelector, LabelSelector, PatchType, Subresource};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The pods of one Deployment, kept up to date change by change from the store's history.
struct Pods {
    app: String,
    cursor: u64,
    pods: BTreeMap<String, Value>,
}

impl Pods {
    fn new(k: &kubesim::Kubesim, app: &str) -> Self {
        let (items, rv) = k.store().list(
            &PODS,
            Some("default"),
            &LabelSelector::parse(&format!("app={app}")).unwrap(),
            &FieldSelector::default(),
        );
        Self {
            app: app.to_string(),
            cursor: rv,
            pods: items
                .iter()
                .map(|p| (name(p).to_string(), (**p).clone()))
                .collect(),
        }
    }

    /// Applies the changes since the last call one by one, calling `check` after each with
    /// the change and the pods at that point.
    fn advance(&mut self, k: &kubesim::Kubesim, mut check: impl FnMut(&kubesim::Change, &Self)) {
        for c in k.store().changes_since(self.cursor).expect("history kept") {
            self.cursor = c.rv;
            let ours = c.object["metadata"]["namespace"] == "default"
                && c.object["metadata"]["labels"]["app"] == self.app.as_str();
            if std::ptr::eq(c.resource, &PODS) && ours {
                let key = name(&c.object).to_string();
                match c.kind {
                    ChangeType::Deleted => {
                        self.pods.remove(&key);
                    }
                    _ => {
                        self.pods.insert(key, (*c.object).clone());
                    }
                }
            }
            check(&c, self);
        }
    }

    /// Pods not terminating.
    fn active(&self) -> impl Iterator<Item = &Value> {
        self.pods
            .values()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
    }

    fn ready(&self) -> usize {
        self.active().filter(|p| ready(p)).count()
    }
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or_default()
}

fn ready(p: &Value) -> bool {
    p["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn image(p: &Value) -> &str {
    p["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default()
}

fn hash(o: &Value) -> &str {
    o["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .unwrap_or_default()
}

fn set_image(k: &kubesim::Kubesim, app: &str, image: &str) {
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": image}]}}}});
    k.store()
        .patch(
            &DEPLOYMENTS,
            "default",
            app,
            PatchType::Strategic,
            &patch,
            Subresource::Main,
            false,
        )
        .unwrap();
}

async fn wait_rolled_out(k: &kubesim::Kubesim, app: &str, replicas: i64) -> Value {
    eventually("rolled out", || {
        let d = k.store().get(&DEPLOYMENTS, "default", app).unwrap();
        let st = &d["status"];
        let done = st["updatedReplicas"] == replicas
            && st["availableReplicas"] == replicas
            && st["replicas"] == replicas
            && st["observedGeneration"] == d["metadata"]["generation"]
            && st["conditions"][1]["reason"] == "NewReplicaSetAvailable";
        done.then_some(d)
    })
    .await
}

fn replica_sets(k: &kubesim::Kubesim, app: &str) -> Vec<Value> {
    k.store()
        .list(
            &REPLICA_SETS,
            Some("default"),
            &LabelSelector::parse(&format!("app={app}")).unwrap(),
            &FieldSelector::default(),
        )
        .0
        .iter()
        .map(|rs| (**rs).clone())
        .collect()
}

/// Creates `app` with the strategy, rolls it from img:1 to img:2 and checks at every change
/// that at least `bounds.0` pods are ready and at most `bounds.1` not terminating; the
/// rollout must use its surge and run old and new pods side by side.
async fn roll(
    k: &kubesim::Kubesim,
    app: &str,
    replicas: i64,
    surge: Value,
    unavailable: Value,
    bounds: (usize, usize),
) {
    let mut d = deployment(app, replicas);
    d["spec"]["strategy"] = json!({"type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}});
    k.store().create(&DEPLOYMENTS, "default", d, false).unwrap();
    wait_rolled_out(k, app, replicas).await;
    let (min_ready, max_active) = bounds;
    let mut pods = Pods::new(k, app);
    assert_eq!(pods.ready(), replicas as usize);
    set_image(k, app, "img:2");
    let mut most = 0;
    let mut mixed = false;
    // Woken by every store change rather than polled.
    let mut changed = k.store().subscribe();
    bounded(&format!("{app} rolls"), async {
        loop {
            changed.borrow_and_update();
            let mut done = false;
            pods.advance(k, |c, p| {
                let active = p.active().count();
                assert!(
                    p.ready() >= min_ready,
                    "{app}: {} ready after rv {}: {:#?}",
                    p.ready(),
                    c.rv,
                    p.pods
                );
                assert!(
                    active <= max_active,
                    "{app}: {active} pods after rv {}",
                    c.rv
                );
                most = most.max(active);
                let images: std::collections::BTreeSet<&str> = p.active().map(image).collect();
                mixed |= images.len() > 1;
                done = p.pods.len() == replicas as usize
                    && p.pods.values().all(|p| image(p) == "img:2" && ready(p));
            });
            if done {
                return;
            }
            changed
                .changed()
                .await
                .expect("the store outlives the test");
        }
    })
    .await;
    assert!(
        mixed,
        "{app}: old and new pods should overlap in a rolling update"
    );
    assert_eq!(most, max_active, "{app}: the surge is used");
    wait_rolled_out(k, app, replicas).await;
}

#[tokio::test]
async fn rolling_updates_respect_surge_and_unavailability() {
    let k = server().await;
    // maxSurge 1, maxUnavailable 0: never below 3 ready, never above 4 pods.
    roll(&k, "surge", 3, json!(1), json!(0), (3, 4)).await;
    // maxSurge 0, maxUnavailable 1: never above 3 pods, never below 2 ready.
    roll(&k, "unavail", 3, json!(0), json!(1), (2, 3)).await;
    // Percentages: of 4, surge 50 % rounds up to 2, unavailable 30 % down to 1.
    roll(&k, "pct", 4, json!("50%"), json!("30%"), (3, 6)).await;

    let d = k.store().get(&DEPLOYMENTS, "default", "surge").unwrap();
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "2"
    );
    let rs = replica_sets(&k, "surge");
    assert_eq!(rs.len(), 2);
    let new = rs.iter().find(|r| r["spec"]["replicas"] == 3).unwrap();
    let events = k
        .store()
        .list(
            &EVENTS,
            Some("default"),
            &LabelSelector::default(),
            &FieldSelector::default(),
        )
        .0;
    let scaled_up = format!("Scaled up replica set {} from 0 to 1", name(new));
    assert!(
        events.iter().any(|e| e["message"] == scaled_up.as_str()),
        "{scaled_up}"
    );
    assert_eq!(
        new["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"],
        "4"
    );
}

#[tokio::test]
async fn rollback_reuses_the_old_replica_set() {
    let k = server().await;
    k.store()
        .create(&DEPLOYMENTS, "default", deployment("web", 2), false)
        .unwrap();
    wait_rolled_out(&k, "web", 2).await;
    let first = replica_sets(&k, "web").remove(0);
    set_image(&k, "web", "img:2");
    wait_rolled_out(&k, "web", 2).await;
    set_image(&k, "web", "img:1");
    let d = wait_rolled_out(&k, "web", 2).await;
    let rs = replica_sets(&k, "web");
    assert_eq!(rs.len(), 2, "no third ReplicaSet");
    let back = rs.iter().find(|r| name(r) == name(&first)).unwrap();
    assert_eq!(back["spec"]["replicas"], 2);
    assert_eq!(hash(back), hash(&first));
    assert_eq!(
        back["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
}

#[tokio::test]
async fn recreate_never_mixes_old_and_new_pods() {
    let k = server().await;
    let mut d = deployment("web", 2);
    d["spec"]["strategy"] = json!({"type": "Recreate"});
    k.store().create(&DEPLOYMENTS, "default", d, false).unwrap();
    wait_rolled_out(&k, "web", 2).await;
    let mut pods = Pods::new(&k, "web");
    let old_hash = hash(pods.pods.values().next().unwrap()).to_string();
    set_image(&k, "web", "img:2");
    let mut saw_terminating = false;
    let mut new_rs_created = false;
    let mut changed = k.store().subscribe();
    bounded("recreated", async {
        loop {
            changed.borrow_and_update();
            let mut done = false;
            pods.advance(&k, |c, p| {
                let hashes: std::collections::BTreeSet<&str> = p.pods.values().map(hash).collect();
                assert!(
                    hashes.len() <= 1,
                    "old and new pods at rv {}: {hashes:?}",
                    c.rv
                );
                saw_terminating |= p.pods.len() > p.active().count();
                let new_rs = std::ptr::eq(c.resource, &REPLICA_SETS)
                    && c.kind == ChangeType::Added
                    && c.object["metadata"]["labels"]["app"] == "web";
                if new_rs {
                    new_rs_created = true;
                    assert!(p.pods.is_empty(), "new ReplicaSet while old pods remain");
                }
                done =
                    p.pods.len() == 2 && p.pods.values().all(|p| hash(p) != old_hash && ready(p));
            });
            if done {
                return;
            }
            changed
                .changed()
                .await
                .expect("the store outlives the test");
        }
    })
    .await;
    assert!(new_rs_created && saw_terminating);
    wait_rolled_out(&k, "web", 2).await;
}

fn scaled_to(k: &kubesim::Kubesim, rs: &Value) -> i64 {
    k.store().get(&REPLICA_SETS, "default", name(rs)).unwrap()["spec"]["replicas"]
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn replicas_change_mid_rollout_scales_proportionally() {
    let k = server().await;
    let mut d = deployment("web", 2);
    d["spec"]["strategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}});
    k.store().create(&DEPLOYMENTS, "default", d, false).unwrap();
    wait_rolled_out(&k, "web", 2).await;
    let old = replica_sets(&k, "web").remove(0);
    // The new pods never start, so the rollout stops at 2 old + 1 new.
    let patch = json!({"spec": {"template": {
        "metadata": {"annotations": {kubesim::STARTUP_ANNOTATION: "1e9"}},
        "spec": {"containers": [{"name": "c", "image": "img:2"}]}}}});
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
    let new = eventually("the surge pod", || {
        replica_sets(&k, "web")
            .into_iter()
            .find(|rs| name(rs) != name(&old) && rs["status"]["replicas"] == 1)
    })
    .await;
    // 4 replicas + surge 1 = 5, shared 3:2 as the ReplicaSets were 2:1 of 3.
    let scale = json!({"spec": {"replicas": 4}});
    k.store()
        .patch(
            &DEPLOYMENTS,
            "default",
            "web",
            PatchType::Merge,
            &scale,
            Subresource::Main,
            false,
        )
        .unwrap();
    eventually("scaled in proportion", || {
        (scaled_to(&k, &old) == 3 && scaled_to(&k, &new) == 2).then_some(())
    })
    .await;
    let events: Vec<String> = k
        .store()
        .list(
            &EVENTS,
            Some("default"),
            &LabelSelector::default(),
            &FieldSelector::default(),
        )
        .0
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    let up = format!("Scaled up replica set {} from 2 to 3", name(&old));
    assert!(events.contains(&up), "{events:?}");

    // A new template and a new count at once: the one active ReplicaSet is resized first,
    // then rolled over.
    let mut d = deployment("both", 2);
    d["spec"]["strategy"] = json!({"type": "Recreate"});
    k.store().create(&DEPLOYMENTS, "default", d, false).unwrap();
    wait_rolled_out(&k, "both", 2).await;
    let first = replica_sets(&k, "both").remove(0);
    let patch = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
        {"name": "c", "image": "img:2"}]}}}});
    k.store()
        .patch(
            &DEPLOYMENTS,
            "default",
            "both",
            PatchType::Strategic,
            &patch,
            Subresource::Main,
            false,
        )
        .unwrap();
    wait_rolled_out(&k, "both", 3).await;
    let events: Vec<String> = k
        .store()
        .list(
            &EVENTS,
            Some("default"),
            &LabelSelector::default(),
            &FieldSelector::default(),
        )
        .0
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    for m in [
        format!("Scaled up replica set {} from 2 to 3", name(&first)),
        format!("Scaled down replica set {} from 3 to 0", name(&first)),
    ] {
        assert!(events.contains(&m), "{m}: {events:?}");
    }
}

#[tokio::test]
async fn invalid_strategies_are_refused() {
    let k = server().await;
    let mut d = deployment("web", 2);
    d["spec"]["strategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}});
    let r = request(
        k.addr(),
        "POST",
        "/apis/apps/v1/namespaces/default/deployments",
        &[("Content-Type", "application/json")],
        &d.to_string(),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.json()["message"],
        "Deployment.apps \"web\" is invalid: spec.strategy.rollingUpdate.maxUnavailable: \
         Invalid value: 0: may not be 0 when `maxSurge` is 0"
    );
    d["spec"]["strategy"] = json!({"type": "Recreate", "rollingUpdate": {"maxSurge": 1}});
    let e = k
        .store()
        .create(&DEPLOYMENTS, "default", d, false)
        .unwrap_err();
    assert_eq!(e.code, 422);
}
