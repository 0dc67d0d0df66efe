//! The windows a server's demand is measured over, and how much evidence the estimate rests on.
//!
//! A rate measured over a fixed window is noisy for a quiet server (a few requests a minute) and
//! slow for a busy one. So each cycle measures over a ladder of windows, the shortest
//! (`--prometheus-window`) doubled up to the longest (`--prometheus-max-window`), and each
//! server uses the shortest window in which at least `--min-requests` requests completed, else
//! the longest one the server's series cover (one of its pods had a series at its start). The count of arrivals in that window gives the
//! estimate's standard error (Poisson: `sqrt(n) / window`), which the decision plans with.

use inferno_core::Demand;

/// A window duration that is not a PromQL duration like `30s`, `1m` or `2h` (or is 0).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// Not `<digits><s|m|h>`, or zero.
    #[error("{0:?}: expected a PromQL duration like 30s, 1m, 2h (not 0)")]
    Duration(String),
    /// The longest window is shorter than the shortest.
    #[error("the longest window ({longest} s) is shorter than the shortest ({shortest} s)")]
    Inverted {
        /// Shortest window, seconds.
        shortest: u64,
        /// Longest window, seconds.
        longest: u64,
    },
}

/// Seconds of a PromQL duration of one unit (`30s`, `1m`, `2h`); 0 is refused (Prometheus
/// refuses a zero range).
pub fn parse_duration(text: &str) -> Result<u64, WindowError> {
    let bad = || WindowError::Duration(text.to_owned());
    let t = text.trim();
    let (digits, unit) = t.split_at(t.len().saturating_sub(1));
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(bad()),
    };
    match n.checked_mul(scale) {
        Some(s) if s > 0 => Ok(s),
        _ => Err(bad()),
    }
}

/// The ladder of windows of every collection and the rule that picks one per server.
#[derive(Debug, Clone, PartialEq)]
pub struct Windows {
    /// Wall-clock seconds, shortest first: `w, 2w, 4w, ...` up to the longest.
    seconds: Vec<u64>,
    /// Completed requests a window must hold to be used when a shorter one does not.
    min_requests: f64,
    /// The servers' clock runs this many times faster than the wall clock.
    time_scale: f64,
}

impl Windows {
    /// The longest window when none is given: 8 times the shortest (1m -> 8m), so a server at
    /// a few requests a minute still gets about 50 requests' worth of evidence, while a
    /// change of load is fully seen within 8 minutes.
    pub const DEFAULT_SPAN: u64 = 8;
    /// The requests a window must hold by default: 50 completions give a Poisson rate within
    /// about 14% (one standard error, 1 / sqrt(50)); fewer make the rate a coin toss for a
    /// quiet server, more make the windows (and the reaction) longer for no real gain.
    pub const DEFAULT_MIN_REQUESTS: u32 = 50;

    /// The ladder `shortest, 2 shortest, ...` up to `longest` seconds (wall clock), using a
    /// longer window when a shorter one holds fewer than `min_requests` completions (0: always
    /// the shortest).
    pub fn new(shortest: u64, longest: u64, min_requests: u32) -> Result<Self, WindowError> {
        if shortest == 0 {
            return Err(WindowError::Duration("0s".into()));
        }
        if longest < shortest {
            return Err(WindowError::Inverted { shortest, longest });
        }
        let seconds = std::iter::successors(Some(shortest), |w| w.checked_mul(2))
            .take_while(|w| *w <= longest)
            .collect();
        Ok(Self {
            seconds,
            min_requests: f64::from(min_requests),
            time_scale: 1.0,
        })
    }

    /// The defaults around `shortest` seconds: up to [`Self::DEFAULT_SPAN`] times it, at
    /// least [`Self::DEFAULT_MIN_REQUESTS`] requests.
    pub fn around(shortest: u64) -> Result<Self, WindowError> {
        Self::new(
            shortest,
            shortest.saturating_mul(Self::DEFAULT_SPAN),
            Self::DEFAULT_MIN_REQUESTS,
        )
    }

    /// For servers whose clock runs `time_scale` times faster than the wall clock: Prometheus
    /// windows are wall time, rates and windows reported are in the servers' time.
    pub fn with_time_scale(mut self, time_scale: f64) -> Self {
        self.time_scale = time_scale;
        self
    }

    /// Wall-clock seconds of each window, shortest first.
    pub fn seconds(&self) -> &[u64] {
        &self.seconds
    }

    /// Window `i` in seconds of the servers' clock.
    pub fn server_seconds(&self, i: usize) -> f64 {
        self.server_time(self.seconds.get(i).copied().unwrap_or(0) as f64)
    }

    /// A wall-clock duration (seconds) in seconds of the servers' clock: what a window, or a
    /// pod's start-up, is to the servers.
    pub fn server_time(&self, wall_seconds: f64) -> f64 {
        wall_seconds * self.time_scale
    }

    /// The window a server uses, given the requests its pods completed in each window (None
    /// from the first window that no pod of the server reaches back to the start of): the
    /// shortest with at least the minimum, else the longest covered one. Windows its series do
    /// not cover would divide a few minutes' requests by a longer window and under-count a new
    /// server.
    pub fn choose(&self, completed: &[Option<f64>]) -> usize {
        let mut chosen = 0;
        for (i, n) in completed.iter().enumerate() {
            let Some(n) = n else {
                break;
            };
            chosen = i;
            if *n >= self.min_requests {
                break;
            }
        }
        chosen
    }

    /// [`Self::choose`], but never a window whose rate a rise has left behind: while the
    /// arrivals of the shortest window (`arrived[0]`) come at a rate more than
    /// [`RISE_ERRORS`] of its Poisson errors above the chosen window's, the next shorter
    /// window is taken. A longer window is for a quiet server's noise, and it averages a
    /// rising load with the minutes before the rise: on the diurnal benchmark llama at 20
    /// req/min was measured over 4 minutes, and read 20 req/min at minute 10 of the morning's
    /// rise where 43 arrived. A fall keeps the longer window (the scale-down window holds
    /// capacity anyway, and a lagging fall only holds it a little longer).
    pub fn choose_rising(&self, completed: &[Option<f64>], arrived: &[Option<f64>]) -> usize {
        let mut chosen = self.choose(completed);
        let rate = |i: usize| {
            let n = arrived.get(i).copied().flatten()?;
            let w = *self.seconds.get(i)? as f64;
            (w > 0.0).then(|| (n.max(0.0) / w, n.max(1.0).sqrt() / w))
        };
        let Some((short, error)) = rate(0) else {
            return chosen;
        };
        while chosen > 0 {
            match rate(chosen) {
                Some((long, _)) if short - long > RISE_ERRORS * error => chosen -= 1,
                _ if self.newer_half_rose(arrived, chosen) => chosen -= 1,
                _ => break,
            }
        }
        chosen
    }

    /// Whether the arrivals of the newer part of window `i` (window `i - 1`) come at a rate
    /// more than [`HALVES_ERRORS`] standard errors of the difference above those of its older
    /// part (the rest of window `i`). The two parts share no request, so this sees a step a
    /// longer window has half taken in, where the shortest window alone is too noisy to: on
    /// the many-server benchmark a server at 10 req/min stepped to 20 at minute 6 and read
    /// 10.7-14.0 req/min over its 4-minute window until minute 8 (its last minute held 20 +-
    /// 4.5, within the 2 errors the test against the shortest window asks) and 14.5-15.0 over
    /// 8 minutes from minute 9, and its pods went 7 -> 5 meanwhile.
    fn newer_half_rose(&self, arrived: &[Option<f64>], i: usize) -> bool {
        let (Some(Some(newer)), Some(Some(all))) = (arrived.get(i - 1), arrived.get(i)) else {
            return false;
        };
        let (Some(&w_newer), Some(&w_all)) = (self.seconds.get(i - 1), self.seconds.get(i)) else {
            return false;
        };
        let (w_newer, w_older) = (w_newer as f64, (w_all - w_newer.min(w_all)) as f64);
        if w_newer <= 0.0 || w_older <= 0.0 {
            return false;
        }
        let (newer, older) = (newer.max(0.0), (all - newer).max(0.0));
        let error =
            (newer.max(1.0) / (w_newer * w_newer) + older.max(1.0) / (w_older * w_older)).sqrt();
        newer / w_newer - older / w_older > HALVES_ERRORS * error
    }
}

/// How many standard errors of the difference the newer half of a window must rise above its
/// older half by for a shorter window: in simulated flat Poisson loads of 5 to 30 req/min over
/// the default ladder, 2 took a shorter window in 0.8-2% of 30 s cycles, 2.5 in 0.1-0.6%; at
/// 2.5 a step from 10 to 20 req/min read 20 two minutes after it (16.3 by the shortest window's
/// test alone), mean of 20 runs.
pub const HALVES_ERRORS: f64 = 2.5;

/// How many Poisson errors of the shortest window's rate above a longer window's make a rise
/// that the longer window would hide.
pub const RISE_ERRORS: f64 = 2.0;

/// The evidence behind a rate of `requests` arrivals in `window_seconds` (servers' clock):
/// the standard error of a Poisson count, `sqrt(n)`, as a rate per minute. At least one
/// request is assumed, so that a window that saw none still says how little it knows (a
/// rate of 0 measured over a minute is not a certain 0).
pub fn demand(requests: f64, window_seconds: f64) -> Demand {
    Demand {
        window_seconds,
        requests,
        rate_error: requests.max(1.0).sqrt() / window_seconds * 60.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_promql_ones() {
        assert_eq!(parse_duration("30s"), Ok(30));
        assert_eq!(parse_duration("1m"), Ok(60));
        assert_eq!(parse_duration(" 2h "), Ok(7200));
        for bad in [
            "",
            "m",
            "0s",
            "5 min",
            "1.5m",
            "-1m",
            "1d",
            "99999999999999999999h",
        ] {
            assert_eq!(
                parse_duration(bad),
                Err(WindowError::Duration(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_ladder_doubles_up_to_the_longest() {
        assert_eq!(Windows::around(60).unwrap().seconds(), [60, 120, 240, 480]);
        assert_eq!(Windows::new(60, 300, 50).unwrap().seconds(), [60, 120, 240]);
        assert_eq!(Windows::new(20, 20, 50).unwrap().seconds(), [20]);
        assert_eq!(
            Windows::new(60, 30, 50),
            Err(WindowError::Inverted {
                shortest: 60,
                longest: 30
            })
        );
        assert!(Windows::new(0, 30, 50).is_err());
        let w = Windows::around(6).unwrap().with_time_scale(10.0);
        assert_eq!(w.server_seconds(0), 60.0);
        assert_eq!(w.server_seconds(3), 480.0);
    }

    #[test]
    fn the_shortest_window_with_enough_requests_wins() {
        let w = Windows::around(60).unwrap();
        // Busy: the shortest window is enough.
        assert_eq!(
            w.choose(&[Some(80.0), Some(160.0), Some(320.0), Some(640.0)]),
            0
        );
        // 30 requests a minute: two minutes hold 60.
        assert_eq!(
            w.choose(&[Some(30.0), Some(60.0), Some(120.0), Some(240.0)]),
            1
        );
        // Exactly the minimum is enough.
        assert_eq!(
            w.choose(&[Some(10.0), Some(25.0), Some(50.0), Some(100.0)]),
            2
        );
        // Quiet: the longest.
        assert_eq!(w.choose(&[Some(1.0), Some(2.0), Some(4.0), Some(8.0)]), 3);
        // A series younger than 4 minutes: never beyond what it covers.
        assert_eq!(w.choose(&[Some(1.0), Some(2.0), None, None]), 1);
        // Nothing reported: the shortest (nothing is measured anyway).
        assert_eq!(w.choose(&[None, None, None, None]), 0);
        // No minimum: always the shortest.
        let w = Windows::new(60, 480, 0).unwrap();
        assert_eq!(w.choose(&[Some(0.0), Some(0.0), Some(0.0), Some(0.0)]), 0);
    }

    #[test]
    fn a_rise_takes_a_shorter_window() {
        let w = Windows::around(60).unwrap();
        // 20 completions a minute: four minutes hold enough.
        let completed = [Some(20.0), Some(40.0), Some(80.0), Some(160.0)];
        // Arrivals as steady: the four minutes.
        let steady = [Some(20.0), Some(40.0), Some(80.0), Some(160.0)];
        assert_eq!(w.choose_rising(&completed, &steady), 2);
        // The last minute brought 45 (error 6.7): 26.25/min over four minutes is 18.75 below,
        // 32.5/min over two only 12.5 (within 2 errors); but the minute before brought 20,
        // 25 fewer, 3.1 errors of the difference (sqrt(45 + 20)): the last minute.
        let rising = [Some(45.0), Some(65.0), Some(105.0), Some(185.0)];
        assert_eq!(w.choose_rising(&completed, &rising), 0);
        // Had the minute before brought 30 (1.7 errors): two minutes.
        let rising = [Some(45.0), Some(75.0), Some(115.0), Some(195.0)];
        assert_eq!(w.choose_rising(&completed, &rising), 1);
        // A steeper one: the shortest.
        let steep = [Some(60.0), Some(80.0), Some(120.0), Some(200.0)];
        assert_eq!(w.choose_rising(&completed, &steep), 0);
        // A fall keeps the longer window.
        let falling = [Some(5.0), Some(25.0), Some(65.0), Some(145.0)];
        assert_eq!(w.choose_rising(&completed, &falling), 2);
        // Arrivals unknown: as chosen by the completions.
        assert_eq!(w.choose_rising(&completed, &[None, None, None, None]), 2);
    }

    /// The many-server benchmark's quiet server: 10 req/min for long, 20 for the last three
    /// minutes. Too few completions for four minutes: eight, 13.75 req/min, and the last
    /// minute's 20 (error 4.5) is within two errors of it. Its newer four minutes brought 70,
    /// the older four 40: 2.9 errors of the difference.
    #[test]
    fn a_step_a_long_window_half_took_in_takes_its_newer_half() {
        let w = Windows::around(60).unwrap();
        let completed = [Some(18.0), Some(36.0), Some(48.0), Some(100.0)];
        let step = [Some(20.0), Some(40.0), Some(70.0), Some(110.0)];
        assert_eq!(w.choose(&completed), 3);
        // Four minutes: their own halves (40 and 30) are within 1.2 errors.
        assert_eq!(w.choose_rising(&completed, &step), 2);
        // At a flat 12.5 req/min the eight minutes stay.
        let flat = [Some(12.0), Some(25.0), Some(50.0), Some(100.0)];
        assert_eq!(w.choose_rising(&completed, &flat), 3);
    }

    /// A flat Poisson load of `rpm` (Bernoulli in tenths of a second, a fixed xorshift
    /// sequence), measured every 30 s over the default ladder for `cycles` cycles: the cycles
    /// whose window the halves' test made shorter than the test against the shortest window
    /// alone would have.
    fn shortened_on_a_flat_load(rpm: f64, cycles: u64, seed: u64) -> u32 {
        let w = Windows::around(60).unwrap();
        let mut draws = inferno_testkit::sequence::Xorshift::new(seed);
        let longest = 480;
        let tenths = (longest + cycles * 30) * 10;
        let arrivals: Vec<u32> = (0..tenths)
            .map(|_| u32::from(draws.uniform() < rpm / 600.0))
            .collect();
        let mut shortened = 0;
        for c in 0..cycles {
            let end = ((longest + c * 30) * 10) as usize;
            let counts: Vec<Option<f64>> = w
                .seconds()
                .iter()
                .map(|s| {
                    let n: u32 = arrivals[end - (*s as usize) * 10..end].iter().sum();
                    Some(f64::from(n))
                })
                .collect();
            let chosen = w.choose_rising(&counts, &counts);
            let mut alone = w.choose(&counts);
            let short = counts[0].unwrap() / 60.0;
            let error = counts[0].unwrap().max(1.0).sqrt() / 60.0;
            while alone > 0
                && short - counts[alone].unwrap() / w.seconds()[alone] as f64 > RISE_ERRORS * error
            {
                alone -= 1;
            }
            shortened += u32::from(chosen < alone);
        }
        shortened
    }

    #[test]
    fn a_flat_load_rarely_takes_a_shorter_window() {
        for rpm in [5.0, 10.0, 20.0, 30.0] {
            let shortened: u32 = (1..=5)
                .map(|seed| shortened_on_a_flat_load(rpm, 200, 0x9E37_79B9_7F4A_7C15 ^ seed))
                .sum();
            assert!(
                shortened <= 10,
                "{shortened} of 1000 cycles took a shorter window at a flat {rpm} req/min"
            );
        }
    }

    #[test]
    fn the_error_is_poisson_per_minute() {
        let d = demand(100.0, 120.0);
        assert_eq!((d.window_seconds, d.requests), (120.0, 100.0));
        // sqrt(100) = 10 requests in 2 minutes: 5 requests/min.
        assert!((d.rate_error - 5.0).abs() < 1e-12);
        // None seen: as uncertain as one.
        assert!((demand(0.0, 60.0).rate_error - 1.0).abs() < 1e-12);
    }
}
