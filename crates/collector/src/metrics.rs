//! `/metrics` of the collector: collections answered, servers found and left out, Prometheus
//! queries with their failures and time, samples dropped as invalid.

use inferno_telemetry::metrics::Registry;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// The collector's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    collections: Counter,
    servers: Gauge,
    queries: Counter,
    query_errors: Counter,
    query_seconds: Counter<f64, AtomicU64>,
    samples_dropped: Counter,
    unusable: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let collections = Counter::default();
        registry.register(
            "inferno_collector_collections",
            "Collect calls answered",
            collections.clone(),
        );
        let servers = Gauge::default();
        registry.register(
            "inferno_collector_servers",
            "Servers found by the last collection",
            servers.clone(),
        );
        let queries = Counter::default();
        registry.register(
            "inferno_collector_prometheus_queries",
            "Prometheus queries run",
            queries.clone(),
        );
        let query_errors = Counter::default();
        registry.register(
            "inferno_collector_prometheus_errors",
            "Prometheus queries that failed or timed out",
            query_errors.clone(),
        );
        let query_seconds = Counter::default();
        registry.register(
            "inferno_collector_prometheus_seconds",
            "Time spent waiting for Prometheus",
            query_seconds.clone(),
        );
        let samples_dropped = Counter::default();
        registry.register(
            "inferno_collector_samples_dropped",
            "Prometheus samples dropped as invalid (NaN, infinite, negative or out of range)",
            samples_dropped.clone(),
        );
        let unusable = Gauge::default();
        registry.register(
            "inferno_collector_servers_unusable",
            "Servers of the last collection left out of the decision because their load cannot \
             be used",
            unusable.clone(),
        );
        Self {
            registry,
            collections,
            servers,
            queries,
            query_errors,
            query_seconds,
            samples_dropped,
            unusable,
        }
    }
}

impl Metrics {
    /// Records a collection answered: the servers it found and how many were unusable.
    pub fn collected(&self, servers: usize, unusable: usize) {
        self.collections.inc();
        self.servers.set(gauge(servers));
        self.unusable.set(gauge(unusable));
    }

    /// Records `queries` Prometheus queries run concurrently for `took` in all.
    pub fn queried(&self, queries: usize, took: Duration) {
        self.queries.inc_by(queries as u64);
        self.query_seconds.inc_by(took.as_secs_f64());
    }

    /// Counts a Prometheus query that failed or timed out.
    pub fn query_failed(&self) {
        self.query_errors.inc();
    }

    /// Counts samples dropped as invalid.
    pub fn dropped(&self, samples: usize) {
        self.samples_dropped.inc_by(samples as u64);
    }

    /// The text exposition format ([`inferno_telemetry::metrics`]).
    pub fn render(&self) -> String {
        inferno_telemetry::metrics::encode(&self.registry)
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_served_and_reads_back() {
        let m = Metrics::default();
        m.collected(4, 1);
        m.queried(5, Duration::from_millis(250));
        m.query_failed();
        m.dropped(2);
        let text = m.render();
        let samples = inferno_telemetry::metrics::parse(&text).unwrap();
        let values: Vec<(&str, f64)> = samples.iter().map(|s| (s.name.as_str(), s.value)).collect();
        assert_eq!(
            values,
            [
                ("inferno_collector_collections_total", 1.0),
                ("inferno_collector_servers", 4.0),
                ("inferno_collector_prometheus_queries_total", 5.0),
                ("inferno_collector_prometheus_errors_total", 1.0),
                ("inferno_collector_prometheus_seconds_total", 0.25),
                ("inferno_collector_samples_dropped_total", 2.0),
                ("inferno_collector_servers_unusable", 1.0),
            ]
        );
        assert!(
            text.contains("# TYPE inferno_collector_samples_dropped_total counter\n"),
            "{text}"
        );
    }
}
