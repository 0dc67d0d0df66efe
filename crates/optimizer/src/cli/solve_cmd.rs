//! `inferno-optimizer solve`.

use super::table::{num, Table};
use super::{CliError, SolveArgs};
use crate::candidate::BatchSizing;
use crate::solver::{
    solve, time_limit, Placement, Solution, SolveOptions, SolveReport, SolverKind,
};
use inferno_api::{AllocationData, ServerLoadSpec, SystemSpec};
use serde::{Serialize, Serializer};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

/// While a solve runs longer than a second, a line on stderr every second saying how long it
/// has run and may run: a 10 s MILP printed nothing until it ended. Stopped on drop.
struct Ticker {
    stop: std::sync::mpsc::Sender<()>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Ticker {
    fn start(options: &SolveOptions) -> Self {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let what = options.solver.name();
        let limit = match options.solver {
            SolverKind::Greedy => String::new(),
            _ => format!(
                ", time limit {:.0} s",
                options
                    .time_limit
                    .unwrap_or(crate::solver::DEFAULT_TIME_LIMIT)
                    .as_secs_f64()
            ),
        };
        let start = std::time::Instant::now();
        let thread = std::thread::spawn(move || {
            // INFERNO_PROGRESS_INTERVAL_MS: another interval (the tests' short one).
            let second = std::env::var("INFERNO_PROGRESS_INTERVAL_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map_or(
                    std::time::Duration::from_secs(1),
                    std::time::Duration::from_millis,
                );
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(second)
            {
                eprintln!(
                    "inferno-optimizer: solving ({what}{limit}): {:.1} s",
                    start.elapsed().as_secs_f64()
                );
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn run(args: &SolveArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let spec = super::load_servers(&args.path, args.strict)?;
    let mut options = SolveOptions::from_spec(&spec).map_err(CliError::Input)?;
    options.unlimited |= args.unlimited;
    options.delayed_best_effort |= args.delayed_best_effort;
    options.size_all |= args.size_all;
    if let Some(p) = args.policy {
        options.policy = p;
    }
    if let Some(s) = args.batch_sizing {
        options.batch_sizing = s;
    }
    if let Some(s) = args.solver {
        options.solver = s;
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
    // The same ranges as the data's improveIterations and iterationLimit.
    let most = inferno_api::limits::MAX_ITERATIONS as u64;
    if let Some(n) = args.improve {
        if n > most {
            return Err(CliError::Input(format!(
                "--improve: must be an integer in [0, {most}], got {n}"
            )));
        }
        options.improve_iterations = n;
    }
    if let Some(n) = args.iterations {
        if n == 0 || n > most {
            return Err(CliError::Input(format!(
                "--iterations: must be an integer in [1, {most}], got {n}"
            )));
        }
        options.iterations = Some(n);
    }
    let progress = args
        .progress
        .unwrap_or_else(|| std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let solution = {
        let _ticker = progress.then(|| Ticker::start(&options));
        solve(&spec, &options)
    };
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

/// `--json`: written straight from the solution, in the order of keys the output always had
/// (sorted, as when it was built as a `serde_json::Value`). Building that `Value` first took
/// 87 ms for 27,000 servers and held all of it in memory a second time.
fn write_json(solution: &Solution, out: &mut dyn Write) -> Result<(), CliError> {
    let heterogeneous: BTreeMap<&str, serde_json::Value> = solution
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
            (p.server.as_str(), json!(parts))
        })
        .collect();
    let document = JsonSolution {
        allocations: &solution.placements,
        heterogeneous,
        report: report_json(&solution.report),
        unplaced: solution
            .unplaced
            .iter()
            .map(|u| JsonUnplaced {
                code: u.reason.code(),
                reason: u.reason.to_string(),
                server: &u.server,
            })
            .collect(),
    };
    // `out` is stdout, which Rust buffers by line: unbuffered here, pretty JSON costs one
    // write(2) per line (378,000 of them for 27,000 servers, three times the serialising).
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    serde_json::to_writer_pretty(&mut out, &document).map_err(std::io::Error::from)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// The `--json` document. Fields of this and the structs below are in sorted order.
#[derive(Serialize)]
struct JsonSolution<'a> {
    #[serde(serialize_with = "allocations")]
    allocations: &'a BTreeMap<String, Placement>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    heterogeneous: BTreeMap<&'a str, serde_json::Value>,
    report: serde_json::Value,
    unplaced: Vec<JsonUnplaced<'a>>,
}

fn allocations<S: Serializer>(
    placements: &&BTreeMap<String, Placement>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(
        placements
            .iter()
            .map(|(name, p)| (name, JsonAllocation::from(&p.allocation))),
    )
}

#[derive(Serialize)]
struct JsonUnplaced<'a> {
    code: &'static str,
    reason: String,
    server: &'a str,
}

/// An [`AllocationData`] with its keys sorted.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonAllocation<'a> {
    accelerator: &'a str,
    cost: f64,
    itl_average: f64,
    load: JsonLoad,
    max_batch: i64,
    num_replicas: i64,
    ttft_average: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonLoad {
    arrival_rate: f64,
    avg_in_tokens: i64,
    avg_out_tokens: i64,
    #[serde(skip_serializing_if = "is_zero")]
    out_tokens_cv: f64,
    throughput: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl<'a> From<&'a AllocationData> for JsonAllocation<'a> {
    fn from(a: &'a AllocationData) -> Self {
        // No `..`: a new field of the data fails to compile here rather than go missing.
        let AllocationData {
            accelerator,
            num_replicas,
            max_batch,
            cost,
            itl_average,
            ttft_average,
            load,
        } = a;
        let ServerLoadSpec {
            arrival_rate,
            throughput,
            avg_in_tokens,
            avg_out_tokens,
            out_tokens_cv,
        } = load;
        JsonAllocation {
            accelerator,
            cost: *cost,
            itl_average: *itl_average,
            load: JsonLoad {
                arrival_rate: *arrival_rate,
                avg_in_tokens: *avg_in_tokens,
                avg_out_tokens: *avg_out_tokens,
                out_tokens_cv: *out_tokens_cv,
                throughput: *throughput,
            },
            max_batch: *max_batch,
            num_replicas: *num_replicas,
            ttft_average: *ttft_average,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solver::{Part, Reason, Unplaced};

    /// The output as it was first written: one `serde_json::Value`, whose maps sort their keys.
    fn as_value(solution: &Solution) -> String {
        let unplaced: Vec<_> = solution
            .unplaced
            .iter()
            .map(|u| json!({"server": u.server, "code": u.reason.code(), "reason": u.reason.to_string()}))
            .collect();
        let mut value = serde_json::to_value(solution.to_api()).unwrap();
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
        serde_json::to_string_pretty(&value).unwrap() + "\n"
    }

    fn written(solution: &Solution) -> String {
        let mut out = Vec::new();
        write_json(solution, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn solved(sample: &str) -> Solution {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples");
        let spec = inferno_api::load_path(&dir.join(sample)).unwrap().spec;
        solve(&spec, &SolveOptions::from_spec(&spec).unwrap())
    }

    #[test]
    fn json_is_byte_for_byte_what_the_value_gave() {
        let mut solution = solved("large");
        assert!(!solution.placements.is_empty());
        assert_eq!(written(&solution), as_value(&solution));
        // Unplaced servers and a heterogeneous placement, odd numbers included.
        solution.unplaced.push(Unplaced {
            server: "x \"y\"".to_owned(),
            reason: Reason::NoTarget,
        });
        let placement = solution.placements.values_mut().next().unwrap();
        placement.allocation.cost = -0.0;
        placement.allocation.itl_average = f64::NAN;
        placement.allocation.load.throughput = 1e-300;
        placement.parts = vec![Part {
            accelerator: "G2".to_owned(),
            accelerator_type: "G2".to_owned(),
            replicas: 2,
            units: 2,
            cost: 46.5,
            rate_per_replica: 0.1,
            itl: 20.0,
            ttft: f64::INFINITY,
            rho: 0.5,
        }];
        assert_eq!(written(&solution), as_value(&solution));
        let solution = solved("small");
        assert_eq!(written(&solution), as_value(&solution));
    }
}
