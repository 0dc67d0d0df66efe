//! Apply requests against kubesim with the sample Deployments of deploy/samples.

use crate::support::{actuator, alloc, cluster, deployment, label, refs, replicas};
use inferno_actuator::apply::{Actuator, Mode};
use inferno_actuator::metrics::Metrics;
use inferno_actuator::plan::{Policy, TemplateOptions, UnplacedPolicy};
use inferno_core::contract::keys;
use inferno_core::{ApplyRequest, Move, MoveCause, Unplaced};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The Event of a server that changes accelerator names the cause the controller gave (the
/// first server, MI250 -> G2, forced by capacity). Before: the request could not say it, and
/// the Event named no cause.
#[tokio::test]
async fn allocations_change_replicas_and_labels_and_record_events() {
    let c = cluster().await;
    let refs = refs(&c).await;
    let names: Vec<String> = refs.keys().cloned().collect();
    let why = "capacity: 2 x MI250 needs 2 of the 2 MI250 units; the other servers' \
               allocations leave 0";
    let request = ApplyRequest {
        allocations: [
            (names[0].clone(), alloc("G2", 6, 38)),
            (names[1].clone(), alloc("A100", 2, 16)),
        ]
        .into(),
        refs: refs.clone(),
        moves: [(
            names[0].clone(),
            Move {
                cause: MoveCause::Capacity,
                reason: why.into(),
            },
        )]
        .into(),
        ..ApplyRequest::default()
    };
    let outcomes = actuator(&c, Policy::default()).apply(&request).await;
    assert_eq!(outcomes.len(), 3);
    let first = deployment(&c, &refs[&names[0]].name).await;
    assert_eq!(
        (
            replicas(&first),
            label(&first, keys::ACCELERATOR).as_str(),
            label(&first, keys::MAX_BATCH).as_str()
        ),
        (6, "G2", "38")
    );
    assert!(outcomes[0].applied() && outcomes[1].applied());
    // The third server has no allocation: held by default.
    let third = &outcomes[2];
    assert!(
        !third.applied() && third.decision.as_ref().unwrap().reason.contains("held"),
        "{third:?}"
    );
    // Pods follow the new replica count.
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(c.client.clone(), "infer");
    let selector = format!("app={}", refs[&names[0]].name);
    inferno_testkit::wait::until("6 pods", Duration::from_secs(10), || async {
        let list = pods.list(&ListParams::default().labels(&selector)).await;
        (list.unwrap().items.len() == 6).then_some(())
    })
    .await;
    let events = Api::<Event>::namespaced(c.client.clone(), "infer")
        .list(&ListParams::default())
        .await
        .unwrap();
    let ours: Vec<&Event> = events
        .items
        .iter()
        .filter(|e| e.reason.as_deref() == Some("InfernoScaled"))
        .collect();
    assert_eq!(
        ours.len(),
        2,
        "{:?}",
        events.items.iter().map(|e| &e.reason).collect::<Vec<_>>()
    );
    let first = ours
        .iter()
        .find(|e| e.involved_object.name.as_deref() == Some(refs[&names[0]].name.as_str()))
        .unwrap();
    let note = first.message.as_deref().unwrap_or("");
    assert!(
        note.contains(&format!("accelerator \"MI250\" -> \"G2\" ({why})")),
        "{note}"
    );
    c.sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn dry_run_and_recommend_change_nothing() {
    let c = cluster().await;
    let refs = refs(&c).await;
    let name = refs.keys().next().unwrap().clone();
    let before = deployment(&c, &refs[&name].name).await;
    let request = ApplyRequest {
        allocations: [(name.clone(), alloc("G2", 9, 38))].into(),
        refs: refs.clone(),
        dry_run: true,
        ..ApplyRequest::default()
    };
    let outcomes = actuator(&c, Policy::default()).apply(&request).await;
    assert!(!outcomes[0].applied() && outcomes[0].error() == "dry run");
    assert_eq!(outcomes[0].decision.as_ref().unwrap().new_replicas, 9);
    let metrics = Arc::new(Metrics::default());
    let recommend = Actuator::new(
        c.client.clone(),
        Policy::default(),
        Mode::Recommend,
        metrics.clone(),
    );
    let outcomes = recommend
        .apply(&ApplyRequest {
            dry_run: false,
            ..request
        })
        .await;
    assert_eq!(outcomes[0].error(), "recommend mode");
    // What the actuator owns did not move: the spec (generation), labels and annotations. The
    // resourceVersion is no witness: kubesim's controller updates the status (pods becoming
    // ready) on its own schedule, between the two reads on a slow machine.
    let after = deployment(&c, &refs[&name].name).await;
    assert_eq!(replicas(&before), replicas(&after));
    assert_eq!(before.metadata.generation, after.metadata.generation);
    assert_eq!(before.metadata.labels, after.metadata.labels);
    assert_eq!(before.metadata.annotations, after.metadata.annotations);
    assert_eq!(
        serde_json::to_value(&before.spec).unwrap(),
        serde_json::to_value(&after.spec).unwrap()
    );
    let text = metrics.render();
    let labels = format!(
        "{{server=\"{name}\",namespace=\"infer\",deployment=\"{}\"}}",
        refs[&name].name
    );
    assert!(
        text.contains(&format!("inferno_actuator_desired_replicas{labels} 9")),
        "{text}"
    );
    // Nothing patched: current is what the Deployment has.
    assert!(
        text.contains(&format!(
            "inferno_actuator_current_replicas{labels} {}",
            replicas(&after)
        )),
        "{text}"
    );
    c.sim.shutdown().await.unwrap();
}

/// The current-replicas gauge shows the Deployment after the patch (the count the API server
/// answered with), not the count read before it. Before: it showed the count before the patch
/// until the next cycle read the Deployment again.
#[tokio::test]
async fn the_current_gauge_shows_the_replicas_after_the_patch() {
    let c = cluster().await;
    let refs = refs(&c).await;
    let name = refs.keys().next().unwrap().clone();
    let dep = refs[&name].name.clone();
    let before = replicas(&deployment(&c, &dep).await);
    let wanted = i64::from(before) + 3;
    let metrics = Arc::new(Metrics::default());
    let actuator = Actuator::new(
        c.client.clone(),
        Policy::default(),
        Mode::Patch,
        metrics.clone(),
    );
    let outcomes = actuator
        .apply(&ApplyRequest {
            allocations: [(name.clone(), alloc("G2", wanted, 38))].into(),
            refs: [(name.clone(), refs[&name].clone())].into(),
            ..ApplyRequest::default()
        })
        .await;
    assert!(outcomes[0].applied(), "{:?}", outcomes[0]);
    assert_eq!(i64::from(replicas(&deployment(&c, &dep).await)), wanted);
    let text = metrics.render();
    let labels = format!("{{server=\"{name}\",namespace=\"infer\",deployment=\"{dep}\"}}");
    for line in [
        format!("inferno_actuator_desired_replicas{labels} {wanted}"),
        format!("inferno_actuator_current_replicas{labels} {wanted}"),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
    }
    c.sim.shutdown().await.unwrap();
}

/// Server `server` unplaced with `code`.
fn unplaced(server: &str, code: &str) -> Unplaced {
    Unplaced {
        server: server.into(),
        code: code.into(),
        reason: String::new(),
    }
}

#[tokio::test]
async fn unplaced_policies_and_clamps() {
    let c = cluster().await;
    let refs = refs(&c).await;
    let name = refs.keys().next().unwrap().clone();
    let dep = refs[&name].name.clone();
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "infer");
    let start = replicas(&deployment(&c, &dep).await);
    let unplaced_only = ApplyRequest {
        refs: [(name.clone(), refs[&name].clone())].into(),
        unplaced: [(name.clone(), unplaced(&name, "out-of-capacity"))].into(),
        ..ApplyRequest::default()
    };
    let only = |policy| {
        let a = actuator(
            &c,
            Policy {
                unplaced: policy,
                ..Policy::default()
            },
        );
        let request = unplaced_only.clone();
        async move { a.apply(&request).await }
    };
    only(UnplacedPolicy::Hold).await;
    assert_eq!(replicas(&deployment(&c, &dep).await), start);
    only(UnplacedPolicy::Min).await; // no min-replicas label: held
    assert_eq!(replicas(&deployment(&c, &dep).await), start);
    let labels_patch = serde_json::json!({"metadata": {"labels": {keys::MIN_REPLICAS: "1", keys::MAX_REPLICAS: "3"}}});
    api.patch(&dep, &PatchParams::default(), &Patch::Merge(labels_patch))
        .await
        .unwrap();
    only(UnplacedPolicy::Min).await;
    assert_eq!(replicas(&deployment(&c, &dep).await), 1);
    only(UnplacedPolicy::Zero).await; // clamped by min-replicas
    let d = deployment(&c, &dep).await;
    assert_eq!(
        (replicas(&d), label(&d, keys::ACCELERATOR).as_str()),
        (1, "")
    );
    api.patch(
        &dep,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"metadata": {"labels": {keys::MIN_REPLICAS: null}}})),
    )
    .await
    .unwrap();
    // Bad input, or no code at all, never lets the policy scale a server down.
    let before = replicas(&deployment(&c, &dep).await);
    assert!(before > 0);
    for code in ["invalid-load", "invalid-data", ""] {
        let mut request = unplaced_only.clone();
        request.unplaced = [(name.clone(), unplaced(&name, code))].into();
        let zero = actuator(
            &c,
            Policy {
                unplaced: UnplacedPolicy::Zero,
                ..Policy::default()
            },
        );
        let outcome = &zero.apply(&request).await[0];
        assert_eq!(replicas(&deployment(&c, &dep).await), before, "{code}");
        let reason = &outcome.decision.as_ref().unwrap().reason;
        assert!(
            reason.contains("held") && reason.contains("out-of-capacity"),
            "{reason}"
        );
    }
    only(UnplacedPolicy::Zero).await;
    assert_eq!(replicas(&deployment(&c, &dep).await), 0);
    // An allocation above max-replicas is clamped.
    let request = ApplyRequest {
        allocations: [(name.clone(), alloc("G2", 10, 8))].into(),
        refs: [(name.clone(), refs[&name].clone())].into(),
        ..ApplyRequest::default()
    };
    let outcomes = actuator(&c, Policy::default()).apply(&request).await;
    assert_eq!(replicas(&deployment(&c, &dep).await), 3);
    assert!(outcomes[0].decision.as_ref().unwrap().notes[0].contains("max-replicas"));
    c.sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_deleted_deployment_is_reported_and_the_others_applied() {
    let c = cluster().await;
    let refs = refs(&c).await;
    let names: Vec<String> = refs.keys().cloned().collect();
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "infer");
    api.delete(&refs[&names[1]].name, &Default::default())
        .await
        .unwrap();
    let request = ApplyRequest {
        allocations: names
            .iter()
            .map(|n| (n.clone(), alloc("G2", 2, 16)))
            .collect(),
        refs: refs.clone(),
        ..ApplyRequest::default()
    };
    let outcomes = actuator(&c, Policy::default()).apply(&request).await;
    assert!(
        outcomes[1].error().contains("not found"),
        "{:?}",
        outcomes[1]
    );
    assert!(outcomes[0].applied() && outcomes[2].applied());
    assert_eq!(replicas(&deployment(&c, &refs[&names[2]].name).await), 2);
    c.sim.shutdown().await.unwrap();
}

/// Someone else keeps editing a label while the actuator patches: both edits survive.
#[tokio::test]
async fn concurrent_label_edits_survive() {
    let c = cluster().await;
    let refs = refs(&c).await;
    let name = refs.keys().next().unwrap().clone();
    let dep = refs[&name].name.clone();
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "infer");
    let editor = {
        let api = api.clone();
        let dep = dep.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                let p = serde_json::json!({"metadata": {"labels": {"team": format!("t{i}")}}});
                api.patch(&dep, &PatchParams::default(), &Patch::Merge(p))
                    .await
                    .unwrap();
            }
        })
    };
    let a = actuator(&c, Policy::default());
    for n in 1..=20 {
        let request = ApplyRequest {
            allocations: [(name.clone(), alloc("G2", n, 16))].into(),
            refs: [(name.clone(), refs[&name].clone())].into(),
            ..ApplyRequest::default()
        };
        assert!(a.apply(&request).await[0].applied());
    }
    editor.await.unwrap();
    let d = deployment(&c, &dep).await;
    assert_eq!(
        (
            replicas(&d),
            label(&d, "team").as_str(),
            label(&d, keys::ACCELERATOR).as_str()
        ),
        (20, "t39", "G2")
    );
    c.sim.shutdown().await.unwrap();
}

/// The optional pod-template changes: nodeSelector and the batch env var, merged by name, and
/// the drain grace the rolled pods get.
#[tokio::test]
async fn template_options_set_node_selector_and_batch_env() {
    let c = cluster().await;
    let refs = refs(&c).await;
    let name = refs.keys().next().unwrap().clone();
    let policy = Policy {
        template: TemplateOptions {
            node_label: Some("nvidia.com/gpu.product".into()),
            node_values: [("H100".to_string(), "NVIDIA-H100".to_string())].into(),
            batch_env: Some("VLLM_MAX_NUM_SEQS".into()),
            drain_grace: Some(600),
        },
        ..Policy::default()
    };
    let request = ApplyRequest {
        allocations: [(name.clone(), alloc("H100", 2, 24))].into(),
        refs: [(name.clone(), refs[&name].clone())].into(),
        ..ApplyRequest::default()
    };
    assert!(actuator(&c, policy).apply(&request).await[0].applied());
    let d = deployment(&c, &refs[&name].name).await;
    let pod = d.spec.unwrap().template.spec.unwrap();
    assert_eq!(
        pod.node_selector.unwrap()["nvidia.com/gpu.product"],
        "NVIDIA-H100"
    );
    assert_eq!(pod.termination_grace_period_seconds, Some(600));
    let container = &pod.containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some("inferno/vllm-emulator:0.1.0"),
        "the container kept its other fields"
    );
    let env = container.env.as_ref().unwrap();
    let batch = env
        .iter()
        .find(|e| e.name == "VLLM_MAX_NUM_SEQS")
        .expect("batch env var set");
    assert_eq!(batch.value.as_deref(), Some("24"));
    // Env vars merge by name: the template's own variables are still there.
    let before =
        kubesim::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/samples"))
            .unwrap();
    let template_env = before
        .iter()
        .find(|o| o["metadata"]["name"] == refs[&name].name.as_str())
        .map(|o| {
            o["spec"]["template"]["spec"]["containers"][0]["env"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .unwrap();
    assert_eq!(env.len(), template_env + 1);
    c.sim.shutdown().await.unwrap();
}

/// The real kubectl, pointed at the same kubesim, sees the actuator's change.
#[tokio::test]
async fn kubectl_shows_the_new_state() {
    let Some(bin) = inferno_testkit::tools::kubectl() else {
        return;
    };
    let c = cluster().await;
    let refs = refs(&c).await;
    let name = refs.keys().next().unwrap().clone();
    let request = ApplyRequest {
        allocations: [(name.clone(), alloc("L40S", 3, 12))].into(),
        refs: refs.clone(),
        ..ApplyRequest::default()
    };
    actuator(&c, Policy::default()).apply(&request).await;
    let dir = inferno_testkit::TempDir::new("actuator-kubectl");
    let kubeconfig = dir.path().join("kubeconfig");
    c.sim.write_kubeconfig(&kubeconfig).unwrap();
    let kubectl = inferno_testkit::kubectl::Kubectl::new(bin, kubeconfig);
    let v = kubectl
        .json(&[
            "get",
            "deploy",
            &refs[&name].name,
            "-n",
            "infer",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(v["spec"]["replicas"], 3);
    assert_eq!(v["metadata"]["labels"][keys::ACCELERATOR], "L40S");
    assert_eq!(v["metadata"]["labels"][keys::MAX_BATCH], "12");
    c.sim.shutdown().await.unwrap();
}

/// The gRPC Apply, with `/metrics` on the same port.
#[tokio::test]
async fn grpc_apply_and_metrics() {
    use inferno_proto::v1;
    let c = cluster().await;
    let refs = refs(&c).await;
    let name = refs.keys().next().unwrap().clone();
    let metrics = Arc::new(Metrics::default());
    let a = Actuator::new(
        c.client.clone(),
        Policy::default(),
        Mode::Patch,
        metrics.clone(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(inferno_actuator::service::run(
        inferno_actuator::service::Listeners {
            grpc: listener,
            ops: None,
        },
        a,
        metrics,
        None,
        std::future::pending(),
    ));
    let mut client = v1::actuator_client::ActuatorClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let request = v1::ApplyRequest {
        allocations: [(
            name.clone(),
            v1::AllocationData {
                accelerator: "G2".into(),
                num_replicas: 2,
                max_batch: 19,
                ..Default::default()
            },
        )]
        .into(),
        deployments: refs
            .iter()
            .map(|(k, r)| {
                (
                    k.clone(),
                    v1::DeploymentRef {
                        uid: r.uid.clone(),
                        name: r.name.clone(),
                        namespace: r.namespace.clone(),
                    },
                )
            })
            .collect(),
        dry_run: false,
        ..Default::default()
    };
    let reply = client.apply(request).await.unwrap().into_inner();
    assert_eq!(reply.results.len(), 3);
    let first = reply.results.iter().find(|r| r.server == name).unwrap();
    use v1::deployment_result::{Outcome, Refusal};
    assert!(
        first.applied && first.outcome() == Outcome::Applied,
        "{first:?}"
    );
    assert!(
        first.error.is_empty() && first.refusal() == Refusal::Unspecified,
        "{first:?}"
    );
    assert_eq!(
        (
            first.after.as_ref().unwrap().num_replicas,
            first.after.as_ref().unwrap().max_batch
        ),
        (2, 19)
    );
    assert_eq!(first.before.as_ref().unwrap().num_replicas, 4);
    let held = reply.results.iter().find(|r| r.server != name).unwrap();
    assert!(
        !held.applied && held.reason.contains("held") && held.outcome() == Outcome::Unchanged,
        "{held:?}"
    );
    let body = {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    };
    assert!(body.contains("inferno_actuator_changes_total 1"), "{body}");
    // The families every service shares (inferno_telemetry::metrics::common).
    for family in ["inferno_build_info{", "process_start_time_seconds "] {
        assert!(body.contains(family), "no {family} in {body}");
    }
    assert!(
        body.contains(&format!(
            "inferno_actuator_desired_replicas{{server=\"{name}\""
        )),
        "{body}"
    );
    c.sim.shutdown().await.unwrap();
}
