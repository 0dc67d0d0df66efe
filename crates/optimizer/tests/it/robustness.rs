//! Issue 16, the optimizer's part: values beyond `inferno_api::limits` are refused naming the
//! field (never an 8 GiB allocation or an hour of CPU), one bad server never stops the
//! decisions for the others, an empty system is an error, a huge time limit is an error and not
//! a panic, a deadline or a client that goes away stops the computation, and a request that is
//! not protobuf is the client's error.

use super::grpc::{client, http_get, start};
use super::solver_cases::single;
use super::solver_vectors::sample;
use inferno_api::SystemSpec;
use inferno_optimizer::grpc::ServeConfig;
use inferno_optimizer::{solve, SolveOptions};
use inferno_proto::v1;
use inferno_testkit::{process, wait, TempDir};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tonic::Code;

/// Waits (up to a generous bound that only a broken server reaches) until the server's
/// /metrics satisfies `done`; returns the text.
async fn wait_for_metrics(addr: SocketAddr, what: &str, done: impl Fn(&str) -> bool) -> String {
    wait::until(what, Duration::from_secs(120), || async {
        let text = http_get(addr, "/metrics").await;
        done(&text).then_some(text)
    })
    .await
}

/// The value of a metric without labels in the text format.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn request(spec: &SystemSpec) -> v1::SystemData {
    v1::SystemData {
        system: Some(spec.try_into().unwrap()),
    }
}

/// A request that never hangs the test, whatever the server does.
fn bounded<T>(message: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    r.set_timeout(Duration::from_secs(60));
    r
}

fn queue_problem() -> v1::QueueRequest {
    v1::QueueRequest {
        rps: 3.0,
        max_batch_size: 48,
        avg_input_tokens: 128.0,
        avg_output_tokens: 512.0,
        alpha: 12.0,
        beta: 0.05,
        gamma: 0.0005,
        max_queue_size: 128,
        target_ttft: 60.0,
        target_itl: 20.0,
        out_tokens_cv: 0.0,
    }
}

/// Issue 16 (high): `maxBatchSize: 2147483647` on Analyze, Size or OptimalConcurrency made the
/// optimizer allocate 8 GiB and die; `avgInputTokens` 1e15 kept a core busy for minutes.
#[tokio::test]
async fn queue_calls_refuse_values_beyond_the_limits() {
    let server = start(ServeConfig::default()).await;
    let mut c = client(server.addr).await;
    let cases = [
        (
            v1::QueueRequest {
                max_batch_size: i32::MAX,
                ..queue_problem()
            },
            "maxBatchSize: must be an integer in [0, 4096], got 2147483647",
        ),
        (
            v1::QueueRequest {
                avg_input_tokens: 1e15,
                ..queue_problem()
            },
            "avgInputTokens: must be a finite number in [0, 1048576], got 1e15",
        ),
        (
            v1::QueueRequest {
                max_queue_size: i32::MAX,
                ..queue_problem()
            },
            "maxQueueSize: must be an integer in [0, 16384], got 2147483647",
        ),
        (
            v1::QueueRequest {
                avg_output_tokens: f64::INFINITY,
                ..queue_problem()
            },
            "avgOutputTokens: must be a finite number in [0, 1048576], got inf",
        ),
    ];
    for (problem, want) in cases {
        let replies = [
            c.analyze(bounded(problem)).await.map(|_| ()),
            c.size(bounded(problem)).await.map(|_| ()),
            c.optimal_concurrency(bounded(problem)).await.map(|_| ()),
        ];
        for reply in replies {
            let err = reply.unwrap_err();
            assert_eq!(err.code(), Code::InvalidArgument, "{want}: {err:?}");
            assert!(err.message().contains(want), "{want}: {}", err.message());
        }
    }
    // The largest valid values are answered.
    let largest = v1::QueueRequest {
        max_batch_size: 4096,
        max_queue_size: 16_384,
        avg_input_tokens: 1_048_576.0,
        avg_output_tokens: 1_048_576.0,
        target_ttft: 0.0,
        target_itl: 0.0,
        ..queue_problem()
    };
    c.analyze(bounded(largest)).await.unwrap();
    c.size(bounded(largest)).await.unwrap();
    c.optimal_concurrency(bounded(largest)).await.unwrap();
}

/// Issue 16 (high): model `maxBatchSize`/`atTokens` >= 1e8 (shared data) are refused whole,
/// naming the field; a server's tokens beyond the limit make that server unplaced.
#[tokio::test]
async fn optimize_refuses_model_values_beyond_the_limits() {
    let server = start(ServeConfig::default()).await;
    let mut c = client(server.addr).await;
    for (edit, want) in [
        (
            (|s: &mut SystemSpec| s.model_data.models[0].max_batch_size = 100_000_000)
                as fn(&mut SystemSpec),
            "field maxBatchSize: must be an integer in [0, 4096], got 100000000",
        ),
        (
            |s: &mut SystemSpec| s.model_data.models[0].at_tokens = 100_000_000,
            "field atTokens: must be an integer in [0, 1048576], got 100000000",
        ),
    ] {
        let mut spec = sample("small");
        edit(&mut spec);
        let err = c.optimize_one(bounded(request(&spec))).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(err.message().contains(want), "{}", err.message());
    }
}

/// Issue 16 (medium): one server's bad metrics (an infinite or 1e308 load, an unknown model or
/// class) stopped the decision for every server. Now the bad ones are unplaced with their
/// reason and the others are solved exactly as without them.
#[tokio::test]
async fn one_bad_server_never_stops_the_others() {
    let server = start(ServeConfig::default()).await;
    let mut c = client(server.addr).await;
    let mut spec = sample("small");
    let servers = &mut spec.server_data.servers;
    servers[1].current_alloc.load.arrival_rate = 1e308;
    servers[4].model = "no-such-model".into();
    servers[7].class = "Gold".into();
    servers[9].current_alloc.load.avg_in_tokens = i64::from(i32::MAX);
    servers[9].max_batch_size = i64::from(i32::MAX);
    let bad = [1, 4, 7, 9].map(|i| servers[i].name.clone());
    let reply = c
        .optimize_one(bounded(request(&spec)))
        .await
        .unwrap()
        .into_inner();
    let unplaced: Vec<&str> = reply.unplaced.iter().map(|u| u.server.as_str()).collect();
    assert_eq!(unplaced, bad.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(reply
        .unplaced
        .iter()
        .all(|u| u.code() == inferno_proto::v1::unplaced_server::Code::InvalidData));
    let reasons: Vec<&str> = reply.unplaced.iter().map(|u| u.reason.as_str()).collect();
    assert!(
        reasons[0].contains(
            "field currentAlloc.load.arrivalRate: must be a finite number in [0, 10000000], got 1e308"
        ),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("field model: unknown model"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].contains("field class: unknown class"),
        "{reasons:?}"
    );
    assert!(
        reasons[3].contains("field maxBatchSize: must be an integer in [0, 4096], got 2147483647")
            && reasons[3].contains("field currentAlloc.load.avgInTokens"),
        "{reasons:?}"
    );
    // The others get what they would get alone.
    let mut good = spec.clone();
    good.server_data.servers.retain(|s| !bad.contains(&s.name));
    let want = solve(&good, &SolveOptions::from_spec(&good).unwrap());
    let got: inferno_api::AllocationSolution = reply.solution.unwrap().into();
    assert_eq!(got, want.to_api());
    assert_eq!(got.allocations.len(), 11);
    let metrics = http_get(server.addr, "/metrics").await;
    assert_eq!(
        metric(&metrics, "inferno_optimizer_rejected_servers_total"),
        Some(4.0),
        "{metrics}"
    );
}

/// Issue 16 (low): `null`, `{}` and `{"system": null}` were solved as empty systems.
#[tokio::test]
async fn an_empty_system_is_an_error() {
    let server = start(ServeConfig::default()).await;
    let mut c = client(server.addr).await;
    for message in [
        v1::SystemData { system: None },
        v1::SystemData {
            system: Some(v1::SystemSpec::default()),
        },
    ] {
        let err = c.optimize_one(bounded(message)).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(
            err.message().contains("no servers to solve"),
            "{}",
            err.message()
        );
    }
}

/// Issue 16 (medium): `timeLimitSeconds: 1e300` panicked the gRPC worker (the client saw
/// CANCELLED).
#[tokio::test]
async fn a_huge_time_limit_is_an_error_not_a_panic() {
    let server = start(ServeConfig::default()).await;
    let mut c = client(server.addr).await;
    // On the wire the limit is a google.protobuf.Duration: 1e300 s arrives as the longest one
    // (10,000 years), and infinity has no Duration (the client cannot send it).
    for bad in [1e300, 3601.0, -1.0] {
        let mut spec = sample("small");
        spec.optimizer_data.optimizer.time_limit_seconds = bad;
        spec.optimizer_data.optimizer.solver = "milp".into();
        let err = c.optimize_one(bounded(request(&spec))).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad}: {err:?}");
        assert!(
            err.message()
                .contains("field timeLimitSeconds: must be a finite number in [0, 3600]"),
            "{}",
            err.message()
        );
    }
}

/// A valid system that takes minutes to solve (each server a distinct sizing problem at the
/// largest token counts and queue), so a deadline always passes in the middle of it.
fn costly() -> SystemSpec {
    let mut spec = inferno_optimizer::synthetic::replicate(&sample("large"), 80, 7);
    for (i, s) in spec.server_data.servers.iter_mut().enumerate() {
        let i = i as i64;
        s.max_queue_size = 16_384;
        s.current_alloc.load.avg_in_tokens = 1_000_000 + i;
        s.current_alloc.load.avg_out_tokens = 1_000 + i;
    }
    // Targets every candidate can reach: with the data's, a million-token prompt makes every
    // TTFT target unattainable at the lowest rate, which the model says at once (1.5 s for the
    // whole system here), and the deadline found nothing left to stop.
    for class in &mut spec.service_class_data.service_classes {
        for t in &mut class.model_targets {
            t.slo_ttft = inferno_api::limits::MAX_LATENCY_MS;
            t.slo_itl = inferno_api::limits::MAX_LATENCY_MS;
        }
    }
    spec.optimizer_data.optimizer.solver = "milp".into();
    spec.optimizer_data.optimizer.time_limit_seconds = 3600.0;
    spec
}

/// Issue 16 (high): after DEADLINE_EXCEEDED the server kept a core busy for 30 s and more.
/// Now the deadline ends in DEADLINE_EXCEEDED, the solve sees its flag and stops (the counter
/// says so, and nothing is left running), and the next request is answered.
#[tokio::test]
async fn a_client_deadline_stops_the_solve() {
    let server = start(ServeConfig::default()).await;
    let mut c = client(server.addr).await;
    let mut r = tonic::Request::new(request(&costly()));
    r.set_timeout(Duration::from_secs(2));
    let err = c.optimize_one(r).await.unwrap_err();
    // The server answers DEADLINE_EXCEEDED a little before the deadline, but tonic's client
    // enforces `grpc-timeout` itself too, from before it sent the request, and reports its own
    // expiry as CANCELLED "Timeout expired"; whichever comes first, the solve must stop.
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );
    let text = wait_for_metrics(server.addr, "stopped the solve", |t| {
        metric(t, "inferno_optimizer_cancelled_total") == Some(1.0)
            && metric(t, "inferno_optimizer_computations_in_flight") == Some(0.0)
    })
    .await;
    assert_eq!(metric(&text, "inferno_optimizer_solves_total"), Some(0.0));
    c.analyze(bounded(queue_problem())).await.unwrap();
}

/// The server's own timeout (`--request-timeout`) answers DEADLINE_EXCEEDED, not CANCELLED,
/// and stops the solve.
#[tokio::test]
async fn the_server_timeout_is_deadline_exceeded() {
    let server = start(ServeConfig {
        request_timeout: Duration::from_secs(2),
        ..ServeConfig::default()
    })
    .await;
    let mut c = client(server.addr).await;
    let err = c
        .optimize_one(tonic::Request::new(request(&costly())))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err:?}");
    wait_for_metrics(server.addr, "stopped the solve", |t| {
        metric(t, "inferno_optimizer_cancelled_total") == Some(1.0)
            && metric(t, "inferno_optimizer_computations_in_flight") == Some(0.0)
    })
    .await;
    c.size(bounded(queue_problem())).await.unwrap();
}

/// A client that goes away (its call dropped, no deadline at all) stops the solve too.
#[tokio::test]
async fn a_client_that_goes_away_stops_the_solve() {
    let server = start(ServeConfig::default()).await;
    let mut c = client(server.addr).await;
    let call = tokio::spawn(async move {
        c.optimize_one(tonic::Request::new(request(&costly())))
            .await
            .map(|_| ())
    });
    wait_for_metrics(server.addr, "started the solve", |t| {
        metric(t, "inferno_optimizer_computations_in_flight") == Some(1.0)
    })
    .await;
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    wait_for_metrics(server.addr, "stopped the solve", |t| {
        metric(t, "inferno_optimizer_cancelled_total") == Some(1.0)
            && metric(t, "inferno_optimizer_computations_in_flight") == Some(0.0)
    })
    .await;
}

/// Issue 16 (low): a request that is not a valid message answered INTERNAL; it is the
/// client's error.
#[tokio::test]
async fn garbage_protobuf_is_invalid_argument() {
    let server = start(ServeConfig::default()).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    // A QueueRequest's field 1 is a double (wire type 1); SystemData's is a message (wire type
    // 2), so this is not a SystemData.
    let path =
        tonic::codegen::http::uri::PathAndQuery::from_static("/inferno.v1.Optimizer/OptimizeOne");
    let err = grpc
        .unary::<_, v1::OptimizeResponse, _>(
            tonic::Request::new(queue_problem()),
            path,
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message()
            .starts_with("failed to decode Protobuf message"),
        "{}",
        err.message()
    );
}

/// The largest batch the scaled rule derives is 4096: `maxBatchSize * atTokens /
/// avgOutTokens` with a long `atTokens` and one output token made batches of a million, a
/// birth-death chain of a million states per sizing.
#[test]
fn the_derived_batch_size_is_bounded() {
    let mut spec = single(10.0, 0.01, 0.0001, 60.0, 0);
    let m = &mut spec.model_data.models[0];
    m.max_batch_size = 4096;
    m.at_tokens = 1 << 20;
    let load = &mut spec.server_data.servers[0].current_alloc.load;
    load.avg_out_tokens = 1;
    spec.optimizer_data.optimizer.unlimited = true;
    let solution = solve(&spec, &SolveOptions::from_spec(&spec).unwrap());
    let p = &solution.placements["s1"];
    assert_eq!(p.allocation.max_batch, 4096);
}

/// A server that would need more replicas than `MAX_REPLICAS` (10,000) is unplaced with that
/// reason instead of being given millions (the replica loops of best effort grew with them).
#[test]
fn candidates_never_exceed_the_replica_limit() {
    let mut spec = single(1e6, 0.0, 0.0, 1e7, 0);
    spec.service_class_data.service_classes[0].model_targets[0] = inferno_api::ModelTarget {
        model: "m1".into(),
        ..Default::default()
    };
    spec.optimizer_data.optimizer.unlimited = true;
    let solution = solve(&spec, &SolveOptions::from_spec(&spec).unwrap());
    assert!(solution.placements.is_empty(), "{:?}", solution.placements);
    let reason = solution.unplaced[0].reason.to_string();
    assert!(
        reason.contains("replicas, more than the 10000 a server may have"),
        "{reason}"
    );
}

// ---------------------------------------------------------------------------------------------
// The command line

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_inferno-optimizer"))
}

/// The bound of one run of the binary: a hang is a failure, not a stuck test.
const MINUTE: Duration = Duration::from_secs(60);

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn system_file(dir: &Path, name: &str, spec: &SystemSpec) -> PathBuf {
    let path = dir.join(name);
    let text = serde_json::to_string(&inferno_api::SystemData {
        system: spec.clone(),
    })
    .unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// Issue 16: the CLI hung on huge values and panicked (exit 101) on `timeLimitSeconds: 1e300`;
/// a user's typo fails loudly, naming the field.
#[test]
fn solve_refuses_values_beyond_the_limits() {
    let scratch = TempDir::new("robust-limits");
    let dir = scratch.path();
    type Edit = fn(&mut SystemSpec);
    let cases: [(Edit, &str); 6] = [
        (
            |s| s.server_data.servers[0].max_batch_size = 1 << 32,
            "field maxBatchSize: must be an integer in [0, 4096], got 4294967296",
        ),
        (
            |s| s.server_data.servers[0].current_alloc.load.avg_in_tokens = i64::MAX,
            "field currentAlloc.load.avgInTokens: must be an integer in [0, 1048576], got 9223372036854775807",
        ),
        (
            |s| s.server_data.servers[0].current_alloc.load.arrival_rate = 1e308,
            "field currentAlloc.load.arrivalRate: must be a finite number in [0, 10000000], got 1e308",
        ),
        (
            |s| s.model_data.models[0].max_batch_size = 100_000_000,
            "field maxBatchSize: must be an integer in [0, 4096], got 100000000",
        ),
        (
            |s| s.model_data.models[0].at_tokens = 100_000_000,
            "field atTokens: must be an integer in [0, 1048576], got 100000000",
        ),
        (
            |s| s.optimizer_data.optimizer.time_limit_seconds = 1e300,
            "field timeLimitSeconds: must be a finite number in [0, 3600], got 1e300",
        ),
    ];
    for (i, (edit, want)) in cases.into_iter().enumerate() {
        let mut spec = sample("small");
        edit(&mut spec);
        let file = system_file(dir, &format!("case{i}.json"), &spec);
        let out =
            process::output_blocking(bin().args(["solve", file.to_str().unwrap()]), None, MINUTE);
        assert_eq!(out.status.code(), Some(1), "{want}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
    }
    let small = system_file(dir, "small.json", &sample("small"));
    for flag in ["1e300", "inf", "-1", "NaN", "3601"] {
        let out = process::output_blocking(
            bin().args([
                "solve",
                small.to_str().unwrap(),
                "--solver",
                "milp",
                &format!("--time-limit={flag}"),
            ]),
            None,
            MINUTE,
        );
        assert_eq!(out.status.code(), Some(1), "{flag}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("--time-limit: must be a number of seconds in (0, 3600]"),
            "{}",
            text(&out.stderr)
        );
    }
}

/// Issue 16 (low): `null`, `{}` and `{"system": null}` were solved as empty systems (exit 0).
#[test]
fn solve_of_an_empty_system_is_an_error() {
    let scratch = TempDir::new("robust-empty");
    let dir = scratch.path();
    for (i, body) in [
        "null",
        "{}",
        r#"{"system": null}"#,
        r#"{"system": {"serverData": {"servers": []}}}"#,
    ]
    .iter()
    .enumerate()
    {
        let file = dir.join(format!("empty{i}.json"));
        std::fs::write(&file, body).unwrap();
        let out =
            process::output_blocking(bin().args(["solve", file.to_str().unwrap()]), None, MINUTE);
        assert_eq!(out.status.code(), Some(1), "{body}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("no servers to solve"),
            "{body}: {}",
            text(&out.stderr)
        );
    }
}

/// The queue commands refuse what the gRPC calls refuse (they allocated 8 GiB or hung).
#[test]
fn queue_commands_refuse_values_beyond_the_limits() {
    let base = [
        "--alpha",
        "12",
        "--beta",
        "0.05",
        "--out-tokens",
        "512",
        "--target-ttft",
        "60",
    ];
    for (extra, want) in [
        (
            ["--in-tokens", "1e15"],
            "flags: field avgInputTokens: must be a finite number in [0, 1048576], got 1e15",
        ),
        (
            ["--max-batch-size", "2147483647"],
            "flags: field maxBatchSize: must be an integer in [0, 4096], got 2147483647",
        ),
        (
            ["--max-queue-size", "4294967295"],
            "flags: field maxQueueSize: must be an integer in [0, 16384], got 4294967295",
        ),
    ] {
        for command in ["analyze", "size", "concurrency"] {
            let out = process::output_blocking(
                bin()
                    .arg(command)
                    .args(base)
                    .args(extra)
                    .args(["--rps", "1"]),
                None,
                MINUTE,
            );
            assert_eq!(
                out.status.code(),
                Some(1),
                "{command} {extra:?}: {}",
                text(&out.stderr)
            );
            assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
        }
    }
    // A value the flag's type cannot hold is a usage error (exit 2) naming the flag.
    let out = process::output_blocking(
        bin().args(["analyze", "--max-batch-size", "4294967296"]),
        None,
        MINUTE,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--max-batch-size"));
}

/// `serve` refuses a non-loopback address without a credential, naming what set it, and a
/// request timeout that is not a duration (1e300 panicked).
#[test]
fn serve_refuses_unsafe_or_impossible_settings() {
    let out = process::output_blocking(
        bin()
            .args([
                "serve",
                "--listen",
                "0.0.0.0:0",
                "--ops-listen",
                "127.0.0.1:0",
            ])
            .env_remove("INFERNO_AUTH_TOKEN_FILE"),
        None,
        MINUTE,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--listen 0.0.0.0:0: refusing to listen beyond loopback"),
        "{}",
        text(&out.stderr)
    );
    let out = process::output_blocking(
        bin()
            .args(["serve", "--ops-listen", "127.0.0.1:0"])
            .env("INFERNO_HOST", "0.0.0.0")
            .env("INFERNO_PORT", "0")
            .env_remove("INFERNO_OPTIMIZER_LISTEN")
            .env_remove("INFERNO_AUTH_TOKEN_FILE"),
        None,
        MINUTE,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("INFERNO_HOST/INFERNO_PORT 0.0.0.0:0: refusing"),
        "{}",
        text(&out.stderr)
    );
    let out = process::output_blocking(
        bin().args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--ops-listen",
            "127.0.0.1:0",
            "--request-timeout",
            "1e300",
        ]),
        None,
        MINUTE,
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--request-timeout"));
}
