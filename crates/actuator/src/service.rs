//! The `inferno.v1.Actuator` gRPC service and its server (port 3303), with health, reflection
//! and `/metrics` on the same port.

use crate::apply::{Actuator, KubeRef, Outcome, Request};
use crate::metrics::Metrics;
use inferno_proto::v1::{self, actuator_server::ActuatorServer};
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
        applied: o.applied,
        error: o.error.clone(),
        reason,
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
        let applied = outcomes.iter().filter(|o| o.applied).count();
        let failed = outcomes
            .iter()
            .filter(|o| o.decision.is_none() || o.error.starts_with("patch failed"))
            .count();
        tracing::info!(
            deployments = outcomes.len(),
            applied,
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

/// Serves `actuator` on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    actuator: Actuator,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let service = ActuatorServer::new(ActuatorService { actuator });
    let http = inferno_telemetry::metrics_route(move || metrics.render());
    inferno_telemetry::serve(listener, service, http, None, shutdown).await
}
