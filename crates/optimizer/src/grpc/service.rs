//! The `inferno.v1.Optimizer` service.
//!
//! Every computation (validation and solve, the queue calls) runs on the blocking pool with a
//! [`Cancel`] flag, under a deadline: the request's `grpc-timeout`, capped by the server's
//! request timeout. When the deadline passes the handler answers DEADLINE_EXCEEDED and raises
//! the flag; when the request's future is dropped (the client went away, tonic's own timer)
//! the guard it holds raises it. The computation sees the flag within a fraction of a second
//! and stops, so a core is never kept busy for a request nobody waits for.

use super::edge::Arrival;
use super::explain::explain_response;
use super::metrics::Metrics;
use super::response::{concurrency_response, optimize_response, queue_metrics, size_response};
use super::state;
use super::violations::{invalid_data, invalid_field, invalid_fields};
use crate::cancel::Cancel;
use crate::error::Error;
use crate::explain::{explain_cancellable, Depth};
use crate::queue::{optimal_concurrency, Analyzer, ConcurrencySearch, QueueInput};
use crate::solver::{solve_cancellable, Reason, Solution, SolveOptions, Unplaced};
use inferno_api::{check_each_server, FileNames, SystemSpec};
use inferno_proto::v1::{self, optimizer_server::Optimizer};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use tracing::{debug, info, instrument, warn};

/// What stateful mode keeps between calls.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    spec: SystemSpec,
    /// Servers the last Optimize placed (their desired allocation is a decision).
    decided: HashSet<String>,
}

/// The optimizer service: stateless, or stateful with a stored system.
#[derive(Debug, Clone)]
pub struct OptimizerService {
    stored: Option<Arc<RwLock<Stored>>>,
    metrics: Arc<Metrics>,
    timeout: Duration,
}

type Reply<T> = Result<Response<T>, Status>;

/// INVALID_ARGUMENT for stored data that does not fit the contract (a number beyond 32 bits;
/// it came in through the contract, so this cannot happen).
fn bad(e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(e.to_string())
}

/// `OptimalConcurrency` searches up to this batch size when the request gives none.
const DEFAULT_CONCURRENCY_BOUND: u32 = 256;

/// The request's `grpc-timeout` (`<digits><unit>`, unit one of H M S m u n).
fn grpc_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let v = metadata.get("grpc-timeout")?.to_str().ok()?;
    let digits = v.get(..v.len().checked_sub(1)?)?;
    let n: u64 = digits.parse().ok()?;
    Some(match v.get(v.len() - 1..)? {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

impl OptimizerService {
    /// A service; `stateful` enables the set/add/get/remove RPCs and Optimize. Requests may run
    /// 60 s (see [`OptimizerService::with_timeout`]).
    pub fn new(stateful: bool, metrics: Arc<Metrics>) -> Self {
        Self {
            stored: stateful.then(|| Arc::new(RwLock::new(Stored::default()))),
            metrics,
            timeout: Duration::from_secs(60),
        }
    }

    /// The longest a request may run before it ends in DEADLINE_EXCEEDED.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn stored(&self) -> Result<&Arc<RwLock<Stored>>, Status> {
        self.stored.as_ref().ok_or_else(|| {
            Status::failed_precondition("the optimizer runs stateless; start it with --stateful")
        })
    }

    /// Runs `f` on the stored system under the write lock.
    fn write<T>(&self, f: impl FnOnce(&mut Stored) -> Result<T, Status>) -> Result<T, Status> {
        let mut guard = self.stored()?.write().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    fn read<T>(&self, f: impl FnOnce(&Stored) -> Result<T, Status>) -> Result<T, Status> {
        let guard = self.stored()?.read().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }

    /// When the request must be answered: the server's timeout, or the client's deadline if
    /// sooner, counted from the call's arrival. The client's is moved a little earlier (a
    /// tenth, at most 10 ms) so this answer, DEADLINE_EXCEEDED, comes before tonic's own timer
    /// for `grpc-timeout` fires (which would answer CANCELLED).
    fn deadline<T>(&self, request: &Request<T>) -> Instant {
        let arrival = request
            .extensions()
            .get::<Arrival>()
            .map_or_else(Instant::now, |a| a.0);
        let far = || arrival + Duration::from_secs(86_400 * 365);
        let server = arrival.checked_add(self.timeout).unwrap_or_else(far);
        match grpc_timeout(request.metadata()) {
            Some(client) => {
                let margin = (client / 10).min(Duration::from_millis(10));
                let client = arrival.checked_add(client - margin).unwrap_or_else(far);
                server.min(client)
            }
            None => server,
        }
    }

    /// Runs `work` on the blocking pool until `deadline`, with a cancellation flag that goes up
    /// when the deadline passes (the answer is then DEADLINE_EXCEEDED) or when this future is
    /// dropped. Failures are counted; so are computations that saw the flag and stopped.
    async fn compute<T: Send + 'static>(
        &self,
        deadline: Instant,
        work: impl FnOnce(&Cancel) -> Result<T, Status> + Send + 'static,
    ) -> Result<T, Status> {
        let cancel = Cancel::new();
        let guard = cancel.on_drop();
        let (flag, metrics) = (cancel.clone(), self.metrics.clone());
        let task = tokio::task::spawn_blocking(move || {
            let _busy = metrics.busy();
            let result = work(&flag);
            if flag.observed() > 0 {
                metrics.cancelled();
            }
            result
        });
        let result = match tokio::time::timeout_at(deadline.into(), task).await {
            Ok(done) => {
                guard.disarm();
                done.unwrap_or_else(|e| {
                    Err(Status::internal(format!("the computation failed: {e}")))
                })
            }
            Err(_) => {
                // Dropping the guard raises the flag: the computation stops soon.
                drop(guard);
                Err(Status::deadline_exceeded(
                    "the request's deadline passed before the computation finished; it was stopped",
                ))
            }
        };
        if result.is_err() {
            self.metrics.failed();
        }
        result
    }

    /// Validates and solves `spec` (see [`solve_each_server`]), logging the outcome.
    async fn solve(
        &self,
        spec: SystemSpec,
        label: &'static str,
        root: &'static str,
        deadline: Instant,
    ) -> Result<(Solution, Vec<String>), Status> {
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let large = spec.server_data.servers.len() > crate::memory::LARGE_REQUEST_SERVERS;
        let computed = self
            .compute(deadline, move |cancel| {
                solve_each_server(spec, label, root, cancel, &metrics)
            })
            .await;
        if large {
            // Once the answer is sent and the request's buffers freed, give the memory back.
            tokio::spawn(async {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let _ = tokio::task::spawn_blocking(crate::memory::release_freed).await;
            });
        }
        let (solution, warnings) = computed?;
        let total = solution.total_cost();
        info!(
            servers = solution.placements.len() + solution.unplaced.len(),
            placed = solution.placements.len(),
            unplaced = solution.unplaced.len(),
            total_cost = total,
            solver = solution.report.solver,
            status = solution.report.status,
            gap = solution.report.gap,
            duration_ms = started.elapsed().as_secs_f64() * 1e3,
            "solved"
        );
        for p in solution.placements.values() {
            let a = &p.allocation;
            debug!(server = %p.server, accelerator = %a.accelerator, replicas = a.num_replicas, batch = a.max_batch,
                cost = a.cost, itl = a.itl_average, ttft = a.ttft_average, best_effort = p.best_effort, "decision");
        }
        for u in &solution.unplaced {
            warn!(server = %u.server, code = u.reason.code(), reason = %u.reason, "unplaced");
        }
        Ok((solution, warnings))
    }
}

/// The checks of a system every RPC that solves one makes: shared data valid (every problem
/// named at once, field violations from `root`), at least one server, options valid. Returns
/// the checked system (servers with invalid data of their own set aside), its warnings and
/// the options.
fn validated(
    spec: SystemSpec,
    label: &str,
    root: &str,
) -> Result<(inferno_api::Checked, Vec<String>, SolveOptions), Status> {
    // Shared data first, so that every problem of a request is named at once.
    let empty = spec.server_data.servers.is_empty();
    // The entities' names, to point at the request's fields should the check fail (the check
    // takes the system; a copy of a large one would double the request's memory).
    let names = super::violations::Names::of(&spec);
    let checked = check_each_server(spec, &FileNames::single(label))
        .map_err(|e| invalid_data(e, &names, root))?;
    if empty {
        let e = Error::NoServers;
        return Err(inferno_proto::status::invalid_argument(
            format!("{label}: {e}"),
            vec![inferno_proto::status::Violation::new(
                format!("{root}server_data.servers"),
                e.to_string(),
            )],
        ));
    }
    let spec = &checked.loaded.spec;
    let warnings: Vec<String> = checked
        .loaded
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect();
    let options = SolveOptions::from_spec(spec).map_err(|e| {
        // `optimizer.solver: unknown solver ...`: a field of the optimizer flags.
        let text = e.to_string();
        match text.split_once(": ") {
            Some((field, what)) if field.starts_with("optimizer.") => invalid_field(
                &format!(
                    "{root}optimizer_data.{}",
                    inferno_proto::status::snake_case(field)
                ),
                what,
            ),
            _ => inferno_proto::status::invalid_argument(text, Vec::new()),
        }
    })?;
    Ok((checked, warnings, options))
}

/// Validates `spec` and solves it, on the calling (blocking) thread. A system without servers
/// is INVALID_ARGUMENT (its field violations point into the request from `root`: `system.`
/// for OptimizeOne, "" for the stored system); so is invalid shared data (accelerators, capacity, models, classes,
/// optimizer flags), with every problem. A server whose own data is invalid is left out of the
/// solve and reported unplaced (`invalid-data`) with its problems: one bad server never stops
/// the decisions for the others.
fn solve_each_server(
    spec: SystemSpec,
    label: &str,
    root: &str,
    cancel: &Cancel,
    metrics: &Metrics,
) -> Result<(Solution, Vec<String>), Status> {
    let (checked, warnings, options) = validated(spec, label, root)?;
    let spec = &checked.loaded.spec;
    let start = Instant::now();
    let mut solution = solve_cancellable(spec, &options, cancel)?;
    let took = start.elapsed();
    if !checked.rejected.is_empty() {
        metrics.rejected(checked.rejected.len());
        // Unplaced servers in the order given: the kept ones fill the indices not rejected.
        let rejected: HashSet<usize> = checked.rejected.iter().map(|r| r.index).collect();
        let mut index: HashMap<&str, usize> = HashMap::new();
        let kept = (0..).filter(|i| !rejected.contains(i));
        for (s, i) in spec.server_data.servers.iter().zip(kept) {
            index.entry(s.name.as_str()).or_insert(i);
        }
        let mut unplaced: Vec<(usize, Unplaced)> = std::mem::take(&mut solution.unplaced)
            .into_iter()
            .map(|u| {
                (
                    index.get(u.server.as_str()).copied().unwrap_or(usize::MAX),
                    u,
                )
            })
            .collect();
        unplaced.extend(checked.rejected.iter().map(|r| {
            let reason = Reason::InvalidData(r.reason());
            let server = r.name.clone();
            (r.index, Unplaced { server, reason })
        }));
        unplaced.sort_by_key(|(i, _)| *i);
        solution.unplaced = unplaced.into_iter().map(|(_, u)| u).collect();
    }
    metrics.solved(
        took,
        solution.total_cost(),
        solution.placements.len(),
        solution.unplaced.len(),
    );
    Ok((solution, warnings))
}

/// The fields of a queue request as the model's input.
fn queue_input(r: &v1::QueueRequest) -> QueueInput {
    QueueInput {
        rps: r.rps,
        max_batch_size: i64::from(r.max_batch_size),
        avg_input_tokens: r.avg_input_tokens,
        avg_output_tokens: r.avg_output_tokens,
        alpha: r.alpha,
        beta: r.beta,
        gamma: r.gamma,
        max_queue_size: i64::from(r.max_queue_size),
        target_ttft: r.target_ttft,
        target_itl: r.target_itl,
        out_tokens_cv: r.out_tokens_cv,
    }
}

#[tonic::async_trait]
impl Optimizer for OptimizerService {
    #[instrument(skip_all, fields(rpc = "OptimizeOne"))]
    async fn optimize_one(&self, request: Request<v1::SystemData>) -> Reply<v1::OptimizeResponse> {
        let deadline = self.deadline(&request);
        let system = request.into_inner().system.unwrap_or_default();
        let label = "OptimizeOne request";
        let (solution, warnings) = self
            .solve(system.into(), label, "system.", deadline)
            .await?;
        Ok(Response::new(optimize_response(&solution, warnings)?))
    }

    #[instrument(skip_all, fields(rpc = "Explain"))]
    async fn explain(&self, request: Request<v1::ExplainRequest>) -> Reply<v1::ExplainResponse> {
        let deadline = self.deadline(&request);
        let request = request.into_inner();
        let depth = if request.brief {
            Depth::Brief
        } else {
            Depth::Full
        };
        let spec: SystemSpec = request.system.unwrap_or_default().into();
        let started = Instant::now();
        let explained = self
            .compute(deadline, move |cancel| {
                let (checked, mut warnings, options) =
                    validated(spec, "Explain request", "system.")?;
                // Servers with invalid data of their own are left out, and said so.
                warnings.extend(
                    checked
                        .rejected
                        .iter()
                        .map(|r| format!("server {} left out: {}", r.name, r.reason())),
                );
                let e = explain_cancellable(&checked.loaded.spec, &options, depth, cancel)?;
                Ok((e, warnings))
            })
            .await?;
        let (e, warnings) = explained;
        info!(
            servers = e.servers.len(),
            cost = e.decision.cost,
            lower_bound = e.lower_bound.cost,
            priced_by = e.priced_by,
            duration_ms = started.elapsed().as_secs_f64() * 1e3,
            "explained"
        );
        Ok(Response::new(explain_response(&e, warnings)))
    }

    #[instrument(skip_all, fields(rpc = "Optimize"))]
    async fn optimize(&self, request: Request<v1::OptimizerSpec>) -> Reply<v1::OptimizeResponse> {
        let deadline = self.deadline(&request);
        let flags = request.into_inner().into();
        let mut spec = self.read(|s| Ok(s.spec.clone()))?;
        spec.optimizer_data.optimizer = flags;
        let (solution, warnings) = self.solve(spec, "stored system", "", deadline).await?;
        self.write(|s| {
            s.decided.clear();
            for server in &mut s.spec.server_data.servers {
                match solution.placements.get(&server.name) {
                    Some(p) => {
                        server.desired_alloc = p.allocation.clone();
                        s.decided.insert(server.name.clone());
                    }
                    None => server.desired_alloc = Default::default(),
                }
            }
            Ok(())
        })?;
        Ok(Response::new(optimize_response(&solution, warnings)?))
    }

    async fn apply_allocation(&self, _: Request<()>) -> Reply<v1::ServerData> {
        let data = self.write(|s| {
            state::apply_allocation(&mut s.spec, &s.decided);
            Ok(s.spec.server_data.clone())
        })?;
        Ok(Response::new((&data).try_into().map_err(bad)?))
    }

    async fn get_system(&self, _: Request<()>) -> Reply<v1::SystemData> {
        let spec = self.read(|s| Ok(s.spec.clone()))?;
        Ok(Response::new(v1::SystemData {
            system: Some((&spec).try_into().map_err(bad)?),
        }))
    }

    async fn set_accelerators(
        &self,
        r: Request<v1::AcceleratorData>,
    ) -> Reply<v1::AcceleratorData> {
        let data: inferno_api::AcceleratorData = r.into_inner().into();
        self.write(|s| {
            s.spec.accelerator_data = data.clone();
            Ok(())
        })?;
        Ok(Response::new((&data).try_into().map_err(bad)?))
    }

    async fn add_accelerator(&self, r: Request<v1::AcceleratorSpec>) -> Reply<v1::AcceleratorSpec> {
        let a = r.into_inner();
        if a.name.is_empty() {
            return Err(invalid_field("name", "must not be empty"));
        }
        let added = self.write(|s| Ok(state::add_accelerator(&mut s.spec, a.into())))?;
        Ok(Response::new((&added).try_into().map_err(bad)?))
    }

    async fn get_accelerators(&self, r: Request<v1::NameFilter>) -> Reply<v1::AcceleratorData> {
        let name = r.into_inner().name;
        let accelerators = self.read(|s| {
            state::select(
                &s.spec.accelerator_data.accelerators,
                &name,
                "accelerator",
                |a| &a.name,
            )
        })?;
        let data = inferno_api::AcceleratorData { accelerators };
        Ok(Response::new((&data).try_into().map_err(bad)?))
    }

    async fn remove_accelerator(&self, r: Request<v1::NameFilter>) -> Reply<v1::AcceleratorSpec> {
        let name = r.into_inner().name;
        let mut gone = self.write(|s| {
            state::remove(
                &mut s.spec.accelerator_data.accelerators,
                &format!("accelerator {name:?}"),
                |a| a.name == name,
            )
        })?;
        Ok(Response::new((&gone.remove(0)).try_into().map_err(bad)?))
    }

    async fn set_capacities(&self, r: Request<v1::CapacityData>) -> Reply<v1::CapacityData> {
        let data: inferno_api::CapacityData = r.into_inner().into();
        self.write(|s| {
            s.spec.capacity_data = data.clone();
            Ok(())
        })?;
        Ok(Response::new((&data).try_into().map_err(bad)?))
    }

    async fn set_capacity(&self, r: Request<v1::AcceleratorCount>) -> Reply<v1::AcceleratorCount> {
        let c = r.into_inner();
        if c.r#type.is_empty() {
            return Err(invalid_field("type", "must not be empty"));
        }
        let set = self.write(|s| Ok(state::set_capacity(&mut s.spec, c.into())))?;
        Ok(Response::new((&set).try_into().map_err(bad)?))
    }

    async fn get_capacities(&self, r: Request<v1::NameFilter>) -> Reply<v1::CapacityData> {
        let name = r.into_inner().name;
        let count = self.read(|s| {
            state::select(
                &s.spec.capacity_data.count,
                &name,
                "capacity of type",
                |c| &c.acc_type,
            )
        })?;
        Ok(Response::new(
            (&inferno_api::CapacityData { count })
                .try_into()
                .map_err(bad)?,
        ))
    }

    async fn remove_capacity(&self, r: Request<v1::NameFilter>) -> Reply<v1::AcceleratorCount> {
        let name = r.into_inner().name;
        let mut gone = self.write(|s| {
            state::remove(
                &mut s.spec.capacity_data.count,
                &format!("capacity of type {name:?}"),
                |c| c.acc_type == name,
            )
        })?;
        Ok(Response::new((&gone.remove(0)).try_into().map_err(bad)?))
    }

    async fn set_models(&self, r: Request<v1::ModelData>) -> Reply<v1::ModelData> {
        let data: inferno_api::ModelData = r.into_inner().into();
        self.write(|s| {
            s.spec.model_data = data.clone();
            Ok(())
        })?;
        Ok(Response::new((&data).try_into().map_err(bad)?))
    }

    async fn add_model_accelerator_perf(
        &self,
        r: Request<v1::ModelAcceleratorPerfData>,
    ) -> Reply<v1::ModelAcceleratorPerfData> {
        let m = r.into_inner();
        for (field, value) in [("name", &m.name), ("accelerator", &m.accelerator)] {
            if value.is_empty() {
                return Err(invalid_field(field, "must not be empty"));
            }
        }
        let added = self.write(|s| Ok(state::add_perf(&mut s.spec, m.into())))?;
        Ok(Response::new((&added).try_into().map_err(bad)?))
    }

    async fn get_models(&self, r: Request<v1::ModelFilter>) -> Reply<v1::ModelData> {
        let f = r.into_inner();
        let models = self.read(|s| {
            let rows: Vec<_> = s
                .spec
                .model_data
                .models
                .iter()
                .filter(|m| {
                    (f.name.is_empty() || m.name == f.name)
                        && (f.accelerator.is_empty() || m.acc == f.accelerator)
                })
                .cloned()
                .collect();
            if rows.is_empty() && !(f.name.is_empty() && f.accelerator.is_empty()) {
                return Err(Status::not_found(format!(
                    "no perf data for model {:?} on {:?}",
                    f.name, f.accelerator
                )));
            }
            Ok(rows)
        })?;
        Ok(Response::new(
            (&inferno_api::ModelData { models })
                .try_into()
                .map_err(bad)?,
        ))
    }

    async fn remove_model(&self, r: Request<v1::ModelFilter>) -> Reply<v1::ModelData> {
        let f = r.into_inner();
        if f.name.is_empty() {
            return Err(invalid_field("name", "must not be empty"));
        }
        let models = self.write(|s| {
            state::remove(
                &mut s.spec.model_data.models,
                &format!("perf data of model {:?}", f.name),
                |m| m.name == f.name && (f.accelerator.is_empty() || m.acc == f.accelerator),
            )
        })?;
        Ok(Response::new(
            (&inferno_api::ModelData { models })
                .try_into()
                .map_err(bad)?,
        ))
    }

    async fn set_service_classes(
        &self,
        r: Request<v1::ServiceClassData>,
    ) -> Reply<v1::ServiceClassData> {
        let data: inferno_api::ServiceClassData = r.into_inner().into();
        self.write(|s| {
            s.spec.service_class_data = data.clone();
            Ok(())
        })?;
        Ok(Response::new((&data).try_into().map_err(bad)?))
    }

    async fn add_service_class(
        &self,
        r: Request<v1::ServiceClassSpec>,
    ) -> Reply<v1::ServiceClassSpec> {
        let c = r.into_inner();
        if c.name.is_empty() {
            return Err(invalid_field("name", "must not be empty"));
        }
        let added = self.write(|s| Ok(state::add_class(&mut s.spec, c.into())))?;
        Ok(Response::new((&added).try_into().map_err(bad)?))
    }

    async fn add_service_class_model_target(
        &self,
        r: Request<v1::ClassTarget>,
    ) -> Reply<v1::ServiceClassSpec> {
        let ct = r.into_inner();
        let target = ct
            .target
            .ok_or_else(|| invalid_field("target", "required"))?;
        if target.model.is_empty() {
            return Err(invalid_field("target.model", "must not be empty"));
        }
        let class =
            self.write(|s| state::add_class_target(&mut s.spec, &ct.name, target.into()))?;
        Ok(Response::new((&class).try_into().map_err(bad)?))
    }

    async fn get_service_classes(&self, r: Request<v1::NameFilter>) -> Reply<v1::ServiceClassData> {
        let name = r.into_inner().name;
        let service_classes = self.read(|s| {
            state::select(
                &s.spec.service_class_data.service_classes,
                &name,
                "service class",
                |c| &c.name,
            )
        })?;
        Ok(Response::new(
            (&inferno_api::ServiceClassData { service_classes })
                .try_into()
                .map_err(bad)?,
        ))
    }

    async fn remove_service_class(
        &self,
        r: Request<v1::ClassModelFilter>,
    ) -> Reply<v1::ServiceClassSpec> {
        let f = r.into_inner();
        let class = self.write(|s| state::remove_class(&mut s.spec, &f.name, &f.model))?;
        Ok(Response::new((&class).try_into().map_err(bad)?))
    }

    async fn set_servers(&self, r: Request<v1::ServerData>) -> Reply<v1::ServerData> {
        let data: inferno_api::ServerData = r.into_inner().into();
        self.write(|s| {
            s.spec.server_data = data.clone();
            s.decided.clear();
            Ok(())
        })?;
        Ok(Response::new((&data).try_into().map_err(bad)?))
    }

    async fn add_server(&self, r: Request<v1::ServerSpec>) -> Reply<v1::ServerSpec> {
        let server = r.into_inner();
        if server.name.is_empty() {
            return Err(invalid_field("name", "must not be empty"));
        }
        let added = self.write(|s| Ok(state::add_server(&mut s.spec, server.into())))?;
        Ok(Response::new((&added).try_into().map_err(bad)?))
    }

    async fn get_servers(&self, r: Request<v1::NameFilter>) -> Reply<v1::ServerData> {
        let name = r.into_inner().name;
        let servers = self
            .read(|s| state::select(&s.spec.server_data.servers, &name, "server", |x| &x.name))?;
        Ok(Response::new(
            (&inferno_api::ServerData { servers })
                .try_into()
                .map_err(bad)?,
        ))
    }

    async fn remove_server(&self, r: Request<v1::NameFilter>) -> Reply<v1::ServerSpec> {
        let name = r.into_inner().name;
        let mut gone = self.write(|s| {
            s.decided.remove(&name);
            state::remove(
                &mut s.spec.server_data.servers,
                &format!("server {name:?}"),
                |x| x.name == name,
            )
        })?;
        Ok(Response::new((&gone.remove(0)).try_into().map_err(bad)?))
    }

    async fn analyze(&self, r: Request<v1::QueueRequest>) -> Reply<v1::QueueMetrics> {
        let deadline = self.deadline(&r);
        let input = queue_input(r.get_ref());
        let (config, _) = input.check(None, true).map_err(invalid_fields)?;
        let m = self
            .compute(deadline, move |_| {
                Analyzer::new(config)
                    .and_then(|a| a.analyze(input.rps))
                    .map_err(Status::from)
            })
            .await?;
        Ok(Response::new(queue_metrics(&m)))
    }

    async fn size(&self, r: Request<v1::QueueRequest>) -> Reply<v1::SizeResponse> {
        let deadline = self.deadline(&r);
        let (config, targets) = queue_input(r.get_ref())
            .check(None, false)
            .map_err(invalid_fields)?;
        let s = self
            .compute(deadline, move |_| {
                Analyzer::new(config)
                    .and_then(|a| a.size(&targets))
                    .map_err(Status::from)
            })
            .await?;
        Ok(Response::new(size_response(&s)))
    }

    async fn optimal_concurrency(
        &self,
        r: Request<v1::QueueRequest>,
    ) -> Reply<v1::ConcurrencyResponse> {
        let deadline = self.deadline(&r);
        let (config, targets) = queue_input(r.get_ref())
            .check(Some(DEFAULT_CONCURRENCY_BOUND), false)
            .map_err(invalid_fields)?;
        let search = ConcurrencySearch {
            max_batch: config.max_batch,
            ..ConcurrencySearch::default()
        };
        let c = self
            .compute(deadline, move |_| {
                optimal_concurrency(&config, &targets, &search).map_err(Status::from)
            })
            .await?;
        Ok(Response::new(concurrency_response(&c)))
    }
}
