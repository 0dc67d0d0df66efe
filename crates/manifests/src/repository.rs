//! [`Repository`]: everything the checks read from a checkout (manifests, Dockerfiles,
//! Makefile, workspace, sample data), loaded once; [`Repository::check`] runs every check and
//! returns a [`Report`]. Tests load a repository, break one thing, and check again.

use crate::contract::{
    DOCKER_DIR, IMAGES, IMAGE_PREFIX, INFERNO_DIRS, MANAGED_BY_FILES, MANIFEST_DIRS, SEED_FILES,
};
use crate::dockerfile::{self, Built, Dockerfile};
use crate::layout::{self, Layout};
use crate::makefile::Makefile;
use crate::manifest::{self, Object};
use crate::pods::{self, containers, env_of, pod_spec, strings};
use crate::workspace::{Interface, Version, Workspace};
use crate::{network, rbac, schema, Problem, Result};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The Dockerfiles that parse, by image name (file stem): file, content, what it builds.
pub type Images = BTreeMap<String, (PathBuf, Dockerfile, Built)>;

/// What the checks read, loaded from a checkout. Fields are public so that tests can change
/// one thing and check again.
#[derive(Debug, Clone)]
pub struct Repository {
    /// The checkout's root.
    pub root: PathBuf,
    /// Every object of the [`MANIFEST_DIRS`] (files relative to the root).
    pub objects: Vec<Object>,
    /// YAML files there that hold no Kubernetes object (program data).
    pub other_files: Vec<PathBuf>,
    /// The workspace (`cargo metadata`).
    pub workspace: Workspace,
    /// Each `deploy/docker/*.Dockerfile` by image name: file and content, or why it does not
    /// parse.
    pub dockerfiles: BTreeMap<String, (PathBuf, std::result::Result<Dockerfile, String>)>,
    /// The Makefile's text.
    pub makefile: Option<String>,
    /// `samples/large/model-data.json`.
    pub model_data: Option<Value>,
    /// The kustomizations and what `kubectl apply -f deploy/inferno/` sees.
    pub layout: Layout,
    /// The toolchain each built package needs (highest rust-version of its locked build
    /// graph, and who sets it), or why it could not be found.
    pub rust_versions: BTreeMap<String, std::result::Result<Option<(Version, String)>, String>>,
}

fn rel(root: &Path, p: &Path) -> PathBuf {
    p.strip_prefix(root).unwrap_or(p).to_path_buf()
}

/// Loads the repository at `root` and runs every check.
pub fn check_repository(root: &Path) -> Result<Report> {
    Ok(Repository::load(root)?.check())
}

impl Repository {
    /// Reads everything under `root`. Errors are failures to read the manifests, the
    /// workspace or a directory; a file that is absent or does not parse becomes a problem
    /// when checked.
    pub fn load(root: &Path) -> Result<Self> {
        let (mut objects, mut other_files) = (Vec::new(), Vec::new());
        for dir in MANIFEST_DIRS
            .iter()
            .map(|d| root.join(d))
            .filter(|d| d.is_dir())
        {
            let tree = manifest::load_tree(&dir)?;
            objects.extend(tree.objects.into_iter().map(|mut o| {
                o.file = rel(root, &o.file);
                o
            }));
            other_files.extend(tree.other.iter().map(|f| rel(root, f)));
        }
        let workspace = Workspace::load(root)?;
        let docker_dir = root.join(DOCKER_DIR);
        let mut dockerfiles = BTreeMap::new();
        let entries = std::fs::read_dir(&docker_dir).map_err(|source| crate::Error::Io {
            path: docker_dir.clone(),
            source,
        })?;
        for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            if path.extension().is_none_or(|e| e != "Dockerfile") {
                continue;
            }
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("")
                .to_string();
            dockerfiles.insert(stem, (rel(root, &path), Dockerfile::load(&path)));
        }
        let mut rust_versions = BTreeMap::new();
        let packages: BTreeSet<String> = dockerfiles
            .values()
            .filter_map(|(_, df)| df.as_ref().ok())
            .flat_map(|df| df.cargo_builds())
            .flat_map(|(_, b)| b.packages)
            .filter(|p| workspace.packages.contains_key(p))
            .collect();
        if !packages.is_empty() {
            match workspace.locked_metadata() {
                Ok(meta) => {
                    for p in packages {
                        let v = crate::workspace::required_rust_version(&meta, &p)
                            .map_err(|e| e.to_string());
                        rust_versions.insert(p, v);
                    }
                }
                Err(e) => {
                    for p in packages {
                        rust_versions.insert(p, Err(e.to_string()));
                    }
                }
            }
        }
        let layout = Layout::load(root)?;
        Ok(Self {
            root: root.to_path_buf(),
            objects,
            other_files,
            workspace,
            dockerfiles,
            makefile: std::fs::read_to_string(root.join("Makefile")).ok(),
            model_data: std::fs::read_to_string(root.join("samples/large/model-data.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok()),
            layout,
            rust_versions,
        })
    }

    /// Runs every check.
    pub fn check(&self) -> Report {
        let mut report = Report {
            notes: self
                .other_files
                .iter()
                .map(|f| format!("{}: not Kubernetes objects, not checked", f.display()))
                .collect(),
            ..Report::default()
        };
        let mut images = Images::new();
        for (stem, (file, df)) in &self.dockerfiles {
            let df = match df {
                Ok(df) => df,
                Err(e) => {
                    report.problems.push(Problem::new(file, "", e.clone()));
                    continue;
                }
            };
            let (built, problems) = dockerfile::check(df, file, &self.workspace, |package| {
                match self.rust_versions.get(package) {
                    Some(Ok(v)) => v.clone(),
                    Some(Err(e)) => {
                        report
                            .skipped
                            .push(format!("{}: toolchain check skipped: {e}", file.display()));
                        None
                    }
                    None => None,
                }
            });
            report.problems.extend(problems);
            if let Some(b) = built {
                images.insert(stem.clone(), (file.clone(), df.clone(), b));
            }
        }
        let objects = &self.objects;
        report.problems.extend(check_objects(objects));
        report
            .problems
            .extend(check_images(objects, &self.workspace, &images));
        report.problems.extend(check_makefile(
            self.makefile.as_deref(),
            &self.workspace,
            &images,
        ));
        report.problems.extend(pods::check_inferno(objects));
        if self.model_data.is_none() {
            report.skipped.push(
                "samples/large/model-data.json unreadable: emulated performance not compared"
                    .into(),
            );
        }
        report
            .problems
            .extend(pods::check_samples(objects, self.model_data.as_ref()));
        report.problems.extend(pods::check_load_emulator(objects));
        report.problems.extend(rbac::check_rbac(objects));
        report.problems.extend(rbac::check_watch_scope(objects));
        report
            .problems
            .extend(network::check_network_policy(objects));
        report.problems.extend(pods::check_metrics(objects));
        report.problems.extend(layout::check_layout(
            &self.root,
            &self.layout,
            &self.other_files,
        ));
        // The standard labels of Inferno's own objects, as written (kustomize sets managed-by
        // when it renders them); the version is the images' tag.
        let version = IMAGES
            .first()
            .and_then(|i| self.workspace.packages.get(i.package))
            .map(|p| p.version.clone());
        report.problems.extend(layout::check_standard_labels(
            objects
                .iter()
                .filter(|o| INFERNO_DIRS.iter().any(|d| o.file.starts_with(d))),
            MANAGED_BY_FILES,
            version.as_deref(),
        ));
        for f in SEED_FILES {
            if !self.root.join(f).is_file() {
                report.problems.push(Problem::new(
                    f,
                    "",
                    "missing: the seed README's commands name this file",
                ));
            }
        }
        report.problems.sort();
        report.problems.dedup();
        report.images = images.into_iter().map(|(k, (_, _, b))| (k, b)).collect();
        report
    }
}

/// The result of [`check_repository`].
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Everything wrong, sorted.
    pub problems: Vec<Problem>,
    /// Checks that could not run here, and why.
    pub skipped: Vec<String>,
    /// What else is worth knowing (files left out of the checks).
    pub notes: Vec<String>,
    /// Each Dockerfile and what it builds.
    pub images: BTreeMap<String, Built>,
}

impl Report {
    /// The problems, one per line.
    pub fn text(&self) -> String {
        self.problems.iter().map(|p| format!("{p}\n")).collect()
    }
}

/// Schema of each object, unique identities, namespaces that exist.
pub fn check_objects(objects: &[Object]) -> Vec<Problem> {
    let mut out: Vec<Problem> = objects.iter().flat_map(schema::check).collect();
    let mut seen: BTreeMap<String, &Object> = BTreeMap::new();
    let namespaces: BTreeSet<&str> = objects
        .iter()
        .filter(|o| o.kind() == "Namespace")
        .map(Object::name)
        .chain(["default", "kube-system"])
        .collect();
    for o in objects {
        if let Some(first) = seen.insert(o.id(), o) {
            out.push(Problem::new(
                &o.file,
                o.id(),
                format!("also defined in {}", first.file.display()),
            ));
        }
        if let Some(ns) = o.namespace() {
            if !namespaces.contains(ns) {
                out.push(Problem::new(
                    &o.file,
                    o.id(),
                    format!("namespace {ns} is not created by any manifest"),
                ));
            }
        }
    }
    out
}

/// Every container image is one of ours, built by a Dockerfile, with the package version as
/// tag, run with arguments and variables its binary accepts; the Dockerfiles build what
/// [`IMAGES`] says.
pub fn check_images(objects: &[Object], ws: &Workspace, dockerfiles: &Images) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut interfaces: BTreeMap<String, Option<Interface>> = BTreeMap::new();
    for img in IMAGES {
        match dockerfiles.get(img.name) {
            None => out.push(Problem::new(
                format!("{DOCKER_DIR}/{}.Dockerfile", img.name),
                "",
                format!(
                    "missing (or unreadable): it builds image {IMAGE_PREFIX}{}",
                    img.name
                ),
            )),
            Some((file, df, built)) => {
                if (built.package.as_str(), built.bin.as_str()) != (img.package, img.bin) {
                    out.push(Problem::new(
                        file,
                        "",
                        format!(
                            "builds {} --bin {}, expected {} --bin {}",
                            built.package, built.bin, img.package, img.bin
                        ),
                    ));
                }
                let exposed = df.exposed();
                let expected: Vec<u16> = img.port.into_iter().collect();
                if exposed != expected {
                    out.push(Problem::new(
                        file,
                        "",
                        format!("EXPOSE {exposed:?}, expected {expected:?}"),
                    ));
                }
            }
        }
    }
    for stem in dockerfiles.keys() {
        if !IMAGES.iter().any(|i| i.name == stem) {
            out.push(Problem::new(
                format!("{DOCKER_DIR}/{stem}.Dockerfile"),
                "",
                "not an image of contract::IMAGES",
            ));
        }
    }
    let mut used = BTreeSet::new();
    for o in objects {
        let Some(spec) = pod_spec(o) else { continue };
        for c in containers(spec) {
            let name = c["name"].as_str().unwrap_or("");
            let place = format!("{} container {name}", o.id());
            let image = c["image"].as_str().unwrap_or("");
            let mut report = |m: String| out.push(Problem::new(&o.file, &place, m));
            let Some((repo, tag)) = image.rsplit_once(':') else {
                report(format!("image {image:?} has no tag"));
                continue;
            };
            let Some(stem) = repo.strip_prefix(IMAGE_PREFIX) else {
                report(format!("image {image:?} is not one of {IMAGE_PREFIX}*"));
                continue;
            };
            let Some((_, df, built)) = dockerfiles.get(stem) else {
                report(format!(
                    "image {image:?}: no {DOCKER_DIR}/{stem}.Dockerfile builds it"
                ));
                continue;
            };
            used.insert(stem.to_string());
            if let Some(p) = ws.packages.get(&built.package) {
                if tag != p.version {
                    report(format!(
                        "image tag {tag} is not the version of {} ({})",
                        p.name, p.version
                    ));
                }
            }
            let command = strings(&c["command"]);
            if !command.is_empty() && Some(command.clone()) != df.entrypoint() {
                report(format!(
                    "command {command:?} replaces the image's entrypoint {:?}",
                    df.entrypoint()
                ));
            }
            for p in c["ports"].as_array().into_iter().flatten() {
                let n = p["containerPort"].as_u64().unwrap_or(0);
                if !df.exposed().iter().any(|e| u64::from(*e) == n) {
                    report(format!("containerPort {n} is not EXPOSEd by the image"));
                }
            }
            let interface = interfaces
                .entry(built.package.clone())
                .or_insert_with(|| ws.interface(&built.package).ok());
            let Some(interface) = interface else {
                report(format!("cannot read the sources of {}", built.package));
                continue;
            };
            for var in env_of(c).keys() {
                if !interface.env.contains(var) {
                    report(format!(
                        "env {var} is not read by {} (package {})",
                        built.bin, built.package
                    ));
                }
            }
            for e in interface.check_args(&strings(&c["args"])) {
                report(format!("args: {e}"));
            }
        }
    }
    for stem in dockerfiles.keys() {
        if !used.contains(stem) {
            out.push(Problem::new(
                format!("{DOCKER_DIR}/{stem}.Dockerfile"),
                "",
                format!("image {IMAGE_PREFIX}{stem} is built but no manifest runs it"),
            ));
        }
    }
    out
}

/// The Makefile target that builds the Dockerfiles.
pub const DOCKERFILES_TARGET: &str = "images-dockerfiles";

/// `make images-dockerfiles` builds every Dockerfile, tagged as the manifests expect, and
/// `make images` (the local path) builds the same list.
pub fn check_makefile(text: Option<&str>, ws: &Workspace, dockerfiles: &Images) -> Vec<Problem> {
    let file = PathBuf::from("Makefile");
    let mut out = Vec::new();
    let mut report = |place: &str, m: String| out.push(Problem::new(&file, place, m));
    let Some(text) = text else {
        report("", "cannot read the Makefile".into());
        return out;
    };
    let mk = Makefile::parse(text);
    let Some(recipe) = mk.targets.get(DOCKERFILES_TARGET) else {
        report("", format!("no `{DOCKERFILES_TARGET}` target"));
        return out;
    };
    for target in [DOCKERFILES_TARGET, "images"] {
        if !mk.phony.contains(target) {
            report(&format!("target {target}"), "not in .PHONY".into());
        }
    }
    if !mk
        .targets
        .get("images")
        .is_some_and(|r| r.join("\n").contains("IMAGES=\"$(IMAGES)\""))
    {
        report(
            "target images",
            "must build $(IMAGES) (IMAGES=\"$(IMAGES)\")".into(),
        );
    }
    let listed: BTreeSet<String> = mk.words("IMAGES").into_iter().collect();
    let built: BTreeSet<String> = dockerfiles.keys().cloned().collect();
    if listed != built {
        report(
            "variable IMAGES",
            format!("lists {listed:?}, the Dockerfiles in {DOCKER_DIR} are {built:?}"),
        );
    }
    if mk.variables.get("IMAGE_PREFIX").map(String::as_str) != Some(IMAGE_PREFIX) {
        report(
            "variable IMAGE_PREFIX",
            format!("must be {IMAGE_PREFIX} (the manifests' images)"),
        );
    }
    let tag = mk.variables.get("IMAGE_TAG").cloned().unwrap_or_default();
    for (_, _, b) in dockerfiles.values() {
        if let Some(p) = ws.packages.get(&b.package) {
            if p.version != tag {
                report(
                    "variable IMAGE_TAG",
                    format!("{tag:?} is not the version of {} ({})", p.name, p.version),
                );
            }
        }
    }
    let all = recipe.join("\n");
    for needle in [
        format!("{DOCKER_DIR}/$$i.Dockerfile"),
        "$(IMAGE_PREFIX)$$i:$(IMAGE_TAG)".to_string(),
        "$(IMAGES)".to_string(),
    ] {
        if !all.contains(&needle) {
            report(
                &format!("target {DOCKERFILES_TARGET}"),
                format!("the recipe does not use {needle}"),
            );
        }
    }
    out
}
