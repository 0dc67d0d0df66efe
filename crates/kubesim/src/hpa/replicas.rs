//! The replica count one External metric asks for, as Kubernetes' replica calculator computes
//! it, in thousandths (the metric values and the target as `MilliValue()`s):
//! - target `AverageValue`: `ceil(sum of the values / target)`, so with a target of 1 the
//!   count is the metric itself; the current count (`status.replicas` of the target's scale)
//!   is kept when the ratio of the sum to `target * current` is within the tolerance;
//! - target `Value`: the ratio of the sum to the target times the ready pods, rounded up
//!   (or the ratio alone from 0 replicas); within the tolerance, the current count.

/// How far the usage ratio may be from 1 before the HPA acts: kube-controller-manager's
/// `--horizontal-pod-autoscaler-tolerance` (0.1) both ways.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tolerance {
    /// Below 1.
    pub(crate) down: f64,
    /// Above 1.
    pub(crate) up: f64,
}

impl Tolerance {
    fn within(self, ratio: f64) -> bool {
        (1.0 - self.down..=1.0 + self.up).contains(&ratio)
    }
}

/// The milli-value of a metric sample, as prometheus-adapter converts it (truncated).
pub(crate) fn sample_milli(v: f64) -> i64 {
    (v * 1000.0) as i64
}

/// Target `AverageValue`: the replica count, and the current average per replica
/// (milli, what `status.currentMetrics` shows), from the sum of the values `usage` and the
/// target, both milli.
pub(crate) fn per_pod(status_replicas: i64, target: i64, usage: i64, tol: Tolerance) -> (i64, i64) {
    let ratio = usage as f64 / (target as f64 * status_replicas as f64);
    let replicas = if status_replicas > 0 && tol.within(ratio) {
        status_replicas
    } else {
        (usage as f64 / target as f64).ceil() as i64
    };
    let average = if status_replicas > 0 {
        (usage as f64 / status_replicas as f64).ceil() as i64
    } else {
        usage
    };
    (replicas, average)
}

/// Target `Value`: the replica count from the sum `usage`, the target (both milli), the
/// target's `spec.replicas` and its ready pods.
pub(crate) fn by_value(
    spec_replicas: i64,
    ready_pods: i64,
    target: i64,
    usage: i64,
    tol: Tolerance,
) -> i64 {
    let ratio = usage as f64 / target as f64;
    if spec_replicas == 0 {
        ratio.ceil() as i64
    } else if tol.within(ratio) {
        spec_replicas
    } else {
        (ratio * ready_pods as f64).ceil() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: Tolerance = Tolerance { down: 0.1, up: 0.1 };

    #[test]
    fn an_average_value_of_one_gives_the_metric() {
        for (current, metric) in [(3, 5), (5, 2), (1, 40), (40, 1), (0, 3), (2, 2)] {
            let (replicas, _) = per_pod(current, 1000, metric * 1000, TOL);
            assert_eq!(replicas, metric, "{current} -> {metric}");
        }
        // The average shown is the sum over the current replicas.
        assert_eq!(per_pod(3, 1000, 5000, TOL), (5, 1667));
        // A fractional metric is rounded up.
        assert_eq!(per_pod(2, 1000, 2500, TOL).0, 3);
        // Target 2: one replica per two units.
        assert_eq!(per_pod(2, 2000, 7000, TOL).0, 4);
    }

    #[test]
    fn a_change_within_the_tolerance_is_ignored() {
        // 20 -> 21 is 5 %: kept at 20. 20 -> 23 is 15 %: followed.
        assert_eq!(per_pod(20, 1000, 21_000, TOL).0, 20);
        assert_eq!(per_pod(20, 1000, 19_000, TOL).0, 20);
        assert_eq!(per_pod(20, 1000, 23_000, TOL).0, 23);
        // Up to 9 replicas every change of one is more than 10 %.
        assert_eq!(per_pod(9, 1000, 10_000, TOL).0, 10);
        assert_eq!(
            per_pod(20, 1000, 21_000, Tolerance { down: 0.0, up: 0.0 }).0,
            21
        );
    }

    #[test]
    fn a_value_target_scales_the_ready_pods() {
        // Twice the target with 3 ready pods: 6.
        assert_eq!(by_value(3, 3, 1000, 2000, TOL), 6);
        // Within the tolerance: the current count.
        assert_eq!(by_value(3, 3, 1000, 1050, TOL), 3);
        // From zero: the ratio.
        assert_eq!(by_value(0, 0, 1000, 2500, TOL), 3);
        assert_eq!(sample_milli(2.9999), 2999);
    }
}
