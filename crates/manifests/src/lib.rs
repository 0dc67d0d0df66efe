//! Checks of Inferno's deployment files against each other and against the workspace: the
//! Kubernetes manifests under `deploy/` ([`contract::MANIFEST_DIRS`]; the Prometheus Operator
//! objects of `deploy/monitoring` have tests of their own), the Dockerfiles under
//! `deploy/docker/`, the `images` target of the Makefile, and the Cargo packages whose binaries
//! the images carry.
//!
//! One module runs things: [`docker`] runs the `inferno` pod as Docker containers (`make pod`,
//! the `inferno-pod` binary). Nothing else here needs a cluster or Docker. [`check_repository`] loads everything ([`Repository`])
//! and returns a [`Report`] whose [`Problem`]s name the file, the object and what is wrong:
//!
//! - **schema** ([`schema`]): every object is decoded strictly into its `k8s-openapi` type
//!   (Kubernetes 1.33 API): an unknown or misspelt field, a wrong type or a missing required
//!   field is a problem; names, labels and namespaces follow the API server's rules;
//!   Deployments' selectors match their templates, probes and mounts refer to ports and volumes
//!   that exist.
//! - **images** ([`dockerfile`], [`workspace`]): every Dockerfile is multi-stage, builds one
//!   binary with `cargo build --release --locked -p PACKAGE --bin BIN` where PACKAGE has that
//!   bin (per `cargo metadata`), with a toolchain at least as new as the highest `rust-version`
//!   of the locked dependencies, and copies only that binary onto a small runtime base as a
//!   non-root user; every container image in the manifests is built by one of them, with the
//!   package's version as tag.
//! - **binaries** ([`workspace::Interface`]): every environment variable a container sets is
//!   one its binary reads and every flag or subcommand is one it accepts (found by scanning
//!   the package's sources and those of its workspace dependencies for clap `env = "..."`
//!   attributes and `env::var("...")` calls).
//! - **Inferno** ([`pods`], [`contract`]): the `inferno` Deployment has the four containers of
//!   the seed with their port variables, requests and limits, a non-root read-only security
//!   context, the data ConfigMaps mounted for the controller only; the listener layout of
//!   issue 16 (the collector's, optimizer's and actuator's gRPC on 127.0.0.1 and not declared as
//!   ports, each one's ops listener on `0.0.0.0` as its only containerPort, HTTP probes on the
//!   port the pod serves on its IP); the service-account token off by default and mounted, as
//!   the automatic mount lays it out, in exactly the containers that call the API server; an
//!   auth-token file only from a mounted Secret, and on the controller whenever a server needs
//!   one; the Service reaches the controller, the metrics Service each `/metrics` port by name,
//!   the pod template carries the scrape annotations and the selector stays `app: inferno`;
//!   the sample Deployments carry the labels the
//!   collector reads, emulate exactly the allocation they are labelled with and get no token;
//!   the load emulator runs with its own service account.
//! - **network** ([`network`]): the NetworkPolicy selects the `inferno` pods, restricts ingress
//!   and egress, admits only the ports served on the pod IP from named sources, and lets the
//!   pod reach only DNS, the API server and Prometheus ([`contract::EGRESS_PORTS`]).
//! - **RBAC** ([`rbac`], [`contract::EXPECTED_ROLES`]): each Role and ClusterRole grants exactly
//!   the verbs its table entry lists (no more, no less, no wildcards), bound to the intended
//!   service account; the namespaced Role grants what the ClusterRole grants; the collector and
//!   the actuator watch the same namespaces, each with its binding.
//! - **layout** ([`layout`]): `deploy/inferno` holds only Kubernetes objects (`kubectl apply
//!   -f`) and is the kustomize base (`Kustomization`, listing every file there); the data
//!   ConfigMaps are generated under their own names; each overlay patches the base; every
//!   Inferno object and pod template carries the standard `app.kubernetes.io/*` labels.
//! - **make** ([`makefile`]): `make images` builds every Dockerfile and nothing else.
//!
//! The crate's tests also apply every manifest with the real `kubectl` to kubesim, render the
//! base and each overlay with `kubectl kustomize` and check the result with these checks, apply
//! them (`-f` and `-k`), run the seed's user workflow there, run `make images` with a fake
//! `docker`, and run the `inferno` pod's containers as local processes with the manifest's
//! environment (docs/deploy.md).

pub mod contract;
pub mod docker;
pub mod dockerfile;
pub mod layout;
pub mod makefile;
pub mod manifest;
pub mod network;
pub mod pods;
pub mod rbac;
pub mod repository;
pub mod schema;
pub mod workspace;

pub use manifest::Object;
pub use repository::{check_repository, Report, Repository};

use std::fmt;
use std::path::PathBuf;

/// Something wrong in a file: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// The file (relative to the repository root when it is under it).
    pub file: PathBuf,
    /// The object or part of the file (`Deployment inferno/inferno`, `container controller`,
    /// `target images`), or empty for the whole file.
    pub place: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem in `file` at `place`.
    pub fn new(
        file: impl Into<PathBuf>,
        place: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            place: place.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.place.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{}: {}: {}",
                self.file.display(),
                self.place,
                self.message
            )
        }
    }
}

/// Failures to read what is to be checked (as opposed to [`Problem`]s found in it).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A YAML or JSON file does not parse.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// `cargo metadata` failed or printed something unexpected.
    #[error("cargo metadata: {0}")]
    Cargo(String),
}

/// Result of this crate's loading functions.
pub type Result<T, E = Error> = std::result::Result<T, E>;
