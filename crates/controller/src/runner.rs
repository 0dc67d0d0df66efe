//! The cycle task: one cycle at a time, fed by ticks and invocations.
//!
//! Triggers do not queue as such: an invocation adds itself to the waiters of the *next* cycle,
//! and a tick marks that cycle as wanted. So however many triggers arrive while a cycle runs,
//! at most one cycle follows it, and every waiter gets that cycle's report. The follow-up is a
//! real cycle when a tick or a non-dry invocation asked for one, else a dry run: a dry-run
//! caller never causes a change, but when a real cycle is due anyway it shares that cycle's
//! report (which says `dryRun: false`) instead of adding a second cycle.

use crate::cycle::{self, CycleOutcome, CycleReport, Ports, Stages};
use crate::data::Data;
use crate::leader::Leadership;
use crate::metrics::Metrics;
use crate::persist::Store;
use crate::policy::tuning::TunedRecord;
use crate::policy::Policy;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{oneshot, Notify};

/// What the next cycle is wanted for.
#[derive(Debug, Default)]
struct Next {
    /// A tick or a non-dry invocation asked for a real cycle.
    real: bool,
    /// Invocations waiting for the next cycle's report.
    waiters: Vec<oneshot::Sender<CycleReport>>,
}

impl Next {
    fn wanted(&self) -> bool {
        self.real || !self.waiters.is_empty()
    }
}

#[derive(Debug, Default)]
struct Shared {
    next: Mutex<Next>,
    /// The shutdown future completed: no cycle starts any more.
    stopping: AtomicBool,
    /// The cycle task has stopped: invocations are refused. Written under the `next` lock.
    closed: AtomicBool,
    wake: Notify,
    /// Notified when the cycle task has stopped.
    stopped: Notify,
}

impl Shared {
    fn next(&self) -> MutexGuard<'_, Next> {
        self.next.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Handle to the cycle task.
#[derive(Debug, Clone)]
pub struct Runner {
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    policy: Arc<Mutex<Policy>>,
}

impl Runner {
    /// Asks for a cycle and waits for its report (None once the task stops).
    pub async fn invoke(&self, dry_run: bool) -> Option<CycleReport> {
        let (reply, rx) = oneshot::channel();
        {
            // `closed` is read under the lock the task takes the waiters with, so a waiter is
            // either served by a cycle or let go by the task when it stops.
            let mut next = self.shared.next();
            if self.shared.closed.load(Ordering::SeqCst) {
                return None;
            }
            next.real |= !dry_run;
            // Callers that hung up need no report: forget them now and then, so a flood of
            // abandoned calls during a long cycle holds no memory (amortised O(1) per call).
            if next.waiters.len() >= 1024 && next.waiters.len().is_power_of_two() {
                next.waiters.retain(|w| !w.is_closed());
            }
            next.waiters.push(reply);
            self.metrics.set_waiting(next.waiters.len());
        }
        self.shared.wake.notify_one();
        rx.await.ok()
    }

    /// What the loop has learnt of each (model, accelerator) so far.
    pub fn tuning(&self) -> Vec<TunedRecord> {
        let policy = self.policy.lock().unwrap_or_else(|e| e.into_inner());
        policy.tuning().records()
    }

    /// Invocations waiting for the next cycle (not counting those of the cycle running).
    pub fn waiting(&self) -> usize {
        self.shared.next().waiters.len()
    }

    /// Completes when the cycle task has stopped: after `shutdown`, once the cycle in flight,
    /// if any, has finished.
    pub async fn stopped(&self) {
        loop {
            let notified = self.shared.stopped.notified();
            if self.shared.closed.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    fn tick(&self) {
        self.shared.next().real = true;
        self.shared.wake.notify_one();
    }

    /// Waits until a cycle is wanted and takes its waiters; None when stopping.
    async fn take(&self) -> Option<Next> {
        loop {
            let woken = self.shared.wake.notified();
            if self.shared.stopping.load(Ordering::SeqCst) {
                return None;
            }
            {
                let mut next = self.shared.next();
                if next.wanted() {
                    self.metrics.set_waiting(0);
                    return Some(std::mem::take(&mut *next));
                }
            }
            woken.await;
        }
    }

    /// Refuses new invocations and lets the waiting ones go (they get None).
    fn close(&self) {
        let left = {
            let mut next = self.shared.next();
            self.shared.closed.store(true, Ordering::SeqCst);
            self.metrics.set_waiting(0);
            std::mem::take(&mut *next)
        };
        drop(left);
        self.shared.stopped.notify_waiters();
    }
}

/// Settings of the cycle task.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Period between cycles (None = on demand only).
    pub period: Option<Duration>,
    /// JSONL file to append one record per cycle to.
    pub cycle_log: Option<PathBuf>,
    /// Where what the loop learns is kept across restarts.
    pub store: Option<Store>,
}

/// Starts the cycle task. Once `shutdown` completes no cycle starts; the one in flight, if
/// any, finishes and answers its callers, and the callers still waiting get None.
pub fn start<P: Ports>(
    stages: Stages<P>,
    settings: Settings,
    leadership: Leadership,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Runner {
    let runner = Runner {
        shared: Arc::new(Shared::default()),
        metrics: metrics.clone(),
        policy: stages.policy.clone(),
    };
    let stop = runner.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.shared.stopping.store(true, Ordering::SeqCst);
        stop.shared.wake.notify_one();
    });
    if let Some(period) = settings.period {
        let ticks = runner.clone();
        tokio::spawn(async move {
            let mut interval =
                tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                interval.tick().await;
                if ticks.shared.stopping.load(Ordering::SeqCst) {
                    break;
                }
                ticks.tick();
            }
        });
    }
    let task = runner.clone();
    tokio::spawn(async move {
        let mut data = Data::default();
        let mut cycle = 0u64;
        let mut saved = String::new();
        if let Some(store) = &settings.store {
            match store.load().await {
                Ok(states) => {
                    tracing::info!(entries = states.len(), store = ?store, "tuning resumed");
                    saved = serde_json::to_string(&states).unwrap_or_default();
                    let mut policy = stages.policy.lock().unwrap_or_else(|e| e.into_inner());
                    policy.tuning_mut().resume(states);
                }
                Err(e) => tracing::warn!(error = %e, "tuning starts from the catalog"),
            }
        }
        while let Some(next) = task.take().await {
            let dry_run = !next.real;
            cycle += 1;
            let report = if leadership.is_leader() {
                run_guarded(&stages, &mut data, cycle, dry_run).await
            } else {
                CycleReport {
                    cycle,
                    outcome: CycleOutcome::Skipped,
                    reason: "not the leader; another controller runs the cycles".into(),
                    dry_run,
                    ..CycleReport::default()
                }
            };
            metrics.record(&report);
            if let (Some(store), true) = (&settings.store, leadership.is_leader()) {
                save(store, &stages, &mut saved).await;
            }
            if let Some(path) = &settings.cycle_log {
                append(path, &report);
            }
            for reply in next.waiters {
                let _ = reply.send(report.clone());
            }
        }
        task.close();
    });
    runner
}

/// Writes what the loop learnt when it changed since the last write; a failed write is logged
/// and retried after the next cycle.
async fn save<P>(store: &Store, stages: &Stages<P>, saved: &mut String) {
    let state = {
        let policy = stages.policy.lock().unwrap_or_else(|e| e.into_inner());
        policy.tuning().persisted()
    };
    let text = serde_json::to_string(&state).unwrap_or_default();
    if text == *saved {
        return;
    }
    match store.save(&state).await {
        Ok(()) => *saved = text,
        Err(e) => tracing::warn!(error = %e, "tuning not persisted"),
    }
}

/// Runs one cycle in a task of its own, so that a panic fails that cycle (and forgets the
/// data read so far) instead of stopping every later one.
async fn run_guarded<P: Ports>(
    stages: &Stages<P>,
    data: &mut Data,
    cycle: u64,
    dry_run: bool,
) -> CycleReport {
    let dry_run = dry_run || stages.dry_run;
    let (mut stages, mut owned) = (stages.clone(), std::mem::take(data));
    let task = tokio::spawn(async move {
        let report = cycle::run(&mut stages, &mut owned, cycle, dry_run).await;
        (report, owned)
    });
    match task.await {
        Ok((report, owned)) => {
            *data = owned;
            report
        }
        Err(e) => {
            let reason = format!("internal error: the cycle did not finish: {e}");
            tracing::error!(cycle, %reason, "cycle failed");
            CycleReport {
                ts: k8s_openapi::jiff::Timestamp::now().to_string(),
                cycle,
                outcome: CycleOutcome::Failed,
                reason,
                dry_run,
                ..CycleReport::default()
            }
        }
    }
}

/// Appends the cycle's record: the report of gRPC Invoke in proto3 JSON, on one line.
fn append(path: &PathBuf, report: &CycleReport) {
    let line = inferno_proto::json::to_string(&crate::grpc::report_message(report));
    let result = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| writeln!(f, "{line}"));
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "cannot append the cycle record");
    }
}
