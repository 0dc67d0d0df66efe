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

use super::{relative_gap, Assignment, Outcome, Problem, Status};
use crate::cancel::Cancel;
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
    let began = Instant::now();
    let penalties = options
        .penalties
        .clone()
        .unwrap_or_else(|| p.penalties(false));
    let mut best: Option<(Assignment, f64)> = start
        .filter(|a| p.feasible(a, false))
        .map(|a| (a.clone(), p.objective(a, false, &penalties)));
    let limited: Vec<usize> = (0..p.capacity.len())
        .filter(|&k| p.capacity[k].is_some())
        .collect();
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
            sweep(p, &limited, &mut pi, &penalties, &options.cancel);
        }
        let (value, usage, picks) = relaxed(p, &pi, &penalties);
        for (avg, pick) in average.iter_mut().zip(&picks) {
            for x in avg.iter_mut() {
                *x *= 1.0 - AVERAGE_WEIGHT;
            }
            if let Some(j) = pick {
                avg[*j] += AVERAGE_WEIGHT;
            }
        }
        let dual = value
            - limited
                .iter()
                .map(|&k| pi[k] * p.capacity[k].unwrap_or(0) as f64)
                .sum::<f64>();
        if bound == f64::NEG_INFINITY {
            delta = 0.1 * dual.abs().max(1.0);
        }
        if bound == f64::NEG_INFINITY || dual > bound + 1e-9 * bound.abs().max(1.0) {
            delta *= 2.0;
            bound = dual;
            best_pi.clone_from(&pi);
            stale = 0;
        } else {
            stale += 1;
            if stale >= PATIENCE {
                delta /= 2.0;
                pi.clone_from(&best_pi);
                stale = 0;
                sweeps = 1;
                continue;
            }
        }
        if iterations % REPAIR_EVERY == 0 || best.is_none() {
            for a in [repair(p, &pi, None), repair(p, &pi, Some(&average))] {
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
        if iterations >= options.max_iterations || delta < 1e-12 * bound.abs().max(1.0) {
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
    if !matches!(status, Status::Optimal | Status::Cancelled) && options.polish_rounds > 0 {
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
            neighbourhood(p, &mut assignment, &average, limit, &options.cancel);
        }
        let rounds = options.polish_rounds;
        let (deadline, cancel) = (options.deadline, &options.cancel);
        super::polish::polish(p, &mut assignment, &penalties, rounds, deadline, cancel);
    }
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
    Outcome {
        assignment,
        objective,
        bound: bound.min(objective),
        status,
        iterations,
        elapsed: began.elapsed(),
        prices: best_pi,
    }
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

/// One pass of exact coordinate steps: each limited type's price is set to the least price at
/// which the servers that choose it (at the other types' current prices) fit in its capacity.
/// Stops early (prices half set, harmless: they are only a start) once `cancel` is raised.
fn sweep(p: &Problem, limited: &[usize], pi: &mut [f64], penalties: &[f64], cancel: &Cancel) {
    // Flat rows, reused for every type: per server, the best priced value away from type k
    // (or its penalty) and where its choices on type k start in `on_k` (value, units).
    let mut other: Vec<f64> = Vec::with_capacity(p.servers.len());
    let mut start: Vec<usize> = Vec::with_capacity(p.servers.len() + 1);
    let mut on_k: Vec<(f64, f64)> = Vec::new();
    for &k in limited {
        if cancel.is_cancelled() {
            return;
        }
        let cap = p.capacity[k].unwrap_or(0) as f64;
        other.clear();
        start.clear();
        on_k.clear();
        let mut most: f64 = 0.0;
        for s in &p.servers {
            let mut away = penalties[s.level];
            let first = on_k.len();
            for c in &s.choices {
                if c.ty == k {
                    on_k.push((c.value, c.units() as f64));
                } else {
                    away = away.min(c.value + pi[c.ty] * c.units() as f64);
                }
            }
            if on_k.len() == first {
                continue;
            }
            for &(v, u) in &on_k[first..] {
                if u > 0.0 {
                    most = most.max((away - v) / u);
                }
            }
            other.push(away);
            start.push(first);
        }
        start.push(on_k.len());
        let usage = |t: f64| -> f64 {
            let mut total = 0.0;
            for (r, &away) in other.iter().enumerate() {
                let mut best = away;
                let mut units = 0.0;
                for &(v, u) in &on_k[start[r]..start[r + 1]] {
                    let priced = v + t * u;
                    if priced < best {
                        best = priced;
                        units = u;
                    }
                }
                total += units;
            }
            total
        };
        if usage(0.0) <= cap {
            pi[k] = 0.0;
            continue;
        }
        // Usage falls as the price rises; at `most` (+ margin) nobody wants the type. The
        // least clearing price to 1e-12 relative is plenty: about 40 halvings.
        let (mut lo, mut hi) = (0.0, most.max(0.0) * (1.0 + 1e-9) + 1e-9);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if mid <= lo || mid >= hi || hi - lo <= 1e-12 * hi || cancel.is_cancelled() {
                break;
            }
            if usage(mid) <= cap {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        pi[k] = hi;
    }
}

/// The relaxed problem at prices `pi`: the sum of every server's priced minimum, the units of
/// each type those choices take, and the choices (None = unserved).
fn relaxed(p: &Problem, pi: &[f64], penalties: &[f64]) -> (f64, Vec<f64>, Vec<Option<usize>>) {
    let mut usage = vec![0.0; p.capacity.len()];
    let mut total = 0.0;
    let mut picks = Vec::with_capacity(p.servers.len());
    for s in &p.servers {
        let mut best = penalties[s.level];
        let mut pick = None;
        for (j, c) in s.choices.iter().enumerate() {
            let priced = c.value + pi[c.ty] * c.units() as f64;
            if priced < best {
                best = priced;
                pick = Some(j);
            }
        }
        if let Some(j) = pick {
            let c = &s.choices[j];
            usage[c.ty] += c.units() as f64;
        }
        picks.push(pick);
        total += best;
    }
    (total, usage, picks)
}

/// The best Lagrangian dual of `p` (with `penalties`) seen from prices `pi` over `sweeps`
/// passes of exact coordinate steps: a lower bound on `p`'s optimum whatever the prices, so
/// a caller with a relaxation of its problem (bounds in place of unsized candidates) gets a
/// proven bound for the cost of a few passes.
pub fn dual_bound(p: &Problem, pi: &[f64], penalties: &[f64], sweeps: u32) -> f64 {
    let limited: Vec<usize> = (0..p.capacity.len())
        .filter(|&k| p.capacity[k].is_some())
        .collect();
    let dual = |pi: &[f64]| {
        let (value, _, _) = relaxed(p, pi, penalties);
        value
            - limited
                .iter()
                .map(|&k| pi[k] * p.capacity[k].unwrap_or(0) as f64)
                .sum::<f64>()
    };
    let mut pi = pi.to_vec();
    let mut best = dual(&pi);
    for _ in 0..sweeps {
        sweep(p, &limited, &mut pi, penalties, &Cancel::new());
        best = best.max(dual(&pi));
    }
    best
}

/// A feasible allocation guided by the prices: servers in order of level, then of how sure
/// their choice is, each takes the first choice that still fits; then the unserved take any
/// choice that fits and every server moves to a lower-value choice that fits.
///
/// Without `average`, "how sure" is the regret at these prices (what a server loses if its
/// first choice is gone) and choices go by priced value. With `average` (how often each choice
/// was a server's relaxed pick over recent iterations: an estimate of the LP relaxation's
/// split), servers with the most settled pick go first and choices go by that frequency. At
/// optimal prices many servers are indifferent between types, and the frequencies say how the
/// LP shares them out, which the prices alone do not.
fn repair(p: &Problem, pi: &[f64], average: Option<&[Vec<f64>]>) -> Assignment {
    let priced = |s: usize, c: usize| {
        let c = &p.servers[s].choices[c];
        c.value + pi[c.ty] * c.units() as f64
    };
    // Smaller key = earlier / preferred.
    let choice_key = |s: usize, c: usize| match average {
        Some(avg) => -avg[s][c],
        None => 0.0,
    };
    let mut order: Vec<(usize, f64)> = (0..p.servers.len())
        .map(|s| {
            let sure = match average {
                Some(avg) => avg[s].iter().copied().fold(0.0, f64::max),
                None => {
                    let mut v: Vec<f64> = (0..p.servers[s].choices.len())
                        .map(|c| priced(s, c))
                        .collect();
                    v.sort_by(f64::total_cmp);
                    match v.as_slice() {
                        [] => 0.0,
                        [_] => f64::INFINITY,
                        [a, b, ..] => b - a,
                    }
                }
            };
            (s, sure)
        })
        .collect();
    order.sort_by(|a, b| {
        p.servers[a.0]
            .level
            .cmp(&p.servers[b.0].level)
            .then(b.1.total_cmp(&a.1))
            .then(a.0.cmp(&b.0))
    });
    let mut left: Vec<i128> = p
        .capacity
        .iter()
        .map(|c| c.map_or(i128::MAX, i128::from))
        .collect();
    let mut a: Assignment = vec![Vec::new(); p.servers.len()];
    let mut choices: Vec<usize> = Vec::new();
    for &(s, _) in &order {
        choices.clear();
        choices.extend(0..p.servers[s].choices.len());
        choices.sort_by(|&x, &y| {
            choice_key(s, x)
                .total_cmp(&choice_key(s, y))
                .then(priced(s, x).total_cmp(&priced(s, y)))
        });
        if let Some(&c) = choices
            .iter()
            .find(|&&c| fits(&left, &p.servers[s].choices[c]))
        {
            take(&mut left, &p.servers[s].choices[c], 1);
            a[s] = vec![(c, p.servers[s].choices[c].replicas)];
        }
    }
    improve(p, &mut a, &mut left, &order);
    a
}

fn fits(left: &[i128], c: &super::Choice) -> bool {
    left[c.ty] >= i128::from(c.units())
}

fn take(left: &mut [i128], c: &super::Choice, sign: i128) {
    if left[c.ty] != i128::MAX {
        left[c.ty] -= sign * i128::from(c.units());
    }
}

/// Local moves that keep feasibility: serve the unserved (level order), then let each server
/// switch to the lowest-value choice that fits once its own units are freed.
fn improve(p: &Problem, a: &mut Assignment, left: &mut [i128], order: &[(usize, f64)]) {
    for pass in 0..3 {
        let mut changed = false;
        for &(s, _) in order {
            let server = &p.servers[s];
            let current = a[s].first().map(|&(c, _)| c);
            // The first pass only serves the unserved: lower values must not take their room.
            if pass == 0 && current.is_some() {
                continue;
            }
            if let Some(c) = current {
                take(left, &server.choices[c], -1);
            }
            let better = (0..server.choices.len())
                .filter(|&c| fits(left, &server.choices[c]))
                .min_by(|&x, &y| {
                    server.choices[x]
                        .value
                        .total_cmp(&server.choices[y].value)
                        .then(x.cmp(&y))
                });
            let pick = match (current, better) {
                (Some(c), Some(b)) if server.choices[b].value < server.choices[c].value => b,
                (Some(c), _) => c,
                (None, Some(b)) => b,
                (None, None) => continue,
            };
            changed |= current != Some(pick);
            take(left, &server.choices[pick], 1);
            a[s] = vec![(pick, server.choices[pick].replicas)];
        }
        if !changed {
            break;
        }
    }
}
