//! The `inferno` policy: the real loop. Prometheus scrapes the emulated pods of the policy's
//! namespace; the collector, optimizer, actuator and controller run as their own processes,
//! configured as `deploy/inferno/deploy.yaml` configures them, except that the actuator writes
//! the accelerator into the pod template's node selector and the batch size into the
//! container's env (so a change is a rolling update with new pods paying the start-up delay,
//! as on a real cluster) and that the services run at the scenario's time scale.

use crate::clock::Clock;
use crate::processes::{free_port, http_get, prometheus_binary, Processes};
use crate::scenario::Plan;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The actuator's `--drain-grace` (cluster seconds): what a rolled pod gets to finish its
/// requests when it is later replaced or removed. Ten minutes covers the longest request a
/// scenario's token spread makes at its servers' ITL (llama's 3,752 tokens took 280 s on drift),
/// as an operator would set it from the engine's context length and ITL. The scenario's
/// Deployments have the same grace by default (`pods.gracePeriod`), as docs/actuator.md tells
/// an operator to set it: the actuator's reaches only the templates it writes.
pub const DRAIN_GRACE: i64 = 600;

/// One controller cycle as the benchmark saw it.
#[derive(Debug, Clone)]
pub struct Cycle {
    /// Scenario time the record appeared.
    pub at: f64,
    /// Scenario time the cycle started (its `startTime`; `at` without one): when it measured.
    pub started: f64,
    /// The record (the controller's JSONL cycle report).
    pub record: serde_json::Value,
}

/// The loop's processes and what they report.
#[derive(Debug)]
pub struct Loop {
    processes: Processes,
    /// Cycles seen so far.
    pub cycles: Arc<Mutex<Vec<Cycle>>>,
    cycle_log: PathBuf,
}

/// Writes the data files the controller reads (`--data-path`): the scenario's system with its
/// capacity, servers as the scenario defines them.
fn write_data(plan: &Plan, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let mut sys = crate::planner::system(
        plan,
        &plan
            .servers
            .iter()
            .map(|b| b.load_at(0.0))
            .collect::<Vec<_>>(),
        crate::planner::Parameters::Catalog,
    );
    // What a change costs, as an operator would set it: the longest start-up delay of the
    // scenario, paid back within the scenario's payback time.
    let o = &mut sys.optimizer_data.optimizer;
    o.startup_seconds = plan.max_startup_seconds();
    o.payback_seconds = plan.scenario.control.payback.0;
    let files: [(&str, serde_json::Value); 6] = [
        (
            "accelerator-data.json",
            serde_json::to_value(&sys.accelerator_data),
        ),
        (
            "capacity-data.json",
            serde_json::to_value(&sys.capacity_data),
        ),
        ("model-data.json", serde_json::to_value(&sys.model_data)),
        (
            "optimizer-data.json",
            serde_json::to_value(&sys.optimizer_data),
        ),
        ("server-data.json", serde_json::to_value(&sys.server_data)),
        (
            "serviceclass-data.json",
            serde_json::to_value(&sys.service_class_data),
        ),
    ]
    .map(|(n, v)| (n, v.unwrap_or_default()));
    for (name, value) in files {
        let path = dir.join(name);
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        std::fs::write(&path, text).map_err(|e| Error::Io { path, source: e })?;
    }
    Ok(())
}

/// Waits until Prometheus scrapes at least one pod successfully: a run whose loop sees no
/// metrics would measure the label fallback, not the loop.
async fn wait_scraping(addr: &str, work: &Path) -> Result<()> {
    for _ in 0..150 {
        if let Some(body) = http_get(addr, "/api/v1/targets?state=active").await {
            if body.contains("\"health\":\"up\"") {
                return Ok(());
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Err(Error::run(
        "prometheus",
        format!(
            "no pod scraped within 30 s (log: {})",
            work.join("logs/prometheus.log").display()
        ),
    ))
}

impl Loop {
    /// Starts Prometheus (scraping `targets`) and the four services against kubesim, acting in
    /// `namespace`.
    pub async fn start(
        plan: &Plan,
        namespace: &str,
        work: &Path,
        bin_dir: PathBuf,
        kubeconfig: PathBuf,
        targets: &Path,
    ) -> Result<Self> {
        let mut p = Processes::new(bin_dir, work.join("logs"), kubeconfig)?;
        let ts = plan.time_scale();
        let at = |port: u16| format!("127.0.0.1:{port}");
        let prom = prometheus_binary().ok_or_else(|| {
            Error::run(
                "prometheus",
                "not installed: the inferno policy needs a real Prometheus (Debian package \
                 prometheus; `make tools` installs it)",
            )
        })?;
        let prom_port = free_port()?;
        let cfg = work.join("prometheus.yml");
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: vllm\n    file_sd_configs:\n      - files: ['{}']\n        refresh_interval: 1s\n",
                targets.display()
            ),
        )
        .map_err(|e| Error::Io {
            path: cfg.clone(),
            source: e,
        })?;
        let tsdb = work.join("prometheus-data");
        let _ = std::fs::remove_dir_all(&tsdb);
        p.spawn(
            "prometheus",
            &prom,
            &[
                format!("--config.file={}", cfg.display()),
                format!("--storage.tsdb.path={}", tsdb.display()),
                format!("--web.listen-address={}", at(prom_port)),
            ],
        )?;
        p.wait_port("prometheus", &at(prom_port)).await?;
        wait_scraping(&at(prom_port), work).await?;

        // Each service listens on a port the kernel chooses and announces it: a port chosen
        // here could be bound by another process before the service binds it.
        let any = "127.0.0.1:0".to_string();
        let bin = p.binary("inferno-optimizer")?;
        p.spawn(
            "optimizer",
            &bin,
            &[
                "serve".into(),
                "--listen".into(),
                any.clone(),
                "--ops-listen".into(),
                any.clone(),
            ],
        )?;
        // The collector's rate window: one scenario minute (the shipped default, 1m, at time
        // scale 1), and never under three scrapes.
        let window = format!("{}s", (60.0 / ts).round().max(3.0) as u64);
        let bin = p.binary("inferno-collector")?;
        p.spawn(
            "collector",
            &bin,
            &[
                "--listen".into(),
                any.clone(),
                "--ops-listen".into(),
                any.clone(),
                "--namespace".into(),
                namespace.into(),
                "--prometheus-url".into(),
                format!("http://{}", at(prom_port)),
                "--prometheus-window".into(),
                window,
                "--time-scale".into(),
                ts.to_string(),
            ],
        )?;
        let values: Vec<String> = plan
            .system
            .accelerator_data
            .accelerators
            .iter()
            .map(|a| format!("{0}={0}", a.name))
            .collect();
        let bin = p.binary("inferno-actuator")?;
        p.spawn(
            "actuator",
            &bin,
            &[
                "--listen".into(),
                any.clone(),
                "--ops-listen".into(),
                any.clone(),
                "--namespace".into(),
                namespace.into(),
                "--node-label".into(),
                crate::cluster::ACCELERATOR_KEY.into(),
                "--node-value".into(),
                values.join(","),
                "--batch-env".into(),
                crate::cluster::BATCH_ENV.into(),
                "--drain-grace".into(),
                DRAIN_GRACE.to_string(),
            ],
        )?;
        let optimizer = p.wait_serving("optimizer").await?;
        let collector = p.wait_serving("collector").await?;
        let actuator = p.wait_serving("actuator").await?;
        let data = work.join("data");
        write_data(plan, &data)?;
        let cycle_log = work.join("cycles.jsonl");
        let _ = std::fs::remove_file(&cycle_log);
        let bin = p.binary("inferno-controller")?;
        p.spawn(
            "controller",
            &bin,
            &[
                "--listen".into(),
                any.clone(),
                "--period".into(),
                (plan.scenario.period.0 / ts).to_string(),
                "--data-path".into(),
                data.display().to_string(),
                "--collector".into(),
                format!("http://{collector}"),
                "--optimizer".into(),
                format!("http://{optimizer}"),
                "--actuator".into(),
                format!("http://{actuator}"),
                "--cycle-log".into(),
                cycle_log.display().to_string(),
                // A window of the controller's (wall) clock; rates and the backlog drain are
                // in the servers' time, which the collector already scales.
                "--scale-down-window".into(),
                (plan.scenario.control.scale_down_window.0 / ts).to_string(),
                "--startup-delay".into(),
                (plan.max_startup_seconds() / ts).to_string(),
                // The collector reports windows and pod start-up times in the servers' clock.
                "--time-scale".into(),
                ts.to_string(),
            ]
            .into_iter()
            .chain(plan.scenario.control.controller_args.iter().cloned())
            .collect::<Vec<_>>(),
        )?;
        p.wait_serving("controller").await?;
        Ok(Self {
            processes: p,
            cycles: Arc::default(),
            cycle_log,
        })
    }

    /// Follows the cycle log, stamping each new record with the scenario time it appeared at.
    pub fn follow(
        &self,
        clock: impl Fn() -> Clock + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let (path, cycles) = (self.cycle_log.clone(), self.cycles.clone());
        tokio::spawn(async move {
            let mut seen = 0usize;
            loop {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    // Only whole lines: the controller may be writing the last one.
                    let whole = text.rfind('\n').map_or(0, |i| i + 1);
                    if whole > seen {
                        let clock = clock();
                        let at = clock.now();
                        let mut c = cycles.lock().unwrap_or_else(|e| e.into_inner());
                        for line in text[seen..whole].lines().filter(|l| !l.trim().is_empty()) {
                            if let Ok(record) = serde_json::from_str(line) {
                                let started = started(&record, at, clock.scale());
                                c.push(Cycle {
                                    at,
                                    started,
                                    record,
                                });
                            }
                        }
                        seen = whole;
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })
    }

    /// The cycle log's path.
    pub fn cycle_log(&self) -> &Path {
        &self.cycle_log
    }

    /// Processes that died during the run (a run with a dead service is not a valid result).
    pub fn dead(&mut self) -> Vec<String> {
        self.processes.exited()
    }

    /// Stops the processes.
    pub async fn stop(self) {
        self.processes.stop().await;
    }
}

/// The scenario time a cycle `record` read at scenario time `at` started: its `startTime` (RFC
/// 3339, the controller's wall clock) that many scaled seconds before now; `at` when it has
/// none or it is not a time.
fn started(record: &serde_json::Value, at: f64, scale: f64) -> f64 {
    let Some(start) = record["startTime"]
        .as_str()
        .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
    else {
        return at;
    };
    let ago = k8s_openapi::jiff::Timestamp::now()
        .duration_since(start)
        .as_secs_f64()
        .max(0.0);
    (at - ago * scale).max(0.0)
}
