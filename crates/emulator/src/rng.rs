//! A tiny seeded generator (xorshift64*) and the draws the emulator needs: exponential
//! inter-arrival times, uniform integers, and mean-one log-normal noise.

/// FNV-1a hash of a string: stable across runs, platforms and Rust versions (unlike
/// `DefaultHasher`), for deriving per-name seeds.
pub(crate) fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Deterministic xorshift64* generator: the same seed gives the same sequence everywhere.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced by a fixed non-zero constant). The seed is
    /// scrambled first so that neighbouring seeds (1, 2, 3, ...) give unrelated sequences.
    pub(crate) fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Self(if z == 0 { 0x9e37_79b9_7f4a_7c15 } else { z })
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Exponential with the given mean.
    pub(crate) fn exponential(&mut self, mean: f64) -> f64 {
        // 1 - u is in (0, 1], so the logarithm is finite.
        -mean * (1.0 - self.next_f64()).ln()
    }

    /// Uniform integer in `lo..=hi` (`lo <= hi`).
    pub(crate) fn uniform_u32(&mut self, lo: u32, hi: u32) -> u32 {
        let span = u64::from(hi - lo) + 1;
        let k = ((self.next_f64() * span as f64) as u64).min(span - 1);
        lo + k as u32
    }

    /// Standard normal (Box-Muller; one of the pair is dropped, which is fine at our rates).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Multiplicative noise with mean 1 and log-standard-deviation `sigma`:
    /// `exp(sigma Z - sigma^2 / 2)`; exactly 1 when `sigma` is 0.
    pub(crate) fn noise_factor(&mut self, sigma: f64) -> f64 {
        if sigma == 0.0 {
            return 1.0;
        }
        (sigma * self.normal() - sigma * sigma / 2.0).exp()
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
