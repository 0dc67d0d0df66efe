//! `Analyzer`: the performance of one replica at a given request rate (spec 1.4-1.5).

use super::chain::Chain;
use super::service::{PerfParams, ServiceModel};
use crate::error::{Error, Result};
use inferno_api::limits::MAX_QUEUE_SIZE;

/// Relative width of the usable rate range: `[s_1 eps, s_N (1 - eps)]`.
const RATE_RANGE_EPSILON: f64 = 0.001;

/// One queue-analysis problem: a replica of a model on an accelerator under a request mix.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueConfig {
    /// N: maximum batch size (concurrency) of the replica, >= 1.
    pub max_batch: u32,
    /// Q: waiting room in front of the replica (0 = arrivals finding N busy are lost).
    pub max_queue: u32,
    /// Token budget per iteration (0 = 8192).
    pub max_tokens: u32,
    /// Iteration-time parameters.
    pub params: PerfParams,
    /// Mean input tokens per request, >= 0.
    pub in_tokens: f64,
    /// Mean output tokens per request, >= 1.
    pub out_tokens: f64,
    /// Coefficient of variation of the output tokens per request, in `[0, MAX_COV]`
    /// (0 = every request at the mean, the reference's model; see [`ServiceModel`]).
    pub out_cv: f64,
}

/// Range of request rates the model is meant for, requests/s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateRange {
    /// `0.001 s_1`: a nearly idle replica.
    pub min: f64,
    /// `0.999 s_N`: just below the saturated service rate.
    pub max: f64,
}

/// Steady-state performance of one replica at one offered rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    /// Offered rate, requests/s.
    pub offered_rate: f64,
    /// Accepted rate (offered minus blocked), requests/s.
    pub throughput: f64,
    /// Mean response time (queueing + service), ms.
    pub resp_time: f64,
    /// Mean waiting time before admission to the batch, ms.
    pub wait_time: f64,
    /// Mean service (residence in the batch) time, ms.
    pub service_time: f64,
    /// Mean number of requests in service (the mean batch).
    pub num_in_service: f64,
    /// Mean number of requests in the replica (waiting + in service).
    pub num_in_system: f64,
    /// Mean prefill time, ms.
    pub prefill_time: f64,
    /// Mean inter-token latency, ms.
    pub itl: f64,
    /// Mean time to first token (wait + prefill + one decode step), ms.
    pub ttft: f64,
    /// Mean batch over maximum batch, in [0, 1].
    pub rho: f64,
    /// Probability that an arrival is lost because the replica and its queue are full.
    pub blocking: f64,
    /// Probability that an arrival finds the replica serving (not empty).
    pub busy: f64,
    /// Upper end of the rate range, requests/s.
    pub max_rate: f64,
}

/// The queueing model of one replica, with everything that does not depend on the rate
/// precomputed.
#[derive(Debug, Clone)]
pub struct Analyzer {
    config: QueueConfig,
    service: ServiceModel,
    chain: Chain,
    range: RateRange,
}

impl Analyzer {
    /// Builds the model; fails on inputs outside their domain and on degenerate service
    /// (for example alpha = beta = gamma = 0).
    ///
    /// Unlike the reference, N = 1 with Q = 0 (a single state) is a valid model (spec 7.2).
    /// The inputs must be within `inferno_api::limits` (see [`ServiceModel::new`]; Q at most
    /// `MAX_QUEUE_SIZE`), which bounds the states of the chain and so the time of one analysis.
    pub fn new(config: QueueConfig) -> Result<Self> {
        if i64::from(config.max_queue) > MAX_QUEUE_SIZE {
            return Err(Error::invalid(
                "maxQueueSize",
                format!(
                    "must be an integer in [0, {MAX_QUEUE_SIZE}], got {}",
                    config.max_queue
                ),
            ));
        }
        let service = ServiceModel::new(
            config.params,
            config.in_tokens,
            config.out_tokens,
            config.max_batch,
            config.max_tokens,
        )?
        .with_out_cv(config.out_cv)?;
        let rates = service.service_rates();
        let chain = Chain::new(&rates, config.max_queue)?;
        let range = RateRange {
            min: rates[0] * RATE_RANGE_EPSILON * 1000.0,
            max: rates[rates.len() - 1] * (1.0 - RATE_RANGE_EPSILON) * 1000.0,
        };
        Ok(Self {
            config,
            service,
            chain,
            range,
        })
    }

    /// The problem this analyzer models.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// The per-request service model.
    pub fn service(&self) -> &ServiceModel {
        &self.service
    }

    /// Rates the model is meant for, requests/s.
    pub fn rate_range(&self) -> RateRange {
        self.range
    }

    /// Performance at an offered rate of `rate` requests/s (> 0). Overload is not an error:
    /// it shows as blocking (throughput below the offered rate).
    pub fn analyze(&self, rate: f64) -> Result<Metrics> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(Error::NonPositiveRate(rate));
        }
        Ok(self.metrics_at(rate / 1000.0))
    }

    /// Performance at `lambda` requests/ms (finite, > 0).
    pub(crate) fn metrics_at(&self, lambda: f64) -> Metrics {
        let n = f64::from(self.config.max_batch);
        let state = self.chain.solve(lambda);
        let throughput = lambda * (1.0 - state.p_full);
        let resp_time = state.mean_in_system / throughput;
        let service_time = state.mean_in_service / throughput;
        let wait_time = (resp_time - service_time).max(0.0);
        let prefill_time = self.service.prefill(state.mean_in_service);
        let itl = (service_time - prefill_time) / self.service.out_tokens();
        Metrics {
            offered_rate: lambda * 1000.0,
            throughput: throughput * 1000.0,
            resp_time,
            wait_time,
            service_time,
            num_in_service: state.mean_in_service,
            num_in_system: state.mean_in_system,
            prefill_time,
            itl,
            ttft: wait_time + prefill_time + itl,
            rho: (state.mean_in_service / n).clamp(0.0, 1.0),
            blocking: state.p_full,
            busy: (1.0 - state.p_empty).clamp(0.0, 1.0),
            max_rate: self.range.max,
        }
    }
}
