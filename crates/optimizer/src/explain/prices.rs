//! What a unit of each accelerator type is worth: the change of the answer with one unit
//! more and one unit less (solved again), and the type's LP price with the capacities over
//! which it holds.

use super::Solve;
use super::EXACT_PRICES_UP_TO;
use crate::alloc::{self, clearing_range, Flat, LagrangeOptions, Problem};
use crate::error::Error;
use crate::solver::{Solution, SolveOptions, SolverKind};
use crate::system::System;
use inferno_api::{AcceleratorCount, SystemSpec};
use std::time::{Duration, Instant};

/// One accelerator type.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeExplanation {
    /// The type's name.
    pub name: String,
    /// Units available.
    pub capacity: u64,
    /// Units the decision uses.
    pub used: u64,
    /// Units the least-cost answer with capacities ignored uses.
    pub unlimited_use: u64,
    /// That answer wants more than the capacity: the capacity shapes the decision.
    pub binding: bool,
    /// The optimum with one unit more, against the optimum as it is (None: the system is too
    /// large for exact solves, [`EXACT_PRICES_UP_TO`], or the MILP did not prove both answers
    /// optimal within its limits).
    pub one_more: Option<Delta>,
    /// The optimum with one unit less (None also when there is none to take away).
    pub one_less: Option<Delta>,
    /// The type's price per unit in the LP relaxation (cents/hr per unit; value per unit
    /// when changes are priced), from the Lagrangian dual; only a price that clears the
    /// type's capacity (`clears_between` holds it) is shown, None otherwise.
    pub dual_price: Option<f64>,
    /// The capacities over which that price holds: from the first to the second (None: no
    /// upper end).
    pub clears_between: Option<(f64, Option<f64>)>,
}

/// How an answer changes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delta {
    /// Cost, cents/hr (negative: a saving).
    pub cost: f64,
    /// Servers fully served.
    pub served: i64,
    /// The solvers' objective (value plus the penalties of the unserved, docs/solvers.md 1.1).
    pub objective: f64,
}

/// Prices of every type with capacity or used by either answer, and how they were found:
/// `exact` (MILP solves with a unit more and less) or `LP` (the dual prices alone).
pub(super) fn types(
    spec: &SystemSpec,
    options: &SolveOptions,
    decision: &Solution,
    unlimited: &Solution,
    duals: &Option<Duals>,
    full: bool,
    solve: &Solve<'_>,
) -> Result<(&'static str, Vec<TypeExplanation>), Error> {
    // A heuristic's answers with a unit more or less differ by its own noise (on 2,700
    // servers the greedy's "one more" unit cost tens of thousands of cents/hr): only the
    // exact optimum's change says what a unit is worth.
    let exact =
        full && spec.server_data.servers.len() <= EXACT_PRICES_UP_TO && !options.heterogeneous;
    let pricing = SolveOptions {
        solver: SolverKind::Milp,
        time_limit: Some(SOLVE_LIMIT),
        ..*options
    };
    // A change is the optimum's only when the MILP proves both answers optimal: one it does
    // not prove within its limit (a scarce system of a few hundred servers can take the MILP
    // minutes) is left out, and all of them once the budget is spent.
    let proven = |s: Solution| (s.report.status == "optimal").then_some(s);
    let until = Instant::now() + PRICING_BUDGET;
    let base = if exact {
        solve(spec, &pricing).map(proven)?
    } else {
        None
    };
    let priced_by = if base.is_some() { "exact" } else { "LP" };
    let system = System::new(spec);
    let mut out = Vec::new();
    for (t, name) in system.types.iter().enumerate() {
        let capacity = system.capacity.get(t).copied().unwrap_or(0);
        let used = decision.usage.get(name).map_or(0, |u| u.0);
        let unlimited_use = unlimited.usage.get(name).map_or(0, |u| u.0);
        if capacity == 0 && used == 0 && unlimited_use == 0 {
            continue;
        }
        let with = |units: u64| -> Result<Option<Delta>, Error> {
            let Some(base) = base.as_ref() else {
                return Ok(None);
            };
            if Instant::now() >= until {
                return Ok(None);
            }
            let changed = with_capacity(spec, name, units);
            Ok(proven(solve(&changed, &pricing)?).map(|other| delta(base, &other)))
        };
        // Only a price at which the type clears its capacity is one (500 iterations may
        // leave a large system's prices short of that).
        let cap = capacity as f64;
        let (dual_price, clears_between) = match duals {
            Some((pi, ranges)) => match ranges[t] {
                Some((lo, hi)) if lo <= cap && hi.is_none_or(|h| cap <= h) => {
                    (Some(pi[t]), ranges[t])
                }
                _ => (None, None),
            },
            None => (None, None),
        };
        out.push(TypeExplanation {
            name: name.clone(),
            capacity,
            used,
            unlimited_use,
            binding: unlimited_use > capacity,
            one_more: with(capacity + 1)?,
            one_less: match capacity.checked_sub(1) {
                Some(units) => with(units)?,
                None => None,
            },
            dual_price,
            clears_between,
        });
    }
    Ok((priced_by, out))
}

/// Time limit of each exact solve with a unit more or less.
const SOLVE_LIMIT: Duration = Duration::from_secs(2);
/// Time for all of them: what is not solved by then is left out.
const PRICING_BUDGET: Duration = Duration::from_secs(20);

/// `spec` with `units` of type `name`.
fn with_capacity(spec: &SystemSpec, name: &str, units: u64) -> SystemSpec {
    let mut changed = spec.clone();
    let rows = &mut changed.capacity_data.count;
    rows.retain(|c| c.acc_type != name);
    rows.push(AcceleratorCount {
        acc_type: name.to_string(),
        count: units as i64,
    });
    changed
}

fn delta(base: &Solution, other: &Solution) -> Delta {
    let served = |s: &Solution| s.placements.values().filter(|p| !p.best_effort).count() as i64;
    Delta {
        cost: other.total_cost() - base.total_cost(),
        served: served(other) - served(base),
        objective: other.report.objective - base.report.objective,
    }
}

/// Per type, its LP price and the capacities over which it clears (None: not limited).
pub(super) type Duals = (Vec<f64>, Vec<Option<(f64, Option<f64>)>>);

/// Iterations of the Lagrangian for the LP prices.
const DUAL_ITERATIONS: u64 = 500;

/// Per type, the Lagrangian's price over `problem` (every candidate of every server) and the
/// capacities it clears; None when the problem has no server with a candidate.
pub(super) fn dual_prices(problem: &Problem, cancel: &crate::cancel::Cancel) -> Option<Duals> {
    if problem.servers.is_empty() {
        return None;
    }
    let out = alloc::lagrangian(
        problem,
        &LagrangeOptions {
            max_iterations: DUAL_ITERATIONS,
            polish_rounds: 0,
            neighbourhood_nodes: Some(0),
            cancel: cancel.clone(),
            ..LagrangeOptions::default()
        },
        None,
    );
    let flat = Flat::of(problem);
    let penalties = problem.penalties(false);
    let ranges = (0..problem.capacity.len())
        .map(|k| {
            problem.capacity[k]
                .is_some()
                .then(|| clearing_range(&flat, &out.prices, &penalties, k))
        })
        .collect();
    Some((out.prices, ranges))
}
