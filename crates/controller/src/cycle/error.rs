//! Why a cycle failed: the stage, and what went wrong there. The report carries the message
//! (`CycleReport.reason`); the cycle's code passes the type.

use crate::data::DataError;
use inferno_core::PortError;
use std::time::Duration;

/// The stages a cycle fails in, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Reading the static and dynamic data.
    Load,
    /// Asking the collector for the servers and their load.
    Collect,
    /// Asking the optimizer for a decision.
    Optimize,
    /// Asking the actuator to apply it.
    Apply,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Load => "load data",
            Self::Collect => "collect",
            Self::Optimize => "optimize",
            Self::Apply => "apply",
        })
    }
}

/// What went wrong in a stage.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The data could not be read, and no earlier data is held.
    #[error(transparent)]
    Data(#[from] DataError),
    /// No data after a read that reported no error.
    #[error("no data")]
    NoData,
    /// The peer answered with an error (or not at all, as the transport saw it).
    #[error("{peer}: {source}")]
    Port {
        /// The service and where it is (`optimizer at http://127.0.0.1:3302`).
        peer: String,
        /// What it said.
        #[source]
        source: PortError,
    },
    /// The peer did not answer within the stage's deadline.
    #[error("{peer}: no answer within {after:?}")]
    Deadline {
        /// The service and where it is.
        peer: String,
        /// The deadline.
        after: Duration,
    },
}

/// A failed cycle: `optimize: optimizer at http://127.0.0.1:3302: no answer within 10s`,
/// `load data: cannot read /data/model-data.json: ...`.
#[derive(Debug, thiserror::Error)]
#[error("{stage}: {failure}")]
pub struct CycleError {
    /// Where it failed.
    pub stage: Stage,
    /// What went wrong.
    #[source]
    pub failure: Failure,
}

impl CycleError {
    /// A failure in `stage`.
    pub fn new(stage: Stage, failure: impl Into<Failure>) -> Self {
        Self {
            stage,
            failure: failure.into(),
        }
    }
}
