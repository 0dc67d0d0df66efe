//! The exact solver: mixed-integer programs solved by `microlp` (simplex and branch and bound,
//! in Rust), one per stage of the lexicographic objective.
//!
//! Single mode (spec 4.6 SINGLE): binary `x_ij` = server i takes choice j. Heterogeneous mode
//! (spec 4.6 MULTI): integer `y_ij` = replicas of server i on choice j, binary `z_i` = server i
//! served, with `sum_j r_ij y_ij >= demand_i z_i` and `sum_j y_ij >= minReplicas_i z_i`.
//!
//! Rather than one program with penalties spanning many orders of magnitude (which the
//! simplex's tolerances would blur), the priority levels are solved in turn: level 0 maximises
//! its served servers; each next level maximises its own with the levels above held to their
//! counts; a last program minimises value with every count held. A level that the starting
//! allocation already serves in full needs no program of its own.

use super::{relative_gap, Assignment, Outcome, Problem, Status};
use crate::cancel::Cancel;
use microlp::{ComparisonOp, OptimizationDirection, SolveOutcome, TerminationReason, Variable};
use std::time::{Duration, Instant};

/// Longest stretch microlp runs without a look at the cancellation flag: it has no flag of its
/// own, so the search runs in time slices, resumed until done, the deadline or cancellation.
const SLICE: Duration = Duration::from_millis(100);

/// What a stage optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goal {
    /// Maximise the servers served at this level.
    Count(usize),
    /// Minimise the total value.
    Value,
}

/// The variables of one program.
struct Vars {
    /// Per server: (choice, variable), x_ij or y_ij.
    choice: Vec<Vec<(usize, Variable)>>,
    /// Per server (heterogeneous mode): z_i.
    served: Vec<Option<Variable>>,
}

/// Result of one stage.
struct Stage {
    assignment: Option<Assignment>,
    proven: bool,
    bound: Option<f64>,
    nodes: u64,
}

/// Solves `p` exactly (single or heterogeneous mode) within `deadline`, starting from the
/// feasible allocation `start` if given.
pub fn milp(
    p: &Problem,
    multi: bool,
    deadline: Option<Instant>,
    start: Option<&Assignment>,
) -> Outcome {
    milp_cancellable(p, multi, deadline, start, &Cancel::new())
}

/// [`milp`] that also stops (status [`Status::Cancelled`], with the best allocation found so
/// far) within about 100 ms of `cancel` being raised.
pub fn milp_cancellable(
    p: &Problem,
    multi: bool,
    deadline: Option<Instant>,
    start: Option<&Assignment>,
    cancel: &Cancel,
) -> Outcome {
    milp_limited(p, multi, Limit::Clock(deadline), start, cancel)
}

/// What stops a MILP search short of a proof.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// A deadline (None: none), with the cancellation flag looked at ten times a second.
    Clock(Option<Instant>),
    /// Branch-and-bound nodes per stage: the answer depends on the input only. The flag is
    /// looked at between stages.
    Nodes(u64),
}

/// [`milp_cancellable`] under a [`Limit`].
pub fn milp_limited(
    p: &Problem,
    multi: bool,
    limit: Limit,
    start: Option<&Assignment>,
    cancel: &Cancel,
) -> Outcome {
    let began = Instant::now();
    let penalties = p.penalties(multi);
    let mut best: Assignment = start
        .filter(|a| p.feasible(a, multi))
        .cloned()
        .unwrap_or_else(|| vec![Vec::new(); p.servers.len()]);
    let levels = p.levels();
    let mut servable = vec![0usize; levels];
    let mut size = vec![0usize; levels];
    for s in &p.servers {
        size[s.level] += 1;
        if !s.choices.is_empty() {
            servable[s.level] += 1;
        }
    }
    let served = |a: &Assignment, l: usize| {
        p.servers
            .iter()
            .zip(a)
            .filter(|(s, parts)| s.level == l && !parts.is_empty())
            .count()
    };
    let mut counts: Vec<usize> = Vec::new();
    let mut nodes = 0;
    // Penalties of the levels settled so far, and the bound once a stage is left unproven.
    let mut settled_penalty = 0.0;
    let mut cut_short: Option<f64> = None;
    for l in 0..levels {
        let have = served(&best, l);
        if have < servable[l] {
            let stage = run(p, multi, Goal::Count(l), &counts, &best, limit, cancel);
            nodes += stage.nodes;
            if let Some(a) = stage.assignment.filter(|a| served(a, l) > have) {
                best = a;
            }
            if !stage.proven {
                // At most `bound` servers of this level can be served; levels below might all
                // be, at the least value each could have; servers served at this level and
                // above add their values, which can be negative (a cheaper allocation than the
                // current one).
                let most = stage
                    .bound
                    .map_or(servable[l], |b| ((-b) + 1e-6).floor().max(0.0) as usize)
                    .min(servable[l]);
                let floor_value: f64 = p
                    .servers
                    .iter()
                    .filter(|s| !s.choices.is_empty())
                    .map(|s| {
                        let v = least_value(s, multi);
                        if s.level > l {
                            v
                        } else {
                            v.min(0.0)
                        }
                    })
                    .sum();
                cut_short = Some(
                    settled_penalty
                        + penalties[l] * (size[l] - most) as f64
                        + p.servers
                            .iter()
                            .filter(|s| s.level > l && s.choices.is_empty())
                            .map(|s| penalties[s.level])
                            .sum::<f64>()
                        + floor_value,
                );
                counts.push(served(&best, l));
                break;
            }
        }
        let n = served(&best, l);
        settled_penalty += penalties[l] * (size[l] - n) as f64;
        counts.push(n);
    }
    let mut status = Status::Optimal;
    let bound = match cut_short {
        Some(b) => {
            status = Status::TimeLimit;
            b
        }
        None => {
            let stage = run(p, multi, Goal::Value, &counts, &best, limit, cancel);
            nodes += stage.nodes;
            if let Some(a) = stage.assignment {
                if p.objective(&a, multi, &penalties) <= p.objective(&best, multi, &penalties) {
                    best = a;
                }
            }
            if !stage.proven {
                status = Status::TimeLimit;
            }
            let floor = stage.bound.unwrap_or_else(|| {
                p.servers
                    .iter()
                    .filter(|s| !s.choices.is_empty())
                    .map(|s| least_value(s, multi))
                    .sum()
            });
            settled_penalty + floor
        }
    };
    let objective = p.objective(&best, multi, &penalties);
    let bound = bound.min(objective);
    if status == Status::Optimal && relative_gap(objective, bound) > 1e-6 {
        status = Status::TimeLimit;
    }
    if status == Status::TimeLimit && cancel.is_cancelled() {
        status = Status::Cancelled;
    } else if status == Status::TimeLimit && matches!(limit, Limit::Nodes(_)) {
        status = Status::IterationLimit;
    }
    Outcome {
        assignment: best,
        objective,
        bound,
        status,
        iterations: nodes,
        elapsed: began.elapsed(),
        prices: Vec::new(),
    }
}

/// The least value a served server can have (a server's term in the objective is never below
/// it, served or not: the penalties exceed every value).
fn least_value(s: &super::Server, multi: bool) -> f64 {
    if multi {
        // Replica counts never exceed `max_replicas`, and values are usually costs (>= 0).
        s.choices
            .iter()
            .map(|c| (c.value_per_replica * s.max_replicas(c) as f64).min(0.0))
            .sum()
    } else {
        s.choices
            .iter()
            .map(|c| c.value)
            .fold(f64::INFINITY, f64::min)
    }
}

/// Builds and solves one stage.
fn run(
    p: &Problem,
    multi: bool,
    goal: Goal,
    counts: &[usize],
    start: &Assignment,
    limit: Limit,
    cancel: &Cancel,
) -> Stage {
    let deadline = match limit {
        Limit::Clock(deadline) => deadline,
        Limit::Nodes(_) => None,
    };
    let unproven = Stage {
        assignment: None,
        proven: false,
        bound: None,
        nodes: 0,
    };
    // The next time slice: at most SLICE, and never past the deadline; None once the
    // deadline has passed or the flag is up.
    let slice = || -> Option<Duration> {
        if cancel.is_cancelled() {
            return None;
        }
        match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(t) if t > Duration::ZERO => Some(t.min(SLICE)),
                _ => None,
            },
            None => Some(SLICE),
        }
    };
    let Some(first) = slice() else {
        return unproven;
    };
    let (program, vars) = build(p, multi, goal, counts);
    let mut options = microlp::SolveOptions::default();
    options.warm_start = Some(hint(p, &vars, start));
    if let Limit::Nodes(nodes) = limit {
        options.node_limit = Some(nodes);
    } else {
        options.time_limit = Some(first);
    }
    let mut outcome = program.solve_with(options);
    // Resume slice by slice while the search is only out of time.
    while let Ok(o) = &outcome {
        if o.termination_reason() != TerminationReason::TimeLimit {
            break;
        }
        let Some(next) = slice() else {
            break;
        };
        let mut resume = o.last_resume_options();
        resume.time_limit = Some(next);
        outcome = match outcome {
            Ok(o) => o.resume_with(resume),
            Err(e) => Err(e),
        };
    }
    let solution = match outcome {
        Ok(SolveOutcome::Solution(s)) => s,
        // Out of time before an allocation of its own: the bound it proved still holds
        // (thrown away before, which left a 28% gap where 0.02% was proven).
        Ok(SolveOutcome::Interrupted(i)) => {
            return Stage {
                nodes: i.stats().nodes_solved,
                bound: i.stats().best_bound,
                ..unproven
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "MILP stage failed; keeping the best allocation so far");
            return unproven;
        }
    };
    let stats = solution.stats();
    let assignment = read(p, &vars, &solution);
    Stage {
        proven: solution.status() == microlp::SolutionStatus::Optimal,
        bound: stats.best_bound,
        nodes: stats.nodes_solved,
        assignment: Some(assignment),
    }
}

fn build(p: &Problem, multi: bool, goal: Goal, counts: &[usize]) -> (microlp::Problem, Vars) {
    let mut program = microlp::Problem::new(OptimizationDirection::Minimize);
    let levels_full: Vec<bool> = (0..p.levels())
        .map(|l| {
            let servable = p
                .servers
                .iter()
                .filter(|s| s.level == l && !s.choices.is_empty())
                .count();
            counts.get(l).is_some_and(|&n| n == servable)
        })
        .collect();
    let mut vars = Vars {
        choice: Vec::with_capacity(p.servers.len()),
        served: Vec::with_capacity(p.servers.len()),
    };
    let mut capacity_rows: Vec<Vec<(Variable, f64)>> = vec![Vec::new(); p.capacity.len()];
    let mut count_rows: Vec<Vec<(Variable, f64)>> = vec![Vec::new(); counts.len()];
    for s in &p.servers {
        let counted = goal == Goal::Count(s.level);
        let must = levels_full.get(s.level).copied().unwrap_or(false) && !s.choices.is_empty();
        let mut row = Vec::with_capacity(s.choices.len());
        let served = if multi && !s.choices.is_empty() {
            let obj = if counted { -1.0 } else { 0.0 };
            let z = if must {
                program.add_integer_var(obj, (1, 1))
            } else {
                program.add_binary_var(obj)
            };
            Some(z)
        } else {
            None
        };
        for (j, c) in s.choices.iter().enumerate() {
            let v = if multi {
                let obj = if goal == Goal::Value {
                    c.value_per_replica
                } else {
                    0.0
                };
                let most = i32::try_from(s.max_replicas(c)).unwrap_or(i32::MAX);
                program.add_integer_var(obj, (0, most))
            } else {
                let obj = match goal {
                    Goal::Value => c.value,
                    Goal::Count(_) if counted => -1.0,
                    Goal::Count(_) => 0.0,
                };
                program.add_binary_var(obj)
            };
            let units = if multi {
                c.units_per_replica
            } else {
                c.units()
            };
            capacity_rows[c.ty].push((v, units as f64));
            row.push((j, v));
        }
        match served {
            Some(z) => {
                let mut rate: Vec<(Variable, f64)> = row
                    .iter()
                    .map(|&(j, v)| (v, s.choices[j].rate_per_replica))
                    .collect();
                rate.push((z, -s.demand));
                program.add_constraint(rate, ComparisonOp::Ge, 0.0);
                let mut replicas: Vec<(Variable, f64)> =
                    row.iter().map(|&(_, v)| (v, 1.0)).collect();
                replicas.push((z, -(s.min_replicas as f64)));
                program.add_constraint(replicas, ComparisonOp::Ge, 0.0);
                if let Some(r) = count_rows.get_mut(s.level) {
                    r.push((z, 1.0));
                }
            }
            None if !row.is_empty() => {
                let one: Vec<(Variable, f64)> = row.iter().map(|&(_, v)| (v, 1.0)).collect();
                let op = if must {
                    ComparisonOp::Eq
                } else {
                    ComparisonOp::Le
                };
                program.add_constraint(one.clone(), op, 1.0);
                if let Some(r) = count_rows.get_mut(s.level) {
                    r.extend(one);
                }
            }
            None => {}
        }
        vars.choice.push(row);
        vars.served.push(served);
    }
    for (l, row) in count_rows.into_iter().enumerate() {
        if !levels_full[l] && counts[l] > 0 && !row.is_empty() {
            program.add_constraint(row, ComparisonOp::Ge, counts[l] as f64);
        }
    }
    for (k, row) in capacity_rows.into_iter().enumerate() {
        if let (Some(cap), false) = (p.capacity[k], row.is_empty()) {
            program.add_constraint(row, ComparisonOp::Le, cap as f64);
        }
    }
    (program, vars)
}

/// The starting allocation as variable values.
fn hint(p: &Problem, vars: &Vars, a: &Assignment) -> Vec<(Variable, f64)> {
    let mut values = Vec::new();
    for (s, parts) in a.iter().enumerate() {
        for &(j, v) in &vars.choice[s] {
            let n = parts.iter().find(|x| x.0 == j).map_or(0, |x| x.1);
            let value = if vars.served[s].is_some() {
                n as f64
            } else {
                f64::from(u8::from(n > 0))
            };
            values.push((v, value));
        }
        if let Some(z) = vars.served[s] {
            values.push((z, f64::from(u8::from(!parts.is_empty()))));
        }
        debug_assert!(p.servers[s].choices.len() == vars.choice[s].len());
    }
    values
}

fn read(p: &Problem, vars: &Vars, solution: &microlp::Solution) -> Assignment {
    (0..p.servers.len())
        .map(|s| {
            if let Some(z) = vars.served[s] {
                if solution.var_value(z) < 0.5 {
                    return Vec::new();
                }
                vars.choice[s]
                    .iter()
                    .map(|&(j, v)| (j, solution.var_value(v).round().max(0.0) as u64))
                    .filter(|&(_, n)| n > 0)
                    .collect()
            } else {
                vars.choice[s]
                    .iter()
                    .find(|&&(_, v)| solution.var_value(v) > 0.5)
                    .map(|&(j, _)| vec![(j, p.servers[s].choices[j].replicas)])
                    .unwrap_or_default()
            }
        })
        .collect()
}
