//! `/metrics` of the controller: cycles by outcome, their durations (a histogram of whole
//! cycles, counters and gauges per stage), total cost, replicas per placed server, invocations
//! waiting for the next cycle.
//!
//! The whole cycle is a metric of its own (`inferno_controller_cycle_duration_seconds`), not a
//! `stage="total"` among the stages: summing the per-stage series over `stage` then gives the
//! time spent in the stages, without counting it twice.

use crate::cycle::{CycleOutcome, CycleReport};
use inferno_telemetry::metrics::Registry;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use std::collections::BTreeSet;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// Upper bounds of the cycle-duration buckets, seconds: a cycle of the demo's three servers takes
/// 0.1-0.3 s, a large system's solve seconds (`timeLimitSeconds` 10 by default), and the stage
/// deadlines (20 + 30 + 20 s by default) bound a failing one near 70 s.
pub const CYCLE_BUCKETS: [f64; 14] = [
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0, 120.0,
];

/// The stages of a cycle as the per-stage series name them, with their durations in `t`, ms.
pub fn stages(t: &crate::cycle::Timing) -> [(&'static str, f64); 4] {
    [
        ("load", t.load_ms),
        ("collect", t.collect_ms),
        ("optimize", t.optimize_ms),
        ("apply", t.actuate_ms),
    ]
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StageLabel {
    stage: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ServerLabel {
    server: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TypeLabel {
    r#type: String,
}

/// A latency of a server: which (`itl`, `ttft`) and whose figure (`measured`, `predicted`,
/// `target`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, EncodeLabelSet)]
struct LatencyLabel {
    server: String,
    latency: &'static str,
    kind: &'static str,
}

/// What a server is and runs on: the labels of `inferno_controller_server_info`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, EncodeLabelSet)]
struct InfoLabel {
    server: String,
    class: String,
    model: String,
    accelerator: String,
    max_batch: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ParameterLabel {
    model: String,
    accelerator: String,
    parameter: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PairLabel {
    model: String,
    accelerator: String,
}

/// The controller's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    cycles: Family<OutcomeLabel, Counter>,
    stage_seconds: Family<StageLabel, Counter<f64, AtomicU64>>,
    last_stage_seconds: Family<StageLabel, Gauge<f64, AtomicU64>>,
    cycle_seconds: Family<OutcomeLabel, Histogram, fn() -> Histogram>,
    last_cycle_seconds: Gauge<f64, AtomicU64>,
    total_cost: Gauge<f64, AtomicU64>,
    gap: Gauge<f64, AtomicU64>,
    last_ok: Gauge<f64, AtomicU64>,
    waiting: Gauge,
    replicas: Family<ServerLabel, Gauge>,
    tuned: Family<ParameterLabel, Gauge<f64, AtomicU64>>,
    tuned_sd: Family<ParameterLabel, Gauge<f64, AtomicU64>>,
    tuner_updates: Family<PairLabel, Gauge>,
    startup: Family<PairLabel, Gauge<f64, AtomicU64>>,
    latency_ms: Family<LatencyLabel, Gauge<f64, AtomicU64>>,
    cost: Family<ServerLabel, Gauge<f64, AtomicU64>>,
    info: Family<InfoLabel, Gauge>,
    gpu_price: Family<TypeLabel, Gauge<f64, AtomicU64>>,
    headroom: Family<ServerLabel, Gauge<f64, AtomicU64>>,
    lower_bound: Gauge<f64, AtomicU64>,
    /// The types and servers of the last explanation's series (gone ones are removed).
    explained: Mutex<(BTreeSet<String>, BTreeSet<String>)>,
    /// The servers `replicas` has a sample for; held while a cycle's replicas are written, so
    /// two records never interleave.
    placed: Mutex<BTreeSet<String>>,
    /// The per-server series written by the last decision (latency, info), to remove the ones
    /// the next decision does not write again.
    series: Mutex<(BTreeSet<LatencyLabel>, BTreeSet<InfoLabel>)>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let cycles = Family::default();
        registry.register(
            "inferno_controller_cycles",
            "Cycles by outcome (ok, skipped, failed)",
            cycles.clone(),
        );
        let stage_seconds = Family::default();
        registry.register(
            "inferno_controller_stage_seconds",
            "Time spent per stage (load, collect, optimize, apply; the whole cycle is \
             inferno_controller_cycle_duration_seconds)",
            stage_seconds.clone(),
        );
        let last_stage_seconds = Family::default();
        registry.register(
            "inferno_controller_last_stage_seconds",
            "Duration of each stage in the last cycle",
            last_stage_seconds.clone(),
        );
        let cycle_seconds: Family<OutcomeLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(CYCLE_BUCKETS));
        registry.register(
            "inferno_controller_cycle_duration_seconds",
            "Duration of whole cycles (data, collect, optimize, apply and the report), by \
             outcome",
            cycle_seconds.clone(),
        );
        let last_cycle_seconds = Gauge::default();
        registry.register(
            "inferno_controller_last_cycle_duration_seconds",
            "Duration of the last cycle",
            last_cycle_seconds.clone(),
        );
        let total_cost = Gauge::default();
        registry.register(
            "inferno_controller_total_cost",
            "Total cost of the last decision, cents/hour",
            total_cost.clone(),
        );
        let gap = Gauge::default();
        registry.register(
            "inferno_controller_solver_gap",
            "Relative gap of the last decision's solve, (objective - bound) / objective: 0 when \
             proven optimal; high when a time or iteration limit stopped the solver far from \
             its bound (docs/solvers.md)",
            gap.clone(),
        );
        let gpu_price = Family::default();
        registry.register(
            "inferno_controller_gpu_price",
            "What one more unit of an accelerator type is worth in the last decision's LP \
             relaxation, cents/hour per unit (0: not scarce; docs/explain.md)",
            gpu_price.clone(),
        );
        let headroom = Family::default();
        registry.register(
            "inferno_controller_server_headroom_rpm",
            "Load a server's decided replicas carry within its targets beyond its demand, \
             requests/minute: past it, one more replica is needed",
            headroom.clone(),
        );
        let lower_bound = Gauge::default();
        registry.register(
            "inferno_controller_lower_bound_cost",
            "The least cost meeting every target with capacities ignored, cents/hour: against \
             inferno_controller_total_cost, what the capacities cost",
            lower_bound.clone(),
        );
        let last_ok = Gauge::default();
        registry.register(
            "inferno_controller_last_success_timestamp_seconds",
            "Unix time at which the last cycle with outcome ok ended (0 before the first)",
            last_ok.clone(),
        );
        let waiting = Gauge::default();
        registry.register(
            "inferno_controller_invocations_waiting",
            "Invocations waiting for the next cycle (they share it)",
            waiting.clone(),
        );
        let replicas = Family::default();
        registry.register(
            "inferno_controller_replicas",
            "Replicas per placed server after the cycle: the actuator's number (after its \
             limits) when it applied it or would in a dry run or recommend mode, else what the \
             Deployment kept",
            replicas.clone(),
        );
        let tuned = Family::default();
        registry.register(
            "inferno_controller_tuned_parameter",
            "Iteration-time parameter the optimizer is given per model and accelerator (alpha \
             ms, beta ms/token, gamma ms/KV token): tuned once trusted, else the catalog's",
            tuned.clone(),
        );
        let tuned_sd = Family::default();
        registry.register(
            "inferno_controller_tuned_parameter_sd",
            "Standard deviation of the tuner's estimate of each parameter",
            tuned_sd.clone(),
        );
        let tuner_updates = Family::default();
        registry.register(
            "inferno_controller_tuner_updates",
            "Measurements the tuner of a model and accelerator has taken",
            tuner_updates.clone(),
        );
        let startup = Family::default();
        registry.register(
            "inferno_controller_startup_seconds",
            "Median start-up time of the pods of a model and accelerator, servers' seconds",
            startup.clone(),
        );
        let latency_ms = Family::default();
        registry.register(
            "inferno_controller_server_latency_milliseconds",
            "Per placed server: the mean ITL and TTFT (latency) measured over the collector's \
             window (absent when nothing was measured), predicted by the model for the \
             decision, and the class's target (kind)",
            latency_ms.clone(),
        );
        let cost = Family::default();
        registry.register(
            "inferno_controller_server_cost_cents_per_hour",
            "Per placed server: the cost of the decided allocation, cents/hour",
            cost.clone(),
        );
        let info = Family::default();
        registry.register(
            "inferno_controller_server_info",
            "Per placed server, 1: its class, model, decided GPU type and batch size",
            info.clone(),
        );
        // Every outcome has a series from the start: `increase()` over a counter that appears
        // at its first failure cannot see that failure.
        for outcome in [
            CycleOutcome::Ok,
            CycleOutcome::Skipped,
            CycleOutcome::Failed,
        ] {
            drop(cycles.get_or_create(&OutcomeLabel {
                outcome: outcome.name(),
            }));
        }
        Self {
            registry,
            gap,
            gpu_price,
            headroom,
            lower_bound,
            explained: Mutex::default(),
            last_ok,
            latency_ms,
            cost,
            info,
            series: Mutex::default(),
            tuned,
            tuned_sd,
            tuner_updates,
            startup,
            cycles,
            stage_seconds,
            last_stage_seconds,
            cycle_seconds,
            last_cycle_seconds,
            total_cost,
            waiting,
            replicas,
            placed: Mutex::default(),
        }
    }
}

impl Metrics {
    /// Records a finished cycle.
    pub fn record(&self, r: &CycleReport) {
        let mut placed = self.placed.lock().unwrap_or_else(|e| e.into_inner());
        self.cycles
            .get_or_create(&OutcomeLabel {
                outcome: r.outcome.name(),
            })
            .inc();
        let t = &r.timing;
        for (stage, ms) in stages(t) {
            let label = StageLabel { stage };
            self.stage_seconds.get_or_create(&label).inc_by(ms / 1e3);
            self.last_stage_seconds.get_or_create(&label).set(ms / 1e3);
        }
        self.cycle_seconds
            .get_or_create(&OutcomeLabel {
                outcome: r.outcome.name(),
            })
            .observe(t.total_ms / 1e3);
        self.last_cycle_seconds.set(t.total_ms / 1e3);
        if r.outcome == CycleOutcome::Ok {
            self.total_cost.set(r.total_cost);
            self.gap.set(if r.gap.is_finite() { r.gap } else { 0.0 });
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            self.last_ok.set(now);
            // An unplaced server has no decided replica count: a 0 here would read as a
            // decision to scale it to zero, which nobody made.
            let now: BTreeSet<String> = r
                .servers
                .iter()
                .filter(|s| s.unplaced.is_empty())
                .map(|s| {
                    let server = ServerLabel {
                        server: s.name.clone(),
                    };
                    self.replicas.get_or_create(&server).set(s.replicas);
                    server.server
                })
                .collect();
            // Set first, then drop the servers of the previous decision only: a scrape in
            // between never misses a server placed in both.
            for gone in placed.difference(&now) {
                let server = ServerLabel {
                    server: gone.clone(),
                };
                self.replicas.remove(&server);
                self.cost.remove(&server);
            }
            *placed = now;
            self.record_servers(r);
            self.record_explained(r);
        }
        for t in &r.tuning {
            let pair = PairLabel {
                model: t.model.clone(),
                accelerator: t.accelerator.clone(),
            };
            if t.startup_samples > 0 {
                self.startup.get_or_create(&pair).set(t.startup_seconds);
            }
            if t.catalog == Default::default() {
                continue;
            }
            self.tuner_updates
                .get_or_create(&pair)
                .set(i64::try_from(t.updates).unwrap_or(i64::MAX));
            for (parameter, v, sd) in [
                ("alpha", t.in_use.alpha, t.sd.alpha),
                ("beta", t.in_use.beta, t.sd.beta),
                ("gamma", t.in_use.gamma, t.sd.gamma),
            ] {
                let label = ParameterLabel {
                    model: t.model.clone(),
                    accelerator: t.accelerator.clone(),
                    parameter,
                };
                self.tuned.get_or_create(&label).set(v);
                self.tuned_sd.get_or_create(&label).set(sd);
            }
        }
    }

    /// The brief explanation of a decision; the series it no longer writes go.
    fn record_explained(&self, r: &CycleReport) {
        let Some(e) = &r.explained else {
            return;
        };
        let mut last = self.explained.lock().unwrap_or_else(|e| e.into_inner());
        self.lower_bound.set(e.lower_bound_cost);
        let mut types = BTreeSet::new();
        for p in &e.prices {
            if let Some(price) = p.price {
                let label = TypeLabel {
                    r#type: p.acc_type.clone(),
                };
                self.gpu_price.get_or_create(&label).set(price);
                types.insert(label.r#type);
            }
        }
        let mut servers = BTreeSet::new();
        for h in &e.headroom {
            let label = ServerLabel {
                server: h.server.clone(),
            };
            self.headroom.get_or_create(&label).set(h.rpm);
            servers.insert(label.server);
        }
        for gone in last.0.difference(&types) {
            self.gpu_price.remove(&TypeLabel {
                r#type: gone.clone(),
            });
        }
        for gone in last.1.difference(&servers) {
            self.headroom.remove(&ServerLabel {
                server: gone.clone(),
            });
        }
        *last = (types, servers);
    }

    /// The per-server latencies and info of a decision; the series it no longer writes go.
    fn record_servers(&self, r: &CycleReport) {
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let mut latencies = BTreeSet::new();
        let mut infos = BTreeSet::new();
        for s in r.servers.iter().filter(|s| s.unplaced.is_empty()) {
            self.cost
                .get_or_create(&ServerLabel {
                    server: s.name.clone(),
                })
                .set(s.cost);
            for (latency, kind, value) in [
                ("itl", "measured", s.itl),
                ("ttft", "measured", s.ttft),
                ("itl", "predicted", s.predicted_itl),
                ("ttft", "predicted", s.predicted_ttft),
                ("itl", "target", s.slo_itl),
                ("ttft", "target", s.slo_ttft),
            ] {
                // Nothing measured (no traffic, no Prometheus) is no sample, not a 0 ms.
                if !(value.is_finite() && value > 0.0) {
                    continue;
                }
                let label = LatencyLabel {
                    server: s.name.clone(),
                    latency,
                    kind,
                };
                self.latency_ms.get_or_create(&label).set(value);
                latencies.insert(label);
            }
            let info = InfoLabel {
                server: s.name.clone(),
                class: s.class.clone(),
                model: s.model.clone(),
                accelerator: s.accelerator.clone(),
                max_batch: s.max_batch.to_string(),
            };
            self.info.get_or_create(&info).set(1);
            infos.insert(info);
        }
        for gone in series.0.difference(&latencies) {
            self.latency_ms.remove(gone);
        }
        for gone in series.1.difference(&infos) {
            self.info.remove(gone);
        }
        *series = (latencies, infos);
    }

    /// Sets the number of invocations waiting for the next cycle.
    pub fn set_waiting(&self, n: usize) {
        self.waiting.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The text exposition format ([`inferno_telemetry::metrics`]).
    pub fn render(&self) -> String {
        inferno_telemetry::metrics::encode(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cycle::{ServerRecord, Timing};

    #[test]
    fn server_names_are_escaped_and_read_back() {
        let name = "we\"ird\\name\nx";
        let report = CycleReport {
            servers: vec![ServerRecord {
                name: name.into(),
                replicas: 2,
                ..ServerRecord::default()
            }],
            timing: Timing {
                total_ms: 1500.0,
                ..Timing::default()
            },
            total_cost: 12.5,
            ..CycleReport::default()
        };
        let metrics = Metrics::default();
        metrics.record(&report);
        metrics.set_waiting(3);
        let text = metrics.render();
        assert!(
            text.contains("inferno_controller_replicas{server=\"we\\\"ird\\\\name\\nx\"} 2"),
            "{text}"
        );
        let samples = inferno_telemetry::metrics::parse(&text).unwrap();
        let value = |name: &str, label: Option<(&str, &str)>| {
            samples
                .iter()
                .find(|s| s.name == name && label.is_none_or(|(k, v)| s.label(k) == Some(v)))
                .unwrap_or_else(|| panic!("no {name} {label:?} in\n{text}"))
                .value
        };
        assert_eq!(
            value("inferno_controller_replicas", Some(("server", name))),
            2.0
        );
        assert_eq!(
            value("inferno_controller_cycles_total", Some(("outcome", "ok"))),
            1.0
        );
        // The whole cycle is its own histogram, never a stage: the stages sum to their own time.
        assert_eq!(
            value(
                "inferno_controller_cycle_duration_seconds_sum",
                Some(("outcome", "ok"))
            ),
            1.5
        );
        assert_eq!(
            value(
                "inferno_controller_cycle_duration_seconds_count",
                Some(("outcome", "ok"))
            ),
            1.0
        );
        assert_eq!(
            value("inferno_controller_last_cycle_duration_seconds", None),
            1.5
        );
        assert_eq!(value("inferno_controller_total_cost", None), 12.5);
        assert_eq!(value("inferno_controller_invocations_waiting", None), 3.0);
    }

    /// What the alerts of deploy/monitoring stand on: every outcome's counter exists before
    /// its first cycle (so `increase()` sees the first failure), the time of the last ok
    /// cycle, and the solver's gap.
    #[test]
    fn alerts_have_their_series_from_the_start() {
        let metrics = Metrics::default();
        let samples = inferno_telemetry::metrics::parse(&metrics.render()).unwrap();
        for outcome in ["ok", "skipped", "failed"] {
            assert!(
                samples
                    .iter()
                    .any(|s| s.name == "inferno_controller_cycles_total"
                        && s.label("outcome") == Some(outcome)
                        && s.value == 0.0),
                "no zero series for {outcome}"
            );
        }
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        metrics.record(&CycleReport {
            gap: 0.25,
            ..CycleReport::default()
        });
        metrics.record(&CycleReport {
            outcome: CycleOutcome::Failed,
            gap: 0.9,
            ..CycleReport::default()
        });
        let text = metrics.render();
        let samples = inferno_telemetry::metrics::parse(&text).unwrap();
        let value = |name: &str| {
            samples
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("no {name} in\n{text}"))
                .value
        };
        assert_eq!(
            value("inferno_controller_solver_gap"),
            0.25,
            "the ok cycle's"
        );
        let last = value("inferno_controller_last_success_timestamp_seconds");
        assert!(last >= before.floor() && last < before + 60.0, "{last}");
    }

    /// Summing the per-stage series over `stage` gives the stages' time, not twice the cycle's:
    /// the whole cycle lives in `inferno_controller_cycle_duration_seconds` (buckets up to
    /// 120 s), and the stages are the four of a cycle. Before: a `stage="total"` among them.
    #[test]
    fn the_whole_cycle_is_not_a_stage() {
        let metrics = Metrics::default();
        metrics.record(&CycleReport {
            timing: Timing {
                load_ms: 100.0,
                collect_ms: 200.0,
                optimize_ms: 300.0,
                actuate_ms: 400.0,
                total_ms: 1100.0,
            },
            ..CycleReport::default()
        });
        let text = metrics.render();
        let samples = inferno_telemetry::metrics::parse(&text).unwrap();
        let sum = |name: &str| -> f64 {
            samples
                .iter()
                .filter(|s| s.name == name)
                .map(|s| s.value)
                .sum()
        };
        assert!(
            (sum("inferno_controller_stage_seconds_total") - 1.0).abs() < 1e-9,
            "{text}"
        );
        assert!(
            (sum("inferno_controller_last_stage_seconds") - 1.0).abs() < 1e-9,
            "{text}"
        );
        let mut stages: Vec<&str> = samples
            .iter()
            .filter(|s| s.name == "inferno_controller_stage_seconds_total")
            .filter_map(|s| s.label("stage"))
            .collect();
        stages.sort_unstable();
        assert_eq!(stages, ["apply", "collect", "load", "optimize"]);
        for line in [
            "# TYPE inferno_controller_cycle_duration_seconds histogram",
            "inferno_controller_cycle_duration_seconds_bucket{outcome=\"ok\",le=\"1\"} 0",
            "inferno_controller_cycle_duration_seconds_bucket{outcome=\"ok\",le=\"2.5\"} 1",
            "inferno_controller_cycle_duration_seconds_bucket{outcome=\"ok\",le=\"120\"} 1",
            "inferno_controller_cycle_duration_seconds_count{outcome=\"ok\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }

    #[test]
    fn tuned_parameters_and_startups_are_exported() {
        use crate::policy::tuning::{Params, TunedRecord};
        let metrics = Metrics::default();
        metrics.record(&CycleReport {
            tuning: vec![TunedRecord {
                model: "llama".into(),
                accelerator: "A100".into(),
                catalog: Params {
                    alpha: 10.0,
                    beta: 0.1,
                    gamma: 0.001,
                },
                in_use: Params {
                    alpha: 13.0,
                    beta: 0.12,
                    gamma: 0.0011,
                },
                sd: Params {
                    alpha: 0.5,
                    beta: 0.01,
                    gamma: 0.0001,
                },
                updates: 12,
                startup_seconds: 95.0,
                startup_samples: 3,
                ..TunedRecord::default()
            }],
            ..CycleReport::default()
        });
        let text = metrics.render();
        for line in [
            "inferno_controller_tuned_parameter{model=\"llama\",accelerator=\"A100\",parameter=\"alpha\"} 13.0",
            "inferno_controller_tuned_parameter_sd{model=\"llama\",accelerator=\"A100\",parameter=\"beta\"} 0.01",
            "inferno_controller_tuner_updates{model=\"llama\",accelerator=\"A100\"} 12",
            "inferno_controller_startup_seconds{model=\"llama\",accelerator=\"A100\"} 95.0",
        ] {
            assert!(text.contains(line), "no {line} in\n{text}");
        }
    }

    #[test]
    fn a_server_no_longer_placed_loses_its_replicas() {
        let server = |name: &str| ServerRecord {
            name: name.into(),
            replicas: 1,
            ..ServerRecord::default()
        };
        let metrics = Metrics::default();
        metrics.record(&CycleReport {
            servers: vec![server("a"), server("b")],
            ..CycleReport::default()
        });
        metrics.record(&CycleReport {
            servers: vec![server("b")],
            ..CycleReport::default()
        });
        let text = metrics.render();
        assert!(!text.contains("server=\"a\""), "{text}");
        assert!(
            text.contains("inferno_controller_replicas{server=\"b\"} 1"),
            "{text}"
        );
    }

    /// Per placed server: measured, predicted and target latencies, cost and what it runs on;
    /// a latency not measured has no sample, and a server's old GPU type leaves with the
    /// decision that moved it.
    #[test]
    fn per_server_latencies_cost_and_info() {
        let server = |accelerator: &str, itl: f64| ServerRecord {
            name: "s".into(),
            class: "Premium".into(),
            model: "llama".into(),
            accelerator: accelerator.into(),
            max_batch: 16,
            replicas: 2,
            cost: 80.0,
            itl,
            ttft: 0.0,
            predicted_itl: 20.5,
            predicted_ttft: 150.0,
            slo_itl: 24.0,
            slo_ttft: 500.0,
            ..ServerRecord::default()
        };
        let metrics = Metrics::default();
        metrics.record(&CycleReport {
            servers: vec![server("A100", 22.0)],
            ..CycleReport::default()
        });
        let text = metrics.render();
        for line in [
            "inferno_controller_server_latency_milliseconds{server=\"s\",latency=\"itl\",kind=\"measured\"} 22.0",
            "inferno_controller_server_latency_milliseconds{server=\"s\",latency=\"itl\",kind=\"predicted\"} 20.5",
            "inferno_controller_server_latency_milliseconds{server=\"s\",latency=\"ttft\",kind=\"target\"} 500.0",
            "inferno_controller_server_cost_cents_per_hour{server=\"s\"} 80.0",
            "inferno_controller_server_info{server=\"s\",class=\"Premium\",model=\"llama\",accelerator=\"A100\",max_batch=\"16\"} 1",
        ] {
            assert!(text.contains(line), "no {line} in\n{text}");
        }
        assert!(
            !text.contains("latency=\"ttft\",kind=\"measured\""),
            "{text}"
        );
        metrics.record(&CycleReport {
            servers: vec![server("H100", 0.0)],
            ..CycleReport::default()
        });
        let text = metrics.render();
        assert!(text.contains("accelerator=\"H100\""), "{text}");
        assert!(!text.contains("accelerator=\"A100\""), "{text}");
        assert!(!text.contains("kind=\"measured\""), "{text}");
        metrics.record(&CycleReport::default());
        let text = metrics.render();
        assert!(!text.contains("server=\"s\""), "{text}");
    }
}
