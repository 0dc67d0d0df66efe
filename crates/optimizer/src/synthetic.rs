//! Seeded synthetic systems for benchmarks and tests: a sample replicated many times, each
//! server with its own random load (`inferno-optimizer generate` writes one to a file).

use inferno_api::limits::MAX_UNITS;
use inferno_api::SystemSpec;

/// Deterministic xorshift64* generator: the same seed gives the same system everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced by a fixed non-zero constant).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
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
