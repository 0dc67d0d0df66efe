//! Online tuning of the iteration-time parameters (alpha, beta, gamma) of one (model,
//! accelerator) from what its servers deliver (docs/tuning.md).
//!
//! The model's mean ITL and TTFT at a batch occupancy `b` are linear in `(alpha, beta, gamma)`
//! with coefficients that depend only on `(b, n, m)` and the prefill chunking
//! ([`ServiceModel::itl`], [`ServiceModel::prefill`]), so every measurement of a server (mean
//! ITL over a window, its mean occupancy and token counts) is one linear observation of the
//! parameters. [`Tuner`] runs a Kalman filter over them:
//!
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

use crate::queue::{PerfParams, ServiceModel};

/// How the filter weighs evidence; defaults in docs/tuning.md.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TunerSettings {
    /// Prior standard deviation of each parameter, relative to the catalog's value.
    pub prior_sd: f64,
    /// Random-walk standard deviation per update, relative.
    pub drift_sd: f64,
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
    /// Mean requests running per pod.
    pub occupancy: f64,
    /// The pods' batch cap.
    pub max_batch: u32,
    /// Mean ITL, ms (0 = not measured).
    pub itl_ms: f64,
    /// Mean TTFT, ms, only when no request waited in the window (0 = none): a queue adds a
    /// wait the iteration model does not hold.
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
    /// Outliers in a row and their side (+1 above the prediction, -1 below).
    streak: (u32, f64),
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
            streak: (0, 0.0),
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
        let v = self.settings.prior_sd.powi(2);
        self.p = [[v, 0.0, 0.0], [0.0, v, 0.0], [0.0, 0.0, v]];
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
        let s = scales(self.catalog);
        PerfParams {
            alpha: s[0] * self.x[0],
            beta: s[1] * self.x[1],
            gamma: s[2] * self.x[2],
        }
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
    pub fn observe(&mut self, m: &Measurement) -> [Option<Verdict>; 2] {
        let measured = |v: f64| v.is_finite() && v > 0.0;
        let Some(rows) = rows(m).filter(|_| measured(m.itl_ms) || measured(m.ttft_ms)) else {
            return [None, None];
        };
        // The parameters drift between windows with a measurement, whichever latency it has.
        let q = self.settings.drift_sd.powi(2);
        for i in 0..3 {
            self.p[i][i] += q;
        }
        self.freeze_zeros();
        let mut out = [None, None];
        let mut taken = false;
        for (k, (row, measured, noise)) in [
            (rows.0, m.itl_ms, self.settings.itl_noise),
            (rows.1, m.ttft_ms, self.settings.ttft_noise),
        ]
        .into_iter()
        .enumerate()
        {
            if !(measured.is_finite() && measured > 0.0) {
                continue;
            }
            let verdict = self.update(row, measured, noise);
            taken |= !matches!(verdict, Verdict::Rejected { .. });
            out[k] = Some(verdict);
        }
        if taken {
            self.updates += 1;
        }
        out
    }

    /// One scalar update with the observation `measured ≈ row · (scales ∘ x)`, in relative
    /// terms (divided by `measured`, so that `noise` is a relative error).
    // Indices, as in the filter's equations, read better than iterator chains at 3 x 3.
    #[allow(clippy::needless_range_loop)]
    fn update(&mut self, row: [f64; 3], measured: f64, noise: f64) -> Verdict {
        let s = scales(self.catalog);
        let h: [f64; 3] = std::array::from_fn(|i| row[i] * s[i] / measured);
        let predicted_rel: f64 = (0..3).map(|i| h[i] * self.x[i]).sum();
        let predicted = predicted_rel * measured;
        let ph: [f64; 3] = std::array::from_fn(|i| (0..3).map(|j| self.p[i][j] * h[j]).sum());
        let r = noise.powi(2);
        let var = (0..3).map(|i| h[i] * ph[i]).sum::<f64>() + r;
        let innovation = 1.0 - predicted_rel;
        let sigmas = innovation / var.sqrt();
        let mut step = false;
        if sigmas.abs() > self.settings.gate {
            let side = sigmas.signum();
            self.streak = if self.streak.1 == side {
                (self.streak.0 + 1, side)
            } else {
                (1, side)
            };
            if self.streak.0 < self.settings.step_after {
                self.rejected += 1;
                return Verdict::Rejected { predicted, sigmas };
            }
            // The servers changed: forget how sure we were, then take the measurement.
            self.reset_covariance();
            self.streak = (0, 0.0);
            step = true;
        } else {
            self.streak = (0, 0.0);
        }
        let ph: [f64; 3] = std::array::from_fn(|i| (0..3).map(|j| self.p[i][j] * h[j]).sum());
        let var = (0..3).map(|i| h[i] * ph[i]).sum::<f64>() + r;
        let gain: [f64; 3] = std::array::from_fn(|i| ph[i] / var);
        for i in 0..3 {
            self.x[i] += gain[i] * innovation;
        }
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
        let (lo, hi) = self.settings.bounds;
        for v in &mut self.x {
            *v = v.clamp(lo, hi);
        }
        self.freeze_zeros();
        if step {
            Verdict::Step { predicted, sigmas }
        } else {
            Verdict::Accepted { predicted, sigmas }
        }
    }
}

/// The coefficients of `(alpha, beta, gamma)` in the model's mean ITL and TTFT (prefill plus
/// the first decode step, no wait) at the measurement's occupancy, or `None` when the
/// measurement is outside what the model describes. The model is linear in the parameters, so
/// each coefficient is the latency with that parameter at 1 and the others at 0.
fn rows(m: &Measurement) -> Option<([f64; 3], [f64; 3])> {
    let ok = |v: f64| v.is_finite() && v >= 0.0;
    if !(ok(m.in_tokens) && ok(m.occupancy) && m.out_tokens.is_finite() && m.out_tokens >= 1.0) {
        return None;
    }
    let max_batch = m.max_batch.max(m.occupancy.ceil() as u32).max(1);
    let b = m.occupancy.max(1.0);
    let unit = |i: usize| PerfParams {
        alpha: f64::from(u8::from(i == 0)),
        beta: f64::from(u8::from(i == 1)),
        gamma: f64::from(u8::from(i == 2)),
    };
    let mut itl = [0.0; 3];
    let mut ttft = [0.0; 3];
    for i in 0..3 {
        let s = ServiceModel::new(unit(i), m.in_tokens, m.out_tokens, max_batch, 0).ok()?;
        itl[i] = s.itl(b);
        ttft[i] = s.prefill(b) + s.itl(b);
    }
    Some((itl, ttft))
}

/// The model's mean ITL and TTFT (prefill plus first decode, no wait) for `params` at the
/// measurement's occupancy and tokens, ms; `None` outside the model's domain.
pub fn latencies(params: PerfParams, m: &Measurement) -> Option<(f64, f64)> {
    let (itl, ttft) = rows(m)?;
    let p = scales(params);
    let dot = |r: [f64; 3]| (0..3).map(|i| r[i] * p[i]).sum::<f64>();
    Some((dot(itl), dot(ttft)))
}
