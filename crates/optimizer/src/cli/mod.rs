//! The `inferno-optimizer` command line: `solve` a system, or `analyze` / `size` /
//! `concurrency` one queue problem. Output goes to the writer given to [`run`]; problems with
//! the input come back as a [`CliError`] that names the file and field. Warnings about the data
//! (unknown fields among them) go to stderr; with `--strict` unknown fields are errors.

mod explain_cmd;
mod queue_cmd;
mod solve_cmd;
mod table;

use crate::candidate::BatchSizing;
use crate::solver::{SaturationPolicy, SolverKind};
use clap::builder::{PossibleValuesParser, TypedValueParser};
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
    /// Explain a decision: what each GPU type's capacity is worth, each server's choice against
    /// its best on every other type, the least cost with capacities ignored.
    Explain(ExplainArgs),
    /// Largest request rate one replica carries within the TTFT/ITL targets.
    Size(QueueArgs),
    /// Optimal batch size (max concurrency) search; `maxBatchSize` is the upper bound.
    Concurrency(QueueArgs),
    /// Write a synthetic system: a data set replicated with seeded random loads (JSON on stdout).
    Generate(GenerateArgs),
    /// Print the data of a directory (or system file) as one OptimizeOne request in proto3
    /// JSON (`sloItl`, `memBandwidth`, ...: the shape `grpcurl -d @` sends).
    System(SystemArgs),
    /// Serve the gRPC API (inferno.v1.Optimizer, health, reflection, /metrics) and the ops
    /// listener (/healthz, /metrics).
    Serve(ServeArgs),
    /// Print the shell completion script (e.g. `inferno-optimizer completions bash >
    /// /etc/bash_completion.d/inferno-optimizer`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff; `inferno-optimizer man | man -l -`).
    Man,
}

/// Arguments of `explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// Data directory or system file (as for `solve`), or `-` for stdin.
    pub path: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Only this server's explanation (the types and the bound are always shown).
    #[arg(long, value_name = "NAME")]
    pub server: Option<String>,
    /// Only what is cheap (as the control loop asks each cycle): the LP prices, the lower
    /// bound, each server's choice, margin and headroom; no exact solves with a unit more or
    /// less, no class costs, no type switches.
    #[arg(long)]
    pub brief: bool,
    /// Instead: the cost-versus-target frontier of this class (its servers' cost with
    /// capacities ignored, its TTFT and ITL targets scaled from 0.5 to 2).
    #[arg(long, value_name = "CLASS", conflicts_with = "server")]
    pub frontier: Option<String>,
    /// Unknown fields in the data are errors (exit 1), not warnings.
    #[arg(long)]
    pub strict: bool,
}

/// Arguments of `system`.
#[derive(Debug, clap::Args)]
pub struct SystemArgs {
    /// Data directory or system file.
    pub path: PathBuf,
    /// Unknown fields in the data are errors (exit 1), not warnings.
    #[arg(long)]
    pub strict: bool,
}

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// gRPC address [default: $OPTIMIZER_HOST:$OPTIMIZER_PORT (the seed's INFERNO_HOST /
    /// INFERNO_PORT where unset), else 127.0.0.1:3302]. Beyond
    /// loopback only with --auth-token-file.
    #[arg(long, env = "INFERNO_OPTIMIZER_LISTEN")]
    pub listen: Option<std::net::SocketAddr>,
    /// File with the bearer token every call must carry (a mounted Secret), except health,
    /// reflection and GET /metrics; none = no check, loopback only.
    #[arg(long, env = "INFERNO_AUTH_TOKEN_FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// Read-only HTTP address for probes and Prometheus: GET /healthz, GET /metrics.
    #[arg(
        long,
        default_value = "0.0.0.0:3312",
        env = "INFERNO_OPTIMIZER_OPS_LISTEN"
    )]
    pub ops_listen: std::net::SocketAddr,
    /// Keep a system between calls (set/add/get/remove RPCs, Optimize, ApplyAllocation).
    #[arg(long, env = "INFERNO_OPTIMIZER_STATEFUL", value_parser = clap::builder::BoolishValueParser::new())]
    pub stateful: bool,
    /// Log format: plain or json.
    #[arg(long, default_value = "plain", env = "INFERNO_LOG_FORMAT")]
    pub log_format: inferno_telemetry::LogFormat,
    /// Largest request accepted, bytes.
    #[arg(long, default_value_t = 16 << 20, env = "INFERNO_OPTIMIZER_MAX_REQUEST_BYTES")]
    pub max_request_bytes: usize,
    /// Longest time a request may run, seconds (a shorter client deadline wins).
    #[arg(
        long,
        default_value_t = 60.0,
        env = "INFERNO_OPTIMIZER_REQUEST_TIMEOUT"
    )]
    pub request_timeout: f64,
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
    /// Unknown fields in the data are errors (exit 1), not warnings.
    #[arg(long)]
    pub strict: bool,
}

/// A flag that takes one of `names` (any case), parsed by `parse`: clap lists them in `--help`
/// and refuses anything else as a usage error (exit 2) that lists them too.
fn choices<T: Clone + Send + Sync + 'static>(
    names: &'static [&'static str],
    parse: fn(&str) -> Option<T>,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(names).try_map(move |s| parse(&s).ok_or("not one of the names"))
}

/// Arguments of `solve`.
#[derive(Debug, clap::Args)]
pub struct SolveArgs {
    /// Data directory (accelerator-data.json, capacity-data.json, model-data.json,
    /// optimizer-data.json, server-data.json, serviceclass-data.json), a system JSON file, or `-`
    /// for a system JSON document on stdin.
    pub path: PathBuf,
    /// Print the solution as JSON (`{"allocations": {...}, "unplaced": [...]}`).
    #[arg(long)]
    pub json: bool,
    /// Ignore capacities (capacity planning), overriding the optimizer data.
    #[arg(long)]
    pub unlimited: bool,
    /// Saturation policy (overrides the optimizer data).
    #[arg(long, value_name = "P", ignore_case = true,
          value_parser = choices(&SaturationPolicy::NAMES, SaturationPolicy::parse))]
    pub policy: Option<SaturationPolicy>,
    /// Batch-size rule (docs/model.md).
    #[arg(long, value_name = "S", ignore_case = true,
          value_parser = choices(&BatchSizing::NAMES, BatchSizing::parse))]
    pub batch_sizing: Option<BatchSizing>,
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
    /// Solver (overrides the optimizer data).
    #[arg(long, value_name = "S", ignore_case = true,
          value_parser = choices(&SolverKind::NAMES, SolverKind::parse))]
    pub solver: Option<SolverKind>,
    /// Several accelerator kinds per server (MILP).
    #[arg(long)]
    pub heterogeneous: bool,
    /// Time limit of the MILP and Lagrangian solvers, seconds.
    #[arg(long, value_name = "SECONDS")]
    pub time_limit: Option<f64>,
    /// Greedy: when it leaves servers unserved, improve its answer with prices from this
    /// many Lagrangian iterations (0: the reference's greedy as it is) [default: 200].
    #[arg(long, value_name = "N")]
    pub improve: Option<u64>,
    /// Lagrangian: stop after N iterations (besides the time limit); the answer then depends
    /// on the input and N only.
    #[arg(long, value_name = "N")]
    pub iterations: Option<u64>,
    /// Unknown fields in the data are errors (exit 1), not warnings.
    #[arg(long)]
    pub strict: bool,
    /// While the solve runs, a line on stderr every second (default: when stderr is a
    /// terminal).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub progress: Option<bool>,
}

/// A queue problem (spec 5.4), from a JSON file and/or flags (flags win).
#[derive(Debug, clap::Args)]
pub struct QueueArgs {
    /// JSON file with the queue-analysis problem (rps, maxBatchSize, avgInputTokens,
    /// avgOutputTokens, alpha, beta, gamma, maxQueueSize, targetTtft, targetItl); `-` reads
    /// it from stdin.
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
    /// Coefficient of variation of the output tokens per request (0 = every request at the
    /// mean, the reference's model).
    #[arg(long)]
    pub out_tokens_cv: Option<f64>,
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
    /// Unknown fields in the problem file are errors (exit 1), not warnings.
    #[arg(long)]
    pub strict: bool,
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
        Command::Explain(a) => explain_cmd::run(&a, out),
        Command::Analyze(a) => queue_cmd::analyze(&a, out),
        Command::Size(a) => queue_cmd::size(&a, out),
        Command::Concurrency(a) => queue_cmd::concurrency(&a, out),
        Command::Generate(a) => generate(&a, out),
        Command::System(a) => {
            // The request of OptimizeOne in proto3 JSON, as grpcurl sends it.
            let spec = load(&a.path, a.strict)?;
            let system = inferno_proto::v1::SystemSpec::try_from(&spec)
                .map_err(|e| CliError::Input(format!("{}: {e}", a.path.display())))?;
            let message = inferno_proto::v1::SystemData {
                system: Some(system),
            };
            writeln!(out, "{}", inferno_proto::json::to_string_pretty(&message))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(a) => serve(&a),
        Command::Completions { shell } => {
            let mut cmd = <Args as clap::CommandFactory>::command();
            let name = cmd.get_name().to_string();
            clap_complete::generate(shell, &mut cmd, name, out);
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            clap_mangen::Man::new(<Args as clap::CommandFactory>::command()).render(out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Loads a data directory or system file and prints each warning to stderr; with `strict`,
/// unknown fields fail the load with the validation problems.
fn load(path: &std::path::Path, strict: bool) -> Result<inferno_api::SystemSpec, CliError> {
    let options = inferno_api::LoadOptions { strict };
    let loaded = if path.as_os_str() == "-" {
        inferno_api::load_text_with(&read_stdin()?, "stdin", options)?
    } else {
        inferno_api::load_path_with(path, options)?
    };
    warn(&loaded.warnings);
    Ok(loaded.spec)
}

/// [`load`], refusing a system without servers: `null`, `{}` and `{"system": null}` parse as
/// an empty system, and a command would print an empty answer for it.
fn load_servers(path: &std::path::Path, strict: bool) -> Result<inferno_api::SystemSpec, CliError> {
    let spec = load(path, strict)?;
    if spec.server_data.servers.is_empty() {
        return Err(CliError::Input(format!(
            "{}: {}",
            path.display(),
            crate::Error::NoServers
        )));
    }
    Ok(spec)
}

/// Standard input as text (`-` for a path); invalid UTF-8 becomes U+FFFD, as in files.
fn read_stdin() -> Result<String, CliError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::Input(format!("cannot read stdin: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Prints problems of the input that do not stop the command, one per line, on stderr.
fn warn(warnings: &[inferno_api::Problem]) {
    for w in warnings {
        eprintln!("{w}");
    }
}

/// The listen address and what set it: the flag, else OPTIMIZER_HOST / OPTIMIZER_PORT (the
/// seed's INFERNO_HOST / INFERNO_PORT where they are unset), else 127.0.0.1:3302 (the pod's containers share loopback; nothing else needs the port).
fn listen_address(
    flag: Option<std::net::SocketAddr>,
) -> Result<(std::net::SocketAddr, String), CliError> {
    inferno_telemetry::ListenAddress::seed("OPTIMIZER_HOST", "OPTIMIZER_PORT", "127.0.0.1", 3302)
        .or("INFERNO_HOST", "INFERNO_PORT")
        .resolve(flag)
        .map_err(|e| CliError::Input(e.to_string()))
}

fn serve(args: &ServeArgs) -> Result<ExitCode, CliError> {
    use futures::FutureExt;
    inferno_telemetry::init_tracing(args.log_format);
    let request_timeout = Some(args.request_timeout)
        .filter(|t| *t > 0.0)
        .and_then(|t| std::time::Duration::try_from_secs_f64(t).ok())
        .ok_or_else(|| {
            CliError::Input(format!(
                "--request-timeout: must be a number of seconds > 0, got {}",
                args.request_timeout
            ))
        })?;
    let (addr, what) = listen_address(args.listen)?;
    let credential = args
        .auth_token_file
        .as_deref()
        .map(inferno_telemetry::Credential::from_file)
        .transpose()
        .map_err(|e| CliError::Input(format!("--auth-token-file: {e}")))?;
    inferno_telemetry::auth::check_exposure(&what, addr, credential.as_ref())
        .map_err(|e| CliError::Input(e.to_string()))?;
    let config = crate::grpc::ServeConfig {
        stateful: args.stateful,
        max_request_bytes: args.max_request_bytes,
        request_timeout,
        credential,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| CliError::Input(format!("{what} {addr}: cannot listen: {e}")))?;
        let ops_addr = args.ops_listen;
        let ops = tokio::net::TcpListener::bind(ops_addr)
            .await
            .map_err(|e| CliError::Input(format!("--ops-listen {ops_addr}: cannot listen: {e}")))?;
        let shutdown = inferno_telemetry::shutdown_signal().boxed().shared();
        let metrics = std::sync::Arc::new(crate::grpc::Metrics::default());
        let ops = tokio::spawn(crate::grpc::run_ops(ops, metrics.clone(), shutdown.clone()));
        crate::grpc::run_with(listener, config, metrics, shutdown)
            .await
            .map_err(|e| CliError::Input(format!("server failed: {e}")))?;
        match ops.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(CliError::Input(format!("ops listener failed: {e}"))),
            Err(e) => Err(CliError::Input(format!("ops listener failed: {e}"))),
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

fn generate(args: &GenerateArgs, out: &mut dyn std::io::Write) -> Result<ExitCode, CliError> {
    let base = load(&args.path, args.strict)?;
    let system = inferno_api::SystemData {
        system: crate::synthetic::replicate(&base, args.copies, args.seed),
    };
    serde_json::to_writer(&mut *out, &system).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16 (hardening): the optimizer listened on 0.0.0.0; inside the pod only the
    /// controller calls it, over loopback.
    #[test]
    fn the_default_listen_address_is_loopback() {
        let flag: std::net::SocketAddr = "0.0.0.0:9".parse().unwrap();
        assert_eq!(
            listen_address(Some(flag)).unwrap(),
            (flag, "--listen".into())
        );
        if [
            "OPTIMIZER_HOST",
            "OPTIMIZER_PORT",
            "INFERNO_HOST",
            "INFERNO_PORT",
        ]
        .iter()
        .all(|v| std::env::var_os(v).is_none())
        {
            let (addr, what) = listen_address(None).unwrap();
            assert_eq!(addr, "127.0.0.1:3302".parse().unwrap());
            assert_eq!(what, "OPTIMIZER_HOST/OPTIMIZER_PORT");
        }
        let args = Args::try_parse_from(["inferno-optimizer", "serve"]).unwrap();
        let Command::Serve(serve) = args.command else {
            panic!("not serve");
        };
        if std::env::var_os("INFERNO_OPTIMIZER_OPS_LISTEN").is_none() {
            assert_eq!(serve.ops_listen, "0.0.0.0:3312".parse().unwrap());
        }
    }
}
