//! The MILP and Lagrangian solvers on whole systems: against the greedy and each other on
//! seeded capacity-limited systems, priorities, heterogeneous placements, minimum replicas,
//! kept accelerators, the transition penalty, time limits and best effort.

use super::solver_cases::single;
use super::solver_vectors::{options, sample};
use inferno_api::*;
use inferno_optimizer::synthetic::{replicate, Rng};
use inferno_optimizer::{solve, SaturationPolicy, Solution, SolveOptions, SolverKind};
use std::collections::BTreeMap;
use std::time::Duration;

fn with(spec: &SystemSpec, solver: SolverKind, policy: SaturationPolicy) -> SolveOptions {
    SolveOptions {
        solver,
        policy,
        time_limit: Some(Duration::from_secs(120)),
        ..options(spec)
    }
}

/// Units per type a solution takes, from its placements (and their parts).
fn usage(spec: &SystemSpec, s: &Solution) -> BTreeMap<String, u64> {
    let types: BTreeMap<&str, (&str, u64)> = spec
        .accelerator_data
        .accelerators
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                (a.acc_type.as_str(), a.multiplicity.max(1) as u64),
            )
        })
        .collect();
    let mut used = BTreeMap::new();
    for p in s.placements.values() {
        if p.parts.is_empty() {
            *used.entry(p.accelerator_type.clone()).or_insert(0) += p.units;
        }
        for part in &p.parts {
            assert_eq!(types[part.accelerator.as_str()].0, part.accelerator_type);
            *used.entry(part.accelerator_type.clone()).or_insert(0) += part.units;
        }
    }
    used
}

fn assert_fits(spec: &SystemSpec, s: &Solution, what: &str) {
    let cap: BTreeMap<&str, i64> = spec
        .capacity_data
        .count
        .iter()
        .map(|c| (c.acc_type.as_str(), c.count))
        .collect();
    for (t, u) in usage(spec, s) {
        let c = cap.get(t.as_str()).copied().unwrap_or(0);
        assert!(u as i64 <= c, "{what}: {t} uses {u} of {c}");
    }
}

/// The large sample x `copies` with each capacity scaled by a seeded factor in [lo, hi).
pub(crate) fn squeezed(copies: usize, seed: u64, lo: f64, hi: f64) -> SystemSpec {
    let mut spec = replicate(&sample("large"), copies, seed);
    let mut rng = Rng::new(seed ^ 0xabc);
    for c in &mut spec.capacity_data.count {
        c.count = (c.count as f64 * rng.range(lo, hi)) as i64;
    }
    spec
}

/// 216 servers, capacities at 30-90% of the sample's.
fn limited(seed: u64) -> SystemSpec {
    squeezed(8, seed, 0.3, 0.9)
}

fn limited_by(spec: &SystemSpec, solver: SolverKind, seconds: u64) -> Solution {
    let opts = SolveOptions {
        time_limit: Some(Duration::from_secs(seconds)),
        ..with(spec, solver, SaturationPolicy::None)
    };
    solve(spec, &opts)
}

#[test]
fn on_a_few_hundred_servers_the_exact_solvers_never_lose_to_the_greedy() {
    let mut served_all = 0;
    // Seeds of the xoshiro generator (synthetic.rs). Like the xorshift seeds before them, they
    // are instances the MILP closes within 10 s: of seeds 1-10, the old generator's 1, 2, 6, 9,
    // 10 and the new one's 4, 5, 8 (and 3, which leaves servers unserved) do; the others stop at
    // the time limit with a 2-3% gap, which says nothing about the claims below.
    for seed in 3..=5 {
        let spec = limited(seed);
        assert_eq!(spec.server_data.servers.len(), 216);
        let greedy = limited_by(&spec, SolverKind::Greedy, 1);
        let lagr = limited_by(&spec, SolverKind::Lagrangian, 5);
        let milp = limited_by(&spec, SolverKind::Milp, 10);
        let (g, l, m) = (&greedy.report, &lagr.report, &milp.report);
        assert_eq!(
            (g.solver, l.solver, m.solver),
            ("greedy", "lagrangian", "milp")
        );
        let tol = 1e-9 * g.objective.abs().max(1.0);
        assert!(
            m.objective <= g.objective + tol,
            "seed {seed}: {m:?} vs {g:?}"
        );
        assert!(
            l.objective <= g.objective + tol,
            "seed {seed}: {l:?} vs {g:?}"
        );
        // (The MILP is not compared with this Lagrangian run: it starts from its own, shorter
        // one. The next test compares both with a proven optimum.)
        // Every bound is below every allocation's objective.
        for bound in [g.bound, l.bound, m.bound] {
            assert!(bound <= m.objective + tol, "seed {seed}: {bound} vs {m:?}");
        }
        // Where everyone is served the gap is a cost gap, and small (0.1% on an idle machine;
        // 1% leaves room for a loaded one, where the time limit buys fewer iterations).
        if m.not_fully_served == 0 {
            assert!(m.gap < 0.01, "seed {seed}: {m:?}");
            served_all += 1;
        }
        for (name, s) in [("greedy", &greedy), ("lagrangian", &lagr), ("milp", &milp)] {
            assert_fits(&spec, s, &format!("seed {seed} {name}"));
        }
        // Every server the MILP serves is placed with the replicas its targets need.
        for p in milp.placements.values() {
            assert!(!p.best_effort && p.allocation.num_replicas as u64 == p.required_replicas);
        }
    }
    assert!(served_all > 0, "no seed exercised the cost gap");
}

#[test]
fn the_lagrangian_bound_is_below_the_proven_milp_optimum_and_its_cost_above() {
    // Capacities that bind but let every server be served: the count stages of the MILP
    // (which servers to leave out) are hard knapsacks; the cost stage is what is proven here.
    // src/alloc/tests.rs proves optima with unserved servers on smaller problems.
    // Seeds whose MILP proves optimal in seconds (of 1-10 with the xoshiro generator, 1 and 6
    // need 40-60 s; with the old xorshift one, 7 and 8 did).
    for seed in 2..=5 {
        let spec = squeezed(2, seed, 0.5, 0.9);
        let lagr = limited_by(&spec, SolverKind::Lagrangian, 5);
        let milp = limited_by(&spec, SolverKind::Milp, 60);
        let (l, m) = (&lagr.report, &milp.report);
        assert_eq!(m.status, "optimal", "seed {seed}: {m:?}");
        let tol = 1e-9 * m.objective.abs().max(1.0);
        assert!(l.bound <= m.objective + tol, "seed {seed}: {l:?} vs {m:?}");
        assert!(
            m.objective <= l.objective + tol,
            "seed {seed}: {l:?} vs {m:?}"
        );
    }
}

/// One H100 type with 8 cards; Premium (priority 1) and Bronze (priority 2) servers of one
/// model, Premium needing 6 replicas, Bronze 3: only one fits, and Bronze is cheaper.
fn two_classes() -> SystemSpec {
    let mut spec = single(20.0, 0.04, 0.001, 1.0, 6);
    let mut bronze_class = spec.service_class_data.service_classes[0].clone();
    (bronze_class.name, bronze_class.priority) = ("Bronze".into(), 2);
    spec.service_class_data.service_classes.push(bronze_class);
    let premium = &mut spec.server_data.servers[0];
    premium.name = "premium".into();
    let mut bronze = premium.clone();
    (bronze.name, bronze.class, bronze.min_num_replicas) = ("bronze".into(), "Bronze".into(), 3);
    // Bronze first in the file: order must not decide.
    spec.server_data.servers.insert(0, bronze);
    spec
}

#[test]
fn a_scarce_gpu_goes_to_the_higher_class_first() {
    let spec = two_classes();
    for solver in [SolverKind::Greedy, SolverKind::Milp, SolverKind::Lagrangian] {
        let s = solve(&spec, &with(&spec, solver, SaturationPolicy::None));
        assert_eq!(
            s.placements["premium"].allocation.num_replicas, 6,
            "{solver:?}"
        );
        assert!(!s.placements.contains_key("bronze"), "{solver:?}");
        assert_eq!(s.unplaced.len(), 1);
        let floor = s.report.unserved_floor.expect("a server is left unserved");
        assert_eq!((floor.priority, floor.unserved, floor.at_least), (2, 1, 1));
    }
}

#[test]
fn best_effort_follows_the_exact_solvers() {
    let spec = two_classes();
    for solver in [SolverKind::Milp, SolverKind::Lagrangian] {
        let s = solve(
            &spec,
            &with(&spec, solver, SaturationPolicy::PriorityExhaustive),
        );
        let bronze = &s.placements["bronze"];
        assert!(bronze.best_effort && bronze.allocation.num_replicas == 2);
        assert_fits(&spec, &s, "best effort");
    }
}

/// Two types with 4 cards each and a server (3.6 req/s) that needs 5 H100 or 6 A100 replicas.
fn split() -> SystemSpec {
    let mut spec = two_classes();
    spec.server_data.servers.retain(|s| s.name == "premium");
    spec.accelerator_data.accelerators.push(AcceleratorSpec {
        name: "A100".into(),
        acc_type: "A100".into(),
        multiplicity: 1,
        cost: 40.0,
        ..Default::default()
    });
    let mut perf = spec.model_data.models[0].clone();
    perf.acc = "A100".into();
    perf.perf_parms.alpha = 30.0;
    spec.model_data.models.push(perf);
    spec.capacity_data.count = vec![
        AcceleratorCount {
            acc_type: "H100".into(),
            count: 4,
        },
        AcceleratorCount {
            acc_type: "A100".into(),
            count: 4,
        },
    ];
    spec.server_data.servers[0].min_num_replicas = 0;
    spec.server_data.servers[0].current_alloc.load.arrival_rate = 60.0 * 3.6;
    spec
}

#[test]
fn heterogeneous_serves_a_server_no_single_type_can_and_reports_each_part() {
    let spec = split();
    let single = solve(
        &spec,
        &with(&spec, SolverKind::Milp, SaturationPolicy::None),
    );
    assert!(single.placements.is_empty(), "{:?}", single.placements);
    let opts = SolveOptions {
        heterogeneous: true,
        ..with(&spec, SolverKind::Milp, SaturationPolicy::None)
    };
    let s = solve(&spec, &opts);
    let p = &s.placements["premium"];
    assert_eq!(p.parts.len(), 2, "{p:?}");
    assert_eq!(s.report.status, "optimal");
    let demand = p.demand;
    let carried: f64 = p
        .parts
        .iter()
        .map(|x| x.rate_per_replica * x.replicas as f64)
        .sum();
    assert!(
        (carried - demand).abs() < 1e-9 * demand,
        "{carried} vs {demand}"
    );
    for part in &p.parts {
        assert!(part.itl <= 100.0 && part.ttft <= 2000.0, "{part:?}");
        assert!(part.rho > 0.0 && part.rho <= 1.0);
    }
    let total: u64 = p.parts.iter().map(|x| x.replicas).sum();
    assert_eq!(p.allocation.num_replicas as u64, total);
    assert!((p.allocation.cost - p.parts.iter().map(|x| x.cost).sum::<f64>()).abs() < 1e-9);
    assert_fits(&spec, &s, "heterogeneous");
}

#[test]
fn minimum_replicas_and_kept_accelerators_hold_in_the_exact_solvers() {
    let mut spec = limited(11);
    let (kept, minimum) = (0, 1);
    {
        let servers = &mut spec.server_data.servers;
        servers[kept].keep_accelerator = true;
        servers[kept].current_alloc.accelerator = "MI250".into();
        servers[minimum].min_num_replicas = 40;
    }
    let kept_name = spec.server_data.servers[kept].name.clone();
    let min_name = spec.server_data.servers[minimum].name.clone();
    for solver in [SolverKind::Milp, SolverKind::Lagrangian] {
        for heterogeneous in [false, true] {
            if heterogeneous && solver == SolverKind::Lagrangian {
                continue;
            }
            let opts = SolveOptions {
                heterogeneous,
                time_limit: Some(Duration::from_secs(20)),
                ..with(&spec, solver, SaturationPolicy::None)
            };
            let s = solve(&spec, &opts);
            let what = format!("{solver:?} heterogeneous {heterogeneous}");
            if let Some(p) = s.placements.get(&kept_name) {
                assert_eq!(p.allocation.accelerator, "MI250", "{what}");
                assert!(p.parts.iter().all(|x| x.accelerator == "MI250"), "{what}");
            }
            let p = &s.placements[&min_name];
            assert!(p.allocation.num_replicas >= 40, "{what}: {p:?}");
            assert_fits(&spec, &s, &what);
        }
    }
}

#[test]
fn the_transition_penalty_keeps_a_server_on_an_equally_priced_accelerator() {
    let mut spec = two_classes();
    spec.server_data.servers.retain(|s| s.name == "bronze");
    let mut twin = spec.accelerator_data.accelerators[0].clone();
    twin.name = "H100-b".into();
    spec.accelerator_data.accelerators.push(twin);
    let mut perf = spec.model_data.models[0].clone();
    perf.acc = "H100-b".into();
    spec.model_data.models.push(perf);
    for current in ["H100", "H100-b"] {
        let server = &mut spec.server_data.servers[0];
        server.current_alloc.accelerator = current.into();
        server.current_alloc.num_replicas = 3;
        server.current_alloc.cost = 225.0;
        for solver in [SolverKind::Milp, SolverKind::Lagrangian] {
            let s = solve(&spec, &with(&spec, solver, SaturationPolicy::None));
            assert_eq!(s.placements["bronze"].allocation.accelerator, current);
            assert_eq!(s.report.objective, 0.0, "staying costs nothing more");
        }
    }
}

#[test]
fn a_time_limit_returns_the_best_allocation_found() {
    let spec = limited(5);
    let opts = SolveOptions {
        time_limit: Some(Duration::from_millis(1)),
        ..with(&spec, SolverKind::Milp, SaturationPolicy::None)
    };
    let s = solve(&spec, &opts);
    assert_eq!(s.report.status, "time limit");
    assert!(!s.placements.is_empty());
    assert!(s.report.bound <= s.report.objective);
    assert_fits(&spec, &s, "time limit");
}

#[test]
fn solver_fields_of_the_optimizer_data() {
    let mut spec = sample("small");
    let o = &mut spec.optimizer_data.optimizer;
    o.milp_solver = true;
    assert_eq!(
        SolveOptions::from_spec(&spec).unwrap().solver,
        SolverKind::Milp
    );
    let o = &mut spec.optimizer_data.optimizer;
    o.milp_solver = false;
    o.heterogeneous = true;
    let parsed = SolveOptions::from_spec(&spec).unwrap();
    assert!(parsed.heterogeneous && parsed.solver == SolverKind::Milp);
    let o = &mut spec.optimizer_data.optimizer;
    o.solver = "Lagrangian".into();
    let e = SolveOptions::from_spec(&spec).unwrap_err();
    assert!(e.contains("optimizer.heterogeneous"), "{e}");
    let o = &mut spec.optimizer_data.optimizer;
    o.heterogeneous = false;
    o.time_limit_seconds = 2.5;
    let parsed = SolveOptions::from_spec(&spec).unwrap();
    assert_eq!(parsed.solver, SolverKind::Lagrangian);
    assert_eq!(parsed.time_limit, Some(Duration::from_millis(2500)));
    let o = &mut spec.optimizer_data.optimizer;
    o.time_limit_seconds = -1.0;
    let e = SolveOptions::from_spec(&spec).unwrap_err();
    assert!(e.contains("optimizer.timeLimitSeconds"), "{e}");
    let o = &mut spec.optimizer_data.optimizer;
    o.time_limit_seconds = 0.0;
    o.solver = "simplex".into();
    let e = SolveOptions::from_spec(&spec).unwrap_err();
    assert!(
        e.contains("optimizer.solver") && e.contains("simplex"),
        "{e}"
    );
    let o = &mut spec.optimizer_data.optimizer;
    o.solver = "lagrangian".into();
    o.milp_solver = true;
    let e = SolveOptions::from_spec(&spec).unwrap_err();
    assert!(e.contains("milpSolver"), "{e}");
}
