//! The controller manager: a Deployment controller (`deployment`: one ReplicaSet per pod
//! template, rolling updates with `maxSurge`/`maxUnavailable` or `Recreate`, arithmetic in
//! `strategy` and `scaling`), a ReplicaSet controller (`replicaset`: pods follow `spec.replicas`, terminating
//! pods do not count, a scale-down deletes in Kubernetes' order with the pod-deletion cost), a kubelet stand-in (`kubelet`: pods turn Running and Ready after their
//! start-up delay; terminating pods are removed when their grace period ends) and the Events
//! the real components emit. Statuses are kept true as they are in a cluster. Every delay is in
//! cluster time and runs `1 / time_scale` as fast on the wall clock ([`Clock`]).
//!
//! It reconciles everything after each batch of changes; every write that changes nothing is a
//! no-op in the store, so the loop settles. Pod events are derived from the store's change
//! history, so listeners see them in the order the changes happened.

mod deployment;
mod kubelet;
mod pod_event;
mod replicaset;
mod scaling;
mod strategy;

pub use kubelet::{NODE_NAME, POD_IP};
pub use pod_event::{PodEvent, PodEventKind};

use crate::meta;
use crate::resource::{DEPLOYMENTS, EVENTS, PODS, REPLICA_SETS};
use crate::selector::{FieldSelector, LabelSelector};
use crate::startup::StartupRules;
use crate::store::{ChangeType, Store};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// Cluster time to wall time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    /// Cluster seconds per wall second.
    scale: f64,
}

/// The longest wall-clock delay kubesim waits (so that huge delays cannot overflow an Instant).
const MAX_WAIT: Duration = Duration::from_secs(10 * 365 * 86_400);

impl Clock {
    /// A clock running `scale` cluster seconds per wall second (> 0, checked by the caller).
    pub(crate) fn new(scale: f64) -> Self {
        Self { scale }
    }

    /// The cluster seconds that `wall` of wall-clock time is.
    pub(crate) fn cluster(self, wall: Duration) -> f64 {
        wall.as_secs_f64() * self.scale
    }

    /// The wall-clock time that `secs` cluster seconds take.
    pub(crate) fn wall(self, secs: f64) -> Duration {
        Duration::try_from_secs_f64(secs.max(0.0) / self.scale)
            .unwrap_or(MAX_WAIT)
            .min(MAX_WAIT)
    }
}

/// Completes once `stop` is true (or its sender is gone), holding no borrow across awaits.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

/// A terminating pod the kubelet stand-in will remove.
struct Termination {
    /// When kubesim first saw it terminating.
    since: Instant,
    /// Its `deletionGracePeriodSeconds` (cluster seconds; may shrink on a later delete).
    grace: f64,
}

/// Records a core/v1 Event of `kind` (`Normal` or `Warning`) about `obj`, as a component of
/// the control plane writes one; best effort.
pub(crate) fn record_event(
    store: &Store,
    obj: &Value,
    kind: &str,
    reason: &str,
    message: String,
    component: &str,
) {
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
        "reason": reason, "message": message, "type": kind,
        "source": {"component": component},
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        "reportingComponent": component, "reportingInstance": "",
    });
    if let Err(e) = store.create(&EVENTS, meta::namespace(obj), ev, false) {
        tracing::debug!(error = %e, "event not recorded");
    }
}

/// The controller task.
pub(crate) struct Controller {
    store: Arc<Store>,
    clock: Clock,
    startup: StartupRules,
    pods_tx: broadcast::Sender<PodEvent>,
    /// Pending pods (by uid) and when they become ready.
    pending: HashMap<String, Instant>,
    /// Terminating pods (by uid).
    terminating: HashMap<String, Termination>,
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

fn is_terminating(obj: &Value) -> bool {
    crate::store::is_terminating(obj)
}

/// Ready and not terminating: what counts as available (`minReadySeconds` is not modelled).
fn is_available(pod: &Value) -> bool {
    is_ready(pod) && !is_terminating(pod)
}

/// Sets non-zero counters and drops zero ones, as the API's `omitempty` fields show them.
fn set_count(status: &mut Map<String, Value>, field: &str, n: i64) {
    if n == 0 {
        status.remove(field);
    } else {
        status.insert(field.into(), json!(n));
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
        clock: Clock,
        startup: StartupRules,
        pods_tx: broadcast::Sender<PodEvent>,
    ) -> Self {
        Self {
            store,
            clock,
            startup,
            pods_tx,
            pending: HashMap::new(),
            terminating: HashMap::new(),
            last_event_gc: Instant::now(),
        }
    }

    /// Reconciles after every batch of changes, and when a pod is due to start or to be
    /// removed, until `stop` turns true.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut rv_rx = self.store.subscribe();
        let mut cursor = self.store.resource_version();
        loop {
            self.observe(&mut cursor);
            self.reconcile();
            self.observe(&mut cursor);
            let next = self.next_timer();
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

    /// The earliest pod start or removal.
    fn next_timer(&self) -> Option<Instant> {
        let removals = self
            .terminating
            .values()
            .map(|t| t.since + self.clock.wall(t.grace));
        self.pending.values().copied().chain(removals).min()
    }

    fn send(&self, kind: PodEventKind, pod: &Value) {
        let _ = self.pods_tx.send(PodEvent {
            kind,
            pod: pod.clone(),
        });
    }

    /// Turns the pod changes since `cursor` into pod events, in order.
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
            if !std::ptr::eq(c.resource, &PODS) {
                continue;
            }
            let pod = &*c.object;
            match c.kind {
                ChangeType::Added => self.send(PodEventKind::Created, pod),
                ChangeType::Modified => {
                    let prev = c.previous.as_deref().unwrap_or(&Value::Null);
                    if is_available(pod) && !is_available(prev) {
                        self.send(PodEventKind::Started, pod);
                    }
                    if is_terminating(pod) && !is_terminating(prev) {
                        self.send(PodEventKind::Terminating, pod);
                        for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
                            let name = c["name"].as_str().unwrap_or_default();
                            self.event(
                                pod,
                                "Killing",
                                format!("Stopping container {name}"),
                                "kubelet",
                            );
                        }
                    }
                }
                ChangeType::Deleted => {
                    self.pending.remove(meta::uid_of(pod));
                    self.terminating.remove(meta::uid_of(pod));
                    self.send(PodEventKind::Stopped, pod);
                }
            }
        }
    }

    fn list(&self, rt: &'static crate::resource::ResourceType) -> Vec<Arc<Value>> {
        self.store
            .list(
                rt,
                None,
                &LabelSelector::default(),
                &FieldSelector::default(),
            )
            .0
    }

    fn reconcile(&mut self) {
        for d in &self.list(&DEPLOYMENTS) {
            self.sync_deployment(d);
        }
        for rs in &self.list(&REPLICA_SETS) {
            self.sync_pods(rs);
        }
        self.run_pods();
        for rs in &self.list(&REPLICA_SETS) {
            self.rs_status(rs);
        }
        for d in &self.list(&DEPLOYMENTS) {
            self.deployment_status(d);
        }
        if self.last_event_gc.elapsed() > Duration::from_secs(60) {
            self.last_event_gc = Instant::now();
            self.expire_events();
        }
    }

    /// Deletes Events last seen more than [`EVENT_TTL_SECS`] ago.
    fn expire_events(&self) {
        let cutoff = meta::now_secs() - EVENT_TTL_SECS;
        for e in self.list(&EVENTS) {
            // A repeated Event (a series) was last seen at its last observation.
            let last = e["series"]["lastObservedTime"]
                .as_str()
                .or(e["lastTimestamp"].as_str())
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
        record_event(&self.store, obj, "Normal", reason, message, component);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn controller(store: &Arc<Store>) -> Controller {
        let (tx, _) = broadcast::channel(4);
        let startup = StartupRules::new(&[], Duration::ZERO).unwrap();
        Controller::new(store.clone(), Clock::new(1.0), startup, tx)
    }

    #[test]
    fn old_events_expire() {
        let store = Arc::new(Store::new(100));
        let mut c = controller(&store);
        for (name, age) in [("old", 7200), ("new", 10)] {
            let t = meta::rfc3339(meta::now_secs() - age);
            let ev = json!({"metadata": {"name": name}, "involvedObject": {"kind": "Pod"},
                            "reason": "R", "lastTimestamp": t});
            store.create(&EVENTS, "default", ev, false).unwrap();
        }
        // A series first seen long ago but observed again recently is kept.
        let (old, recent) = (
            meta::rfc3339(meta::now_secs() - 7200),
            meta::rfc3339(meta::now_secs() - 10),
        );
        let series = json!({"metadata": {"name": "series"}, "involvedObject": {"kind": "Pod"},
            "reason": "R", "eventTime": old, "series": {"count": 2, "lastObservedTime": recent}});
        store.create(&EVENTS, "default", series, false).unwrap();
        c.reconcile();
        assert!(
            store.get(&EVENTS, "default", "old").is_ok(),
            "not yet: once a minute"
        );
        c.last_event_gc = Instant::now() - Duration::from_secs(61);
        c.reconcile();
        assert!(store.get(&EVENTS, "default", "old").is_err());
        assert!(store.get(&EVENTS, "default", "new").is_ok());
        assert!(store.get(&EVENTS, "default", "series").is_ok());
    }

    #[test]
    fn helpers() {
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
        let clock = Clock::new(5.0);
        assert_eq!(clock.wall(10.0), Duration::from_secs(2));
        assert_eq!(clock.wall(-1.0), Duration::ZERO);
        assert_eq!(Clock::new(1e-300).wall(1e300), MAX_WAIT);
    }
}
