//! `make bench`: greedy vs Lagrangian vs MILP when GPUs are scarce.
//!
//! The large sample replicated 100 times (2,700 servers x 21 accelerators, seed 0x5eed, as
//! `inferno-optimizer generate samples/large --copies 100 --seed 24301`), in three settings:
//! - `limited`: the sample's capacities (x 100): every server can be served, capacities bind
//!   on the cheap types; a pure cost problem;
//! - `scarce`: every type the greedy uses when capacities are ignored gets half of what it
//!   uses there; the other types keep the sample's capacity (x 100), so servers must move to
//!   dearer GPUs, and some of the Free class (whose targets only the fast types meet) cannot
//!   be served;
//! - `shortage`: every type gets half of that use and the unused types none, so about a third
//!   of the servers cannot be served and the priorities decide who is.
//!
//! Prints, per solver: cost, objective, proven bound, gap, servers not fully served, solver
//! time (after sizing) and whole-solve time; greedy and Lagrangian as medians over runs, the
//! MILP once with its time limit.
//!
//! `INFERNO_BENCH_MILP_SECONDS` sets the MILP's time limit (default 20);
//! `INFERNO_BENCH_WRITE=PREFIX` writes the generated systems to PREFIX.SETTING.json.

use inferno_api::{load_path, SystemData, SystemSpec};
use inferno_optimizer::synthetic::replicate;
use inferno_optimizer::{solve, Solution, SolveOptions, SolverKind};
use std::path::Path;
use std::time::{Duration, Instant};

/// The system: large x 100 as sampled (`limited`), or with the used types at half the
/// unlimited greedy's use and the unused ones as in the sample (`scarce`) or at none
/// (`shortage`).
fn system(setting: &str) -> SystemSpec {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples");
    let large = load_path(&root.join("large")).expect("large sample").spec;
    let mut spec = replicate(&large, 100, 0x5eed);
    let unlimited = SolveOptions {
        unlimited: true,
        ..SolveOptions::from_spec(&spec).unwrap()
    };
    let need = solve(&spec, &unlimited).usage;
    let shortage = setting == "shortage";
    if setting == "limited" {
        return spec;
    }
    for c in &mut spec.capacity_data.count {
        let used = need.get(&c.acc_type).map_or(0, |u| u.0);
        if used > 0 || shortage {
            c.count = (used / 2) as i64;
        }
    }
    spec
}

fn run(name: &str, spec: &SystemSpec, options: &SolveOptions, runs: usize) {
    let mut solutions: Vec<(Duration, Solution)> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let s = solve(spec, options);
            (start.elapsed(), s)
        })
        .collect();
    solutions.sort_by_key(|s| s.1.report.solver_time);
    let (whole, s) = &solutions[runs / 2];
    let r = &s.report;
    let floor = r.unserved_floor.map_or(String::new(), |f| {
        format!(
            "; priority {}: {} unserved, at least {} for any allocation serving the higher ones",
            f.priority, f.unserved, f.at_least
        )
    });
    println!(
        "{name}: cost {:.0}, objective {:.6e}, bound {:.6e}, gap {:.4}%, {} of {} servers not fully served, status {}, {} iterations; solver {:.1} ms, whole solve {:.1} ms (median of {runs}){floor}",
        s.total_cost(),
        r.objective,
        r.bound,
        r.gap * 100.0,
        r.not_fully_served,
        spec.server_data.servers.len(),
        r.status,
        r.iterations,
        r.solver_time.as_secs_f64() * 1e3,
        whole.as_secs_f64() * 1e3,
    );
}

fn main() {
    for setting in ["limited", "scarce", "shortage"] {
        let spec = system(setting);
        if let Ok(path) = std::env::var("INFERNO_BENCH_WRITE") {
            let text = serde_json::to_string(&SystemData {
                system: spec.clone(),
            })
            .unwrap();
            std::fs::write(format!("{path}.{setting}.json"), text).expect("write system");
        }
        bench(setting, &spec);
    }
}

fn bench(setting: &str, spec: &SystemSpec) {
    let spec = spec.clone();
    let base = SolveOptions::from_spec(&spec).unwrap();
    run(&format!("{setting}/greedy"), &spec, &base, 5);
    let lagrangian = SolveOptions {
        solver: SolverKind::Lagrangian,
        time_limit: Some(Duration::from_secs(1)),
        ..base
    };
    run(&format!("{setting}/lagrangian"), &spec, &lagrangian, 5);
    let seconds: f64 = std::env::var("INFERNO_BENCH_MILP_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20.0);
    let milp = SolveOptions {
        solver: SolverKind::Milp,
        time_limit: Some(Duration::from_secs_f64(seconds)),
        ..base
    };
    run(&format!("{setting}/milp-{seconds}s"), &spec, &milp, 1);
}
