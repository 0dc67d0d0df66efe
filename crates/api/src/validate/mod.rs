//! Validation and normalisation of a parsed system: every problem is collected, none stops
//! the others.
//!
//! # Layout
//! `check` (the entry points [`validate()`], [`check()`], [`check_each_server`] and what they
//! return), `checker` (the collector of problems and the shared range and name checks), one file
//! per section of the system (`accelerators` with the capacity data, `models`, `classes`,
//! `servers`, `optimizer` with the accepted strings), `problem` ([`Problem`], [`Severity`], entity
//! names) and `file_names` ([`FileNames`]). The tests of one section sit in its file; `fixtures`
//! holds the valid system they edit (the loader's tests read it too), `tests` the tests of the
//! whole.

mod accelerators;
mod check;
mod checker;
mod classes;
mod file_names;
#[cfg(test)]
pub(crate) mod fixtures;
mod models;
mod optimizer;
mod problem;
mod servers;
#[cfg(test)]
mod tests;

pub(crate) use check::finish;
pub use check::{check, check_each_server, validate, Checked, Rejected};
pub use file_names::FileNames;
pub use optimizer::{BATCH_SIZINGS, SATURATION_POLICIES, SOLVERS};
pub(crate) use problem::entity;
pub use problem::{Problem, Severity};
