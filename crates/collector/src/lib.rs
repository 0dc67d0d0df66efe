//! Inferno collector: finds the managed inference Deployments and what load they see.
//!
//! [`inferno_core::contract::read`] turns a Deployment's labels into a server's identity and
//! load labels; [`promql`] builds the per-pod queries, over the ladder of windows of
//! [`window`]; [`prometheus::Prometheus`] runs them; [`aggregate::assemble`] combines it all
//! into the `ServerSpec` the optimizer reads, with the source of every field and the evidence
//! behind the demand estimate. [`discover::Discovery`] keeps a watch-backed cache of the managed
//! Deployments; [`collect::Collector`] runs one collection into a [`collect::Report`], which
//! [`answer`] turns into the domain's [`inferno_core::Collected`]. [`grpc`] is the only module
//! that speaks `inferno.v1`: it converts that answer once and maps each [`Error`] to a status;
//! [`service`] serves it with health, reflection and the ops pages.
//!
//! # Layout
//! `promql`, `window` (the windows and the estimate's error), `prometheus`, `aggregate` (one
//! server), `spread` (the spread of output lengths, fitted to their histogram), `discover`, `collect` (one collection), `answer` (report -> domain), `error`, `grpc`
//! (the edge), `metrics` (its `/metrics`), `service` (the listeners), `args`.

pub mod aggregate;
pub mod answer;
pub mod args;
pub mod collect;
pub mod discover;
pub mod error;
pub mod grpc;
pub mod metrics;
pub mod prometheus;
pub mod promql;
pub mod service;
pub mod spread;
pub mod window;

pub use error::{Error, Result};
