//! Glue shared by the Inferno programs: tracing initialisation with a plain or JSON log format
//! (filter from `RUST_LOG`, default `info`), the shutdown signal (ctrl-c or SIGTERM), and a
//! service's listen address from `--listen` or the seed's variables ([`ListenAddress`]), and
//! the Prometheus exposition every program serves on `/metrics` ([`metrics`]).
//!
//! With the `grpc` feature (the four services; kubesim and the emulator only need the rest):
//! `serve` / `serve_with`: a gRPC service with health, reflection and plain HTTP routes on one
//! port, optionally behind a bearer token (`auth`); `serve_ops`: the read-only listener for
//! probes and Prometheus.

#[cfg(feature = "grpc")]
pub mod auth;
pub mod listen;
pub mod metrics;
#[cfg(feature = "grpc")]
mod serve;

#[cfg(feature = "grpc")]
pub use auth::Credential;
pub use listen::{ListenAddress, ListenError};
#[cfg(feature = "grpc")]
pub use serve::{metrics_route, ops_router, serve, serve_ops, serve_with, ServeOptions};

use std::str::FromStr;
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Plain,
    /// One JSON object per line.
    Json,
}

/// A log format other than `plain` and `json`; names what was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log format {0:?} (plain, json)")]
pub struct UnknownLogFormat(pub String);

impl FromStr for LogFormat {
    type Err = UnknownLogFormat;
    fn from_str(s: &str) -> Result<Self, UnknownLogFormat> {
        match s {
            "plain" => Ok(Self::Plain),
            "json" => Ok(Self::Json),
            other => Err(UnknownLogFormat(other.to_owned())),
        }
    }
}

/// Installs the global subscriber; logs go to stderr. Calling it twice is harmless.
pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let registry = tracing_subscriber::registry().with(filter);
    // Colours only on a terminal: container logs are files.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = match format {
        LogFormat::Plain => registry
            .with(fmt::layer().with_ansi(ansi).with_writer(std::io::stderr))
            .try_init(),
        LogFormat::Json => registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init(),
    };
}

/// Completes on ctrl-c or SIGTERM (what Kubernetes sends before killing a container).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c received, shutting down"),
        () = term => tracing::info!("SIGTERM received, shutting down"),
    }
}
