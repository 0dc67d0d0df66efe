//! Inferno optimizer: decides GPU type, replicas and batch size for LLM inference servers.
//!
//! The numeric core is plain synchronous Rust: [`queue`] models one replica (iteration time,
//! birth-death chain, sizing, batch search); [`candidate`] turns a server and an accelerator
//! into a sized allocation; [`solver`] picks one candidate per server within capacities.
//!
//! # Layout
//! `queue/` (the model), `system` (indexed view of the data), `candidate` and `stream`
//! (candidates, lazily in value order), `solver/` (unlimited, greedy, saturation policies),
//! `cancel` (cooperative cancellation), `error` (the crate's [`Error`]).

pub mod alloc;
pub mod cancel;
pub mod candidate;
pub mod cli;
mod error;
pub mod grpc;
pub mod memory;
pub mod queue;
pub mod solver;
pub mod stream;
pub mod synthetic;
pub mod system;

pub use cancel::Cancel;
pub use error::{Error, Result};
pub use solver::{
    allocation_problem, solve, solve_cancellable, Placement, Reason, SaturationPolicy, Solution,
    SolveOptions, SolveReport, SolverKind, Unplaced,
};
