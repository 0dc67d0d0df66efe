//! `/invoke` over HTTP: the methods it takes, how a burst of invocations is coalesced, and the
//! bearer token on `/invoke` and gRPC `Invoke`.

use crate::cycles::{samples, start};
use inferno_proto::v1;
use inferno_telemetry::Credential;
use inferno_testkit::{http, wait};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tonic::metadata::MetadataValue;

const TOKEN: &str = "controller-test-token-0123456789";

/// The bound of every wait: a guard, not a timing.
const WAIT: Duration = Duration::from_secs(60);

fn report(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// POST /invoke runs a cycle like GET /invoke (kept: users curl it); any other method, HEAD
/// included, is 405 with an Allow header and runs nothing.
#[tokio::test]
async fn invoke_takes_post_and_get_and_refuses_other_methods() {
    let l = start(samples("small"), None).await;
    let addr = l.serve(None).await;
    let cycles = || l.collector.lock().unwrap().calls;

    let post = http::request(addr, "POST", "/invoke", &[], "")
        .await
        .unwrap();
    assert_eq!(post.status, 200, "{}", post.body);
    assert_eq!(report(&post.body)["outcome"], "OK");
    assert_eq!(cycles(), 1);
    let dry = http::request(addr, "POST", "/invoke?dryRun=true", &[], "")
        .await
        .unwrap();
    assert_eq!(report(&dry.body)["dryRun"], true);
    let get = http::request(addr, "GET", "/invoke", &[], "")
        .await
        .unwrap();
    assert_eq!(get.status, 200, "{}", get.body);
    assert_eq!(cycles(), 3);

    for method in ["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
        let answer = http::request(addr, method, "/invoke", &[], "")
            .await
            .unwrap();
        assert_eq!(answer.status, 405, "{method}: {answer:?}");
        assert_eq!(answer.header("allow"), Some("GET, POST"), "{method}");
    }
    assert_eq!(cycles(), 3, "a refused method runs no cycle");
}

/// A burst of 100 invocations (GET, POST and dry runs) while a cycle runs queues one cycle,
/// not one per caller, nor one per kind: every caller gets an answer, from the cycle it
/// joined. Counted in cycles, with the running cycle held until every call has arrived.
#[tokio::test]
async fn a_hundred_concurrent_invocations_queue_one_cycle() {
    let l = start(samples("small"), None).await;
    let addr = l.serve(None).await;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    l.collector.lock().unwrap().gate = Some(gate.clone());
    let call = |method: &'static str, path: &'static str| {
        tokio::spawn(async move { http::request(addr, method, path, &[], "").await.unwrap() })
    };
    let first = call("GET", "/invoke");
    wait::until_sync("the first cycle to start", WAIT, || {
        (l.collector.lock().unwrap().calls == 1).then_some(())
    })
    .await;
    let burst: Vec<_> = (0..100)
        .map(|i| match i % 3 {
            0 => call("GET", "/invoke"),
            1 => call("POST", "/invoke"),
            _ => call("POST", "/invoke?dryRun=true"),
        })
        .collect();
    wait::until_sync("100 callers waiting", WAIT, || {
        (l.runner.waiting() == 100).then_some(())
    })
    .await;
    assert!(l
        .metrics
        .render()
        .contains("inferno_controller_invocations_waiting 100"));
    gate.add_permits(1_000);

    let first = first.await.unwrap();
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(report(&first.body)["cycle"], 1);
    let mut cycles = BTreeSet::new();
    for answer in burst {
        let answer = answer.await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        let r = report(&answer.body);
        assert_eq!(r["outcome"], "OK");
        // The follow-up is real: non-dry callers asked for it; the dry-run callers share it.
        assert_eq!(r["dryRun"], false);
        cycles.insert(r["cycle"].as_u64().unwrap());
    }
    assert_eq!(cycles, BTreeSet::from([2]), "the burst shares one cycle");
    assert_eq!(l.collector.lock().unwrap().calls, 2, "cycles run");
    assert_eq!(l.actuator.0.lock().unwrap().len(), 2, "applies");
    assert_eq!(l.runner.waiting(), 0);
}

/// Dry runs alone are coalesced too, into one dry-run cycle.
#[tokio::test]
async fn dry_runs_share_one_dry_cycle() {
    let l = start(samples("small"), None).await;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    l.collector.lock().unwrap().gate = Some(gate.clone());
    let invoke = |dry: bool| {
        let r = l.runner.clone();
        tokio::spawn(async move { r.invoke(dry).await.unwrap() })
    };
    let first = invoke(false);
    wait::until_sync("the first cycle to start", WAIT, || {
        (l.collector.lock().unwrap().calls == 1).then_some(())
    })
    .await;
    let dry: Vec<_> = (0..10).map(|_| invoke(true)).collect();
    wait::until_sync("10 callers waiting", WAIT, || {
        (l.runner.waiting() == 10).then_some(())
    })
    .await;
    gate.add_permits(100);
    assert!(!first.await.unwrap().dry_run);
    for r in dry {
        let r = r.await.unwrap();
        assert_eq!((r.cycle, r.dry_run, r.changes), (2, true, 0));
    }
    let applied = l.actuator.0.lock().unwrap();
    assert_eq!(applied.len(), 2);
    assert!(applied[1].dry_run);
}

async fn grpc_invoke(
    addr: SocketAddr,
    token: Option<&str>,
) -> Result<v1::CycleReport, tonic::Status> {
    let mut client = v1::controller_client::ControllerClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let mut request = tonic::Request::new(v1::InvokeRequest { dry_run: true });
    if let Some(t) = token {
        let v: MetadataValue<_> = format!("Bearer {t}").parse().unwrap();
        request.metadata_mut().insert("authorization", v);
    }
    client
        .invoke(request)
        .await
        .map(tonic::Response::into_inner)
}

/// With `--auth-token-file`, /invoke (any method) and gRPC Invoke need the token and run
/// nothing without it; health, readiness, metrics and gRPC health stay open.
#[tokio::test]
async fn invoke_needs_the_token_when_one_is_configured() {
    let l = start(samples("small"), None).await;
    let credential = Credential::new(TOKEN).unwrap();
    let addr = l.serve(Some(credential)).await;
    let cycles = || l.collector.lock().unwrap().calls;
    let bearer = format!("Bearer {TOKEN}");

    for method in ["GET", "POST"] {
        let none = http::request(addr, method, "/invoke", &[], "")
            .await
            .unwrap();
        assert_eq!(none.status, 401, "{method}: {none:?}");
        let wrong = http::request(
            addr,
            method,
            "/invoke",
            &[("Authorization", "Bearer not-the-token-0123456789")],
            "",
        )
        .await
        .unwrap();
        assert_eq!(wrong.status, 403, "{method}: {wrong:?}");
    }
    assert_eq!(cycles(), 0, "no cycle without the token");
    let grpc = grpc_invoke(addr, None).await.unwrap_err();
    assert_eq!(grpc.code(), tonic::Code::Unauthenticated, "{grpc:?}");
    let grpc = grpc_invoke(addr, Some("not-the-token-0123456789"))
        .await
        .unwrap_err();
    assert_eq!(grpc.code(), tonic::Code::PermissionDenied, "{grpc:?}");
    assert_eq!(cycles(), 0, "no cycle without the token");

    for path in ["/healthz", "/readyz", "/metrics"] {
        let open = http::request(addr, "GET", path, &[], "").await.unwrap();
        assert_eq!(open.status, 200, "{path}: {open:?}");
        if path == "/metrics" {
            // The controller's families (no cycle yet: the histogram has no series), then
            // those every service shares.
            for family in [
                "# TYPE inferno_controller_last_cycle_duration_seconds gauge",
                "inferno_build_info{",
                "process_start_time_seconds ",
            ] {
                assert!(open.body.contains(family), "no {family} in {open:?}");
            }
        }
    }
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let health = tonic_health::pb::health_client::HealthClient::new(channel)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let post = http::request(addr, "POST", "/invoke", &[("Authorization", &bearer)], "")
        .await
        .unwrap();
    assert_eq!(post.status, 200, "{}", post.body);
    assert_eq!(report(&post.body)["outcome"], "OK");
    let get = http::request(addr, "GET", "/invoke", &[("Authorization", &bearer)], "")
        .await
        .unwrap();
    assert_eq!(get.status, 200, "{}", get.body);
    let report = grpc_invoke(addr, Some(TOKEN)).await.unwrap();
    assert_eq!(
        report.outcome(),
        v1::cycle_report::Outcome::Ok,
        "{}",
        report.reason
    );
    assert_eq!(cycles(), 3);
}

/// What the loop learnt is readable without running a cycle: `GET /tuning` (JSON) and gRPC
/// `GetTuning`. Here the collector reports the start-up times of a server's pods; after one
/// cycle both show the median for its model and accelerator, and neither call runs a cycle.
#[tokio::test]
async fn tuning_is_read_over_http_and_grpc() {
    let l = start(samples("small"), None).await;
    let addr = l.serve(None).await;
    let server = {
        let mut c = l.collector.lock().unwrap();
        // A server that runs somewhere: start-ups are learnt per model and accelerator.
        let alloc = c.response.servers[0].current_alloc.get_or_insert_default();
        alloc.accelerator = "A100".into();
        alloc.num_replicas = 3;
        let s = c.response.servers[0].clone();
        c.response.observations = vec![v1::ServerObservation {
            server: s.name.clone(),
            ready_replicas: 3,
            pods: [("a", 70.0), ("b", 90.0), ("c", 200.0)]
                .into_iter()
                .map(|(pod, seconds)| v1::PodLoad {
                    pod: pod.into(),
                    outstanding: 1.0,
                    startup_duration: Some(inferno_proto::time::from_secs(seconds)),
                })
                .collect(),
            ..Default::default()
        }];
        s
    };
    let empty = http::request(addr, "GET", "/tuning", &[], "")
        .await
        .unwrap();
    assert_eq!(empty.status, 200);
    assert_eq!(report(&empty.body), serde_json::json!({"entries": []}));
    l.runner.invoke(false).await.unwrap();
    let cycles = l.collector.lock().unwrap().calls;
    let model = server.model.clone();
    let acc = server.current_alloc.as_ref().unwrap().accelerator.clone();
    let got = http::request(addr, "GET", "/tuning", &[], "")
        .await
        .unwrap();
    // The answer of GetTuning in proto3 JSON. Before: a list of another shape.
    let json = &report(&got.body)["entries"];
    assert_eq!(json[0]["model"], model.as_str(), "{}", got.body);
    assert_eq!(json[0]["accelerator"], acc.as_str());
    assert_eq!(json[0]["medianStartupDuration"], "90s");
    assert_eq!(json[0]["startupSamples"], 3);
    let mut client = v1::controller_client::ControllerClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let entries = client
        .get_tuning(v1::GetTuningRequest {})
        .await
        .unwrap()
        .into_inner()
        .entries;
    assert_eq!(entries.len(), 1);
    let median = entries[0].median_startup_duration.as_ref().unwrap();
    assert_eq!(
        (entries[0].model.as_str(), inferno_proto::time::secs(median)),
        (model.as_str(), 90.0)
    );
    // As users call it: the real grpcurl, through reflection.
    if let Some(bin) = inferno_testkit::tools::grpcurl() {
        let out = inferno_testkit::process::output(
            std::process::Command::new(bin).args([
                "-plaintext",
                "-max-time",
                "60",
                &addr.to_string(),
                "inferno.v1.Controller/GetTuning",
            ]),
            None,
            WAIT,
        )
        .await;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json = report(&text);
        assert_eq!(json["entries"][0]["medianStartupDuration"], "90s", "{text}");
        assert_eq!(json["entries"][0]["model"], model.as_str(), "{text}");
    }
    assert_eq!(
        l.collector.lock().unwrap().calls,
        cycles,
        "reading runs no cycle"
    );
}
