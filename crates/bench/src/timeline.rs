//! From a run's samples and request records to `timeline.png` (see `chart`).

use crate::chart::{render, Series, ServerTimeline, Timeline};
use crate::run::Measured;
use crate::summary::quantile;
use crate::traffic::Outcome;
use crate::{Error, Result};
use std::path::Path;

/// Builds the chart's data: per server, the offered load, each policy's replicas and GPU
/// types, and the p50/p95 of TTFT and ITL of the requests served in each period, by arrival.
pub fn timeline(m: &Measured) -> Timeline {
    let period = m.plan.scenario.period.0;
    let buckets = (m.plan.scenario.duration.0 / period).ceil().max(1.0) as usize;
    let mut servers = Vec::new();
    for (si, b) in m.plan.servers.iter().enumerate() {
        let first = 0;
        let load_rpm: Vec<(f64, f64)> = m
            .samples
            .iter()
            .filter(|x| x.server_index == si && x.policy == first)
            .map(|x| (x.t, x.offered_rpm))
            .collect();
        let mut replicas = Vec::new();
        let mut accelerators = Vec::new();
        let (mut ttft, mut itl) = (Vec::new(), Vec::new());
        for (pi, policy) in m.policies.iter().enumerate() {
            let name = policy.name();
            let book = &m.books[pi][si].deployment;
            let mut steps: Vec<(f64, f64)> = book
                .replicas
                .iter()
                .map(|(t, n)| (t.max(0.0), f64::from(*n)))
                .collect();
            if let Some(last) = steps.last().copied() {
                steps.push((m.plan.scenario.duration.0, last.1));
            }
            replicas.push(Series {
                name: name.into(),
                points: steps,
            });
            accelerators.push((
                name.to_string(),
                book.accelerators
                    .iter()
                    .map(|(t, a)| (t.max(0.0), a.clone()))
                    .collect(),
            ));
            let mut by_bucket: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); buckets];
            for r in m
                .records
                .iter()
                .filter(|r| r.policy == pi && r.server_index == si && r.outcome == Outcome::Served)
            {
                let k = ((r.at / period) as usize).min(buckets - 1);
                by_bucket[k].0.push(r.ttft_ms);
                by_bucket[k].1.push(r.itl_ms);
            }
            for (q, label) in [(0.5, "p50"), (0.95, "p95")] {
                let mut t_pts = Vec::new();
                let mut i_pts = Vec::new();
                for (k, (t, i)) in by_bucket.iter_mut().enumerate() {
                    if t.is_empty() {
                        continue;
                    }
                    let at = (k as f64 + 0.5) * period;
                    t_pts.push((at, quantile(t, q)));
                    i_pts.push((at, quantile(i, q)));
                }
                ttft.push(Series {
                    name: format!("{name} {label}"),
                    points: t_pts,
                });
                itl.push(Series {
                    name: format!("{name} {label}"),
                    points: i_pts,
                });
            }
        }
        servers.push(ServerTimeline {
            server: b.name.clone(),
            load_rpm,
            replicas,
            accelerators,
            ttft,
            itl,
            ttft_target_ms: b.ttft_target_ms,
            itl_target_ms: b.itl_target_ms,
        });
    }
    Timeline {
        title: format!(
            "{}: load, replicas / GPU type, TTFT and ITL (p50 thin, p95 thick) per policy",
            m.plan.name
        ),
        duration_s: m.plan.scenario.duration.0,
        servers,
        policies: m.policies.iter().map(|p| p.name().to_string()).collect(),
    }
}

/// Writes `timeline.png`.
pub fn write(m: &Measured, path: &Path) -> Result<()> {
    render(&timeline(m), path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })
}
