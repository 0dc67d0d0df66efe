//! Scaling a Deployment whose `replicas` changed while it has more than one active ReplicaSet
//! (mid-rollout), as Kubernetes' Deployment controller does it (`isScalingEvent`, `scale`): the
//! only active ReplicaSet takes the new count; several share the change in proportion to their
//! sizes. Without this a rollout would simply converge to the new count, with other pods.

use super::strategy::{Plan, RsState, Strategy};

/// Whether `replicas` changed since the active ReplicaSets were last sized (their
/// `desired-replicas` annotation differs). Such a sync only scales, it does not roll out.
pub(crate) fn is_scaling_event(desired: i64, new: Option<&RsState>, old: &[RsState]) -> bool {
    new.into_iter()
        .chain(old)
        .filter(|rs| rs.replicas > 0)
        .any(|rs| rs.desired_annotation.is_some_and(|a| a != desired))
}

/// The sizes after a scaling event (`old` oldest first; `status_replicas` is the Deployment's
/// `status.replicas`, the fallback when a ReplicaSet has no `max-replicas` annotation).
pub(crate) fn scale(
    desired: i64,
    strategy: Strategy,
    status_replicas: i64,
    new: Option<RsState>,
    old: &[RsState],
) -> Plan {
    // Index len(old) is the new ReplicaSet; a higher index is a newer ReplicaSet.
    let mut all: Vec<RsState> = old.to_vec();
    all.extend(new);
    let plan = |all: &[RsState]| Plan {
        new: new.map(|_| all[old.len()].replicas),
        old: all[..old.len()].iter().map(|r| r.replicas).collect(),
    };
    let active: Vec<usize> = (0..all.len()).filter(|&i| all[i].replicas > 0).collect();
    // One active ReplicaSet (or none: the newest) takes the whole count.
    let only = match active.len() {
        0 => all.len().checked_sub(1),
        1 => Some(active[0]),
        _ => None,
    };
    if let Some(i) = only {
        all[i].replicas = desired;
        return plan(&all);
    }
    if all.is_empty() {
        return plan(&all);
    }
    // A saturated new ReplicaSet: the old ones go.
    if let Some(n) = new {
        if n.replicas == desired && n.desired_annotation == Some(desired) && n.available == desired
        {
            for rs in &mut all[..old.len()] {
                rs.replicas = 0;
            }
            return plan(&all);
        }
    }
    let Strategy::Rolling { max_surge, .. } = strategy else {
        return plan(&all);
    };
    let allowed = if desired > 0 { desired + max_surge } else { 0 };
    let to_add = allowed - active.iter().map(|&i| all[i].replicas).sum::<i64>();
    // Largest first; among equals the newest first when growing, the oldest when shrinking.
    let mut order = active;
    order.sort_by_key(|&i| {
        let age = if to_add > 0 { -(i as i64) } else { i as i64 };
        (-all[i].replicas, age)
    });
    let mut added = 0;
    let mut sizes: Vec<(usize, i64)> = Vec::new();
    for &i in &order {
        let rs = all[i];
        let share = if to_add == 0 || to_add == added {
            0
        } else {
            let fraction = if desired == 0 {
                -rs.replicas
            } else {
                let before = rs
                    .max_annotation
                    .filter(|m| *m > 0)
                    .unwrap_or(status_replicas);
                if before == 0 {
                    0
                } else {
                    (rs.replicas as f64 * allowed as f64 / before as f64).round() as i64
                        - rs.replicas
                }
            };
            let left = to_add - added;
            if to_add > 0 {
                fraction.min(left)
            } else {
                fraction.max(left)
            }
        };
        added += share;
        sizes.push((i, rs.replicas + share));
    }
    // The rounding leftover goes to the largest.
    if let Some(first) = sizes.first_mut() {
        first.1 = (first.1 + to_add - added).max(0);
    }
    for (i, size) in sizes {
        all[i].replicas = size;
    }
    plan(&all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(replicas: i64, desired: i64, max: i64) -> RsState {
        RsState {
            replicas,
            available: replicas,
            desired_annotation: Some(desired),
            max_annotation: Some(max),
        }
    }

    const SURGE_1: Strategy = Strategy::Rolling {
        max_surge: 1,
        max_unavailable: 0,
    };

    #[test]
    fn detects_scaling_events() {
        assert!(!is_scaling_event(3, Some(&rs(3, 3, 4)), &[rs(0, 2, 3)]));
        assert!(is_scaling_event(5, Some(&rs(3, 3, 4)), &[]));
        // Only active ReplicaSets count; no annotation, no opinion.
        assert!(!is_scaling_event(5, Some(&rs(0, 3, 4)), &[]));
        let bare = RsState {
            replicas: 2,
            ..Default::default()
        };
        assert!(!is_scaling_event(5, Some(&bare), &[]));
    }

    #[test]
    fn one_active_replica_set_takes_the_count() {
        // A template change and a new count at once: the old ReplicaSet scales first.
        assert_eq!(
            scale(6, SURGE_1, 4, None, &[rs(4, 4, 5)]),
            Plan {
                new: None,
                old: vec![6]
            }
        );
        // Nothing active: the newest.
        assert_eq!(
            scale(2, SURGE_1, 0, Some(rs(0, 0, 1)), &[rs(0, 0, 1)]),
            Plan {
                new: Some(2),
                old: vec![0]
            }
        );
    }

    #[test]
    fn several_share_the_change_in_proportion() {
        // Mid-rollout 3 old + 1 new (max 4 = 3 + surge 1); scale to 7 (max 8): both double.
        let p = scale(7, SURGE_1, 4, Some(rs(1, 3, 4)), &[rs(3, 3, 4)]);
        assert_eq!(
            p,
            Plan {
                new: Some(2),
                old: vec![6]
            }
        );
        // Down to 1 (max 2): halves, the leftover on the largest.
        let p = scale(1, SURGE_1, 4, Some(rs(1, 3, 4)), &[rs(3, 3, 4)]);
        assert_eq!(p.new.unwrap() + p.old[0], 2, "{p:?}");
        // To zero: everything goes.
        let p = scale(0, SURGE_1, 4, Some(rs(1, 3, 4)), &[rs(3, 3, 4)]);
        assert_eq!(
            p,
            Plan {
                new: Some(0),
                old: vec![0]
            }
        );
        // Recreate does not scale several active ReplicaSets.
        let p = scale(7, Strategy::Recreate, 4, Some(rs(1, 3, 3)), &[rs(3, 3, 3)]);
        assert_eq!(
            p,
            Plan {
                new: Some(1),
                old: vec![3]
            }
        );
        // A saturated new ReplicaSet: old ones go.
        let p = scale(3, SURGE_1, 4, Some(rs(3, 3, 4)), &[rs(1, 2, 3)]);
        assert_eq!(p.old, vec![0]);
    }
}
