//! The load emulator (`inferno-load-emulator`, control-loop spec section 6): every interval it
//! rewrites the load labels of the managed Deployments (`inferno.server.load.rpm`,
//! `.intokens`, `.outtokens`, and `.numtokens` where present) by one step of a random walk.
//!
//! It only writes labels; the follow-mode emulator (`inferno-vllm-emulator follow --drive`)
//! turns them into requests. The walks are in [`walk_rpm`], [`walk_tokens`], [`revert`] and
//! [`skew_factors`]; the draws in [`Noise`]; phase profiles in [`Phases`]. Label writes are
//! merge patches of `metadata.labels` conditional on the resourceVersion read, retried with
//! fresh state until they land ([`LoadEmulator::step_from`]).

mod args;
mod emulator;
mod noise;
mod phases;
mod walk;

pub use args::{run_args, LoadArgs};
pub use emulator::{LoadEmulator, StepReport, Written, FIELD_MANAGER};
pub use noise::{Draws, Noise};
pub use phases::{parse_duration, Phase, Phases};
pub use walk::{
    revert, revert_tokens, skew_factors, walk_rpm, walk_tokens, Mode, WALK_RPM_MAX, WALK_RPM_MIN,
    WALK_TOKENS_MAX, WALK_TOKENS_MIN,
};

use crate::error::{Error, Result};
use std::time::Duration;

/// The seed's default alpha (walk mode).
pub const DEFAULT_WALK_ALPHA: f64 = 0.5;
/// CL-HEAD's default alpha (revert mode).
pub const DEFAULT_REVERT_ALPHA: f64 = 0.1;

/// What the load emulator updates and how.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadConfig {
    /// Namespaces; empty = all.
    pub namespaces: Vec<String>,
    /// Time between updates (> 0); also the phase clock's step.
    pub interval: Duration,
    /// Which walk.
    pub mode: Mode,
    /// Noise scale, in [0, 1]: sigma = alpha x first value (walk), alpha x nominal (revert).
    pub alpha: f64,
    /// Pull towards the target per update, in [0, 1] (revert).
    pub theta: f64,
    /// Share of the RPM targets redistributed at random across Deployments, in [0, 1]
    /// (revert).
    pub skew: f64,
    /// Multiplier of the nominal RPM over time (revert).
    pub phases: Phases,
    /// Seed of every Deployment's noise stream.
    pub seed: u64,
}

impl Default for LoadConfig {
    /// Revert mode with CL-HEAD's defaults: 20 s, alpha 0.1, theta 0.2, skew 0.3, no phases,
    /// seed 1, all namespaces.
    fn default() -> Self {
        Self {
            namespaces: Vec::new(),
            interval: Duration::from_secs(20),
            mode: Mode::Revert,
            alpha: DEFAULT_REVERT_ALPHA,
            theta: 0.2,
            skew: 0.3,
            phases: Phases::default(),
            seed: 1,
        }
    }
}

impl LoadConfig {
    /// Checks the interval and that alpha, theta and skew are in [0, 1]; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        if self.interval.is_zero() {
            return Err(Error::Flag {
                flag: "--interval",
                message: "must be > 0 seconds".into(),
            });
        }
        for (flag, v) in [
            ("--alpha", self.alpha),
            ("--theta", self.theta),
            ("--skew", self.skew),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(Error::Flag {
                    flag,
                    message: format!("must be in [0, 1], got {v}"),
                });
            }
        }
        if self.mode == Mode::Walk && !self.phases.phases().is_empty() {
            return Err(Error::Flag {
                flag: "--phases",
                message: "applies to --mode revert only".into(),
            });
        }
        Ok(())
    }
}
