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
use std::time::Instant;

/// Limits of a Lagrangian solve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LagrangeOptions {
    /// Stop here with the best allocation found.
    pub deadline: Option<Instant>,
    /// Subgradient iterations at most.
    pub max_iterations: u64,
    /// Stop once the relative gap is at most this.
    pub gap_target: f64,
}

impl Default for LagrangeOptions {
    fn default() -> Self {
        Self {
            deadline: None,
            max_iterations: 3000,
            gap_target: 1e-4,
        }
    }
}

/// Repair once per this many iterations (and whenever the bound improves a lot).
const REPAIR_EVERY: u64 = 10;
/// Halve the step factor after this many iterations without a better bound.
const PATIENCE: u32 = 25;

/// Solves `p` in single mode; `start` is a feasible allocation to improve on, if any.
pub fn lagrangian(p: &Problem, options: &LagrangeOptions, start: Option<&Assignment>) -> Outcome {
    let began = Instant::now();
    let penalties = p.penalties(false);
    let mut best: Option<(Assignment, f64)> = start
        .filter(|a| p.feasible(a, false))
        .map(|a| (a.clone(), p.objective(a, false, &penalties)));
    let limited: Vec<usize> = (0..p.capacity.len())
        .filter(|&k| p.capacity[k].is_some())
        .collect();
    let mut pi = vec![0.0; p.capacity.len()];
    let mut bound = f64::NEG_INFINITY;
    let mut theta = 2.0;
    let mut stale = 0;
    let mut iterations = 0;
    let status = loop {
        let (value, usage) = relaxed(p, &pi, &penalties);
        let dual = value
            - limited
                .iter()
                .map(|&k| pi[k] * p.capacity[k].unwrap_or(0) as f64)
                .sum::<f64>();
        let improved = dual > bound + 1e-9 * bound.abs().max(1.0);
        if improved {
            bound = dual;
            stale = 0;
        } else {
            stale += 1;
            if stale >= PATIENCE {
                theta /= 2.0;
                stale = 0;
            }
        }
        if iterations % REPAIR_EVERY == 0 || best.is_none() {
            let a = repair(p, &pi);
            let obj = p.objective(&a, false, &penalties);
            if best.as_ref().is_none_or(|b| obj < b.1) {
                best = Some((a, obj));
            }
        }
        iterations += 1;
        let upper = best.as_ref().map_or(f64::INFINITY, |b| b.1);
        if relative_gap(upper, bound) <= options.gap_target || upper <= bound {
            break if upper <= bound + 1e-9 * upper.abs().max(1.0) {
                Status::Optimal
            } else {
                Status::GapReached
            };
        }
        if options.deadline.is_some_and(|d| Instant::now() >= d) {
            break Status::TimeLimit;
        }
        if iterations >= options.max_iterations || theta < 1e-8 {
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
        let norm: f64 = g.iter().map(|x| x * x).sum();
        if norm == 0.0 {
            // The priced choices fit and no price can rise: the bound is the dual optimum.
            let a = repair(p, &pi);
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
        let step = theta * (upper - dual).max(0.0) / norm;
        for (i, &k) in limited.iter().enumerate() {
            pi[k] = (pi[k] + step * g[i]).max(0.0);
        }
    };
    let (assignment, objective) = best.unwrap_or_else(|| {
        let a = vec![Vec::new(); p.servers.len()];
        let obj = p.objective(&a, false, &penalties);
        (a, obj)
    });
    Outcome {
        assignment,
        objective,
        bound: bound.min(objective),
        status,
        iterations,
        elapsed: began.elapsed(),
    }
}

/// The relaxed problem at prices `pi`: the sum of every server's priced minimum, and the
/// units of each type those choices take.
fn relaxed(p: &Problem, pi: &[f64], penalties: &[f64]) -> (f64, Vec<f64>) {
    let mut usage = vec![0.0; p.capacity.len()];
    let mut total = 0.0;
    for s in &p.servers {
        let mut best = penalties[s.level];
        let mut pick = None;
        for c in &s.choices {
            let priced = c.value + pi[c.ty] * c.units() as f64;
            if priced < best {
                best = priced;
                pick = Some(c);
            }
        }
        if let Some(c) = pick {
            usage[c.ty] += c.units() as f64;
        }
        total += best;
    }
    (total, usage)
}

/// A feasible allocation guided by the prices: servers in order of level, then of regret (how
/// much they lose at these prices if their first choice is gone), each takes its cheapest
/// priced choice that still fits; then every server moves to a lower-value choice that fits,
/// and unserved servers take any choice that fits.
fn repair(p: &Problem, pi: &[f64]) -> Assignment {
    let priced = |s: usize, c: usize| {
        let c = &p.servers[s].choices[c];
        c.value + pi[c.ty] * c.units() as f64
    };
    let mut order: Vec<(usize, f64)> = (0..p.servers.len())
        .map(|s| {
            let mut v: Vec<f64> = (0..p.servers[s].choices.len())
                .map(|c| priced(s, c))
                .collect();
            v.sort_by(f64::total_cmp);
            let regret = match v.as_slice() {
                [] => 0.0,
                [_] => f64::INFINITY,
                [a, b, ..] => b - a,
            };
            (s, regret)
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
        choices.sort_by(|&x, &y| priced(s, x).total_cmp(&priced(s, y)));
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
    for _ in 0..2 {
        let mut changed = false;
        for &(s, _) in order {
            let server = &p.servers[s];
            let current = a[s].first().map(|&(c, _)| c);
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
