//! The ReplicaSet controller: pods `<replicaset>-<rand5>` follow `spec.replicas`. Terminating
//! pods do not count (a replacement is created at once, as Kubernetes does); on scale-down
//! unready pods go first, then the newest.

use super::NODE_NAME;
use super::{int, is_available, is_ready, is_terminating, owner_ref, set_count, Controller};
use crate::meta;
use crate::resource::{PODS, REPLICA_SETS};
use crate::store::Subresource;
use serde_json::{json, Value};

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
