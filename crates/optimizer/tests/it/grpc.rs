//! The optimizer gRPC server on 127.0.0.1:0, called with the generated client.

use super::solver_vectors::sample;
use inferno_optimizer::grpc::{run, ServeConfig};
use inferno_optimizer::{solve, SolveOptions};
use inferno_proto::v1::unplaced_server::Code as Unplaced;
use inferno_proto::v1::{self, optimizer_client::OptimizerClient};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::Code;

/// A running server; dropping it shuts the server down.
pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub(crate) done: Option<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub(crate) async fn start(config: ServeConfig) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(run(listener, config, async {
        let _ = stopped.await;
    }));
    Server {
        addr,
        stop: Some(stop),
        done: Some(done),
    }
}

pub(crate) async fn client(addr: SocketAddr) -> OptimizerClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    OptimizerClient::new(channel).max_decoding_message_size(64 << 20)
}

fn system(name: &str) -> v1::SystemData {
    v1::SystemData {
        system: Some((&sample(name)).try_into().unwrap()),
    }
}

fn stateful() -> ServeConfig {
    ServeConfig {
        stateful: true,
        ..ServeConfig::default()
    }
}

#[tokio::test]
async fn optimize_one_matches_the_library() {
    let server = start(ServeConfig::default()).await;
    let mut c = client(server.addr).await;
    for name in ["small", "large"] {
        let reply = c.optimize_one(system(name)).await.unwrap().into_inner();
        let spec = sample(name);
        let want = solve(&spec, &SolveOptions::from_spec(&spec).unwrap());
        let got: inferno_api::AllocationSolution = reply.solution.unwrap().into();
        assert_eq!(got, want.to_api(), "{name}");
        assert_eq!(reply.total_cost, want.total_cost());
        assert!(reply.unplaced.is_empty());
        assert!(reply.stats.unwrap().candidates_sized > 0);
    }
}

#[tokio::test]
async fn unplaced_servers_come_with_reasons() {
    let server = start(ServeConfig::default()).await;
    let mut c = client(server.addr).await;
    let mut spec = sample("small");
    spec.optimizer_data.optimizer.saturation_policy = "None".into();
    for cap in &mut spec.capacity_data.count {
        cap.count = if cap.acc_type == "G2" || cap.acc_type == "A100" {
            200
        } else {
            0
        };
    }
    let reply = c
        .optimize_one(v1::SystemData {
            system: Some((&spec).try_into().unwrap()),
        })
        .await
        .unwrap();
    let reply = reply.into_inner();
    let names: Vec<&str> = reply.unplaced.iter().map(|u| u.server.as_str()).collect();
    // The reference's greedy leaves Free-granite_34b out too (`cli.rs` checks both).
    assert_eq!(names, ["Free-llama_70b", "Free-mixtral_8_7b"]);
    assert!(reply
        .unplaced
        .iter()
        .all(|u| u.code() == Unplaced::OutOfCapacity && u.reason.contains("units")));
    assert_eq!(reply.solution.unwrap().allocations.len(), 13);
}

#[tokio::test]
async fn invalid_input_lists_every_problem() {
    let server = start(ServeConfig::default()).await;
    let mut c = client(server.addr).await;
    let mut spec = sample("small");
    spec.accelerator_data.accelerators[0].cost = -1.0;
    spec.model_data.models[0].perf_parms.alpha = f64::NAN;
    spec.optimizer_data.optimizer.saturation_policy = "Sometimes".into();
    // Given, 0 is no budget the solver could run with; absent would be none.
    spec.optimizer_data.optimizer.iteration_limit = Some(0);
    let err = c
        .optimize_one(v1::SystemData {
            system: Some((&spec).try_into().unwrap()),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let m = err.message();
    assert!(m.contains("accelerator \"L4\": field cost"), "{m}");
    assert!(m.contains("perfParms.alpha"), "{m}");
    assert!(m.contains("saturationPolicy"), "{m}");
    assert!(
        m.contains("optimizer: field iterationLimit: must be an integer in [1, 1000000], got 0"),
        "{m}"
    );
    // The same problems for machines: a google.rpc.BadRequest with the path of each field in
    // the request. Before: the message alone.
    let fields: Vec<String> = inferno_proto::status::violations(&err)
        .into_iter()
        .map(|v| v.field)
        .collect();
    for field in [
        "system.accelerator_data.accelerators[0].cost",
        "system.model_data.models[0].perf_params.alpha",
        "system.optimizer_data.optimizer.saturation_policy",
        "system.optimizer_data.optimizer.iteration_limit",
    ] {
        assert!(
            fields.iter().any(|f| f == field),
            "{field} not in {fields:?}"
        );
    }
    assert!(m.starts_with("invalid data: 4 error(s)"), "{m}");
}

#[tokio::test]
async fn stateless_server_refuses_stateful_calls() {
    let server = start(ServeConfig::default()).await;
    let mut c = client(server.addr).await;
    let err = c.get_servers(v1::NameFilter::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("--stateful"));
}

#[tokio::test]
async fn stateful_build_optimize_apply_remove() {
    let server = start(stateful()).await;
    let mut c = client(server.addr).await;
    let spec: v1::SystemSpec = (&sample("small")).try_into().unwrap();
    c.set_accelerators(spec.accelerator_data.clone().unwrap())
        .await
        .unwrap();
    c.set_capacities(spec.capacity_data.clone().unwrap())
        .await
        .unwrap();
    c.set_models(spec.model_data.clone().unwrap())
        .await
        .unwrap();
    c.set_service_classes(spec.service_class_data.clone().unwrap())
        .await
        .unwrap();
    for s in spec.server_data.clone().unwrap().servers {
        c.add_server(s).await.unwrap();
    }
    let flags = spec.optimizer_data.clone().unwrap().optimizer.unwrap();
    let reply = c.optimize(flags.clone()).await.unwrap().into_inner();
    // The MILP's optimum for the small sample; the reference's greedy costs 25,826.
    assert_eq!(reply.total_cost, 22_564.0);
    let server_ = c
        .get_servers(v1::NameFilter {
            name: "Free-llama_70b".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let desired = server_.servers[0].desired_alloc.clone().unwrap();
    assert_eq!(
        (desired.accelerator.as_str(), desired.num_replicas),
        ("4xA100", 54)
    );
    let applied = c.apply_allocation(()).await.unwrap().into_inner();
    let s = applied
        .servers
        .iter()
        .find(|s| s.name == "Free-llama_70b")
        .unwrap();
    assert_eq!(s.current_alloc.as_ref().unwrap().num_replicas, 54);

    // Remove the A100 capacity: the two servers on 4xA100 must move or go unplaced.
    let gone = c
        .remove_capacity(v1::NameFilter {
            name: "A100".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(gone.count, 768);
    let reply = c.optimize(flags.clone()).await.unwrap().into_inner();
    assert!(reply
        .solution
        .unwrap()
        .allocations
        .values()
        .all(|a| a.accelerator != "4xA100"));

    // Remove a class target: its server becomes unplaced with a reason.
    c.remove_service_class(v1::ClassModelFilter {
        name: "Free".into(),
        model: "llama_13b".into(),
    })
    .await
    .unwrap();
    let reply = c.optimize(flags.clone()).await.unwrap().into_inner();
    let u = reply
        .unplaced
        .iter()
        .find(|u| u.server == "Free-llama_13b")
        .unwrap();
    assert_eq!(u.code(), Unplaced::NoTarget);

    // Not-found cases.
    let err = c
        .remove_server(v1::NameFilter {
            name: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = c
        .add_service_class_model_target(v1::ClassTarget {
            name: "Gold".into(),
            target: Some(v1::ModelTarget {
                model: "m".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let models = c
        .get_models(v1::ModelFilter {
            name: "llama_70b".into(),
            accelerator: String::new(),
        })
        .await
        .unwrap();
    assert!(models
        .into_inner()
        .models
        .iter()
        .all(|m| m.name == "llama_70b"));
    // Removing a model that servers and targets still name makes the stored system invalid:
    // Optimize answers INVALID_ARGUMENT listing every reference, and nothing is lost.
    c.remove_model(v1::ModelFilter {
        name: "llama_70b".into(),
        accelerator: String::new(),
    })
    .await
    .unwrap();
    let err = c.optimize(flags).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message()
            .contains("server \"Premium-llama_70b\": field model: unknown model \"llama_70b\""),
        "{}",
        err.message()
    );
    let system = c.get_system(()).await.unwrap().into_inner().system.unwrap();
    assert_eq!(system.server_data.unwrap().servers.len(), 15);
}

#[tokio::test]
async fn queue_rpcs() {
    let server = start(ServeConfig::default()).await;
    let mut c = client(server.addr).await;
    let problem = v1::QueueRequest {
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
    };
    let m = c.analyze(problem).await.unwrap().into_inner();
    approx::assert_relative_eq!(m.avg_resp_time, 10348.367, max_relative = 1e-5);
    let s = c.size(problem).await.unwrap().into_inner();
    approx::assert_relative_eq!(
        s.metrics.unwrap().throughput,
        2.9494622,
        max_relative = 1e-4
    );
    assert_eq!(s.binding(), v1::size_response::Binding::Ttft);
    let r = c
        .optimal_concurrency(v1::QueueRequest {
            max_batch_size: 0,
            ..problem
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.concurrency, r.max_batch_itl, r.max_batch_prefill),
        (49, 31, 164)
    );
    let err = c
        .analyze(v1::QueueRequest {
            avg_output_tokens: 0.0,
            ..problem
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("avgOutputTokens"),
        "{}",
        err.message()
    );
    let v = inferno_proto::status::violations(&err);
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(
        (v[0].field.as_str(), v[0].description.as_str()),
        ("avg_output_tokens", "must be >= 1, got 0")
    );
}

#[tokio::test]
async fn fifty_clients_thousand_solves() {
    let server = start(ServeConfig::default()).await;
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let small = system("small");
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let mut c = OptimizerClient::new(channel.clone());
            let small = small.clone();
            tokio::spawn(async move {
                let mut costs = Vec::new();
                for _ in 0..20 {
                    costs.push(
                        c.optimize_one(small.clone())
                            .await
                            .map(|r| r.into_inner().total_cost),
                    );
                }
                costs
            })
        })
        .collect();
    let mut n = 0;
    for t in tasks {
        for cost in tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .unwrap()
            .unwrap()
        {
            assert_eq!(cost.unwrap(), 22_564.0);
            n += 1;
        }
    }
    assert_eq!(n, 1000);
    let metrics = http_get(server.addr, "/metrics").await;
    assert!(
        metrics.contains("inferno_optimizer_solves_total 1000"),
        "{metrics}"
    );
    assert!(
        metrics.contains("inferno_optimizer_last_total_cost 22564"),
        "{metrics}"
    );
}

/// GET `path`: the body (the server also speaks HTTP/1.1 for /metrics).
pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> String {
    inferno_testkit::http::get(addr, path).await.body
}

#[tokio::test]
async fn request_size_is_limited() {
    let server = start(ServeConfig {
        max_request_bytes: 1024,
        ..ServeConfig::default()
    })
    .await;
    let mut c = client(server.addr).await;
    let err = c.optimize_one(system("small")).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    // The server is still up.
    let ok = c
        .analyze(v1::QueueRequest {
            rps: 1.0,
            max_batch_size: 4,
            avg_output_tokens: 10.0,
            alpha: 1.0,
            ..Default::default()
        })
        .await;
    assert!(ok.is_ok());
}

#[tokio::test]
async fn client_deadline_is_honoured() {
    let server = start(ServeConfig::default()).await;
    let mut c = client(server.addr).await;
    let big = inferno_optimizer::synthetic::replicate(&sample("large"), 40, 3);
    let mut request = tonic::Request::new(v1::SystemData {
        system: Some((&big).try_into().unwrap()),
    });
    request.set_timeout(Duration::from_millis(1));
    let err = c.optimize_one(request).await.unwrap_err();
    assert!(
        matches!(err.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{err:?}"
    );
}

#[tokio::test]
async fn health_and_graceful_shutdown() {
    let mut server = start(ServeConfig::default()).await;
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let reply = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "inferno.v1.Optimizer".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reply.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let done = server.done.take().unwrap();
    drop(server);
    let result = tokio::time::timeout(Duration::from_secs(10), done)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok());
}
