//! Spec 6.10 (e) single-server cases and (f) TPS class and transition penalty.

use super::solver_vectors::{options, sample};
use approx::assert_relative_eq;
use inferno_api::*;
use inferno_optimizer::{solve, Solution, SolveOptions};

/// H100 cost 75, capacity 8; model m1 (maxBatch 16 at 512 tokens); Premium ITL 100, TTFT 2000;
/// load in 512, out 512.
pub(crate) fn single(
    alpha: f64,
    beta: f64,
    gamma: f64,
    arrival: f64,
    min_replicas: i64,
) -> SystemSpec {
    SystemSpec {
        accelerator_data: AcceleratorData {
            accelerators: vec![AcceleratorSpec {
                name: "H100".into(),
                acc_type: "H100".into(),
                multiplicity: 1,
                cost: 75.0,
                ..Default::default()
            }],
        },
        capacity_data: CapacityData {
            count: vec![AcceleratorCount {
                acc_type: "H100".into(),
                count: 8,
            }],
        },
        model_data: ModelData {
            models: vec![ModelAcceleratorPerfData {
                name: "m1".into(),
                acc: "H100".into(),
                acc_count: 1,
                max_batch_size: 16,
                at_tokens: 512,
                perf_parms: PerfParms { alpha, beta, gamma },
            }],
        },
        service_class_data: ServiceClassData {
            service_classes: vec![ServiceClassSpec {
                name: "Premium".into(),
                priority: 1,
                model_targets: vec![ModelTarget {
                    model: "m1".into(),
                    slo_itl: 100.0,
                    slo_ttft: 2000.0,
                    slo_tps: 0.0,
                }],
            }],
        },
        server_data: ServerData {
            servers: vec![ServerSpec {
                name: "s1".into(),
                class: "Premium".into(),
                model: "m1".into(),
                min_num_replicas: min_replicas,
                current_alloc: AllocationData {
                    load: ServerLoadSpec {
                        arrival_rate: arrival,
                        avg_in_tokens: 512,
                        avg_out_tokens: 512,
                        ..Default::default()
                    },
                    ..Default::default()
                },
                ..Default::default()
            }],
        },
        optimizer_data: OptimizerData::default(),
    }
}

fn both_modes(spec: &SystemSpec) -> [Solution; 2] {
    [false, true].map(|unlimited| {
        solve(
            spec,
            &SolveOptions {
                unlimited,
                ..SolveOptions::default()
            },
        )
    })
}

#[test]
fn untuned_parameters_with_load_are_unplaced() {
    for s in both_modes(&single(0.0, 0.0, 0.0, 60.0, 0)) {
        assert!(s.placements.is_empty());
        assert_eq!(s.unplaced[0].reason.code(), "slo-unattainable");
        assert!(
            s.unplaced[0]
                .reason
                .to_string()
                .contains("H100: perf parameters are all zero"),
            "{}",
            s.unplaced[0].reason
        );
    }
}

/// Spec 7.3 fixed: zero load and no minimum is a success with 0 replicas in both modes (the
/// reference failed the whole greedy solve).
#[test]
fn zero_load_succeeds_with_zero_replicas() {
    for s in both_modes(&single(0.0, 0.0, 0.0, 0.0, 0)) {
        let a = &s.placements["s1"].allocation;
        assert_eq!(
            (a.num_replicas, a.cost, a.accelerator.as_str()),
            (0, 0.0, "")
        );
        assert!(s.unplaced.is_empty());
    }
}

#[test]
fn zero_load_with_minimum_and_untuned_parameters() {
    let s = solve(&single(0.0, 0.0, 0.0, 0.0, 2), &SolveOptions::default());
    let p = &s.placements["s1"];
    assert_eq!(p.allocation.num_replicas, 2);
    assert_eq!(p.capacity_per_replica, 0.0);
}

#[test]
fn valid_single_server() {
    for s in both_modes(&single(1.5, 0.002, 0.0001, 60.0, 0)) {
        let p = &s.placements["s1"];
        let a = &p.allocation;
        assert_eq!(
            (a.accelerator.as_str(), a.num_replicas, a.max_batch, a.cost),
            ("H100", 1, 16, 75.0)
        );
        assert_relative_eq!(p.capacity_per_replica, 9.564693, max_relative = 1e-4);
        assert_relative_eq!(a.itl_average, 1.6473588, max_relative = 1e-5);
        assert_relative_eq!(a.ttft_average, 4.210118, max_relative = 1e-5);
        assert_relative_eq!(p.rho, 0.052875657, max_relative = 1e-5);
    }
    let s = solve(
        &single(1.5, 0.002, 0.0001, 60.0, 2),
        &SolveOptions::default(),
    );
    let a = &s.placements["s1"].allocation;
    assert_eq!((a.num_replicas, a.cost), (2, 150.0));
    assert_relative_eq!(a.itl_average, 1.6124601, max_relative = 1e-5);
    assert_relative_eq!(a.ttft_average, 4.1403203, max_relative = 1e-5);
}

#[test]
fn zero_load_keeps_minimum() {
    let s = solve(
        &single(1.5, 0.002, 0.0001, 0.0, 1),
        &SolveOptions::default(),
    );
    let a = &s.placements["s1"].allocation;
    assert_eq!(
        (a.accelerator.as_str(), a.num_replicas, a.max_batch, a.cost),
        ("H100", 1, 16, 75.0)
    );
    assert_relative_eq!(a.itl_average, 1.502, max_relative = 1e-6);
    assert_relative_eq!(a.ttft_average, 1.5036, max_relative = 1e-6);
}

fn large_with(server: ServerSpec) -> SystemSpec {
    let mut spec = sample("large");
    spec.server_data.servers = vec![server];
    spec
}

fn server(name: &str, class: &str, arrival: f64) -> ServerSpec {
    ServerSpec {
        name: name.into(),
        class: class.into(),
        model: "llama_13b".into(),
        current_alloc: AllocationData {
            load: ServerLoadSpec {
                arrival_rate: arrival,
                avg_in_tokens: 128,
                avg_out_tokens: 1024,
                ..Default::default()
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Spec 6.10 (f): a throughput class sizes for slo-tps / out tokens, ignoring the arrival rate.
#[test]
fn tps_class_6_10_f() {
    let spec = large_with(server("batch", "Batch2K", 60.0));
    let s = solve(
        &spec,
        &SolveOptions {
            unlimited: true,
            ..options(&spec)
        },
    );
    let p = &s.placements["batch"];
    let a = &p.allocation;
    assert_eq!(
        (a.accelerator.as_str(), a.num_replicas, a.max_batch, a.cost),
        ("G2", 5, 38, 115.0)
    );
    assert_relative_eq!(p.capacity_per_replica, 0.4324478, max_relative = 1e-4);
    assert_relative_eq!(a.itl_average, 47.422634, max_relative = 1e-5);
}

/// Spec 6.10 (f): the transition penalty favours G2 (value 54.5) over staying on A100 (160).
#[test]
fn transition_penalty_6_10_f() {
    let mut srv = server("Premium-llama_13b", "Premium", 120.0);
    srv.current_alloc.accelerator = "A100".into();
    srv.current_alloc.num_replicas = 2;
    srv.current_alloc.cost = 80.0;
    let spec = large_with(srv.clone());
    let s = solve(
        &spec,
        &SolveOptions {
            unlimited: true,
            ..options(&spec)
        },
    );
    let p = &s.placements["Premium-llama_13b"];
    assert_eq!(
        (p.allocation.accelerator.as_str(), p.allocation.cost),
        ("G2", 115.0)
    );
    assert_relative_eq!(p.value, 54.5, max_relative = 1e-12);

    srv.keep_accelerator = true;
    srv.min_num_replicas = 3;
    srv.max_batch_size = 16;
    srv.max_queue_size = 64;
    let spec = large_with(srv);
    let s = solve(
        &spec,
        &SolveOptions {
            unlimited: true,
            ..options(&spec)
        },
    );
    let p = &s.placements["Premium-llama_13b"];
    let a = &p.allocation;
    assert_eq!(
        (a.accelerator.as_str(), a.num_replicas, a.max_batch, a.cost),
        ("A100", 9, 16, 360.0)
    );
    assert_relative_eq!(p.capacity_per_replica, 0.22958067, max_relative = 1e-4);
    assert_relative_eq!(a.itl_average, 37.595634, max_relative = 1e-5);
    assert_relative_eq!(a.ttft_average, 700.3277, max_relative = 1e-4);
}

/// Issue 21: batch size 1 with no waiting room is a loss system (docs/model.md 4c). Its
/// analysis holds for the requests it does not drop, so it is no candidate; with a queue it
/// is one.
#[test]
fn batch_one_without_a_queue_is_no_candidate() {
    let mut spec = single(1.5, 0.002, 0.0001, 30.0, 0);
    spec.server_data.servers[0].max_batch_size = 1;
    for s in both_modes(&spec) {
        assert!(s.placements.is_empty(), "{:?}", s.placements);
        let why = s.unplaced[0].reason.to_string();
        assert!(why.contains("batch size 1 and maxQueueSize 0"), "{why}");
    }
    spec.server_data.servers[0].max_queue_size = 8;
    for s in both_modes(&spec) {
        let a = &s.placements["s1"].allocation;
        assert_eq!((a.accelerator.as_str(), a.max_batch), ("H100", 1), "{a:?}");
        assert!(s.unplaced.is_empty());
    }
}
