//! The controller's gRPC edges, and the only place it touches `inferno.v1`: the clients of the
//! collector, the optimizer and the actuator as the cycle's three ports, and the
//! `inferno.v1.Controller` service. Each RPC converts twice: the request out, the answer in.

use crate::cycle::{CycleOutcome, CycleReport};
use crate::policy::tuning::Params;
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

/// A report as the contract carries it. The decision and the results were decoded from the
/// contract's own messages, so encoding them again cannot fail; if it ever did, the report
/// says so in `error` rather than dropping them silently.
pub fn report_message(r: &CycleReport) -> v1::CycleReport {
    let t = &r.timing;
    let mut problems = Vec::new();
    let solution = r.solution.as_ref().and_then(|d| {
        v1::OptimizeResponse::try_from(d)
            .map_err(|e| problems.push(format!("solution: {e}")))
            .ok()
    });
    let updates = r
        .updates
        .iter()
        .filter_map(|u| {
            v1::DeploymentResult::try_from(u)
                .map_err(|e| problems.push(format!("updates: {e}")))
                .ok()
        })
        .collect();
    let mut error = if r.outcome == CycleOutcome::Failed {
        r.reason.clone()
    } else {
        String::new()
    };
    if !problems.is_empty() {
        if !error.is_empty() {
            error.push_str("; ");
        }
        error.push_str(&problems.join("; "));
    }
    v1::CycleReport {
        cycle: r.cycle,
        // The stages the contract lists (load, collect, optimize, apply): no "total" among
        // them, which a client summing the stages would count twice.
        timings: crate::metrics::stages(t)
            .into_iter()
            .map(|(stage, ms)| v1::StageTiming {
                stage: stage.into(),
                duration_ms: ms,
            })
            .collect(),
        solution,
        updates,
        skipped_reason: if r.outcome == CycleOutcome::Skipped {
            r.reason.clone()
        } else {
            String::new()
        },
        error,
        started_at: r.ts.clone(),
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
        let params = |p: Params| {
            Some(v1::TuningParams {
                alpha: p.alpha,
                beta: p.beta,
                gamma: p.gamma,
            })
        };
        let entries = self
            .runner
            .tuning()
            .into_iter()
            .map(|t| v1::TunedEntry {
                model: t.model,
                accelerator: t.accelerator,
                catalog: params(t.catalog),
                estimate: params(t.estimate),
                sd: params(t.sd),
                in_use: params(t.in_use),
                trusted: t.trusted,
                updates: t.updates,
                rejected: t.rejected,
                startup_seconds: t.startup_seconds,
                startup_samples: u32::try_from(t.startup_samples).unwrap_or(u32::MAX),
            })
            .collect();
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
        let stages: Vec<(&str, f64)> = report
            .timings
            .iter()
            .map(|t| (t.stage.as_str(), t.duration_ms))
            .collect();
        assert_eq!(
            stages,
            [
                ("load", 1.0),
                ("collect", 2.0),
                ("optimize", 3.0),
                ("apply", 4.0)
            ]
        );
    }
}
