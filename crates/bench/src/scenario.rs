//! Scenario files as written: the load each server gets over time and how the stand-ins behave
//! (docs/benchmark.md, section 4, documents every field). [`crate::plan`] checks a scenario and
//! expands it into a [`Plan`].

use crate::duration::Seconds;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub use crate::plan::{deployment_name, BenchServer, LoadAt, Plan};

/// The scenario file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// Name in the reports (default: the file name without extension).
    #[serde(default)]
    pub name: Option<String>,
    /// One line on what the scenario shows.
    #[serde(default)]
    pub description: String,
    /// Data directory (the six data files), relative to the scenario file.
    pub data: PathBuf,
    /// The servers: names from the data, entries with overrides, or `{generate: ...}`.
    pub servers: Servers,
    /// Load phases of every server without its own `load`.
    #[serde(default)]
    pub load: Vec<Phase>,
    /// Length of the run, scenario time.
    pub duration: Seconds,
    /// Scenario seconds per wall second.
    #[serde(default = "one")]
    pub time_scale: f64,
    /// Control period (Inferno's cycle, the sampling of the records).
    #[serde(default = "thirty_seconds")]
    pub period: Seconds,
    /// Seed of arrivals and token lengths (same seed, same requests for every policy).
    #[serde(default = "seed_one")]
    pub seed: u64,
    /// Pod start-up delays.
    #[serde(default)]
    pub startup: Startup,
    /// True iteration parameters of the emulated servers relative to the catalog.
    #[serde(default)]
    pub mismatch: Vec<Mismatch>,
    /// Arrival process, token lengths, iteration-time noise.
    #[serde(default)]
    pub noise: Noise,
    /// The load balancer in front of each Deployment.
    #[serde(default)]
    pub gateway: Gateway,
    /// Pod termination and rollout strategy of the Deployments.
    #[serde(default)]
    pub pods: Pods,
    /// Accelerator units per type, replacing the data's capacity (a GPU shortage).
    #[serde(default)]
    pub capacity: BTreeMap<String, i64>,
    /// The `hpa` baseline's rule.
    #[serde(default)]
    pub hpa: Hpa,
    /// The optimizer's batch rule for every policy (`batchSizing` of the optimizer data):
    /// `fit` by default, since the pods' KV cache is the catalog's (`pods.kvCache`).
    #[serde(default = "fit")]
    pub batch_sizing: String,
    /// The `inferno` policy's settings beyond the shipped defaults.
    #[serde(default, rename = "loop")]
    pub control: Control,
}

fn fit() -> String {
    "fit".into()
}

/// `loop:`: how the real loop is configured (scenario time; scaled by the time scale).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Control {
    /// The controller's `--scale-down-window`.
    #[serde(default = "five_minutes")]
    pub scale_down_window: Seconds,
    /// The optimizer data's `paybackSeconds` (its `startupSeconds` is the scenario's longest
    /// start-up delay).
    #[serde(default = "ten_minutes")]
    pub payback: Seconds,
    /// Extra flags for the controller, as given (e.g. `["--itl-margin", "0.2"]`).
    #[serde(default)]
    pub controller_args: Vec<String>,
}

impl Default for Control {
    fn default() -> Self {
        Self {
            scale_down_window: five_minutes(),
            payback: ten_minutes(),
            controller_args: Vec::new(),
        }
    }
}

fn ten_minutes() -> Seconds {
    Seconds(600.0)
}

fn one() -> f64 {
    1.0
}

fn seed_one() -> u64 {
    1
}

fn thirty_seconds() -> Seconds {
    Seconds(30.0)
}

/// `servers:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Servers {
    /// Listed servers.
    List(Vec<ServerEntry>),
    /// Generated servers.
    Generate {
        /// How to generate them.
        generate: Generate,
    },
}

/// One listed server.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ServerEntry {
    /// A server name of the data, as it is there.
    Name(String),
    /// A server name of the data with overrides.
    Custom(ServerOverride),
}

/// A listed server with overrides.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerOverride {
    /// Server name in the data.
    pub name: String,
    /// Nominal rate, requests/min (default: the data's `arrivalRate`).
    #[serde(default)]
    pub rpm: Option<f64>,
    /// Nominal mean prompt tokens (default: the data's `avgInTokens`).
    #[serde(default)]
    pub in_tokens: Option<f64>,
    /// Nominal mean output tokens (default: the data's `avgOutTokens`).
    #[serde(default)]
    pub out_tokens: Option<f64>,
    /// This server's load phases (default: the scenario's `load`).
    #[serde(default)]
    pub load: Option<Vec<Phase>>,
}

/// `servers: {generate: ...}`: copies of the data's servers with random nominal rates.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Generate {
    /// Number of servers.
    pub count: usize,
    /// Nominal rate range, requests/min: `[min, max]`, uniform.
    pub rpm: [f64; 2],
    /// Data servers to copy (class, model, tokens), round robin (default: all).
    #[serde(default)]
    pub from: Vec<String>,
}

/// One load phase.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Phase {
    /// Length of the phase.
    #[serde(rename = "for")]
    pub length: Seconds,
    /// Multiplier of the nominal rate reached in this phase (default: the previous one).
    #[serde(default)]
    pub multiplier: Option<f64>,
    /// How the multiplier gets there.
    #[serde(default)]
    pub shape: Shape,
    /// Mean prompt tokens from this phase on (default: unchanged).
    #[serde(default)]
    pub in_tokens: Option<f64>,
    /// Mean output tokens from this phase on (default: unchanged).
    #[serde(default)]
    pub out_tokens: Option<f64>,
}

/// How a phase moves from the previous multiplier to its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// At once, at the start of the phase.
    #[default]
    Step,
    /// Linearly over the phase.
    Linear,
    /// Along half a cosine over the phase (smooth at both ends; a day's curve).
    Smooth,
}

/// `startup:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Startup {
    /// Seconds from pod creation to Ready when no rule matches.
    #[serde(default = "sixty_seconds")]
    pub default: Seconds,
    /// First match wins.
    #[serde(default)]
    pub rules: Vec<StartupRule>,
}

fn sixty_seconds() -> Seconds {
    Seconds(60.0)
}

impl Default for Startup {
    fn default() -> Self {
        Self {
            default: sixty_seconds(),
            rules: Vec::new(),
        }
    }
}

/// A start-up delay for pods of a model and/or an accelerator.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartupRule {
    /// Model (any when absent).
    #[serde(default)]
    pub model: Option<String>,
    /// Accelerator (any when absent).
    #[serde(default)]
    pub accelerator: Option<String>,
    /// Seconds from creation to Ready.
    pub seconds: Seconds,
}

/// Factors on alpha, beta, gamma.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Factors {
    /// On alpha.
    #[serde(default = "one")]
    pub alpha: f64,
    /// On beta.
    #[serde(default = "one")]
    pub beta: f64,
    /// On gamma.
    #[serde(default = "one")]
    pub gamma: f64,
}

impl Default for Factors {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            beta: 1.0,
            gamma: 1.0,
        }
    }
}

/// The true parameters of (model, accelerator) pairs relative to the catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mismatch {
    /// Model (any when absent).
    #[serde(default)]
    pub model: Option<String>,
    /// Accelerator (any when absent).
    #[serde(default)]
    pub accelerator: Option<String>,
    /// Factors at the start.
    #[serde(flatten)]
    pub start: Factors,
    /// Factors at the end of the run, reached linearly (default: no drift).
    #[serde(default)]
    pub drift_to: Option<Factors>,
}

/// `noise:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Noise {
    /// Arrival process.
    #[serde(default)]
    pub arrivals: Arrivals,
    /// Coefficient of variation of inter-arrival times for `gamma` (1 = Poisson).
    #[serde(default = "one")]
    pub burstiness: f64,
    /// Token-length distribution around each phase's means.
    #[serde(default)]
    pub tokens: TokenLengths,
    /// Coefficient of variation of token lengths (`lognormal`, `uniform`).
    #[serde(default = "half")]
    pub tokens_cv: f64,
    /// Log-normal noise (sigma) on every emulated iteration time; 0 = none.
    #[serde(default)]
    pub iteration: f64,
}

fn half() -> f64 {
    0.5
}

impl Noise {
    /// The coefficient of variation of the token lengths the distribution draws.
    pub fn spread(&self) -> f64 {
        match self.tokens {
            TokenLengths::Fixed => 0.0,
            TokenLengths::Exponential => 1.0,
            TokenLengths::Uniform | TokenLengths::Lognormal => self.tokens_cv,
        }
    }
}

impl Default for Noise {
    fn default() -> Self {
        Self {
            arrivals: Arrivals::default(),
            burstiness: 1.0,
            tokens: TokenLengths::default(),
            tokens_cv: 0.5,
            iteration: 0.0,
        }
    }
}

/// Inter-arrival times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Exponential (Poisson arrivals).
    #[default]
    Poisson,
    /// Gamma with the `burstiness` coefficient of variation (> 1: bursty).
    Gamma,
    /// Evenly spaced.
    Uniform,
}

/// Token lengths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenLengths {
    /// Exactly the mean.
    #[default]
    Fixed,
    /// Uniform around the mean with the given coefficient of variation.
    Uniform,
    /// Exponential (coefficient of variation 1).
    Exponential,
    /// Log-normal with the given coefficient of variation.
    Lognormal,
}

/// `gateway:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gateway {
    /// How long a request waits for a ready pod before it is rejected.
    #[serde(default = "sixty_seconds")]
    pub max_wait: Seconds,
}

impl Default for Gateway {
    fn default() -> Self {
        Self {
            max_wait: sixty_seconds(),
        }
    }
}

/// `pods:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pods {
    /// `terminationGracePeriodSeconds` of the pods; by default the inferno policy's drain grace.
    #[serde(default = "drain_grace")]
    pub grace_period: Seconds,
    /// Rolling update `maxSurge` (an int or a percentage).
    #[serde(default = "quarter")]
    pub max_surge: serde_json::Value,
    /// Rolling update `maxUnavailable` (an int or a percentage).
    #[serde(default = "quarter")]
    pub max_unavailable: serde_json::Value,
    /// KV-cache capacity of a pod: `catalog` (the catalog's maxBatchSize x atTokens, what
    /// fits in the GPU memory) or `unlimited` (never a preemption).
    #[serde(default)]
    pub kv_cache: KvCache,
}

fn drain_grace() -> Seconds {
    Seconds(crate::policies::inferno::DRAIN_GRACE as f64)
}

fn quarter() -> serde_json::Value {
    serde_json::Value::String("25%".into())
}

impl Default for Pods {
    fn default() -> Self {
        Self {
            grace_period: drain_grace(),
            max_surge: quarter(),
            max_unavailable: quarter(),
            kv_cache: KvCache::default(),
        }
    }
}

/// KV-cache capacity of the emulated pods.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvCache {
    /// The catalog's `maxBatchSize x atTokens`.
    #[default]
    Catalog,
    /// The emulator's default (batch cap x token budget): no preemption in practice.
    Unlimited,
}

/// `hpa:`: the reactive baseline (docs/benchmark.md, "Policies").
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hpa {
    /// Target mean KV-cache usage per ready pod (fraction).
    #[serde(default = "kv_target")]
    pub kv_cache_target: f64,
    /// Target mean waiting requests per ready pod.
    #[serde(default = "waiting_target")]
    pub waiting_target: f64,
    /// Scale-up stabilisation window.
    #[serde(default = "three_minutes")]
    pub up_window: Seconds,
    /// Scale-down stabilisation window.
    #[serde(default = "five_minutes")]
    pub down_window: Seconds,
    /// Evaluation period (the HPA controller's sync period).
    #[serde(default = "fifteen_seconds")]
    pub sync: Seconds,
    /// No change while the ratio is within 1 +- tolerance.
    #[serde(default = "tolerance")]
    pub tolerance: f64,
    /// Replica bounds.
    #[serde(default = "one_u32")]
    pub min_replicas: u32,
    /// Replica bounds.
    #[serde(default = "max_replicas")]
    pub max_replicas: u32,
}

fn kv_target() -> f64 {
    0.7
}
fn waiting_target() -> f64 {
    2.0
}
fn three_minutes() -> Seconds {
    Seconds(180.0)
}
fn five_minutes() -> Seconds {
    Seconds(300.0)
}
fn fifteen_seconds() -> Seconds {
    Seconds(15.0)
}
fn tolerance() -> f64 {
    0.1
}
fn one_u32() -> u32 {
    1
}
fn max_replicas() -> u32 {
    100
}

impl Default for Hpa {
    fn default() -> Self {
        Self {
            kv_cache_target: kv_target(),
            waiting_target: waiting_target(),
            up_window: three_minutes(),
            down_window: five_minutes(),
            sync: fifteen_seconds(),
            tolerance: tolerance(),
            min_replicas: 1,
            max_replicas: max_replicas(),
        }
    }
}
