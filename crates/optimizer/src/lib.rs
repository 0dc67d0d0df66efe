//! Inferno optimizer: decides GPU type, replicas and batch size for LLM inference servers.
//!
//! The numeric core is plain synchronous Rust: [`queue`] models one replica (iteration time,
//! birth-death chain, sizing, batch search).
//!
//! # Layout
//! `queue/` (the model), `error` (the crate's [`Error`]).

mod error;
pub mod queue;

pub use error::{Error, Result};
