//! `inferno-pod`: the `inferno` pod of deploy/inferno/deploy.yaml as Docker containers, beside
//! kubesim, the emulated vLLM servers and Prometheus (`make pod`; docs/deploy.md).

use clap::{Parser, Subcommand};
use inferno_manifests::docker::{self, PodConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "inferno-pod", version)]
struct Args {
    /// The docker CLI.
    #[arg(long, global = true, env = "DOCKER", default_value = "docker")]
    docker: String,
    /// Name of the run: containers `<name>-<container>`, network `<name>-net`.
    #[arg(long, global = true, default_value = "inferno")]
    name: String,
    #[command(subcommand)]
    command: Cmd,
}

// Parsed once per run: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start the pod (replacing an earlier run of the same name) and wait until it is healthy.
    Up(UpArgs),
    /// Remove the run's containers and network.
    Down,
    /// Each container's state and health.
    Status,
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// The pod's manifest.
    #[arg(long, default_value = "deploy/inferno/deploy.yaml")]
    manifest: PathBuf,
    /// Also run the load emulator of this manifest (a Pod), which changes the samples' load.
    #[arg(long, value_name = "MANIFEST")]
    load_emulator: Option<PathBuf>,
    /// Data directory whose ConfigMap files the controller reads.
    #[arg(long, default_value = "samples/large")]
    data: PathBuf,
    /// Manifests kubesim starts with: the inference servers.
    #[arg(long, default_value = "deploy/samples")]
    samples: PathBuf,
    /// Working directory (kubeconfig, Prometheus configuration, data, targets).
    #[arg(long, default_value = "target/pod")]
    work: PathBuf,
    /// Image prefix, instead of the manifest's.
    #[arg(long, env = "IMAGE_PREFIX", default_value = "inferno/")]
    image_prefix: String,
    /// Image tag, instead of the manifest's.
    #[arg(long, env = "IMAGE_TAG", default_value = "0.1.0")]
    image_tag: String,
    /// The controller's port on 127.0.0.1 (0: any free one).
    #[arg(long, default_value_t = 3300)]
    port: u16,
    /// Prometheus' port on 127.0.0.1 (0: any free one).
    #[arg(long, default_value_t = 9090)]
    prometheus_port: u16,
    /// A container's variable, over the manifest's: CONTAINER.NAME=VALUE (repeatable).
    #[arg(long = "set", value_name = "CONTAINER.NAME=VALUE", value_parser = setting)]
    set: Vec<(String, String, String)>,
    /// Seconds to wait for every container to be healthy.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

fn setting(s: &str) -> Result<(String, String, String), String> {
    let (target, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected CONTAINER.NAME=VALUE"))?;
    let (container, name) = target
        .split_once('.')
        .filter(|(c, n)| !c.is_empty() && !n.is_empty())
        .ok_or_else(|| format!("{s:?}: expected CONTAINER.NAME=VALUE"))?;
    Ok((container.into(), name.into(), value.into()))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Cmd::Up(up) => {
            let config = PodConfig {
                docker: args.docker.clone(),
                name: args.name.clone(),
                manifest: up.manifest,
                load_emulator: up.load_emulator,
                data: up.data,
                samples: up.samples,
                work: up.work.join(&args.name),
                image_prefix: up.image_prefix,
                image_tag: up.image_tag,
                controller_port: up.port,
                prometheus_port: up.prometheus_port,
                env: up.set,
                timeout: Duration::from_secs(up.timeout),
            };
            docker::up(&config).map(|pod| {
                println!(
                    "the pod runs ({} containers, network {}):",
                    pod.containers.len(),
                    pod.network
                );
                for (c, n) in &pod.pod {
                    println!("  {c:<11} docker logs -f {n}");
                }
                println!("controller  curl http://{}/invoke", pod.controller);
                println!("prometheus  http://{}", pod.prometheus);
                println!(
                    "stop        make pod-down (inferno-pod --name {} down)",
                    args.name
                );
            })
        }
        Cmd::Down => docker::down(&args.docker, &args.name).map(|ids| {
            println!("removed {} containers of {}", ids.len(), args.name);
        }),
        Cmd::Status => status(&args.docker, &args.name),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn status(docker_cli: &str, name: &str) -> docker::Result<()> {
    let names = docker::docker(
        docker_cli,
        &[
            "ps".into(),
            "--all".into(),
            "--format".into(),
            "{{.Names}}".into(),
            "--filter".into(),
            format!("label=inferno.pod={name}"),
        ],
    )?;
    let names: Vec<String> = names.lines().map(str::to_string).collect();
    if names.is_empty() {
        println!("no containers of {name}");
        return Ok(());
    }
    for (n, state, health) in docker::health(docker_cli, &names)? {
        println!("{n:<28} {state:<10} {health}");
    }
    Ok(())
}
