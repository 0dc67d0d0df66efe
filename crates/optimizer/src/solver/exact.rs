//! The MILP and Lagrangian solvers on a system's sized candidates, and the quality report
//! (objective, bound, gap) of every solve, the greedy's included.
//!
//! Every candidate of every server is sized, the servers become an [`alloc::Problem`] (one
//! choice per candidate, priority levels from the classes), the chosen solver runs, and its
//! allocation becomes placements. Servers it leaves unserved then get the saturation policy
//! on what is left, in priority order, as the greedy's best effort does.

use super::greedy::{unplaced, Greedy};
use super::{placement, Entry, Placement, Solution, SolveOptions};
use crate::alloc::{self, LagrangeOptions, Problem};
use crate::candidate::SizingCache;
use crate::system::System;
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// Branch-and-bound nodes per stage of the Lagrangian's exact re-solve under an iteration
/// budget.
const ITERATION_BUDGET_NODES: u64 = 1000;

/// Time limit when the optimizer data gives none.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(10);

/// Which solver places the servers when capacities apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SolverKind {
    /// Priority-queue greedy (spec 4.3): fast, no optimality guarantee.
    #[default]
    Greedy,
    /// Exact mixed-integer program (single or heterogeneous mode), under a time limit.
    Milp,
    /// Lagrangian relaxation with repair: large systems, with a proven bound.
    Lagrangian,
}

impl SolverKind {
    /// The names [`Self::parse`] accepts (in any case), as written in the data files.
    pub const NAMES: [&'static str; 3] = ["greedy", "milp", "lagrangian"];

    /// Parses the `solver` field ("" = greedy; case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "" | "greedy" => Some(Self::Greedy),
            "milp" => Some(Self::Milp),
            "lagrangian" => Some(Self::Lagrangian),
            _ => None,
        }
    }

    /// The name as written in the data files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Greedy => "greedy",
            Self::Milp => "milp",
            Self::Lagrangian => "lagrangian",
        }
    }
}

/// Replicas of a heterogeneous placement on one accelerator.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Accelerator name.
    pub accelerator: String,
    /// Its type.
    pub accelerator_type: String,
    /// Replicas there.
    pub replicas: u64,
    /// Units of the type they take.
    pub units: u64,
    /// Their cost, cents/hr.
    pub cost: f64,
    /// Load of one replica when the server's load is shared in proportion to capacity, req/s.
    pub rate_per_replica: f64,
    /// Predicted mean ITL of one replica, ms.
    pub itl: f64,
    /// Predicted mean TTFT of one replica, ms.
    pub ttft: f64,
    /// Predicted utilisation of one replica.
    pub rho: f64,
}

/// How good a solution is, and which solver found it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SolveReport {
    /// `unlimited`, `greedy`, `milp` or `lagrangian`.
    pub solver: &'static str,
    /// `optimal`, `gap reached`, `time limit`, `iteration limit` or `heuristic`.
    pub status: &'static str,
    /// Total value of the fully served servers plus the penalties of the others (servers
    /// without any candidate are left out: no solver can serve them).
    pub objective: f64,
    /// Proven lower bound on the best objective.
    pub bound: f64,
    /// `(objective - bound) / |objective|`.
    pub gap: f64,
    /// Servers with candidates that are not fully served (unplaced or best effort).
    pub not_fully_served: u64,
    /// What the bound proves about the first priority left short, if any.
    pub unserved_floor: Option<UnservedFloor>,
    /// Subgradient iterations or branch-and-bound nodes.
    pub iterations: u64,
    /// Time of the solver proper, after sizing.
    pub solver_time: Duration,
}

/// The count certificate of a solve that leaves servers unserved: at the most important
/// priority with unserved servers, no allocation that fully serves every more important
/// server leaves fewer than `at_least` unserved (from the bound and the penalties).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnservedFloor {
    /// The class priority.
    pub priority: i64,
    /// Servers of that priority this solution does not fully serve.
    pub unserved: u64,
    /// Proven minimum for any allocation serving every more important server.
    pub at_least: u64,
}

/// The abstract problem of a set of entries, which entry each of its servers is, and the
/// class priority of each level.
pub(crate) struct Built {
    pub(crate) problem: Problem,
    pub(crate) entry: Vec<usize>,
    pub(crate) priorities: Vec<i64>,
}

/// The certificate for `unserved` servers per level under lower bound `bound` (see
/// [`UnservedFloor`]). Any allocation A serving the levels above `l` fully has objective
/// `W_l u_l(A) + R(A)` with `R(A) <= W_l - 1` by the choice of penalties, so
/// `u_l(A) >= (bound + 1) / W_l - 1`.
fn unserved_floor(built: &Built, unserved: &[usize], bound: f64) -> Option<UnservedFloor> {
    let penalties = built.problem.penalties(false);
    floor(&penalties, &built.priorities, unserved, bound)
}

/// [`unserved_floor`] with the penalties and the priority of each level given.
pub(crate) fn floor(
    penalties: &[f64],
    priorities: &[i64],
    unserved: &[usize],
    bound: f64,
) -> Option<UnservedFloor> {
    let l = unserved.iter().position(|&u| u > 0)?;
    let w = penalties[l];
    let at_least = ((bound + 1.0) / w - 1.0 - 1e-9).ceil().max(0.0) as u64;
    Some(UnservedFloor {
        priority: priorities[l],
        unserved: unserved[l] as u64,
        at_least: at_least.min(unserved[l] as u64),
    })
}

/// Sizes every candidate of every entry (in parallel).
pub(crate) fn size_all(
    system: &System<'_>,
    entries: &mut [Entry<'_>],
    options: &SolveOptions,
    cache: &SizingCache,
) {
    entries.par_iter_mut().for_each(|e| {
        e.stream
            .fill(usize::MAX, system, &e.ctx, options.batch_sizing, cache);
    });
}

/// The problem of the entries that have candidates (all sized).
pub(crate) fn build(system: &System<'_>, entries: &[Entry<'_>], options: &SolveOptions) -> Built {
    let mut priorities: Vec<i64> = entries.iter().map(|e| e.ctx.priority).collect();
    priorities.sort_unstable();
    priorities.dedup();
    let mut problem = Problem {
        capacity: system
            .types
            .iter()
            .enumerate()
            .map(|(t, _)| {
                (!options.unlimited).then(|| system.capacity.get(t).copied().unwrap_or(0))
            })
            .collect(),
        servers: Vec::new(),
    };
    let mut entry = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.stream.taken.is_empty() {
            continue;
        }
        let choices = e
            .stream
            .taken
            .iter()
            .map(|c| {
                let per_replica = c.cost / c.replicas.max(1) as f64;
                // Heterogeneous value: cost, with the transition penalty (spec 3.4) on the
                // replicas that are not on the current accelerator.
                let moved = if e.ctx.current_acc == Some(c.acc) {
                    1.0
                } else {
                    1.1
                };
                alloc::Choice {
                    ty: system.accelerators[c.acc].type_index,
                    replicas: c.replicas,
                    units_per_replica: c.units_per_replica,
                    value: c.value,
                    value_per_replica: per_replica * moved,
                    rate_per_replica: c.capacity_per_replica,
                }
            })
            .collect();
        problem.servers.push(alloc::Server {
            level: priorities.partition_point(|&p| p < e.ctx.priority),
            demand: e.ctx.demand,
            min_replicas: e.ctx.spec.min_num_replicas.max(0) as u64,
            choices,
        });
        entry.push(i);
    }
    Built {
        problem,
        entry,
        priorities,
    }
}

/// Runs the MILP or the Lagrangian solver and fills `solution`.
pub(crate) fn run<'a>(
    greedy: &Greedy<'_, 'a>,
    entries: &mut [Entry<'a>],
    available: &mut [u64],
    solution: &mut Solution,
) {
    let (system, options) = (greedy.system, greedy.options);
    let cancel = greedy.cache.cancel();
    size_all(system, entries, options, greedy.cache);
    let built = build(system, entries, options);
    let p = &built.problem;
    let began = Instant::now();
    let limit = options.time_limit.unwrap_or(DEFAULT_TIME_LIMIT);
    // Limits are validated (at most an hour); a deadline past the clock's end means none.
    let deadline = began.checked_add(limit);
    let multi = options.heterogeneous;
    // Both solvers start from the greedy's allocation, so neither returns anything worse.
    let start = (!options.unlimited).then(|| greedy_start(greedy, entries, &built));
    let lagrange = |deadline| {
        alloc::lagrangian(
            p,
            &LagrangeOptions {
                deadline,
                cancel: cancel.clone(),
                max_iterations: options
                    .iterations
                    .unwrap_or(LagrangeOptions::default().max_iterations),
                // With an iteration budget its exact re-solve counts nodes, not time.
                neighbourhood_nodes: options.iterations.map(|_| ITERATION_BUDGET_NODES),
                ..LagrangeOptions::default()
            },
            start.as_ref(),
        )
    };
    let (outcome, bound, name) = if options.solver == SolverKind::Lagrangian {
        let out = lagrange(deadline);
        let bound = out.bound;
        (out, bound, "lagrangian")
    } else {
        // The Lagrangian's allocation starts the MILP; its bound holds in single mode only
        // (heterogeneous optima can be lower).
        let start = lagrange(began.checked_add(limit / 5));
        let out = alloc::milp_cancellable(p, multi, deadline, Some(&start.assignment), cancel);
        let bound = if multi {
            out.bound
        } else {
            out.bound.max(start.bound).min(out.objective)
        };
        (out, bound, "milp")
    };
    let solver_time = began.elapsed();
    let mut left = Vec::new();
    for (k, parts) in outcome.assignment.iter().enumerate() {
        let i = built.entry[k];
        if parts.is_empty() {
            left.push(i);
            continue;
        }
        let e = &entries[i];
        let p = if parts.len() == 1 {
            placement(system, &e.ctx, &e.stream.taken[parts[0].0], parts[0].1)
        } else {
            heterogeneous(system, e, parts)
        };
        take(system, entries, i, parts, available);
        solution.placements.insert(p.server.clone(), p);
    }
    // Servers without candidates are unplaced with their reason; the unserved get best effort.
    for (i, e) in entries.iter().enumerate() {
        if e.stream.taken.is_empty() {
            left.push(i);
        }
    }
    left.sort_by_key(|&i| (entries[i].ctx.priority, i));
    let left = greedy.best_effort(entries, left, available, solution);
    for i in left {
        solution
            .unplaced
            .push(unplaced(system, &entries[i], available));
    }
    let objective = outcome.objective;
    solution.report = SolveReport {
        solver: name,
        status: outcome.status.name(),
        objective,
        bound,
        gap: alloc::relative_gap(objective, bound),
        not_fully_served: p.unserved(&outcome.assignment).iter().sum::<usize>() as u64,
        unserved_floor: if multi {
            None
        } else {
            unserved_floor(&built, &p.unserved(&outcome.assignment), bound)
        },
        iterations: outcome.iterations,
        solver_time,
    };
}

/// The greedy's full placements (no best effort) as an allocation of `built`.
fn greedy_start<'a>(
    greedy: &Greedy<'_, 'a>,
    entries: &mut [Entry<'a>],
    built: &Built,
) -> alloc::Assignment {
    let options = SolveOptions {
        policy: super::SaturationPolicy::None,
        ..*greedy.options
    };
    let plain = Greedy {
        options: &options,
        ..*greedy
    };
    let mut scratch = Solution::default();
    let mut available = greedy.system.capacity.clone();
    plain.run(entries, &mut available, &mut scratch);
    for e in entries.iter_mut() {
        e.cur = 0;
    }
    built
        .entry
        .iter()
        .map(|&i| {
            let e = &entries[i];
            let Some(p) = scratch.placements.get(&e.ctx.spec.name) else {
                return Vec::new();
            };
            e.stream
                .taken
                .iter()
                .position(|c| greedy.system.accelerators[c.acc].name == p.allocation.accelerator)
                .map(|c| vec![(c, e.stream.taken[c].replicas)])
                .unwrap_or_default()
        })
        .collect()
}

fn take(
    system: &System<'_>,
    entries: &[Entry<'_>],
    i: usize,
    parts: &[(usize, u64)],
    available: &mut [u64],
) {
    for &(c, n) in parts {
        let c = &entries[i].stream.taken[c];
        let t = system.accelerators[c.acc].type_index;
        available[t] = available[t].saturating_sub(n.saturating_mul(c.units_per_replica));
    }
}

/// A server served on several accelerators: its load shared in proportion to the capacity of
/// each part, each part's replica analysed at its share.
fn heterogeneous(system: &System<'_>, e: &Entry<'_>, parts: &[(usize, u64)]) -> Placement {
    let carried: f64 = parts
        .iter()
        .map(|&(c, n)| e.stream.taken[c].capacity_per_replica * n as f64)
        .sum();
    let mut out: Vec<Part> = parts
        .iter()
        .map(|&(c, n)| {
            let c = &e.stream.taken[c];
            let acc = &system.accelerators[c.acc];
            let share = if carried > 0.0 {
                e.ctx.demand * c.capacity_per_replica / carried
            } else {
                0.0
            };
            let metrics = c
                .queue(system, &e.ctx)
                .and_then(|q| crate::queue::Analyzer::new(q).ok())
                .and_then(|a| a.analyze(share).ok());
            Part {
                accelerator: acc.name.clone(),
                accelerator_type: system.types[acc.type_index].clone(),
                replicas: n,
                units: n.saturating_mul(c.units_per_replica),
                // Multiplied first: whole cents stay whole.
                cost: c.cost * n as f64 / c.replicas.max(1) as f64,
                rate_per_replica: share,
                itl: metrics.as_ref().map_or(c.itl, |m| m.itl),
                ttft: metrics.as_ref().map_or(c.ttft, |m| m.ttft),
                rho: metrics.as_ref().map_or(c.rho, |m| m.rho),
            }
        })
        .collect();
    // The part with the most units names the allocation (a Deployment has one accelerator).
    out.sort_by(|a, b| {
        b.units
            .cmp(&a.units)
            .then(a.accelerator.cmp(&b.accelerator))
    });
    let (first, _) = parts
        .iter()
        .map(|&(c, _)| (c, &e.stream.taken[c]))
        .find(|(_, c)| system.accelerators[c.acc].name == out[0].accelerator)
        .unwrap_or((parts[0].0, &e.stream.taken[parts[0].0]));
    let main = &e.stream.taken[first];
    let total: u64 = out.iter().map(|p| p.replicas).sum();
    let mut p = placement(system, &e.ctx, main, main.replicas);
    p.allocation.num_replicas = total as i64;
    p.allocation.cost = out.iter().map(|x| x.cost).sum();
    p.allocation.itl_average = out.iter().map(|x| x.itl).fold(0.0, f64::max);
    p.allocation.ttft_average = out.iter().map(|x| x.ttft).fold(0.0, f64::max);
    p.units = out.iter().map(|x| x.units).sum();
    p.rho = out.iter().map(|x| x.rho).fold(0.0, f64::max);
    p.capacity_per_replica = carried / total.max(1) as f64;
    p.value = out
        .iter()
        .map(|x| {
            let moved = e
                .ctx
                .current_acc
                .is_none_or(|a| system.accelerators[a].name != x.accelerator);
            x.cost * if moved { 1.1 } else { 1.0 }
        })
        .sum::<f64>()
        - e.ctx.spec.current_alloc.cost;
    p.required_replicas = total;
    p.best_effort = false;
    p.parts = out;
    p
}

/// The report of a greedy or unlimited solve. The unlimited answer is optimal. For the greedy,
/// when every server is fully served the bound is every server's best candidate (capacities
/// ignored); otherwise [`super::improve::greedy_report`] prices the types without sizing
/// every candidate.
pub(crate) fn heuristic_report<'a>(
    greedy: &Greedy<'_, 'a>,
    entries: &mut [Entry<'a>],
    solution: &Solution,
    solver_time: Duration,
) -> SolveReport {
    let options = greedy.options;
    let full = |e: &Entry<'_>| {
        solution
            .placements
            .get(&e.ctx.spec.name)
            .is_some_and(|p| !p.best_effort)
    };
    let with_candidates = entries.iter().filter(|e| !e.stream.taken.is_empty());
    let not_full = with_candidates.clone().filter(|e| !full(e)).count() as u64;
    let value = |e: &Entry<'_>| {
        solution
            .placements
            .get(&e.ctx.spec.name)
            .map_or(0.0, |p| p.value)
    };
    if not_full == 0 {
        let objective = with_candidates.clone().map(value).fold(0.0, |a, b| a + b);
        let bound = with_candidates
            .map(|e| e.stream.taken[0].value)
            .fold(0.0, |a, b| a + b);
        return SolveReport {
            solver: if options.unlimited {
                "unlimited"
            } else {
                "greedy"
            },
            status: if options.unlimited {
                "optimal"
            } else {
                "heuristic"
            },
            objective,
            bound: bound.min(objective),
            gap: alloc::relative_gap(objective, bound.min(objective)),
            not_fully_served: 0,
            unserved_floor: None,
            iterations: 0,
            solver_time,
        };
    }
    SolveReport {
        solver_time,
        ..super::improve::greedy_report(greedy, entries, full, value)
    }
}
