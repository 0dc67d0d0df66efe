//! `kubesim`: serve the in-memory Kubernetes API and write a kubeconfig pointing at it.

use clap::Parser;
use inferno_telemetry::{init_tracing, shutdown_signal, LogFormat};
use kubesim::StartupRule;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// An in-memory Kubernetes API server with a small controller manager: start-up delays,
/// graceful pod termination and rolling updates as a real cluster has them.
#[derive(Debug, Parser)]
#[command(name = "kubesim", version)]
struct Args {
    /// Address to serve the API on (plain HTTP).
    #[arg(long, env = "KUBESIM_LISTEN", default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// Where to write a kubeconfig pointing at this server.
    #[arg(long, env = "KUBESIM_KUBECONFIG", default_value = "kubesim.kubeconfig")]
    kubeconfig: PathBuf,
    /// A directory of YAML/JSON manifests to create at start.
    #[arg(long, env = "KUBESIM_LOAD")]
    load: Option<PathBuf>,
    /// Seconds (cluster time) a new pod stays Pending before it is Running and Ready, when no
    /// --startup rule matches it and it has no kubesim.inferno.dev/startup-seconds annotation.
    #[arg(long, env = "KUBESIM_POD_READY_DELAY", default_value = "1", value_parser = seconds,
          allow_negative_numbers = true)]
    pod_ready_delay: Duration,
    /// Start-up delay of the pods a label selector matches (against the pod's labels and
    /// spec.nodeSelector), e.g. 120:inferno.server.model=llama_70b; repeatable, the first
    /// matching rule wins; in the environment `;`-separated.
    #[arg(
        long,
        env = "KUBESIM_STARTUP",
        value_name = "SECONDS:SELECTOR",
        value_delimiter = ';',
        value_parser = startup_rule
    )]
    startup: Vec<Rule>,
    /// Cluster seconds per wall-clock second: 5 runs every delay (start-up, termination grace
    /// periods) five times faster than written.
    #[arg(long, env = "KUBESIM_TIME_SCALE", default_value_t = 1.0, value_parser = time_scale,
          allow_negative_numbers = true)]
    time_scale: f64,
    /// Remove deleted pods at once instead of letting them terminate gracefully (Ready=False
    /// with a deletionTimestamp until their grace period ends).
    #[arg(long, env = "KUBESIM_NO_GRACEFUL_TERMINATION", value_parser = clap::builder::BoolishValueParser::new())]
    no_graceful_termination: bool,
    /// Run the HorizontalPodAutoscaler controller: External metrics are read from the
    /// Prometheus HTTP API at this URL through the rules of --hpa-adapter-config, as
    /// prometheus-adapter serves them. Without it HPAs are stored and never acted on.
    #[arg(
        long,
        env = "KUBESIM_HPA_PROMETHEUS",
        value_name = "URL",
        requires = "hpa_adapter_config"
    )]
    hpa_prometheus: Option<String>,
    /// prometheus-adapter's configuration file (its externalRules serve the External metrics).
    #[arg(
        long,
        env = "KUBESIM_HPA_ADAPTER_CONFIG",
        value_name = "PATH",
        requires = "hpa_prometheus"
    )]
    hpa_adapter_config: Option<PathBuf>,
    /// Seconds (cluster time) between two reconciliations of every HPA
    /// (kube-controller-manager's --horizontal-pod-autoscaler-sync-period).
    #[arg(long, env = "KUBESIM_HPA_SYNC_PERIOD", default_value = "15", value_parser = seconds)]
    hpa_sync_period: Duration,
    /// How far from 1 the ratio of a metric to its target may be before the HPA acts
    /// (--horizontal-pod-autoscaler-tolerance).
    #[arg(long, env = "KUBESIM_HPA_TOLERANCE", default_value_t = 0.1)]
    hpa_tolerance: f64,
    /// Log format: plain or json.
    #[arg(long, env = "KUBESIM_LOG_FORMAT", default_value = "plain")]
    log_format: LogFormat,
}

/// A `--startup` item; empty ones (`KUBESIM_STARTUP=""`, a trailing `;`) are no rule.
#[derive(Debug, Clone)]
struct Rule(Option<StartupRule>);

fn startup_rule(s: &str) -> Result<Rule, kubesim::Error> {
    if s.trim().is_empty() {
        return Ok(Rule(None));
    }
    s.parse().map(|r| Rule(Some(r)))
}

fn seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    Duration::try_from_secs_f64(v).map_err(|_| format!("must be a finite number >= 0, not {s}"))
}

fn time_scale(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("must be a finite number > 0, not {s:?}")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args {
        listen,
        kubeconfig,
        load,
        pod_ready_delay,
        startup,
        time_scale,
        no_graceful_termination,
        hpa_prometheus,
        hpa_adapter_config,
        hpa_sync_period,
        hpa_tolerance,
        log_format,
    } = Args::parse();
    init_tracing(log_format);
    let preload = match &load {
        Some(dir) => kubesim::load_dir(dir)?,
        None => Vec::new(),
    };
    let hpa = match (hpa_prometheus, hpa_adapter_config) {
        (Some(url), Some(path)) => Some(kubesim::HpaConfig {
            sync_period: hpa_sync_period,
            tolerance: hpa_tolerance,
            ..kubesim::HpaConfig::new(url, kubesim::AdapterRules::load(&path)?)
        }),
        _ => None,
    };
    let config = kubesim::Config {
        pod_ready_delay,
        startup: startup.into_iter().filter_map(|r| r.0).collect(),
        time_scale,
        graceful_termination: !no_graceful_termination,
        preload,
        hpa,
        ..Default::default()
    };
    let server = kubesim::Server::new(config)?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let mut addr = listener.local_addr()?;
    if addr.ip().is_unspecified() {
        addr.set_ip([127, 0, 0, 1].into());
    }
    kubesim::write_kubeconfig(&kubeconfig, &format!("http://{addr}"))?;
    tracing::info!(kubeconfig = %kubeconfig.display(), "kubeconfig written");
    server.serve(listener, shutdown_signal()).await?;
    Ok(())
}
