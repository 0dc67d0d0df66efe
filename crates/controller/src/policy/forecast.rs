//! The load one start-up ahead: Holt's linear exponential smoothing of a server's measured
//! arrival rate (docs/tuning.md, "Forecasting").
//!
//! Why Holt: a decision takes effect when the pods it orders serve, a minute or more later,
//! and over that horizon what matters is the local level and slope of the load. Holt's two
//! smoothed states are exactly those, updated in O(1) per cycle from nothing but the rates the
//! loop already measures; it follows a ramp without the lag of a moving average. A daily cycle
//! is, over a horizon of minutes, a slowly turning ramp, which Holt follows; Holt-Winters'
//! seasonal term would need a whole day of history per server before it helped and a
//! restart would lose it, and ARIMA-class models need a fitting step and far more history for
//! the same horizon. A burst is a step: the level jumps with the first cycles and the slope it
//! leaves behind decays within a few cycles.
//!
//! The smoothing constants are per cycle (a time-scaled benchmark and a cluster see the same
//! number of cycles per load change); the slope is per second, so the horizon is in time.

use std::time::Duration;
use tokio::time::Instant;

/// Weight of a new measurement in the level.
const LEVEL: f64 = 0.7;
/// Weight of a new level change in the slope.
const TREND: f64 = 0.5;
/// Standard errors of a difference of two rates the last two changes must rise by together:
/// two, the middle between chance rises taken for a ramp and a ramp seen a cycle late (see
/// [`Holt::rise`]).
const RISE_ERRORS: f64 = 2.0;

/// Holt's level and slope of one series.
#[derive(Debug, Clone, Default)]
pub struct Holt {
    /// Smoothed level, requests/min.
    level: f64,
    /// Smoothed slope, requests/min per second.
    trend: f64,
    /// Time of the last measurement.
    last: Option<Instant>,
    /// Measurements taken.
    seen: u32,
    /// The last measurement, and the last two changes between measurements with the seconds
    /// between them (newest last).
    raw: f64,
    changes: [(f64, f64); 2],
}

impl Holt {
    /// Takes the measurement `y` of the load at `now`: the middle of the window it was
    /// measured over, not the cycle's time. A quiet server's window shortens at a rise, and
    /// its rate then jumps by the half window's worth of rise it skipped as well: on the ramp
    /// benchmark llama went from a 120 s window to a 60 s one at the ramp's start, 37.5 ->
    /// 77 req/min in one 30 s cycle; per cycle that was twice the ramp's slope, per second
    /// between the windows' middles (60 s) the ramp's. A measurement at the same instant as
    /// the last one (two cycles in one tick, or a window that doubled) only moves the level;
    /// so does one less than half a `cycle` after it (the caller's period: the longer of its
    /// last two cycles, as a cycle run on demand splits one), and one older than the last counts as
    /// made at the last. Why half a cycle: after a window that doubled, whose middle went back
    /// and was taken at the last one's, the next window's middle is the last one's plus the
    /// cycle's jitter (milliseconds), and a change of a few requests/min over it was a slope of
    /// thousands: on the ramp benchmark llama's trend then expected 92.8 req/min of a flat 25,
    /// and 8 pods were ordered for 3.
    pub fn observe(&mut self, now: Instant, y: f64, cycle: Duration) {
        let Some(last) = self.last else {
            self.level = y;
            self.raw = y;
            self.last = Some(now);
            self.seen = 1;
            return;
        };
        let now = if now < last + cycle / 2 { last } else { now };
        let dt = now.saturating_duration_since(last).as_secs_f64();
        self.changes = [self.changes[1], (y - self.raw, dt)];
        self.raw = y;
        let predicted = self.level + self.trend * dt;
        // The first slope is the first difference, and the level the measurement: a ramp that
        // is under way when the loop starts has its slope from the second cycle (and is
        // planned for from two cycles after the first window filled, see `rise`).
        let first = self.seen == 1;
        let level = if first {
            y
        } else {
            predicted + LEVEL * (y - predicted)
        };
        if dt > 0.0 {
            let w = if first { 1.0 } else { TREND };
            self.trend += w * ((level - self.level) / dt - self.trend);
        }
        self.level = level;
        self.last = Some(now);
        self.seen += 1;
    }

    /// The level expected at `now`: the smoothed level carried on by the slope since the last
    /// measurement (None before the first). What a measurement known to be short of the load
    /// (a partial one) is raised to.
    pub fn expected(&self, now: Instant) -> Option<f64> {
        let last = self.last?;
        let dt = now.saturating_duration_since(last).as_secs_f64();
        Some(self.level + self.trend * dt)
    }

    /// The slope, requests/min per second.
    pub fn trend(&self) -> f64 {
        self.trend
    }

    /// The smoothed level now, requests/min.
    pub fn level(&self) -> f64 {
        self.level
    }

    /// The rise expected over `horizon` from the last measurement, requests/min: the mean
    /// rise of the last two cycles per second times the horizon when the load is rising, else
    /// 0. Rising means: the last two measurements each rose, both made after the first
    /// `window` had filled, Holt's slope (at most that mean rise) moves the load by more
    /// than `2 × error` over its own memory (`1 / TREND` cycles of `cycle`), and the two rises
    /// together are more than 2 standard errors (`RISE_ERRORS`) of the difference of the two
    /// rates. A falling slope is never a reason to scale down faster than the measured load.
    ///
    /// Why after the first window: a rate over a window that began before the server's load
    /// did rises every cycle until the window holds only load (two cycles of 30 s for a 60 s
    /// window, more for the longer windows of a quiet server). Taken for a ramp, that ordered
    /// 4 pods for one pod's load at the start of every benchmark run, and the scale-down window
    /// held them for 5 minutes. A step later in the run makes the same rises; counting only
    /// rises that outlast the window was tried and dropped (docs/tuning.md): a quiet server
    /// measured over 120 s waited five cycles for its forecast on the day's rise.
    pub fn rise(&self, horizon: Duration, cycle: Duration, error: f64, window: Duration) -> f64 {
        let dt = cycle.as_secs_f64();
        // Two changes after the first window filled (the measurements before it are the
        // window filling, not the load).
        // A change between measurements at one instant (a window that doubled) is the two
        // windows' difference, not a rise: no rise on it.
        if dt <= 0.0
            || self.seen < cycles_to_fill(window, dt) + 3
            || self.changes.iter().any(|c| c.0 <= 0.0 || c.1 <= 0.0)
        {
            return 0.0;
        }
        // Whether it rises: Holt's slope, but never more than the load rose over the last two
        // changes (after a jump Holt's slope stays up for cycles while the load has stopped
        // rising), moves the load beyond its noise.
        let recent =
            (self.changes[0].0 + self.changes[1].0) / (self.changes[0].1 + self.changes[1].1);
        let holt = self.trend.min(recent);
        if holt <= 0.0 || holt * dt / TREND <= 2.0 * error {
            return 0.0;
        }
        // And the two changes together rise beyond the noise of a difference of two rates:
        // [`RISE_ERRORS`] of its standard error, `error x sqrt(2)` for windows that do not
        // overlap, less for ones that share requests (`sqrt(2 x spanned / window)`). The test
        // above alone is 1.4 such errors for a 60 s window at 30 s cycles: two chance rises of
        // a flat load planned rises (on the ramp benchmark mixtral at 90 req/min read 80.5,
        // 97.7, 110 and went 6 -> 10 -> 6 pods). Three errors held a ramp's start back a
        // cycle: mixtral read 93, 93, 110, 137 req/min, 44 over two cycles where three errors
        // asked 50, and 681 of its requests missed their TTFT at the ramp's start, against
        // 397-512 in five runs.
        let spanned = self.changes[0].1 + self.changes[1].1;
        let overlap = (spanned / window.as_secs_f64().max(f64::MIN_POSITIVE)).min(1.0);
        let noise = error * (2.0 * overlap).sqrt();
        if self.changes[0].0 + self.changes[1].0 <= RISE_ERRORS * noise {
            return 0.0;
        }
        // How fast: the mean rise of the last two cycles. Holt's slope moves half way to a new
        // slope per cycle, so at the start of a rise, the cycle that orders the pods of its
        // first start-up, it is a fraction of the rise: on the ramp benchmark mixtral's first
        // rise was planned at 0.77 req/min per second where the load rose 1.2 and the last two
        // cycles said 1.12; the pods it ordered were 4 short when they came, and requests
        // queued until the next cycle's came.
        recent * horizon.as_secs_f64()
    }
}

/// How many cycles of `dt` seconds a window of `window` takes to fill with a new load: one rise
/// per cycle that ends within it. The cycle measured is a little longer than the one set (the
/// cycle's own work): 60 s over cycles of 30.01 s is still two.
fn cycles_to_fill(window: Duration, dt: f64) -> u32 {
    let cycles = window.as_secs_f64() / dt;
    (cycles - 0.05).ceil().clamp(0.0, f64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const THIRTY: Duration = Duration::from_secs(30);

    /// Plays `load(t)` (requests/min at second t) every `cycle` seconds with a deterministic
    /// wiggle of +-`noise` req/min, returning per cycle (t, forecast at t + horizon, truth).
    fn play(
        load: impl Fn(f64) -> f64,
        cycles: u32,
        cycle: f64,
        horizon: f64,
        noise: f64,
    ) -> Vec<(f64, f64, f64)> {
        let start = Instant::now();
        let mut h = Holt::default();
        let mut out = Vec::new();
        for i in 0..cycles {
            let t = f64::from(i) * cycle;
            let wiggle = if i % 2 == 0 { noise } else { -noise };
            let y = load(t) + wiggle;
            h.observe(
                start + Duration::from_secs_f64(t),
                y,
                Duration::from_secs_f64(cycle),
            );
            let f = y + h.rise(
                Duration::from_secs_f64(horizon),
                Duration::from_secs_f64(cycle),
                noise,
                Duration::from_secs_f64(2.0 * cycle),
            );
            out.push((t, f, load(t + horizon)));
        }
        out
    }

    #[test]
    fn a_ramp_is_met_one_horizon_ahead() {
        // +1 req/min per second from 100; 30 s cycles, 150 s ahead (120 s start-up + a cycle).
        // Planned for from the fifth measurement: the first window (60 s) has filled by the
        // third, and two rises after it make a ramp.
        let runs = play(|t| 100.0 + t, 20, 30.0, 150.0, 3.0);
        assert_eq!(runs[3].1, 100.0 + 90.0 - 3.0, "not yet at the fourth");
        for (t, f, truth) in &runs[4..] {
            assert!(
                (f / truth - 1.0).abs() < 0.1,
                "at {t}: forecast {f}, truth {truth}"
            );
        }
        // The measured value alone would be 150 req/min short the whole way.
        let (_, _, truth) = runs[10];
        assert!(truth - (100.0 + 300.0) > 100.0);
    }

    /// The rises planned as `rates` are measured 30 s apart over 60 s windows with standard
    /// error `error`, 150 s ahead; and the smoother.
    fn rises(rates: &[f64], error: f64) -> (Vec<f64>, Holt) {
        let start = Instant::now();
        let mut h = Holt::default();
        let mut planned = Vec::new();
        for (i, y) in rates.iter().enumerate() {
            h.observe(start + Duration::from_secs(30 * i as u64), *y, THIRTY);
            planned.push(h.rise(
                Duration::from_secs(150),
                Duration::from_secs(30),
                error,
                Duration::from_secs(60),
            ));
        }
        (planned, h)
    }

    #[test]
    fn the_start_of_a_ramp_is_planned_at_its_slope() {
        // Flat at 100, then +1 req/min per second (30 a cycle): the second rise plans the
        // whole slope over the horizon, where Holt's smoothed slope (0.68 then) said 102.
        let (planned, h) = rises(&[100.0, 100.0, 100.0, 100.0, 130.0, 160.0], 3.0);
        assert_eq!(planned, [0.0, 0.0, 0.0, 0.0, 0.0, 150.0]);
        assert!(h.trend() < 0.7, "{}", h.trend());
    }

    #[test]
    fn noise_around_a_flat_load_orders_nothing() {
        let runs = play(|_| 200.0, 40, 30.0, 150.0, 8.0);
        for (t, f, _) in &runs {
            assert!((f - 200.0).abs() <= 8.0 + 1e-9, "at {t}: forecast {f}");
        }
    }

    #[test]
    fn random_noise_around_a_flat_load_rarely_orders_and_never_much() {
        // Uniform noise of +-10 req/min (sd 5.8) from a fixed xorshift sequence.
        let mut draws = inferno_testkit::sequence::Xorshift::new(0x9E37_79B9_7F4A_7C15);
        let mut next = move || draws.uniform() * 20.0 - 10.0;
        let start = Instant::now();
        let mut h = Holt::default();
        let mut ordered = 0;
        for i in 0..200u64 {
            h.observe(start + Duration::from_secs(30 * i), 200.0 + next(), THIRTY);
            let r = h.rise(
                Duration::from_secs(150),
                Duration::from_secs(30),
                5.8,
                Duration::from_secs(60),
            );
            ordered += u32::from(r > 0.0);
            assert!(r < 60.0, "cycle {i}: rise {r}");
        }
        assert!(ordered <= 2, "{ordered} of 200 cycles planned a rise");
    }

    #[test]
    fn a_day_is_followed_on_the_way_up_and_never_overshot_on_the_way_down() {
        // A day squeezed into 40 minutes: 100 -> 500 -> 100 req/min.
        let day = |t: f64| 300.0 - 200.0 * (2.0 * std::f64::consts::PI * t / 2400.0).cos();
        let runs = play(day, 80, 30.0, 150.0, 5.0);
        let (mut naive, mut holt) = (0.0, 0.0);
        for (t, f, truth) in &runs[4..] {
            let measured = day(*t);
            if truth > &measured {
                naive += (truth - measured).abs();
                holt += (truth - f).abs();
            } else {
                // Falling: the forecast never plans below the measurement.
                assert!(*f >= measured - 5.0, "at {t}: {f} below {measured}");
            }
        }
        assert!(holt < 0.5 * naive, "holt {holt}, measured alone {naive}");
    }

    #[test]
    fn after_a_burst_the_slope_dies_down_within_a_few_cycles() {
        // 100 -> 300 req/min at t = 300 s.
        let runs = play(
            |t| if t < 300.0 { 100.0 } else { 300.0 },
            30,
            30.0,
            150.0,
            5.0,
        );
        // The step is planned for at once (the forecast is the measurement) ...
        assert!(runs[10].1 >= 300.0 - 5.0);
        // ... and the slope it leaves behind orders nothing.
        for (t, f, _) in &runs[11..] {
            assert!((f - 300.0).abs() <= 5.0 + 1e-9, "at {t}: forecast {f}");
        }
    }

    #[test]
    fn the_first_windows_filling_with_the_load_order_nothing() {
        // The load was 300 req/min before the loop's first window, which held it for its last
        // 6 s of 60: the measurements rise for two cycles of 30 s (seen at the start of every
        // benchmark run), then hold.
        let start = Instant::now();
        let mut h = Holt::default();
        let window = Duration::from_secs(60);
        // Cycles take a little longer than set (seen: 5.005 s for 5 s at time scale 6).
        let cycle = Duration::from_secs_f64(30.03);
        for (i, y) in [30.0, 170.0, 300.0, 300.0, 300.0].into_iter().enumerate() {
            h.observe(start + cycle * i as u32, y, cycle);
            let r = h.rise(Duration::from_secs(150), cycle, 5.0, window);
            assert_eq!(r, 0.0, "cycle {i}: a rise of {r} on top of {y}");
        }
        // The same rises once the first window has filled: a ramp, planned for.
        let mut h = Holt::default();
        let mut ordered = 0.0;
        for (i, y) in [30.0, 30.0, 30.0, 170.0, 300.0].into_iter().enumerate() {
            h.observe(start + cycle * i as u32, y, cycle);
            ordered = h.rise(Duration::from_secs(150), cycle, 5.0, window);
        }
        assert!(ordered > 100.0, "{ordered}");
        assert_eq!(cycles_to_fill(window, 25.0), 3);
    }

    #[test]
    fn a_jump_then_a_flat_load_with_tiny_rises_orders_nothing() {
        // Seen on the drift benchmark: the first window caught half the load, then the load
        // was flat with two small rises in a row; Holt's slope from the jump is still up.
        let start = Instant::now();
        let mut h = Holt::default();
        for (i, y) in [44.0, 87.0, 83.0, 88.0, 89.0].into_iter().enumerate() {
            h.observe(start + Duration::from_secs(30 * i as u64), y, THIRTY);
        }
        assert!(
            h.trend() > 0.1,
            "Holt alone would plan a rise: {}",
            h.trend()
        );
        let r = h.rise(
            Duration::from_secs(180),
            Duration::from_secs(30),
            9.0,
            Duration::from_secs(60),
        );
        assert_eq!(r, 0.0);
    }

    #[test]
    fn two_measurements_at_one_instant_do_not_divide_by_zero() {
        let now = Instant::now();
        let mut h = Holt::default();
        h.observe(now, 100.0, THIRTY);
        h.observe(now, 120.0, THIRTY);
        assert!(h.trend().is_finite() && h.level().is_finite());
        assert_eq!(h.trend(), 0.0);
    }

    /// Chance rises of a flat load are no ramp: mixtral at 90 req/min on the ramp benchmark (a
    /// standard error of 10.5 over a 60 s window) read 80, 77, 76, 78, 76, 80.5, 97.7 and 110
    /// 30 s apart, and 4 pods were ordered for a rise of 88 req/min.
    #[test]
    fn chance_rises_of_a_flat_load_are_no_ramp() {
        let rates = [80.0, 77.0, 76.0, 78.0, 76.0, 80.5, 97.7, 110.0];
        let (planned, _) = rises(&rates, 10.5);
        assert!(planned.iter().all(|r| *r == 0.0), "{planned:?}");
    }

    /// After a window that doubled (its middle went back, taken at the last one's), the next
    /// window's middle is the last one's plus a few milliseconds of the cycle's jitter: seen on
    /// the ramp benchmark, where llama's trend then expected 92.8 req/min of a flat 25.
    #[test]
    fn a_measurement_a_jitter_after_the_last_is_no_slope() {
        let start = Instant::now();
        let mut h = Holt::default();
        for (i, y) in [25.0, 24.0, 25.0].into_iter().enumerate() {
            h.observe(start + THIRTY * i as u32, y, THIRTY);
        }
        // The window doubled: its middle is 30 s back, taken at the last one's (60 s) ...
        h.observe(start + Duration::from_secs(30), 26.0, THIRTY);
        // ... and the next one's is 60 s plus 10 ms.
        h.observe(start + Duration::from_millis(60_010), 21.0, THIRTY);
        let expected = h.expected(start + Duration::from_secs(90)).unwrap();
        assert!(
            (20.0..27.0).contains(&expected),
            "expected {expected} req/min of a flat 25 (slope {})",
            h.trend()
        );
        assert_eq!(
            h.rise(THIRTY * 5, THIRTY, 3.0, THIRTY * 2),
            0.0,
            "no rise planned on it"
        );
    }
}
