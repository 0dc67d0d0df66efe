//! `/metrics` of the controller: cycles by outcome, stage durations, total cost, replicas per
//! placed server, invocations waiting for the next cycle.

use crate::cycle::{CycleOutcome, CycleReport};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct Inner {
    outcomes: BTreeMap<CycleOutcome, u64>,
    stage_seconds: BTreeMap<&'static str, f64>,
    last_stage_seconds: BTreeMap<&'static str, f64>,
    total_cost: f64,
    replicas: BTreeMap<String, i64>,
    waiting: usize,
}

/// The controller's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Records a finished cycle.
    pub fn record(&self, r: &CycleReport) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *m.outcomes.entry(r.outcome).or_default() += 1;
        let t = &r.timing;
        for (stage, ms) in [
            ("load", t.load_ms),
            ("collect", t.collect_ms),
            ("optimize", t.optimize_ms),
            ("apply", t.actuate_ms),
            ("total", t.total_ms),
        ] {
            *m.stage_seconds.entry(stage).or_default() += ms / 1e3;
            m.last_stage_seconds.insert(stage, ms / 1e3);
        }
        if r.outcome == CycleOutcome::Ok {
            m.total_cost = r.total_cost;
            // An unplaced server has no decided replica count: a 0 here would read as a
            // decision to scale it to zero, which nobody made.
            m.replicas = r
                .servers
                .iter()
                .filter(|s| s.unplaced.is_empty())
                .map(|s| (s.name.clone(), s.replicas))
                .collect();
        }
    }

    /// Sets the number of invocations waiting for the next cycle.
    pub fn set_waiting(&self, n: usize) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).waiting = n;
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP inferno_controller_cycles_total Cycles by outcome (ok, skipped, failed)."
        );
        let _ = writeln!(out, "# TYPE inferno_controller_cycles_total counter");
        for (outcome, n) in &m.outcomes {
            let _ = writeln!(
                out,
                "inferno_controller_cycles_total{{outcome=\"{}\"}} {n}",
                outcome.name()
            );
        }
        let _ = writeln!(
            out,
            "# HELP inferno_controller_stage_seconds_total Time spent per stage."
        );
        let _ = writeln!(out, "# TYPE inferno_controller_stage_seconds_total counter");
        for (stage, s) in &m.stage_seconds {
            let _ = writeln!(
                out,
                "inferno_controller_stage_seconds_total{{stage=\"{stage}\"}} {s}"
            );
        }
        let _ = writeln!(out, "# HELP inferno_controller_last_stage_seconds Duration of each stage in the last cycle.");
        let _ = writeln!(out, "# TYPE inferno_controller_last_stage_seconds gauge");
        for (stage, s) in &m.last_stage_seconds {
            let _ = writeln!(
                out,
                "inferno_controller_last_stage_seconds{{stage=\"{stage}\"}} {s}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP inferno_controller_total_cost Total cost of the last decision, cents/hour."
        );
        let _ = writeln!(out, "# TYPE inferno_controller_total_cost gauge");
        let _ = writeln!(out, "inferno_controller_total_cost {}", m.total_cost);
        let _ = writeln!(
            out,
            "# HELP inferno_controller_invocations_waiting Invocations waiting for the next cycle (they share it)."
        );
        let _ = writeln!(out, "# TYPE inferno_controller_invocations_waiting gauge");
        let _ = writeln!(out, "inferno_controller_invocations_waiting {}", m.waiting);
        let _ = writeln!(
            out,
            "# HELP inferno_controller_replicas Replicas per placed server after the cycle (what the actuator applied)."
        );
        let _ = writeln!(out, "# TYPE inferno_controller_replicas gauge");
        for (server, n) in &m.replicas {
            let _ = writeln!(
                out,
                "inferno_controller_replicas{{server=\"{}\"}} {n}",
                server.replace('"', "\\\"")
            );
        }
        out
    }
}
