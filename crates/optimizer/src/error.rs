//! Errors of the optimizer library.

/// Everything that can go wrong in the queue model and the solvers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A model input is out of its domain.
    #[error("invalid queue model input: {field}: {message}")]
    InvalidInput {
        /// The offending field, in the queue-analysis problem's JSON spelling.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The service rate of some occupancy is zero, infinite or NaN (e.g. alpha = beta = gamma = 0).
    #[error("degenerate service model: service rate at batch {batch} is {rate} req/ms")]
    DegenerateService {
        /// The occupancy whose rate is bad.
        batch: u32,
        /// The rate, requests/ms.
        rate: f64,
    },
    /// An analysis was asked for at a rate that is not positive.
    #[error("request rate must be > 0 req/s, got {0}")]
    NonPositiveRate(f64),
    /// The computation was cancelled: its request's deadline passed or its client went away.
    #[error("cancelled: the request's deadline passed or its client went away")]
    Cancelled,
    /// A system without servers: nothing to solve.
    #[error(
        "no servers to solve: the system has no servers (serverData.servers is empty or missing)"
    )]
    NoServers,
    /// A latency target cannot be met even at the lowest rate of the model's range.
    #[error("{metric} target {target} ms below region: the model predicts {lowest} ms at the lowest rate")]
    TargetBelowRegion {
        /// `TTFT` or `ITL`.
        metric: &'static str,
        /// The target, ms.
        target: f64,
        /// The metric at the lowest rate, ms.
        lowest: f64,
    },
}

impl Error {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            message: message.into(),
        }
    }
}

/// Result with the optimizer [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
