//! Why a server is not placed.

use crate::candidate::ContextError;
use crate::stream::CandidateStream;
use crate::system::System;
use std::fmt;

/// The reason a server got no allocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// Its class is not defined.
    UnknownClass(String),
    /// Its class has no target for its model.
    NoTarget,
    /// Its model has perf data on no accelerator.
    NoModelData,
    /// Its load is negative or not a number.
    InvalidLoad(String),
    /// keepAccelerator is set but the current accelerator is unknown.
    KeptAcceleratorUnknown(String),
    /// Its own data is invalid (out-of-range numbers, unknown model or class, a duplicate
    /// name): it was left out of the solve; the problems, one per field.
    InvalidData(String),
    /// No accelerator can meet the targets; one line per accelerator.
    Unattainable(Vec<(String, String)>),
    /// Feasible, but its best candidate does not fit in what the higher-priority or
    /// higher-regret servers left.
    OutOfCapacity {
        /// Best accelerator.
        accelerator: String,
        /// Its type.
        accelerator_type: String,
        /// Replicas needed there.
        replicas: u64,
        /// Units needed.
        needed: u64,
        /// Units left of the type when the solve ended.
        available: u64,
    },
}

impl Reason {
    /// The reason of a server whose stream produced no candidate.
    pub(crate) fn no_candidate(system: &System<'_>, stream: &CandidateStream) -> Self {
        let mut lines: Vec<(String, String)> = stream
            .failures
            .iter()
            .map(|(acc, e)| (system.accelerators[*acc].name.clone(), e.to_string()))
            .collect();
        lines.sort();
        Self::Unattainable(lines)
    }

    /// A short machine-friendly code for the reason.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownClass(_) => "unknown-class",
            Self::NoTarget => "no-target",
            Self::NoModelData => "no-perf-data",
            Self::InvalidLoad(_) => "invalid-load",
            Self::KeptAcceleratorUnknown(_) => "kept-accelerator-unknown",
            Self::InvalidData(_) => "invalid-data",
            Self::Unattainable(_) => "slo-unattainable",
            Self::OutOfCapacity { .. } => "out-of-capacity",
        }
    }
}

impl From<ContextError> for Reason {
    fn from(e: ContextError) -> Self {
        match e {
            ContextError::UnknownClass(c) => Self::UnknownClass(c),
            ContextError::NoTarget => Self::NoTarget,
            ContextError::NoModelData => Self::NoModelData,
            ContextError::InvalidLoad(s) => Self::InvalidLoad(s),
            ContextError::KeptAcceleratorUnknown(a) => Self::KeptAcceleratorUnknown(a),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownClass(c) => write!(f, "service class {c:?} is not defined"),
            Self::NoTarget => f.write_str("the service class has no target for the model"),
            Self::NoModelData => f.write_str("no perf data for the model on any accelerator"),
            Self::InvalidLoad(s) => write!(f, "invalid load: {s}"),
            Self::InvalidData(s) => write!(f, "invalid data: {s}"),
            Self::KeptAcceleratorUnknown(a) => {
                write!(f, "keepAccelerator is set but accelerator {a:?} is not defined")
            }
            Self::Unattainable(lines) if lines.iter().all(|(_, why)| why == "no perf data") => {
                f.write_str("no perf data for the model on the allowed accelerators")
            }
            Self::Unattainable(lines) => {
                f.write_str("SLO unattainable on every accelerator: ")?;
                let parts: Vec<String> = lines
                    .iter()
                    .filter(|(_, why)| why != "no perf data")
                    .map(|(acc, why)| format!("{acc}: {why}"))
                    .collect();
                f.write_str(&parts.join("; "))
            }
            Self::OutOfCapacity { accelerator, accelerator_type, replicas, needed, available } => write!(
                f,
                "out of capacity: {replicas} x {accelerator} need {needed} {accelerator_type} units, {available} left"
            ),
        }
    }
}
