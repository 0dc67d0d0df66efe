//! The real kubectl against kubesim through a generated kubeconfig: the user workflow of the
//! seed (apply the samples, inspect, scale, label, patch, wait, events, delete, a pod shown
//! Terminating and force-deleted, a rollout and its undo), every result checked. kubectl comes from $KUBECTL or the PATH; with CI=true a missing kubectl fails.

use super::common::{eventually, samples, server, TempDir, WAIT};
use inferno_testkit::kubectl::Kubectl;
use kubesim::resource::{CONFIGMAPS, DEPLOYMENTS, PODS};
use kubesim::{FieldSelector, LabelSelector};
use std::path::Path;

fn sample(name: &str) -> String {
    samples().join(name).display().to_string()
}

fn count(k: &kubesim::Kubesim, rt: &'static kubesim::resource::ResourceType, sel: &str) -> usize {
    k.store()
        .list(
            rt,
            Some("infer"),
            &LabelSelector::parse(sel).unwrap(),
            &FieldSelector::default(),
        )
        .0
        .len()
}

fn data_rows(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_session() {
    let Some(bin) = inferno_testkit::tools::kubectl() else {
        return;
    };
    let k = server().await;
    let dir = TempDir::new("kubesim-it");
    let kubeconfig = dir.path().join("kubeconfig");
    k.write_kubeconfig(&kubeconfig).unwrap();
    // Each command is killed if it outlives the test's wait bound.
    let kc = Kubectl::new(bin, kubeconfig).bound(WAIT);
    check_session(&k, &kc, dir.path()).await;
}

async fn check_session(k: &kubesim::Kubesim, kc: &Kubectl, dir: &Path) {
    // Version and discovery.
    let v = kc.run(&["version", "-o", "json"]).await;
    assert_eq!(v.json()["serverVersion"]["minor"], "32", "{v:?}");
    let resources = kc.ok(&["api-resources", "--no-headers"]).await;
    assert!(resources
        .lines()
        .any(|l| l.starts_with("deployments") && l.contains("deploy")));
    assert!(resources.lines().any(|l| l.starts_with("leases")));

    // create -f / apply -f the samples.
    let out = kc.ok(&["create", "-f", &sample("ns.yaml")]).await;
    assert_eq!(out.trim(), "namespace/infer created");
    let deps = format!(
        "{},{},{}",
        sample("dep1.yaml"),
        sample("dep2.yaml"),
        sample("dep3.yaml")
    );
    let out = kc.run(&["apply", "-f", &deps]).await;
    assert!(out.ok && out.stderr.is_empty(), "{out:?}");
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "deployment.apps/premium-llama-13b created",
            "deployment.apps/bronze-granite-13b created",
            "deployment.apps/free-mixtral-8-7b created"
        ]
    );
    // A typo is refused (kubectl asks for strict field validation).
    let text = std::fs::read_to_string(sample("dep1.yaml")).unwrap();
    let typo = dir.join("typo.yaml");
    std::fs::write(&typo, text.replace("\nspec:", "\nspce:")).unwrap();
    let refused = kc.run(&["apply", "-f", &typo.display().to_string()]).await;
    assert!(
        !refused.ok
            && refused
                .stderr
                .contains(r#"strict decoding error: unknown field "spce""#),
        "{refused:?}"
    );
    let dup = kc.run(&["create", "-f", &sample("ns.yaml")]).await;
    assert!(!dup.ok && dup.stderr.contains("AlreadyExists"), "{dup:?}");

    // wait --for=condition=Available.
    let out = kc
        .ok(&[
            "wait",
            "--for=condition=Available",
            "deploy",
            "--all",
            "-n",
            "infer",
            "--timeout=20s",
        ])
        .await;
    assert_eq!(
        out.lines().filter(|l| l.ends_with("condition met")).count(),
        3,
        "{out}"
    );

    // get -l ... -o json.
    let list = kc
        .run(&[
            "get",
            "deploy",
            "-n",
            "infer",
            "-l",
            "inferno.server.managed=true",
            "-o",
            "json",
        ])
        .await
        .json();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let d1 = items
        .iter()
        .find(|d| d["metadata"]["name"] == "premium-llama-13b")
        .unwrap();
    let labels = &d1["metadata"]["labels"];
    assert_eq!(labels["inferno.server.name"], "vllm-001");
    assert_eq!(labels["inferno.server.model"], "llama_13b");
    assert_eq!(labels["inferno.server.class"], "Premium");
    assert_eq!(labels["inferno.server.allocation.accelerator"], "MI250");
    assert_eq!(labels["inferno.server.allocation.maxbatchsize"], "8");
    assert_eq!(d1["spec"]["replicas"], 4);
    assert_eq!(d1["status"]["readyReplicas"], 4);
    assert!(
        d1["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );
    let none = kc
        .run(&[
            "get",
            "deploy",
            "-n",
            "infer",
            "-l",
            "inferno.server.class notin (Premium,Bronze,Free)",
            "-o",
            "json",
        ])
        .await
        .json();
    assert_eq!(none["items"], serde_json::json!([]));

    // get pods: the count follows replicas (4 + 3 + 3), all Running and Ready.
    let pods = kc.ok(&["get", "pods", "-n", "infer"]).await;
    let rows = data_rows(&pods);
    assert_eq!(rows.len(), 10, "{pods}");
    assert!(pods.starts_with("NAME"), "{pods}");
    assert!(
        rows.iter().all(|r| r[1] == "1/1" && r[2] == "Running"),
        "{pods}"
    );

    // scale.
    let out = kc
        .ok(&[
            "scale",
            "deploy",
            "premium-llama-13b",
            "-n",
            "infer",
            "--replicas=2",
        ])
        .await;
    assert_eq!(out.trim(), "deployment.apps/premium-llama-13b scaled");
    eventually("premium at 2 pods", || {
        (count(k, &PODS, "app=premium-llama-13b") == 2).then_some(())
    })
    .await;
    let rows = data_rows(
        &kc.ok(&["get", "pods", "-n", "infer", "-l", "app=premium-llama-13b"])
            .await,
    );
    assert_eq!(rows.len(), 2);

    // label --overwrite.
    let out = kc
        .ok(&[
            "label",
            "deploy",
            "premium-llama-13b",
            "-n",
            "infer",
            "inferno.server.allocation.accelerator=A100",
            "--overwrite",
        ])
        .await;
    assert_eq!(out.trim(), "deployment.apps/premium-llama-13b labeled");
    let d = k
        .store()
        .get(&DEPLOYMENTS, "infer", "premium-llama-13b")
        .unwrap();
    assert_eq!(
        d["metadata"]["labels"]["inferno.server.allocation.accelerator"],
        "A100"
    );
    let refused = kc
        .run(&[
            "label",
            "deploy",
            "premium-llama-13b",
            "-n",
            "infer",
            "inferno.server.allocation.accelerator=H100",
        ])
        .await;
    assert!(!refused.ok, "{refused:?}");

    // patch --type merge and --type json.
    let out = kc
        .ok(&[
            "patch",
            "deploy",
            "bronze-granite-13b",
            "-n",
            "infer",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"replicas":1}}"#,
        ])
        .await;
    assert_eq!(out.trim(), "deployment.apps/bronze-granite-13b patched");
    let out = kc
        .ok(&["patch", "deploy", "bronze-granite-13b", "-n", "infer", "--type", "json", "-p",
              r#"[{"op":"replace","path":"/metadata/labels/inferno.server.allocation.maxbatchsize","value":"32"}]"#])
        .await;
    assert_eq!(out.trim(), "deployment.apps/bronze-granite-13b patched");
    let d = k
        .store()
        .get(&DEPLOYMENTS, "infer", "bronze-granite-13b")
        .unwrap();
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(
        d["metadata"]["labels"]["inferno.server.allocation.maxbatchsize"],
        "32"
    );
    let bad = kc
        .run(&[
            "patch",
            "deploy",
            "bronze-granite-13b",
            "-n",
            "infer",
            "--type",
            "json",
            "-p",
            r#"[{"op":"replace","path":"/metadata/labels/missing","value":"1"}]"#,
        ])
        .await;
    assert!(
        !bad.ok && bad.stderr.contains("doc is missing key"),
        "{bad:?}"
    );
    let invalid = kc
        .run(&[
            "patch",
            "deploy",
            "bronze-granite-13b",
            "-n",
            "infer",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"replicas":-1}}"#,
        ])
        .await;
    assert!(
        !invalid.ok
            && invalid
                .stderr
                .contains("must be greater than or equal to 0"),
        "{invalid:?}"
    );
    eventually("bronze at 1 pod", || {
        (count(k, &PODS, "app=bronze-granite-13b") == 1).then_some(())
    })
    .await;
    let wide = kc.ok(&["get", "deploy", "-n", "infer", "-o", "wide"]).await;
    let rows = data_rows(&wide);
    let bronze = rows.iter().find(|r| r[0] == "bronze-granite-13b").unwrap();
    assert_eq!(bronze[1], "1/1", "{wide}");
    assert_eq!(bronze[6], "inferno/vllm-emulator:0.1.0", "{wide}");

    // get pods -o json: 2 + 1 + 3, owned by ReplicaSets, labelled with the template hash.
    let pods = kc
        .run(&["get", "pods", "-n", "infer", "-o", "json"])
        .await
        .json();
    let pods = pods["items"].as_array().unwrap();
    assert_eq!(pods.len(), 6);
    for p in pods {
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
        assert!(p["metadata"]["labels"]["pod-template-hash"].is_string());
        assert_eq!(p["status"]["podIP"], "127.0.0.1");
    }

    // delete pod: it is shown Terminating (not ready) for its grace period while its
    // ReplicaSet replaces it; a forced delete with grace period 0 removes it at once.
    let bronze = k
        .store()
        .list(
            &PODS,
            Some("infer"),
            &LabelSelector::parse("app=bronze-granite-13b").unwrap(),
            &FieldSelector::default(),
        )
        .0;
    let victim = bronze[0]["metadata"]["name"].as_str().unwrap().to_string();
    let out = kc
        .ok(&[
            "delete",
            "pod",
            &victim,
            "-n",
            "infer",
            "--wait=false",
            "--grace-period=100000",
        ])
        .await;
    assert_eq!(out.trim(), format!("pod \"{victim}\" deleted"));
    let table = kc
        .ok(&["get", "pods", "-n", "infer", "-l", "app=bronze-granite-13b"])
        .await;
    let rows = data_rows(&table);
    let row = rows.iter().find(|r| r[0] == victim).expect("still listed");
    assert_eq!(
        (row[1].as_str(), row[2].as_str()),
        ("0/1", "Terminating"),
        "{table}"
    );
    eventually("a replacement runs", || {
        let running = k
            .store()
            .list(
                &PODS,
                Some("infer"),
                &LabelSelector::parse("app=bronze-granite-13b").unwrap(),
                &FieldSelector::parse("status.phase=Running", &PODS).unwrap(),
            )
            .0
            .into_iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .count();
        (running == 1).then_some(())
    })
    .await;
    let out = kc
        .ok(&[
            "delete",
            "pod",
            &victim,
            "-n",
            "infer",
            "--grace-period=0",
            "--force",
        ])
        .await;
    assert_eq!(out.trim(), format!("pod \"{victim}\" force deleted"));
    assert!(k.store().get(&PODS, "infer", &victim).is_err());

    // get events: the controllers' scaling and pod events.
    let events = kc.ok(&["get", "events", "-n", "infer"]).await;
    assert!(events.starts_with("LAST SEEN"), "{events}");
    assert!(events.contains("ScalingReplicaSet"), "{events}");
    assert!(
        events.contains("Scaled down replica set premium-llama-13b-"),
        "{events}"
    );
    assert!(events.contains("SuccessfulCreate"), "{events}");
    let ev_json = kc
        .run(&[
            "get",
            "events",
            "-n",
            "infer",
            "--field-selector",
            "reason=ScalingReplicaSet",
            "-o",
            "json",
        ])
        .await
        .json();
    assert!(ev_json["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["involvedObject"]["kind"] == "Deployment"));

    // apply again: the three-way patch restores replicas 4.
    let out = kc.ok(&["apply", "-f", &sample("dep1.yaml")]).await;
    assert_eq!(out.trim(), "deployment.apps/premium-llama-13b configured");
    let d = k
        .store()
        .get(&DEPLOYMENTS, "infer", "premium-llama-13b")
        .unwrap();
    assert_eq!(d["spec"]["replicas"], 4);
    let out = kc.ok(&["apply", "-f", &sample("dep1.yaml")]).await;
    assert_eq!(out.trim(), "deployment.apps/premium-llama-13b unchanged");
    let out = kc
        .ok(&["apply", "--server-side", "-f", &sample("dep2.yaml")])
        .await;
    assert_eq!(
        out.trim(),
        "deployment.apps/bronze-granite-13b serverside-applied"
    );
    let d = k
        .store()
        .get(&DEPLOYMENTS, "infer", "bronze-granite-13b")
        .unwrap();
    assert_eq!(d["spec"]["replicas"], 3);

    // set image + rollout status: a rolling update to a second ReplicaSet; rollout undo goes
    // back to the first one.
    let rs_names = || {
        let mut names: Vec<String> = k
            .store()
            .list(
                &kubesim::resource::REPLICA_SETS,
                Some("infer"),
                &LabelSelector::parse("app=bronze-granite-13b").unwrap(),
                &FieldSelector::default(),
            )
            .0
            .iter()
            .map(|rs| rs["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    let first_rs = rs_names();
    assert_eq!(first_rs.len(), 1);
    let out = kc
        .ok(&[
            "set",
            "image",
            "deploy/bronze-granite-13b",
            "-n",
            "infer",
            "vllm=inferno/vllm-emulator:0.2.0",
        ])
        .await;
    assert_eq!(
        out.trim(),
        "deployment.apps/bronze-granite-13b image updated"
    );
    let out = kc
        .ok(&[
            "rollout",
            "status",
            "deploy/bronze-granite-13b",
            "-n",
            "infer",
            "--timeout=20s",
        ])
        .await;
    assert_eq!(
        out.lines().last(),
        Some("deployment \"bronze-granite-13b\" successfully rolled out"),
        "{out}"
    );
    let rs = kc
        .ok(&["get", "rs", "-n", "infer", "-l", "app=bronze-granite-13b"])
        .await;
    let mut desired: Vec<String> = data_rows(&rs).iter().map(|r| r[1].clone()).collect();
    desired.sort();
    assert_eq!(desired, ["0", "3"], "{rs}");
    let out = kc
        .ok(&[
            "rollout",
            "undo",
            "deploy/bronze-granite-13b",
            "-n",
            "infer",
        ])
        .await;
    assert_eq!(out.trim(), "deployment.apps/bronze-granite-13b rolled back");
    kc.ok(&[
        "rollout",
        "status",
        "deploy/bronze-granite-13b",
        "-n",
        "infer",
        "--timeout=20s",
    ])
    .await;
    assert_eq!(rs_names().len(), 2, "the first ReplicaSet is re-used");
    let back = k
        .store()
        .get(&kubesim::resource::REPLICA_SETS, "infer", &first_rs[0])
        .unwrap();
    assert_eq!(back["spec"]["replicas"], 3);

    // ConfigMaps from files, as the seed's workflow creates them.
    let data = dir.join("capacity-data.json");
    std::fs::write(&data, r#"{"count": [{"type": "H100", "count": 8}]}"#).unwrap();
    let from_file = format!("--from-file={}", data.display());
    let out = kc
        .ok(&[
            "create",
            "configmap",
            "inferno-dynamic-data",
            "-n",
            "infer",
            &from_file,
        ])
        .await;
    assert_eq!(out.trim(), "configmap/inferno-dynamic-data created");
    let cm = k
        .store()
        .get(&CONFIGMAPS, "infer", "inferno-dynamic-data")
        .unwrap();
    assert!(cm["data"]["capacity-data.json"]
        .as_str()
        .unwrap()
        .contains("H100"));
    let jp = kc
        .ok(&[
            "get",
            "cm",
            "inferno-dynamic-data",
            "-n",
            "infer",
            "-o",
            "jsonpath={.metadata.namespace}",
        ])
        .await;
    assert_eq!(jp, "infer");

    // delete: the Deployment with its ReplicaSets and pods; then the namespace.
    let out = kc.ok(&["delete", "-f", &sample("dep3.yaml")]).await;
    assert_eq!(out.trim(), "deployment.apps \"free-mixtral-8-7b\" deleted");
    eventually("free-mixtral pods terminated", || {
        (count(k, &PODS, "app=free-mixtral-8-7b") == 0).then_some(())
    })
    .await;
    let missing = kc
        .run(&["get", "deploy", "free-mixtral-8-7b", "-n", "infer"])
        .await;
    assert!(!missing.ok, "{missing:?}");
    assert!(
        missing
            .stderr
            .contains("deployments.apps \"free-mixtral-8-7b\" not found"),
        "{missing:?}"
    );
    let out = kc.ok(&["delete", "ns", "infer"]).await;
    assert_eq!(out.trim(), "namespace \"infer\" deleted");
    assert_eq!(count(k, &DEPLOYMENTS, ""), 0);
    let empty = kc.run(&["get", "deploy", "-A", "-o", "json"]).await.json();
    assert_eq!(empty["items"], serde_json::json!([]));
}
