//! Property tests of the queue model (bounded case counts, deterministic seeds).

use inferno_optimizer::queue::{chunk_threshold, Analyzer, PerfParams, QueueConfig, Targets};
use proptest::prelude::*;

fn problem() -> impl Strategy<Value = QueueConfig> {
    (
        2u32..=128,
        0u32..=256,
        (0.5f64..40.0, 0.001f64..0.2, 0.0f64..0.002),
        0u32..=4096,
        1u32..=2048,
    )
        .prop_map(|(n, q, (alpha, beta, gamma), inp, out)| QueueConfig {
            max_batch: n,
            max_queue: q,
            max_tokens: 0,
            params: PerfParams { alpha, beta, gamma },
            in_tokens: f64::from(inp),
            out_tokens: f64::from(out),
            out_cv: 0.0,
        })
}

/// Fixed seed: the same cases on every run (set PROPTEST_CASES to explore more).
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x1f2e_3d4c),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Blocking only removes load: throughput <= offered rate, and everything is finite.
    #[test]
    fn throughput_never_exceeds_offered(p in problem(), frac in 0.001f64..5.0) {
        let a = Analyzer::new(p).unwrap();
        let rate = frac * a.rate_range().max;
        let m = a.analyze(rate).unwrap();
        prop_assert!(m.throughput <= rate * (1.0 + 1e-12));
        prop_assert!(m.throughput > 0.0);
        for v in [m.resp_time, m.wait_time, m.itl, m.ttft, m.rho, m.blocking] {
            prop_assert!(v.is_finite() && v >= 0.0, "{m:?}");
        }
    }

    /// For N >= 2, latencies grow with load.
    #[test]
    fn latencies_non_decreasing_in_rate(p in problem(), f1 in 0.001f64..1.5, f2 in 0.001f64..1.5) {
        let a = Analyzer::new(p).unwrap();
        let (lo, hi) = (f1.min(f2) * a.rate_range().max, f1.max(f2) * a.rate_range().max);
        let (m1, m2) = (a.analyze(lo).unwrap(), a.analyze(hi).unwrap());
        let slack = |v: f64| 1e-9 * v.abs() + 1e-9;
        prop_assert!(m2.itl >= m1.itl - slack(m1.itl), "itl {} -> {}", m1.itl, m2.itl);
        prop_assert!(m2.ttft >= m1.ttft - slack(m1.ttft), "ttft {} -> {}", m1.ttft, m2.ttft);
    }

    /// The sized rate meets every target it was sized for.
    #[test]
    fn size_meets_targets(p in problem(), ttft_x in 1.0f64..20.0, itl_x in 1.0f64..5.0) {
        let a = Analyzer::new(p).unwrap();
        let floor = a.analyze(a.rate_range().min).unwrap();
        let targets = Targets { ttft: floor.ttft * ttft_x, itl: floor.itl * itl_x, tps: 0.0 };
        let s = a.size(&targets).unwrap();
        prop_assert!(s.metrics.ttft <= targets.ttft * (1.0 + 1e-12), "{s:?}");
        prop_assert!(s.metrics.itl <= targets.itl * (1.0 + 1e-12), "{s:?}");
        prop_assert!(s.capacity() > 0.0);
    }

    /// A bigger batch cap never lowers the capacity of a replica, within the spec's 1e-4 for
    /// sizing throughput, where the model makes that true: no latency target binds and the
    /// token budget does not split prefills (nc = 1 up to the bigger cap). With a binding TTFT
    /// or ITL target the model is (rightly) not monotone in the cap; see
    /// `bigger_batch_can_lower_capacity` below.
    #[test]
    fn bigger_batch_never_lowers_capacity(p in problem(), extra in 1u32..64) {
        let big_n = p.max_batch + extra;
        prop_assume!(chunk_threshold(1, p.in_tokens, p.out_tokens, 8192.0) >= u64::from(big_n));
        let small = Analyzer::new(p).unwrap();
        let big = Analyzer::new(QueueConfig { max_batch: big_n, ..p }).unwrap();
        let targets = Targets::default();
        let (s, b) = (small.size(&targets).unwrap(), big.size(&targets).unwrap());
        prop_assert!(b.capacity() >= s.capacity() * (1.0 - 1e-4), "{} -> {}", s.capacity(), b.capacity());
    }
}

/// The ways a bigger batch cap lowers capacity in the model, found by the property above
/// when it was stated without its preconditions:
/// - a latency target: a bigger cap admits requests that would have waited (or been blocked),
///   and every request in the batch slows every other's iterations, so the ITL (or TTFT)
///   crossing comes at a lower rate (dips from 1e-4 to 30% were found);
/// - the token budget: past `b_1` prefills are split in chunks and the batch service rate
///   `B / tau(B)` falls.
///
/// This is why the batch cap is searched (spec 2.4) rather than set to the largest that fits.
#[test]
fn bigger_batch_can_lower_capacity() {
    let itl_bound = |n| QueueConfig {
        max_batch: n,
        max_queue: 0,
        max_tokens: 0,
        params: PerfParams {
            alpha: 4.161,
            beta: 0.151,
            gamma: 0.001568,
        },
        in_tokens: 2682.0,
        out_tokens: 626.0,
        out_cv: 0.0,
    };
    let small = Analyzer::new(itl_bound(3)).unwrap();
    let targets = Targets {
        ttft: 0.0,
        itl: 1.637 * small.analyze(small.rate_range().min).unwrap().itl,
        tps: 0.0,
    };
    let (s, b) = (
        small.size(&targets).unwrap(),
        Analyzer::new(itl_bound(7)).unwrap().size(&targets).unwrap(),
    );
    assert!(
        b.capacity() < 0.95 * s.capacity(),
        "ITL-bound: {} -> {}",
        s.capacity(),
        b.capacity()
    );

    let chunked = |n| QueueConfig {
        in_tokens: 4082.0,
        out_tokens: 9.0,
        out_cv: 0.0,
        ..itl_bound(n)
    };
    let (s, b) = (
        Analyzer::new(chunked(47))
            .unwrap()
            .size(&Targets::default())
            .unwrap(),
        Analyzer::new(chunked(105))
            .unwrap()
            .size(&Targets::default())
            .unwrap(),
    );
    assert!(
        b.capacity() < 0.95 * s.capacity(),
        "chunked: {} -> {}",
        s.capacity(),
        b.capacity()
    );
}
