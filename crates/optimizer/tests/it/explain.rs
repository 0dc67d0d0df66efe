//! `explain` against brute force on a small system with a scarce type, its invariants on the
//! samples, and the command line.

use super::solver_vectors::{options, sample};
use inferno_api::SystemSpec;
use inferno_optimizer::explain::explain;
use inferno_optimizer::{allocation_problem, solve, SolveOptions};
use serde_json::Value;
use std::process::Command;

/// The small sample's first `servers` servers, with every type the unlimited answer uses at
/// half of that use: those types bind.
fn scarce(servers: usize) -> SystemSpec {
    let mut spec = sample("small");
    spec.server_data.servers.truncate(servers);
    let unlimited = solve(
        &spec,
        &SolveOptions {
            unlimited: true,
            ..options(&spec)
        },
    );
    for c in &mut spec.capacity_data.count {
        if let Some(&(used, _)) = unlimited.usage.get(&c.acc_type).filter(|u| u.0 > 0) {
            c.count = (used / 2) as i64;
        }
    }
    spec
}

/// The optimum of `spec`'s allocation problem by trying every assignment.
fn brute_force(spec: &SystemSpec) -> f64 {
    let (p, _) = allocation_problem(spec, &options(spec));
    let penalties = p.penalties(false);
    let n = p.servers.len();
    let sizes: Vec<usize> = p.servers.iter().map(|s| s.choices.len() + 1).collect();
    assert!(sizes.iter().product::<usize>() < 2_000_000, "{sizes:?}");
    let mut pick = vec![0usize; n];
    let mut best = f64::INFINITY;
    loop {
        let a: Vec<Vec<(usize, u64)>> = (0..n)
            .map(|s| match pick[s] {
                0 => Vec::new(),
                c => vec![(c - 1, p.servers[s].choices[c - 1].replicas)],
            })
            .collect();
        if p.feasible(&a, false) {
            best = best.min(p.objective(&a, false, &penalties));
        }
        // The next assignment, as an odometer.
        let mut s = 0;
        while s < n {
            pick[s] += 1;
            if pick[s] < sizes[s] {
                break;
            }
            pick[s] = 0;
            s += 1;
        }
        if s == n {
            return best;
        }
    }
}

fn with_capacity(spec: &SystemSpec, name: &str, units: u64) -> SystemSpec {
    let mut changed = spec.clone();
    changed.capacity_data.count.retain(|c| c.acc_type != name);
    changed
        .capacity_data
        .count
        .push(inferno_api::AcceleratorCount {
            acc_type: name.to_string(),
            count: units as i64,
        });
    changed
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// A unit more or less of a type changes the optimum by what `explain` says, on a system
/// small enough to try every assignment, at capacities of the scarce type around what the
/// optimum takes (where a unit matters); where the LP price binds, the capacity lies in the
/// range it holds for.
#[test]
fn prices_are_the_optimum_s_change_by_brute_force() {
    let scarce = scarce(5);
    let first = explain(&scarce, &options(&scarce));
    let g2 = first
        .types
        .iter()
        .find(|t| t.binding)
        .expect("a halved type binds");
    let (name, used) = (g2.name.clone(), g2.used);
    let mut changed = 0;
    for units in used.saturating_sub(8)..=used + 1 {
        let spec = with_capacity(&scarce, &name, units);
        let e = explain(&spec, &options(&spec));
        assert_eq!(e.priced_by, "exact");
        let base = brute_force(&spec);
        for t in &e.types {
            let more = brute_force(&with_capacity(&spec, &t.name, t.capacity + 1)) - base;
            let one_more = t.one_more.expect("exact prices");
            let what = format!("{} at {} units of {name}", t.name, units);
            assert!(
                close(one_more.objective, more),
                "{what}: one more {:?} against {more}",
                t.one_more
            );
            assert!(
                one_more.objective <= 1e-9,
                "{what}: a unit more cannot hurt"
            );
            if let Some(less) = t.one_less {
                let want = brute_force(&with_capacity(&spec, &t.name, t.capacity - 1)) - base;
                assert!(
                    close(less.objective, want),
                    "{what}: one less {less:?} against {want}"
                );
                assert!(less.objective >= -1e-9, "{what}: a unit less cannot help");
                changed += usize::from(less.objective > 1e-9);
            }
            changed += usize::from(one_more.objective < -1e-9);
            if let (Some(price), Some((lo, hi))) = (t.dual_price, t.clears_between) {
                if price > 0.0 {
                    let cap = t.capacity as f64;
                    assert!(
                        lo <= cap && hi.is_none_or(|h| cap <= h),
                        "{what}: {cap} outside {lo}..{hi:?}"
                    );
                }
            }
        }
    }
    assert!(changed > 0, "some unit of {name} changes the optimum");
}

/// Each server's explanation agrees with the decision: the chosen candidate is what it got,
/// the alternatives are on other types, least value first, the margin is the cheapest one's
/// cost less the chosen one's; the bound costs no more than the decision.
#[test]
fn server_explanations_agree_with_the_decision() {
    for spec in [sample("small"), sample("large"), scarce(8)] {
        let o = options(&spec);
        let e = explain(&spec, &o);
        let decision = solve(&spec, &o);
        assert!(close(e.decision.cost, decision.total_cost()));
        if e.decision.not_served == 0 {
            assert!(e.lower_bound.cost <= e.decision.cost + 1e-9);
        }
        assert_eq!(e.servers.len(), spec.server_data.servers.len());
        for s in &e.servers {
            let Some(p) = decision.placements.get(&s.name) else {
                assert!(s.chosen.is_none() && s.unplaced.is_some(), "{}", s.name);
                continue;
            };
            let c = s.chosen.as_ref().expect("a placed server has its choice");
            assert_eq!(c.accelerator, p.allocation.accelerator, "{}", s.name);
            if !p.best_effort {
                assert!(close(c.cost, p.allocation.cost), "{}", s.name);
                assert!(s.headroom_rpm.is_some_and(|h| h >= 0.0), "{}", s.name);
            }
            let values: Vec<f64> = s.alternatives.iter().map(|a| a.value).collect();
            assert!(
                values.windows(2).all(|w| w[0] <= w[1]),
                "{}: {values:?}",
                s.name
            );
            assert!(s
                .alternatives
                .iter()
                .all(|a| a.accelerator_type != c.accelerator_type));
            let cheapest = s.alternatives.iter().map(|a| a.cost).reduce(f64::min);
            assert_eq!(
                s.margin,
                cheapest.map(|m| m - p.allocation.cost),
                "{}",
                s.name
            );
        }
    }
}

/// What a class's targets cost is measured with capacities ignored: looser targets never cost
/// more.
#[test]
fn looser_targets_never_cost_more() {
    let spec = sample("large");
    let e = explain(&spec, &options(&spec));
    assert!(!e.classes.is_empty());
    for c in &e.classes {
        assert!(
            c.looser_cost <= c.cost + 1e-9,
            "{}: {} -> {}",
            c.name,
            c.cost,
            c.looser_cost
        );
    }
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_inferno-optimizer"))
        .args(args)
        .output()
        .expect("binary runs")
}

#[test]
fn the_command_line_prints_text_and_json_and_names_a_bad_server() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/large");
    let dir = dir.to_str().unwrap();
    let out = cli(&["explain", dir]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "decision:",
        "lower bound",
        "MI300X  yes",
        "margin:",
        "headroom:",
        "the targets cost",
    ] {
        assert!(text.contains(want), "{want} missing in:\n{text}");
    }
    let out = cli(&["explain", dir, "--json", "--server", "Premium-llama_7b"]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["servers"].as_array().unwrap().len(), 1);
    assert_eq!(v["servers"][0]["name"], "Premium-llama_7b");
    assert_eq!(v["pricedBy"], "exact");
    let mi300x = v["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "MI300X")
        .unwrap();
    assert_eq!(mi300x["binding"], true);
    assert!(mi300x["dualPrice"].as_f64().unwrap() > 0.0);
    let out = cli(&["explain", dir, "--json", "--brief"]);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["pricedBy"], "LP");
    assert_eq!(v["classes"], Value::Array(Vec::new()));
    assert!(v["servers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["switch"].is_null()));
    let out = cli(&["explain", dir, "--server", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--server: no server \"nope\""));
}

/// The frontier at scale 1 and 1.1 is the classes' cost at their targets and 10% looser, and
/// looser targets never serve fewer servers.
#[test]
fn the_frontier_agrees_with_the_class_costs() {
    let spec = sample("large");
    let o = options(&spec);
    let e = explain(&spec, &o);
    for c in &e.classes {
        let points = inferno_optimizer::explain::frontier(&spec, &o, &c.name).unwrap();
        assert_eq!(points.len(), inferno_optimizer::explain::SCALES.len());
        let at = |scale: f64| points.iter().find(|p| p.scale == scale).unwrap();
        assert!(
            close(at(1.0).cost, c.cost),
            "{}: {} {}",
            c.name,
            at(1.0).cost,
            c.cost
        );
        assert!(close(at(1.1).cost, c.looser_cost), "{}", c.name);
        let served: Vec<u64> = points.iter().map(|p| p.served).collect();
        assert!(
            served.windows(2).all(|w| w[0] <= w[1]),
            "{}: {served:?}",
            c.name
        );
    }
}

/// Where `explain` says another type becomes a server's cheapest, it is: the server alone,
/// capacities ignored, its class's targets scaled just past the switch, gets that type, and
/// just short of it still the type it has at scale 1.
#[test]
fn a_type_switch_is_where_the_cheapest_type_changes() {
    let spec = sample("large");
    let o = options(&spec);
    let e = explain(&spec, &o);
    let type_at = |server: &str, class: &str, scale: f64| {
        let mut alone = spec.clone();
        alone.server_data.servers.retain(|s| s.name == server);
        for c in &mut alone.service_class_data.service_classes {
            if c.name == class {
                for t in &mut c.model_targets {
                    t.slo_itl *= scale;
                    t.slo_ttft *= scale;
                }
            }
        }
        let s = solve(
            &alone,
            &SolveOptions {
                unlimited: true,
                ..o
            },
        );
        s.placements.get(server).map(|p| p.accelerator_type.clone())
    };
    let mut seen = 0;
    for s in &e.servers {
        let w = s.switch.as_ref().expect("small systems get switches");
        assert_eq!(
            type_at(&s.name, &s.class, 1.0).as_deref(),
            Some(w.now.as_str())
        );
        for (side, toward_one) in [(&w.tighter, 1.03), (&w.looser, 1.0 / 1.03)] {
            if let Some((scale, other)) = side {
                seen += 1;
                assert_eq!(
                    type_at(&s.name, &s.class, *scale).as_ref(),
                    Some(other),
                    "{}",
                    s.name
                );
                let short = scale * toward_one;
                if (short - 1.0).abs() > 1e-9 && (short > 1.0) == (*scale > 1.0) {
                    assert_eq!(
                        type_at(&s.name, &s.class, short).as_deref(),
                        Some(w.now.as_str()),
                        "{} at {short}",
                        s.name
                    );
                }
            }
        }
    }
    assert!(
        seen > 0,
        "some server of the large sample switches within x0.25..x4"
    );
}
