//! The `inferno.v1.Optimizer` service.

use super::metrics::Metrics;
use super::response::{concurrency_response, optimize_response, queue_metrics, size_response};
use super::state;
use crate::queue::{
    optimal_concurrency, Analyzer, ConcurrencySearch, PerfParams, QueueConfig, Targets,
};
use crate::solver::{solve, Solution, SolveOptions};
use inferno_api::{check, FileNames, SystemSpec};
use inferno_proto::v1::{self, optimizer_server::Optimizer};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Instant;
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
}

type Reply<T> = Result<Response<T>, Status>;

fn bad(e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(e.to_string())
}

impl OptimizerService {
    /// A service; `stateful` enables the set/add/get/remove RPCs and Optimize.
    pub fn new(stateful: bool, metrics: Arc<Metrics>) -> Self {
        Self {
            stored: stateful.then(|| Arc::new(RwLock::new(Stored::default()))),
            metrics,
        }
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

    /// Validates and solves `spec` on the blocking pool; INVALID_ARGUMENT lists every problem.
    async fn solve(
        &self,
        spec: SystemSpec,
        label: &str,
    ) -> Result<(Solution, Vec<String>), Status> {
        let result = self.solve_inner(spec, label).await;
        if result.is_err() {
            self.metrics.failed();
        }
        result
    }

    async fn solve_inner(
        &self,
        spec: SystemSpec,
        label: &str,
    ) -> Result<(Solution, Vec<String>), Status> {
        let loaded = check(spec, &FileNames::single(label)).map_err(bad)?;
        let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
        let options = SolveOptions::from_spec(&loaded.spec).map_err(bad)?;
        let start = Instant::now();
        let solution = tokio::task::spawn_blocking(move || solve(&loaded.spec, &options))
            .await
            .map_err(|e| Status::internal(format!("solver task failed: {e}")))?;
        let took = start.elapsed();
        let total = solution.total_cost();
        self.metrics.solved(
            took,
            total,
            solution.placements.len(),
            solution.unplaced.len(),
        );
        info!(
            servers = solution.placements.len() + solution.unplaced.len(),
            placed = solution.placements.len(),
            unplaced = solution.unplaced.len(),
            total_cost = total,
            solver = solution.report.solver,
            status = solution.report.status,
            gap = solution.report.gap,
            duration_ms = took.as_secs_f64() * 1e3,
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

fn queue_config(
    r: &v1::QueueRequest,
    default_batch: i32,
) -> Result<(QueueConfig, Targets), Status> {
    let batch = if r.max_batch_size == 0 {
        default_batch
    } else {
        r.max_batch_size
    };
    let batch = u32::try_from(batch)
        .ok()
        .filter(|b| *b >= 1)
        .ok_or_else(|| {
            bad(format!(
                "field maxBatchSize: must be >= 1, got {}",
                r.max_batch_size
            ))
        })?;
    let queue = u32::try_from(r.max_queue_size).map_err(|_| {
        bad(format!(
            "field maxQueueSize: must be >= 0, got {}",
            r.max_queue_size
        ))
    })?;
    let config = QueueConfig {
        max_batch: batch,
        max_queue: queue,
        max_tokens: 0,
        params: PerfParams {
            alpha: r.alpha,
            beta: r.beta,
            gamma: r.gamma,
        },
        in_tokens: r.avg_input_tokens,
        out_tokens: r.avg_output_tokens,
    };
    Ok((
        config,
        Targets {
            ttft: r.target_ttft,
            itl: r.target_itl,
            tps: 0.0,
        },
    ))
}

#[tonic::async_trait]
impl Optimizer for OptimizerService {
    #[instrument(skip_all, fields(rpc = "OptimizeOne"))]
    async fn optimize_one(&self, request: Request<v1::SystemData>) -> Reply<v1::OptimizeResponse> {
        let system = request.into_inner().system.unwrap_or_default();
        let (solution, warnings) = self.solve(system.into(), "OptimizeOne request").await?;
        Ok(Response::new(optimize_response(&solution, warnings)?))
    }

    #[instrument(skip_all, fields(rpc = "Optimize"))]
    async fn optimize(&self, request: Request<v1::OptimizerSpec>) -> Reply<v1::OptimizeResponse> {
        let flags = request.into_inner().into();
        let mut spec = self.read(|s| Ok(s.spec.clone()))?;
        spec.optimizer_data.optimizer = flags;
        let (solution, warnings) = self.solve(spec, "stored system").await?;
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

    async fn apply_allocation(&self, _: Request<v1::Empty>) -> Reply<v1::ServerData> {
        let data = self.write(|s| {
            state::apply_allocation(&mut s.spec, &s.decided);
            Ok(s.spec.server_data.clone())
        })?;
        Ok(Response::new((&data).try_into().map_err(bad)?))
    }

    async fn get_system(&self, _: Request<v1::Empty>) -> Reply<v1::SystemData> {
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
            return Err(bad("field name: must not be empty"));
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
            return Err(bad("field type: must not be empty"));
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
        if m.name.is_empty() || m.acc.is_empty() {
            return Err(bad("fields name and acc: must not be empty"));
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
                    (f.name.is_empty() || m.name == f.name) && (f.acc.is_empty() || m.acc == f.acc)
                })
                .cloned()
                .collect();
            if rows.is_empty() && !(f.name.is_empty() && f.acc.is_empty()) {
                return Err(Status::not_found(format!(
                    "no perf data for model {:?} on {:?}",
                    f.name, f.acc
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
            return Err(bad("field name: must not be empty"));
        }
        let models = self.write(|s| {
            state::remove(
                &mut s.spec.model_data.models,
                &format!("perf data of model {:?}", f.name),
                |m| m.name == f.name && (f.acc.is_empty() || m.acc == f.acc),
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
            return Err(bad("field name: must not be empty"));
        }
        let added = self.write(|s| Ok(state::add_class(&mut s.spec, c.into())))?;
        Ok(Response::new((&added).try_into().map_err(bad)?))
    }

    async fn add_service_class_model_target(
        &self,
        r: Request<v1::ClassTarget>,
    ) -> Reply<v1::ServiceClassSpec> {
        let ct = r.into_inner();
        let target = ct.target.ok_or_else(|| bad("field target: required"))?;
        if target.model.is_empty() {
            return Err(bad("field target.model: must not be empty"));
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
            return Err(bad("field name: must not be empty"));
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
        let r = r.into_inner();
        let (config, _) = queue_config(&r, 0)?;
        let m = Analyzer::new(config)
            .and_then(|a| a.analyze(r.rps))
            .map_err(bad)?;
        Ok(Response::new(queue_metrics(&m)))
    }

    async fn size(&self, r: Request<v1::QueueRequest>) -> Reply<v1::SizeResponse> {
        let (config, targets) = queue_config(&r.into_inner(), 0)?;
        let s = Analyzer::new(config)
            .and_then(|a| a.size(&targets))
            .map_err(bad)?;
        Ok(Response::new(size_response(&s)))
    }

    async fn optimal_concurrency(
        &self,
        r: Request<v1::QueueRequest>,
    ) -> Reply<v1::ConcurrencyResponse> {
        let (config, targets) = queue_config(&r.into_inner(), 256)?;
        let search = ConcurrencySearch {
            max_batch: config.max_batch,
            ..ConcurrencySearch::default()
        };
        let c =
            tokio::task::spawn_blocking(move || optimal_concurrency(&config, &targets, &search))
                .await
                .map_err(|e| Status::internal(e.to_string()))?
                .map_err(bad)?;
        Ok(Response::new(concurrency_response(&c)))
    }
}
