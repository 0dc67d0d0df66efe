//! Shared test helpers: a server with a temp dir and kubeconfig, requests and chunked watch
//! streams over the test kit's raw HTTP/1.1 client, and bounded waiting.

pub(crate) use inferno_testkit::http::get;
use inferno_testkit::http::{self, Response};
use inferno_testkit::wait;
pub(crate) use inferno_testkit::TempDir;
use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every wait in these tests is bounded by this.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// Awaits `f`, failing the test after [`WAIT`].
pub(crate) async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?}: {what}"))
}

/// Checks `check` until it returns `Some`, failing after [`WAIT`].
pub(crate) async fn eventually<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    wait::until_sync(what, WAIT, check).await
}

/// Cluster seconds per wall second in these tests: the default 30 s grace period of a
/// deleted pod takes 0.3 s.
pub(crate) const TIME_SCALE: f64 = 100.0;

/// A kubesim on 127.0.0.1:0 whose clock runs [`TIME_SCALE`] times faster than real time: pods
/// are ready after 20 cluster seconds (0.2 s) and terminate in 0.3 s.
pub(crate) async fn server() -> kubesim::Kubesim {
    server_with(kubesim::Config {
        pod_ready_delay: Duration::from_secs(20),
        time_scale: TIME_SCALE,
        ..Default::default()
    })
    .await
}

pub(crate) async fn server_with(config: kubesim::Config) -> kubesim::Kubesim {
    kubesim::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("kubesim starts")
}

/// The sample manifests directory (`deploy/samples`).
pub(crate) fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/samples")
}

/// One request; the whole body is read (chunked or not).
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    bounded(
        &format!("{method} {path}"),
        http::request(addr, method, path, headers, body),
    )
    .await
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// An open watch: newline-delimited events from a chunked response.
pub(crate) struct Watch {
    stream: http::Stream,
    pending: String,
    pub(crate) status: u16,
}

impl Watch {
    pub(crate) async fn open(addr: SocketAddr, path: &str) -> Self {
        let stream = bounded(
            &format!("watch {path}"),
            http::Stream::open(addr, "GET", path, &[], ""),
        )
        .await
        .unwrap_or_else(|e| panic!("watch {path}: {e}"));
        Self {
            status: stream.status,
            stream,
            pending: String::new(),
        }
    }

    /// The next event, or `None` when the server ended the stream.
    pub(crate) async fn next(&mut self) -> Option<Value> {
        bounded("next watch event", async {
            loop {
                if let Some(i) = self.pending.find('\n') {
                    let line: String = self.pending.drain(..=i).collect();
                    return Some(serde_json::from_str(line.trim()).unwrap());
                }
                let chunk = self.stream.next_chunk().await.ok()??;
                self.pending.push_str(&String::from_utf8(chunk).unwrap());
            }
        })
        .await
    }

    /// The next event that is not a bookmark: `(type, name)`.
    pub(crate) async fn next_change(&mut self) -> Option<(String, String)> {
        loop {
            let ev = self.next().await?;
            let kind = ev["type"].as_str().unwrap().to_string();
            if kind != "BOOKMARK" {
                let name = ev["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                return Some((kind, name));
            }
        }
    }
}

/// A small valid Deployment.
pub(crate) fn deployment(name: &str, replicas: i64) -> Value {
    serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "c", "image": "img:1"}]}}}
    })
}
