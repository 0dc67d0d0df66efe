//! Solvers: from candidates to a solution (spec 4).
//!
//! [`solve`] builds every server's context and candidate stream (in parallel), then runs the
//! unlimited solver (each server takes its best candidate), the greedy solver with
//! capacities, priority groups and a saturation policy, or the exact MILP / Lagrangian solvers
//! (docs/solvers.md). A server that cannot be placed is reported with its reason; the rest of
//! the solution is still returned, with a report of its objective, bound and gap.

mod exact;
mod greedy;
mod improve;
mod policy;
mod reason;

pub(crate) use exact::build;
pub use exact::{Part, SolveReport, SolverKind, UnservedFloor, DEFAULT_TIME_LIMIT};
pub use policy::SaturationPolicy;
pub use reason::Reason;

use crate::cancel::Cancel;
use crate::candidate::{BatchSizing, Candidate, ChangeCost, ServerContext, SizingCache};
use crate::error::Error;
use crate::stream::CandidateStream;
use crate::system::System;
use inferno_api::limits::{self, MAX_TIME_LIMIT_SECONDS};
use inferno_api::{AllocationData, AllocationSolution, SystemSpec};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Solver options (from the optimizer data, overridable by callers such as the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SolveOptions {
    /// Which solver places the servers.
    pub solver: SolverKind,
    /// Several accelerator kinds per server (solved by the MILP).
    pub heterogeneous: bool,
    /// Time limit of the MILP and Lagrangian solvers (None = [`DEFAULT_TIME_LIMIT`]).
    pub time_limit: Option<Duration>,
    /// Ignore capacities.
    pub unlimited: bool,
    /// Best effort once after all priorities (true) or after each priority group (false).
    pub delayed_best_effort: bool,
    /// What to do with servers that do not fit.
    pub policy: SaturationPolicy,
    /// Batch-size rule.
    pub batch_sizing: BatchSizing,
    /// What a change of allocation costs (none by default).
    pub change: ChangeCost,
    /// Size every (server, accelerator) pair instead of skipping those whose value bound
    /// cannot win. The solution is the same; this exists to prove it and to measure the gain.
    pub size_all: bool,
    /// Greedy: when it leaves servers unserved, the subgradient iterations spent improving
    /// its answer (docs/solvers.md 1.6); 0 keeps the reference's greedy as it is.
    pub improve_iterations: u64,
    /// Lagrangian: an iteration budget besides the time limit. With one, the answer depends
    /// on the input and the budget only (no step of the solve stops on the clock unless the
    /// time limit does).
    pub iterations: Option<u64>,
}

/// The greedy's improvement budget when the data and the caller give none.
pub const DEFAULT_IMPROVE_ITERATIONS: u64 = 200;

impl SolveOptions {
    /// Options from the optimizer data of `spec`; unknown policy or sizing strings, and
    /// iteration counts out of range, are errors naming the field. No `improveIterations` is
    /// [`DEFAULT_IMPROVE_ITERATIONS`]; no `iterationLimit`, no iteration budget.
    pub fn from_spec(spec: &SystemSpec) -> Result<Self, String> {
        let o = &spec.optimizer_data.optimizer;
        let mut solver = SolverKind::parse(&o.solver).ok_or_else(|| {
            format!(
                "optimizer.solver: unknown solver {:?} (greedy, milp, lagrangian)",
                o.solver
            )
        })?;
        if o.milp_solver || o.heterogeneous {
            match solver {
                SolverKind::Greedy if o.solver.is_empty() => solver = SolverKind::Milp,
                SolverKind::Milp => {}
                other if o.heterogeneous => {
                    return Err(format!(
                        "optimizer.heterogeneous: solved by the MILP only, but solver is {:?}",
                        other.name()
                    ))
                }
                other => {
                    return Err(format!(
                        "optimizer.solver: milpSolver is true but solver is {:?}",
                        other.name()
                    ))
                }
            }
        }
        let seconds = o.time_limit_seconds;
        let time_limit = if seconds == 0.0 {
            None
        } else {
            Some(time_limit("optimizer.timeLimitSeconds", seconds)?)
        };
        // The loader's validation refuses the same; a spec built in code is checked here.
        let count = |field: &str, n: i64, min: i64| {
            u64::try_from(n)
                .ok()
                .filter(|_| (min..=limits::MAX_ITERATIONS).contains(&n))
                .ok_or_else(|| {
                    format!(
                        "{field}: must be an integer in [{min}, {}], got {n}",
                        limits::MAX_ITERATIONS
                    )
                })
        };
        let improve_iterations = match o.improve_iterations {
            None => DEFAULT_IMPROVE_ITERATIONS,
            Some(n) => count("optimizer.improveIterations", n, 0)?,
        };
        let iterations = o
            .iteration_limit
            .map(|n| count("optimizer.iterationLimit", n, 1))
            .transpose()?;
        Ok(Self {
            solver,
            heterogeneous: o.heterogeneous,
            time_limit,
            unlimited: o.unlimited,
            delayed_best_effort: o.delayed_best_effort,
            policy: SaturationPolicy::parse(&o.saturation_policy).ok_or_else(|| {
                format!(
                    "optimizer.saturationPolicy: unknown policy {:?}",
                    o.saturation_policy
                )
            })?,
            batch_sizing: BatchSizing::parse(&o.batch_sizing).ok_or_else(|| {
                format!("optimizer.batchSizing: unknown rule {:?}", o.batch_sizing)
            })?,
            change: ChangeCost::from_seconds(o.startup_seconds, o.payback_seconds),
            size_all: false,
            improve_iterations,
            iterations,
        })
    }
}

/// A solver time limit of `seconds`, or an error naming `field` when it is not a number of
/// seconds in `(0, MAX_TIME_LIMIT_SECONDS]` (never a panic, whatever the float).
pub fn time_limit(field: &str, seconds: f64) -> Result<Duration, String> {
    let why = || {
        format!(
            "{field}: must be a number of seconds in (0, {}], got {}",
            limits::show(MAX_TIME_LIMIT_SECONDS),
            limits::show(seconds)
        )
    };
    if !(seconds > 0.0 && seconds <= MAX_TIME_LIMIT_SECONDS) {
        return Err(why());
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| why())
}

/// A placed server.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// Server name.
    pub server: String,
    /// The allocation in the data-file format (load echoed from the input).
    pub allocation: AllocationData,
    /// Replicas the targets need (more than `allocation.numReplicas` for best effort).
    pub required_replicas: u64,
    /// Placed with fewer replicas than needed by a saturation policy.
    pub best_effort: bool,
    /// Accelerator type (for capacity accounting), "" when no accelerator is needed.
    pub accelerator_type: String,
    /// Units of the type taken.
    pub units: u64,
    /// Predicted utilisation.
    pub rho: f64,
    /// Transition value of the choice.
    pub value: f64,
    /// Requests/s one replica carries within targets.
    pub capacity_per_replica: f64,
    /// Load the server must carry, requests/s.
    pub demand: f64,
    /// Heterogeneous mode: the replicas on each accelerator (empty: all on `allocation`'s).
    pub parts: Vec<Part>,
}

/// A server that could not be placed.
#[derive(Debug, Clone, PartialEq)]
pub struct Unplaced {
    /// Server name.
    pub server: String,
    /// Why.
    pub reason: Reason,
}

/// Counters of one solve.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SolveStats {
    /// (Server, accelerator) pairs that were sized or found without perf data.
    pub candidates_sized: u64,
    /// Sizing problems solved (the rest came from the cache).
    pub sizings: u64,
    /// Sizing cache hits.
    pub cache_hits: u64,
    /// Accelerator candidates never sized because their bound could not win.
    pub candidates_skipped: u64,
    /// Wall time.
    pub duration: Duration,
}

/// The result of a solve.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Solution {
    /// Placed servers by name.
    pub placements: BTreeMap<String, Placement>,
    /// Servers not placed, in server-file order.
    pub unplaced: Vec<Unplaced>,
    /// Units used and available per accelerator type, by type name.
    pub usage: BTreeMap<String, (u64, u64)>,
    /// Counters.
    pub stats: SolveStats,
    /// Solver, objective, bound and gap.
    pub report: SolveReport,
}

impl Solution {
    /// Total cost of the placed servers, cents/hr.
    pub fn total_cost(&self) -> f64 {
        // Start from +0: an empty f64 sum is -0.
        self.placements
            .values()
            .map(|p| p.allocation.cost)
            .fold(0.0, |a, b| a + b)
    }

    /// The solution in the reference format (`{"allocations": {...}}`).
    pub fn to_api(&self) -> AllocationSolution {
        AllocationSolution {
            allocations: self
                .placements
                .iter()
                .map(|(k, p)| (k.clone(), p.allocation.clone()))
                .collect(),
        }
    }
}

/// One server while solving.
pub(crate) struct Entry<'a> {
    pub(crate) ctx: ServerContext<'a>,
    pub(crate) stream: CandidateStream,
    /// Index of the candidate the greedy is trying.
    pub(crate) cur: usize,
}

/// Solves `spec` with `options`.
pub fn solve(spec: &SystemSpec, options: &SolveOptions) -> Solution {
    // Nobody else holds the flag, so the solve cannot be cancelled.
    solve_cancellable(spec, options, &Cancel::new()).unwrap_or_default()
}

/// Solves `spec` with `options`, stopping early with [`Error::Cancelled`] once `cancel` is
/// raised: every sizing, greedy step, best-effort pass, subgradient iteration and MILP time
/// slice checks it, and none of them takes long.
pub fn solve_cancellable(
    spec: &SystemSpec,
    options: &SolveOptions,
    cancel: &Cancel,
) -> Result<Solution, Error> {
    let start = Instant::now();
    let system = System::new(spec);
    let cache = SizingCache::new(cancel.clone());
    let first = if options.unlimited { 1 } else { 2 };

    let count = if options.size_all { usize::MAX } else { first };
    let prepared = prepare(&system, options, &cache, count)?;

    let mut solution = Solution::default();
    let mut entries = Vec::with_capacity(prepared.len());
    for (i, p) in prepared.into_iter().enumerate() {
        match p {
            Ok(e) if e.ctx.needs_nothing() => {
                let placement = zero_replicas(&system, &e.ctx);
                solution
                    .placements
                    .insert(placement.server.clone(), placement);
            }
            Ok(e) => entries.push(e),
            Err(reason) => solution.unplaced.push(Unplaced {
                server: system.servers()[i].name.clone(),
                reason,
            }),
        }
    }

    let mut available = system.capacity.clone();
    let greedy = greedy::Greedy {
        system: &system,
        options,
        cache: &cache,
    };
    let solver_start = Instant::now();
    let mut improved = None;
    // Without capacities each server's best candidate is optimal in single mode; the exact
    // solvers are for capacities and for heterogeneous mode.
    let exact =
        options.heterogeneous || (options.solver != SolverKind::Greedy && !options.unlimited);
    if exact {
        exact::run(&greedy, &mut entries, &mut available, &mut solution);
    } else if options.unlimited {
        for e in &entries {
            match e.stream.taken.first() {
                Some(c) => {
                    let p = placement(&system, &e.ctx, c, c.replicas);
                    solution.placements.insert(p.server.clone(), p);
                }
                None => solution.unplaced.push(Unplaced {
                    server: e.ctx.spec.name.clone(),
                    reason: Reason::no_candidate(&system, &e.stream),
                }),
            }
        }
    } else if options.improve_iterations > 0 {
        improved = greedy_improved(&greedy, &mut entries, &mut available, &mut solution);
    } else {
        prefetch(&system, &mut entries, options, &cache);
        greedy.run(&mut entries, &mut available, &mut solution);
    }
    if let Some(mut report) = improved {
        report.solver_time = solver_start.elapsed();
        solution.report = report;
    } else if !exact {
        let time = solver_start.elapsed();
        solution.report = exact::heuristic_report(&greedy, &mut entries, &solution, time);
    }
    // Whatever ran after the flag went up stopped half way: its answer is not one.
    if cancel.check() {
        return Err(Error::Cancelled);
    }

    for (t, name) in system.types.iter().enumerate() {
        let cap = system.capacity.get(t).copied().unwrap_or(0);
        let used = if options.unlimited {
            solution
                .placements
                .values()
                .flat_map(|p| {
                    let whole =
                        (p.parts.is_empty() && &p.accelerator_type == name).then_some(p.units);
                    let parts = p.parts.iter().filter(|x| &x.accelerator_type == name);
                    whole.into_iter().chain(parts.map(|x| x.units))
                })
                .sum()
        } else {
            cap - available[t]
        };
        solution.usage.insert(name.clone(), (used, cap));
    }
    let order: BTreeMap<&str, usize> = system
        .servers()
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    solution
        .unplaced
        .sort_by_key(|u| order.get(u.server.as_str()).copied());
    let (sizings, cache_hits) = cache.stats();
    let sized: u64 = entries
        .iter()
        .map(|e| (e.stream.taken.len() + e.stream.failures.len()) as u64)
        .sum();
    solution.stats = SolveStats {
        candidates_sized: sizings + cache_hits,
        sizings,
        cache_hits,
        candidates_skipped: entries
            .iter()
            .map(|e| e.ctx.accelerators.len() as u64)
            .sum::<u64>()
            .saturating_sub(sized),
        duration: start.elapsed(),
    };
    Ok(solution)
}

/// Candidates sized ahead of the greedy, at most, per server.
const PREFETCH: usize = 6;

/// Sizes ahead, in parallel, what the greedy will want when capacities bind: the greedy
/// takes servers one at a time and sizes a server's next candidate when its current one does
/// not fit, one sizing after the other. The types that every server's first candidate would
/// overfill are known before it starts; each server with a candidate on one of them gets its
/// candidates sized until two are on other types (at most [`PREFETCH`]). The streams hand out
/// the same candidates in the same order whoever sized them, so the answer is the same.
fn prefetch<'a>(
    system: &System<'a>,
    entries: &mut [Entry<'a>],
    options: &SolveOptions,
    cache: &SizingCache,
) {
    let over = overfilled(system, entries);
    if !over.contains(&true) {
        return;
    }
    let on_over = |c: &Candidate| over[system.accelerators[c.acc].type_index];
    entries.par_iter_mut().for_each(|e| {
        if !e.stream.taken.iter().any(on_over) {
            return;
        }
        while e.stream.taken.len() < PREFETCH
            && !e.stream.exhausted()
            && e.stream.taken.iter().filter(|c| !on_over(c)).count() < 2
        {
            let n = e.stream.taken.len() + 1;
            e.stream
                .fill(n, system, &e.ctx, options.batch_sizing, cache);
        }
    });
}

/// Per type, whether every server's first candidate together would take more than it has.
fn overfilled(system: &System<'_>, entries: &[Entry<'_>]) -> Vec<bool> {
    let mut want = vec![0u64; system.types.len()];
    for e in entries {
        if let Some(c) = e.stream.taken.first() {
            let t = system.accelerators[c.acc].type_index;
            want[t] = want[t].saturating_add(c.units());
        }
    }
    want.iter()
        .enumerate()
        .map(|(t, &w)| w > system.capacity.get(t).copied().unwrap_or(0))
        .collect()
}

/// The default with capacities (docs/solvers.md 1.6). Where every server's first candidate
/// fits, each gets it: the reference's greedy gives the same, and it is optimal. Otherwise
/// [`improve::improve`] finds the answer from prices: on a system no larger than its pricing
/// sample starting from the greedy's answer (without best effort), so never worse than it;
/// on a larger one from the prices alone, since there the greedy's fallbacks, sized one
/// server at a time as its queue reaches them, would cost more than the whole improvement.
/// Returns the report of an improved answer.
fn greedy_improved<'a>(
    greedy: &greedy::Greedy<'_, 'a>,
    entries: &mut [Entry<'a>],
    available: &mut [u64],
    solution: &mut Solution,
) -> Option<SolveReport> {
    let budget = greedy.options.improve_iterations;
    let binds = overfilled(greedy.system, entries).contains(&true);
    if binds && improve::sampled(entries) {
        let start = vec![None; entries.len()];
        return Some(improve::improve(
            greedy, entries, &start, budget, available, solution,
        ));
    }
    if binds {
        prefetch(greedy.system, entries, greedy.options, greedy.cache);
    }
    let plain_options = SolveOptions {
        policy: SaturationPolicy::None,
        ..*greedy.options
    };
    let plain = greedy::Greedy {
        options: &plain_options,
        ..*greedy
    };
    let mut trial = Solution::default();
    let mut left = available.to_vec();
    plain.run(entries, &mut left, &mut trial);
    // A server that fell back from its first candidate met a full type: capacities bind,
    // and the greedy's answer may cost more than it must even when it serves everyone.
    let served = |e: &Entry<'_>| trial.placements.contains_key(&e.ctx.spec.name);
    if entries
        .iter()
        .all(|e| e.stream.taken.is_empty() || (served(e) && e.cur == 0))
    {
        available.copy_from_slice(&left);
        solution.placements.append(&mut trial.placements);
        solution.unplaced.append(&mut trial.unplaced);
        return None;
    }
    let system = greedy.system;
    let start: Vec<Option<usize>> = entries
        .iter()
        .map(|e| {
            let p = trial.placements.get(&e.ctx.spec.name)?;
            e.stream
                .sized()
                .find(|c| system.accelerators[c.acc].name == p.allocation.accelerator)
                .map(|c| c.acc)
        })
        .collect();
    for e in entries.iter_mut() {
        e.cur = 0;
    }
    Some(improve::improve(
        greedy, entries, &start, budget, available, solution,
    ))
}

/// Contexts of every server, in parallel, with the first `count` candidates of those that need
/// any sized; or the reason a server has no context. [`Error::Cancelled`] once the cache's
/// flag is up.
pub(crate) fn prepare<'a>(
    system: &System<'a>,
    options: &SolveOptions,
    cache: &SizingCache,
    count: usize,
) -> Result<Vec<Result<Entry<'a>, Reason>>, Error> {
    (0..system.servers().len())
        .into_par_iter()
        .map(|i| {
            if cache.cancel().check() {
                return Err(Error::Cancelled);
            }
            Ok(ServerContext::new(system, i)
                .map(|ctx| ctx.with_change(options.change))
                .map_err(Reason::from)
                .map(|ctx| {
                    let mut stream = CandidateStream::new(system, &ctx, options.batch_sizing);
                    if !ctx.needs_nothing() {
                        stream.fill(count, system, &ctx, options.batch_sizing, cache);
                    }
                    Entry {
                        ctx,
                        stream,
                        cur: 0,
                    }
                }))
        })
        .collect()
}

/// The abstract allocation problem `spec` poses under `options` (every candidate sized; servers
/// with no candidate, or needing nothing, left out), with the names of its servers: for
/// comparing solvers on the same problem and for studying it (bounds, relaxations).
pub fn allocation_problem(
    spec: &SystemSpec,
    options: &SolveOptions,
) -> (crate::alloc::Problem, Vec<String>) {
    let system = System::new(spec);
    let cache = SizingCache::default();
    let entries: Vec<Entry<'_>> = prepare(&system, options, &cache, usize::MAX)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| e.ok().filter(|e| !e.ctx.needs_nothing()))
        .collect();
    let built = exact::build(&system, &entries, options);
    let names = built
        .entry
        .iter()
        .map(|&i| entries[i].ctx.spec.name.clone())
        .collect();
    (built.problem, names)
}

/// A placement of `count` replicas of candidate `c` (fewer than `c.replicas` = best effort,
/// re-analysed at the real per-replica load).
pub(crate) fn placement(
    system: &System<'_>,
    ctx: &ServerContext<'_>,
    c: &Candidate,
    count: u64,
) -> Placement {
    let acc = &system.accelerators[c.acc];
    // Share of the candidate's cost and value: multiplied before dividing, so that whole
    // cents stay whole (45 x 1 / 3 is 15; 45 x (1 / 3) is 14.999999999999998).
    let scale = |x: f64| x * count as f64 / c.replicas.max(1) as f64;
    let (mut itl, mut ttft, mut rho) = (c.itl, c.ttft, c.rho);
    let best_effort = count < c.replicas;
    if best_effort && count > 0 {
        if let Some(m) = c
            .queue(system, ctx)
            .and_then(|q| crate::queue::Analyzer::new(q).ok())
            .and_then(|a| a.analyze(ctx.demand / count as f64).ok())
        {
            (itl, ttft, rho) = (m.itl, m.ttft, m.rho);
        }
    }
    Placement {
        server: ctx.spec.name.clone(),
        allocation: AllocationData {
            accelerator: acc.name.clone(),
            num_replicas: count as i64,
            max_batch: i64::from(c.batch),
            cost: scale(c.cost),
            itl_average: itl,
            ttft_average: ttft,
            load: ctx.spec.current_alloc.load.clone(),
        },
        required_replicas: c.replicas,
        best_effort,
        accelerator_type: system.types[acc.type_index].clone(),
        units: count.saturating_mul(c.units_per_replica),
        rho,
        value: scale(c.value),
        capacity_per_replica: c.capacity_per_replica,
        demand: ctx.demand,
        parts: Vec::new(),
    }
}

/// Zero load and no minimum (spec 7.3 fixed): placed with 0 replicas. The accelerator label is
/// kept as it is so that scaling to zero does not also flip the accelerator.
fn zero_replicas(system: &System<'_>, ctx: &ServerContext<'_>) -> Placement {
    let current = ctx.current_acc.map(|a| &system.accelerators[a]);
    Placement {
        server: ctx.spec.name.clone(),
        allocation: AllocationData {
            accelerator: current.map(|a| a.name.clone()).unwrap_or_default(),
            load: ctx.spec.current_alloc.load.clone(),
            ..AllocationData::default()
        },
        required_replicas: 0,
        best_effort: false,
        accelerator_type: current
            .map(|a| system.types[a.type_index].clone())
            .unwrap_or_default(),
        units: 0,
        rho: 0.0,
        value: 0.0,
        capacity_per_replica: 0.0,
        demand: 0.0,
        parts: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: a solve whose flag is up stops and says so; nothing is returned as a solution.
    #[test]
    fn a_cancelled_solve_is_an_error() {
        let base = crate::synthetic::replicate(
            &inferno_api::load_path(std::path::Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../samples/small"
            )))
            .unwrap()
            .spec,
            3,
            1,
        );
        let options = SolveOptions::from_spec(&base).unwrap();
        let cancel = Cancel::new();
        assert!(solve_cancellable(&base, &options, &cancel).is_ok());
        assert_eq!(cancel.observed(), 0);
        cancel.cancel();
        for solver in [SolverKind::Greedy, SolverKind::Milp, SolverKind::Lagrangian] {
            let options = SolveOptions { solver, ..options };
            let got = solve_cancellable(&base, &options, &cancel);
            assert_eq!(got, Err(Error::Cancelled), "{solver:?}");
        }
        assert!(cancel.observed() >= 3);
    }

    /// Issue 16 (medium): `timeLimitSeconds: 1e300` panicked in `Duration::from_secs_f64`.
    #[test]
    fn time_limits_are_checked_not_panics() {
        for bad in [1e300, f64::INFINITY, f64::NAN, -1.0, 0.0, 3600.5] {
            let err = time_limit("--time-limit", bad).unwrap_err();
            assert!(
                err.starts_with("--time-limit: must be a number of seconds in (0, 3600], got"),
                "{err}"
            );
        }
        assert_eq!(time_limit("x", 2.5), Ok(Duration::from_millis(2500)));
        let mut spec = SystemSpec::default();
        spec.optimizer_data.optimizer.time_limit_seconds = 1e300;
        let err = SolveOptions::from_spec(&spec).unwrap_err();
        assert!(err.contains("optimizer.timeLimitSeconds"), "{err}");
    }
}
