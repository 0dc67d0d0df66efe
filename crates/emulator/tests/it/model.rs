//! The emulator against the queueing model: at a fixed Poisson rate, the measured throughput,
//! ITL, TTFT and mean batch agree with `Analyzer::analyze` for the same (N, alpha, beta, gamma,
//! n, m) and a waiting room large enough to be unbounded in practice (Q = 100 N).
//!
//! Three operating points run at once, accelerated by a time scale factor, for 11.5 s of
//! tokio's clock, paused (virtual: the test takes what the computation takes): each yields
//! 1,500-2,000 completed requests after a warm-up. The
//! points are where the model is meant to be accurate: batches well below the cap (rho <= 0.7)
//! and prompts short enough that two prefills rarely share an iteration. A fourth point spreads
//! the output lengths (uniform, coefficient of variation 0.56) on a server whose iterations are
//! mostly KV reads: the model with the spread (docs/model.md 1.1) agrees; at the mean lengths
//! it would predict the ITL 20% low.
//!
//! Tolerances and why:
//! - throughput, ITL and mean batch: 10 %. The emulator computes exactly the work the model
//!   averages, so these agree to 1-3 %; the rest is the Poisson noise of ~1,500 completions
//!   (sd about 2.6 % on the throughput).
//! - TTFT is split as the model splits it: after admission (the model's prefill + one ITL,
//!   10 %), and the queue time. A request that arrives during an iteration joins the batch
//!   at the next iteration boundary, as in vLLM; the continuous-time chain has no such delay,
//!   so the emulator's queue time is the model's W plus, on average, about half an iteration.
//!   The test bounds it by W + one ITL, and bounds the whole TTFT by 10 % + one ITL.

use crate::support::{init_logs, samples};
use inferno_emulator::{Catalog, Host, LoadSpec, PerfParms, ServerSpec, Snapshot, TokenDist};
use inferno_optimizer::queue::{Analyzer, Metrics, PerfParams, QueueConfig};
use inferno_optimizer::tune::{latencies, Measurement};
use std::time::Duration;

struct Point {
    name: &'static str,
    /// Explicit parameters, or `None` for the catalog row (granite_13b on A100).
    perf: Option<PerfParms>,
    max_batch: u32,
    in_tokens: u32,
    out: TokenDist,
    /// Offered load as a fraction of the model's maximum rate.
    load: f64,
    time_scale: f64,
    noise: f64,
}

const POINTS: [Point; 4] = [
    Point {
        name: "spec-6.6-params",
        perf: Some(PerfParms {
            alpha: 8.0,
            beta: 0.016,
            gamma: 0.0005,
        }),
        max_batch: 64,
        in_tokens: 2048,
        out: TokenDist::Fixed(256),
        load: 0.4,
        time_scale: 130.0,
        noise: 0.0,
    },
    Point {
        name: "granite13b-A100",
        perf: None,
        max_batch: 32,
        in_tokens: 512,
        out: TokenDist::Fixed(128),
        load: 0.4,
        time_scale: 80.0,
        noise: 0.1,
    },
    Point {
        name: "granite13b-A100-busy",
        perf: None,
        max_batch: 32,
        in_tokens: 512,
        out: TokenDist::Fixed(128),
        load: 0.7,
        time_scale: 50.0,
        noise: 0.0,
    },
    Point {
        name: "kv-bound-spread-out",
        perf: Some(PerfParms {
            alpha: 8.0,
            beta: 0.016,
            gamma: 0.005,
        }),
        max_batch: 64,
        in_tokens: 32,
        out: TokenDist::Uniform(16, 1008),
        load: 0.6,
        time_scale: 300.0,
        noise: 0.0,
    },
];

/// Coefficient of variation of a token distribution (the discrete uniform's variance is
/// `((hi - lo + 1)^2 - 1) / 12`).
fn cv(d: TokenDist) -> f64 {
    match d {
        TokenDist::Fixed(_) => 0.0,
        TokenDist::Uniform(lo, hi) => {
            let k = f64::from(hi - lo + 1);
            ((k * k - 1.0) / 12.0).sqrt() / d.mean()
        }
    }
}

const WARM_UP: Duration = Duration::from_millis(1500);
const MEASURE: Duration = Duration::from_secs(10);
const TOLERANCE: f64 = 0.10;

fn rel(measured: f64, predicted: f64) -> f64 {
    measured / predicted - 1.0
}

// The paused clock: the engine times its iterations with tokio's clock, so the warm-up and the
// measurement pass in virtual time, as fast as the machine computes them and unmoved by its
// load; each iteration ends exactly at its deadline.
#[tokio::test(start_paused = true)]
async fn measured_latencies_agree_with_the_queue_model() {
    init_logs();
    let catalog = Catalog::load(&samples().join("small")).expect("samples/small/model-data.json");
    let granite = catalog.perf("granite_13b", "A100").unwrap();
    let host = Host::loopback(Some(catalog));

    let mut runs = Vec::new();
    for (i, p) in POINTS.iter().enumerate() {
        let perf = p.perf.unwrap_or(granite);
        let config = QueueConfig {
            max_batch: p.max_batch,
            max_queue: 100 * p.max_batch,
            max_tokens: 8192,
            params: PerfParams {
                alpha: perf.alpha,
                beta: perf.beta,
                gamma: perf.gamma,
            },
            in_tokens: f64::from(p.in_tokens),
            out_tokens: p.out.mean(),
            out_cv: cv(p.out),
        };
        let analyzer = Analyzer::new(config).unwrap();
        let rate = p.load * analyzer.rate_range().max;
        let predicted = analyzer.analyze(rate).unwrap();
        // The same rate read at the mean lengths: where lengths spread, the point must tell
        // the two forms apart, or it checks nothing about the spread.
        let at_mean = Analyzer::new(QueueConfig {
            out_cv: 0.0,
            ..config
        })
        .unwrap()
        .analyze(rate)
        .unwrap();
        if config.out_cv > 0.0 {
            let gap = predicted.itl / at_mean.itl - 1.0;
            eprintln!(
                "{}: ITL at the mean lengths {:.2} ms; with the spread {:.1} % more",
                p.name,
                at_mean.itl,
                gap * 100.0
            );
            assert!(
                gap > 1.5 * TOLERANCE,
                "{}: the spread moves the ITL only {gap:.3}",
                p.name
            );
        }
        let handle = host
            .start_server(ServerSpec {
                name: p.name.into(),
                model: "granite_13b".into(),
                accelerator: "A100".into(),
                perf: p.perf,
                max_batch_size: p.max_batch,
                time_scale: p.time_scale,
                noise: p.noise,
                seed: 7 + i as u64,
                load: Some(LoadSpec {
                    rate,
                    in_tokens: TokenDist::Fixed(p.in_tokens),
                    out_tokens: p.out,
                    seed: 100 + i as u64,
                }),
                ..ServerSpec::default()
            })
            .await
            .unwrap();
        runs.push((p, handle, predicted, config));
    }

    tokio::time::sleep(WARM_UP).await;
    let before: Vec<Snapshot> = runs.iter().map(|(_, h, _, _)| h.snapshot()).collect();
    tokio::time::sleep(MEASURE).await;
    let after: Vec<Snapshot> = runs.iter().map(|(_, h, _, _)| h.snapshot()).collect();
    host.shutdown().await;

    let mut failures = Vec::new();
    eprintln!(
        "{:<22} {:>6} {:>6} | {:>16} | {:>16} | {:>16} | {:>16} | {:>16} | {:>16} | {:>16}",
        "point",
        "rate",
        "done",
        "X req/s",
        "ITL ms",
        "TTFT ms",
        "TTFT-W ms",
        "W ms",
        "batch",
        "tuner's TTFT"
    );
    for ((p, _, m, config), (s0, s1)) in runs.iter().zip(before.iter().zip(&after)) {
        let check = |failures: &mut Vec<String>, what: &str, measured: f64, predicted: f64| {
            let r = rel(measured, predicted);
            if r.abs() > TOLERANCE {
                failures.push(format!(
                    "{}: {what} {measured:.3} vs model {predicted:.3} ({:+.1} %)",
                    p.name,
                    r * 100.0
                ));
            }
        };
        let seconds = (s1.emulated_ms - s0.emulated_ms) / 1000.0;
        let done = s1.requests - s0.requests;
        let x = done as f64 / seconds;
        let itl = s1.itl.since(&s0.itl).mean() * 1000.0;
        let ttft = s1.ttft.since(&s0.ttft).mean() * 1000.0;
        let wait = s1.queue.since(&s0.queue).mean() * 1000.0;
        let batch = (s1.batch_ms - s0.batch_ms) / (s1.emulated_ms - s0.emulated_ms);
        let Metrics {
            throughput,
            itl: m_itl,
            ttft: m_ttft,
            wait_time,
            prefill_time,
            num_in_service,
            ..
        } = *m;
        // What the tuner fits a pod's TTFT with: the chain's, and half an iteration's wait
        // for the iteration under way when the pod is busy. The chain's alone is 16-21% low.
        let (_, observed) = latencies(
            config.params,
            &Measurement {
                in_tokens: config.in_tokens,
                out_tokens: config.out_tokens,
                out_cv: config.out_cv,
                rate: m.offered_rate,
                max_batch: config.max_batch,
                max_queue: config.max_queue,
                running: 0.0,
                itl_ms: 0.0,
                ttft_ms: 0.0,
            },
        )
        .expect("the point is in the model's domain");
        eprintln!(
            "{:<22} {:>6.3} {:>6} | {:>7.3} {:>+7.1}% | {:>7.2} {:>+7.1}% | {:>7.2} {:>+7.1}% | \
             {:>7.2} {:>+7.1}% | {:>7.2} / {:>6.2} | {:>6.2} {:>+7.1}% | {:>7.2} {:>+7.1}%",
            p.name,
            m.offered_rate,
            done,
            x,
            rel(x, throughput) * 100.0,
            itl,
            rel(itl, m_itl) * 100.0,
            ttft,
            rel(ttft, m_ttft) * 100.0,
            ttft - wait,
            rel(ttft - wait, prefill_time + m_itl) * 100.0,
            wait,
            wait_time,
            batch,
            rel(batch, num_in_service) * 100.0,
            observed,
            rel(ttft, observed) * 100.0,
        );
        assert!(done >= 1000, "{}: only {done} requests measured", p.name);
        check(&mut failures, "throughput", x, throughput);
        check(&mut failures, "ITL", itl, m_itl);
        check(&mut failures, "mean batch", batch, num_in_service);
        check(
            &mut failures,
            "TTFT after admission",
            ttft - wait,
            prefill_time + m_itl,
        );
        if wait > wait_time + m_itl {
            failures.push(format!(
                "{}: queue time {wait:.2} ms above model W {wait_time:.2} + one ITL {m_itl:.2}",
                p.name
            ));
        }
        check(&mut failures, "TTFT as the tuner reads it", ttft, observed);
        if (ttft - m_ttft).abs() > TOLERANCE * m_ttft + m_itl {
            failures.push(format!(
                "{}: TTFT {ttft:.2} ms vs model {m_ttft:.2} beyond 10 % + one ITL",
                p.name
            ));
        }
        assert_eq!(
            s1.preemptions, 0,
            "{}: the default KV cache never fills",
            p.name
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
