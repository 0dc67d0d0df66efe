//! Scenario time: the wall clock since the start of the run times the time scale.

use std::time::Duration;
use tokio::time::Instant;

/// Maps wall-clock instants to scenario seconds and back.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    scale: f64,
}

impl Clock {
    /// A clock whose scenario time 0 is now.
    pub fn start(scale: f64) -> Self {
        Self {
            start: Instant::now(),
            scale,
        }
    }

    /// Scenario seconds per wall second.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Scenario seconds now (negative never: 0 before the start).
    pub fn now(&self) -> f64 {
        Instant::now()
            .saturating_duration_since(self.start)
            .as_secs_f64()
            * self.scale
    }

    /// The wall-clock instant of scenario time `t`.
    pub fn instant(&self, t: f64) -> Instant {
        self.start + Duration::from_secs_f64((t / self.scale).clamp(0.0, 1e9))
    }

    /// Wall time of `seconds` of scenario time.
    pub fn wall(&self, seconds: f64) -> Duration {
        Duration::from_secs_f64((seconds / self.scale).clamp(0.0, 1e9))
    }

    /// Sleeps until scenario time `t`.
    pub async fn sleep_until(&self, t: f64) {
        tokio::time::sleep_until(self.instant(t)).await;
    }
}
