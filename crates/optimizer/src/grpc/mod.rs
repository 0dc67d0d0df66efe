//! The optimizer's gRPC server (127.0.0.1:3302 by default): `inferno.v1.Optimizer`,
//! `grpc.health.v1`, server reflection and Prometheus `/metrics` on one port, with graceful
//! shutdown; and the read-only ops listener (`/healthz`, `/metrics`) for probes and Prometheus.
//!
//! # Layout
//! `service` (the RPCs, their deadlines and cancellation), `edge` (arrival stamps and the
//! status of undecodable requests), `status` (the status code of each optimizer error),
//! `state` (stateful mode's stored system), `response` (domain results to messages), `metrics`
//! (counters and the text format).

mod edge;
mod explain;
mod metrics;
mod response;
mod service;
mod state;
mod status;
mod violations;

pub use metrics::{Busy, Metrics};
pub use service::OptimizerService;

use inferno_proto::v1::optimizer_server::OptimizerServer;
use inferno_telemetry::{Credential, ServeOptions};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Keep a system between calls (set/add/get/remove, Optimize, ApplyAllocation).
    pub stateful: bool,
    /// Largest request accepted, bytes.
    pub max_request_bytes: usize,
    /// Longest time a request may take (DEADLINE_EXCEEDED after it); a shorter client deadline
    /// (`grpc-timeout`) wins.
    pub request_timeout: Duration,
    /// Bearer token every call but health, reflection and GET /metrics must carry.
    pub credential: Option<Credential>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            stateful: false,
            max_request_bytes: 16 << 20,
            request_timeout: Duration::from_secs(60),
            credential: None,
        }
    }
}

/// Serves on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn run(
    listener: TcpListener,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    run_with(listener, config, Arc::new(Metrics::default()), shutdown).await
}

/// [`run`] recording into `metrics` (shared with the ops listener, [`run_ops`]).
pub async fn run_with(
    listener: TcpListener,
    config: ServeConfig,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let service = OptimizerService::new(config.stateful, metrics.clone())
        .with_timeout(config.request_timeout);
    let optimizer = OptimizerServer::new(service)
        .max_decoding_message_size(config.max_request_bytes)
        .max_encoding_message_size(usize::MAX);
    let http = inferno_telemetry::metrics_route(move || metrics.render());
    tracing::info!(
        stateful = config.stateful,
        auth = config.credential.is_some(),
        "optimizer starting"
    );
    // No server-wide timeout: the service enforces `request_timeout` itself, so that it ends in
    // DEADLINE_EXCEEDED and stops the computation (tonic's timer answers CANCELLED).
    let options = ServeOptions {
        timeout: None,
        credential: config.credential,
    };
    inferno_telemetry::serve_with(
        listener,
        edge::Edge::new(optimizer),
        inferno_proto::REFLECTION_DESCRIPTORS,
        http,
        options,
        shutdown,
    )
    .await
}

/// Serves the read-only ops pages on `listener` until `shutdown` completes: `GET /healthz`
/// (`ok` while the process serves) and `GET /metrics` (the same text as the gRPC port's).
pub async fn run_ops(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = inferno_telemetry::ops_router(move || metrics.render());
    inferno_telemetry::serve_ops(listener, router, shutdown).await
}
