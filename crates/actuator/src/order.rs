//! Which pods a scale-down removes. The ReplicaSet controller deletes a Deployment's unready
//! pods first, then the ones with the lowest `controller.kubernetes.io/pod-deletion-cost`
//! annotation (an int32, 0 when absent). Before lowering a Deployment's replicas the actuator
//! sets each pod's cost to its outstanding requests (from the request's `pod_loads`), so the
//! least loaded pods go and the fewest requests have to drain. [`costs`] is the pure choice;
//! `apply` lists the pods and patches them.

use inferno_core::PodLoad;
use k8s_openapi::api::core::v1::Pod;
use std::collections::BTreeMap;

/// The annotation the ReplicaSet controller ranks pods by on a scale-down (lower goes first).
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The cost of a ready pod whose load is unknown (not in the request's loads: it turned ready
/// after the collection, or its metrics could not be read): the highest, so it goes last. A pod
/// of unknown load may be busy; deleting one known to be idle costs less.
pub const UNKNOWN_LOAD_COST: i32 = i32::MAX;

/// What the choice needs of one of the Deployment's pods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodState {
    /// Pod name.
    pub name: String,
    /// Whether its Ready condition is True.
    pub ready: bool,
    /// Its pod-deletion-cost annotation as it is (None when it has none).
    pub cost: Option<String>,
}

impl PodState {
    /// Reads a pod; None for a terminating pod (it is already going: its cost no longer
    /// matters).
    pub fn from_pod(pod: &Pod) -> Option<Self> {
        if pod.metadata.deletion_timestamp.is_some() {
            return None;
        }
        let ready = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        Some(Self {
            name: pod.metadata.name.clone().unwrap_or_default(),
            ready,
            cost: pod
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(POD_DELETION_COST))
                .cloned(),
        })
    }
}

/// The cost of a pod with `outstanding` requests: the rounded count, in `[0,
/// UNKNOWN_LOAD_COST - 1]` so that a pod of unknown load stays last; None when the count is not
/// a finite number (the load is then unknown).
pub fn cost_of(outstanding: f64) -> Option<i32> {
    outstanding.is_finite().then(|| {
        outstanding
            .round()
            .clamp(0.0, f64::from(UNKNOWN_LOAD_COST - 1)) as i32
    })
}

/// The pod-deletion-cost to write on each pod whose annotation is not already that value, in
/// the order of `pods`: a pod in `loads` gets [`cost_of`] its outstanding requests; a ready pod
/// not in them (or with a load that is not a number) gets [`UNKNOWN_LOAD_COST`]; an unready pod
/// not in them is left as it is (Kubernetes deletes unready pods first whatever their cost).
pub fn costs(pods: &[PodState], loads: &[PodLoad]) -> Vec<(String, i32)> {
    let known: BTreeMap<&str, Option<i32>> = loads
        .iter()
        .map(|l| (l.pod.as_str(), cost_of(l.outstanding)))
        .collect();
    pods.iter()
        .filter_map(|p| {
            let cost = match known.get(p.name.as_str()).copied().flatten() {
                Some(c) => c,
                None if p.ready => UNKNOWN_LOAD_COST,
                None => return None,
            };
            let current = p.cost.as_deref().and_then(|c| c.parse::<i32>().ok());
            (current != Some(cost)).then(|| (p.name.clone(), cost))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ready: bool, cost: Option<&str>) -> PodState {
        PodState {
            name: name.into(),
            ready,
            cost: cost.map(String::from),
        }
    }

    fn load(pod: &str, outstanding: f64) -> PodLoad {
        PodLoad {
            pod: pod.into(),
            outstanding,
            ..PodLoad::default()
        }
    }

    #[test]
    fn the_cost_is_the_rounded_load_below_the_unknown_cost() {
        assert_eq!(cost_of(0.0), Some(0));
        assert_eq!(cost_of(2.4), Some(2));
        assert_eq!(cost_of(2.5), Some(3));
        assert_eq!(cost_of(-1.0), Some(0));
        assert_eq!(cost_of(1e12), Some(UNKNOWN_LOAD_COST - 1));
        assert_eq!(cost_of(f64::NAN), None);
        assert_eq!(cost_of(f64::INFINITY), None);
    }

    #[test]
    fn loaded_pods_cost_their_load_and_unknown_ready_ones_the_most() {
        let pods = [
            pod("busy", true, None),
            pod("idle", true, Some("7")),
            pod("late", true, None),
            pod("starting", false, Some("3")),
            pod("nan", true, None),
            pod("same", true, Some("4")),
            pod("bad", true, Some("x")),
        ];
        let loads = [
            load("busy", 11.6),
            load("idle", 0.2),
            load("nan", f64::NAN),
            load("same", 4.0),
            load("bad", 1.0),
            load("gone", 3.0),
        ];
        assert_eq!(
            costs(&pods, &loads),
            [
                ("busy".to_string(), 12),
                ("idle".to_string(), 0),
                ("late".to_string(), UNKNOWN_LOAD_COST),
                ("nan".to_string(), UNKNOWN_LOAD_COST),
                ("bad".to_string(), 1),
            ],
            "an unready pod without a load and a pod already right are left; a listed pod \
             that is gone is no pod"
        );
    }

    #[test]
    fn reads_a_pod() {
        let p: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-1", "annotations": {POD_DELETION_COST: "5"}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        assert_eq!(PodState::from_pod(&p), Some(pod("web-1", true, Some("5"))));
        let mut unready = p;
        unready.status = None;
        assert!(!PodState::from_pod(&unready).unwrap().ready);
        let terminating: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web-2", "deletionTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        assert_eq!(PodState::from_pod(&terminating), None);
    }
}
