//! `inferno-optimizer solve`.

use super::table::{num, Table};
use super::{CliError, SolveArgs};
use crate::candidate::BatchSizing;
use crate::solver::{
    solve, time_limit, SaturationPolicy, Solution, SolveOptions, SolveReport, SolverKind,
};
use inferno_api::SystemSpec;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

pub(crate) fn run(args: &SolveArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let spec = super::load(&args.path, args.strict)?;
    // `null`, `{}` and `{"system": null}` parse as an empty system: say so rather than print
    // an empty solution.
    if spec.server_data.servers.is_empty() {
        return Err(CliError::Input(format!(
            "{}: {}",
            args.path.display(),
            crate::Error::NoServers
        )));
    }
    let mut options = SolveOptions::from_spec(&spec).map_err(CliError::Input)?;
    options.unlimited |= args.unlimited;
    options.delayed_best_effort |= args.delayed_best_effort;
    options.size_all |= args.size_all;
    if let Some(p) = &args.policy {
        options.policy = SaturationPolicy::parse(p)
            .ok_or_else(|| CliError::Input(format!("--policy: unknown policy {p:?} (None, PriorityExhaustive, RoundRobin, PriorityRoundRobin)")))?;
    }
    if let Some(s) = &args.batch_sizing {
        options.batch_sizing = BatchSizing::parse(s).ok_or_else(|| {
            CliError::Input(format!(
                "--batch-sizing: unknown rule {s:?} (scaled, search)"
            ))
        })?;
    }
    if let Some(s) = &args.solver {
        options.solver = SolverKind::parse(s).ok_or_else(|| {
            CliError::Input(format!(
                "--solver: unknown solver {s:?} (greedy, milp, lagrangian)"
            ))
        })?;
    }
    if args.heterogeneous {
        options.heterogeneous = true;
        match options.solver {
            SolverKind::Greedy => options.solver = SolverKind::Milp,
            SolverKind::Milp => {}
            SolverKind::Lagrangian => {
                return Err(CliError::Input(
                    "--heterogeneous: solved by the MILP only, not by --solver lagrangian"
                        .to_string(),
                ))
            }
        }
    }
    if let Some(t) = args.time_limit {
        options.time_limit = Some(time_limit("--time-limit", t).map_err(CliError::Input)?);
    }
    let solution = solve(&spec, &options);
    if args.json {
        write_json(&solution, out)?;
    } else {
        write_text(&spec, &options, &solution, out)?;
    }
    Ok(if args.fail_on_unplaced && !solution.unplaced.is_empty() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn write_json(solution: &Solution, out: &mut dyn Write) -> Result<(), CliError> {
    let unplaced: Vec<_> = solution
        .unplaced
        .iter()
        .map(|u| json!({"server": u.server, "code": u.reason.code(), "reason": u.reason.to_string()}))
        .collect();
    let mut value = serde_json::to_value(solution.to_api()).map_err(std::io::Error::from)?;
    value["unplaced"] = json!(unplaced);
    value["report"] = report_json(&solution.report);
    let parts: serde_json::Map<String, serde_json::Value> = solution
        .placements
        .values()
        .filter(|p| !p.parts.is_empty())
        .map(|p| {
            let parts: Vec<_> = p
                .parts
                .iter()
                .map(|x| {
                    json!({"accelerator": x.accelerator, "numReplicas": x.replicas,
                        "cost": x.cost, "rpsPerReplica": x.rate_per_replica,
                        "itlAverage": x.itl, "ttftAverage": x.ttft, "rho": x.rho})
                })
                .collect();
            (p.server.clone(), json!(parts))
        })
        .collect();
    if !parts.is_empty() {
        value["heterogeneous"] = serde_json::Value::Object(parts);
    }
    serde_json::to_writer_pretty(&mut *out, &value).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

fn report_json(r: &SolveReport) -> serde_json::Value {
    json!({
        "solver": r.solver,
        "status": r.status,
        "objective": r.objective,
        "bound": r.bound,
        "gap": r.gap,
        "notFullyServed": r.not_fully_served,
        "unservedFloor": r.unserved_floor.map(|f| json!({
            "priority": f.priority, "unserved": f.unserved, "atLeast": f.at_least})),
        "iterations": r.iterations,
        "solverMs": r.solver_time.as_secs_f64() * 1e3,
    })
}

fn write_text(
    spec: &SystemSpec,
    options: &SolveOptions,
    solution: &Solution,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut t = Table::new(
        &[
            "SERVER",
            "CLASS",
            "MODEL",
            "RPM",
            "IN/OUT",
            "GPU x N",
            "BATCH",
            "COST",
            "ITL ms (target)",
            "TTFT ms (target)",
            "HEADROOM",
        ],
        3,
    );
    let targets: BTreeMap<(&str, &str), (f64, f64)> = spec
        .service_class_data
        .service_classes
        .iter()
        .flat_map(|c| {
            c.model_targets
                .iter()
                .map(move |m| ((c.name.as_str(), m.model.as_str()), (m.slo_itl, m.slo_ttft)))
        })
        .collect();
    let target = |v: f64, t: f64| {
        if t > 0.0 {
            format!("{} ({})", num(v, 2), num(t, 0))
        } else {
            num(v, 2)
        }
    };
    for s in &spec.server_data.servers {
        let class = s.class_name();
        let load = &s.current_alloc.load;
        let (itl_t, ttft_t) = targets
            .get(&(class, s.model.as_str()))
            .copied()
            .unwrap_or((0.0, 0.0));
        let mut row = vec![
            s.name.clone(),
            class.to_string(),
            s.model.clone(),
            num(load.arrival_rate, 1),
            format!("{}/{}", load.avg_in_tokens, load.avg_out_tokens),
        ];
        match solution.placements.get(&s.name) {
            Some(p) => {
                let a = &p.allocation;
                let gpu = if a.accelerator.is_empty() {
                    "-".to_string()
                } else {
                    a.accelerator.clone()
                };
                let mut replicas = format!("{gpu} x {}", a.num_replicas);
                if p.best_effort {
                    replicas.push_str(&format!(" (of {})", p.required_replicas));
                }
                let headroom = if p.demand > 0.0 {
                    let carried = p.capacity_per_replica * a.num_replicas as f64;
                    format!("{:+.0}%", (carried / p.demand - 1.0) * 100.0)
                } else {
                    "-".to_string()
                };
                row.extend([
                    replicas,
                    a.max_batch.to_string(),
                    num(a.cost, 2),
                    target(a.itl_average, itl_t),
                    target(a.ttft_average, ttft_t),
                    headroom,
                ]);
            }
            None => row.extend([
                "unplaced".to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]),
        }
        t.row(row);
    }
    writeln!(out, "{}", t.render())?;

    let mut types = Table::new(&["TYPE", "USED", "CAPACITY", "COST"], 1);
    for (name, (used, cap)) in &solution.usage {
        let cost: f64 = solution
            .placements
            .values()
            .filter(|p| &p.accelerator_type == name)
            .map(|p| p.allocation.cost)
            .fold(0.0, |a, b| a + b);
        let cap = if options.unlimited {
            format!("{cap} (ignored)")
        } else {
            cap.to_string()
        };
        types.row(vec![name.clone(), used.to_string(), cap, num(cost, 2)]);
    }
    writeln!(out, "{}", types.render())?;

    for u in &solution.unplaced {
        writeln!(out, "unplaced {}: {}", u.server, u.reason)?;
    }
    for p in solution.placements.values().filter(|p| !p.parts.is_empty()) {
        let parts: Vec<String> = p
            .parts
            .iter()
            .map(|x| {
                format!(
                    "{} x {} (ITL {} ms, TTFT {} ms at {} req/s each)",
                    x.accelerator,
                    x.replicas,
                    num(x.itl, 2),
                    num(x.ttft, 2),
                    num(x.rate_per_replica, 3)
                )
            })
            .collect();
        writeln!(out, "heterogeneous {}: {}", p.server, parts.join(" + "))?;
    }
    let r = &solution.report;
    if let Some(f) = r.unserved_floor {
        writeln!(
            out,
            "priority {}: {} servers not fully served; any allocation that serves every more important server leaves at least {} of them unserved",
            f.priority, f.unserved, f.at_least
        )?;
    }
    writeln!(
        out,
        "solver {} ({}): objective {}, bound {}, gap {:.4}%, {} not fully served, {} iterations, {:.1} ms",
        r.solver,
        r.status,
        num(r.objective, 2),
        num(r.bound, 2),
        r.gap * 100.0,
        r.not_fully_served,
        r.iterations,
        r.solver_time.as_secs_f64() * 1e3
    )?;
    let st = &solution.stats;
    writeln!(
        out,
        "placed {}/{} servers, total cost {} cents/hr; {} mode, policy {}, batch sizing {}; {} candidates sized, {} skipped by bound; {:.1} ms",
        solution.placements.len(),
        spec.server_data.servers.len(),
        num(solution.total_cost(), 2),
        if options.unlimited { "unlimited" } else { "capacity-limited" },
        options.policy.name(),
        match options.batch_sizing {
            BatchSizing::Scaled => "scaled",
            BatchSizing::Search => "search",
            BatchSizing::Fit => "fit",
        },
        st.candidates_sized,
        st.candidates_skipped,
        st.duration.as_secs_f64() * 1e3,
    )?;
    Ok(())
}
