//! The real kubectl against kubesim: every manifest is applied with `--dry-run=server`, then
//! for real, read back and compared field by field, then applied again (unchanged); the
//! directory deploy/inferno applies with `apply -f`; the real `kubectl kustomize` renders the
//! base and each overlay (checked with the crate's checks and against the files), which apply
//! with `apply -k`; and the seed README's workflow runs command by command.
//! kubectl comes from $KUBECTL or the PATH; with CI=true a missing kubectl fails the test,
//! otherwise it is skipped with a message.

use super::common::{root, TempDir};
use inferno_core::contract;
use inferno_manifests::contract::{
    labels, BASE_DIR, DATA_CONFIGMAPS, DATA_FILES, DATA_KUSTOMIZATION, IMAGE_PREFIX,
    MANAGED_BY_FILES, MANAGED_BY_KUSTOMIZE, MANIFEST_DIRS, OVERLAYS, OVERLAYS_DIR, SERVICES,
    TOKEN_MOUNT_PATH, TOKEN_VOLUME, WATCH_NAMESPACE_ENV,
};
use inferno_manifests::{layout, manifest, network, pods, rbac, schema, Object, Problem};
use inferno_testkit::kubectl::Kubectl;
use inferno_testkit::wait;
use serde_json::{json, Value};
use std::collections::BTreeSet;
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

/// The manifest files of the [`MANIFEST_DIRS`]: namespaces first (as they must be applied), then
/// the rest by name.
fn manifest_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = MANIFEST_DIRS
        .iter()
        .flat_map(|d| manifest::yaml_files(&root().join(d)).unwrap())
        .collect();
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
    let mut all: Vec<String> = MANIFEST_DIRS
        .iter()
        .flat_map(|d| manifest::load_dir(&root().join(d)).unwrap())
        .map(|o| o.id())
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

/// The objects of the YAML files of `dir` (relative to the root), in the order kubectl reads
/// the directory (file names sorted).
fn directory_objects(dir: &str) -> Vec<Object> {
    manifest::yaml_files(&root().join(dir))
        .unwrap()
        .iter()
        .flat_map(|f| manifest::load_file(f).unwrap())
        .collect()
}

/// docs/deploy.md's shorter walkthrough: the namespace, the ConfigMaps with `kubectl apply -k
/// samples/large`, then `kubectl apply -f deploy/inferno/`: kubectl reads the directory's .yaml
/// files (and skips the base's `Kustomization`). The namespace first, as on a real cluster (a
/// server-side dry run needs it, and kubectl reads deploy.yaml before ns.yaml); then a
/// server-side dry run, the apply, and the same apply again, unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_inferno_applies_as_a_directory() {
    let Some(s) = session(&root()).await else {
        return;
    };
    let kc = &s.kubectl;
    let objects = directory_objects(BASE_DIR);
    assert!(objects.len() >= 8, "{objects:?}");
    let expect = |created: &str, namespace: &str| -> Vec<String> {
        objects
            .iter()
            .map(|o| {
                let verb = if o.kind() == "Namespace" {
                    namespace
                } else {
                    created
                };
                format!("{} {verb}", printed(o))
            })
            .collect()
    };
    let dir = format!("{BASE_DIR}/");
    kc.ok(&["apply", "-f", &format!("{BASE_DIR}/ns.yaml")])
        .await;
    let out = kc.ok(&["apply", "-k", DATA_KUSTOMIZATION]).await;
    let want: Vec<String> = [contract::DYNAMIC_CONFIGMAP, contract::STATIC_CONFIGMAP]
        .iter()
        .map(|cm| format!("configmap/{cm} created"))
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want, "{out}");
    let out = kc.ok(&["apply", "-f", &dir, "--dry-run=server"]).await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        expect("created (server dry run)", "unchanged (server dry run)"),
        "{out}"
    );
    let out = kc.ok(&["apply", "-f", &dir]).await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        expect("created", "unchanged"),
        "{out}"
    );
    let out = kc.ok(&["apply", "-f", &dir]).await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        expect("unchanged", "unchanged"),
        "{out}"
    );
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
    s.kubesim.shutdown().await.unwrap();
}

/// A directory resource as a kustomization in `dir` names it (kustomize takes no absolute
/// path).
fn resource_path(dir: &Path, target: &Path) -> String {
    let from = dir.canonicalize().unwrap();
    let to = target.canonicalize().unwrap();
    layout::relative(&from, &to).display().to_string()
}

/// `kubectl kustomize DIR`, parsed.
async fn render(kc: &Kubectl, dir: &Path) -> Vec<Object> {
    let out = kc.ok(&["kustomize", &dir.display().to_string()]).await;
    manifest::parse(&out, &dir.join("(rendered)")).unwrap()
}

/// The object `kind` `name` of a rendering.
fn find<'a>(objects: &'a [Object], kind: &str, name: &str) -> &'a Object {
    objects
        .iter()
        .find(|o| o.kind() == kind && o.name() == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The container `name` of a Deployment's value, to change.
fn container<'a>(deployment: &'a mut Value, name: &str) -> &'a mut Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["name"] == name)
        .unwrap()
}

/// Every problem the crate's checks find in a rendering: each object's schema, the inferno pod,
/// its Services, the NetworkPolicy, the RBAC rights (of the roles it holds) and their scope, the
/// standard labels (managed by kustomize), and objects defined twice.
fn problems_of(objects: &[Object], version: &str) -> Vec<String> {
    let mut out: Vec<Problem> = objects.iter().flat_map(schema::check).collect();
    out.extend(pods::check_inferno(objects));
    out.extend(pods::check_metrics(objects));
    out.extend(network::check_network_policy(objects));
    out.extend(rbac::check_watch_scope(objects));
    // Roles of other renderings are missing here, and none is in its file any more.
    out.extend(
        rbac::check_rbac(objects)
            .into_iter()
            .filter(|p| p.message != "missing" && !p.message.starts_with("expected in ")),
    );
    out.extend(layout::check_standard_labels(
        objects,
        MANAGED_BY_KUSTOMIZE,
        Some(version),
    ));
    let mut seen = BTreeSet::new();
    for o in objects {
        if !seen.insert(o.id()) {
            out.push(Problem::new(&o.file, o.id(), "defined twice"));
        }
    }
    out.iter().map(ToString::to_string).collect()
}

/// The version label's value: the images' tag (which the static checks tie to the packages'
/// version).
fn version() -> String {
    let files = directory_objects(BASE_DIR);
    let image = find(&files, "Deployment", "inferno").value["spec"]["template"]["spec"]
        ["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string();
    image.rsplit_once(':').unwrap().1.to_string()
}

/// The base's objects as the files have them: kustomize sets managed-by, and nothing else.
fn as_written(o: &Object) -> Value {
    let mut v = o.value.clone();
    for at in ["/metadata/labels", "/spec/template/metadata/labels"] {
        if let Some(l) = v.pointer_mut(at).and_then(Value::as_object_mut) {
            assert_eq!(l[labels::MANAGED_BY], MANAGED_BY_KUSTOMIZE, "{}", o.id());
            l.insert(labels::MANAGED_BY.into(), MANAGED_BY_FILES.into());
        }
    }
    v
}

/// The real `kubectl kustomize` on the base and on each overlay: every rendering passes the
/// crate's checks (standard labels with managed-by kustomize on every object and pod template,
/// nothing defined twice); the base is the files of deploy/inferno plus the two generated
/// ConfigMaps (their own names, the sample data as keys); each overlay is the base with its
/// change, and only that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_base_and_every_overlay_render() {
    let Some(s) = session(&root()).await else {
        return;
    };
    let kc = &s.kubectl;
    let files = directory_objects(BASE_DIR);
    let version = version();
    let base = render(kc, &root().join(BASE_DIR)).await;
    let problems = problems_of(&base, &version);
    assert!(problems.is_empty(), "base: {problems:#?}");
    // The files' objects, as written but for managed-by, and the ConfigMaps.
    let mut want: Vec<String> = files.iter().map(Object::id).collect();
    want.extend(
        DATA_CONFIGMAPS
            .iter()
            .map(|cm| format!("ConfigMap inferno/{cm}")),
    );
    let mut got: Vec<String> = base.iter().map(Object::id).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    for f in &files {
        let r = find(&base, f.kind(), f.name());
        assert_eq!(as_written(r), f.value, "{}", f.id());
    }
    let data = root().join(DATA_KUSTOMIZATION);
    for (cm, keys) in DATA_FILES {
        let o = find(&base, "ConfigMap", cm);
        let have: Vec<&String> = o.value["data"].as_object().unwrap().keys().collect();
        let mut keys: Vec<&str> = keys.to_vec();
        keys.sort();
        assert_eq!(have, keys, "{cm}");
        for k in keys {
            let text = std::fs::read_to_string(data.join(k)).unwrap();
            assert_eq!(o.value["data"][k], text.as_str(), "{cm} {k}");
        }
    }
    // The projected volume names them as they are (no hash suffix to rewrite).
    let dep = find(&base, "Deployment", "inferno");
    let sources =
        dep.value["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"].to_string();
    assert!(
        DATA_CONFIGMAPS
            .iter()
            .all(|cm| sources.contains(&format!("\"{cm}\""))),
        "{sources}"
    );

    let overlays = root().join(OVERLAYS_DIR);
    let mut rendered = Vec::new();
    for name in OVERLAYS {
        let dir = overlays.join(name);
        let objects = render(kc, &dir).await;
        let problems = problems_of(&objects, &version);
        assert!(problems.is_empty(), "{name}: {problems:#?}");
        // The Deployment the overlay should make of the base's.
        let mut deployment = find(&base, "Deployment", "inferno").value.clone();
        // Objects of the overlay's own files, labelled by kustomize.
        let mut added: Vec<String> = Vec::new();
        let mut removed: Vec<String> = Vec::new();
        match name {
            "recommend" => container(&mut deployment, "actuator")["env"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "INFERNO_ACTUATOR_MODE", "value": "recommend"})),
            "dry-run" => container(&mut deployment, "controller")["env"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "INFERNO_DRY_RUN", "value": "true"})),
            "ha" => {
                deployment["spec"]["replicas"] = 2.into();
                deployment["spec"]["strategy"] = json!({"type": "Recreate"});
                deployment["spec"]["template"]["spec"]["affinity"] = json!({
                    "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app": "inferno"}}
                        }
                    }]}
                });
                let c = container(&mut deployment, "controller");
                c["env"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "INFERNO_LEADER_ELECT", "value": "true"}));
                c["volumeMounts"].as_array_mut().unwrap().push(json!({
                    "name": TOKEN_VOLUME, "mountPath": TOKEN_MOUNT_PATH, "readOnly": true
                }));
                added.extend([
                    "Role inferno/inferno-leader-election".to_string(),
                    "RoleBinding inferno/inferno-leader-election".to_string(),
                ]);
            }
            "namespaced" => {
                for c in ["collector", "actuator"] {
                    container(&mut deployment, c)["env"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"name": WATCH_NAMESPACE_ENV, "value": "infer"}));
                }
                added.extend([
                    "Role infer/inferno".to_string(),
                    "RoleBinding infer/inferno".to_string(),
                ]);
                removed.push("ClusterRoleBinding inferno".to_string());
            }
            other => panic!("overlay {other}: say what it changes here"),
        }
        assert_eq!(
            find(&objects, "Deployment", "inferno").value,
            deployment,
            "{name}: the Deployment is the base's with the overlay's change, nothing else"
        );
        // Every other object of the base is there unchanged, but those it removes.
        for o in &base {
            let id = o.id();
            if o.kind() == "Deployment" {
                continue;
            }
            match objects.iter().find(|x| x.id() == id) {
                Some(x) => assert_eq!(x.value, o.value, "{name}: {id} changed"),
                None => assert!(removed.contains(&id), "{name}: {id} missing"),
            }
        }
        for id in &removed {
            assert!(
                objects.iter().all(|x| &x.id() != id),
                "{name}: {id} still there"
            );
        }
        // What it adds is its own files' objects (managed-by aside).
        let own = directory_objects(&format!("{OVERLAYS_DIR}/{name}"));
        let mut extra: Vec<String> = objects
            .iter()
            .filter(|x| !base.iter().any(|o| o.id() == x.id()))
            .map(Object::id)
            .collect();
        extra.sort();
        added.sort();
        assert_eq!(extra, added, "{name}");
        for o in &own {
            assert_eq!(
                as_written(find(&objects, o.kind(), o.name())),
                o.value,
                "{name}: {}",
                o.id()
            );
        }
        rendered.push(name);
    }
    assert_eq!(rendered, OVERLAYS);
    s.kubesim.shutdown().await.unwrap();
}

/// `kubectl apply -k deploy/inferno` on an empty cluster creates everything in one go
/// (kustomize puts the Namespace first), ConfigMaps included, and the pod comes up; again, it
/// changes nothing. Then each overlay over it (server-side dry run: configured, what it
/// changes) and on a cluster of its own, for real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_base_and_every_overlay_apply_with_kubectl_apply_k() {
    let Some(s) = session(&root()).await else {
        return;
    };
    let kc = &s.kubectl;
    let base = render(kc, &root().join(BASE_DIR)).await;
    let out = kc.ok(&["apply", "-k", BASE_DIR]).await;
    let want: Vec<String> = base
        .iter()
        .map(|o| format!("{} created", printed(o)))
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want, "{out}");
    let out = kc.ok(&["apply", "-k", BASE_DIR]).await;
    assert!(out.lines().all(|l| l.ends_with(" unchanged")), "{out}");
    // The data as the controller reads it from the mounted ConfigMaps.
    for (cm, keys) in DATA_FILES {
        let v = kc
            .json(&["get", "configmap", cm, "-n", "inferno", "-o", "json"])
            .await;
        for k in keys {
            let text = std::fs::read_to_string(root().join(DATA_KUSTOMIZATION).join(k)).unwrap();
            assert_eq!(v["data"][k], text.as_str(), "{cm} {k}");
        }
    }
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
    // Over the base: the overlay changes the Deployment (and adds its own objects).
    for name in OVERLAYS {
        let dir = format!("{OVERLAYS_DIR}/{name}");
        if name == "namespaced" {
            kc.ok(&["apply", "-f", "deploy/samples/ns.yaml"]).await;
        }
        let out = kc.ok(&["apply", "-k", &dir, "--dry-run=server"]).await;
        assert!(
            out.contains("deployment.apps/inferno configured (server dry run)"),
            "{name}: {out}"
        );
    }
    s.kubesim.shutdown().await.unwrap();
    for name in OVERLAYS {
        let Some(s) = session(&root()).await else {
            return;
        };
        let kc = &s.kubectl;
        if name == "namespaced" {
            // Its Role is in the samples' namespace.
            kc.ok(&["apply", "-f", "deploy/samples/ns.yaml"]).await;
        }
        let dir = format!("{OVERLAYS_DIR}/{name}");
        let objects = render(kc, &root().join(&dir)).await;
        let out = kc.ok(&["apply", "-k", &dir]).await;
        let want: Vec<String> = objects
            .iter()
            .map(|o| format!("{} created", printed(o)))
            .collect();
        assert_eq!(out.lines().collect::<Vec<_>>(), want, "{name}: {out}");
        let dep = kc
            .json(&[
                "get",
                "deployment",
                "inferno",
                "-n",
                "inferno",
                "-o",
                "json",
            ])
            .await;
        let env = |c: usize| dep["spec"]["template"]["spec"]["containers"][c]["env"].to_string();
        match name {
            "recommend" => assert!(env(3).contains("INFERNO_ACTUATOR_MODE"), "{dep}"),
            "dry-run" => assert!(env(0).contains("INFERNO_DRY_RUN"), "{dep}"),
            "ha" => {
                assert!(env(0).contains("INFERNO_LEADER_ELECT"), "{dep}");
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
                let pods = kc
                    .ok(&[
                        "get",
                        "pods",
                        "-n",
                        "inferno",
                        "-l",
                        "app=inferno",
                        "-o",
                        "name",
                    ])
                    .await;
                assert_eq!(pods.lines().count(), 2, "{pods}");
            }
            "namespaced" => {
                assert!(env(1).contains(WATCH_NAMESPACE_ENV), "{dep}");
                let out = kc.run(&["get", "clusterrolebinding", "inferno"]).await;
                assert!(!out.ok && out.stderr.contains("NotFound"), "{out:?}");
            }
            other => panic!("overlay {other}: say what to look for"),
        }
        s.kubesim.shutdown().await.unwrap();
    }
}

/// docs/deploy.md, "Your own data" and "Images by digest": an overlay of your own, outside the
/// repository, with the base as a resource, replaces the data ConfigMaps with its own files
/// (same names, same labels: the projected volume still finds them) and runs every image from a
/// registry by digest (kustomize's `images` with newName and digest); the base keeps tags.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlay_of_your_own_replaces_the_data_and_pins_the_images() {
    let Some(s) = session(&root()).await else {
        return;
    };
    let dir = TempDir::new("own-overlay");
    let own = root().join("samples/small");
    for (_, files) in DATA_FILES {
        for f in files.iter() {
            std::fs::copy(own.join(f), dir.path().join(f)).unwrap();
        }
    }
    let base = resource_path(dir.path(), &root().join(BASE_DIR));
    let digest = |i: usize| format!("sha256:{}", format!("{i:x}").repeat(64));
    let mut k = format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - {base}\n\
         configMapGenerator:\n"
    );
    for (cm, files) in DATA_FILES {
        k.push_str(&format!(
            "  - name: {cm}\n    namespace: inferno\n    behavior: replace\n    files:\n"
        ));
        for f in files.iter() {
            k.push_str(&format!("      - {f}\n"));
        }
    }
    k.push_str("images:\n");
    for (i, svc) in SERVICES.iter().enumerate() {
        k.push_str(&format!(
            "  - name: {IMAGE_PREFIX}{0}\n    newName: registry.example.com/inferno/{0}\n    digest: {1}\n",
            svc.image,
            digest(i + 1)
        ));
    }
    std::fs::write(dir.path().join("kustomization.yaml"), k).unwrap();
    let objects = render(&s.kubectl, dir.path()).await;
    let dep = find(&objects, "Deployment", "inferno");
    let got: Vec<&str> = dep.value["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["image"].as_str().unwrap())
        .collect();
    let want: Vec<String> = SERVICES
        .iter()
        .enumerate()
        .map(|(i, svc)| {
            format!(
                "registry.example.com/inferno/{}@{}",
                svc.image,
                digest(i + 1)
            )
        })
        .collect();
    assert_eq!(got, want);
    for (cm, files) in DATA_FILES {
        let o = find(&objects, "ConfigMap", cm);
        assert_eq!(
            o.value["metadata"]["labels"][labels::COMPONENT],
            "data",
            "{cm}"
        );
        for f in files.iter() {
            let text = std::fs::read_to_string(own.join(f)).unwrap();
            assert_eq!(o.value["data"][f], text.as_str(), "{cm} {f}");
        }
    }
    assert_eq!(
        objects.iter().filter(|o| o.kind() == "ConfigMap").count(),
        DATA_FILES.len()
    );
    // Everything else as the checks want it (they expect the images as `make images` tags them).
    let mut problems = problems_of(&objects, &version());
    problems.retain(|p| !p.contains(": image must be inferno/"));
    assert!(problems.is_empty(), "{problems:#?}");
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
        [
            "deployment.apps/inferno created",
            "service/inferno created",
            "service/inferno-metrics created"
        ]
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
    // kubectl apply -f ../optional/load-emulator.yaml; the pod exists.
    let out = kc
        .ok(&["apply", "-f", "../optional/load-emulator.yaml"])
        .await;
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
        &["delete", "-f", "../optional/load-emulator.yaml"][..],
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

/// docs/deploy.md, "RBAC": Inferno confined to some namespaces, without kustomize, from the
/// repository root. The ServiceAccount of sa.yaml without its cluster-wide binding, the
/// namespaced overlay's rbac-namespaced.yaml in `infer` as written and, through the documented
/// `sed`, in another namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namespaced_rbac_applies_per_namespace() {
    let Some(s) = session(&root()).await else {
        return;
    };
    const RBAC: &str = "deploy/overlays/namespaced/rbac-namespaced.yaml";
    let kc = &s.kubectl;
    kc.ok(&["apply", "-f", "deploy/inferno/ns.yaml"]).await;
    kc.ok(&["apply", "-f", "deploy/samples/ns.yaml"]).await;
    kc.ok(&["create", "namespace", "prod"]).await;
    kc.ok(&["apply", "-f", "deploy/inferno/sa.yaml"]).await;
    let out = kc.ok(&["delete", "clusterrolebinding", "inferno"]).await;
    assert_eq!(
        out.trim(),
        "clusterrolebinding.rbac.authorization.k8s.io \"inferno\" deleted"
    );
    let out = kc.ok(&["apply", "-f", RBAC]).await;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "role.rbac.authorization.k8s.io/inferno created",
            "rolebinding.rbac.authorization.k8s.io/inferno created"
        ]
    );
    // sed 's/namespace: infer$/namespace: prod/' RBAC | kubectl apply -f -
    let sed = Command::new("sed")
        .current_dir(root())
        .args(["s/namespace: infer$/namespace: prod/", RBAC])
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
