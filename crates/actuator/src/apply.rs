//! Acting on decisions: read each Deployment, decide, patch it once, record an Event.

use crate::metrics::{Metrics, Target};
use crate::plan::{decide, merge_patch, Current, Decision, History, Policy};
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
    /// Deployment UID ("" = do not check).
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
    /// Compute and report, apply nothing.
    pub dry_run: bool,
}

/// The outcome for one Deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Server name.
    pub server: String,
    /// Where.
    pub target: KubeRef,
    /// The decision (None when the Deployment could not be read).
    pub decision: Option<Decision>,
    /// Whether a patch was applied.
    pub applied: bool,
    /// Why not applied / what failed ("" when applied or nothing to do).
    pub error: String,
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
}

impl std::fmt::Debug for Actuator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actuator")
            .field("policy", &self.policy)
            .field("mode", &self.mode)
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
        }
    }

    /// Makes every request a dry run (`--dry-run`).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.always_dry = dry_run;
        self
    }

    /// Applies `request`, one Deployment at a time, sorted by server name; a failure of one
    /// does not stop the others.
    pub async fn apply(&self, request: &Request) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(request.kube_resources.len());
        for (server, target) in &request.kube_resources {
            let outcome = self.apply_one(server, target, request).await;
            if !outcome.error.is_empty() && outcome.decision.is_none() {
                self.metrics.failed();
            }
            outcomes.push(outcome);
        }
        outcomes
    }

    async fn apply_one(&self, server: &str, target: &KubeRef, request: &Request) -> Outcome {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), &target.namespace);
        let mut outcome = Outcome {
            server: server.to_string(),
            target: target.clone(),
            decision: None,
            applied: false,
            error: String::new(),
        };
        for attempt in 1..=ATTEMPTS {
            let deployment = match api.get_opt(&target.name).await {
                Ok(Some(d)) => d,
                Ok(None) => {
                    outcome.error =
                        "deployment not found (deleted since it was collected); skipped".into();
                    return outcome;
                }
                Err(e) => {
                    outcome.error = format!("cannot read the deployment: {e}");
                    return outcome;
                }
            };
            let uid = deployment.metadata.uid.clone().unwrap_or_default();
            if !target.uid.is_empty() && uid != target.uid {
                outcome.error = format!(
                    "deployment was replaced (uid {uid}, collected {}); skipped",
                    target.uid
                );
                return outcome;
            }
            let object = match serde_json::to_value(&deployment) {
                Ok(v) => v,
                Err(e) => {
                    outcome.error = format!("cannot read the deployment: {e}");
                    return outcome;
                }
            };
            let current = Current::from_object(&object);
            let decision = {
                let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
                let h = history
                    .entry((target.namespace.clone(), target.name.clone()))
                    .or_default();
                let reason = request
                    .unplaced_reasons
                    .get(server)
                    .map_or("", String::as_str);
                decide(
                    &current,
                    request.allocations.get(server),
                    reason,
                    &self.policy,
                    h,
                    Instant::now(),
                )
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
                outcome.error = if self.mode == Mode::Recommend {
                    "recommend mode".into()
                } else {
                    "dry run".into()
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
                    outcome.applied = true;
                    outcome.error.clear();
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
                    outcome.error = format!("patch failed: {e}");
                    self.metrics.failed();
                    warn!(server, error = %e, "patch failed");
                    return outcome;
                }
            }
        }
        outcome
    }

    /// Records a Kubernetes Event on the Deployment; failures only log (the change stands).
    async fn event(&self, deployment: &Deployment, d: &Decision) {
        let meta = &deployment.metadata;
        let namespace = meta.namespace.clone().unwrap_or_default();
        let now = k8s_openapi::jiff::Timestamp::now();
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
            reason: Some("InfernoScaled".into()),
            message: Some(message),
            type_: Some("Normal".into()),
            reporting_component: Some(FIELD_MANAGER.into()),
            reporting_instance: Some(FIELD_MANAGER.into()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            action: Some("Scale".into()),
            count: Some(1),
            ..Event::default()
        };
        let events: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Err(e) = events.create(&PostParams::default(), &event).await {
            warn!(error = %e, "cannot record the event");
        }
    }
}
