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

mod kubelet;

use crate::clock::Clock;
use crate::gateway::Gateway;
use crate::scenario::Plan;
use crate::{Error, Result};
use inferno_emulator::{labels, Host, ServerHandle};
use kubesim::resource::DEPLOYMENTS;
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
    /// kubesim has made it Ready once: its start-up delay has passed.
    loaded: bool,
    /// We hold it not Ready in kubesim (it waits for GPUs or for its model to load after a
    /// late placement), as a kubelet whose readiness probe fails would.
    held: bool,
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
    /// Scenario time; None during the warm-up (time 0 throughout).
    clock: Mutex<Option<Clock>>,
    targets_file: PathBuf,
    /// Wakes the kubelet loop for a pod at a time (set while the loop runs).
    recheck: Mutex<Option<tokio::sync::mpsc::UnboundedSender<(String, String)>>>,
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
                sel.push(format!("{}={m}", labels::MODEL));
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
            clock: Mutex::new(None),
            plan,
            tenants,
            gateways,
            state: Mutex::new(State {
                books,
                ..State::default()
            }),
            targets_file,
            recheck: Mutex::new(None),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Scenario time now (0 during the warm-up).
    pub fn now(&self) -> f64 {
        self.clock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map_or(0.0, |c| c.now())
    }

    /// The run's clock (during the warm-up, one whose time 0 is now).
    pub fn clock(&self) -> Clock {
        self.clock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(|| Clock::start(self.plan.time_scale()))
    }

    /// Starts scenario time 0 now (after the warm-up); costs of pods placed before count from
    /// here.
    pub fn start_clock(&self) {
        *self.clock.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Clock::start(self.plan.time_scale()));
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
                    labels::MANAGED: "true",
                    labels::NAME: b.name,
                    labels::MODEL: b.model,
                    labels::CLASS: b.class,
                    labels::ACCELERATOR: a.accelerator,
                    labels::MAX_BATCH: a.batch.to_string(),
                    // What a user writes in the manifest: the nominal load, never updated.
                    labels::LOAD_RPM: labels::format_rpm(b.rpm),
                    labels::LOAD_IN_TOKENS: format!("{}", b.in_tokens.round()),
                    labels::LOAD_OUT_TOKENS: format!("{}", b.out_tokens.round()),
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
                        labels::NAME: b.name,
                        labels::MODEL: b.model,
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
                labels::ACCELERATOR: a.accelerator,
                labels::MAX_BATCH: a.batch.to_string(),
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
}
