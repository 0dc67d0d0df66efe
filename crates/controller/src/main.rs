//! `inferno-controller`: runs the cycle and serves POST|GET /invoke on port 3300.

use clap::Parser;
use inferno_controller::{
    args::Args, cycle::Stages, data, grpc::Clients, leader::Leadership, metrics::Metrics,
    policy::Policy, runner, server, shutdown::Shutdown,
};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    inferno_telemetry::init_tracing(args.log_format);
    // Before anything can take the Lease.
    let shutdown = Shutdown::on_signals()?;
    let addr = args.listen_address()?;
    let deadlines = args.deadlines()?;
    let credential = args.credential()?;
    if credential.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "anyone who reaches this address can run cycles (POST|GET \
            /invoke, gRPC Invoke); set --auth-token-file (INFERNO_AUTH_TOKEN_FILE) to require a token");
    }
    let endpoints = args.endpoints();
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let client = || async { kube::Client::try_default().await };
    let source = match &args.data_path {
        Some(p) => data::Source::Dir(p.clone()),
        None => data::Source::ConfigMaps {
            client: client().await?,
            namespace: args.data_namespace.clone(),
        },
    };
    let stages = Stages {
        ports: Clients::connect(endpoints.clone(), credential.clone())?,
        source,
        dynamic: args.dynamic,
        deadlines,
        dry_run: args.dry_run,
        explain: args.explain,
        policy: Arc::new(std::sync::Mutex::new(Policy::new(args.policy()))),
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
    let store = if args.tuning_configmap.is_empty() {
        None
    } else {
        Some(inferno_controller::persist::Store::new(
            client().await?,
            &args.data_namespace,
            &args.tuning_configmap,
        ))
    };
    let settings = runner::Settings {
        period: (args.period > 0.0).then(|| Duration::from_secs_f64(args.period)),
        cycle_log: args.cycle_log.clone(),
        store,
    };
    tracing::info!(collector = %endpoints.collector, optimizer = %endpoints.optimizer,
        actuator = %endpoints.actuator, period_s = args.period, dynamic = args.dynamic,
        auth = credential.is_some(), "controller starting");
    let runner = runner::start(
        stages,
        settings,
        leadership.clone(),
        metrics.clone(),
        shutdown.wait(),
    );
    let served = server::run(
        listener,
        runner.clone(),
        leadership.clone(),
        metrics,
        credential,
        shutdown.wait(),
    )
    .await;
    // The cycle in flight finishes before the Lease goes to a standby.
    shutdown.trigger();
    runner.stopped().await;
    leadership.release().await;
    served?;
    Ok(())
}
