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
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;

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

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<OptimizerServer<OptimizerService>>()
        .await;
    // Both reflection versions: v1alpha is what most grpcurl builds in the wild still ask for.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(inferno_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .expect("the embedded descriptor sets are valid");
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .expect("the embedded descriptor sets are valid");

    let http = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move { metrics.render() }
        }),
    );
    let routes = Routes::from(http)
        .add_service(optimizer)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);

    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, stateful = config.stateful, "optimizer serving");
    }
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .accept_http1(true)
        .timeout(config.request_timeout)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
