//! Errors of the collector: why a collection has no answer at all. Everything else that goes
//! wrong in a cycle (Prometheus down or slow, bad samples, bad labels) is a problem of the
//! answer, not an error (see [`crate::collect`]).

/// Why a `Collect` call has no answer. Its gRPC status is chosen in one place,
/// `impl From<Error> for tonic::Status` in [`crate::grpc`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The managed Deployments cannot be listed: nothing is known of any server.
    #[error("kubernetes: cannot list deployments: {0}")]
    Kubernetes(#[from] kube::Error),
    /// The answer does not fit the wire contract (a count beyond a 32-bit field).
    #[error("the answer cannot be encoded: {0}")]
    Encode(#[from] inferno_proto::ConvertError),
}

/// Result with the collector's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
