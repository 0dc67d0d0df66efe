//! Prometheus metrics of the optimizer service ([`inferno_telemetry::metrics`]).

use inferno_telemetry::metrics::Registry;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Upper bounds of the solve-latency histogram buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

const PLACED: OutcomeLabel = OutcomeLabel { outcome: "placed" };
const UNPLACED: OutcomeLabel = OutcomeLabel {
    outcome: "unplaced",
};

/// Counters and gauges of one server process.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    solves: Counter,
    errors: Counter,
    cancelled: Counter,
    rejected: Counter,
    busy: Gauge,
    latency: Histogram,
    last_total_cost: Gauge<f64, AtomicU64>,
    last_servers: Family<OutcomeLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let solves = Counter::default();
        registry.register(
            "inferno_optimizer_solves",
            "Solves completed",
            solves.clone(),
        );
        let errors = Counter::default();
        registry.register(
            "inferno_optimizer_errors",
            "Requests that failed",
            errors.clone(),
        );
        let cancelled = Counter::default();
        registry.register(
            "inferno_optimizer_cancelled",
            "Computations stopped early because their request's deadline passed or its client \
             went away",
            cancelled.clone(),
        );
        let rejected = Counter::default();
        registry.register(
            "inferno_optimizer_rejected_servers",
            "Servers left unplaced because their own data is invalid (the others were solved)",
            rejected.clone(),
        );
        let busy = Gauge::default();
        registry.register(
            "inferno_optimizer_computations_in_flight",
            "Solves and queue computations running now",
            busy.clone(),
        );
        let latency = Histogram::new(BUCKETS);
        registry.register(
            "inferno_optimizer_solve_duration_seconds",
            "Time to solve a system",
            latency.clone(),
        );
        let last_total_cost = Gauge::default();
        registry.register(
            "inferno_optimizer_last_total_cost",
            "Total cost of the last solution, cents/hour",
            last_total_cost.clone(),
        );
        let last_servers = Family::<OutcomeLabel, Gauge>::default();
        registry.register(
            "inferno_optimizer_last_servers",
            "Servers of the last solution by outcome",
            last_servers.clone(),
        );
        // Both outcomes from the start, at 0 until the first solution.
        for outcome in [&PLACED, &UNPLACED] {
            let _ = last_servers.get_or_create(outcome);
        }
        Self {
            registry,
            solves,
            errors,
            cancelled,
            rejected,
            busy,
            latency,
            last_total_cost,
            last_servers,
        }
    }
}

impl Metrics {
    /// Records a successful solve.
    pub fn solved(&self, took: Duration, total_cost: f64, placed: usize, unplaced: usize) {
        self.solves.inc();
        self.latency.observe(took.as_secs_f64());
        self.last_total_cost.set(total_cost);
        for (outcome, n) in [(&PLACED, placed), (&UNPLACED, unplaced)] {
            self.last_servers
                .get_or_create(outcome)
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Records a failed request (invalid input, deadline, ...).
    pub fn failed(&self) {
        self.errors.inc();
    }

    /// Solves recorded so far.
    pub fn solve_count(&self) -> u64 {
        self.solves.get()
    }

    /// Records a computation that saw its cancellation flag (deadline, client gone) and stopped.
    pub fn cancelled(&self) {
        self.cancelled.inc();
    }

    /// Computations stopped by their cancellation flag so far.
    pub fn cancelled_count(&self) -> u64 {
        self.cancelled.get()
    }

    /// Records servers set aside because their own data is invalid.
    pub fn rejected(&self, servers: usize) {
        self.rejected.inc_by(servers as u64);
    }

    /// Marks a computation running on the blocking pool until the guard is dropped.
    pub fn busy(&self) -> Busy<'_> {
        self.busy.inc();
        Busy(&self.busy)
    }

    /// Computations running now (a cancelled one counts until it has stopped).
    pub fn busy_count(&self) -> u64 {
        u64::try_from(self.busy.get()).unwrap_or(0)
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        inferno_telemetry::metrics::encode(&self.registry)
    }
}

/// A computation in flight; dropping it ends it (see [`Metrics::busy`]).
#[derive(Debug)]
pub struct Busy<'a>(&'a Gauge);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_reads_back_with_the_same_names() {
        let m = Metrics::default();
        m.solved(Duration::from_millis(3), 25826.0, 4, 1);
        m.failed();
        m.rejected(2);
        let busy = m.busy();
        let text = m.render();
        drop(busy);
        assert_eq!(m.busy_count(), 0);
        for line in [
            "# TYPE inferno_optimizer_solves_total counter",
            "inferno_optimizer_solves_total 1",
            "inferno_optimizer_errors_total 1",
            "inferno_optimizer_cancelled_total 0",
            "inferno_optimizer_rejected_servers_total 2",
            "inferno_optimizer_computations_in_flight 1",
            "# TYPE inferno_optimizer_solve_duration_seconds histogram",
            "inferno_optimizer_solve_duration_seconds_bucket{le=\"0.0025\"} 0",
            "inferno_optimizer_solve_duration_seconds_bucket{le=\"0.005\"} 1",
            "inferno_optimizer_solve_duration_seconds_bucket{le=\"+Inf\"} 1",
            "inferno_optimizer_solve_duration_seconds_count 1",
            "inferno_optimizer_last_servers{outcome=\"placed\"} 4",
            "inferno_optimizer_last_servers{outcome=\"unplaced\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        let samples = inferno_telemetry::metrics::parse(&text).unwrap();
        let cost = samples
            .iter()
            .find(|s| s.name == "inferno_optimizer_last_total_cost")
            .unwrap();
        assert_eq!(cost.value, 25826.0);
    }
}
