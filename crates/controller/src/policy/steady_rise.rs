//! A slow, steady rise: the least-squares slope of a server's measured arrival rate over the
//! last few windows, for rises too slow for [`super::forecast::Holt::rise`] to tell from noise.
//!
//! Holt's test looks at the last two cycles: a rise must move the load by twice the rate's
//! standard error within them. A load that rises a little every cycle never does, and was
//! planned for one standard error above the last measurement until requests queued. On the
//! diurnal benchmark mixtral rose 90 -> 180 req/min over ten minutes (at most 0.23 req/min per
//! second, a standard error of 10 req/min): Holt never saw it, six pods filled, and the pods
//! ordered one at a time as each measurement came came after the queue. A line fitted over
//! `max(2 windows, 10 cycles)` of measurements sees such a slope at three standard errors.

use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// Measurements kept (the longest span used is two windows of a quiet server, 256 s each, at
/// 30 s cycles: 18).
const KEPT: usize = 24;
/// Fewest measurements a slope is fitted on.
const MIN_POINTS: usize = 6;
/// Standard errors the slope must be above zero by.
const SIGNIFICANT: f64 = 3.0;

/// The last measurements of one server's arrival rate.
#[derive(Debug, Clone, Default)]
pub(super) struct SteadyRise {
    /// (time, requests/min), newest last.
    points: VecDeque<(Instant, f64)>,
}

impl SteadyRise {
    /// Takes the measurement `rpm` made at `now`.
    pub(super) fn observe(&mut self, now: Instant, rpm: f64) {
        self.points.push_back((now, rpm));
        while self.points.len() > KEPT {
            self.points.pop_front();
        }
    }

    /// The rise expected over `horizon`, requests/min: the fitted slope times the horizon when
    /// it is [`SIGNIFICANT`] standard errors above zero and the last measurement is not below
    /// the line by more than one standard error (the rise has not stalled), else 0.
    ///
    /// The fit spans `max(2 window, 10 cycle)` back from now, and only measurements made after
    /// the first window of the series filled (before, the window was still filling, which
    /// reads as a rise). `error` is one window's standard error, or the measurements' scatter
    /// about the line when larger; measurements of overlapping windows share their requests,
    /// so the slope's variance is that of independent points times `window / cycle` (at
    /// least 1).
    pub(super) fn rise(
        &self,
        now: Instant,
        horizon: Duration,
        error: f64,
        window: Duration,
        cycle: Duration,
    ) -> f64 {
        let (w, dt) = (window.as_secs_f64(), cycle.as_secs_f64());
        if dt <= 0.0 || error <= 0.0 || !error.is_finite() {
            return 0.0;
        }
        let Some(&(first, _)) = self.points.front() else {
            return 0.0;
        };
        let span = (2.0 * w).max(10.0 * dt);
        let filled = first + window;
        let used: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter(|(t, _)| {
                *t >= filled && now.saturating_duration_since(*t).as_secs_f64() <= span
            })
            .map(|(t, y)| (-now.saturating_duration_since(*t).as_secs_f64(), *y))
            .collect();
        if used.len() < MIN_POINTS {
            return 0.0;
        }
        let n = used.len() as f64;
        let mean_t = used.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_y = used.iter().map(|p| p.1).sum::<f64>() / n;
        let sxx: f64 = used.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
        if sxx <= 0.0 {
            return 0.0;
        }
        let slope = used
            .iter()
            .map(|p| (p.0 - mean_t) * (p.1 - mean_y))
            .sum::<f64>()
            / sxx;
        // Measured rates scatter more than the error the collector states (1.6 times on
        // llama at a steady load, docs/collector.md): the scatter about the line, when larger,
        // is the error.
        let scatter = (used
            .iter()
            .map(|p| (p.1 - mean_y - slope * (p.0 - mean_t)).powi(2))
            .sum::<f64>()
            / (n - 2.0))
            .sqrt();
        let error = error.max(scatter);
        let overlap = (w / dt).max(1.0);
        let se = error * (overlap / sxx).sqrt();
        let (last_t, last_y) = used[used.len() - 1];
        let on_line = mean_y + slope * (last_t - mean_t);
        if slope <= SIGNIFICANT * se || last_y < on_line - error {
            return 0.0;
        }
        slope * horizon.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays `load(t)` every 30 s with a deterministic wiggle of +-`noise`, and returns the
    /// rise planned at each cycle (60 s window, 150 s ahead).
    fn play(load: impl Fn(f64) -> f64, cycles: u32, noise: f64) -> Vec<f64> {
        let start = Instant::now();
        let mut s = SteadyRise::default();
        (0..cycles)
            .map(|i| {
                let t = f64::from(i) * 30.0;
                let at = start + Duration::from_secs_f64(t);
                let wiggle = if i % 2 == 0 { noise } else { -noise };
                s.observe(at, load(t) + wiggle);
                s.rise(
                    at,
                    Duration::from_secs(150),
                    noise,
                    Duration::from_secs(60),
                    Duration::from_secs(30),
                )
            })
            .collect()
    }

    #[test]
    fn a_slow_rise_is_seen_within_its_noise() {
        // +0.2 req/min per second (6 a cycle) under a standard error of 10 per window: each
        // cycle's change is within the noise, the line over ten cycles is not.
        let planned = play(|t| 100.0 + 0.2 * t, 16, 10.0);
        assert!(planned[..8].iter().all(|r| *r == 0.0), "{planned:?}");
        let last = planned[15];
        assert!((last / 30.0 - 1.0).abs() < 0.25, "{planned:?}");
    }

    #[test]
    fn noise_on_a_flat_load_is_no_rise() {
        let planned = play(|_| 100.0, 30, 10.0);
        assert!(planned.iter().all(|r| *r == 0.0), "{planned:?}");
    }

    #[test]
    fn a_rise_that_has_stopped_is_not_carried_on() {
        // Rising 0.5 req/min per second for five minutes, then flat: within two cycles of
        // the top the line's slope still says rise, the last measurements do not.
        let load = |t: f64| 100.0 + 0.5 * t.min(300.0);
        let planned = play(load, 16, 5.0);
        assert!(planned[9] > 0.0, "{planned:?}");
        assert!(planned[13..].iter().all(|r| *r == 0.0), "{planned:?}");
    }
}
