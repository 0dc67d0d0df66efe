//! Command-line flags of `inferno-actuator` (each with an `INFERNO_ACTUATOR_*` env default).

use crate::apply::Mode;
use crate::guard::Scope;
use crate::plan::{
    Policy, TemplateOptions, UnplacedPolicy, DEFAULT_MAX_REPLICAS, DEFAULT_MAX_STEP,
};
use inferno_api::limits::MAX_REPLICAS;
use inferno_telemetry::auth::{CredentialError, ExposureError};
use inferno_telemetry::{Credential, ListenAddress, ListenError, LogFormat};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Flags that make no sense; each message names the flag (or the env vars) and the value.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// ACTUATOR_HOST / ACTUATOR_PORT make no address.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The token file gives no credential.
    #[error("--auth-token-file: {0}")]
    Credential(#[source] CredentialError),
    /// An address beyond loopback without a credential.
    #[error(transparent)]
    Exposure(#[from] ExposureError),
    /// A --node-value entry without `=`.
    #[error("--node-value {0:?}: expected ACCELERATOR=VALUE")]
    NodeValue(String),
    /// --node-value without a label to set.
    #[error("--node-value needs --node-label")]
    NodeValueWithoutLabel,
}

/// The gRPC address without --listen: the seed's ACTUATOR_HOST / ACTUATOR_PORT, else loopback
/// (the controller is in the same pod) port 3303. Messages name the flag with its env var.
const LISTEN: ListenAddress =
    ListenAddress::seed("ACTUATOR_HOST", "ACTUATOR_PORT", "127.0.0.1", 3303)
        .flag("--listen (INFERNO_ACTUATOR_LISTEN)");

/// Flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "inferno-actuator",
    version,
    about = "Inferno actuator: applies allocations to inference Deployments"
)]
pub struct Args {
    /// gRPC address to listen on [default: $ACTUATOR_HOST:$ACTUATOR_PORT, else 127.0.0.1:3303].
    /// A non-loopback address needs --auth-token-file.
    #[arg(long, env = "INFERNO_ACTUATOR_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Read-only plain-HTTP listener for probes and Prometheus: /healthz, /readyz, /metrics.
    #[arg(
        long,
        default_value = "0.0.0.0:3313",
        env = "INFERNO_ACTUATOR_OPS_LISTEN"
    )]
    pub ops_listen: SocketAddr,
    /// File holding the bearer token every gRPC call must carry (`authorization: Bearer ...`);
    /// none = no authentication (then only a loopback --listen is allowed).
    #[arg(long, env = "INFERNO_AUTH_TOKEN_FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// Namespace to act in (repeatable; comma-separated in the env var); none = all namespaces.
    /// A Deployment elsewhere is refused.
    #[arg(long = "namespace", env = "WATCH_NAMESPACE", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Servers without an allocation: hold (keep replicas), zero, or min (the min-replicas label).
    #[arg(long, default_value = "hold", env = "INFERNO_ACTUATOR_UNPLACED")]
    pub unplaced: UnplacedPolicy,
    /// patch the Deployments, or recommend only (publish inferno_actuator_desired_replicas
    /// for HPA/KEDA).
    #[arg(long, default_value = "patch", env = "INFERNO_ACTUATOR_MODE")]
    pub mode: Mode,
    /// Let an allocation of 0 replicas (no load) scale a running Deployment to zero.
    #[arg(long, env = "INFERNO_ACTUATOR_SCALE_TO_ZERO", value_parser = clap::builder::BoolishValueParser::new())]
    pub scale_to_zero: bool,
    /// Apply nothing, whatever the requests say.
    #[arg(long, env = "INFERNO_ACTUATOR_DRY_RUN", value_parser = clap::builder::BoolishValueParser::new())]
    pub dry_run: bool,
    /// Scale-down stabilisation window, seconds (0 = off).
    #[arg(long, default_value_t = 0, env = "INFERNO_ACTUATOR_SCALE_DOWN_WINDOW")]
    pub scale_down_window: u64,
    /// Largest replica change per cycle, either way (0 = unlimited).
    #[arg(long, default_value_t = DEFAULT_MAX_STEP, env = "INFERNO_ACTUATOR_MAX_STEP")]
    pub max_step: u32,
    /// Replica ceiling of a Deployment without a valid inferno.server.max-replicas label
    /// (0 to 10000).
    #[arg(
        long,
        default_value_t = DEFAULT_MAX_REPLICAS,
        env = "INFERNO_ACTUATOR_MAX_REPLICAS",
        value_parser = clap::value_parser!(i64).range(0..=MAX_REPLICAS)
    )]
    pub max_replicas: i64,
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
    /// Least terminationGracePeriodSeconds of the pods a rollout makes (GPU type or batch
    /// change), so their longest requests finish when they are later replaced or removed
    /// (0 = leave it alone; at most 86400).
    #[arg(
        long,
        default_value_t = 0,
        env = "INFERNO_ACTUATOR_DRAIN_GRACE",
        value_parser = clap::value_parser!(i64).range(0..=86_400)
    )]
    pub drain_grace: i64,
    /// Log format: plain or json.
    #[arg(long, default_value = "plain", env = "INFERNO_LOG_FORMAT")]
    pub log_format: LogFormat,
}

impl Args {
    /// The listen address: the flag, else the seed's ACTUATOR_HOST / ACTUATOR_PORT, else
    /// 127.0.0.1:3303.
    pub fn listen_address(&self) -> Result<SocketAddr, ListenError> {
        LISTEN.address(self.listen)
    }

    /// The policy the flags describe; bad --node-value entries are errors naming the flag.
    pub fn policy(&self) -> Result<Policy, ArgsError> {
        let mut node_values = std::collections::BTreeMap::new();
        for v in &self.node_values {
            let (acc, value) = v
                .split_once('=')
                .ok_or_else(|| ArgsError::NodeValue(v.clone()))?;
            node_values.insert(acc.trim().to_string(), value.trim().to_string());
        }
        if !node_values.is_empty() && self.node_label.is_none() {
            return Err(ArgsError::NodeValueWithoutLabel);
        }
        Ok(Policy {
            unplaced: self.unplaced,
            scale_down_window: (self.scale_down_window > 0)
                .then(|| Duration::from_secs(self.scale_down_window)),
            max_step: (self.max_step > 0).then_some(self.max_step),
            max_replicas: self.max_replicas,
            template: TemplateOptions {
                node_label: self.node_label.clone(),
                node_values,
                batch_env: self.batch_env.clone(),
                drain_grace: (self.drain_grace > 0).then_some(self.drain_grace),
            },
            scale_to_zero: self.scale_to_zero,
        })
    }

    /// The credential of --auth-token-file, if given; errors name the file.
    pub fn credential(&self) -> Result<Option<Credential>, ArgsError> {
        self.auth_token_file
            .as_deref()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Credential::from_file)
            .transpose()
            .map_err(ArgsError::Credential)
    }

    /// The gRPC address and what set it (the flag or the seed's variables, for messages),
    /// refused when it is beyond loopback without a credential.
    pub fn checked_listen_address(
        &self,
        credential: Option<&Credential>,
    ) -> Result<(SocketAddr, String), ArgsError> {
        let (addr, what) = LISTEN.resolve(self.listen)?;
        inferno_telemetry::auth::check_exposure(&what, addr, credential)?;
        Ok((addr, what))
    }

    /// The namespaces to act in.
    pub fn scope(&self) -> Scope {
        Scope::namespaces(&self.namespaces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("inferno-actuator").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn safe_defaults() {
        let args = parse(&[]);
        let policy = args.policy().unwrap();
        assert_eq!(policy.max_step, Some(16));
        assert_eq!(policy.max_replicas, 100);
        assert_eq!(args.ops_listen, "0.0.0.0:3313".parse().unwrap());
        // The gRPC default is loopback, unless the environment of this test says otherwise.
        let env_set = ["INFERNO_ACTUATOR_LISTEN", "ACTUATOR_HOST", "ACTUATOR_PORT"]
            .iter()
            .any(|v| std::env::var_os(v).is_some());
        if !env_set {
            assert_eq!(
                args.listen_address().unwrap(),
                "127.0.0.1:3303".parse().unwrap()
            );
            assert!(args.checked_listen_address(None).is_ok());
        }
        assert_eq!(parse(&["--max-step", "0"]).policy().unwrap().max_step, None);
    }

    #[test]
    fn the_ceiling_flag_is_bounded() {
        assert_eq!(parse(&["--max-replicas", "10000"]).max_replicas, 10_000);
        for bad in ["10001", "-1", "lots"] {
            let flag = format!("--max-replicas={bad}");
            let err = Args::try_parse_from(["inferno-actuator", flag.as_str()])
                .unwrap_err()
                .to_string();
            assert!(err.contains("--max-replicas"), "{err}");
        }
    }

    #[test]
    fn a_non_loopback_listener_needs_a_credential() {
        let args = parse(&["--listen", "0.0.0.0:3303"]);
        let err = args.checked_listen_address(None).unwrap_err().to_string();
        assert!(
            err.contains("--listen (INFERNO_ACTUATOR_LISTEN) 0.0.0.0:3303: refusing"),
            "{err}"
        );
        let credential = Credential::new("0123456789abcdef").unwrap();
        assert!(args.checked_listen_address(Some(&credential)).is_ok());
        assert!(parse(&["--listen", "127.0.0.1:3303"])
            .checked_listen_address(None)
            .is_ok());
    }

    #[test]
    fn namespaces_are_repeatable_and_comma_separated() {
        let scope = parse(&["--namespace", "a,b", "--namespace", "c"]).scope();
        assert!(scope.watches("a") && scope.watches("b") && scope.watches("c"));
        assert!(!scope.watches("victim"));
        assert!(parse(&[]).scope().watches("victim"));
    }

    #[test]
    fn a_bad_token_file_is_named() {
        let missing = std::env::temp_dir().join("inferno-actuator-no-such-token");
        let args = parse(&["--auth-token-file", missing.to_str().unwrap()]);
        let err = args.credential().unwrap_err().to_string();
        assert!(
            err.starts_with("--auth-token-file: auth token file") && err.contains("no-such-token"),
            "{err}"
        );
    }

    #[test]
    fn bad_node_values_are_named() {
        let err = parse(&["--node-label", "gpu", "--node-value", "H100"])
            .policy()
            .unwrap_err();
        assert!(matches!(&err, ArgsError::NodeValue(v) if v == "H100"));
        assert_eq!(
            err.to_string(),
            r#"--node-value "H100": expected ACCELERATOR=VALUE"#
        );
        let err = parse(&["--node-value", "H100=h100"]).policy().unwrap_err();
        assert_eq!(err.to_string(), "--node-value needs --node-label");
        let policy = parse(&["--node-label", "gpu", "--node-value", " H100 = h100 "])
            .policy()
            .unwrap();
        assert_eq!(policy.template.node_values["H100"], "h100");
    }

    #[test]
    fn drain_grace_is_off_unless_set_and_bounded() {
        assert_eq!(parse(&[]).policy().unwrap().template.drain_grace, None);
        let set = parse(&["--drain-grace", "600"]).policy().unwrap();
        assert_eq!(set.template.drain_grace, Some(600));
        let too_long = Args::try_parse_from(["inferno-actuator", "--drain-grace", "90000"]);
        assert!(too_long.unwrap_err().to_string().contains("--drain-grace"));
    }
}
