//! [`Host`]: a registry of emulated servers that can be started and stopped at run time, each
//! on its own port, and [`ServerHandle`], the way to watch and steer one of them.

use crate::completion::Completion;
use crate::config::{kv_capacity, Catalog, LoadSpec, ServerSpec};
use crate::engine::{drive, Clock, Core, Settings};
use crate::error::{Error, Result};
use crate::metrics::{Metrics, Snapshot};
use crate::scheduler::Limits;
use crate::server::{Allocation, AllocationUpdate, Server, ServerParts};
use inferno_api::PerfParms;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

/// How long [`ServerHandle::stop`] waits for open HTTP connections before cutting them.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How often [`ServerHandle::drain`] looks whether the engine is idle (wall time).
const DRAIN_POLL: Duration = Duration::from_millis(5);

/// A set of emulated servers in one process, keyed by name.
///
/// Cloning is cheap and clones share the registry. Servers run on the tokio runtime of the
/// caller of [`Host::start_server`]; dropping every handle of a server stops it.
///
/// ```no_run
/// use inferno_emulator::{Catalog, Host, ServerSpec};
///
/// async fn one_pod() -> inferno_emulator::Result<()> {
///     let host = Host::loopback(Some(Catalog::load("samples/small".as_ref())?));
///     let server = host
///         .start_server(ServerSpec {
///             name: "pod-1".into(),
///             model: "granite_13b".into(),
///             accelerator: "A100".into(),
///             ..ServerSpec::default()
///         })
///         .await?;
///     println!("{}", server.url()); // http://127.0.0.1:<port>
///     server.set_max_batch_size(32)?; // inferno.server.allocation.maxbatchsize
///     server.set_accelerator("L4")?; // inferno.server.allocation.accelerator
///     host.stop_server("pod-1").await
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

#[derive(Debug)]
struct HostInner {
    ip: IpAddr,
    catalog: Option<Arc<Catalog>>,
    servers: Mutex<BTreeMap<String, ServerHandle>>,
}

impl Host {
    /// A host binding its servers to `ip`, looking up performance data in `catalog`.
    pub fn new(ip: IpAddr, catalog: Option<Catalog>) -> Self {
        Self {
            inner: Arc::new(HostInner {
                ip,
                catalog: catalog.map(Arc::new),
                servers: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// A host on 127.0.0.1.
    pub fn loopback(catalog: Option<Catalog>) -> Self {
        Self::new(IpAddr::V4(Ipv4Addr::LOCALHOST), catalog)
    }

    /// The catalog of performance data, if any.
    pub fn catalog(&self) -> Option<&Catalog> {
        self.inner.catalog.as_deref()
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ServerHandle>> {
        self.inner.servers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a server on the host's address and `spec.port` (0 picks a free port).
    ///
    /// Fails if the spec is invalid, a server of that name already runs, or the port cannot
    /// be bound.
    pub async fn start_server(&self, spec: ServerSpec) -> Result<ServerHandle> {
        let addr = SocketAddr::new(self.inner.ip, spec.port);
        if self.registry().contains_key(&spec.name) {
            return Err(Error::DuplicateServer(spec.name));
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        self.start_server_on(spec, listener).await
    }

    /// Starts a server on an already bound listener (`spec.port` is ignored).
    pub async fn start_server_on(
        &self,
        spec: ServerSpec,
        listener: TcpListener,
    ) -> Result<ServerHandle> {
        let resolved = spec.resolve(self.inner.catalog.as_deref())?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: SocketAddr::new(self.inner.ip, resolved.spec.port),
            source,
        })?;
        let mut registry = self.registry();
        let spec = resolved.spec;
        if registry.contains_key(&spec.name) {
            return Err(Error::DuplicateServer(spec.name));
        }
        let limits = Limits {
            max_batch: resolved.max_batch,
            max_num_tokens: resolved.max_num_tokens,
            kv_capacity: kv_capacity(
                spec.kv_cache_tokens,
                resolved.max_batch,
                resolved.max_num_tokens,
            ),
        };
        let settings = Settings {
            accelerator: spec.accelerator.clone(),
            perf: resolved.perf,
            limits,
        };
        let metrics = Arc::new(Mutex::new(Metrics::new(
            &spec.model,
            &spec.accelerator,
            limits.max_batch,
        )));
        let (commands, rx) = mpsc::unbounded_channel();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let clock = Clock::start(spec.time_scale);
        let core = Core::new(
            settings.clone(),
            spec.noise,
            spec.seed,
            spec.load.clone(),
            metrics.clone(),
        );
        let server = Arc::new(Server::new(ServerParts {
            name: spec.name.clone(),
            model: spec.model.clone(),
            addr,
            time_scale: spec.time_scale,
            catalog: self.inner.catalog.clone(),
            kv_configured: spec.kv_cache_tokens,
            settings,
            load: spec.load.clone(),
            metrics,
            commands,
            clock,
            stopping: shutdown_rx.clone(),
        }));

        let span = tracing::info_span!("server", name = %spec.name);
        let engine =
            tokio::spawn(drive(core, clock, rx, shutdown_rx.clone()).instrument(span.clone()));
        let app = crate::http::router(server.clone());
        let mut http_shutdown = shutdown_rx;
        let http = tokio::spawn(
            async move {
                let stop = async move {
                    while !*http_shutdown.borrow_and_update() {
                        if http_shutdown.changed().await.is_err() {
                            break;
                        }
                    }
                };
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
                {
                    tracing::error!(error = %e, "HTTP server failed");
                }
            }
            .instrument(span),
        );
        tracing::info!(
            server = %spec.name,
            model = %spec.model,
            accelerator = %spec.accelerator,
            %addr,
            max_batch = limits.max_batch,
            kv_cache_tokens = limits.kv_capacity,
            time_scale = spec.time_scale,
            load_rate = spec.load.as_ref().map_or(0.0, |l| l.rate),
            "emulated vLLM server listening"
        );
        let handle = ServerHandle {
            server,
            tasks: Arc::new(Tasks {
                shutdown,
                joins: Mutex::new(vec![engine, http]),
            }),
        };
        registry.insert(spec.name, handle.clone());
        Ok(handle)
    }

    /// The server named `name`.
    pub fn server(&self, name: &str) -> Option<ServerHandle> {
        self.registry().get(name).cloned()
    }

    /// Every server, by name.
    pub fn servers(&self) -> Vec<ServerHandle> {
        self.registry().values().cloned().collect()
    }

    /// Stops the server named `name` and removes it from the host.
    pub async fn stop_server(&self, name: &str) -> Result<()> {
        let handle = self
            .registry()
            .remove(name)
            .ok_or_else(|| Error::NoSuchServer(name.into()))?;
        handle.stop().await;
        Ok(())
    }

    /// Stops every server.
    pub async fn shutdown(&self) {
        let all: Vec<ServerHandle> = std::mem::take(&mut *self.registry())
            .into_values()
            .collect();
        for handle in all {
            handle.stop().await;
        }
    }
}

#[derive(Debug)]
struct Tasks {
    shutdown: watch::Sender<bool>,
    joins: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Tasks {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// A running emulated server: its address, its allocation and load, its metrics.
///
/// Clones refer to the same server. Changes apply from the engine's next iteration.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    server: Arc<Server>,
    tasks: Arc<Tasks>,
}

impl ServerHandle {
    /// The server's name.
    pub fn name(&self) -> &str {
        &self.server.name
    }

    /// The served model name (`model_name` label).
    pub fn model(&self) -> &str {
        &self.server.model
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.server.addr.port()
    }

    /// Base URL, `http://ip:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Emulated time per wall time.
    pub fn time_scale(&self) -> f64 {
        self.server.time_scale
    }

    /// Emulated time since the server started, ms (from the wall clock).
    pub fn emulated_now(&self) -> f64 {
        self.server.clock.now()
    }

    /// The allocation in force.
    pub fn allocation(&self) -> Allocation {
        self.server.allocation()
    }

    /// Changes accelerator, iteration parameters and/or batch cap at once.
    ///
    /// A smaller batch cap lets running requests finish and admits no new ones until the
    /// batch is below it. A derived KV capacity (spec `kvCacheTokens` 0) follows the batch cap;
    /// requests that can no longer fit are answered with an error.
    pub fn update(&self, update: AllocationUpdate) -> Result<Allocation> {
        self.server.update(update)
    }

    /// Sets the batch cap (the `inferno.server.allocation.maxbatchsize` label).
    pub fn set_max_batch_size(&self, max_batch_size: u32) -> Result<Allocation> {
        self.update(AllocationUpdate {
            max_batch_size: Some(max_batch_size),
            ..AllocationUpdate::default()
        })
    }

    /// Moves the server to `accelerator` (the `inferno.server.allocation.accelerator` label),
    /// with the catalog's parameters for (model, accelerator); fails with
    /// [`Error::UnknownPerf`] when the catalog has none.
    pub fn set_accelerator(&self, accelerator: &str) -> Result<Allocation> {
        self.update(AllocationUpdate {
            accelerator: Some(accelerator.into()),
            ..AllocationUpdate::default()
        })
    }

    /// Sets the iteration parameters (and the accelerator name that goes with them).
    pub fn set_perf(&self, accelerator: &str, perf: PerfParms) -> Result<Allocation> {
        self.update(AllocationUpdate {
            accelerator: Some(accelerator.into()),
            perf: Some(perf),
            max_batch_size: None,
        })
    }

    /// Starts (or replaces) the internal Poisson load; arrivals begin now.
    pub fn start_load(&self, load: LoadSpec) -> Result<()> {
        self.server.set_load(Some(load))
    }

    /// Stops the internal load; queued and running requests still complete.
    pub fn stop_load(&self) -> Result<()> {
        self.server.set_load(None)
    }

    /// The internal load in force.
    pub fn load(&self) -> Option<LoadSpec> {
        self.server.load()
    }

    /// Counters, histogram sums and counts, gauges.
    pub fn snapshot(&self) -> Snapshot {
        self.server.snapshot()
    }

    /// The `/metrics` text.
    pub fn render_metrics(&self) -> String {
        self.server.render_metrics()
    }

    /// Sends the server one request, as `POST /v1/completions` with `prompt_tokens` and
    /// `max_tokens` does (same engine path, same metrics), and resolves when its last token is
    /// out, with its emulated timings.
    ///
    /// Fails with [`Error::Refused`] when the request can never run (prompt + `max_tokens`
    /// over the KV cache, or a count of 0), [`Error::CutOff`] when the server stops while the
    /// request is queued or running, [`Error::Stopped`] when it was stopped before. Dropping
    /// the future does not cancel the request: it still runs and counts in
    /// [`ServerHandle::in_flight`] until it completes.
    pub async fn complete(&self, prompt_tokens: u32, max_tokens: u32) -> Result<Completion> {
        self.server.complete(prompt_tokens, max_tokens).await
    }

    /// Requests from outside (HTTP and [`ServerHandle::complete`]) queued or running now; the
    /// internal load is not counted. A request counts from its submission until the engine
    /// answers it (or drops it when the server stops).
    pub fn in_flight(&self) -> u64 {
        self.server.in_flight()
    }

    /// Stops the internal load and resolves once no request at all is queued or running
    /// (outside ones and those of the internal load); what a pod removed from its Service's
    /// endpoints does before it exits. Requests sent meanwhile still run and are waited for.
    /// Fails with [`Error::Stopped`] if the server stops first.
    pub async fn drain(&self) -> Result<()> {
        self.stop_load()?;
        // After the barrier the engine has applied the stop: no internal arrival comes, and
        // the gauges can only lag behind requests leaving, never behind requests coming.
        self.server.barrier().await?;
        loop {
            if self.server.stopping() {
                return Err(Error::Stopped(self.server.name.clone()));
            }
            let s = self.server.snapshot();
            if self.in_flight() == 0 && s.running == 0 && s.waiting == 0 {
                return Ok(());
            }
            tokio::time::sleep(DRAIN_POLL).await;
        }
    }

    /// Stops the engine (requests in flight are cut off: [`Error::CutOff`], HTTP 503) and the
    /// HTTP server, and waits for both. Stopping twice is harmless.
    pub async fn stop(&self) {
        let _ = self.tasks.shutdown.send(true);
        let joins: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.joins.lock().unwrap_or_else(|e| e.into_inner()));
        for mut join in joins {
            if tokio::time::timeout(STOP_GRACE, &mut join).await.is_err() {
                join.abort();
            }
        }
        tracing::info!(server = %self.server.name, "emulated vLLM server stopped");
    }
}
