//! Optimizer vectors of spec 6.10 (c)-(f), current model.

use inferno_api::{load_path, SystemSpec};
use inferno_optimizer::{solve, SaturationPolicy, Solution, SolveOptions};
use std::path::Path;

pub(crate) fn sample(name: &str) -> SystemSpec {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples").join(name);
    load_path(&dir).expect("sample loads").spec
}

pub(crate) fn options(spec: &SystemSpec) -> SolveOptions {
    SolveOptions::from_spec(spec).unwrap()
}

/// (accelerator, replicas, batch, cost) of a placed server.
fn alloc(s: &Solution, server: &str) -> (String, i64, i64, f64) {
    let p = s.placements.get(server).unwrap_or_else(|| panic!("{server} not placed: {:?}", s.unplaced));
    let a = &p.allocation;
    (a.accelerator.clone(), a.num_replicas, a.max_batch, a.cost)
}

fn check(s: &Solution, rows: &[(&str, &str, i64, i64, f64)]) {
    for &(server, acc, n, batch, cost) in rows {
        let got = alloc(s, server);
        assert_eq!(got, (acc.to_string(), n, batch, cost), "{server}");
    }
}

#[test]
fn small_greedy_6_10_c() {
    let spec = sample("small");
    let s = solve(&spec, &options(&spec));
    for p in s.placements.values() {
        println!("{} {} {} {} {} {} {}", p.server, p.allocation.accelerator, p.allocation.num_replicas, p.allocation.max_batch, p.allocation.cost, p.allocation.itl_average, p.allocation.ttft_average);
    }
    println!("{:?} {:?}", s.usage, s.unplaced);
    assert!(s.unplaced.is_empty());
    assert_eq!(s.total_cost(), 25_826.0);
    check(&s, &[
        ("Premium-granite_13b", "G2", 2, 38, 46.0),
        ("Premium-granite_34b", "G2", 6, 14, 276.0),
        ("Premium-llama_13b", "G2", 3, 38, 69.0),
        ("Premium-llama_70b", "G2", 21, 6, 1932.0),
        ("Premium-mixtral_8_7b", "G2", 19, 9, 874.0),
        ("Bronze-granite_13b", "G2", 3, 38, 69.0),
        ("Bronze-granite_34b", "G2", 11, 14, 506.0),
        ("Bronze-llama_13b", "G2", 5, 38, 115.0),
        ("Bronze-llama_70b", "G2", 42, 6, 3864.0),
        ("Bronze-mixtral_8_7b", "G2", 33, 9, 1518.0),
        ("Free-granite_13b", "G2", 6, 38, 138.0),
        ("Free-granite_34b", "G2", 22, 14, 1012.0),
        ("Free-llama_13b", "G2", 9, 38, 207.0),
        ("Free-llama_70b", "4xA100", 54, 5, 8640.0),
        ("Free-mixtral_8_7b", "4xA100", 41, 8, 6560.0),
    ]);
    assert_eq!(s.usage["G2"].0, 462);
    assert_eq!(s.usage["A100"].0, 380);
}
