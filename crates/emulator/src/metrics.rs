//! The metrics of one emulated server under vLLM's names, served in the Prometheus text
//! exposition format ([`render`], with [`inferno_telemetry::metrics`] like the services), and
//! [`Snapshot`], the same numbers as plain fields for programs.
//!
//! Latencies are in seconds of emulated time. Every series carries `model_name`; the success
//! counter also carries `finished_reason="length"` (the emulator always generates `max_tokens`).

use crate::engine::lock;
use crate::scheduler::{Events, Finished, Work};
use inferno_telemetry::metrics::Registry;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, EncodeMetric, NoLabelSet,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::MetricType;
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// vLLM's buckets for time to first token, seconds.
const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];

/// vLLM's buckets for time per output token, seconds, with two finer ones below 10 ms.
const TPOT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0,
    7.5, 10.0, 20.0, 40.0, 80.0,
];

/// vLLM's buckets for request-level latencies (e2e, queue, prefill, decode), seconds, with
/// finer ones below 0.3 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0,
    30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0,
];

/// vLLM's buckets for the per-request token counts (`build_1_2_5_buckets`): 1, 2, 5 times the
/// powers of ten. vLLM stops at the model's context length; the emulator's context length
/// follows the allocation, so it goes on to 1e6 tokens (beyond any context it serves).
const TOKEN_BUCKETS: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5,
    5e5, 1e6,
];

/// A cumulative histogram with fixed upper bounds.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    /// Non-cumulative counts per bucket; the last one is `+Inf`.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        let i = self.bounds.partition_point(|b| *b < v);
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }

    fn summary(&self) -> Summary {
        Summary {
            sum: self.sum,
            count: self.count,
        }
    }
}

/// Sum and count of one histogram (seconds, or tokens for the token histograms); the mean is
/// `sum / count`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Sum of the observations, seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Summary {
    /// Mean observation (NaN when empty).
    pub fn mean(&self) -> f64 {
        self.sum / self.count as f64
    }

    /// The observations between `earlier` and `self` (both from the same histogram).
    pub fn since(&self, earlier: &Summary) -> Summary {
        Summary {
            sum: self.sum - earlier.sum,
            count: self.count - earlier.count,
        }
    }
}

/// Everything one server has measured so far: counters, histogram sums and counts, gauges,
/// and the emulated clock with the integral of the batch size over it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Completed requests (`vllm:request_success_total`).
    pub requests: u64,
    /// Prompt tokens of admitted requests whose prefill completed (`vllm:prompt_tokens_total`).
    pub prompt_tokens: u64,
    /// Tokens generated (`vllm:generation_tokens_total`).
    pub generation_tokens: u64,
    /// Preemptions (`vllm:num_preemptions_total`).
    pub preemptions: u64,
    /// Requests refused because they can never fit the KV cache.
    pub rejected: u64,
    /// Time to first token (`vllm:time_to_first_token_seconds`).
    pub ttft: Summary,
    /// Per-request mean time per output token (`vllm:request_time_per_output_token_seconds`).
    pub itl: Summary,
    /// Per-token inter-token latency (`vllm:time_per_output_token_seconds`).
    pub tpot: Summary,
    /// Time in the queue (`vllm:request_queue_time_seconds`).
    pub queue: Summary,
    /// Arrival to last token (`vllm:e2e_request_latency_seconds`).
    pub e2e: Summary,
    /// Prompt tokens per finished request (`vllm:request_prompt_tokens`), tokens.
    pub request_prompt_tokens: Summary,
    /// Generated tokens per finished request (`vllm:request_generation_tokens`), tokens.
    pub request_generation_tokens: Summary,
    /// Requests in the batch (`vllm:num_requests_running`).
    pub running: u64,
    /// Requests in the queue (`vllm:num_requests_waiting`).
    pub waiting: u64,
    /// KV cache slots in use over capacity (`vllm:kv_cache_usage_perc`, a fraction).
    pub kv_usage: f64,
    /// Emulated time since the server started, ms.
    pub emulated_ms: f64,
    /// Integral of the batch (requests computing) over emulated time, request-ms.
    pub batch_ms: f64,
    /// Iterations run.
    pub iterations: u64,
}

/// The mutable metrics of one server.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    model: String,
    accelerator: String,
    max_batch: u32,
    requests: u64,
    prompt_tokens: u64,
    generation_tokens: u64,
    preemptions: u64,
    rejected: u64,
    iterations: u64,
    ttft: Histogram,
    itl: Histogram,
    tpot: Histogram,
    queue: Histogram,
    e2e: Histogram,
    prefill: Histogram,
    decode: Histogram,
    inference: Histogram,
    request_prompt: Histogram,
    request_generation: Histogram,
    running: u64,
    waiting: u64,
    kv_usage: f64,
    emulated_ms: f64,
    batch_ms: f64,
}

impl Metrics {
    /// Empty metrics of a server of `model` on `accelerator` with batch cap `max_batch`.
    pub(crate) fn new(model: &str, accelerator: &str, max_batch: u32) -> Self {
        Self {
            model: model.to_owned(),
            accelerator: accelerator.to_owned(),
            max_batch,
            requests: 0,
            prompt_tokens: 0,
            generation_tokens: 0,
            preemptions: 0,
            rejected: 0,
            iterations: 0,
            ttft: Histogram::new(TTFT_BUCKETS),
            itl: Histogram::new(TPOT_BUCKETS),
            tpot: Histogram::new(TPOT_BUCKETS),
            queue: Histogram::new(LATENCY_BUCKETS),
            e2e: Histogram::new(LATENCY_BUCKETS),
            prefill: Histogram::new(LATENCY_BUCKETS),
            decode: Histogram::new(LATENCY_BUCKETS),
            inference: Histogram::new(LATENCY_BUCKETS),
            request_prompt: Histogram::new(TOKEN_BUCKETS),
            request_generation: Histogram::new(TOKEN_BUCKETS),
            running: 0,
            waiting: 0,
            kv_usage: 0.0,
            emulated_ms: 0.0,
            batch_ms: 0.0,
        }
    }

    /// Records the allocation shown by `inferno_emulator_info` and the batch-cap gauge.
    pub(crate) fn set_allocation(&mut self, accelerator: &str, max_batch: u32) {
        accelerator.clone_into(&mut self.accelerator);
        self.max_batch = max_batch;
    }

    /// Records one finished iteration of `duration` ms.
    pub(crate) fn iteration<T>(&mut self, work: &Work, duration: f64, events: &Events<T>) {
        self.iterations += 1;
        self.preemptions += u64::from(work.preempted);
        self.batch_ms += f64::from(work.batch) * duration;
        self.prompt_tokens += events.prompt_tokens;
        self.generation_tokens += events.generation_tokens;
        for v in &events.ttft {
            self.ttft.observe(v / 1000.0);
        }
        for v in &events.itl {
            self.tpot.observe(v / 1000.0);
        }
        for f in &events.finished {
            self.finished(f);
        }
    }

    fn finished<T>(&mut self, f: &Finished<T>) {
        self.requests += 1;
        self.queue.observe(f.queue_time() / 1000.0);
        self.e2e.observe(f.e2e() / 1000.0);
        self.prefill.observe(f.prefill_time() / 1000.0);
        self.decode.observe(f.decode_time() / 1000.0);
        self.inference.observe(f.inference_time() / 1000.0);
        // Observed when the request finishes, as vLLM does, together with the success counter:
        // sums and counts of the same requests, so their ratio is an exact mean per request
        // (the token counters tick as tokens are computed, requests when they finish).
        self.request_prompt.observe(f64::from(f.prompt_tokens));
        self.request_generation.observe(f64::from(f.generated));
        if let Some(tpot) = f.tpot() {
            self.itl.observe(tpot / 1000.0);
        }
    }

    /// Counts a request refused because it can never fit the KV cache.
    pub(crate) fn rejected(&mut self) {
        self.rejected += 1;
    }

    /// Sets the gauges and the emulated clock.
    pub(crate) fn gauges(&mut self, running: usize, waiting: usize, kv_usage: f64, now_ms: f64) {
        self.running = running as u64;
        self.waiting = waiting as u64;
        self.kv_usage = kv_usage;
        self.emulated_ms = self.emulated_ms.max(now_ms);
    }

    /// The numbers as plain fields.
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            requests: self.requests,
            prompt_tokens: self.prompt_tokens,
            generation_tokens: self.generation_tokens,
            preemptions: self.preemptions,
            rejected: self.rejected,
            ttft: self.ttft.summary(),
            itl: self.itl.summary(),
            tpot: self.tpot.summary(),
            queue: self.queue.summary(),
            e2e: self.e2e.summary(),
            request_prompt_tokens: self.request_prompt.summary(),
            request_generation_tokens: self.request_generation.summary(),
            running: self.running,
            waiting: self.waiting,
            kv_usage: self.kv_usage,
            emulated_ms: self.emulated_ms,
            batch_ms: self.batch_ms,
            iterations: self.iterations,
        }
    }

    /// Writes every series, read now: the counters, the gauges, the histograms under vLLM's
    /// names, then the emulator's own two gauges.
    fn encode(&self, encoder: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
        let model = ModelLabel {
            model_name: self.model.clone(),
        };
        counter(
            encoder,
            "vllm:request_success",
            "Count of successfully processed requests.",
            &SuccessLabels {
                model_name: self.model.clone(),
                finished_reason: "length",
            },
            self.requests,
        )?;
        for (name, help, v) in [
            (
                "vllm:prompt_tokens",
                "Number of prefill tokens processed.",
                self.prompt_tokens,
            ),
            (
                "vllm:generation_tokens",
                "Number of generation tokens processed.",
                self.generation_tokens,
            ),
            (
                "vllm:num_preemptions",
                "Cumulative number of preemption from the engine.",
                self.preemptions,
            ),
        ] {
            counter(encoder, name, help, &model, v)?;
        }
        gauge(
            encoder,
            "vllm:num_requests_running",
            "Number of requests in model execution batches.",
            &model,
            self.running,
        )?;
        gauge(
            encoder,
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed.",
            &model,
            self.waiting,
        )?;
        gauge(
            encoder,
            "vllm:kv_cache_usage_perc",
            "KV-cache usage. 1 means 100 percent usage.",
            &model,
            self.kv_usage,
        )?;
        let histograms = [
            (
                "vllm:time_to_first_token_seconds",
                "Histogram of time to first token in seconds.",
                &self.ttft,
            ),
            (
                "vllm:request_time_per_output_token_seconds",
                "Histogram of time_per_output_token_seconds per request.",
                &self.itl,
            ),
            (
                "vllm:time_per_output_token_seconds",
                "Histogram of time per output token in seconds (per token).",
                &self.tpot,
            ),
            (
                "vllm:request_queue_time_seconds",
                "Histogram of time spent in WAITING phase for request.",
                &self.queue,
            ),
            (
                "vllm:e2e_request_latency_seconds",
                "Histogram of e2e request latency in seconds.",
                &self.e2e,
            ),
            (
                "vllm:request_prefill_time_seconds",
                "Histogram of time spent in PREFILL phase for request.",
                &self.prefill,
            ),
            (
                "vllm:request_decode_time_seconds",
                "Histogram of time spent in DECODE phase for request.",
                &self.decode,
            ),
            (
                "vllm:request_inference_time_seconds",
                "Histogram of time spent in RUNNING phase for request.",
                &self.inference,
            ),
            (
                "vllm:request_prompt_tokens",
                "Number of prefill tokens processed.",
                &self.request_prompt,
            ),
            (
                "vllm:request_generation_tokens",
                "Number of generation tokens processed.",
                &self.request_generation,
            ),
        ];
        for (name, help, h) in histograms {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Histogram)?;
            // Per bucket, not cumulative: the encoder sums them up.
            let buckets: Vec<(f64, u64)> = h
                .bounds
                .iter()
                .copied()
                .chain(std::iter::once(f64::INFINITY))
                .zip(h.counts.iter().copied())
                .collect();
            metric
                .encode_family(&model)?
                .encode_histogram::<NoLabelSet>(h.sum, h.count, &buckets, None)?;
        }
        gauge(
            encoder,
            "inferno_emulator_info",
            "The emulated server's model and accelerator.",
            &InfoLabels {
                model_name: self.model.clone(),
                accelerator: self.accelerator.clone(),
            },
            1u32,
        )?;
        gauge(
            encoder,
            "inferno_emulator_max_batch_size",
            "The batch cap in force (vLLM max_num_seqs).",
            &model,
            self.max_batch,
        )
    }
}

#[derive(Debug, EncodeLabelSet)]
struct ModelLabel {
    model_name: String,
}

#[derive(Debug, EncodeLabelSet)]
struct SuccessLabels {
    model_name: String,
    finished_reason: &'static str,
}

#[derive(Debug, EncodeLabelSet)]
struct InfoLabels {
    model_name: String,
    accelerator: String,
}

/// A counter of one series; `name` without `_total`, which the encoder appends.
fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    labels: &impl EncodeLabelSet,
    v: u64,
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(v).encode(metric.encode_family(labels)?)
}

/// A gauge of one series.
fn gauge<N: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    labels: &impl EncodeLabelSet,
    v: N,
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    metric.encode_family(labels)?.encode_gauge(&v)
}

/// The metrics of one server as prometheus-client sees them: a collector that reads them at
/// scrape time, under the lock the engine writes them under. (prometheus-client's own
/// histograms do not give back their sums and counts, which [`Snapshot`] needs.)
#[derive(Debug)]
struct Exposition(Arc<Mutex<Metrics>>);

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        lock(&self.0).encode(&mut encoder)
    }
}

/// The `/metrics` page of a server ([`inferno_telemetry::metrics`]).
pub(crate) fn render(metrics: &Arc<Mutex<Metrics>>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Exposition(metrics.clone())));
    inferno_telemetry::metrics::encode(&registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(arrival: f64, admitted: f64, first: f64, finish: f64, gen: u32) -> Finished<()> {
        Finished {
            prompt_tokens: 10,
            generated: gen,
            arrival,
            admitted,
            first_token: first,
            finish,
            preemptions: 0,
            payload: (),
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative_with_le_inclusive() {
        let mut h = Histogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.0, 1.5, 3.0] {
            h.observe(v);
        }
        assert_eq!(h.counts, [2, 1, 1]);
        assert_eq!(h.summary(), Summary { sum: 6.0, count: 4 });
    }

    #[test]
    fn iteration_events_update_counters_and_histograms() {
        let mut m = Metrics::new("granite", "A100", 8);
        let work = Work {
            batch: 2,
            prefill_tokens: 0,
            decode_tokens: 2,
            kv_tokens: 40,
            preempted: 1,
        };
        let events = Events {
            ttft: vec![250.0],
            itl: vec![20.0],
            prompt_tokens: 10,
            generation_tokens: 2,
            finished: vec![
                finished(0.0, 100.0, 250.0, 450.0, 11),
                finished(0.0, 0.0, 5.0, 5.0, 1),
            ],
        };
        m.iteration(&work, 30.0, &events);
        m.gauges(1, 3, 0.25, 1000.0);
        let s = m.snapshot();
        assert_eq!(
            (s.requests, s.prompt_tokens, s.generation_tokens),
            (2, 10, 2)
        );
        assert_eq!((s.preemptions, s.iterations), (1, 1));
        assert_eq!(s.batch_ms, 60.0);
        assert_eq!(
            s.ttft,
            Summary {
                sum: 0.25,
                count: 1
            }
        );
        assert_eq!(
            s.tpot,
            Summary {
                sum: 0.02,
                count: 1
            }
        );
        // Only the 11-token request has a per-request TPOT: (450 - 250) / 10 ms.
        assert_eq!(s.itl.count, 1);
        assert!((s.itl.sum - 0.02).abs() < 1e-12);
        assert_eq!(s.queue, Summary { sum: 0.1, count: 2 });
        assert_eq!((s.running, s.waiting, s.kv_usage), (1, 3, 0.25));

        let text = render(&Arc::new(Mutex::new(m)));
        for line in [
            "vllm:request_success_total{model_name=\"granite\",finished_reason=\"length\"} 2",
            "vllm:prompt_tokens_total{model_name=\"granite\"} 10",
            "vllm:generation_tokens_total{model_name=\"granite\"} 2",
            "vllm:num_preemptions_total{model_name=\"granite\"} 1",
            "vllm:num_requests_running{model_name=\"granite\"} 1",
            "vllm:num_requests_waiting{model_name=\"granite\"} 3",
            "vllm:kv_cache_usage_perc{model_name=\"granite\"} 0.25",
            "vllm:time_to_first_token_seconds_bucket{model_name=\"granite\",le=\"0.25\"} 1",
            "vllm:time_to_first_token_seconds_bucket{model_name=\"granite\",le=\"0.1\"} 0",
            "vllm:time_to_first_token_seconds_bucket{model_name=\"granite\",le=\"+Inf\"} 1",
            "vllm:time_to_first_token_seconds_sum{model_name=\"granite\"} 0.25",
            "vllm:time_to_first_token_seconds_count{model_name=\"granite\"} 1",
            "vllm:request_time_per_output_token_seconds_count{model_name=\"granite\"} 1",
            "vllm:time_per_output_token_seconds_count{model_name=\"granite\"} 1",
            "vllm:request_queue_time_seconds_count{model_name=\"granite\"} 2",
            "vllm:e2e_request_latency_seconds_count{model_name=\"granite\"} 2",
            "# TYPE vllm:e2e_request_latency_seconds histogram",
            "inferno_emulator_info{model_name=\"granite\",accelerator=\"A100\"} 1",
            "inferno_emulator_max_batch_size{model_name=\"granite\"} 8",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    /// The per-request token histograms are observed once per finished request, with that
    /// request's own counts, so their sum over count is the mean per request even when the
    /// token counters have run ahead (prompts of requests still decoding).
    #[test]
    fn token_histograms_observe_each_finished_request() {
        let mut m = Metrics::new("granite", "A100", 8);
        let work = Work {
            batch: 3,
            prefill_tokens: 0,
            decode_tokens: 3,
            kv_tokens: 0,
            preempted: 0,
        };
        let mut long = finished(0.0, 0.0, 5.0, 50.0, 120);
        long.prompt_tokens = 1500;
        let events = Events {
            ttft: vec![],
            itl: vec![],
            // A third request's prompt is counted, but it has not finished.
            prompt_tokens: 1500 + 10 + 700,
            generation_tokens: 121,
            finished: vec![finished(0.0, 0.0, 5.0, 5.0, 1), long],
        };
        m.iteration(&work, 10.0, &events);
        let s = m.snapshot();
        assert_eq!(
            s.request_prompt_tokens,
            Summary {
                sum: 1510.0,
                count: 2
            }
        );
        assert_eq!(
            s.request_generation_tokens,
            Summary {
                sum: 121.0,
                count: 2
            }
        );
        assert_eq!(s.request_prompt_tokens.count, s.requests);
        let text = render(&Arc::new(Mutex::new(m)));
        for line in [
            "# TYPE vllm:request_prompt_tokens histogram",
            "vllm:request_prompt_tokens_sum{model_name=\"granite\"} 1510.0",
            "vllm:request_prompt_tokens_count{model_name=\"granite\"} 2",
            // 10 tokens fall in le=10 (le is inclusive), 1500 in le=2000.
            "vllm:request_prompt_tokens_bucket{model_name=\"granite\",le=\"5\"} 0",
            "vllm:request_prompt_tokens_bucket{model_name=\"granite\",le=\"10\"} 1",
            "vllm:request_prompt_tokens_bucket{model_name=\"granite\",le=\"1000\"} 1",
            "vllm:request_prompt_tokens_bucket{model_name=\"granite\",le=\"2000\"} 2",
            "vllm:request_prompt_tokens_bucket{model_name=\"granite\",le=\"+Inf\"} 2",
            "# TYPE vllm:request_generation_tokens histogram",
            "vllm:request_generation_tokens_sum{model_name=\"granite\"} 121.0",
            "vllm:request_generation_tokens_count{model_name=\"granite\"} 2",
            "vllm:request_generation_tokens_bucket{model_name=\"granite\",le=\"1\"} 1",
            "vllm:request_generation_tokens_bucket{model_name=\"granite\",le=\"100\"} 1",
            "vllm:request_generation_tokens_bucket{model_name=\"granite\",le=\"200\"} 2",
            "vllm:prompt_tokens_total{model_name=\"granite\"} 2210",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn label_values_and_floats_are_escaped() {
        let model = "we\"ird\\name\nx";
        let mut m = Metrics::new(model, "", 1);
        m.gauges(0, 0, 1e-7, 0.0);
        let text = render(&Arc::new(Mutex::new(m.clone())));
        assert!(
            text.contains("model_name=\"we\\\"ird\\\\name\\nx\""),
            "{text}"
        );
        let samples = inferno_telemetry::metrics::parse(&text).unwrap();
        assert!(samples.iter().all(|s| s.label("model_name") == Some(model)));
        let kv = samples
            .iter()
            .find(|s| s.name == "vllm:kv_cache_usage_perc")
            .unwrap();
        assert_eq!(kv.value, 1e-7);
        m.gauges(0, 0, f64::INFINITY, 0.0);
        let text = render(&Arc::new(Mutex::new(m)));
        assert!(
            text.lines()
                .any(|l| l.starts_with("vllm:kv_cache_usage_perc{") && l.ends_with("} +Inf")),
            "{text}"
        );
    }
}
