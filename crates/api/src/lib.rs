//! Inferno data model: the JSON data files of the optimizer and control loop, their parsing
//! with the reference decoder's rules (case-insensitive keys, legacy shapes) and validation.
//!
//! Main entry points: [`load_path`] / [`load_dir`] (read, parse, validate; strictly with
//! [`load_path_with`] and [`LoadOptions`]) returning a [`Loaded`] system with its warnings,
//! [`parse_file`] for one file's text with the unknown fields it ignored (the `parse_*` functions
//! drop them), and [`validate()`].
//!
//! # Layout
//! - `types`: the data types, [`SystemSpec`] at the top.
//! - `load`: reading and decoding. `files` (directories and files on disk, [`Loaded`],
//!   [`LoadOptions`]), `parse` ([`DataFile`], [`parse_file`], the `parse_*` functions), `read`
//!   (one text to one typed value per kind of file; JSON errors with their positions), `fast`
//!   and `strict` (canonical texts straight into the types), `walk` (the serde visitor with Go's
//!   key matching and type checks, for every other text), `schema` (the field tables it walks
//!   with), `unknown` (dropped keys and their reports), `legacy` (SEED shapes rewritten),
//!   `closest` ([`closest`], the "did you mean").
//! - `validate`: [`Problem`]s and normalisation. `check` ([`validate()`], [`check`],
//!   [`check_each_server`] and their outcomes), `checker` (the problem collector and the shared
//!   range and name checks), `accelerators` (with the capacity data), `models`, `classes`,
//!   `servers`, `optimizer` (with [`SOLVERS`] and the other accepted strings), `problem`
//!   ([`Problem`], [`Severity`]), `file_names` ([`FileNames`]); test `fixtures` and `tests`.
//! - [`limits`]: the valid range of every number that can reach a decision.
//! - `error`: the crate's [`Error`].

mod error;
pub mod limits;
mod load;
mod types;
mod validate;

pub use error::{Error, Result};
pub use load::{
    closest, load_dir, load_dir_with, load_path, load_path_with, load_text_with,
    parse_accelerators, parse_capacity, parse_file, parse_models, parse_optimizer, parse_servers,
    parse_service_classes, parse_solution, parse_system, DataFile, LoadOptions, Loaded, Parsed,
};
pub use types::*;
pub use validate::{
    check, check_each_server, validate, Checked, FileNames, Problem, Rejected, Severity,
    BATCH_SIZINGS, SATURATION_POLICIES, SOLVERS,
};
