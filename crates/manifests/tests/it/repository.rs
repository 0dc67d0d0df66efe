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

/// Like [`edit_manifest`], replacing every occurrence.
fn edit_manifest_all(repo: &mut Repository, file: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(repo.root.join(file)).unwrap();
    assert!(text.contains(from), "{file} has no {from:?}");
    let objects = manifest::parse(&text.replace(from, to), Path::new(file)).unwrap();
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
    const NETPOL: &str = "deploy/inferno/networkpolicy.yaml";
    const RBAC_NS: &str = "deploy/overlays/namespaced/rbac-namespaced.yaml";
    const LOAD: &str = "deploy/optional/load-emulator.yaml";
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
        (DEPLOY, "path: /readyz", "path: /ready", "container controller: readinessProbe must be httpGet /readyz"),
        // Probes on the loopback gRPC port: the kubelet reaches the pod IP only.
        (DEPLOY, "path: /healthz\n              port: ops-collector\n            periodSeconds: 10", "path: /healthz\n              port: 3301\n            periodSeconds: 10", "container collector: readinessProbe is not on port 3311 (its ops port; the kubelet reaches the pod IP, not the loopback gRPC port)"),
        (DEPLOY, "path: /healthz\n              port: ops-optimizer\n            periodSeconds: 10", "grpc:\n              port: 3312\n            periodSeconds: 10", "container optimizer: readinessProbe must be httpGet /healthz"),
        // The internal gRPC APIs stay off the pod IP.
        (DEPLOY, "name: COLLECTOR_HOST\n              value: 127.0.0.1", "name: COLLECTOR_HOST\n              value: 0.0.0.0", "container collector: env COLLECTOR_HOST must be 127.0.0.1, is Some(Some(\"0.0.0.0\")): its gRPC API (port 3301) stays off the pod IP"),
        (DEPLOY, "            - name: ACTUATOR_HOST\n              value: 127.0.0.1\n", "", "container actuator: env ACTUATOR_HOST must be 127.0.0.1, is None"),
        (DEPLOY, "value: 0.0.0.0:3313\n", "value: 0.0.0.0:3313\n            - name: INFERNO_ACTUATOR_LISTEN\n              value: 0.0.0.0:3303\n", "container actuator: env INFERNO_ACTUATOR_LISTEN = Some(\"0.0.0.0:3303\"): the gRPC API must listen on loopback"),
        (DEPLOY, "- name: ops-actuator\n              containerPort: 3313\n", "- name: ops-actuator\n              containerPort: 3313\n            - name: grpc-actuator\n              containerPort: 3303\n", "container actuator: containerPort 3303 is its gRPC port, which listens on 127.0.0.1"),
        (DEPLOY, "value: 0.0.0.0:3313", "value: 127.0.0.1:3313", "container actuator: env INFERNO_ACTUATOR_OPS_LISTEN must be \"0.0.0.0:3313\" (probes and Prometheus reach the pod IP)"),
        // The service-account token: only where the API server is called.
        (DEPLOY, "automountServiceAccountToken: false", "automountServiceAccountToken: true", "automountServiceAccountToken must be false"),
        (DEPLOY, "          # No API access: no service-account token.\n", "          volumeMounts:\n            - name: kube-api-access\n              mountPath: /var/run/secrets/kubernetes.io/serviceaccount\n              readOnly: true\n", "container optimizer mounts the service-account token (kube-api-access) but never calls the API server"),
        (DEPLOY, "            - name: kube-api-access\n              mountPath: /var/run/secrets/kubernetes.io/serviceaccount\n              readOnly: true\n", "", "container collector does not mount kube-api-access at /var/run/secrets/kubernetes.io/serviceaccount, but it calls the API server"),
        (DEPLOY, "            - name: INFERNO_DATA_PATH\n              value: /etc/data/\n", "            - name: INFERNO_DATA_PATH\n              value: /etc/data/\n            - name: INFERNO_LEADER_ELECT\n              value: \"true\"\n", "container controller does not mount kube-api-access at /var/run/secrets/kubernetes.io/serviceaccount, but it calls the API server: INFERNO_LEADER_ELECT=true"),
        (DEPLOY, "name: kube-root-ca.crt", "name: kube-root-ca", "volume kube-api-access: no configMap kube-root-ca.crt"),
        (DEPLOY, "mountPath: /var/run/secrets/kubernetes.io/serviceaccount\n              readOnly: true", "mountPath: /var/run/secrets/token\n              readOnly: true", "container collector: kube-api-access must be mounted at /var/run/secrets/kubernetes.io/serviceaccount"),
        ("deploy/samples/dep1.yaml", "automountServiceAccountToken: false", "automountServiceAccountToken: true", "automountServiceAccountToken must be false: the emulated vLLM server never calls the API server"),
        // The optional bearer token: in a Secret, and the controller has it when a server does.
        (DEPLOY, "            # - name: INFERNO_AUTH_TOKEN_FILE\n            #   value: /etc/inferno-auth/token\n          ports:\n            - name: ops-actuator", "            - name: INFERNO_AUTH_TOKEN_FILE\n              value: /etc/inferno-auth/token\n          ports:\n            - name: ops-actuator", "[\"actuator\"] require a bearer token (INFERNO_AUTH_TOKEN_FILE) but the controller, their client, has none"),
        (DEPLOY, "            # - name: INFERNO_AUTH_TOKEN_FILE\n            #   value: /etc/inferno-auth/token\n          ports:\n            - name: ops-actuator", "            - name: INFERNO_AUTH_TOKEN_FILE\n              value: /etc/inferno-auth/token\n          ports:\n            - name: ops-actuator", "container actuator: INFERNO_AUTH_TOKEN_FILE /etc/inferno-auth/token is not in a mounted Secret volume"),
        // The NetworkPolicy.
        (NETPOL, "policyTypes: [\"Ingress\", \"Egress\"]", "policyTypes: [\"Ingress\"]", "policyTypes must list Egress: without it every egress connection is allowed"),
        (NETPOL, "      app: inferno\n", "      app: infernal\n", "podSelector app=\"infernal\" does not select the inferno pods"),
        (NETPOL, "          port: 3312\n", "          port: 3302\n", "ingress[1]: port 3302 is not one the pod serves on its IP"),
        (NETPOL, "          port: 3312\n", "          port: 3302\n", "no ingress rule admits port 3312 (optimizer): Prometheus cannot scrape its /metrics"),
        (NETPOL, "    - from:\n        - podSelector: {}\n", "    - from: []\n", "ingress[0] has no from: it admits every source"),
        (NETPOL, "          port: 9090\n", "          port: 8080\n", "egress[2]: port 8080/TCP is none of DNS, the API server, Prometheus"),
        (NETPOL, "      ports:\n        - protocol: TCP\n          port: 443\n        - protocol: TCP\n          port: 6443\n", "", "egress[1] has no ports: it allows every port"),
        (NETPOL, "        - protocol: UDP\n          port: 53\n", "", "no egress rule allows 53/UDP: DNS"),
        (NETPOL, "cidr: 0.0.0.0/0", "cidr: 0.0.0.0/33", "egress[1].to[0].ipBlock: \"0.0.0.0/33\" is not a CIDR"),
        (NETPOL, "podSelector:\n    matchLabels:\n      app: inferno\n  policyTypes", "podSelector: {}\n  policyTypes", "podSelector must name the inferno pods"),
        // Namespaced RBAC: the same rights as the ClusterRole, no more.
        (RBAC_NS, "verbs: [\"get\", \"list\", \"watch\", \"patch\"]", "verbs: [\"get\", \"list\", \"watch\", \"patch\", \"update\"]", "Role infer/inferno: grants update apps/deployments, which nothing needs (least privilege)"),
        (RBAC_NS, "    name: inferno\n    namespace: inferno\n", "    name: default\n    namespace: inferno\n", "binds [\"inferno/default\"]; Role inferno is for inferno/inferno only"),
        // The collector and the actuator in different scopes.
        (DEPLOY, "# - name: WATCH_NAMESPACE\n            #   value: infer", "- name: WATCH_NAMESPACE\n              value: infer", "WATCH_NAMESPACE: the collector watches [\"infer\"] but the actuator acts in all namespaces"),
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
        (SA, "verbs: [\"create\", \"patch\"]", "verbs: [\"create\"]", "does not grant patch events.k8s.io/events, needed by actuator"),
        (SA, "resources: [\"pods\"]", "resources: [\"*\"]", "uses a wildcard"),
        (SA, "    name: inferno\n    namespace: inferno\n", "    name: default\n    namespace: inferno\n", "binds [\"inferno/default\"]; ClusterRole inferno is for inferno/inferno only"),
        // Samples: overlapping selectors, an emulation that is not the labelled allocation.
        ("deploy/samples/dep2.yaml", "      app: bronze-granite-13b\n  template:\n    metadata:\n      labels:\n        app: bronze-granite-13b", "      app: premium-llama-13b\n  template:\n    metadata:\n      labels:\n        app: premium-llama-13b", "also selects the pods of Deployment infer/"),
        ("deploy/samples/dep1.yaml", "value: \"12.58\"", "value: \"13\"", "INFERNO_EMULATOR_ALPHA = Some(13.0), samples/large/model-data.json has 12.58 for llama_13b on MI250"),
        ("deploy/samples/dep3.yaml", "inferno.server.allocation.maxbatchsize: \"64\"", "inferno.server.allocation.maxbatchsize: \"sixty\"", "label inferno.server.allocation.maxbatchsize = \"sixty\" is not a valid number"),
        ("deploy/samples/dep1.yaml", "inferno.server.managed: \"true\"", "inferno.server.managed: true", "does not decode"),
        ("deploy/samples/dep2.yaml", "value: \"0.3333\"", "value: \"1\"", "INFERNO_EMULATOR_RATE 1 is not load.rpm / 60 / replicas = 0.3333"),
        // The load emulator with the control loop's rights.
        (LOAD, "serviceAccountName: load-emulator", "serviceAccountName: inferno", "serviceAccountName must be load-emulator"),
        (LOAD, "value: infer\n", "value: infer,prod\n", "it changes namespace prod but has no RoleBinding there"),
        // The standard labels, on the objects and the pod template.
        (DEPLOY, "    app.kubernetes.io/component: control-loop\n    app.kubernetes.io/part-of", "    app.kubernetes.io/component: api\n    app.kubernetes.io/part-of", "Deployment inferno/inferno: label app.kubernetes.io/component must be \"control-loop\", is \"api\""),
        (DEPLOY, "        app.kubernetes.io/name: inferno\n", "", "pod template: label app.kubernetes.io/name must be \"inferno\", is null"),
        (SA, "app.kubernetes.io/version: \"0.1.0\"", "app.kubernetes.io/version: \"0.2.0\"", "label app.kubernetes.io/version must be \"0.1.0\", is \"0.2.0\""),
        (NETPOL, "managed-by: kubectl", "managed-by: helm", "label app.kubernetes.io/managed-by must be \"kubectl\", is \"helm\""),
        (LOAD, "component: load-emulator", "component: rbac", "label app.kubernetes.io/component must be \"load-emulator\", is \"rbac\""),
        (RBAC_NS, "    app.kubernetes.io/instance: inferno\n", "", "Role infer/inferno: label app.kubernetes.io/instance must be \"inferno\", is null"),
        // The selector stays as released (immutable); the new labels are not in it.
        (DEPLOY, "  selector:\n    matchLabels:\n      app: inferno\n  template", "  selector:\n    matchLabels:\n      app: inferno\n      app.kubernetes.io/name: inferno\n  template", "the selector must stay {matchLabels: {app: inferno}}"),
        // Scraping: the annotations, and the metrics Service's ports by name.
        (DEPLOY, "prometheus.io/port: \"3300\"", "prometheus.io/port: \"3311\"", "pod template: annotation prometheus.io/port must be \"3300\""),
        (DEPLOY, "        prometheus.io/scrape: \"true\"\n", "", "annotation prometheus.io/scrape must be \"true\""),
        (DEPLOY, "    - name: ops-optimizer\n      port: 3312\n      targetPort: ops-optimizer", "    - name: optimizer\n      port: 3312\n      targetPort: ops-optimizer", "port optimizer: targetPort must be the container port's name \"optimizer\""),
        (DEPLOY, "      targetPort: ops-actuator\n", "      targetPort: ops-actuator\n    - name: grpc-actuator\n      port: 3303\n      targetPort: 3303\n", "port grpc-actuator (3303) is no container port of that name and number"),
        (DEPLOY, "    app.kubernetes.io/component: metrics\n", "    app.kubernetes.io/component: api\n", "label app.kubernetes.io/component must be \"metrics\" (what the ServiceMonitor selects)"),
        (DEPLOY, "  name: inferno-metrics\n", "  name: inferno-scrape\n", "Service inferno/inferno-metrics: missing"),
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
    // Changes of more than one place.
    let remove =
        |kind: &'static str| move |r: &mut Repository| r.objects.retain(|o| o.kind() != kind);
    let watch = |ns: &'static str| {
        move |r: &mut Repository| {
            edit_manifest_all(
                r,
                DEPLOY,
                "# - name: WATCH_NAMESPACE\n            #   value: infer",
                &format!("- name: WATCH_NAMESPACE\n              value: {ns}"),
            )
        }
    };
    #[allow(clippy::type_complexity)]
    let changes: Vec<(&str, Box<dyn Fn(&mut Repository)>, &str)> = vec![
        (
            "no NetworkPolicy",
            Box::new(remove("NetworkPolicy")),
            "deploy/inferno/networkpolicy.yaml: NetworkPolicy inferno/inferno: missing",
        ),
        (
            "no ClusterRoleBinding, all namespaces watched",
            Box::new(remove("ClusterRoleBinding")),
            "WATCH_NAMESPACE is unset (all namespaces) but no ClusterRoleBinding grants ClusterRole inferno to inferno/inferno",
        ),
        (
            "WATCH_NAMESPACE=infer,prod, namespaced RBAC in infer only",
            Box::new(move |r: &mut Repository| {
                watch("infer,prod")(r);
                remove("ClusterRoleBinding")(r);
            }),
            "WATCH_NAMESPACE lists prod but no RoleBinding there grants Role inferno to inferno/inferno",
        ),
    ];
    for (what, change, expect) in &changes {
        let new = added(&base, &baseline, |r| change(r));
        if !new.iter().any(|p| p.contains(expect)) {
            failures.push(format!("{what}: expected {expect:?}, got {new:#?}"));
        }
    }
    // WATCH_NAMESPACE=infer on both, with the Role of rbac-namespaced.yaml there and no
    // cluster-wide binding: the namespaced setup passes.
    let new = added(&base, &baseline, |r| {
        watch("infer")(r);
        remove("ClusterRoleBinding")(r);
    });
    if !new.is_empty() {
        failures.push(format!("the namespaced setup: got {new:#?}"));
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
            "EXPOSE 3313",
            "EXPOSE 3303",
            "EXPOSE [3303], expected [3313]",
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
        (
            "IMAGES=\"$(IMAGES)\" \\\n\t\tPROFILE",
            "IMAGES=\"controller\" \\\n\t\tPROFILE",
            "target images: must build $(IMAGES)",
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
    failures.extend(layout_mistakes(&base, &baseline));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The kustomization of `dir` in a copy, to change.
fn kustomization<'a>(r: &'a mut Repository, dir: &str) -> &'a mut serde_json::Value {
    &mut r
        .layout
        .kustomizations
        .get_mut(Path::new(dir))
        .and_then(Option::as_mut)
        .unwrap_or_else(|| panic!("no kustomization in {dir}"))
        .1
}

/// What breaks `kubectl apply -f deploy/inferno/` or the kustomize layout.
fn layout_mistakes(base: &Repository, baseline: &BTreeSet<String>) -> Vec<String> {
    const BASE: &str = "deploy/inferno";
    const DATA: &str = "samples/large";
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, Box<dyn Fn(&mut Repository)>, &str)> = vec![
        (
            "a kustomization.yaml in deploy/inferno",
            Box::new(|r| {
                r.layout.base_entries.insert("kustomization.yaml".into());
            }),
            "deploy/inferno/kustomization.yaml: `kubectl apply -f deploy/inferno/` would read it as an object and fail",
        ),
        (
            "program data in deploy/inferno",
            Box::new(|r| r.other_files.push("deploy/inferno/load-phases.yaml".into())),
            "deploy/inferno/load-phases.yaml: holds no Kubernetes object, and `kubectl apply -f deploy/inferno/` fails on it",
        ),
        (
            "JSON in deploy/inferno",
            Box::new(|r| {
                r.layout.base_entries.insert("data.json".into());
            }),
            "deploy/inferno/data.json: `kubectl apply -f deploy/inferno/` reads it",
        ),
        (
            "no base",
            Box::new(|r| {
                r.layout.kustomizations.insert(BASE.into(), None);
            }),
            "deploy/inferno/Kustomization: missing",
        ),
        (
            "the base leaves a file out",
            Box::new(|r| {
                kustomization(r, BASE)["resources"] =
                    serde_json::json!(["ns.yaml", "sa.yaml", "deploy.yaml", "../../samples/large"])
            }),
            "resources must list networkpolicy.yaml: `kubectl apply -f deploy/inferno/` applies it",
        ),
        (
            "the base names a file elsewhere",
            Box::new(|r| {
                let k = kustomization(r, BASE);
                k["resources"].as_array_mut().unwrap().push("../optional/rbac-tuning.yaml".into());
            }),
            "resource ../optional/rbac-tuning.yaml is not a manifest of deploy/inferno",
        ),
        (
            "the base without the data",
            Box::new(|r| {
                let k = kustomization(r, BASE);
                k["resources"].as_array_mut().unwrap().retain(|x| x != "../../samples/large");
            }),
            "the directory resources must be ../../samples/large (the data ConfigMaps) only, are []",
        ),
        (
            "labels in the selector",
            Box::new(|r| kustomization(r, BASE)["labels"][0]["includeSelectors"] = true.into()),
            "labels must not reach selectors",
        ),
        (
            "no managed-by",
            Box::new(|r| kustomization(r, BASE)["labels"] = serde_json::json!([])),
            "must set app.kubernetes.io/managed-by: kustomize with includeTemplates: true",
        ),
        (
            "a digest in the base",
            Box::new(|r| {
                kustomization(r, BASE)["images"] = serde_json::json!([
                    {"name": "inferno/controller", "digest": "sha256:0123"}
                ])
            }),
            "pinned by digest in the base: keep tags here, pin in an overlay",
        ),
        (
            "hashed data ConfigMaps",
            Box::new(|r| {
                let k = kustomization(r, DATA);
                k["generatorOptions"].as_object_mut().unwrap().remove("disableNameSuffixHash");
            }),
            "configMapGenerator inferno-static-data: needs disableNameSuffixHash: true",
        ),
        (
            "a data file left out",
            Box::new(|r| {
                kustomization(r, DATA)["configMapGenerator"][0]["files"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|f| f != "optimizer-data.json")
            }),
            "the controller reads",
        ),
        (
            "a data file that does not exist",
            Box::new(|r| {
                kustomization(r, DATA)["configMapGenerator"][1]["files"] =
                    serde_json::json!(["capacity.json"])
            }),
            "configMapGenerator inferno-dynamic-data: file capacity.json does not exist",
        ),
        (
            "data in another namespace",
            Box::new(|r| kustomization(r, DATA)["namespace"] = "default".into()),
            "samples/large/kustomization.yaml: namespace: must be inferno",
        ),
        (
            "data without the standard labels",
            Box::new(|r| {
                kustomization(r, DATA)["generatorOptions"]["labels"] = serde_json::json!({})
            }),
            "configMapGenerator inferno-static-data: label app.kubernetes.io/name must be \"inferno\", is null",
        ),
        (
            "an overlay that copies the base",
            Box::new(|r| {
                kustomization(r, "deploy/overlays/recommend")["resources"] =
                    serde_json::json!(["../../inferno/deploy.yaml"])
            }),
            "resources must include the base, ../../inferno",
        ),
        (
            "an overlay with a file elsewhere",
            Box::new(|r| {
                let k = kustomization(r, "deploy/overlays/ha");
                k["resources"].as_array_mut().unwrap().push("../../optional/rbac-tuning.yaml".into());
            }),
            "resource ../../optional/rbac-tuning.yaml: besides the base, an overlay's resources are files of its own directory",
        ),
        (
            "an overlay's own objects not labelled",
            Box::new(|r| {
                kustomization(r, "deploy/overlays/namespaced")
                    .as_object_mut()
                    .unwrap()
                    .remove("labels");
            }),
            "deploy/overlays/namespaced/kustomization.yaml: labels: must set app.kubernetes.io/managed-by",
        ),
        (
            "an overlay gone",
            Box::new(|r| {
                r.layout.kustomizations.insert("deploy/overlays/ha".into(), None);
            }),
            "deploy/overlays/ha: missing: no kustomization.yaml",
        ),
        (
            "an overlay the tests do not know",
            Box::new(|r| {
                let k = kustomization(r, "deploy/overlays/recommend").clone();
                let file = "deploy/overlays/prod/kustomization.yaml".into();
                r.layout.kustomizations.insert("deploy/overlays/prod".into(), Some((file, k)));
            }),
            "deploy/overlays/prod: not in contract::OVERLAYS",
        ),
        (
            "a directory of deploy/ no check reads",
            Box::new(|r| {
                r.layout.deploy_dirs.insert("deploy/helm".into());
            }),
            "deploy/helm: no check reads it: add it to contract::MANIFEST_DIRS",
        ),
        (
            "a misspelt field",
            Box::new(|r| kustomization(r, "deploy/overlays/dry-run")["patchesStrategicMerge"] = serde_json::json!([])),
            "field patchesStrategicMerge is not one this check knows",
        ),
    ];
    let mut failures = Vec::new();
    for (what, change, expect) in &cases {
        let new = added(base, baseline, |r| change(r));
        if !new.iter().any(|p| p.contains(expect)) {
            failures.push(format!("{what}: expected {expect:?}, got {new:#?}"));
        }
    }
    failures
}

/// Every boolean flag a variable can set takes the spellings people write in manifests (true,
/// yes, on, 1 and their opposites, any case: clap's `BoolishValueParser`), not only `true` and
/// `false`: found in the sources, so a new one cannot forget it.
#[test]
fn boolean_variables_take_the_usual_spellings() {
    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root().join("crates")).unwrap().flatten() {
        rust_files(&krate.path().join("src"), &mut files);
    }
    let mut checked = 0;
    let mut missing = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let mut i = 0;
        while i < lines.len() {
            if !lines[i].trim_start().starts_with("#[arg(") {
                i += 1;
                continue;
            }
            let mut attribute = String::new();
            while i < lines.len() {
                attribute.push_str(lines[i].trim());
                i += 1;
                if attribute.ends_with(")]") {
                    break;
                }
            }
            let field = lines.get(i).map_or("", |l| l.trim());
            if attribute.contains("env = \"") && field.ends_with(": bool,") {
                checked += 1;
                if !attribute.contains("BoolishValueParser") {
                    missing.push(format!("{}: {field}", file.display()));
                }
            }
        }
    }
    assert!(
        checked >= 10,
        "found only {checked} boolean variables: is the scan broken?"
    );
    assert!(
        missing.is_empty(),
        "boolean variables without BoolishValueParser:\n{}",
        missing.join("\n")
    );
}
