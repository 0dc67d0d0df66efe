//! The `hpa` baseline: a HorizontalPodAutoscaler as commonly set up for vLLM, on the initial
//! GPU type and batch size (an HPA changes only the replica count).
//!
//! Every `sync` period, over the ready pods of the Deployment: `ratio = max(mean KV-cache
//! usage / kvCacheTarget, mean waiting requests / waitingTarget)`; within `1 +- tolerance` the
//! recommendation is the current count, else `ceil(ready x ratio)`, within [min, max]. As the
//! HPA's behavior field does, a scale-up takes the lowest recommendation of the last
//! `upWindow`, a scale-down the highest of the last `downWindow`, and one step adds at most
//! max(4 pods, 100%) (the default scale-up policy).

use crate::cluster::Cluster;
use crate::scenario::Hpa;
use std::collections::VecDeque;
use std::sync::Arc;

/// One evaluation: the recommendation for `current` replicas from the ready pods' metrics
/// `(kv usage, waiting)`.
pub fn recommend(h: &Hpa, current: u32, pods: &[(f64, f64)]) -> u32 {
    if pods.is_empty() {
        return current;
    }
    let n = pods.len() as f64;
    let kv = pods.iter().map(|p| p.0).sum::<f64>() / n;
    let waiting = pods.iter().map(|p| p.1).sum::<f64>() / n;
    let ratio = (kv / h.kv_cache_target).max(waiting / h.waiting_target);
    if (ratio - 1.0).abs() <= h.tolerance {
        return current;
    }
    ((n * ratio).ceil() as u32).clamp(h.min_replicas, h.max_replicas)
}

/// Stabilisation over the windows and the scale-up step limit.
#[derive(Debug, Default)]
pub struct Stabiliser {
    history: VecDeque<(f64, u32)>,
}

impl Stabiliser {
    /// A stabiliser that has recommended `replicas` throughout its windows up to `now`, as an
    /// HPA that has watched a steady Deployment would have (without it, the first evaluation
    /// after the start could scale down at once, which no long-running HPA does).
    pub fn steady(h: &Hpa, now: f64, replicas: u32) -> Self {
        let mut s = Self::default();
        s.history
            .push_back((now - h.up_window.0.max(h.down_window.0), replicas));
        s.history.push_back((now, replicas));
        s
    }

    /// The replica count to set at `now` for `current`, given a new recommendation.
    pub fn decide(&mut self, h: &Hpa, now: f64, current: u32, recommendation: u32) -> u32 {
        self.history.push_back((now, recommendation));
        let keep = h.up_window.0.max(h.down_window.0);
        while self.history.front().is_some_and(|(t, _)| now - t > keep) {
            self.history.pop_front();
        }
        let within = |w: f64| {
            self.history
                .iter()
                .filter(move |(t, _)| now - t <= w)
                .map(|x| x.1)
        };
        let up = within(h.up_window.0).min().unwrap_or(current);
        let down = within(h.down_window.0).max().unwrap_or(current);
        let target = if current < up {
            up.min(current.saturating_mul(2).max(current + 4))
        } else if current > down {
            down
        } else {
            current
        };
        target.clamp(h.min_replicas, h.max_replicas)
    }
}

/// Runs the baseline for every server of `policy` until the task is aborted.
pub async fn run(cluster: Arc<Cluster>, policy: usize, servers: usize, h: Hpa) {
    let clock = cluster.clock();
    let mut stabilisers: Vec<Stabiliser> = (0..servers)
        .map(|s| {
            let n = cluster.allocation(policy, s).map_or(1, |a| a.replicas);
            Stabiliser::steady(&h, 0.0, n)
        })
        .collect();
    let mut next = h.sync.0;
    loop {
        clock.sleep_until(next).await;
        let now = clock.now();
        for (server, stab) in stabilisers.iter_mut().enumerate() {
            let Some(current) = cluster.allocation(policy, server) else {
                continue;
            };
            let pods: Vec<(f64, f64)> = cluster
                .gateway(policy, server)
                .servers()
                .iter()
                .map(|s| {
                    let snap = s.snapshot();
                    (snap.kv_usage, snap.waiting as f64)
                })
                .collect();
            let rec = recommend(&h, current.replicas, &pods);
            let target = stab.decide(&h, now, current.replicas, rec);
            if target != current.replicas {
                if let Err(e) = cluster.set_replicas(policy, server, target) {
                    tracing::warn!(error = %e, "hpa: scale failed");
                }
            }
        }
        next += h.sync.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_of_the_busiest_signal_decides() {
        let h = Hpa::default();
        // KV 0.35 of a 0.7 target (ratio 0.5), 8 waiting of 2 (ratio 4): 2 pods -> 8.
        assert_eq!(recommend(&h, 2, &[(0.35, 8.0), (0.35, 8.0)]), 8);
        // Within tolerance: no change.
        assert_eq!(recommend(&h, 3, &[(0.72, 0.0)]), 3);
        // Idle: down to the minimum.
        assert_eq!(recommend(&h, 3, &[(0.0, 0.0), (0.0, 0.0)]), 1);
        // No ready pod: no opinion.
        assert_eq!(recommend(&h, 3, &[]), 3);
    }

    #[test]
    fn windows_delay_both_directions() {
        let h = Hpa::default();
        let mut s = Stabiliser::default();
        // A burst recommends 10 for 45 s: the 180 s up window keeps the minimum (the first
        // recommendation of 2), so nothing moves.
        assert_eq!(s.decide(&h, 0.0, 2, 2), 2);
        for t in [15.0, 30.0, 45.0] {
            assert_eq!(s.decide(&h, t, 2, 10), 2);
        }
        // After the window has only high recommendations, scale up, by at most max(4, 100%).
        let mut s = Stabiliser::default();
        let mut cur = 2;
        let mut t = 0.0;
        for _ in 0..14 {
            cur = s.decide(&h, t, cur, 20);
            t += 15.0;
        }
        assert_eq!(cur, 20, "reached after the window and a few steps");
        // Scale-down waits for 300 s of lower recommendations.
        let mut s = Stabiliser::default();
        assert_eq!(s.decide(&h, 0.0, 8, 8), 8);
        assert_eq!(s.decide(&h, 15.0, 8, 2), 8);
        assert_eq!(s.decide(&h, 299.0, 8, 2), 8);
        assert_eq!(s.decide(&h, 301.0, 8, 2), 2);
        // A steady start: the first idle evaluations do not scale down.
        let mut s = Stabiliser::steady(&h, 0.0, 3);
        assert_eq!(s.decide(&h, 15.0, 3, 1), 3);
        assert_eq!(s.decide(&h, 299.0, 3, 1), 3);
        assert_eq!(s.decide(&h, 316.0, 3, 1), 1);
    }
}
