//! The Kubernetes Events the actuator records on a Deployment: `InfernoScaled` when it changed
//! it, `InfernoRefused` (Warning) when it refused to act on it. Recording is best effort: a
//! failure is logged, and the change or the refusal stands.
//!
//! They go through kube's [`Recorder`] as `events.k8s.io/v1` Events, reported by
//! `inferno-actuator` with the pod's name as instance; the API server shows each as a `core/v1`
//! Event too (`kubectl get events`, `kubectl describe`). The Recorder folds a repeat of an Event
//! within a few minutes into the first one's series (a count and a last-seen time; the note
//! stays the first one's). An Event is its type, action, reason and object; the object
//! reference carries the Deployment's resourceVersion, so every change of the Deployment starts
//! a new Event, and a refusal's action names its code, so refusals of different kinds stay
//! apart: only the same refusal of an unchanged Deployment is counted on one Event.

use crate::apply::FIELD_MANAGER;
use crate::guard::{Code, Refusal};
use crate::plan::{show_batch, Decision};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::Resource;
use tracing::warn;

/// Reason of the Event recorded on a Deployment the actuator changed.
pub const SCALED: &str = "InfernoScaled";
/// Reason of the Event recorded on a Deployment the actuator refused to act on.
pub const REFUSED: &str = "InfernoRefused";

/// Longest Event note: the API server's limit (a note carries names from the request, so its
/// length is the caller's to choose).
const NOTE_MAX: usize = 1024;
/// Longest reporting instance the API server accepts.
const INSTANCE_MAX: usize = 128;

/// The recorder of the actuator's Events, over `client`, its instance `$POD_NAME` (the downward
/// API in `deploy/inferno/deploy.yaml`). One per actuator (clones share it): its memory of
/// recent Events is what folds repeats into a series.
pub(crate) fn recorder(client: kube::Client) -> Recorder {
    Recorder::new(client, reporter(std::env::var("POD_NAME").ok()))
}

/// `inferno-actuator`, instance the pod's name: `pod_name` when given, else the host name (a
/// pod's is its name), else none (the Recorder then reports the controller's name).
fn reporter(pod_name: Option<String>) -> Reporter {
    let reporter = Reporter::from(FIELD_MANAGER);
    let instance = pod_name
        .filter(|n| !n.is_empty())
        .or(reporter.instance)
        .map(|n| truncate(n, INSTANCE_MAX));
    Reporter {
        controller: reporter.controller,
        instance,
    }
}

/// Records the `InfernoScaled` Event of an applied decision.
pub(crate) async fn scaled(recorder: &Recorder, deployment: &Deployment, d: &Decision) {
    let mut note = format!(
        "replicas {} -> {}, accelerator {:?} -> {:?}, batch {} -> {}: {}",
        d.old_replicas,
        d.new_replicas,
        d.old_accelerator,
        d.new_accelerator,
        show_batch(d.old_batch),
        show_batch(d.new_batch),
        d.reason
    );
    if !d.notes.is_empty() {
        note.push_str(&format!(" ({})", d.notes.join("; ")));
    }
    let event = Event {
        type_: EventType::Normal,
        reason: SCALED.into(),
        note: Some(truncate(note, NOTE_MAX)),
        action: "Scale".into(),
        secondary: None,
    };
    record(recorder, deployment, &event).await;
}

/// Records the `InfernoRefused` Warning of a refusal.
pub(crate) async fn refused(
    recorder: &Recorder,
    deployment: &Deployment,
    server: &str,
    refusal: &Refusal,
) {
    let note = format!(
        "refused to act on this Deployment for server {server:?} ({}): {}; nothing patched",
        refusal.code, refusal.message
    );
    let event = Event {
        type_: EventType::Warning,
        reason: REFUSED.into(),
        note: Some(truncate(note, NOTE_MAX)),
        action: refuse_action(refusal.code),
        secondary: None,
    };
    record(recorder, deployment, &event).await;
}

/// `Refuse` and the code in PascalCase (`RefuseUidMismatch`): what was refused, and why, in the
/// form Event actions take.
fn refuse_action(code: Code) -> String {
    let mut action = String::from("Refuse");
    for word in code.as_str().split('-') {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            action.extend(first.to_uppercase());
            action.push_str(chars.as_str());
        }
    }
    action
}

/// The Deployment as the Event's object, at the resourceVersion the actuator read.
fn reference(deployment: &Deployment) -> ObjectReference {
    ObjectReference {
        resource_version: deployment.metadata.resource_version.clone(),
        ..deployment.object_ref(&())
    }
}

/// Publishes `event` on the Deployment; a failure only logs.
async fn record(recorder: &Recorder, deployment: &Deployment, event: &Event) {
    if let Err(e) = recorder.publish(event, &reference(deployment)).await {
        warn!(error = %e, reason = %event.reason, "cannot record the event");
    }
}

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
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn event_notes_are_bounded() {
        assert_eq!(truncate("short".into(), 10), "short");
        let long = truncate("é".repeat(1000), NOTE_MAX);
        assert!(long.len() <= NOTE_MAX && long.ends_with("..."));
    }

    #[test]
    fn refusals_of_each_kind_are_their_own_action() {
        assert_eq!(refuse_action(Code::UidMismatch), "RefuseUidMismatch");
        assert_eq!(
            refuse_action(Code::NamespaceNotWatched),
            "RefuseNamespaceNotWatched"
        );
        let actions: std::collections::BTreeSet<String> =
            Code::ALL.into_iter().map(refuse_action).collect();
        assert_eq!(actions.len(), Code::ALL.len());
    }

    #[test]
    fn the_object_is_the_deployment_as_read() {
        let d = Deployment {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("infer".into()),
                uid: Some("u-1".into()),
                resource_version: Some("42".into()),
                ..ObjectMeta::default()
            },
            ..Deployment::default()
        };
        let r = reference(&d);
        assert_eq!(
            (r.api_version.as_deref(), r.kind.as_deref()),
            (Some("apps/v1"), Some("Deployment"))
        );
        assert_eq!(
            (r.namespace.as_deref(), r.name.as_deref(), r.uid.as_deref()),
            (Some("infer"), Some("web"), Some("u-1"))
        );
        assert_eq!(r.resource_version.as_deref(), Some("42"));
    }

    #[test]
    fn the_reporter_is_the_actuator_in_its_pod() {
        let r = reporter(Some("inferno-7d9f-abcde".into()));
        assert_eq!(r.controller, "inferno-actuator");
        assert_eq!(r.instance.as_deref(), Some("inferno-7d9f-abcde"));
        // Without a pod name: the host name (a pod's is its name).
        assert_eq!(reporter(Some(String::new())).controller, "inferno-actuator");
        let long = reporter(Some("p".repeat(300))).instance.unwrap();
        assert!(long.len() <= INSTANCE_MAX);
    }
}
