//! The actuator's errors, by what they fail: a whole Apply call ([`Error`], answered as a gRPC
//! status by `grpc`), one Deployment ([`Failure`]: its outcome is `failed`, the others go on),
//! or a flag's value ([`UnknownName`]). A refusal is none of these: it is an outcome the
//! actuator chose (see `guard`).

/// Why an Apply call failed as a whole. One Deployment's failure or refusal is not this: it is
/// that Deployment's outcome, and the call answers OK.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The answer does not fit the wire (a number beyond 32 bits). A bug: every number the
    /// actuator reports is bounded by `inferno_api::limits` or comes from a 32-bit field.
    #[error("cannot encode the answer: {0}")]
    Encode(#[from] inferno_proto::ConvertError),
}

/// A result of the actuator's calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the actuator could not act on one Deployment (the message says what the API server said).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The Deployment could not be read.
    #[error("cannot read the deployment: {0}")]
    Read(#[source] kube::Error),
    /// The patch was not applied (after the conflict retries, if it conflicted).
    #[error("patch failed: {0}")]
    Patch(#[source] kube::Error),
}

/// A name that is not one of a flag's choices (`--mode`, `--unplaced`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?} ({choices})")]
pub struct UnknownName {
    /// What was named (`mode`, `unplaced policy`).
    pub what: &'static str,
    /// The name given.
    pub given: String,
    /// The choices, comma-separated.
    pub choices: &'static str,
}
