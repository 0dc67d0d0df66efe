//! Reading the data files with the decoding rules of the reference (Go `encoding/json`).
//!
//! The text is walked once with a schema of every field (the `Schema` tables), which
//! renames each object key to its canonical spelling (keys match case-insensitively, as in Go),
//! drops JSON `null`s (Go leaves the field at its zero value), and checks each value's type while
//! the parser still knows the line and column. Unknown keys are dropped too, as Go drops them,
//! but never silently: each is recorded with its JSON path and the closest known field, and
//! becomes a warning (an error when reading strictly). The result is a `serde_json::Value` with
//! canonical keys that the serde derives of [`crate::types`] read. Legacy (SEED) shapes are then
//! rewritten into the current ones.
//!
//! # Layout
//! From the outside in: `files` (directories and files on disk, [`Loaded`], [`LoadOptions`]),
//! `parse` (the [`DataFile`] trait, [`parse_file`] and the `parse_*` functions), `read` (one text
//! to one typed value per kind of file, and JSON errors with their positions), `walk` (the serde
//! visitor with Go's key matching and type checks), `schema` (the field tables it walks with),
//! `unknown` (dropped keys, where they are and how they are reported), `legacy` (SEED shapes
//! rewritten), `closest` (the "did you mean" of the reports).

mod closest;
mod files;
mod legacy;
mod parse;
mod read;
mod schema;
mod unknown;
mod walk;

pub use closest::closest;
pub use files::{load_dir, load_dir_with, load_path, load_path_with, LoadOptions, Loaded};
pub use parse::{
    parse_accelerators, parse_capacity, parse_file, parse_models, parse_optimizer, parse_servers,
    parse_service_classes, parse_solution, parse_system, DataFile, Parsed,
};
