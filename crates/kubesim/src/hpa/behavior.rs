//! From the replica count the metrics ask for to the one the HPA sets, as Kubernetes'
//! HPA controller does with `spec.behavior`: the recommendation is stabilized (scale up only to
//! the lowest recommendation of the scale-up window, down only to the highest of the
//! scale-down window), then held within the scaling policies (how many pods, or what share,
//! may be added or removed per period, counting the scale events of that period) and within
//! `minReplicas`/`maxReplicas`. An HPA without `behavior` gets the defaults of `autoscaling/v2`
//! (`super::spec`). Times are cluster seconds since the controller started.

use serde_json::Value;

/// How the policies of one direction combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Select {
    /// The policy that allows the largest change.
    Max,
    /// The policy that allows the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// One scaling policy: at most `value` pods, or `value` percent, per `period` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Policy {
    /// `Percent` (else `Pods`).
    pub(crate) percent: bool,
    pub(crate) value: i64,
    pub(crate) period: f64,
}

/// The scaling rules of one direction.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rules {
    /// Stabilization window, seconds.
    pub(crate) window: f64,
    pub(crate) select: Select,
    pub(crate) policies: Vec<Policy>,
}

impl Rules {
    /// The rules of `r` (a filled-in `HPAScalingRules`); an unset window is `default_window`.
    fn from_spec(r: &Value, default_window: f64) -> Self {
        let select = match r["selectPolicy"].as_str() {
            Some("Min") => Select::Min,
            Some("Disabled") => Select::Disabled,
            _ => Select::Max,
        };
        let policies = r["policies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| Policy {
                percent: p["type"] == "Percent",
                value: p["value"].as_i64().unwrap_or(0),
                period: p["periodSeconds"].as_f64().unwrap_or(15.0),
            })
            .collect();
        Self {
            window: r["stabilizationWindowSeconds"]
                .as_f64()
                .unwrap_or(default_window),
            select,
            policies,
        }
    }

    fn longest_period(&self) -> f64 {
        self.policies.iter().map(|p| p.period).fold(0.0, f64::max)
    }
}

/// Both directions.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Behavior {
    pub(crate) up: Rules,
    pub(crate) down: Rules,
}

impl Behavior {
    /// The behavior of an HPA's `spec.behavior` (`Null` when unset), defaults filled in; an
    /// unset scale-down window is `downscale_window` seconds.
    pub(crate) fn from_spec(behavior: &Value, downscale_window: f64) -> Self {
        let b = super::spec::behavior_with_defaults(behavior);
        Self {
            up: Rules::from_spec(&b["scaleUp"], 0.0),
            down: Rules::from_spec(&b["scaleDown"], downscale_window),
        }
    }
}

/// What one HPA's controller remembers between syncs.
#[derive(Debug, Clone, Default)]
pub(crate) struct History {
    /// Recommendations (time, replicas) before stabilization.
    recommendations: Vec<(f64, i64)>,
    /// Scale-ups (time, replicas added).
    ups: Vec<(f64, i64)>,
    /// Scale-downs (time, replicas removed).
    downs: Vec<(f64, i64)>,
}

/// The replica count after stabilization and policies, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Normalized {
    /// What the HPA sets.
    pub(crate) replicas: i64,
    /// The reason and message of condition `AbleToScale` (True).
    pub(crate) able: (&'static str, &'static str),
    /// Whether the count was limited, and the reason and message of `ScalingLimited`.
    pub(crate) limited: (bool, &'static str, &'static str),
}

fn change_within(events: &[(f64, i64)], now: f64, period: f64) -> i64 {
    events
        .iter()
        .filter(|(t, _)| *t > now - period)
        .map(|(_, n)| n)
        .sum()
}

/// The most replicas the scale-up policies allow now.
fn scale_up_limit(current: i64, h: &History, now: f64, rules: &Rules) -> i64 {
    let pick = match rules.select {
        Select::Disabled => return current,
        Select::Min => i64::min,
        Select::Max => i64::max,
    };
    let mut out: Option<i64> = None;
    for p in &rules.policies {
        let start =
            current - change_within(&h.ups, now, p.period) + change_within(&h.downs, now, p.period);
        let proposed = if p.percent {
            // Rounded up, or a small deployment could never grow.
            (start as f64 * (1.0 + p.value as f64 / 100.0)).ceil() as i64
        } else {
            start + p.value
        };
        out = Some(out.map_or(proposed, |o| pick(o, proposed)));
    }
    out.unwrap_or(current)
}

/// The fewest replicas the scale-down policies allow now.
fn scale_down_limit(current: i64, h: &History, now: f64, rules: &Rules) -> i64 {
    let pick = match rules.select {
        Select::Disabled => return current,
        Select::Min => i64::max,
        Select::Max => i64::min,
    };
    let mut out: Option<i64> = None;
    for p in &rules.policies {
        let start =
            current - change_within(&h.ups, now, p.period) + change_within(&h.downs, now, p.period);
        let proposed = if p.percent {
            (start as f64 * (1.0 - p.value as f64 / 100.0)) as i64
        } else {
            start - p.value
        };
        out = Some(out.map_or(proposed, |o| pick(o, proposed)));
    }
    out.unwrap_or(current)
}

/// Stabilizes `desired` over the windows, then limits it by the policies and `min`/`max`;
/// records the recommendation in `h`.
pub(crate) fn normalize(
    b: &Behavior,
    h: &mut History,
    now: f64,
    current: i64,
    desired: i64,
    min: i64,
    max: i64,
) -> Normalized {
    // Stabilization: up to the lowest recommendation of the scale-up window, down to the
    // highest of the scale-down window (the new one counts in both).
    let (up_cutoff, down_cutoff) = (now - b.up.window, now - b.down.window);
    let (mut up, mut down) = (desired, desired);
    for &(t, r) in &h.recommendations {
        if t > up_cutoff {
            up = up.min(r);
        }
        if t > down_cutoff {
            down = down.max(r);
        }
    }
    h.recommendations
        .retain(|&(t, _)| t > up_cutoff || t > down_cutoff);
    h.recommendations.push((now, desired));
    let stabilized = current.max(up).min(down);
    let able = if stabilized == desired {
        ("ReadyForNewScale", "recommended size matches current size")
    } else if stabilized < desired {
        (
            "ScaleUpStabilized",
            "recent recommendations were lower than current one, applying the lowest recent \
             recommendation",
        )
    } else {
        (
            "ScaleDownStabilized",
            "recent recommendations were higher than current one, applying the highest recent \
             recommendation",
        )
    };
    let within = (
        "DesiredWithinRange",
        "the desired count is within the acceptable range",
    );
    let (replicas, reason, message) = if stabilized > current {
        let limit = scale_up_limit(current, h, now, &b.up).max(current);
        let (allowed, reason, message) = if max > limit {
            (
                limit,
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate",
            )
        } else {
            (
                max,
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        };
        if stabilized > allowed {
            (allowed, reason, message)
        } else {
            (stabilized, within.0, within.1)
        }
    } else if stabilized < current {
        let limit = scale_down_limit(current, h, now, &b.down).min(current);
        let (allowed, reason, message) = if min < limit {
            (
                limit,
                "ScaleDownLimit",
                "the desired replica count is decreasing faster than the maximum scale rate",
            )
        } else {
            (
                min,
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        };
        if stabilized < allowed {
            (allowed, reason, message)
        } else {
            (stabilized, within.0, within.1)
        }
    } else {
        (stabilized, within.0, within.1)
    };
    Normalized {
        replicas,
        able,
        limited: (replicas != stabilized, reason, message),
    }
}

/// Records a scale from `from` to `to` replicas at `now`, forgetting the events older than the
/// longest policy period of their direction.
pub(crate) fn record_scale(b: &Behavior, h: &mut History, now: f64, from: i64, to: i64) {
    let (up_keep, down_keep) = (b.up.longest_period(), b.down.longest_period());
    h.ups.retain(|&(t, _)| t > now - up_keep);
    h.downs.retain(|&(t, _)| t > now - down_keep);
    if to > from {
        h.ups.push((now, to - from));
    } else if to < from {
        h.downs.push((now, from - to));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn follow() -> Behavior {
        Behavior::from_spec(
            &json!({"scaleUp": {"stabilizationWindowSeconds": 0,
                                "policies": [{"type": "Pods", "value": 100, "periodSeconds": 15}]},
                    "scaleDown": {"stabilizationWindowSeconds": 0,
                                  "policies": [{"type": "Percent", "value": 100,
                                                "periodSeconds": 15}]}}),
            300.0,
        )
    }

    /// Runs syncs every 15 s asking for `asks`; returns the replicas after each.
    fn run(b: &Behavior, start: i64, asks: &[i64], min: i64, max: i64) -> Vec<i64> {
        let mut h = History::default();
        let mut current = start;
        let mut out = Vec::new();
        for (i, &desired) in asks.iter().enumerate() {
            let now = 15.0 * i as f64;
            let n = normalize(b, &mut h, now, current, desired, min, max);
            if n.replicas != current {
                record_scale(b, &mut h, now, current, n.replicas);
                current = n.replicas;
            }
            out.push(current);
        }
        out
    }

    #[test]
    fn without_windows_and_with_wide_policies_the_hpa_follows_at_once() {
        assert_eq!(
            run(&follow(), 3, &[5, 2, 40, 1, 7], 1, 100),
            [5, 2, 40, 1, 7]
        );
        // Only minReplicas and maxReplicas hold it.
        assert_eq!(run(&follow(), 3, &[500, 0], 1, 100), [100, 1]);
    }

    #[test]
    fn the_defaults_hold_a_scale_down_for_five_minutes_and_limit_scale_ups() {
        let defaults = Behavior::from_spec(&Value::Null, 300.0);
        assert_eq!(defaults.down.window, 300.0);
        assert_eq!(defaults.up.window, 0.0);
        // Down from 5 to 2 at t=0: the highest recommendation of the last 300 s is the first
        // one (5) until it leaves the window at t=300 (the 21st sync).
        let asks = [vec![5], vec![2; 21]].concat();
        let got = run(&defaults, 5, &asks, 1, 100);
        assert!(got[..20].iter().all(|&r| r == 5), "{got:?}");
        assert_eq!(got[20..], [2, 2]);
        // Up from 2 to 40: at most max(4 pods, 100 %) more per 15 s, counting the period's
        // earlier scale-ups: 2 -> 6 -> 12 -> 24 -> 40.
        assert_eq!(run(&defaults, 2, &[40; 5], 1, 100), [6, 12, 24, 40, 40]);
    }

    #[test]
    fn reasons() {
        let b = follow();
        let mut h = History::default();
        let n = normalize(&b, &mut h, 0.0, 3, 500, 1, 10);
        assert_eq!(n.replicas, 10);
        assert_eq!(
            n.limited,
            (
                true,
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count"
            )
        );
        let n = normalize(&b, &mut h, 15.0, 3, 0, 2, 10);
        assert_eq!((n.replicas, n.limited.1), (2, "TooFewReplicas"));
        let n = normalize(&b, &mut h, 30.0, 3, 4, 1, 10);
        assert_eq!(
            (n.replicas, n.limited.0, n.able.0),
            (4, false, "ReadyForNewScale")
        );
        let slow = Behavior::from_spec(
            &json!({"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]},
                    "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Disabled"}}),
            300.0,
        );
        let mut h = History::default();
        let n = normalize(&slow, &mut h, 0.0, 3, 6, 1, 10);
        assert_eq!((n.replicas, n.limited.1), (4, "ScaleUpLimit"));
        record_scale(&slow, &mut h, 0.0, 3, 4);
        // The period's scale-up counts: no more until it has passed.
        assert_eq!(normalize(&slow, &mut h, 30.0, 4, 6, 1, 10).replicas, 4);
        assert_eq!(normalize(&slow, &mut h, 61.0, 4, 6, 1, 10).replicas, 5);
        // Scale-down disabled; the window's higher recommendations are reported.
        let n = normalize(&slow, &mut h, 62.0, 5, 2, 1, 10);
        assert_eq!(n.replicas, 5);
        assert_eq!(n.able.0, "ScaleDownStabilized");
    }
}
