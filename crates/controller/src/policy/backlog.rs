//! What the pods ordered now will find of the queue when they serve (docs/controller.md, "The
//! backlog the new pods find").
//!
//! A pod ordered now serves one start-up from now. Until then the queue is what the pods
//! already serving, and those already on their way, make of it: a queue that they drain
//! before the new pods come needs none of them. Sized for the queue measured now, drained
//! within `--backlog-drain`, mixtral on the drift benchmark (120 s start-ups) went from 40
//! pods ordered to 52 at minute 14 for a queue of 582 requests, where 26-30 carried the
//! plateau that followed; its arrivals had met their target again from minute 13.5, when the
//! pods ordered at the ramp's start came.

use super::{ServerPlan, ServerState, Settings};
use inferno_api::AllocationData;
use std::time::Duration;
use tokio::time::Instant;

/// Orders remembered (a rise orders pods every cycle for a few minutes).
const ORDERS_KEPT: usize = 32;

/// What the pods will carry and what will come, from now until the new pods serve.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Outlook {
    /// Requests/min the pods serving now carry together.
    pub(super) serving_rpm: f64,
    /// Requests/min one pod on its way will carry.
    pub(super) per_pod_rpm: f64,
    /// Seconds from now until each pod on its way serves (0: any moment).
    pub(super) arriving: Vec<f64>,
    /// The arrival rate now, requests/min.
    pub(super) rpm: f64,
    /// How fast it rises, requests/min per second (0 when it is not known to rise).
    pub(super) rise_per_second: f64,
}

/// Steps the queue is followed in over the horizon.
const STEPS: u32 = 240;

/// The requests waiting `horizon` seconds from now, from `backlog` now: each instant the
/// queue grows by what arrives beyond what the serving pods carry and shrinks by what they
/// carry beyond it, never below empty.
pub(super) fn found(backlog: f64, horizon: f64, outlook: &Outlook) -> f64 {
    let per_pod = outlook.per_pod_rpm.max(0.0);
    if !(horizon > 0.0 && horizon.is_finite()) {
        return backlog.max(0.0);
    }
    let dt = horizon / f64::from(STEPS);
    let mut queue = backlog.max(0.0);
    for i in 0..STEPS {
        let t = (f64::from(i) + 0.5) * dt;
        let came = outlook.arriving.iter().filter(|a| **a <= t).count() as f64;
        let carried = outlook.serving_rpm.max(0.0) + came * per_pod;
        let arrive = (outlook.rpm + outlook.rise_per_second.max(0.0) * t).max(0.0);
        queue = (queue + (arrive - carried) * dt / 60.0).max(0.0);
    }
    queue
}

/// The requests waiting on the server's pods: the mean per reporting pod times the pods that
/// report (those with a load of their own in `pods`), not times every ready pod. A pod that
/// is ready but not yet scraped holds none of the others' queue (the gateway gives it the new
/// requests), and counted at their mean it added to the queue drained and to the growth the
/// boost's verdict reads: with 7 of 25 pods reporting, 3.6 times the queue there is.
pub(super) fn waiting(o: &inferno_core::Observation) -> f64 {
    let reporting = if o.pods.is_empty() {
        o.ready_replicas as usize
    } else {
        o.pods.len()
    };
    o.waiting * reporting as f64
}

impl ServerState {
    /// Takes the Deployment's replicas `spec` at `now`: pods added since the last cycle were
    /// ordered by it (`now - cycle`).
    pub(super) fn note_orders(&mut self, now: Instant, spec: i64) {
        if let Some(before) = self.spec {
            if spec > before {
                let at = now.checked_sub(self.cycle).unwrap_or(now);
                self.orders.push_back((at, spec - before));
                while self.orders.len() > ORDERS_KEPT {
                    self.orders.pop_front();
                }
            }
        }
        self.spec = Some(spec);
    }

    /// Seconds (servers' clock) until each pod on its way serves: the Deployment's replicas
    /// beyond the ready ones, the newest orders' first, each due one `startup` after its
    /// order. A pod not ready a start-up after it was due, or of no remembered order (a loop
    /// that just started), is not counted on: it may wait for a GPU that never comes.
    fn arriving(&self, in_flight: i64, now: Instant, startup: Duration, scale: f64) -> Vec<f64> {
        let mut left = in_flight.max(0);
        let mut due = Vec::new();
        for (at, n) in self.orders.iter().rev() {
            let take = left.min(*n);
            left -= take;
            let ready_at = *at + startup;
            if now <= ready_at + startup {
                let secs = ready_at.saturating_duration_since(now).as_secs_f64() * scale;
                due.extend(std::iter::repeat_n(
                    secs,
                    usize::try_from(take).unwrap_or(0),
                ));
            }
            if left == 0 {
                break;
            }
        }
        due
    }

    /// The rate, requests/min, that drains within the settings' `backlog_drain` what the pods
    /// ordered now will find, one `startup` from now, of the queue measured now: the queue
    /// carried on by the load (its measured rate and the rise planned ahead) against the ready
    /// pods and those on their way, at what a pod of the current kind carries (the last
    /// decision's, or less when the pods are saturated), and never more than it is now.
    /// Without that rate, the queue measured now.
    pub(super) fn drain(
        &self,
        plan: &ServerPlan,
        settings: &Settings,
        cur: &AllocationData,
        obs: &inferno_core::Observation,
        now: Instant,
        startup: Duration,
    ) -> f64 {
        let drain = settings.backlog_drain.as_secs_f64();
        let backlog = plan.backlog.max(0.0);
        if drain <= 0.0 || backlog <= 0.0 {
            return 0.0;
        }
        let kind = (cur.accelerator.clone(), cur.max_batch);
        let decided = self
            .per_pod
            .as_ref()
            .filter(|(k, _)| *k == kind)
            .map(|(_, rate)| *rate);
        // Saturated pods carry what they hold over how long a request runs (Little's law),
        // whatever the last decision expected of them.
        let run_ms = cur.itl_average * cur.load.avg_out_tokens as f64;
        let saturated = (self.saturated && obs.running > 0.0 && run_ms > 0.0)
            .then(|| obs.running * 60_000.0 / run_ms);
        let per_pod = decided
            .into_iter()
            .chain(saturated)
            .filter(|r| r.is_finite() && *r > 0.0)
            .reduce(f64::min);
        let Some(per_pod_rpm) = per_pod else {
            return backlog * 60.0 / drain;
        };
        let scale = settings.time_scale.max(f64::MIN_POSITIVE);
        let ready = i64::from(obs.ready_replicas);
        let horizon = plan.horizon_seconds * scale;
        let rise_per_second = if plan.lookahead_rpm > 0.0 && horizon > 0.0 {
            plan.lookahead_rpm / horizon
        } else {
            0.0
        };
        // The measured rate is the load's at the middle of its window.
        let rpm = self.base_rpm + rise_per_second * obs.demand.window_seconds / 2.0;
        // A queue that grew since the last cycle says the serving pods carry no more than
        // arrives, whatever a pod of the kind should carry. On the diurnal benchmark
        // (`--seed 4`) mixtral's 7 saturated pods of 2xG2/11 completed 33 req/min while the
        // rate a pod of the kind was taken to carry put them above the 58.9 arriving; their
        // queue went 21 -> 33 -> 63, and the drain planned on that rate was none.
        let mut serving_rpm = ready as f64 * per_pod_rpm;
        if self.backlog_grew {
            serving_rpm = serving_rpm.min(rpm);
        }
        let outlook = Outlook {
            serving_rpm,
            per_pod_rpm,
            arriving: self.arriving(cur.num_replicas - ready, now, startup, scale),
            rpm,
            rise_per_second,
        };
        // Never more than the queue measured now: what a rise queues while the pods start is
        // requests that have waited past their target by the time new pods serve (the
        // gateway sends new requests to the empty pods), and the pods for the rise itself are
        // the lookahead's. Planned for as well, the queue a rise would leave took mixtral from
        // 23 pods ordered to 39 a minute into the ramp benchmark's rise: the run cost 878.8
        // cents against 830.4, and mixtral kept 94.5% of its requests within target against
        // 95.0%.
        found(backlog, startup.as_secs_f64() * scale, &outlook).min(backlog) * 60.0 / drain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outlook(ready: f64, arriving: Vec<f64>, rpm: f64, rise: f64) -> Outlook {
        Outlook {
            serving_rpm: ready * 20.0,
            per_pod_rpm: 20.0,
            arriving,
            rpm,
            rise_per_second: rise,
        }
    }

    #[test]
    fn pods_on_their_way_drain_the_queue_before_new_ones_could() {
        // 582 waiting, 22 pods of 20 req/min serving a flat 400, 18 more within a minute:
        // the queue is gone long before a pod ordered now (120 s) serves.
        let arriving = (0..18).map(|i| f64::from(i) * 3.0).collect();
        let left = found(582.0, 120.0, &outlook(22.0, arriving, 400.0, 0.0));
        assert_eq!(left, 0.0);
        // Without them, 22 pods short of the load by 40 req/min: it grows by 80 in 120 s.
        let left = found(582.0, 120.0, &outlook(22.0, vec![], 480.0, 0.0));
        assert!((left - 662.0).abs() < 1e-6, "{left}");
    }

    #[test]
    fn a_load_that_outgrows_the_serving_pods_leaves_a_queue_that_is_not_there_yet() {
        // One pod of 20 req/min at 20 req/min, the load rising 0.1 req/min per second: the
        // excess is 0.1 t, and over 120 s it queues 0.1 x 120^2 / 2 / 60 = 12 requests.
        let left = found(0.0, 120.0, &outlook(1.0, vec![], 20.0, 0.1));
        assert!((left - 12.0).abs() < 0.01, "{left}");
        // A fall is not planned for: the rate stays where it is.
        assert_eq!(found(0.0, 120.0, &outlook(1.0, vec![], 20.0, -5.0)), 0.0);
    }

    #[test]
    fn the_queue_never_goes_below_empty_on_the_way() {
        // Arrivals under the pod's rate for the first 40 s leave nothing to drain later: the
        // spare capacity of an empty queue is lost, not banked.
        let o = Outlook {
            serving_rpm: 20.0,
            per_pod_rpm: 20.0,
            arriving: vec![],
            rpm: 0.0,
            rise_per_second: 0.5,
        };
        let left = found(0.0, 120.0, &o);
        // Arrivals 0.5 t req/min: below 20 until t = 40, then above; the excess from 40 to 120
        // is integral of (0.5 t - 20) dt / 60 = (0.25 (120^2 - 40^2) - 20 x 80) / 60 = 26.67;
        // a sum that banked the first 40 s would say 20.
        assert!((left - 80.0 / 3.0).abs() < 0.05, "{left}");
        // With no horizon, the queue as it is.
        assert_eq!(found(7.0, 0.0, &o), 7.0);
    }
}
