//! The `systems` family: generated systems with a few extreme fields, validated and solved.
//!
//! A system has 1-3 accelerators of 1-2 types, perf data of 1-2 models on most accelerators,
//! 1-2 classes and 1-4 servers, every number in a realistic range; then up to three fields are
//! set to an extreme value ([`super::values`]). The case is run as the gRPC service runs a
//! system (`inferno_api::check`, then `SolveOptions::from_spec` and `solve`), then with each
//! solver under a small time limit; or, for some cases, through the `OptimizeOne` handler.

use super::values::{extreme, show, Extreme};
use inferno_api::{
    AcceleratorCount, AcceleratorSpec, AllocationData, FileNames, ModelAcceleratorPerfData,
    ModelTarget, OptimizerSpec, PerfParms, PowerSpec, ServerLoadSpec, ServerSpec, ServiceClassSpec,
    SystemData, SystemSpec,
};
use inferno_optimizer::grpc::{Metrics, OptimizerService};
use inferno_optimizer::{solve, SolveOptions, SolverKind};
use inferno_proto::v1::{self, optimizer_server::Optimizer};
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const SOLVERS: [&str; 5] = ["", "greedy", "milp", "lagrangian", "exact"];
const POLICIES: [&str; 6] = [
    "",
    "None",
    "PriorityExhaustive",
    "PriorityRoundRobin",
    "RoundRobin",
    "Bogus",
];
const SIZINGS: [&str; 4] = ["", "scaled", "search", "fit"];

/// A field an override can set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    AccMultiplicity,
    AccCost,
    Capacity,
    PerfAccCount,
    PerfMaxBatchSize,
    PerfAtTokens,
    PerfAlpha,
    PerfBeta,
    PerfGamma,
    ClassPriority,
    SloItl,
    SloTtft,
    SloTps,
    MinNumReplicas,
    ServerMaxBatchSize,
    ServerMaxQueueSize,
    CurrentNumReplicas,
    CurrentMaxBatch,
    CurrentCost,
    ArrivalRate,
    AvgInTokens,
    AvgOutTokens,
    TimeLimitSeconds,
}

const FIELDS: [Field; 23] = [
    Field::AccMultiplicity,
    Field::AccCost,
    Field::Capacity,
    Field::PerfAccCount,
    Field::PerfMaxBatchSize,
    Field::PerfAtTokens,
    Field::PerfAlpha,
    Field::PerfBeta,
    Field::PerfGamma,
    Field::ClassPriority,
    Field::SloItl,
    Field::SloTtft,
    Field::SloTps,
    Field::MinNumReplicas,
    Field::ServerMaxBatchSize,
    Field::ServerMaxQueueSize,
    Field::CurrentNumReplicas,
    Field::CurrentMaxBatch,
    Field::CurrentCost,
    Field::ArrivalRate,
    Field::AvgInTokens,
    Field::AvgOutTokens,
    Field::TimeLimitSeconds,
];

/// One field of one row set to an extreme value.
#[derive(Debug, Clone)]
struct Override {
    field: Index,
    row: Index,
    value: Extreme,
}

/// One case of the family.
#[derive(Debug, Clone)]
pub(in crate::fuzz) struct Case {
    spec: SystemSpec,
    overrides: Vec<Override>,
    /// Through the gRPC OptimizeOne handler instead of the library calls.
    via_grpc: bool,
    /// Time limit of the extra runs of each solver, seconds.
    solver_seconds: f64,
}

fn accelerators() -> impl Strategy<Value = Vec<AcceleratorSpec>> {
    proptest::collection::vec((0..2usize, 1..=4i64, 0.5..200.0f64, 0.0..1.0f64), 1..=3).prop_map(
        |rows| {
            rows.into_iter()
                .enumerate()
                .map(|(i, (t, multiplicity, cost, mid_util))| AcceleratorSpec {
                    name: format!("acc{i}"),
                    acc_type: format!("T{t}"),
                    multiplicity,
                    mem_size: 80,
                    mem_bw: 2000,
                    power: PowerSpec {
                        idle: 100,
                        full: 400,
                        mid_power: 300,
                        mid_util,
                    },
                    cost,
                })
                .collect()
        },
    )
}

fn perf_row() -> impl Strategy<Value = (i64, i64, i64, f64, f64, f64)> {
    (
        1..=4i64,
        prop_oneof![1 => Just(0i64), 8 => 1..=512i64],
        prop_oneof![1 => Just(0i64), 8 => 64..=2048i64],
        0.5..300.0f64,
        0.001..1.0f64,
        0.0..0.05f64,
    )
}

fn target() -> impl Strategy<Value = (f64, f64, f64)> {
    (
        prop_oneof![1 => Just(0.0), 4 => 5.0..500.0f64],
        prop_oneof![1 => Just(0.0), 4 => 50.0..5000.0f64],
        prop_oneof![6 => Just(0.0), 1 => 10.0..5000.0f64],
    )
}

type ServerRow = (
    (usize, usize, bool, i64, i64, i64),
    (Option<usize>, i64, i64, f64),
    (f64, i64, i64),
);

fn server() -> impl Strategy<Value = ServerRow> {
    (
        (
            0..10usize,
            0..30usize,
            proptest::bool::weighted(0.2),
            0..=2i64,
            prop_oneof![4 => Just(0i64), 1 => 1..=256i64],
            prop_oneof![1 => Just(0i64), 1 => 1..=256i64],
        ),
        (
            proptest::option::of(0..3usize),
            0..=4i64,
            0..=256i64,
            0.0..500.0f64,
        ),
        (
            prop_oneof![1 => Just(0.0), 6 => 0.1..600.0f64],
            0..=2048i64,
            prop_oneof![1 => Just(0i64), 8 => 1..=2048i64],
        ),
    )
}

fn optimizer() -> impl Strategy<Value = OptimizerSpec> {
    (
        prop_oneof![40 => Just(0usize), 10 => 1..SOLVERS.len() - 1, 1 => Just(SOLVERS.len() - 1)],
        proptest::bool::weighted(0.3),
        proptest::bool::weighted(0.1),
        proptest::bool::weighted(0.1),
        0.02..0.3f64,
        prop_oneof![40 => 0..POLICIES.len() - 1, 1 => Just(POLICIES.len() - 1)],
        0..SIZINGS.len(),
        any::<bool>(),
    )
        .prop_map(
            |(solver, unlimited, heterogeneous, milp, time, policy, sizing, delayed)| {
                OptimizerSpec {
                    unlimited,
                    heterogeneous,
                    milp_solver: milp,
                    solver: SOLVERS[solver].into(),
                    time_limit_seconds: time,
                    use_cplex: false,
                    delayed_best_effort: delayed,
                    saturation_policy: POLICIES[policy].into(),
                    batch_sizing: SIZINGS[sizing].into(),
                    // Priced changes with the loop's rule, and with a few of the others.
                    startup_seconds: if sizing == SIZINGS.len() - 1 || delayed && milp {
                        120.0
                    } else {
                        0.0
                    },
                    payback_seconds: 0.0,
                    improve_iterations: None,
                    iteration_limit: None,
                }
            },
        )
}

fn system() -> impl Strategy<Value = SystemSpec> {
    (
        accelerators(),
        proptest::collection::vec(0..=64i64, 2),
        proptest::collection::vec(proptest::option::weighted(0.8, perf_row()), 6),
        proptest::collection::vec((1..=5i64, proptest::collection::vec(target(), 2)), 1..=2),
        proptest::collection::vec(server(), 1..=4),
        optimizer(),
    )
        .prop_map(|(accs, caps, perf, classes, servers, optimizer)| {
            let mut spec = SystemSpec::default();
            spec.capacity_data.count = caps
                .into_iter()
                .enumerate()
                .map(|(t, count)| AcceleratorCount {
                    acc_type: format!("T{t}"),
                    count,
                })
                .collect();
            for (i, row) in perf.into_iter().enumerate() {
                let (model, acc) = (i / 3, i % 3);
                let Some((acc_count, max_batch_size, at_tokens, alpha, beta, gamma)) = row else {
                    continue;
                };
                if acc >= accs.len() {
                    continue;
                }
                spec.model_data.models.push(ModelAcceleratorPerfData {
                    name: format!("m{model}"),
                    acc: accs[acc].name.clone(),
                    acc_count,
                    max_batch_size,
                    at_tokens,
                    perf_parms: PerfParms { alpha, beta, gamma },
                });
            }
            spec.accelerator_data.accelerators = accs;
            let with_data = |m: &String| spec.model_data.models.iter().any(|r| &r.name == m);
            let targets_of = |targets: Vec<(f64, f64, f64)>| -> Vec<ModelTarget> {
                targets
                    .into_iter()
                    .enumerate()
                    .map(|(m, (itl, ttft, tps))| ModelTarget {
                        model: format!("m{m}"),
                        slo_itl: itl,
                        slo_ttft: ttft,
                        slo_tps: tps,
                    })
                    .filter(|t| with_data(&t.model))
                    .collect()
            };
            let classes: Vec<ServiceClassSpec> = classes
                .into_iter()
                .enumerate()
                .map(|(c, (priority, targets))| ServiceClassSpec {
                    name: format!("c{c}"),
                    priority,
                    model_targets: targets_of(targets),
                })
                .collect();
            spec.service_class_data.service_classes = classes;
            let classes: Vec<String> = spec
                .service_class_data
                .service_classes
                .iter()
                .map(|c| c.name.clone())
                .collect();
            let mut models: Vec<String> = spec
                .model_data
                .models
                .iter()
                .map(|m| m.name.clone())
                .collect();
            models.dedup();
            let names: Vec<String> = spec
                .accelerator_data
                .accelerators
                .iter()
                .map(|a| a.name.clone())
                .collect();
            spec.server_data.servers = servers
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    let ((class, model, keep, min, batch, queue), cur, load) = s;
                    let (acc, replicas, max_batch, cost) = cur;
                    let (arrival_rate, avg_in_tokens, avg_out_tokens) = load;
                    ServerSpec {
                        name: format!("s{i}"),
                        // Mostly a class and a model of the data; else the Free class (which
                        // the data does not define) and a model without perf data.
                        class: if class < 9 {
                            classes[class % classes.len()].clone()
                        } else {
                            String::new()
                        },
                        model: match models.len() {
                            n if n > 0 && model < 29 => models[model % n].clone(),
                            _ => "m9".into(),
                        },
                        keep_accelerator: keep,
                        min_num_replicas: min,
                        max_batch_size: batch,
                        max_queue_size: queue,
                        current_alloc: AllocationData {
                            accelerator: acc
                                .and_then(|a| names.get(a).cloned())
                                .unwrap_or_default(),
                            num_replicas: replicas,
                            max_batch,
                            cost,
                            itl_average: 0.0,
                            ttft_average: 0.0,
                            load: ServerLoadSpec {
                                arrival_rate,
                                throughput: arrival_rate,
                                avg_in_tokens,
                                avg_out_tokens,
                                out_tokens_cv: 0.0,
                            },
                        },
                        desired_alloc: AllocationData::default(),
                    }
                })
                .collect();
            spec.optimizer_data.optimizer = optimizer;
            spec
        })
}

pub(in crate::fuzz) fn case() -> impl Strategy<Value = Case> {
    // The overrides first: a failure shrinks to the fewest extreme fields before the rest of
    // the system shrinks.
    (
        proptest::collection::vec(
            (any::<Index>(), any::<Index>(), extreme()).prop_map(|(field, row, value)| Override {
                field,
                row,
                value,
            }),
            0..=3,
        ),
        system(),
        proptest::bool::weighted(0.25),
        prop_oneof![Just(0.02), Just(0.05), Just(0.2)],
    )
        .prop_map(|(overrides, spec, via_grpc, solver_seconds)| Case {
            spec,
            overrides,
            via_grpc,
            solver_seconds,
        })
}

/// Sets `o` in `spec`; the field as a path and the value, or None when there is no such row.
fn apply(spec: &mut SystemSpec, o: &Override) -> Option<String> {
    fn row<T>(rows: &mut [T], at: Index) -> Option<(usize, &mut T)> {
        if rows.is_empty() {
            return None;
        }
        let i = at.index(rows.len());
        Some((i, &mut rows[i]))
    }
    let field = FIELDS[o.field.index(FIELDS.len())];
    let (f, i) = (o.value.float(), o.value.int());
    let (fs, is) = (show(f), i.to_string());
    Some(match field {
        Field::AccMultiplicity => {
            let (n, a) = row(&mut spec.accelerator_data.accelerators, o.row)?;
            a.multiplicity = i;
            format!("accelerators[{n}].multiplicity = {is}")
        }
        Field::AccCost => {
            let (n, a) = row(&mut spec.accelerator_data.accelerators, o.row)?;
            a.cost = f;
            format!("accelerators[{n}].cost = {fs}")
        }
        Field::Capacity => {
            let (n, c) = row(&mut spec.capacity_data.count, o.row)?;
            c.count = i;
            format!("capacity count[{n}].count = {is}")
        }
        Field::PerfAccCount
        | Field::PerfMaxBatchSize
        | Field::PerfAtTokens
        | Field::PerfAlpha
        | Field::PerfBeta
        | Field::PerfGamma => {
            let (n, m) = row(&mut spec.model_data.models, o.row)?;
            let (name, value) = match field {
                Field::PerfAccCount => {
                    m.acc_count = i;
                    ("accCount", is)
                }
                Field::PerfMaxBatchSize => {
                    m.max_batch_size = i;
                    ("maxBatchSize", is)
                }
                Field::PerfAtTokens => {
                    m.at_tokens = i;
                    ("atTokens", is)
                }
                Field::PerfAlpha => {
                    m.perf_parms.alpha = f;
                    ("perfParms.alpha", fs)
                }
                Field::PerfBeta => {
                    m.perf_parms.beta = f;
                    ("perfParms.beta", fs)
                }
                _ => {
                    m.perf_parms.gamma = f;
                    ("perfParms.gamma", fs)
                }
            };
            format!("models[{n}].{name} = {value}")
        }
        Field::ClassPriority => {
            let (n, c) = row(&mut spec.service_class_data.service_classes, o.row)?;
            c.priority = i;
            format!("serviceClasses[{n}].priority = {is}")
        }
        Field::SloItl | Field::SloTtft | Field::SloTps => {
            let (n, c) = row(&mut spec.service_class_data.service_classes, o.row)?;
            let (m, t) = row(&mut c.model_targets, o.row)?;
            let name = match field {
                Field::SloItl => {
                    t.slo_itl = f;
                    "slo-itl"
                }
                Field::SloTtft => {
                    t.slo_ttft = f;
                    "slo-ttft"
                }
                _ => {
                    t.slo_tps = f;
                    "slo-tps"
                }
            };
            format!("serviceClasses[{n}].modelTargets[{m}].{name} = {fs}")
        }
        _ if field == Field::TimeLimitSeconds => {
            spec.optimizer_data.optimizer.time_limit_seconds = f;
            format!("optimizer.timeLimitSeconds = {fs}")
        }
        _ => {
            let (n, s) = row(&mut spec.server_data.servers, o.row)?;
            let (name, value) = match field {
                Field::MinNumReplicas => {
                    s.min_num_replicas = i;
                    ("minNumReplicas", is)
                }
                Field::ServerMaxBatchSize => {
                    s.max_batch_size = i;
                    ("maxBatchSize", is)
                }
                Field::ServerMaxQueueSize => {
                    s.max_queue_size = i;
                    ("maxQueueSize", is)
                }
                Field::CurrentNumReplicas => {
                    s.current_alloc.num_replicas = i;
                    ("currentAlloc.numReplicas", is)
                }
                Field::CurrentMaxBatch => {
                    s.current_alloc.max_batch = i;
                    ("currentAlloc.maxBatch", is)
                }
                Field::CurrentCost => {
                    s.current_alloc.cost = f;
                    ("currentAlloc.cost", fs)
                }
                Field::ArrivalRate => {
                    s.current_alloc.load.arrival_rate = f;
                    ("currentAlloc.load.arrivalRate", fs)
                }
                Field::AvgInTokens => {
                    s.current_alloc.load.avg_in_tokens = i;
                    ("currentAlloc.load.avgInTokens", is)
                }
                _ => {
                    s.current_alloc.load.avg_out_tokens = i;
                    ("currentAlloc.load.avgOutTokens", is)
                }
            };
            format!("servers[{n}].{name} = {value}")
        }
    })
}

impl Case {
    /// The system with the overrides set, and what they set.
    fn system(&self) -> (SystemSpec, Vec<String>) {
        let mut spec = self.spec.clone();
        let changes = self
            .overrides
            .iter()
            .filter_map(|o| apply(&mut spec, o))
            .collect();
        (spec, changes)
    }

    pub(in crate::fuzz) fn run(&self) -> Result<&'static str, String> {
        let (spec, _) = self.system();
        if self.via_grpc {
            return optimize_one(&spec);
        }
        let Ok(loaded) = inferno_api::check(spec, &FileNames::single("fuzz system")) else {
            return Ok("rejected by validation");
        };
        let Ok(options) = SolveOptions::from_spec(&loaded.spec) else {
            return Ok("rejected by the solver options");
        };
        solve(&loaded.spec, &options);
        for solver in [SolverKind::Greedy, SolverKind::Milp, SolverKind::Lagrangian] {
            let o = SolveOptions {
                solver,
                heterogeneous: options.heterogeneous && solver == SolverKind::Milp,
                time_limit: Some(Duration::from_secs_f64(self.solver_seconds)),
                ..options
            };
            solve(&loaded.spec, &o);
        }
        Ok("solved")
    }

    pub(in crate::fuzz) fn describe(&self) -> String {
        let (spec, changes) = self.system();
        let o = &spec.optimizer_data.optimizer;
        let mut s = format!(
            "{} accelerators, {} capacity rows, {} perf rows, {} classes, {} servers; solver {:?}{}{}, time limit {} s{}",
            spec.accelerator_data.accelerators.len(),
            spec.capacity_data.count.len(),
            spec.model_data.models.len(),
            spec.service_class_data.service_classes.len(),
            spec.server_data.servers.len(),
            o.solver,
            if o.heterogeneous { ", heterogeneous" } else { "" },
            if o.unlimited { ", unlimited" } else { "" },
            show(o.time_limit_seconds),
            if self.via_grpc {
                "; through gRPC OptimizeOne".to_string()
            } else {
                format!("; then each solver with a {} s limit", self.solver_seconds)
            },
        );
        if changes.is_empty() {
            s.push_str("\n  no extreme field");
        }
        for c in changes {
            s.push_str("\n  ");
            s.push_str(&c);
        }
        s
    }

    pub(in crate::fuzz) fn changes(&self) -> Vec<String> {
        let mut c = self.system().1;
        if self.via_grpc {
            c.push("through gRPC".into());
        }
        c
    }

    pub(in crate::fuzz) fn write_repro(&self, dir: &Path) -> std::io::Result<()> {
        let (spec, _) = self.system();
        // JSON has no NaN or infinity (serde writes null); the Debug form keeps them.
        let json = serde_json::to_string_pretty(&SystemData {
            system: spec.clone(),
        })
        .map_err(std::io::Error::other)?;
        std::fs::write(dir.join("system.json"), json)?;
        std::fs::write(dir.join("system.debug.txt"), format!("{spec:#?}\n"))?;
        std::fs::write(
            dir.join("README.txt"),
            format!(
                "{}\n\nsystem.json is the system as `inferno-optimizer solve system.json` reads it (NaN and infinity \
                 become null there; system.debug.txt has the exact values).\n",
                self.describe()
            ),
        )
    }
}

/// The system through the OptimizeOne handler; an INTERNAL (or UNKNOWN) status fails.
fn optimize_one(spec: &SystemSpec) -> Result<&'static str, String> {
    let Ok(system) = v1::SystemSpec::try_from(spec) else {
        // An integer beyond int32: no request can carry it.
        return Ok("not representable as a request");
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("fuzz harness: runtime: {e}"))?;
    let service = OptimizerService::new(false, Arc::new(Metrics::default()));
    let request = tonic::Request::new(v1::SystemData {
        system: Some(system),
    });
    match runtime.block_on(service.optimize_one(request)) {
        Ok(_) => Ok("solved through gRPC"),
        Err(s) if matches!(s.code(), tonic::Code::Internal | tonic::Code::Unknown) => Err(format!(
            "OptimizeOne answered {:?}: {}",
            s.code(),
            s.message()
        )),
        Err(_) => Ok("refused through gRPC"),
    }
}
