//! Graceful deletion, as the API server and the kubelet do it. A Running pod is not removed at
//! once: it gets `deletionTimestamp` and `deletionGracePeriodSeconds`, its Ready and
//! ContainersReady conditions turn False (clients stop routing to it) and it is removed when
//! the grace period ends (the controller's kubelet stand-in deletes it then with a zero grace
//! period) or when a later delete asks for `gracePeriodSeconds=0`. A pending pod is removed at
//! once. A namespace whose pods are still terminating stays `Terminating`, refusing new
//! content, until the last of them is gone.

use super::{key, Inner, Propagation};
use crate::meta;
use crate::resource::{self, ResourceType, NAMESPACES, PODS};
use serde_json::{json, Value};

/// The grace period of a pod without `spec.terminationGracePeriodSeconds` (the API default).
const DEFAULT_GRACE_SECONDS: i64 = 30;

/// Whether an object has been marked for deletion.
pub(crate) fn is_terminating(obj: &Value) -> bool {
    !meta::meta_str(obj, "deletionTimestamp").is_empty()
}

impl Inner {
    /// The wall-clock time (RFC 3339) `grace` cluster seconds after `from` (epoch seconds).
    fn after(&self, from: f64, grace: i64) -> String {
        meta::rfc3339((from + grace as f64 / self.time_scale).ceil() as i64)
    }

    /// Marks a pod terminating, or shortens its grace period; `None` when it must be removed
    /// now (not running, a zero grace period, or gone already).
    pub(super) fn terminate_pod(
        &mut self,
        ns: &str,
        name: &str,
        grace: Option<i64>,
    ) -> Option<Value> {
        let old = self.get(&PODS, ns, name).ok()?;
        // As the API server does: a negative grace period means one second.
        let grace = grace.map(|g| if g < 0 { 1 } else { g });
        if is_terminating(&old) {
            let current = old["metadata"]["deletionGracePeriodSeconds"]
                .as_i64()
                .unwrap_or(0);
            return match grace {
                Some(0) => None,
                _ if current <= 0 => None,
                // Only a shorter grace period counts, measured from the first deletion.
                Some(g) if g < current => {
                    let started = meta::parse_rfc3339(meta::meta_str(&old, "deletionTimestamp"))
                        .map_or_else(meta::now_secs_f64, |t| {
                            t as f64 - current as f64 / self.time_scale
                        });
                    let mut new = (*old).clone();
                    let md = meta::metadata_mut(&mut new);
                    md.insert("deletionTimestamp".into(), json!(self.after(started, g)));
                    md.insert("deletionGracePeriodSeconds".into(), json!(g));
                    Some((*self.put(&PODS, ns, name, &old, new)).clone())
                }
                _ => Some((*old).clone()),
            };
        }
        let grace = grace
            .or_else(|| old["spec"]["terminationGracePeriodSeconds"].as_i64())
            .unwrap_or(DEFAULT_GRACE_SECONDS)
            .max(0);
        if grace == 0 || old["status"]["phase"] != "Running" {
            return None;
        }
        let now = meta::now();
        let mut new = (*old).clone();
        let md = meta::metadata_mut(&mut new);
        md.insert(
            "deletionTimestamp".into(),
            json!(self.after(meta::now_secs_f64(), grace)),
        );
        md.insert("deletionGracePeriodSeconds".into(), json!(grace));
        let containers: Vec<String> = new["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect();
        for c in new["status"]["conditions"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            if (c["type"] == "Ready" || c["type"] == "ContainersReady") && c["status"] != "False" {
                c["status"] = json!("False");
                c["reason"] = json!("ContainersNotReady");
                c["message"] = json!(format!(
                    "containers with unready status: [{}]",
                    containers.join(" ")
                ));
                c["lastTransitionTime"] = json!(now);
            }
        }
        for cs in new["status"]["containerStatuses"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            cs["ready"] = json!(false);
        }
        Some((*self.put(&PODS, ns, name, &old, new)).clone())
    }

    /// The objects in namespace `ns`.
    fn contents(&self, ns: &str) -> Vec<(&'static ResourceType, String)> {
        let mut out = Vec::new();
        // Each stored type once (a second version of a type holds nothing of its own).
        let stored = resource::ALL
            .iter()
            .copied()
            .filter(|r| r.namespaced && std::ptr::eq(resource::storage(r), *r));
        for rt in stored {
            if let Some(objects) = self.objects.get(&key(rt)) {
                out.extend(
                    objects
                        .keys()
                        .filter(|(o_ns, _)| o_ns == ns)
                        .map(|(_, name)| (rt, name.clone())),
                );
            }
        }
        out
    }

    /// Deletes everything in a namespace; removes it when nothing is left, else marks it
    /// `Terminating` until its last pod is gone.
    pub(super) fn delete_namespace(&mut self, name: &str) -> Value {
        let Ok(old) = self.get(&NAMESPACES, "", name) else {
            return Value::Null;
        };
        if is_terminating(&old) {
            return (*old).clone();
        }
        for (rt, obj) in self.contents(name) {
            self.delete(rt, name, &obj, None, Propagation::Background);
        }
        if self.contents(name).is_empty() {
            return self.remove(&NAMESPACES, "", name, Propagation::Background);
        }
        let mut new = (*old).clone();
        meta::metadata_mut(&mut new).insert("deletionTimestamp".into(), json!(meta::now()));
        new["status"]["phase"] = json!("Terminating");
        (*self.put(&NAMESPACES, "", name, &old, new)).clone()
    }

    /// Removes namespace `ns` if it is terminating and empty.
    pub(super) fn finish_namespace(&mut self, ns: &str) {
        let terminating = self
            .get(&NAMESPACES, "", ns)
            .is_ok_and(|n| is_terminating(&n));
        if terminating && self.contents(ns).is_empty() {
            self.remove(&NAMESPACES, "", ns, Propagation::Background);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::resource::{CONFIGMAPS, NAMESPACES, PODS};
    use crate::store::{DeleteOptions, Store, Subresource};
    use crate::ChangeType;
    use serde_json::{json, Value};

    fn store() -> Store {
        let s = Store::new(100);
        s.set_graceful_termination(true, 1.0);
        s
    }

    fn pod(s: &Store, ns: &str, name: &str, phase: &str, grace: Option<i64>) -> Value {
        let mut spec = json!({"containers": [{"name": "c", "image": "i:1"}]});
        if let Some(g) = grace {
            spec["terminationGracePeriodSeconds"] = json!(g);
        }
        let p = json!({"metadata": {"name": name}, "spec": spec});
        s.create(&PODS, ns, p, false).unwrap();
        let ready = phase == "Running";
        let status = json!({"phase": phase, "conditions": [
            {"type": "Ready", "status": if ready { "True" } else { "False" }},
            {"type": "ContainersReady", "status": if ready { "True" } else { "False" }},
            {"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [{"name": "c", "ready": ready}]});
        s.update(
            &PODS,
            ns,
            name,
            json!({"status": status}),
            Subresource::Status,
            false,
        )
        .unwrap()
    }

    fn grace(g: i64) -> DeleteOptions {
        DeleteOptions {
            grace_period_seconds: Some(g),
            ..Default::default()
        }
    }

    fn condition<'a>(p: &'a Value, kind: &str) -> &'a Value {
        p["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == kind)
            .unwrap()
    }

    #[test]
    fn running_pods_terminate_pending_ones_go_at_once() {
        let s = store();
        pod(&s, "default", "run", "Running", Some(60));
        pod(&s, "default", "wait", "Pending", None);
        let before = s.resource_version();
        let out = s
            .delete(&PODS, "default", "run", &DeleteOptions::default())
            .unwrap();
        assert_eq!(out["metadata"]["deletionGracePeriodSeconds"], 60);
        let stored = s.get(&PODS, "default", "run").unwrap();
        assert_eq!(stored, out);
        let deadline =
            crate::meta::parse_rfc3339(stored["metadata"]["deletionTimestamp"].as_str().unwrap())
                .unwrap();
        assert!(deadline >= crate::meta::now_secs() + 59, "{stored}");
        for kind in ["Ready", "ContainersReady"] {
            assert_eq!(condition(&stored, kind)["status"], "False", "{kind}");
        }
        assert_eq!(condition(&stored, "PodScheduled")["status"], "True");
        assert_eq!(stored["status"]["containerStatuses"][0]["ready"], false);
        assert_eq!(stored["status"]["phase"], "Running");
        let changes = s.changes_since(before).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, ChangeType::Modified);

        // A longer grace period does not extend it; a shorter one shortens it; 0 removes.
        let again = s.delete(&PODS, "default", "run", &grace(600)).unwrap();
        assert_eq!(again["metadata"]["deletionGracePeriodSeconds"], 60);
        assert_eq!(
            again["metadata"]["resourceVersion"],
            stored["metadata"]["resourceVersion"]
        );
        let shorter = s.delete(&PODS, "default", "run", &grace(10)).unwrap();
        assert_eq!(shorter["metadata"]["deletionGracePeriodSeconds"], 10);
        let t =
            crate::meta::parse_rfc3339(shorter["metadata"]["deletionTimestamp"].as_str().unwrap())
                .unwrap();
        assert!(t < deadline - 40, "{shorter}");
        // Clients cannot clear the mark.
        let mut edited = shorter.clone();
        edited["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("deletionTimestamp");
        edited["metadata"]["labels"] = json!({"x": "y"});
        let edited = s
            .update(&PODS, "default", "run", edited, Subresource::Main, false)
            .unwrap();
        assert!(super::is_terminating(&edited));
        s.delete(&PODS, "default", "run", &grace(0)).unwrap();
        assert_eq!(s.get(&PODS, "default", "run").unwrap_err().code, 404);

        let gone = s
            .delete(&PODS, "default", "wait", &DeleteOptions::default())
            .unwrap();
        assert!(!super::is_terminating(&gone));
        assert_eq!(s.get(&PODS, "default", "wait").unwrap_err().code, 404);

        // Zero grace in the spec: at once too.
        pod(&s, "default", "quick", "Running", Some(0));
        s.delete(&PODS, "default", "quick", &DeleteOptions::default())
            .unwrap();
        assert!(s.get(&PODS, "default", "quick").is_err());
    }

    #[test]
    fn immediate_when_not_graceful() {
        let s = Store::new(100);
        pod(&s, "default", "run", "Running", None);
        s.delete(&PODS, "default", "run", &DeleteOptions::default())
            .unwrap();
        assert!(s.get(&PODS, "default", "run").is_err());
    }

    #[test]
    fn namespaces_wait_for_their_pods() {
        let s = store();
        s.create(&NAMESPACES, "", json!({"metadata": {"name": "tmp"}}), false)
            .unwrap();
        s.create(
            &CONFIGMAPS,
            "tmp",
            json!({"metadata": {"name": "c"}, "data": {}}),
            false,
        )
        .unwrap();
        pod(&s, "tmp", "p", "Running", None);
        let ns = s
            .delete(&NAMESPACES, "", "tmp", &DeleteOptions::default())
            .unwrap();
        assert_eq!(ns["status"]["phase"], "Terminating");
        assert!(s.get(&CONFIGMAPS, "tmp", "c").is_err());
        assert!(super::is_terminating(&s.get(&PODS, "tmp", "p").unwrap()));
        let e = s
            .create(
                &CONFIGMAPS,
                "tmp",
                json!({"metadata": {"name": "d"}, "data": {}}),
                false,
            )
            .unwrap_err();
        assert_eq!((e.code, e.reason), (403, "Forbidden"));
        assert!(e.message.contains("because it is being terminated"), "{e}");
        s.delete(&PODS, "tmp", "p", &grace(0)).unwrap();
        assert_eq!(s.get(&NAMESPACES, "", "tmp").unwrap_err().code, 404);

        // Nothing terminating: gone at once.
        s.create(
            &NAMESPACES,
            "",
            json!({"metadata": {"name": "tmp2"}}),
            false,
        )
        .unwrap();
        pod(&s, "tmp2", "p", "Pending", None);
        s.delete(&NAMESPACES, "", "tmp2", &DeleteOptions::default())
            .unwrap();
        assert!(s.get(&NAMESPACES, "", "tmp2").is_err());
    }
}
