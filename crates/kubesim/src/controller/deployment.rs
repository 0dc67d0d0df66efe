//! The Deployment controller: one ReplicaSet per pod template, `<deployment>-<hash>`, rolled
//! out as the strategy says (see `strategy`), old ReplicaSets kept for rollbacks (a template
//! seen before re-uses its ReplicaSet) up to `revisionHistoryLimit`, and the status and
//! conditions clients wait on.

use super::scaling;
use super::strategy::{self, RsState, Strategy};
use super::{condition, int, is_available, owner_ref, set_count, Controller};
use crate::meta;
use crate::resource::{ResourceType, DEPLOYMENTS, PODS, REPLICA_SETS};
use crate::store::Subresource;
use serde_json::{json, Map, Value};
use std::sync::Arc;

const REVISION: &str = "deployment.kubernetes.io/revision";
const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
const MAX: &str = "deployment.kubernetes.io/max-replicas";

fn revision(rs: &Value) -> i64 {
    rs["metadata"]["annotations"][REVISION]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn hash_of(rs: &Value) -> Option<&str> {
    meta::labels(rs).get("pod-template-hash")?.as_str()
}

impl Controller {
    /// The Deployment's ReplicaSets, oldest first: the one of the current template, and the
    /// others.
    fn replica_sets(&self, d: &Value) -> (Option<Arc<Value>>, Vec<Arc<Value>>) {
        let hash = meta::template_hash(&d["spec"]["template"]);
        let mut owned = self.owned(&REPLICA_SETS, d);
        owned.sort_by(|a, b| {
            let key = |rs: &Value| {
                (
                    meta::meta_str(rs, "creationTimestamp").to_string(),
                    meta::name(rs).to_string(),
                )
            };
            key(a).cmp(&key(b))
        });
        let (new, old): (Vec<_>, Vec<_>) = owned
            .into_iter()
            .partition(|rs| hash_of(rs) == Some(hash.as_str()));
        (new.into_iter().next(), old)
    }

    fn rs_state(&self, rs: &Value) -> RsState {
        let annotation = |key: &str| {
            rs["metadata"]["annotations"][key]
                .as_str()
                .and_then(|v| v.parse().ok())
        };
        RsState {
            desired_annotation: annotation(DESIRED),
            max_annotation: annotation(MAX),
            replicas: int(&rs["spec"]["replicas"]),
            available: self
                .owned(&PODS, rs)
                .iter()
                .filter(|p| is_available(p))
                .count() as i64,
        }
    }

    /// One sync: a scaling event (replicas changed) only resizes the active ReplicaSets;
    /// otherwise the rollout goes as far as the strategy allows now.
    pub(super) fn sync_deployment(&self, d: &Value) {
        let desired = int(&d["spec"]["replicas"]);
        let strategy = Strategy::of(d);
        let (new, old) = self.replica_sets(d);
        let new_state = new.as_deref().map(|rs| self.rs_state(rs));
        let old_states: Vec<RsState> = old.iter().map(|rs| self.rs_state(rs)).collect();
        let scaling = scaling::is_scaling_event(desired, new_state.as_ref(), &old_states);
        let status_replicas = int(&d["status"]["replicas"]);
        let plan = match strategy {
            _ if scaling => {
                scaling::scale(desired, strategy, status_replicas, new_state, &old_states)
            }
            Strategy::Rolling {
                max_surge,
                max_unavailable,
            } => strategy::rolling(desired, max_surge, max_unavailable, new_state, &old_states),
            Strategy::Recreate => {
                let old_pods = old.iter().any(|rs| !self.owned(&PODS, rs).is_empty());
                strategy::recreate(desired, new_state, &old_states, old_pods)
            }
        };
        let max_old_revision = old.iter().map(|rs| revision(rs)).max().unwrap_or(0);
        let max_replicas = desired + strategy.max_surge();
        let new_revision = match (new, plan.new) {
            (None, Some(n)) => self.create_rs(d, n, max_old_revision + 1, max_replicas),
            (None, None) => None,
            (Some(rs), n) => {
                let had = int(&rs["spec"]["replicas"]);
                if let Some(n) = n.filter(|n| *n != had || (scaling && had > 0)) {
                    self.scale_rs(d, &rs, had, n, max_replicas);
                }
                // A rollback: the re-used ReplicaSet becomes the newest revision.
                let mut rev = revision(&rs);
                if rev <= max_old_revision {
                    rev = max_old_revision + 1;
                    self.set_revision(&rs, rev);
                }
                Some(rev)
            }
        };
        for (rs, n) in old.iter().zip(&plan.old) {
            let had = int(&rs["spec"]["replicas"]);
            // A scaling event also records the new count on the ReplicaSets it keeps.
            if had != *n || (scaling && had > 0) {
                self.scale_rs(d, rs, had, *n, max_replicas);
            }
        }
        if let Some(rev) = new_revision {
            self.set_deployment_revision(d, rev);
        }
        let complete = !scaling && plan.new == Some(desired) && plan.old.iter().all(|n| *n == 0);
        if complete {
            self.clean_up_history(d, &old);
        }
    }

    fn create_rs(&self, d: &Value, replicas: i64, rev: i64, max_replicas: i64) -> Option<i64> {
        let (ns, name) = (meta::namespace(d), meta::name(d));
        let hash = meta::template_hash(&d["spec"]["template"]);
        let mut t = d["spec"]["template"].clone();
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
                    DESIRED: int(&d["spec"]["replicas"]).to_string(),
                    MAX: max_replicas.to_string(),
                    REVISION: rev.to_string(),
                },
                "ownerReferences": [owner_ref(d, "Deployment")],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": t,
                     "minReadySeconds": d["spec"]["minReadySeconds"].as_i64().unwrap_or(0)},
        });
        match self.store.create(&REPLICA_SETS, ns, rs, false) {
            Ok(_) => {
                if replicas > 0 {
                    self.event(
                        d,
                        "ScalingReplicaSet",
                        format!("Scaled up replica set {rs_name} from 0 to {replicas}"),
                        "deployment-controller",
                    );
                }
                Some(rev)
            }
            Err(e) => {
                tracing::warn!(error = %e, rs = rs_name, "cannot create replica set");
                None
            }
        }
    }

    fn scale_rs(&self, d: &Value, rs: &Value, from: i64, to: i64, max_replicas: i64) {
        let (ns, rs_name) = (meta::namespace(rs), meta::name(rs));
        let res = self
            .store
            .modify(&REPLICA_SETS, ns, rs_name, Subresource::Main, false, |o| {
                o["spec"]["replicas"] = json!(to);
                let ann = meta::metadata_mut(o)
                    .entry("annotations")
                    .or_insert_with(|| json!({}));
                ann[DESIRED] = json!(int(&d["spec"]["replicas"]).to_string());
                ann[MAX] = json!(max_replicas.to_string());
                Ok(())
            });
        if res.is_ok() && from != to {
            let dir = if to > from { "up" } else { "down" };
            self.event(
                d,
                "ScalingReplicaSet",
                format!("Scaled {dir} replica set {rs_name} from {from} to {to}"),
                "deployment-controller",
            );
        }
    }

    fn set_revision(&self, rs: &Value, rev: i64) {
        self.annotate_revision(&REPLICA_SETS, rs, rev);
    }

    fn set_deployment_revision(&self, d: &Value, rev: i64) {
        if d["metadata"]["annotations"][REVISION] == rev.to_string().as_str() {
            return;
        }
        self.annotate_revision(&DEPLOYMENTS, d, rev);
    }

    /// Sets the revision annotation of a Deployment or ReplicaSet.
    fn annotate_revision(&self, rt: &'static ResourceType, obj: &Value, rev: i64) {
        let _ = self.store.modify(
            rt,
            meta::namespace(obj),
            meta::name(obj),
            Subresource::Main,
            false,
            |o| {
                let ann = meta::metadata_mut(o)
                    .entry("annotations")
                    .or_insert_with(|| json!({}));
                ann[REVISION] = json!(rev.to_string());
                Ok(())
            },
        );
    }

    /// Deletes the oldest empty old ReplicaSets beyond `revisionHistoryLimit`.
    fn clean_up_history(&self, d: &Value, old: &[Arc<Value>]) {
        let limit = d["spec"]["revisionHistoryLimit"]
            .as_i64()
            .unwrap_or(10)
            .max(0) as usize;
        if old.len() <= limit {
            return;
        }
        let mut by_revision: Vec<&Arc<Value>> = old.iter().collect();
        by_revision.sort_by_key(|rs| revision(rs));
        for rs in by_revision.iter().take(old.len() - limit) {
            if int(&rs["spec"]["replicas"]) == 0 && self.owned(&PODS, rs).is_empty() {
                let _ = self.store.delete(
                    &REPLICA_SETS,
                    meta::namespace(rs),
                    meta::name(rs),
                    &Default::default(),
                );
            }
        }
    }

    /// Status and conditions, from the ReplicaSets' (which count no terminating pod).
    pub(super) fn deployment_status(&self, d: &Value) {
        let (new, old) = self.replica_sets(d);
        let all: Vec<&Arc<Value>> = new.iter().chain(old.iter()).collect();
        let sum = |field: &str| all.iter().map(|rs| int(&rs["status"][field])).sum::<i64>();
        let replicas = sum("replicas");
        let ready = sum("readyReplicas");
        let available = sum("availableReplicas");
        let wanted: i64 = all.iter().map(|rs| int(&rs["spec"]["replicas"])).sum();
        let updated = new.as_ref().map_or(0, |rs| int(&rs["status"]["replicas"]));
        let desired = int(&d["spec"]["replicas"]);
        let max_unavailable = Strategy::of(d).max_unavailable();
        let rs_name = new
            .as_ref()
            .map_or_else(String::new, |rs| meta::name(rs).to_string());
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
                set_count(&mut st, "unavailableReplicas", (wanted - available).max(0));
                st.insert("conditions".into(), json!(conditions));
                o["status"] = Value::Object(st);
                Ok(())
            },
        );
    }
}
