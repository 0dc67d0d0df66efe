//! The flags of `inferno-vllm-emulator follow` and [`run_args`], which connects to the API
//! server named by `KUBECONFIG` (or the in-cluster config) and follows it.

use super::{FollowConfig, DEFAULT_RESYNC};
use crate::config::Catalog;
use crate::error::{Error, Result};
use clap::Args;
use std::future::Future;
use std::path::PathBuf;

/// One emulated server per Running and Ready pod of the managed Deployments, following their
/// labels; the API server is the one of `KUBECONFIG` (or the in-cluster config).
#[derive(Debug, Clone, Args)]
pub struct FollowArgs {
    /// model-data.json (or a data directory holding one): performance parameters per
    /// (model, accelerator).
    #[arg(long, value_name = "PATH", env = "INFERNO_EMULATOR_MODEL_DATA")]
    pub model_data: PathBuf,

    /// Namespace to watch; repeat for more; none = all namespaces.
    #[arg(
        long = "namespace",
        value_name = "NS",
        env = "INFERNO_EMULATOR_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,

    /// Prometheus file_sd JSON rewritten (atomically) after every change: one target per pod,
    /// labelled namespace, pod, deployment and model_name.
    #[arg(long, value_name = "PATH", env = "INFERNO_EMULATOR_TARGETS_FILE")]
    pub targets_file: PathBuf,

    /// Each server generates its share of the Deployment's load labels: rpm / 60 / ready pods
    /// requests per emulated second, tokens from .load.intokens / .load.outtokens.
    #[arg(long, env = "INFERNO_EMULATOR_DRIVE", value_parser = clap::builder::BoolishValueParser::new())]
    pub drive: bool,

    /// Emulated time runs this many times faster than the wall clock (Prometheus rates are
    /// per wall second, so they are this many times the emulated rates).
    #[arg(long, default_value_t = 1.0, env = "INFERNO_EMULATOR_TIME_SCALE")]
    pub time_scale: f64,

    /// Base seed of the servers' internal loads (each server derives its own from its name).
    #[arg(long, default_value_t = 1, env = "INFERNO_EMULATOR_SEED")]
    pub seed: u64,
}

impl FollowArgs {
    /// The follow configuration these flags describe, validated.
    pub fn config(&self) -> Result<FollowConfig> {
        let config = FollowConfig {
            namespaces: self
                .namespaces
                .iter()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect(),
            targets_file: self.targets_file.clone(),
            drive: self.drive,
            time_scale: self.time_scale,
            seed: self.seed,
            resync: DEFAULT_RESYNC,
        };
        config.validate()?;
        Ok(config)
    }
}

/// Reads the catalog, connects to the API server and follows it until `shutdown` completes.
pub async fn run_args(args: FollowArgs, shutdown: impl Future<Output = ()>) -> Result<()> {
    let config = args.config()?;
    let catalog = Catalog::load(&args.model_data)?;
    let client = kube::Client::try_default()
        .await
        .map_err(|source| Error::Kube {
            context: "connecting to the Kubernetes API (KUBECONFIG or in-cluster)".into(),
            source,
        })?;
    tracing::info!(namespaces = ?config.namespaces, targets = %config.targets_file.display(),
        drive = config.drive, time_scale = config.time_scale, "following managed deployments");
    super::run(client, Some(catalog), config, shutdown).await
}
