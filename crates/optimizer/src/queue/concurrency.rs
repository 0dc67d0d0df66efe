//! Optimal-concurrency search (spec 2.4): the smallest batch cap M whose SLO-feasible
//! throughput is within epsilon of the peak, in at most 8 sizing calls.

use super::analyzer::{Analyzer, Metrics, QueueConfig};
use super::service::ServiceModel;
use super::size::Targets;
use crate::error::Result;

/// Knobs of the search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConcurrencySearch {
    /// Accept M when f(M) >= (1 - epsilon / 2) f(max).
    pub epsilon: f64,
    /// Bisection probes after the anchor.
    pub max_iterations: u32,
    /// Smallest M considered.
    pub min_batch: u32,
    /// Largest M considered (the anchor).
    pub max_batch: u32,
}

impl Default for ConcurrencySearch {
    fn default() -> Self {
        Self {
            epsilon: 0.02,
            max_iterations: 6,
            min_batch: 1,
            max_batch: 256,
        }
    }
}

/// Result of [`optimal_concurrency`].
#[derive(Debug, Clone, PartialEq)]
pub struct Concurrency {
    /// M*: the chosen batch cap.
    pub concurrency: u32,
    /// f(M*), requests/s (0 when infeasible).
    pub throughput: f64,
    /// Largest B whose closed-form ITL meets the target (M_max if no ITL target).
    pub m_itl: u32,
    /// Largest B whose closed-form prefill meets the TTFT target (M_max if no TTFT target).
    pub m_tpf: u32,
    /// Probes that returned a feasible (positive) throughput.
    pub oracle_calls: u32,
    /// Every M probed, in order.
    pub probes: Vec<u32>,
    /// Whether any M meets the targets.
    pub feasible: bool,
    /// Performance at M*, when feasible.
    pub metrics: Option<Metrics>,
}

/// Searches the batch cap for the problem `base` (its `max_batch` is ignored) and `targets`.
///
/// Differs from the reference on purpose in one point (spec 7.5): a target of 0 means "unset"
/// in the closed-form brackets too (bracket = M_max), where the reference treated it as
/// unsatisfiable and searched [1, 3].
pub fn optimal_concurrency(
    base: &QueueConfig,
    targets: &Targets,
    search: &ConcurrencySearch,
) -> Result<Concurrency> {
    let (m_min, m_max) = (
        search.min_batch.max(1),
        search.max_batch.max(search.min_batch.max(1)),
    );
    let service = ServiceModel::new(
        base.params,
        base.in_tokens,
        base.out_tokens,
        m_max,
        base.max_tokens,
    )?
    .with_out_cv(base.out_cv)?;
    let m_itl = largest_meeting(m_max, targets.itl, |b| service.itl(f64::from(b)));
    let m_tpf = largest_meeting(m_max, targets.ttft, |b| service.prefill(f64::from(b)));

    let mut probes = Vec::new();
    let mut oracle_calls = 0;
    let mut f = |m: u32| -> f64 {
        probes.push(m);
        let value = throughput_at(base, targets, m);
        if value > 0.0 {
            oracle_calls += 1;
        }
        value
    };

    let peak = f(m_max);
    if peak <= 0.0 {
        return Ok(Concurrency {
            concurrency: m_min,
            throughput: 0.0,
            m_itl,
            m_tpf,
            oracle_calls,
            probes,
            feasible: false,
            metrics: None,
        });
    }
    let threshold = (1.0 - search.epsilon / 2.0) * peak;
    let mut lo = m_min.max(m_itl.min(m_tpf));
    let upper = m_itl.max(m_tpf);
    let mut hi = m_max.min(upper.saturating_mul(3).max(lo + 1)).max(lo);
    for _ in 0..search.max_iterations {
        if lo >= hi {
            break;
        }
        let mid = lo + (hi - lo) / 2;
        if f(mid) >= threshold {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let concurrency = hi.clamp(m_min, m_max);
    let throughput = f(concurrency);
    let feasible = throughput > 0.0;
    let metrics = if feasible {
        metrics_at(base, targets, concurrency)
    } else {
        None
    };
    Ok(Concurrency {
        concurrency,
        throughput,
        m_itl,
        m_tpf,
        oracle_calls,
        probes,
        feasible,
        metrics,
    })
}

/// Largest B in 1..=m_max with metric(B) <= target; m_max if the target is unset; 1 if none.
fn largest_meeting(m_max: u32, target: f64, metric: impl Fn(u32) -> f64) -> u32 {
    if target <= 0.0 {
        return m_max;
    }
    (1..=m_max)
        .rev()
        .find(|&b| metric(b) <= target)
        .unwrap_or(1)
}

fn sized(base: &QueueConfig, targets: &Targets, m: u32) -> Option<Metrics> {
    let analyzer = Analyzer::new(QueueConfig {
        max_batch: m,
        ..*base
    })
    .ok()?;
    analyzer.size(targets).ok().map(|s| s.metrics)
}

/// The oracle f(M): SLO-feasible throughput at batch cap M, 0 when infeasible.
fn throughput_at(base: &QueueConfig, targets: &Targets, m: u32) -> f64 {
    sized(base, targets, m).map_or(0.0, |metrics| metrics.throughput.max(0.0))
}

fn metrics_at(base: &QueueConfig, targets: &Targets, m: u32) -> Option<Metrics> {
    sized(base, targets, m)
}
