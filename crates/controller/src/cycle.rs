//! One control cycle: data -> Collect -> OptimizeOne -> Apply -> report, each stage under its
//! own deadline. A failing or hung stage ends the cycle with the stage and reason named; the
//! next cycle starts fresh.

use crate::data::{refresh, Data, Source};
use inferno_proto::v1::{
    self, actuator_client::ActuatorClient, collector_client::CollectorClient,
    optimizer_client::OptimizerClient,
};
use inferno_telemetry::auth::{self, Bearer};
use inferno_telemetry::Credential;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tracing::{info, warn};

/// Deadlines of the stages.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// Collect.
    pub collect: Duration,
    /// OptimizeOne.
    pub optimize: Duration,
    /// Apply.
    pub apply: Duration,
}

/// Where the collector, the optimizer and the actuator are (URLs such as
/// `http://127.0.0.1:3302`), for connecting and for naming them in errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Collector URL.
    pub collector: String,
    /// Optimizer URL.
    pub optimizer: String,
    /// Actuator URL.
    pub actuator: String,
}

/// A gRPC channel that sends the credential, if any, on every call.
pub type Authorized = InterceptedService<Channel, Bearer>;

/// Clients of the three services.
#[derive(Debug, Clone)]
pub struct Clients {
    collector: CollectorClient<Authorized>,
    optimizer: OptimizerClient<Authorized>,
    actuator: ActuatorClient<Authorized>,
    endpoints: Endpoints,
}

impl Clients {
    /// Clients of `endpoints` that connect on first use (and reconnect after a failure), each
    /// call carrying `authorization: Bearer <token>` when `credential` is set. Errors name the
    /// service and the URL.
    pub fn connect(endpoints: Endpoints, credential: Option<Credential>) -> Result<Self, String> {
        let channel = |service: &str, url: &str| {
            Endpoint::from_shared(url.to_string())
                .map(|e| e.connect_lazy())
                .map_err(|e| format!("{service} URL {url:?}: {e}"))
        };
        let bearer = auth::client_interceptor(credential);
        let collector = channel("collector", &endpoints.collector)?;
        let optimizer = channel("optimizer", &endpoints.optimizer)?;
        let actuator = channel("actuator", &endpoints.actuator)?;
        Ok(Self {
            collector: CollectorClient::with_interceptor(collector, bearer.clone())
                .max_decoding_message_size(usize::MAX),
            optimizer: OptimizerClient::with_interceptor(optimizer, bearer.clone())
                .max_decoding_message_size(usize::MAX),
            actuator: ActuatorClient::with_interceptor(actuator, bearer)
                .max_decoding_message_size(usize::MAX),
            endpoints,
        })
    }

    /// Where the services are.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }
}

/// Everything a cycle needs.
#[derive(Debug, Clone)]
pub struct Stages {
    /// Clients of the collector, the optimizer and the actuator.
    pub clients: Clients,
    /// Where the data comes from.
    pub source: Source,
    /// Re-read the static data every cycle.
    pub dynamic: bool,
    /// Deadlines.
    pub deadlines: Deadlines,
    /// Never apply.
    pub dry_run: bool,
}

/// One server in the report (observed values, decision).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServerRecord {
    /// Server name.
    pub name: String,
    /// Class.
    pub class: String,
    /// Model.
    pub model: String,
    /// Observed arrival rate, requests/min.
    pub rpm: f64,
    /// Observed throughput, requests/min.
    pub throughput: f64,
    /// Observed input tokens per request.
    pub avg_in_tok: i64,
    /// Observed output tokens per request.
    pub avg_out_tok: i64,
    /// Observed ITL, ms.
    pub itl: f64,
    /// Observed TTFT, ms.
    pub ttft: f64,
    /// ITL target, ms.
    pub slo_itl: f64,
    /// TTFT target, ms.
    pub slo_ttft: f64,
    /// Mean requests running per replica.
    pub occ_per_replica: f64,
    /// Decided accelerator ("" when unplaced).
    pub accelerator: String,
    /// Replicas the Deployment gets: what the actuator applied (after its replica ceiling and
    /// step limit), for an unplaced server what it keeps; without an answer from the actuator
    /// the optimizer's number, else the replicas before the cycle.
    pub replicas: i64,
    /// The optimizer's replicas (0 when unplaced), before the actuator's limits.
    pub decided_replicas: i64,
    /// Decided batch size.
    pub max_batch: i64,
    /// Decided cost, cents/hour.
    pub cost: f64,
    /// Predicted ITL, ms.
    pub predicted_itl: f64,
    /// Predicted TTFT, ms.
    pub predicted_ttft: f64,
    /// Why unplaced ("" when placed).
    pub unplaced: String,
    /// Replicas before the cycle.
    pub old_replicas: i64,
    /// Whether the actuator applied a change.
    pub applied: bool,
    /// The actuator's note.
    pub note: String,
    /// The actuator's outcome: applied, unchanged, dry-run, recommend, refused, not-found or
    /// failed ("" when it gave none).
    pub outcome: String,
}

/// Units per accelerator type.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CapacityRecord {
    /// Type.
    #[serde(rename = "type")]
    pub acc_type: String,
    /// Used by the decision.
    pub allocated: u64,
    /// Available.
    pub available: u64,
}

/// Stage timings, ms.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Timing {
    /// Data refresh.
    pub load_ms: f64,
    /// Collect.
    pub collect_ms: f64,
    /// Optimize.
    pub optimize_ms: f64,
    /// Apply.
    pub actuate_ms: f64,
    /// Whole cycle.
    pub total_ms: f64,
}

/// What one cycle did (also the JSONL cycle record of control-loop spec 9.2).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CycleReport {
    /// RFC 3339 start time.
    pub ts: String,
    /// Cycle number since start.
    pub cycle: u64,
    /// "ok", "skipped" or "failed".
    pub outcome: String,
    /// Failing stage and reason, or why optimize/apply were skipped.
    pub reason: String,
    /// Servers.
    pub servers: Vec<ServerRecord>,
    /// Units per type.
    pub capacity: Vec<CapacityRecord>,
    /// Total cost of the decision, cents/hour.
    pub total_cost: f64,
    /// Solver of the decision (greedy, unlimited, milp, lagrangian) and how it ended.
    pub solver: String,
    /// Its objective (docs/solvers.md), proven lower bound and relative gap.
    pub objective: f64,
    /// Proven lower bound on the objective.
    pub bound: f64,
    /// `(objective - bound) / |objective|`.
    pub gap: f64,
    /// Deployments changed.
    pub changes: usize,
    /// Dry run.
    pub dry_run: bool,
    /// Problems of the cycle (collector problems, data warnings).
    pub problems: Vec<String>,
    /// Stage timings.
    pub timing: Timing,
    /// The optimizer's answer (for gRPC Invoke).
    #[serde(skip)]
    pub solution: Option<v1::OptimizeResponse>,
    /// The actuator's per-Deployment results (for gRPC Invoke).
    #[serde(skip)]
    pub updates: Vec<v1::DeploymentResult>,
}

/// Runs a stage under its deadline. Errors name the stage, the service and its URL, then the
/// status code and message and what caused it (`optimize: optimizer at
/// http://127.0.0.1:3302: Unavailable: tcp connect error: Connection refused (os error 111)`).
async fn stage<T>(
    (name, service, url): (&str, &str, &str),
    deadline: Duration,
    f: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, String> {
    match tokio::time::timeout(deadline, f).await {
        Ok(Ok(v)) => Ok(v.into_inner()),
        Ok(Err(status)) => Err(format!("{name}: {service} at {url}: {}", describe(&status))),
        Err(_) => Err(format!(
            "{name}: {service} at {url}: no answer within {deadline:?}"
        )),
    }
}

/// A status as a person reads it: the code, the message and, when the status carries an
/// error, its innermost cause (a transport failure's message alone, "tcp connect error", does
/// not say what went wrong; the wrappers between say nothing more).
pub fn describe(status: &tonic::Status) -> String {
    let mut out = format!("{:?}", status.code());
    if !status.message().is_empty() {
        out.push_str(": ");
        out.push_str(status.message());
    }
    let mut root: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(next) = root.and_then(std::error::Error::source) {
        root = Some(next);
    }
    if let Some(text) = root.map(ToString::to_string) {
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs one cycle. `data` holds the last good data between cycles.
pub async fn run(stages: &mut Stages, data: &mut Data, cycle: u64, dry_run: bool) -> CycleReport {
    let start = Instant::now();
    let mut report = CycleReport {
        ts: k8s_openapi::jiff::Timestamp::now().to_string(),
        cycle,
        dry_run: dry_run || stages.dry_run,
        ..CycleReport::default()
    };
    let result = run_stages(stages, data, &mut report, start).await;
    report.timing.total_ms = ms(start.elapsed());
    match result {
        Ok(()) if report.outcome.is_empty() => report.outcome = "ok".into(),
        Ok(()) => {}
        Err(reason) => {
            report.outcome = "failed".into();
            report.reason = reason;
        }
    }
    let t = &report.timing;
    if report.outcome == "failed" {
        warn!(cycle, reason = %report.reason, total_ms = t.total_ms, "cycle failed");
    } else {
        info!(cycle, outcome = %report.outcome, servers = report.servers.len(),
            placed = report.servers.iter().filter(|s| s.unplaced.is_empty()).count(),
            total_cost = report.total_cost, changes = report.changes,
            collect_ms = t.collect_ms, optimize_ms = t.optimize_ms, actuate_ms = t.actuate_ms, total_ms = t.total_ms,
            "cycle");
    }
    report
}

async fn run_stages(
    stages: &mut Stages,
    data: &mut Data,
    report: &mut CycleReport,
    start: Instant,
) -> Result<(), String> {
    let t = Instant::now();
    let with_static = stages.dynamic || data.spec.is_none();
    match refresh(&stages.source, data, with_static).await {
        Ok(warnings) => report.problems.extend(warnings),
        Err(e) if data.spec.is_some() => report
            .problems
            .push(format!("data: {e}; keeping the last good data")),
        Err(e) => return Err(format!("load data: {e}")),
    }
    report.timing.load_ms = ms(t.elapsed());
    let mut spec = data.spec.clone().ok_or("load data: no data")?;

    let t = Instant::now();
    let clients = &mut stages.clients;
    let at = &clients.endpoints;
    let collected = stage(
        ("collect", "collector", &at.collector),
        stages.deadlines.collect,
        clients.collector.collect(v1::CollectRequest::default()),
    )
    .await?;
    report.timing.collect_ms = ms(t.elapsed());
    report.problems.extend(collected.problems.iter().map(|p| {
        if p.subject.is_empty() {
            p.message.clone()
        } else {
            format!("{}: {}", p.subject, p.message)
        }
    }));
    if collected.servers.is_empty() {
        report.outcome = "skipped".into();
        report.reason = "no managed servers discovered; optimize and apply skipped".into();
        return Ok(());
    }
    spec.server_data.servers = collected.servers.iter().cloned().map(Into::into).collect();
    let occupancy: BTreeMap<String, f64> = collected
        .observations
        .iter()
        .map(|o| (o.server.clone(), o.running))
        .collect();

    let t = Instant::now();
    let system = v1::SystemData {
        system: Some((&spec).try_into().map_err(|e| format!("optimize: {e}"))?),
    };
    let solved = stage(
        ("optimize", "optimizer", &at.optimizer),
        stages.deadlines.optimize,
        clients.optimizer.optimize_one(system),
    )
    .await?;
    report.timing.optimize_ms = ms(t.elapsed());
    let allocations = solved.solution.clone().unwrap_or_default().allocations;
    report.solution = Some(solved.clone());
    // Unplaced by the optimizer, or left out by the collector (load unusable): code and reason.
    let unplaced_servers: BTreeMap<String, (String, String)> = collected
        .unplaced
        .iter()
        .chain(&solved.unplaced)
        .map(|u| (u.server.clone(), (u.code.clone(), u.reason.clone())))
        .collect();
    let unplaced: BTreeMap<String, String> = unplaced_servers
        .iter()
        .map(|(s, (_, reason))| (s.clone(), reason.clone()))
        .collect();
    report.total_cost = solved.total_cost;
    if let Some(r) = &solved.report {
        report.solver = format!("{} ({})", r.solver, r.status);
        (report.objective, report.bound, report.gap) = (r.objective, r.bound, r.gap);
    }
    for h in &solved.heterogeneous {
        let parts: Vec<String> = h
            .parts
            .iter()
            .map(|p| format!("{} x {}", p.accelerator, p.num_replicas))
            .collect();
        report.problems.push(format!(
            "{}: heterogeneous allocation {}; a Deployment runs one accelerator type, so it is \
             applied as the total on the largest part",
            h.server,
            parts.join(" + ")
        ));
    }
    report.capacity = solved
        .usage
        .iter()
        .map(|u| CapacityRecord {
            acc_type: u.r#type.clone(),
            allocated: u64::from(u.used),
            available: u64::from(u.capacity),
        })
        .collect();

    let t = Instant::now();
    let request = v1::ApplyRequest {
        allocations: allocations.clone(),
        kube_resources: collected.kube_resources.clone(),
        dry_run: report.dry_run,
        unplaced_reasons: unplaced.clone().into_iter().collect(),
        unplaced_codes: unplaced_servers
            .into_iter()
            .map(|(s, (code, _))| (s, code))
            .collect(),
    };
    let applied = stage(
        ("apply", "actuator", &at.actuator),
        stages.deadlines.apply,
        clients.actuator.apply(request),
    )
    .await?;
    report.timing.actuate_ms = ms(t.elapsed());
    report.updates = applied.results.clone();
    let results: BTreeMap<String, v1::DeploymentResult> = applied
        .results
        .into_iter()
        .map(|r| (r.server.clone(), r))
        .collect();
    report.changes = results.values().filter(|r| r.applied).count();

    let targets = |class: &str, model: &str| -> (f64, f64) {
        let class = if class.is_empty() {
            inferno_api::FREE_CLASS
        } else {
            class
        };
        spec.service_class_data
            .service_classes
            .iter()
            .find(|c| c.name == class)
            .and_then(|c| c.model_targets.iter().find(|t| t.model == model))
            .map_or((0.0, 0.0), |t| (t.slo_itl, t.slo_ttft))
    };
    for s in &spec.server_data.servers {
        let load = &s.current_alloc.load;
        let (slo_itl, slo_ttft) = targets(&s.class, &s.model);
        let decided = allocations.get(&s.name);
        let result = results.get(&s.name);
        report.servers.push(ServerRecord {
            name: s.name.clone(),
            class: s.class.clone(),
            model: s.model.clone(),
            rpm: load.arrival_rate,
            throughput: load.throughput,
            avg_in_tok: load.avg_in_tokens,
            avg_out_tok: load.avg_out_tokens,
            itl: s.current_alloc.itl_average,
            ttft: s.current_alloc.ttft_average,
            slo_itl,
            slo_ttft,
            occ_per_replica: occupancy.get(&s.name).copied().unwrap_or(0.0),
            accelerator: decided.map(|a| a.accelerator.clone()).unwrap_or_default(),
            // What the Deployment gets: the actuator's answer (after its ceiling and step
            // limit; for an unplaced server what it keeps), else the optimizer's number, else
            // the replicas before the cycle (not placed is not a decision to run none).
            replicas: result
                .and_then(|r| r.new.as_ref())
                .map(|n| i64::from(n.num_replicas))
                .or(decided.map(|a| i64::from(a.num_replicas)))
                .unwrap_or(s.current_alloc.num_replicas),
            decided_replicas: decided.map_or(0, |a| i64::from(a.num_replicas)),
            max_batch: decided.map_or(0, |a| i64::from(a.max_batch)),
            cost: decided.map_or(0.0, |a| a.cost),
            predicted_itl: decided.map_or(0.0, |a| a.itl_average),
            predicted_ttft: decided.map_or(0.0, |a| a.ttft_average),
            unplaced: unplaced.get(&s.name).cloned().unwrap_or_default(),
            old_replicas: s.current_alloc.num_replicas,
            applied: result.is_some_and(|r| r.applied),
            note: result
                .map(|r| {
                    if r.error.is_empty() {
                        r.reason.clone()
                    } else {
                        r.error.clone()
                    }
                })
                .unwrap_or_default(),
            outcome: result.map(|r| r.outcome.clone()).unwrap_or_default(),
        });
    }
    let _ = start;
    Ok(())
}
