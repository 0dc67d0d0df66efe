//! From labels, pods and per-pod Prometheus values to one server's observation, with the source
//! of every load field (Prometheus value -> load label -> 0).

use crate::labels::ServerLabels;
use crate::promql::Quantity;
use inferno_api::{AllocationData, ServerLoadSpec, ServerSpec};
use std::collections::{BTreeMap, HashMap};

/// Per-pod values of one cycle, keyed by pod name.
pub type PodValues = HashMap<String, BTreeMap<Quantity, f64>>;

/// Where a field's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Measured by Prometheus over every ready pod.
    Prometheus,
    /// Measured by Prometheus, but not every ready pod reported yet.
    PrometheusPartial,
    /// From the Deployment's load label.
    Label,
    /// Nothing known: 0.
    Default,
}

impl Source {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Prometheus => "prometheus",
            Self::PrometheusPartial => "prometheus-partial",
            Self::Label => "label",
            Self::Default => "default",
        }
    }
}

/// One server as observed this cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// What the optimizer needs: labels, replicas, load, measured latencies.
    pub spec: ServerSpec,
    /// Ready pods counted.
    pub ready_replicas: i64,
    /// Ready pods that reported to Prometheus.
    pub reporting_pods: Vec<String>,
    /// Source of each load field.
    pub sources: Vec<(&'static str, Source)>,
    /// Mean requests running per reporting pod.
    pub running: f64,
    /// Mean requests waiting per reporting pod.
    pub waiting: f64,
    /// Mean KV-cache usage per reporting pod.
    pub kv_cache_usage: f64,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
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

/// Tokens per request over the reporting pods: Σ tokens / Σ requests.
fn per_request(values: &PodValues, pods: &[String], tokens: Quantity) -> Option<f64> {
    let (mut t, mut r) = (0.0, 0.0);
    for p in pods {
        if let Some(v) = values.get(p) {
            if let (Some(tokens), Some(requests)) = (v.get(&tokens), v.get(&Quantity::Requests)) {
                t += tokens;
                r += requests;
            }
        }
    }
    (r > 0.0).then(|| t / r)
}

/// Assembles the observation of one server.
pub fn assemble(
    labels: &ServerLabels,
    desired_replicas: i64,
    ready_pods: &[String],
    values: &PodValues,
) -> Observation {
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
    let mut sources = Vec::new();

    // Arrival: vLLM exports no arrival counter, so completed requests stand for it. When some
    // ready pods have not reported yet (just started), their share is missing: prefer the load
    // label then, else the partial sum (control-loop spec 2.3 point 7).
    let label_rpm = labels.rpm.filter(|v| *v > 0.0);
    // A zero rate over the window is also what pods show before their first request finishes
    // (new pods, long answers): with a load label saying otherwise, the label wins, so a
    // measurement artefact never reads as "no load" (which would scale the server to zero).
    let all_zero = throughput == 0.0;
    let (arrival, source) = if !reporting.is_empty()
        && reporting.len() == ready_pods.len()
        && !(all_zero && label_rpm.is_some())
    {
        (throughput, Source::Prometheus)
    } else if let Some(rpm) = label_rpm {
        (rpm, Source::Label)
    } else if !reporting.is_empty() {
        (throughput, Source::PrometheusPartial)
    } else {
        (
            labels.rpm.unwrap_or(0.0),
            if labels.rpm.is_some() {
                Source::Label
            } else {
                Source::Default
            },
        )
    };
    sources.push(("arrivalRate", source));

    let mut tokens = |field: &'static str, quantity: Quantity, label: Option<f64>| -> f64 {
        match (per_request(values, &reporting, quantity), label) {
            (Some(v), _) => {
                sources.push((field, Source::Prometheus));
                v
            }
            (None, Some(v)) => {
                sources.push((field, Source::Label));
                v
            }
            (None, None) => {
                sources.push((field, Source::Default));
                0.0
            }
        }
    };
    let in_tokens = tokens("avgInTokens", Quantity::PromptTokens, labels.in_tokens);
    let out_tokens = tokens(
        "avgOutTokens",
        Quantity::GenerationTokens,
        labels.out_tokens,
    );

    let itl = weighted(values, &reporting, |v| {
        v.get(&Quantity::Itl)
            .or_else(|| v.get(&Quantity::ItlLegacy))
            .copied()
    });
    let ttft = weighted(values, &reporting, |v| v.get(&Quantity::Ttft).copied());
    sources.push((
        "itlAverage",
        if itl.is_some() {
            Source::Prometheus
        } else {
            Source::Default
        },
    ));
    sources.push((
        "ttftAverage",
        if ttft.is_some() {
            Source::Prometheus
        } else {
            Source::Default
        },
    ));
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
                throughput,
                avg_in_tokens: in_tokens.round() as i64,
                avg_out_tokens: out_tokens.round() as i64,
            },
        },
        ..ServerSpec::default()
    };
    Observation {
        spec,
        ready_replicas: ready_pods.len() as i64,
        reporting_pods: reporting,
        sources,
        running,
        waiting,
        kv_cache_usage,
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
}
