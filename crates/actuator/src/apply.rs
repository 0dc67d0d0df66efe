//! Acting on decisions: check each Deployment is one the actuator manages (else refuse it),
//! read it, decide, patch it once, record an Event.

use crate::guard::{self, Live, Refusal, Scope};
use crate::metrics::{Metrics, Target};
use crate::plan::{
    decide, merge_patch, policy_applies, Current, Decision, History, Policy, UnplacedPolicy,
};
use inferno_api::AllocationData;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::{info, warn};

/// Field manager the actuator's patches are recorded under.
pub const FIELD_MANAGER: &str = "inferno-actuator";
/// Attempts per Deployment when the API server reports a conflict.
const ATTEMPTS: usize = 3;
/// Reason of the Event recorded on a Deployment the actuator changed.
pub const EVENT_SCALED: &str = "InfernoScaled";
/// Reason of the Event recorded on a Deployment the actuator refused to act on.
pub const EVENT_REFUSED: &str = "InfernoRefused";

/// Patch Deployments, or only publish the decision as metrics for an autoscaler to follow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Patch the Deployments.
    #[default]
    Patch,
    /// Patch nothing; `inferno_desired_replicas` carries the decision (for HPA or KEDA).
    Recommend,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "patch" => Ok(Self::Patch),
            "recommend" => Ok(Self::Recommend),
            other => Err(format!("unknown mode {other:?} (patch, recommend)")),
        }
    }
}

/// Where a server's Deployment lives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeRef {
    /// Deployment UID (required: it must be the live Deployment's).
    pub uid: String,
    /// Deployment name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
}

/// One apply request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// Allocations by server name.
    pub allocations: BTreeMap<String, AllocationData>,
    /// Deployments by server name: exactly these are considered.
    pub kube_resources: BTreeMap<String, KubeRef>,
    /// Why each unplaced server has no allocation.
    pub unplaced_reasons: BTreeMap<String, String>,
    /// The code of each unplaced server (see [`crate::plan::policy_applies`]).
    pub unplaced_codes: BTreeMap<String, String>,
    /// Compute and report, apply nothing.
    pub dry_run: bool,
}

/// What happened to one Deployment.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Kind {
    /// The patch was applied.
    Applied,
    /// The decision changes nothing.
    #[default]
    Unchanged,
    /// A change was decided and not applied: a dry run.
    DryRun,
    /// A change was decided and not applied: recommend mode.
    Recommended,
    /// Not a Deployment the actuator manages, or the request is out of range: nothing patched.
    Refused(Refusal),
    /// The Deployment does not exist (deleted since it was collected).
    NotFound,
    /// The Deployment could not be read or patched (the message says why).
    Failed(String),
}

impl Kind {
    /// The kind as results spell it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Applied => "applied",
            Kind::Unchanged => "unchanged",
            Kind::DryRun => "dry-run",
            Kind::Recommended => "recommend",
            Kind::Refused(_) => "refused",
            Kind::NotFound => "not-found",
            Kind::Failed(_) => "failed",
        }
    }
}

/// The outcome for one Deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Server name.
    pub server: String,
    /// Where.
    pub target: KubeRef,
    /// The decision (None when the Deployment was refused or could not be read).
    pub decision: Option<Decision>,
    /// What happened.
    pub kind: Kind,
}

impl Outcome {
    /// Whether a patch was applied.
    pub fn applied(&self) -> bool {
        self.kind == Kind::Applied
    }

    /// The refusal, if the Deployment was refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match &self.kind {
            Kind::Refused(r) => Some(r),
            _ => None,
        }
    }

    /// Why nothing was applied, or what failed ("" when applied or nothing to do).
    pub fn error(&self) -> String {
        match &self.kind {
            Kind::Applied | Kind::Unchanged => String::new(),
            Kind::DryRun => "dry run".into(),
            Kind::Recommended => "recommend mode".into(),
            Kind::Refused(r) => r.to_string(),
            Kind::NotFound => {
                "deployment not found (deleted since it was collected); skipped".into()
            }
            Kind::Failed(e) => e.clone(),
        }
    }
}

/// The actuator: a Kubernetes client, a policy and per-Deployment history.
#[derive(Clone)]
pub struct Actuator {
    client: kube::Client,
    policy: Policy,
    mode: Mode,
    history: Arc<Mutex<HashMap<(String, String), History>>>,
    metrics: Arc<Metrics>,
    /// Dry run for every request, whatever it says.
    always_dry: bool,
    /// The namespaces it acts in.
    scope: Scope,
}

impl std::fmt::Debug for Actuator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actuator")
            .field("policy", &self.policy)
            .field("mode", &self.mode)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl Actuator {
    /// An actuator over `client`.
    pub fn new(client: kube::Client, policy: Policy, mode: Mode, metrics: Arc<Metrics>) -> Self {
        Self {
            client,
            policy,
            mode,
            history: Arc::default(),
            metrics,
            always_dry: false,
            scope: Scope::all(),
        }
    }

    /// Acts only in the namespaces of `scope` (`--namespace`); any other is refused.
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// Makes every request a dry run (`--dry-run`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.always_dry = dry_run;
        self
    }

    /// Applies `request`, one Deployment at a time, sorted by server name; a failure or a
    /// refusal of one does not stop the others.
    pub async fn apply(&self, request: &Request) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(request.kube_resources.len());
        for (server, target) in &request.kube_resources {
            let outcome = self.apply_one(server, target, request).await;
            if matches!(outcome.kind, Kind::NotFound | Kind::Failed(_)) {
                self.metrics.failed();
            }
            outcomes.push(outcome);
        }
        outcomes
    }

    async fn apply_one(&self, server: &str, target: &KubeRef, request: &Request) -> Outcome {
        let mut outcome = Outcome {
            server: server.to_string(),
            target: target.clone(),
            decision: None,
            kind: Kind::Unchanged,
        };
        // Outside the watched namespaces nothing is read or written, not even an Event.
        if let Err(refusal) = guard::check_target(target, &self.scope) {
            outcome.kind = self.refuse(server, target, refusal, None).await;
            return outcome;
        }
        let allocation = request.allocations.get(server);
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), &target.namespace);
        for attempt in 1..=ATTEMPTS {
            let deployment = match api.get_opt(&target.name).await {
                Ok(Some(d)) => d,
                Ok(None) => {
                    outcome.kind = match guard::check(server, target, allocation, None) {
                        Err(refusal) => self.refuse(server, target, refusal, None).await,
                        Ok(()) => Kind::NotFound,
                    };
                    return outcome;
                }
                Err(e) => {
                    outcome.kind = Kind::Failed(format!("cannot read the deployment: {e}"));
                    return outcome;
                }
            };
            let object = match serde_json::to_value(&deployment) {
                Ok(v) => v,
                Err(e) => {
                    outcome.kind = Kind::Failed(format!("cannot read the deployment: {e}"));
                    return outcome;
                }
            };
            let current = Current::from_object(&object);
            let live = Live {
                uid: &current.uid,
                labels: &current.labels,
            };
            if let Err(refusal) = guard::check(server, target, allocation, Some(live)) {
                outcome.kind = self
                    .refuse(server, target, refusal, Some(&deployment))
                    .await;
                return outcome;
            }
            let decision = {
                let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
                let h = history
                    .entry((target.namespace.clone(), target.name.clone()))
                    .or_default();
                let reason = request
                    .unplaced_reasons
                    .get(server)
                    .map_or("", String::as_str);
                let code = request
                    .unplaced_codes
                    .get(server)
                    .map_or("", String::as_str);
                // Only the optimizer's own choice on valid data may scale an unplaced server
                // down; a server unplaced for bad input or for no known reason is held.
                let held;
                let (policy, reason) = if allocation.is_none()
                    && self.policy.unplaced != UnplacedPolicy::Hold
                    && !policy_applies(code)
                {
                    held = Policy {
                        unplaced: UnplacedPolicy::Hold,
                        ..self.policy.clone()
                    };
                    let code = if code.is_empty() { "none" } else { code };
                    let why = if reason.is_empty() {
                        "no allocation"
                    } else {
                        reason
                    };
                    let reason = format!(
                        "{why} (code {code}: the unplaced policy acts only on out-of-capacity \
                         and slo-unattainable)"
                    );
                    (&held, reason)
                } else {
                    (&self.policy, reason.to_owned())
                };
                decide(&current, allocation, &reason, policy, h, Instant::now())
            };
            let metric = Target {
                server: server.into(),
                namespace: target.namespace.clone(),
                deployment: target.name.clone(),
            };
            self.metrics
                .replicas(metric, decision.new_replicas, current.replicas);
            outcome.decision = Some(decision.clone());
            if !decision.changes() {
                return outcome;
            }
            if request.dry_run || self.always_dry || self.mode == Mode::Recommend {
                outcome.kind = if self.mode == Mode::Recommend {
                    Kind::Recommended
                } else {
                    Kind::DryRun
                };
                return outcome;
            }
            let body = merge_patch(&decision, &current, &self.policy.template);
            // Template changes need strategic merge (containers and env merge by name); the rest
            // is plain merge. Neither carries a resourceVersion, so neither clobbers other edits.
            let patch = if body["spec"].get("template").is_some() {
                Patch::Strategic(body)
            } else {
                Patch::Merge(body)
            };
            let params = PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..PatchParams::default()
            };
            match api.patch(&target.name, &params, &patch).await {
                Ok(_) => {
                    outcome.kind = Kind::Applied;
                    self.metrics.changed();
                    info!(server, namespace = %target.namespace, deployment = %target.name,
                        replicas = %format!("{} -> {}", decision.old_replicas, decision.new_replicas),
                        accelerator = %format!("{} -> {}", decision.old_accelerator, decision.new_accelerator),
                        batch = %format!("{} -> {}", decision.old_batch, decision.new_batch),
                        reason = %decision.reason, "applied");
                    self.event(&deployment, &decision).await;
                    return outcome;
                }
                Err(kube::Error::Api(e)) if e.code == 409 && attempt < ATTEMPTS => {
                    warn!(server, attempt, "conflict, retrying with fresh state");
                    continue;
                }
                Err(e) => {
                    outcome.kind = Kind::Failed(format!("patch failed: {e}"));
                    warn!(server, error = %e, "patch failed");
                    return outcome;
                }
            }
        }
        outcome
    }

    /// Reports a refusal: a warning log line, the refusals metric and, when the Deployment
    /// exists (and so is in a watched namespace), a Warning Event on it. Patches nothing.
    async fn refuse(
        &self,
        server: &str,
        target: &KubeRef,
        refusal: Refusal,
        deployment: Option<&Deployment>,
    ) -> Kind {
        self.metrics.refused(refusal.code);
        warn!(server, namespace = %target.namespace, deployment = %target.name,
            code = %refusal.code, reason = %refusal.message, "refused; nothing patched");
        if let Some(d) = deployment {
            let message = format!(
                "refused to act on this Deployment for server {server:?} ({}): {}; nothing patched",
                refusal.code, refusal.message
            );
            self.record(d, EVENT_REFUSED, "Warning", "Refuse", message)
                .await;
        }
        Kind::Refused(refusal)
    }

    /// Records the `InfernoScaled` Event of an applied decision.
    async fn event(&self, deployment: &Deployment, d: &Decision) {
        let mut message = format!(
            "replicas {} -> {}, accelerator {:?} -> {:?}, batch {:?} -> {:?}: {}",
            d.old_replicas,
            d.new_replicas,
            d.old_accelerator,
            d.new_accelerator,
            d.old_batch,
            d.new_batch,
            d.reason
        );
        if !d.notes.is_empty() {
            message.push_str(&format!(" ({})", d.notes.join("; ")));
        }
        self.record(deployment, EVENT_SCALED, "Normal", "Scale", message)
            .await;
    }

    /// Records a Kubernetes Event on the Deployment; failures only log (the change, or the
    /// refusal, stands).
    async fn record(
        &self,
        deployment: &Deployment,
        reason: &str,
        type_: &str,
        action: &str,
        message: String,
    ) {
        let meta = &deployment.metadata;
        let namespace = meta.namespace.clone().unwrap_or_default();
        let now = k8s_openapi::jiff::Timestamp::now();
        let message = truncate(message, EVENT_MESSAGE_MAX);
        let event = Event {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}.", meta.name.clone().unwrap_or_default())),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some("apps/v1".into()),
                kind: Some("Deployment".into()),
                name: meta.name.clone(),
                namespace: Some(namespace.clone()),
                uid: meta.uid.clone(),
                resource_version: meta.resource_version.clone(),
                ..ObjectReference::default()
            },
            reason: Some(reason.into()),
            message: Some(message),
            type_: Some(type_.into()),
            reporting_component: Some(FIELD_MANAGER.into()),
            reporting_instance: Some(FIELD_MANAGER.into()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            action: Some(action.into()),
            count: Some(1),
            ..Event::default()
        };
        let events: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Err(e) = events.create(&PostParams::default(), &event).await {
            warn!(error = %e, "cannot record the event");
        }
    }
}

/// Longest Event message: the API server's limit for an Event's note (a message carries names
/// from the request, so its length is the caller's to choose).
const EVENT_MESSAGE_MAX: usize = 1024;

/// `s` cut to at most `max` bytes on a character boundary, marked with "..." when cut.
fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max - 3;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_messages_are_bounded() {
        assert_eq!(truncate("short".into(), 10), "short");
        let long = truncate("é".repeat(1000), EVENT_MESSAGE_MAX);
        assert!(long.len() <= EVENT_MESSAGE_MAX && long.ends_with("..."));
    }
}
