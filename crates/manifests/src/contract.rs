//! The contract of the deployment files: what the seed's workflow and control-loop spec 7
//! require of them, and what each binary needs from the API server (with the code that needs
//! it). The checks in [`crate::pods`], [`crate::rbac`] and [`crate::repository`] compare the
//! files with these tables.

use crate::rbac::Permission;
use std::collections::BTreeSet;

/// How the kubelet checks a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// HTTP GET of a readiness and a liveness path on the container's port.
    Http {
        /// Readiness path.
        readiness: &'static str,
        /// Liveness path.
        liveness: &'static str,
    },
    /// `grpc.health.v1.Health/Check` with the empty service name on the container's port.
    Grpc,
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
    /// The port it listens on.
    pub port: u16,
    /// The seed's variable that sets that port (read by the service, and by the controller to
    /// reach it).
    pub port_env: &'static str,
    /// Probes.
    pub probe: Probe,
    /// Variables the seed's manifest sets, with their values.
    pub seed_env: &'static [(&'static str, &'static str)],
}

/// The four containers of Deployment `inferno` (control-loop spec 1.2 and 7.2).
pub const SERVICES: [Service; 4] = [
    Service {
        container: "controller",
        image: "controller",
        args: &[],
        port: 3300,
        port_env: "CONTROLLER_PORT",
        probe: Probe::Http {
            readiness: "/readyz",
            liveness: "/healthz",
        },
        seed_env: &[
            ("CONTROLLER_PORT", "3300"),
            ("INFERNO_CONTROL_PERIOD", "30"),
            ("INFERNO_CONTROL_DYNAMIC", "false"),
            ("INFERNO_DATA_PATH", "/etc/data/"),
            ("COLLECTOR_PORT", "3301"),
            ("INFERNO_PORT", "3302"),
            ("ACTUATOR_PORT", "3303"),
        ],
    },
    Service {
        container: "collector",
        image: "collector",
        args: &[],
        port: 3301,
        port_env: "COLLECTOR_PORT",
        probe: Probe::Grpc,
        seed_env: &[("COLLECTOR_PORT", "3301")],
    },
    Service {
        container: "optimizer",
        image: "optimizer",
        args: &["serve"],
        port: 3302,
        port_env: "INFERNO_PORT",
        probe: Probe::Grpc,
        seed_env: &[("INFERNO_PORT", "3302")],
    },
    Service {
        container: "actuator",
        image: "actuator",
        args: &[],
        port: 3303,
        port_env: "ACTUATOR_PORT",
        probe: Probe::Grpc,
        seed_env: &[("ACTUATOR_PORT", "3303")],
    },
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
    /// The port it serves on in the manifests, if any.
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
        port: Some(3301),
    },
    Image {
        name: "optimizer",
        package: "inferno-optimizer",
        bin: "inferno-optimizer",
        port: Some(3302),
    },
    Image {
        name: "actuator",
        package: "inferno-actuator",
        bin: "inferno-actuator",
        port: Some(3303),
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

/// The RBAC of the deployment, least privilege.
pub const EXPECTED_ROLES: [ExpectedRole; 4] = [
    ExpectedRole {
        kind: "ClusterRole",
        namespace: None,
        name: "inferno",
        file: "deploy/inferno/sa.yaml",
        subject: "inferno/inferno",
        needs: &[
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
                resource: "events",
                verbs: &["create"],
                why: "actuator: an InfernoScaled Event per changed Deployment \
                      (crates/actuator/src/apply.rs)",
            },
        ],
    },
    ExpectedRole {
        kind: "Role",
        namespace: Some("inferno"),
        name: "inferno-leader-election",
        file: "deploy/inferno/rbac-leader-election.yaml",
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
        file: "deploy/inferno/rbac-configmaps.yaml",
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
        namespace: Some("infer"),
        name: "inferno-load-emulator",
        file: "deploy/inferno/load-emulator.yaml",
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

/// Files the seed README's commands name, relative to the repository root.
pub const SEED_FILES: [&str; 8] = [
    "deploy/samples/ns.yaml",
    "deploy/samples/dep1.yaml",
    "deploy/samples/dep2.yaml",
    "deploy/samples/dep3.yaml",
    "deploy/inferno/ns.yaml",
    "deploy/inferno/sa.yaml",
    "deploy/inferno/deploy.yaml",
    "deploy/inferno/load-emulator.yaml",
];

/// Files `deploy/inferno/kustomization.yaml` must list (the optional RBAC files and the load
/// emulator may be added).
pub const KUSTOMIZE_REQUIRED: [&str; 3] = ["ns.yaml", "sa.yaml", "deploy.yaml"];

/// The ConfigMaps the controller reads (mounted at its data path).
pub const DATA_CONFIGMAPS: [&str; 2] = ["inferno-static-data", "inferno-dynamic-data"];

/// Labels of a managed inference-server Deployment that must be set (spec 7.3).
pub const REQUIRED_LABELS: [&str; 4] = [
    "inferno.server.managed",
    "inferno.server.name",
    "inferno.server.model",
    "inferno.server.allocation.accelerator",
];

/// Optional numeric labels and whether they must be integers.
pub const NUMERIC_LABELS: [(&str, bool); 5] = [
    ("inferno.server.allocation.maxbatchsize", true),
    ("inferno.server.load.rpm", false),
    ("inferno.server.load.numtokens", true),
    ("inferno.server.load.intokens", true),
    ("inferno.server.load.outtokens", true),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_roles_are_consistent() {
        for r in EXPECTED_ROLES {
            assert_eq!(r.kind == "Role", r.namespace.is_some(), "{}", r.name);
            assert!(!r.permissions().is_empty());
            assert!(r.file.starts_with("deploy/inferno/"));
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
            assert_eq!(img.port, Some(s.port));
            assert!(s
                .seed_env
                .contains(&(s.port_env, s.port.to_string().as_str())));
        }
    }
}
