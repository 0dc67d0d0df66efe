//! The [`Checker`] the section checks write into: it collects every problem with the server it
//! is about, and holds the shared checks of ranges (see [`crate::limits`]) and of names (non-empty,
//! unique). Separate so the section checks read as lists of rules.

use super::problem::{Problem, Severity};
use crate::limits;
use std::collections::HashMap;

/// Where a problem is: (file, entity).
pub(super) type At<'a> = (&'a str, &'a str);

/// Largest token count of the integer token fields (`atTokens`, `avgInTokens`, `avgOutTokens`).
pub(super) const MAX_TOKEN_COUNT: i64 = limits::MAX_TOKENS as i64;

#[derive(Default)]
pub(super) struct Checker {
    pub(super) problems: Vec<Problem>,
    /// Per problem, the index of the server whose own data it is about (None: shared data).
    pub(super) servers: Vec<Option<usize>>,
    /// The server being checked, if any: problems pushed now are about its own data.
    pub(super) server: Option<usize>,
    /// Servers sharing a name: (first index, later index).
    pub(super) duplicates: Vec<(usize, usize)>,
}

impl Checker {
    fn push(&mut self, severity: Severity, (file, entity): At<'_>, field: &str, message: String) {
        self.problems.push(Problem {
            severity,
            file: file.to_owned(),
            entity: entity.to_owned(),
            field: field.to_owned(),
            message,
        });
        self.servers.push(self.server);
    }

    pub(super) fn error(&mut self, at: At<'_>, field: &str, message: String) {
        self.push(Severity::Error, at, field, message);
    }

    pub(super) fn warn(&mut self, at: At<'_>, field: &str, message: String) {
        self.push(Severity::Warning, at, field, message);
    }

    /// A number that must be finite and within `[0, max]` (`inferno_api::limits`).
    pub(super) fn number(&mut self, severity: Severity, at: At<'_>, field: &str, v: f64, max: f64) {
        if let Some(message) = limits::out_of_range(v, max) {
            self.push(severity, at, field, message);
        }
    }

    /// An integer (count, size, tokens) that must be within `[0, max]`.
    pub(super) fn count(&mut self, severity: Severity, at: At<'_>, field: &str, v: i64, max: i64) {
        if let Some(message) = limits::count_out_of_range(v, max) {
            self.push(severity, at, field, message);
        }
    }

    /// A name that must be non-empty and whose `key` must be new in `seen` (key -> index).
    pub(super) fn name<K: std::hash::Hash + Eq>(
        &mut self,
        at: At<'_>,
        (field, value): (&str, &str),
        key: K,
        (list, index): (&str, usize),
        seen: &mut HashMap<K, usize>,
    ) {
        if value.is_empty() {
            self.error(at, field, "must not be empty".to_owned());
        } else if let Some(first) = seen.get(&key) {
            let message = format!("duplicate, first defined at {list}[{first}]");
            self.error(at, field, message);
        } else {
            seen.insert(key, index);
        }
    }
}
