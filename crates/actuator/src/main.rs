//! `inferno-actuator`: serves `inferno.v1.Actuator` on 127.0.0.1:3303 and the read-only ops
//! listener on port 3313.

use anyhow::Context;
use clap::Parser;
use inferno_actuator::service::{self, Listeners};
use inferno_actuator::{apply::Actuator, args::Args, metrics::Metrics};
use std::sync::Arc;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    inferno_telemetry::init_tracing(args.log_format);
    let policy = args.policy()?;
    let credential = args.credential()?;
    let (addr, what) = args.checked_listen_address(credential.as_ref())?;
    let client = kube::Client::try_default().await?;
    let metrics = Arc::new(Metrics::default());
    let actuator = Actuator::new(client, policy, args.mode, metrics.clone())
        .with_dry_run(args.dry_run)
        .with_scope(args.scope());
    let listeners = Listeners {
        grpc: TcpListener::bind(addr)
            .await
            .with_context(|| format!("{what} {addr}"))?,
        ops: Some(
            TcpListener::bind(args.ops_listen)
                .await
                .with_context(|| format!("--ops-listen {}", args.ops_listen))?,
        ),
    };
    let shutdown = inferno_telemetry::shutdown_signal();
    service::run(listeners, actuator, metrics, credential, shutdown).await?;
    Ok(())
}
