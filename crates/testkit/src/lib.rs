//! Test support for Inferno's test suites: one copy of the harnesses they all need, so that a
//! fix to one (a chunked body, a child process that hangs, a tool missing in CI) reaches all.
//! It is a dev-dependency only; no program links it.
//!
//! # Layout
//! - [`http`]: a raw HTTP/1.1 client (what `curl` sends), bounded, chunked bodies included.
//! - [`wait`]: waiting for a condition, polling under a deadline that only a broken system reaches.
//! - [`process`]: child processes run or stopped under a time bound, killed when they overrun.
//! - [`tools`]: the real programs the tests drive (kubectl, grpcurl, buf, Prometheus, Python
//!   with grpcio); in CI (`CI=true`) a missing one is a failure, elsewhere the test is skipped
//!   with a message.
//! - [`kubectl`]: the real kubectl against a kubeconfig.
//! - [`prometheus`]: a real Prometheus scraping static targets.
//! - [`TempDir`] and [`free_port`]: a scratch directory removed on drop, a free loopback port.

pub mod http;
pub mod kubectl;
pub mod process;
pub mod prometheus;
pub mod sequence;
pub mod tools;
pub mod wait;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A port free on 127.0.0.1 when asked. Another process may take it before the caller binds
/// it: callers that start a child on it retry on a new port (see [`prometheus::Prometheus`]).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A fresh, empty directory, removed with everything in it on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// `inferno-{tag}-{pid}-{n}` under the system temp directory.
    pub fn new(tag: &str) -> Self {
        Self::new_in(&std::env::temp_dir(), tag)
    }

    /// `inferno-{tag}-{pid}-{n}` under `parent` (e.g. Cargo's `CARGO_TARGET_TMPDIR`).
    pub fn new_in(parent: &Path, tag: &str) -> Self {
        // The counter keeps two directories of one test process apart; the pid keeps a rerun
        // apart from the leftovers of a killed one.
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = parent.join(format!(
            "inferno-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        Self(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
