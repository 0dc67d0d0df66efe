//! The default answer when capacities bind: the reference's greedy, improved with prices per
//! unit of each accelerator type (docs/solvers.md 1.6).
//!
//! The greedy serves servers by priority and regret, each on its cheapest candidate that
//! still fits, without looking at who else needs that type: under scarcity it hands a scarce
//! type to servers that had other options, or that use it inefficiently, and leaves unserved
//! those that had none. The Lagrangian prices of the capacity rows (docs/solvers.md 1.5) say
//! what a unit of each type is worth; at those prices each server's priced value
//! (value + price x units) ranks its candidates by what they cost everyone else.
//!
//! 1. **Prices from a sample.** The Lagrangian runs, within the iteration budget, on a seeded
//!    sample of the servers with the capacities scaled to the sample, every candidate of the
//!    sampled servers sized. Prices are per unit, so a representative sample prices the whole
//!    system. A system no larger than the sample is its own: every candidate sized, no sample.
//! 2. **The candidates that matter at those prices** are sized, in parallel: for each server,
//!    every unsized accelerator whose closed-form bounds (least value, least units:
//!    [`crate::candidate::ServerContext::bounds`]) priced could beat its best sized priced
//!    value. After that, each server's best priced value over the sized candidates is its best
//!    over all of them.
//! 3. **The Lagrangian** on the problem over the sized candidates, starting from the sample's
//!    prices: repairs, an exact re-solve of the least settled servers within a node budget,
//!    local search. It keeps the best allocation it sees: on a system no larger than the
//!    sample the greedy's is its start, so the default is never worse than the reference's
//!    greedy; on a larger one it starts from the prices alone (the greedy's fallbacks, sized
//!    one server at a time, would cost more than all the rest: docs/solvers.md 1.6).
//! 4. **Whoever is left** walks down its candidates as the greedy does, on what is left.
//! 5. **The bound**: the Lagrangian dual at its prices over every candidate, the unsized ones
//!    by their bounds, after one coordinate sweep: a proven bound on the whole problem.
//!
//! Every limit here counts steps, never the clock: the same input and budget give the same
//! answer.

use super::exact::{floor, SolveReport};
use super::greedy::{unplaced, Greedy};
use super::{placement, Entry, Solution};
use crate::alloc::{self, Assignment, Choice, LagrangeOptions, Problem};
use crate::candidate::Candidate;
use crate::synthetic::Rng;
use crate::system::System;
use rayon::prelude::*;
use std::time::Duration;

/// Servers in the pricing sample at most.
const SAMPLE: usize = 2000;
/// Seed of the sample (fixed: the same input gives the same sample).
const SAMPLE_SEED: u64 = 0x1f_2021;
/// Lagrangian iterations for the prices of the reference greedy's bound.
const REPORT_ITERATIONS: u64 = 100;
/// Coordinate sweeps of the prices for the report's bound.
const BOUND_SWEEPS: u32 = 1;
/// Branch-and-bound nodes per stage of the exact re-solve of the least settled servers.
const NEIGHBOURHOOD_NODES: u64 = 1000;
/// Iterations without a better bound after which the prices are taken as they are (two of
/// the Lagrangian's patience spans: one return to the best prices with a fresh sweep, and as
/// long again from there). On the 27,000-server system as generated the sample's bound is
/// best after its first sweeps and the 200 iterations after them moved nothing but the time.
const STALL: u64 = 50;
/// Server-iterations of the Lagrangian on the whole problem (its iterations times its
/// servers) the improvement spends at most, beyond 30% of the budget: the whole budget up to
/// 5,000 servers, 30% of it from 16,700. Where the greedy's start is missing (a system larger
/// than the sample) the answer comes from the repairs of these iterations (every 25 and at the
/// last): on 2,700 servers a quarter of the budget left 29 servers unserved where the whole
/// left 22, and on four 27,000-server systems 60 iterations served 0-150 more than 50, and
/// the servers the reference's greedy also serves cost 0.7-6% less.
const WHOLE_WORK: u64 = 1_000_000;
/// Local-search passes on the priced allocation.
const POLISH_ROUNDS: usize = 10;

/// The problem over the candidates sized, with each problem server's entry and the class
/// priority of each level. A server's choices are its entry's sized candidates, in the
/// stream's order ([`column`]).
struct Restricted {
    problem: Problem,
    entry: Vec<usize>,
    priorities: Vec<i64>,
}

/// Improves on `start` (per entry, the accelerator the greedy placed it on fully; all None on
/// a system larger than the sample, where the greedy does not run) with a Lagrangian budget
/// of `budget` iterations, places the result in `solution` (with best
/// effort for whoever is still unserved) and returns the report.
pub(crate) fn improve<'a>(
    greedy: &Greedy<'_, 'a>,
    entries: &mut [Entry<'a>],
    start: &[Option<usize>],
    budget: u64,
    available: &mut [u64],
    solution: &mut Solution,
) -> SolveReport {
    let (system, cache) = (greedy.system, greedy.cache);
    let (sample, sample_iterations) = columns(greedy, entries, budget);
    let r = restricted(system, entries);
    let penalties = r.problem.penalties_over(span(system, entries, &r));
    let from_greedy: Assignment = r
        .entry
        .iter()
        .map(|&i| {
            start[i]
                .and_then(|acc| entries[i].stream.sized().position(|c| c.acc == acc))
                .map(|c| vec![(c, column(entries, i, c).replicas)])
                .unwrap_or_default()
        })
        .collect();
    // The bound over every candidate needs only the prices: it runs beside the local search.
    let (out, whole) = alloc::lagrangian_with(
        &r.problem,
        &LagrangeOptions {
            // With prices from the sample, fewer iterations refine them on a large system.
            max_iterations: whole_iterations(budget, r.problem.servers.len()),
            // Local search is worth more passes where a pass is cheap.
            polish_rounds: if sample.is_some() { 2 } else { POLISH_ROUNDS },
            neighbourhood_nodes: Some(NEIGHBOURHOOD_NODES),
            penalties: Some(penalties.clone()),
            prices: sample.clone(),
            cancel: cache.cancel().clone(),
            ..LagrangeOptions::default()
        },
        Some(&from_greedy),
        |prices| whole_bound(system, entries, &r, &[prices], &penalties),
    );
    let iterations = sample_iterations + out.iterations;
    // The refined prices: the sample's are where they started.
    let (assignment, objective) = (out.assignment, out.objective);
    let bound = whole.min(objective);
    let unserved = r.problem.unserved(&assignment);

    let mut left = Vec::new();
    for (k, parts) in assignment.iter().enumerate() {
        let i = r.entry[k];
        let Some(&(c, _)) = parts.first() else {
            left.push(i);
            continue;
        };
        let c = column(entries, i, c);
        let t = system.accelerators[c.acc].type_index;
        available[t] = available[t].saturating_sub(c.units());
        let p = placement(system, &entries[i].ctx, c, c.replicas);
        solution.placements.insert(p.server.clone(), p);
    }
    for (i, e) in entries.iter().enumerate() {
        if e.stream.taken.is_empty() {
            left.push(i);
        }
    }
    // Whoever the prices left out may still fit on a candidate never sized: the greedy's
    // walk down their candidates, on what is left, before best effort.
    left.sort_by_key(|&i| (entries[i].ctx.priority, i));
    let left = greedy.place(entries, &left, available, solution);
    for i in greedy.best_effort(entries, left, available, solution) {
        solution
            .unplaced
            .push(unplaced(system, &entries[i], available));
    }
    report(&r, &penalties, &unserved, objective, bound, iterations)
}

/// Sizes the candidates the prices need: on a small system (its own sample) all of them;
/// on a large one those of a sample, then those that can win at the sample's prices, which
/// it returns with the iterations they took.
fn columns<'a>(
    greedy: &Greedy<'_, 'a>,
    entries: &mut [Entry<'a>],
    budget: u64,
) -> (Option<Vec<f64>>, u64) {
    let (system, sizing, cache) = (greedy.system, greedy.options.batch_sizing, greedy.cache);
    if !sampled(entries) {
        entries
            .par_iter_mut()
            .for_each(|e| e.stream.fill(usize::MAX, system, &e.ctx, sizing, cache));
        return (None, 0);
    }
    let (prices, iterations) = sample_prices(greedy, entries, budget);
    price_columns(greedy, entries, &prices);
    (Some(prices), iterations)
}

/// Lagrangian iterations on the whole problem of `servers` servers: the whole `budget` on a
/// small system, at least 30% of it on a large one ([`WHOLE_WORK`]).
fn whole_iterations(budget: u64, servers: usize) -> u64 {
    let affordable = WHOLE_WORK / servers.max(1) as u64;
    affordable.clamp(budget * 3 / 10, budget).max(1)
}

/// Whether the prices come from a sample: more servers with candidates than [`SAMPLE`].
pub(crate) fn sampled(entries: &[Entry<'_>]) -> bool {
    entries
        .iter()
        .filter(|e| !e.stream.taken.is_empty())
        .count()
        > SAMPLE
}

/// The report of the reference's greedy (no improvement) when it leaves servers unserved:
/// its objective, and a proven bound from prices found as [`improve`] finds them (within
/// [`REPORT_ITERATIONS`]), for the cost of sizing what those prices need, not every
/// candidate. `full` says whether an entry is fully served and `value` what its placement
/// is worth.
pub(crate) fn greedy_report<'a>(
    greedy: &Greedy<'_, 'a>,
    entries: &mut [Entry<'a>],
    full: impl Fn(&Entry<'_>) -> bool,
    value: impl Fn(&Entry<'_>) -> f64,
) -> SolveReport {
    let (system, cache) = (greedy.system, greedy.cache);
    let (sample, _) = columns(greedy, entries, REPORT_ITERATIONS);
    let r = restricted(system, entries);
    let penalties = r.problem.penalties_over(span(system, entries, &r));
    let mut objective = 0.0;
    let mut unserved = vec![0; r.problem.levels()];
    for (&i, s) in r.entry.iter().zip(&r.problem.servers) {
        if full(&entries[i]) {
            objective += value(&entries[i]);
        } else {
            objective += penalties[s.level];
            unserved[s.level] += 1;
        }
    }
    let prices = sample.unwrap_or_else(|| {
        alloc::lagrangian(
            &r.problem,
            &LagrangeOptions {
                max_iterations: REPORT_ITERATIONS,
                polish_rounds: 0,
                neighbourhood_nodes: Some(0),
                penalties: Some(penalties.clone()),
                stall_iterations: Some(STALL),
                cancel: cache.cancel().clone(),
                ..LagrangeOptions::default()
            },
            None,
        )
        .prices
    });
    let bound = whole_bound(system, entries, &r, &[&prices], &penalties).min(objective);
    report(&r, &penalties, &unserved, objective, bound, 0)
}

/// The greedy's report (its solver time is the caller's to set).
fn report(
    r: &Restricted,
    penalties: &[f64],
    unserved: &[usize],
    objective: f64,
    bound: f64,
    iterations: u64,
) -> SolveReport {
    SolveReport {
        solver: "greedy",
        status: "heuristic",
        objective,
        bound,
        gap: alloc::relative_gap(objective, bound),
        not_fully_served: unserved.iter().sum::<usize>() as u64,
        unserved_floor: floor(penalties, &r.priorities, unserved, bound),
        iterations,
        solver_time: Duration::ZERO,
    }
}

/// Prices per unit of each type from the Lagrangian on a seeded sample of the servers that
/// have candidates (every candidate of the sampled ones sized), with the capacities scaled to
/// the sample's share; and the iterations it took.
fn sample_prices<'a>(
    greedy: &Greedy<'_, 'a>,
    entries: &mut [Entry<'a>],
    budget: u64,
) -> (Vec<f64>, u64) {
    let (system, sizing, cache) = (greedy.system, greedy.options.batch_sizing, greedy.cache);
    let mut pool: Vec<usize> = (0..entries.len())
        .filter(|&i| !entries[i].stream.taken.is_empty())
        .collect();
    let share = if pool.len() > SAMPLE {
        // A partial Fisher-Yates shuffle: the first SAMPLE of a seeded permutation.
        let mut rng = Rng::new(SAMPLE_SEED);
        let n = pool.len();
        for k in 0..SAMPLE {
            let j = k + (rng.next_f64() * (n - k) as f64) as usize;
            pool.swap(k, j.min(n - 1));
        }
        let share = SAMPLE as f64 / pool.len() as f64;
        pool.truncate(SAMPLE);
        pool.sort_unstable();
        share
    } else {
        1.0
    };
    let mut chosen = vec![false; entries.len()];
    for &i in &pool {
        chosen[i] = true;
    }
    entries
        .par_iter_mut()
        .zip(chosen.par_iter())
        .filter(|(_, c)| **c)
        .for_each(|(e, _)| e.stream.fill(usize::MAX, system, &e.ctx, sizing, cache));
    let mut sample = restricted_of(system, entries, &pool);
    for (cap, full) in sample.problem.capacity.iter_mut().zip(&system.capacity) {
        *cap = Some((*full as f64 * share).floor() as u64);
    }
    let out = alloc::lagrangian(
        &sample.problem,
        &LagrangeOptions {
            max_iterations: budget,
            polish_rounds: 0,
            neighbourhood_nodes: Some(0),
            stall_iterations: Some(STALL),
            cancel: cache.cancel().clone(),
            ..LagrangeOptions::default()
        },
        None,
    );
    sample.problem.servers.clear();
    (out.prices, out.iterations)
}

/// Sizes, in parallel, every unsized candidate whose bounds priced could beat its server's
/// best sized priced value, cheapest bound first, until none can.
fn price_columns<'a>(greedy: &Greedy<'_, 'a>, entries: &mut [Entry<'a>], prices: &[f64]) {
    let (system, sizing, cache) = (greedy.system, greedy.options.batch_sizing, greedy.cache);
    let type_of = |acc: usize| system.accelerators[acc].type_index;
    entries
        .par_iter_mut()
        .filter(|e| !e.stream.taken.is_empty())
        .for_each(|e| {
            let priced = |c: &Candidate| c.value + prices[type_of(c.acc)] * c.units() as f64;
            let mut best = e.stream.sized().map(priced).fold(f64::INFINITY, f64::min);
            let mut pending: Vec<(f64, usize)> = e
                .stream
                .pending()
                .iter()
                .filter(|p| p.bounded())
                .map(|p| (p.value + prices[type_of(p.acc)] * p.units as f64, p.acc))
                .collect();
            pending.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (bound, acc) in pending {
                if bound >= best {
                    break;
                }
                if let Some(c) = e.stream.size_now(acc, system, &e.ctx, sizing, cache) {
                    best = best.min(priced(&c));
                }
            }
        });
}

/// Candidate `c` of entry `i`, as the problem's choice `c` of that entry's server.
fn column<'e>(entries: &'e [Entry<'_>], i: usize, c: usize) -> &'e Candidate {
    entries[i]
        .stream
        .sized()
        .nth(c)
        .expect("a choice is a sized candidate")
}

fn restricted(system: &System<'_>, entries: &[Entry<'_>]) -> Restricted {
    let all: Vec<usize> = (0..entries.len())
        .filter(|&i| !entries[i].stream.taken.is_empty())
        .collect();
    restricted_of(system, entries, &all)
}

/// The problem of the entries `which` over their sized candidates.
fn restricted_of(system: &System<'_>, entries: &[Entry<'_>], which: &[usize]) -> Restricted {
    let mut priorities: Vec<i64> = entries.iter().map(|e| e.ctx.priority).collect();
    priorities.sort_unstable();
    priorities.dedup();
    // Built on every core (in order: `collect` keeps it): 13 ms for 27,000 servers on one.
    let servers = which
        .par_iter()
        .map(|&i| {
            let e = &entries[i];
            alloc::Server {
                level: priorities.partition_point(|&p| p < e.ctx.priority),
                demand: e.ctx.demand,
                min_replicas: e.ctx.spec.min_num_replicas.max(0) as u64,
                choices: e
                    .stream
                    .sized()
                    .map(|c| Choice {
                        ty: system.accelerators[c.acc].type_index,
                        replicas: c.replicas,
                        units_per_replica: c.units_per_replica,
                        value: c.value,
                        value_per_replica: c.cost / c.replicas.max(1) as f64,
                        rate_per_replica: c.capacity_per_replica,
                    })
                    .collect(),
            }
        })
        .collect();
    Restricted {
        problem: Problem {
            capacity: system.capacity.iter().map(|&c| Some(c)).collect(),
            servers,
        },
        entry: which.to_vec(),
        priorities,
    }
}

/// What any allocation's values can span: per server, from the least to the greatest value
/// of its candidates (0 included), the unsized ones by their bounds: no less than their least
/// value and, since one that takes more units than its type has can never be used, no more
/// than the value of as many replicas as the type's capacity allows. The penalties over it
/// keep the objective lexicographic over every candidate, sized or not.
fn span(system: &System<'_>, entries: &[Entry<'_>], r: &Restricted) -> f64 {
    let spans: Vec<f64> = r
        .entry
        .par_iter()
        .zip(&r.problem.servers)
        .map(|(&i, s)| {
            let e = &entries[i];
            let (mut lo, mut hi) = (0.0f64, 0.0f64);
            for c in &s.choices {
                lo = lo.min(c.value);
                hi = hi.max(c.value);
            }
            for p in e.stream.pending() {
                let t = system.accelerators[p.acc].type_index;
                let cap = system.capacity.get(t).copied().unwrap_or(0);
                if p.bounded() {
                    lo = lo.min(p.value);
                }
                if let Some(v) = e.ctx.value_ceiling(system, p.acc, cap) {
                    hi = hi.max(v);
                }
            }
            hi - lo
        })
        .collect();
    // Summed in order: a parallel float sum would depend on how the work was split.
    spans.iter().sum()
}

/// A proven bound on the whole problem: the Lagrangian dual, from each of `prices` and a few
/// coordinate sweeps after, of the restricted problem with every unsized candidate added by
/// its bounds (least value, least units: with prices >= 0 that can only lower a server's
/// priced minimum, so this relaxes the whole problem).
fn whole_bound(
    system: &System<'_>,
    entries: &[Entry<'_>],
    r: &Restricted,
    prices: &[&[f64]],
    penalties: &[f64],
) -> f64 {
    // Built in chunks in parallel, joined in order: the same problem however it was split.
    let parts: Vec<alloc::Flat> = r
        .entry
        .par_chunks(1024)
        .zip(r.problem.servers.par_chunks(1024))
        .map(|(which, servers)| {
            let mut flat = alloc::Flat::new(Vec::new());
            for (&i, s) in which.iter().zip(servers) {
                let e = &entries[i];
                let sized = s.choices.iter().map(|c| (c.ty, c.value, c.units()));
                let bounded = e.stream.pending().iter().filter(|p| p.bounded());
                let bounded =
                    bounded.map(|p| (system.accelerators[p.acc].type_index, p.value, p.units));
                flat.push(s.level, sized.chain(bounded));
            }
            flat
        })
        .collect();
    let mut relaxed = alloc::Flat::new(r.problem.capacity.clone());
    for part in parts {
        relaxed.extend(part);
    }
    prices
        .iter()
        .map(|pi| alloc::dual_bound(&relaxed, pi, penalties, BOUND_SWEEPS))
        .fold(f64::NEG_INFINITY, f64::max)
}
