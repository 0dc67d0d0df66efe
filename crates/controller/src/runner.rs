//! The cycle task: one cycle at a time, fed by ticks and invocations. Triggers that arrive while
//! a cycle runs are coalesced into one follow-up cycle, whose report every waiting invocation
//! gets; ticks missed during a long cycle are skipped, not queued.

use crate::cycle::{self, CycleReport, Stages};
use crate::data::Data;
use crate::leader::Leadership;
use crate::metrics::Metrics;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Something that asks for a cycle.
#[derive(Debug)]
pub enum Trigger {
    /// The period elapsed.
    Tick,
    /// `GET /invoke` or gRPC `Invoke`; the report goes back on `reply`.
    Invoke {
        /// Apply nothing.
        dry_run: bool,
        /// Where the report goes.
        reply: oneshot::Sender<CycleReport>,
    },
}

/// Handle to the cycle task.
#[derive(Debug, Clone)]
pub struct Runner {
    tx: mpsc::Sender<Trigger>,
}

impl Runner {
    /// Asks for a cycle and waits for its report (None if the task is gone).
    pub async fn invoke(&self, dry_run: bool) -> Option<CycleReport> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Trigger::Invoke { dry_run, reply })
            .await
            .ok()?;
        rx.await.ok()
    }
}

/// Settings of the cycle task.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Period between cycles (None = on demand only).
    pub period: Option<Duration>,
    /// JSONL file to append one record per cycle to.
    pub cycle_log: Option<PathBuf>,
}

/// Starts the cycle task; it stops when `shutdown` completes.
pub fn start(
    mut stages: Stages,
    settings: Settings,
    leadership: Leadership,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Runner {
    let (tx, mut rx) = mpsc::channel::<Trigger>(256);
    if let Some(period) = settings.period {
        let ticks = tx.clone();
        tokio::spawn(async move {
            let mut interval =
                tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                interval.tick().await;
                // A full queue means a cycle is pending anyway.
                if let Err(mpsc::error::TrySendError::Closed(_)) = ticks.try_send(Trigger::Tick) {
                    break;
                }
            }
        });
    }
    tokio::spawn(async move {
        tokio::pin!(shutdown);
        let mut data = Data::default();
        let mut cycle = 0u64;
        loop {
            let first = tokio::select! {
                t = rx.recv() => match t { Some(t) => t, None => break },
                () = &mut shutdown => break,
            };
            let mut pending = vec![first];
            while let Ok(t) = rx.try_recv() {
                pending.push(t);
            }
            // Real cycles (ticks and non-dry invocations) first, then one dry run if asked.
            let (dry, real): (Vec<Trigger>, Vec<Trigger>) = pending
                .into_iter()
                .partition(|t| matches!(t, Trigger::Invoke { dry_run: true, .. }));
            for (group, dry_run) in [(real, false), (dry, true)] {
                if group.is_empty() {
                    continue;
                }
                cycle += 1;
                let report = if leadership.is_leader() {
                    cycle::run(&mut stages, &mut data, cycle, dry_run).await
                } else {
                    CycleReport {
                        cycle,
                        outcome: "skipped".into(),
                        reason: "not the leader; another controller runs the cycles".into(),
                        ..CycleReport::default()
                    }
                };
                metrics.record(&report);
                if let Some(path) = &settings.cycle_log {
                    append(path, &report);
                }
                for t in group {
                    if let Trigger::Invoke { reply, .. } = t {
                        let _ = reply.send(report.clone());
                    }
                }
            }
        }
    });
    Runner { tx }
}

fn append(path: &PathBuf, report: &CycleReport) {
    let line = match serde_json::to_string(report) {
        Ok(l) => l,
        Err(e) => return tracing::warn!(error = %e, "cannot encode the cycle record"),
    };
    let result = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "cannot append the cycle record");
    }
}
