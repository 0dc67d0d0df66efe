//! What a cycle reports: per server, per accelerator type, per stage. The domain's report; on
//! the wire (gRPC `Invoke`, `/invoke`, the JSONL cycle record of control-loop spec 9.2) it is
//! `inferno.v1.CycleReport`, converted once in `crate::grpc::report_message`.

use crate::policy::ServerPlan;
use inferno_core::{Decision, DeploymentResult};
use serde::Serialize;

/// One server in the report (observed values, decision).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServerRecord {
    /// Server name.
    pub name: String,
    /// Class.
    pub class: String,
    /// Model.
    pub model: String,
    /// Observed arrival rate, requests/min.
    pub rpm: f64,
    /// Observed throughput (completions), requests/min, as the collector measured it; `null`
    /// when it was not measured (its `throughput` source is `default` or `unknown`: the load
    /// came from the labels, no pod reported, or every count was invalid), never a 0 that
    /// would read as "nothing completed".
    pub throughput: Option<f64>,
    /// Observed input tokens per request.
    pub avg_in_tok: i64,
    /// Observed output tokens per request.
    pub avg_out_tok: i64,
    /// Observed spread of the output tokens per request (coefficient of variation; 0 = not
    /// measured), which the model reads (docs/model.md 1.1).
    pub out_tokens_cv: f64,
    /// Observed ITL, ms.
    pub itl: f64,
    /// Observed TTFT, ms.
    pub ttft: f64,
    /// ITL target, ms.
    pub slo_itl: f64,
    /// TTFT target, ms.
    pub slo_ttft: f64,
    /// Mean requests running per replica.
    pub occ_per_replica: f64,
    /// Decided accelerator ("" when unplaced).
    pub accelerator: String,
    /// Why the accelerator changes, "" when it does not: `capacity: ...` (the current one has
    /// no room for the server), `not placeable: ...` (the server cannot run on it), `cost: ...`
    /// (it had room and the new one costs less) or `objective: ...` (it had room and was not
    /// dearer). The rule is the controller's (`moves.rs`, docs/controller.md).
    pub move_reason: String,
    /// Replicas the Deployment gets: what the actuator applied (after its replica ceiling and
    /// step limit), for an unplaced server what it keeps; without an answer from the actuator
    /// the optimizer's number, else the replicas before the cycle.
    pub replicas: i64,
    /// The optimizer's replicas (0 when unplaced), before the actuator's limits.
    pub decided_replicas: i64,
    /// Decided batch size.
    pub max_batch: i64,
    /// Decided cost, cents/hour.
    pub cost: f64,
    /// Predicted ITL, ms.
    pub predicted_itl: f64,
    /// Predicted TTFT, ms.
    pub predicted_ttft: f64,
    /// Why unplaced ("" when placed).
    pub unplaced: String,
    /// Replicas before the cycle.
    pub old_replicas: i64,
    /// Whether the actuator applied a change.
    pub applied: bool,
    /// The actuator's note.
    pub note: String,
    /// The actuator's outcome: applied, unchanged, dry-run, recommend, refused, not-found or
    /// failed ("" when it gave none).
    pub outcome: String,
    /// What the loop's policy planned for and changed ([`crate::policy`]).
    pub plan: ServerPlan,
}

/// Units per accelerator type.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CapacityRecord {
    /// Type.
    #[serde(rename = "type")]
    pub acc_type: String,
    /// Used by the decision.
    pub allocated: u64,
    /// Available.
    pub available: u64,
}

/// Stage timings, ms.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Timing {
    /// Data refresh.
    pub load_ms: f64,
    /// Collect.
    pub collect_ms: f64,
    /// Optimize.
    pub optimize_ms: f64,
    /// Apply.
    pub actuate_ms: f64,
    /// Whole cycle.
    pub total_ms: f64,
}

/// How a cycle ended.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum CycleOutcome {
    /// Every stage ran.
    #[default]
    Ok,
    /// Optimize and apply did not run (no servers, not the leader).
    Skipped,
    /// A stage failed or missed its deadline.
    Failed,
}

impl CycleOutcome {
    /// The name in reports and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

/// Compares with a name (`report.outcome == "ok"`), as reports and logs spell it.
impl PartialEq<&str> for CycleOutcome {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

/// What one cycle did (also the JSONL cycle record of control-loop spec 9.2).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CycleReport {
    /// RFC 3339 start time.
    pub ts: String,
    /// Cycle number since start.
    pub cycle: u64,
    /// How it ended.
    pub outcome: CycleOutcome,
    /// Failing stage and reason, or why optimize/apply were skipped.
    pub reason: String,
    /// Servers.
    pub servers: Vec<ServerRecord>,
    /// Units per type.
    pub capacity: Vec<CapacityRecord>,
    /// Total cost of the decision, cents/hour.
    pub total_cost: f64,
    /// Solver of the decision (greedy, unlimited, milp, lagrangian) and how it ended.
    pub solver: String,
    /// Its objective (docs/solvers.md), proven lower bound and relative gap.
    pub objective: f64,
    /// Proven lower bound on the objective.
    pub bound: f64,
    /// `(objective - bound) / |objective|`.
    pub gap: f64,
    /// Deployments changed.
    pub changes: usize,
    /// Dry run.
    pub dry_run: bool,
    /// Problems of the cycle (collector problems, data warnings).
    pub problems: Vec<String>,
    /// Stage timings.
    pub timing: Timing,
    /// What the loop has learnt of each (model, accelerator) (docs/tuning.md).
    pub tuning: Vec<crate::policy::tuning::TunedRecord>,
    /// Why the decision is what it is, in brief (`--explain`; docs/explain.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explained: Option<inferno_core::Explained>,
    /// The optimizer's answer (for gRPC Invoke).
    #[serde(skip)]
    pub solution: Option<Decision>,
    /// The actuator's per-Deployment results (for gRPC Invoke).
    #[serde(skip)]
    pub updates: Vec<DeploymentResult>,
}
