//! The flags of `inferno-load-emulator` (each with an `INFERNO_LOAD_*` environment default),
//! their validation, and [`run_args`].

use super::walk::Mode;
use super::{LoadConfig, LoadEmulator, Phases, DEFAULT_REVERT_ALPHA, DEFAULT_WALK_ALPHA};
use crate::error::{Error, Result};
use clap::Parser;
use inferno_telemetry::LogFormat;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// Rewrites the load labels of the managed Deployments every interval (control-loop spec 6):
/// the seed's random walk with clamps, or a mean-reverting walk towards nominal values with
/// phases and skew. The API server is the one of KUBECONFIG (or the in-cluster config).
#[derive(Debug, Clone, Parser)]
#[command(name = "inferno-load-emulator", version, allow_negative_numbers = true)]
pub struct LoadArgs {
    /// Namespace to update; repeat for more; none = all namespaces.
    #[arg(
        long = "namespace",
        value_name = "NS",
        env = "INFERNO_LOAD_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,

    /// Seconds between updates (> 0); the first update is made at once.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 20.0,
        env = "INFERNO_LOAD_INTERVAL"
    )]
    pub interval: f64,

    /// walk: the seed's random walk clamped to [6, 240] RPM and [100, 10000] tokens;
    /// revert: mean-reverting walk towards the nominal labels.
    #[arg(long, value_enum, default_value = "revert", env = "INFERNO_LOAD_MODE")]
    pub mode: Mode,

    /// Noise scale in [0, 1] (default 0.5 for walk, 0.1 for revert).
    #[arg(long, env = "INFERNO_LOAD_ALPHA")]
    pub alpha: Option<f64>,

    /// Pull towards the target per update, in [0, 1] (revert).
    #[arg(long, default_value_t = 0.2, env = "INFERNO_LOAD_THETA")]
    pub theta: f64,

    /// Share of the RPM targets redistributed at random across Deployments each update, in
    /// [0, 1] (revert).
    #[arg(long, default_value_t = 0.3, env = "INFERNO_LOAD_SKEW")]
    pub skew: f64,

    /// YAML phase profile: a list of {duration: seconds, ratio: multiplier of the nominal RPM}
    /// (revert); empty = none.
    #[arg(long, value_name = "FILE", env = "INFERNO_LOAD_PHASES")]
    pub phases: Option<PathBuf>,

    /// Seed of the noise: the same seed and the same labels give the same label sequence.
    #[arg(long, default_value_t = 1, env = "INFERNO_LOAD_SEED")]
    pub seed: u64,

    /// Update once and exit (non-zero if a write failed).
    #[arg(long, env = "INFERNO_LOAD_ONCE", value_parser = clap::builder::BoolishValueParser::new())]
    pub once: bool,

    /// Log format: plain or json.
    #[arg(long, default_value = "plain", env = "INFERNO_LOG_FORMAT")]
    pub log_format: LogFormat,
}

impl LoadArgs {
    /// The configuration these flags describe, validated (errors name the flag); reads the
    /// phases file.
    pub fn config(&self) -> Result<LoadConfig> {
        if !(self.interval.is_finite() && self.interval > 0.0) {
            return Err(Error::Flag {
                flag: "--interval",
                message: format!("must be > 0 seconds, got {}", self.interval),
            });
        }
        let interval = Duration::try_from_secs_f64(self.interval).map_err(|e| Error::Flag {
            flag: "--interval",
            message: e.to_string(),
        })?;
        let phases = match self.phases.as_ref().filter(|p| !p.as_os_str().is_empty()) {
            Some(path) => Phases::load(path)?,
            None => Phases::default(),
        };
        let alpha = self.alpha.unwrap_or(match self.mode {
            Mode::Walk => DEFAULT_WALK_ALPHA,
            Mode::Revert => DEFAULT_REVERT_ALPHA,
        });
        let config = LoadConfig {
            namespaces: self
                .namespaces
                .iter()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect(),
            interval,
            mode: self.mode,
            alpha,
            theta: self.theta,
            skew: self.skew,
            phases,
            seed: self.seed,
        };
        config.validate()?;
        Ok(config)
    }
}

/// Connects to the API server and updates until `shutdown` completes (once with `--once`).
pub async fn run_args(args: LoadArgs, shutdown: impl Future<Output = ()>) -> Result<()> {
    let config = args.config()?;
    let client = kube::Client::try_default()
        .await
        .map_err(|source| Error::Kube {
            context: "connecting to the Kubernetes API (KUBECONFIG or in-cluster)".into(),
            source,
        })?;
    tracing::info!(mode = ?config.mode, interval_s = config.interval.as_secs_f64(),
        alpha = config.alpha, theta = config.theta, skew = config.skew,
        phases = config.phases.phases().len(), seed = config.seed,
        namespaces = ?config.namespaces, "load emulator starting");
    LoadEmulator::new(client, config)?
        .run(args.once, shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Result<LoadConfig> {
        let mut argv = vec!["inferno-load-emulator"];
        argv.extend_from_slice(extra);
        LoadArgs::try_parse_from(argv).unwrap().config()
    }

    #[test]
    fn defaults_follow_the_mode() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            (c.mode, c.alpha, c.theta, c.skew),
            (Mode::Revert, 0.1, 0.2, 0.3)
        );
        assert_eq!(c.interval, Duration::from_secs(20));
        let c = parse(&["--mode", "walk", "--interval", "0.5", "--namespace", "a,b"]).unwrap();
        assert_eq!((c.mode, c.alpha), (Mode::Walk, 0.5));
        assert_eq!(c.interval, Duration::from_millis(500));
        assert_eq!(c.namespaces, ["a", "b"]);
    }

    #[test]
    fn errors_name_the_flag() {
        for (extra, flag) in [
            (&["--interval", "0"][..], "--interval"),
            (&["--interval", "-3"][..], "--interval"),
            (&["--alpha", "1.5"][..], "--alpha"),
            (&["--theta", "-0.1"][..], "--theta"),
            (&["--skew", "2"][..], "--skew"),
            (&["--phases", "/nonexistent/phases.yaml"][..], "phases file"),
        ] {
            let e = parse(extra).unwrap_err().to_string();
            assert!(e.starts_with(flag), "{extra:?}: {e}");
        }
        let e = LoadArgs::try_parse_from(["x", "--mode", "up"]).unwrap_err();
        assert!(e.to_string().contains("--mode"), "{e}");
    }
}
