//! `inferno-bench`: the closed-loop benchmark (docs/benchmark.md).
//!
//! It runs a scenario (load over time, start-up delays, true server parameters) against the
//! real loop and three baselines at once, on one kubesim with one namespace per policy, with
//! the same requests sent to each, and measures every request against its class's targets.
//!
//! # Layout
//! `scenario` (the file), `plan` (the checked [`plan::Plan`]), `duration`, `arrivals` (seeded request
//! streams), `cluster` (kubesim, the Deployments, the pods' emulated servers and the
//! per-Deployment gateway), `policies/` (inferno: the four services as processes; hpa; the
//! optimizer-planned static-peak and clairvoyant), `records` (per-request and per-sample
//! records), `summary` (summary.json / summary.md), `chart` (timeline.png), `run` (one run).

pub mod arrivals;
pub mod chart;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod demand;
pub mod duration;
pub mod error;
pub mod gateway;
pub mod plan;
pub mod planner;
pub mod policies;
pub mod processes;
pub mod realised;
pub mod run;
pub mod scenario;
pub mod summary;
pub mod timeline;
pub mod traffic;

pub use error::{Error, Result};
