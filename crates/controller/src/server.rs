//! The controller's port (3300): plain HTTP `POST /invoke` (and `GET /invoke`, what users curl
//! through a port-forward), `/healthz`, `/readyz`, `/metrics`, and gRPC `inferno.v1.Controller`
//! with health and reflection, all on one listener; `/invoke` and `Invoke` behind the bearer
//! token when one is configured.

use crate::cycle::CycleOutcome;
use crate::grpc::{report_message, tuning_message, ControllerService};
use crate::leader::Leadership;
use crate::metrics::Metrics;
use crate::runner::Runner;
use axum::extract::RawQuery;
use axum::http::{header, Method, StatusCode};
use axum::response::IntoResponse;
use inferno_proto::v1::controller_server::ControllerServer;
use inferno_telemetry::{Credential, ServeOptions};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

fn json(status: StatusCode, body: String) -> axum::response::Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `GET` or `POST /invoke`: runs a cycle (or joins the next one) and answers its report.
/// `POST` is the form to use (a `GET` should not change anything); `GET` stays because users
/// curl it. Any other method, `HEAD` included, is 405 and runs nothing.
async fn invoke(runner: Runner, method: Method, query: Option<String>) -> axum::response::Response {
    if method != Method::GET && method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [
                (header::ALLOW, "GET, POST"),
                (header::CONTENT_TYPE, "application/json"),
            ],
            format!("{{\"error\":\"method {method} not allowed on /invoke; use POST (or GET)\"}}"),
        )
            .into_response();
    }
    let dry_run = query
        .unwrap_or_default()
        .split('&')
        .any(|kv| kv == "dryRun=true" || kv == "dry_run=true" || kv == "dryRun");
    match runner.invoke(dry_run).await {
        Some(report) => {
            let status = match report.outcome {
                CycleOutcome::Failed => StatusCode::INTERNAL_SERVER_ERROR,
                CycleOutcome::Skipped if report.reason.starts_with("not the leader") => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::OK,
            };
            // The report of gRPC Invoke, in proto3 JSON: one shape for both.
            json(
                status,
                inferno_proto::json::to_string_pretty(&report_message(&report)),
            )
        }
        None => json(
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"error\":\"the controller is shutting down\"}".into(),
        ),
    }
}

/// `GET /readyz`: ready (200 `leader`) only while this controller leads; a standby answers
/// 503 `standby`, so a Service in front of two controllers sends `/invoke` and `Invoke` to the
/// leader only (a standby would answer them with a skipped cycle). Liveness is `/healthz`,
/// 200 on both.
fn readiness(leading: bool) -> (StatusCode, &'static str) {
    if leading {
        (StatusCode::OK, "leader\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "standby\n")
    }
}

/// Serves on `listener` until `shutdown` completes. With a `credential`, `/invoke` (any
/// method) and gRPC `Invoke` need `authorization: Bearer <token>`; health, reflection and
/// `GET /healthz`, `/readyz`, `/metrics` stay open.
pub async fn run(
    listener: TcpListener,
    runner: Runner,
    leadership: Leadership,
    metrics: Arc<Metrics>,
    credential: Option<Credential>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let http = {
        let (r, l) = (runner.clone(), leadership.clone());
        axum::Router::new()
            .route(
                "/invoke",
                axum::routing::any(move |method: Method, RawQuery(q): RawQuery| {
                    invoke(r.clone(), method, q)
                }),
            )
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .route(
                "/tuning",
                axum::routing::get({
                    let r = runner.clone();
                    move || {
                        // The answer of gRPC GetTuning, in proto3 JSON.
                        let entries = tuning_message(&r.tuning());
                        let report = inferno_proto::v1::TuningReport { entries };
                        let body = inferno_proto::json::to_string_pretty(&report);
                        async move { json(StatusCode::OK, body) }
                    }
                }),
            )
            .route(
                "/readyz",
                axum::routing::get(move || {
                    let leading = l.is_leader();
                    async move { readiness(leading) }
                }),
            )
            .merge(inferno_telemetry::metrics_route(move || metrics.render()))
    };
    let service =
        ControllerServer::new(ControllerService::new(runner)).max_encoding_message_size(usize::MAX);
    let options = ServeOptions {
        timeout: None,
        credential,
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A standby is alive but not ready. Before: 200 `standby`, so a Service sent cycles to it.
    #[test]
    fn only_the_leader_is_ready() {
        assert_eq!(readiness(true).0, StatusCode::OK);
        assert_eq!(
            readiness(false),
            (StatusCode::SERVICE_UNAVAILABLE, "standby\n")
        );
    }
}
