//! `inferno-actuator`: serves `inferno.v1.Actuator` on port 3303.

use clap::Parser;
use inferno_actuator::{apply::Actuator, args::Args, metrics::Metrics, service};
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    inferno_telemetry::init_tracing(args.log_format);
    let policy = args.policy().map_err(anyhow::Error::msg)?;
    let addr = args.listen_address().map_err(anyhow::Error::msg)?;
    let client = kube::Client::try_default().await?;
    let metrics = Arc::new(Metrics::default());
    let actuator =
        Actuator::new(client, policy, args.mode, metrics.clone()).with_dry_run(args.dry_run);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    service::run(
        listener,
        actuator,
        metrics,
        inferno_telemetry::shutdown_signal(),
    )
    .await?;
    Ok(())
}
