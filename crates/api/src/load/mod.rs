//! Reading the data files with the decoding rules of the reference (Go `encoding/json`).
//!
//! Each text is first offered to the fast path (`fast`, `strict`): serde's derives read it
//! straight into the types of [`crate::types`], through a wrapper of serde_json's deserializer
//! that refuses any input on which serde and Go could differ: a key the types do not read (an
//! unknown, obsolete or legacy key, or a known one spelt in another case), a `null`, a struct
//! given as an array, a key given twice, a leaf of the wrong type, keys beside `system`. Such
//! a text takes the walk below, which then reports every warning and error exactly as if the
//! fast path did not exist; what the fast path accepts, the walk reads to the same value, to the
//! bit (`agree` tests both on the samples, on every shape the walk exists for, and on damaged
//! texts). Files written by the tools themselves (`system`, `generate`) are canonical and take
//! the fast path: a 27,000-server system file reads in about a tenth of the walk's time, and
//! without the walk's `Value`, in a fifth of the memory.
//!
//! The walk goes over the text once with a schema of every field (the `Schema` tables), which
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
//! to one typed value per kind of file, fast path first, and JSON errors with their positions),
//! `fast` (what the fast path accepts, and the top level of a system file), `strict` (the
//! deserializer that refuses the rest), `walk` (the serde visitor with Go's key matching and type
//! checks), `schema` (the field tables it walks with), `unknown` (dropped keys, where they are
//! and how they are reported), `legacy` (SEED shapes rewritten), `closest` (the "did you mean" of
//! the reports); `agree`, tests that the fast path and the walk agree.

#[cfg(test)]
mod agree;
mod closest;
mod fast;
mod files;
mod legacy;
mod parse;
mod read;
mod schema;
mod strict;
mod unknown;
mod walk;

pub use closest::closest;
pub use files::{
    load_dir, load_dir_with, load_path, load_path_with, load_text_with, LoadOptions, Loaded,
};
pub use parse::{
    parse_accelerators, parse_capacity, parse_file, parse_models, parse_optimizer, parse_servers,
    parse_service_classes, parse_solution, parse_system, DataFile, Parsed,
};
