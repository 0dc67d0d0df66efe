//! Helpers: JSON requests over the test kit's raw HTTP/1.1 client, the samples, test logs.

pub(crate) use inferno_testkit::http::get;
use inferno_testkit::http::{self, Response};
pub(crate) use inferno_testkit::TempDir;
use std::net::SocketAddr;
use std::path::PathBuf;

/// One request with a JSON body (`Content-Type: application/json`) on a fresh connection,
/// bounded by the test kit's limit.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<Response> {
    let json = [("Content-Type", "application/json")];
    http::request(addr, method, path, &json, body.unwrap_or("")).await
}

pub(crate) async fn post(addr: SocketAddr, path: &str, body: &str) -> Response {
    request(addr, "POST", path, Some(body))
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

pub(crate) async fn put(addr: SocketAddr, path: &str, body: &str) -> Response {
    request(addr, "PUT", path, Some(body))
        .await
        .unwrap_or_else(|e| panic!("PUT {path}: {e}"))
}

/// The workspace's `samples/` directory.
pub(crate) fn samples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples")
}

/// Installs a test log subscriber (once per thread; harmless if one exists).
pub(crate) fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}
