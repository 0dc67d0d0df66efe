//! `inferno-vllm-emulator`: hosts emulated vLLM servers until ctrl-c or SIGTERM.

use clap::Parser;
use inferno_emulator::cli::{self, Args};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    inferno_telemetry::init_tracing(args.log_format);
    cli::run(args, inferno_telemetry::shutdown_signal()).await?;
    Ok(())
}
