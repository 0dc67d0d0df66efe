//! Acting on decisions: check each Deployment is one the actuator manages (else refuse it),
//! read it, decide, rank its pods before a scale-down (`order`), patch it once, record an Event.

use crate::error::{Failure, UnknownName};
use crate::events;
use crate::guard::{self, Live, Refusal, Scope};
use crate::metrics::{Metrics, Target};
use crate::order::{self, PodState, POD_DELETION_COST};
use crate::outcome::{Kind, Outcome};
use crate::plan::{
    decide, merge_patch, policy_applies, show_batch, Current, History, Policy, UnplacedPolicy,
};
use inferno_core::{ApplyRequest, PodLoad, ServerRef};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::core::Selector;
use kube::runtime::events::Recorder;
use std::collections::HashMap;
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
    /// Patch nothing; `inferno_actuator_desired_replicas` carries the decision (for HPA or KEDA).
    Recommend,
}

impl std::str::FromStr for Mode {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "patch" => Ok(Self::Patch),
            "recommend" => Ok(Self::Recommend),
            other => Err(UnknownName {
                what: "mode",
                given: other.into(),
                choices: "patch, recommend",
            }),
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
    /// Writes the Events (shared by clones, so that repeats fold into one Event's series).
    recorder: Recorder,
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
            recorder: events::recorder(client.clone()),
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

    /// Applies `request` to the Deployments it names (`refs`), one at a time, sorted by server
    /// name; a failure or a refusal of one does not stop the others.
    pub async fn apply(&self, request: &ApplyRequest) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(request.refs.len());
        for (server, target) in &request.refs {
            let outcome = self.apply_one(server, target, request).await;
            if outcome.kind.failed() {
                self.metrics.failed();
            }
            outcomes.push(outcome);
        }
        let count = |f: fn(&Kind) -> bool| outcomes.iter().filter(|o| f(&o.kind)).count();
        info!(
            deployments = outcomes.len(),
            applied = count(|k| matches!(k, Kind::Applied)),
            refused = count(|k| matches!(k, Kind::Refused(_))),
            failed = count(Kind::failed),
            dry_run = request.dry_run,
            "apply done"
        );
        outcomes
    }

    async fn apply_one(&self, server: &str, target: &ServerRef, request: &ApplyRequest) -> Outcome {
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
                    warn!(server, error = %e, "cannot read the deployment");
                    outcome.kind = Kind::Failed(Failure::Read(e));
                    return outcome;
                }
            };
            let current = Current::from_deployment(&deployment);
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
            let mut decision = {
                let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
                let h = history
                    .entry((target.namespace.clone(), target.name.clone()))
                    .or_default();
                let unplaced = request.unplaced.get(server);
                let reason = unplaced.map_or("", |u| u.reason.as_str());
                let code = unplaced.map_or("", |u| u.code.as_str());
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
                let moved = request.moves.get(server);
                decide(
                    &current,
                    allocation,
                    &reason,
                    moved,
                    policy,
                    h,
                    Instant::now(),
                )
            };
            for label in &decision.invalid {
                warn!(server, namespace = %target.namespace, deployment = %target.name,
                    label = label.key, "{label}; ignored");
            }
            let metric = Target {
                server: server.into(),
                namespace: target.namespace.clone(),
                deployment: target.name.clone(),
            };
            // Current is what the Deployment has: the count read until a patch changes it
            // (unchanged, dry run, recommend mode, a failed patch leave it as read).
            self.metrics
                .replicas(metric.clone(), decision.new_replicas, current.replicas);
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
            // The least loaded pods go first: their costs are set before the replicas drop, so
            // the ReplicaSet controller finds them when it picks the pods to delete. Without
            // loads for the server, Kubernetes' own order stands.
            if decision.new_replicas < decision.old_replicas {
                let loads = request.pod_loads.get(server).filter(|l| !l.is_empty());
                if let Some(loads) = loads {
                    if let Err(warning) = self.rank_pods(server, target, &deployment, loads).await {
                        warn!(server, namespace = %target.namespace, deployment = %target.name,
                            %warning, "scaling down in Kubernetes' own order");
                        decision.notes.push(warning);
                        outcome.decision = Some(decision.clone());
                    }
                }
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
                Ok(patched) => {
                    outcome.kind = Kind::Applied;
                    self.metrics.changed();
                    // The count the API server answered the patch with.
                    self.metrics
                        .current(&metric, Current::from_deployment(&patched).replicas);
                    info!(server, namespace = %target.namespace, deployment = %target.name,
                        replicas = %format!("{} -> {}", decision.old_replicas, decision.new_replicas),
                        accelerator = %format!("{} -> {}", decision.old_accelerator, decision.new_accelerator),
                        batch = %format!("{} -> {}", show_batch(decision.old_batch), show_batch(decision.new_batch)),
                        reason = %decision.reason, "applied");
                    events::scaled(&self.recorder, &deployment, &decision).await;
                    return outcome;
                }
                Err(kube::Error::Api(e)) if e.code == 409 && attempt < ATTEMPTS => {
                    warn!(server, attempt, "conflict, retrying with fresh state");
                    continue;
                }
                Err(e) => {
                    warn!(server, error = %e, "patch failed");
                    outcome.kind = Kind::Failed(Failure::Patch(e));
                    return outcome;
                }
            }
        }
        outcome
    }

    /// Sets the pod-deletion-cost of the pods of `deployment` (its selector, in the target's
    /// namespace) from `loads` ([`order::costs`]): one merge patch per pod whose cost changes.
    /// Best effort: the error is a warning for the result's reason, naming what failed, and the
    /// scale-down goes on (the pods not annotated keep their cost, Kubernetes' order for them).
    async fn rank_pods(
        &self,
        server: &str,
        target: &ServerRef,
        deployment: &Deployment,
        loads: &[PodLoad],
    ) -> Result<(), String> {
        let not_ranked = "pods not ranked by load for the scale-down";
        let namespace = target.namespace.as_str();
        let selector = deployment
            .spec
            .as_ref()
            .map(|s| Selector::try_from(s.selector.clone()))
            .transpose()
            .map_err(|e| format!("{not_ranked}: spec.selector: {e}"))?
            .unwrap_or_default();
        // An empty selector would name every pod of the namespace, not the Deployment's.
        if selector.selects_all() {
            return Err(format!("{not_ranked}: spec.selector is empty"));
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let list = api
            .list(&ListParams::default().labels_from(&selector))
            .await
            .map_err(|e| format!("{not_ranked}: cannot list pods ({selector}): {}", said(&e)))?;
        let pods: Vec<PodState> = list.items.iter().filter_map(PodState::from_pod).collect();
        let changes = order::costs(&pods, loads);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        let mut failed = Vec::new();
        for (pod, cost) in &changes {
            let body = serde_json::json!({
                "metadata": {"annotations": {POD_DELETION_COST: cost.to_string()}}
            });
            if let Err(e) = api.patch(pod, &params, &Patch::Merge(body)).await {
                failed.push(format!("{pod}: {}", said(&e)));
            }
        }
        info!(
            server,
            namespace,
            pods = pods.len(),
            annotated = changes.len() - failed.len(),
            "pods ranked by load for the scale-down"
        );
        match failed.first() {
            None => Ok(()),
            Some(first) => Err(format!(
                "{POD_DELETION_COST} not set on {} of {} pods (first {first}); Kubernetes' own \
                 order applies to them",
                failed.len(),
                changes.len()
            )),
        }
    }

    /// Reports a refusal: a warning log line, the refusals metric and, when the Deployment
    /// exists (and so is in a watched namespace), a Warning Event on it. Patches nothing.
    async fn refuse(
        &self,
        server: &str,
        target: &ServerRef,
        refusal: Refusal,
        deployment: Option<&Deployment>,
    ) -> Kind {
        self.metrics.refused(refusal.code);
        warn!(server, namespace = %target.namespace, deployment = %target.name,
            code = %refusal.code, reason = %refusal.message, "refused; nothing patched");
        if let Some(d) = deployment {
            events::refused(&self.recorder, d, server, &refusal).await;
        }
        Kind::Refused(refusal)
    }
}

/// What the API server said, short: the message and code of its Status (the error's display
/// repeats the Status in full), else the error.
fn said(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_named() {
        assert_eq!("recommend".parse(), Ok(Mode::Recommend));
        assert_eq!(
            "scale".parse::<Mode>().unwrap_err().to_string(),
            "unknown mode \"scale\" (patch, recommend)"
        );
        assert_eq!(
            "none".parse::<UnplacedPolicy>().unwrap_err().to_string(),
            "unknown unplaced policy \"none\" (hold, zero, min)"
        );
    }
}
