//! Checks of the optimizer data, and the values its string fields accept ([`SOLVERS`],
//! [`SATURATION_POLICIES`], [`BATCH_SIZINGS`]).

use super::checker::Checker;
use crate::limits::{self, MAX_CHANGE_SECONDS, MAX_ITERATIONS, MAX_TIME_LIMIT_SECONDS};
use crate::types::SystemSpec;

/// Saturation policies of the reference (`""` means `None`).
pub const SATURATION_POLICIES: [&str; 4] = [
    "None",
    "PriorityExhaustive",
    "PriorityRoundRobin",
    "RoundRobin",
];

/// Batch-size rules (`""` means `scaled`).
pub const BATCH_SIZINGS: [&str; 3] = ["scaled", "fit", "search"];
/// Values of `solver` in the optimizer data (case-insensitive; empty = greedy).
pub const SOLVERS: [&str; 3] = ["greedy", "milp", "lagrangian"];

pub(super) fn optimizer(c: &mut Checker, spec: &SystemSpec, file: &str) {
    let o = &spec.optimizer_data.optimizer;
    let at = (file, "optimizer");
    let policy = o.saturation_policy.as_str();
    if !policy.is_empty() && !SATURATION_POLICIES.contains(&policy) {
        let message = format!(
            "unknown policy {policy:?}; expected one of {} (or empty)",
            SATURATION_POLICIES.join(", ")
        );
        c.error(at, "saturationPolicy", message);
    }
    let sizing = o.batch_sizing.as_str();
    if !sizing.is_empty() && !BATCH_SIZINGS.contains(&sizing) {
        let message = format!("unknown rule {sizing:?}; expected scaled, fit or search (or empty)");
        c.error(at, "batchSizing", message);
    }
    let solver = o.solver.to_ascii_lowercase();
    if !solver.is_empty() && !SOLVERS.contains(&solver.as_str()) {
        let message = format!(
            "unknown solver {:?}; expected one of {} (or empty)",
            o.solver,
            SOLVERS.join(", ")
        );
        c.error(at, "solver", message);
    }
    if o.heterogeneous && solver == "lagrangian" {
        let message = "heterogeneous allocations are solved by the MILP; the Lagrangian solver \
                       handles one accelerator kind per server"
            .to_string();
        c.error(at, "heterogeneous", message);
    }
    if o.milp_solver && !solver.is_empty() && solver != "milp" {
        let message = format!("milpSolver is true but solver is {:?}", o.solver);
        c.error(at, "solver", message);
    }
    if let Some(why) = limits::out_of_range(o.time_limit_seconds, MAX_TIME_LIMIT_SECONDS) {
        c.error(
            at,
            "timeLimitSeconds",
            format!("{why} seconds (0 = the default)"),
        );
    }
    for (field, v) in [
        ("startupSeconds", o.startup_seconds),
        ("paybackSeconds", o.payback_seconds),
    ] {
        if let Some(why) = limits::out_of_range(v, MAX_CHANGE_SECONDS) {
            c.error(at, field, format!("{why} seconds"));
        }
    }
    // Absent is the optimizer's default; 0 is given, and means no improvement.
    if let Some(n) = o.improve_iterations {
        if let Some(why) = limits::count_out_of_range(n, MAX_ITERATIONS) {
            c.error(at, "improveIterations", format!("{why} (0 = off)"));
        }
    }
    // Absent is no budget; a budget of 0 iterations would be no solve at all.
    if let Some(n) = o.iteration_limit {
        if !(1..=MAX_ITERATIONS).contains(&n) {
            let message = format!("must be an integer in [1, {MAX_ITERATIONS}], got {n}");
            c.error(at, "iterationLimit", message);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::limits::MAX_ITERATIONS;
    use crate::validate::fixtures::*;

    #[test]
    fn optimizer_strings() {
        for good in [
            "",
            "None",
            "PriorityExhaustive",
            "PriorityRoundRobin",
            "RoundRobin",
        ] {
            let mut spec = system();
            spec.optimizer_data.optimizer.saturation_policy = good.to_owned();
            assert_eq!(problems(&mut spec), vec![], "{good}");
        }
        for good in ["", "scaled", "search"] {
            let mut spec = system();
            spec.optimizer_data.optimizer.batch_sizing = good.to_owned();
            assert_eq!(problems(&mut spec), vec![], "{good}");
        }
        let p = only(|s| s.optimizer_data.optimizer.saturation_policy = "roundrobin".to_owned());
        assert_at(&p, E, OPT, "optimizer", "saturationPolicy");
        let p = only(|s| s.optimizer_data.optimizer.batch_sizing = "Search".to_owned());
        assert_at(&p, E, OPT, "optimizer", "batchSizing");
    }

    #[test]
    fn solver_fields() {
        for good in ["", "greedy", "MILP", "Lagrangian"] {
            let mut spec = system();
            spec.optimizer_data.optimizer.solver = good.to_owned();
            spec.optimizer_data.optimizer.time_limit_seconds = 2.5;
            assert_eq!(problems(&mut spec), vec![], "{good}");
        }
        let mut spec = system();
        spec.optimizer_data.optimizer.heterogeneous = true;
        spec.optimizer_data.optimizer.milp_solver = true;
        assert_eq!(problems(&mut spec), vec![]);
        let p = only(|s| s.optimizer_data.optimizer.solver = "simplex".to_owned());
        assert_at(&p, E, OPT, "optimizer", "solver");
        let p = only(|s| {
            s.optimizer_data.optimizer.solver = "lagrangian".to_owned();
            s.optimizer_data.optimizer.heterogeneous = true;
        });
        assert_at(&p, E, OPT, "optimizer", "heterogeneous");
        let p = only(|s| {
            s.optimizer_data.optimizer.solver = "greedy".to_owned();
            s.optimizer_data.optimizer.milp_solver = true;
        });
        assert_at(&p, E, OPT, "optimizer", "solver");
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let p = only(|s| s.optimizer_data.optimizer.time_limit_seconds = bad);
            assert_at(&p, E, OPT, "optimizer", "timeLimitSeconds");
        }
    }

    #[test]
    fn iteration_fields() {
        for (improve, limit) in [
            (None, None),
            (Some(0), Some(1)),
            (Some(200), Some(3000)),
            (Some(MAX_ITERATIONS), Some(MAX_ITERATIONS)),
        ] {
            let mut spec = system();
            spec.optimizer_data.optimizer.improve_iterations = improve;
            spec.optimizer_data.optimizer.iteration_limit = limit;
            assert_eq!(problems(&mut spec), vec![], "{improve:?} {limit:?}");
        }
        for bad in [-1, MAX_ITERATIONS + 1, i64::MIN, i64::MAX] {
            let p = only(|s| s.optimizer_data.optimizer.improve_iterations = Some(bad));
            assert_at(&p, E, OPT, "optimizer", "improveIterations");
            assert!(p.message.contains(&format!("got {bad}")), "{p}");
        }
        for bad in [0, -1, MAX_ITERATIONS + 1, i64::MIN, i64::MAX] {
            let p = only(|s| s.optimizer_data.optimizer.iteration_limit = Some(bad));
            assert_at(&p, E, OPT, "optimizer", "iterationLimit");
            assert!(p.message.contains(&format!("got {bad}")), "{p}");
        }
        let p = only(|s| s.optimizer_data.optimizer.iteration_limit = Some(0));
        assert_eq!(
            p.to_string(),
            "optimizer-data.json: optimizer: field iterationLimit: must be an integer in \
             [1, 1000000], got 0"
        );
    }
}
