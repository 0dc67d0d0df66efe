//! The emulator's seeded draws, on the workspace's one generator family (xoshiro256++ from
//! `rand_xoshiro`, distributions from `rand_distr`): exponential inter-arrival times, uniform
//! integers, and mean-one log-normal noise; and the stable hash that derives per-name seeds.

use rand::{RngExt, SeedableRng};
use rand_distr::{Exp1, LogNormal, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

/// FNV-1a hash of a string: stable across runs, platforms and Rust versions (unlike
/// `DefaultHasher`), for deriving per-name seeds.
pub(crate) fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A seeded xoshiro256++ stream: the same seed gives the same sequence.
#[derive(Debug, Clone)]
pub(crate) struct Rng(Xoshiro256PlusPlus);

impl Rng {
    /// A generator from a seed. The seed goes through SplitMix64 (`seed_from_u64`), so
    /// neighbouring seeds (1, 2, 3, ...) give unrelated sequences.
    pub(crate) fn new(seed: u64) -> Self {
        Self(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        self.0.random()
    }

    /// Exponential with the given mean.
    pub(crate) fn exponential(&mut self, mean: f64) -> f64 {
        mean * self.0.sample::<f64, _>(Exp1)
    }

    /// Uniform integer in `lo..=hi` (`lo <= hi`).
    pub(crate) fn uniform_u32(&mut self, lo: u32, hi: u32) -> u32 {
        self.0.random_range(lo..=hi)
    }

    /// Standard normal.
    pub(crate) fn normal(&mut self) -> f64 {
        self.0.sample(StandardNormal)
    }

    /// Multiplicative noise with mean 1 and log-standard-deviation `sigma`:
    /// `exp(sigma Z - sigma^2 / 2)`; exactly 1 when `sigma` is 0.
    pub(crate) fn noise_factor(&mut self, sigma: f64) -> f64 {
        if sigma == 0.0 {
            return 1.0;
        }
        // Configurations are validated to a finite sigma >= 0; anything else means no noise.
        match LogNormal::new(-sigma * sigma / 2.0, sigma) {
            Ok(d) => self.0.sample(d),
            Err(_) => 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    fn mean(n: usize, mut f: impl FnMut() -> f64) -> f64 {
        (0..n).map(|_| f()).sum::<f64>() / n as f64
    }

    #[test]
    fn same_seed_same_sequence_and_neighbours_differ() {
        let a: Vec<f64> = (0..5)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_f64()
            })
            .collect();
        let b: Vec<f64> = (0..5)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_f64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(Rng::new(1).next_f64(), Rng::new(2).next_f64());
    }

    #[test]
    fn draws_have_the_right_means() {
        let mut r = Rng::new(3);
        assert!((mean(200_000, || r.exponential(2.5)) - 2.5).abs() < 0.05);
        assert!((mean(200_000, || r.noise_factor(0.3)) - 1.0).abs() < 0.01);
        assert!(mean(200_000, || r.normal()).abs() < 0.01);
        let u = mean(200_000, || f64::from(r.uniform_u32(10, 20)));
        assert!((u - 15.0).abs() < 0.05);
        for _ in 0..1000 {
            assert!((10..=20).contains(&r.uniform_u32(10, 20)));
            assert_eq!(r.uniform_u32(4, 4), 4);
        }
        assert_eq!(Rng::new(1).noise_factor(0.0), 1.0);
    }

    #[test]
    fn stable_hash_is_fnv1a() {
        assert_eq!(super::stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
