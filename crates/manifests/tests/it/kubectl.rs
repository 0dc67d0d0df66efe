//! The real kubectl against kubesim: every manifest is applied with `--dry-run=server`, then
//! for real, read back and compared field by field, then applied again (unchanged); the
//! kustomization builds and applies; and the seed README's workflow runs command by command.
//! kubectl comes from $KUBECTL or the PATH; with CI=true a missing kubectl fails the test,
//! otherwise it is skipped with a message.

use super::common::{root, TempDir};
use inferno_manifests::{manifest, Object};
use inferno_testkit::kubectl::Kubectl;
use inferno_testkit::wait;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The longest one kubectl command may take.
const COMMAND_BOUND: Duration = Duration::from_secs(30);

struct Session {
    kubesim: kubesim::Kubesim,
    kubectl: Kubectl,
    _dir: TempDir,
}

async fn session(cwd: &Path) -> Option<Session> {
    let bin = inferno_testkit::tools::kubectl()?;
    let kubesim = kubesim::start(
        "127.0.0.1:0".parse().unwrap(),
        // Cluster time 100 times faster than the wall clock: pods are ready after 0.2 s and a
        // deleted pod (nothing here plays its container, which would exit on SIGTERM) goes
        // after its 30 s grace period in 0.3 s, so `kubectl delete` does not wait 30 s.
        kubesim::Config {
            pod_ready_delay: Duration::from_secs(20),
            time_scale: 100.0,
            ..kubesim::Config::default()
        },
    )
    .await
    .expect("kubesim starts");
    let dir = TempDir::new("kubectl");
    let kubeconfig = dir.path().join("kubeconfig");
    kubesim.write_kubeconfig(&kubeconfig).unwrap();
    // Every command in `cwd`, killed if it outlives COMMAND_BOUND; `ok` also wants nothing on
    // stderr (no warning either).
    let kubectl = Kubectl::new(bin, kubeconfig)
        .cache_dir(dir.path().join("cache"))
        .current_dir(cwd.to_path_buf())
        .bound(COMMAND_BOUND)
        .quiet();
    Some(Session {
        kubesim,
        kubectl,
        _dir: dir,
    })
}

/// `kind.group/name` as kubectl prints it (`deployment.apps/inferno`, `namespace/infer`).
fn printed(o: &Object) -> String {
    let kind = o.kind().to_ascii_lowercase();
    match o.api_version().rsplit_once('/') {
        Some((group, _)) => format!("{kind}.{group}/{}", o.name()),
        None => format!("{kind}/{}", o.name()),
    }
}

/// `kind.group` for `kubectl get`.
fn resource(o: &Object) -> String {
    let kind = o.kind().to_ascii_lowercase();
    match o.api_version().rsplit_once('/') {
        Some((group, _)) => format!("{kind}.{group}"),
        None => kind,
    }
}

/// Every field of `want` is in `have` with the same value (`have` may hold more: defaults,
/// status, kubectl's annotation). Returns the paths that differ.
fn subset(want: &Value, have: &Value, path: &str, out: &mut Vec<String>) {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            for (k, v) in w {
                match h.get(k) {
                    Some(hv) => subset(v, hv, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}: missing")),
                }
            }
        }
        (Value::Array(w), Value::Array(h)) if w.len() == h.len() => {
            for (i, (wv, hv)) in w.iter().zip(h).enumerate() {
                subset(wv, hv, &format!("{path}[{i}]"), out);
            }
        }
        (w, h) if w == h => {}
        (w, h) => out.push(format!("{path}: {w} became {h}")),
    }
}

/// The manifest files: namespaces first (as they must be applied), then the rest by name.
fn manifest_files() -> Vec<PathBuf> {
    let mut files = manifest::yaml_files(&root().join("deploy")).unwrap();
    files.retain(|f| manifest::is_manifest(&std::fs::read_to_string(f).unwrap()));
    files.sort_by_key(|f| (!f.ends_with("ns.yaml"), f.clone()));
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_manifest_applies_to_kubesim() {
    let Some(s) = session(&root()).await else {
        return;
    };
    let kc = &s.kubectl;
    let mut applied = Vec::new();
    for file in manifest_files() {
        let objects = manifest::load_file(&file).unwrap();
        let f = file.display().to_string();
        // The server validates without storing anything.
        let out = kc.ok(&["apply", "--dry-run=server", "-f", &f]).await;
        let want: Vec<String> = objects
            .iter()
            .map(|o| format!("{} created (server dry run)", printed(o)))
            .collect();
        assert_eq!(out.lines().collect::<Vec<_>>(), want, "{f}");
        for o in &objects {
            let mut args = vec!["get".to_string(), resource(o), o.name().to_string()];
            if let Some(ns) = o.namespace() {
                args.extend(["-n".to_string(), ns.to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = kc.run(&args).await;
            assert!(
                !out.ok && out.stderr.contains("NotFound"),
                "dry run stored {}: {out:?}",
                o.id()
            );
        }
        // Applied for real: created, read back with every field as written.
        let out = kc.ok(&["apply", "-f", &f]).await;
        let want: Vec<String> = objects
            .iter()
            .map(|o| format!("{} created", printed(o)))
            .collect();
        assert_eq!(out.lines().collect::<Vec<_>>(), want, "{f}");
        for o in &objects {
            let mut args = vec![
                "get".to_string(),
                resource(o),
                o.name().to_string(),
                "-o".into(),
                "json".into(),
            ];
            if let Some(ns) = o.namespace() {
                args.extend(["-n".to_string(), ns.to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let stored = kc.json(&args).await;
            let mut diff = Vec::new();
            subset(&o.value, &stored, "", &mut diff);
            assert!(diff.is_empty(), "{} read back differs: {diff:#?}", o.id());
            assert!(
                stored["metadata"]["annotations"]
                    ["kubectl.kubernetes.io/last-applied-configuration"]
                    .is_string(),
                "{}",
                o.id()
            );
        }
        // Applying again changes nothing.
        let out = kc.ok(&["apply", "-f", &f]).await;
        let want: Vec<String> = objects
            .iter()
            .map(|o| format!("{} unchanged", printed(o)))
            .collect();
        assert_eq!(out.lines().collect::<Vec<_>>(), want, "{f}");
        applied.extend(objects);
    }
    let mut all: Vec<String> = manifest::load_dir(&root().join("deploy"))
        .unwrap()
        .iter()
        .map(Object::id)
        .collect();
    let mut applied: Vec<String> = applied.iter().map(Object::id).collect();
    all.sort();
    applied.sort();
    assert_eq!(applied, all);
    // Pods come up for every Deployment (kubesim's Deployment controller), the inferno pod with
    // the four containers of `kubectl logs -c`.
    let pods = kc
        .json(&[
            "get",
            "pods",
            "-n",
            "inferno",
            "-l",
            "app=inferno",
            "-o",
            "json",
        ])
        .await;
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{pods}");
    let names: Vec<&str> = items[0]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["controller", "collector", "optimizer", "actuator"]);
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
    s.kubesim.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kustomization_builds_and_applies() {
    let Some(s) = session(&root().join("deploy/inferno")).await else {
        return;
    };
    let kc = &s.kubectl;
    // kubectl's built-in kustomize renders exactly ns.yaml, sa.yaml and deploy.yaml.
    let rendered = kc.ok(&["kustomize", "."]).await;
    let mut got: Vec<String> = manifest::parse(&rendered, Path::new("kustomize"))
        .unwrap()
        .iter()
        .map(Object::id)
        .collect();
    let mut want = Vec::new();
    for f in inferno_manifests::contract::KUSTOMIZE_REQUIRED {
        let file = root().join("deploy/inferno").join(f);
        want.extend(manifest::load_file(&file).unwrap().iter().map(Object::id));
    }
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // As on a real cluster, a server-side dry run needs the namespace to exist.
    kc.ok(&["apply", "-f", "ns.yaml"]).await;
    let out = kc.ok(&["apply", "-k", ".", "--dry-run=server"]).await;
    assert_eq!(out.lines().count(), want.len(), "{out}");
    assert!(
        out.lines().all(|l| l.ends_with("created (server dry run)")
            || l == "namespace/inferno unchanged (server dry run)"),
        "{out}"
    );
    let out = kc.ok(&["apply", "-k", "."]).await;
    assert_eq!(
        out.lines().filter(|l| l.ends_with(" created")).count(),
        want.len() - 1,
        "{out}"
    );
    assert!(out.contains("deployment.apps/inferno created"), "{out}");
    s.kubesim.shutdown().await.unwrap();
}

/// The seed README's "Running" section, command by command, with our paths: from
/// `deploy/samples`, then from `deploy/inferno`, with the data of `samples/large`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_workflow_runs_against_kubesim() {
    let Some(mut s) = session(&root().join("deploy/samples")).await else {
        return;
    };
    // cd deploy/samples; kubectl apply -f ns.yaml; kubectl apply -f dep1.yaml,dep2.yaml,dep3.yaml
    assert_eq!(
        s.kubectl.ok(&["apply", "-f", "ns.yaml"]).await.trim(),
        "namespace/infer created"
    );
    let out = s
        .kubectl
        .ok(&["apply", "-f", "dep1.yaml,dep2.yaml,dep3.yaml"])
        .await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "deployment.apps/premium-llama-13b created",
            "deployment.apps/bronze-granite-13b created",
            "deployment.apps/free-mixtral-8-7b created"
        ]
    );
    // cd deploy/inferno; kubectl apply -f ns.yaml
    s.kubectl.cd(root().join("deploy/inferno"));
    let kc = &s.kubectl;
    assert_eq!(
        kc.ok(&["apply", "-f", "ns.yaml"]).await.trim(),
        "namespace/inferno created"
    );
    // The ConfigMaps, from the sample data.
    let data = root().join("samples/large");
    let file = |f: &str| format!("--from-file={}", data.join(f).display());
    let out = kc
        .ok(&[
            "create",
            "configmap",
            "inferno-static-data",
            "-n",
            "inferno",
            &file("accelerator-data.json"),
            &file("model-data.json"),
            &file("serviceclass-data.json"),
            &file("optimizer-data.json"),
        ])
        .await;
    assert_eq!(out.trim(), "configmap/inferno-static-data created");
    let out = kc
        .ok(&[
            "create",
            "configmap",
            "inferno-dynamic-data",
            "-n",
            "inferno",
            &file("capacity-data.json"),
        ])
        .await;
    assert_eq!(out.trim(), "configmap/inferno-dynamic-data created");
    // What the projected volume will hold at /etc/data: the files the controller reads.
    let mut keys = Vec::new();
    for cm in ["inferno-static-data", "inferno-dynamic-data"] {
        let v = kc
            .json(&["get", "configmap", cm, "-n", "inferno", "-o", "json"])
            .await;
        for (k, text) in v["data"].as_object().unwrap() {
            let expected = std::fs::read_to_string(data.join(k)).unwrap();
            assert_eq!(text.as_str(), Some(expected.as_str()), "{cm} {k}");
            keys.push(k.clone());
        }
    }
    keys.sort();
    assert_eq!(
        keys,
        [
            "accelerator-data.json",
            "capacity-data.json",
            "model-data.json",
            "optimizer-data.json",
            "serviceclass-data.json"
        ]
    );
    // kubectl apply -f sa.yaml; kubectl apply -f deploy.yaml
    let out = kc.ok(&["apply", "-f", "sa.yaml"]).await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "serviceaccount/inferno created",
            "clusterrole.rbac.authorization.k8s.io/inferno created",
            "clusterrolebinding.rbac.authorization.k8s.io/inferno created"
        ]
    );
    let out = kc.ok(&["apply", "-f", "deploy.yaml"]).await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["deployment.apps/inferno created", "service/inferno created"]
    );
    // kubectl apply -f networkpolicy.yaml
    let out = kc.ok(&["apply", "-f", "networkpolicy.yaml"]).await;
    assert_eq!(
        out.trim(),
        "networkpolicy.networking.k8s.io/inferno created"
    );
    // POD=$(kubectl get pod -l app=inferno -n inferno -o jsonpath="{.items[0].metadata.name}")
    let pod = wait::until("an inferno pod", Duration::from_secs(20), || async {
        let out = kc
            .run(&[
                "get",
                "pod",
                "-l",
                "app=inferno",
                "-n",
                "inferno",
                "-o",
                "jsonpath={.items[0].metadata.name}",
            ])
            .await;
        let name = out.stdout.trim();
        (out.ok && !name.is_empty()).then(|| name.to_string())
    })
    .await;
    assert!(pod.starts_with("inferno-"), "{pod}");
    // The containers `kubectl logs -f $POD -n inferno -c ...` names (kubesim serves no logs).
    let names = kc
        .ok(&[
            "get",
            "pod",
            &pod,
            "-n",
            "inferno",
            "-o",
            "jsonpath={.spec.containers[*].name}",
        ])
        .await;
    assert_eq!(names.trim(), "controller collector optimizer actuator");
    let out = kc
        .ok(&[
            "wait",
            "--for=condition=Available",
            "deployment/inferno",
            "-n",
            "inferno",
            "--timeout=20s",
        ])
        .await;
    assert!(out.contains("condition met"), "{out}");
    // kubectl apply -f load-emulator.yaml; the pod exists.
    let out = kc.ok(&["apply", "-f", "load-emulator.yaml"]).await;
    assert_eq!(
        out.lines().last(),
        Some("pod/load-emulator created"),
        "{out}"
    );
    let phase = kc
        .ok(&[
            "get",
            "pod",
            "load-emulator",
            "-n",
            "inferno",
            "-o",
            "jsonpath={.spec.serviceAccountName}",
        ])
        .await;
    assert_eq!(phase, "load-emulator");
    // The managed servers, as the collector finds them.
    let out = kc
        .ok(&[
            "get",
            "deploy",
            "-A",
            "-l",
            "inferno.server.managed=true",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "deployment.apps/bronze-granite-13b",
            "deployment.apps/free-mixtral-8-7b",
            "deployment.apps/premium-llama-13b"
        ]
    );
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
    assert_eq!(out.lines().count(), 3, "{out}");
    let pods = kc.ok(&["get", "pods", "-n", "infer", "--no-headers"]).await;
    assert_eq!(pods.lines().count(), 4 + 3 + 3, "{pods}");
    // The Service users port-forward to.
    let port = kc
        .ok(&[
            "get",
            "service",
            "inferno",
            "-n",
            "inferno",
            "-o",
            "jsonpath={.spec.ports[0].port}->{.spec.ports[0].targetPort}",
        ])
        .await;
    assert_eq!(port, "80->http");
    // Cleanup, in the seed's order.
    for args in [
        &["delete", "-f", "load-emulator.yaml"][..],
        &["delete", "-f", "networkpolicy.yaml"],
        &["delete", "-f", "deploy.yaml"],
        &["delete", "-f", "sa.yaml"],
        &[
            "delete",
            "configmap",
            "inferno-static-data",
            "inferno-dynamic-data",
            "-n",
            "inferno",
        ],
        &["delete", "-f", "ns.yaml"],
    ] {
        let out = kc.ok(args).await;
        assert!(
            out.lines().all(|l| l.ends_with(" deleted")),
            "{args:?}: {out}"
        );
    }
    s.kubectl.cd(root().join("deploy/samples"));
    let kc = &s.kubectl;
    let out = kc
        .ok(&["delete", "-f", "dep1.yaml,dep2.yaml,dep3.yaml"])
        .await;
    assert_eq!(out.lines().count(), 3, "{out}");
    let out = kc.ok(&["delete", "-f", "ns.yaml"]).await;
    assert_eq!(out.trim(), "namespace \"infer\" deleted");
    let left = kc.ok(&["get", "deploy", "-A", "-o", "name"]).await;
    assert!(left.trim().is_empty(), "{left}");
    s.kubesim.shutdown().await.unwrap();
}

/// docs/deploy.md, "RBAC": Inferno confined to some namespaces. The ServiceAccount of sa.yaml
/// without its cluster-wide binding, rbac-namespaced.yaml in `infer` as written and, through
/// the documented `sed`, in another namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namespaced_rbac_applies_per_namespace() {
    let Some(s) = session(&root().join("deploy/inferno")).await else {
        return;
    };
    let kc = &s.kubectl;
    kc.ok(&["apply", "-f", "ns.yaml"]).await;
    kc.ok(&["apply", "-f", "../samples/ns.yaml"]).await;
    kc.ok(&["create", "namespace", "prod"]).await;
    kc.ok(&["apply", "-f", "sa.yaml"]).await;
    let out = kc.ok(&["delete", "clusterrolebinding", "inferno"]).await;
    assert_eq!(
        out.trim(),
        "clusterrolebinding.rbac.authorization.k8s.io \"inferno\" deleted"
    );
    let out = kc.ok(&["apply", "-f", "rbac-namespaced.yaml"]).await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "role.rbac.authorization.k8s.io/inferno created",
            "rolebinding.rbac.authorization.k8s.io/inferno created"
        ]
    );
    // sed 's/namespace: infer$/namespace: prod/' rbac-namespaced.yaml | kubectl apply -f -
    let sed = Command::new("sed")
        .current_dir(root().join("deploy/inferno"))
        .args([
            "s/namespace: infer$/namespace: prod/",
            "rbac-namespaced.yaml",
        ])
        .output()
        .expect("sed runs");
    assert!(sed.status.success(), "{sed:?}");
    let out = kc
        .run_with_input(&["apply", "-f", "-"], Some(sed.stdout))
        .await;
    assert!(out.ok && out.stderr.trim().is_empty(), "{out:?}");
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "role.rbac.authorization.k8s.io/inferno created",
            "rolebinding.rbac.authorization.k8s.io/inferno created"
        ]
    );
    // The same rights in both namespaces, bound to the same service account.
    let get = |kind: &'static str, ns: &'static str| async move {
        kc.json(&["get", kind, "inferno", "-n", ns, "-o", "json"])
            .await
    };
    let (infer, prod) = (get("role", "infer").await, get("role", "prod").await);
    assert_eq!(infer["rules"], prod["rules"]);
    let binding = get("rolebinding", "prod").await;
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": "inferno", "namespace": "inferno"}])
    );
    assert_eq!(binding["roleRef"]["kind"], "Role");
    // Nothing cluster-wide is bound any more.
    let left = kc.ok(&["get", "clusterrolebindings", "-o", "name"]).await;
    assert!(
        !left.contains("clusterrolebinding.rbac.authorization.k8s.io/inferno"),
        "{left}"
    );
    s.kubesim.shutdown().await.unwrap();
}
