//! The command line: `inferno-bench run SCENARIO --out DIR [--policy ...]`,
//! `inferno-bench scenarios`.

use crate::policies::Policy;
use crate::run::{run as run_plan, Options};
use crate::scenario::Plan;
use anyhow::Context;
use inferno_telemetry::LogFormat;
use std::path::{Path, PathBuf};

/// Flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "inferno-bench",
    version,
    about = "Closed-loop benchmark: the real Inferno loop and baseline policies through a scenario, every request measured (docs/benchmark.md)"
)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Log format: plain or json.
    #[arg(
        long,
        global = true,
        default_value = "plain",
        env = "INFERNO_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Runs a scenario under the policies; writes summary.json, summary.md, timeline.png and
    /// the records into --out.
    Run {
        /// The scenario file (YAML).
        scenario: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// inferno, hpa, static-peak, clairvoyant or all (comma-separated list allowed).
        #[arg(long, default_value = "all")]
        policy: String,
        /// Directory of the Inferno binaries [default: this program's directory].
        #[arg(long, env = "INFERNO_BENCH_BIN_DIR")]
        bin_dir: Option<PathBuf>,
        /// Overrides the scenario's time scale.
        #[arg(long)]
        time_scale: Option<f64>,
        /// Overrides the scenario's duration (e.g. 5m), cutting the load phases there.
        #[arg(long)]
        duration: Option<String>,
        /// Overrides the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Lists the shipped scenarios.
    Scenarios {
        /// Directory of scenario files [default: ./benchmarks, else the repository's].
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Checks a scenario file and prints what it expands to, without running it.
    Check {
        /// The scenario file (YAML).
        scenario: PathBuf,
    },
}

fn benchmarks_dir() -> PathBuf {
    let here = PathBuf::from("benchmarks");
    if here.is_dir() {
        return here;
    }
    // target/<profile>/inferno-bench -> the repository root.
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent()?.parent()?.parent().map(|r| r.join("benchmarks")))
        .filter(|d| d.is_dir())
        .unwrap_or(here)
}

fn list(dir: &Path) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    println!(
        "{:<14} {:>8} {:>6} {:>8}  description",
        "scenario", "duration", "scale", "servers"
    );
    for f in files {
        match Plan::load(&f) {
            Ok(p) => println!(
                "{:<14} {:>8} {:>6} {:>8}  {}",
                p.name,
                p.scenario.duration.to_string(),
                p.scenario.time_scale,
                p.servers.len(),
                p.scenario.description
            ),
            Err(e) => println!("{:<14} error: {e}", f.display()),
        }
    }
    Ok(())
}

/// Runs the command.
pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Command::Scenarios { dir } => list(&dir.unwrap_or_else(benchmarks_dir)),
        Command::Check { scenario } => {
            let plan = Plan::load(&scenario)?;
            println!(
                "{}: {} servers, {} of scenario time at time scale {} ({:.1} min of wall time)",
                plan.name,
                plan.servers.len(),
                plan.scenario.duration,
                plan.scenario.time_scale,
                plan.scenario.duration.0 / plan.scenario.time_scale / 60.0
            );
            for b in &plan.servers {
                let peak = b.peak(0.0, plan.scenario.duration.0);
                println!(
                    "  {} ({} / {}): nominal {} rpm, peak {:.1} rpm; targets TTFT {} ms, ITL {} ms",
                    b.name, b.class, b.model, b.rpm, peak.rpm, b.ttft_target_ms, b.itl_target_ms
                );
            }
            Ok(())
        }
        Command::Run {
            scenario,
            out,
            policy,
            bin_dir,
            time_scale,
            duration,
            seed,
        } => {
            let mut plan = Plan::load(&scenario)?;
            if let Some(ts) = time_scale {
                anyhow::ensure!(
                    ts.is_finite() && ts > 0.0 && ts <= 1000.0,
                    "--time-scale: must be in (0, 1000], got {ts}"
                );
                plan.scenario.time_scale = ts;
            }
            if let Some(d) = duration {
                let d = crate::duration::Seconds::parse(&d)
                    .map_err(|e| anyhow::anyhow!("--duration: {e}"))?;
                anyhow::ensure!(d.0 > 0.0, "--duration: must be > 0");
                plan.scenario.duration = d;
            }
            if let Some(s) = seed {
                plan.scenario.seed = s;
            }
            let policies =
                Policy::parse_list(&policy).map_err(|e| anyhow::anyhow!("--policy: {e}"))?;
            let bin_dir = match bin_dir {
                Some(d) => d,
                None => std::env::current_exe()?
                    .parent()
                    .context("the program's directory")?
                    .to_path_buf(),
            };
            let options = Options {
                out: out.clone(),
                policies,
                bin_dir,
            };
            // On ctrl-c or SIGTERM the run is dropped, which kills its child processes
            // (Prometheus, the four services) and stops the cluster.
            let measured = tokio::select! {
                m = run_plan(plan, &options) => m?,
                _ = inferno_telemetry::shutdown_signal() => anyhow::bail!("interrupted"),
            };
            let summary = crate::summary::summarise(&measured);
            crate::summary::write(&measured, &summary, &out)?;
            crate::timeline::write(&measured, &out.join("timeline.png"))?;
            print!("{}", crate::summary::markdown(&summary));
            println!("\n(written to {})", out.display());
            Ok(())
        }
    }
}
