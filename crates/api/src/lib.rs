//! Inferno data model: the JSON data files of the optimizer and control loop, their parsing
//! with the reference decoder's rules (case-insensitive keys, legacy shapes) and validation.
//!
//! Main entry points: [`load_path`] / [`load_dir`] (read, parse, validate; strictly with
//! [`load_path_with`] and [`LoadOptions`]) returning a [`Loaded`] system with its warnings,
//! [`parse_file`] for one file's text with the unknown fields it ignored (the `parse_*` functions
//! drop them), and [`validate()`].
//!
//! # Layout
//! `types` (the data types, [`SystemSpec`] at the top), `load` (decoding), `validate`
//! ([`Problem`]s and normalisation), `error` (the crate's [`Error`]).

mod error;
pub mod limits;
mod load;
mod types;
mod validate;

pub use error::{Error, Result};
pub use load::{
    closest, load_dir, load_dir_with, load_path, load_path_with, parse_accelerators,
    parse_capacity, parse_file, parse_models, parse_optimizer, parse_servers,
    parse_service_classes, parse_solution, parse_system, DataFile, LoadOptions, Loaded, Parsed,
};
pub use types::*;
pub use validate::{
    check, check_each_server, validate, Checked, FileNames, Problem, Rejected, Severity,
    BATCH_SIZINGS, SATURATION_POLICIES, SOLVERS,
};
