//! From labels, pods and per-pod Prometheus values to one server's observation, with the source
//! of every load field (Prometheus value -> load label -> 0).
//!
//! Every sample is checked against its range first ([`Quantity::check`]): a NaN, infinite,
//! negative or too large sample is dropped for its pod with a problem naming the series, the pod
//! and the value, so it never enters an average. A load that is neither measured nor given by a
//! usable label, while a load label is set to something unusable, makes the server's load
//! unusable ([`Observation::unusable`]): it is left out of the decision rather than sized for a
//! load of 0 or 1e308.

use crate::promql::Quantity;
use inferno_api::limits::{in_range, show, MAX_RATE_RPM, MAX_TOKENS};
use inferno_api::{AllocationData, ServerLoadSpec, ServerSpec};
use inferno_core::contract::{LoadField, ServerLabels};
use inferno_core::Source;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Per-pod values of one cycle, keyed by pod name.
pub type PodValues = HashMap<String, BTreeMap<Quantity, f64>>;

/// One server as observed this cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// What the optimizer needs: labels, replicas, load, measured latencies.
    pub spec: ServerSpec,
    /// Ready pods counted.
    pub ready_replicas: u32,
    /// Ready pods that reported to Prometheus.
    pub reporting_pods: Vec<String>,
    /// Source of each field ([`Source`], the domain's), by field name.
    pub sources: Vec<(&'static str, Source)>,
    /// Mean requests running per reporting pod.
    pub running: f64,
    /// Mean requests waiting per reporting pod.
    pub waiting: f64,
    /// Mean KV-cache usage per reporting pod.
    pub kv_cache_usage: f64,
    /// The samples of the ready pods that passed their checks, by pod.
    pub values: PodValues,
    /// Samples dropped and measurements not used, each naming the series, the pod and the value.
    pub problems: Vec<String>,
    /// How many samples were dropped as invalid.
    pub samples_dropped: usize,
    /// Why the load cannot be used, when it cannot: the server is then left out of the
    /// decision (reported unplaced, its Deployment held).
    pub unusable: Option<String>,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The samples of `pods` that pass their checks; a problem for each one dropped, and the
/// quantities that lost a sample.
fn usable(
    pods: &[String],
    values: &PodValues,
    problems: &mut Vec<String>,
) -> (PodValues, BTreeSet<Quantity>) {
    let mut kept = PodValues::new();
    let mut dropped = BTreeSet::new();
    for pod in pods {
        let Some(samples) = values.get(pod) else {
            continue;
        };
        let mut ok = BTreeMap::new();
        for (&q, &v) in samples {
            if q.is_latency() && v.is_nan() {
                // 0/0: no request finished in the window. Idle, not broken.
                continue;
            }
            match q.check(v) {
                Ok(()) => {
                    ok.insert(q, v);
                }
                Err(why) => {
                    problems.push(format!("pod {pod}: {}: {why}; sample dropped", q.series()));
                    dropped.insert(q);
                }
            }
        }
        // The token counters are only bounded per request.
        let requests = ok.get(&Quantity::Requests).copied().unwrap_or(0.0);
        for q in [Quantity::PromptTokens, Quantity::GenerationTokens] {
            let Some(&tokens) = ok.get(&q) else {
                continue;
            };
            let per_request = tokens / requests;
            if requests > 0.0 && !in_range(per_request, MAX_TOKENS) {
                problems.push(format!(
                    "pod {pod}: {} / {} = {} / {}: tokens per request must be a finite number in \
                     [0, {}], got {}; sample dropped",
                    q.series(),
                    Quantity::Requests.series(),
                    show(tokens),
                    show(requests),
                    show(MAX_TOKENS),
                    show(per_request)
                ));
                ok.remove(&q);
                dropped.insert(q);
            }
        }
        kept.insert(pod.clone(), ok);
    }
    (kept, dropped)
}

/// Throughput-weighted mean of a latency over the pods that have both (plain mean when every
/// weight is 0).
fn weighted(
    values: &PodValues,
    pods: &[String],
    pick: impl Fn(&BTreeMap<Quantity, f64>) -> Option<f64>,
) -> Option<f64> {
    let pairs: Vec<(f64, f64)> = pods
        .iter()
        .filter_map(|p| {
            let v = values.get(p)?;
            Some((
                pick(v)?,
                v.get(&Quantity::Throughput).copied().unwrap_or(0.0),
            ))
        })
        .collect();
    let total: f64 = pairs.iter().map(|(_, w)| w).sum();
    if total > 0.0 {
        Some(pairs.iter().map(|(x, w)| x * w).sum::<f64>() / total)
    } else {
        mean(pairs.iter().map(|(x, _)| *x))
    }
}

/// Tokens per request over the reporting pods: Σ tokens / Σ requests (None when out of range,
/// with a problem).
fn per_request(
    values: &PodValues,
    pods: &[String],
    tokens: Quantity,
    problems: &mut Vec<String>,
) -> Option<f64> {
    let (mut t, mut r) = (0.0, 0.0);
    for p in pods {
        if let Some(v) = values.get(p) {
            if let (Some(tokens), Some(requests)) = (v.get(&tokens), v.get(&Quantity::Requests)) {
                t += tokens;
                r += requests;
            }
        }
    }
    if r <= 0.0 {
        return None;
    }
    let v = t / r;
    if !in_range(v, MAX_TOKENS) {
        problems.push(format!(
            "{} / {} over the reporting pods = {} / {}: tokens per request must be a finite \
             number in [0, {}], got {}; not used",
            tokens.series(),
            Quantity::Requests.series(),
            show(t),
            show(r),
            show(MAX_TOKENS),
            show(v)
        ));
        return None;
    }
    Some(v)
}

/// Assembles the observation of one server from its labels, its `spec.replicas`, its ready
/// pods and the raw samples of this cycle (any pods; unchecked).
pub fn assemble(
    labels: &ServerLabels,
    desired_replicas: i64,
    ready_pods: &[String],
    values: &PodValues,
) -> Observation {
    let mut problems = Vec::new();
    let mut unusable = Vec::new();
    let (values, dropped) = usable(ready_pods, values, &mut problems);
    let samples_dropped = problems.len();
    let reporting: Vec<String> = ready_pods
        .iter()
        .filter(|p| {
            values
                .get(*p)
                .is_some_and(|v| v.contains_key(&Quantity::Throughput))
        })
        .cloned()
        .collect();
    let throughput: f64 = reporting
        .iter()
        .filter_map(|p| values[p].get(&Quantity::Throughput))
        .sum();
    // Each pod is in range; many of them together may not be.
    let measured = if reporting.is_empty() {
        None
    } else if in_range(throughput, MAX_RATE_RPM) {
        Some(throughput)
    } else {
        problems.push(format!(
            "{} summed over {} pods: must be a finite number in [0, {}], got {}; not used",
            Quantity::Throughput.series(),
            reporting.len(),
            show(MAX_RATE_RPM),
            show(throughput)
        ));
        None
    };
    let mut sources = Vec::new();

    // Arrival: vLLM exports no arrival counter, so completed requests stand for it. When some
    // ready pods have not reported yet (just started), their share is missing: prefer the load
    // label then, else the partial sum (control-loop spec 2.3 point 7).
    let label_rpm = labels.rpm.filter(|v| *v > 0.0);
    let all_reporting = reporting.len() == ready_pods.len();
    let (arrival, source) = match (measured, label_rpm) {
        // A zero rate over the window is also what pods show before their first request
        // finishes (new pods, long answers): with a load label saying otherwise, the label
        // wins, so a measurement artefact never reads as "no load" (which would scale the
        // server to zero).
        (Some(m), label) if all_reporting && !(m == 0.0 && label.is_some()) => {
            (m, Source::Prometheus)
        }
        (_, Some(rpm)) => (rpm, Source::Label),
        (Some(m), None) => (m, Source::PrometheusPartial),
        (None, None) => match (labels.rpm, labels.unusable(LoadField::Rpm)) {
            (Some(rpm), _) => (rpm, Source::Label),
            (None, Some(why)) => {
                unusable.push(format!(
                    "arrival rate unknown: {why}, and Prometheus measured no rate"
                ));
                (0.0, Source::Unknown)
            }
            (None, None) => (0.0, Source::Default),
        },
    };
    sources.push(("arrivalRate", source));

    let mut tokens = |field: &'static str, quantity: Quantity, load: LoadField| -> f64 {
        let label = match load {
            LoadField::InTokens => labels.in_tokens,
            _ => labels.out_tokens,
        };
        match (
            per_request(&values, &reporting, quantity, &mut problems),
            label,
        ) {
            (Some(v), _) => {
                sources.push((field, Source::Prometheus));
                v
            }
            (None, Some(v)) => {
                sources.push((field, Source::Label));
                v
            }
            (None, None) => {
                if let Some(why) = labels.unusable(load) {
                    unusable.push(format!(
                        "{field} unknown: {why}, and Prometheus measured none"
                    ));
                    sources.push((field, Source::Unknown));
                } else {
                    sources.push((field, Source::Default));
                }
                0.0
            }
        }
    };
    let in_tokens = tokens("avgInTokens", Quantity::PromptTokens, LoadField::InTokens);
    let out_tokens = tokens(
        "avgOutTokens",
        Quantity::GenerationTokens,
        LoadField::OutTokens,
    );

    let itl = weighted(&values, &reporting, |v| {
        v.get(&Quantity::Itl)
            .or_else(|| v.get(&Quantity::ItlLegacy))
            .copied()
    });
    let ttft = weighted(&values, &reporting, |v| v.get(&Quantity::Ttft).copied());
    // Not measured: 0 in the spec (the data model has no "unknown"); the source tells an idle
    // server ("default") from one whose samples were all invalid ("unknown").
    let latency_source = |value: Option<f64>, quantities: &[Quantity]| match value {
        Some(_) => Source::Prometheus,
        None if quantities.iter().any(|q| dropped.contains(q)) => Source::Unknown,
        None => Source::Default,
    };
    sources.push((
        "itlAverage",
        latency_source(itl, &[Quantity::Itl, Quantity::ItlLegacy]),
    ));
    sources.push(("ttftAverage", latency_source(ttft, &[Quantity::Ttft])));
    let pod_mean = |q: Quantity| {
        mean(reporting.iter().filter_map(|p| values[p].get(&q).copied())).unwrap_or(0.0)
    };
    let (running, waiting, kv_cache_usage) = (
        pod_mean(Quantity::Running),
        pod_mean(Quantity::Waiting),
        pod_mean(Quantity::KvCache),
    );

    let spec = ServerSpec {
        name: labels.name.clone(),
        class: labels.class.clone(),
        model: labels.model.clone(),
        min_num_replicas: labels.min_replicas.unwrap_or(0),
        current_alloc: AllocationData {
            accelerator: labels.accelerator.clone(),
            num_replicas: desired_replicas,
            max_batch: labels.max_batch,
            cost: 0.0,
            itl_average: itl.map_or(0.0, |s| s * 1000.0),
            ttft_average: ttft.map_or(0.0, |s| s * 1000.0),
            load: ServerLoadSpec {
                arrival_rate: arrival,
                throughput: measured.unwrap_or(0.0),
                // In range (checked above), so the conversions are exact enough.
                avg_in_tokens: in_tokens.round() as i64,
                avg_out_tokens: out_tokens.round() as i64,
            },
        },
        ..ServerSpec::default()
    };
    Observation {
        spec,
        // More than 4 billion pods is not a cluster: saturate rather than fail.
        ready_replicas: u32::try_from(ready_pods.len()).unwrap_or(u32::MAX),
        reporting_pods: reporting,
        sources,
        running,
        waiting,
        kv_cache_usage,
        values,
        problems,
        samples_dropped,
        unusable: (!unusable.is_empty()).then(|| unusable.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> ServerLabels {
        ServerLabels {
            name: "s".into(),
            model: "m".into(),
            accelerator: "G2".into(),
            max_batch: 38,
            rpm: Some(90.0),
            in_tokens: Some(100.0),
            out_tokens: Some(200.0),
            ..ServerLabels::default()
        }
    }

    fn pod(values: &[(Quantity, f64)]) -> BTreeMap<Quantity, f64> {
        values.iter().copied().collect()
    }

    fn source(o: &Observation, field: &str) -> Source {
        o.sources.iter().find(|(f, _)| *f == field).unwrap().1
    }

    #[test]
    fn every_pod_reporting_uses_prometheus() {
        use Quantity::*;
        let mut v = PodValues::new();
        v.insert(
            "a".into(),
            pod(&[
                (Throughput, 60.0),
                (Itl, 0.020),
                (Ttft, 0.1),
                (PromptTokens, 1000.0),
                (GenerationTokens, 4000.0),
                (Requests, 10.0),
            ]),
        );
        v.insert(
            "b".into(),
            pod(&[
                (Throughput, 30.0),
                (Itl, 0.050),
                (Ttft, 0.4),
                (PromptTokens, 500.0),
                (GenerationTokens, 2000.0),
                (Requests, 5.0),
            ]),
        );
        let o = assemble(&labels(), 2, &["a".into(), "b".into()], &v);
        let a = &o.spec.current_alloc;
        assert_eq!(a.load.arrival_rate, 90.0);
        assert_eq!((a.load.avg_in_tokens, a.load.avg_out_tokens), (100, 400));
        assert!((a.itl_average - 30.0).abs() < 1e-9, "{}", a.itl_average);
        assert!((a.ttft_average - 200.0).abs() < 1e-9);
        assert_eq!(source(&o, "arrivalRate"), Source::Prometheus);
        assert_eq!(source(&o, "avgOutTokens"), Source::Prometheus);
    }

    #[test]
    fn missing_pods_do_not_undercount_arrivals() {
        let mut v = PodValues::new();
        v.insert("a".into(), pod(&[(Quantity::Throughput, 40.0)]));
        let o = assemble(&labels(), 3, &["a".into(), "b".into(), "c".into()], &v);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 90.0);
        assert_eq!(source(&o, "arrivalRate"), Source::Label);
        let no_label = ServerLabels {
            rpm: None,
            ..labels()
        };
        let o = assemble(&no_label, 3, &["a".into(), "b".into(), "c".into()], &v);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 40.0);
        assert_eq!(source(&o, "arrivalRate"), Source::PrometheusPartial);
    }

    #[test]
    fn no_prometheus_falls_back_to_labels_then_zero() {
        let o = assemble(&labels(), 2, &["a".into()], &PodValues::new());
        let l = &o.spec.current_alloc.load;
        assert_eq!(
            (l.arrival_rate, l.avg_in_tokens, l.avg_out_tokens),
            (90.0, 100, 200)
        );
        assert!(o
            .sources
            .iter()
            .filter(|(f, _)| f.starts_with("avg") || *f == "arrivalRate")
            .all(|(_, s)| *s == Source::Label));
        let bare = ServerLabels {
            name: "s".into(),
            ..ServerLabels::default()
        };
        let o = assemble(&bare, 0, &[], &PodValues::new());
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 0.0);
        assert!(o.sources.iter().all(|(_, s)| *s == Source::Default));
    }

    #[test]
    fn a_zero_rate_does_not_override_the_load_label() {
        let mut v = PodValues::new();
        v.insert("a".into(), pod(&[(Quantity::Throughput, 0.0)]));
        let o = assemble(&labels(), 1, &["a".into()], &v);
        assert_eq!(
            (
                o.spec.current_alloc.load.arrival_rate,
                source(&o, "arrivalRate")
            ),
            (90.0, Source::Label)
        );
        let no_label = ServerLabels {
            rpm: None,
            ..labels()
        };
        let o = assemble(&no_label, 1, &["a".into()], &v);
        assert_eq!(
            (
                o.spec.current_alloc.load.arrival_rate,
                source(&o, "arrivalRate")
            ),
            (0.0, Source::Prometheus)
        );
    }

    #[test]
    fn legacy_itl_name_is_used_when_the_new_one_is_missing() {
        let mut v = PodValues::new();
        v.insert(
            "a".into(),
            pod(&[(Quantity::Throughput, 10.0), (Quantity::ItlLegacy, 0.025)]),
        );
        let o = assemble(&labels(), 1, &["a".into()], &v);
        assert!((o.spec.current_alloc.itl_average - 25.0).abs() < 1e-9);
    }

    #[test]
    fn bad_samples_are_dropped_for_their_pod_with_a_problem() {
        use Quantity::*;
        let mut v = PodValues::new();
        v.insert(
            "ns/a".into(),
            pod(&[
                (Throughput, 60.0),
                (Itl, 1e308),
                (Ttft, -0.5),
                (Running, 5.0),
            ]),
        );
        v.insert(
            "ns/b".into(),
            pod(&[(Throughput, f64::NAN), (Itl, 0.02), (KvCache, 1.5)]),
        );
        let o = assemble(&labels(), 2, &["ns/a".into(), "ns/b".into()], &v);
        assert_eq!(
            o.problems,
            [
                "pod ns/a: vllm:request_time_per_output_token_seconds (mean, s): must be a finite number in [0, 3600], got 1e308; sample dropped",
                "pod ns/a: vllm:time_to_first_token_seconds (mean, s): must be a finite number in [0, 3600], got -0.5; sample dropped",
                "pod ns/b: vllm:request_success_total (rate, requests/min): must be a finite number in [0, 10000000], got NaN; sample dropped",
                "pod ns/b: vllm:kv_cache_usage_perc (mean): must be a finite number in [0, 1], got 1.5; sample dropped",
            ]
        );
        // b did not report a rate: the label stands in for the arrival rate. a's latencies are
        // gone and b does not count (no rate): unknown, 0, never infinite.
        let a = &o.spec.current_alloc;
        assert_eq!(
            (a.load.arrival_rate, source(&o, "arrivalRate")),
            (90.0, Source::Label)
        );
        assert_eq!((a.itl_average, a.ttft_average), (0.0, 0.0));
        assert_eq!(source(&o, "itlAverage"), Source::Unknown);
        assert_eq!(source(&o, "ttftAverage"), Source::Unknown);
        assert_eq!(o.samples_dropped, 4);
        assert_eq!(o.reporting_pods, ["ns/a"]);
        assert_eq!(o.values["ns/a"], pod(&[(Throughput, 60.0), (Running, 5.0)]));
        assert_eq!(o.unusable, None);
    }

    #[test]
    fn an_idle_pods_nan_latency_is_not_a_problem() {
        use Quantity::*;
        let mut v = PodValues::new();
        v.insert(
            "a".into(),
            pod(&[(Throughput, 0.0), (Itl, f64::NAN), (Ttft, f64::NAN)]),
        );
        let o = assemble(&labels(), 1, &["a".into()], &v);
        assert!(o.problems.is_empty(), "{:?}", o.problems);
        assert_eq!(source(&o, "itlAverage"), Source::Default);
        // An infinite one is: x/0 is not idleness.
        v.insert("a".into(), pod(&[(Throughput, 0.0), (Itl, f64::INFINITY)]));
        let o = assemble(&labels(), 1, &["a".into()], &v);
        assert_eq!(o.problems.len(), 1, "{:?}", o.problems);
    }

    #[test]
    fn tokens_are_bounded_per_request() {
        use Quantity::*;
        let mut v = PodValues::new();
        v.insert(
            "a".into(),
            pod(&[
                (Throughput, 10.0),
                (PromptTokens, 1e12),
                (GenerationTokens, 5000.0),
                (Requests, 10.0),
            ]),
        );
        let o = assemble(&labels(), 1, &["a".into()], &v);
        assert_eq!(
            o.problems,
            ["pod a: vllm:prompt_tokens_total (increase) / vllm:request_success_total (increase) = 1000000000000 / 10: tokens per request must be a finite number in [0, 1048576], got 100000000000; sample dropped"]
        );
        let l = &o.spec.current_alloc.load;
        assert_eq!((l.avg_in_tokens, l.avg_out_tokens), (100, 500));
        assert_eq!(source(&o, "avgInTokens"), Source::Label);
        assert_eq!(source(&o, "avgOutTokens"), Source::Prometheus);
        // Tokens of a pod without finished requests still count, and can push the server's
        // ratio out of range.
        v.insert(
            "b".into(),
            pod(&[
                (Throughput, 0.0),
                (GenerationTokens, 1e300),
                (Requests, 0.0),
            ]),
        );
        let o = assemble(&labels(), 2, &["a".into(), "b".into()], &v);
        assert!(
            o.problems.iter().any(|p| p.starts_with(
                "vllm:generation_tokens_total (increase) / vllm:request_success_total (increase) over the reporting pods"
            ) && p.ends_with("got 1e299; not used")),
            "{:?}",
            o.problems
        );
        assert_eq!(source(&o, "avgOutTokens"), Source::Label);
    }

    #[test]
    fn a_sum_of_rates_beyond_the_range_is_not_used() {
        let mut v = PodValues::new();
        for p in ["a", "b"] {
            v.insert(p.into(), pod(&[(Quantity::Throughput, 6e6)]));
        }
        let o = assemble(&labels(), 2, &["a".into(), "b".into()], &v);
        assert_eq!(
            o.problems,
            ["vllm:request_success_total (rate, requests/min) summed over 2 pods: must be a finite number in [0, 10000000], got 12000000; not used"]
        );
        assert_eq!(
            (
                o.spec.current_alloc.load.arrival_rate,
                source(&o, "arrivalRate")
            ),
            (90.0, Source::Label)
        );
    }

    #[test]
    fn a_bad_load_label_without_a_measurement_makes_the_load_unusable() {
        let bad = |key: &'static str| ServerLabels {
            rpm: None,
            invalid: [(key, format!("label {key}=\"1e308\": out of range"))].into(),
            ..labels()
        };
        let o = assemble(
            &bad(inferno_core::contract::keys::LOAD_RPM),
            1,
            &["a".into()],
            &PodValues::new(),
        );
        assert_eq!(
            o.unusable.as_deref(),
            Some(
                r#"arrival rate unknown: label inferno.server.load.rpm="1e308": out of range, and Prometheus measured no rate"#
            )
        );
        assert_eq!(source(&o, "arrivalRate"), Source::Unknown);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 0.0);
        // Measured by every pod: the label is not needed, the load is usable.
        let mut v = PodValues::new();
        v.insert("a".into(), pod(&[(Quantity::Throughput, 12.0)]));
        let o = assemble(
            &bad(inferno_core::contract::keys::LOAD_RPM),
            1,
            &["a".into()],
            &v,
        );
        assert_eq!(o.unusable, None);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 12.0);
        // No label at all is still "nothing known: 0".
        let none = ServerLabels {
            rpm: None,
            ..labels()
        };
        let o = assemble(&none, 1, &["a".into()], &PodValues::new());
        assert_eq!(
            (o.unusable.clone(), source(&o, "arrivalRate")),
            (None, Source::Default)
        );
    }
}
