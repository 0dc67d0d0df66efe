//! The static checks over this repository, and over copies of it with one thing broken: each
//! mistake must be reported with a message that says what is wrong.

use super::common::{in_ci, root};
use inferno_manifests::dockerfile::Dockerfile;
use inferno_manifests::{check_repository, manifest, Repository};
use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn the_repository_passes_every_check() {
    let report = check_repository(&root()).expect("the files are readable");
    for s in &report.skipped {
        eprintln!("SKIPPED: {s}");
    }
    for n in &report.notes {
        eprintln!("note: {n}");
    }
    assert!(report.problems.is_empty(), "\n{}", report.text());
    assert!(
        !in_ci() || report.skipped.is_empty(),
        "checks skipped in CI: {:?}",
        report.skipped
    );
    // Every image of the manifests is built, by the binary the contract names.
    let built: Vec<(&str, &str)> = report
        .images
        .iter()
        .map(|(k, b)| (k.as_str(), b.bin.as_str()))
        .collect();
    assert_eq!(
        built,
        [
            ("actuator", "inferno-actuator"),
            ("collector", "inferno-collector"),
            ("controller", "inferno-controller"),
            ("load-emulator", "inferno-load-emulator"),
            ("optimizer", "inferno-optimizer"),
            ("vllm-emulator", "inferno-vllm-emulator"),
        ]
    );
}

fn problems(repo: &Repository) -> BTreeSet<String> {
    repo.check()
        .problems
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Replaces `from` by `to` in a manifest file (relative to the root) and reloads its objects.
fn edit_manifest(repo: &mut Repository, file: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(repo.root.join(file)).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    let objects = manifest::parse(&text.replacen(from, to, 1), Path::new(file)).unwrap();
    repo.objects.retain(|o| o.file != Path::new(file));
    repo.objects.extend(objects);
}

fn edit_dockerfile(repo: &mut Repository, image: &str, from: &str, to: &str) {
    let (file, _) = &repo.dockerfiles[image];
    let text = std::fs::read_to_string(repo.root.join(file)).unwrap();
    assert!(text.contains(from), "{image} has no {from:?}");
    let parsed = Dockerfile::parse(&text.replace(from, to), file);
    repo.dockerfiles.get_mut(image).unwrap().1 = parsed;
}

/// Applies `change` to a fresh copy and returns the problems it adds.
fn added(
    base: &Repository,
    baseline: &BTreeSet<String>,
    change: impl FnOnce(&mut Repository),
) -> Vec<String> {
    let mut repo = base.clone();
    change(&mut repo);
    problems(&repo).difference(baseline).cloned().collect()
}

#[test]
fn each_mistake_is_reported() {
    let base = Repository::load(&root()).unwrap();
    let baseline = problems(&base);
    const DEPLOY: &str = "deploy/inferno/deploy.yaml";
    const SA: &str = "deploy/inferno/sa.yaml";
    #[allow(clippy::type_complexity)]
    let manifest_cases: &[(&str, &str, &str, &str)] = &[
        // The seed's port variables and where they point.
        (DEPLOY, "name: CONTROLLER_PORT\n              value: \"3300\"", "name: CONTROLLER_PORT\n              value: \"3310\"", "env CONTROLLER_PORT must be \"3300\" (seed)"),
        (DEPLOY, "name: COLLECTOR_PORT\n              value: \"3301\"", "name: COLLECTOR_PORT\n              value: \"3311\"", "env COLLECTOR_PORT = Some(\"3311\"), but collector listens on 3301"),
        // A variable no binary reads (a typo).
        (DEPLOY, "INFERNO_CONTROL_PERIOD", "INFERNO_CONTROL_PERIOUD", "env INFERNO_CONTROL_PERIOUD is not read by inferno-controller"),
        // A subcommand the optimizer does not have.
        (DEPLOY, "args: [\"serve\"]", "args: [\"serv\"]", "args: \"serv\" is not a subcommand"),
        // Probes on the wrong port, or of the wrong kind.
        (DEPLOY, "grpc:\n              port: 3301\n            periodSeconds: 10", "grpc:\n              port: 3302\n            periodSeconds: 10", "readinessProbe.grpc.port 3302 is not one of the container's ports"),
        (DEPLOY, "path: /readyz", "path: /ready", "container controller: readinessProbe must be httpGet /readyz"),
        // An unknown field.
        (DEPLOY, "readinessProbe:\n            httpGet", "readinesProbe:\n            httpGet", "spec.template.spec.containers[0].readinesProbe: unknown field"),
        // Security.
        (DEPLOY, "runAsUser: 65532", "runAsUser: 0", "securityContext.runAsUser must be a non-zero uid"),
        (DEPLOY, "readOnlyRootFilesystem: true\n            capabilities:\n              drop: [\"ALL\"]\n        - name: collector", "readOnlyRootFilesystem: false\n            capabilities:\n              drop: [\"ALL\"]\n        - name: collector", "container controller: securityContext.readOnlyRootFilesystem must be true"),
        (DEPLOY, "memory: 256Mi", "memory: 32Mi", "container controller: resources: memory request above its limit"),
        // The data volume.
        (DEPLOY, "value: /etc/data/", "value: /etc/dat/", "INFERNO_DATA_PATH Some(\"/etc/dat/\") is not the mount path /etc/data"),
        (DEPLOY, "- configMap:\n                  name: inferno-dynamic-data", "- configMap:\n                  name: inferno-dynamic", "no projected volume of the ConfigMaps"),
        // Images.
        (DEPLOY, "image: inferno/collector:0.1.0", "image: inferno/collector:0.2.0", "image tag 0.2.0 is not the version of inferno-collector (0.1.0)"),
        (DEPLOY, "image: inferno/actuator:0.1.0", "image: inferno/actuater:0.1.0", "image \"inferno/actuater:0.1.0\": no deploy/docker/actuater.Dockerfile builds it"),
        // The Service.
        (DEPLOY, "port: 80\n      targetPort: http", "port: 80\n      targetPort: metrics", "port 80: targetPort \"metrics\" is no port of the inferno pod"),
        // RBAC: one verb too many, one missing, someone else bound.
        (SA, "verbs: [\"get\", \"list\", \"watch\", \"patch\"]", "verbs: [\"get\", \"list\", \"watch\", \"patch\", \"delete\"]", "grants delete apps/deployments, which nothing needs (least privilege)"),
        (SA, "verbs: [\"create\"]", "verbs: []", "does not grant create core/events, needed by actuator"),
        (SA, "resources: [\"pods\"]", "resources: [\"*\"]", "uses a wildcard"),
        (SA, "    name: inferno\n    namespace: inferno\n", "    name: default\n    namespace: inferno\n", "binds [\"inferno/default\"]; ClusterRole inferno is for inferno/inferno only"),
        // Samples: overlapping selectors, an emulation that is not the labelled allocation.
        ("deploy/samples/dep2.yaml", "      app: bronze-granite-13b\n  template:\n    metadata:\n      labels:\n        app: bronze-granite-13b", "      app: premium-llama-13b\n  template:\n    metadata:\n      labels:\n        app: premium-llama-13b", "also selects the pods of Deployment infer/"),
        ("deploy/samples/dep1.yaml", "value: \"12.58\"", "value: \"13\"", "INFERNO_EMULATOR_ALPHA = Some(13.0), samples/large/model-data.json has 12.58 for llama_13b on MI250"),
        ("deploy/samples/dep3.yaml", "inferno.server.allocation.maxbatchsize: \"64\"", "inferno.server.allocation.maxbatchsize: \"sixty\"", "label inferno.server.allocation.maxbatchsize = \"sixty\" is not a valid number"),
        ("deploy/samples/dep1.yaml", "inferno.server.managed: \"true\"", "inferno.server.managed: true", "does not decode"),
        ("deploy/samples/dep2.yaml", "value: \"0.3333\"", "value: \"1\"", "INFERNO_EMULATOR_RATE 1 is not load.rpm / 60 / replicas = 0.3333"),
        // The load emulator with the control loop's rights.
        ("deploy/inferno/load-emulator.yaml", "serviceAccountName: load-emulator", "serviceAccountName: inferno", "serviceAccountName must be load-emulator"),
        ("deploy/inferno/load-emulator.yaml", "value: infer\n", "value: infer,prod\n", "it changes namespace prod but has no RoleBinding there"),
        // An object in a namespace no manifest creates.
        ("deploy/samples/dep1.yaml", "namespace: infer\n", "namespace: inference\n", "namespace inference is not created by any manifest"),
    ];
    let mut failures = Vec::new();
    for (file, from, to, expect) in manifest_cases {
        let new = added(&base, &baseline, |r| edit_manifest(r, file, from, to));
        if !new.iter().any(|p| p.contains(expect)) {
            failures.push(format!("{file}: {to:?}: expected {expect:?}, got {new:#?}"));
        }
    }
    let docker_cases: &[(&str, &str, &str, &str)] = &[
        (
            "collector",
            "--bin inferno-collector",
            "--bin inferno-collectr",
            "package inferno-collector has no binary inferno-collectr",
        ),
        (
            "controller",
            "-p inferno-controller --bin inferno-controller",
            "-p inferno-controller --bin inferno-collector",
            "has no binary inferno-collector",
        ),
        (
            "optimizer",
            "USER 65532:65532",
            "USER root",
            "USER root is root",
        ),
        (
            "actuator",
            "EXPOSE 3303",
            "EXPOSE 3304",
            "EXPOSE [3304], expected [3303]",
        ),
        (
            "vllm-emulator",
            "COPY --from=builder /out/inferno-vllm-emulator",
            "COPY --from=builder /out",
            "must copy only inferno-vllm-emulator",
        ),
        (
            "load-emulator",
            "--release --locked",
            "--locked",
            "cargo build without --release",
        ),
    ];
    for (image, from, to, expect) in docker_cases {
        let new = added(&base, &baseline, |r| edit_dockerfile(r, image, from, to));
        if !new.iter().any(|p| p.contains(expect)) {
            failures.push(format!(
                "{image}.Dockerfile: {to:?}: expected {expect:?}, got {new:#?}"
            ));
        }
    }
    // The toolchain check runs where the locked dependencies are on disk.
    if base.rust_versions.values().all(Result::is_ok) {
        let new = added(&base, &baseline, |r| {
            edit_dockerfile(r, "controller", "RUST_VERSION=1.95", "RUST_VERSION=1.85")
        });
        if !new
            .iter()
            .any(|p| p.contains("builder toolchain 1.85.0 is older than"))
        {
            failures.push(format!("RUST_VERSION=1.85: got {new:#?}"));
        }
    }
    let make_cases: &[(&str, &str, &str)] = &[
        (" load-emulator\n", "\n", "variable IMAGES: lists"),
        (
            "IMAGE_TAG ?= 0.1.0",
            "IMAGE_TAG ?= latest",
            "\"latest\" is not the version of",
        ),
    ];
    for (from, to, expect) in make_cases {
        let new = added(&base, &baseline, |r| {
            let text = r.makefile.clone().unwrap();
            assert!(text.contains(from), "Makefile has no {from:?}");
            r.makefile = Some(text.replacen(from, to, 1));
        });
        if !new.iter().any(|p| p.contains(expect)) {
            failures.push(format!(
                "Makefile {to:?}: expected {expect:?}, got {new:#?}"
            ));
        }
    }
    let new = added(&base, &baseline, |r| {
        let text = r.makefile.clone().unwrap();
        let lines: Vec<String> = text
            .lines()
            .map(|l| match l.strip_prefix(".PHONY:") {
                Some(targets) => format!(".PHONY:{}", targets.replace(" images", "")),
                None => l.to_string(),
            })
            .collect();
        r.makefile = Some(lines.join("\n"));
    });
    if !new
        .iter()
        .any(|p| p.contains("target images: not in .PHONY"))
    {
        failures.push(format!(".PHONY without images: got {new:#?}"));
    }
    let new = added(&base, &baseline, |r| {
        let k = &mut r.kustomization.as_mut().unwrap().1;
        k["resources"] = serde_json::json!(["ns.yaml", "sa.yaml", "missing.yaml"]);
    });
    for expect in [
        "resource missing.yaml does not exist",
        "resources must list deploy.yaml",
    ] {
        if !new.iter().any(|p| p.contains(expect)) {
            failures.push(format!("kustomization: expected {expect:?}, got {new:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
