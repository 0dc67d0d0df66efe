//! `/metrics` of the actuator: desired and current replicas per server (the desired gauge is
//! what HPA or KEDA can follow in recommend mode), applied changes, failures and refusals.
//!
//! The replica gauges carry the component in their names, as the actuator's other metrics do:
//! `inferno_actuator_desired_replicas` and `inferno_actuator_current_replicas` (before:
//! `inferno_desired_replicas` and `inferno_current_replicas`).

use crate::guard::Code;
use inferno_telemetry::metrics::Registry;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

/// Identity of a managed Deployment in metric labels (in this order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, EncodeLabelSet)]
pub struct Target {
    /// Server name.
    pub server: String,
    /// Namespace.
    pub namespace: String,
    /// Deployment name.
    pub deployment: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// The actuator's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    desired: Family<Target, Gauge>,
    current: Family<Target, Gauge>,
    changes: Counter,
    failures: Counter,
    refusals: Family<ReasonLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let desired = Family::default();
        registry.register(
            "inferno_actuator_desired_replicas",
            "Replicas Inferno decided for the Deployment",
            desired.clone(),
        );
        let current = Family::default();
        registry.register(
            "inferno_actuator_current_replicas",
            "spec.replicas of the Deployment after the actuator acted: the patched count when it \
             patched, else the count it read (unchanged, dry run, recommend mode, a failed patch)",
            current.clone(),
        );
        let changes = Counter::default();
        registry.register(
            "inferno_actuator_changes",
            "Deployment patches applied",
            changes.clone(),
        );
        let failures = Counter::default();
        registry.register(
            "inferno_actuator_failures",
            "Deployments that could not be read or patched",
            failures.clone(),
        );
        let refusals = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "inferno_actuator_refusals",
            "Deployments refused (not managed by this actuator, or the request out of range), \
             by reason; none of them was patched",
            refusals.clone(),
        );
        // Every reason from the start, so a rate() sees the first refusal.
        for code in Code::ALL {
            let _ = refusals.get_or_create(&ReasonLabel {
                reason: code.as_str(),
            });
        }
        Self {
            registry,
            desired,
            current,
            changes,
            failures,
            refusals,
        }
    }
}

impl Metrics {
    /// Records the desired and current replicas of a Deployment.
    pub fn replicas(&self, target: Target, desired: i64, current: i64) {
        self.desired.get_or_create(&target).set(desired);
        self.current.get_or_create(&target).set(current);
    }

    /// Records the current replicas of a Deployment (what a patch left it with).
    pub fn current(&self, target: &Target, current: i64) {
        self.current.get_or_create(target).set(current);
    }

    /// Counts an applied change.
    pub fn changed(&self) {
        self.changes.inc();
    }

    /// Counts a failed Deployment.
    pub fn failed(&self) {
        self.failures.inc();
    }

    /// Counts a refused Deployment.
    pub fn refused(&self, code: Code) {
        self.refusals
            .get_or_create(&ReasonLabel {
                reason: code.as_str(),
            })
            .inc();
    }

    /// The text exposition format ([`inferno_telemetry::metrics`]).
    pub fn render(&self) -> String {
        inferno_telemetry::metrics::encode(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_read_back() {
        let awkward = "we\"ird\\name\nx";
        let metrics = Metrics::default();
        metrics.replicas(
            Target {
                server: awkward.into(),
                namespace: "infer".into(),
                deployment: "d".into(),
            },
            3,
            2,
        );
        metrics.changed();
        metrics.refused(Code::OutOfRange);
        let text = metrics.render();
        assert!(
            text.lines().any(|l| {
                l
                == "inferno_actuator_desired_replicas{server=\"we\\\"ird\\\\name\\nx\",namespace=\"infer\",\
                    deployment=\"d\"} 3"
            }),
            "{text}"
        );
        let samples = inferno_telemetry::metrics::parse(&text).unwrap();
        let find = |name: &str, key: &str, value: &str| {
            samples
                .iter()
                .find(|s| s.name == name && s.label(key) == Some(value))
                .unwrap_or_else(|| panic!("no {name} {key}={value:?} in\n{text}"))
                .value
        };
        assert_eq!(
            find("inferno_actuator_desired_replicas", "server", awkward),
            3.0
        );
        assert_eq!(
            find("inferno_actuator_current_replicas", "server", awkward),
            2.0
        );
        assert_eq!(
            find("inferno_actuator_refusals_total", "reason", "out-of-range"),
            1.0
        );
        // Every reason is there before its first refusal.
        for code in Code::ALL {
            find("inferno_actuator_refusals_total", "reason", code.as_str());
        }
        let changes = samples
            .iter()
            .find(|s| s.name == "inferno_actuator_changes_total")
            .unwrap();
        assert_eq!((changes.labels.len(), changes.value), (0, 1.0));
        assert!(text.contains("inferno_actuator_failures_total 0"), "{text}");
    }
}
