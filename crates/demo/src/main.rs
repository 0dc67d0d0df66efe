//! `inferno-demo`: the whole Inferno loop on loopback, shown live; stops on ctrl-c or after
//! INFERNO_DEMO_SECONDS.

use clap::Parser;
use inferno_demo::{display, live, stack};
use std::path::PathBuf;
use std::time::Duration;

/// Flags.
#[derive(Debug, Parser)]
#[command(
    name = "inferno-demo",
    version,
    about = "Runs the whole Inferno loop locally"
)]
struct Args {
    /// Stop after this many seconds (0 = run until ctrl-c).
    #[arg(long, default_value_t = 0, env = "INFERNO_DEMO_SECONDS")]
    seconds: u64,
    /// Seconds between cycles.
    #[arg(long, default_value_t = 15, env = "INFERNO_DEMO_PERIOD")]
    period: u64,
    /// Working directory (logs, kubeconfig, Prometheus data, cycle log).
    #[arg(long, default_value = "target/demo", env = "INFERNO_DEMO_DIR")]
    work: PathBuf,
    /// Repository root.
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// Load-emulator phases file (YAML).
    #[arg(long, default_value = "samples/load-phases.yaml")]
    phases: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    inferno_telemetry::init_tracing(inferno_telemetry::LogFormat::Plain);
    let bin_dir = std::env::current_exe()?
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let repo = std::fs::canonicalize(&args.repo)?;
    let work = if args.work.is_absolute() {
        args.work.clone()
    } else {
        repo.join(&args.work)
    };
    let phases = Some(repo.join(&args.phases)).filter(|p| p.exists());
    let config = stack::Config {
        bin_dir,
        repo: repo.clone(),
        work: work.clone(),
        prometheus: true,
        load_emulator: true,
        phases: phases.clone(),
        load_interval: 5.0,
        period: 0,
        unplaced: "hold".into(),
        prometheus_window: "30s".into(),
        scrape_interval: 2,
        scale_down_window: 30,
    };
    println!(
        "Starting the Inferno loop on 127.0.0.1 (logs in {}/logs) ...",
        work.display()
    );
    // Listening from the start: a ctrl-c while starting drops the half-started stack (its
    // processes are killed on drop).
    let shutdown = inferno_telemetry::shutdown_signal();
    tokio::pin!(shutdown);
    let stack = tokio::select! {
        s = stack::Stack::start(config.clone()) => s?,
        () = &mut shutdown => return Ok(()),
    };
    match &stack.urls.prometheus {
        Some(url) => println!("Prometheus at {url} scrapes the emulated vLLM servers."),
        None => println!("Prometheus is not installed: the collector uses the load labels only (apt-get install prometheus)."),
    }
    println!(
        "kubesim at {} (KUBECONFIG={}); controller at http://{}/invoke\n",
        stack.urls.kubesim,
        stack.kubeconfig.display(),
        stack.urls.controller
    );
    let live = live::Live {
        period: Duration::from_secs(args.period.max(1)),
        deadline: (args.seconds > 0).then(|| Duration::from_secs(args.seconds)),
        measured: display::Measured {
            prometheus: stack.urls.prometheus.is_some(),
            window: config.prometheus_window.clone(),
            scrape_s: config.scrape_interval,
            phases: phases.map(|p| p.strip_prefix(&repo).unwrap_or(&p).display().to_string()),
        },
    };
    let result = live::run(&stack, &live, shutdown).await;
    stack.stop().await;
    println!("Stopped. Cycle records: {}/cycles.jsonl", work.display());
    Ok(result?)
}
