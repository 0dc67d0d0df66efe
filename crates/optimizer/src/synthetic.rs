//! Seeded synthetic systems for benchmarks and tests: a sample replicated many times, each
//! server with its own random load (`inferno-optimizer generate` writes one to a file).

use inferno_api::limits::MAX_UNITS;
use inferno_api::SystemSpec;
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A seeded xoshiro256++ stream (the workspace's one generator family): the same seed gives
/// the same system.
#[derive(Debug, Clone)]
pub struct Rng(Xoshiro256PlusPlus);

impl Rng {
    /// A generator from a seed (any seed, 0 included: `seed_from_u64` expands it with
    /// SplitMix64).
    pub fn new(seed: u64) -> Self {
        Self(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0.random()
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }
}

/// `base` replicated `copies` times: server `s` of copy `k` is named `s#k`, its arrival rate is
/// scaled by a factor in [0.5, 1.5) and its tokens are drawn in [64, 256) in and [512, 1536)
/// out (the samples use 128 / 1024), so the result is about as tight as `base` when the
/// capacities are scaled by `copies`, which they are (up to `MAX_UNITS` per type, so that the
/// result stays valid data).
pub fn replicate(base: &SystemSpec, copies: usize, seed: u64) -> SystemSpec {
    let mut rng = Rng::new(seed);
    let mut spec = base.clone();
    spec.server_data.servers.clear();
    for k in 0..copies {
        for s in &base.server_data.servers {
            let mut s = s.clone();
            s.name = format!("{}#{k}", s.name);
            let load = &mut s.current_alloc.load;
            load.arrival_rate *= rng.range(0.5, 1.5);
            load.avg_in_tokens = rng.range(64.0, 256.0) as i64;
            load.avg_out_tokens = rng.range(512.0, 1536.0) as i64;
            spec.server_data.servers.push(s);
        }
    }
    // Capacities scale with the copies, up to the data's limit (a type with more than a
    // million cards is not a real cluster, and validation would refuse it).
    let copies = i64::try_from(copies).unwrap_or(i64::MAX);
    for c in &mut spec.capacity_data.count {
        c.count = c.count.saturating_mul(copies).min(MAX_UNITS);
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_draws_in_range() {
        let draws = |seed| {
            let mut r = Rng::new(seed);
            (0..1000).map(|_| r.range(0.5, 1.5)).collect::<Vec<_>>()
        };
        let a = draws(7);
        assert_eq!(a, draws(7));
        assert_ne!(a, draws(8));
        assert_ne!(draws(0), draws(1), "seed 0 is a seed like any other");
        assert!(a.iter().all(|x| (0.5..1.5).contains(x)));
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        // Uniform on [0.5, 1.5): sd 0.29, so the mean of 1000 is within 0.05 of 1 (5 sigma).
        assert!((mean - 1.0).abs() < 0.05, "{mean}");
    }

    #[test]
    fn replicate_is_seeded() {
        let base = inferno_api::load_path(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../samples/small"
        )))
        .unwrap()
        .spec;
        let a = replicate(&base, 3, 11);
        assert_eq!(a, replicate(&base, 3, 11));
        assert_ne!(a, replicate(&base, 3, 12));
        assert_eq!(
            a.server_data.servers.len(),
            3 * base.server_data.servers.len()
        );
        for s in &a.server_data.servers {
            let load = &s.current_alloc.load;
            assert!((64..256).contains(&load.avg_in_tokens), "{s:?}");
            assert!((512..1536).contains(&load.avg_out_tokens), "{s:?}");
        }
    }
}
