//! `inferno-collector`: serves `inferno.v1.Collector` on port 3301.

use clap::Parser;
use inferno_collector::args::Args;
use inferno_collector::collect::{Collector, Metrics};
use inferno_collector::discover::Discovery;
use inferno_collector::prometheus::{Prometheus, PrometheusConfig};
use inferno_collector::service;
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    inferno_telemetry::init_tracing(args.log_format);
    args.check().map_err(anyhow::Error::msg)?;
    let addr = args.listen_address().map_err(anyhow::Error::msg)?;
    let timeout = Duration::from_secs_f64(args.prometheus_timeout);
    let prometheus = (!args.prometheus_url.is_empty())
        .then(|| {
            let config = PrometheusConfig {
                url: args.prometheus_url.clone(),
                token_file: args.prometheus_token_file.clone(),
                ca_file: args.prometheus_ca_file.clone(),
                insecure: args.prometheus_insecure,
            };
            Prometheus::new(config, timeout)
        })
        .transpose()?;
    let client = kube::Client::try_default().await?;
    let discovery = Discovery::start(
        client,
        args.namespaces.clone(),
        Duration::from_secs_f64(args.startup_delay),
    );
    let metrics = Arc::new(Metrics::default());
    let collector = Collector::new(
        discovery,
        prometheus,
        args.prometheus_window.clone(),
        timeout,
        metrics.clone(),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    service::run(
        listener,
        collector,
        metrics,
        inferno_telemetry::shutdown_signal(),
    )
    .await?;
    Ok(())
}
