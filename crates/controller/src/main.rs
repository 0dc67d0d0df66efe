//! `inferno-controller`: runs the cycle and serves GET /invoke on port 3300.

use clap::Parser;
use inferno_controller::{
    args::Args, cycle, data, leader::Leadership, metrics::Metrics, runner, server,
};
use inferno_proto::v1::{
    actuator_client::ActuatorClient, collector_client::CollectorClient,
    optimizer_client::OptimizerClient,
};
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Endpoint;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    inferno_telemetry::init_tracing(args.log_format);
    let addr = args.listen_address().map_err(anyhow::Error::msg)?;
    let deadlines = args.deadlines().map_err(anyhow::Error::msg)?;
    let (collector, optimizer, actuator) = args.urls();
    let channel = |url: &str| Endpoint::from_shared(url.to_string()).map(|e| e.connect_lazy());
    let client = || async { kube::Client::try_default().await };
    let source = match &args.data_path {
        Some(p) => data::Source::Dir(p.clone()),
        None => data::Source::ConfigMaps {
            client: client().await?,
            namespace: args.data_namespace.clone(),
        },
    };
    let stages = cycle::Stages {
        collector: CollectorClient::new(channel(&collector)?).max_decoding_message_size(usize::MAX),
        optimizer: OptimizerClient::new(channel(&optimizer)?).max_decoding_message_size(usize::MAX),
        actuator: ActuatorClient::new(channel(&actuator)?).max_decoding_message_size(usize::MAX),
        source,
        dynamic: args.dynamic,
        deadlines,
        dry_run: args.dry_run,
    };
    let leadership = if args.leader_elect {
        let (ns, id) = args.lease();
        Leadership::elect(
            client().await?,
            &ns,
            &args.lease_name,
            &id,
            Duration::from_secs(args.lease_duration.max(3)),
        )
    } else {
        Leadership::always()
    };
    let metrics = Arc::new(Metrics::default());
    let settings = runner::Settings {
        period: (args.period > 0).then(|| Duration::from_secs(args.period)),
        cycle_log: args.cycle_log.clone(),
    };
    tracing::info!(%collector, %optimizer, %actuator, period_s = args.period, dynamic = args.dynamic, "controller starting");
    let runner = runner::start(
        stages,
        settings,
        leadership.clone(),
        metrics.clone(),
        std::future::pending(),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    server::run(
        listener,
        runner,
        leadership,
        metrics,
        inferno_telemetry::shutdown_signal(),
    )
    .await?;
    Ok(())
}
