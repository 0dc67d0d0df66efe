//! The ReplicaSet controller: pods `<replicaset>-<rand5>` follow `spec.replicas`. Terminating
//! pods do not count (a replacement is created at once, as Kubernetes does); on scale-down
//! pods go in Kubernetes' order ([`deletion_order`]): unready ones first, then the lowest
//! `controller.kubernetes.io/pod-deletion-cost`, then the newest.

use super::NODE_NAME;
use super::{int, is_available, is_ready, is_terminating, owner_ref, set_count, Controller};
use crate::meta;
use crate::resource::{PODS, REPLICA_SETS};
use crate::store::Subresource;
use serde_json::{json, Value};
use std::cmp::Reverse;
use std::sync::Arc;

/// The annotation by which a pod's owner tells the ReplicaSet controller what deleting it costs
/// (lower goes first on a scale-down).
pub(crate) const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// A pod's `controller.kubernetes.io/pod-deletion-cost`: a 32-bit integer, 0 when absent or not
/// one, as the ReplicaSet controller reads it (it ignores the parse error and uses 0).
fn deletion_cost(pod: &Value) -> i32 {
    pod["metadata"]["annotations"][POD_DELETION_COST]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Sorts `pods` in the order a scale-down deletes them, following the ranks of Kubernetes'
/// `ActivePodsWithRanks` that kubesim models (every pod is on the one node and Running once
/// ready): not ready before ready, then the lower pod-deletion cost, then the newer
/// (`creationTimestamp`, then `resourceVersion`: the timestamp has whole seconds).
pub(crate) fn deletion_order(pods: &mut [Arc<Value>]) {
    pods.sort_by_key(|p| {
        (
            is_ready(p),
            deletion_cost(p),
            Reverse(meta::meta_str(p, "creationTimestamp").to_string()),
            Reverse(meta::resource_version(p)),
        )
    });
}

impl Controller {
    /// Creates or deletes pods until the active (not terminating) ones match the replicas.
    pub(super) fn sync_pods(&self, rs: &Value) {
        let ns = meta::namespace(rs);
        let want = int(&rs["spec"]["replicas"]).max(0) as usize;
        let mut pods: Vec<_> = self
            .owned(&PODS, rs)
            .into_iter()
            .filter(|p| !is_terminating(p))
            .collect();
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
            deletion_order(&mut pods);
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

    /// `status.replicas` and friends, counting only pods that are not terminating.
    pub(super) fn rs_status(&self, rs: &Value) {
        let pods: Vec<_> = self
            .owned(&PODS, rs)
            .into_iter()
            .filter(|p| !is_terminating(p))
            .collect();
        let ready = pods.iter().filter(|p| is_available(p)).count() as i64;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::Clock;
    use crate::startup::StartupRules;
    use crate::store::Store;
    use std::time::Duration;
    use tokio::sync::broadcast;

    /// A pod named `name`, created at second `created`, Ready or not, with `cost` as its
    /// pod-deletion-cost annotation (none when None).
    fn pod(name: &str, created: i64, ready: bool, cost: Option<&str>) -> Value {
        let mut p = json!({
            "metadata": {"name": name, "creationTimestamp": meta::rfc3339(created)},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        });
        if let Some(c) = cost {
            p["metadata"]["annotations"] = json!({ POD_DELETION_COST: c });
        }
        p
    }

    fn names(pods: &[Arc<Value>]) -> Vec<&str> {
        pods.iter().map(|p| meta::name(p)).collect()
    }

    #[test]
    fn costs_are_int32_and_anything_else_is_zero() {
        for (raw, cost) in [
            ("5", 5),
            ("-3", -3),
            ("+7", 7),
            ("2147483647", i32::MAX),
            ("-2147483648", i32::MIN),
            ("2147483648", 0),
            ("1.5", 0),
            (" 4", 0),
            ("", 0),
            ("lots", 0),
        ] {
            assert_eq!(
                deletion_cost(&pod("p", 0, true, Some(raw))),
                cost,
                "{raw:?}"
            );
        }
        assert_eq!(deletion_cost(&pod("p", 0, true, None)), 0);
        let not_a_string = json!({"metadata": {"annotations": {POD_DELETION_COST: 3}}});
        assert_eq!(deletion_cost(&not_a_string), 0);
    }

    /// Kubernetes' ranks: unready first whatever the cost, then the lowest cost (an invalid one
    /// is 0), then the newest. Before: the cost was ignored, so the newest ready pod went even
    /// when its owner said it was the most expensive to lose.
    #[test]
    fn unready_first_then_lowest_cost_then_newest() {
        let mut pods: Vec<Arc<Value>> = [
            pod("old-busy", 100, true, Some("40")),
            pod("new-busy", 300, true, Some("40")),
            pod("idle", 200, true, Some("1")),
            pod("no-cost", 150, true, None),
            pod("invalid", 140, true, Some("x")),
            pod("negative", 50, true, Some("-5")),
            pod("starting", 400, false, Some("1000")),
        ]
        .into_iter()
        .map(Arc::new)
        .collect();
        deletion_order(&mut pods);
        assert_eq!(
            names(&pods),
            ["starting", "negative", "no-cost", "invalid", "idle", "new-busy", "old-busy"]
        );
    }

    /// Through the controller: a ReplicaSet scaled from 3 to 2 deletes its cheapest pod, the
    /// oldest here (without the annotation the newest would go).
    #[test]
    fn a_scale_down_deletes_the_cheapest_pod() {
        let store = Arc::new(Store::new(100));
        let (tx, _) = broadcast::channel(4);
        let startup = StartupRules::new(&[], Duration::ZERO).unwrap();
        let c = Controller::new(store.clone(), Clock::new(1.0), startup, tx);
        let containers = json!([{"name": "app", "image": "app:1"}]);
        let rs = json!({"metadata": {"name": "web-abc"}, "spec": {"replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": containers}}}});
        let rs = store.create(&REPLICA_SETS, "default", rs, false).unwrap();
        // Created in this order (the store stamps creationTimestamp; the resourceVersion orders
        // pods created within one second).
        for (name, cost) in [("oldest", "0"), ("middle", "9"), ("newest", "5")] {
            let mut p = pod(name, 0, true, Some(cost));
            p["metadata"]["ownerReferences"] = json!([owner_ref(&rs, "ReplicaSet")]);
            p["spec"] = json!({"containers": containers});
            store.create(&PODS, "default", p, false).unwrap();
        }
        let scaled = store
            .modify(
                &REPLICA_SETS,
                "default",
                "web-abc",
                Subresource::Main,
                false,
                |o| {
                    o["spec"]["replicas"] = json!(2);
                    Ok(())
                },
            )
            .unwrap();
        c.sync_pods(&scaled);
        let mut left = names(&c.owned(&PODS, &rs))
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        left.sort();
        assert_eq!(left, ["middle", "newest"]);
    }
}
