//! The Kubernetes Events the actuator records on a Deployment: `InfernoScaled` when it changed
//! it, `InfernoRefused` (Warning) when it refused to act on it. Recording is best effort: a
//! failure is logged, and the change or the refusal stands.
//!
//! These are `core/v1` Events written directly, not through kube's `events::Recorder`: the
//! Recorder writes `events.k8s.io/v1` Events, which kubesim (the API server of the tests) does
//! not serve; `kubectl get events` and `kubectl describe` show both kinds.

use crate::apply::FIELD_MANAGER;
use crate::guard::Refusal;
use crate::plan::{show_batch, Decision};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, PostParams};
use tracing::warn;

/// Reason of the Event recorded on a Deployment the actuator changed.
pub const SCALED: &str = "InfernoScaled";
/// Reason of the Event recorded on a Deployment the actuator refused to act on.
pub const REFUSED: &str = "InfernoRefused";

/// Longest Event message: the API server's limit for an Event's note (a message carries names
/// from the request, so its length is the caller's to choose).
const MESSAGE_MAX: usize = 1024;

/// Records the `InfernoScaled` Event of an applied decision.
pub(crate) async fn scaled(client: &kube::Client, deployment: &Deployment, d: &Decision) {
    let mut message = format!(
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
        message.push_str(&format!(" ({})", d.notes.join("; ")));
    }
    record(client, deployment, SCALED, "Normal", "Scale", message).await;
}

/// Records the `InfernoRefused` Warning of a refusal.
pub(crate) async fn refused(
    client: &kube::Client,
    deployment: &Deployment,
    server: &str,
    refusal: &Refusal,
) {
    let message = format!(
        "refused to act on this Deployment for server {server:?} ({}): {}; nothing patched",
        refusal.code, refusal.message
    );
    record(client, deployment, REFUSED, "Warning", "Refuse", message).await;
}

/// Records an Event on the Deployment; a failure only logs.
async fn record(
    client: &kube::Client,
    deployment: &Deployment,
    reason: &str,
    type_: &str,
    action: &str,
    message: String,
) {
    let meta = &deployment.metadata;
    let namespace = meta.namespace.clone().unwrap_or_default();
    let now = k8s_openapi::jiff::Timestamp::now();
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
        message: Some(truncate(message, MESSAGE_MAX)),
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
    let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
    if let Err(e) = events.create(&PostParams::default(), &event).await {
        warn!(error = %e, reason, "cannot record the event");
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

    #[test]
    fn event_messages_are_bounded() {
        assert_eq!(truncate("short".into(), 10), "short");
        let long = truncate("é".repeat(1000), MESSAGE_MAX);
        assert!(long.len() <= MESSAGE_MAX && long.ends_with("..."));
    }
}
