//! The cycle against in-memory fakes of its three ports, on tokio's paused clock: deadlines,
//! failures and the data that flows from one stage to the next, with no network and no real
//! waiting.

use super::*;
use inferno_api::{AllocationData, ServerLoadSpec, ServerSpec};
use inferno_core::{
    Collected, Decision, Observation, Outcome, Problem, ServerRef, SolveSummary, TypeUsage,
};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What each fake port answers, after how long, and what it was asked.
#[derive(Debug, Clone, Default)]
struct Fake {
    collected: Option<Result<Collected, PortError>>,
    decision: Option<Result<Decision, PortError>>,
    applied: Option<Result<Applied, PortError>>,
    explained: Option<Result<Option<inferno_core::Explained>, PortError>>,
    optimize_delay: Duration,
    asked: Arc<Mutex<Asked>>,
}

#[derive(Debug, Default)]
struct Asked {
    collect: usize,
    optimize: Vec<SystemSpec>,
    apply: Vec<ApplyRequest>,
    explain: usize,
}

use inferno_api::SystemSpec;

impl Collect for Fake {
    fn peer(&self) -> String {
        "fake collector".into()
    }

    async fn collect(&self) -> Result<Collected, PortError> {
        self.asked.lock().unwrap().collect += 1;
        self.collected.clone().expect("collect is not expected")
    }
}

impl Optimize for Fake {
    fn peer(&self) -> String {
        "fake optimizer".into()
    }

    async fn optimize(&self, system: &SystemSpec) -> Result<Decision, PortError> {
        self.asked.lock().unwrap().optimize.push(system.clone());
        tokio::time::sleep(self.optimize_delay).await;
        self.decision.clone().expect("optimize is not expected")
    }

    async fn explain(&self, _: &SystemSpec) -> Result<Option<inferno_core::Explained>, PortError> {
        self.asked.lock().unwrap().explain += 1;
        self.explained.clone().unwrap_or(Ok(None))
    }
}

impl Apply for Fake {
    fn peer(&self) -> String {
        "fake actuator".into()
    }

    async fn apply(&self, request: ApplyRequest) -> Result<Applied, PortError> {
        self.asked.lock().unwrap().apply.push(request);
        self.applied.clone().expect("apply is not expected")
    }
}

fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples/small")
}

fn stages(fake: Fake) -> Stages<Fake> {
    Stages {
        ports: fake,
        source: Source::Dir(samples()),
        dynamic: false,
        deadlines: Deadlines {
            collect: Duration::from_secs(5),
            optimize: Duration::from_secs(10),
            apply: Duration::from_secs(5),
        },
        dry_run: false,
        explain: true,
        policy: Default::default(),
    }
}

fn server(name: &str, replicas: i64, rpm: f64) -> ServerSpec {
    ServerSpec {
        name: name.into(),
        class: "Premium".into(),
        model: "llama_13b".into(),
        current_alloc: AllocationData {
            accelerator: "A100".into(),
            num_replicas: replicas,
            max_batch: 16,
            load: ServerLoadSpec {
                arrival_rate: rpm,
                avg_in_tokens: 128,
                avg_out_tokens: 512,
                ..Default::default()
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

fn deployment(name: &str) -> ServerRef {
    ServerRef {
        name: format!("{name}-deploy"),
        namespace: "infer".into(),
        uid: format!("uid-{name}"),
    }
}

/// Two servers collected (one placed, one the optimizer cannot place) and one the collector
/// left out for a bad load label.
fn collected() -> Collected {
    Collected {
        servers: vec![server("a", 1, 60.0), server("b", 2, 30.0)],
        refs: ["a", "b", "c"]
            .into_iter()
            .map(|n| (n.to_string(), deployment(n)))
            .collect(),
        observations: vec![Observation {
            server: "a".into(),
            running: 7.5,
            ..Default::default()
        }],
        problems: vec![Problem {
            subject: "c".into(),
            message: "bad label".into(),
        }],
        unplaced: vec![Unplaced {
            server: "c".into(),
            code: "invalid-load".into(),
            reason: "label rpm out of range".into(),
        }],
        ..Default::default()
    }
}

fn decision() -> Decision {
    Decision {
        allocations: [(
            "a".to_string(),
            AllocationData {
                accelerator: "H100".into(),
                num_replicas: 3,
                max_batch: 32,
                cost: 150.0,
                itl_average: 20.0,
                ttft_average: 90.0,
                ..Default::default()
            },
        )]
        .into(),
        unplaced: vec![Unplaced {
            server: "b".into(),
            code: "out-of-capacity".into(),
            reason: "no H100 left".into(),
        }],
        total_cost: 150.0,
        usage: vec![TypeUsage {
            acc_type: "H100".into(),
            used: 3,
            capacity: 4,
        }],
        report: Some(SolveSummary {
            solver: "greedy".into(),
            status: "heuristic".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn result(server: &str, outcome: Outcome, replicas: i64) -> DeploymentResult {
    DeploymentResult {
        server: server.into(),
        deployment: format!("{server}-deploy"),
        namespace: "infer".into(),
        old: None,
        new: Some(AllocationData {
            num_replicas: replicas,
            ..Default::default()
        }),
        outcome,
        reason: "cost".into(),
        error: String::new(),
        code: String::new(),
    }
}

fn applied() -> Applied {
    Applied {
        // The actuator's step limit held `a` at 2 of the 3 decided.
        results: vec![
            result("a", Outcome::Applied, 2),
            result("b", Outcome::Unchanged, 2),
        ],
        dry_run: false,
    }
}

/// [`stages`] with a policy that lets a new kind through at once (no settled measurement,
/// no hysteresis): these tests follow what each stage hands on; the calm rules have
/// their own tests (policy::tests).
fn passing(fake: Fake) -> Stages<Fake> {
    let mut st = stages(fake);
    st.policy = Arc::new(Mutex::new(crate::policy::Policy::new(
        crate::policy::Settings {
            steady_cycles: 0,
            min_requests: 0.0,
            // Not even a current kind cheaper than the decision is kept: the fake
            // optimizer's answers are fixed, not the cheapest.
            kind_hysteresis: -1.0,
            // Nor a start-up for a rollout to pay back.
            startup_delay: std::time::Duration::ZERO,
            ..Default::default()
        },
    )));
    st
}

fn working() -> Fake {
    Fake {
        collected: Some(Ok(collected())),
        decision: Some(Ok(decision())),
        applied: Some(Ok(applied())),
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn each_stage_gets_what_the_one_before_produced() {
    let fake = working();
    let asked = fake.asked.clone();
    let report = run(&mut passing(fake), &mut Data::default(), 1, false).await;
    assert_eq!(report.outcome, CycleOutcome::Ok, "{}", report.reason);

    let asked = asked.lock().unwrap();
    // The optimizer sees the collected servers with the static data of the files.
    let system = &asked.optimize[0];
    let names: Vec<&str> = system
        .server_data
        .servers
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert!(!system.accelerator_data.accelerators.is_empty());
    // The data names no batch rule: the loop asks for `fit` (within the catalog's
    // maxBatchSize and KV cache), not the reference's `scaled`.
    assert_eq!(system.optimizer_data.optimizer.batch_sizing, "fit");
    // The actuator gets the decision, every Deployment collected, and both kinds of unplaced
    // servers with their codes (the optimizer's and the collector's).
    let request = &asked.apply[0];
    assert_eq!(
        request.allocations["a"].num_replicas, 3,
        "{:?}",
        report.servers[0]
    );
    assert_eq!(request.refs.len(), 3);
    assert_eq!(request.unplaced["b"].code, "out-of-capacity");
    assert_eq!(request.unplaced["c"].code, "invalid-load");
    assert!(!request.dry_run);

    // The report: what the Deployment got (the actuator's 2), what was decided (3).
    let a = &report.servers[0];
    assert_eq!((a.replicas, a.decided_replicas, a.old_replicas), (2, 3, 1));
    assert_eq!((a.accelerator.as_str(), a.max_batch), ("H100", 32));
    assert_eq!(a.occ_per_replica, 7.5);
    assert_eq!((a.applied, a.outcome.as_str()), (true, "applied"));
    // Why `a` left A100 for H100: A100 (in the data, with room) is cheaper than the 150
    // cents/h decided, so neither capacity nor cost forced it.
    assert!(
        a.move_reason.starts_with("objective: ") && a.move_reason.contains(" x A100 at "),
        "{}",
        a.move_reason
    );
    // The actuator is told the same, for its Event on the Deployment. Before: it got the
    // allocations only, and its Event could name no cause.
    let moved = &request.moves["a"];
    assert_eq!(
        (moved.cause, moved.reason.as_str()),
        (inferno_core::MoveCause::Objective, a.move_reason.as_str())
    );
    assert_eq!(request.moves.len(), 1, "only the server that moves");
    let b = &report.servers[1];
    assert_eq!(b.move_reason, "", "unplaced: no move");
    assert_eq!((b.replicas, b.unplaced.as_str()), (2, "no H100 left"));
    assert_eq!(report.changes, 1);
    assert_eq!(report.solver, "greedy (heuristic)");
    assert_eq!(report.capacity[0].allocated, 3);
    assert!(report.problems.contains(&"c: bad label".to_string()));
    assert_eq!(report.updates.len(), 2);
}

/// The report's replicas went through the actuator's limits or were not applied at all:
/// a refused Deployment (no numbers in the answer), a failed patch and a server the actuator
/// did not answer for keep the replicas they had (as the actuator read them, else as collected).
/// Before: the refused and unanswered servers
/// showed the optimizer's 3, the failed patch the 5 it did not apply.
#[tokio::test(start_paused = true)]
async fn replicas_not_applied_are_the_ones_before_the_cycle() {
    let mut collected = collected();
    collected.servers.push(server("d", 4, 20.0));
    collected.refs.insert("d".into(), deployment("d"));
    let mut decision = decision();
    for (name, replicas) in [("b", 3), ("d", 3)] {
        decision.allocations.insert(
            name.into(),
            AllocationData {
                num_replicas: replicas,
                ..decision.allocations["a"].clone()
            },
        );
    }
    decision.unplaced.clear();
    let mut refused = result("a", Outcome::Refused, 0);
    refused.new = None;
    let mut failed = result("b", Outcome::Failed, 5);
    // The actuator read 6 (someone scaled it since the collection) and failed to patch.
    failed.old = Some(AllocationData {
        num_replicas: 6,
        ..Default::default()
    });
    let fake = Fake {
        collected: Some(Ok(collected)),
        decision: Some(Ok(decision)),
        // Nothing for `d`.
        applied: Some(Ok(Applied {
            results: vec![refused, failed],
            dry_run: false,
        })),
        ..Default::default()
    };
    let report = run(&mut stages(fake), &mut Data::default(), 1, false).await;
    assert_eq!(report.outcome, CycleOutcome::Ok, "{}", report.reason);
    let got: Vec<(&str, i64, i64, &str)> = report
        .servers
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.replicas,
                s.decided_replicas,
                s.outcome.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a", 1, 3, "refused"),
            ("b", 6, 3, "failed"),
            ("d", 4, 3, "")
        ]
    );
}

/// The record carries the throughput the collector measured, and no number when it measured
/// none (the load from the labels): not a 0 beside a busy server's label rate. Before: 0.0.
#[tokio::test(start_paused = true)]
async fn the_record_carries_the_measured_throughput_or_none() {
    use inferno_core::{FieldSource, Source};
    let mut collected = collected();
    collected.servers[0].current_alloc.load.throughput = 42.0;
    let source = |server: &str, source| Observation {
        server: server.into(),
        sources: vec![
            FieldSource {
                field: "arrivalRate".into(),
                source: if source == Source::Default {
                    Source::Label
                } else {
                    source
                },
            },
            FieldSource {
                field: "throughput".into(),
                source,
            },
        ],
        ..Default::default()
    };
    collected.observations = vec![
        source("a", Source::Prometheus),
        source("b", Source::Default),
    ];
    let mut fake = working();
    fake.collected = Some(Ok(collected));
    let report = run(&mut stages(fake), &mut Data::default(), 1, false).await;
    let got: Vec<Option<f64>> = report.servers.iter().map(|s| s.throughput).collect();
    assert_eq!(got, [Some(42.0), None]);
    let record = serde_json::to_value(&report).unwrap();
    assert_eq!(record["servers"][0]["throughput"], 42.0);
    assert!(record["servers"][1]["throughput"].is_null(), "{record}");
    // A collector that names no source for it is taken at its word.
    let report = run(&mut stages(working()), &mut Data::default(), 1, false).await;
    assert_eq!(report.servers[1].throughput, Some(0.0));
}

/// A move is judged on the optimizer's own allocation, not on the replicas settling held up:
/// leaving A100 for one G2 at 23 cents/h is a move for cost even when the scale-down is held
/// at 4 G2 (92 cents/h, dearer than staying).
#[tokio::test(start_paused = true)]
async fn a_move_is_judged_on_the_optimizers_allocation() {
    let mut collected = collected();
    collected.servers = vec![server("a", 4, 60.0)];
    let mut decision = decision();
    decision.allocations = [(
        "a".to_string(),
        AllocationData {
            accelerator: "G2".into(),
            num_replicas: 1,
            max_batch: 32,
            cost: 23.0,
            ..Default::default()
        },
    )]
    .into();
    decision.unplaced.clear();
    let mut fake = working();
    fake.collected = Some(Ok(collected));
    fake.decision = Some(Ok(decision));
    let report = run(&mut passing(fake), &mut Data::default(), 1, false).await;
    let a = &report.servers[0];
    assert_eq!(a.accelerator, "G2");
    assert!(
        a.move_reason
            .starts_with("cost: 1 x G2 at 23.0 cents/h against "),
        "{} (settled {} x {} at {})",
        a.move_reason,
        a.replicas,
        a.accelerator,
        a.cost
    );
}

/// A dry run reports what the actuator would set: its number, after its limits.
#[tokio::test(start_paused = true)]
async fn a_dry_run_reports_the_actuators_number() {
    let mut fake = working();
    fake.applied = Some(Ok(Applied {
        results: vec![result("a", Outcome::DryRun, 2)],
        dry_run: true,
    }));
    let report = run(&mut stages(fake), &mut Data::default(), 1, true).await;
    let a = &report.servers[0];
    assert_eq!((a.replicas, a.decided_replicas, a.applied), (2, 3, false));
}

#[tokio::test(start_paused = true)]
async fn no_servers_skips_optimize_and_apply() {
    let fake = Fake {
        collected: Some(Ok(Collected::default())),
        ..Default::default()
    };
    let asked = fake.asked.clone();
    let report = run(&mut stages(fake), &mut Data::default(), 1, false).await;
    assert_eq!(report.outcome, CycleOutcome::Skipped);
    assert!(
        report.reason.contains("no managed servers"),
        "{}",
        report.reason
    );
    let asked = asked.lock().unwrap();
    assert!(asked.optimize.is_empty() && asked.apply.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failing_collector_fails_the_cycle_and_names_it() {
    let fake = Fake {
        collected: Some(Err(PortError("Unavailable: connection refused".into()))),
        ..Default::default()
    };
    let report = run(&mut stages(fake), &mut Data::default(), 4, false).await;
    assert_eq!(report.outcome, CycleOutcome::Failed);
    assert_eq!(
        report.reason,
        "collect: fake collector: Unavailable: connection refused"
    );
    assert_eq!(report.cycle, 4);
}

#[tokio::test(start_paused = true)]
async fn a_hung_optimizer_misses_its_deadline_and_nothing_is_applied() {
    let fake = Fake {
        optimize_delay: Duration::from_secs(3600),
        ..working()
    };
    let asked = fake.asked.clone();
    let began = tokio::time::Instant::now();
    let report = run(&mut stages(fake), &mut Data::default(), 1, false).await;
    assert_eq!(report.outcome, CycleOutcome::Failed);
    assert_eq!(
        report.reason,
        "optimize: fake optimizer: no answer within 10s"
    );
    // The deadline, not the hour, ended the stage (on the paused clock).
    assert_eq!(began.elapsed().as_secs(), 10);
    assert!(asked.lock().unwrap().apply.is_empty());
    assert!(report.solution.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_slow_optimizer_within_its_deadline_is_waited_for() {
    let fake = Fake {
        optimize_delay: Duration::from_secs(9),
        ..working()
    };
    let report = run(&mut stages(fake), &mut Data::default(), 1, false).await;
    assert_eq!(report.outcome, CycleOutcome::Ok, "{}", report.reason);
}

#[tokio::test(start_paused = true)]
async fn a_failing_actuator_fails_the_cycle_but_keeps_the_decision() {
    let fake = Fake {
        applied: Some(Err(PortError("Internal: patch failed".into()))),
        ..working()
    };
    let report = run(&mut stages(fake), &mut Data::default(), 1, false).await;
    assert_eq!(report.outcome, CycleOutcome::Failed);
    assert_eq!(
        report.reason,
        "apply: fake actuator: Internal: patch failed"
    );
    assert_eq!(report.solution, Some(decision()));
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_reaches_the_actuator() {
    let fake = working();
    let asked = fake.asked.clone();
    let report = run(&mut stages(fake), &mut Data::default(), 1, true).await;
    assert!(report.dry_run);
    assert!(asked.lock().unwrap().apply[0].dry_run);
}

#[tokio::test(start_paused = true)]
async fn bad_data_with_no_earlier_data_fails_before_collecting() {
    let mut s = stages(working());
    s.source = Source::Dir(PathBuf::from("/nonexistent/inferno-data"));
    let asked = s.ports.asked.clone();
    let report = run(&mut s, &mut Data::default(), 1, false).await;
    assert_eq!(report.outcome, CycleOutcome::Failed);
    assert!(
        report.reason.starts_with("load data: "),
        "{}",
        report.reason
    );
    assert_eq!(asked.lock().unwrap().collect, 0);
}

#[tokio::test(start_paused = true)]
async fn a_stage_failure_is_typed_and_reads_as_before() {
    let peer = || "optimizer at http://127.0.0.1:3302".to_owned();
    let deadline = Duration::from_secs(10);
    let hung = std::future::pending::<Result<(), PortError>>();
    let err = stage(Stage::Optimize, peer(), deadline, hung)
        .await
        .unwrap_err();
    assert!(matches!(
        &err,
        CycleError { stage: Stage::Optimize, failure: Failure::Deadline { after, .. } }
            if *after == deadline
    ));
    assert_eq!(
        err.to_string(),
        "optimize: optimizer at http://127.0.0.1:3302: no answer within 10s"
    );
    let refused = async { Err::<(), _>(PortError("Unavailable: tcp connect error".into())) };
    let err = stage(Stage::Apply, peer(), deadline, refused)
        .await
        .unwrap_err();
    assert!(
        matches!(&err.failure, Failure::Port { source, .. } if source.0.starts_with("Unavailable"))
    );
    assert_eq!(
        err.to_string(),
        "apply: optimizer at http://127.0.0.1:3302: Unavailable: tcp connect error"
    );
}

fn explanation() -> inferno_core::Explained {
    inferno_core::Explained {
        lower_bound_cost: 120.0,
        prices: vec![
            inferno_core::GpuPrice {
                acc_type: "H100".into(),
                binding: true,
                price: Some(12.5),
            },
            inferno_core::GpuPrice {
                acc_type: "A100".into(),
                binding: false,
                price: None,
            },
        ],
        headroom: vec![inferno_core::Headroom {
            server: "a".into(),
            rpm: 7.25,
        }],
    }
}

/// After the apply the optimizer is asked why (brief): the report carries the answer and the
/// metrics show each scarce type's price, each server's headroom and the lower bound.
#[tokio::test(start_paused = true)]
async fn the_report_and_the_metrics_say_why() {
    let fake = Fake {
        explained: Some(Ok(Some(explanation()))),
        ..working()
    };
    let asked = fake.asked.clone();
    let report = run(&mut stages(fake), &mut Data::default(), 1, false).await;
    assert_eq!(report.outcome, CycleOutcome::Ok, "{}", report.reason);
    assert_eq!(asked.lock().unwrap().explain, 1);
    assert_eq!(report.explained, Some(explanation()));
    let line = serde_json::to_string(&report).unwrap();
    assert!(
        line.contains(r#""explained":{"lowerBoundCost":120.0"#),
        "{line}"
    );
    let metrics = crate::metrics::Metrics::default();
    metrics.record(&report);
    let text = metrics.render();
    for want in [
        r#"inferno_controller_gpu_price{type="H100"} 12.5"#,
        r#"inferno_controller_server_headroom_rpm{server="a"} 7.25"#,
        "inferno_controller_lower_bound_cost 120.0",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    assert!(
        !text.contains(r#"type="A100""#),
        "no price, no series:\n{text}"
    );
    let message = crate::grpc::report_message(&report);
    let e = message.explanation.expect("the report message carries it");
    assert_eq!(e.types[0].dual_price, Some(12.5));
    assert_eq!(e.servers[0].headroom_rpm, Some(7.25));
}

/// An optimizer that cannot explain fails nothing: the cycle is ok, the problem is said; and
/// `--explain false` does not ask.
#[tokio::test(start_paused = true)]
async fn a_failed_explanation_is_a_problem_not_a_failed_cycle() {
    let fake = Fake {
        explained: Some(Err(PortError("Unimplemented: no Explain".into()))),
        ..working()
    };
    let report = run(&mut stages(fake), &mut Data::default(), 1, false).await;
    assert_eq!(report.outcome, CycleOutcome::Ok, "{}", report.reason);
    assert!(report.explained.is_none());
    assert!(
        report
            .problems
            .contains(&"explain (fake optimizer): Unimplemented: no Explain".to_string()),
        "{:?}",
        report.problems
    );

    let fake = Fake {
        explained: Some(Ok(Some(explanation()))),
        ..working()
    };
    let asked = fake.asked.clone();
    let mut off = stages(fake);
    off.explain = false;
    let report = run(&mut off, &mut Data::default(), 1, false).await;
    assert_eq!(report.outcome, CycleOutcome::Ok);
    assert_eq!(asked.lock().unwrap().explain, 0);
    assert!(report.explained.is_none());
}
