//! The kubelet's and the endpoints controller's part, driven by kubesim's change stream: a
//! pod's server starts when it is Ready (and holds its GPUs), leaves the gateway and drains
//! when it terminates, and is stopped (its requests cut off) when the pod is gone.

use super::{Allocation, Cluster, PodState, State, ACCELERATOR_KEY, BATCH_ENV};
use crate::scenario::{BenchServer, KvCache};
use crate::{Error, Result};
use inferno_emulator::{ServerHandle, ServerSpec};
use kubesim::resource::{DEPLOYMENTS, PODS};
use kubesim::{ChangeType, DeleteOptions};
use serde_json::{json, Value};
use std::sync::Arc;

impl Cluster {
    /// The kubelet loop: follows kubesim's changes until `stop` resolves; then stops every
    /// server.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        let store = self.kubesim.store().clone();
        let mut rx = store.subscribe();
        let mut rv = 0;
        let (recheck_tx, mut recheck_rx) =
            tokio::sync::mpsc::unbounded_channel::<(String, String)>();
        *self.recheck.lock().unwrap_or_else(|e| e.into_inner()) = Some(recheck_tx.clone());
        tokio::pin!(stop);
        loop {
            match store.changes_since(rv) {
                Ok(changes) => {
                    for c in changes {
                        rv = rv.max(c.rv);
                        if std::ptr::eq(c.resource, &PODS) {
                            self.on_pod(c.kind, &c.object, &recheck_tx).await;
                        } else if std::ptr::eq(c.resource, &DEPLOYMENTS) {
                            self.on_deployment(c.kind, &c.object);
                        }
                    }
                }
                Err(floor) => {
                    tracing::error!(
                        rv,
                        floor,
                        "kubesim change history overrun: pods may be missed"
                    );
                    rv = floor;
                }
            }
            tokio::select! {
                _ = &mut stop => break,
                r = rx.changed() => if r.is_err() { break },
                Some((ns, pod)) = recheck_rx.recv() => {
                    if let Ok(obj) = store.get(&PODS, &ns, &pod) {
                        self.on_pod(ChangeType::Modified, &obj, &recheck_tx).await;
                    }
                }
            }
        }
        self.host.shutdown().await;
    }

    fn on_deployment(&self, kind: ChangeType, obj: &Value) {
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
        let Some((policy, server)) = self.locate(ns, &obj["metadata"]["labels"]) else {
            return;
        };
        if kind == ChangeType::Deleted {
            return;
        }
        let spec = &obj["spec"];
        let pod = &spec["template"]["spec"];
        let a = Allocation {
            accelerator: pod["nodeSelector"][ACCELERATOR_KEY]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            replicas: spec["replicas"].as_u64().unwrap_or(1) as u32,
            batch: batch_of(pod),
        };
        let now = self.now();
        let mut st = self.lock();
        let book = &mut st.books[policy][server].deployment;
        match &book.current {
            None => {
                book.replicas.push((now, a.replicas));
                book.accelerators.push((now, a.accelerator.clone()));
            }
            Some(old) => {
                if old.replicas != a.replicas {
                    book.replicas.push((now, a.replicas));
                }
                if old.accelerator != a.accelerator {
                    book.accelerators.push((now, a.accelerator.clone()));
                }
                if old.batch != a.batch {
                    book.batch_changes += 1;
                }
                if old.batch != a.batch || old.accelerator != a.accelerator {
                    book.rollouts += 1;
                }
            }
        }
        book.current = Some(a);
    }

    async fn on_pod(
        &self,
        kind: ChangeType,
        obj: &Value,
        recheck: &tokio::sync::mpsc::UnboundedSender<(String, String)>,
    ) {
        let meta = &obj["metadata"];
        let ns = meta["namespace"].as_str().unwrap_or_default().to_string();
        let name = meta["name"].as_str().unwrap_or_default().to_string();
        let Some((policy, server)) = self.locate(&ns, &meta["labels"]) else {
            return;
        };
        let key = (ns.clone(), name.clone());
        let now = self.now();
        if kind == ChangeType::Deleted {
            self.pod_gone(&key).await;
            return;
        }
        let terminating = meta.get("deletionTimestamp").is_some_and(|v| !v.is_null());
        let ready = !terminating && is_ready(obj);
        let mut start = None;
        let mut drain = None;
        let mut hold = false;
        let mut wake = Vec::new();
        {
            let mut st = self.lock();
            if !st.pods.contains_key(&key) {
                let pod = self.new_pod(policy, server, &obj["spec"], now);
                st.pods.insert(key.clone(), pod);
                wake = self.place_pending(&mut st, policy, now);
            }
            let p = st.pods.get_mut(&key).expect("inserted");
            p.loaded |= ready;
            if terminating && !p.terminating {
                p.terminating = true;
                self.gateways[policy][server].remove(&name);
                drain = Some(p.handle.clone());
            } else if p.loaded && !p.terminating && p.handle.is_none() {
                let serving = p.placed.is_some() && now + 1e-9 >= p.serve_at;
                if serving {
                    start = Some((p.accelerator.clone(), p.batch));
                } else {
                    if p.placed.is_some() {
                        wake.push((key.clone(), p.serve_at));
                    }
                    // Ready to kubesim, but it serves nothing yet: not Ready to anyone.
                    hold = ready && !p.held;
                    p.held |= hold;
                }
            }
        }
        let _ = recheck;
        self.wake(wake);
        if hold {
            self.set_ready(&key, false);
        }
        if let Some(handle) = drain {
            self.drain(key, handle);
        } else if let Some((acc, batch)) = start {
            self.start_server(policy, server, &key, &acc, batch, now)
                .await;
        }
    }

    fn new_pod(&self, policy: usize, server: usize, spec: &Value, now: f64) -> PodState {
        let b = &self.plan.servers[server];
        let accelerator = spec["nodeSelector"][ACCELERATOR_KEY]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let sys = &self.plan.system;
        let acc = sys.accelerator(&accelerator);
        let row = sys
            .model_data
            .models
            .iter()
            .find(|m| m.name == b.model && m.acc == accelerator);
        let acc_count = row.map_or(1, |r| r.acc_count.max(1)) as u64;
        let multiplicity = acc.map_or(1, |a| a.multiplicity.max(1)) as u64;
        PodState {
            policy,
            server,
            batch: batch_of(spec),
            acc_type: acc.map_or_else(|| accelerator.clone(), |a| a.acc_type.clone()),
            units: acc_count * multiplicity,
            cost_per_hour: acc.map_or(0.0, |a| a.cost) * acc_count as f64,
            accelerator,
            placed: None,
            serve_at: now,
            loaded: false,
            held: false,
            terminating: false,
            handle: None,
        }
    }

    /// Places unplaced pods of `policy` whose GPUs are free now, oldest first (the scheduler).
    /// Returns the pods placed, with the time they may serve.
    fn place_pending(
        &self,
        st: &mut State,
        policy: usize,
        now: f64,
    ) -> Vec<((String, String), f64)> {
        let mut placed = Vec::new();
        let keys: Vec<(String, String)> = st
            .pods
            .iter()
            .filter(|(_, p)| p.policy == policy && p.placed.is_none() && !p.terminating)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            let (acc_type, units, model, accelerator) = {
                let p = &st.pods[&k];
                (
                    p.acc_type.clone(),
                    p.units,
                    self.plan.servers[p.server].model.clone(),
                    p.accelerator.clone(),
                )
            };
            let capacity = self.plan.system.capacity_of(&acc_type).max(0) as u64;
            let used = st
                .used
                .get(&(policy, acc_type.clone()))
                .copied()
                .unwrap_or(0);
            if used + units > capacity {
                continue;
            }
            st.used.insert((policy, acc_type), used + units);
            let p = st.pods.get_mut(&k).expect("listed");
            p.placed = Some(now);
            // A pod that waited for GPUs starts loading its model only now.
            if p.serve_at < now {
                p.serve_at = now + self.plan.startup_seconds(&model, &accelerator);
            }
            placed.push((k, p.serve_at));
        }
        placed
    }

    /// Looks at these pods again at these scenario times.
    fn wake(&self, pods: Vec<((String, String), f64)>) {
        let Some(tx) = self
            .recheck
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        else {
            return;
        };
        let clock = self.clock();
        for (key, at) in pods {
            let (tx, at) = (tx.clone(), clock.instant(at));
            tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                let _ = tx.send(key);
            });
        }
    }

    /// Sets a pod's Ready and ContainersReady conditions in kubesim (the readiness probe).
    fn set_ready(&self, key: &(String, String), ready: bool) {
        let status = if ready { "True" } else { "False" };
        let result = self.kubesim.store().modify(
            &PODS,
            &key.0,
            &key.1,
            kubesim::Subresource::Status,
            false,
            |pod| {
                if let Some(conditions) = pod["status"]["conditions"].as_array_mut() {
                    for c in conditions {
                        if c["type"] == "Ready" || c["type"] == "ContainersReady" {
                            c["status"] = json!(status);
                        }
                    }
                }
                Ok(())
            },
        );
        if let Err(e) = result {
            tracing::debug!(pod = %key.1, error = %e, "readiness not updated (pod gone?)");
        }
    }

    async fn start_server(
        &self,
        policy: usize,
        server: usize,
        key: &(String, String),
        accelerator: &str,
        batch: u32,
        now: f64,
    ) {
        let b: &BenchServer = &self.plan.servers[server];
        let s = &self.plan.scenario;
        let row = self
            .plan
            .system
            .model_data
            .models
            .iter()
            .find(|m| m.name == b.model && m.acc == accelerator);
        let Some(row) = row else {
            tracing::warn!(pod = %key.1, model = %b.model, accelerator, "no catalog row: pod never serves");
            return;
        };
        let f = self.plan.factors_at(&b.model, accelerator, now);
        let perf = inferno_api::PerfParms {
            alpha: row.perf_parms.alpha * f.alpha,
            beta: row.perf_parms.beta * f.beta,
            gamma: row.perf_parms.gamma * f.gamma,
        };
        let kv = match s.pods.kv_cache {
            KvCache::Catalog if row.max_batch_size > 0 && row.at_tokens > 0 => {
                (row.max_batch_size * row.at_tokens) as u64
            }
            _ => 0,
        };
        let spec = ServerSpec {
            name: format!("{}/{}", key.0, key.1),
            model: b.model.clone(),
            accelerator: accelerator.to_string(),
            perf: Some(perf),
            max_batch_size: batch.max(1),
            kv_cache_tokens: kv,
            time_scale: s.time_scale,
            noise: s.noise.iteration,
            seed: s.seed ^ stable_hash(&key.1),
            ..ServerSpec::default()
        };
        match self.host.start_server(spec).await {
            Ok(handle) => {
                let serving = {
                    let mut st = self.lock();
                    match st.pods.get_mut(key) {
                        Some(p) if !p.terminating && p.handle.is_none() => {
                            p.handle = Some(handle.clone());
                            self.gateways[policy][server].add(&key.1, handle.clone());
                            Some(std::mem::take(&mut p.held))
                        }
                        _ => None,
                    }
                };
                if let Some(held) = serving {
                    if held {
                        self.set_ready(key, true);
                    }
                    self.write_targets();
                } else {
                    // The pod went away or started terminating while its server started.
                    handle.stop().await;
                }
            }
            Err(e) => tracing::error!(pod = %key.1, error = %e, "emulated server did not start"),
        }
    }

    /// A terminating pod: its requests finish, then the container exits and the pod goes.
    fn drain(&self, key: (String, String), handle: Option<ServerHandle>) {
        let store = self.kubesim.store().clone();
        tokio::spawn(async move {
            if let Some(h) = &handle {
                while h.in_flight() > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
            let opts = DeleteOptions {
                grace_period_seconds: Some(0),
                ..DeleteOptions::default()
            };
            // Gone already when its grace period ran out first.
            let _ = store.delete(&PODS, &key.0, &key.1, &opts);
        });
    }

    async fn pod_gone(&self, key: &(String, String)) {
        let now = self.now();
        let mut wake = Vec::new();
        let handle = {
            let mut st = self.lock();
            let Some(p) = st.pods.remove(key) else { return };
            self.gateways[p.policy][p.server].remove(&key.1);
            if let Some(placed) = p.placed {
                st.books[p.policy][p.server].cost_cents +=
                    (now - placed).max(0.0) * p.cost_per_hour / 3600.0;
                let used = st.used.entry((p.policy, p.acc_type.clone())).or_default();
                *used = used.saturating_sub(p.units);
                wake = self.place_pending(&mut st, p.policy, now);
            }
            p.handle
        };
        self.wake(wake);
        if let Some(h) = handle {
            // Requests still running are cut off, as when the kubelet kills the container.
            h.stop().await;
            self.write_targets();
        }
    }

    /// Applies the scenario's drift of the true parameters to every running server.
    pub fn drift(&self) {
        let now = self.now();
        let st = self.lock();
        for p in st.pods.values() {
            let Some(h) = &p.handle else { continue };
            let b = &self.plan.servers[p.server];
            let Some(row) = self
                .plan
                .system
                .model_data
                .models
                .iter()
                .find(|m| m.name == b.model && m.acc == p.accelerator)
            else {
                continue;
            };
            let f = self.plan.factors_at(&b.model, &p.accelerator, now);
            let perf = inferno_api::PerfParms {
                alpha: row.perf_parms.alpha * f.alpha,
                beta: row.perf_parms.beta * f.beta,
                gamma: row.perf_parms.gamma * f.gamma,
            };
            if h.allocation().perf != perf {
                let _ = h.set_perf(&p.accelerator, perf);
            }
        }
    }

    /// Rewrites the Prometheus targets file: the serving pods of scraped tenants (terminating
    /// ones too, while their servers run).
    fn write_targets(&self) {
        let st = self.lock();
        let mut list = Vec::new();
        for ((ns, pod), p) in &st.pods {
            let Some(h) = &p.handle else { continue };
            if !self.tenants[p.policy].scraped {
                continue;
            }
            list.push(json!({
                "targets": [h.addr().to_string()],
                "labels": {"namespace": ns, "pod": pod,
                    "deployment": self.plan.servers[p.server].deployment,
                    "model_name": self.plan.servers[p.server].model},
            }));
        }
        drop(st);
        let tmp = self.targets_file.with_extension("tmp");
        let text = serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
        if std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, &self.targets_file))
            .is_err()
        {
            tracing::warn!(path = %self.targets_file.display(), "targets file not written");
        }
    }

    /// Waits until every Deployment has all its replicas serving (the warm start), at most
    /// `limit` of wall time.
    pub async fn wait_serving(&self, limit: std::time::Duration) -> Result<()> {
        let end = tokio::time::Instant::now() + limit;
        loop {
            let missing: Vec<String> = {
                let st = self.lock();
                let mut out = Vec::new();
                for (pi, row) in st.books.iter().enumerate() {
                    for (si, b) in row.iter().enumerate() {
                        // A Deployment the kubelet has not seen yet is not serving: right
                        // after the Deployments are created, every book is still empty, and
                        // taking that for "nothing wanted" started the clock with the pods of
                        // the slowest model still loading (mixtral's warm pods served from
                        // scenario second 57 of the ramp).
                        let Some(want) = b.deployment.current.as_ref().map(|a| a.replicas) else {
                            out.push(format!(
                                "{}/{} not seen yet",
                                self.tenants[pi].namespace, self.plan.servers[si].deployment
                            ));
                            continue;
                        };
                        let have = st
                            .pods
                            .values()
                            .filter(|p| p.policy == pi && p.server == si && p.handle.is_some())
                            .count() as u32;
                        if have < want {
                            out.push(format!(
                                "{}/{} {have}/{want}",
                                self.tenants[pi].namespace, self.plan.servers[si].deployment
                            ));
                        }
                    }
                }
                out
            };
            if missing.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= end {
                return Err(Error::run(
                    "warm-up",
                    format!(
                        "pods not serving in time (GPU capacity?): {}",
                        missing.join(", ")
                    ),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn batch_of(pod_spec: &Value) -> u32 {
    pod_spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["env"].as_array().into_iter().flatten())
        .find(|e| e["name"] == BATCH_ENV)
        .and_then(|e| e["value"].as_str())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// FNV-1a: stable per-pod seeds.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
