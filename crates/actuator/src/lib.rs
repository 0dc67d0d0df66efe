//! Inferno actuator: makes the optimizer's decision real on the inference Deployments.
//!
//! [`plan::decide`] is a pure function from a Deployment's state, the allocation and the
//! [`plan::Policy`] to a [`plan::Decision`]; [`plan::merge_patch`] turns it into the one patch
//! applied per Deployment.
//!
//! [`guard`] decides whether the actuator may act on a Deployment at all (managed label, watched
//! namespace, uid, server name, request ranges); [`apply::Actuator`] checks, reads, decides and
//! patches each Deployment, or refuses it; [`service`] serves it as `inferno.v1.Actuator`
//! (loopback by default, optionally behind a bearer token) with a read-only ops listener.
//!
//! # Layout
//! `labels` (the label contract), `guard` (refusals), `plan` (decisions and patches), `apply`
//! (Kubernetes calls and Events), `metrics`, `service` (gRPC and ops listeners), `args` (flags).

pub mod apply;
pub mod args;
pub mod guard;
pub mod labels;
pub mod metrics;
pub mod plan;
pub mod service;
