//! The controller as a client of the collector, the optimizer and the actuator: where it looks
//! for them, the token it sends, how their failures are named, and servers left unplaced.

use crate::cycles::{collected, reference_samples, samples, start};
use crate::fakes::{self, CollectorState, FakeActuator};
use clap::Parser;
use inferno_controller::args::Args;
use inferno_controller::cycle::{self, Deadlines, Stages};
use inferno_controller::data::{Data, Source};
use inferno_controller::grpc::{Clients, Endpoints};
use inferno_controller::metrics::Metrics;
use inferno_proto::v1::unplaced_server::Code;
use inferno_proto::v1::{
    self, actuator_server::ActuatorServer, collector_server::CollectorServer,
    optimizer_server::OptimizerServer,
};
use inferno_telemetry::Credential;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "services-test-token-0123456789";

fn stages(endpoints: Endpoints, credential: Option<Credential>) -> Stages {
    Stages {
        ports: Clients::connect(endpoints, credential).unwrap(),
        source: Source::Dir(reference_samples()),
        dynamic: false,
        deadlines: Deadlines {
            collect: Duration::from_secs(10),
            optimize: Duration::from_secs(10),
            apply: Duration::from_secs(10),
        },
        dry_run: false,
        explain: true,
        policy: Default::default(),
    }
}

/// The fake collector and actuator and the real optimizer service, each behind `credential`
/// when set.
struct Fakes {
    collector: Arc<Mutex<CollectorState>>,
    optimizer: Arc<inferno_optimizer::grpc::Metrics>,
    actuator: FakeActuator,
    endpoints: Endpoints,
    _stops: Vec<tokio::sync::oneshot::Sender<()>>,
}

async fn fakes(credential: Option<Credential>) -> Fakes {
    let collector = Arc::new(Mutex::new(CollectorState {
        response: collected(),
        ..Default::default()
    }));
    let optimizer = Arc::new(inferno_optimizer::grpc::Metrics::default());
    let service = inferno_optimizer::grpc::OptimizerService::new(false, optimizer.clone());
    let actuator = FakeActuator::default();
    let (c, s1) = fakes::serve(
        CollectorServer::new(fakes::FakeCollector(collector.clone())),
        credential.clone(),
    )
    .await;
    let (o, s2) = fakes::serve(OptimizerServer::new(service), credential.clone()).await;
    let (a, s3) = fakes::serve(ActuatorServer::new(actuator.clone()), credential).await;
    Fakes {
        collector,
        optimizer,
        actuator,
        endpoints: Endpoints {
            collector: format!("http://{c}"),
            optimizer: format!("http://{o}"),
            actuator: format!("http://{a}"),
        },
        _stops: vec![s1, s2, s3],
    }
}

/// An address nobody listens on (bound, then released).
async fn dead_address() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// With a credential, every call to the three services carries the token (services that
/// require it serve the cycle); without, the first call is refused and the cycle says which
/// service refused it.
#[tokio::test]
async fn calls_to_the_services_carry_the_token() {
    let f = fakes(Some(Credential::new(TOKEN).unwrap())).await;
    let mut with = stages(f.endpoints.clone(), Some(Credential::new(TOKEN).unwrap()));
    let report = cycle::run(&mut with, &mut Data::default(), 1, false).await;
    assert_eq!(report.outcome, "ok", "{}", report.reason);
    assert_eq!(f.collector.lock().unwrap().calls, 1);
    assert_eq!(f.optimizer.solve_count(), 1);
    assert_eq!(f.actuator.0.lock().unwrap().len(), 1);

    let mut without = stages(f.endpoints.clone(), None);
    let report = cycle::run(&mut without, &mut Data::default(), 1, false).await;
    assert_eq!(report.outcome, "failed");
    let expected = format!(
        "collect: collector at {}: Unauthenticated: ",
        f.endpoints.collector
    );
    assert!(report.reason.starts_with(&expected), "{}", report.reason);
    assert_eq!(f.optimizer.solve_count(), 1, "nothing more optimized");
    assert_eq!(
        f.actuator.0.lock().unwrap().len(),
        1,
        "nothing more applied"
    );
}

/// A service that is not there fails the cycle with the stage, the service, its address and
/// the cause (not a bare "tcp connect error").
#[tokio::test]
async fn an_unreachable_service_is_named_with_its_address() {
    let f = fakes(None).await;
    let dead = format!("http://{}", dead_address().await);
    for (service, stage) in [
        ("collector", "collect"),
        ("optimizer", "optimize"),
        ("actuator", "apply"),
    ] {
        let mut endpoints = f.endpoints.clone();
        match service {
            "collector" => endpoints.collector = dead.clone(),
            "optimizer" => endpoints.optimizer = dead.clone(),
            _ => endpoints.actuator = dead.clone(),
        }
        let mut s = stages(endpoints, None);
        let report = cycle::run(&mut s, &mut Data::default(), 1, false).await;
        assert_eq!(report.outcome, "failed", "{service}");
        let expected = format!("{stage}: {service} at {dead}: Unavailable: ");
        assert!(
            report.reason.starts_with(&expected)
                && report.reason.to_lowercase().contains("connection refused"),
            "{service}: {}",
            report.reason
        );
    }
}

/// The same, for a service whose address does not parse: the error names it.
#[tokio::test]
async fn a_bad_service_url_is_named() {
    let err = Clients::connect(
        Endpoints {
            collector: "http://127.0.0.1:3301".into(),
            optimizer: "http://127.0.0.1:3302".into(),
            actuator: "not a url".into(),
        },
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("actuator URL \"not a url\": "), "{err}");
}

/// By default the controller looks for the three services on 127.0.0.1 (where they listen),
/// ports 3301-3303, never on `localhost` (which may resolve to ::1 first) nor on a listen-all
/// host from `*_HOST`.
#[test]
fn the_services_are_looked_for_on_loopback() {
    let args = Args::try_parse_from(["inferno-controller"]).unwrap();
    let none = |_: &str| None;
    assert_eq!(
        args.endpoints_with(&none),
        Endpoints {
            collector: "http://127.0.0.1:3301".into(),
            optimizer: "http://127.0.0.1:3302".into(),
            actuator: "http://127.0.0.1:3303".into(),
        }
    );
    let env = |name: &str| {
        match name {
            "COLLECTOR_HOST" | "INFERNO_HOST" => Some("0.0.0.0"),
            "ACTUATOR_HOST" => Some("actuator.example"),
            "COLLECTOR_PORT" => Some("4301"),
            "INFERNO_PORT" => Some("4302"),
            "ACTUATOR_PORT" => Some("4303"),
            _ => None,
        }
        .map(String::from)
    };
    assert_eq!(
        args.endpoints_with(&env),
        Endpoints {
            collector: "http://127.0.0.1:4301".into(),
            optimizer: "http://127.0.0.1:4302".into(),
            actuator: "http://actuator.example:4303".into(),
        }
    );
    let flags = Args::try_parse_from(["inferno-controller", "--optimizer", "http://10.0.0.7:3302"])
        .unwrap();
    assert_eq!(
        flags.endpoints_with(&none).optimizer,
        "http://10.0.0.7:3302"
    );
}

/// The collected servers with `name` given `replicas` running and a load of `rpm`.
fn with_server(name: &str, replicas: i32, rpm: f64) -> v1::CollectResponse {
    let mut c = collected();
    let s = c.servers.iter_mut().find(|s| s.name == name).unwrap();
    let alloc = s.current_alloc.get_or_insert_with(Default::default);
    alloc.num_replicas = replicas;
    alloc.load.get_or_insert_with(Default::default).arrival_rate = rpm;
    c
}

/// One server whose load is out of range (1e308 requests/min, what a bad label or sample
/// gives) does not stop the decisions for the others: the real optimizer leaves it unplaced
/// with the bad value named, the cycle applies the other 14, and the actuator gets the reason
/// and no allocation for it (so it keeps its replicas).
#[tokio::test]
async fn a_server_with_bad_input_is_unplaced_and_the_others_are_applied() {
    let l = start(samples("small"), None).await;
    let bad = "Free-llama_70b";
    l.collector.lock().unwrap().response = with_server(bad, 3, 1e308);
    let report = l.runner.invoke(false).await.unwrap();
    assert_eq!(report.outcome, "ok", "{}", report.reason);
    let server = report.servers.iter().find(|s| s.name == bad).unwrap();
    assert!(
        server.unplaced.contains("1e308") && server.unplaced.contains("arrivalRate"),
        "{server:?}"
    );
    assert_eq!(server.accelerator, "");
    assert_eq!(
        report
            .servers
            .iter()
            .filter(|s| s.unplaced.is_empty() && s.replicas > 0)
            .count(),
        14
    );
    let applied = l.actuator.0.lock().unwrap();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].allocations.len(), 14);
    assert!(!applied[0].allocations.contains_key(bad));
    assert_eq!(applied[0].unplaced[bad].reason, server.unplaced);
    assert_eq!(applied[0].unplaced[bad].code(), Code::InvalidData);
    // The real optimizer explains the decision (brief) after the apply: a headroom for every
    // placed server, a lower bound, no problem.
    let e = report.explained.as_ref().expect("the optimizer explains");
    assert_eq!(e.headroom.len(), 14, "{e:?}");
    assert!(e.lower_bound_cost > 0.0 && e.lower_bound_cost <= report.total_cost + 1e-9);
    assert!(
        !report.problems.iter().any(|p| p.starts_with("explain")),
        "{:?}",
        report.problems
    );
}

/// A server the collector left out (its load unusable, e.g. a 1e308 load label and no
/// measurement) reaches the actuator with the collector's code and reason, so that no unplaced
/// policy scales it down.
#[tokio::test]
async fn a_server_the_collector_left_out_reaches_the_actuator_with_its_code() {
    let f = fakes(None).await;
    let left_out = "Free-llama_70b";
    let mut collected = with_server(left_out, 3, 60.0);
    collected.servers.retain(|s| s.name != left_out);
    collected.unplaced.push(v1::UnplacedServer {
        server: left_out.into(),
        code: Code::InvalidLoad.into(),
        reason: "load unusable: label inferno.server.load.rpm=\"1e308\"".into(),
    });
    f.collector.lock().unwrap().response = collected;
    let mut s = stages(f.endpoints.clone(), None);
    let report = cycle::run(&mut s, &mut Data::default(), 1, false).await;
    assert_eq!(report.outcome, "ok", "{}", report.reason);
    let applied = f.actuator.0.lock().unwrap();
    assert!(!applied[0].allocations.contains_key(left_out));
    assert_eq!(applied[0].unplaced[left_out].code(), Code::InvalidLoad);
    assert!(applied[0].unplaced[left_out].reason.contains("1e308"));
}

/// A server the optimizer leaves unplaced (here: it must keep an accelerator nobody knows):
/// the report carries the reason, the actuator gets it and no allocation, and neither the
/// report nor /metrics shows it decided down to zero replicas: it keeps the 3 it runs.
#[tokio::test]
async fn an_unplaced_server_is_not_reported_as_scaled_to_zero() {
    let f = fakes(None).await;
    let bad = "Bronze-granite_13b";
    let mut collected = with_server(bad, 3, 60.0);
    let s = collected
        .servers
        .iter_mut()
        .find(|s| s.name == bad)
        .unwrap();
    s.keep_accelerator = true;
    s.current_alloc.as_mut().unwrap().accelerator = "NoSuchAccelerator".into();
    f.collector.lock().unwrap().response = collected;
    let mut s = stages(f.endpoints.clone(), None);
    let report = cycle::run(&mut s, &mut Data::default(), 1, false).await;
    assert_eq!(report.outcome, "ok", "{}", report.reason);
    let server = report.servers.iter().find(|s| s.name == bad).unwrap();
    assert!(server.unplaced.contains("NoSuchAccelerator"), "{server:?}");
    assert_eq!((server.old_replicas, server.replicas), (3, 3), "{server:?}");
    assert!(!server.applied);
    let applied = f.actuator.0.lock().unwrap();
    assert_eq!(applied[0].unplaced[bad].reason, server.unplaced);
    assert!(!applied[0].allocations.contains_key(bad));
    assert_eq!(applied[0].allocations.len(), 14);

    let metrics = Metrics::default();
    metrics.record(&report);
    let text = metrics.render();
    assert!(
        !text.contains(&format!("inferno_controller_replicas{{server=\"{bad}\"}}")),
        "{text}"
    );
    assert!(text.contains("inferno_controller_replicas{server=\"Free-llama_70b\"} 54"));
}

/// `--auth-token-file`: the token is read from the file; a missing or short one stops the
/// start with the flag and the file named.
#[test]
fn the_token_file_is_read_and_its_errors_named() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("inferno-controller-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    let parse = |path: &std::path::Path| {
        Args::try_parse_from(
            ["inferno-controller", "--auth-token-file"]
                .map(Into::into)
                .into_iter()
                .chain([path.as_os_str().to_owned()]),
        )
        .unwrap()
        .credential()
    };
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let credential = parse(&file).unwrap().unwrap();
    assert!(credential.accepts(format!("Bearer {TOKEN}").as_bytes()));
    std::fs::write(&file, "short").unwrap();
    let err = parse(&file).unwrap_err().to_string();
    assert!(
        err.starts_with("--auth-token-file: ") && err.contains(&file.display().to_string()),
        "{err}"
    );
    let err = parse(&dir.join("missing")).unwrap_err().to_string();
    assert!(err.contains("missing"), "{err}");
    assert!(Args::try_parse_from(["inferno-controller"])
        .unwrap()
        .credential()
        .unwrap()
        .is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}
