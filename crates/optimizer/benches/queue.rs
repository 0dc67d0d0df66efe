//! `make bench`: times `Analyzer::size` (analyzer construction included) on the spec's
//! baseline problem and on 1000 seeded random problems; prints medians per call.

use inferno_optimizer::queue::{Analyzer, PerfParams, QueueConfig, Targets};
use inferno_optimizer::synthetic::Rng;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn random_problem(rng: &mut Rng) -> (QueueConfig, Targets) {
    let config = QueueConfig {
        max_batch: rng.range(1.0, 257.0) as u32,
        max_queue: if rng.next_f64() < 0.5 {
            0
        } else {
            rng.range(0.0, 256.0) as u32
        },
        max_tokens: 0,
        params: PerfParams {
            alpha: rng.range(2.0, 40.0),
            beta: rng.range(0.005, 0.2),
            gamma: rng.range(0.0, 0.002),
        },
        in_tokens: rng.range(32.0, 4096.0).floor(),
        out_tokens: rng.range(16.0, 2048.0).floor(),
        out_cv: 0.0,
    };
    // Targets between 1x and 4x the idle latencies, so most problems are feasible and bind.
    let idle = Analyzer::new(config).expect("valid problem");
    let floor = idle.analyze(idle.rate_range().min).expect("positive rate");
    let targets = Targets {
        ttft: floor.ttft * rng.range(1.0, 4.0),
        itl: floor.itl * rng.range(1.0, 4.0),
        tps: 0.0,
    };
    (config, targets)
}

/// Median of `reps` timings of one sizing call (construction + size).
fn time_size(config: &QueueConfig, targets: &Targets, reps: usize) -> Duration {
    let mut samples: Vec<Duration> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            let analyzer = Analyzer::new(black_box(*config)).expect("valid problem");
            let _ = black_box(analyzer.size(black_box(targets)));
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[reps / 2]
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let baseline = QueueConfig {
        max_batch: 256,
        max_queue: 128,
        max_tokens: 0,
        params: PerfParams {
            alpha: 8.0,
            beta: 0.033,
            gamma: 0.000333,
        },
        in_tokens: 256.0,
        out_tokens: 1024.0,
        out_cv: 0.0,
    };
    let baseline_targets = Targets {
        ttft: 60.0,
        itl: 20.0,
        tps: 0.0,
    };
    let evals = Analyzer::new(baseline)
        .unwrap()
        .size(&baseline_targets)
        .unwrap()
        .evaluations;
    let t = time_size(&baseline, &baseline_targets, 2001);
    println!(
        "size/baseline (N 256, Q 128): median {:.2} us per call, {evals} chain solves",
        t.as_secs_f64() * 1e6
    );

    let mut rng = Rng::new(0x1f2e_3d4c_5b6a_7988);
    let problems: Vec<_> = (0..1000).map(|_| random_problem(&mut rng)).collect();
    let mut solves = 0u64;
    let mut infeasible = 0;
    for (c, t) in &problems {
        match Analyzer::new(*c).unwrap().size(t) {
            Ok(s) => solves += u64::from(s.evaluations),
            Err(_) => infeasible += 1,
        }
    }
    let per_problem: Vec<Duration> = problems.iter().map(|(c, t)| time_size(c, t, 21)).collect();
    let mean = per_problem.iter().sum::<Duration>() / per_problem.len() as u32;
    println!(
        "size/random-1000 (seeded): median {:.2} us per call, mean {:.2} us, {:.1} chain solves per feasible call, {infeasible} infeasible",
        median(per_problem).as_secs_f64() * 1e6,
        mean.as_secs_f64() * 1e6,
        solves as f64 / (1000 - infeasible) as f64,
    );
}
