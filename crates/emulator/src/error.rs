//! Errors of the emulator library.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong configuring, starting or steering emulated servers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A server spec (or a runtime change to one) has a field outside its domain.
    #[error("server {server:?}: {message}")]
    InvalidSpec {
        /// The server's name.
        server: String,
        /// What is wrong.
        message: String,
    },
    /// No iteration parameters were given and the catalog has no row for (model, accelerator).
    #[error("no performance data for model {model:?} on accelerator {accelerator:?}: give alpha/beta/gamma or a model-data.json with that row")]
    UnknownPerf {
        /// Model name.
        model: String,
        /// Accelerator name.
        accelerator: String,
    },
    /// A server with this name already runs in the host.
    #[error("a server named {0:?} already runs")]
    DuplicateServer(String),
    /// No server with this name runs in the host.
    #[error("no server named {0:?}")]
    NoSuchServer(String),
    /// The server was stopped; it takes no more changes or requests.
    #[error("server {0:?} is stopped")]
    Stopped(String),
    /// A request the server refuses because it can never run: its prompt plus `max_tokens`
    /// exceed the KV cache (also after a smaller batch cap shrank it), or a token count is 0.
    /// HTTP answers it with 400.
    #[error("server {server:?} refused the request: {message}")]
    Refused {
        /// The server's name.
        server: String,
        /// Why, in vLLM's words where it has them.
        message: String,
    },
    /// The server stopped while the request was queued or running: the request was cut off
    /// (not refused). HTTP answers it with 503.
    #[error("server {0:?} stopped before the request completed")]
    CutOff(String),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be read or written.
    #[error("{path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The servers file is not a JSON list of server specs.
    #[error("{path}: not a list of server specs")]
    ServersFile {
        /// The file.
        path: PathBuf,
        /// The decoding error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// `model-data.json` could not be parsed.
    #[error("model data")]
    ModelData(#[from] inferno_api::Error),
    /// A flag (or its environment variable) has a value outside its domain.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag, e.g. `--interval`.
        flag: &'static str,
        /// What is wrong with its value.
        message: String,
    },
    /// The phases file of the load emulator could not be read or is invalid.
    #[error("phases file {path}: {message}")]
    Phases {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A Kubernetes API call failed.
    #[error("{context}")]
    Kube {
        /// What was being done.
        context: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// Some Deployments' load labels could not be written (`--once`).
    #[error("{0}")]
    LoadUpdate(String),
    /// A `--server` flag could not be parsed.
    #[error("--server {spec:?}: {message}")]
    ServerFlag {
        /// The flag's value.
        spec: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Result with the emulator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
