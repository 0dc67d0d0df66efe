//! The actuator refuses what it does not manage (issue 16): a Deployment without the managed
//! label, outside the watched namespaces, of another uid or server name, or a request out of
//! range is refused, patched in nothing, and reported (result, Event, metric). Replicas stay
//! under a hard ceiling and move by a bounded step per cycle.

use crate::support::{
    alloc, cluster, events, foreign_deployment, get, kube_ref, label, occurrences, owned, refs,
    replicas, uid, Cluster,
};
use clap::Parser;
use inferno_actuator::apply::{Actuator, Mode};
use inferno_actuator::args::Args;
use inferno_actuator::guard::{Code, Scope};
use inferno_actuator::metrics::Metrics;
use inferno_actuator::outcome::{Kind, Outcome};
use inferno_actuator::plan::Policy;
use inferno_core::contract::keys;
use inferno_core::ApplyRequest;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use std::sync::Arc;

fn actuator(c: &Cluster, policy: Policy) -> (Actuator, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    let a = Actuator::new(c.client.clone(), policy, Mode::Patch, metrics.clone());
    (a, metrics)
}

/// The policy of the flags `args` (the defaults when empty).
fn flags(args: &[&str]) -> Policy {
    Args::try_parse_from(std::iter::once("inferno-actuator").chain(args.iter().copied()))
        .unwrap()
        .policy()
        .unwrap()
}

fn refused(o: &Outcome, code: Code) {
    match &o.kind {
        Kind::Refused(r) => assert_eq!(r.code, code, "{o:?}"),
        other => panic!("expected refused ({code}), got {other:?} in {o:?}"),
    }
    assert!(!o.applied() && o.decision.is_none(), "{o:?}");
}

fn refusals(metrics: &Metrics, code: Code) -> String {
    let text = metrics.render();
    let prefix = format!("inferno_actuator_refusals_total{{reason=\"{code}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
        .to_string()
}

/// The attack of the issue: Apply naming an unlabelled `victim/payments` Deployment (2
/// replicas) with 500 and 2,147,483,647 replicas, with an empty uid and with its real uid.
/// Before: scaled to 500, then 2147483647, and labelled as Inferno's.
#[tokio::test]
async fn the_attack_on_an_unmanaged_deployment_is_refused_and_changes_nothing() {
    let c = cluster().await;
    let victim = foreign_deployment(&c, "victim", "payments", 2, &[]).await;
    let before = owned(&victim);
    let (a, metrics) = actuator(&c, Policy::default());
    let mut attempts = 0;
    for n in [500, i64::from(i32::MAX)] {
        for given_uid in [String::new(), uid(&victim)] {
            let request = ApplyRequest {
                allocations: [("payments".to_string(), alloc("H100", n, 256))].into(),
                refs: [("payments".to_string(), kube_ref(&victim, &given_uid))].into(),
                ..ApplyRequest::default()
            };
            let outcomes = a.apply(&request).await;
            attempts += 1;
            refused(&outcomes[0], Code::NotManaged);
            let message = outcomes[0].error();
            assert!(
                message.contains("victim/payments has no label inferno.server.managed=true")
                    && message.contains("nothing patched"),
                "{message}"
            );
            let now = get(&c, "victim", "payments").await;
            assert_eq!(owned(&now), before, "replicas {n}, uid {given_uid:?}");
            assert_eq!(replicas(&now), 2);
        }
    }
    // The same refusal of an unchanged Deployment is counted on one Event; the Deployment's
    // status changes as its pods start, so there are one to four Events.
    let warnings = events(&c, "victim", "payments", "InfernoRefused").await;
    assert_eq!(
        occurrences(&warnings),
        attempts,
        "one occurrence per refusal"
    );
    let e = &warnings[0];
    assert_eq!(e.type_.as_deref(), Some("Warning"));
    assert_eq!(e.involved_object.uid, victim.metadata.uid);
    assert!(
        e.message.as_deref().unwrap_or("").contains("not-managed"),
        "{:?}",
        e.message
    );
    assert!(events(&c, "victim", "payments", "InfernoScaled")
        .await
        .is_empty());
    assert_eq!(refusals(&metrics, Code::NotManaged), attempts.to_string());
    assert_eq!(refusals(&metrics, Code::UidMissing), "0");
    c.sim.shutdown().await.unwrap();
}

/// A managed Deployment named with an empty uid, or another uid than the live one, is refused.
/// Before: an empty uid skipped the check; a mismatch was skipped without Event or metric.
#[tokio::test]
async fn a_missing_or_mismatched_uid_is_refused() {
    let c = cluster().await;
    let refs = refs(&c).await;
    let (server, target) = refs.iter().next().unwrap();
    let before = owned(&get(&c, "infer", &target.name).await);
    let (a, metrics) = actuator(&c, Policy::default());
    for (given, code) in [
        ("", Code::UidMissing),
        ("00000000-0000-0000-0000-000000000000", Code::UidMismatch),
    ] {
        let mut t = target.clone();
        t.uid = given.into();
        let request = ApplyRequest {
            allocations: [(server.clone(), alloc("G2", 7, 24))].into(),
            refs: [(server.clone(), t)].into(),
            ..ApplyRequest::default()
        };
        let outcomes = a.apply(&request).await;
        refused(&outcomes[0], code);
        assert_eq!(refusals(&metrics, code), "1");
    }
    assert_eq!(owned(&get(&c, "infer", &target.name).await), before);
    let warnings = events(&c, "infer", &target.name, "InfernoRefused").await;
    assert_eq!(warnings.len(), 2);
    for code in ["uid-missing", "uid-mismatch"] {
        assert!(
            warnings
                .iter()
                .any(|e| e.message.as_deref().unwrap_or("").contains(code)),
            "{code}: {warnings:?}"
        );
    }
    c.sim.shutdown().await.unwrap();
}

/// A Deployment outside the watched namespaces is refused before any API call, even when it
/// carries Inferno's labels and the request its uid. Before: there was no namespace scope.
#[tokio::test]
async fn a_namespace_not_watched_is_refused() {
    let c = cluster().await;
    let managed = [
        (keys::MANAGED, "true"),
        (keys::NAME, "payments"),
        (keys::ACCELERATOR, "G2"),
    ];
    let d = foreign_deployment(&c, "victim", "payments", 2, &managed).await;
    let before = owned(&d);
    let (a, metrics) = actuator(&c, Policy::default());
    let a = a.with_scope(Scope::namespaces(["infer"]));
    let request = ApplyRequest {
        allocations: [("payments".to_string(), alloc("G2", 5, 16))].into(),
        refs: [("payments".to_string(), kube_ref(&d, &uid(&d)))].into(),
        ..ApplyRequest::default()
    };
    let outcomes = a.apply(&request).await;
    refused(&outcomes[0], Code::NamespaceNotWatched);
    assert!(
        outcomes[0]
            .error()
            .contains("namespace \"victim\" is not watched"),
        "{}",
        outcomes[0].error()
    );
    assert_eq!(owned(&get(&c, "victim", "payments").await), before);
    assert_eq!(refusals(&metrics, Code::NamespaceNotWatched), "1");
    // Nothing is written in a namespace it does not watch, not even an Event.
    assert!(events(&c, "victim", "payments", "InfernoRefused")
        .await
        .is_empty());
    // The watched namespaces still work.
    let refs = refs(&c).await;
    let (server, target) = refs.iter().next().unwrap();
    let request = ApplyRequest {
        allocations: [(server.clone(), alloc("G2", 5, 16))].into(),
        refs: [(server.clone(), target.clone())].into(),
        ..ApplyRequest::default()
    };
    assert!(a.apply(&request).await[0].applied());
    c.sim.shutdown().await.unwrap();
}

/// A request naming a managed Deployment under another server's name (its
/// `inferno.server.name` label says otherwise) is refused. Before: patched.
#[tokio::test]
async fn a_server_name_mismatch_is_refused() {
    let c = cluster().await;
    let refs = refs(&c).await;
    let (server, target) = refs.iter().next().unwrap();
    let before = owned(&get(&c, "infer", &target.name).await);
    let (a, metrics) = actuator(&c, Policy::default());
    let request = ApplyRequest {
        allocations: [("impostor".to_string(), alloc("G2", 9, 16))].into(),
        refs: [("impostor".to_string(), target.clone())].into(),
        ..ApplyRequest::default()
    };
    let outcomes = a.apply(&request).await;
    refused(&outcomes[0], Code::NameMismatch);
    assert!(
        outcomes[0].error().contains(&format!(
            "has label inferno.server.name={server:?}, the request names server \"impostor\""
        )),
        "{}",
        outcomes[0].error()
    );
    assert_eq!(owned(&get(&c, "infer", &target.name).await), before);
    assert_eq!(refusals(&metrics, Code::NameMismatch), "1");
    assert_eq!(
        events(&c, "infer", &target.name, "InfernoRefused")
            .await
            .len(),
        1
    );
    c.sim.shutdown().await.unwrap();
}

/// Replica counts and batch sizes outside `inferno_api::limits` are refused naming the field
/// and value, even for a managed Deployment; for one that does not exist, without an Event.
/// Before: 2147483647 replicas were patched.
#[tokio::test]
async fn an_allocation_out_of_range_is_refused() {
    let c = cluster().await;
    let refs = refs(&c).await;
    let (server, target) = refs.iter().next().unwrap();
    let before = owned(&get(&c, "infer", &target.name).await);
    let (a, metrics) = actuator(&c, Policy::default());
    for (allocation, field) in [
        (
            alloc("G2", i64::from(i32::MAX), 16),
            "numReplicas: must be an integer in [0, 10000], got 2147483647",
        ),
        (
            alloc("G2", -3, 16),
            "numReplicas: must be an integer in [0, 10000], got -3",
        ),
        (
            alloc("G2", 2, i64::from(i32::MAX)),
            "maxBatch: must be an integer in [0, 4096], got 2147483647",
        ),
    ] {
        let request = ApplyRequest {
            allocations: [(server.clone(), allocation)].into(),
            refs: [(server.clone(), target.clone())].into(),
            ..ApplyRequest::default()
        };
        let outcomes = a.apply(&request).await;
        refused(&outcomes[0], Code::OutOfRange);
        assert!(
            outcomes[0]
                .error()
                .contains(&format!("allocations[{server:?}].{field}")),
            "{}",
            outcomes[0].error()
        );
    }
    assert_eq!(owned(&get(&c, "infer", &target.name).await), before);
    assert_eq!(refusals(&metrics, Code::OutOfRange), "3");
    assert_eq!(
        occurrences(&events(&c, "infer", &target.name, "InfernoRefused").await),
        3
    );
    // A Deployment that does not exist: refused for the request's values, no Event.
    let mut gone = target.clone();
    gone.name = "no-such-deployment".into();
    let request = ApplyRequest {
        allocations: [(server.clone(), alloc("G2", 20_000, 16))].into(),
        refs: [(server.clone(), gone)].into(),
        ..ApplyRequest::default()
    };
    refused(&a.apply(&request).await[0], Code::OutOfRange);
    assert!(events(&c, "infer", "no-such-deployment", "InfernoRefused")
        .await
        .is_empty());
    c.sim.shutdown().await.unwrap();
}

/// The hard ceiling: the max-replicas label, else `--max-replicas` (default 100); a bad label
/// is reported and the global ceiling applies; the clamp is said in the outcome. Before: no
/// ceiling without the label, and a bad label was silently ignored.
#[tokio::test]
async fn replicas_are_clamped_to_the_ceiling() {
    let c = cluster().await;
    let refs = refs(&c).await;
    let (server, target) = refs.iter().next().unwrap();
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "infer");
    let (a, _) = actuator(&c, flags(&["--max-step", "0"]));
    let request = ApplyRequest {
        allocations: [(server.clone(), alloc("G2", 500, 16))].into(),
        refs: [(server.clone(), target.clone())].into(),
        ..ApplyRequest::default()
    };
    let set_label = |value: serde_json::Value| {
        let p = serde_json::json!({"metadata": {"labels": {keys::MAX_REPLICAS: value}}});
        let api = api.clone();
        let name = target.name.clone();
        async move {
            api.patch(&name, &PatchParams::default(), &Patch::Merge(p))
                .await
                .unwrap();
        }
    };
    // No label: the default ceiling of the flags.
    let o = &a.apply(&request).await[0];
    assert!(o.applied(), "{o:?}");
    assert_eq!(replicas(&get(&c, "infer", &target.name).await), 100);
    let notes = &o.decision.as_ref().unwrap().notes;
    assert!(
        notes.contains(&"lowered 500 -> 100 by the ceiling --max-replicas 100".to_string()),
        "{notes:?}"
    );
    // The label's ceiling, above the default too.
    set_label("150".into()).await;
    let o = &a.apply(&request).await[0];
    assert_eq!(replicas(&get(&c, "infer", &target.name).await), 150);
    assert!(
        o.decision.as_ref().unwrap().notes[0]
            .contains("lowered 500 -> 150 by label inferno.server.max-replicas"),
        "{o:?}"
    );
    // A bad label is reported; the global ceiling applies.
    set_label("1e308".into()).await;
    let o = &a.apply(&request).await[0];
    let d = get(&c, "infer", &target.name).await;
    assert_eq!(replicas(&d), 100);
    assert_eq!(label(&d, keys::MAX_REPLICAS), "1e308");
    let notes = o.decision.as_ref().unwrap().notes.join("; ");
    assert!(
        notes.contains("label inferno.server.max-replicas=\"1e308\": must be an integer in [0, 10000], got 1e308; ignored, the ceiling is --max-replicas 100"),
        "{notes}"
    );
    // --max-replicas sets the global ceiling.
    set_label(serde_json::Value::Null).await;
    let (low, _) = actuator(&c, flags(&["--max-step", "0", "--max-replicas", "8"]));
    low.apply(&request).await;
    assert_eq!(replicas(&get(&c, "infer", &target.name).await), 8);
    c.sim.shutdown().await.unwrap();
}

/// With the flags' defaults a Deployment moves by at most 16 replicas per cycle. Before: the
/// step limit was off by default (a 1e308 load label scaled 1 -> 256 in one cycle).
#[tokio::test]
async fn the_default_step_limit_bounds_each_cycle() {
    let c = cluster().await;
    let refs = refs(&c).await;
    let (server, target) = refs.iter().next().unwrap();
    let start = replicas(&get(&c, "infer", &target.name).await);
    let (a, _) = actuator(&c, flags(&[]));
    let request = ApplyRequest {
        allocations: [(server.clone(), alloc("G2", 90, 16))].into(),
        refs: [(server.clone(), target.clone())].into(),
        ..ApplyRequest::default()
    };
    let o = &a.apply(&request).await[0];
    assert!(o.applied(), "{o:?}");
    let after = replicas(&get(&c, "infer", &target.name).await);
    assert_eq!(after, start + 16);
    assert!(
        o.decision.as_ref().unwrap().notes[0].starts_with("step limited 90 -> "),
        "{o:?}"
    );
    c.sim.shutdown().await.unwrap();
}
