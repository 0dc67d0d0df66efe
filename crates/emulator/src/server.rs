//! The shared side of one emulated server: its identity, the settings in force, its metrics
//! and the channel to its engine. HTTP handlers and [`crate::ServerHandle`] both steer the
//! engine through it.

use crate::completion::{Completion, Outcome, Waiter};
use crate::config::{check_perf, kv_capacity, Catalog, LoadSpec};
use crate::engine::{lock, Clock, Command, Settings, Submission};
use crate::error::{Error, Result};
use crate::metrics::{Metrics, Snapshot};
use crate::scheduler::Limits;
use inferno_api::PerfParms;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};

/// The allocation an emulated server runs with: what the Deployment labels
/// `inferno.server.allocation.accelerator` and `.maxbatchsize` decide under kubesim.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Allocation {
    /// Accelerator name.
    pub accelerator: String,
    /// Iteration-time parameters in force, ms.
    pub perf: PerfParms,
    /// Batch cap (vLLM `max_num_seqs`).
    pub max_batch_size: u32,
    /// Token budget per iteration.
    pub max_num_tokens: u32,
    /// KV cache capacity, tokens.
    pub kv_cache_tokens: u64,
}

/// A change to a running server's allocation; `None` fields stay as they are.
///
/// An accelerator without `perf` takes its parameters from the host's catalog for the
/// server's model; `perf` alone keeps the accelerator name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct AllocationUpdate {
    /// New accelerator name.
    pub accelerator: Option<String>,
    /// New iteration-time parameters, ms.
    pub perf: Option<PerfParms>,
    /// New batch cap (>= 1).
    pub max_batch_size: Option<u32>,
}

#[derive(Debug)]
struct Live {
    settings: Settings,
    load: Option<LoadSpec>,
}

/// One emulated server, shared by its handle and its HTTP handlers.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) name: String,
    pub(crate) model: String,
    pub(crate) addr: SocketAddr,
    pub(crate) time_scale: f64,
    catalog: Option<Arc<Catalog>>,
    /// KV capacity as configured (0 = derived from the batch cap).
    kv_configured: u64,
    live: Mutex<Live>,
    pub(crate) metrics: Arc<Mutex<Metrics>>,
    commands: mpsc::UnboundedSender<Command>,
    pub(crate) clock: Clock,
    next_id: AtomicU64,
    /// Outside requests submitted and not yet answered (see [`Waiter`]).
    in_flight: Arc<AtomicU64>,
    /// Turns true when the server is told to stop.
    stopping: watch::Receiver<bool>,
}

/// Everything [`Server::new`] needs.
pub(crate) struct ServerParts {
    pub(crate) name: String,
    pub(crate) model: String,
    pub(crate) addr: SocketAddr,
    pub(crate) time_scale: f64,
    pub(crate) catalog: Option<Arc<Catalog>>,
    pub(crate) kv_configured: u64,
    pub(crate) settings: Settings,
    pub(crate) load: Option<LoadSpec>,
    pub(crate) metrics: Arc<Mutex<Metrics>>,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) clock: Clock,
    pub(crate) stopping: watch::Receiver<bool>,
}

impl Server {
    pub(crate) fn new(p: ServerParts) -> Self {
        Self {
            name: p.name,
            model: p.model,
            addr: p.addr,
            time_scale: p.time_scale,
            catalog: p.catalog,
            kv_configured: p.kv_configured,
            live: Mutex::new(Live {
                settings: p.settings,
                load: p.load,
            }),
            metrics: p.metrics,
            commands: p.commands,
            clock: p.clock,
            next_id: AtomicU64::new(1),
            in_flight: Arc::default(),
            stopping: p.stopping,
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, cmd: Command) -> Result<()> {
        self.commands
            .send(cmd)
            .map_err(|_| Error::Stopped(self.name.clone()))
    }

    fn invalid(&self, message: impl Into<String>) -> Error {
        Error::InvalidSpec {
            server: self.name.clone(),
            message: message.into(),
        }
    }

    pub(crate) fn allocation(&self) -> Allocation {
        let live = self.live();
        let s = &live.settings;
        Allocation {
            accelerator: s.accelerator.clone(),
            perf: s.perf,
            max_batch_size: s.limits.max_batch,
            max_num_tokens: s.limits.max_num_tokens,
            kv_cache_tokens: s.limits.kv_capacity,
        }
    }

    pub(crate) fn update(&self, update: AllocationUpdate) -> Result<Allocation> {
        if update.max_batch_size == Some(0) {
            return Err(self.invalid("maxBatchSize must be >= 1"));
        }
        let perf = match (&update.perf, &update.accelerator) {
            (Some(p), _) => {
                check_perf(p).map_err(|m| self.invalid(m))?;
                Some(*p)
            }
            (None, Some(acc)) => {
                let catalog = self.catalog.as_deref().ok_or_else(|| Error::UnknownPerf {
                    model: self.model.clone(),
                    accelerator: acc.clone(),
                })?;
                Some(catalog.perf(&self.model, acc)?)
            }
            (None, None) => None,
        };
        let mut live = self.live();
        let mut settings = live.settings.clone();
        if let Some(acc) = update.accelerator {
            settings.accelerator = acc;
        }
        if let Some(p) = perf {
            settings.perf = p;
        }
        if let Some(n) = update.max_batch_size {
            settings.limits = Limits {
                max_batch: n,
                kv_capacity: kv_capacity(self.kv_configured, n, settings.limits.max_num_tokens),
                ..settings.limits
            };
        }
        if settings != live.settings {
            self.send(Command::Settings(settings.clone()))?;
            tracing::info!(
                server = %self.name,
                accelerator = %settings.accelerator,
                max_batch = settings.limits.max_batch,
                alpha = settings.perf.alpha,
                beta = settings.perf.beta,
                gamma = settings.perf.gamma,
                "allocation changed"
            );
            live.settings = settings;
        }
        drop(live);
        Ok(self.allocation())
    }

    pub(crate) fn load(&self) -> Option<LoadSpec> {
        self.live().load.clone()
    }

    pub(crate) fn set_load(&self, load: Option<LoadSpec>) -> Result<()> {
        if let Some(l) = &load {
            l.validate().map_err(|m| self.invalid(m))?;
        }
        let mut live = self.live();
        self.send(Command::Load(load.clone()))?;
        match &load {
            Some(l) => tracing::info!(server = %self.name, rate = l.rate, in_tokens = %l.in_tokens,
                out_tokens = %l.out_tokens, seed = l.seed, "internal load started"),
            None => tracing::info!(server = %self.name, "internal load stopped"),
        }
        live.load = load;
        Ok(())
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        lock(&self.metrics).snapshot()
    }

    pub(crate) fn render_metrics(&self) -> String {
        crate::metrics::render(&self.metrics)
    }

    fn refused(&self, message: impl Into<String>) -> Error {
        Error::Refused {
            server: self.name.clone(),
            message: message.into(),
        }
    }

    /// Runs one request through the engine (the path of every outside request, HTTP included)
    /// and returns its timings once its last token is out.
    pub(crate) async fn complete(&self, prompt: u32, max_tokens: u32) -> Result<Completion> {
        if prompt == 0 {
            return Err(self.refused("the prompt must have at least 1 token"));
        }
        if max_tokens == 0 {
            return Err(self.refused("max_tokens must be at least 1"));
        }
        let capacity = self.allocation().kv_cache_tokens;
        let total = u64::from(prompt) + u64::from(max_tokens);
        if total > capacity {
            return Err(self.refused(format!(
                "This model's maximum context length is {capacity} tokens. However, you \
                 requested {total} tokens ({prompt} in the prompt, {max_tokens} for the \
                 completion)."
            )));
        }
        if self.stopping() {
            return Err(Error::Stopped(self.name.clone()));
        }
        let (reply, rx) = Waiter::new(&self.in_flight);
        self.send(Command::Submit(Submission {
            prompt,
            max_tokens,
            received: tokio::time::Instant::now(),
            reply,
        }))?;
        match rx.await {
            Ok(Outcome::Done(done)) => Ok(done),
            Ok(Outcome::Rejected(message)) => Err(self.refused(message)),
            // The engine dropped the request: it stopped while the request was queued or ran.
            Err(_) => Err(Error::CutOff(self.name.clone())),
        }
    }

    /// Outside requests queued or running.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Resolves once the engine has applied every command sent before this call.
    pub(crate) async fn barrier(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Barrier(tx))?;
        rx.await.map_err(|_| Error::Stopped(self.name.clone()))
    }

    /// Whether the server was told to stop.
    pub(crate) fn stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// A fresh request id number.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }
}
