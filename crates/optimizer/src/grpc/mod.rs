//! The optimizer's gRPC server (port 3302): `inferno.v1.Optimizer`, `grpc.health.v1`, server
//! reflection and Prometheus `/metrics` on one port, with graceful shutdown.
//!
//! # Layout
//! `service` (the RPCs), `state` (stateful mode's stored system), `response` (domain results to
//! messages), `metrics` (counters and the text format).

mod metrics;
mod response;
mod service;
mod state;

pub use metrics::Metrics;
pub use service::OptimizerService;

use inferno_proto::v1::optimizer_server::OptimizerServer;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Server settings.
#[derive(Debug, Clone, Copy)]
pub struct ServeConfig {
    /// Keep a system between calls (set/add/get/remove, Optimize, ApplyAllocation).
    pub stateful: bool,
    /// Largest request accepted, bytes.
    pub max_request_bytes: usize,
    /// Longest time a request may take; a shorter client deadline (`grpc-timeout`) wins.
    pub request_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            stateful: false,
            max_request_bytes: 16 << 20,
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Serves on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn run(
    listener: TcpListener,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let metrics = Arc::new(Metrics::default());
    let service = OptimizerService::new(config.stateful, metrics.clone());
    let optimizer = OptimizerServer::new(service)
        .max_decoding_message_size(config.max_request_bytes)
        .max_encoding_message_size(usize::MAX);
    let http = inferno_telemetry::metrics_route(move || metrics.render());
    tracing::info!(stateful = config.stateful, "optimizer starting");
    inferno_telemetry::serve(
        listener,
        optimizer,
        http,
        Some(config.request_timeout),
        shutdown,
    )
    .await
}
