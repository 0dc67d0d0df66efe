//! Online tuning of the iteration-time parameters (alpha, beta, gamma) of one (model,
//! accelerator) from what its servers deliver (docs/tuning.md).
//!
//! Every measurement of a server (mean ITL and TTFT over a window, at its measured arrival rate
//! per pod and mean batch, token means and batch cap) is one observation of the parameters
//! through the very model the optimizer sizes with: [`Analyzer::analyze`]. The TTFT is read at
//! the window's rate; the ITL at the rate whose mean batch is the one the pods held
//! ([`observed`]). [`Tuner`] runs an extended Kalman filter over them (the model is smooth in
//! the parameters; it is linearised around the current estimate at each window, by finite
//! differences).
//!
//! - **Why the queueing model and not the iteration-time formula at the occupancy.** ITL is
//!   linear in the parameters at a fixed occupancy, but a mean ITL is a mean over tokens, and
//!   more tokens are generated while the batch is fuller: the measured mean sits above the
//!   ITL at the mean occupancy by about one request's share of the iteration. A filter fitted
//!   to the occupancy form absorbs that bias into the parameters, and the optimizer, which
//!   predicts through the chain, is then off the other way (21% at 4 requests per pod on the
//!   drift benchmark). Fitted through the analyzer, tuning and prediction are one model.
//! - **Why the ITL at the measured mean batch and not at the rate.** The chain at the rate
//!   that brings the pods' mean batch has the pods' spread of batches around it, so the
//!   bias above is the model's own; and the iteration time depends on what the batch holds,
//!   not on how it got there. Pods near a full batch are seldom in the chain's steady state
//!   at their rate (see [`observed`]).
//! - **Why a Kalman filter and not recursive least squares with forgetting.** One server at one
//!   token mix excites one direction of the three parameters at a time; RLS with forgetting
//!   inflates its covariance in the directions it does not see (wind-up) and then jumps on the
//!   next outlier, while the Kalman filter keeps the catalog as its prior there and grows its
//!   uncertainty only by the drift it is told to expect. Its covariance is the uncertainty the
//!   report shows, and its innovation variance gives a principled outlier gate.
//! - **State**: the parameters relative to the catalog's (1 = the catalog), so the three are on
//!   one scale whatever their units; a parameter the catalog has at 0 stays 0 (there is nothing
//!   to scale, and a model without that term is a modelling choice, not an estimate).
//! - **Drift**: a random walk of `drift_sd` per update: old evidence fades at that pace.
//! - **Outliers**: a measurement more than `gate` standard deviations off the prediction is
//!   rejected; `step_after` rejections in a row on the same side are a step change (a new vLLM
//!   version, a noisy neighbour), not outliers: the covariance goes back to the prior's and the
//!   measurement is taken.
//! - **Bounds**: the estimate stays within `bounds` times the catalog (a tuned value outside is
//!   a broken measurement or a broken catalog, for a person to look at).

#[cfg(test)]
mod tests;

/// A covariance of three equal variances `v` with correlation `rho` between each pair.
fn correlated(v: f64, rho: f64) -> [[f64; 3]; 3] {
    let c = v * rho.clamp(0.0, 0.99);
    [[v, c, c], [c, v, c], [c, c, v]]
}

use crate::queue::{Analyzer, PerfParams, QueueConfig};

/// How the filter weighs evidence; defaults in docs/tuning.md.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TunerSettings {
    /// Prior standard deviation of each parameter, relative to the catalog's value.
    pub prior_sd: f64,
    /// Random-walk standard deviation per update, relative.
    pub drift_sd: f64,
    /// Correlation of the three parameters' prior and drift. Servers mostly get slower or
    /// faster as a whole, and one window at one occupancy cannot tell the three apart: with a
    /// correlation the filter moves them together and the model holds at occupancies it has
    /// not seen. 0.9 by default: with independent priors, llama on G2 (1.2x slower in all
    /// three) was tuned at about 5 requests per pod to half the catalog's gamma, and the
    /// loop then put 43 requests on one pod at a predicted 40 ms ITL that measured 113 ms
    /// (docs/tuning.md).
    pub correlation: f64,
    /// Relative standard deviation of a measured mean ITL.
    pub itl_noise: f64,
    /// Relative standard deviation of a measured mean TTFT (no queue in front of it).
    pub ttft_noise: f64,
    /// Innovations beyond this many standard deviations are outliers.
    pub gate: f64,
    /// This many outliers in a row on the same side are a step change.
    pub step_after: u32,
    /// The estimate stays within `[bounds.0, bounds.1]` times the catalog.
    pub bounds: (f64, f64),
    /// Accepted measurements before the tuned values replace the catalog's.
    pub min_updates: u64,
}

impl Default for TunerSettings {
    fn default() -> Self {
        Self {
            prior_sd: 0.5,
            drift_sd: 0.03,
            correlation: 0.9,
            itl_noise: 0.05,
            ttft_noise: 0.10,
            gate: 3.0,
            step_after: 3,
            bounds: (0.2, 5.0),
            min_updates: 3,
        }
    }
}

/// One window of one server: what its pods delivered and under what.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Mean prompt tokens per request.
    pub in_tokens: f64,
    /// Mean generated tokens per request.
    pub out_tokens: f64,
    /// Coefficient of variation of the generated tokens per request (0 = not known: every
    /// request at the mean).
    pub out_cv: f64,
    /// Arrival rate per serving pod, requests/s.
    pub rate: f64,
    /// The pods' batch cap.
    pub max_batch: u32,
    /// The server's waiting room per pod (`maxQueueSize`).
    pub max_queue: u32,
    /// Mean requests running per pod over the window (0 = not measured). When measured, the
    /// ITL is read at this occupancy, not at `rate` (see [`Tuner::observe`]).
    pub running: f64,
    /// Mean ITL, ms (0 = not measured).
    pub itl_ms: f64,
    /// Mean TTFT, ms, only when no request waited in the window (0 = none): a wait in a queue
    /// in front of the server is not in the model.
    pub ttft_ms: f64,
}

/// What the filter made of one latency of a [`Measurement`]: `predicted` is the model's value
/// before the update (ms), `sigmas` the innovation in standard deviations of its prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(missing_docs)] // the fields are documented on the enum
pub enum Verdict {
    /// Taken.
    Accepted { predicted: f64, sigmas: f64 },
    /// Rejected as an outlier.
    Rejected { predicted: f64, sigmas: f64 },
    /// Taken as a step change after rejections in a row: the uncertainty was reset.
    Step { predicted: f64, sigmas: f64 },
}

/// The filter's state, for persisting and restoring across restarts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TunerState {
    /// The estimate relative to the catalog.
    pub relative: [f64; 3],
    /// Its covariance (relative units).
    pub covariance: [[f64; 3]; 3],
    /// Measurements taken.
    pub updates: u64,
    /// Measurements rejected as outliers.
    pub rejected: u64,
}

/// The Kalman filter of one (model, accelerator).
#[derive(Debug, Clone)]
pub struct Tuner {
    settings: TunerSettings,
    catalog: PerfParams,
    x: [f64; 3],
    p: [[f64; 3]; 3],
    updates: u64,
    rejected: u64,
    /// Per latency (ITL, TTFT): outliers in a row and their side (+1 above the prediction, -1
    /// below). Kept apart: a TTFT taken between two rejected ITLs says nothing about whether the
    /// ITLs are outliers or a step.
    streak: [(u32, f64); 2],
}

fn scales(p: PerfParams) -> [f64; 3] {
    [p.alpha, p.beta, p.gamma]
}

impl Tuner {
    /// A filter that knows only the catalog.
    pub fn new(catalog: PerfParams, settings: TunerSettings) -> Self {
        let mut t = Self {
            settings,
            catalog,
            x: [1.0; 3],
            p: [[0.0; 3]; 3],
            updates: 0,
            rejected: 0,
            streak: [(0, 0.0); 2],
        };
        t.reset_covariance();
        t
    }

    /// A filter resumed from `state` (persisted by an earlier run). A state whose numbers are
    /// not finite, or outside the bounds, is not resumed: the catalog is.
    pub fn resume(catalog: PerfParams, settings: TunerSettings, state: TunerState) -> Self {
        let mut t = Self::new(catalog, settings);
        let (lo, hi) = settings.bounds;
        let sane = state
            .relative
            .iter()
            .all(|v| v.is_finite() && (lo..=hi).contains(v))
            && state.covariance.iter().flatten().all(|v| v.is_finite())
            && (0..3).all(|i| state.covariance[i][i] >= 0.0);
        if sane {
            t.x = state.relative;
            t.p = state.covariance;
            t.updates = state.updates;
            t.rejected = state.rejected;
            t.freeze_zeros();
        }
        t
    }

    fn reset_covariance(&mut self) {
        self.p = correlated(self.settings.prior_sd.powi(2), self.settings.correlation);
        self.freeze_zeros();
    }

    /// Parameters the catalog has at 0 are not estimated.
    fn freeze_zeros(&mut self) {
        for (i, s) in scales(self.catalog).into_iter().enumerate() {
            if s <= 0.0 {
                self.x[i] = 1.0;
                for j in 0..3 {
                    self.p[i][j] = 0.0;
                    self.p[j][i] = 0.0;
                }
            }
        }
    }

    /// The catalog's parameters.
    pub fn catalog(&self) -> PerfParams {
        self.catalog
    }

    /// The current estimate, within the bounds.
    pub fn estimate(&self) -> PerfParams {
        params_at(self.catalog, self.x)
    }

    /// Standard deviation of each parameter of [`Tuner::estimate`], in its units.
    pub fn sd(&self) -> PerfParams {
        let s = scales(self.catalog);
        let sd = |i: usize| s[i] * self.p[i][i].max(0.0).sqrt();
        PerfParams {
            alpha: sd(0),
            beta: sd(1),
            gamma: sd(2),
        }
    }

    /// Whether the evidence is enough for [`Tuner::params`] to be the estimate.
    pub fn trusted(&self) -> bool {
        self.updates >= self.settings.min_updates
    }

    /// The parameters to plan with: the estimate once trusted, else the catalog.
    pub fn params(&self) -> PerfParams {
        if self.trusted() {
            self.estimate()
        } else {
            self.catalog
        }
    }

    /// Measurements taken so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// Measurements rejected as outliers so far.
    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// The state, to persist.
    pub fn state(&self) -> TunerState {
        TunerState {
            relative: self.x,
            covariance: self.p,
            updates: self.updates,
            rejected: self.rejected,
        }
    }

    /// Takes one window of one server. Returns what became of its ITL and TTFT (`None` where
    /// there was nothing to take: not measured, or a state the model cannot describe).
    ///
    /// The TTFT is read through the model at the window's rate ([`latencies`]); the ITL, when
    /// the pods' mean occupancy is measured (`running`), at that occupancy ([`observed`]).
    pub fn observe(&mut self, m: &Measurement) -> [Option<Verdict>; 2] {
        let measured = |v: f64| v.is_finite() && v > 0.0;
        if !(measured(m.itl_ms) || measured(m.ttft_ms)) {
            return [None, None];
        }
        // The model and its slope in each parameter around the estimate.
        let Some((at, slope)) = linearised(self.catalog, self.x, m) else {
            return [None, None];
        };
        // The parameters drift between windows with a measurement, whichever latency it has.
        let q = correlated(self.settings.drift_sd.powi(2), self.settings.correlation);
        for (row, q) in self.p.iter_mut().zip(q) {
            for (p, q) in row.iter_mut().zip(q) {
                *p += q;
            }
        }
        self.freeze_zeros();
        let mut out = [None, None];
        let mut taken = false;
        for (k, (predicted, measured, noise)) in [
            (at.0, m.itl_ms, self.settings.itl_noise),
            (at.1, m.ttft_ms, self.settings.ttft_noise),
        ]
        .into_iter()
        .enumerate()
        {
            if !(measured.is_finite() && measured > 0.0) {
                continue;
            }
            // After the ITL update the estimate moved: the TTFT row is linearised around where
            // the filter was, which at these step sizes is well within the model's smoothness.
            let catalog = self.catalog;
            let model = |x: [f64; 3]| linearised(catalog, x, m).map(|(v, d)| ([v.0, v.1][k], d[k]));
            let verdict = self.update(k, slope[k], predicted, measured, noise, model);
            taken |= !matches!(verdict, Verdict::Rejected { .. });
            out[k] = Some(verdict);
        }
        if taken {
            self.updates += 1;
        }
        out
    }

    /// One scalar update with the observation `measured ≈ model(x)`, in relative terms
    /// (divided by `measured`, so that `noise` is a relative error). `slope` and `predicted`
    /// are the model's at the estimate; `model` gives its value and slope anywhere.
    ///
    /// The gate reads the innovation at the estimate, linearised (how surprising the window
    /// is). The update is *iterated* (Gauss-Newton on the posterior: an iterated extended
    /// Kalman filter): the model is steep and curved near a full batch, and one linear step
    /// overshoots there. Seen on the burst benchmark: a step change taken at 20 requests per
    /// pod, where the estimate predicted 36 ms and the pods delivered 121 ms, moved the three
    /// parameters in one linear step to 3.1x the catalog (the model then predicted 327 ms at
    /// that very window, and the loop ordered 53 pods for 14's load); re-linearised, the same
    /// window gives about 1.3x, where the model predicts 120 ms and 19 requests per pod.
    // Indices, as in the filter's equations, read better than iterator chains at 3 x 3.
    #[allow(clippy::needless_range_loop)]
    fn update(
        &mut self,
        kind: usize,
        slope: [f64; 3],
        predicted: f64,
        measured: f64,
        noise: f64,
        model: impl Fn([f64; 3]) -> Option<(f64, [f64; 3])>,
    ) -> Verdict {
        let h: [f64; 3] = std::array::from_fn(|i| slope[i] / measured);
        let predicted_rel = predicted / measured;
        let ph: [f64; 3] = std::array::from_fn(|i| (0..3).map(|j| self.p[i][j] * h[j]).sum());
        let r = noise.powi(2);
        let var = (0..3).map(|i| h[i] * ph[i]).sum::<f64>() + r;
        let innovation = 1.0 - predicted_rel;
        let sigmas = innovation / var.sqrt();
        let mut step = false;
        if sigmas.abs() > self.settings.gate {
            let side = sigmas.signum();
            let streak = &mut self.streak[kind];
            *streak = if streak.1 == side {
                (streak.0 + 1, side)
            } else {
                (1, side)
            };
            if streak.0 < self.settings.step_after {
                self.rejected += 1;
                return Verdict::Rejected { predicted, sigmas };
            }
            // The servers changed: forget how sure we were, then take the measurement.
            self.reset_covariance();
            self.streak[kind] = (0, 0.0);
            step = true;
        } else {
            self.streak[kind] = (0, 0.0);
        }
        let (lo, hi) = self.settings.bounds;
        let x0 = self.x;
        let (mut xi, mut hi_rel, mut pred_i) = (x0, h, predicted_rel);
        let mut gain = [0.0; 3];
        let mut ph = [0.0; 3];
        for _ in 0..MAX_ITERATIONS {
            ph = std::array::from_fn(|i| (0..3).map(|j| self.p[i][j] * hi_rel[j]).sum());
            let var = (0..3).map(|i| hi_rel[i] * ph[i]).sum::<f64>() + r;
            gain = std::array::from_fn(|i| ph[i] / var);
            // x0 + K (y - h(xi) - H (x0 - xi)), with y = 1 in relative terms.
            let residual = 1.0 - pred_i - (0..3).map(|j| hi_rel[j] * (x0[j] - xi[j])).sum::<f64>();
            let next: [f64; 3] =
                std::array::from_fn(|i| (x0[i] + gain[i] * residual).clamp(lo, hi));
            let moved = (0..3).map(|i| (next[i] - xi[i]).abs()).fold(0.0, f64::max);
            xi = next;
            if moved < CONVERGED {
                break;
            }
            // Re-linearise where the step landed; outside the model's domain, stay there.
            let Some((v, d)) = model(xi) else { break };
            pred_i = v / measured;
            hi_rel = std::array::from_fn(|i| d[i] / measured);
        }
        self.x = xi;
        // Joseph form would keep P symmetric under rounding too; the simple form with explicit
        // symmetrisation is enough at three states.
        let mut p = self.p;
        for i in 0..3 {
            for j in 0..3 {
                p[i][j] -= gain[i] * ph[j];
            }
        }
        for i in 0..3 {
            for j in 0..i {
                let v = (p[i][j] + p[j][i]) / 2.0;
                p[i][j] = v;
                p[j][i] = v;
            }
            p[i][i] = p[i][i].max(0.0);
        }
        self.p = p;
        self.freeze_zeros();
        if step {
            Verdict::Step { predicted, sigmas }
        } else {
            Verdict::Accepted { predicted, sigmas }
        }
    }
}

/// Relative step of the finite differences: small against the parameters' uncertainty, large
/// against the analyzer's rounding.
const STEP: f64 = 1e-4;

/// Gauss-Newton steps of one update at most, and the move (relative to the catalog) under
/// which it has converged.
const MAX_ITERATIONS: usize = 20;
const CONVERGED: f64 = 1e-4;

/// The model's ITL and TTFT at a point and their slopes in each parameter there.
type Linearised = ((f64, f64), [[f64; 3]; 2]);

/// The model's ITL and TTFT at `x` (relative to `catalog`) and their slopes in each parameter
/// there (finite differences); `None` outside the model's domain.
fn linearised(catalog: PerfParams, x: [f64; 3], m: &Measurement) -> Option<Linearised> {
    let at = observed(params_at(catalog, x), m)?;
    let s = scales(catalog);
    let mut slope = [[0.0; 3]; 2];
    for i in 0..3 {
        if s[i] <= 0.0 {
            continue;
        }
        let mut moved = x;
        moved[i] += STEP;
        let moved = observed(params_at(catalog, moved), m)?;
        slope[0][i] = (moved.0 - at.0) / STEP;
        slope[1][i] = (moved.1 - at.1) / STEP;
    }
    Some((at, slope))
}

fn params_at(catalog: PerfParams, x: [f64; 3]) -> PerfParams {
    let s = scales(catalog);
    PerfParams {
        alpha: s[0] * x[0],
        beta: s[1] * x[1],
        gamma: s[2] * x[2],
    }
}

/// What the filter compares a window with: the mean TTFT of [`latencies`] at the window's rate,
/// and the mean ITL at the pods' measured occupancy when there is one (`m.running`), else at
/// the rate. `None` outside the model's domain, or at an occupancy the model never reaches.
///
/// Why the ITL at the occupancy: the iteration time is a function of what the batch holds,
/// at any moment, whatever brought it there; the occupancy a rate brings is the model's
/// steady state. Near a full batch that steady state is steep (a few percent on the rate or
/// the parameters moves the occupancy by half), and pods seldom sit in it: a burst of
/// arrivals fills their batches, and a full batch runs each request slower, so it stays full
/// for minutes after the burst. Read at the rate, such windows were outliers: on the diurnal
/// benchmark mixtral's pods held 19.6 requests at 111.6 ms where the model at their rate
/// predicted 55 ms (with the true parameters 80 ms and 12 requests); the filter rejected them
/// (+7.6 sd), had learnt the servers at 3-8 requests a pod, where alpha and gamma look alike,
/// kept gamma at the catalog's (the servers were 1.24x) and the optimizer sized pods that
/// filled and queued. At the occupancy the same model with the same parameters predicts 96
/// ms, and with the true ones 115 ms: the window says how much slower a fuller batch runs,
/// which is gamma's.
pub fn observed(params: PerfParams, m: &Measurement) -> Option<(f64, f64)> {
    let analyzer = analyzer_for(params, m)?;
    let (at_rate, ttft) = latencies_of(&analyzer, m)?;
    if !(m.running.is_finite() && m.running > 0.0) {
        return Some((at_rate, ttft));
    }
    Some((itl_at_occupancy(&analyzer, m.running)?, ttft))
}

/// Iterations of the bisection for the rate at an occupancy: the bracket shrinks to 2^-60 of
/// itself, well under the finite differences' step.
const BISECTIONS: usize = 60;

/// The model's mean ITL (ms) at the rate whose mean batch is `running`; `None` if no rate
/// brings it there (at or above the cap).
fn itl_at_occupancy(analyzer: &Analyzer, running: f64) -> Option<f64> {
    // Requests/ms. The mean batch grows with the rate, from 0 towards the cap (or the cap
    // with its waiting room): double the rate until it brackets `running`.
    let occupancy = |lambda: f64| analyzer.metrics_at(lambda).num_in_service;
    let mut lo = 0.0;
    let mut hi = analyzer.rate_range().max / 1000.0;
    if !(hi.is_finite() && hi > 0.0) {
        return None;
    }
    let mut doublings = 0;
    while occupancy(hi) < running {
        lo = hi;
        hi *= 2.0;
        doublings += 1;
        if doublings > 40 {
            return None;
        }
    }
    for _ in 0..BISECTIONS {
        let mid = (lo + hi) / 2.0;
        if occupancy(mid) < running {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let itl = analyzer.metrics_at((lo + hi) / 2.0).itl;
    itl.is_finite().then_some(itl)
}

/// The analyzer of one pod of `m` with `params`.
fn analyzer_for(params: PerfParams, m: &Measurement) -> Option<Analyzer> {
    Analyzer::new(QueueConfig {
        max_batch: m.max_batch.max(1),
        max_queue: m.max_queue,
        max_tokens: 0,
        params,
        in_tokens: m.in_tokens,
        out_tokens: m.out_tokens,
        out_cv: m.out_cv,
    })
    .ok()
}

/// The mean ITL and TTFT (ms) a pod's metrics show for `params` at the measurement's rate,
/// tokens, batch cap and waiting room: the queueing model's (what the optimizer predicts), with
/// the TTFT's wait for the iteration under way. `None` outside the model's domain (no rate,
/// tokens out of range, all parameters 0).
///
/// A request that arrives while the pod runs an iteration joins the batch at its end, as vLLM
/// schedules between iterations; the chain is continuous in time and has no such wait. Arrivals
/// come at random times, so they wait half an iteration on average (a decode iteration is about
/// one ITL), when the pod is busy. That is the TTFT the emulator shows above the chain's,
/// 15.7-29.2% at its four test points (docs/emulator.md, section 8). Fitted without it,
/// the tuner put the wait into beta (the prefill's per-token time, the only term of the TTFT the
/// ITL does not pin down) and took it back out of gamma: on the ramp benchmark, servers 1.2x
/// slower than the catalog were tuned to beta 1.8-2.1x and gamma 0.9-1.1x, and the model then
/// promised fuller batches less ITL than they had.
pub fn latencies(params: PerfParams, m: &Measurement) -> Option<(f64, f64)> {
    latencies_of(&analyzer_for(params, m)?, m)
}

/// [`latencies`] with the pod's analyzer built.
fn latencies_of(analyzer: &Analyzer, m: &Measurement) -> Option<(f64, f64)> {
    let ok = |v: f64| v.is_finite() && v >= 0.0;
    if !(ok(m.in_tokens) && m.rate.is_finite() && m.rate > 0.0) {
        return None;
    }
    let metrics = analyzer.analyze(m.rate).ok()?;
    let ttft = metrics.ttft + metrics.busy * metrics.itl / 2.0;
    (metrics.itl.is_finite() && ttft.is_finite()).then_some((metrics.itl, ttft))
}
