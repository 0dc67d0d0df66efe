//! Command-line flags of `inferno-actuator` (each with an `INFERNO_ACTUATOR_*` env default).

use crate::apply::Mode;
use crate::plan::{Policy, TemplateOptions, UnplacedPolicy};
use inferno_telemetry::LogFormat;
use std::net::SocketAddr;
use std::time::Duration;

/// Flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "inferno-actuator",
    version,
    about = "Inferno actuator: applies allocations to inference Deployments"
)]
pub struct Args {
    /// Address to listen on [default: $ACTUATOR_HOST:$ACTUATOR_PORT, else 0.0.0.0:3303].
    #[arg(long, env = "INFERNO_ACTUATOR_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Servers without an allocation: hold (keep replicas), zero, or min (the min-replicas label).
    #[arg(long, default_value = "hold", env = "INFERNO_ACTUATOR_UNPLACED")]
    pub unplaced: UnplacedPolicy,
    /// patch the Deployments, or recommend only (publish inferno_desired_replicas for HPA/KEDA).
    #[arg(long, default_value = "patch", env = "INFERNO_ACTUATOR_MODE")]
    pub mode: Mode,
    /// Let an allocation of 0 replicas (no load) scale a running Deployment to zero.
    #[arg(long, env = "INFERNO_ACTUATOR_SCALE_TO_ZERO")]
    pub scale_to_zero: bool,
    /// Apply nothing, whatever the requests say.
    #[arg(long, env = "INFERNO_ACTUATOR_DRY_RUN")]
    pub dry_run: bool,
    /// Scale-down stabilisation window, seconds (0 = off).
    #[arg(long, default_value_t = 0, env = "INFERNO_ACTUATOR_SCALE_DOWN_WINDOW")]
    pub scale_down_window: u64,
    /// Largest replica change per cycle (0 = unlimited).
    #[arg(long, default_value_t = 0, env = "INFERNO_ACTUATOR_MAX_STEP")]
    pub max_step: u32,
    /// Node label to set in the pod template's nodeSelector when the accelerator changes
    /// (e.g. nvidia.com/gpu.product); values come from --node-value.
    #[arg(long, env = "INFERNO_ACTUATOR_NODE_LABEL")]
    pub node_label: Option<String>,
    /// ACCELERATOR=VALUE for --node-label (repeatable, or comma-separated in the env var).
    #[arg(
        long = "node-value",
        value_name = "ACC=VALUE",
        env = "INFERNO_ACTUATOR_NODE_VALUES",
        value_delimiter = ','
    )]
    pub node_values: Vec<String>,
    /// Env var of the first container that gets the batch size (e.g. VLLM_MAX_NUM_SEQS).
    #[arg(long, env = "INFERNO_ACTUATOR_BATCH_ENV")]
    pub batch_env: Option<String>,
    /// Log format: plain or json.
    #[arg(long, default_value = "plain", env = "INFERNO_LOG_FORMAT")]
    pub log_format: LogFormat,
}

impl Args {
    /// The listen address: the flag, else the seed's ACTUATOR_HOST / ACTUATOR_PORT, else 0.0.0.0:3303.
    pub fn listen_address(&self) -> Result<SocketAddr, String> {
        if let Some(a) = self.listen {
            return Ok(a);
        }
        let host = std::env::var("ACTUATOR_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "0.0.0.0".into());
        let port = std::env::var("ACTUATOR_PORT")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "3303".into());
        format!("{host}:{port}")
            .parse()
            .map_err(|e| format!("ACTUATOR_HOST/ACTUATOR_PORT {host}:{port}: {e}"))
    }

    /// The policy the flags describe; bad --node-value entries are errors naming the flag.
    pub fn policy(&self) -> Result<Policy, String> {
        let mut node_values = std::collections::BTreeMap::new();
        for v in &self.node_values {
            let (acc, value) = v
                .split_once('=')
                .ok_or_else(|| format!("--node-value {v:?}: expected ACCELERATOR=VALUE"))?;
            node_values.insert(acc.trim().to_string(), value.trim().to_string());
        }
        if !node_values.is_empty() && self.node_label.is_none() {
            return Err("--node-value needs --node-label".into());
        }
        Ok(Policy {
            unplaced: self.unplaced,
            scale_down_window: (self.scale_down_window > 0)
                .then(|| Duration::from_secs(self.scale_down_window)),
            max_step: (self.max_step > 0).then_some(self.max_step),
            template: TemplateOptions {
                node_label: self.node_label.clone(),
                node_values,
                batch_env: self.batch_env.clone(),
            },
            scale_to_zero: self.scale_to_zero,
        })
    }
}
