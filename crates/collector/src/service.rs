//! The collector's servers: the gRPC one (127.0.0.1:3301 by default) of the
//! `inferno.v1.Collector` service ([`crate::grpc`]), with health, reflection and `/metrics` on
//! the same port, optionally behind a bearer token; and the read-only ops listener (`/healthz`,
//! `/metrics`) for probes and Prometheus.

use crate::collect::{Collector, Metrics};
use crate::grpc;
use inferno_telemetry::ServeOptions;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Serves `collector` on `listener`, without a credential, until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    collector: Collector,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    run_with(
        listener,
        collector,
        metrics,
        ServeOptions::default(),
        shutdown,
    )
    .await
}

/// Serves `collector` on `listener` as `options` say (with a credential, every call but health,
/// reflection and GET /metrics needs the bearer token) until `shutdown` completes.
pub async fn run_with(
    listener: TcpListener,
    collector: Collector,
    metrics: Arc<Metrics>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let service = grpc::server(collector);
    let http = inferno_telemetry::metrics_route(move || metrics.render());
    inferno_telemetry::serve_with(
        listener,
        service,
        inferno_proto::REFLECTION_DESCRIPTORS,
        http,
        options,
        shutdown,
    )
    .await
}

/// Serves the read-only ops pages on `listener` (GET /healthz, GET /metrics) until `shutdown`
/// completes.
pub async fn run_ops(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = inferno_telemetry::ops_router(move || metrics.render());
    inferno_telemetry::serve_ops(listener, router, shutdown).await
}
