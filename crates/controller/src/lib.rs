//! Inferno controller: runs the control cycle (data -> collect -> optimize -> apply) on a
//! period and on demand, one cycle at a time.
//!
//! [`runner::start`] owns the cycle task; [`cycle::run`] is one cycle; [`server::run`] serves
//! `POST|GET /invoke`, health, metrics and gRPC `inferno.v1.Controller`.
//!
//! # Layout
//! `args`, `data` (static and dynamic data), `cycle`, `runner` (triggers and coalescing),
//! `leader` (Lease election and release), `metrics`, `server`, `shutdown` (the process's
//! shutdown signal).

pub mod args;
pub mod cycle;
pub mod data;
pub mod leader;
pub mod metrics;
pub mod runner;
pub mod server;
pub mod shutdown;
