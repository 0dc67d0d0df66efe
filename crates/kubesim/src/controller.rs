//! The tiny controller manager: a Deployment controller (one ReplicaSet per pod template,
//! named `<deployment>-<pod-template-hash>`, old ones scaled to zero at once), a ReplicaSet
//! controller (pods `<replicaset>-<rand5>` follow `spec.replicas`, unready then newest deleted
//! first), a kubelet stand-in (pods turn Running and Ready after the configured delay) and the
//! Events the real components emit. Statuses (`replicas`, `readyReplicas`, `updatedReplicas`,
//! `availableReplicas`, `observedGeneration`, conditions `Available` and `Progressing`) are kept
//! true as they are in a cluster.
//!
//! It reconciles everything after each batch of changes; every write that changes nothing is a
//! no-op in the store, so the loop settles.

use crate::meta;
use crate::resource::{DEPLOYMENTS, EVENTS, PODS, REPLICA_SETS};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{ChangeType, Store, Subresource};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// Node name every pod is bound to.
pub const NODE_NAME: &str = "kubesim-node";

/// IP address every pod gets (the emulated servers listen on loopback).
pub const POD_IP: &str = "127.0.0.1";

/// What happened to a pod, for in-process listeners such as the vLLM emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodEventKind {
    /// The pod became Running and Ready.
    Started,
    /// The pod was deleted (after having started, or while still pending).
    Stopped,
}

/// A pod lifecycle event from [`crate::Kubesim::pod_events`].
#[derive(Debug, Clone)]
pub struct PodEvent {
    /// Started or stopped.
    pub kind: PodEventKind,
    /// The pod object at that moment.
    pub pod: Value,
}

impl PodEvent {
    /// `metadata.namespace` of the pod.
    pub fn namespace(&self) -> &str {
        meta::namespace(&self.pod)
    }

    /// `metadata.name` of the pod.
    pub fn name(&self) -> &str {
        meta::name(&self.pod)
    }

    /// A label of the pod (e.g. `inferno.server.name`).
    pub fn label(&self, key: &str) -> Option<&str> {
        meta::labels(&self.pod).get(key).and_then(Value::as_str)
    }

    /// The name of the Deployment that owns the pod through its ReplicaSet, if any.
    pub fn deployment(&self) -> Option<&str> {
        let rs = self.pod["metadata"]["ownerReferences"]
            .as_array()?
            .iter()
            .find(|r| r["kind"] == "ReplicaSet")?["name"]
            .as_str()?;
        let hash = self.label("pod-template-hash")?;
        rs.strip_suffix(hash)?.strip_suffix('-')
    }
}

/// Completes once `stop` is true (or its sender is gone), holding no borrow across awaits.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// The controller task.
pub(crate) struct Controller {
    store: Arc<Store>,
    ready_delay: Duration,
    pods_tx: broadcast::Sender<PodEvent>,
    /// Pending pods (by uid) and when they become ready.
    pending: HashMap<String, Instant>,
    /// When Events older than [`EVENT_TTL_SECS`] were last removed.
    last_event_gc: Instant,
}

/// How long Events are kept (the API server's default `--event-ttl`).
const EVENT_TTL_SECS: i64 = 3600;

fn owner_ref(obj: &Value, kind: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": kind, "name": meta::name(obj),
           "uid": meta::uid_of(obj), "controller": true, "blockOwnerDeletion": true})
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Sets non-zero counters and drops zero ones, as the API's `omitempty` fields show them.
fn set_count(status: &mut Map<String, Value>, field: &str, n: i64) {
    if n == 0 {
        status.remove(field);
    } else {
        status.insert(field.into(), json!(n));
    }
}

/// Resolves an int-or-percent (`1`, `"25%"`) against `total`, rounding down.
fn int_or_percent(v: &Value, total: i64, default_pct: i64) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i64>().ok())
            .map_or(0, |p| total * p / 100),
        _ => total * default_pct / 100,
    }
}

/// A condition that keeps its timestamps while its status (and reason) do not change.
fn condition(old: &[Value], kind: &str, status: bool, reason: &str, message: &str) -> Value {
    let now = meta::now();
    let status = if status { "True" } else { "False" };
    let prev = old.iter().find(|c| c["type"] == kind);
    let same_status = prev.is_some_and(|p| p["status"] == status);
    let same_reason =
        same_status && prev.is_some_and(|p| p["reason"] == reason && p["message"] == message);
    let keep = |field: &str, keep: bool| match prev {
        Some(p) if keep => p[field].clone(),
        _ => json!(now),
    };
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastUpdateTime": keep("lastUpdateTime", same_reason),
           "lastTransitionTime": keep("lastTransitionTime", same_status)})
}

impl Controller {
    pub(crate) fn new(
        store: Arc<Store>,
        ready_delay: Duration,
        pods_tx: broadcast::Sender<PodEvent>,
    ) -> Self {
        Self {
            store,
            ready_delay,
            pods_tx,
            pending: HashMap::new(),
            last_event_gc: Instant::now(),
        }
    }

    /// Reconciles after every batch of changes until `stop` turns true.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut rv_rx = self.store.subscribe();
        let mut cursor = self.store.resource_version();
        loop {
            self.observe(&mut cursor);
            self.reconcile();
            let next = self.pending.values().min().copied();
            tokio::select! {
                changed = rv_rx.changed() => if changed.is_err() { return },
                () = async {
                    match next {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                } => {}
                () = stopped(&mut stop) => return,
            }
        }
    }

    /// Announces deleted pods.
    fn observe(&mut self, cursor: &mut u64) {
        let changes = match self.store.changes_since(*cursor) {
            Ok(c) => c,
            Err(_) => {
                *cursor = self.store.resource_version();
                return;
            }
        };
        for c in changes {
            *cursor = c.rv;
            if std::ptr::eq(c.resource, &PODS) && c.kind == ChangeType::Deleted {
                self.pending.remove(meta::uid_of(&c.object));
                let _ = self.pods_tx.send(PodEvent {
                    kind: PodEventKind::Stopped,
                    pod: (*c.object).clone(),
                });
            }
        }
    }

    fn reconcile(&mut self) {
        let all = LabelSelector::default();
        let no_fields = FieldSelector::default();
        let (deployments, _) = self.store.list(&DEPLOYMENTS, None, &all, &no_fields);
        for d in &deployments {
            self.sync_replica_sets(d);
        }
        let (replica_sets, _) = self.store.list(&REPLICA_SETS, None, &all, &no_fields);
        for rs in &replica_sets {
            self.sync_pods(rs);
        }
        self.run_pods();
        let (replica_sets, _) = self.store.list(&REPLICA_SETS, None, &all, &no_fields);
        for rs in &replica_sets {
            self.rs_status(rs);
        }
        let (deployments, _) = self.store.list(&DEPLOYMENTS, None, &all, &no_fields);
        for d in &deployments {
            self.deployment_status(d);
        }
        if self.last_event_gc.elapsed() > Duration::from_secs(60) {
            self.last_event_gc = Instant::now();
            self.expire_events();
        }
    }

    /// Deletes Events last seen more than [`EVENT_TTL_SECS`] ago.
    fn expire_events(&self) {
        let (events, _) = self.store.list(
            &EVENTS,
            None,
            &LabelSelector::default(),
            &FieldSelector::default(),
        );
        let cutoff = meta::now_secs() - EVENT_TTL_SECS;
        for e in events {
            let last = e["lastTimestamp"]
                .as_str()
                .or(e["eventTime"].as_str())
                .unwrap_or(meta::meta_str(&e, "creationTimestamp"));
            if meta::parse_rfc3339(last).is_some_and(|t| t < cutoff) {
                let _ = self.store.delete(
                    &EVENTS,
                    meta::namespace(&e),
                    meta::name(&e),
                    &Default::default(),
                );
            }
        }
    }

    fn event(&self, obj: &Value, reason: &str, message: String, component: &str) {
        let now = meta::now();
        let name = format!("{}.{:016x}", meta::name(obj), meta::random_u64());
        let ev = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": meta::namespace(obj)},
            "involvedObject": {
                "apiVersion": obj["apiVersion"], "kind": obj["kind"],
                "namespace": meta::namespace(obj), "name": meta::name(obj),
                "uid": meta::uid_of(obj),
                "resourceVersion": meta::meta_str(obj, "resourceVersion"),
            },
            "reason": reason, "message": message, "type": "Normal",
            "source": {"component": component},
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            "reportingComponent": component, "reportingInstance": "",
        });
        if let Err(e) = self.store.create(&EVENTS, meta::namespace(obj), ev, false) {
            tracing::debug!(error = %e, "event not recorded");
        }
    }

    fn owned(&self, rt: &'static crate::resource::ResourceType, owner: &Value) -> Vec<Arc<Value>> {
        let (items, _) = self.store.list(
            rt,
            Some(meta::namespace(owner)),
            &LabelSelector::default(),
            &FieldSelector::default(),
        );
        let uid = meta::uid_of(owner);
        items
            .into_iter()
            .filter(|o| meta::owned_by(o, uid))
            .collect()
    }

    /// Deployment controller: the ReplicaSet of the current template gets `spec.replicas`,
    /// every older one zero.
    fn sync_replica_sets(&self, d: &Value) {
        let (ns, name) = (meta::namespace(d), meta::name(d));
        let replicas = int(&d["spec"]["replicas"]);
        let template = &d["spec"]["template"];
        let hash = meta::template_hash(template);
        let owned = self.owned(&REPLICA_SETS, d);
        let current = owned
            .iter()
            .find(|rs| meta::labels(rs).get("pod-template-hash") == Some(&json!(hash)));
        let revision = |rs: &Value| {
            rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()
                .and_then(|r| r.parse::<i64>().ok())
                .unwrap_or(0)
        };
        let current_revision = match current {
            Some(rs) => {
                let had = int(&rs["spec"]["replicas"]);
                if had != replicas {
                    self.scale_rs(d, rs, had, replicas);
                }
                revision(rs)
            }
            None => {
                let rev = owned.iter().map(|rs| revision(rs)).max().unwrap_or(0) + 1;
                let mut t = template.clone();
                t["metadata"]["labels"]["pod-template-hash"] = json!(hash);
                let mut selector = d["spec"]["selector"].clone();
                selector["matchLabels"]["pod-template-hash"] = json!(hash);
                let rs_name = format!("{name}-{hash}");
                let rs = json!({
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {
                        "name": rs_name, "namespace": ns,
                        "labels": t["metadata"]["labels"],
                        "annotations": {
                            "deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                            "deployment.kubernetes.io/max-replicas": replicas.to_string(),
                            "deployment.kubernetes.io/revision": rev.to_string(),
                        },
                        "ownerReferences": [owner_ref(d, "Deployment")],
                    },
                    "spec": {"replicas": replicas, "selector": selector, "template": t,
                             "minReadySeconds": d["spec"]["minReadySeconds"].as_i64().unwrap_or(0)},
                });
                match self.store.create(&REPLICA_SETS, ns, rs, false) {
                    Ok(_) => self.event(
                        d,
                        "ScalingReplicaSet",
                        format!("Scaled up replica set {rs_name} from 0 to {replicas}"),
                        "deployment-controller",
                    ),
                    Err(e) => tracing::warn!(error = %e, rs = rs_name, "cannot create replica set"),
                }
                rev
            }
        };
        for rs in &owned {
            let is_current = current.is_some_and(|c| meta::uid_of(c) == meta::uid_of(rs));
            let had = int(&rs["spec"]["replicas"]);
            if !is_current && had != 0 {
                self.scale_rs(d, rs, had, 0);
            }
        }
        let rev = current_revision.to_string();
        if d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] != rev.as_str() {
            let _ = self
                .store
                .modify(&DEPLOYMENTS, ns, name, Subresource::Main, false, |o| {
                    let md = meta::metadata_mut(o);
                    let ann = md.entry("annotations").or_insert_with(|| json!({}));
                    ann["deployment.kubernetes.io/revision"] = json!(rev);
                    Ok(())
                });
        }
    }

    fn scale_rs(&self, d: &Value, rs: &Value, from: i64, to: i64) {
        let (ns, rs_name) = (meta::namespace(rs), meta::name(rs));
        let res = self
            .store
            .modify(&REPLICA_SETS, ns, rs_name, Subresource::Main, false, |o| {
                o["spec"]["replicas"] = json!(to);
                let ann = meta::metadata_mut(o)
                    .entry("annotations")
                    .or_insert_with(|| json!({}));
                ann["deployment.kubernetes.io/desired-replicas"] =
                    json!(int(&d["spec"]["replicas"]).to_string());
                ann["deployment.kubernetes.io/max-replicas"] =
                    json!(int(&d["spec"]["replicas"]).to_string());
                Ok(())
            });
        if res.is_ok() {
            let dir = if to > from { "up" } else { "down" };
            self.event(
                d,
                "ScalingReplicaSet",
                format!("Scaled {dir} replica set {rs_name} from {from} to {to}"),
                "deployment-controller",
            );
        }
    }

    /// ReplicaSet controller: create or delete pods until the count matches.
    fn sync_pods(&self, rs: &Value) {
        let ns = meta::namespace(rs);
        let want = int(&rs["spec"]["replicas"]).max(0) as usize;
        let mut pods = self.owned(&PODS, rs);
        if pods.len() < want {
            let template = &rs["spec"]["template"];
            for _ in pods.len()..want {
                let pod_name = format!("{}-{}", meta::name(rs), meta::random_suffix());
                let mut spec = template["spec"].clone();
                spec["nodeName"] = json!(NODE_NAME);
                let mut md = json!({"name": pod_name, "namespace": ns,
                                    "ownerReferences": [owner_ref(rs, "ReplicaSet")]});
                for field in ["labels", "annotations"] {
                    if template["metadata"][field].is_object() {
                        md[field] = template["metadata"][field].clone();
                    }
                }
                let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": md,
                                 "spec": spec});
                match self.store.create(&PODS, ns, pod, false) {
                    Ok(p) => {
                        self.event(
                            rs,
                            "SuccessfulCreate",
                            format!("Created pod: {pod_name}"),
                            "replicaset-controller",
                        );
                        self.event(
                            &p,
                            "Scheduled",
                            format!("Successfully assigned {ns}/{pod_name} to {NODE_NAME}"),
                            "default-scheduler",
                        );
                    }
                    Err(e) => tracing::warn!(error = %e, pod = pod_name, "cannot create pod"),
                }
            }
        } else if pods.len() > want {
            // Unready pods go first, then the newest.
            pods.sort_by_key(|p| {
                (
                    is_ready(p),
                    std::cmp::Reverse(meta::meta_str(p, "creationTimestamp").to_string()),
                    std::cmp::Reverse(meta::resource_version(p)),
                )
            });
            for p in pods.iter().take(pods.len() - want) {
                let pod_name = meta::name(p);
                if self
                    .store
                    .delete(&PODS, ns, pod_name, &Default::default())
                    .is_ok()
                {
                    self.event(
                        rs,
                        "SuccessfulDelete",
                        format!("Deleted pod: {pod_name}"),
                        "replicaset-controller",
                    );
                }
            }
        }
    }

    fn rs_status(&self, rs: &Value) {
        let pods = self.owned(&PODS, rs);
        let ready = pods.iter().filter(|p| is_ready(p)).count() as i64;
        let gen = rs["metadata"]["generation"].clone();
        let _ = self.store.modify(
            &REPLICA_SETS,
            meta::namespace(rs),
            meta::name(rs),
            Subresource::Status,
            false,
            |o| {
                let mut st = o["status"].as_object().cloned().unwrap_or_default();
                st.insert("replicas".into(), json!(pods.len()));
                set_count(&mut st, "fullyLabeledReplicas", pods.len() as i64);
                set_count(&mut st, "readyReplicas", ready);
                set_count(&mut st, "availableReplicas", ready);
                st.insert("observedGeneration".into(), gen);
                o["status"] = Value::Object(st);
                Ok(())
            },
        );
    }

    /// Kubelet stand-in: pending pods are scheduled at once and run after the delay.
    fn run_pods(&mut self) {
        let (pods, _) = self.store.list(
            &PODS,
            None,
            &LabelSelector::default(),
            &FieldSelector::default(),
        );
        let now = Instant::now();
        for p in pods {
            let phase = p["status"]["phase"].as_str().unwrap_or("Pending");
            if phase != "Pending" {
                continue;
            }
            let uid = meta::uid_of(&p).to_string();
            let due = match self.pending.get(&uid) {
                Some(t) => *t,
                None => {
                    let t = now + self.ready_delay;
                    self.pending.insert(uid.clone(), t);
                    self.schedule(&p);
                    t
                }
            };
            if due <= now {
                self.pending.remove(&uid);
                self.start(&p);
            }
        }
    }

    fn container_statuses(p: &Value, running: bool) -> Vec<Value> {
        let now = meta::now();
        p["spec"]["containers"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        let state = if running {
                            json!({"running": {"startedAt": now}})
                        } else {
                            json!({"waiting": {"reason": "ContainerCreating"}})
                        };
                        let mut s = json!({"name": c["name"], "image": c["image"],
                            "imageID": "", "ready": running, "started": running,
                            "restartCount": 0, "state": state, "lastState": {}});
                        if running {
                            s["containerID"] =
                                json!(format!("kubesim://{:016x}", meta::random_u64()));
                        }
                        s
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn schedule(&self, p: &Value) {
        let now = meta::now();
        let statuses = Self::container_statuses(p, false);
        let _ = self.store.modify(
            &PODS,
            meta::namespace(p),
            meta::name(p),
            Subresource::Status,
            false,
            |o| {
                o["status"] = json!({
                    "phase": "Pending", "qosClass": "BestEffort",
                    "hostIP": POD_IP, "hostIPs": [{"ip": POD_IP}], "startTime": now,
                    "conditions": [
                        {"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                         "lastTransitionTime": now},
                    ],
                    "containerStatuses": statuses,
                });
                Ok(())
            },
        );
    }

    fn start(&self, p: &Value) {
        let now = meta::now();
        let statuses = Self::container_statuses(p, true);
        let started = p["status"]["startTime"]
            .as_str()
            .map_or_else(|| now.clone(), str::to_string);
        let res = self.store.modify(
            &PODS,
            meta::namespace(p),
            meta::name(p),
            Subresource::Status,
            false,
            |o| {
                let cond = |t: &str| {
                    json!({"type": t, "status": "True", "lastProbeTime": null,
                                        "lastTransitionTime": now})
                };
                o["status"] = json!({
                    "phase": "Running", "qosClass": "BestEffort",
                    "hostIP": POD_IP, "hostIPs": [{"ip": POD_IP}],
                    "podIP": POD_IP, "podIPs": [{"ip": POD_IP}], "startTime": started,
                    "conditions": [cond("PodReadyToStartContainers"), cond("Initialized"),
                                   cond("Ready"), cond("ContainersReady"), cond("PodScheduled")],
                    "containerStatuses": statuses,
                });
                Ok(())
            },
        );
        if let Ok(pod) = res {
            for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
                let name = c["name"].as_str().unwrap_or_default();
                self.event(
                    &pod,
                    "Started",
                    format!("Started container {name}"),
                    "kubelet",
                );
            }
            tracing::debug!(
                namespace = meta::namespace(&pod),
                pod = meta::name(&pod),
                "pod started"
            );
            let _ = self.pods_tx.send(PodEvent {
                kind: PodEventKind::Started,
                pod,
            });
        }
    }

    fn deployment_status(&self, d: &Value) {
        let owned = self.owned(&REPLICA_SETS, d);
        let hash = meta::template_hash(&d["spec"]["template"]);
        let current = owned
            .iter()
            .find(|rs| meta::labels(rs).get("pod-template-hash") == Some(&json!(hash)));
        let sum = |field: &str| {
            owned
                .iter()
                .map(|rs| int(&rs["status"][field]))
                .sum::<i64>()
        };
        let replicas = sum("replicas");
        let ready = sum("readyReplicas");
        let available = sum("availableReplicas");
        let updated = current.map_or(0, |rs| int(&rs["status"]["replicas"]));
        let desired = int(&d["spec"]["replicas"]);
        let max_unavailable = if d["spec"]["strategy"]["type"] == "Recreate" {
            0
        } else {
            int_or_percent(
                &d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
                desired,
                25,
            )
        };
        let rs_name = current.map_or_else(String::new, |rs| meta::name(rs).to_string());
        let complete = updated == desired && replicas == desired && available == desired;
        let old_conditions = d["status"]["conditions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let available_ok = available >= desired - max_unavailable;
        let conditions = vec![
            if available_ok {
                condition(
                    &old_conditions,
                    "Available",
                    true,
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.",
                )
            } else {
                condition(
                    &old_conditions,
                    "Available",
                    false,
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.",
                )
            },
            if complete {
                condition(
                    &old_conditions,
                    "Progressing",
                    true,
                    "NewReplicaSetAvailable",
                    &format!("ReplicaSet {rs_name:?} has successfully progressed."),
                )
            } else {
                condition(
                    &old_conditions,
                    "Progressing",
                    true,
                    "ReplicaSetUpdated",
                    &format!("ReplicaSet {rs_name:?} is progressing."),
                )
            },
        ];
        let gen = d["metadata"]["generation"].clone();
        let _ = self.store.modify(
            &DEPLOYMENTS,
            meta::namespace(d),
            meta::name(d),
            Subresource::Status,
            false,
            |o| {
                let mut st = Map::new();
                st.insert("observedGeneration".into(), gen);
                set_count(&mut st, "replicas", replicas);
                set_count(&mut st, "updatedReplicas", updated);
                set_count(&mut st, "readyReplicas", ready);
                set_count(&mut st, "availableReplicas", available);
                set_count(&mut st, "unavailableReplicas", (desired - available).max(0));
                st.insert("conditions".into(), json!(conditions));
                o["status"] = Value::Object(st);
                Ok(())
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_events_expire() {
        let store = Arc::new(Store::new(100));
        let (tx, _) = broadcast::channel(4);
        let mut c = Controller::new(store.clone(), Duration::ZERO, tx);
        for (name, age) in [("old", 7200), ("new", 10)] {
            let t = meta::rfc3339(meta::now_secs() - age);
            let ev = json!({"metadata": {"name": name}, "involvedObject": {"kind": "Pod"},
                            "reason": "R", "lastTimestamp": t});
            store.create(&EVENTS, "default", ev, false).unwrap();
        }
        c.reconcile();
        assert!(
            store.get(&EVENTS, "default", "old").is_ok(),
            "not yet: once a minute"
        );
        c.last_event_gc = Instant::now() - Duration::from_secs(61);
        c.reconcile();
        assert!(store.get(&EVENTS, "default", "old").is_err());
        assert!(store.get(&EVENTS, "default", "new").is_ok());
    }

    #[test]
    fn helpers() {
        assert_eq!(int_or_percent(&json!("25%"), 4, 25), 1);
        assert_eq!(int_or_percent(&json!("25%"), 3, 25), 0);
        assert_eq!(int_or_percent(&json!(2), 3, 25), 2);
        assert_eq!(int_or_percent(&Value::Null, 8, 25), 2);
        let c = condition(&[], "Available", true, "R", "m");
        let again = condition(std::slice::from_ref(&c), "Available", true, "R", "m");
        assert_eq!(c, again);
        let flipped = condition(&[c], "Available", false, "R2", "m2");
        assert_eq!(flipped["status"], "False");
        let ev = PodEvent {
            kind: PodEventKind::Started,
            pod: json!({"metadata": {"name": "web-abc-xyz12",
                "labels": {"pod-template-hash": "abc"},
                "ownerReferences": [{"kind": "ReplicaSet", "name": "web-abc"}]}}),
        };
        assert_eq!(ev.deployment(), Some("web"));
        assert_eq!(ev.name(), "web-abc-xyz12");
    }
}
