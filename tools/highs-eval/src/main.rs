//! microlp 0.7 vs HiGHS (through the `highs` crate) on Inferno's staged allocation MILP.
//!
//! The stage programs are built exactly as `crates/optimizer/src/alloc/milp.rs` builds them
//! (same variables in the same order, same rows), into a backend-neutral model, then handed to
//! each backend. microlp is driven as the project drives it: default options, the starting
//! allocation as `warm_start`, the time limit in 100 ms slices resumed until done. HiGHS gets
//! the same model, the same time limit, the same starting allocation (`setSolution`), exact
//! optimality (`mip_rel_gap = 0`) and one thread.
//!
//! Usage: highs-eval --copies N --factor F [--multi] [--limit SECONDS] [--starts cold,warm]
//!                   [--backends microlp,highs] [--project] [--write PATH]

use inferno_api::{load_path, SystemData, SystemSpec};
use inferno_optimizer::alloc::{self, Assignment, LagrangeOptions, Problem};
use inferno_optimizer::synthetic::replicate;
use inferno_optimizer::{allocation_problem, solve, SolveOptions, SolverKind};
use std::path::Path;
use std::time::{Duration, Instant};

const SEED: u64 = 24301; // 0x5eed, as benches/scarce.rs and `generate --seed 24301`
const SAMPLES: &str = "/tmp/highs-eval/snapshot/samples/large";

// ---------------------------------------------------------------------------------------
// The backend-neutral program.

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Binary,
    Integer(i32, i32),
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Le,
    Ge,
    Eq,
}

#[derive(Default)]
struct Model {
    cost: Vec<f64>,
    kind: Vec<Kind>,
    rows: Vec<(Vec<(usize, f64)>, Op, f64)>,
}

impl Model {
    fn var(&mut self, cost: f64, kind: Kind) -> usize {
        self.cost.push(cost);
        self.kind.push(kind);
        self.cost.len() - 1
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Goal {
    Count(usize),
    Value,
}

struct Vars {
    choice: Vec<Vec<(usize, usize)>>,
    served: Vec<Option<usize>>,
}

/// Port of milp.rs `build`.
fn build(p: &Problem, multi: bool, goal: Goal, counts: &[usize]) -> (Model, Vars) {
    let mut m = Model::default();
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
        choice: Vec::new(),
        served: Vec::new(),
    };
    let mut capacity_rows: Vec<Vec<(usize, f64)>> = vec![Vec::new(); p.capacity.len()];
    let mut count_rows: Vec<Vec<(usize, f64)>> = vec![Vec::new(); counts.len()];
    for s in &p.servers {
        let counted = goal == Goal::Count(s.level);
        let must = levels_full.get(s.level).copied().unwrap_or(false) && !s.choices.is_empty();
        let mut row = Vec::new();
        let served = if multi && !s.choices.is_empty() {
            let obj = if counted { -1.0 } else { 0.0 };
            Some(if must {
                m.var(obj, Kind::Integer(1, 1))
            } else {
                m.var(obj, Kind::Binary)
            })
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
                m.var(obj, Kind::Integer(0, most))
            } else {
                let obj = match goal {
                    Goal::Value => c.value,
                    Goal::Count(_) if counted => -1.0,
                    Goal::Count(_) => 0.0,
                };
                m.var(obj, Kind::Binary)
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
                let mut rate: Vec<(usize, f64)> = row
                    .iter()
                    .map(|&(j, v)| (v, s.choices[j].rate_per_replica))
                    .collect();
                rate.push((z, -s.demand));
                m.rows.push((rate, Op::Ge, 0.0));
                let mut replicas: Vec<(usize, f64)> = row.iter().map(|&(_, v)| (v, 1.0)).collect();
                replicas.push((z, -(s.min_replicas as f64)));
                m.rows.push((replicas, Op::Ge, 0.0));
                if let Some(r) = count_rows.get_mut(s.level) {
                    r.push((z, 1.0));
                }
            }
            None if !row.is_empty() => {
                let one: Vec<(usize, f64)> = row.iter().map(|&(_, v)| (v, 1.0)).collect();
                let op = if must { Op::Eq } else { Op::Le };
                m.rows.push((one.clone(), op, 1.0));
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
            m.rows.push((row, Op::Ge, counts[l] as f64));
        }
    }
    for (k, row) in capacity_rows.into_iter().enumerate() {
        if let (Some(cap), false) = (p.capacity[k], row.is_empty()) {
            m.rows.push((row, Op::Le, cap as f64));
        }
    }
    (m, vars)
}

/// Port of milp.rs `hint`: the allocation as column values.
fn hint(m: &Model, vars: &Vars, a: &Assignment) -> Vec<f64> {
    let mut x = vec![0.0; m.cost.len()];
    for (s, parts) in a.iter().enumerate() {
        for &(j, v) in &vars.choice[s] {
            let n = parts.iter().find(|x| x.0 == j).map_or(0, |x| x.1);
            x[v] = if vars.served[s].is_some() {
                n as f64
            } else {
                f64::from(u8::from(n > 0))
            };
        }
        if let Some(z) = vars.served[s] {
            x[z] = f64::from(u8::from(!parts.is_empty()));
        }
    }
    x
}

/// Port of milp.rs `read`.
fn read(p: &Problem, vars: &Vars, x: &[f64]) -> Assignment {
    (0..p.servers.len())
        .map(|s| {
            if let Some(z) = vars.served[s] {
                if x[z] < 0.5 {
                    return Vec::new();
                }
                vars.choice[s]
                    .iter()
                    .map(|&(j, v)| (j, x[v].round().max(0.0) as u64))
                    .filter(|&(_, n)| n > 0)
                    .collect()
            } else {
                vars.choice[s]
                    .iter()
                    .find(|&&(_, v)| x[v] > 0.5)
                    .map(|&(j, _)| vec![(j, p.servers[s].choices[j].replicas)])
                    .unwrap_or_default()
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Backends.

/// Stopping tolerances of a stage: `None` = exact (microlp's default; HiGHS set to 0).
#[derive(Clone, Copy, Default)]
struct Tol {
    rel: Option<f64>,
    abs: Option<f64>,
}

struct Run {
    x: Option<Vec<f64>>,
    proven: bool,
    objective: Option<f64>,
    bound: Option<f64>,
    nodes: u64,
    elapsed: Duration,
    note: String,
}

const SLICE: Duration = Duration::from_millis(100);

/// microlp as milp.rs `run` drives it.
fn run_microlp(m: &Model, limit: Duration, start: Option<Vec<f64>>, tol: Tol) -> Run {
    use microlp::{ComparisonOp, OptimizationDirection, SolveOutcome, TerminationReason};
    let began = Instant::now();
    let deadline = began + limit;
    let slice = || -> Option<Duration> {
        match deadline.checked_duration_since(Instant::now()) {
            Some(t) if t > Duration::ZERO => Some(t.min(SLICE)),
            _ => None,
        }
    };
    let mut program = microlp::Problem::new(OptimizationDirection::Minimize);
    let v: Vec<microlp::Variable> = m
        .cost
        .iter()
        .zip(&m.kind)
        .map(|(&c, k)| match *k {
            Kind::Binary => program.add_binary_var(c),
            Kind::Integer(lo, hi) => program.add_integer_var(c, (lo, hi)),
        })
        .collect();
    for (row, op, rhs) in &m.rows {
        let expr: Vec<(microlp::Variable, f64)> = row.iter().map(|&(i, a)| (v[i], a)).collect();
        let op = match op {
            Op::Le => ComparisonOp::Le,
            Op::Ge => ComparisonOp::Ge,
            Op::Eq => ComparisonOp::Eq,
        };
        program.add_constraint(expr, op, *rhs);
    }
    let mut options = microlp::SolveOptions::default();
    if let Some(g) = tol.rel {
        options.mip_gap = g;
    }
    options.time_limit = slice();
    options.warm_start = start.map(|x| v.iter().copied().zip(x).collect());
    let mut outcome = program.solve_with(options);
    while let Ok(o) = &outcome {
        if o.termination_reason() != TerminationReason::TimeLimit {
            break;
        }
        let Some(next) = slice() else { break };
        let mut resume = o.last_resume_options();
        resume.time_limit = Some(next);
        outcome = match outcome {
            Ok(o) => o.resume_with(resume),
            Err(e) => Err(e),
        };
    }
    let elapsed = began.elapsed();
    match outcome {
        Ok(SolveOutcome::Solution(s)) => {
            let st = s.stats();
            Run {
                x: Some(v.iter().map(|&var| s.var_value(var)).collect()),
                proven: s.status() == microlp::SolutionStatus::Optimal,
                objective: Some(s.objective()),
                bound: st.best_bound,
                nodes: st.nodes_solved,
                elapsed,
                note: format!("{:?}", s.termination_reason()),
            }
        }
        Ok(SolveOutcome::Interrupted(i)) => Run {
            x: None,
            proven: false,
            objective: None,
            bound: i.stats().best_bound,
            nodes: i.stats().nodes_solved,
            elapsed,
            note: format!("interrupted {:?}", i.termination_reason()),
        },
        Err(e) => Run {
            x: None,
            proven: false,
            objective: None,
            bound: None,
            nodes: 0,
            elapsed,
            note: format!("error {e}"),
        },
    }
}

/// HiGHS through the `highs` crate.
fn run_highs(m: &Model, limit: Duration, start: Option<Vec<f64>>, tol: Tol) -> Run {
    use highs::{HighsModelStatus, HighsSolutionStatus, RowProblem, Sense};
    let began = Instant::now();
    let mut pb = RowProblem::default();
    let cols: Vec<highs::Col> = m
        .cost
        .iter()
        .zip(&m.kind)
        .map(|(&c, k)| match *k {
            Kind::Binary => pb.add_integer_column(c, 0.0..=1.0),
            Kind::Integer(lo, hi) => pb.add_integer_column(c, f64::from(lo)..=f64::from(hi)),
        })
        .collect();
    for (row, op, rhs) in &m.rows {
        let r: Vec<(highs::Col, f64)> = row.iter().map(|&(i, a)| (cols[i], a)).collect();
        match op {
            Op::Le => pb.add_row(..=*rhs, r),
            Op::Ge => pb.add_row(*rhs.., r),
            Op::Eq => pb.add_row(*rhs..=*rhs, r),
        }
    }
    let mut model = pb.optimise(Sense::Minimise);
    // The crate makes models quiet; HIGHS_LOG=1 shows HiGHS's own log.
    if std::env::var_os("HIGHS_LOG").is_some() {
        model.set_option("output_flag", true);
        model.set_option("log_to_console", true);
    }
    model.set_option("threads", 1);
    // HIGHS_GAP=default keeps HiGHS's own gap tolerances (relative 1e-4, absolute 1e-6).
    if std::env::var("HIGHS_GAP").as_deref() != Ok("default") {
        model.set_option("mip_rel_gap", tol.rel.unwrap_or(0.0));
    }
    if let Some(g) = tol.abs {
        model.set_option("mip_abs_gap", g);
    }
    if let Some(seed) = std::env::var("HIGHS_SEED").ok().and_then(|s| s.parse::<i32>().ok()) {
        model.set_option("random_seed", seed);
    }
    model.set_option("time_limit", limit.as_secs_f64());
    if let Some(x) = start {
        if model.try_set_solution(Some(&x), None, None, None).is_err() {
            eprintln!("highs: setSolution refused");
        }
    }
    let solved = model.solve();
    let elapsed = began.elapsed();
    let status = solved.status();
    let has = solved.primal_solution_status() == HighsSolutionStatus::Feasible;
    let bound = solved.double_info_value(c"mip_dual_bound").ok();
    let mut nodes: i64 = 0;
    // SAFETY: a valid model pointer and a NUL-terminated key; HiGHS writes one int64.
    #[allow(unsafe_code)]
    unsafe {
        highs_sys::Highs_getInt64InfoValue(solved.as_ptr(), c"mip_node_count".as_ptr(), &mut nodes);
    }
    Run {
        x: has.then(|| solved.get_solution().columns().to_vec()),
        proven: status == HighsModelStatus::Optimal,
        objective: has.then(|| solved.objective_value()),
        bound,
        nodes: nodes.max(0) as u64,
        elapsed,
        note: format!("{status:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// The systems.

fn system(copies: usize, factor: f64) -> SystemSpec {
    let base = load_path(Path::new(SAMPLES)).expect("large sample").spec;
    let mut spec = replicate(&base, copies, SEED);
    let unlimited = SolveOptions {
        unlimited: true,
        ..SolveOptions::from_spec(&spec).unwrap()
    };
    let need = solve(&spec, &unlimited).usage;
    for c in &mut spec.capacity_data.count {
        let used = need.get(&c.acc_type).map_or(0, |u| u.0);
        if used > 0 {
            c.count = (used as f64 * factor) as i64;
        }
    }
    spec
}

// ---------------------------------------------------------------------------------------

struct Args {
    copies: usize,
    factor: f64,
    multi: bool,
    limit: Duration,
    starts: Vec<String>,
    backends: Vec<String>,
    project: bool,
    write: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        copies: 2,
        factor: 0.5,
        multi: false,
        limit: Duration::from_secs(20),
        starts: vec!["cold".into(), "warm".into()],
        backends: vec!["microlp".into(), "highs".into()],
        project: false,
        write: None,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let next = || v[i + 1].clone();
        match v[i].as_str() {
            "--copies" => a.copies = next().parse().unwrap(),
            "--factor" => a.factor = next().parse().unwrap(),
            "--limit" => a.limit = Duration::from_secs_f64(next().parse().unwrap()),
            "--starts" => a.starts = next().split(',').map(String::from).collect(),
            "--backends" => a.backends = next().split(',').map(String::from).collect(),
            "--write" => a.write = Some(next()),
            "--multi" => {
                a.multi = true;
                i += 1;
                continue;
            }
            "--project" => {
                a.project = true;
                i += 1;
                continue;
            }
            o => panic!("unknown argument {o}"),
        }
        i += 2;
    }
    a
}

fn served(p: &Problem, a: &Assignment, l: usize) -> usize {
    p.servers
        .iter()
        .zip(a)
        .filter(|(s, parts)| s.level == l && !parts.is_empty())
        .count()
}

/// Total value of the served servers (the value stage's objective).
fn value_of(p: &Problem, a: &Assignment, multi: bool) -> f64 {
    p.servers
        .iter()
        .zip(a)
        .map(|(s, parts)| {
            parts
                .iter()
                .map(|&(c, n)| {
                    let c = &s.choices[c];
                    if multi {
                        c.value_per_replica * n as f64
                    } else {
                        c.value
                    }
                })
                .sum::<f64>()
        })
        .sum()
}

fn main() {
    let a = args();
    let t = Instant::now();
    let spec = system(a.copies, a.factor);
    if let Some(path) = &a.write {
        let text = serde_json::to_string(&SystemData {
            system: spec.clone(),
        })
        .unwrap();
        std::fs::write(path, text).unwrap();
    }
    let options = SolveOptions {
        solver: SolverKind::Milp,
        heterogeneous: a.multi,
        ..SolveOptions::from_spec(&spec).unwrap()
    };
    let (p, _names) = allocation_problem(&spec, &options);
    let multi = a.multi;
    let mode = if multi { "multi" } else { "single" };
    let levels = p.levels();
    let mut size = vec![0usize; levels];
    let mut servable = vec![0usize; levels];
    for s in &p.servers {
        size[s.level] += 1;
        servable[s.level] += usize::from(!s.choices.is_empty());
    }
    let caps: Vec<String> = p
        .capacity
        .iter()
        .map(|c| c.map_or("-".into(), |c| c.to_string()))
        .collect();
    let nvars: usize = p.servers.iter().map(|s| s.choices.len()).sum();
    println!(
        "# system copies={} factor={} mode={mode}: {} servers, {} choices, levels sizes {:?} servable {:?}, capacities [{}] (prepared in {:.1} s)",
        a.copies,
        a.factor,
        p.servers.len(),
        nvars,
        size,
        servable,
        caps.join(" "),
        t.elapsed().as_secs_f64()
    );

    // The project's start: the Lagrangian's allocation (single-mode relaxation).
    let lt = Instant::now();
    let lag = alloc::lagrangian(
        &p,
        &LagrangeOptions {
            deadline: Some(Instant::now() + a.limit / 5),
            ..LagrangeOptions::default()
        },
        None,
    );
    let mut best = if p.feasible(&lag.assignment, multi) {
        lag.assignment.clone()
    } else {
        vec![Vec::new(); p.servers.len()]
    };
    println!(
        "# lagrangian start: unserved per level {:?}, objective {:.6e}, bound {:.6e}, {:.2} s, feasible here: {}",
        p.unserved(&lag.assignment),
        lag.objective,
        lag.bound,
        lt.elapsed().as_secs_f64(),
        p.feasible(&lag.assignment, multi)
    );

    if a.project {
        let t = Instant::now();
        let out = alloc::milp(&p, multi, Some(Instant::now() + a.limit), Some(&best));
        println!(
            "# project milp() ({} s total, after the Lagrangian): status {}, objective {:.6e}, bound {:.6e}, gap {:.3e}, unserved {:?}, nodes {}, {:.2} s",
            a.limit.as_secs_f64(),
            out.status.name(),
            out.objective,
            out.bound,
            out.gap(),
            p.unserved(&out.assignment),
            out.iterations,
            t.elapsed().as_secs_f64()
        );
    }

    // The stages, as milp.rs runs them; each stage's program is solved by every backend from
    // every start; the counts carried to the next stage are the best found by any run.
    let mut counts: Vec<usize> = Vec::new();
    let mut goals: Vec<Goal> = Vec::new();
    for l in 0..levels {
        goals.push(Goal::Count(l));
    }
    goals.push(Goal::Value);
    for goal in goals {
        if let Goal::Count(l) = goal {
            let have = served(&p, &best, l);
            if have >= servable[l] {
                counts.push(have);
                println!("# stage count {l}: skipped, the start serves all {have} servable");
                continue;
            }
        }
        let (model, vars) = build(&p, multi, goal, &counts);
        let nint = model.kind.len();
        println!(
            "# stage {goal:?}: {} columns, {} rows, counts held {:?}",
            nint,
            model.rows.len(),
            counts
        );
        // The warm start's own stage objective: what a run that finds nothing better keeps.
        let start_value = match goal {
            Goal::Count(l) => -(served(&p, &best, l) as f64),
            Goal::Value => value_of(&p, &best, multi),
        };
        println!("# stage {goal:?}: the warm start's objective {start_value:.6}");
        let mut stage_best: Option<(Assignment, f64)> = None;
        for start in &a.starts {
            for backend in &a.backends {
                let hint_x = (start == "warm").then(|| hint(&model, &vars, &best));
                // TUNED=1: a count stage stops once no better count is possible (HiGHS: an
                // absolute gap below 1, the objective being integral; microlp: a relative gap
                // below 1 / servable); a value stage at a relative gap of 1e-4 (HiGHS's default,
                // the Lagrangian's target).
                let tol = if std::env::var("TUNED").as_deref() == Ok("1") {
                    match (goal, backend.as_str()) {
                        (Goal::Count(_), "highs") => Tol { rel: Some(0.0), abs: Some(0.999) },
                        (Goal::Count(l), _) => Tol {
                            rel: Some(0.999 / servable[l] as f64),
                            abs: None,
                        },
                        (Goal::Value, _) => Tol { rel: Some(1e-4), abs: None },
                    }
                } else {
                    Tol::default()
                };
                let r = match backend.as_str() {
                    "microlp" => run_microlp(&model, a.limit, hint_x, tol),
                    "highs" => run_highs(&model, a.limit, hint_x, tol),
                    b => panic!("unknown backend {b}"),
                };
                let assignment = r.x.as_ref().map(|x| read(&p, &vars, x));
                let feasible = assignment.as_ref().map(|a| {
                    p.feasible(a, multi)
                        && counts
                            .iter()
                            .enumerate()
                            .all(|(l, &n)| served(&p, a, l) >= n)
                });
                // The stage objective recomputed from the allocation (count: -served).
                let recomputed = assignment.as_ref().map(|asg| match goal {
                    Goal::Count(l) => -(served(&p, asg, l) as f64),
                    Goal::Value => value_of(&p, asg, multi),
                });
                let gap = match (r.objective, r.bound) {
                    (Some(o), Some(b)) => format!("{:.3e}", alloc::relative_gap(o, b)),
                    _ => "-".into(),
                };
                println!(
                    "RESULT mode={mode} copies={} factor={} stage={} start={start} backend={backend} status={} proven={} time={:.3} objective={} recomputed={} bound={} gap={gap} nodes={} feasible={}",
                    a.copies,
                    a.factor,
                    match goal {
                        Goal::Count(l) => format!("count{l}"),
                        Goal::Value => "value".into(),
                    },
                    r.note,
                    r.proven,
                    r.elapsed.as_secs_f64(),
                    r.objective.map_or("-".into(), |o| format!("{o:.6}")),
                    recomputed.map_or("-".into(), |o| format!("{o:.6}")),
                    r.bound.map_or("-".into(), |o| format!("{o:.9}")),
                    r.nodes,
                    feasible.map_or("-".into(), |f| f.to_string()),
                );
                if let (Some(asg), Some(true), Some(obj)) = (assignment, feasible, recomputed) {
                    if stage_best.as_ref().is_none_or(|b| obj < b.1 - 1e-9) {
                        stage_best = Some((asg, obj));
                    }
                }
            }
        }
        match goal {
            Goal::Count(l) => {
                if let Some((asg, _)) = stage_best {
                    if served(&p, &asg, l) > served(&p, &best, l) {
                        best = asg;
                    }
                }
                counts.push(served(&p, &best, l));
            }
            Goal::Value => {}
        }
    }
}
