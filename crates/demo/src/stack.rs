//! The local stack: every Inferno process on 127.0.0.1, each logging to a file named after its
//! container, stopped together.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// What went wrong starting or talking to the stack.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A binary is missing (build it first).
    #[error("{0} not found in {1}: build it with `cargo build --workspace --bins`")]
    MissingBinary(String, String),
    /// A process could not start or exited early.
    #[error("{name}: {message} (log: {log})")]
    Process {
        /// Container-style name.
        name: String,
        /// What happened.
        message: String,
        /// Its log file.
        log: String,
    },
    /// Files or sockets.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An HTTP exchange failed.
    #[error("{0}")]
    Http(String),
}

/// Result with the stack's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to run the stack.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory of the built binaries.
    pub bin_dir: PathBuf,
    /// Repository root (for deploy/samples and samples/large).
    pub repo: PathBuf,
    /// Working directory: logs/, kubeconfig, Prometheus data, cycle log.
    pub work: PathBuf,
    /// Use Prometheus when it is installed.
    pub prometheus: bool,
    /// Run the load emulator (with this phases file, if any).
    pub load_emulator: bool,
    /// Load-emulator phases (YAML).
    pub phases: Option<PathBuf>,
    /// Seconds between load-label updates.
    pub load_interval: f64,
    /// Controller period in seconds (0 = only when invoked).
    pub period: u64,
    /// Actuator policy for unplaced servers.
    pub unplaced: String,
    /// Rate window of the collector's Prometheus queries.
    pub prometheus_window: String,
    /// Prometheus scrape interval, seconds.
    pub scrape_interval: u64,
    /// The controller's scale-down stabilisation window, seconds (the default 300 s would
    /// hold every scale-down of a few-minute demo).
    pub scale_down_window: u64,
}

/// Addresses of the running stack.
#[derive(Debug, Clone)]
pub struct Urls {
    /// kubesim API.
    pub kubesim: String,
    /// Controller (GET /invoke).
    pub controller: String,
    /// Optimizer gRPC.
    pub optimizer: String,
    /// Prometheus, when running.
    pub prometheus: Option<String>,
}

/// The running processes.
#[derive(Debug)]
pub struct Stack {
    children: Vec<(String, Child)>,
    /// Addresses.
    pub urls: Urls,
    /// Kubeconfig pointing at kubesim.
    pub kubeconfig: PathBuf,
    /// Logs directory.
    pub logs: PathBuf,
    /// The JSONL cycle log.
    pub cycle_log: PathBuf,
    config: Config,
    /// Where the optimizer listens once it first announced it (a restart binds it again).
    optimizer_port: Option<u16>,
}

/// A loopback listener on a port the kernel chooses.
const ANY_PORT: &str = "127.0.0.1:0";

/// A free port on 127.0.0.1 when asked: another process may bind it before the caller's child
/// does. Only for programs that cannot say where they listen (kubesim, Prometheus); our
/// services listen on port 0 and announce the port ([`announced_address`]).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// What a service of ours logs, once bound, before its gRPC listener's address: the line
/// `serving addr=127.0.0.1:PORT service=...` of `inferno_telemetry::serve_with`.
const SERVING: &str = "serving addr=";

/// The address a service of ours announced in its plain-text log, once bound. Started with
/// `--listen 127.0.0.1:0`, a service gets a port from the kernel that nothing else can hold: a
/// port picked beforehand ([`free_port`]) can be bound by anyone in between, and then the
/// wait for it answers from the other listener while our service has exited (a CI run lost its
/// actuator so).
pub fn announced_address(log: &Path) -> Option<std::net::SocketAddr> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().find_map(|line| {
        let rest = &line[line.find(SERVING)? + SERVING.len()..];
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// `RUST_LOG` for a child: the caller's filter (default `info`) with the announcement of the
/// listener always kept, and the plain format [`announced_address`] reads.
pub fn child_log_env() -> [(&'static str, String); 2] {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    [
        (
            "RUST_LOG",
            format!("{filter},inferno_telemetry::serve=info"),
        ),
        ("INFERNO_LOG_FORMAT", "plain".into()),
    ]
}

/// The `prometheus` binary, when installed.
pub fn prometheus_binary() -> Option<PathBuf> {
    ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            std::process::Command::new("prometheus")
                .arg("--version")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| PathBuf::from("prometheus"))
        })
}

impl Stack {
    fn binary(&self, name: &str) -> Result<PathBuf> {
        let p = self.config.bin_dir.join(name);
        if p.exists() {
            Ok(p)
        } else {
            Err(Error::MissingBinary(
                name.into(),
                self.config.bin_dir.display().to_string(),
            ))
        }
    }

    /// Starts a process named `name` (its log is `logs/<name>.log`).
    async fn spawn(&mut self, name: &str, program: &Path, args: &[String]) -> Result<()> {
        let log = self.logs.join(format!("{name}.log"));
        let file = std::fs::File::create(&log)?;
        let child = Command::new(program)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .envs(child_log_env())
            .stdin(Stdio::null())
            // Its own process group: ctrl-c in the terminal reaches only the demo, which then
            // reads the summary from Prometheus before stopping everything.
            .process_group(0)
            .stdout(file.try_clone()?)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::Process {
                name: name.into(),
                message: format!("cannot start {}: {e}", program.display()),
                log: log.display().to_string(),
            })?;
        self.children.push((name.to_string(), child));
        Ok(())
    }

    /// Waits until `url` answers an HTTP GET with any status, or the process `name` died.
    async fn wait_http(&mut self, name: &str, addr: &str, path: &str) -> Result<()> {
        for _ in 0..300 {
            if http_get(addr, path).await.is_ok() {
                return Ok(());
            }
            if let Some((_, child)) = self.children.iter_mut().find(|(n, _)| n == name) {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(Error::Process {
                        name: name.into(),
                        message: format!("exited with {status}"),
                        log: self.logs.join(format!("{name}.log")).display().to_string(),
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Error::Process {
            name: name.into(),
            message: format!("{addr}{path} did not answer"),
            log: self.logs.join(format!("{name}.log")).display().to_string(),
        })
    }

    /// Waits until the service `name` announces its listener ([`announced_address`]); returns
    /// the address. An error when it exited or said nothing within 30 s.
    async fn wait_serving(&mut self, name: &str) -> Result<String> {
        let log = self.logs.join(format!("{name}.log"));
        for _ in 0..300 {
            if let Some(addr) = announced_address(&log) {
                return Ok(addr.to_string());
            }
            if let Some((_, child)) = self.children.iter_mut().find(|(n, _)| n == name) {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(Error::Process {
                        name: name.into(),
                        message: format!("exited with {status}"),
                        log: log.display().to_string(),
                    });
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Error::Process {
            name: name.into(),
            message: "announced no listener within 30 s".into(),
            log: log.display().to_string(),
        })
    }

    /// Starts everything and waits until each part answers.
    pub async fn start(config: Config) -> Result<Self> {
        let logs = config.work.join("logs");
        std::fs::create_dir_all(&logs)?;
        let kubeconfig = config.work.join("kubeconfig");
        let cycle_log = config.work.join("cycles.jsonl");
        let _ = std::fs::remove_file(&cycle_log);
        let ports: Vec<u16> = (0..2).map(|_| free_port()).collect::<Result<_>>()?;
        let at = |p: u16| format!("127.0.0.1:{p}");
        // Our services' addresses are known once they announce them.
        let urls = Urls {
            kubesim: format!("http://{}", at(ports[0])),
            controller: String::new(),
            optimizer: String::new(),
            prometheus: None,
        };
        let mut s = Stack {
            children: Vec::new(),
            urls,
            kubeconfig: kubeconfig.clone(),
            logs,
            cycle_log: cycle_log.clone(),
            config: config.clone(),
            optimizer_port: None,
        };

        let kubesim = s.binary("kubesim")?;
        s.spawn(
            "kubesim",
            &kubesim,
            &[
                "--listen".into(),
                at(ports[0]),
                "--kubeconfig".into(),
                kubeconfig.display().to_string(),
                "--load".into(),
                config.repo.join("deploy/samples").display().to_string(),
                "--pod-ready-delay".into(),
                "2".into(),
            ],
        )
        .await?;
        s.wait_http("kubesim", &at(ports[0]), "/version").await?;

        let targets = config.work.join("targets.json");
        std::fs::write(&targets, "[]")?;
        let emulator = s.binary("inferno-vllm-emulator")?;
        s.spawn(
            "vllm-emulator",
            &emulator,
            &[
                "follow".into(),
                "--model-data".into(),
                config
                    .repo
                    .join("samples/large/model-data.json")
                    .display()
                    .to_string(),
                "--targets-file".into(),
                targets.display().to_string(),
                "--namespace".into(),
                "infer".into(),
                "--drive".into(),
            ],
        )
        .await?;

        let prom_port = ports[1];
        if config.prometheus {
            if let Some(prom) = prometheus_binary() {
                let cfg = config.work.join("prometheus.yml");
                std::fs::write(&cfg, format!(
                    "global:\n  scrape_interval: {i}s\n  scrape_timeout: {i}s\n  evaluation_interval: {i}s\nscrape_configs:\n  - job_name: vllm\n    file_sd_configs:\n      - files: ['{}']\n        refresh_interval: {i}s\n",
                    targets.display(),
                    i = config.scrape_interval.max(1)
                ))?;
                let data = config.work.join("prometheus-data");
                let _ = std::fs::remove_dir_all(&data);
                s.spawn(
                    "prometheus",
                    &prom,
                    &[
                        format!("--config.file={}", cfg.display()),
                        format!("--storage.tsdb.path={}", data.display()),
                        format!("--web.listen-address={}", at(prom_port)),
                    ],
                )
                .await?;
                s.wait_http("prometheus", &at(prom_port), "/-/ready")
                    .await?;
                s.urls.prometheus = Some(format!("http://{}", at(prom_port)));
            }
        }

        s.start_optimizer().await?;
        let collector = s.binary("inferno-collector")?;
        let mut args = vec![
            "--listen".into(),
            ANY_PORT.into(),
            // The ops page (probes, metrics) is on the gRPC port too; no second fixed port.
            "--ops-listen".into(),
            ANY_PORT.into(),
            "--namespace".into(),
            "infer".into(),
            "--prometheus-window".into(),
            config.prometheus_window.clone(),
        ];
        if let Some(url) = &s.urls.prometheus {
            args.extend(["--prometheus-url".into(), url.clone()]);
        }
        s.spawn("collector", &collector, &args).await?;
        let collector = s.wait_serving("collector").await?;
        s.wait_http("collector", &collector, "/metrics").await?;
        let actuator = s.binary("inferno-actuator")?;
        s.spawn(
            "actuator",
            &actuator,
            &[
                "--listen".into(),
                ANY_PORT.into(),
                "--ops-listen".into(),
                ANY_PORT.into(),
                "--unplaced".into(),
                config.unplaced.clone(),
            ],
        )
        .await?;
        let actuator = s.wait_serving("actuator").await?;
        s.wait_http("actuator", &actuator, "/metrics").await?;
        let controller = s.binary("inferno-controller")?;
        s.spawn(
            "controller",
            &controller,
            &[
                "--listen".into(),
                ANY_PORT.into(),
                "--period".into(),
                config.period.to_string(),
                "--data-path".into(),
                config.repo.join("samples/large").display().to_string(),
                "--collector".into(),
                format!("http://{collector}"),
                "--optimizer".into(),
                s.urls.optimizer.clone(),
                "--actuator".into(),
                format!("http://{actuator}"),
                "--cycle-log".into(),
                cycle_log.display().to_string(),
                "--scale-down-window".into(),
                config.scale_down_window.to_string(),
            ],
        )
        .await?;
        s.urls.controller = s.wait_serving("controller").await?;
        s.wait_http("controller", &s.urls.controller.clone(), "/healthz")
            .await?;

        if config.load_emulator {
            let load = s.binary("inferno-load-emulator")?;
            let mut args = vec![
                "--namespace".into(),
                "infer".into(),
                "--interval".into(),
                config.load_interval.to_string(),
            ];
            if let Some(p) = &config.phases {
                args.extend(["--phases".into(), p.display().to_string()]);
            }
            s.spawn("load-emulator", &load, &args).await?;
        }
        Ok(s)
    }

    /// (Re)starts the optimizer: first on a port of the kernel's choice, again on the same
    /// one, where the controller looks for it.
    pub async fn start_optimizer(&mut self) -> Result<()> {
        let optimizer = self.binary("inferno-optimizer")?;
        let at = self
            .optimizer_port
            .map_or_else(|| ANY_PORT.to_string(), |p| format!("127.0.0.1:{p}"));
        self.spawn(
            "optimizer",
            &optimizer,
            &[
                "serve".into(),
                "--listen".into(),
                at,
                "--ops-listen".into(),
                ANY_PORT.into(),
            ],
        )
        .await?;
        let at = self.wait_serving("optimizer").await?;
        self.wait_http("optimizer", &at, "/metrics").await?;
        self.optimizer_port = at.rsplit(':').next().and_then(|p| p.parse().ok());
        self.urls.optimizer = format!("http://{at}");
        Ok(())
    }

    /// Stops the process named `name` (e.g. to show a failing stage).
    pub async fn kill(&mut self, name: &str) {
        if let Some(i) = self.children.iter().position(|(n, _)| n == name) {
            let (_, mut child) = self.children.remove(i);
            let _ = child.kill().await;
        }
    }

    /// Runs one cycle now: `GET /invoke`; returns the report.
    pub async fn invoke(&self) -> Result<serde_json::Value> {
        let body = http_get(&self.urls.controller, "/invoke").await?;
        serde_json::from_str(&body)
            .map_err(|e| Error::Http(format!("invoke: not JSON: {e}: {body}")))
    }

    /// The managed Deployments in kubesim (the `infer` namespace), as a Deployment list.
    pub async fn deployments(&self) -> Result<serde_json::Value> {
        let addr = self.urls.kubesim.trim_start_matches("http://");
        let path = format!(
            "/apis/apps/v1/namespaces/infer/deployments?labelSelector={}",
            percent_encode(&inferno_emulator::labels::managed_selector())
        );
        let body = http_get(addr, &path).await?;
        serde_json::from_str(&body)
            .map_err(|e| Error::Http(format!("deployments: not JSON: {e}: {body}")))
    }

    /// Runs a PromQL instant query; returns Prometheus' answer. An error when Prometheus does
    /// not run, does not answer within 10 s or answers an error.
    pub async fn prometheus_query(&self, query: &str) -> Result<serde_json::Value> {
        let Some(url) = &self.urls.prometheus else {
            return Err(Error::Http("Prometheus is not running".into()));
        };
        let path = format!("/api/v1/query?query={}", percent_encode(query));
        let body = tokio::time::timeout(
            Duration::from_secs(10),
            http_get(url.trim_start_matches("http://"), &path),
        )
        .await
        .map_err(|_| Error::Http("Prometheus: no answer within 10 s".into()))??;
        let answer: serde_json::Value = serde_json::from_str(&body)
            .map_err(|e| Error::Http(format!("Prometheus: not JSON: {e}: {body}")))?;
        if answer["status"] != "success" {
            return Err(Error::Http(format!("Prometheus: {body}")));
        }
        Ok(answer)
    }

    /// Stops every process (SIGKILL; nothing persistent is left but the work directory).
    pub async fn stop(mut self) {
        for (_, child) in self.children.iter_mut().rev() {
            let _ = child.kill().await;
        }
        self.children.clear();
    }
}

/// A plain HTTP/1.1 GET; returns the body of any status.
pub async fn http_get(addr: &str, path: &str) -> Result<String> {
    let mut stream =
        tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| Error::Http(format!("{addr}: connect timed out")))??;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(120),
        stream.read_to_string(&mut response),
    )
    .await
    .map_err(|_| Error::Http(format!("{addr}{path}: no answer")))??;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Chunked bodies (axum's default for streams) are de-chunked; plain ones returned as is.
    if response
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Ok(dechunk(body));
    }
    Ok(body.to_string())
}

/// Percent-encodes a query-string value (everything but RFC 3986 unreserved characters).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announced_listener_is_the_grpc_one_once_it_is_logged() {
        let dir =
            std::env::temp_dir().join(format!("inferno-demo-announce-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("optimizer.log");
        assert_eq!(announced_address(&log), None, "no log yet");
        // A service's first lines, as the optimizer writes them.
        let head = "2026-12-06T07:21:12.742032Z  INFO inferno_optimizer::grpc: optimizer starting stateful=false auth=false\n\
                    2026-12-06T07:21:12.742693Z  INFO inferno_telemetry::serve: serving health and metrics addr=127.0.0.1:45357\n";
        std::fs::write(&log, head).unwrap();
        assert_eq!(
            announced_address(&log),
            None,
            "the ops listener is not the service's"
        );
        std::fs::write(
            &log,
            format!("{head}2026-12-06T07:21:12.749749Z  INFO inferno_telemetry::serve: serving addr=127.0.0.1:44779 service=\"inferno.v1.Optimizer\"\n"),
        )
        .unwrap();
        assert_eq!(
            announced_address(&log),
            Some("127.0.0.1:44779".parse().unwrap())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            percent_encode("sum by(le)(x{a=\"b\"}[5s]) * 60"),
            "sum%20by%28le%29%28x%7Ba%3D%22b%22%7D%5B5s%5D%29%20%2A%2060"
        );
    }
}
