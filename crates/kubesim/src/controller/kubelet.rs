//! The kubelet stand-in: a new pod is scheduled at once (`PodScheduled`, containers waiting in
//! `ContainerCreating`) and is Running and Ready after its start-up delay; a terminating pod
//! is removed when its grace period ends, as the kubelet does once the containers have exited.

use super::{is_terminating, Controller, Termination};
use crate::meta;
use crate::resource::PODS;
use crate::store::{DeleteOptions, Subresource};
use serde_json::{json, Value};
use std::collections::HashSet;
use tokio::time::Instant;

/// Node name every pod is bound to.
pub const NODE_NAME: &str = "kubesim-node";

/// IP address every pod gets (the emulated servers listen on loopback).
pub const POD_IP: &str = "127.0.0.1";

impl Controller {
    /// Starts pending pods whose delay is over and removes terminating pods whose grace
    /// period is over.
    pub(super) fn run_pods(&mut self) {
        let now = Instant::now();
        let mut present = HashSet::new();
        for p in self.list(&PODS) {
            let uid = meta::uid_of(&p).to_string();
            present.insert(uid.clone());
            if is_terminating(&p) {
                let grace = p["metadata"]["deletionGracePeriodSeconds"]
                    .as_f64()
                    .unwrap_or(0.0);
                let t = self
                    .terminating
                    .entry(uid)
                    .or_insert(Termination { since: now, grace });
                // A later delete may have shortened it.
                t.grace = grace;
                if t.since + self.clock.wall(t.grace) <= now {
                    self.remove(&p);
                }
                continue;
            }
            let phase = p["status"]["phase"].as_str().unwrap_or("Pending");
            if phase != "Pending" {
                continue;
            }
            let due = match self.pending.get(&uid) {
                Some(t) => *t,
                None => {
                    let t = now + self.clock.wall(self.startup.seconds(&p));
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
        self.pending.retain(|uid, _| present.contains(uid));
        self.terminating.retain(|uid, _| present.contains(uid));
    }

    /// Removes a pod whose grace period is over (the kubelet's final zero-grace delete).
    fn remove(&self, p: &Value) {
        let opts = DeleteOptions {
            uid: Some(meta::uid_of(p).to_string()),
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        if let Err(e) = self
            .store
            .delete(&PODS, meta::namespace(p), meta::name(p), &opts)
        {
            tracing::debug!(error = %e, pod = meta::name(p), "terminated pod not removed");
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
        let uid = meta::uid_of(p).to_string();
        let res = self.store.modify(
            &PODS,
            meta::namespace(p),
            meta::name(p),
            Subresource::Status,
            false,
            |o| {
                if meta::uid_of(o) != uid || is_terminating(o) {
                    return Err(crate::error::ApiError::conflict(&PODS, meta::name(o)));
                }
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
        }
    }
}
