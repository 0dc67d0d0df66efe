//! The stand-in cluster of a run: one kubesim with a namespace per policy, and the kubelet's
//! part played here: an emulated vLLM server for every ready pod, drained when the pod
//! terminates, a gateway per Deployment, and the books (GPU cost of every pod that exists,
//! every change of every Deployment).
//!
//! Everything is driven by kubesim's ordered change stream, so a pod's life is seen exactly as
//! a kubelet and an endpoints controller see it: created (Pending, costs from now when its GPUs
//! are free), Ready after its start-up delay (server started, added to the gateway),
//! terminating (out of the gateway; its requests finish; then deleted with grace 0, as the
//! kubelet does when the container exits), deleted (a server still running then is stopped and
//! its requests are cut off: the grace period ran out).

use crate::clock::Clock;
use crate::gateway::Gateway;
use crate::scenario::{BenchServer, KvCache, Plan};
use crate::{Error, Result};
use inferno_emulator::{Host, ServerHandle, ServerSpec};
use kubesim::resource::{DEPLOYMENTS, PODS};
use kubesim::{ChangeType, DeleteOptions};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Node-selector key of the accelerator (what the actuator's `--node-label` sets).
pub const ACCELERATOR_KEY: &str = "inferno.bench/accelerator";
/// Env var of the pod's container holding the batch cap (the actuator's `--batch-env`).
pub const BATCH_ENV: &str = "INFERNO_EMULATOR_MAX_BATCH_SIZE";
/// The container's name.
pub const CONTAINER: &str = "vllm";

/// What a Deployment runs: accelerator, replicas, batch cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// Accelerator name.
    pub accelerator: String,
    /// Replicas.
    pub replicas: u32,
    /// Batch cap per pod.
    pub batch: u32,
}

/// A Deployment's history.
#[derive(Debug, Clone, Default)]
pub struct DeploymentBook {
    /// (scenario time, spec.replicas) at every change of the count.
    pub replicas: Vec<(f64, u32)>,
    /// (scenario time, accelerator) at every change of the template's accelerator.
    pub accelerators: Vec<(f64, String)>,
    /// Changes of the batch cap in the template.
    pub batch_changes: u32,
    /// Pod-template changes (each a rolling update).
    pub rollouts: u32,
    /// The allocation in the Deployment now.
    pub current: Option<Allocation>,
}

/// Books of one (policy, server).
#[derive(Debug, Clone, Default)]
pub struct Books {
    /// GPU cost so far, cents (closed pod intervals).
    pub cost_cents: f64,
    /// The Deployment's history.
    pub deployment: DeploymentBook,
}

#[derive(Debug)]
struct PodState {
    policy: usize,
    server: usize,
    accelerator: String,
    batch: u32,
    acc_type: String,
    units: u64,
    cost_per_hour: f64,
    /// When its GPUs were taken (cost runs from here); None while unschedulable.
    placed: Option<f64>,
    /// Earliest time its server may serve (placement + start-up, for late placements).
    serve_at: f64,
    ready: bool,
    terminating: bool,
    handle: Option<ServerHandle>,
}

#[derive(Debug, Default)]
struct State {
    pods: BTreeMap<(String, String), PodState>,
    books: Vec<Vec<Books>>,
    /// Units in use per (policy, accelerator type).
    used: HashMap<(usize, String), u64>,
}

/// One policy's namespace.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Policy name.
    pub policy: String,
    /// Its namespace.
    pub namespace: String,
    /// Its pods are scraped by Prometheus (listed in the targets file).
    pub scraped: bool,
}

/// The cluster of a run.
#[derive(Debug)]
pub struct Cluster {
    kubesim: kubesim::Kubesim,
    host: Host,
    plan: Arc<Plan>,
    tenants: Vec<Tenant>,
    gateways: Vec<Vec<Arc<Gateway>>>,
    state: Mutex<State>,
    clock: Mutex<Clock>,
    targets_file: PathBuf,
}

impl Cluster {
    /// Starts kubesim (start-up rules, time scale, graceful termination), creates a namespace
    /// per tenant and the emulator host; the kubelet loop starts with [`Cluster::run`].
    pub async fn start(
        plan: Arc<Plan>,
        tenants: Vec<Tenant>,
        targets_file: PathBuf,
    ) -> Result<Arc<Self>> {
        let s = &plan.scenario;
        let mut rules = Vec::new();
        for r in &s.startup.rules {
            let mut sel = Vec::new();
            if let Some(m) = &r.model {
                sel.push(format!("inferno.server.model={m}"));
            }
            if let Some(a) = &r.accelerator {
                sel.push(format!("{ACCELERATOR_KEY}={a}"));
            }
            rules.push(kubesim::StartupRule {
                selector: sel.join(","),
                seconds: r.seconds.0,
            });
        }
        let config = kubesim::Config {
            pod_ready_delay: std::time::Duration::from_secs_f64(s.startup.default.0),
            time_scale: s.time_scale,
            startup: rules,
            graceful_termination: true,
            // Every pod and Deployment change of a long run must stay replayable for the loop.
            watch_history: 200_000,
            ..kubesim::Config::default()
        };
        let kubesim = kubesim::start("127.0.0.1:0".parse().expect("address"), config)
            .await
            .map_err(|e| Error::run("kubesim", e))?;
        for t in &tenants {
            kubesim
                .store()
                .create_or_replace(json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": t.namespace}}))
                .map_err(|e| Error::run("kubesim", format!("namespace {}: {e}", t.namespace)))?;
        }
        let catalog = inferno_emulator::Catalog::new(plan.system.model_data.clone());
        let host = Host::loopback(Some(catalog));
        let gateways = tenants
            .iter()
            .map(|_| plan.servers.iter().map(|_| Arc::default()).collect())
            .collect();
        let books = tenants
            .iter()
            .map(|_| vec![Books::default(); plan.servers.len()])
            .collect();
        std::fs::write(&targets_file, "[]").map_err(|e| Error::Io {
            path: targets_file.clone(),
            source: e,
        })?;
        Ok(Arc::new(Self {
            kubesim,
            host,
            clock: Mutex::new(Clock::start(plan.time_scale())),
            plan,
            tenants,
            gateways,
            state: Mutex::new(State {
                books,
                ..State::default()
            }),
            targets_file,
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Scenario time now.
    pub fn now(&self) -> f64 {
        self.clock().now()
    }

    /// The run's clock.
    pub fn clock(&self) -> Clock {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts scenario time 0 now (after the warm-up); costs of pods placed before count from
    /// here.
    pub fn start_clock(&self) {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) =
            Clock::start(self.plan.time_scale());
        let mut st = self.lock();
        for p in st.pods.values_mut() {
            if p.placed.is_some() {
                p.placed = Some(0.0);
            }
            p.serve_at = 0.0;
        }
    }

    /// kubesim's URL.
    pub fn url(&self) -> String {
        self.kubesim.url()
    }

    /// Writes a kubeconfig for the loop's processes.
    pub fn write_kubeconfig(&self, path: &std::path::Path) -> Result<()> {
        self.kubesim
            .write_kubeconfig(path)
            .map_err(|e| Error::run("kubesim", e))
    }

    /// The tenants.
    pub fn tenants(&self) -> &[Tenant] {
        &self.tenants
    }

    /// The gateway of (policy, server).
    pub fn gateway(&self, policy: usize, server: usize) -> Arc<Gateway> {
        self.gateways[policy][server].clone()
    }

    /// The books of every (policy, server), with the cost of running pods up to now.
    pub fn books(&self) -> Vec<Vec<Books>> {
        let now = self.now();
        let st = self.lock();
        let mut out = st.books.clone();
        for p in st.pods.values() {
            if let Some(placed) = p.placed {
                out[p.policy][p.server].cost_cents +=
                    (now - placed).max(0.0) * p.cost_per_hour / 3600.0;
            }
        }
        out
    }

    /// Pods of (policy, server): (existing, ready and serving, placed).
    pub fn pod_counts(&self, policy: usize, server: usize) -> (u32, u32, u32) {
        let st = self.lock();
        let mut c = (0, 0, 0);
        for p in st
            .pods
            .values()
            .filter(|p| p.policy == policy && p.server == server)
        {
            c.0 += 1;
            c.1 += u32::from(p.handle.is_some() && !p.terminating);
            c.2 += u32::from(p.placed.is_some());
        }
        c
    }

    /// GPU cost rate of (policy, server) now, cents/hr.
    pub fn cost_rate(&self, policy: usize, server: usize) -> f64 {
        self.lock()
            .pods
            .values()
            .filter(|p| p.policy == policy && p.server == server && p.placed.is_some())
            .map(|p| p.cost_per_hour)
            .sum()
    }

    /// The Deployment object of a server in a tenant's namespace.
    pub fn deployment_object(&self, policy: usize, server: usize, a: &Allocation) -> Value {
        let b = &self.plan.servers[server];
        let ns = &self.tenants[policy].namespace;
        let pods = &self.plan.scenario.pods;
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": b.deployment,
                "namespace": ns,
                "labels": {
                    "app": b.deployment,
                    "inferno.server.managed": "true",
                    "inferno.server.name": b.name,
                    "inferno.server.model": b.model,
                    "inferno.server.class": b.class,
                    "inferno.server.allocation.accelerator": a.accelerator,
                    "inferno.server.allocation.maxbatchsize": a.batch.to_string(),
                    // What a user writes in the manifest: the nominal load, never updated.
                    "inferno.server.load.rpm": format!("{}", b.rpm),
                    "inferno.server.load.intokens": format!("{}", b.in_tokens.round()),
                    "inferno.server.load.outtokens": format!("{}", b.out_tokens.round()),
                },
            },
            "spec": {
                "replicas": a.replicas,
                "selector": {"matchLabels": {"app": b.deployment}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                    "maxSurge": pods.max_surge, "maxUnavailable": pods.max_unavailable}},
                "template": {
                    "metadata": {"labels": {
                        "app": b.deployment,
                        "inferno.server.name": b.name,
                        "inferno.server.model": b.model,
                    }},
                    "spec": {
                        "terminationGracePeriodSeconds": pods.grace_period.0.round() as i64,
                        "nodeSelector": {ACCELERATOR_KEY: a.accelerator},
                        "containers": [{
                            "name": CONTAINER,
                            "image": "inferno/vllm-emulator:0.1.0",
                            "env": [{"name": BATCH_ENV, "value": a.batch.to_string()}],
                        }],
                    },
                },
            },
        })
    }

    /// Creates or replaces the Deployment of (policy, server) with `a`.
    pub fn create_deployment(&self, policy: usize, server: usize, a: &Allocation) -> Result<()> {
        self.kubesim
            .store()
            .create_or_replace(self.deployment_object(policy, server, a))
            .map(|_| ())
            .map_err(|e| Error::run("kubesim", format!("deployment: {e}")))
    }

    /// Sets the Deployment of (policy, server) to `a` as a user or a baseline autoscaler would
    /// (a strategic-merge patch of the labels, replicas and, when they change, the template).
    pub fn set_allocation(&self, policy: usize, server: usize, a: &Allocation) -> Result<()> {
        let b = &self.plan.servers[server];
        let ns = &self.tenants[policy].namespace;
        let patch = json!({
            "metadata": {"labels": {
                "inferno.server.allocation.accelerator": a.accelerator,
                "inferno.server.allocation.maxbatchsize": a.batch.to_string(),
            }},
            "spec": {
                "replicas": a.replicas,
                "template": {"spec": {
                    "nodeSelector": {ACCELERATOR_KEY: a.accelerator},
                    "containers": [{"name": CONTAINER,
                        "env": [{"name": BATCH_ENV, "value": a.batch.to_string()}]}],
                }},
            },
        });
        self.kubesim
            .store()
            .patch(
                &DEPLOYMENTS,
                ns,
                &b.deployment,
                kubesim::PatchType::Strategic,
                &patch,
                kubesim::Subresource::Main,
                false,
            )
            .map(|_| ())
            .map_err(|e| Error::run("kubesim", format!("{ns}/{}: {e}", b.deployment)))
    }

    /// Sets only the replica count of (policy, server).
    pub fn set_replicas(&self, policy: usize, server: usize, replicas: u32) -> Result<()> {
        let b = &self.plan.servers[server];
        let ns = &self.tenants[policy].namespace;
        self.kubesim
            .store()
            .patch(
                &DEPLOYMENTS,
                ns,
                &b.deployment,
                kubesim::PatchType::Merge,
                &json!({"spec": {"replicas": replicas}}),
                kubesim::Subresource::Main,
                false,
            )
            .map(|_| ())
            .map_err(|e| Error::run("kubesim", format!("{ns}/{}: {e}", b.deployment)))
    }

    /// The allocation in the Deployment of (policy, server) now.
    pub fn allocation(&self, policy: usize, server: usize) -> Option<Allocation> {
        self.lock().books[policy][server].deployment.current.clone()
    }

    fn locate(&self, ns: &str, labels: &Value) -> Option<(usize, usize)> {
        let policy = self.tenants.iter().position(|t| t.namespace == ns)?;
        let app = labels.get("app")?.as_str()?;
        let server = self.plan.servers.iter().position(|s| s.deployment == app)?;
        Some((policy, server))
    }

    /// The kubelet loop: follows kubesim's changes until `stop` resolves; then stops every
    /// server.
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        let store = self.kubesim.store().clone();
        let mut rx = store.subscribe();
        let mut rv = 0;
        let (recheck_tx, mut recheck_rx) =
            tokio::sync::mpsc::unbounded_channel::<(String, String)>();
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
        {
            let mut st = self.lock();
            if !st.pods.contains_key(&key) {
                let pod = self.new_pod(policy, server, &obj["spec"], now);
                st.pods.insert(key.clone(), pod);
                self.place_pending(&mut st, policy, now);
            }
            let p = st.pods.get_mut(&key).expect("inserted");
            p.ready = ready;
            if terminating && !p.terminating {
                p.terminating = true;
                self.gateways[policy][server].remove(&name);
                drain = Some(p.handle.clone());
            } else if ready && p.handle.is_none() && p.placed.is_some() {
                if now + 1e-9 >= p.serve_at {
                    start = Some((p.accelerator.clone(), p.batch));
                } else {
                    let (tx, k, at) = (
                        recheck.clone(),
                        key.clone(),
                        self.clock().instant(p.serve_at),
                    );
                    tokio::spawn(async move {
                        tokio::time::sleep_until(at).await;
                        let _ = tx.send(k);
                    });
                }
            }
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
            ready: false,
            terminating: false,
            handle: None,
        }
    }

    /// Places unplaced pods of `policy` whose GPUs are free now, oldest first (the scheduler).
    fn place_pending(&self, st: &mut State, policy: usize, now: f64) {
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
                            true
                        }
                        _ => false,
                    }
                };
                if serving {
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
        let handle = {
            let mut st = self.lock();
            let Some(p) = st.pods.remove(key) else { return };
            self.gateways[p.policy][p.server].remove(&key.1);
            if let Some(placed) = p.placed {
                st.books[p.policy][p.server].cost_cents +=
                    (now - placed).max(0.0) * p.cost_per_hour / 3600.0;
                let used = st.used.entry((p.policy, p.acc_type.clone())).or_default();
                *used = used.saturating_sub(p.units);
                self.place_pending(&mut st, p.policy, now);
            }
            p.handle
        };
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
                        let want = b.deployment.current.as_ref().map_or(0, |a| a.replicas);
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
