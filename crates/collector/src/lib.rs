//! Inferno collector: finds the managed inference Deployments and what load they see.
//!
//! [`labels::read`] turns a Deployment's labels into a server's identity and load labels;
//! [`promql`] builds the per-pod queries; [`prometheus::Prometheus`] runs them;
//! [`aggregate::assemble`] combines it all into the `ServerSpec` the optimizer reads, with the
//! source of every field.
//!
//! [`discover::Discovery`] keeps a watch-backed cache of the managed Deployments;
//! [`collect::Collector`] runs one collection; [`service`] serves it as `inferno.v1.Collector`.
//!
//! # Layout
//! `labels`, `promql`, `prometheus`, `aggregate`, `discover`, `collect`, `service`, `args`.

pub mod aggregate;
pub mod args;
pub mod collect;
pub mod discover;
pub mod labels;
pub mod prometheus;
pub mod promql;
pub mod service;
