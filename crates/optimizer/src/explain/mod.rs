//! Why the optimizer decided what it did (docs/explain.md): what a unit of each scarce GPU type
//! is worth, what each server got and what it would have cost elsewhere, and the least cost
//! that meets every target when capacity is no object.
//!
//! Everything here is computed from the solver and the queueing model themselves: prices by
//! solving again with one unit more or less, the LP price of each capacity row from the
//! Lagrangian dual with the capacities over which it clears, each server's best candidate on
//! every other type from the same sizing, and the lower bound from the unlimited solve.

mod classes;
mod frontier;
mod prices;
mod servers;

pub use classes::{ClassExplanation, LOOSER};
pub use frontier::{FrontierPoint, Switch, SCALES};
pub use prices::{Delta, TypeExplanation};
pub use servers::{Alternative, ServerExplanation};

use crate::cancel::Cancel;
use crate::candidate::SizingCache;
use crate::error::Error;
use crate::solver::{build, prepare, solve_cancellable, Solution, SolveOptions};
use crate::system::System;
use inferno_api::SystemSpec;
use std::collections::BTreeMap;

/// Systems with at most this many servers get their prices from the exact MILP (so they are
/// the optimum's, whatever heuristic made the decision); larger ones from the decision's own
/// solver.
pub const EXACT_PRICES_UP_TO: usize = 500;

/// The explanation of one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The decision itself.
    pub decision: Summary,
    /// The least cost that meets every target with capacities ignored, and the units of each
    /// type it takes: what the capacities cost, beside every limited decision.
    pub lower_bound: Summary,
    /// How the prices were found: `exact` (the MILP) or the decision's solver's name.
    pub priced_by: &'static str,
    /// Per accelerator type (those with capacity, or used by either answer).
    pub types: Vec<TypeExplanation>,
    /// Per class: what its targets cost.
    pub classes: Vec<ClassExplanation>,
    /// Per server, in server-file order.
    pub servers: Vec<ServerExplanation>,
}

/// Cost, servers served and units used by one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Total cost, cents/hr.
    pub cost: f64,
    /// Servers fully served.
    pub served: u64,
    /// Servers with candidates that are not fully served.
    pub not_served: u64,
    /// Units used per type.
    pub units: BTreeMap<String, u64>,
}

impl Summary {
    fn of(s: &Solution) -> Self {
        let served = s.placements.values().filter(|p| !p.best_effort).count() as u64;
        Self {
            cost: s.total_cost(),
            served,
            not_served: s.report.not_fully_served,
            units: s
                .usage
                .iter()
                .filter(|(_, u)| u.0 > 0)
                .map(|(t, u)| (t.clone(), u.0))
                .collect(),
        }
    }
}

/// How much to explain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    /// Everything.
    #[default]
    Full,
    /// Only what is cheap (for a control loop, every cycle): the LP prices, the lower bound and
    /// each server's choice, margin and headroom; no exact solves with a unit more or less, no
    /// class costs, no type switches.
    Brief,
}

/// Explains the decision `options` give on `spec`.
pub fn explain(spec: &SystemSpec, options: &SolveOptions) -> Explanation {
    // Nobody else holds the flag, so it cannot be cancelled.
    explain_cancellable(spec, options, Depth::Full, &Cancel::new())
        .expect("a flag nobody holds is never raised")
}

/// [`explain`], stopping with [`Error::Cancelled`] once `cancel` is raised (every solve it
/// makes checks the flag).
pub fn explain_cancellable(
    spec: &SystemSpec,
    options: &SolveOptions,
    depth: Depth,
    cancel: &Cancel,
) -> Result<Explanation, Error> {
    let full = depth == Depth::Full;
    let solve =
        |spec: &SystemSpec, options: &SolveOptions| solve_cancellable(spec, options, cancel);
    let decision = solve(spec, options)?;
    let unlimited = solve(
        spec,
        &SolveOptions {
            unlimited: true,
            ..*options
        },
    )?;
    // Every candidate of every server, sized once: for the runners-up and, as the allocation
    // problem, for the LP prices.
    let system = System::new(spec);
    let cache = SizingCache::new(cancel.clone());
    let mut index = Vec::new();
    let mut entries = Vec::new();
    for p in prepare(&system, options, &cache, usize::MAX)? {
        index.push(p.ok().map(|e| {
            entries.push(e);
            entries.len() - 1
        }));
    }
    let single = SolveOptions {
        heterogeneous: false,
        unlimited: false,
        ..*options
    };
    let duals = prices::dual_prices(&build(&system, &entries, &single).problem, cancel);
    let (priced_by, types) =
        prices::types(spec, options, &decision, &unlimited, &duals, full, &solve)?;
    Ok(Explanation {
        decision: Summary::of(&decision),
        lower_bound: Summary::of(&unlimited),
        priced_by,
        types,
        classes: if full {
            classes::classes(spec, options, &unlimited, &solve)?
        } else {
            Vec::new()
        },
        servers: servers::servers(&system, &entries, &index, options, &decision, full, &solve)?,
    })
}

/// A solve that may be cancelled.
type Solve<'c> = dyn Fn(&SystemSpec, &SolveOptions) -> Result<Solution, Error> + 'c;

/// The frontier of `class`: its servers' cost with capacities ignored at every scale of
/// [`SCALES`] of its TTFT and ITL targets.
pub fn frontier(
    spec: &SystemSpec,
    options: &SolveOptions,
    class: &str,
) -> Result<Vec<FrontierPoint>, Error> {
    let cancel = Cancel::new();
    let solve =
        |spec: &SystemSpec, options: &SolveOptions| solve_cancellable(spec, options, &cancel);
    frontier::frontier(spec, options, class, &solve)
}
