//! Valid ranges of every number that can reach a decision: data files, gRPC requests,
//! Deployment labels and Prometheus samples. One table, so the loader, the optimizer's gRPC
//! service, the collector and the actuator refuse the same values, and so the work of one
//! request is bounded (the queue model's states grow with the batch and queue sizes, its time
//! with the token counts, the solvers' with the replica counts).
//!
//! Each bound is far above what a real inference server reaches (vLLM's default
//! `max_num_seqs` is 256; the longest context windows are about 1M tokens) and low enough that
//! the largest valid request is sized in well under a second: with the batch, queue and token
//! bounds below at once, one analysis, sizing or batch-size search of the release build takes
//! a few milliseconds and a few MB (docs/optimizer.md, section 7), so none needed lowering.
//! docs/security.md and docs/data-files.md list them.

/// Largest batch size (model `maxBatchSize`, server `maxBatchSize`, allocation `maxBatch`, and
/// the batch-size arguments of the queue-model calls).
pub const MAX_BATCH_SIZE: i64 = 4096;
/// Largest waiting room per replica (server `maxQueueSize`).
pub const MAX_QUEUE_SIZE: i64 = 16_384;
/// Largest token count per request (average input/output tokens, `atTokens`).
pub const MAX_TOKENS: f64 = 1_048_576.0;
/// Largest request rate of one server, requests per minute (~167,000 requests/s).
pub const MAX_RATE_RPM: f64 = 1e7;
/// Largest replica count of one server (`minNumReplicas`, `numReplicas`, labels).
pub const MAX_REPLICAS: i64 = 10_000;
/// Largest latency, in ms (targets, measured TTFT/ITL/wait): one hour.
pub const MAX_LATENCY_MS: f64 = 3_600_000.0;
/// Largest throughput target, tokens/s.
pub const MAX_TPS: f64 = 1e9;
/// Largest cost, cents/hr (of an accelerator or an allocation).
pub const MAX_COST: f64 = 1e9;
/// Largest per-iteration time parameter (alpha ms, beta and gamma ms/token).
pub const MAX_PERF_PARM: f64 = 1e6;
/// Largest accelerator count (capacity rows, multiplicity, accelerators per replica).
pub const MAX_UNITS: i64 = 1_000_000;
/// Largest solver time limit, seconds.
pub const MAX_TIME_LIMIT_SECONDS: f64 = 3600.0;
/// Largest iteration count of a solver (optimizer data `improveIterations` and
/// `iterationLimit`). The greedy's improvement stops on its count, never on the clock, so the
/// count is what bounds its work; this is 5,000 times its default of 200.
pub const MAX_ITERATIONS: i64 = 1_000_000;
/// Longest start-up delay or payback time of a change, seconds (a day).
pub const MAX_CHANGE_SECONDS: f64 = 86_400.0;
/// Largest arrival coefficient of variation (and any other dimensionless shape parameter).
pub const MAX_COV: f64 = 100.0;

/// Whether `v` is a finite number in `[0, max]`.
pub fn in_range(v: f64, max: f64) -> bool {
    v.is_finite() && (0.0..=max).contains(&v)
}

/// What is wrong with `v` when it is not a finite number in `[0, max]` (the message of
/// [`check`] without the field, for callers that name the field elsewhere).
pub fn out_of_range(v: f64, max: f64) -> Option<String> {
    (!in_range(v, max)).then(|| {
        format!(
            "must be a finite number in [0, {}], got {}",
            show(max),
            show(v)
        )
    })
}

/// What is wrong with the integer `v` when it is not in `[0, max]` (the message of
/// [`check_count`] without the field).
pub fn count_out_of_range(v: i64, max: i64) -> Option<String> {
    (!(0..=max).contains(&v)).then(|| format!("must be an integer in [0, {max}], got {v}"))
}

/// `Err` naming `field` when `v` is not a finite number in `[0, max]`.
pub fn check(field: &str, v: f64, max: f64) -> Result<(), String> {
    match out_of_range(v, max) {
        None => Ok(()),
        Some(why) => Err(format!("{field}: {why}")),
    }
}

/// A number as a person reads it: `1e308`, not 309 digits.
pub fn show(v: f64) -> String {
    if v != 0.0 && v.is_finite() && !(1e-6..1e15).contains(&v.abs()) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// `Err` naming `field` when the integer `v` is not in `[0, max]`.
pub fn check_count(field: &str, v: i64, max: i64) -> Result<(), String> {
    match count_out_of_range(v, max) {
        None => Ok(()),
        Some(why) => Err(format!("{field}: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_name_the_field_and_the_value() {
        assert!(check("load.arrivalRate", 1e308, MAX_RATE_RPM)
            .unwrap_err()
            .contains("load.arrivalRate: must be a finite number in [0, 10000000], got 1e308"));
        assert_eq!(show(f64::INFINITY), "inf");
        assert_eq!(show(-2.5), "-2.5");
        assert!(check("x", f64::NAN, 1.0).is_err());
        assert!(check("x", -0.5, 1.0).is_err());
        assert!(check("x", 1.0, 1.0).is_ok());
        assert!(check_count("maxBatchSize", 2_147_483_647, MAX_BATCH_SIZE)
            .unwrap_err()
            .contains("maxBatchSize: must be an integer in [0, 4096], got 2147483647"));
        assert!(check_count("n", -1, 5).is_err());
    }
}
