//! Emulated vLLM servers for exercising Inferno without GPUs.
//!
//! Each emulated server runs continuous batching with chunked prefill in (optionally
//! accelerated) real time; an iteration takes `alpha + beta * computed tokens + gamma * KV
//! tokens read` ms, the iteration model of the queueing spec (section 1.1). It answers
//! OpenAI-style `POST /v1/completions`, can generate its own Poisson load, and exports vLLM's
//! metric names on `/metrics`. A [`Host`] runs many servers in one process, each on its own
//! port, started and stopped at run time; a [`ServerHandle`] changes a server's batch cap,
//! accelerator and load while it runs, and sends it requests in process
//! ([`ServerHandle::complete`], answered with a [`Completion`]).
//!
//! # Layout
//! `config` ([`ServerSpec`], [`LoadSpec`], [`Catalog`]), `scheduler` (batching and chunked
//! prefill, pure), `engine` (the per-server task and its clock), `completion` (an outside
//! request's reply, [`Completion`]), `poisson` (internal load),
//! `metrics` (vLLM metrics, [`Snapshot`]), `server` (shared state, [`Allocation`]), `http`
//! (routes), `host` ([`Host`], [`ServerHandle`]), `cli` (the program's flags and [`cli::run`]),
//! [`follow`] (one server per kubesim pod, following the Deployment labels; a Prometheus
//! targets file), [`load`] (the load emulator rewriting the Deployments' load labels),
//! [`labels`] (the label vocabulary).

pub mod cli;
mod completion;
mod config;
mod engine;
mod error;
pub mod follow;
mod host;
mod http;
pub mod labels;
pub mod load;
mod metrics;
mod poisson;
mod rng;
mod scheduler;
mod server;

pub use completion::Completion;
pub use config::{
    Catalog, LoadSpec, ServerSpec, TokenDist, DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_NUM_TOKENS,
};
pub use error::{Error, Result};
pub use host::{Host, ServerHandle};
pub use inferno_api::PerfParms;
pub use metrics::{Snapshot, Summary};
pub use server::{Allocation, AllocationUpdate};
