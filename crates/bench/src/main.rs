//! `inferno-bench`: runs the loop and baselines through a scenario and measures every request.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = inferno_bench::cli::Args::parse();
    inferno_telemetry::init_tracing(args.log_format);
    inferno_bench::cli::run(args).await
}
