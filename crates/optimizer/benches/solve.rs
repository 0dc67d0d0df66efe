//! `make bench`: solve times of the sample systems and of a 27,000-server system (the large
//! sample replicated 1000 times by [`replicate`] with seed 0x5eed: each server with its own
//! random rate and token counts, capacities scaled by 1000). Prints medians.
//!
//! `INFERNO_BENCH_WRITE=FILE` also writes the generated system (the same as
//! `inferno-optimizer generate samples/large --copies 1000 --seed 24301`).

use inferno_api::{load_path, SystemData, SystemSpec};
use inferno_optimizer::synthetic::replicate;
use inferno_optimizer::{solve, SolveOptions};
use std::path::Path;
use std::time::{Duration, Instant};

fn median_time(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn report(name: &str, spec: &SystemSpec, options: &SolveOptions, runs: usize) {
    let solution = solve(spec, options);
    let t = median_time(runs, || {
        std::hint::black_box(solve(spec, options));
    });
    let st = solution.stats;
    println!(
        "solve/{name}: median {:.2} ms over {runs} runs; {} servers, {} placed, {} unplaced, total cost {:.0}; {} candidates sized, {} skipped by bound, {} sizings, {} cache hits",
        t.as_secs_f64() * 1e3,
        spec.server_data.servers.len(),
        solution.placements.len(),
        solution.unplaced.len(),
        solution.total_cost(),
        st.candidates_sized,
        st.candidates_skipped,
        st.sizings,
        st.cache_hits,
    );
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples");
    let small = load_path(&root.join("small")).expect("small sample").spec;
    let large = load_path(&root.join("large")).expect("large sample").spec;
    for (name, spec) in [("small", &small), ("large", &large)] {
        let options = SolveOptions::from_spec(spec).unwrap();
        report(&format!("{name}/greedy"), spec, &options, 51);
        report(
            &format!("{name}/unlimited"),
            spec,
            &SolveOptions {
                unlimited: true,
                ..options
            },
            51,
        );
    }
    let big = replicate(&large, 1000, 0x5eed);
    if let Ok(path) = std::env::var("INFERNO_BENCH_WRITE") {
        let text = serde_json::to_string(&SystemData {
            system: big.clone(),
        })
        .unwrap();
        std::fs::write(&path, text).expect("write system");
    }
    let options = SolveOptions::from_spec(&big).unwrap();
    report("large-x1000/greedy", &big, &options, 5);
    report(
        "large-x1000/unlimited",
        &big,
        &SolveOptions {
            unlimited: true,
            ..options
        },
        5,
    );
}
