//! From prices to a feasible allocation: the Lagrangian's upper bound.

use super::{Assignment, Choice, Problem};
use rayon::prelude::*;

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
///
/// Only taking room is sequential: each server's ranking of its choices and how sure it is
/// are computed on all cores first.
pub(super) fn repair(p: &Problem, pi: &[f64], average: Option<&[Vec<f64>]>) -> Assignment {
    let ranked: Vec<(f64, Vec<usize>)> = p
        .servers
        .par_iter()
        .enumerate()
        .with_min_len(256)
        .map(|(s, server)| {
            let priced = |c: usize| {
                let c = &server.choices[c];
                c.value + pi[c.ty] * c.units() as f64
            };
            // Smaller key = preferred.
            let key = |c: usize| average.map_or(0.0, |avg| -avg[s][c]);
            let mut choices: Vec<usize> = (0..server.choices.len()).collect();
            choices.sort_by(|&x, &y| {
                key(x)
                    .total_cmp(&key(y))
                    .then(priced(x).total_cmp(&priced(y)))
            });
            let sure = match average {
                Some(avg) => avg[s].iter().copied().fold(0.0, f64::max),
                // The regret: the second least priced value less the least.
                None => {
                    let (mut first, mut second) = (f64::INFINITY, f64::INFINITY);
                    for c in 0..server.choices.len() {
                        let v = priced(c);
                        if v.total_cmp(&first).is_lt() {
                            (first, second) = (v, first);
                        } else if v.total_cmp(&second).is_lt() {
                            second = v;
                        }
                    }
                    match server.choices.len() {
                        0 => 0.0,
                        1 => f64::INFINITY,
                        _ => second - first,
                    }
                }
            };
            (sure, choices)
        })
        .collect();
    let mut order: Vec<(usize, f64)> = ranked.iter().map(|r| r.0).enumerate().collect();
    order.par_sort_by(|a, b| {
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
    for &(s, _) in &order {
        let choices = &p.servers[s].choices;
        if let Some(&c) = ranked[s].1.iter().find(|&&c| fits(&left, &choices[c])) {
            take(&mut left, &choices[c], 1);
            a[s] = vec![(c, choices[c].replicas)];
        }
    }
    improve(p, &mut a, &mut left, &order);
    a
}

fn fits(left: &[i128], c: &Choice) -> bool {
    left[c.ty] >= i128::from(c.units())
}

fn take(left: &mut [i128], c: &Choice, sign: i128) {
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
            take(left, &server.choices[pick], 1);
            if current != Some(pick) {
                changed = true;
                a[s] = vec![(pick, server.choices[pick].replicas)];
            }
        }
        if !changed {
            break;
        }
    }
}
