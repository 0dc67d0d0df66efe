//! Plain data types of the Inferno data files (spec section 5.2), serialised with the
//! reference's camelCase JSON names. Read files with the `parse_*` and `load_*` functions of
//! the crate rather than with serde directly: they also match keys case-insensitively (as the
//! reference decoder did) and convert legacy shapes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `accelerator-data.json`: the accelerator kinds a replica can run on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AcceleratorData {
    /// All accelerator kinds.
    pub accelerators: Vec<AcceleratorSpec>,
}

/// One accelerator kind, e.g. `4xA100` (type `A100`, multiplicity 4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AcceleratorSpec {
    /// Unique name, e.g. `2xAIU2`.
    pub name: String,
    /// Type for capacity accounting, e.g. `AIU2`.
    #[serde(rename = "type")]
    pub acc_type: String,
    /// Cards of `type` per accelerator instance (0 is read as 1 with a warning).
    pub multiplicity: i64,
    /// Memory size, GB (informational).
    pub mem_size: i64,
    /// Memory bandwidth, GB/s (informational).
    #[serde(rename = "memBW")]
    pub mem_bw: i64,
    /// Power curve, W (informational).
    pub power: PowerSpec,
    /// Cost, cents/hr per accelerator instance.
    pub cost: f64,
}

/// Piecewise-linear power curve of an accelerator (informational).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PowerSpec {
    /// Idle power, W.
    pub idle: i64,
    /// Full-load power, W.
    pub full: i64,
    /// Power at `midUtil`, W.
    pub mid_power: i64,
    /// Utilisation (0..1) of the knee of the curve.
    pub mid_util: f64,
}

/// `capacity-data.json`: available units (cards) per accelerator type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CapacityData {
    /// One row per type.
    pub count: Vec<AcceleratorCount>,
}

/// Available units of one accelerator type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AcceleratorCount {
    /// Accelerator type, e.g. `A100`.
    #[serde(rename = "type")]
    pub acc_type: String,
    /// Units (cards) available.
    pub count: i64,
}

/// `model-data.json`: performance data per (model, accelerator).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ModelData {
    /// One row per (model, accelerator).
    pub models: Vec<ModelAcceleratorPerfData>,
}

/// Performance of one model on one accelerator kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ModelAcceleratorPerfData {
    /// Model name.
    pub name: String,
    /// Accelerator name (an [`AcceleratorSpec::name`]).
    pub acc: String,
    /// Accelerator instances per replica (<= 0 is read as 1).
    pub acc_count: i64,
    /// Max batch size valid at `atTokens` tokens per request.
    pub max_batch_size: i64,
    /// Tokens per request at which `maxBatchSize` was measured.
    pub at_tokens: i64,
    /// Iteration-time parameters.
    pub perf_parms: PerfParms,
}

/// Iteration time = alpha + beta * computed tokens + gamma * KV tokens read (ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PerfParms {
    /// Fixed overhead per iteration, ms.
    pub alpha: f64,
    /// Time per computed token, ms/token.
    pub beta: f64,
    /// Time per KV-cache token read, ms/token.
    pub gamma: f64,
}

/// `serviceclass-data.json`: classes of service with per-model targets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceClassData {
    /// All classes.
    pub service_classes: Vec<ServiceClassSpec>,
}

/// One class of service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceClassSpec {
    /// Class name, e.g. `Premium`.
    pub name: String,
    /// 1 (most important) ..= 100; outside that range it is read as 100.
    pub priority: i64,
    /// Targets per model.
    pub model_targets: Vec<ModelTarget>,
}

/// Latency / throughput targets of one model in one class (0 = unset).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ModelTarget {
    /// Model name.
    pub model: String,
    /// Mean inter-token latency target, ms.
    #[serde(rename = "slo-itl")]
    pub slo_itl: f64,
    /// Mean time-to-first-token target (queueing included), ms.
    #[serde(rename = "slo-ttft")]
    pub slo_ttft: f64,
    /// Throughput target, tokens/s.
    #[serde(rename = "slo-tps")]
    pub slo_tps: f64,
}

/// `server-data.json`: the inference servers to place.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServerData {
    /// All servers.
    pub servers: Vec<ServerSpec>,
}

/// One inference server: a model served to one class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServerSpec {
    /// Unique server name.
    pub name: String,
    /// Service class (empty means `Free`).
    pub class: String,
    /// Model name.
    pub model: String,
    /// Only consider the accelerator of the current allocation.
    pub keep_accelerator: bool,
    /// Lower bound on replicas.
    pub min_num_replicas: i64,
    /// Batch size override (0 = derive).
    pub max_batch_size: i64,
    /// Waiting room per replica (0 = none).
    pub max_queue_size: i64,
    /// Current allocation; its `load` is the load to plan for.
    pub current_alloc: AllocationData,
    /// Desired allocation (output of the optimizer).
    pub desired_alloc: AllocationData,
}

/// An allocation of a server: accelerator, replicas, batch size and predictions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AllocationData {
    /// Accelerator name ("" = none).
    pub accelerator: String,
    /// Number of replicas.
    pub num_replicas: i64,
    /// Max batch size (concurrency) per replica.
    pub max_batch: i64,
    /// Cost, cents/hr.
    pub cost: f64,
    /// Predicted (or observed) mean ITL, ms.
    pub itl_average: f64,
    /// Predicted (or observed) mean TTFT, ms.
    pub ttft_average: f64,
    /// Load of the server.
    pub load: ServerLoadSpec,
}

/// Load of one server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServerLoadSpec {
    /// Offered arrival rate, requests/min.
    pub arrival_rate: f64,
    /// Completed rate, requests/min (informational).
    pub throughput: f64,
    /// Mean input tokens per request.
    pub avg_in_tokens: i64,
    /// Mean output tokens per request.
    pub avg_out_tokens: i64,
    /// Coefficient of variation (standard deviation over mean) of the output tokens per
    /// request; 0 (the default, and the reference's model) = every request at the mean. Long
    /// requests stay long in the batch, so the KV cache a batch reads grows with the spread
    /// (docs/model.md). Left out of JSON when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub out_tokens_cv: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// `optimizer-data.json`: solver flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OptimizerData {
    /// The flags.
    pub optimizer: OptimizerSpec,
}

/// Solver flags.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OptimizerSpec {
    /// Ignore capacity (capacity planning).
    pub unlimited: bool,
    /// Allow several accelerator kinds per server (solved by the MILP).
    pub heterogeneous: bool,
    /// Use the MILP solver (the same as `solver: "milp"`).
    pub milp_solver: bool,
    /// `greedy` (default), `milp` or `lagrangian`.
    pub solver: String,
    /// Time limit of the MILP and Lagrangian solvers, seconds (0 = the default, 10 s).
    pub time_limit_seconds: f64,
    /// Use CPLEX (accepted, unused).
    pub use_cplex: bool,
    /// Best effort after all priorities got their SLO allocation.
    pub delayed_best_effort: bool,
    /// `None`, `PriorityExhaustive`, `PriorityRoundRobin` or `RoundRobin`.
    pub saturation_policy: String,
    /// Batch-size rule: `scaled` (default, the reference rule), `fit` (the scaled rule capped
    /// so that a full batch fits the catalog's KV cache) or `search`.
    pub batch_sizing: String,
    /// Start-up delay of a new replica, seconds (model load): what a change costs. 0 (the
    /// default) = changes cost nothing beyond the reference's accelerator penalty.
    pub startup_seconds: f64,
    /// A change must pay for itself within this time, seconds: the start-up cost of the new
    /// replicas a candidate needs is spread over it. 0 = 600 when `startupSeconds` is set.
    pub payback_seconds: f64,
    /// Greedy solver: when capacities bind, the Lagrangian iterations spent improving its
    /// answer. Absent = the optimizer's default (200); 0 = the reference's greedy as it is.
    /// An `Option` because 0 means something: absent is not 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub improve_iterations: Option<i64>,
    /// Lagrangian solver: an iteration budget besides the time limit (at least 1; absent =
    /// none). With one, the answer depends on the input and the budget only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iteration_limit: Option<i64>,
}

/// All inputs of one optimisation (`system-data.json` is `{"system": SystemSpec}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SystemSpec {
    /// Accelerators.
    pub accelerator_data: AcceleratorData,
    /// Model performance data.
    pub model_data: ModelData,
    /// Service classes.
    pub service_class_data: ServiceClassData,
    /// Servers with their load.
    pub server_data: ServerData,
    /// Solver flags.
    pub optimizer_data: OptimizerData,
    /// Capacity per type.
    pub capacity_data: CapacityData,
}

/// Wrapper of a [`SystemSpec`] as in `system-data.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SystemData {
    /// The system.
    pub system: SystemSpec,
}

/// Optimizer output: one allocation per placed server, keyed by server name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AllocationSolution {
    /// Allocations by server name (sorted).
    pub allocations: BTreeMap<String, AllocationData>,
}

/// The class of a server whose `class` is empty.
pub const FREE_CLASS: &str = "Free";

impl SystemSpec {
    /// The accelerator named `name`.
    pub fn accelerator(&self, name: &str) -> Option<&AcceleratorSpec> {
        self.accelerator_data
            .accelerators
            .iter()
            .find(|a| a.name == name)
    }

    /// Units (cards) available of accelerator type `acc_type` (0 if not listed).
    pub fn capacity_of(&self, acc_type: &str) -> i64 {
        self.capacity_data
            .count
            .iter()
            .find(|c| c.acc_type == acc_type)
            .map_or(0, |c| c.count)
    }

    /// Performance data of `model` on accelerator `acc`.
    pub fn perf(&self, model: &str, acc: &str) -> Option<&ModelAcceleratorPerfData> {
        self.model_data
            .models
            .iter()
            .find(|m| m.name == model && m.acc == acc)
    }

    /// The service class named `name`.
    pub fn service_class(&self, name: &str) -> Option<&ServiceClassSpec> {
        self.service_class_data
            .service_classes
            .iter()
            .find(|c| c.name == name)
    }
}

impl ServiceClassSpec {
    /// The targets of `model` in this class.
    pub fn target(&self, model: &str) -> Option<&ModelTarget> {
        self.model_targets.iter().find(|t| t.model == model)
    }
}

impl ServerSpec {
    /// The service class name, [`FREE_CLASS`] when `class` is empty.
    pub fn class_name(&self) -> &str {
        if self.class.is_empty() {
            FREE_CLASS
        } else {
            &self.class
        }
    }
}
