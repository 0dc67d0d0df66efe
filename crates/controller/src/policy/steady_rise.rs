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
    /// (time, requests/min, window), newest last: each rate is the mean over `window` around
    /// its time.
    points: VecDeque<(Instant, f64, Duration)>,
}

impl SteadyRise {
    /// Takes the measurement `rpm` over `window` whose middle is `now`.
    pub(super) fn observe(&mut self, now: Instant, rpm: f64, window: Duration) {
        self.points.push_back((now, rpm, window));
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
    /// reads as a rise). `error` is the standard error of a rate over `window`, or the
    /// measurements' scatter about the line when larger. Measurements of overlapping windows
    /// share their requests: the slope's variance is that of a weighted count of Poisson
    /// arrivals (see [`slope_variance`]).
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
        let Some(&(first, ..)) = self.points.front() else {
            return 0.0;
        };
        let span = (2.0 * w).max(10.0 * dt);
        let filled = first + window;
        // (seconds before now, requests/min, window seconds).
        let used: Vec<(f64, f64, f64)> = self
            .points
            .iter()
            .filter(|(t, ..)| {
                *t >= filled && now.saturating_duration_since(*t).as_secs_f64() <= span
            })
            .map(|(t, y, w)| {
                let ago = now.saturating_duration_since(*t).as_secs_f64();
                (-ago, *y, w.as_secs_f64())
            })
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
        let stated = error;
        let error = error.max(scatter);
        // Arrivals at `error^2 x window` (req/min)^2 s: a rate over `window` then has the
        // standard error `error`.
        let weights: Vec<f64> = used.iter().map(|p| (p.0 - mean_t) / sxx).collect();
        let spans: Vec<(f64, f64)> = used.iter().map(|p| (p.0, p.2)).collect();
        let se = (error * error * w * slope_variance(&spans, &weights)).sqrt();
        let (last_t, last_y, _) = used[used.len() - 1];
        let on_line = mean_y + slope * (last_t - mean_t);
        if slope <= SIGNIFICANT * se || last_y < on_line - error || stopped(&used, w, stated) {
            return 0.0;
        }
        slope * horizon.as_secs_f64()
    }
}

/// Whether the measurements within the last `window` seconds fall short of the line through the
/// ones before them by more than `error` on average (points as in [`SteadyRise::rise`]: seconds
/// from now, requests/min, window). The line over the whole span bends towards a rise that
/// has stopped, and the scatter a bend adds widens the error the last point is judged by: at
/// the top of the ramp benchmark's rise mixtral read 446, 452 and 468 req/min on a plateau of
/// 450, 11-16 below a line whose slope still said 56 req/min a minute, and 31 pods were
/// ordered for 24 (the rise it planned held them two minutes). Replayed on the cycle records
/// of two ramp runs and a diurnal run, this took 9 of the 13 cycles that planned a rise on
/// the line from the ramp's top on, kept every one planned during the ramp, and took 2 of the
/// 19 on the diurnal's morning rise (docs/tuning.md, "Slow rises").
fn stopped(used: &[(f64, f64, f64)], window: f64, error: f64) -> bool {
    let Some(&(last, ..)) = used.last() else {
        return false;
    };
    // A measurement one window before the last shares none of its requests (a second's
    // leeway for the cycles' jitter).
    let (before, recent): (Vec<&(f64, f64, f64)>, Vec<_>) =
        used.iter().partition(|p| p.0 < last - window + 1.0);
    if before.len() < MIN_POINTS - 2 || recent.is_empty() {
        return false;
    }
    let n = before.len() as f64;
    let mean_t = before.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = before.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = before.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
    if sxx <= 0.0 {
        return false;
    }
    let slope = before
        .iter()
        .map(|p| (p.0 - mean_t) * (p.1 - mean_y))
        .sum::<f64>()
        / sxx;
    let gap = recent
        .iter()
        .map(|p| p.1 - (mean_y + slope * (p.0 - mean_t)))
        .sum::<f64>()
        / recent.len() as f64;
    gap < -error
}

/// The variance of `sum(weights[i] x rate[i])` per unit of arrival intensity, where rate i is
/// the mean count over the window `spans[i].1` seconds long centred on `spans[i].0`, of
/// Poisson arrivals: the integral over time of `(sum over the windows holding t of
/// weight / window)^2`. Disjoint windows of one length `w` give `sum(weight^2) / w`.
///
/// Why not the independent points' variance times `window / cycle`, as before: that bounds a
/// fit over many windows, but a fit over a few (ten cycles of a 128 s window) shares fewer
/// requests than that, and rates over a longer window (a quiet server's 256 s before its
/// load rose) are less noisy than the current one's. On the diurnal benchmark (seed 4)
/// llama's morning rise read 19.9, 19.5, 23.0 (256 s windows), 32.3, 36.1, 41.7 (128 s),
/// a slope of 0.10 req/min per second: 2.2 standard errors so, 3.9 by this count. It was
/// planned for no rise until its two pods were full, and 80 of its requests in the next
/// minute missed their TTFT.
fn slope_variance(spans: &[(f64, f64)], weights: &[f64]) -> f64 {
    let mut edges: Vec<f64> = spans
        .iter()
        .flat_map(|(t, w)| [t - w / 2.0, t + w / 2.0])
        .collect();
    edges.sort_by(f64::total_cmp);
    edges
        .windows(2)
        .map(|e| {
            let mid = (e[0] + e[1]) / 2.0;
            let density: f64 = spans
                .iter()
                .zip(weights)
                .filter(|((t, w), _)| *w > 0.0 && (mid - t).abs() <= w / 2.0)
                .map(|((_, w), a)| a / w)
                .sum();
            density * density * (e[1] - e[0])
        })
        .sum()
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
                s.observe(at, load(t) + wiggle, Duration::from_secs(60));
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
    fn disjoint_windows_are_independent_points_and_overlapping_ones_share_requests() {
        let weights = [-1.0, 0.0, 1.0];
        let disjoint = slope_variance(&[(0.0, 60.0), (60.0, 60.0), (120.0, 60.0)], &weights);
        assert!((disjoint - 2.0 / 60.0).abs() < 1e-12, "{disjoint}");
        // 60 s windows 30 s apart: the middle one shares half of each neighbour's requests,
        // which it weighs 0; the outer two share none.
        let half = slope_variance(&[(0.0, 60.0), (30.0, 60.0), (60.0, 60.0)], &weights);
        assert!((half - 2.0 / 60.0).abs() < 1e-12, "{half}");
        // Two windows that share half their requests, weighed alike: 1.5 times the variance.
        let shared = slope_variance(&[(0.0, 60.0), (30.0, 60.0)], &[1.0, 1.0]);
        assert!((shared - 3.0 / 60.0).abs() < 1e-12, "{shared}");
    }

    /// Llama's morning rise on the diurnal benchmark (seed 4): flat at 17 req/min over 256 s
    /// windows, then 19.9, 19.5, 23.0 (256 s) and 32.3, 36.1, 41.7 (128 s, the window halved
    /// as the load rose), each at its window's middle, a standard error of 4.4 now. Counted
    /// as independent points times `window / cycle`, 2.2 standard errors: no rise.
    #[test]
    fn a_slow_rise_across_a_halved_window_is_seen() {
        let start = Instant::now();
        let now = start + Duration::from_secs(1000);
        let mut s = SteadyRise::default();
        let long = Duration::from_secs(256);
        let short = Duration::from_secs(128);
        let points = [
            (458, 17.0, long),
            (428, 17.1, long),
            (398, 15.2, long),
            (368, 16.4, long),
            (338, 17.0, long),
            (308, 17.1, long),
            (278, 19.9, long),
            (248, 19.5, long),
            (218, 23.0, long),
            (124, 32.3, short),
            (94, 36.1, short),
            (64, 41.7, short),
        ];
        for (ago, rpm, window) in points {
            s.observe(now - Duration::from_secs(ago), rpm, window);
        }
        let rise = s.rise(
            now,
            Duration::from_secs(150),
            4.4,
            short,
            Duration::from_secs(30),
        );
        assert!((10.0..20.0).contains(&rise), "{rise}");
    }

    /// Poisson arrivals at a flat `rpm` (Bernoulli in tenths of a second, from a fixed
    /// xorshift sequence), measured every 30 s over `window` seconds as the collector does
    /// (rate and its standard error from the count): the cycles that planned a rise, of
    /// `cycles`.
    fn flat_poisson(rpm: f64, window: u64, cycles: u64, seed: u64) -> u32 {
        let mut draws = inferno_testkit::sequence::Xorshift::new(seed);
        let tenths = (cycles * 30 + window) * 10;
        let p = rpm / 600.0;
        let arrivals: Vec<u32> = (0..tenths)
            .map(|_| u32::from(draws.uniform() < p))
            .collect();
        let start = Instant::now();
        let mut s = SteadyRise::default();
        let w = Duration::from_secs(window);
        let mut planned = 0;
        for c in 0..cycles {
            let end = (window + c * 30) * 10;
            let count: u32 = arrivals[(end - window * 10) as usize..end as usize]
                .iter()
                .sum();
            let rate = f64::from(count) * 60.0 / window as f64;
            let error = f64::from(count.max(1)).sqrt() * 60.0 / window as f64;
            let now = start + Duration::from_secs(window + c * 30);
            s.observe(now - w / 2, rate, w);
            let r = s.rise(
                now,
                Duration::from_secs(150),
                error,
                w,
                Duration::from_secs(30),
            );
            planned += u32::from(r > 0.0);
        }
        planned
    }

    #[test]
    fn a_flat_poisson_load_over_overlapping_windows_is_rarely_a_rise() {
        for (rpm, window) in [(20.0, 128), (90.0, 60), (8.0, 256)] {
            let planned: u32 = (1..=5)
                .map(|seed| flat_poisson(rpm, window, 200, 0x9E37_79B9_7F4A_7C15 ^ seed))
                .sum();
            assert!(
                planned <= 5,
                "{planned} of 1000 cycles planned a rise at {rpm} req/min over {window} s"
            );
        }
    }

    #[test]
    fn noise_on_a_flat_load_is_no_rise() {
        let planned = play(|_| 100.0, 30, 10.0);
        assert!(planned.iter().all(|r| *r == 0.0), "{planned:?}");
    }

    /// The ramp benchmark's mixtral: 90 -> 450 req/min over five minutes (1.2 req/min per
    /// second), then flat, a standard error of 21 at the top. The ramp is planned on the line
    /// (Holt's test plans it too); once the windows are on the plateau no rise is, though the
    /// line over the last five minutes still climbs through them.
    #[test]
    fn the_top_of_a_ramp_is_no_slow_rise() {
        let load = |t: f64| 90.0 + 1.2 * t.clamp(0.0, 300.0);
        let planned = play(|t| load(t - 120.0), 24, 21.0);
        assert!(planned[8..12].iter().any(|r| *r > 0.0), "{planned:?}");
        // The top at cycle 14 (420 s); from the first measurement all on the plateau.
        assert!(planned[15..].iter().all(|r| *r == 0.0), "{planned:?}");
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
