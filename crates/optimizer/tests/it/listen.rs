//! The listeners: a credential on the gRPC port, and the read-only ops port.

use super::grpc::{client, http_get};
use inferno_optimizer::grpc::{run, run_ops, Metrics, ServeConfig};
use inferno_proto::v1;
use inferno_telemetry::Credential;
use inferno_testkit::http::get;
use std::sync::Arc;
use tonic::Code;

const TOKEN: &str = "0123456789abcdef-optimizer";

/// With `--auth-token-file`, a call without the token is UNAUTHENTICATED, one with a wrong
/// token PERMISSION_DENIED, and one with it is served.
#[tokio::test]
async fn a_credential_guards_every_call() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ServeConfig {
        credential: Some(Credential::new(TOKEN).unwrap()),
        ..ServeConfig::default()
    };
    let server = tokio::spawn(run(listener, config, async {
        let _ = stopped.await;
    }));
    let mut c = client(addr).await;
    let problem = v1::QueueRequest {
        rps: 1.0,
        max_batch_size: 4,
        avg_output_tokens: 10.0,
        alpha: 1.0,
        ..Default::default()
    };
    let err = c.analyze(problem).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let mut wrong = tonic::Request::new(problem);
    wrong.metadata_mut().insert(
        "authorization",
        "Bearer not-the-token-at-all".parse().unwrap(),
    );
    assert_eq!(
        c.analyze(wrong).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let mut right = tonic::Request::new(problem);
    right
        .metadata_mut()
        .insert("authorization", Credential::new(TOKEN).unwrap().bearer());
    c.analyze(right).await.unwrap();
    // Prometheus needs no token.
    assert!(http_get(addr, "/metrics")
        .await
        .contains("inferno_optimizer_solves_total"));
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

/// The ops listener answers /healthz and /metrics, and nothing that changes anything.
#[tokio::test]
async fn the_ops_listener_serves_health_and_metrics() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let metrics = Arc::new(Metrics::default());
    metrics.failed();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let ops = tokio::spawn(run_ops(listener, metrics, async {
        let _ = stopped.await;
    }));
    let health = get(addr, "/healthz").await;
    assert!(
        health.status == 200 && health.body.ends_with("ok\n"),
        "{health:?}"
    );
    let text = http_get(addr, "/metrics").await;
    assert!(text.contains("inferno_optimizer_errors_total 1"), "{text}");
    assert_eq!(get(addr, "/invoke").await.status, 404);
    let _ = stop.send(());
    ops.await.unwrap().unwrap();
}
