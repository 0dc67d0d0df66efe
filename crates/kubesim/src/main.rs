//! `kubesim`: serve the in-memory Kubernetes API and write a kubeconfig pointing at it.

use clap::Parser;
use inferno_telemetry::{init_tracing, shutdown_signal, LogFormat};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// An in-memory Kubernetes API server with a tiny Deployment controller.
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
    /// Seconds a new pod stays Pending before it is Running and Ready.
    #[arg(long, env = "KUBESIM_POD_READY_DELAY", default_value_t = 1.0)]
    pod_ready_delay: f64,
    /// Log format: plain or json.
    #[arg(long, env = "KUBESIM_LOG_FORMAT", default_value = "plain")]
    log_format: LogFormat,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args {
        listen,
        kubeconfig,
        load,
        pod_ready_delay,
        log_format,
    } = Args::parse();
    init_tracing(log_format);
    let preload = match &load {
        Some(dir) => kubesim::load_dir(dir)?,
        None => Vec::new(),
    };
    let config = kubesim::Config {
        pod_ready_delay: Duration::try_from_secs_f64(pod_ready_delay)?,
        preload,
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
