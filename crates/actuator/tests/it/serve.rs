//! The listeners (issue 16): with a credential, Apply needs the bearer token and changes
//! nothing without it; the read-only ops listener answers probes and Prometheus; the binary
//! refuses a non-loopback gRPC address without a credential.

use crate::support::{cluster, foreign_deployment, get, kube_ref, owned, refs, uid};
use inferno_actuator::apply::{Actuator, Mode};
use inferno_actuator::metrics::Metrics;
use inferno_actuator::plan::Policy;
use inferno_actuator::service::{self, Listeners};
use inferno_core::ServerRef;
use inferno_proto::v1::{self, actuator_client::ActuatorClient};
use inferno_telemetry::auth::client_interceptor;
use inferno_telemetry::Credential;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

const TOKEN: &str = "actuator-test-token-0123456789";

/// A plain HTTP/1.1 GET: the status code and the body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let r = inferno_testkit::http::get(addr, path).await;
    (r.status, r.body)
}

use v1::deployment_result::{Outcome, Refusal};

fn request(server: &str, target: &ServerRef, replicas: i32) -> v1::ApplyRequest {
    v1::ApplyRequest {
        allocations: [(
            server.to_string(),
            v1::AllocationData {
                accelerator: "G2".into(),
                num_replicas: replicas,
                max_batch: 16,
                ..Default::default()
            },
        )]
        .into(),
        deployments: [(
            server.to_string(),
            v1::DeploymentRef {
                uid: target.uid.clone(),
                name: target.name.clone(),
                namespace: target.namespace.clone(),
            },
        )]
        .into(),
        ..Default::default()
    }
}

/// With `--auth-token-file`: no token is UNAUTHENTICATED, a wrong one PERMISSION_DENIED, and
/// neither changes anything; the token works, and the refusals are in the gRPC results. Health
/// and /metrics stay open; the ops listener serves /healthz, /readyz and /metrics.
/// Before: there was no credential, so the calls without a token were applied.
#[tokio::test]
async fn apply_needs_the_token_when_a_credential_is_configured() {
    let c = cluster().await;
    let victim = foreign_deployment(&c, "victim", "payments", 2, &[]).await;
    let refs = refs(&c).await;
    let (server, target) = refs.iter().next().unwrap();
    let before = owned(&get(&c, "infer", &target.name).await);
    let metrics = Arc::new(Metrics::default());
    let a = Actuator::new(
        c.client.clone(),
        Policy::default(),
        Mode::Patch,
        metrics.clone(),
    );
    let grpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ops = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (addr, ops_addr) = (grpc.local_addr().unwrap(), ops.local_addr().unwrap());
    let credential = Credential::new(TOKEN).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server_task = tokio::spawn(service::run(
        Listeners {
            grpc,
            ops: Some(ops),
        },
        a,
        metrics,
        Some(credential.clone()),
        async {
            let _ = stopped.await;
        },
    ));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    let status = ActuatorClient::new(channel.clone())
        .apply(request(server, target, 7))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    let wrong = Credential::new("not-the-token-0123456789").unwrap();
    let status = ActuatorClient::with_interceptor(channel.clone(), client_interceptor(Some(wrong)))
        .apply(request(server, target, 7))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert_eq!(owned(&get(&c, "infer", &target.name).await), before);

    let mut client =
        ActuatorClient::with_interceptor(channel, client_interceptor(Some(credential)));
    let reply = client
        .apply(request(server, target, 7))
        .await
        .unwrap()
        .into_inner();
    assert!(reply.results[0].applied, "{:?}", reply.results);
    assert_eq!(reply.results[0].outcome(), Outcome::Applied);
    // The attack, with the token: refused, and said so in the result.
    let reply = client
        .apply(request(
            "payments",
            &kube_ref(&victim, &uid(&victim)),
            i32::MAX,
        ))
        .await
        .unwrap()
        .into_inner();
    let r = &reply.results[0];
    assert_eq!(
        (r.outcome(), r.refusal(), r.applied),
        (Outcome::Refused, Refusal::NotManaged, false),
        "{r:?}"
    );
    assert!(r.error.contains("nothing patched"), "{r:?}");
    assert_eq!(owned(&get(&c, "victim", "payments").await), owned(&victim));

    // Read-only pages: open on the gRPC port, and on the ops listener.
    let (code, body) = http_get(addr, "/metrics").await;
    assert_eq!(code, 200, "{body}");
    for path in ["/healthz", "/readyz", "/metrics"] {
        let (code, body) = http_get(ops_addr, path).await;
        assert_eq!(code, 200, "{path}: {body}");
    }
    let (_, body) = http_get(ops_addr, "/metrics").await;
    assert!(
        body.contains("inferno_actuator_refusals_total{reason=\"not-managed\"} 1"),
        "{body}"
    );
    assert!(body.contains("inferno_actuator_changes_total 1"), "{body}");
    let _ = stop.send(());
    server_task.await.unwrap().unwrap();
    c.sim.shutdown().await.unwrap();
}

/// The binary refuses to listen beyond loopback without a credential, naming what set the
/// address. Before: it served Apply to anyone on 0.0.0.0:3303.
#[tokio::test]
async fn startup_refuses_a_non_loopback_address_without_a_credential() {
    let c = cluster().await;
    let dir = std::env::temp_dir().join(format!("inferno-actuator-start-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    // A reachable API server, so only the exposure check can stop it.
    c.sim.write_kubeconfig(&kubeconfig).unwrap();
    /// Flags, environment, and how the error names the address.
    type Case = (
        &'static [&'static str],
        &'static [(&'static str, &'static str)],
        &'static str,
    );
    let cases: [Case; 2] = [
        (
            &["--listen", "0.0.0.0:0"],
            &[],
            "--listen (INFERNO_ACTUATOR_LISTEN) 0.0.0.0:0",
        ),
        (
            &[],
            &[("ACTUATOR_HOST", "0.0.0.0"), ("ACTUATOR_PORT", "0")],
            "ACTUATOR_HOST/ACTUATOR_PORT 0.0.0.0:0",
        ),
    ];
    for (args, env, named) in cases {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_inferno-actuator"));
        cmd.args(args)
            .args(["--ops-listen", "127.0.0.1:0"])
            .env("KUBECONFIG", &kubeconfig)
            .env_remove("INFERNO_AUTH_TOKEN_FILE")
            .env_remove("INFERNO_ACTUATOR_LISTEN")
            .env_remove("ACTUATOR_HOST")
            .env_remove("ACTUATOR_PORT")
            .envs(env.iter().copied());
        // It must exit by itself; one that serves instead is killed when the bound is reached.
        let out = inferno_testkit::process::output(&mut cmd, None, Duration::from_secs(60)).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "{named}: refusing to listen beyond loopback without a credential"
            )),
            "{stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    c.sim.shutdown().await.unwrap();
}
