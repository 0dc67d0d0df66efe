//! What the actuator is asked to apply, and what it did.

use crate::collected::{by_name, PodLoad, ServerRef, UnknownName, Unplaced};
use inferno_api::AllocationData;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A decision to apply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplyRequest {
    /// Allocations by server name.
    pub allocations: BTreeMap<String, AllocationData>,
    /// The Deployment of each server, by server name: only these are touched.
    pub refs: BTreeMap<String, ServerRef>,
    /// Compute and report the changes, apply nothing.
    pub dry_run: bool,
    /// Servers without an allocation, by server name, with code and reason.
    pub unplaced: BTreeMap<String, Unplaced>,
    /// Outstanding requests per pod, by server name: on a scale-down the least loaded pods go
    /// first (the actuator sets their `controller.kubernetes.io/pod-deletion-cost`).
    pub pod_loads: BTreeMap<String, Vec<PodLoad>>,
    /// Why each server that changes accelerator does, by server name (the controller's
    /// judgement): the actuator's Event names the cause.
    pub moves: BTreeMap<String, Move>,
}

/// What forced or chose a server's move to another accelerator (docs/controller.md, "Why a
/// server changes accelerator").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MoveCause {
    /// The accelerator it had has no room left for it.
    Capacity,
    /// It had room, and the new accelerator costs less.
    Cost,
    /// The server cannot run on the accelerator it had.
    NotPlaceable,
    /// It had room and was not dearer: the optimizer's objective preferred the new one.
    Objective,
}

impl MoveCause {
    /// Every cause.
    pub const ALL: [MoveCause; 4] = [
        Self::Capacity,
        Self::Cost,
        Self::NotPlaceable,
        Self::Objective,
    ];

    /// The name that starts the reason (`capacity: ...`), in reports and Events.
    pub fn name(self) -> &'static str {
        match self {
            Self::Capacity => "capacity",
            Self::Cost => "cost",
            Self::NotPlaceable => "not placeable",
            Self::Objective => "objective",
        }
    }
}

impl fmt::Display for MoveCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MoveCause {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        by_name(&Self::ALL, Self::name, "move cause", s)
    }
}

/// Why a server leaves its accelerator for another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// What forced or chose it.
    pub cause: MoveCause,
    /// The whole reason for people, starting with the cause (`capacity: 1 x G2 needs ...`).
    pub reason: String,
}

/// What happened to one Deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// A patch was applied.
    Applied,
    /// Nothing to change.
    Unchanged,
    /// A change was computed and not applied (dry run).
    DryRun,
    /// Recommend mode: the decision was published, the Deployment left alone.
    Recommend,
    /// Refused by the actuator's guard (see the result's code).
    Refused,
    /// The Deployment does not exist.
    NotFound,
    /// The patch failed.
    Failed,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 7] = [
        Self::Applied,
        Self::Unchanged,
        Self::DryRun,
        Self::Recommend,
        Self::Refused,
        Self::NotFound,
        Self::Failed,
    ];

    /// The name used in reports, metrics labels and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Unchanged => "unchanged",
            Self::DryRun => "dry-run",
            Self::Recommend => "recommend",
            Self::Refused => "refused",
            Self::NotFound => "not-found",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Outcome {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, UnknownName> {
        by_name(&Self::ALL, Self::name, "apply outcome", s)
    }
}

/// The outcome for one Deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentResult {
    /// Server name.
    pub server: String,
    /// Deployment name.
    pub deployment: String,
    /// Namespace.
    pub namespace: String,
    /// Before: replicas, accelerator, batch.
    pub old: Option<AllocationData>,
    /// After (what was or would be applied).
    pub new: Option<AllocationData>,
    /// What happened.
    pub outcome: Outcome,
    /// Why it changed: cost, slo, capacity, unplaced, ...
    pub reason: String,
    /// Why not applied or what failed ("" if applied or nothing to do).
    pub error: String,
    /// Machine-friendly refusal code when refused ("" otherwise).
    pub code: String,
}

impl DeploymentResult {
    /// Whether a patch was applied.
    pub fn applied(&self) -> bool {
        self.outcome == Outcome::Applied
    }
}

/// What the actuator did with one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Applied {
    /// One result per Deployment given, sorted by server name.
    pub results: Vec<DeploymentResult>,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_cause_names_round_trip() {
        for c in MoveCause::ALL {
            assert_eq!(c.name().parse::<MoveCause>(), Ok(c));
        }
    }

    #[test]
    fn outcome_names_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(o.name().parse::<Outcome>(), Ok(o));
        }
        assert_eq!(
            "ok".parse::<Outcome>().unwrap_err().to_string(),
            "unknown apply outcome \"ok\""
        );
    }
}
