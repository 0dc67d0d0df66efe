//! A real Prometheus scraping static targets every second, with its own config and storage;
//! find the binary with [`crate::tools::prometheus`].

use crate::process::Guard;
use crate::{http, wait, TempDir};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// One instant-vector sample: its labels and its value.
pub type Sample = (HashMap<String, String>, f64);

/// A running Prometheus; killed, and its storage removed, on drop.
#[derive(Debug)]
pub struct Prometheus {
    /// Behind a lock: the readiness wait looks at it through a shared reference.
    child: Mutex<Guard>,
    addr: SocketAddr,
    job: String,
    targets: usize,
    _dir: TempDir,
}

impl Prometheus {
    /// Starts `bin` scraping `targets` (address, `pod` label; every target also gets the
    /// `namespace` label) as job `job` every second, and returns once it is ready (not yet
    /// scraped: see [`Prometheus::wait_scraped`]).
    pub async fn start(
        bin: &Path,
        job: &str,
        namespace: &str,
        targets: &[(SocketAddr, &str)],
    ) -> Self {
        let mut config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: {job}\n    static_configs:\n"
        );
        for (addr, pod) in targets {
            config.push_str(&format!(
                "      - targets: ['{addr}']\n        labels: {{namespace: {namespace}, pod: {pod}}}\n"
            ));
        }
        // The port is free when picked; another process may take it before Prometheus binds,
        // so a Prometheus that exits early is retried on a new port.
        for _attempt in 0..3 {
            let dir = TempDir::new("prometheus");
            let config_path = dir.path().join("prometheus.yml");
            std::fs::write(&config_path, &config).expect("write prometheus.yml");
            let addr = SocketAddr::from(([127, 0, 0, 1], crate::free_port()));
            let child = Command::new(bin)
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .arg("--storage.tsdb.retention.time=1h")
                .arg("--log.level=warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("prometheus starts");
            let prom = Self {
                child: Mutex::new(Guard(child)),
                addr,
                job: job.to_string(),
                targets: targets.len(),
                _dir: dir,
            };
            // Ready; else exited (its port was taken) or stuck: another attempt.
            let ready = wait::within(Duration::from_secs(30), || async {
                if prom.exited() {
                    return Some(false);
                }
                let r = http::request(addr, "GET", "/-/ready", &[], "").await;
                r.is_ok_and(|r| r.status == 200).then_some(true)
            })
            .await;
            if ready == Some(true) {
                return prom;
            }
        }
        panic!("prometheus did not become ready");
    }

    /// Whether the process has exited.
    fn exited(&self) -> bool {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        child.try_wait().expect("prometheus status").is_some()
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until every target has been scraped successfully (`up` is 1 for each).
    pub async fn wait_scraped(&self, limit: Duration) {
        let up = format!("up{{job=\"{}\"}}", self.job);
        wait::until("every target scraped", limit, || async {
            let v = self.query(&up, None).await;
            (v.len() == self.targets && v.iter().all(|(_, x)| *x == 1.0)).then_some(())
        })
        .await;
    }

    /// The instant vector of `promql`, evaluated now or at `at` (unix seconds); panics when
    /// the query fails or does not give a vector.
    pub async fn query(&self, promql: &str, at: Option<f64>) -> Vec<Sample> {
        let mut path = format!("/api/v1/query?query={}", encode(promql));
        if let Some(t) = at {
            path.push_str(&format!("&time={t:.3}"));
        }
        let r = http::get(self.addr, &path).await;
        assert_eq!(r.status, 200, "{promql}: {}", r.body);
        let v = r.json();
        assert_eq!(v["status"], "success", "{promql}: {v}");
        assert_eq!(v["data"]["resultType"], "vector", "{promql}: {v}");
        v["data"]["result"]
            .as_array()
            .expect("a result list")
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .expect("labels")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect();
                let value = s["value"][1]
                    .as_str()
                    .and_then(|x| x.parse().ok())
                    .unwrap_or_else(|| panic!("{promql}: no value in {s}"));
                (labels, value)
            })
            .collect()
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
