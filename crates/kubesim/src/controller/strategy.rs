//! The Deployment controller's rollout arithmetic, as pure functions (Kubernetes'
//! `rolloutRolling` / `rolloutRecreate` and their helpers): given the desired replicas, the
//! strategy and what each ReplicaSet has, the ReplicaSet sizes after one sync.

use serde_json::Value;

/// A Deployment's strategy, resolved against its replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// `RollingUpdate`: at most `max_surge` pods above the desired count, at most
    /// `max_unavailable` below it.
    Rolling {
        /// `maxSurge`, rounded up.
        max_surge: i64,
        /// `maxUnavailable`, rounded down (1 when both would be 0), at most the replicas.
        max_unavailable: i64,
    },
    /// `Recreate`: every old pod gone before a new one starts.
    Recreate,
}

/// An int-or-percent (`1`, `"25%"`) resolved against `total`; percentages round up or down.
/// Missing: `default_pct`. Malformed: 0 (validation refuses those).
pub(crate) fn scaled(v: &Value, total: i64, round_up: bool, default_pct: i64) -> i64 {
    let pct = match v {
        Value::Number(n) => return n.as_i64().unwrap_or(0).max(0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) => p,
            None => return 0,
        },
        _ => default_pct,
    };
    let scaled = total * pct;
    if round_up {
        (scaled + 99).div_euclid(100)
    } else {
        scaled.div_euclid(100)
    }
}

impl Strategy {
    /// The strategy of Deployment `d` for its `spec.replicas`.
    pub(crate) fn of(d: &Value) -> Self {
        let strategy = &d["spec"]["strategy"];
        if strategy["type"] == "Recreate" {
            return Self::Recreate;
        }
        let desired = d["spec"]["replicas"].as_i64().unwrap_or(1).max(0);
        let ru = &strategy["rollingUpdate"];
        let max_surge = scaled(&ru["maxSurge"], desired, true, 25);
        let mut max_unavailable = scaled(&ru["maxUnavailable"], desired, false, 25);
        // As Kubernetes' ResolveFenceposts: both zero after rounding would never progress.
        if max_surge == 0 && max_unavailable == 0 {
            max_unavailable = 1;
        }
        Self::Rolling {
            max_surge,
            max_unavailable: max_unavailable.min(desired),
        }
    }

    /// How many pods may be unavailable (0 for Recreate).
    pub(crate) fn max_unavailable(self) -> i64 {
        match self {
            Self::Rolling {
                max_unavailable, ..
            } => max_unavailable,
            Self::Recreate => 0,
        }
    }

    /// How many pods may exist above the desired count (0 for Recreate).
    pub(crate) fn max_surge(self) -> i64 {
        match self {
            Self::Rolling { max_surge, .. } => max_surge,
            Self::Recreate => 0,
        }
    }
}

/// A ReplicaSet as the rollout sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RsState {
    /// `spec.replicas`.
    pub(crate) replicas: i64,
    /// Its pods that are Ready and not terminating.
    pub(crate) available: i64,
    /// Its `deployment.kubernetes.io/desired-replicas` annotation: the Deployment's replicas
    /// when the controller last sized it.
    pub(crate) desired_annotation: Option<i64>,
    /// Its `deployment.kubernetes.io/max-replicas` annotation: replicas + maxSurge then.
    pub(crate) max_annotation: Option<i64>,
}

/// ReplicaSet sizes after one sync: the new one (`None`: do not create it yet) and each old
/// one, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// `spec.replicas` of the ReplicaSet of the current template.
    pub(crate) new: Option<i64>,
    /// `spec.replicas` of the older ones.
    pub(crate) old: Vec<i64>,
}

/// One sync of a rolling update (`old` oldest first): scale the new ReplicaSet up as far as
/// `max_surge` allows; if it did not change, scale old ones down (unavailable pods first) as
/// far as `max_unavailable` allows. A new ReplicaSet is created with its first size and old
/// ones are reconciled in the same sync, as Kubernetes does.
pub(crate) fn rolling(
    desired: i64,
    max_surge: i64,
    max_unavailable: i64,
    new: Option<RsState>,
    old: &[RsState],
) -> Plan {
    let mut old: Vec<RsState> = old.to_vec();
    let created = new.is_none();
    let mut new = new.unwrap_or_default();
    let old_total: i64 = old.iter().map(|r| r.replicas).sum();
    let target = if new.replicas > desired {
        desired
    } else {
        // NewRSNewReplicas: grow up to desired + maxSurge pods in all.
        let max_total = desired + max_surge;
        let total = old_total + new.replicas;
        new.replicas + (max_total - total).clamp(0, desired - new.replicas)
    };
    let plan = |new: &RsState, old: &[RsState]| Plan {
        new: Some(new.replicas),
        old: old.iter().map(|r| r.replicas).collect(),
    };
    if target != new.replicas {
        new.replicas = target;
        if !created {
            return plan(&new, &old);
        }
    }
    if old_total == 0 {
        return plan(&new, &old);
    }
    let min_available = desired - max_unavailable;
    let all_total = old_total + new.replicas;
    let new_unavailable = new.replicas - new.available;
    let max_scaled_down = all_total - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return plan(&new, &old);
    }
    // Unavailable old pods go first: they would block the rollout.
    let mut cleaned = 0;
    for rs in old.iter_mut() {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = rs.replicas - rs.available;
        if rs.replicas == 0 || unhealthy <= 0 {
            continue;
        }
        let n = unhealthy.min(max_scaled_down - cleaned);
        rs.replicas -= n;
        cleaned += n;
    }
    // Then available ones, keeping at least desired - maxUnavailable available.
    let available: i64 =
        old.iter().map(|r| r.available.min(r.replicas)).sum::<i64>() + new.available;
    let mut to_remove = available - min_available;
    for rs in old.iter_mut() {
        if to_remove <= 0 {
            break;
        }
        let n = rs.replicas.min(to_remove);
        rs.replicas -= n;
        to_remove -= n;
    }
    plan(&new, &old)
}

/// One sync of a `Recreate` rollout: scale every old ReplicaSet to 0; once no old pod is left
/// (`old_pods`: pods of old ReplicaSets, terminating ones included), create or scale the new
/// one to `desired`.
pub(crate) fn recreate(
    desired: i64,
    new: Option<RsState>,
    old: &[RsState],
    old_pods: bool,
) -> Plan {
    if old.iter().any(|r| r.replicas > 0) {
        return Plan {
            new: new.map(|n| n.replicas),
            old: vec![0; old.len()],
        };
    }
    Plan {
        new: if old_pods {
            new.map(|n| n.replicas)
        } else {
            Some(desired)
        },
        old: vec![0; old.len()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{prop_assert, prop_assume, proptest};
    use serde_json::json;

    fn rs(replicas: i64, available: i64) -> RsState {
        RsState {
            replicas,
            available,
            ..Default::default()
        }
    }

    #[test]
    fn resolves_int_or_percent() {
        assert_eq!(scaled(&json!("25%"), 4, false, 25), 1);
        assert_eq!(scaled(&json!("25%"), 3, false, 25), 0);
        assert_eq!(scaled(&json!("25%"), 3, true, 25), 1);
        assert_eq!(scaled(&json!("50%"), 3, true, 25), 2);
        assert_eq!(scaled(&json!(2), 3, false, 25), 2);
        assert_eq!(scaled(&Value::Null, 8, false, 25), 2);
        assert_eq!(scaled(&json!("x%"), 8, false, 25), 0);
        let d = |st: Value, replicas: i64| json!({"spec": {"replicas": replicas, "strategy": st}});
        assert_eq!(
            Strategy::of(&d(json!({"type": "RollingUpdate"}), 3)),
            Strategy::Rolling {
                max_surge: 1,
                max_unavailable: 0
            }
        );
        // 10 % of 2: surge rounds up to 1, unavailable down to 0.
        let ten = json!({"rollingUpdate": {"maxSurge": "10%", "maxUnavailable": "10%"}});
        assert_eq!(
            Strategy::of(&d(ten, 2)),
            Strategy::Rolling {
                max_surge: 1,
                max_unavailable: 0
            }
        );
        let zero = json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "10%"}});
        assert_eq!(Strategy::of(&d(zero, 2)).max_unavailable(), 1);
        let big = json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 9}});
        assert_eq!(Strategy::of(&d(big, 2)).max_unavailable(), 2);
        assert_eq!(
            Strategy::of(&d(json!({"type": "Recreate"}), 2)),
            Strategy::Recreate
        );
        assert_eq!(Strategy::Recreate.max_surge(), 0);
    }

    #[test]
    fn rolling_steps_surge_one_unavailable_zero() {
        // Creation: one surge pod, nothing scaled down yet.
        let p = rolling(3, 1, 0, None, &[rs(3, 3)]);
        assert_eq!(
            p,
            Plan {
                new: Some(1),
                old: vec![3]
            }
        );
        // The new pod is not ready: nothing moves.
        assert_eq!(rolling(3, 1, 0, Some(rs(1, 0)), &[rs(3, 3)]).old, vec![3]);
        // Ready: one old pod goes.
        let p = rolling(3, 1, 0, Some(rs(1, 1)), &[rs(3, 3)]);
        assert_eq!(
            p,
            Plan {
                new: Some(1),
                old: vec![2]
            }
        );
        // Then the new one grows again.
        let p = rolling(3, 1, 0, Some(rs(1, 1)), &[rs(2, 2)]);
        assert_eq!(
            p,
            Plan {
                new: Some(2),
                old: vec![2]
            }
        );
        // A plain scale with no old ReplicaSet: at once, both ways.
        assert_eq!(rolling(5, 1, 0, Some(rs(2, 2)), &[]).new, Some(5));
        assert_eq!(rolling(1, 1, 0, Some(rs(4, 4)), &[rs(0, 0)]).new, Some(1));
    }

    #[test]
    fn rolling_cleans_up_unhealthy_old_pods_first() {
        // maxSurge 0, maxUnavailable 1: the broken pod of the newer old ReplicaSet goes
        // although scale-down otherwise starts with the oldest.
        let p = rolling(3, 0, 1, Some(rs(0, 0)), &[rs(3, 3), rs(1, 0)]);
        assert_eq!(
            p,
            Plan {
                new: Some(0),
                old: vec![2, 0]
            }
        );
        let p = rolling(3, 0, 1, Some(rs(0, 0)), &[rs(3, 3), rs(0, 0)]);
        assert_eq!(p.old, vec![2, 0]);
    }

    #[test]
    fn recreate_waits_for_old_pods() {
        let p = recreate(2, None, &[rs(2, 2)], true);
        assert_eq!(
            p,
            Plan {
                new: None,
                old: vec![0]
            }
        );
        assert_eq!(recreate(2, None, &[rs(0, 0)], true).new, None);
        assert_eq!(recreate(2, None, &[rs(0, 0)], false).new, Some(2));
        assert_eq!(recreate(4, Some(rs(2, 2)), &[], false).new, Some(4));
    }

    proptest! {
        /// A whole rollout, pods becoming available at random: never more than desired +
        /// maxSurge pods, never fewer than desired - maxUnavailable available, and it ends
        /// with everything in the new ReplicaSet.
        #[test]
        fn rolling_update_keeps_its_bounds(
            desired in 1i64..8,
            surge in 0i64..4,
            unavailable in 0i64..4,
            olds in 1usize..3,
            ready in proptest::collection::vec(0i64..3, 200),
        ) {
            prop_assume!(surge + unavailable > 0);
            let unavailable = unavailable.min(desired);
            let mut old: Vec<RsState> = (0..olds).map(|i| {
                let n = if i + 1 == olds { desired } else { 0 };
                rs(n, n)
            }).collect();
            let mut new: Option<RsState> = None;
            let mut done = false;
            for step in ready {
                let plan = rolling(desired, surge, unavailable, new, &old);
                let mut n = new.unwrap_or_default();
                n.replicas = plan.new.unwrap();
                n.available = n.available.min(n.replicas);
                for (o, r) in old.iter_mut().zip(&plan.old) {
                    o.replicas = *r;
                    o.available = o.available.min(*r);
                }
                let total: i64 = n.replicas + old.iter().map(|o| o.replicas).sum::<i64>();
                let available: i64 = n.available + old.iter().map(|o| o.available).sum::<i64>();
                prop_assert!(total <= desired + surge, "{total} pods: {n:?} {old:?}");
                prop_assert!(available >= desired - unavailable, "{available} available");
                if n.replicas == desired && n.available == desired
                    && old.iter().all(|o| o.replicas == 0) {
                    done = true;
                    break;
                }
                n.available = (n.available + step).min(n.replicas);
                new = Some(n);
            }
            // 200 random steps of 0-2 ready pods finish any of these rollouts.
            prop_assert!(done);
        }
    }
}
