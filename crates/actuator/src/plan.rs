//! Deciding what to do with one Deployment: a pure function of its current state, the
//! optimizer's allocation (if any) and the actuator's policy. Acting on the decision is the
//! `apply` module's business.

use crate::error::UnknownName;
use inferno_api::AllocationData;
use inferno_core::contract::{self, keys};
use inferno_core::Move;
use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What to do with a server the optimizer did not place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnplacedPolicy {
    /// Keep its current replicas and labels (nothing running is lost).
    #[default]
    Hold,
    /// Scale it to zero (the seed's behaviour).
    Zero,
    /// Scale it to its `inferno.server.min-replicas` label (hold when it has none).
    Min,
}

impl std::str::FromStr for UnplacedPolicy {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "hold" => Ok(Self::Hold),
            "zero" => Ok(Self::Zero),
            "min" => Ok(Self::Min),
            other => Err(UnknownName {
                what: "unplaced policy",
                given: other.into(),
                choices: "hold, zero, min",
            }),
        }
    }
}

/// Whether the unplaced policy (zero, min) may act on a server unplaced with `code`: only when
/// the optimizer left it out by its own choice on valid data (no capacity, or no allocation
/// meets the targets). Bad input (`invalid-load`, `invalid-data`), a configuration gap
/// (`unknown-class`, `no-perf-data`, ...) or no code at all holds the server.
pub fn policy_applies(code: &str) -> bool {
    matches!(code, "out-of-capacity" | "slo-unattainable")
}

/// Pod-template changes that make a decision change real hardware and batching (off unless
/// configured).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateOptions {
    /// Node label key to set in the pod template's nodeSelector when the accelerator changes,
    /// e.g. `nvidia.com/gpu.product`.
    pub node_label: Option<String>,
    /// Accelerator name -> node label value (accelerators not listed are left alone).
    pub node_values: BTreeMap<String, String>,
    /// Environment variable that carries the batch size to the engine (e.g. `VLLM_MAX_NUM_SEQS`).
    pub batch_env: Option<String>,
    /// The least `terminationGracePeriodSeconds` the pods of a rolled template get, so the old
    /// pods of a rollout can finish their longest requests (None = leave it alone). Written
    /// only into a template that changes anyway: on its own it would restart every pod.
    pub drain_grace: Option<i64>,
}

/// The replica ceiling of a Deployment without a valid `inferno.server.max-replicas` label
/// (`--max-replicas`).
pub const DEFAULT_MAX_REPLICAS: i64 = 100;
/// The largest replica change per cycle (`--max-step`).
pub const DEFAULT_MAX_STEP: u32 = 16;

/// The actuator's policy. The default is the flags' defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Servers without an allocation.
    pub unplaced: UnplacedPolicy,
    /// Scale-down stabilisation: scale down only to the highest recommendation of this window.
    pub scale_down_window: Option<Duration>,
    /// Largest replica change per cycle, either way (None = unlimited).
    pub max_step: Option<u32>,
    /// The replica ceiling of a Deployment without a valid `inferno.server.max-replicas` label,
    /// in `[0, inferno_api::limits::MAX_REPLICAS]`.
    pub max_replicas: i64,
    /// Optional pod-template changes.
    pub template: TemplateOptions,
    /// Let an allocation of 0 replicas (a server with no load) scale a running Deployment to
    /// zero. Off by default: it keeps one replica, so a measurement gap never stops a server.
    pub scale_to_zero: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            unplaced: UnplacedPolicy::default(),
            scale_down_window: None,
            max_step: Some(DEFAULT_MAX_STEP),
            max_replicas: DEFAULT_MAX_REPLICAS,
            template: TemplateOptions::default(),
            scale_to_zero: false,
        }
    }
}

/// What is known of a Deployment when deciding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Current {
    /// `metadata.uid` ("" when unknown).
    pub uid: String,
    /// `spec.replicas`.
    pub replicas: i64,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// Names of the pod template's containers, in order (the first gets the batch env var).
    pub containers: Vec<String>,
    /// The pod template's `terminationGracePeriodSeconds` (None = the API default, 30 s).
    pub grace: Option<i64>,
}

impl Current {
    /// Reads the parts of a Deployment the actuator needs. A Deployment without
    /// `spec.replicas` has 1, as the API server defaults it.
    pub fn from_deployment(deployment: &Deployment) -> Self {
        let spec = deployment.spec.as_ref();
        Self {
            uid: deployment.metadata.uid.clone().unwrap_or_default(),
            replicas: spec.and_then(|s| s.replicas).map_or(1, i64::from),
            labels: deployment.metadata.labels.clone().unwrap_or_default(),
            containers: spec
                .and_then(|s| s.template.spec.as_ref())
                .map(|p| p.containers.iter().map(|c| c.name.clone()).collect())
                .unwrap_or_default(),
            grace: spec
                .and_then(|s| s.template.spec.as_ref())
                .and_then(|p| p.termination_grace_period_seconds),
        }
    }

    fn label(&self, key: &str) -> &str {
        self.labels.get(key).map_or("", String::as_str)
    }

    /// An integer label of the contract (a replica bound, the batch size): None when absent or
    /// blank, an [`InvalidLabel`] when [`contract::number`] refuses it (not a number, out of its
    /// range, or a fraction such as `1.5`), exactly as the collector reads it.
    fn integer(&self, key: &'static str) -> Result<Option<i64>, InvalidLabel> {
        let Some(raw) = self
            .labels
            .get(key)
            .map(|r| r.trim())
            .filter(|r| !r.is_empty())
        else {
            return Ok(None);
        };
        contract::number(key, raw)
            // An integer within the key's range (the contract's rule for these keys): exact.
            .map(|v| Some(v as i64))
            .map_err(|why| InvalidLabel {
                key,
                raw: raw.to_string(),
                why,
            })
    }
}

/// A label that is set but cannot be used: it is ignored, said in the decision's notes and
/// logged. The message is the collector's for the same label (`label K="V": why`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("label {key}={raw:?}: {why}")]
pub struct InvalidLabel {
    /// The label key.
    pub key: &'static str,
    /// Its value (trimmed).
    pub raw: String,
    /// What is wrong with it.
    pub why: inferno_core::contract::BadNumber,
}

/// The decision for one Deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Replicas before.
    pub old_replicas: i64,
    /// Replicas after.
    pub new_replicas: i64,
    /// Accelerator label before.
    pub old_accelerator: String,
    /// Accelerator label after.
    pub new_accelerator: String,
    /// Batch size before: the label's value (None when it has none or an invalid one).
    pub old_batch: Option<i64>,
    /// Batch size after (None: the label is left as it is).
    pub new_batch: Option<i64>,
    /// Why (for results, logs and Events).
    pub reason: String,
    /// Adjustments made to the optimizer's number (clamps, stabilisation, step limit) and
    /// labels ignored.
    pub notes: Vec<String>,
    /// The labels ignored because they are invalid (also in `notes`, with what follows).
    pub invalid: Vec<InvalidLabel>,
}

impl Decision {
    /// Whether anything changes.
    pub fn changes(&self) -> bool {
        self.old_replicas != self.new_replicas
            || self.old_accelerator != self.new_accelerator
            || self.old_batch != self.new_batch
    }
}

/// A batch size as results, logs and Events show it (`none` when unknown).
pub fn show_batch(batch: Option<i64>) -> String {
    batch.map_or_else(|| "none".into(), |b| b.to_string())
}

/// Recent replica recommendations of one Deployment, for scale-down stabilisation.
#[derive(Debug, Clone, Default)]
pub struct History {
    recommendations: Vec<(Instant, i64)>,
}

impl History {
    /// Records `desired` at `now` and returns the highest recommendation within `window`.
    pub fn stabilised(&mut self, now: Instant, desired: i64, window: Duration) -> i64 {
        self.recommendations
            .retain(|(t, _)| now.saturating_duration_since(*t) <= window);
        self.recommendations.push((now, desired));
        self.recommendations
            .iter()
            .map(|(_, r)| *r)
            .max()
            .unwrap_or(desired)
    }
}

/// Decides the new state of a Deployment. `allocation` is the optimizer's decision (None when
/// the server was not placed, with `unplaced_reason` saying why); `moved` is why it changes
/// accelerator, when the caller (the controller) says.
pub fn decide(
    current: &Current,
    allocation: Option<&AllocationData>,
    unplaced_reason: &str,
    moved: Option<&Move>,
    policy: &Policy,
    history: &mut History,
    now: Instant,
) -> Decision {
    let old_accelerator = current.label(keys::ACCELERATOR).to_string();
    let mut notes = Vec::new();
    let mut invalid = Vec::new();
    // A label that cannot be used is reported and ignored: the floor is then none, the ceiling
    // global, the batch size unknown (and left alone unless the allocation gives one).
    let mut read = |key, consequence: &str| {
        current.integer(key).unwrap_or_else(|e| {
            notes.push(format!("{e}; {consequence}"));
            invalid.push(e);
            None
        })
    };
    let min_label = read(keys::MIN_REPLICAS, "ignored");
    let no_ceiling = format!(
        "ignored, the ceiling is --max-replicas {}",
        policy.max_replicas
    );
    let max_label = read(keys::MAX_REPLICAS, &no_ceiling);
    let old_batch = read(keys::MAX_BATCH, "ignored");
    // Why the unplaced policy `min` holds a server, when it does.
    let no_min = if invalid.iter().any(|e| e.key == keys::MIN_REPLICAS) {
        "the min-replicas label is invalid"
    } else {
        "no min-replicas label"
    };
    if let (Some(min), Some(max)) = (min_label, max_label) {
        if min > max {
            notes.push(format!(
                "labels inverted: {} {min} > {} {max}; the ceiling wins",
                keys::MIN_REPLICAS,
                keys::MAX_REPLICAS
            ));
        }
    }
    let (mut replicas, accelerator, batch, mut reason) = match allocation {
        Some(a) => (
            a.num_replicas.max(0),
            a.accelerator.clone(),
            if a.max_batch > 0 {
                Some(a.max_batch)
            } else {
                old_batch
            },
            String::new(),
        ),
        None => {
            let why = if unplaced_reason.is_empty() {
                "no allocation".to_string()
            } else {
                unplaced_reason.to_string()
            };
            match policy.unplaced {
                UnplacedPolicy::Hold => (
                    current.replicas,
                    old_accelerator.clone(),
                    old_batch,
                    format!("unplaced, held: {why}"),
                ),
                UnplacedPolicy::Zero => (
                    0,
                    String::new(),
                    Some(0),
                    format!("unplaced, scaled to zero: {why}"),
                ),
                UnplacedPolicy::Min => match min_label {
                    Some(min) => (
                        min,
                        old_accelerator.clone(),
                        old_batch,
                        format!("unplaced, scaled to minimum: {why}"),
                    ),
                    None => (
                        current.replicas,
                        old_accelerator.clone(),
                        old_batch,
                        format!("unplaced, held ({no_min}): {why}"),
                    ),
                },
            }
        }
    };
    if allocation.is_some() && replicas == 0 && current.replicas > 0 && !policy.scale_to_zero {
        notes.push(
            "kept 1 replica: the allocation is 0 (no load); scaling to zero needs --scale-to-zero"
                .into(),
        );
        replicas = 1;
    }
    if let Some(min) = min_label {
        if replicas < min {
            notes.push(format!(
                "raised {replicas} -> {min} by {}",
                keys::MIN_REPLICAS
            ));
            replicas = min;
        }
    }
    if let Some(window) = policy.scale_down_window {
        let stable = history.stabilised(now, replicas, window);
        if replicas < current.replicas && stable > replicas {
            let held = stable.min(current.replicas);
            notes.push(format!("scale-down stabilised {replicas} -> {held}"));
            replicas = held;
        }
    }
    if let Some(step) = policy.max_step.map(i64::from).filter(|s| *s > 0) {
        let limited = replicas.clamp(current.replicas - step, current.replicas + step);
        if limited != replicas {
            notes.push(format!("step limited {replicas} -> {limited}"));
            replicas = limited;
        }
    }
    // The ceiling comes last, so it is hard: nothing Inferno sets exceeds it, whatever the
    // optimizer, the min-replicas label, the stabilisation or the step limit say.
    let (ceiling, by) = match max_label {
        Some(max) => (max, format!("label {}", keys::MAX_REPLICAS)),
        None => (
            policy.max_replicas,
            format!("the ceiling --max-replicas {}", policy.max_replicas),
        ),
    };
    if replicas > ceiling {
        notes.push(format!("lowered {replicas} -> {ceiling} by {by}"));
        replicas = ceiling;
    }
    if reason.is_empty() {
        // The allocation says where the server goes, not why: the optimizer leaves a type for
        // a cheaper one, or because the type has no room left or cannot carry the server. The
        // actuator cannot tell which; the controller can, and says it in the request's moves
        // (its `moveReason`, docs/controller.md). Without one, no cause is claimed.
        reason = if accelerator != old_accelerator {
            match moved {
                Some(m) => format!(
                    "accelerator {old_accelerator:?} -> {accelerator:?} ({})",
                    m.reason
                ),
                None => format!("accelerator {old_accelerator:?} -> {accelerator:?}"),
            }
        } else if replicas > current.replicas {
            "scale up to meet the SLO".to_string()
        } else if replicas < current.replicas {
            "scale down to cut cost".to_string()
        } else if batch != old_batch {
            "batch size (SLO)".to_string()
        } else {
            "unchanged".to_string()
        };
    }
    let mut decision = Decision {
        old_replicas: current.replicas,
        new_replicas: replicas,
        old_accelerator,
        new_accelerator: accelerator,
        old_batch,
        new_batch: batch,
        reason,
        notes,
        invalid,
    };
    if let Some(note) = short_grace(&decision, current, &policy.template) {
        decision.notes.push(note);
    }
    decision
}

/// A note when pods leave (a scale-down, or the old pods of a rollout) with a grace period
/// shorter than `--drain-grace`: a pod keeps the grace of the template it was made from, and
/// the actuator raises the template's only in a rollout, so the pods made before cut off
/// their longest requests. The owner can set the grace in the Deployment; the actuator cannot.
fn short_grace(d: &Decision, current: &Current, template: &TemplateOptions) -> Option<String> {
    let drain = template.drain_grace?;
    let grace = current.grace.unwrap_or(DEFAULT_GRACE);
    let leaving = d.new_replicas < d.old_replicas || !pod_spec(d, current, template).is_empty();
    (leaving && grace < drain).then(|| {
        format!(
            "pods leave with the Deployment's terminationGracePeriodSeconds {grace}, under \
             --drain-grace {drain}: a request still running after {grace} s is cut off; set \
             the grace in the Deployment"
        )
    })
}

/// The one merge patch that applies `d`: replicas and the two allocation labels (the batch
/// label only when the batch size is known), plus the optional pod-template changes. A merge patch touches only the fields it names, so concurrent
/// edits of other labels or fields survive. It carries the uid of the Deployment the decision
/// was made on: the API server applies it only to that object (409 if it was replaced since).
pub fn merge_patch(d: &Decision, current: &Current, template: &TemplateOptions) -> Value {
    let mut patch = json!({
        "metadata": {"labels": {keys::ACCELERATOR: d.new_accelerator}},
        "spec": {"replicas": d.new_replicas},
    });
    // A label value is a string: the number becomes one here, where the label is written.
    let batch = d.new_batch.map(|b| b.to_string());
    if let Some(batch) = &batch {
        patch["metadata"]["labels"][keys::MAX_BATCH] = json!(batch);
    }
    if !current.uid.is_empty() {
        patch["metadata"]["uid"] = json!(current.uid);
    }
    let mut pod_spec = pod_spec(d, current, template);
    if !pod_spec.is_empty() {
        // The old pods of this rollout drain with the grace period of the *old* template; the
        // raised one protects the next change (a later rollout or scale-down of these pods).
        // Only raised: a longer grace the owner set stays.
        if let Some(grace) = template
            .drain_grace
            .filter(|g| *g > current.grace.unwrap_or(DEFAULT_GRACE))
        {
            pod_spec.insert("terminationGracePeriodSeconds".into(), json!(grace));
        }
        patch["spec"]["template"] = json!({ "spec": Value::Object(pod_spec) });
    }
    patch
}

/// The pod-template changes of `d` (empty: no rollout): the node selector of a new
/// accelerator, the batch env var of a new batch size, as far as `template` configures them.
fn pod_spec(d: &Decision, current: &Current, template: &TemplateOptions) -> Map<String, Value> {
    let mut pod_spec = Map::new();
    if d.new_accelerator != d.old_accelerator {
        if let (Some(key), Some(value)) = (
            &template.node_label,
            template.node_values.get(&d.new_accelerator),
        ) {
            pod_spec.insert("nodeSelector".into(), json!({ key: value }));
        }
    }
    let batch = d.new_batch.map(|b| b.to_string());
    if d.new_batch != d.old_batch {
        if let (Some(env), Some(container), Some(batch)) =
            (&template.batch_env, current.containers.first(), &batch)
        {
            // Strategic merge semantics (containers by name, env by name) are what kubectl and
            // the API server apply for this shape; see `apply` for the content type.
            pod_spec.insert(
                "containers".into(),
                json!([{"name": container, "env": [{"name": env, "value": batch}]}]),
            );
        }
    }
    pod_spec
}

/// The API server's `terminationGracePeriodSeconds` when a pod spec has none.
const DEFAULT_GRACE: i64 = 30;

#[cfg(test)]
mod tests {
    use super::*;

    fn current(replicas: i64, labels: &[(&str, &str)]) -> Current {
        Current {
            uid: String::new(),
            replicas,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            containers: vec!["vllm".into()],
            grace: Some(120),
        }
    }

    fn alloc(acc: &str, replicas: i64, batch: i64) -> AllocationData {
        AllocationData {
            accelerator: acc.into(),
            num_replicas: replicas,
            max_batch: batch,
            ..Default::default()
        }
    }

    fn run(c: &Current, a: Option<&AllocationData>, policy: &Policy) -> Decision {
        decide(
            c,
            a,
            "out of capacity",
            None,
            policy,
            &mut History::default(),
            Instant::now(),
        )
    }

    const ON_A100: [(&str, &str); 2] = [(keys::ACCELERATOR, "A100"), (keys::MAX_BATCH, "16")];

    #[test]
    fn allocation_sets_replicas_and_labels() {
        let d = run(
            &current(2, &ON_A100),
            Some(&alloc("G2", 5, 38)),
            &Policy::default(),
        );
        assert_eq!(
            (d.new_replicas, d.new_accelerator.as_str(), d.new_batch),
            (5, "G2", Some(38))
        );
        assert!(d.changes());
        // No cause claimed: the allocation does not say whether cost or capacity moved it.
        // Before: "(cost)" whatever forced the move.
        assert_eq!(d.reason, "accelerator \"A100\" -> \"G2\"");
        // With the controller's reason, the cause is named. Before: the request could not
        // carry it.
        let moved = Move {
            cause: inferno_core::MoveCause::Capacity,
            reason: "capacity: 2 x A100 needs 2 of the 8 A100 units; the other servers' \
                     allocations leave 0"
                .into(),
        };
        let d = decide(
            &current(2, &ON_A100),
            Some(&alloc("G2", 5, 38)),
            "",
            Some(&moved),
            &Policy::default(),
            &mut History::default(),
            Instant::now(),
        );
        assert_eq!(
            d.reason,
            "accelerator \"A100\" -> \"G2\" (capacity: 2 x A100 needs 2 of the 8 A100 units; \
             the other servers' allocations leave 0)"
        );
        let same = run(
            &current(5, &[(keys::ACCELERATOR, "G2"), (keys::MAX_BATCH, "38")]),
            Some(&alloc("G2", 5, 38)),
            &Policy::default(),
        );
        assert!(!same.changes());
    }

    #[test]
    fn unplaced_policies() {
        let c = current(3, &[ON_A100[0], ON_A100[1], (keys::MIN_REPLICAS, "1")]);
        let hold = run(&c, None, &Policy::default());
        assert_eq!(
            (hold.new_replicas, hold.new_accelerator.as_str()),
            (3, "A100")
        );
        assert!(!hold.changes() && hold.reason.contains("held: out of capacity"));
        let zero = run(
            &c,
            None,
            &Policy {
                unplaced: UnplacedPolicy::Zero,
                ..Policy::default()
            },
        );
        // The min-replicas clamp still applies to zero: the label is the user's floor.
        assert_eq!(zero.new_replicas, 1);
        assert_eq!(
            (zero.new_accelerator.as_str(), zero.new_batch),
            ("", Some(0))
        );
        let c2 = current(3, &ON_A100);
        let zero = run(
            &c2,
            None,
            &Policy {
                unplaced: UnplacedPolicy::Zero,
                ..Policy::default()
            },
        );
        assert_eq!(zero.new_replicas, 0);
        let min = run(
            &c,
            None,
            &Policy {
                unplaced: UnplacedPolicy::Min,
                ..Policy::default()
            },
        );
        assert_eq!(min.new_replicas, 1);
        let no_label = run(
            &c2,
            None,
            &Policy {
                unplaced: UnplacedPolicy::Min,
                ..Policy::default()
            },
        );
        assert_eq!(no_label.new_replicas, 3);
        assert!(no_label.reason.contains("no min-replicas label"));
    }

    #[test]
    fn clamps_to_min_and_max_labels() {
        let c = current(2, &[(keys::MIN_REPLICAS, "2"), (keys::MAX_REPLICAS, "4")]);
        assert_eq!(
            run(&c, Some(&alloc("G2", 9, 8)), &Policy::default()).new_replicas,
            4
        );
        assert_eq!(
            run(&c, Some(&alloc("G2", 0, 8)), &Policy::default()).new_replicas,
            2
        );
        let bad = current(2, &[(keys::MAX_REPLICAS, "lots")]);
        assert_eq!(
            run(&bad, Some(&alloc("G2", 9, 8)), &Policy::default()).new_replicas,
            9
        );
    }

    #[test]
    fn the_ceiling_is_the_label_else_the_global_default_and_is_hard() {
        let policy = Policy {
            max_step: None,
            ..Policy::default()
        };
        // No label: the global default ceiling, said in the notes.
        let d = run(&current(2, &[]), Some(&alloc("G2", 500, 8)), &policy);
        assert_eq!(d.new_replicas, DEFAULT_MAX_REPLICAS);
        assert_eq!(
            d.notes,
            ["lowered 500 -> 100 by the ceiling --max-replicas 100"]
        );
        // A valid label is the ceiling, above the global one too.
        let c = current(2, &[(keys::MAX_REPLICAS, "300")]);
        assert_eq!(
            run(&c, Some(&alloc("G2", 250, 8)), &policy).new_replicas,
            250
        );
        let d = run(&c, Some(&alloc("G2", 500, 8)), &policy);
        assert_eq!(d.new_replicas, 300);
        assert_eq!(
            d.notes,
            ["lowered 500 -> 300 by label inferno.server.max-replicas"]
        );
        // A label outside [0, MAX_REPLICAS] or not an integer is reported; the global applies.
        for (bad, why) in [
            ("20000", "must be an integer in [0, 10000], got 20000"),
            ("-1", "must be an integer in [0, 10000], got -1"),
            ("1e308", "must be an integer in [0, 10000], got 1e308"),
            ("2.5", "must be an integer in [0, 10000], got 2.5"),
            ("lots", "not a number"),
        ] {
            let c = current(2, &[(keys::MAX_REPLICAS, bad)]);
            let d = run(&c, Some(&alloc("G2", 500, 8)), &policy);
            assert_eq!(d.new_replicas, 100, "{bad}");
            assert!(
                d.notes[0]
                    .starts_with(&format!("label inferno.server.max-replicas={bad:?}: {why}")),
                "{:?}",
                d.notes
            );
            assert!(
                d.notes[0].ends_with("ignored, the ceiling is --max-replicas 100"),
                "{:?}",
                d.notes
            );
        }
        // Hard: it wins over the min-replicas label (reported as inverted) and the step limit.
        let c = current(50, &[(keys::MIN_REPLICAS, "8"), (keys::MAX_REPLICAS, "4")]);
        let d = run(&c, Some(&alloc("G2", 6, 8)), &Policy::default());
        assert_eq!(d.new_replicas, 4);
        assert!(d.notes[0].contains("labels inverted"), "{:?}", d.notes);
        // A held (unplaced) server above the ceiling is lowered too.
        let global = Policy {
            max_replicas: 10,
            ..Policy::default()
        };
        assert_eq!(run(&current(12, &[]), None, &global).new_replicas, 10);
        let bad_min = current(2, &[(keys::MIN_REPLICAS, "many")]);
        let d = run(&bad_min, Some(&alloc("G2", 1, 8)), &policy);
        assert_eq!(d.new_replicas, 1);
        assert!(
            d.notes[0].contains("min-replicas=\"many\""),
            "{:?}",
            d.notes
        );
    }

    #[test]
    fn the_default_step_limit_is_16() {
        let d = run(
            &current(2, &[(keys::MAX_REPLICAS, "1000")]),
            Some(&alloc("G2", 256, 8)),
            &Policy::default(),
        );
        assert_eq!(d.new_replicas, 18);
        assert_eq!(d.notes, ["step limited 256 -> 18"]);
        let unlimited = Policy {
            max_step: None,
            ..Policy::default()
        };
        assert_eq!(
            run(&current(2, &[]), Some(&alloc("G2", 90, 8)), &unlimited).new_replicas,
            90
        );
    }

    #[test]
    fn scale_down_is_stabilised_and_steps_are_limited() {
        let policy = Policy {
            scale_down_window: Some(Duration::from_secs(300)),
            ..Policy::default()
        };
        let mut h = History::default();
        let t0 = Instant::now();
        let c = current(8, &[]);
        assert_eq!(
            decide(&c, Some(&alloc("G2", 8, 8)), "", None, &policy, &mut h, t0).new_replicas,
            8
        );
        // A dip within the window is held at the window's highest recommendation.
        assert_eq!(
            decide(
                &c,
                Some(&alloc("G2", 3, 8)),
                "",
                None,
                &policy,
                &mut h,
                t0 + Duration::from_secs(60)
            )
            .new_replicas,
            8
        );
        // After the window the dip goes through.
        assert_eq!(
            decide(
                &c,
                Some(&alloc("G2", 3, 8)),
                "",
                None,
                &policy,
                &mut h,
                t0 + Duration::from_secs(400)
            )
            .new_replicas,
            3
        );
        // Scale-up is never delayed.
        assert_eq!(
            decide(
                &c,
                Some(&alloc("G2", 12, 8)),
                "",
                None,
                &policy,
                &mut h,
                t0 + Duration::from_secs(401)
            )
            .new_replicas,
            12
        );

        let step = Policy {
            max_step: Some(2),
            ..Policy::default()
        };
        assert_eq!(run(&c, Some(&alloc("G2", 20, 8)), &step).new_replicas, 10);
        assert_eq!(run(&c, Some(&alloc("G2", 1, 8)), &step).new_replicas, 6);
    }

    #[test]
    fn patch_names_only_what_changes() {
        let c = current(2, &ON_A100);
        let d = run(&c, Some(&alloc("G2", 5, 38)), &Policy::default());
        let p = merge_patch(&d, &c, &TemplateOptions::default());
        assert_eq!(
            p,
            json!({"metadata": {"labels": {keys::ACCELERATOR: "G2", keys::MAX_BATCH: "38"}}, "spec": {"replicas": 5}})
        );
        let template = TemplateOptions {
            node_label: Some("nvidia.com/gpu.product".into()),
            node_values: [("G2".to_string(), "NVIDIA-G2".to_string())].into(),
            batch_env: Some("VLLM_MAX_NUM_SEQS".into()),
            drain_grace: None,
        };
        let p = merge_patch(&d, &c, &template);
        assert_eq!(p["metadata"].get("uid"), None);
        let with_uid = Current {
            uid: "u1".into(),
            ..c.clone()
        };
        assert_eq!(
            merge_patch(&d, &with_uid, &template)["metadata"]["uid"],
            "u1",
            "the uid is the patch's precondition"
        );
        assert_eq!(
            p["spec"]["template"]["spec"]["nodeSelector"],
            json!({"nvidia.com/gpu.product": "NVIDIA-G2"})
        );
        assert_eq!(
            p["spec"]["template"]["spec"]["containers"][0],
            json!({"name": "vllm", "env": [{"name": "VLLM_MAX_NUM_SEQS", "value": "38"}]})
        );
    }

    /// A rollout raises the grace period of the pods it makes to the drain grace, so their
    /// longest requests can finish when they in turn are replaced or removed; a template that
    /// does not change is left alone (a grace alone would restart every pod), and a longer
    /// grace the owner set stays.
    #[test]
    fn a_rollout_gives_the_new_pods_the_drain_grace() {
        let template = TemplateOptions {
            batch_env: Some("VLLM_MAX_NUM_SEQS".into()),
            drain_grace: Some(600),
            ..TemplateOptions::default()
        };
        let c = current(2, &ON_A100);
        let rolled = run(&c, Some(&alloc("G2", 2, 38)), &Policy::default());
        let grace = |d: &Decision, c: &Current| {
            merge_patch(d, c, &template)["spec"]["template"]["spec"]
                ["terminationGracePeriodSeconds"]
                .clone()
        };
        assert_eq!(grace(&rolled, &c), json!(600));
        let longer = Current {
            grace: Some(900),
            ..c.clone()
        };
        assert_eq!(
            grace(&rolled, &longer),
            Value::Null,
            "the owner's 900 s stays"
        );
        let unset = Current {
            grace: None,
            ..c.clone()
        };
        assert_eq!(
            grace(&rolled, &unset),
            json!(600),
            "the API default is 30 s"
        );
        let same = run(&c, Some(&alloc("A100", 4, 16)), &Policy::default());
        assert_eq!(same.new_batch, same.old_batch);
        assert_eq!(
            merge_patch(&same, &c, &template)["spec"].get("template"),
            None,
            "a scale alone does not touch the template"
        );
    }

    /// Pods that leave (a scale-down, the old pods of a rollout) with a grace under the drain
    /// grace are said in the notes: their long requests are cut off, and only the owner can
    /// change the grace of pods already made.
    #[test]
    fn pods_leaving_with_a_short_grace_are_said() {
        let policy = Policy {
            template: TemplateOptions {
                batch_env: Some("VLLM_MAX_NUM_SEQS".into()),
                drain_grace: Some(600),
                ..TemplateOptions::default()
            },
            ..Policy::default()
        };
        let short = |d: &Decision| d.notes.iter().any(|n| n.contains("--drain-grace 600"));
        let c = current(4, &ON_A100);
        let down = run(&c, Some(&alloc("A100", 2, 16)), &policy);
        assert!(short(&down), "{:?}", down.notes);
        assert!(down.notes[0].contains("terminationGracePeriodSeconds 120"));
        let rolled = run(&c, Some(&alloc("A100", 4, 24)), &policy);
        assert!(
            short(&rolled),
            "the old pods of a rollout: {:?}",
            rolled.notes
        );
        let up = run(&c, Some(&alloc("A100", 6, 16)), &policy);
        assert!(!short(&up), "no pod leaves: {:?}", up.notes);
        let long = Current {
            grace: Some(600),
            ..c.clone()
        };
        let down_long = run(&long, Some(&alloc("A100", 2, 16)), &policy);
        assert!(!short(&down_long), "{:?}", down_long.notes);
        let off = run(&c, Some(&alloc("A100", 2, 16)), &Policy::default());
        assert!(off.notes.is_empty(), "no drain grace: {:?}", off.notes);
    }

    #[test]
    fn reads_a_deployment() {
        let d: Deployment = serde_json::from_value(json!({
            "metadata": {"uid": "u1", "labels": {keys::ACCELERATOR: "G2", "app": "x"}},
            "spec": {
                "replicas": 4,
                "selector": {},
                "template": {"spec": {
                    "containers": [{"name": "vllm"}, {"name": "side"}],
                    "terminationGracePeriodSeconds": 120
                }}
            }
        }))
        .unwrap();
        let c = Current::from_deployment(&d);
        assert_eq!((c.uid.as_str(), c.replicas, c.grace), ("u1", 4, Some(120)));
        assert_eq!(c.containers, ["vllm", "side"]);
        assert_eq!(c.label(keys::ACCELERATOR), "G2");
        // No replicas: the API server's default.
        let bare = Current::from_deployment(&Deployment::default());
        assert_eq!((bare.replicas, bare.containers.len()), (1, 0));
    }

    /// The bound and batch labels mean what they mean to the collector (the contract's
    /// reader): "1.5" is not an integer, so it is not used, and the note names the label with
    /// the collector's words; "2.0" and "1e3" are integers. Before: the actuator parsed them
    /// itself, refused "2.0" and "1e3" that the collector gives the optimizer, and held a
    /// server with min-replicas="1.5" for having "no min-replicas label".
    #[test]
    fn labels_are_read_as_the_collector_reads_them() {
        for raw in ["1.5", "2.0", "1e3", "3", " 4 ", "-1", "x", "20000", ""] {
            let labels = [
                (keys::NAME, "s"),
                (keys::MIN_REPLICAS, raw),
                (keys::MAX_BATCH, raw),
            ];
            let c = current(5, &labels);
            let mut warnings = Vec::new();
            let collector = contract::read("infer", "d1", &c.labels, &mut warnings).unwrap();
            // The floor the collector gives the optimizer is the one the actuator clamps to
            // (an allocation of 0 keeps 1 replica; the ceiling is 100).
            let unlimited = Policy {
                max_step: None,
                ..Policy::default()
            };
            let d = run(&c, Some(&alloc("G2", 0, 0)), &unlimited);
            let floor = collector
                .min_replicas
                .unwrap_or(1)
                .clamp(1, DEFAULT_MAX_REPLICAS);
            assert_eq!(d.new_replicas, floor, "{raw:?}");
            assert_eq!(d.old_batch.unwrap_or(0), collector.max_batch, "{raw:?}");
            // The same labels are invalid, in the same words.
            let mut invalid: Vec<String> = d.invalid.iter().map(ToString::to_string).collect();
            let mut expected: Vec<String> = collector.invalid.into_values().collect();
            invalid.sort();
            expected.sort();
            assert_eq!(invalid, expected, "{raw:?}");
        }
        let c = current(3, &[(keys::MIN_REPLICAS, "1.5")]);
        let min = Policy {
            unplaced: UnplacedPolicy::Min,
            ..Policy::default()
        };
        let d = run(&c, None, &min);
        assert_eq!(d.new_replicas, 3);
        assert_eq!(
            d.notes,
            [
                r#"label inferno.server.min-replicas="1.5": must be an integer in [0, 10000], got 1.5; ignored"#
            ]
        );
        assert!(
            d.reason
                .starts_with("unplaced, held (the min-replicas label is invalid): "),
            "{}",
            d.reason
        );
        let d = run(&current(3, &[(keys::MIN_REPLICAS, "2.0")]), None, &min);
        assert_eq!((d.new_replicas, d.notes.len()), (2, 0), "{:?}", d.notes);
    }

    #[test]
    fn the_batch_label_is_written_only_when_known() {
        let c = current(2, &[(keys::ACCELERATOR, "G2"), (keys::MAX_BATCH, "lots")]);
        let d = run(&c, Some(&alloc("G2", 4, 0)), &Policy::default());
        assert_eq!((d.old_batch, d.new_batch), (None, None));
        assert!(
            d.notes[0].starts_with(
                r#"label inferno.server.allocation.maxbatchsize="lots": not a number"#
            ),
            "{:?}",
            d.notes
        );
        let p = merge_patch(&d, &c, &TemplateOptions::default());
        assert_eq!(
            p["metadata"]["labels"],
            json!({keys::ACCELERATOR: "G2"}),
            "the invalid label is left for its owner"
        );
        let d = run(&c, Some(&alloc("G2", 4, 24)), &Policy::default());
        assert_eq!((d.old_batch, d.new_batch), (None, Some(24)));
        let p = merge_patch(&d, &c, &TemplateOptions::default());
        assert_eq!(p["metadata"]["labels"][keys::MAX_BATCH], "24");
        assert_eq!(
            (show_batch(None), show_batch(Some(24))),
            ("none".to_string(), "24".to_string())
        );
    }
}
