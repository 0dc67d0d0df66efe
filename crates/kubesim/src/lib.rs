//! kubesim: an in-memory Kubernetes API server for tests and the local demo. It speaks enough of
//! the real API (discovery, get/list/watch/create/update/patch/delete with selectors,
//! resourceVersion preconditions and `Status` errors, the `status` and `scale` subresources,
//! server-side printing for `kubectl get`) that kubectl and kube-rs cannot tell it from a cluster
//! for what Inferno does, and runs a small controller manager with the behaviour an autoscaler's
//! decisions depend on: pods turn Running and Ready after a start-up delay per kind of pod,
//! deleted pods terminate gracefully, Deployments roll out with `maxSurge`/`maxUnavailable` (or
//! `Recreate`), all on a clock that can run faster than real time ([`Config::time_scale`]).
//! Objects are kept as `serde_json::Value`, so unknown fields survive.
//!
//! Start one with [`start`] (tests) or [`run`] (the `kubesim` binary); watch pods come and go
//! with [`Kubesim::pod_events`] or a normal pod watch. With [`Config::hpa`] it also runs a
//! HorizontalPodAutoscaler controller whose External metrics come from a real Prometheus
//! through prometheus-adapter's rules ([`HpaConfig`]).
//!
//! # Layout
//! `store` (objects, resourceVersions, change history), `handlers` (routing and verbs), `watch`,
//! `discovery`, `table` (server-side printing), `selector`, `patch`, `validate`, `controller`
//! (Deployment and ReplicaSet controllers, kubelet stand-in), `startup` (start-up delay rules),
//! `resource` (the served types), `events_v1` (`events.k8s.io/v1` Events as a view of the
//! `core/v1` ones), `hpa` (the HPA resource's defaults and the HPA controller, with
//! prometheus-adapter's external rules), `proto` (protobuf bodies), `kubeconfig`, `manifest`
//! (preloading), `error`.

mod controller;
mod discovery;
mod error;
mod events_v1;
mod handlers;
mod hpa;
mod kubeconfig;
mod manifest;
mod meta;
mod openapi;
mod patch;
mod proto;
pub mod resource;
mod selector;
mod startup;
mod store;
mod table;
mod validate;
mod watch;

pub use controller::{PodEvent, PodEventKind, NODE_NAME, POD_IP};
pub use error::{ApiError, Error, FieldError, Result};
pub use hpa::{AdapterRules, HpaConfig};
pub use manifest::{load_dir, parse as parse_manifests};
pub use patch::{json_patch, merge_patch, strategic_merge, PatchType};
pub use selector::{FieldSelector, LabelSelector, Requirement};
pub use startup::{StartupRule, STARTUP_ANNOTATION};
pub use store::{Change, ChangeType, DeleteOptions, Propagation, Store, Subresource};

use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch as watch_channel};
use tokio::task::JoinHandle;

/// Server settings. Delays are in *cluster* time: kubesim waits `delay / time_scale` of wall
/// time for each (the HPA controller's sync period and windows too).
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a new pod stays Pending before it is Running and Ready, when neither its
    /// [`STARTUP_ANNOTATION`] nor a [`Config::startup`] rule says otherwise (cluster time).
    pub pod_ready_delay: Duration,
    /// Start-up delays by kind of pod: the first rule whose selector matches the pod's labels
    /// (merged with its `spec.nodeSelector`) gives its delay; none: `pod_ready_delay`.
    pub startup: Vec<StartupRule>,
    /// Cluster seconds per wall-clock second (> 0, finite): `5.0` runs every delay (start-up,
    /// termination grace periods) five times faster than written. Default 1.
    pub time_scale: f64,
    /// Deleted Running pods terminate gracefully (marked with `deletionTimestamp`, not Ready,
    /// removed after their grace period or on a delete with `gracePeriodSeconds=0`), as in a
    /// real cluster. `false`: deletion is immediate. Default true.
    pub graceful_termination: bool,
    /// How many changes are kept for watches that resume from a resourceVersion.
    pub watch_history: usize,
    /// How often watches that allow bookmarks get one.
    pub bookmark_interval: Duration,
    /// Objects created (or replaced) at start, e.g. from [`load_dir`].
    pub preload: Vec<Value>,
    /// The HorizontalPodAutoscaler controller: `None` (the default) stores HPAs without acting
    /// on them, as a cluster without the controller would.
    pub hpa: Option<HpaConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            pod_ready_delay: Duration::from_secs(1),
            startup: Vec::new(),
            time_scale: 1.0,
            graceful_termination: true,
            // Each kept change holds an object version: ~10k keeps a long demo in tens of MB.
            watch_history: 10_000,
            bookmark_interval: Duration::from_secs(30),
            preload: Vec::new(),
            hpa: None,
        }
    }
}

/// A server's state before it serves: the store, with the preloaded objects in it.
#[derive(Debug)]
pub struct Server {
    store: Arc<Store>,
    pods_tx: broadcast::Sender<PodEvent>,
    config: Config,
    startup: startup::StartupRules,
    hpa: Option<hpa::HpaController>,
}

impl Server {
    /// A store holding the built-in namespaces and `config.preload`; fails on an invalid
    /// setting (`time_scale`, `startup`, `hpa`) or a preloaded object the API refuses.
    pub fn new(config: Config) -> Result<Self> {
        if !(config.time_scale.is_finite() && config.time_scale > 0.0) {
            return Err(Error::Config {
                setting: "time_scale".into(),
                message: format!("must be a finite number > 0, not {}", config.time_scale),
            });
        }
        let startup = startup::StartupRules::new(&config.startup, config.pod_ready_delay)?;
        let store = Arc::new(Store::new(config.watch_history));
        store.set_graceful_termination(config.graceful_termination, config.time_scale);
        for obj in &config.preload {
            store
                .create_or_replace(obj.clone())
                .map_err(|source| Error::Api {
                    context: format!(
                        "loading {} {}/{}",
                        obj["kind"].as_str().unwrap_or("?"),
                        meta::namespace(obj),
                        meta::name(obj)
                    ),
                    source,
                })?;
        }
        let hpa = match &config.hpa {
            Some(settings) => {
                settings.check()?;
                let clock = controller::Clock::new(config.time_scale);
                Some(hpa::HpaController::new(
                    store.clone(),
                    clock,
                    settings.clone(),
                )?)
            }
            None => None,
        };
        let (pods_tx, _) = broadcast::channel(4096);
        Ok(Self {
            store,
            pods_tx,
            config,
            startup,
            hpa,
        })
    }

    /// The store (shared with the server once it runs).
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A receiver of pod lifecycle events; subscribe before serving to miss none.
    pub fn pod_events(&self) -> broadcast::Receiver<PodEvent> {
        self.pods_tx.subscribe()
    }

    /// Serves the API and runs the controller until `shutdown` completes; open watches end
    /// then, and in-flight requests finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let addr = listener.local_addr().map_err(|source| Error::Io {
            context: "reading the listener address".into(),
            source,
        })?;
        let (stop_tx, stop_rx) = watch_channel::channel(false);
        let controller = controller::Controller::new(
            self.store.clone(),
            controller::Clock::new(self.config.time_scale),
            self.startup,
            self.pods_tx.clone(),
        );
        let controller = tokio::spawn(controller.run(stop_rx.clone()));
        let hpa = self.hpa.map(|h| tokio::spawn(h.run(stop_rx.clone())));
        let state = handlers::AppState {
            store: self.store.clone(),
            stop: stop_rx.clone(),
            bookmark_interval: self.config.bookmark_interval,
            server_address: client_addr(addr).to_string(),
        };
        tracing::info!(%addr, "kubesim serving");
        let mut stopped = stop_rx.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let served = axum::serve(listener, handlers::router(state))
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await;
        let _ = controller.await;
        if let Some(hpa) = hpa {
            let _ = hpa.await;
        }
        served.map_err(|source| Error::Io {
            context: "serving".into(),
            source,
        })
    }
}

/// The address clients use: loopback when bound to all interfaces.
fn client_addr(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

/// Serves on `listener` until `shutdown` completes (what the `kubesim` binary runs).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    Server::new(config)?.serve(listener, shutdown).await
}

/// A running kubesim, for tests: its address, store and pod events; stops on
/// [`Kubesim::shutdown`] or when dropped.
#[derive(Debug)]
pub struct Kubesim {
    addr: SocketAddr,
    store: Arc<Store>,
    pods_tx: broadcast::Sender<PodEvent>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<()>>>,
}

/// Binds `addr` (e.g. `127.0.0.1:0`) and serves in a background task.
pub async fn start(addr: SocketAddr, config: Config) -> Result<Kubesim> {
    let listener = TcpListener::bind(addr).await.map_err(|source| Error::Io {
        context: format!("binding {addr}"),
        source,
    })?;
    let addr = client_addr(listener.local_addr().map_err(|source| Error::Io {
        context: "reading the listener address".into(),
        source,
    })?);
    let server = Server::new(config)?;
    let store = server.store.clone();
    let pods_tx = server.pods_tx.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));
    Ok(Kubesim {
        addr,
        store,
        pods_tx,
        stop: Some(stop),
        task: Some(task),
    })
}

impl Kubesim {
    /// The address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The store: read and write objects directly, as the API would.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// A receiver of pod lifecycle events (Created, Started when Running and Ready,
    /// Terminating when marked for deletion, Stopped when removed).
    pub fn pod_events(&self) -> broadcast::Receiver<PodEvent> {
        self.pods_tx.subscribe()
    }

    /// The kubeconfig text pointing at this server.
    pub fn kubeconfig(&self) -> String {
        kubeconfig::render(&self.url())
    }

    /// Writes the kubeconfig pointing at this server to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<()> {
        kubeconfig::write(path, &self.url())
    }

    /// Stops serving (open watches end) and waits for the server to finish.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|e| {
                Err(Error::Io {
                    context: "server task".into(),
                    source: std::io::Error::other(e.to_string()),
                })
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Kubesim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Writes a kubeconfig pointing at `url` to `path` (what `kubesim --kubeconfig` does).
pub fn write_kubeconfig(path: &Path, url: &str) -> Result<()> {
    kubeconfig::write(path, url)
}

/// The kubeconfig text for a server at `url`.
pub fn kubeconfig_for(url: &str) -> String {
    kubeconfig::render(url)
}
