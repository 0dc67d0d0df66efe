//! The actuator's servers: gRPC (port 3303, loopback by default; the service is `grpc`'s) with
//! health, reflection and `/metrics` on the same port, every other call behind the bearer token
//! when one is configured; and the read-only ops listener (port 3313) with `/healthz`,
//! `/readyz` and `/metrics` for probes and Prometheus.

use crate::apply::Actuator;
use crate::grpc;
use crate::metrics::Metrics;
use inferno_telemetry::{Credential, ServeOptions};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A failure to serve.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The gRPC listener failed.
    #[error("gRPC listener: {0}")]
    Grpc(#[source] tonic::transport::Error),
    /// The ops listener failed.
    #[error("ops listener (/healthz, /readyz, /metrics): {0}")]
    Ops(#[source] std::io::Error),
}

/// The listeners of the actuator.
#[derive(Debug)]
pub struct Listeners {
    /// gRPC `inferno.v1.Actuator` (with health, reflection and `/metrics`).
    pub grpc: TcpListener,
    /// The read-only ops listener (`/healthz`, `/readyz`, `/metrics`), if any.
    pub ops: Option<TcpListener>,
}

/// Serves `actuator` on the `listeners` until `shutdown` completes. With a `credential`,
/// every gRPC call but health and reflection needs `authorization: Bearer <token>`
/// (UNAUTHENTICATED without it, PERMISSION_DENIED with a wrong one).
pub async fn run(
    listeners: Listeners,
    actuator: Actuator,
    metrics: Arc<Metrics>,
    credential: Option<Credential>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), Error> {
    let (stop, stopped) = tokio::sync::watch::channel(());
    let ops = listeners.ops.map(|listener| {
        let router = ops_router(metrics.clone());
        let mut stopped = stopped.clone();
        tokio::spawn(inferno_telemetry::serve_ops(listener, router, async move {
            let _ = stopped.changed().await;
        }))
    });
    let service = grpc::server(actuator);
    let http = inferno_telemetry::metrics_route(move || metrics.render());
    let options = ServeOptions {
        timeout: None,
        credential,
    };
    let grpc = inferno_telemetry::serve_with(
        listeners.grpc,
        service,
        grpc::DESCRIPTORS,
        http,
        options,
        shutdown,
    )
    .await
    .map_err(Error::Grpc);
    let _ = stop.send(());
    if let Some(ops) = ops {
        match ops.await {
            Ok(r) => r.map_err(Error::Ops)?,
            Err(e) => return Err(Error::Ops(std::io::Error::other(e))),
        }
    }
    grpc
}

/// The ops listener's routes: `GET /healthz` and `GET /readyz` (`ok` while the process serves;
/// the actuator holds no state it must load first) and `GET /metrics`.
pub fn ops_router(metrics: Arc<Metrics>) -> axum::Router {
    inferno_telemetry::ops_router(move || metrics.render())
        .route("/readyz", axum::routing::get(|| async { "ok\n" }))
}
