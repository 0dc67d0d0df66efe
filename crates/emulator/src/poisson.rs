//! The internal load generator: a seeded Poisson stream of requests in emulated time.
//!
//! The engine asks for every arrival due by the start of its next iteration, so arrival times
//! are exact in emulated time whatever the wall-clock pacing; the same seed gives the same
//! stream.

use crate::config::{LoadSpec, TokenDist};
use crate::rng::Rng;

/// One generated request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Arrival {
    /// Emulated time of arrival, ms.
    pub(crate) at: f64,
    /// Prompt tokens.
    pub(crate) prompt: u32,
    /// Tokens to generate.
    pub(crate) max_tokens: u32,
}

/// A Poisson stream with independent token draws.
#[derive(Debug, Clone)]
pub(crate) struct Poisson {
    spec: LoadSpec,
    rng: Rng,
    /// Mean gap between arrivals, ms.
    mean_gap: f64,
    next_at: f64,
}

impl Poisson {
    /// A stream starting at emulated time `start` (ms); `spec` must be valid.
    pub(crate) fn new(spec: LoadSpec, start: f64) -> Self {
        let mut rng = Rng::new(spec.seed);
        let mean_gap = 1000.0 / spec.rate;
        let next_at = start + rng.exponential(mean_gap);
        Self {
            spec,
            rng,
            mean_gap,
            next_at,
        }
    }

    /// The load this stream generates.
    #[cfg(test)]
    pub(crate) fn spec(&self) -> &LoadSpec {
        &self.spec
    }

    /// Emulated time of the next arrival, ms.
    pub(crate) fn next_at(&self) -> f64 {
        self.next_at
    }

    /// The next arrival if it is due by `now` (ms).
    pub(crate) fn pop_due(&mut self, now: f64) -> Option<Arrival> {
        if self.next_at > now {
            return None;
        }
        let arrival = Arrival {
            at: self.next_at,
            prompt: draw(&mut self.rng, self.spec.in_tokens),
            max_tokens: draw(&mut self.rng, self.spec.out_tokens),
        };
        self.next_at += self.rng.exponential(self.mean_gap);
        Some(arrival)
    }
}

fn draw(rng: &mut Rng, dist: TokenDist) -> u32 {
    match dist {
        TokenDist::Fixed(n) => n,
        TokenDist::Uniform(lo, hi) => rng.uniform_u32(lo, hi),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_and_tokens_follow_the_spec_and_the_seed() {
        let spec = LoadSpec {
            rate: 5.0,
            in_tokens: TokenDist::Uniform(100, 200),
            out_tokens: TokenDist::Fixed(7),
            seed: 11,
        };
        let mut p = Poisson::new(spec.clone(), 1000.0);
        let horizon = 1000.0 + 2_000_000.0;
        let mut n = 0u32;
        let mut prompt = 0u64;
        let mut last = 1000.0;
        while let Some(a) = p.pop_due(horizon) {
            assert!(a.at >= last);
            assert!((100..=200).contains(&a.prompt));
            assert_eq!(a.max_tokens, 7);
            last = a.at;
            n += 1;
            prompt += u64::from(a.prompt);
        }
        // 2000 s at 5/s: 10000 expected, sd 100.
        assert!((f64::from(n) - 10_000.0).abs() < 400.0, "{n}");
        assert!((prompt as f64 / f64::from(n) - 150.0).abs() < 2.0);
        assert!(p.next_at() > horizon);

        let mut again = Poisson::new(spec, 1000.0);
        let mut first = Poisson::new(p.spec().clone(), 1000.0);
        assert_eq!(again.pop_due(f64::MAX), first.pop_due(f64::MAX));
    }
}
