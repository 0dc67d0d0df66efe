//! `inferno-collector`: serves `inferno.v1.Collector` on 127.0.0.1:3301 and its ops pages on
//! 0.0.0.0:3311.

use anyhow::Context;
use clap::Parser;
use futures::FutureExt;
use inferno_collector::args::Args;
use inferno_collector::collect::{Collector, Metrics};
use inferno_collector::discover::Discovery;
use inferno_collector::prometheus::{Prometheus, PrometheusConfig};
use inferno_collector::service;
use inferno_telemetry::ServeOptions;
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    inferno_telemetry::init_tracing(args.log_format);
    args.check()?;
    // Before anything else: a refused address must not wait for Kubernetes.
    let (addr, credential) = args.serving()?;
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
        args.windows()?,
        timeout,
        metrics.clone(),
    );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--listen {addr}"))?;
    let ops = tokio::net::TcpListener::bind(args.ops_listen)
        .await
        .with_context(|| format!("--ops-listen {}", args.ops_listen))?;
    let shutdown = inferno_telemetry::shutdown_signal().boxed().shared();
    let ops = tokio::spawn(service::run_ops(ops, metrics.clone(), shutdown.clone()));
    let options = ServeOptions {
        timeout: None,
        credential,
    };
    service::run_with(listener, collector, metrics, options, shutdown).await?;
    ops.await??;
    Ok(())
}
