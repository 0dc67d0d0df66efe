//! `make bench`: the whole `inferno-optimizer solve` process on 27,000 servers with capacities
//! that bind, the default (the greedy improved with prices) against the reference's greedy
//! (`--improve 0`), and the Lagrangian's gap in 1 s on a half-capacity 2,700-server system.
//!
//! Systems: `inferno-optimizer generate samples/large --copies N --seed 24301` (21
//! accelerators, every server with its own random load), then
//! - `limited`: the sample's capacities x N, as generated: every server fits, some types bind;
//! - `half`: every type the unlimited answer uses at half of that use (the others as
//!   generated): about a fifth of the servers cannot be served by the reference's greedy.
//!
//! Per case: median wall time of the whole process over runs (reading, solving, writing the
//! JSON to a file), the solver's own time from the report, peak resident memory (the
//! process's VmHWM, read every 2 ms while it runs), servers fully served, and the cost of the
//! servers both answers serve. Best effort is off (`--policy None`) so "served" means fully.
//!
//! `INFERNO_BENCH_RUNS` sets the runs per case (default 5); `INFERNO_BENCH_KEEP=DIR` keeps the
//! systems and answers there.

use inferno_api::{load_path, SystemData, SystemSpec};
use inferno_optimizer::synthetic::replicate;
use inferno_optimizer::{solve, SolveOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn large() -> SystemSpec {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/large");
    load_path(&root).expect("large sample").spec
}

/// The large sample x `copies` (`limited`), or with every used type at half its unlimited use.
fn system(copies: usize, half: bool) -> SystemSpec {
    let mut spec = replicate(&large(), copies, 24301);
    if half {
        let unlimited = SolveOptions {
            unlimited: true,
            ..SolveOptions::from_spec(&spec).unwrap()
        };
        let need = solve(&spec, &unlimited).usage;
        for c in &mut spec.capacity_data.count {
            if let Some(&(used, _)) = need.get(&c.acc_type).filter(|u| u.0 > 0) {
                c.count = (used / 2) as i64;
            }
        }
    }
    spec
}

/// One run of the CLI: wall time, peak resident KiB, the answer.
fn run(args: &[&str], out: &Path) -> (Duration, u64, Value) {
    let file = std::fs::File::create(out).expect("answer file");
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_inferno-optimizer"))
        .args(args)
        .stdout(file)
        .spawn()
        .expect("inferno-optimizer runs");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            peak = peak.max(vm_hwm(&text));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let wall = start.elapsed();
    assert!(status.success(), "inferno-optimizer {args:?}: {status}");
    let answer = serde_json::from_slice(&std::fs::read(out).unwrap()).expect("JSON answer");
    (wall, peak, answer)
}

fn vm_hwm(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The fully served servers of an answer and what each costs.
fn served(answer: &Value) -> BTreeMap<String, f64> {
    answer["allocations"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, a)| a["numReplicas"].as_i64().unwrap_or(0) > 0)
        .map(|(k, a)| (k.clone(), a["cost"].as_f64().unwrap_or(0.0)))
        .collect()
}

struct Case {
    wall: Duration,
    solver_ms: f64,
    peak_kib: u64,
    answer: Value,
}

fn measure(file: &Path, extra: &[&str], runs: usize, out: &Path) -> Case {
    let mut args = vec![
        "solve",
        file.to_str().unwrap(),
        "--json",
        "--policy",
        "None",
    ];
    args.extend_from_slice(extra);
    let mut all: Vec<(Duration, u64, Value)> = (0..runs).map(|_| run(&args, out)).collect();
    let peak = all.iter().map(|r| r.1).max().unwrap_or(0);
    let mut solver: Vec<f64> = all
        .iter()
        .map(|r| r.2["report"]["solverMs"].as_f64().unwrap_or(0.0))
        .collect();
    solver.sort_by(f64::total_cmp);
    all.sort_by_key(|r| r.0);
    let (wall, _, answer) = all.swap_remove(runs / 2);
    Case {
        wall,
        solver_ms: solver[runs / 2],
        peak_kib: peak,
        answer,
    }
}

fn main() {
    let runs: usize = std::env::var("INFERNO_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    let dir: PathBuf = match std::env::var("INFERNO_BENCH_KEEP") {
        Ok(d) => PathBuf::from(d),
        Err(_) => std::env::temp_dir().join(format!("inferno-bench-scale-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).expect("bench directory");
    println!("| system | answer | wall (median of {runs}) | solver | peak memory | fully served | cost of the servers both serve |");
    println!("|---|---|---|---|---|---|---|");
    for (copies, half) in [(1000, false), (1000, true), (100, true)] {
        let name = format!(
            "{} servers, {}",
            copies * 27,
            if half { "half" } else { "limited" }
        );
        let file = dir.join(format!(
            "{}-{}.json",
            copies * 27,
            if half { "half" } else { "limited" }
        ));
        let spec = system(copies, half);
        let text = serde_json::to_string(&SystemData { system: spec }).unwrap();
        std::fs::write(&file, text).expect("system file");
        let reference = measure(
            &file,
            &["--improve", "0"],
            runs,
            &dir.join("reference.json"),
        );
        let ours = measure(&file, &[], runs, &dir.join("default.json"));
        let (r, o) = (served(&reference.answer), served(&ours.answer));
        let both: Vec<&String> = r.keys().filter(|k| o.contains_key(*k)).collect();
        let cost = |m: &BTreeMap<String, f64>| both.iter().map(|k| m[*k]).sum::<f64>();
        for (label, case, mine) in [
            ("reference greedy (`--improve 0`)", &reference, &r),
            ("default", &ours, &o),
        ] {
            println!(
                "| {name} | {label} | {:.0} ms | {:.0} ms | {:.0} MiB | {} | {:.0} |",
                case.wall.as_secs_f64() * 1e3,
                case.solver_ms,
                case.peak_kib as f64 / 1024.0,
                mine.len(),
                cost(mine),
            );
        }
        if copies == 100 {
            let lagrangian = measure(
                &file,
                &["--solver", "lagrangian", "--time-limit", "1"],
                runs,
                &dir.join("lagrangian.json"),
            );
            let report = &lagrangian.answer["report"];
            println!(
                "| {name} | lagrangian, 1 s | {:.0} ms | {:.0} ms | {:.0} MiB | {} | gap {:.2}%, {} not fully served, at least {} |",
                lagrangian.wall.as_secs_f64() * 1e3,
                lagrangian.solver_ms,
                lagrangian.peak_kib as f64 / 1024.0,
                served(&lagrangian.answer).len(),
                report["gap"].as_f64().unwrap_or(f64::NAN) * 100.0,
                report["notFullyServed"],
                report["unservedFloor"]["atLeast"],
            );
        }
    }
    if std::env::var_os("INFERNO_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
