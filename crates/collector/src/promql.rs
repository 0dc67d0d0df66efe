//! The PromQL the collector runs each cycle (control-loop spec 2.4), over every ready pod of
//! every managed Deployment at once, grouped by namespace and pod. Pods are selected by exact
//! name (`pod=~"a|b"`, names escaped), never by the `job` label.

use inferno_api::limits::show;

/// What a query measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quantity {
    /// Completed requests per minute per pod (vLLM exports no arrival counter).
    Throughput,
    /// Mean inter-token latency per pod, seconds (`vllm:request_time_per_output_token_seconds`).
    Itl,
    /// Same from the older metric name `vllm:time_per_output_token_seconds`.
    ItlLegacy,
    /// Mean time to first token per pod, seconds.
    Ttft,
    /// Mean requests running per pod.
    Running,
    /// Mean requests waiting per pod.
    Waiting,
    /// Mean KV-cache usage per pod, 0..1.
    KvCache,
    /// Prompt tokens over the window per pod.
    PromptTokens,
    /// Generated tokens over the window per pod.
    GenerationTokens,
    /// Completed requests over the window per pod.
    Requests,
}

impl Quantity {
    /// Every quantity, in query order.
    pub const ALL: [Quantity; 10] = [
        Self::Throughput,
        Self::Itl,
        Self::ItlLegacy,
        Self::Ttft,
        Self::Running,
        Self::Waiting,
        Self::KvCache,
        Self::PromptTokens,
        Self::GenerationTokens,
        Self::Requests,
    ];

    /// The series a sample of this quantity comes from, as problems name it.
    pub fn series(self) -> &'static str {
        match self {
            Self::Throughput => "vllm:request_success_total (rate, requests/min)",
            Self::Itl => "vllm:request_time_per_output_token_seconds (mean, s)",
            Self::ItlLegacy => "vllm:time_per_output_token_seconds (mean, s)",
            Self::Ttft => "vllm:time_to_first_token_seconds (mean, s)",
            Self::Running => "vllm:num_requests_running (mean)",
            Self::Waiting => "vllm:num_requests_waiting (mean)",
            Self::KvCache => "vllm:kv_cache_usage_perc (mean)",
            Self::PromptTokens => "vllm:prompt_tokens_total (increase)",
            Self::GenerationTokens => "vllm:generation_tokens_total (increase)",
            Self::Requests => "vllm:request_success_total (increase)",
        }
    }

    /// The largest valid sample (the smallest is 0), from [`inferno_api::limits`]; None for the
    /// counter increases, whose size depends on the window and which are checked as tokens per
    /// request instead.
    pub fn max(self) -> Option<f64> {
        use inferno_api::limits::{MAX_BATCH_SIZE, MAX_LATENCY_MS, MAX_QUEUE_SIZE, MAX_RATE_RPM};
        match self {
            Self::Throughput => Some(MAX_RATE_RPM),
            // Seconds, as vLLM exports them.
            Self::Itl | Self::ItlLegacy | Self::Ttft => Some(MAX_LATENCY_MS / 1000.0),
            // Requests run in one batch.
            Self::Running => Some(MAX_BATCH_SIZE as f64),
            Self::Waiting => Some(MAX_QUEUE_SIZE as f64),
            // A fraction: 1 is a full cache.
            Self::KvCache => Some(1.0),
            Self::PromptTokens | Self::GenerationTokens | Self::Requests => None,
        }
    }

    /// Whether this is a latency: a ratio of two rates that is NaN (0/0) whenever no request
    /// finished in the window, which is an idle pod, not a bad sample.
    pub fn is_latency(self) -> bool {
        matches!(self, Self::Itl | Self::ItlLegacy | Self::Ttft)
    }

    /// What is wrong with the sample `v` of this quantity, if anything: it must be a finite
    /// number in `[0, max()]`.
    pub fn check(self, v: f64) -> Result<(), BadSample> {
        use inferno_api::limits::in_range;
        match self.max() {
            Some(max) if !in_range(v, max) => Err(BadSample::OutOfRange { value: v, max }),
            None if !in_range(v, f64::MAX) => Err(BadSample::Negative { value: v }),
            _ => Ok(()),
        }
    }
}

/// A sample its quantity cannot have ([`Quantity::check`]); the message names neither the
/// series nor the pod (the caller does).
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum BadSample {
    /// Not a finite number in `[0, max]`.
    #[error("must be a finite number in [0, {}], got {}", show(*max), show(*value))]
    OutOfRange {
        /// The sample.
        value: f64,
        /// The largest valid sample ([`Quantity::max`]).
        max: f64,
    },
    /// A counter increase that is negative or not finite.
    #[error("must be a finite number >= 0, got {}", show(*value))]
    Negative {
        /// The sample.
        value: f64,
    },
}

/// Escapes a pod or namespace name for a PromQL regex inside double quotes.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for ch in name.chars() {
        if ".+*?()|[]{}^$\\".contains(ch) {
            out.push_str("\\\\");
        }
        if ch == '"' {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// The label selector of a set of pods: `namespace=~"ns1|ns2",pod=~"p1|p2"`.
pub fn selector(pods: &[(String, String)]) -> String {
    let mut namespaces: Vec<String> = pods.iter().map(|(ns, _)| escape(ns)).collect();
    namespaces.sort();
    namespaces.dedup();
    let names: Vec<String> = pods.iter().map(|(_, p)| escape(p)).collect();
    format!(
        "namespace=~\"{}\",pod=~\"{}\"",
        namespaces.join("|"),
        names.join("|")
    )
}

/// The query of `q` for the pods selected by `sel` over window `w` (e.g. `1m`).
pub fn query(q: Quantity, sel: &str, w: &str) -> String {
    query_scaled(q, sel, w, 1.0)
}

/// [`query`] for servers whose clock runs `time_scale` times faster than the wall clock
/// (emulated servers in a time-scaled benchmark): Prometheus measures rates per wall second, so
/// the throughput is divided by it. Latencies and per-request ratios need no scaling.
pub fn query_scaled(q: Quantity, sel: &str, w: &str, time_scale: f64) -> String {
    let per_minute = if time_scale == 1.0 {
        "60".to_string()
    } else {
        format!("{}", 60.0 / time_scale)
    };
    let by = "sum by(namespace, pod)";
    let ratio = |metric: &str| {
        format!("{by}(rate({metric}_sum{{{sel}}}[{w}])) / {by}(rate({metric}_count{{{sel}}}[{w}]))")
    };
    let mean =
        |metric: &str| format!("avg by(namespace, pod)(avg_over_time({metric}{{{sel}}}[{w}]))");
    match q {
        Quantity::Throughput => {
            format!("{by}(rate(vllm:request_success_total{{{sel}}}[{w}])) * {per_minute}")
        }
        Quantity::Itl => ratio("vllm:request_time_per_output_token_seconds"),
        Quantity::ItlLegacy => ratio("vllm:time_per_output_token_seconds"),
        Quantity::Ttft => ratio("vllm:time_to_first_token_seconds"),
        Quantity::Running => mean("vllm:num_requests_running"),
        Quantity::Waiting => mean("vllm:num_requests_waiting"),
        Quantity::KvCache => mean("vllm:kv_cache_usage_perc"),
        Quantity::PromptTokens => format!("{by}(increase(vllm:prompt_tokens_total{{{sel}}}[{w}]))"),
        Quantity::GenerationTokens => {
            format!("{by}(increase(vllm:generation_tokens_total{{{sel}}}[{w}]))")
        }
        Quantity::Requests => format!("{by}(increase(vllm:request_success_total{{{sel}}}[{w}]))"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_escapes_and_dedups() {
        let pods = vec![
            ("infer".to_string(), "a-1".to_string()),
            ("infer".to_string(), "b.x".to_string()),
        ];
        assert_eq!(selector(&pods), r#"namespace=~"infer",pod=~"a-1|b\\.x""#);
    }

    #[test]
    fn queries_use_real_vllm_names() {
        let s = selector(&[("ns".into(), "p".into())]);
        assert_eq!(
            query(Quantity::Throughput, &s, "1m"),
            r#"sum by(namespace, pod)(rate(vllm:request_success_total{namespace=~"ns",pod=~"p"}[1m])) * 60"#
        );
        assert!(query_scaled(Quantity::Throughput, &s, "1m", 4.0).ends_with("[1m])) * 15"));
        assert!(query(Quantity::Itl, &s, "1m")
            .contains("vllm:request_time_per_output_token_seconds_sum"));
        assert!(query(Quantity::Ttft, &s, "2m")
            .contains("vllm:time_to_first_token_seconds_count{namespace=~\"ns\",pod=~\"p\"}[2m]"));
    }
}
