//! Inferno data model: the JSON data files of the optimizer and control loop, their parsing
//! with the reference decoder's rules (case-insensitive keys, legacy shapes) and validation.
//!
//! Main entry points: [`load_path`] / [`load_dir`] (read, parse, validate) returning a
//! [`Loaded`] system, the `parse_*` functions for one file's text, and [`validate()`].
//!
//! # Layout
//! `types` (the data types, [`SystemSpec`] at the top), `load` (decoding), `validate`
//! ([`Problem`]s and normalisation), `error` (the crate's [`Error`]).

mod error;
mod load;
mod types;
mod validate;

pub use error::{Error, Result};
pub use load::{
    load_dir, load_path, parse_accelerators, parse_capacity, parse_models, parse_optimizer,
    parse_servers, parse_service_classes, parse_solution, parse_system, Loaded,
};
pub use types::*;
pub use validate::{
    check, validate, FileNames, Problem, Severity, BATCH_SIZINGS, SATURATION_POLICIES, SOLVERS,
};
