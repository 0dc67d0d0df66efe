//! Inferno controller: runs the control cycle (data -> collect -> optimize -> apply) on a
//! period and on demand, one cycle at a time.
//!
//! [`runner::start`] owns the cycle task; [`cycle::run`] is one cycle, generic over the three
//! ports of `inferno-core` (collect, optimize, apply), so it knows nothing of gRPC;
//! [`grpc`] holds the gRPC edges (the clients as ports, the `inferno.v1.Controller` service);
//! [`server::run`] serves `POST|GET /invoke`, health, metrics and the gRPC service.
//!
//! # Layout
//! `args`, `data` (static and dynamic data), `cycle` (one cycle on domain types), `grpc` (the
//! only code that touches `inferno.v1`), `runner` (triggers and coalescing),
//! `leader` (Lease election and release), `metrics`, `policy` (the loop's judgement and what it
//! learns: forecasts, tuned parameters), `persist` (that knowledge kept in a ConfigMap),
//! `server`, `shutdown` (the process's shutdown signal).

pub mod args;
pub mod cycle;
pub mod data;
pub mod grpc;
pub mod leader;
pub mod metrics;
pub mod persist;
pub mod policy;
pub mod runner;
pub mod server;
pub mod shutdown;
#[cfg(test)]
mod testdata;
