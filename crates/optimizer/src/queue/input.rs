//! A queue problem as a request or a file states it (spec 5.4), and its validation against
//! `inferno_api::limits`: the gRPC queue calls and the CLI's queue commands accept the same
//! values, and the work of one call is bounded by them.

use super::analyzer::QueueConfig;
use super::size::Targets;
use inferno_api::limits::{
    self, MAX_BATCH_SIZE, MAX_LATENCY_MS, MAX_PERF_PARM, MAX_QUEUE_SIZE, MAX_RATE_RPM, MAX_TOKENS,
};

/// Largest request rate of one replica, requests/s (`MAX_RATE_RPM` per second).
pub const MAX_RPS: f64 = MAX_RATE_RPM / 60.0;

/// The fields of a queue problem, named as the API and the problem files spell them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueueInput {
    /// `rps`: request rate, requests/s (Analyze only).
    pub rps: f64,
    /// `maxBatchSize`: N (0 = the caller's default, if it has one).
    pub max_batch_size: i64,
    /// `avgInputTokens`.
    pub avg_input_tokens: f64,
    /// `avgOutputTokens` (>= 1).
    pub avg_output_tokens: f64,
    /// `alpha`, ms.
    pub alpha: f64,
    /// `beta`, ms/token.
    pub beta: f64,
    /// `gamma`, ms/token.
    pub gamma: f64,
    /// `maxQueueSize`.
    pub max_queue_size: i64,
    /// `targetTtft`, ms (0 = unset).
    pub target_ttft: f64,
    /// `targetItl`, ms (0 = unset).
    pub target_itl: f64,
    /// `outTokensCv`: spread of the output tokens per request (0 = none).
    pub out_tokens_cv: f64,
}

impl QueueInput {
    /// The model's problem and targets, or every field out of its range, one message each
    /// (`maxBatchSize: must be an integer in [0, 4096], got 2147483647`). `maxBatchSize` 0
    /// means `default_batch`; without a default it is an error. With `rate`, `rps` is checked
    /// too (it must be > 0).
    pub fn check(
        &self,
        default_batch: Option<u32>,
        rate: bool,
    ) -> Result<(QueueConfig, Targets), Vec<String>> {
        let mut errors = Vec::new();
        let mut number = |field: &str, v: f64, max: f64| {
            if let Err(e) = limits::check(field, v, max) {
                errors.push(e);
            }
        };
        if rate {
            number("rps", self.rps, MAX_RPS);
        }
        number("avgInputTokens", self.avg_input_tokens, MAX_TOKENS);
        number("avgOutputTokens", self.avg_output_tokens, MAX_TOKENS);
        number("outTokensCv", self.out_tokens_cv, limits::MAX_COV);
        number("alpha", self.alpha, MAX_PERF_PARM);
        number("beta", self.beta, MAX_PERF_PARM);
        number("gamma", self.gamma, MAX_PERF_PARM);
        number("targetTtft", self.target_ttft, MAX_LATENCY_MS);
        number("targetItl", self.target_itl, MAX_LATENCY_MS);
        if rate && self.rps == 0.0 {
            errors.push("rps: must be > 0".to_owned());
        }
        if (0.0..1.0).contains(&self.avg_output_tokens) {
            errors.push(format!(
                "avgOutputTokens: must be >= 1, got {}",
                limits::show(self.avg_output_tokens)
            ));
        }
        let mut count = |field: &str, v: i64, max: i64| match limits::check_count(field, v, max) {
            Ok(()) => u32::try_from(v).ok(),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        let batch = count("maxBatchSize", self.max_batch_size, MAX_BATCH_SIZE);
        let queue = count("maxQueueSize", self.max_queue_size, MAX_QUEUE_SIZE);
        let batch = match (batch, default_batch) {
            (Some(0), Some(default)) => Some(default),
            (Some(0), None) => {
                errors.push("maxBatchSize: must be >= 1".to_owned());
                None
            }
            (b, _) => b,
        };
        match (batch, queue) {
            (Some(max_batch), Some(max_queue)) if errors.is_empty() => Ok((
                QueueConfig {
                    max_batch,
                    max_queue,
                    max_tokens: 0,
                    params: super::PerfParams {
                        alpha: self.alpha,
                        beta: self.beta,
                        gamma: self.gamma,
                    },
                    in_tokens: self.avg_input_tokens,
                    out_tokens: self.avg_output_tokens,
                    out_cv: self.out_tokens_cv,
                },
                Targets {
                    ttft: self.target_ttft,
                    itl: self.target_itl,
                    tps: 0.0,
                },
            )),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> QueueInput {
        QueueInput {
            rps: 3.0,
            max_batch_size: 48,
            avg_input_tokens: 128.0,
            avg_output_tokens: 512.0,
            alpha: 12.0,
            beta: 0.05,
            gamma: 0.0005,
            max_queue_size: 128,
            target_ttft: 60.0,
            target_itl: 20.0,
            out_tokens_cv: 0.5,
        }
    }

    #[test]
    fn every_field_out_of_range_is_named() {
        assert!(valid().check(None, true).is_ok());
        let bad = QueueInput {
            rps: -1.0,
            max_batch_size: 2_147_483_647,
            avg_input_tokens: 1e15,
            avg_output_tokens: f64::NAN,
            alpha: 1e300,
            max_queue_size: -1,
            target_itl: f64::INFINITY,
            out_tokens_cv: -0.5,
            ..valid()
        };
        let errors = bad.check(Some(256), true).unwrap_err();
        for want in [
            "rps: must be a finite number in [0, 166666.66666666666], got -1",
            "maxBatchSize: must be an integer in [0, 4096], got 2147483647",
            "avgInputTokens: must be a finite number in [0, 1048576], got 1e15",
            "avgOutputTokens: must be a finite number in [0, 1048576], got NaN",
            "alpha: must be a finite number in [0, 1000000], got 1e300",
            "maxQueueSize: must be an integer in [0, 16384], got -1",
            "targetItl: must be a finite number in [0, 3600000], got inf",
            "outTokensCv: must be a finite number in [0, 100], got -0.5",
        ] {
            assert!(errors.iter().any(|e| e == want), "{want}: {errors:#?}");
        }
        assert_eq!(errors.len(), 8, "{errors:#?}");
    }

    #[test]
    fn batch_zero_is_the_default_where_there_is_one() {
        let zero = QueueInput {
            max_batch_size: 0,
            ..valid()
        };
        assert_eq!(zero.check(Some(256), false).unwrap().0.max_batch, 256);
        assert_eq!(
            zero.check(None, false).unwrap_err(),
            ["maxBatchSize: must be >= 1"]
        );
        let idle = QueueInput {
            rps: 0.0,
            ..valid()
        };
        assert_eq!(idle.check(None, true).unwrap_err(), ["rps: must be > 0"]);
        assert!(idle.check(None, false).is_ok());
        let few = QueueInput {
            avg_output_tokens: 0.5,
            ..valid()
        };
        assert_eq!(
            few.check(None, false).unwrap_err(),
            ["avgOutputTokens: must be >= 1, got 0.5"]
        );
    }
}
