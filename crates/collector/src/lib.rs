//! Inferno collector: finds the managed inference Deployments and what load they see.
//!
//! [`labels::read`] turns a Deployment's labels into a server's identity and load labels;
//! [`promql`] builds the per-pod queries; [`prometheus::Prometheus`] runs them;
//! [`aggregate::assemble`] combines it all into the `ServerSpec` the optimizer reads, with the
//! source of every field.
//!
//! # Layout
//! `labels`, `promql`, `prometheus`, `aggregate`.

pub mod aggregate;
pub mod labels;
pub mod prometheus;
pub mod promql;
