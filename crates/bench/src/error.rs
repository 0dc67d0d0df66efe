//! The benchmark's errors.

use std::path::PathBuf;

/// What can stop a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The scenario file is invalid; the message names the field.
    #[error("scenario {file}: {message}")]
    Scenario {
        /// The scenario file.
        file: PathBuf,
        /// What is wrong, starting with the field.
        message: String,
    },
    /// A part of the stand-in cluster or of the loop failed.
    #[error("{part}: {message}")]
    Run {
        /// kubesim, emulator, prometheus, collector, ...
        part: String,
        /// What happened (and where its log is).
        message: String,
    },
}

/// Result with the benchmark's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A run-time failure of `part`.
    pub fn run(part: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self::Run {
            part: part.into(),
            message: message.to_string(),
        }
    }
}
