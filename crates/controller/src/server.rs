//! The controller's port (3300): plain HTTP `GET /invoke` (what users curl through a
//! port-forward), `/healthz`, `/readyz`, `/metrics`, and gRPC `inferno.v1.Controller` with health
//! and reflection, all on one listener.

use crate::cycle::CycleReport;
use crate::leader::Leadership;
use crate::metrics::Metrics;
use crate::runner::Runner;
use axum::extract::RawQuery;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use inferno_proto::v1::{self, controller_server::ControllerServer};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The gRPC face of the [`Runner`].
#[derive(Debug, Clone)]
pub struct ControllerService {
    runner: Runner,
}

/// A report as the contract carries it.
pub fn report_message(r: &CycleReport) -> v1::CycleReport {
    let t = &r.timing;
    v1::CycleReport {
        cycle: r.cycle,
        timings: [
            ("load", t.load_ms),
            ("collect", t.collect_ms),
            ("optimize", t.optimize_ms),
            ("apply", t.actuate_ms),
            ("total", t.total_ms),
        ]
        .into_iter()
        .map(|(stage, ms)| v1::StageTiming {
            stage: stage.into(),
            duration_ms: ms,
        })
        .collect(),
        solution: r.solution.clone(),
        updates: r.updates.clone(),
        skipped_reason: if r.outcome == "skipped" {
            r.reason.clone()
        } else {
            String::new()
        },
        error: if r.outcome == "failed" {
            r.reason.clone()
        } else {
            String::new()
        },
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
}

fn json(status: StatusCode, body: String) -> axum::response::Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn invoke(runner: Runner, query: Option<String>) -> axum::response::Response {
    let dry_run = query
        .unwrap_or_default()
        .split('&')
        .any(|kv| kv == "dryRun=true" || kv == "dry_run=true" || kv == "dryRun");
    match runner.invoke(dry_run).await {
        Some(report) => {
            let status = match report.outcome.as_str() {
                "failed" => StatusCode::INTERNAL_SERVER_ERROR,
                "skipped" if report.reason.starts_with("not the leader") => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::OK,
            };
            json(
                status,
                serde_json::to_string_pretty(&report).unwrap_or_default(),
            )
        }
        None => json(
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"error\":\"the controller is shutting down\"}".into(),
        ),
    }
}

/// Serves on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    runner: Runner,
    leadership: Leadership,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let http = {
        let (r, l) = (runner.clone(), leadership.clone());
        axum::Router::new()
            .route(
                "/invoke",
                axum::routing::get(move |RawQuery(q): RawQuery| invoke(r.clone(), q)),
            )
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .route(
                "/readyz",
                axum::routing::get(move || {
                    let leading = l.is_leader();
                    async move {
                        if leading {
                            (StatusCode::OK, "leader")
                        } else {
                            (StatusCode::OK, "standby")
                        }
                    }
                }),
            )
            .route(
                "/metrics",
                axum::routing::get(move || {
                    let m = metrics.clone();
                    async move { m.render() }
                }),
            )
    };
    let service =
        ControllerServer::new(ControllerService { runner }).max_encoding_message_size(usize::MAX);
    inferno_telemetry::serve(listener, service, http, None, shutdown).await
}
