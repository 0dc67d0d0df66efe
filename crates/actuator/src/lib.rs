//! Inferno actuator: makes the optimizer's decision real on the inference Deployments.
//!
//! [`plan::decide`] is a pure function from a Deployment's state, the allocation and the
//! [`plan::Policy`] to a [`plan::Decision`]; [`plan::merge_patch`] turns it into the one patch
//! applied per Deployment.
//!
//! # Layout
//! `labels` (the label contract), `plan` (decisions and patches).

pub mod labels;
pub mod plan;
