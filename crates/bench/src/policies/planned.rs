//! The optimizer-planned baselines. `static-peak` is set once (each server's allocation for its
//! peak load over the whole run, catalog parameters) and needs no task. `clairvoyant` knows the
//! future load and the servers' true parameters: every period `P` at time `t` it applies the
//! optimizer's allocation for the peak load over `[t, t + L + P]` (L the longest start-up
//! delay) with the true parameters at `t + L`, so capacity is ready when load arrives, and
//! it is released only once no load in the horizon needs it.

use crate::cluster::{Allocation, Cluster};
use crate::planner::{allocate, fallback, Parameters};
use crate::scenario::{LoadAt, Plan};
use std::sync::Arc;

/// The clairvoyant allocation at scenario time `t`.
pub fn clairvoyant_at(plan: &Plan, t: f64) -> Vec<Option<Allocation>> {
    let look = plan.max_startup_seconds() + plan.scenario.period.0;
    let loads: Vec<LoadAt> = plan.servers.iter().map(|b| b.peak(t, t + look)).collect();
    allocate(
        plan,
        &loads,
        Parameters::TrueAt(t + plan.max_startup_seconds()),
    )
}

/// The static-peak allocation (each server's peak over the run).
pub fn static_peak(plan: &Plan) -> Vec<Option<Allocation>> {
    let d = plan.scenario.duration.0;
    let loads: Vec<LoadAt> = plan.servers.iter().map(|b| b.peak(0.0, d)).collect();
    let mut out = allocate(plan, &loads, Parameters::Catalog);
    for (i, a) in out.iter_mut().enumerate() {
        if a.is_none() {
            *a = fallback(plan, i);
        }
    }
    out
}

/// Runs the clairvoyant policy until the task is aborted.
pub async fn clairvoyant(cluster: Arc<Cluster>, plan: Arc<Plan>, policy: usize) {
    let clock = cluster.clock();
    let period = plan.scenario.period.0;
    let mut t = period;
    loop {
        clock.sleep_until(t).await;
        let p = plan.clone();
        let allocations = tokio::task::spawn_blocking(move || clairvoyant_at(&p, t))
            .await
            .unwrap_or_default();
        for (server, a) in allocations.into_iter().enumerate() {
            let Some(a) = a else { continue };
            if cluster.allocation(policy, server).as_ref() != Some(&a) {
                if let Err(e) = cluster.set_allocation(policy, server, &a) {
                    tracing::warn!(error = %e, "clairvoyant: apply failed");
                }
            }
        }
        t += period;
    }
}
