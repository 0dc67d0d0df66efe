//! The queueing model of one continuously-batching inference replica (spec sections 1-2).
//!
//! [`ServiceModel`] holds the iteration-time model (alpha, beta, gamma, chunked prefill);
//! [`Analyzer`] adds the birth-death chain and answers `analyze(rate)`; [`Analyzer::size`]
//! finds the largest rate meeting TTFT/ITL/TPS targets; [`optimal_concurrency`] searches the
//! batch cap. Everything here is synchronous, allocation-light and in f64.
//!
//! # Layout
//! `service` (per-request closed forms), `chain` (stationary law), `analyzer` (metrics),
//! `size` (root finding), `concurrency` (M* search), `input` (a queue problem as requests and
//! files state it, checked against `inferno_api::limits`).

mod analyzer;
mod chain;
mod concurrency;
mod input;
mod service;
mod size;

pub use analyzer::{Analyzer, Metrics, QueueConfig, RateRange};
pub use concurrency::{optimal_concurrency, Concurrency, ConcurrencySearch};
pub use input::{QueueInput, MAX_RPS};
pub use service::{
    chunk_threshold, peak_service_rate, PerfParams, ServiceModel, DEFAULT_MAX_TOKENS,
};
pub use size::{Binding, Sizing, Targets};
