//! Follow mode: one emulated server per Running and Ready pod of the managed Deployments of a
//! Kubernetes API server (kubesim in the demo), following the Deployments' labels.
//!
//! A server is named `<namespace>/<pod>`, listens on `127.0.0.1` on a free port, serves the
//! Deployment's `inferno.server.model` and runs the allocation of its
//! `inferno.server.allocation.accelerator` and `.maxbatchsize` labels (performance parameters
//! from the catalog, see [`FALLBACK_PERF`] for the fallbacks). Label changes are applied to the
//! running servers; servers of pods that go away stop. A Terminating pod (graceful deletion:
//! `metadata.deletionTimestamp` set) is drained as a kubelet would: its server's internal load
//! stops, its requests in flight finish, then the server stops and the follower deletes the pod
//! with `gracePeriodSeconds=0`; if the pod disappears first, the server stops at once. With
//! `drive`, each server generates `inferno.server.load.rpm / 60 / ready pods` requests per
//! emulated second. After every change the targets file (Prometheus `file_sd`) lists one target
//! per server (a draining server's until it has stopped).
//!
//! Changes arrive through watches (kube-rs reflectors on Deployments and pods); a periodic
//! resync re-applies the cached state, so a server that failed to start is retried.

mod args;
mod desired;
mod reconcile;
mod resolve;
mod targets;
mod watch;

pub use args::{run_args, FollowArgs};
pub use resolve::FALLBACK_PERF;

use crate::config::Catalog;
use crate::error::{Error, Result};
use crate::host::Host;
use reconcile::Reconciler;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch as signal, Notify};
use tokio::task::JoinHandle;
use watch::Watches;

/// How often the cached state is re-applied even without watch events.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(5);

/// What the follow mode watches and how its servers run.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowConfig {
    /// Namespaces to watch; empty = all.
    pub namespaces: Vec<String>,
    /// The Prometheus `file_sd` file rewritten after every change.
    pub targets_file: PathBuf,
    /// Generate each Deployment's labelled load inside its servers.
    pub drive: bool,
    /// Emulated time per wall time of every server (> 0).
    pub time_scale: f64,
    /// Base seed; a server's seed is derived from it and its name.
    pub seed: u64,
    /// Period of the full resync from the caches.
    pub resync: Duration,
}

impl FollowConfig {
    /// All namespaces, no drive, real time, seed 1, resync every [`DEFAULT_RESYNC`].
    pub fn new(targets_file: impl Into<PathBuf>) -> Self {
        Self {
            namespaces: Vec::new(),
            targets_file: targets_file.into(),
            drive: false,
            time_scale: 1.0,
            seed: 1,
            resync: DEFAULT_RESYNC,
        }
    }

    fn validate(&self) -> Result<()> {
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(Error::Flag {
                flag: "--time-scale",
                message: format!("must be a number > 0, got {}", self.time_scale),
            });
        }
        if self.resync.is_zero() {
            return Err(Error::Flag {
                flag: "resync",
                message: "must be > 0".into(),
            });
        }
        Ok(())
    }
}

/// A running follow mode: its host of servers and its reconcile task.
#[derive(Debug)]
pub struct Follower {
    host: Host,
    stop: signal::Sender<bool>,
    task: JoinHandle<()>,
}

impl Follower {
    /// Empties the targets file, starts the watches and the reconcile task on the current
    /// runtime, and returns at once; servers appear as pods become ready.
    pub fn start(
        client: kube::Client,
        catalog: Option<Catalog>,
        config: FollowConfig,
    ) -> Result<Self> {
        config.validate()?;
        targets::write_atomic(&config.targets_file, &targets::render(&[])).map_err(|source| {
            Error::Io {
                path: config.targets_file.clone(),
                source,
            }
        })?;
        let host = Host::loopback(catalog);
        let changed = Arc::new(Notify::new());
        let watches = Watches::start(&client, &config.namespaces, changed.clone());
        let (stop, stopped) = signal::channel(false);
        let resync = config.resync;
        let reconciler = Reconciler::new(host.clone(), config, client, changed.clone());
        let task = tokio::spawn(reconcile_loop(
            reconciler, watches, changed, resync, stopped,
        ));
        Ok(Self { host, stop, task })
    }

    /// The host of the emulated servers (named `<namespace>/<pod>`).
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Stops the watches and every server, and empties the targets file.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.host.shutdown().await;
    }
}

async fn reconcile_loop(
    mut reconciler: Reconciler,
    watches: Watches,
    changed: Arc<Notify>,
    resync: Duration,
    mut stop: signal::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(resync);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            () = changed.notified() => {}
            _ = tick.tick() => {}
        }
        // Until every cache has its first list, an empty cache would mean "stop everything".
        if !watches.ready() {
            continue;
        }
        let (deployments, pods) = watches.snapshot();
        reconciler
            .apply(desired::desired(&deployments, &pods))
            .await;
    }
    drop(watches);
    reconciler.stop_all().await;
}

/// Follows the cluster until `shutdown` completes, then stops every server and empties the
/// targets file.
pub async fn run(
    client: kube::Client,
    catalog: Option<Catalog>,
    config: FollowConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let follower = Follower::start(client, catalog, config)?;
    shutdown.await;
    follower.shutdown().await;
    Ok(())
}
