//! Inferno actuator: makes the optimizer's decision real on the inference Deployments.
//!
//! [`plan::decide`] is a pure function from a Deployment's state, the allocation and the
//! [`plan::Policy`] to a [`plan::Decision`]; [`plan::merge_patch`] turns it into the one patch
//! applied per Deployment.
//!
//! [`apply::Actuator`] reads each Deployment, decides and patches it; [`service`] serves it as
//! `inferno.v1.Actuator` with `/metrics`.
//!
//! # Layout
//! `labels` (the label contract), `plan` (decisions and patches), `apply` (Kubernetes calls and
//! Events), `metrics`, `service` (gRPC), `args` (flags).

pub mod apply;
pub mod args;
pub mod labels;
pub mod metrics;
pub mod plan;
pub mod service;
