//! The queueing model a cycle held, evaluated at the load that actually came.
//!
//! A cycle's model check (`plan.modelCheck`) predicts at the rate the collector measured over
//! the window before the cycle; the period after it brings other arrivals (Poisson noise of
//! 10-50 requests, a ramp) and other token counts, and latency is steep in the load. Comparing
//! that prediction with the period's requests measures the forecast as much as the model. Here
//! the same parameters and pod shape (the check carries them) are evaluated at the period's own
//! arrivals per serving pod and mean token counts: what is left is the model and its tuned
//! parameters (docs/benchmark.md, "model check").

use crate::traffic::RequestRecord;
use inferno_optimizer::queue::PerfParams;
use inferno_optimizer::tune::{latencies, Measurement};
use serde_json::Value;
use std::collections::BTreeSet;

/// The check's model (`params`, `maxBatch`, `maxQueue`) at `window`'s load: its requests
/// over `period` seconds per pod that served them, their mean prompt and output tokens.
/// Returns (TTFT, ITL) in ms; None when the check carries no model (an older controller) or
/// the window is empty.
pub fn predicted(check: &Value, window: &[&RequestRecord], period: f64) -> Option<(f64, f64)> {
    let p = &check["params"];
    let params = PerfParams {
        alpha: p["alpha"].as_f64()?,
        beta: p["beta"].as_f64()?,
        gamma: p["gamma"].as_f64()?,
    };
    let pods = window
        .iter()
        .map(|r| r.pod.as_str())
        .collect::<BTreeSet<_>>()
        .len();
    if pods == 0 || period <= 0.0 {
        return None;
    }
    let n = window.len() as f64;
    let mean =
        |f: fn(&RequestRecord) -> u32| window.iter().map(|r| f64::from(f(r))).sum::<f64>() / n;
    let out = mean(|r| r.output).max(1.0);
    // The period's own spread of output lengths, as its own means: the batch held these
    // requests. Only for a check whose model reads a spread at all (`outTokensCv` present):
    // an older controller's model had none.
    let out_cv = match check.get("outTokensCv") {
        Some(_) => {
            let var = window
                .iter()
                .map(|r| (f64::from(r.output) - out).powi(2))
                .sum::<f64>()
                / n;
            (var.sqrt() / out).min(inferno_api::limits::MAX_COV)
        }
        None => 0.0,
    };
    let m = Measurement {
        in_tokens: mean(|r| r.prompt),
        out_tokens: out,
        out_cv,
        rate: n / period / pods as f64,
        max_batch: u32::try_from(check["maxBatch"].as_u64()?).ok()?,
        max_queue: u32::try_from(check["maxQueue"].as_u64().unwrap_or(0)).unwrap_or(u32::MAX),
        running: 0.0,
        itl_ms: 0.0,
        ttft_ms: 0.0,
    };
    latencies(params, &m).map(|(itl, ttft)| (ttft, itl))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::Outcome;
    use serde_json::json;

    fn request(pod: &str, prompt: u32, output: u32) -> RequestRecord {
        RequestRecord {
            policy: 0,
            server: "a".into(),
            server_index: 0,
            id: 0,
            at: 0.0,
            prompt,
            output,
            outcome: Outcome::Served,
            pod: pod.into(),
            wait_ms: 0.0,
            ttft_ms: 0.0,
            itl_ms: 0.0,
            e2e_ms: 0.0,
            preemptions: 0,
            met_ttft: true,
            met_itl: true,
        }
    }

    fn check() -> Value {
        json!({"predictedTtft": 1.0, "predictedItl": 1.0, "tunerUpdates": 12,
            "params": {"alpha": 8.0, "beta": 0.03, "gamma": 0.0005},
            "maxBatch": 32, "maxQueue": 0})
    }

    #[test]
    fn the_model_is_evaluated_at_the_periods_own_load_per_serving_pod() {
        // 30 requests in 30 s on two pods, 200 prompt and 300 output tokens on average.
        let window: Vec<RequestRecord> = (0..30)
            .map(|i| {
                let pod = if i % 2 == 0 { "p0" } else { "p1" };
                request(pod, 100 + 200 * (i % 2), 300)
            })
            .collect();
        let refs: Vec<&RequestRecord> = window.iter().collect();
        let got = predicted(&check(), &refs, 30.0).expect("a model");
        let at = |rate: f64| model_at(rate, 0.0);
        assert_eq!(got, at(0.5), "half a request per second per pod");
        // Twice the load on one pod is a different answer: the rate counts.
        let one_pod: Vec<RequestRecord> = window
            .iter()
            .cloned()
            .map(|mut r| {
                r.pod = "p0".into();
                r
            })
            .collect();
        let refs: Vec<&RequestRecord> = one_pod.iter().collect();
        let busier = predicted(&check(), &refs, 30.0).unwrap();
        assert_eq!(busier, at(1.0));
        assert!(busier.1 > got.1, "a fuller batch iterates slower");
    }

    #[test]
    fn a_check_without_its_model_or_requests_gives_nothing() {
        let r = request("p0", 100, 100);
        let mut old = check();
        old.as_object_mut().unwrap().remove("params");
        assert_eq!(predicted(&old, &[&r], 30.0), None);
        assert_eq!(predicted(&check(), &[], 30.0), None);
    }

    /// A check whose model reads a spread is evaluated at the period's own spread of output
    /// lengths (100 and 500 tokens: mean 300, coefficient of variation 2/3): the batch holds
    /// the long ones longer, so the ITL is above the same load without spread.
    #[test]
    fn the_periods_spread_of_output_lengths_is_the_models() {
        let window: Vec<RequestRecord> = (0..30)
            .map(|i| {
                request(
                    if i % 2 == 0 { "p0" } else { "p1" },
                    200,
                    100 + 400 * (i % 2),
                )
            })
            .collect();
        let refs: Vec<&RequestRecord> = window.iter().collect();
        let mut spread = check();
        spread["outTokensCv"] = json!(0.1);
        let got = predicted(&spread, &refs, 30.0).unwrap();
        let at = |out_cv: f64| model_at(0.5, out_cv);
        let want = at(2.0 / 3.0);
        approx_eq(got.0, want.0);
        approx_eq(got.1, want.1);
        assert!(got.1 > at(0.0).1);
        // A check without the field (an older controller) gets no spread.
        assert_eq!(predicted(&check(), &refs, 30.0).unwrap(), at(0.0));
    }

    /// The check's model (`check()`) for a pod at `rate` requests/s of 200 prompt and 300
    /// output tokens spread by `out_cv`: (TTFT, ITL) in ms.
    fn model_at(rate: f64, out_cv: f64) -> (f64, f64) {
        let params = PerfParams {
            alpha: 8.0,
            beta: 0.03,
            gamma: 0.0005,
        };
        let m = Measurement {
            in_tokens: 200.0,
            out_tokens: 300.0,
            out_cv,
            rate,
            max_batch: 32,
            max_queue: 0,
            running: 0.0,
            itl_ms: 0.0,
            ttft_ms: 0.0,
        };
        let (itl, ttft) = latencies(params, &m).unwrap();
        (ttft, itl)
    }

    fn approx_eq(a: f64, b: f64) {
        assert!((a / b - 1.0).abs() < 1e-9, "{a} vs {b}");
    }
}
