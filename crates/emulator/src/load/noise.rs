//! The random draws of the load emulator: one seeded stream per Deployment, so a Deployment's
//! label sequence depends on the seed, its name and the labels only, not on which other
//! Deployments exist or in which order they are listed.

use crate::rng::{stable_hash, Rng};

/// The draws of one Deployment for one update, in the order they are taken from its stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draws {
    /// Uniform on [0, 1): the Deployment's skew weight (revert mode).
    pub skew: f64,
    /// Standard normal for `.load.rpm`.
    pub rpm: f64,
    /// Standard normal for `.load.intokens`.
    pub in_tokens: f64,
    /// Standard normal for `.load.outtokens`.
    pub out_tokens: f64,
    /// Standard normal for `.load.numtokens`.
    pub num_tokens: f64,
}

/// The stream of [`Draws`] of one Deployment: xoshiro256++ seeded with
/// `seed XOR fnv1a("<namespace>/<name>")`.
///
/// Every update takes all five draws, whatever the mode and whichever labels exist, so that
/// the stream stays aligned across modes and label sets.
#[derive(Debug, Clone)]
pub struct Noise {
    rng: Rng,
}

impl Noise {
    /// The stream of the Deployment `namespace/name` under `seed`.
    pub fn new(seed: u64, namespace: &str, name: &str) -> Self {
        Self {
            rng: Rng::new(seed ^ stable_hash(&format!("{namespace}/{name}"))),
        }
    }

    /// The draws of the next update.
    pub fn next_draws(&mut self) -> Draws {
        Draws {
            skew: self.rng.next_f64(),
            rpm: self.rng.normal(),
            in_tokens: self.rng.normal(),
            out_tokens: self.rng.normal(),
            num_tokens: self.rng.normal(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_depend_on_seed_and_name_only() {
        let a = Noise::new(7, "ns", "a").next_draws();
        assert_eq!(a, Noise::new(7, "ns", "a").next_draws());
        assert_ne!(a, Noise::new(8, "ns", "a").next_draws());
        assert_ne!(a, Noise::new(7, "ns", "b").next_draws());
        assert!((0.0..1.0).contains(&a.skew));
        let mut n = Noise::new(7, "ns", "a");
        let first = n.next_draws();
        assert_ne!(first, n.next_draws());
    }
}
