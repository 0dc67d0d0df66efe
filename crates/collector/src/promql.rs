//! The PromQL the collector runs each cycle (control-loop spec 2.4), over the pods of every
//! managed Deployment at once, grouped by namespace and pod: each [`Quantity`] of
//! [`Quantity::PER_WINDOW`] once per window of the ladder ([`crate::window`]), with
//! [`Quantity::Covered`], those of [`Quantity::ONCE`] once. Pods are selected
//! by name, never by the `job` label: the windowed counts by the Deployment's pod-name pattern
//! ([`deployments_selector`]), so that a pod deleted or terminating during the window still
//! brings the requests it served; what pods hold now by the exact names of the ready pods
//! ([`selector`]).

use inferno_api::limits::show;

/// What a query measures, or what is derived from the measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quantity {
    /// Completed requests over the window per pod (`vllm:request_success_total`). In a window
    /// beyond the shortest, only for pods whose series reach back to its start.
    Requests,
    /// Change of the requests running plus waiting over the window per pod: with the
    /// completions, the requests that arrived (vLLM exports no arrival counter). May be < 0.
    Backlog,
    /// Prompt tokens of the requests that finished in the window (`vllm:request_prompt_tokens`
    /// histogram sum).
    PromptSum,
    /// Requests counted by that histogram (its count).
    PromptCount,
    /// Generated tokens of the requests that finished in the window
    /// (`vllm:request_generation_tokens` histogram sum).
    GenerationSum,
    /// Requests counted by that histogram (its count).
    GenerationCount,
    /// The same requests by bound: that histogram's cumulative bucket counts, per pod and `le`
    /// (`vllm:request_generation_tokens_bucket`), for the spread of output lengths
    /// ([`crate::spread`]). Kept apart from the other samples, by bound
    /// ([`crate::aggregate::Samples::buckets`]).
    GenerationBuckets,
    /// Mean inter-token latency per pod, seconds (`vllm:request_time_per_output_token_seconds`).
    Itl,
    /// Same from the older metric name `vllm:time_per_output_token_seconds`.
    ItlLegacy,
    /// Mean time to first token per pod, seconds.
    Ttft,
    /// Mean requests running per pod over the shortest window.
    Running,
    /// Mean requests waiting per pod over the shortest window.
    Waiting,
    /// Mean KV-cache usage per pod over the shortest window, 0..1.
    KvCache,
    /// Requests running plus waiting per pod now (last sample).
    Outstanding,
    /// The pod's completed requests at its first sample in the window (its counter's lowest
    /// value there: a pod's counter only rises). With [`Quantity::FirstArrived`], the baseline
    /// of a pod that served before the window but was first scraped within it
    /// ([`crate::aggregate`]).
    FirstCompleted,
    /// The pod's requests completed, running and waiting at its first sample in the window:
    /// everything it has been sent, which only rises, so its lowest value there (at the
    /// resolution of [`subquery_step`]).
    FirstArrived,
    /// Seconds (wall clock) from the pod's first sample in the window to the query's instant.
    FirstAge,
    /// Whether the pod had a series at the start of a window (the value, a
    /// count of series, is not used): a server is measured over a window only when one of its
    /// pods did ([`crate::aggregate`]).
    Covered,
    /// Derived: completed requests per minute per pod, servers' clock.
    Throughput,
    /// Derived: requests that arrived per minute per pod (completions plus the backlog's
    /// change, at least 0), servers' clock.
    Arrivals,
}

impl Quantity {
    /// The quantities queried once per window of the ladder.
    pub const PER_WINDOW: [Quantity; 13] = [
        Self::Requests,
        Self::Backlog,
        Self::FirstCompleted,
        Self::FirstArrived,
        Self::FirstAge,
        Self::PromptSum,
        Self::PromptCount,
        Self::GenerationSum,
        Self::GenerationCount,
        Self::GenerationBuckets,
        Self::Itl,
        Self::ItlLegacy,
        Self::Ttft,
    ];

    /// The quantities queried once per collection (over the shortest window, or now).
    pub const ONCE: [Quantity; 4] = [
        Self::Running,
        Self::Waiting,
        Self::KvCache,
        Self::Outstanding,
    ];

    /// The series a sample of this quantity comes from, as problems name it.
    pub fn series(self) -> &'static str {
        match self {
            Self::Requests => "vllm:request_success_total (increase)",
            Self::Backlog => "vllm:num_requests_running + vllm:num_requests_waiting (delta)",
            Self::PromptSum => "vllm:request_prompt_tokens_sum (increase)",
            Self::PromptCount => "vllm:request_prompt_tokens_count (increase)",
            Self::GenerationSum => "vllm:request_generation_tokens_sum (increase)",
            Self::GenerationCount => "vllm:request_generation_tokens_count (increase)",
            Self::GenerationBuckets => "vllm:request_generation_tokens_bucket (increase, by le)",
            Self::Itl => "vllm:request_time_per_output_token_seconds (mean, s)",
            Self::ItlLegacy => "vllm:time_per_output_token_seconds (mean, s)",
            Self::Ttft => "vllm:time_to_first_token_seconds (mean, s)",
            Self::Running => "vllm:num_requests_running (mean)",
            Self::Waiting => "vllm:num_requests_waiting (mean)",
            Self::KvCache => "vllm:kv_cache_usage_perc (mean)",
            Self::Outstanding => "vllm:num_requests_running + vllm:num_requests_waiting (last)",
            Self::Covered => "vllm:request_success_total (at the window's start)",
            Self::FirstCompleted => "vllm:request_success_total (first sample in the window)",
            Self::FirstArrived => {
                "vllm:request_success_total + vllm:num_requests_running + \
                 vllm:num_requests_waiting (first sample in the window)"
            }
            Self::FirstAge => {
                "vllm:num_requests_running (age of the first sample in the window, s)"
            }
            Self::Throughput => "vllm:request_success_total (rate, requests/min)",
            Self::Arrivals => "arrivals (completed + backlog change, requests/min)",
        }
    }

    /// Whether it is measured over the window a server uses (problems then name the window).
    pub fn per_window(self) -> bool {
        Self::PER_WINDOW.contains(&self)
    }

    /// The largest valid sample (the smallest is 0, -max for the backlog's change), from
    /// [`inferno_api::limits`]; None for the counter increases, whose size depends on the
    /// window and which are checked per request or as rates instead.
    pub fn max(self) -> Option<f64> {
        use inferno_api::limits::{MAX_BATCH_SIZE, MAX_LATENCY_MS, MAX_QUEUE_SIZE, MAX_RATE_RPM};
        // Requests a pod holds at once: a full batch and a full queue.
        let held = (MAX_BATCH_SIZE + MAX_QUEUE_SIZE) as f64;
        match self {
            Self::Throughput | Self::Arrivals => Some(MAX_RATE_RPM),
            // Seconds, as vLLM exports them.
            Self::Itl | Self::ItlLegacy | Self::Ttft => Some(MAX_LATENCY_MS / 1000.0),
            // Requests run in one batch.
            Self::Running => Some(MAX_BATCH_SIZE as f64),
            Self::Waiting => Some(MAX_QUEUE_SIZE as f64),
            Self::Outstanding | Self::Backlog => Some(held),
            // A fraction: 1 is a full cache.
            Self::KvCache => Some(1.0),
            Self::Requests
            | Self::PromptSum
            | Self::PromptCount
            | Self::GenerationSum
            | Self::GenerationCount
            | Self::GenerationBuckets
            | Self::FirstCompleted
            | Self::FirstArrived
            | Self::FirstAge
            | Self::Covered => None,
        }
    }

    /// Whether this is a latency: a ratio of two rates that is NaN (0/0) whenever no request
    /// finished in the window, which is an idle pod, not a bad sample.
    pub fn is_latency(self) -> bool {
        matches!(self, Self::Itl | Self::ItlLegacy | Self::Ttft)
    }

    /// What is wrong with the sample `v` of this quantity, if anything: it must be a finite
    /// number in `[0, max()]` (`[-max, max]` for the backlog's change, which falls as a queue
    /// drains).
    pub fn check(self, v: f64) -> Result<(), BadSample> {
        use inferno_api::limits::in_range;
        match self.max() {
            Some(max) if self == Self::Backlog && !in_range(v.abs(), max) => {
                Err(BadSample::Beyond { value: v, max })
            }
            Some(max) if self != Self::Backlog && !in_range(v, max) => {
                Err(BadSample::OutOfRange { value: v, max })
            }
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
    /// A change that is not a finite number in `[-max, max]`.
    #[error("must be a finite number in [-{}, {}], got {}", show(*max), show(*max), show(*value))]
    Beyond {
        /// The sample.
        value: f64,
        /// The largest valid change either way.
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

/// The regex (escaped for a PromQL string) of the pod names of Deployment `deployment`:
/// `<deployment>-<pod-template-hash>-<suffix>`, hash and suffix alphanumeric. Prometheus
/// anchors it, and neither part can hold a dash, so the pods of Deployment `a` and of `a-b`
/// never match each other's pattern: a name matches only the Deployment it is left with after
/// removing its last two dash-separated parts ([`is_pod_of`]).
pub fn pods_of(deployment: &str) -> String {
    format!("{}-[a-z0-9]+-[a-z0-9]+", escape(deployment))
}

/// Whether `pod` is named like a pod of Deployment `deployment`: what [`pods_of`] matches.
pub fn is_pod_of(deployment: &str, pod: &str) -> bool {
    let part = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let Some(rest) = pod
        .strip_prefix(deployment)
        .and_then(|r| r.strip_prefix('-'))
    else {
        return false;
    };
    matches!(rest.split_once('-'), Some((hash, suffix)) if part(hash) && part(suffix))
}

/// A managed Deployment as the windowed queries select it.
#[derive(Debug, Clone, Copy)]
pub struct Selected<'a> {
    /// Its namespace.
    pub namespace: &'a str,
    /// Its name.
    pub deployment: &'a str,
    /// Its ready pods (bare names).
    pub ready: &'a [String],
}

/// The label selector of every pod of `deployments`, ready, terminating or already deleted:
/// `namespace=~"ns1|ns2",pod=~"<pods_of(d1)>|<pods_of(d2)>|..."`. A ready pod whose name does
/// not follow the pattern (a Deployment name long enough for Kubernetes to truncate its pods'
/// names) is added by its exact name, so no ready pod is ever left out. A pattern may match a
/// pod of another namespace of the list: such series are left out when attributed
/// (`namespace` and name must both match).
pub fn deployments_selector(deployments: &[Selected<'_>]) -> String {
    let mut namespaces: Vec<String> = deployments.iter().map(|d| escape(d.namespace)).collect();
    namespaces.sort();
    namespaces.dedup();
    let mut names = Vec::new();
    for d in deployments {
        names.push(pods_of(d.deployment));
        names.extend(
            d.ready
                .iter()
                .filter(|p| !is_pod_of(d.deployment, p))
                .map(|p| escape(p)),
        );
    }
    names.sort();
    names.dedup();
    format!(
        "namespace=~\"{}\",pod=~\"{}\"",
        namespaces.join("|"),
        names.join("|")
    )
}

/// The resolution, seconds, of the subquery of [`Quantity::FirstArrived`] over a window of
/// `seconds`: 60 steps a window, at least one a second. The first sample is found within a
/// step of it: a few requests of a busy server at worst, against a whole queue before.
pub fn subquery_step(seconds: u64) -> u64 {
    (seconds / 60).max(1)
}

/// The query of `q` for the pods selected by `sel` over the window of `seconds` (wall clock),
/// None for the derived quantities, which are not queried.
///
/// [`Quantity::Covered`] is the pods with a series at the window's start. Beyond the shortest
/// window, a window is used for a server only when one of its pods had one, so that
/// a young server's few minutes of requests are never divided by a longer window. The guard is
/// per server, not per pod (it was `and on(namespace, pod) <series> offset <window>` on each
/// pod's requests): under churn a pod that started mid-window is normal, and its requests
/// belong in the window as much as those of the pod it replaced. In every window it also tells
/// a pod first scraped within the window from one that had a series at its start
/// ([`crate::aggregate`]: the requests of a pod Ready before the window but scraped only within
/// it are not all the window's).
///
/// Counts and the backlog's change are exact differences, not `increase`/`delta`: per pod, the
/// last sample in the window minus the sample at its start (`last_over_time(m[w]) - m offset
/// w`), or the last sample alone for a pod born within the window (its counters and queue
/// started at 0). `increase` and `delta` extrapolate each pod's samples to the window's edges:
/// a pod ready for the last few seconds of the window, whose queue filled from 0, had its
/// change stretched or missed, and the pods it relieved showed their queues falling; at a
/// scale-up under a burst the sum read 101 req/min where 360 arrived.
pub fn query(q: Quantity, sel: &str, seconds: u64) -> Option<String> {
    let w = format!("{seconds}s");
    let by = "sum by(namespace, pod)";
    let change_by = |by: &str, metric: &str| {
        let last = format!("last_over_time({metric}{{{sel}}}[{w}])");
        format!("{by}({last} - {metric}{{{sel}}} offset {w} or {last})")
    };
    let change = |metric: &str| change_by(by, metric);
    let increase = change;
    let ratio = |metric: &str| {
        format!("{by}(rate({metric}_sum{{{sel}}}[{w}])) / {by}(rate({metric}_count{{{sel}}}[{w}]))")
    };
    let mean =
        |metric: &str| format!("avg by(namespace, pod)(avg_over_time({metric}{{{sel}}}[{w}]))");
    let both = |running: String, waiting: String| format!("{running} + {waiting}");
    Some(match q {
        Quantity::Requests => increase("vllm:request_success_total"),
        Quantity::Covered => {
            format!("count by(namespace, pod)(vllm:request_success_total{{{sel}}} offset {w})")
        }
        Quantity::FirstCompleted => {
            format!("{by}(min_over_time(vllm:request_success_total{{{sel}}}[{w}]))")
        }
        // A subquery: the sum exists only where the pod has samples, and its lowest value in
        // the window is its first (a request moves from waiting to running to completed, so
        // the sum only grows).
        Quantity::FirstArrived => format!(
            "min_over_time(({by}(vllm:request_success_total{{{sel}}}) + \
             {by}(vllm:num_requests_running{{{sel}}}) + \
             {by}(vllm:num_requests_waiting{{{sel}}}))[{w}:{}s])",
            subquery_step(seconds)
        ),
        Quantity::FirstAge => format!(
            "time() - min_over_time(timestamp({by}(vllm:num_requests_running{{{sel}}}))[{w}:{}s])",
            subquery_step(seconds)
        ),
        Quantity::Backlog => both(
            change("vllm:num_requests_running"),
            change("vllm:num_requests_waiting"),
        ),
        Quantity::PromptSum => increase("vllm:request_prompt_tokens_sum"),
        Quantity::PromptCount => increase("vllm:request_prompt_tokens_count"),
        Quantity::GenerationSum => increase("vllm:request_generation_tokens_sum"),
        Quantity::GenerationCount => increase("vllm:request_generation_tokens_count"),
        // The same difference per bucket: `-` and `or` match on every label, `le` included.
        Quantity::GenerationBuckets => change_by(
            "sum by(namespace, pod, le)",
            "vllm:request_generation_tokens_bucket",
        ),
        Quantity::Itl => ratio("vllm:request_time_per_output_token_seconds"),
        Quantity::ItlLegacy => ratio("vllm:time_per_output_token_seconds"),
        Quantity::Ttft => ratio("vllm:time_to_first_token_seconds"),
        Quantity::Running => mean("vllm:num_requests_running"),
        Quantity::Waiting => mean("vllm:num_requests_waiting"),
        Quantity::KvCache => mean("vllm:kv_cache_usage_perc"),
        Quantity::Outstanding => both(
            format!("{by}(vllm:num_requests_running{{{sel}}})"),
            format!("{by}(vllm:num_requests_waiting{{{sel}}})"),
        ),
        Quantity::Throughput | Quantity::Arrivals => return None,
    })
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
        let q = |q: Quantity| query(q, &s, 60).unwrap();
        assert_eq!(
            q(Quantity::Requests),
            r#"sum by(namespace, pod)(last_over_time(vllm:request_success_total{namespace=~"ns",pod=~"p"}[60s]) - vllm:request_success_total{namespace=~"ns",pod=~"p"} offset 60s or last_over_time(vllm:request_success_total{namespace=~"ns",pod=~"p"}[60s]))"#
        );
        assert_eq!(
            q(Quantity::Backlog),
            r#"sum by(namespace, pod)(last_over_time(vllm:num_requests_running{namespace=~"ns",pod=~"p"}[60s]) - vllm:num_requests_running{namespace=~"ns",pod=~"p"} offset 60s or last_over_time(vllm:num_requests_running{namespace=~"ns",pod=~"p"}[60s])) + sum by(namespace, pod)(last_over_time(vllm:num_requests_waiting{namespace=~"ns",pod=~"p"}[60s]) - vllm:num_requests_waiting{namespace=~"ns",pod=~"p"} offset 60s or last_over_time(vllm:num_requests_waiting{namespace=~"ns",pod=~"p"}[60s]))"#
        );
        assert_eq!(
            q(Quantity::PromptSum),
            r#"sum by(namespace, pod)(last_over_time(vllm:request_prompt_tokens_sum{namespace=~"ns",pod=~"p"}[60s]) - vllm:request_prompt_tokens_sum{namespace=~"ns",pod=~"p"} offset 60s or last_over_time(vllm:request_prompt_tokens_sum{namespace=~"ns",pod=~"p"}[60s]))"#
        );
        assert!(q(Quantity::PromptCount).contains("(vllm:request_prompt_tokens_count{"));
        assert!(q(Quantity::GenerationSum).contains("(vllm:request_generation_tokens_sum{"));
        assert!(q(Quantity::GenerationCount).contains("(vllm:request_generation_tokens_count{"));
        assert_eq!(
            q(Quantity::GenerationBuckets),
            r#"sum by(namespace, pod, le)(last_over_time(vllm:request_generation_tokens_bucket{namespace=~"ns",pod=~"p"}[60s]) - vllm:request_generation_tokens_bucket{namespace=~"ns",pod=~"p"} offset 60s or last_over_time(vllm:request_generation_tokens_bucket{namespace=~"ns",pod=~"p"}[60s]))"#
        );
        assert!(Quantity::GenerationBuckets.per_window());
        assert!(q(Quantity::Itl).contains("vllm:request_time_per_output_token_seconds_sum"));
        assert!(q(Quantity::Ttft)
            .contains("vllm:time_to_first_token_seconds_count{namespace=~\"ns\",pod=~\"p\"}[60s]"));
        assert_eq!(
            q(Quantity::Outstanding),
            r#"sum by(namespace, pod)(vllm:num_requests_running{namespace=~"ns",pod=~"p"}) + sum by(namespace, pod)(vllm:num_requests_waiting{namespace=~"ns",pod=~"p"})"#
        );
        assert_eq!(
            q(Quantity::FirstCompleted),
            r#"sum by(namespace, pod)(min_over_time(vllm:request_success_total{namespace=~"ns",pod=~"p"}[60s]))"#
        );
        assert_eq!(
            q(Quantity::FirstArrived),
            r#"min_over_time((sum by(namespace, pod)(vllm:request_success_total{namespace=~"ns",pod=~"p"}) + sum by(namespace, pod)(vllm:num_requests_running{namespace=~"ns",pod=~"p"}) + sum by(namespace, pod)(vllm:num_requests_waiting{namespace=~"ns",pod=~"p"}))[60s:1s])"#
        );
        assert!(query(Quantity::FirstArrived, &s, 480)
            .unwrap()
            .ends_with("[480s:8s])"));
        assert_eq!(
            q(Quantity::FirstAge),
            r#"time() - min_over_time(timestamp(sum by(namespace, pod)(vllm:num_requests_running{namespace=~"ns",pod=~"p"}))[60s:1s])"#
        );
        assert_eq!(query(Quantity::Throughput, &s, 60), None);
        assert_eq!(query(Quantity::Arrivals, &s, 60), None);
    }

    /// The pods with a series at the window's start are asked for in every window, the
    /// shortest too.
    #[test]
    fn coverage_is_asked_for_in_every_window() {
        let s = selector(&[("ns".into(), "p".into())]);
        assert_eq!(
            query(Quantity::Covered, &s, 60).unwrap(),
            r#"count by(namespace, pod)(vllm:request_success_total{namespace=~"ns",pod=~"p"} offset 60s)"#
        );
        assert_eq!(
            query(Quantity::Covered, &s, 240).unwrap(),
            r#"count by(namespace, pod)(vllm:request_success_total{namespace=~"ns",pod=~"p"} offset 240s)"#
        );
    }

    /// A Deployment's pods by name pattern, its name escaped; ready pods named otherwise by
    /// their exact name; namespaces deduplicated.
    #[test]
    fn deployments_are_selected_by_pod_name_pattern() {
        let ready = ["web.v2-7d9f8c6b5-x2x4z".to_string()];
        let odd = ["a-pod-not-named-so".to_string(), "a-5b7d-q9xz2".to_string()];
        let sel = deployments_selector(&[
            Selected {
                namespace: "infer",
                deployment: "web.v2",
                ready: &ready,
            },
            Selected {
                namespace: "infer",
                deployment: "a",
                ready: &odd,
            },
            Selected {
                namespace: "other",
                deployment: "a-b",
                ready: &[],
            },
        ]);
        assert_eq!(
            sel,
            r#"namespace=~"infer|other",pod=~"a-[a-z0-9]+-[a-z0-9]+|a-b-[a-z0-9]+-[a-z0-9]+|a-pod-not-named-so|web\\.v2-[a-z0-9]+-[a-z0-9]+""#
        );
        assert_eq!(pods_of("x.y"), r#"x\\.y-[a-z0-9]+-[a-z0-9]+"#);
    }

    /// `a` and `a-b` never share a pod: a name is a pod of the Deployment left after removing
    /// its last two dash-separated parts, and of no other.
    #[test]
    fn a_deployments_pattern_matches_only_its_own_pods() {
        assert!(is_pod_of("a", "a-7d9f8c6b5-x2x4z"));
        assert!(is_pod_of("a-b", "a-b-7d9f8c6b5-x2x4z"));
        assert!(!is_pod_of("a", "a-b-7d9f8c6b5-x2x4z"));
        assert!(!is_pod_of("a-b", "a-7d9f8c6b5-x2x4z"));
        // A hash that starts like the longer name's next part.
        assert!(!is_pod_of("a-b", "a-b7d9f-x2x4z"));
        assert!(!is_pod_of("a-b", "a-b-x2x4z"));
        assert!(is_pod_of("a", "a-b-x2x4z"));
        // Not a pod of a Deployment: too few parts, empty parts, other characters.
        for pod in [
            "a", "a-", "a-x", "a--x", "a-x-", "a-X-y", "a-x-y.z", "ab-x-y", "b-a-x-y",
        ] {
            assert!(!is_pod_of("a", pod), "{pod}");
        }
        // A name with regex characters is matched literally.
        assert!(is_pod_of("web.v2", "web.v2-h-s"));
        assert!(!is_pod_of("web.v2", "webxv2-h-s"));
    }

    #[test]
    fn the_backlog_may_fall_but_not_without_bound() {
        assert_eq!(Quantity::Backlog.check(-30.0), Ok(()));
        assert_eq!(Quantity::Backlog.check(30.0), Ok(()));
        assert_eq!(
            Quantity::Backlog.check(-1e18).unwrap_err().to_string(),
            "must be a finite number in [-20480, 20480], got -1e18"
        );
        assert!(Quantity::Backlog.check(f64::NAN).is_err());
        assert!(Quantity::Outstanding.check(-1.0).is_err());
        assert!(Quantity::Requests.check(-1.0).is_err());
        assert_eq!(Quantity::Requests.check(1e12), Ok(()));
    }

    #[test]
    fn every_queried_quantity_has_a_query() {
        let s = selector(&[("ns".into(), "p".into())]);
        for q in Quantity::PER_WINDOW.into_iter().chain(Quantity::ONCE) {
            assert!(query(q, &s, 60).is_some(), "{q:?}");
            assert_eq!(q.per_window(), Quantity::PER_WINDOW.contains(&q));
        }
    }
}
