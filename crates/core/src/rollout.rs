//! How a Deployment replaces its pods when its pod template changes (`spec.strategy`): what a
//! rollout of a new batch cap or accelerator takes down while the new pods load.
//!
//! Kubernetes resolves `maxUnavailable` and `maxSurge` against the desired replicas, the first
//! rounded down and the second up, and takes one pod down when both come to 0 (a rollout must
//! progress). A `Recreate` Deployment takes every pod down before the first new one starts.

use std::fmt;
use std::str::FromStr;

/// An int-or-percent of the strategy, as Kubernetes writes it (`1`, `"25%"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// A number of pods.
    Pods(i64),
    /// A percentage of the desired replicas.
    Percent(i64),
}

impl Budget {
    /// Resolved against `replicas`, a percentage rounded up or down.
    fn of(self, replicas: i64, round_up: bool) -> i64 {
        match self {
            Self::Pods(n) => n,
            Self::Percent(p) if round_up => (replicas * p + 99).div_euclid(100),
            Self::Percent(p) => (replicas * p).div_euclid(100),
        }
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pods(n) => write!(f, "{n}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl FromStr for Budget {
    type Err = String;

    /// `"3"` or `"25%"`, not negative.
    fn from_str(s: &str) -> Result<Self, String> {
        let (digits, percent) = match s.strip_suffix('%') {
            Some(d) => (d, true),
            None => (s, false),
        };
        let n: i64 = digits
            .parse()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("{s:?} is not a count or a percentage (\"1\", \"25%\")"))?;
        Ok(if percent {
            Self::Percent(n)
        } else {
            Self::Pods(n)
        })
    }
}

/// A Deployment's rollout strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// `RollingUpdate`: at most `max_unavailable` pods below the desired count and
    /// `max_surge` above it while the rollout runs.
    Rolling {
        /// `maxUnavailable`.
        max_unavailable: Budget,
        /// `maxSurge`.
        max_surge: Budget,
    },
    /// `Recreate`: every old pod goes before a new one starts.
    Recreate,
}

impl Default for Strategy {
    /// Kubernetes' default: a rolling update with 25% either way.
    fn default() -> Self {
        Self::Rolling {
            max_unavailable: Budget::Percent(25),
            max_surge: Budget::Percent(25),
        }
    }
}

impl Strategy {
    /// How many of `replicas` desired pods a rollout may take down at once: all of them for
    /// `Recreate`, else `maxUnavailable` rounded down (1 when it and `maxSurge` rounded up
    /// both come to 0), at most `replicas`.
    pub fn unavailable(self, replicas: i64) -> i64 {
        let replicas = replicas.max(0);
        match self {
            Self::Recreate => replicas,
            Self::Rolling {
                max_unavailable,
                max_surge,
            } => {
                let down = max_unavailable.of(replicas, false);
                let up = max_surge.of(replicas, true);
                let down = if down == 0 && up == 0 { 1 } else { down };
                down.min(replicas)
            }
        }
    }

    /// The fewest desired replicas whose rollout keeps at least `serving` pods available (at
    /// least `serving`); None when no count does (`Recreate`, or `maxUnavailable` of 100%).
    pub fn keeping(self, serving: i64) -> Option<i64> {
        if serving <= 0 {
            return Some(serving.max(0));
        }
        // `replicas - unavailable(replicas)` grows by at most one a step and, unless it never
        // grows, reaches `serving` within `serving / (1 - fraction)` steps: 100 times
        // `serving` covers any fraction up to 99%.
        (serving..=serving.saturating_mul(100)).find(|&r| r - self.unavailable(r) >= serving)
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Recreate => write!(f, "Recreate"),
            Self::Rolling {
                max_unavailable,
                max_surge,
            } => write!(f, "maxUnavailable {max_unavailable}, maxSurge {max_surge}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rolling(down: &str, up: &str) -> Strategy {
        Strategy::Rolling {
            max_unavailable: down.parse().unwrap(),
            max_surge: up.parse().unwrap(),
        }
    }

    #[test]
    fn percentages_round_as_kubernetes_rounds_them() {
        let s = Strategy::default();
        // 25% of 4 is 1 down; of 3, 0 down (surge 1): the rollout then keeps them all.
        assert_eq!(s.unavailable(4), 1);
        assert_eq!(s.unavailable(3), 0);
        assert_eq!(s.unavailable(20), 5);
        // Both zero after rounding: one pod goes, or the rollout would never progress.
        assert_eq!(rolling("0", "0%").unavailable(3), 1);
        assert_eq!(rolling("2", "1").unavailable(1), 1);
        assert_eq!(Strategy::Recreate.unavailable(6), 6);
    }

    #[test]
    fn a_rollout_keeps_its_pods_serving_with_one_more_replica_or_a_few() {
        let s = Strategy::default();
        // 4 running: at 4 one goes down, at 5 (one down, of 5) four serve.
        assert_eq!(s.keeping(4), Some(5));
        assert_eq!(s.keeping(3), Some(3));
        // 20: 26 - 6 = 20.
        assert_eq!(s.keeping(20), Some(26));
        assert_eq!(rolling("0", "1").keeping(7), Some(7));
        assert_eq!(rolling("1", "0").keeping(7), Some(8));
        assert_eq!(Strategy::Recreate.keeping(2), None);
        assert_eq!(rolling("100%", "0").keeping(2), None);
        assert_eq!(s.keeping(0), Some(0));
    }

    #[test]
    fn a_budget_reads_as_kubernetes_writes_it() {
        assert_eq!("25%".parse::<Budget>(), Ok(Budget::Percent(25)));
        assert_eq!("3".parse::<Budget>(), Ok(Budget::Pods(3)));
        let err = "-1".parse::<Budget>().unwrap_err();
        assert!(err.contains("\"-1\""), "{err}");
        assert!("x%".parse::<Budget>().is_err());
        assert_eq!(Budget::Percent(25).to_string(), "25%");
    }
}
