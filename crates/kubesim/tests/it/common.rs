//! Shared test helpers: a server with a temp dir and kubeconfig, a raw HTTP/1.1 client (plain
//! requests and chunked watch streams) and bounded waiting.

use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Every wait in these tests is bounded by this.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// Awaits `f`, failing the test after [`WAIT`].
pub(crate) async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(WAIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out after {WAIT:?}: {what}"))
}

/// Polls `check` every 50 ms until it returns `Some`, failing after [`WAIT`].
pub(crate) async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    bounded(what, async {
        loop {
            if let Some(v) = check() {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// A directory removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "kubesim-it-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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

/// A raw HTTP response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Response {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(req.as_bytes()).await.unwrap();
    BufReader::new(stream)
}

async fn read_head(r: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    r.read_line(&mut line).await.unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).await.unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap();
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    (status, headers)
}

/// One request; the whole body is read (chunked or not).
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    bounded(&format!("{method} {path}"), async {
        let mut r = send(addr, method, path, headers, body).await;
        let (status, headers) = read_head(&mut r).await;
        let chunked = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
        let body = if chunked {
            let mut out = String::new();
            while let Some(chunk) = read_chunk(&mut r).await {
                out.push_str(&chunk);
            }
            out
        } else {
            let mut s = String::new();
            r.read_to_string(&mut s).await.unwrap();
            s
        };
        Response {
            status,
            headers,
            body,
        }
    })
    .await
}

pub(crate) async fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[], "").await
}

async fn read_chunk(r: &mut BufReader<TcpStream>) -> Option<String> {
    let mut line = String::new();
    if r.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let size = usize::from_str_radix(line.trim(), 16).ok()?;
    if size == 0 {
        return None;
    }
    let mut buf = vec![0; size + 2];
    r.read_exact(&mut buf).await.ok()?;
    buf.truncate(size);
    Some(String::from_utf8(buf).unwrap())
}

/// An open watch: newline-delimited events from a chunked response.
pub(crate) struct Watch {
    reader: BufReader<TcpStream>,
    pending: String,
    pub(crate) status: u16,
}

impl Watch {
    pub(crate) async fn open(addr: SocketAddr, path: &str) -> Self {
        let mut reader = send(addr, "GET", path, &[], "").await;
        let (status, _) = read_head(&mut reader).await;
        Self {
            reader,
            pending: String::new(),
            status,
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
                let chunk = read_chunk(&mut self.reader).await?;
                self.pending.push_str(&chunk);
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
