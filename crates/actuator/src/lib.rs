//! Inferno actuator: makes the optimizer's decision real on the inference Deployments.
//!
//! The actuator works on the domain's types (`inferno_core`): it is asked an
//! [`inferno_core::ApplyRequest`] and answers one [`inferno_core::DeploymentResult`] per
//! Deployment; `inferno.v1` is met only at its gRPC edge, [`grpc`]. The labels it reads and
//! writes are the Kubernetes contract of `inferno_core::contract`, read as the collector reads
//! them.
//!
//! [`plan::decide`] is a pure function from a Deployment's state, the allocation and the
//! [`plan::Policy`] to a [`plan::Decision`]; [`plan::merge_patch`] turns it into the one patch
//! applied per Deployment. [`guard`] decides whether the actuator may act on a Deployment at
//! all (managed label, watched namespace, uid, server name, request ranges);
//! [`apply::Actuator`] checks, reads, decides and patches each Deployment, or refuses it, and
//! reports an [`outcome::Outcome`] for each. Before a scale-down it sets the pods'
//! pod-deletion-cost from their load ([`order`]), so the least loaded pods go.
//!
//! # Layout
//! `plan` (decisions and patches), `guard` (refusals), `order` (which pods a scale-down
//! removes), `apply` (the Kubernetes calls),
//! `events` (the Events recorded on Deployments), `outcome` (what happened to each Deployment,
//! and its domain result), `error` (the error types), `metrics`, `grpc` (the
//! `inferno.v1.Actuator` service and the status of each error), `service` (the gRPC and ops
//! listeners), `args` (flags).

pub mod apply;
pub mod args;
pub mod error;
pub mod events;
pub mod grpc;
pub mod guard;
pub mod metrics;
pub mod order;
pub mod outcome;
pub mod plan;
pub mod service;
