//! The cycle's three ports. The controller's cycle is generic over them; the gRPC clients are
//! one implementation, the tests' in-memory fakes another.
//!
//! Deadlines are the cycle's business, not the ports': a port's future may be dropped at any
//! await point when its stage's deadline passes.

use crate::apply::{Applied, ApplyRequest};
use crate::collected::Collected;
use crate::decision::{Decision, Explained};
use inferno_api::SystemSpec;
use std::future::Future;

/// Why a port gave no answer: the peer's own words (for gRPC: the status code, the message and
/// the innermost cause), without the stage or the peer's name (the cycle adds them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);

/// Observes every managed server.
pub trait Collect {
    /// Who answers (`collector at http://127.0.0.1:3301`), for errors.
    fn peer(&self) -> String;

    /// One observation of every managed server.
    fn collect(&self) -> impl Future<Output = Result<Collected, PortError>> + Send;
}

/// Decides an allocation.
pub trait Optimize {
    /// Who answers, for errors.
    fn peer(&self) -> String;

    /// The allocation of `system` (its servers carry the load to plan for).
    fn optimize(
        &self,
        system: &SystemSpec,
    ) -> impl Future<Output = Result<Decision, PortError>> + Send;

    /// Why the decision on `system` is what it is, in brief; None from an optimizer that
    /// cannot say (the default).
    fn explain(
        &self,
        system: &SystemSpec,
    ) -> impl Future<Output = Result<Option<Explained>, PortError>> + Send {
        let _ = system;
        async { Ok(None) }
    }
}

/// Applies a decision to the Deployments.
pub trait Apply {
    /// Who answers, for errors.
    fn peer(&self) -> String;

    /// Applies `request` (or, for a dry run, reports what it would do).
    fn apply(
        &self,
        request: ApplyRequest,
    ) -> impl Future<Output = Result<Applied, PortError>> + Send;
}
