//! Inferno optimizer: decides GPU type, replicas and batch size for LLM inference servers.
//!
//! The numeric core is plain synchronous Rust: [`queue`] models one replica (iteration time,
//! birth-death chain, sizing, batch search); [`candidate`] turns a server and an accelerator
//! into a sized allocation; [`solver`] picks one candidate per server within capacities.
//!
//! # Features
//! `server` (default) adds the command line (`cli`) and the gRPC service (`grpc`), with
//! their async runtime, protobuf and telemetry dependencies. Crates that only need the model
//! depend with `default-features = false`: the library is then numeric only (its dependencies
//! are `inferno-api`, the MILP backend, rayon, thiserror, tracing, libc and the seeded
//! generator of `synthetic`).
//!
//! # Layout
//! - `queue/`: the model of one replica (closed forms, chain, analyzer, sizing, concurrency).
//! - `system`: an indexed, normalised view of the data for the solvers.
//! - `candidate`, `stream`: sized candidates per (server, accelerator), lazily in value order.
//! - `solver/`: [`solve`] (unlimited, greedy with saturation policies, exact, Lagrangian).
//! - `alloc/`: the allocation problem in abstract form and its MILP / Lagrangian solvers.
//! - `cancel`: cooperative cancellation ([`Cancel`]), std only.
//! - `error`: the crate's [`Error`].
//! - `memory`: giving freed memory back to the OS after a very large request.
//! - `synthetic`: seeded synthetic systems for benchmarks and tests.
//! - `cli/` (`server`): the `inferno-optimizer` command line.
//! - `grpc/` (`server`): the `inferno.v1.Optimizer` service, its status codes and metrics.

pub mod alloc;
pub mod cancel;
pub mod candidate;
#[cfg(feature = "server")]
pub mod cli;
mod error;
pub mod explain;
#[cfg(feature = "server")]
pub mod grpc;
pub mod memory;
pub mod queue;
pub mod solver;
pub mod stream;
pub mod synthetic;
pub mod system;
pub mod tune;

pub use cancel::Cancel;
pub use candidate::{BatchSizing, ChangeCost};
pub use error::{Error, Result};
pub use solver::{
    allocation_problem, solve, solve_cancellable, Placement, Reason, SaturationPolicy, Solution,
    SolveOptions, SolveReport, SolverKind, Unplaced,
};
