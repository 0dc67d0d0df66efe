//! Test vectors of spec sections 6.1-6.9 that concern the queue model, with the spec's
//! tolerances. Vectors changed by a deliberate fix say so and why.

use approx::assert_relative_eq;
use inferno_optimizer::queue::{
    optimal_concurrency, Analyzer, ConcurrencySearch, PerfParams, QueueConfig, ServiceModel, Targets,
};
use inferno_optimizer::Error;

fn params(alpha: f64, beta: f64, gamma: f64) -> PerfParams {
    PerfParams { alpha, beta, gamma }
}

fn config(n: u32, q: u32, p: PerfParams, inp: f64, out: f64) -> QueueConfig {
    QueueConfig { max_batch: n, max_queue: q, max_tokens: 0, params: p, in_tokens: inp, out_tokens: out }
}

/// Spec 6.1: closed-form primitives (golden_primitives.json), <= 1e-6 relative.
#[test]
fn primitives_6_1() {
    #[rustfmt::skip]
    let rows: [(u32, f64, f64, f64, f64, f64, u32, f64, f64, f64, f64); 8] = [
        (1, 8.0, 0.033, 0.000333, 256.0, 1024.0, 1, 8.296954, 16.533249, 8.288911, 8504.378),
        (40, 8.0, 0.033, 0.000333, 256.0, 1024.0, 1, 19.878149, 28.114445, 19.870108, 20375.104),
        (80, 8.0, 0.033, 0.000333, 256.0, 1024.0, 1, 31.756298, 39.99259, 31.748257, 32550.205),
        (128, 16.0, 0.067, 0.000667, 256.0, 1024.0, 1, 92.278305, 109.005135, 92.26197, 94585.266),
        (200, 4.0, 0.017, 0.000167, 64.0, 128.0, 1, 13.335666, 14.387675, 13.327447, 1720.3009),
        (50, 8.0, 0.033, 0.000333, 1024.0, 256.0, 1, 35.3987, 68.98372, 35.26751, 9097.466),
        (128, 8.0, 0.033, 0.000333, 4096.0, 64.0, 7, 423.95038, 3085.5293, 422.10855, 30100.477),
        (200, 8.0, 0.033, 0.000333, 4096.0, 64.0, 39, 498.38052, 19503.664, 497.3364, 51333.195),
    ];
    for (b, a, be, g, n, m, nc, t_it, prefill, itl, tau) in rows {
        let s = ServiceModel::new(params(a, be, g), n, m, b, 0).unwrap();
        assert_eq!(s.chunks(b), nc, "nc at B={b}");
        // float32 reference values: 1e-6 relative plus one float32 ulp of slack.
        let tol = 1.2e-6;
        assert_relative_eq!(s.iteration_time(b), t_it, max_relative = tol);
        assert_relative_eq!(s.prefill(f64::from(b)), prefill, max_relative = tol);
        assert_relative_eq!(s.itl(f64::from(b)), itl, max_relative = tol);
        assert_relative_eq!(s.service_time(b), tau, max_relative = tol);
    }
}
