//! The crate's error type.

use crate::validate::Problem;
use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong while reading, parsing or validating the data files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A data file (or directory) could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The path that was read.
        path: PathBuf,
        /// The underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// A data file is not valid JSON, or a value has the wrong type for its field.
    #[error("{file}:{line}:{column}: {message}")]
    Json {
        /// The file (or label) the text came from.
        file: String,
        /// What is wrong; names the field (as a JSON path) when the value had the wrong type.
        message: String,
        /// 1-based line of the error (0 if unknown).
        line: usize,
        /// 1-based column of the error (0 if unknown).
        column: usize,
    },
    /// The data parsed but is inconsistent; holds every problem found (warnings included).
    #[error("{}", ProblemList(.0))]
    Invalid(Vec<Problem>),
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Formats problems as a header line followed by one problem per line.
struct ProblemList<'a>(&'a [Problem]);

impl fmt::Display for ProblemList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors = self.0.iter().filter(|p| p.is_error()).count();
        let warnings = self.0.len() - errors;
        write!(f, "invalid data: {errors} error(s), {warnings} warning(s)")?;
        for p in self.0 {
            write!(f, "\n{p}")?;
        }
        Ok(())
    }
}
