//! The `inferno.v1.Actuator` gRPC service and its servers: gRPC (port 3303, loopback by
//! default) with health, reflection and `/metrics` on the same port, every other call behind the
//! bearer token when one is configured; and the read-only ops listener (port 3313) with
//! `/healthz`, `/readyz` and `/metrics` for probes and Prometheus.

use crate::apply::{Actuator, Kind, KubeRef, Outcome, Request};
use crate::metrics::Metrics;
use inferno_proto::v1::{self, actuator_server::ActuatorServer};
use inferno_telemetry::{Credential, ServeOptions};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tonic::{Response, Status};
use tracing::instrument;

/// The gRPC face of an [`Actuator`].
#[derive(Debug, Clone)]
pub struct ActuatorService {
    actuator: Actuator,
}

fn request(r: v1::ApplyRequest) -> Request {
    Request {
        allocations: r
            .allocations
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect(),
        kube_resources: r
            .kube_resources
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    KubeRef {
                        uid: v.uid,
                        name: v.name,
                        namespace: v.space,
                    },
                )
            })
            .collect(),
        unplaced_reasons: r.unplaced_reasons.into_iter().collect(),
        unplaced_codes: r.unplaced_codes.into_iter().collect(),
        dry_run: r.dry_run,
    }
}

fn int(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// An outcome as the contract reports it.
pub fn result(o: &Outcome) -> v1::DeploymentResult {
    let (old, new, reason) = match &o.decision {
        Some(d) => (
            Some(v1::AllocationData {
                accelerator: d.old_accelerator.clone(),
                num_replicas: int(d.old_replicas),
                max_batch: d.old_batch.parse().unwrap_or(0),
                ..Default::default()
            }),
            Some(v1::AllocationData {
                accelerator: d.new_accelerator.clone(),
                num_replicas: int(d.new_replicas),
                max_batch: d.new_batch.parse().unwrap_or(0),
                ..Default::default()
            }),
            if d.notes.is_empty() {
                d.reason.clone()
            } else {
                format!("{} ({})", d.reason, d.notes.join("; "))
            },
        ),
        None => (None, None, String::new()),
    };
    v1::DeploymentResult {
        server: o.server.clone(),
        deployment: o.target.name.clone(),
        namespace: o.target.namespace.clone(),
        old,
        new,
        applied: o.applied(),
        error: o.error(),
        reason,
        outcome: o.kind.as_str().into(),
        code: o
            .refusal()
            .map(|r| r.code.as_str().to_string())
            .unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl v1::actuator_server::Actuator for ActuatorService {
    #[instrument(skip_all, fields(rpc = "Apply"))]
    async fn apply(
        &self,
        r: tonic::Request<v1::ApplyRequest>,
    ) -> Result<Response<v1::ApplyResponse>, Status> {
        let req = request(r.into_inner());
        let outcomes = self.actuator.apply(&req).await;
        let count = |f: fn(&Kind) -> bool| outcomes.iter().filter(|o| f(&o.kind)).count();
        let applied = count(|k| *k == Kind::Applied);
        let refused = count(|k| matches!(k, Kind::Refused(_)));
        let failed = count(|k| matches!(k, Kind::NotFound | Kind::Failed(_)));
        tracing::info!(
            deployments = outcomes.len(),
            applied,
            refused,
            failed,
            dry_run = req.dry_run,
            "apply done"
        );
        Ok(Response::new(v1::ApplyResponse {
            results: outcomes.iter().map(result).collect(),
            dry_run: req.dry_run,
        }))
    }
}

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
    let service = ActuatorServer::new(ActuatorService { actuator });
    let http = inferno_telemetry::metrics_route(move || metrics.render());
    let options = ServeOptions {
        timeout: None,
        credential,
    };
    let grpc = inferno_telemetry::serve_with(listeners.grpc, service, http, options, shutdown)
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
