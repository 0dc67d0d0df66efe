//! A fixed pseudo-random sequence for tests that play noise (Poisson arrivals, jitter, random
//! scenarios) and must see the same draws every run: xorshift64, which needs no dependency and
//! whose quality is ample for noise in a test.

/// xorshift64 from a non-zero seed.
#[derive(Debug, Clone)]
pub struct Xorshift(u64);

impl Xorshift {
    /// The sequence from `seed` (0, which xorshift never leaves, is replaced by 1).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// The next draw, uniform in [0, 1): the top 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_fixed_and_within_its_range() {
        let (mut a, mut b) = (Xorshift::new(7), Xorshift::new(7));
        let draws: Vec<f64> = (0..1000).map(|_| a.uniform()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(draws
            .iter()
            .zip((0..1000).map(|_| b.uniform()))
            .all(|(x, y)| *x == y));
        let mean = draws.iter().sum::<f64>() / 1000.0;
        assert!((mean - 0.5).abs() < 0.05, "{mean}");
        assert_ne!(Xorshift::new(0).next_u64(), 0);
    }
}
