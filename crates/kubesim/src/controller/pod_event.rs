//! Pod lifecycle events for in-process listeners (the vLLM emulator, the benchmark).

use crate::meta;
use serde_json::Value;

/// What happened to a pod. Each pod goes `Created`, then `Started` once it is Running and
/// Ready, then `Terminating` if it is deleted while running, then `Stopped` when the object
/// is gone; a pod deleted before it started goes straight from `Created` to `Stopped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodEventKind {
    /// The pod object was created (Pending).
    Created,
    /// The pod became Running and Ready.
    Started,
    /// The pod was marked for deletion (`metadata.deletionTimestamp` set, Ready turned False):
    /// stop routing to it and drain; its grace period runs.
    Terminating,
    /// The pod object was removed (after its grace period, a delete with
    /// `gracePeriodSeconds=0`, or at once when it had not started).
    Stopped,
}

/// A pod lifecycle event from [`crate::Kubesim::pod_events`].
#[derive(Debug, Clone)]
pub struct PodEvent {
    /// What happened.
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
