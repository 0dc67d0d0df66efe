//! The layout of the deployment files, and the standard labels of Inferno's objects.
//!
//! `deploy/inferno` ([`BASE_DIR`]) is the default install: only Kubernetes objects, so that
//! `kubectl apply -f deploy/inferno/` works, and at the same time the kustomize base, through a
//! file named `Kustomization` ([`BASE_KUSTOMIZATION`]) that kubectl's reading of a directory
//! skips (it takes `.json`, `.yaml` and `.yml` files only). One copy of each object. The base
//! lists every YAML file of the directory and the kustomization beside the data
//! ([`DATA_KUSTOMIZATION`]), whose generator makes the two data ConfigMaps under their own names;
//! the overlays ([`OVERLAYS`]) take the base as a resource and patch it. [`Layout`] holds the
//! kustomizations as found, [`check_layout`] compares them with that; [`check_standard_labels`]
//! checks the `app.kubernetes.io/*` labels of objects as written or as kustomize renders them.

use crate::contract::{
    self, labels, BASE_DIR, BASE_FILES, BASE_KUSTOMIZATION, DATA_FILES, DATA_KUSTOMIZATION,
    MANIFEST_DIRS, OTHER_DEPLOY_DIRS, OVERLAYS, OVERLAYS_DIR, SELECTOR,
};
use crate::manifest::{self, Object, KUSTOMIZATION_FILES};
use crate::pods::strings;
use crate::{Problem, Result};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The kustomize side of a checkout, loaded by [`Layout::load`]. Fields are public so that tests
/// can change one thing and check again.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The names of the entries of [`BASE_DIR`] (what `kubectl apply -f` sees there).
    pub base_entries: BTreeSet<String>,
    /// The directories of `deploy/` (relative to the root).
    pub deploy_dirs: BTreeSet<PathBuf>,
    /// The kustomization of each directory that should have one (the base, the data, each
    /// overlay of [`OVERLAYS`] and any other directory of [`OVERLAYS_DIR`]), by directory
    /// relative to the root: its file (relative to the root) and content, or `None`.
    pub kustomizations: BTreeMap<PathBuf, Option<(PathBuf, Value)>>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> crate::Error + '_ {
    move |source| crate::Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Layout {
    /// Reads the entries of the base directory and the kustomizations under `root`.
    pub fn load(root: &Path) -> Result<Self> {
        let mut layout = Self::default();
        let base = root.join(BASE_DIR);
        if base.is_dir() {
            for entry in std::fs::read_dir(&base).map_err(io(&base))? {
                let entry = entry.map_err(io(&base))?;
                layout
                    .base_entries
                    .insert(entry.file_name().to_string_lossy().into_owned());
            }
        }
        let deploy = root.join("deploy");
        if deploy.is_dir() {
            for entry in std::fs::read_dir(&deploy).map_err(io(&deploy))? {
                let path = entry.map_err(io(&deploy))?.path();
                if path.is_dir() {
                    let name = path.file_name().unwrap_or_default();
                    layout.deploy_dirs.insert(Path::new("deploy").join(name));
                }
            }
        }
        let mut dirs: BTreeSet<PathBuf> = [BASE_DIR, DATA_KUSTOMIZATION]
            .iter()
            .map(PathBuf::from)
            .chain(OVERLAYS.iter().map(|o| Path::new(OVERLAYS_DIR).join(o)))
            .collect();
        let overlays = root.join(OVERLAYS_DIR);
        if overlays.is_dir() {
            for entry in std::fs::read_dir(&overlays).map_err(io(&overlays))? {
                let path = entry.map_err(io(&overlays))?.path();
                if path.is_dir() {
                    dirs.insert(Path::new(OVERLAYS_DIR).join(path.file_name().unwrap_or_default()));
                }
            }
        }
        for dir in dirs {
            let found = if root.join(&dir).is_dir() {
                manifest::load_kustomization(&root.join(&dir))?.map(|(file, value)| {
                    let name = file.file_name().unwrap_or_default();
                    (dir.join(name), value)
                })
            } else {
                None
            };
            layout.kustomizations.insert(dir, found);
        }
        Ok(layout)
    }

    /// The kustomization of `dir` (relative to the root), when it has one.
    pub fn kustomization(&self, dir: &str) -> Option<&(PathBuf, Value)> {
        self.kustomizations
            .get(Path::new(dir))
            .and_then(Option::as_ref)
    }
}

/// Fields a kustomization here may use (a misspelt one is ignored by kustomize with a warning
/// at most).
const KNOWN_FIELDS: [&str; 11] = [
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "labels",
    "images",
    "patches",
    "configMapGenerator",
    "generatorOptions",
    "replicas",
    "components",
];

/// The relative path from directory `from` to `to` (both relative to one directory, or both
/// absolute; neither with `..`): what a kustomization in `from` names `to` by.
pub fn relative(from: &Path, to: &Path) -> PathBuf {
    let (f, t): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    out
}

/// Checks of any kustomization: its kind and fields.
fn check_fields(file: &Path, k: &Value, out: &mut Vec<Problem>) {
    if k["apiVersion"] != "kustomize.config.k8s.io/v1beta1" || k["kind"] != "Kustomization" {
        out.push(Problem::new(
            file,
            "",
            "apiVersion/kind must be kustomize.config.k8s.io/v1beta1 Kustomization",
        ));
    }
    for key in k.as_object().into_iter().flatten().map(|(k, _)| k) {
        if !KNOWN_FIELDS.contains(&key.as_str()) {
            out.push(Problem::new(
                file,
                "",
                format!("field {key} is not one this check knows"),
            ));
        }
    }
}

/// The kustomization sets `app.kubernetes.io/managed-by: kustomize` on what it holds, pod
/// templates included and selectors not (a Deployment's selector cannot change).
fn check_managed_by(file: &Path, k: &Value, out: &mut Vec<Problem>) {
    let entries = k["labels"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let ok = entries.iter().any(|l| {
        l["pairs"][labels::MANAGED_BY] == contract::MANAGED_BY_KUSTOMIZE
            && l["includeTemplates"] == true
    });
    if !ok {
        out.push(Problem::new(
            file,
            "labels",
            format!(
                "must set {}: {} with includeTemplates: true (on the objects and pod templates \
                 it holds)",
                labels::MANAGED_BY,
                contract::MANAGED_BY_KUSTOMIZE
            ),
        ));
    }
    if entries.iter().any(|l| l["includeSelectors"] == true) || !k["commonLabels"].is_null() {
        out.push(Problem::new(
            file,
            "labels",
            format!(
                "labels must not reach selectors: the selector of Deployment inferno stays {}={} \
                 (immutable; a change breaks `kubectl apply` over an existing install)",
                SELECTOR.0, SELECTOR.1
            ),
        ));
    }
}

/// Every kustomize problem of the layout: see the module's documentation. `other_files` are the
/// YAML files under `deploy/` that hold no object (relative to the root).
pub fn check_layout(root: &Path, layout: &Layout, other_files: &[PathBuf]) -> Vec<Problem> {
    let mut out = Vec::new();
    let base_dir = Path::new(BASE_DIR);
    // What `kubectl apply -f deploy/inferno/` reads: .json, .yaml and .yml files, each of them
    // Kubernetes objects.
    for name in &layout.base_entries {
        let file = base_dir.join(name);
        if KUSTOMIZATION_FILES.contains(&name.as_str()) && name != BASE_KUSTOMIZATION {
            out.push(Problem::new(
                &file,
                "",
                format!(
                    "`kubectl apply -f {BASE_DIR}/` would read it as an object and fail: name \
                     the base's kustomization {BASE_KUSTOMIZATION}, which kubectl skips"
                ),
            ));
        } else if name.ends_with(".json") {
            out.push(Problem::new(
                &file,
                "",
                format!("`kubectl apply -f {BASE_DIR}/` reads it: only manifests belong here"),
            ));
        }
    }
    for f in other_files.iter().filter(|f| f.parent() == Some(base_dir)) {
        out.push(Problem::new(
            f,
            "",
            format!(
                "holds no Kubernetes object, and `kubectl apply -f {BASE_DIR}/` fails on it: \
                 program data belongs elsewhere (samples/)"
            ),
        ));
    }
    for dir in &layout.deploy_dirs {
        let known = MANIFEST_DIRS
            .iter()
            .chain(OTHER_DEPLOY_DIRS.iter().map(|(d, _)| d))
            .any(|d| dir == Path::new(d));
        if !known {
            out.push(Problem::new(
                dir,
                "",
                "no check reads it: add it to contract::MANIFEST_DIRS (or OTHER_DEPLOY_DIRS, \
                 saying what checks it)",
            ));
        }
    }
    out.extend(check_base(root, layout, other_files));
    out.extend(check_data(root, layout));
    for (dir, found) in &layout.kustomizations {
        if !dir.starts_with(OVERLAYS_DIR) {
            continue;
        }
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        if !OVERLAYS.contains(&name.as_ref()) {
            out.push(Problem::new(
                dir,
                "",
                "not in contract::OVERLAYS: the tests render and apply only those",
            ));
        }
        match found {
            None => out.push(Problem::new(dir, "", "missing: no kustomization.yaml")),
            Some((file, k)) => out.extend(check_overlay(root, dir, file, k)),
        }
    }
    out
}

/// The base: named [`BASE_KUSTOMIZATION`], listing exactly the YAML files of its directory and
/// the data kustomization, labelling what it holds as managed by kustomize, images by tag.
fn check_base(root: &Path, layout: &Layout, other_files: &[PathBuf]) -> Vec<Problem> {
    let mut out = Vec::new();
    let base_dir = Path::new(BASE_DIR);
    let Some((file, k)) = layout.kustomization(BASE_DIR) else {
        out.push(Problem::new(
            base_dir.join(BASE_KUSTOMIZATION),
            "",
            format!("missing: `kubectl apply -k {BASE_DIR}` needs the base's kustomization"),
        ));
        return out;
    };
    check_fields(file, k, &mut out);
    check_managed_by(file, k, &mut out);
    let mut report = |m: String| out.push(Problem::new(file, "", m));
    if let Some(ns) = k["namespace"].as_str() {
        if ns != "inferno" {
            report(format!(
                "namespace {ns}: everything of {BASE_DIR} is in inferno"
            ));
        }
    }
    let resources = strings(&k["resources"]);
    let (dirs, files): (Vec<&String>, Vec<&String>) = resources
        .iter()
        .partition(|r| root.join(base_dir).join(r).is_dir());
    let listed: BTreeSet<&str> = files.iter().map(|f| f.as_str()).collect();
    let present: BTreeSet<&str> = layout
        .base_entries
        .iter()
        .map(String::as_str)
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .filter(|n| !KUSTOMIZATION_FILES.contains(n))
        // Program data is reported above, not as a resource to list.
        .filter(|n| !other_files.contains(&base_dir.join(n)))
        .collect();
    for r in listed.difference(&present) {
        report(format!(
            "resource {r} is not a manifest of {BASE_DIR} (kustomize reads files only in or \
             below its directory)"
        ));
    }
    for r in present.difference(&listed) {
        report(format!(
            "resources must list {r}: `kubectl apply -f {BASE_DIR}/` applies it, so `apply -k` \
             must too"
        ));
    }
    for r in BASE_FILES {
        if !present.contains(r) {
            report(format!("{BASE_DIR}/{r} is missing"));
        }
    }
    let data = relative(base_dir, Path::new(DATA_KUSTOMIZATION));
    let data = data.to_string_lossy();
    let dirs: Vec<&str> = dirs.iter().map(|d| d.trim_end_matches('/')).collect();
    if dirs != [data.as_ref()] {
        report(format!(
            "the directory resources must be {data} (the data ConfigMaps) only, are {dirs:?}"
        ));
    }
    for img in k["images"].as_array().into_iter().flatten() {
        if !img["digest"].is_null() {
            report(format!(
                "images: {} pinned by digest in the base: keep tags here, pin in an overlay",
                img["name"]
            ));
        }
    }
    out
}

/// The data kustomization: the two ConfigMaps with exactly [`DATA_FILES`], in namespace
/// inferno, under their own names (no hash suffix) and with the standard labels.
fn check_data(root: &Path, layout: &Layout) -> Vec<Problem> {
    let mut out = Vec::new();
    let dir = Path::new(DATA_KUSTOMIZATION);
    let Some((file, k)) = layout.kustomization(DATA_KUSTOMIZATION) else {
        out.push(Problem::new(
            dir.join("kustomization.yaml"),
            "",
            "missing: the base generates the data ConfigMaps with it",
        ));
        return out;
    };
    check_fields(file, k, &mut out);
    let mut report = |place: &str, m: String| out.push(Problem::new(file, place, m));
    if k["namespace"] != "inferno" {
        report(
            "namespace",
            "must be inferno (the ConfigMaps are mounted by the inferno pod)".into(),
        );
    }
    let options = &k["generatorOptions"];
    let mut generated = BTreeMap::new();
    for g in k["configMapGenerator"].as_array().into_iter().flatten() {
        let name = g["name"].as_str().unwrap_or("").to_string();
        let place = format!("configMapGenerator {name}");
        if options["disableNameSuffixHash"] != true && g["options"]["disableNameSuffixHash"] != true
        {
            report(
                &place,
                "needs disableNameSuffixHash: true: the ConfigMaps' names are a contract (read \
                 by name through the API, granted by name in rbac-configmaps.yaml) and the \
                 capacity is updated in place"
                    .into(),
            );
        }
        let mut pairs: BTreeMap<String, Value> = BTreeMap::new();
        for source in [&options["labels"], &g["options"]["labels"]] {
            for (key, v) in source.as_object().into_iter().flatten() {
                pairs.insert(key.clone(), v.clone());
            }
        }
        let labelled = serde_json::json!({
            "kind": "ConfigMap",
            "metadata": {"name": name, "labels": pairs},
        });
        let object = Object {
            file: file.clone(),
            index: 0,
            value: labelled,
        };
        for p in check_standard_labels([&object], contract::MANAGED_BY_KUSTOMIZE, None) {
            report(&place, p.message);
        }
        let files: BTreeSet<String> = strings(&g["files"]).into_iter().collect();
        for f in &files {
            if !root.join(dir).join(f).is_file() {
                report(&place, format!("file {f} does not exist"));
            }
        }
        generated.insert(name, files);
    }
    let expected: BTreeMap<String, BTreeSet<String>> = DATA_FILES
        .iter()
        .map(|(cm, files)| {
            (
                cm.to_string(),
                files.iter().map(|f| f.to_string()).collect(),
            )
        })
        .collect();
    if generated != expected {
        report(
            "configMapGenerator",
            format!(
                "generates {generated:?}; the controller reads {expected:?} (contract::DATA_FILES)"
            ),
        );
    }
    out
}

/// An overlay: the base as a resource, its other resources files of its own directory, and
/// those labelled as managed by kustomize.
fn check_overlay(root: &Path, dir: &Path, file: &Path, k: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    check_fields(file, k, &mut out);
    let base = relative(dir, Path::new(BASE_DIR));
    let base = base.to_string_lossy();
    let resources = strings(&k["resources"]);
    let mut report = |m: String| out.push(Problem::new(file, "", m));
    if !resources
        .iter()
        .any(|r| r.trim_end_matches('/') == base.as_ref())
    {
        report(format!(
            "resources must include the base, {base}: an overlay patches it, never copies it"
        ));
    }
    let own: Vec<&String> = resources
        .iter()
        .filter(|r| r.trim_end_matches('/') != base.as_ref())
        .collect();
    for r in &own {
        if r.contains("..") || r.contains('/') || !root.join(dir).join(r).is_file() {
            report(format!(
                "resource {r}: besides the base, an overlay's resources are files of its own \
                 directory"
            ));
        }
    }
    if !own.is_empty() {
        check_managed_by(file, k, &mut out);
    }
    out
}

/// The standard labels of each object (and of its pod template): name, instance and part-of
/// [`contract::APP`], the component [`contract::component`] gives, `managed_by`, and `version`
/// when given. A Deployment's template also keeps the selector's label.
pub fn check_standard_labels<'a>(
    objects: impl IntoIterator<Item = &'a Object>,
    managed_by: &str,
    version: Option<&str>,
) -> Vec<Problem> {
    let mut out = Vec::new();
    for o in objects {
        let Some(component) = contract::component(o.kind(), o.name()) else {
            out.push(Problem::new(
                &o.file,
                o.id(),
                "no app.kubernetes.io/component known for it: add it to contract::component",
            ));
            continue;
        };
        let expected = [
            (labels::NAME, contract::APP),
            (labels::INSTANCE, contract::APP),
            (labels::COMPONENT, component),
            (labels::PART_OF, contract::APP),
            (labels::MANAGED_BY, managed_by),
        ]
        .into_iter()
        .chain(version.map(|v| (labels::VERSION, v)));
        let expected: Vec<(&str, &str)> = expected.collect();
        let mut places = vec![("", &o.value["metadata"]["labels"])];
        if o.kind() == "Deployment" {
            places.push((
                "pod template: ",
                &o.value["spec"]["template"]["metadata"]["labels"],
            ));
        }
        for (place, have) in places {
            for (key, want) in &expected {
                if have[*key] != *want {
                    out.push(Problem::new(
                        &o.file,
                        o.id(),
                        format!("{place}label {key} must be {want:?}, is {}", have[*key]),
                    ));
                }
            }
            if version.is_none() && !have[labels::VERSION].is_string() {
                out.push(Problem::new(
                    &o.file,
                    o.id(),
                    format!("{place}label {} is missing", labels::VERSION),
                ));
            }
        }
        if o.kind() == "Deployment"
            && o.value["spec"]["template"]["metadata"]["labels"][SELECTOR.0] != SELECTOR.1
        {
            out.push(Problem::new(
                &o.file,
                o.id(),
                format!(
                    "pod template: label {}={} (the selector's) is missing",
                    SELECTOR.0, SELECTOR.1
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("deploy/inferno"), Path::new("samples/large")),
            Path::new("../../samples/large")
        );
        assert_eq!(
            relative(Path::new("deploy/overlays/ha"), Path::new("deploy/inferno")),
            Path::new("../../inferno")
        );
    }

    #[test]
    fn standard_labels() {
        let labels = serde_json::json!({
            "app.kubernetes.io/name": "inferno",
            "app.kubernetes.io/instance": "inferno",
            "app.kubernetes.io/component": "api",
            "app.kubernetes.io/part-of": "inferno",
            "app.kubernetes.io/version": "0.1.0",
            "app.kubernetes.io/managed-by": "kubectl",
        });
        let svc = |labels: Value| Object {
            file: "f.yaml".into(),
            index: 0,
            value: serde_json::json!({"kind": "Service", "metadata": {"name": "inferno",
                "namespace": "inferno", "labels": labels}}),
        };
        assert!(check_standard_labels([&svc(labels.clone())], "kubectl", Some("0.1.0")).is_empty());
        let problems = check_standard_labels([&svc(labels.clone())], "kustomize", Some("0.2.0"));
        assert_eq!(problems.len(), 2, "{problems:?}");
        let mut wrong = labels;
        wrong["app.kubernetes.io/component"] = "metrics".into();
        let problems = check_standard_labels([&svc(wrong)], "kubectl", None);
        assert_eq!(
            problems[0].message,
            "label app.kubernetes.io/component must be \"api\", is \"metrics\""
        );
    }
}
