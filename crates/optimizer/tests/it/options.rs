//! The optimizer data's iteration fields reach the solver: `improveIterations` and
//! `iterationLimit`, from the text of a system file through [`SolveOptions::from_spec`] to the
//! solve.

use super::solver_exact::squeezed;
use super::solver_vectors::{options, sample};
use inferno_api::{parse_system, SystemSpec};
use inferno_optimizer::solver::DEFAULT_IMPROVE_ITERATIONS;
use inferno_optimizer::{solve, SaturationPolicy, SolveOptions, SolverKind};
use serde_json::Value;
use std::time::Duration;

/// `spec` written as a system file with `flags` as its optimizer data, and read back.
fn with_flags(spec: &SystemSpec, flags: &str) -> SystemSpec {
    let mut value = serde_json::to_value(spec).unwrap();
    value["optimizerData"]["optimizer"] = serde_json::from_str::<Value>(flags).unwrap();
    let text = serde_json::to_string(&serde_json::json!({ "system": value })).unwrap();
    parse_system(&text, "system-data.json").unwrap()
}

fn from_flags(flags: &str) -> SolveOptions {
    SolveOptions::from_spec(&with_flags(&sample("small"), flags)).unwrap()
}

#[test]
fn absent_fields_are_the_defaults() {
    let o = from_flags("{}");
    assert_eq!(o.improve_iterations, DEFAULT_IMPROVE_ITERATIONS);
    assert_eq!(DEFAULT_IMPROVE_ITERATIONS, 200);
    assert_eq!(o.iterations, None);
    // The samples' own data has neither.
    let o = SolveOptions::from_spec(&sample("small")).unwrap();
    assert_eq!((o.improve_iterations, o.iterations), (200, None));
}

#[test]
fn given_fields_are_read() {
    let o = from_flags(r#"{"improveIterations": 0}"#);
    assert_eq!((o.improve_iterations, o.iterations), (0, None));
    // 0 is the reference's greedy, as the spec's vectors run it.
    let spec = with_flags(&sample("small"), r#"{"improveIterations": 0}"#);
    assert_eq!(SolveOptions::from_spec(&spec).unwrap(), options(&spec));
    let o = from_flags(r#"{"solver": "lagrangian", "iterationLimit": 50}"#);
    assert_eq!(o.solver, SolverKind::Lagrangian);
    assert_eq!((o.improve_iterations, o.iterations), (200, Some(50)));
    let o = from_flags(r#"{"improveIterations": 1000000, "iterationLimit": 1}"#);
    assert_eq!((o.improve_iterations, o.iterations), (1_000_000, Some(1)));
}

#[test]
fn out_of_range_fields_are_errors_naming_them() {
    for (field, value) in [
        ("improveIterations", -1),
        ("improveIterations", 1_000_001),
        ("iterationLimit", 0),
        ("iterationLimit", -3),
        ("iterationLimit", i64::MAX),
    ] {
        let mut spec = sample("small");
        let o = &mut spec.optimizer_data.optimizer;
        match field {
            "improveIterations" => o.improve_iterations = Some(value),
            _ => o.iteration_limit = Some(value),
        }
        let e = SolveOptions::from_spec(&spec).unwrap_err();
        assert!(
            e.starts_with(&format!("optimizer.{field}: ")) && e.contains(&format!("got {value}")),
            "{e}"
        );
    }
}

/// The data's budget is the Lagrangian's: it stops there (the time limit, far off, does not).
#[test]
fn the_data_budget_bounds_the_lagrangian() {
    let spec = squeezed(2, 7, 0.3, 0.6);
    let flags = r#"{"solver": "lagrangian", "timeLimitSeconds": 600, "iterationLimit": 5}"#;
    let spec = with_flags(&spec, flags);
    let options = SolveOptions {
        policy: SaturationPolicy::None,
        ..SolveOptions::from_spec(&spec).unwrap()
    };
    assert_eq!(options.time_limit, Some(Duration::from_secs(600)));
    let s = solve(&spec, &options);
    assert_eq!(s.report.solver, "lagrangian", "{:?}", s.report);
    assert!((1..=5).contains(&s.report.iterations), "{:?}", s.report);
}
