//! The engine of one emulated server: one task that runs iterations back to back in emulated
//! time and paces them against the wall clock.
//!
//! [`Core`] is the synchronous part: the [`Scheduler`], the iteration-time model
//! `alpha + beta * computed tokens + gamma * KV tokens read` (ms, times an optional mean-one
//! log-normal noise factor), the internal [`Poisson`] load and the metrics. Its clock is the
//! emulated time in ms; an iteration planned at `t` ends at exactly `t + duration`, so
//! latencies are exact in emulated time whatever the pacing.
//!
//! [`drive`] is the task: after planning an iteration it sleeps until the wall-clock deadline
//! of the iteration's end (`start + t / scale`, an absolute deadline, so timer overshoot does
//! not accumulate), then completes it and answers finished requests. Requests from HTTP
//! arrive over a channel and join at the next iteration boundary, stamped with their receive
//! time mapped to emulated time (never later than that boundary). When there is nothing to
//! compute, the task waits for a command or the next internal arrival.

use crate::completion::{Completion, Outcome, Waiter};
use crate::config::LoadSpec;
use crate::metrics::Metrics;
use crate::poisson::Poisson;
use crate::rng::Rng;
use crate::scheduler::{Events, Limits, Scheduler, Work};
use inferno_api::PerfParms;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// Maps wall-clock instants to emulated milliseconds: emulated time runs `scale` times faster.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: Instant,
    scale: f64,
}

impl Clock {
    /// A clock whose emulated time 0 is now.
    pub(crate) fn start(scale: f64) -> Self {
        Self {
            start: Instant::now(),
            scale,
        }
    }

    /// Emulated ms at `at`.
    pub(crate) fn emulated(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64() * 1000.0 * self.scale
    }

    /// Emulated ms now.
    pub(crate) fn now(&self) -> f64 {
        self.emulated(Instant::now())
    }

    /// The wall-clock instant of emulated time `t` (ms).
    pub(crate) fn deadline(&self, t: f64) -> Instant {
        let secs = (t / 1000.0 / self.scale).max(0.0);
        self.start + std::time::Duration::from_secs_f64(secs.min(1e9))
    }
}

/// What the engine runs with; every field can change between iterations.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    /// Accelerator name (for the info metric only; `perf` is what counts).
    pub(crate) accelerator: String,
    /// Iteration-time parameters, ms.
    pub(crate) perf: PerfParms,
    /// Batch cap, token budget, KV capacity.
    pub(crate) limits: Limits,
}

/// A request from outside (HTTP or `complete`).
#[derive(Debug)]
pub(crate) struct Submission {
    pub(crate) prompt: u32,
    pub(crate) max_tokens: u32,
    pub(crate) received: Instant,
    pub(crate) reply: Waiter,
}

/// Messages to the engine task.
#[derive(Debug)]
pub(crate) enum Command {
    /// Queue a request.
    Submit(Submission),
    /// Apply new settings from the next iteration on.
    Settings(Settings),
    /// Start (replace) or stop the internal load.
    Load(Option<LoadSpec>),
    /// Answered once every command sent before it has been applied.
    Barrier(oneshot::Sender<()>),
}

type Reply = Option<Waiter>;

const TOO_LONG: &str = "prompt + max_tokens exceeds the KV cache capacity";

/// The synchronous engine state.
#[derive(Debug)]
pub(crate) struct Core {
    now: f64,
    scheduler: Scheduler<Reply>,
    settings: Settings,
    noise: f64,
    rng: Rng,
    load: Option<Poisson>,
    metrics: Arc<Mutex<Metrics>>,
    events: Events<Reply>,
    in_flight: Option<(Work, f64)>,
}

impl Core {
    /// An idle engine at emulated time 0.
    pub(crate) fn new(
        settings: Settings,
        noise: f64,
        seed: u64,
        load: Option<LoadSpec>,
        metrics: Arc<Mutex<Metrics>>,
    ) -> Self {
        Self {
            now: 0.0,
            scheduler: Scheduler::new(settings.limits),
            settings,
            noise,
            rng: Rng::new(seed),
            load: load.map(|l| Poisson::new(l, 0.0)),
            metrics,
            events: Events::default(),
            in_flight: None,
        }
    }

    /// Emulated time of the engine, ms.
    #[cfg(test)]
    pub(crate) fn now(&self) -> f64 {
        self.now
    }

    /// Moves the clock forward to `t` (never back).
    pub(crate) fn advance_to(&mut self, t: f64) {
        self.now = self.now.max(t);
    }

    /// Applies a command at the current boundary; `received_at` maps a submission's receive
    /// instant to emulated ms.
    pub(crate) fn apply(&mut self, cmd: Command, received_at: impl Fn(Instant) -> f64) {
        match cmd {
            Command::Submit(s) => {
                let arrival = received_at(s.received).min(self.now);
                self.submit(arrival, s.prompt, s.max_tokens, Some(s.reply));
            }
            Command::Settings(settings) => {
                let dropped = self.scheduler.set_limits(settings.limits);
                let mut m = lock(&self.metrics);
                m.set_allocation(&settings.accelerator, settings.limits.max_batch);
                for reply in dropped {
                    m.rejected();
                    if let Some(w) = reply {
                        w.send(Outcome::Rejected(TOO_LONG.into()));
                    }
                }
                drop(m);
                self.settings = settings;
            }
            Command::Load(load) => self.load = load.map(|l| Poisson::new(l, self.now)),
            Command::Barrier(tx) => {
                let _ = tx.send(());
            }
        }
        self.publish();
    }

    fn submit(&mut self, arrival: f64, prompt: u32, max_tokens: u32, reply: Reply) {
        if let Err(reply) = self.scheduler.submit(arrival, prompt, max_tokens, reply) {
            lock(&self.metrics).rejected();
            if let Some(w) = reply {
                w.send(Outcome::Rejected(TOO_LONG.into()));
            }
        }
    }

    /// Emulated time of the next internal arrival.
    pub(crate) fn next_arrival(&self) -> Option<f64> {
        self.load.as_ref().map(Poisson::next_at)
    }

    /// The internal load in force.
    #[cfg(test)]
    pub(crate) fn load(&self) -> Option<&LoadSpec> {
        self.load.as_ref().map(Poisson::spec)
    }

    /// Queues the internal arrivals due by now, then plans the next iteration. Returns its
    /// end time (emulated ms), or `None` when there is nothing to compute.
    pub(crate) fn begin(&mut self) -> Option<f64> {
        debug_assert!(self.in_flight.is_none());
        while let Some(a) = self.load.as_mut().and_then(|p| p.pop_due(self.now)) {
            self.submit(a.at, a.prompt, a.max_tokens, None);
        }
        let Some(work) = self.scheduler.schedule(self.now) else {
            self.publish();
            return None;
        };
        let p = self.settings.perf;
        let base =
            p.alpha + p.beta * work.computed_tokens() as f64 + p.gamma * work.kv_tokens as f64;
        let duration = base * self.rng.noise_factor(self.noise);
        self.in_flight = Some((work, duration));
        // The gauges show the batch of the iteration in flight, admissions included.
        self.publish();
        Some(self.now + duration)
    }

    /// Completes the planned iteration: advances the clock to its end, records the metrics and
    /// answers the requests that finished.
    pub(crate) fn end(&mut self) {
        let Some((work, duration)) = self.in_flight.take() else {
            return;
        };
        self.now += duration;
        self.events.clear();
        self.scheduler.complete(self.now, &mut self.events);
        {
            let mut m = lock(&self.metrics);
            m.iteration(&work, duration, &self.events);
            m.gauges(
                self.scheduler.running(),
                self.scheduler.waiting(),
                self.scheduler.kv_usage(),
                self.now,
            );
        }
        for f in self.events.finished.drain(..) {
            let done = Completion {
                prompt_tokens: f.prompt_tokens,
                completion_tokens: f.generated,
                queue_ms: f.queue_time(),
                ttft_ms: f.ttft(),
                e2e_ms: f.e2e(),
                itl_ms: f.tpot().unwrap_or(0.0),
                preemptions: f.preemptions,
            };
            if let Some(w) = f.payload {
                w.send(Outcome::Done(done));
            }
        }
    }

    /// Runs iterations back to back without pacing until emulated time `horizon` (ms) is
    /// reached or there is nothing left to do.
    #[cfg(test)]
    pub(crate) fn run_until(&mut self, horizon: f64) {
        while self.now < horizon {
            if self.begin().is_some() {
                self.end();
                continue;
            }
            match self.next_arrival() {
                Some(t) if t <= horizon => self.advance_to(t),
                _ => break,
            }
        }
    }

    fn publish(&self) {
        lock(&self.metrics).gauges(
            self.scheduler.running(),
            self.scheduler.waiting(),
            self.scheduler.kv_usage(),
            self.now,
        );
    }

    /// Drops every request (their callers see the channel close: cut off).
    pub(crate) fn shutdown(&mut self) {
        self.in_flight = None;
        self.scheduler.drain();
        self.load = None;
        self.publish();
    }
}

pub(crate) fn lock(m: &Mutex<Metrics>) -> std::sync::MutexGuard<'_, Metrics> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The engine task: runs until `shutdown` turns true or its sender is dropped.
pub(crate) async fn drive(
    mut core: Core,
    clock: Clock,
    mut commands: mpsc::UnboundedReceiver<Command>,
    mut shutdown: watch::Receiver<bool>,
) {
    let stopped =
        |rx: &watch::Receiver<bool>| !matches!(rx.has_changed(), Ok(false)) || *rx.borrow();
    let received = |at: Instant| clock.emulated(at);
    loop {
        if stopped(&shutdown) {
            break;
        }
        while let Ok(cmd) = commands.try_recv() {
            core.apply(cmd, received);
        }
        if let Some(end) = core.begin() {
            let deadline = clock.deadline(end);
            if deadline > Instant::now() {
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {}
                    _ = shutdown.changed() => break,
                }
            } else {
                // Behind the wall clock (tiny iterations at a large scale): catch up, but let
                // the HTTP tasks run.
                tokio::task::yield_now().await;
            }
            core.end();
            continue;
        }
        let next = core.next_arrival();
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(cmd) => {
                    core.advance_to(clock.now());
                    core.apply(cmd, received);
                }
                None => break,
            },
            () = sleep_until_emulated(&clock, next) => {
                if let Some(t) = next {
                    core.advance_to(t);
                }
            }
            _ = shutdown.changed() => break,
        }
    }
    core.shutdown();
}

async fn sleep_until_emulated(clock: &Clock, t: Option<f64>) {
    match t {
        Some(t) => tokio::time::sleep_until(clock.deadline(t)).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenDist;

    fn settings(alpha: f64, beta: f64, gamma: f64, max_batch: u32) -> Settings {
        Settings {
            accelerator: "X".into(),
            perf: PerfParms { alpha, beta, gamma },
            limits: Limits {
                max_batch,
                max_num_tokens: 8192,
                kv_capacity: 1 << 30,
            },
        }
    }

    fn metrics() -> Arc<Mutex<Metrics>> {
        Arc::new(Mutex::new(Metrics::new("m", "X", 8)))
    }

    #[test]
    fn iteration_time_follows_alpha_beta_gamma() {
        let m = metrics();
        let mut core = Core::new(settings(10.0, 0.5, 0.01, 8), 0.0, 1, None, m.clone());
        let counter = Arc::default();
        let (reply, mut rx) = Waiter::new(&counter);
        core.apply(
            Command::Submit(Submission {
                prompt: 100,
                max_tokens: 2,
                received: Instant::now(),
                reply,
            }),
            |_| 0.0,
        );
        assert_eq!(counter.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Prefill: 10 + 0.5 * 100 + 0.01 * 100 = 61 ms.
        assert_eq!(core.begin(), Some(61.0));
        core.end();
        // Decode 1: 10 + 0.5 + 0.01 * 101; decode 2: 10 + 0.5 + 0.01 * 102.
        let d1 = 10.0 + 0.5 + 1.01;
        let d2 = 10.0 + 0.5 + 1.02;
        assert_eq!(core.begin(), Some(61.0 + d1));
        core.end();
        core.begin();
        core.end();
        assert!((core.now() - (61.0 + d1 + d2)).abs() < 1e-9);
        let Ok(Outcome::Done(done)) = rx.try_recv() else {
            panic!("request not done");
        };
        assert_eq!((done.prompt_tokens, done.completion_tokens), (100, 2));
        assert!((done.ttft_ms - (61.0 + d1)).abs() < 1e-9);
        assert!(
            (done.itl_ms - d2).abs() < 1e-9,
            "one gap after the first token"
        );
        assert_eq!(counter.load(std::sync::atomic::Ordering::SeqCst), 0);
        let s = lock(&m).snapshot();
        assert_eq!(
            (s.requests, s.prompt_tokens, s.generation_tokens),
            (1, 100, 2)
        );
        assert_eq!(s.iterations, 3);
        assert_eq!(core.begin(), None);
    }

    #[test]
    fn internal_load_is_deterministic_and_keeps_the_rate() {
        let load = LoadSpec {
            rate: 4.0,
            in_tokens: TokenDist::Uniform(50, 150),
            out_tokens: TokenDist::Fixed(20),
            seed: 5,
        };
        let run = || {
            let m = metrics();
            let mut core = Core::new(
                settings(5.0, 0.02, 0.0005, 16),
                0.1,
                9,
                Some(load.clone()),
                m.clone(),
            );
            core.run_until(600_000.0);
            let s = lock(&m).snapshot();
            s
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b);
        // 600 s at 4/s: 2400 expected (sd 49).
        assert!((a.requests as f64 - 2400.0).abs() < 200.0, "{}", a.requests);
        // Finished requests generated 20 each; requests still running add some.
        assert!(a.generation_tokens >= 20 * a.requests);
        assert!(a.generation_tokens < 20 * (a.requests + a.running + a.waiting + 1));
        let per_req = a.prompt_tokens as f64 / a.requests as f64;
        assert!((per_req - 100.0).abs() < 5.0, "{per_req}");
    }

    #[test]
    fn settings_and_load_commands_apply_at_the_boundary() {
        let m = metrics();
        let mut core = Core::new(settings(5.0, 0.0, 0.0, 8), 0.0, 1, None, m.clone());
        core.apply(Command::Load(Some(LoadSpec::default())), |_| 0.0);
        assert!(core.load().is_some());
        core.run_until(10_000.0);
        let mut s = settings(7.0, 0.0, 0.0, 2);
        s.accelerator = "Y".into();
        core.apply(Command::Settings(s.clone()), |_| 0.0);
        assert_eq!(core.settings, s);
        assert!(crate::metrics::render(&m).contains("accelerator=\"Y\""));
        core.apply(Command::Load(None), |_| 0.0);
        core.run_until(1e9);
        assert_eq!(core.next_arrival(), None);
        assert!(core.begin().is_none(), "drained after the load stopped");
    }

    #[test]
    fn clock_maps_scaled_time() {
        let c = Clock::start(10.0);
        let later = c.deadline(1000.0);
        assert_eq!(later - c.start, std::time::Duration::from_millis(100));
        assert!((c.emulated(later) - 1000.0).abs() < 1e-6);
    }
}
