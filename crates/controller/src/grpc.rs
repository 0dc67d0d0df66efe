//! The controller's gRPC edges, and the only place it touches `inferno.v1`: the clients of the
//! collector, the optimizer and the actuator as the cycle's three ports, and the
//! `inferno.v1.Controller` service. Each RPC converts twice: the request out, the answer in.

use crate::cycle::{CycleOutcome, CycleReport, ServerRecord};
use crate::policy::tuning::{Params, TunedRecord};
use crate::policy::ServerPlan;
use crate::runner::Runner;
use inferno_core::{Applied, ApplyRequest, Collected, Decision, PortError};
use inferno_proto::v1::{
    self, actuator_client::ActuatorClient, collector_client::CollectorClient,
    optimizer_client::OptimizerClient,
};
use inferno_telemetry::auth::{self, Bearer};
use inferno_telemetry::Credential;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

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

/// A service URL that is no endpoint; names the service and the URL.
#[derive(Debug, thiserror::Error)]
#[error("{service} URL {url:?}: {source}")]
pub struct ConnectError {
    /// `collector`, `optimizer` or `actuator`.
    pub service: &'static str,
    /// The URL given.
    pub url: String,
    /// Why it is no endpoint.
    #[source]
    pub source: tonic::transport::Error,
}

/// A gRPC channel that sends the credential, if any, on every call.
pub type Authorized = InterceptedService<Channel, Bearer>;

/// Clients of the three services: the cycle's ports over gRPC.
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
    pub fn connect(
        endpoints: Endpoints,
        credential: Option<Credential>,
    ) -> Result<Self, ConnectError> {
        let channel = |service: &'static str, url: &str| {
            Endpoint::from_shared(url.to_string())
                .map(|e| e.connect_lazy())
                .map_err(|source| ConnectError {
                    service,
                    url: url.to_owned(),
                    source,
                })
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

fn failed(status: tonic::Status) -> PortError {
    PortError(describe(&status))
}

/// An answer the contract does not allow (a field out of range, an unknown name).
fn malformed(e: impl std::fmt::Display) -> PortError {
    PortError(format!("malformed answer: {e}"))
}

impl inferno_core::Collect for Clients {
    fn peer(&self) -> String {
        format!("collector at {}", self.endpoints.collector)
    }

    async fn collect(&self) -> Result<Collected, PortError> {
        let mut client = self.collector.clone();
        let answer = client
            .collect(v1::CollectRequest::default())
            .await
            .map_err(failed)?;
        answer.into_inner().try_into().map_err(malformed)
    }
}

impl inferno_core::Optimize for Clients {
    fn peer(&self) -> String {
        format!("optimizer at {}", self.endpoints.optimizer)
    }

    async fn optimize(&self, system: &inferno_api::SystemSpec) -> Result<Decision, PortError> {
        // Data that does not fit the contract never leaves: the optimizer would read it wrong.
        let request = v1::SystemData {
            system: Some(
                system
                    .try_into()
                    .map_err(|e| PortError(format!("request: {e}")))?,
            ),
        };
        let mut client = self.optimizer.clone();
        let answer = client.optimize_one(request).await.map_err(failed)?;
        answer.into_inner().try_into().map_err(malformed)
    }

    async fn explain(
        &self,
        system: &inferno_api::SystemSpec,
    ) -> Result<Option<inferno_core::Explained>, PortError> {
        let request = v1::ExplainRequest {
            system: Some(
                system
                    .try_into()
                    .map_err(|e| PortError(format!("request: {e}")))?,
            ),
            brief: true,
        };
        let mut client = self.optimizer.clone();
        let answer = client.explain(request).await.map_err(failed)?;
        Ok(Some(explained(&answer.into_inner())))
    }
}

/// The brief explanation the loop keeps of an `ExplainResponse`.
fn explained(r: &v1::ExplainResponse) -> inferno_core::Explained {
    inferno_core::Explained {
        lower_bound_cost: r.lower_bound.as_ref().map_or(0.0, |b| b.cost),
        prices: r
            .types
            .iter()
            .map(|t| inferno_core::GpuPrice {
                acc_type: t.name.clone(),
                binding: t.binding,
                price: t.dual_price,
            })
            .collect(),
        headroom: r
            .servers
            .iter()
            .filter_map(|s| {
                Some(inferno_core::Headroom {
                    server: s.name.clone(),
                    rpm: s.headroom_rpm?,
                })
            })
            .collect(),
    }
}

/// The brief explanation as the report carries it: the fields of an `ExplainResponse` the
/// loop keeps (the lower bound's cost, each type's price, each server's headroom).
fn explanation_message(e: &inferno_core::Explained) -> v1::ExplainResponse {
    v1::ExplainResponse {
        lower_bound: Some(v1::AnswerSummary {
            cost: e.lower_bound_cost,
            ..Default::default()
        }),
        priced_by: v1::explain_response::PricedBy::Lp.into(),
        types: e
            .prices
            .iter()
            .map(|p| v1::TypeExplanation {
                name: p.acc_type.clone(),
                binding: p.binding,
                dual_price: p.price,
                ..Default::default()
            })
            .collect(),
        servers: e
            .headroom
            .iter()
            .map(|h| v1::ServerExplanation {
                name: h.server.clone(),
                headroom_rpm: Some(h.rpm),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

impl inferno_core::Apply for Clients {
    fn peer(&self) -> String {
        format!("actuator at {}", self.endpoints.actuator)
    }

    async fn apply(&self, request: ApplyRequest) -> Result<Applied, PortError> {
        let request =
            v1::ApplyRequest::try_from(&request).map_err(|e| PortError(format!("request: {e}")))?;
        let mut client = self.actuator.clone();
        let answer = client.apply(request).await.map_err(failed)?;
        answer.into_inner().try_into().map_err(malformed)
    }
}

/// The gRPC face of the [`Runner`].
#[derive(Debug, Clone)]
pub struct ControllerService {
    runner: Runner,
}

impl ControllerService {
    /// The service of `runner`.
    pub fn new(runner: Runner) -> Self {
        Self { runner }
    }
}

/// A count as the report's 32-bit fields carry it (JSON numbers, not strings): saturating.
fn count<T: TryInto<u32>>(n: T) -> u32 {
    n.try_into().unwrap_or(u32::MAX)
}

/// A replica count as the report carries it: saturating.
fn replicas(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(if n < 0 { i32::MIN } else { i32::MAX })
}

/// What the loop has learnt of each (model, accelerator), as `GetTuning`, `GET /tuning` and
/// the cycle report carry it.
pub fn tuning_message(records: &[TunedRecord]) -> Vec<v1::TunedEntry> {
    let params = |p: &Params| {
        Some(v1::TuningParams {
            alpha: p.alpha,
            beta: p.beta,
            gamma: p.gamma,
        })
    };
    records
        .iter()
        .map(|t| v1::TunedEntry {
            model: t.model.clone(),
            accelerator: t.accelerator.clone(),
            catalog: params(&t.catalog),
            estimate: params(&t.estimate),
            sd: params(&t.sd),
            in_use: params(&t.in_use),
            trusted: t.trusted,
            updates: count(t.updates),
            rejected: count(t.rejected),
            median_startup_duration: inferno_proto::time::nonzero_secs(t.startup_seconds),
            startup_samples: count(t.startup_samples),
        })
        .collect()
}

/// The policy's plan of one server as the report carries it.
fn plan_message(p: &ServerPlan) -> v1::ServerPlan {
    v1::ServerPlan {
        measured_rpm: p.measured_rpm,
        rate_error: p.rate_error,
        planned_rpm: p.planned_rpm,
        backlog: p.backlog,
        boost: p.boost,
        latency_ratio: p.latency_ratio,
        steady_cycles: p.steady_cycles,
        lookahead_rpm: p.lookahead_rpm,
        stand_in_rpm: p.stand_in_rpm,
        drain_rpm: p.drain_rpm,
        horizon: Some(inferno_proto::time::from_secs(p.horizon_seconds)),
        window: (p.window_seconds > 0.0).then(|| inferno_proto::time::from_secs(p.window_seconds)),
        model_check: p.model_check.as_ref().map(|m| v1::ModelCheck {
            predicted_itl: m.predicted_itl,
            predicted_ttft: m.predicted_ttft,
            tuner_updates: count(m.tuner_updates),
            steady: m.steady,
            params: Some(v1::TuningParams {
                alpha: m.params.alpha,
                beta: m.params.beta,
                gamma: m.params.gamma,
            }),
            max_batch: m.max_batch,
            max_queue: m.max_queue,
            out_tokens_cv: m.out_tokens_cv,
        }),
        notes: p.notes.clone(),
    }
}

fn server_message(s: &ServerRecord) -> v1::ServerReport {
    let outcome = match s.outcome.parse::<inferno_core::Outcome>() {
        Ok(o) => v1::deployment_result::Outcome::from(o),
        Err(_) => v1::deployment_result::Outcome::Unspecified,
    };
    v1::ServerReport {
        name: s.name.clone(),
        class: s.class.clone(),
        model: s.model.clone(),
        rpm: s.rpm,
        throughput: s.throughput,
        avg_in_tokens: replicas(s.avg_in_tok),
        avg_out_tokens: replicas(s.avg_out_tok),
        out_tokens_cv: s.out_tokens_cv,
        itl: s.itl,
        ttft: s.ttft,
        slo_itl: s.slo_itl,
        slo_ttft: s.slo_ttft,
        running_per_replica: s.occ_per_replica,
        accelerator: s.accelerator.clone(),
        move_reason: s.move_reason.clone(),
        replicas: replicas(s.replicas),
        decided_replicas: replicas(s.decided_replicas),
        max_batch: replicas(s.max_batch),
        cost: s.cost,
        predicted_itl: s.predicted_itl,
        predicted_ttft: s.predicted_ttft,
        unplaced: s.unplaced.clone(),
        old_replicas: replicas(s.old_replicas),
        applied: s.applied,
        note: s.note.clone(),
        outcome: outcome.into(),
        plan: Some(plan_message(&s.plan)),
    }
}

/// A report as the contract carries it: the answer of `Invoke` and of `GET /invoke`, and a
/// line of the cycle log (one shape for all three). The decision and the results were decoded
/// from the contract's own messages, so encoding them again cannot fail; if it ever did, the
/// report says so in its problems rather than dropping them silently.
pub fn report_message(r: &CycleReport) -> v1::CycleReport {
    use v1::cycle_report::Outcome;
    use v1::stage_timing::Stage;
    let t = &r.timing;
    let mut problems = r.problems.clone();
    let solution = r.solution.as_ref().and_then(|d| {
        v1::OptimizeResponse::try_from(d)
            .map_err(|e| problems.push(format!("solution not reported: {e}")))
            .ok()
    });
    let updates = r
        .updates
        .iter()
        .filter_map(|u| {
            v1::DeploymentResult::try_from(u)
                .map_err(|e| problems.push(format!("update not reported: {e}")))
                .ok()
        })
        .collect();
    let stage = |name: &str| match name {
        "load" => Stage::Load,
        "collect" => Stage::Collect,
        "optimize" => Stage::Optimize,
        "apply" => Stage::Apply,
        _ => Stage::Unspecified,
    };
    v1::CycleReport {
        cycle: count(r.cycle),
        start_time: inferno_proto::time::timestamp(&r.ts),
        outcome: match r.outcome {
            CycleOutcome::Ok => Outcome::Ok,
            CycleOutcome::Skipped => Outcome::Skipped,
            CycleOutcome::Failed => Outcome::Failed,
        }
        .into(),
        reason: r.reason.clone(),
        servers: r.servers.iter().map(server_message).collect(),
        capacity: r
            .capacity
            .iter()
            .map(|c| v1::CapacityReport {
                r#type: c.acc_type.clone(),
                allocated: count(c.allocated),
                available: count(c.available),
            })
            .collect(),
        total_cost: r.total_cost,
        changes: count(r.changes),
        dry_run: r.dry_run,
        problems,
        // The stages the contract lists (load, collect, optimize, apply): the whole cycle is
        // `duration`, not a stage a client summing the stages would count twice.
        timings: crate::metrics::stages(t)
            .into_iter()
            .map(|(name, ms)| v1::StageTiming {
                stage: stage(name).into(),
                duration: Some(inferno_proto::time::from_millis(ms)),
            })
            .collect(),
        duration: Some(inferno_proto::time::from_millis(t.total_ms)),
        tuning: tuning_message(&r.tuning),
        solution,
        updates,
        explanation: r.explained.as_ref().map(explanation_message),
    }
}

#[tonic::async_trait]
impl v1::controller_server::Controller for ControllerService {
    async fn invoke(
        &self,
        r: tonic::Request<v1::InvokeRequest>,
    ) -> Result<tonic::Response<v1::CycleReport>, tonic::Status> {
        let report = self
            .runner
            .invoke(r.into_inner().dry_run)
            .await
            .ok_or_else(|| tonic::Status::unavailable("the controller is shutting down"))?;
        Ok(tonic::Response::new(report_message(&report)))
    }

    async fn get_tuning(
        &self,
        _: tonic::Request<v1::GetTuningRequest>,
    ) -> Result<tonic::Response<v1::TuningReport>, tonic::Status> {
        let entries = tuning_message(&self.runner.tuning());
        Ok(tonic::Response::new(v1::TuningReport { entries }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cycle::Timing;

    /// The report's timings are the contract's four stages; the whole cycle is not one of
    /// them, so their sum is the stages' time. Before: a fifth, `total`, counted it twice.
    #[test]
    fn the_report_times_the_stages_only() {
        let report = report_message(&CycleReport {
            timing: Timing {
                load_ms: 1.0,
                collect_ms: 2.0,
                optimize_ms: 3.0,
                actuate_ms: 4.0,
                total_ms: 11.0,
            },
            ..CycleReport::default()
        });
        use v1::stage_timing::Stage;
        let stages: Vec<(Stage, f64)> = report
            .timings
            .iter()
            .map(|t| {
                (
                    t.stage(),
                    inferno_proto::time::millis(t.duration.as_ref().unwrap()),
                )
            })
            .collect();
        assert_eq!(
            stages,
            [
                (Stage::Load, 1.0),
                (Stage::Collect, 2.0),
                (Stage::Optimize, 3.0),
                (Stage::Apply, 4.0)
            ]
        );
        assert_eq!(
            inferno_proto::time::millis(report.duration.as_ref().unwrap()),
            11.0
        );
    }
}
