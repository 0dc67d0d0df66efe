//! `inferno-load-emulator`: rewrites the load labels of the managed Deployments every interval
//! until ctrl-c or SIGTERM (or once, with `--once`).

use clap::Parser;
use inferno_emulator::load::{self, LoadArgs};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = LoadArgs::parse();
    inferno_telemetry::init_tracing(args.log_format);
    load::run_args(args, inferno_telemetry::shutdown_signal()).await?;
    Ok(())
}
