//! What the optimizer decided for one system.

use crate::collected::Unplaced;
use inferno_api::AllocationData;
use std::collections::BTreeMap;

/// Units used and available of one accelerator type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeUsage {
    /// Accelerator type.
    pub acc_type: String,
    /// Units the decision uses.
    pub used: u32,
    /// Units available (ignored in unlimited mode).
    pub capacity: u32,
}

/// Counters of one solve.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SolveStats {
    /// (server, accelerator) pairs sized.
    pub candidates_sized: u32,
    /// Pairs never sized because their cost bound could not win.
    pub candidates_skipped: u32,
    /// Sizing problems solved (the rest came from the cache).
    pub sizings: u32,
    /// Sizing cache hits.
    pub cache_hits: u32,
    /// Wall time of the solve, ms.
    pub duration_ms: f64,
}

/// At the most important priority left short: how many servers the decision leaves not fully
/// served and how many any allocation must leave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnservedFloor {
    /// Class priority.
    pub priority: i64,
    /// Servers this decision leaves not fully served.
    pub unserved: u32,
    /// Servers every allocation serving the more important ones must leave (proven).
    pub at_least: u32,
}

/// Which solver ran and how good its answer is (docs/solvers.md).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SolveSummary {
    /// `greedy`, `unlimited`, `milp` or `lagrangian`.
    pub solver: String,
    /// `optimal`, `gap reached`, `time limit`, `iteration limit` or `heuristic`.
    pub status: String,
    /// Objective of the allocation returned.
    pub objective: f64,
    /// Proven lower bound on the optimal objective.
    pub bound: f64,
    /// `(objective - bound) / |objective|`.
    pub gap: f64,
    /// Servers not fully served (unplaced or best effort).
    pub not_fully_served: u32,
    /// Subgradient iterations or branch-and-bound nodes.
    pub iterations: u64,
    /// Wall time of the solver proper, ms.
    pub solver_ms: f64,
    /// Absent when every server is served.
    pub unserved_floor: Option<UnservedFloor>,
}

/// Replicas of one server on one accelerator (heterogeneous mode).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllocationPart {
    /// Accelerator.
    pub accelerator: String,
    /// Replicas on it.
    pub num_replicas: i64,
    /// cents/hour for these replicas.
    pub cost: f64,
    /// Load share per replica, requests/s.
    pub rps_per_replica: f64,
    /// Predicted ITL of one replica, ms.
    pub itl_average: f64,
    /// Predicted TTFT of one replica, ms.
    pub ttft_average: f64,
    /// Utilisation of one replica.
    pub rho: f64,
}

/// A server served on several accelerator types.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Heterogeneous {
    /// Server name.
    pub server: String,
    /// One part per accelerator type.
    pub parts: Vec<AllocationPart>,
}

/// The optimizer's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Allocations of the placed servers, by server name.
    pub allocations: BTreeMap<String, AllocationData>,
    /// Servers not placed, with reasons, in server order.
    pub unplaced: Vec<Unplaced>,
    /// Total cost of the placed servers, cents/hour.
    pub total_cost: f64,
    /// Units per accelerator type.
    pub usage: Vec<TypeUsage>,
    /// Solve counters.
    pub stats: Option<SolveStats>,
    /// Servers placed by best effort (fewer replicas than their targets need).
    pub best_effort: Vec<String>,
    /// Data warnings.
    pub warnings: Vec<String>,
    /// Which solver ran, its objective, bound and gap.
    pub report: Option<SolveSummary>,
    /// Heterogeneous mode: servers served on several accelerator types.
    pub heterogeneous: Vec<Heterogeneous>,
}

/// Why a decision is what it is, in brief (the optimizer's `Explain` with `brief`,
/// docs/explain.md): what a unit of each GPU type is worth, the least cost with capacities
/// ignored, and how much more load each server's allocation carries.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explained {
    /// The least cost meeting every target with capacities ignored, cents/hour.
    pub lower_bound_cost: f64,
    /// Per accelerator type.
    pub prices: Vec<GpuPrice>,
    /// Per placed server (not by best effort).
    pub headroom: Vec<Headroom>,
}

/// What a unit of one accelerator type is worth.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GpuPrice {
    /// The type.
    #[serde(rename = "type")]
    pub acc_type: String,
    /// The capacity-free answer wants more of it than there is.
    pub binding: bool,
    /// Its price per unit in the LP relaxation (cents/hour per unit), when it clears the
    /// capacity.
    pub price: Option<f64>,
}

/// How much more load a server's allocation carries within its targets.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Headroom {
    /// The server.
    pub server: String,
    /// Requests/minute beyond its demand before it needs one more replica.
    pub rpm: f64,
}
