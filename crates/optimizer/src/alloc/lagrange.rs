//! Lagrangian relaxation of the capacity rows (single mode), for systems where the MILP is too
//! slow.
//!
//! With a price `pi_k >= 0` per unit of each limited type, the capacity rows leave the problem
//! and every server picks, on its own, its cheapest choice at value + price x units (or stays
//! unserved at its penalty). The sum of those minima less `sum_k pi_k A_k` is a lower bound on
//! the optimum for any prices; projected subgradient steps (Polyak's rule against the best
//! allocation found) raise it. Every few steps the priced choices are repaired into a feasible
//! allocation, which gives the upper bound. The bound equals that of the LP relaxation at best:
//! each server's options form a simplex, so the relaxation has the integrality property.

use super::dual::{dual_value, relaxed, sweep, Flat};
use super::repair::repair;
use super::{relative_gap, Assignment, Outcome, Problem, Status};
use crate::cancel::Cancel;
use rayon::prelude::*;
use std::time::Instant;

/// Limits of a Lagrangian solve.
#[derive(Debug, Clone)]
pub struct LagrangeOptions {
    /// Stop here with the best allocation found.
    pub deadline: Option<Instant>,
    /// Stop (status [`Status::Cancelled`]) with the best allocation found once this is raised.
    pub cancel: Cancel,
    /// Subgradient iterations at most.
    pub max_iterations: u64,
    /// Stop once the relative gap is at most this.
    pub gap_target: f64,
    /// Passes of local search on the best allocation at the end (0 = none: for a bound only).
    pub polish_rounds: usize,
    /// Re-solve the least settled servers exactly at the end: a MILP under a share of the
    /// time left (`None`: on the clock), or within this many branch-and-bound nodes per stage
    /// (`Some(n)`, for a deterministic answer; `Some(0)`: no re-solve).
    pub neighbourhood_nodes: Option<u64>,
    /// Penalties per level, when the caller knows the candidates' span better than `p` does
    /// (a problem holding only some of each server's candidates); else `p.penalties(false)`.
    pub penalties: Option<Vec<f64>>,
    /// Prices to start from (one per type), when the caller has good ones (from a sample of
    /// the servers): one coordinate sweep then, not the eight a start from zero takes.
    pub prices: Option<Vec<f64>>,
    /// Stop once this many iterations in a row found no better bound (`None`: never). For a
    /// caller that wants the prices only: a stalled bound means the steps no longer move them
    /// to better ones, while the repairs that a caller of the allocation wants keep going.
    pub stall_iterations: Option<u64>,
}

impl Default for LagrangeOptions {
    fn default() -> Self {
        Self {
            deadline: None,
            cancel: Cancel::new(),
            max_iterations: 3000,
            gap_target: 1e-4,
            polish_rounds: 10,
            neighbourhood_nodes: None,
            penalties: None,
            prices: None,
            stall_iterations: None,
        }
    }
}

/// Repair once per this many iterations (and whenever the bound improves a lot).
const REPAIR_EVERY: u64 = 25;
/// Halve the step target after this many iterations without a better bound.
const PATIENCE: u32 = 25;
/// Weight of the latest relaxed choice in the running frequencies (an exponential average
/// over about the last 1 / weight iterations).
const AVERAGE_WEIGHT: f64 = 0.05;
/// Servers re-solved exactly at the end (the least settled ones).
const NEIGHBOURHOOD: usize = 40;
/// Time for that exact solve when the caller gives no deadline.
const NEIGHBOURHOOD_TIME: std::time::Duration = std::time::Duration::from_secs(1);
/// Coordinate sweeps before the first subgradient step.
const INITIAL_SWEEPS: u32 = 8;

/// Solves `p` in single mode; `start` is a feasible allocation to improve on, if any.
///
/// Prices start from sweeps of exact coordinate steps: each limited type in turn gets the
/// price that clears it (the least price at which the servers choosing it fit), the others
/// held. That sets prices of very different magnitudes (a cheap plentiful type, a scarce one
/// that must price out servers worth their penalty) in a few passes, which plain subgradient
/// steps, dominated by the largest violation, do not. Subgradient steps then move all prices
/// together, which coordinate steps cannot do at a kink. Their sizes follow a variable target:
/// each aims at `best bound + delta` (Polyak's rule with the target in place of the unknown
/// optimum); `delta` grows while the bound rises and halves, with a return to the best prices
/// and a new sweep, when it stalls. Aiming at the best allocation instead would overshoot by
/// orders of magnitude whenever servers go unserved: their penalties dwarf every cost.
pub fn lagrangian(p: &Problem, options: &LagrangeOptions, start: Option<&Assignment>) -> Outcome {
    lagrangian_with(p, options, start, |_| ()).0
}

/// [`lagrangian`], with `beside` run on the final prices while the exact re-solve and the
/// local search, which take one core, finish the allocation: a caller's own pass over those
/// prices (the default's bound on the whole problem) then costs no time of its own.
pub fn lagrangian_with<R: Send>(
    p: &Problem,
    options: &LagrangeOptions,
    start: Option<&Assignment>,
    beside: impl FnOnce(&[f64]) -> R + Send,
) -> (Outcome, R) {
    let began = Instant::now();
    let penalties = options
        .penalties
        .clone()
        .unwrap_or_else(|| p.penalties(false));
    let mut best: Option<(Assignment, f64)> = start
        .filter(|a| p.feasible(a, false))
        .map(|a| (a.clone(), p.objective(a, false, &penalties)));
    let flat = Flat::of(p);
    let limited = flat.limited();
    let mut pi = match &options.prices {
        Some(given) if given.len() == p.capacity.len() => given.clone(),
        _ => vec![0.0; p.capacity.len()],
    };
    let mut best_pi = pi.clone();
    let typical = typical_prices(p);
    let mut average: Vec<Vec<f64>> = p
        .servers
        .iter()
        .map(|s| vec![0.0; s.choices.len()])
        .collect();
    let mut bound = f64::NEG_INFINITY;
    let mut delta = 0.0;
    let mut stale = 0;
    let mut since_better = 0u64;
    let mut iterations = 0;
    let mut sweeps = if options.prices.is_some() {
        1
    } else {
        INITIAL_SWEEPS
    };
    // The last tenth of the time goes to polishing the best allocation.
    let search_until = options
        .deadline
        .map(|d| d - d.saturating_duration_since(began) / 10);
    let status = loop {
        if sweeps > 0 {
            sweeps -= 1;
            sweep(&flat, &limited, &mut pi, &penalties, &options.cancel);
        }
        let (value, usage, picks) = relaxed(&flat, &pi, &penalties);
        average
            .par_iter_mut()
            .zip(picks.par_iter())
            .with_min_len(256)
            .for_each(|(avg, pick)| {
                for x in avg.iter_mut() {
                    *x *= 1.0 - AVERAGE_WEIGHT;
                }
                if let Some(j) = pick {
                    avg[*j] += AVERAGE_WEIGHT;
                }
            });
        let dual = dual_value(&flat, &limited, value, &pi);
        if bound == f64::NEG_INFINITY {
            delta = 0.1 * dual.abs().max(1.0);
        }
        if bound == f64::NEG_INFINITY || dual > bound + 1e-9 * bound.abs().max(1.0) {
            delta *= 2.0;
            bound = dual;
            best_pi.clone_from(&pi);
            stale = 0;
            since_better = 0;
        } else {
            stale += 1;
            since_better += 1;
            if stale >= PATIENCE {
                delta /= 2.0;
                pi.clone_from(&best_pi);
                stale = 0;
                sweeps = 1;
                continue;
            }
        }
        let last = iterations + 1 >= options.max_iterations;
        if iterations % REPAIR_EVERY == 0 || best.is_none() || last {
            // By regret at the first step only: once the frequencies say something, the
            // repair by them did better at every later step on the systems of
            // docs/solvers.md 3.2-3.3, and a repair is a tenth of a 27,000-server solve's
            // Lagrangian.
            let by_regret = (iterations == 0).then(|| repair(p, &pi, None));
            let by_frequency = repair(p, &pi, Some(&average));
            for a in by_regret.into_iter().chain([by_frequency]) {
                let obj = p.objective(&a, false, &penalties);
                if best.as_ref().is_none_or(|b| obj < b.1) {
                    best = Some((a, obj));
                }
            }
        }
        iterations += 1;
        let upper = best.as_ref().map_or(f64::INFINITY, |b| b.1);
        let tolerance = 1e-9 * upper.abs().max(1.0);
        if relative_gap(upper, bound) <= options.gap_target || upper <= bound + tolerance {
            break if upper <= bound + tolerance {
                Status::Optimal
            } else {
                Status::GapReached
            };
        }
        if search_until.is_some_and(|d| Instant::now() >= d) {
            break Status::TimeLimit;
        }
        if options.cancel.is_cancelled() {
            break Status::Cancelled;
        }
        let stalled = options.stall_iterations.is_some_and(|n| since_better >= n);
        if iterations >= options.max_iterations || delta < 1e-12 * bound.abs().max(1.0) || stalled {
            break Status::IterationLimit;
        }
        // Projected subgradient: a free type whose price is already 0 cannot go lower.
        let g: Vec<f64> = limited
            .iter()
            .map(|&k| {
                let g = usage[k] - p.capacity[k].unwrap_or(0) as f64;
                if pi[k] <= 0.0 && g < 0.0 {
                    0.0
                } else {
                    g
                }
            })
            .collect();
        // Steps in prices relative to each type's scale (its best price so far, at least its
        // typical value per unit): types whose prices differ by orders of magnitude move alike.
        let scale: Vec<f64> = limited
            .iter()
            .map(|&k| best_pi[k].max(typical[k]))
            .collect();
        let norm: f64 = g.iter().zip(&scale).map(|(x, s)| (x * s).powi(2)).sum();
        if norm == 0.0 {
            // The priced choices fit and no price can move: these prices are dual optimal.
            let a = repair(p, &pi, None);
            let obj = p.objective(&a, false, &penalties);
            if best.as_ref().is_none_or(|b| obj < b.1) {
                best = Some((a, obj));
            }
            let upper = best.as_ref().map_or(f64::INFINITY, |b| b.1);
            break if upper <= bound + 1e-9 * upper.abs().max(1.0) {
                Status::Optimal
            } else {
                Status::IterationLimit
            };
        }
        let target = (bound + delta).min(upper);
        let step = (target - dual).max(0.0) / norm;
        for (i, &k) in limited.iter().enumerate() {
            pi[k] = (pi[k] + step * scale[i] * scale[i] * g[i]).max(0.0);
        }
    };
    let (mut assignment, _) = best.unwrap_or_else(|| (vec![Vec::new(); p.servers.len()], 0.0));
    // Within the gap target the answer is good enough by the caller's own measure: the exact
    // re-solve and the local search are for answers that are not.
    let settled = matches!(
        status,
        Status::Optimal | Status::GapReached | Status::Cancelled
    );
    let finish = |assignment: &mut Assignment| {
        if settled || options.polish_rounds == 0 {
            return;
        }
        // Half of what is left (at most a second without a deadline) for an exact solve of
        // the least settled servers, the rest for local search.
        let now = Instant::now();
        let until = match options.deadline {
            Some(d) => now + d.saturating_duration_since(now) / 2,
            None => now + NEIGHBOURHOOD_TIME,
        };
        let limit = match options.neighbourhood_nodes {
            None => Some(super::Limit::Clock(Some(until))),
            Some(0) => None,
            Some(n) => Some(super::Limit::Nodes(n)),
        };
        if let Some(limit) = limit {
            neighbourhood(p, assignment, &average, limit, &options.cancel);
        }
        let rounds = options.polish_rounds;
        let (deadline, cancel) = (options.deadline, &options.cancel);
        super::polish::polish(p, assignment, &penalties, rounds, deadline, cancel);
    };
    let ((), beside) = rayon::join(|| finish(&mut assignment), || beside(&best_pi));
    let objective = p.objective(&assignment, false, &penalties);
    let status = if status == Status::Cancelled {
        status
    } else if status != Status::Optimal && objective <= bound + 1e-9 * objective.abs().max(1.0) {
        Status::Optimal
    } else if status == Status::IterationLimit
        && relative_gap(objective, bound) <= options.gap_target
    {
        Status::GapReached
    } else {
        status
    };
    let outcome = Outcome {
        assignment,
        objective,
        bound: bound.min(objective),
        status,
        iterations,
        elapsed: began.elapsed(),
        prices: best_pi,
    };
    (outcome, beside)
}

/// Re-solves exactly (MILP, until `until`) the servers whose relaxed choice is least settled
/// (the unserved first, then by how rarely their most frequent pick came up), with every other
/// server kept as it is and the capacities it leaves. The lexicographic objective of the
/// sub-problem is that of the whole restricted to these servers, so the result is never worse.
fn neighbourhood(
    p: &Problem,
    a: &mut Assignment,
    average: &[Vec<f64>],
    limit: super::Limit,
    cancel: &Cancel,
) {
    let settled = |s: usize| -> f64 {
        if a[s].is_empty() {
            return -1.0;
        }
        average[s].iter().copied().fold(0.0, f64::max)
    };
    let mut order: Vec<usize> = (0..p.servers.len())
        .filter(|&s| !p.servers[s].choices.is_empty())
        .collect();
    order.sort_by(|&x, &y| settled(x).total_cmp(&settled(y)).then(x.cmp(&y)));
    order.truncate(NEIGHBOURHOOD);
    if order.is_empty() {
        return;
    }
    let mut free = vec![false; p.servers.len()];
    for &s in &order {
        free[s] = true;
    }
    let mut capacity = p.capacity.clone();
    for (s, parts) in a.iter().enumerate() {
        if free[s] {
            continue;
        }
        for &(c, _) in parts {
            let c = &p.servers[s].choices[c];
            if let Some(cap) = capacity[c.ty].as_mut() {
                *cap = cap.saturating_sub(c.units());
            }
        }
    }
    let sub = Problem {
        capacity,
        servers: order.iter().map(|&s| p.servers[s].clone()).collect(),
    };
    let start: Assignment = order.iter().map(|&s| a[s].clone()).collect();
    let out = super::milp_limited(&sub, false, limit, Some(&start), cancel);
    if sub.feasible(&out.assignment, false) {
        for (k, &s) in order.iter().enumerate() {
            a[s] = out.assignment[k].clone();
        }
    }
}

/// Per type, the mean value per unit of the choices on it (a floor for price scales).
fn typical_prices(p: &Problem) -> Vec<f64> {
    let mut sum = vec![0.0; p.capacity.len()];
    let mut n = vec![0.0; p.capacity.len()];
    for c in p.servers.iter().flat_map(|s| &s.choices) {
        if c.units() > 0 {
            sum[c.ty] += c.value.abs() / c.units() as f64;
            n[c.ty] += 1.0;
        }
    }
    sum.iter()
        .zip(&n)
        .map(|(s, n)| if *n > 0.0 { (s / n).max(1e-9) } else { 1.0 })
        .collect()
}
