//! The Kubernetes contract: label keys of managed inference Deployments.

/// Marks a Deployment as managed by Inferno (value `"true"`).
pub const MANAGED: &str = "inferno.server.managed";
/// Server name.
pub const NAME: &str = "inferno.server.name";
/// Accelerator of the current allocation.
pub const ACCELERATOR: &str = "inferno.server.allocation.accelerator";
/// Max batch size of the current allocation.
pub const MAX_BATCH: &str = "inferno.server.allocation.maxbatchsize";
/// Lower bound on replicas (optional).
pub const MIN_REPLICAS: &str = "inferno.server.min-replicas";
/// Upper bound on replicas (optional).
pub const MAX_REPLICAS: &str = "inferno.server.max-replicas";
