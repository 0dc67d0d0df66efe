//! One collection: discover, query Prometheus for every ready pod at once (concurrently, under a
//! deadline), assemble each server. Nothing here fails the cycle except the Kubernetes list
//! itself: Prometheus trouble becomes a problem of the cycle and the labels take over.

use crate::aggregate::{assemble, Observation, PodValues};
use crate::discover::{Discovery, Found};
use crate::labels;
use crate::prometheus::Prometheus;
use crate::promql::{query, selector, Quantity};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    collections: AtomicU64,
    servers: AtomicU64,
    queries: AtomicU64,
    query_errors: AtomicU64,
    query_micros: AtomicU64,
}

impl Metrics {
    /// The text exposition format.
    pub fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "# HELP inferno_collector_collections_total Collect calls answered.\n\
             # TYPE inferno_collector_collections_total counter\n\
             inferno_collector_collections_total {}\n\
             # HELP inferno_collector_servers Servers found by the last collection.\n\
             # TYPE inferno_collector_servers gauge\n\
             inferno_collector_servers {}\n\
             # HELP inferno_collector_prometheus_queries_total Prometheus queries run.\n\
             # TYPE inferno_collector_prometheus_queries_total counter\n\
             inferno_collector_prometheus_queries_total {}\n\
             # HELP inferno_collector_prometheus_errors_total Prometheus queries that failed or timed out.\n\
             # TYPE inferno_collector_prometheus_errors_total counter\n\
             inferno_collector_prometheus_errors_total {}\n\
             # HELP inferno_collector_prometheus_seconds_total Time spent waiting for Prometheus.\n\
             # TYPE inferno_collector_prometheus_seconds_total counter\n\
             inferno_collector_prometheus_seconds_total {}\n",
            g(&self.collections),
            g(&self.servers),
            g(&self.queries),
            g(&self.query_errors),
            g(&self.query_micros) as f64 / 1e6,
        )
    }
}

/// A managed server as collected.
#[derive(Debug, Clone)]
pub struct Collected {
    /// Its Deployment.
    pub deployment: Found,
    /// What was observed.
    pub observation: Observation,
    /// Per reporting pod: (pod, its values).
    pub pods: Vec<(String, BTreeMap<Quantity, f64>)>,
}

/// The result of one collection.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Servers, sorted by name.
    pub servers: Vec<Collected>,
    /// Problems of the cycle: (subject, message).
    pub problems: Vec<(String, String)>,
}

/// The collector.
#[derive(Debug, Clone)]
pub struct Collector {
    discovery: Discovery,
    prometheus: Option<Prometheus>,
    window: String,
    deadline: Duration,
    metrics: Arc<Metrics>,
}

impl Collector {
    /// A collector; `prometheus` None means labels only.
    pub fn new(
        discovery: Discovery,
        prometheus: Option<Prometheus>,
        window: String,
        deadline: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            discovery,
            prometheus,
            window,
            deadline,
            metrics,
        }
    }

    /// Collects once.
    pub async fn collect(&self) -> Result<Report, kube::Error> {
        let found = self.discovery.find().await?;
        let mut report = Report::default();
        let mut warnings = Vec::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut servers = Vec::new();
        for d in found {
            let Some(l) = labels::read(&d.object, &mut warnings) else {
                continue;
            };
            let here = format!("{}/{}", d.namespace, d.name);
            if let Some(first) = seen.get(&l.name) {
                report.problems.push((
                    l.name.clone(),
                    format!("duplicate server name: deployment {here} ignored, {first} has it"),
                ));
                continue;
            }
            seen.insert(l.name.clone(), here);
            servers.push((d, l));
        }
        report
            .problems
            .extend(warnings.into_iter().map(|w| (String::new(), w)));

        let pods: Vec<(String, String)> = servers
            .iter()
            .flat_map(|(d, _)| {
                d.ready_pods
                    .iter()
                    .map(|p| (d.namespace.clone(), p.clone()))
            })
            .collect();
        let values = match (&self.prometheus, pods.is_empty()) {
            (Some(prom), false) => self.query_all(prom, &pods, &mut report.problems).await,
            _ => PodValues::new(),
        };
        for (d, l) in servers {
            let keys: Vec<String> = d
                .ready_pods
                .iter()
                .map(|p| format!("{}/{}", d.namespace, p))
                .collect();
            let observation = assemble(&l, d.desired, &keys, &values);
            let pods = observation
                .reporting_pods
                .iter()
                .map(|k| (k.clone(), values[k].clone()))
                .collect();
            report.servers.push(Collected {
                deployment: d,
                observation,
                pods,
            });
        }
        report
            .servers
            .sort_by(|a, b| a.observation.spec.name.cmp(&b.observation.spec.name));
        self.metrics.collections.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .servers
            .store(report.servers.len() as u64, Ordering::Relaxed);
        info!(
            servers = report.servers.len(),
            pods = pods.len(),
            problems = report.problems.len(),
            "collected"
        );
        Ok(report)
    }

    /// Every quantity for every pod, concurrently, within the deadline; values keyed `ns/pod`.
    async fn query_all(
        &self,
        prom: &Prometheus,
        pods: &[(String, String)],
        problems: &mut Vec<(String, String)>,
    ) -> PodValues {
        let sel = selector(pods);
        let start = Instant::now();
        let runs = Quantity::ALL.map(|q| {
            let text = query(q, &sel, &self.window);
            async move { (q, prom.query(&text).await) }
        });
        let results = tokio::time::timeout(self.deadline, futures::future::join_all(runs)).await;
        self.metrics
            .query_micros
            .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.metrics
            .queries
            .fetch_add(Quantity::ALL.len() as u64, Ordering::Relaxed);
        let mut values = PodValues::new();
        let Ok(results) = results else {
            self.metrics
                .query_errors
                .fetch_add(Quantity::ALL.len() as u64, Ordering::Relaxed);
            warn!(
                deadline_ms = self.deadline.as_millis() as u64,
                "prometheus deadline passed; using labels"
            );
            problems.push((
                String::new(),
                format!(
                    "prometheus: no answer within {:?}; load labels used",
                    self.deadline
                ),
            ));
            return values;
        };
        let wanted: HashSet<(&str, &str)> =
            pods.iter().map(|(n, p)| (n.as_str(), p.as_str())).collect();
        let mut failed = Vec::new();
        for (q, result) in results {
            match result {
                Ok(samples) => {
                    for s in samples {
                        let (ns, pod) = (s.labels.get("namespace"), s.labels.get("pod"));
                        if let (Some(ns), Some(pod)) = (ns, pod) {
                            // Series of pods that are gone (or not ready) are not averaged in.
                            if wanted.contains(&(ns.as_str(), pod.as_str())) {
                                values
                                    .entry(format!("{ns}/{pod}"))
                                    .or_default()
                                    .insert(q, s.value);
                            }
                        }
                    }
                }
                Err(e) => {
                    self.metrics.query_errors.fetch_add(1, Ordering::Relaxed);
                    failed.push(format!("{q:?}: {e}"));
                }
            }
        }
        if !failed.is_empty() {
            warn!(failed = failed.len(), first = %failed[0], "prometheus queries failed; labels used where needed");
            problems.push((String::new(), format!("prometheus: {}", failed.join("; "))));
        }
        values
    }
}
