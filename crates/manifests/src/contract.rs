//! The contract of the deployment files: what the seed's workflow and control-loop spec 7
//! require of them, and what each binary needs from the API server (with the code that needs
//! it). The checks in [`crate::pods`], [`crate::rbac`] and [`crate::repository`] compare the
//! files with these tables.

use crate::rbac::Permission;
use inferno_core::contract::{self, keys};
use std::collections::BTreeSet;

/// The kubelet's probes of a container: HTTP GET of a readiness and a liveness path on the
/// port it reaches on the pod IP ([`Service::pod_port`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probes {
    /// Readiness path.
    pub readiness: &'static str,
    /// Liveness path.
    pub liveness: &'static str,
}

/// Where a service's API (the port [`Service::port`]) listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    /// On every address of the pod: users reach it (the controller).
    Pod,
    /// On 127.0.0.1 only: the other containers of the pod reach it, nothing on the pod IP does
    /// (issue 16: an `Actuator/Apply` from outside the pod moved any Deployment).
    Loopback {
        /// The seed-style variable of the host, set to 127.0.0.1 by the manifest.
        host_env: &'static str,
        /// The variable of the whole address, which overrides host and port: unset or loopback.
        listen_env: &'static str,
    },
}

/// The read-only plain-HTTP listener (GET /healthz, /metrics) of a service whose API is on
/// loopback: what the kubelet probes and Prometheus scrapes on the pod IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ops {
    /// Port.
    pub port: u16,
    /// The variable of its address (`--ops-listen`), set to `0.0.0.0:<port>` by the manifest.
    pub env: &'static str,
    /// The containerPort's name (probes refer to it).
    pub port_name: &'static str,
}

/// Whether a container calls the API server (and so gets the service-account token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiAccess {
    /// Always (what for).
    Always(&'static str),
    /// Never.
    Never,
    /// The controller: only with `INFERNO_LEADER_ELECT=true` (its Lease) or without
    /// `INFERNO_DATA_PATH` (its ConfigMaps through the API).
    LeaseOrApiData,
}

/// One container of the `inferno` pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// Container name (what `kubectl logs -c` takes).
    pub container: &'static str,
    /// Image name without registry and tag (`deploy/docker/<image>.Dockerfile`).
    pub image: &'static str,
    /// Container arguments after the entrypoint.
    pub args: &'static [&'static str],
    /// The port of its API (gRPC; HTTP and gRPC for the controller).
    pub port: u16,
    /// The seed's variable that sets that port (read by the service, and by the controller to
    /// reach it).
    pub port_env: &'static str,
    /// Where the API listens.
    pub listen: Listen,
    /// Its ops listener, when the API is on loopback.
    pub ops: Option<Ops>,
    /// Probes (on [`Service::pod_port`]).
    pub probes: Probes,
    /// Whether it calls the API server.
    pub api_access: ApiAccess,
    /// Variables the seed's manifest sets, with their values (under our names where we renamed
    /// one for clarity: the seed's `INFERNO_PORT` is `OPTIMIZER_PORT`, and the binaries still
    /// read the old name where the new one is unset).
    pub seed_env: &'static [(&'static str, &'static str)],
}

impl Service {
    /// The one port it serves on the pod IP (its `containerPort`): the ops port when the API is
    /// on loopback, else the API's port.
    pub fn pod_port(&self) -> u16 {
        self.ops.map_or(self.port, |o| o.port)
    }
}

/// The four containers of Deployment `inferno` (control-loop spec 1.2 and 7.2; the listener
/// layout of issue 16).
pub const SERVICES: [Service; 4] = [
    Service {
        container: "controller",
        image: "controller",
        args: &[],
        port: 3300,
        port_env: "CONTROLLER_PORT",
        listen: Listen::Pod,
        ops: None,
        probes: Probes {
            readiness: "/readyz",
            liveness: "/healthz",
        },
        api_access: ApiAccess::LeaseOrApiData,
        seed_env: &[
            ("CONTROLLER_PORT", "3300"),
            ("INFERNO_CONTROL_PERIOD", "30"),
            ("INFERNO_CONTROL_DYNAMIC", "false"),
            ("INFERNO_DATA_PATH", "/etc/data/"),
            ("COLLECTOR_PORT", "3301"),
            ("OPTIMIZER_PORT", "3302"),
            ("ACTUATOR_PORT", "3303"),
        ],
    },
    Service {
        container: "collector",
        image: "collector",
        args: &[],
        port: 3301,
        port_env: "COLLECTOR_PORT",
        listen: Listen::Loopback {
            host_env: "COLLECTOR_HOST",
            listen_env: "INFERNO_COLLECTOR_LISTEN",
        },
        ops: Some(Ops {
            port: 3311,
            env: "INFERNO_COLLECTOR_OPS_LISTEN",
            port_name: "ops-collector",
        }),
        probes: Probes {
            readiness: "/healthz",
            liveness: "/healthz",
        },
        api_access: ApiAccess::Always(
            "lists and watches Deployments, lists Pods (crates/collector/src/discover.rs)",
        ),
        seed_env: &[("COLLECTOR_PORT", "3301")],
    },
    Service {
        container: "optimizer",
        image: "optimizer",
        args: &["serve"],
        port: 3302,
        port_env: "OPTIMIZER_PORT",
        listen: Listen::Loopback {
            host_env: "OPTIMIZER_HOST",
            listen_env: "INFERNO_OPTIMIZER_LISTEN",
        },
        ops: Some(Ops {
            port: 3312,
            env: "INFERNO_OPTIMIZER_OPS_LISTEN",
            port_name: "ops-optimizer",
        }),
        probes: Probes {
            readiness: "/healthz",
            liveness: "/healthz",
        },
        api_access: ApiAccess::Never,
        seed_env: &[("OPTIMIZER_PORT", "3302")],
    },
    Service {
        container: "actuator",
        image: "actuator",
        args: &[],
        port: 3303,
        port_env: "ACTUATOR_PORT",
        listen: Listen::Loopback {
            host_env: "ACTUATOR_HOST",
            listen_env: "INFERNO_ACTUATOR_LISTEN",
        },
        ops: Some(Ops {
            port: 3313,
            env: "INFERNO_ACTUATOR_OPS_LISTEN",
            port_name: "ops-actuator",
        }),
        probes: Probes {
            readiness: "/healthz",
            liveness: "/healthz",
        },
        api_access: ApiAccess::Always(
            "gets and patches Deployments, creates Events (crates/actuator/src/apply.rs)",
        ),
        seed_env: &[("ACTUATOR_PORT", "3303")],
    },
];

/// The volume that carries the service-account token into the containers that call the API
/// server (the pod's automatic mount is off).
pub const TOKEN_VOLUME: &str = "kube-api-access";

/// Where the in-cluster configuration reads the token, `ca.crt` and `namespace`.
pub const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The variable naming the bearer-token file of the services (`--auth-token-file`).
pub const AUTH_TOKEN_ENV: &str = "INFERNO_AUTH_TOKEN_FILE";

/// The variable of the namespaces the collector watches and the actuator acts in.
pub const WATCH_NAMESPACE_ENV: &str = "WATCH_NAMESPACE";

/// The NetworkPolicy of the `inferno` pod: `deploy/inferno/networkpolicy.yaml`, name `inferno`.
pub const NETWORK_POLICY: (&str, &str) = ("deploy/inferno/networkpolicy.yaml", "inferno");

/// The ports the `inferno` pod may open connections to, and for what. An egress rule without
/// ports, or with another port, is a problem; each of these must be allowed.
pub const EGRESS_PORTS: [(u16, &str, &str); 5] = [
    (53, "UDP", "DNS (the Prometheus URL is a Service name)"),
    (53, "TCP", "DNS over TCP (large answers)"),
    (443, "TCP", "the API server's Service (kubernetes.default)"),
    (
        6443,
        "TCP",
        "the API server's endpoints (checked after the Service address is translated)",
    ),
    (9090, "TCP", "Prometheus (the collector's queries)"),
];

/// One image: `deploy/docker/<name>.Dockerfile` builds `inferno/<name>:<package version>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Image {
    /// Image name without prefix and tag.
    pub name: &'static str,
    /// Package built.
    pub package: &'static str,
    /// Binary built and run.
    pub bin: &'static str,
    /// The port it serves on outside the container (`EXPOSE`, the manifests' containerPort),
    /// if any: the API's for the controller and the emulated vLLM server, the ops listener's for
    /// the services whose API is on loopback.
    pub port: Option<u16>,
}

/// Every image (the prefix is [`IMAGE_PREFIX`]).
pub const IMAGES: [Image; 6] = [
    Image {
        name: "controller",
        package: "inferno-controller",
        bin: "inferno-controller",
        port: Some(3300),
    },
    Image {
        name: "collector",
        package: "inferno-collector",
        bin: "inferno-collector",
        port: Some(3311),
    },
    Image {
        name: "optimizer",
        package: "inferno-optimizer",
        bin: "inferno-optimizer",
        port: Some(3312),
    },
    Image {
        name: "actuator",
        package: "inferno-actuator",
        bin: "inferno-actuator",
        port: Some(3313),
    },
    Image {
        name: "vllm-emulator",
        package: "inferno-emulator",
        bin: "inferno-vllm-emulator",
        port: Some(8000),
    },
    Image {
        name: "load-emulator",
        package: "inferno-emulator",
        bin: "inferno-load-emulator",
        port: None,
    },
];

/// Repository (name prefix) of the images in the manifests and in `make images`.
pub const IMAGE_PREFIX: &str = "inferno/";

/// The Dockerfiles' directory, relative to the repository root.
pub const DOCKER_DIR: &str = "deploy/docker";

/// A permission a component needs, and why (the code that uses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// API group.
    pub group: &'static str,
    /// Resource.
    pub resource: &'static str,
    /// Verbs.
    pub verbs: &'static [&'static str],
    /// Who needs it and what for.
    pub why: &'static str,
}

/// A Role or ClusterRole that must exist with exactly these permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpectedRole {
    /// `ClusterRole` or `Role`.
    pub kind: &'static str,
    /// Namespace of a Role.
    pub namespace: Option<&'static str>,
    /// Name.
    pub name: &'static str,
    /// File (relative to the repository root) it and its binding are in.
    pub file: &'static str,
    /// The service account (`namespace/name`) bound to it, and only that one.
    pub subject: &'static str,
    /// Permissions; their union is exactly what the role grants.
    pub needs: &'static [Need],
}

/// What the collector and the actuator need in every namespace whose Deployments Inferno
/// manages: granted everywhere by ClusterRole `inferno` (`sa.yaml`), or per namespace by Role
/// `inferno` (`rbac-namespaced.yaml`).
pub const WATCHED_NAMESPACE_NEEDS: &[Need] = &[
    Need {
        group: "apps",
        resource: "deployments",
        verbs: &["list", "watch"],
        why: "collector: discovery of managed Deployments (watcher with list fallback, \
              crates/collector/src/discover.rs)",
    },
    Need {
        group: "",
        resource: "pods",
        verbs: &["list"],
        why: "collector: ready pods of each Deployment (crates/collector/src/discover.rs)",
    },
    Need {
        group: "apps",
        resource: "deployments",
        verbs: &["get", "patch"],
        why: "actuator: read, then one merge patch per decision \
              (crates/actuator/src/apply.rs)",
    },
    Need {
        group: "",
        resource: "pods",
        verbs: &["list", "patch"],
        why: "actuator: before a scale-down, the Deployment's pods and their \
              controller.kubernetes.io/pod-deletion-cost annotation, so the least loaded go \
              first (crates/actuator/src/apply.rs, order.rs)",
    },
    Need {
        group: "events.k8s.io",
        resource: "events",
        verbs: &["create", "patch"],
        why: "actuator: an InfernoScaled or InfernoRefused Event per changed or refused \
              Deployment through kube's Recorder, which patches the Event's series when it \
              repeats (crates/actuator/src/events.rs)",
    },
];

/// The namespace `rbac-namespaced.yaml` is written for (the samples'); a copy per watched
/// namespace changes only that.
pub const NAMESPACED_RBAC_EXAMPLE: &str = "infer";

/// The RBAC of the deployment, least privilege.
pub const EXPECTED_ROLES: [ExpectedRole; 6] = [
    ExpectedRole {
        kind: "ClusterRole",
        namespace: None,
        name: "inferno",
        file: "deploy/inferno/sa.yaml",
        subject: "inferno/inferno",
        needs: WATCHED_NAMESPACE_NEEDS,
    },
    ExpectedRole {
        kind: "Role",
        namespace: Some(NAMESPACED_RBAC_EXAMPLE),
        name: "inferno",
        file: "deploy/overlays/namespaced/rbac-namespaced.yaml",
        subject: "inferno/inferno",
        needs: WATCHED_NAMESPACE_NEEDS,
    },
    ExpectedRole {
        kind: "Role",
        namespace: Some("inferno"),
        name: "inferno-leader-election",
        file: "deploy/overlays/ha/rbac-leader-election.yaml",
        subject: "inferno/inferno",
        needs: &[Need {
            group: "coordination.k8s.io",
            resource: "leases",
            verbs: &["get", "create", "update"],
            why: "controller with INFERNO_LEADER_ELECT=true: get, create and replace its Lease \
                  (crates/controller/src/leader.rs)",
        }],
    },
    ExpectedRole {
        kind: "Role",
        namespace: Some("inferno"),
        name: "inferno-configmaps",
        file: "deploy/optional/rbac-configmaps.yaml",
        subject: "inferno/inferno",
        needs: &[Need {
            group: "",
            resource: "configmaps",
            verbs: &["get"],
            why: "controller without INFERNO_DATA_PATH: reads inferno-static-data and \
                  inferno-dynamic-data every cycle (crates/controller/src/data.rs)",
        }],
    },
    ExpectedRole {
        kind: "Role",
        namespace: Some("inferno"),
        name: "inferno-tuning",
        file: "deploy/optional/rbac-tuning.yaml",
        subject: "inferno/inferno",
        needs: &[Need {
            group: "",
            resource: "configmaps",
            verbs: &["get", "create", "patch"],
            why: "controller with INFERNO_TUNING_CONFIGMAP: reads its ConfigMap at start and \
                  writes it with server-side apply after cycles (crates/controller/src/persist.rs)",
        }],
    },
    ExpectedRole {
        kind: "Role",
        namespace: Some("infer"),
        name: "inferno-load-emulator",
        file: LOAD_EMULATOR_FILE,
        subject: "inferno/load-emulator",
        needs: &[Need {
            group: "apps",
            resource: "deployments",
            verbs: &["get", "list", "patch"],
            why: "load emulator: lists managed Deployments, merge-patches their load labels, \
                  reads one again after a conflict (crates/emulator/src/load/emulator.rs)",
        }],
    },
];

impl ExpectedRole {
    /// The permissions as a set.
    pub fn permissions(&self) -> BTreeSet<Permission> {
        self.needs
            .iter()
            .flat_map(|n| {
                n.verbs
                    .iter()
                    .map(move |v| Permission::new(n.group, n.resource, v))
            })
            .collect()
    }
}

/// The load emulator's manifest (optional: it moves the samples' load labels).
pub const LOAD_EMULATOR_FILE: &str = "deploy/optional/load-emulator.yaml";

/// Files the seed README's commands name, with this repository's paths (relative to the
/// root).
pub const SEED_FILES: [&str; 8] = [
    "deploy/samples/ns.yaml",
    "deploy/samples/dep1.yaml",
    "deploy/samples/dep2.yaml",
    "deploy/samples/dep3.yaml",
    "deploy/inferno/ns.yaml",
    "deploy/inferno/sa.yaml",
    "deploy/inferno/deploy.yaml",
    LOAD_EMULATOR_FILE,
];

/// The default install: a directory of Kubernetes objects only (`kubectl apply -f
/// deploy/inferno/`) that is also the kustomize base (`kubectl apply -k deploy/inferno`).
pub const BASE_DIR: &str = "deploy/inferno";

/// The base's kustomization file. Not `kustomization.yaml`: `kubectl apply -f DIR` reads the
/// `.json`, `.yaml` and `.yml` files of DIR and would fail on it, while this name, one of the
/// three kustomize reads, it skips.
pub const BASE_KUSTOMIZATION: &str = "Kustomization";

/// Files of [`BASE_DIR`] (the base's kustomization lists every YAML file there, these at
/// least).
pub const BASE_FILES: [&str; 4] = ["ns.yaml", "sa.yaml", "deploy.yaml", "networkpolicy.yaml"];

/// The directory whose kustomization generates the data ConfigMaps from the walkthrough's data
/// files, a resource of the base. Beside the data, because kustomize reads a file only in or
/// below the directory of the kustomization that names it (symbolic links included).
pub const DATA_KUSTOMIZATION: &str = "samples/large";

/// The ConfigMaps the controller reads (mounted at its data path).
pub const DATA_CONFIGMAPS: [&str; 2] = [contract::STATIC_CONFIGMAP, contract::DYNAMIC_CONFIGMAP];

/// The files (keys) of each data ConfigMap: what the controller reads from its data directory
/// or from the ConfigMaps (crates/controller/src/data.rs), the walkthrough's `--from-file`s.
pub const DATA_FILES: [(&str, &[&str]); 2] = [
    (
        contract::STATIC_CONFIGMAP,
        &[
            "accelerator-data.json",
            "model-data.json",
            "serviceclass-data.json",
            "optimizer-data.json",
        ],
    ),
    (contract::DYNAMIC_CONFIGMAP, &["capacity-data.json"]),
];

/// Where the overlays are: `deploy/overlays/<name>`, each a `kustomization.yaml` whose
/// resources are the base (`../../inferno`) and files of its own directory.
pub const OVERLAYS_DIR: &str = "deploy/overlays";

/// The overlays (directory names under [`OVERLAYS_DIR`]).
pub const OVERLAYS: [&str; 4] = ["recommend", "ha", "dry-run", "namespaced"];

/// The directories of manifests the checks read (and the kubectl tests apply to kubesim):
/// Inferno's own and the sample inference servers.
pub const MANIFEST_DIRS: [&str; 4] = [BASE_DIR, "deploy/optional", OVERLAYS_DIR, "deploy/samples"];

/// The other directories of `deploy/`, and what checks them.
pub const OTHER_DEPLOY_DIRS: [(&str, &str); 3] = [
    (DOCKER_DIR, "the Dockerfiles (crate::dockerfile)"),
    (
        "deploy/autoscaling",
        "autoscaling in recommend mode: the prometheus-adapter rule (a configuration file, not an \
         object), the HPAs and the KEDA ScaledObjects (a custom resource); kubesim's HPA \
         controller runs the rule and the HPAs against a real Prometheus, and the KEDA queries \
         are run there too (crates/kubesim/tests/it/hpa.rs)",
    ),
    (
        "deploy/monitoring",
        "Prometheus Operator objects, alerts and dashboard (tests/it/monitoring.rs); their kinds \
         are custom resources, which neither the schema checks nor kubesim know",
    ),
];

/// Directories whose objects are Inferno's own (they carry [`STANDARD_LABELS`]); the
/// samples are the inference servers it manages, not part of it.
pub const INFERNO_DIRS: [&str; 3] = [BASE_DIR, "deploy/optional", OVERLAYS_DIR];

/// The recommended labels of Kubernetes (app.kubernetes.io/*), on every object of
/// [`INFERNO_DIRS`] and on every pod template; the generated ConfigMaps carry them too.
pub mod labels {
    /// The application: always [`super::APP`].
    pub const NAME: &str = "app.kubernetes.io/name";
    /// The installation: [`super::APP`].
    pub const INSTANCE: &str = "app.kubernetes.io/instance";
    /// What the object is within Inferno ([`super::component`]).
    pub const COMPONENT: &str = "app.kubernetes.io/component";
    /// The larger application: [`super::APP`].
    pub const PART_OF: &str = "app.kubernetes.io/part-of";
    /// The version: the images' tag (their packages' version).
    pub const VERSION: &str = "app.kubernetes.io/version";
    /// The tool that manages it: [`super::MANAGED_BY_FILES`] in the files,
    /// [`super::MANAGED_BY_KUSTOMIZE`] once kustomize renders them.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
}

/// Every standard label.
pub const STANDARD_LABELS: [&str; 6] = [
    labels::NAME,
    labels::INSTANCE,
    labels::COMPONENT,
    labels::PART_OF,
    labels::VERSION,
    labels::MANAGED_BY,
];

/// The value of name, instance and part-of.
pub const APP: &str = "inferno";

/// `managed-by` as written in the files (`kubectl apply -f`).
pub const MANAGED_BY_FILES: &str = "kubectl";

/// `managed-by` once kustomize renders the files (the base's and the overlays' `labels`).
pub const MANAGED_BY_KUSTOMIZE: &str = "kustomize";

/// The selector of Deployment `inferno` and of its Services, as first released. A
/// Deployment's selector is immutable: adding the standard labels to it would make `kubectl
/// apply` over an existing install fail, so they are on the objects and the template only.
pub const SELECTOR: (&str, &str) = ("app", "inferno");

/// The component label of an Inferno object, by kind and name; `None` for an object this
/// table does not know (a new one must be added here).
pub fn component(kind: &str, name: &str) -> Option<&'static str> {
    Some(match (kind, name) {
        ("Namespace", "inferno") => "namespace",
        ("Deployment", "inferno") => "control-loop",
        ("Service", "inferno") => "api",
        ("Service", METRICS_SERVICE) => "metrics",
        ("NetworkPolicy", "inferno") => "network-policy",
        ("ConfigMap", n) if DATA_CONFIGMAPS.contains(&n) => "data",
        ("ServiceAccount", "load-emulator")
        | ("Pod", "load-emulator")
        | ("Role" | "RoleBinding", "inferno-load-emulator") => "load-emulator",
        ("ServiceAccount", "inferno") => "rbac",
        ("ClusterRole" | "ClusterRoleBinding" | "Role" | "RoleBinding", n)
            if EXPECTED_ROLES.iter().any(|r| r.name == n) =>
        {
            "rbac"
        }
        _ => return None,
    })
}

/// The Service of the pod's four `/metrics` endpoints (what a ServiceMonitor selects).
pub const METRICS_SERVICE: &str = "inferno-metrics";

/// The controller's containerPort name (its API, probes and `/metrics`).
pub const CONTROLLER_PORT_NAME: &str = "http";

/// The ports of [`METRICS_SERVICE`]: each named, numbered and targeted as the container port
/// it leads to (the controller's and the three ops ports; never a loopback gRPC port).
pub fn metrics_ports() -> Vec<(&'static str, u16)> {
    SERVICES
        .iter()
        .map(|s| match s.ops {
            Some(o) => (o.port_name, o.port),
            None => (CONTROLLER_PORT_NAME, s.port),
        })
        .collect()
}

/// The pod template's annotations for a Prometheus that discovers pods by annotation: one
/// port per pod, the controller's (the ops ports need a PodMonitor or ServiceMonitor).
pub const SCRAPE_ANNOTATIONS: [(&str, &str); 3] = [
    ("prometheus.io/scrape", "true"),
    ("prometheus.io/port", "3300"),
    ("prometheus.io/path", "/metrics"),
];

/// Labels of a managed inference-server Deployment that must be set (spec 7.3).
pub const REQUIRED_LABELS: [&str; 4] = [keys::MANAGED, keys::NAME, keys::MODEL, keys::ACCELERATOR];

/// Optional numeric labels and whether they must be integers in the files we ship. Stricter than
/// the collector ([`contract::range`]), which also reads fractional token counts: the samples
/// write whole ones.
pub const NUMERIC_LABELS: [(&str, bool); 5] = [
    (keys::MAX_BATCH, true),
    (keys::LOAD_RPM, false),
    (keys::LOAD_NUM, true),
    (keys::LOAD_IN, true),
    (keys::LOAD_OUT, true),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_roles_are_consistent() {
        for r in EXPECTED_ROLES {
            assert_eq!(r.kind == "Role", r.namespace.is_some(), "{}", r.name);
            assert!(!r.permissions().is_empty());
            assert!(
                INFERNO_DIRS.iter().any(|d| r.file.starts_with(d)),
                "{}",
                r.file
            );
            assert!(component(r.kind, r.name).is_some(), "{}", r.name);
        }
        let main = EXPECTED_ROLES[0].permissions();
        assert!(main.contains(&Permission::new("apps", "deployments", "watch")));
        assert!(!main
            .iter()
            .any(|p| p.verb == "update" || p.verb == "delete"));
    }

    #[test]
    fn tables_agree() {
        for s in SERVICES {
            let img = IMAGES.iter().find(|i| i.name == s.image).unwrap();
            assert_eq!(img.port, Some(s.pod_port()));
            assert!(s
                .seed_env
                .contains(&(s.port_env, s.port.to_string().as_str())));
            // An API on loopback has an ops listener for the kubelet; one on the pod IP not.
            assert_eq!(matches!(s.listen, Listen::Loopback { .. }), s.ops.is_some());
        }
        // Only the collector and the actuator always need the token; the optimizer never.
        let always: Vec<&str> = SERVICES
            .iter()
            .filter(|s| matches!(s.api_access, ApiAccess::Always(_)))
            .map(|s| s.container)
            .collect();
        assert_eq!(always, ["collector", "actuator"]);
    }

    #[test]
    fn metrics_ports_are_the_pods() {
        assert_eq!(
            metrics_ports(),
            [
                ("http", 3300),
                ("ops-collector", 3311),
                ("ops-optimizer", 3312),
                ("ops-actuator", 3313)
            ]
        );
        assert_eq!(SCRAPE_ANNOTATIONS[1].1, SERVICES[0].port.to_string());
        let files: Vec<&str> = DATA_FILES.iter().map(|(cm, _)| *cm).collect();
        assert_eq!(files, DATA_CONFIGMAPS);
    }

    #[test]
    fn numeric_labels_are_the_contracts() {
        for (key, integer) in NUMERIC_LABELS {
            // Every numeric label is one the collector reads as a number, and at least as
            // strict here: an integer there is an integer here.
            let (_, integer_there) = contract::range(key).unwrap_or_else(|| panic!("{key}"));
            assert!(integer || !integer_there, "{key}");
        }
    }

    #[test]
    fn namespaced_rbac_grants_what_the_cluster_role_grants() {
        let role = |kind: &str| {
            EXPECTED_ROLES
                .iter()
                .find(|r| r.kind == kind && r.name == "inferno")
                .unwrap()
                .permissions()
        };
        assert_eq!(role("ClusterRole"), role("Role"));
    }
}
