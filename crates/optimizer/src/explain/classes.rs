//! What each class's latency targets cost: its servers' cost at the targets against the cost
//! with every target 10% looser, both with capacities ignored (the targets' own price, not
//! the capacities').

use super::frontier::{point, scaled};
use super::Solve;
use crate::error::Error;
use crate::solver::{Solution, SolveOptions};
use inferno_api::SystemSpec;

/// How much looser the counterfactual targets are.
pub const LOOSER: f64 = 1.1;

/// One class of service.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassExplanation {
    /// The class's name.
    pub name: String,
    /// Its priority (1 = most important).
    pub priority: i64,
    /// Its servers' cost at its targets, cents/hr (capacities ignored).
    pub cost: f64,
    /// The same with every TTFT and ITL target of the class [`LOOSER`] times larger.
    pub looser_cost: f64,
}

pub(super) fn classes(
    spec: &SystemSpec,
    options: &SolveOptions,
    unlimited: &Solution,
    solve: &Solve<'_>,
) -> Result<Vec<ClassExplanation>, Error> {
    let unlimited_options = SolveOptions {
        unlimited: true,
        ..*options
    };
    // What the class's servers cost in an answer: the frontier's point at that scale.
    let cost_of = |solution: &Solution, class: &str| point(spec, class, 1.0, solution).cost;
    spec.service_class_data
        .service_classes
        .iter()
        .map(|c| {
            let looser = scaled(spec, &c.name, LOOSER);
            Ok(ClassExplanation {
                name: c.name.clone(),
                priority: c.priority,
                cost: cost_of(unlimited, &c.name),
                looser_cost: cost_of(&solve(&looser, &unlimited_options)?, &c.name),
            })
        })
        .collect()
}
