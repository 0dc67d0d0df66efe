//! The solvers on the spec's MILP demo data (6.11), on tiny problems against enumeration and on
//! seeded random problems against each other.

use super::*;
use crate::synthetic::Rng;

/// Spec 6.11: 5 servers x 8 accelerators, one type per accelerator.
fn demo(limited: bool) -> Problem {
    let cost = [0.5, 1.0, 1.2, 2.3, 2.7, 5.6, 7.0, 10.0];
    let instances = [
        [3, 2, 2, 2, 1, 1, 1, 1],
        [4, 3, 3, 2, 2, 1, 1, 1],
        [5, 4, 3, 2, 2, 2, 1, 1],
        [5, 4, 3, 3, 2, 2, 2, 2],
        [6, 5, 4, 4, 3, 3, 2, 2],
    ];
    let rate = [0.1, 0.2, 0.4, 0.6, 0.9, 1.4, 2.0, 3.2];
    let arrival = [10.0, 20.0, 30.0, 40.0, 50.0];
    let units = [512, 256, 192, 128, 98, 64, 48, 32];
    Problem {
        capacity: units.iter().map(|&u| limited.then_some(u)).collect(),
        servers: (0..5)
            .map(|i| Server {
                level: 0,
                demand: arrival[i],
                min_replicas: 0,
                choices: (0..8)
                    .map(|j| {
                        // The quotients are exact in decimal; f64 division can land a hair
                        // above an integer.
                        let replicas = (arrival[i] / rate[j] - 1e-9).ceil() as u64;
                        let per_replica = instances[i][j] as f64 * cost[j];
                        Choice {
                            ty: j,
                            replicas,
                            units_per_replica: instances[i][j],
                            value: per_replica * replicas as f64,
                            value_per_replica: per_replica,
                            rate_per_replica: rate[j],
                        }
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn chosen(a: &Assignment) -> Vec<usize> {
    a.iter().map(|parts| parts[0].0).collect()
}

#[test]
fn demo_single_unlimited_is_765_4() {
    let p = demo(false);
    let out = milp(&p, false, None, None);
    assert!((out.objective - 765.4).abs() < 1e-6, "{}", out.objective);
    assert_eq!(out.status, Status::Optimal);
    let c = chosen(&out.assignment);
    assert!(
        c[0] == 4 && (c[1] == 6 || c[1] == 7) && c[2..] == [7, 4, 7],
        "{c:?}"
    );
}

#[test]
fn demo_single_limited_is_773_0_with_the_unique_choice() {
    let p = demo(true);
    for out in [
        milp(&p, false, None, None),
        lagrangian(&p, &LagrangeOptions::default(), None),
    ] {
        assert!((out.objective - 773.0).abs() < 1e-6, "{out:?}");
        assert_eq!(chosen(&out.assignment), [6, 6, 6, 4, 7]);
        let used = p.usage(&out.assignment);
        assert_eq!((used[4], used[6], used[7]), (90, 30, 32));
        assert!(out.bound <= 773.0 + 1e-6);
    }
}

#[test]
fn demo_multi_unlimited_is_747_0_and_limited_760_5() {
    for (limited, want) in [(false, 747.0), (true, 760.5)] {
        let p = demo(limited);
        let out = milp(&p, true, None, None);
        assert!((out.objective - want).abs() < 1e-6, "{limited}: {out:?}");
        assert_eq!(out.status, Status::Optimal);
        assert!(p.feasible(&out.assignment, true));
        // Heterogeneous replicas never cost more than one kind per server.
        let single = milp(&p, false, None, None);
        assert!(out.objective <= single.objective + 1e-9);
    }
}

/// A random problem: `servers` servers over `levels` levels, 21 choices on 6 types, each type
/// limited to `tightness` of what every server's cheapest choice would take.
fn random(seed: u64, servers: usize, levels: usize, tightness: f64) -> Problem {
    let mut rng = Rng::new(seed);
    let types = 6;
    let unit_cost: Vec<f64> = (0..21).map(|_| rng.range(5.0, 60.0)).collect();
    let mut need = vec![0u64; types];
    let servers: Vec<Server> = (0..servers)
        .map(|_| {
            let demand = rng.range(0.5, 30.0);
            let level = (rng.next_f64() * levels as f64) as usize;
            let present: Vec<usize> = (0..21).filter(|_| rng.next_f64() < 0.7).collect();
            let choices: Vec<Choice> = present
                .into_iter()
                .map(|j| {
                    let rate = rng.range(0.3, 4.0);
                    let units_per_replica = 1 + (rng.next_f64() * 4.0) as u64;
                    let replicas = (demand / rate).ceil() as u64;
                    let per_replica = unit_cost[j] * units_per_replica as f64;
                    Choice {
                        ty: j % types,
                        replicas,
                        units_per_replica,
                        value: per_replica * replicas as f64,
                        value_per_replica: per_replica,
                        rate_per_replica: rate,
                    }
                })
                .collect();
            if let Some(c) = choices.iter().min_by(|a, b| a.value.total_cmp(&b.value)) {
                need[c.ty] += c.units();
            }
            Server {
                level,
                demand,
                min_replicas: 0,
                choices,
            }
        })
        .collect();
    Problem {
        capacity: need
            .iter()
            .map(|&n| Some((n as f64 * tightness) as u64))
            .collect(),
        servers,
    }
}

/// Every assignment of a tiny single-mode problem.
fn enumerate(p: &Problem) -> f64 {
    let penalties = p.penalties(false);
    let mut best = f64::INFINITY;
    let mut pick = vec![0usize; p.servers.len()];
    loop {
        let a: Assignment = p
            .servers
            .iter()
            .zip(&pick)
            .map(|(s, &k)| {
                if k == 0 {
                    Vec::new()
                } else {
                    vec![(k - 1, s.choices[k - 1].replicas)]
                }
            })
            .collect();
        if p.feasible(&a, false) {
            best = best.min(p.objective(&a, false, &penalties));
        }
        let mut i = 0;
        loop {
            if i == pick.len() {
                return best;
            }
            pick[i] += 1;
            if pick[i] <= p.servers[i].choices.len() {
                break;
            }
            pick[i] = 0;
            i += 1;
        }
    }
}

#[test]
fn milp_matches_enumeration_on_tiny_problems() {
    for seed in 1..=30 {
        let mut p = random(seed, 6, 2, 0.6);
        for s in &mut p.servers {
            s.choices.truncate(3);
        }
        let out = milp(&p, false, None, None);
        let want = enumerate(&p);
        assert!(
            (out.objective - want).abs() <= 1e-6 * want.abs().max(1.0),
            "seed {seed}: milp {} enumeration {want}",
            out.objective
        );
        assert_eq!(out.status, Status::Optimal);
    }
}

#[test]
fn bound_never_exceeds_the_milp_optimum_nor_the_optimum_the_lagrangian_cost() {
    for seed in 1..=6 {
        let levels = 1 + (seed as usize % 2);
        let p = random(seed, 120, levels, 0.75);
        let exact = milp(&p, false, None, None);
        assert_eq!(exact.status, Status::Optimal, "seed {seed}");
        let lagr = lagrangian(&p, &LagrangeOptions::default(), None);
        let tol = 1e-9 * exact.objective.abs().max(1.0);
        assert!(p.feasible(&lagr.assignment, false), "seed {seed}");
        assert!(
            lagr.bound <= exact.objective + tol,
            "seed {seed}: {} > {}",
            lagr.bound,
            exact.objective
        );
        assert!(exact.objective <= lagr.objective + tol, "seed {seed}");
        assert!(exact.bound <= exact.objective + tol);
    }
}

#[test]
fn a_scarce_type_goes_to_the_higher_level_even_when_it_costs_more() {
    let choice = |value: f64| Choice {
        ty: 0,
        replicas: 2,
        units_per_replica: 1,
        value,
        value_per_replica: value / 2.0,
        rate_per_replica: 1.0,
    };
    let p = Problem {
        capacity: vec![Some(2)],
        servers: vec![
            Server {
                level: 1,
                demand: 2.0,
                min_replicas: 0,
                choices: vec![choice(10.0)],
            },
            Server {
                level: 0,
                demand: 2.0,
                min_replicas: 0,
                choices: vec![choice(90.0)],
            },
        ],
    };
    for multi in [false, true] {
        let out = milp(&p, multi, None, None);
        assert!(out.assignment[0].is_empty() && !out.assignment[1].is_empty());
    }
    let out = lagrangian(&p, &LagrangeOptions::default(), None);
    assert!(out.assignment[0].is_empty() && !out.assignment[1].is_empty());
}

#[test]
fn a_time_limit_returns_the_start_or_better_with_a_valid_bound() {
    let p = random(77, 300, 2, 0.6);
    let lagr = lagrangian(&p, &LagrangeOptions::default(), None);
    let past = Some(std::time::Instant::now());
    let out = milp(&p, false, past, Some(&lagr.assignment));
    assert_eq!(out.status, Status::TimeLimit);
    assert!(out.objective <= lagr.objective);
    assert!(out.bound <= out.objective);
    assert!(p.feasible(&out.assignment, false));
}

#[test]
fn a_bound_cut_short_stays_below_the_optimum_even_with_negative_values() {
    for seed in 1..=5 {
        // Negative values (allocations cheaper than the current one), and room for everyone,
        // so that the optimum is all values and no penalty.
        let mut p = random(seed, 40, 2, 3.0);
        for c in p.servers.iter_mut().flat_map(|s| s.choices.iter_mut()) {
            c.value -= 150.0;
        }
        let exact = milp(&p, false, None, None);
        assert_eq!(exact.status, Status::Optimal);
        let past = Some(std::time::Instant::now());
        let cut = milp(&p, false, past, None);
        assert_eq!(cut.status, Status::TimeLimit);
        assert!(
            cut.bound <= exact.objective + 1e-9 * exact.objective.abs(),
            "seed {seed}: {} > {}",
            cut.bound,
            exact.objective
        );
        assert!(p.feasible(&cut.assignment, false));
    }
}

/// Issue 16: a raised cancellation flag stops both solvers at once, with a feasible allocation
/// (the start, if any) and a valid bound, however long they were given.
#[test]
fn a_cancelled_solve_stops_with_the_start() {
    let p = random(77, 300, 2, 0.6);
    let lagr = lagrangian(&p, &LagrangeOptions::default(), None);
    let cancel = crate::cancel::Cancel::new();
    cancel.cancel();
    let out = milp_cancellable(&p, false, None, Some(&lagr.assignment), &cancel);
    assert_eq!(out.status, Status::Cancelled);
    assert_eq!(out.assignment, lagr.assignment);
    assert!(out.bound <= out.objective);
    let options = LagrangeOptions {
        cancel,
        ..LagrangeOptions::default()
    };
    let out = lagrangian(&p, &options, Some(&lagr.assignment));
    assert_eq!(out.status, Status::Cancelled);
    assert!(out.iterations <= 1, "{}", out.iterations);
    assert!(p.feasible(&out.assignment, false));
}

/// The dual's passes run on every core in chunks: the bound, the Lagrangian's answer and its
/// prices must be the same bits on one thread as on several, and a problem built from parts
/// ([`Flat::extend`], as the greedy's report builds its bound) must be the problem built whole.
#[test]
fn the_dual_is_the_same_on_one_thread_as_on_several() {
    // Enough servers for many chunks and for the parallel bisection steps.
    let p = random(91, 5000, 2, 0.6);
    let penalties = p.penalties(false);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let out = lagrangian(
                &p,
                &LagrangeOptions {
                    max_iterations: 40,
                    neighbourhood_nodes: Some(0),
                    ..LagrangeOptions::default()
                },
                None,
            );
            let bound = dual_bound(&Flat::of(&p), &out.prices, &penalties, 2);
            (
                out.assignment,
                out.objective.to_bits(),
                out.prices,
                bound.to_bits(),
            )
        })
    };
    let one = run(1);
    assert_eq!(one, run(2));
    assert_eq!(one, run(3));
    assert!(f64::from_bits(one.3) <= f64::from_bits(one.1));

    let (head, tail) = p.servers.split_at(1234);
    let mut joined = Flat::of(&Problem {
        capacity: p.capacity.clone(),
        servers: head.to_vec(),
    });
    joined.extend(Flat::of(&Problem {
        capacity: p.capacity.clone(),
        servers: tail.to_vec(),
    }));
    let whole = dual_bound(&Flat::of(&p), &one.2, &penalties, 1);
    assert_eq!(
        whole.to_bits(),
        dual_bound(&joined, &one.2, &penalties, 1).to_bits()
    );
}

/// A caller that wants prices only stops the steps once the bound stalls: fewer iterations
/// than its budget, a bound no better than the full run's (the steps it skipped could only
/// have raised it) and still below every feasible allocation.
#[test]
fn a_stalled_bound_stops_the_steps() {
    let p = random(5, 600, 2, 0.7);
    let options = |stall| LagrangeOptions {
        max_iterations: 600,
        gap_target: 0.0,
        polish_rounds: 0,
        neighbourhood_nodes: Some(0),
        stall_iterations: stall,
        ..LagrangeOptions::default()
    };
    let full = lagrangian(&p, &options(None), None);
    let short = lagrangian(&p, &options(Some(20)), None);
    assert!(
        short.iterations < full.iterations,
        "{} {}",
        short.iterations,
        full.iterations
    );
    assert!(short.bound <= full.bound);
    assert!(short.bound <= full.objective && short.bound <= short.objective);
    assert_eq!(
        short.iterations,
        lagrangian(&p, &options(Some(20)), None).iterations
    );
}
