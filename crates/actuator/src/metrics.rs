//! `/metrics` of the actuator: desired and current replicas per server (the desired gauge is
//! what HPA or KEDA can follow in recommend mode), applied changes, failures and refusals.

use crate::guard::Code;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

/// Identity of a managed Deployment in metric labels.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// Server name.
    pub server: String,
    /// Namespace.
    pub namespace: String,
    /// Deployment name.
    pub deployment: String,
}

#[derive(Debug, Default)]
struct Inner {
    replicas: BTreeMap<Target, (i64, i64)>,
    changes: u64,
    failures: u64,
    refusals: BTreeMap<Code, u64>,
}

/// The actuator's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Records the desired and current replicas of a Deployment.
    pub fn replicas(&self, target: Target, desired: i64, current: i64) {
        self.lock().replicas.insert(target, (desired, current));
    }

    /// Counts an applied change.
    pub fn changed(&self) {
        self.lock().changes += 1;
    }

    /// Counts a failed Deployment.
    pub fn failed(&self) {
        self.lock().failures += 1;
    }

    /// Counts a refused Deployment.
    pub fn refused(&self, code: Code) {
        *self.lock().refusals.entry(code).or_default() += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        let label = |t: &Target| {
            format!(
                "server=\"{}\",namespace=\"{}\",deployment=\"{}\"",
                escape(&t.server),
                escape(&t.namespace),
                escape(&t.deployment)
            )
        };
        let _ = writeln!(
            out,
            "# HELP inferno_desired_replicas Replicas Inferno decided for the Deployment."
        );
        let _ = writeln!(out, "# TYPE inferno_desired_replicas gauge");
        for (t, (desired, _)) in &inner.replicas {
            let _ = writeln!(out, "inferno_desired_replicas{{{}}} {desired}", label(t));
        }
        let _ = writeln!(
            out,
            "# HELP inferno_current_replicas spec.replicas of the Deployment when last seen."
        );
        let _ = writeln!(out, "# TYPE inferno_current_replicas gauge");
        for (t, (_, current)) in &inner.replicas {
            let _ = writeln!(out, "inferno_current_replicas{{{}}} {current}", label(t));
        }
        let _ = writeln!(
            out,
            "# HELP inferno_actuator_changes_total Deployment patches applied."
        );
        let _ = writeln!(out, "# TYPE inferno_actuator_changes_total counter");
        let _ = writeln!(out, "inferno_actuator_changes_total {}", inner.changes);
        let _ = writeln!(
            out,
            "# HELP inferno_actuator_failures_total Deployments that could not be read or patched."
        );
        let _ = writeln!(out, "# TYPE inferno_actuator_failures_total counter");
        let _ = writeln!(out, "inferno_actuator_failures_total {}", inner.failures);
        let _ = writeln!(
            out,
            "# HELP inferno_actuator_refusals_total Deployments refused (not managed by this \
             actuator, or the request out of range), by reason; none of them was patched."
        );
        let _ = writeln!(out, "# TYPE inferno_actuator_refusals_total counter");
        // Every reason from the start, so a rate() sees the first refusal.
        for code in Code::ALL {
            let n = inner.refusals.get(&code).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "inferno_actuator_refusals_total{{reason=\"{code}\"}} {n}"
            );
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
