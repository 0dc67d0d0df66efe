//! The `inferno-optimizer` command line: `solve` a system, or `analyze` / `size` /
//! `concurrency` one queue problem. Output goes to the writer given to [`run`]; problems with
//! the input come back as a [`CliError`] that names the file and field.

mod queue_cmd;
mod solve_cmd;
mod table;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "inferno-optimizer",
    version,
    about = "Inferno optimizer: GPU type, replicas and batch size for LLM inference servers"
)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Solve a system: a directory with the six data files, or one system JSON file.
    Solve(SolveArgs),
    /// Performance of one replica at a request rate (`RPS`).
    Analyze(QueueArgs),
    /// Largest request rate one replica carries within the TTFT/ITL targets.
    Size(QueueArgs),
    /// Optimal batch size (max concurrency) search; `maxBatchSize` is the upper bound.
    Concurrency(QueueArgs),
    /// Write a synthetic system: a data set replicated with seeded random loads (JSON on stdout).
    Generate(GenerateArgs),
}

/// Arguments of `generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Data directory or system file to replicate.
    pub path: PathBuf,
    /// Number of copies (capacities are multiplied by it).
    #[arg(long, default_value_t = 1000)]
    pub copies: usize,
    /// Random seed.
    #[arg(long, default_value_t = 24301)]
    pub seed: u64,
}

/// Arguments of `solve`.
#[derive(Debug, clap::Args)]
pub struct SolveArgs {
    /// Data directory (accelerator-data.json, capacity-data.json, model-data.json,
    /// optimizer-data.json, server-data.json, serviceclass-data.json) or a system JSON file.
    pub path: PathBuf,
    /// Print the solution as JSON (`{"allocations": {...}, "unplaced": [...]}`).
    #[arg(long)]
    pub json: bool,
    /// Ignore capacities (capacity planning), overriding the optimizer data.
    #[arg(long)]
    pub unlimited: bool,
    /// Saturation policy: None, PriorityExhaustive, RoundRobin or PriorityRoundRobin.
    #[arg(long, value_name = "P")]
    pub policy: Option<String>,
    /// Batch-size rule: scaled or search.
    #[arg(long, value_name = "S")]
    pub batch_sizing: Option<String>,
    /// Run best effort once after all priorities instead of after each.
    #[arg(long)]
    pub delayed_best_effort: bool,
    /// Exit with status 3 when some server is not placed.
    #[arg(long)]
    pub fail_on_unplaced: bool,
    /// Size every (server, accelerator) pair, not only those whose bound can win (same
    /// result, slower; for verification).
    #[arg(long)]
    pub size_all: bool,
}

/// A queue problem (spec 5.4), from a JSON file and/or flags (flags win).
#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    /// JSON file with the queue-analysis problem (RPS, maxBatchSize, avgInputTokens,
    /// avgOutputTokens, alpha, beta, gamma, maxQueueSize, targetTTFT, targetITL).
    #[arg(long, value_name = "FILE")]
    pub problem: Option<PathBuf>,
    /// Request rate, requests/s.
    #[arg(long)]
    pub rps: Option<f64>,
    /// Max batch size N (upper bound for `concurrency`, default 256 there).
    #[arg(long)]
    pub max_batch_size: Option<u32>,
    /// Mean input tokens per request.
    #[arg(long)]
    pub in_tokens: Option<f64>,
    /// Mean output tokens per request.
    #[arg(long)]
    pub out_tokens: Option<f64>,
    /// Iteration overhead, ms.
    #[arg(long)]
    pub alpha: Option<f64>,
    /// ms per computed token.
    #[arg(long)]
    pub beta: Option<f64>,
    /// ms per KV-cache token read.
    #[arg(long)]
    pub gamma: Option<f64>,
    /// Waiting room per replica.
    #[arg(long)]
    pub max_queue_size: Option<u32>,
    /// TTFT target, ms (0 = unset).
    #[arg(long)]
    pub target_ttft: Option<f64>,
    /// ITL target, ms (0 = unset).
    #[arg(long)]
    pub target_itl: Option<f64>,
    /// Print JSON (the queue-analysis API's field names).
    #[arg(long)]
    pub json: bool,
}

/// What can go wrong in a command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Reading, parsing or validating the data failed.
    #[error(transparent)]
    Data(#[from] inferno_api::Error),
    /// A flag or a field of the queue problem is invalid.
    #[error("{0}")]
    Input(String),
    /// The queue model rejected the problem.
    #[error(transparent)]
    Model(#[from] crate::Error),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

/// Runs a command; returns the process exit status.
pub fn run(args: Args, out: &mut dyn std::io::Write) -> Result<ExitCode, CliError> {
    match args.command {
        Command::Solve(a) => solve_cmd::run(&a, out),
        Command::Analyze(a) => queue_cmd::analyze(&a, out),
        Command::Size(a) => queue_cmd::size(&a, out),
        Command::Concurrency(a) => queue_cmd::concurrency(&a, out),
        Command::Generate(a) => generate(&a, out),
    }
}

fn generate(args: &GenerateArgs, out: &mut dyn std::io::Write) -> Result<ExitCode, CliError> {
    let base = inferno_api::load_path(&args.path)?.spec;
    let system = inferno_api::SystemData {
        system: crate::synthetic::replicate(&base, args.copies, args.seed),
    };
    serde_json::to_writer(&mut *out, &system).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}
