//! `make bench`: solve times of the sample systems and of a 27,000-server system (the large
//! sample replicated 1000 times, each server with its own seeded random rate and token
//! counts, capacities scaled by 1000). Prints medians.
//!
//! `INFERNO_BENCH_WRITE=FILE` also writes the generated system as `system-data.json` format,
//! for `inferno-optimizer solve FILE`.

use inferno_api::{load_path, SystemData, SystemSpec};
use inferno_optimizer::{solve, SolveOptions};
use std::path::Path;
use std::time::{Duration, Instant};

/// Deterministic xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

/// The large sample replicated `copies` times: server `s` of copy `k` is `s#k` with its
/// arrival rate scaled by a factor in [0.5, 1.5) and tokens in [64, 256) / [512, 1536) (the
/// sample has 128 / 1024), so the replicated system is about as tight as the sample.
fn replicated(base: &SystemSpec, copies: usize, seed: u64) -> SystemSpec {
    let mut rng = Rng(seed);
    let mut spec = base.clone();
    spec.server_data.servers.clear();
    for k in 0..copies {
        for s in &base.server_data.servers {
            let mut s = s.clone();
            s.name = format!("{}#{k}", s.name);
            let load = &mut s.current_alloc.load;
            load.arrival_rate *= rng.range(0.5, 1.5);
            load.avg_in_tokens = rng.range(64.0, 256.0) as i64;
            load.avg_out_tokens = rng.range(512.0, 1536.0) as i64;
            spec.server_data.servers.push(s);
        }
    }
    for c in &mut spec.capacity_data.count {
        c.count *= copies as i64;
    }
    spec
}

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
    let big = replicated(&large, 1000, 0x5eed);
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
