//! Command-line flags of `inferno-collector`.

use crate::window::{parse_duration, WindowError, Windows};
use inferno_telemetry::auth::{CredentialError, ExposureError};
use inferno_telemetry::{Credential, ListenAddress, ListenError, LogFormat};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Flags that make no sense; each message names the flag (or the env vars) and the value.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// COLLECTOR_HOST / COLLECTOR_PORT make no address.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The token file gives no credential.
    #[error("--auth-token-file: {0}")]
    Credential(#[source] CredentialError),
    /// An address beyond loopback without a credential.
    #[error(transparent)]
    Exposure(#[from] ExposureError),
    /// A window flag is no PromQL duration, or the longest is shorter than the shortest.
    #[error("{flag}: {source}")]
    Window {
        /// The flag.
        flag: &'static str,
        /// What is wrong.
        #[source]
        source: WindowError,
    },
    /// A number out of its range.
    #[error("{flag}: must be {bound}, got {value}")]
    OutOfRange {
        /// The flag.
        flag: &'static str,
        /// What it must be (`> 0`).
        bound: &'static str,
        /// What it is.
        value: f64,
    },
}

/// The gRPC address without --listen: the seed's COLLECTOR_HOST / COLLECTOR_PORT, else
/// loopback (the controller is in the same pod).
const LISTEN: ListenAddress =
    ListenAddress::seed("COLLECTOR_HOST", "COLLECTOR_PORT", "127.0.0.1", 3301);

/// Flags (each with an env default).
#[derive(Debug, clap::Parser)]
#[command(
    name = "inferno-collector",
    version,
    about = "Inferno collector: managed inference servers and their load"
)]
pub struct Args {
    /// gRPC address [default: $COLLECTOR_HOST:$COLLECTOR_PORT, else 127.0.0.1:3301]. Beyond
    /// loopback only with --auth-token-file.
    #[arg(long, env = "INFERNO_COLLECTOR_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// File with the bearer token every gRPC call must carry (a mounted Secret); none = no
    /// check, loopback only.
    #[arg(long, env = "INFERNO_AUTH_TOKEN_FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// Read-only HTTP address for probes and Prometheus: GET /healthz, GET /metrics.
    #[arg(
        long,
        default_value = "0.0.0.0:3311",
        env = "INFERNO_COLLECTOR_OPS_LISTEN"
    )]
    pub ops_listen: SocketAddr,
    /// Namespace to watch (repeatable; comma-separated in the env var); none = all namespaces.
    #[arg(long = "namespace", env = "WATCH_NAMESPACE", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Prometheus base URL; empty = load labels only.
    #[arg(long, default_value = "", env = "INFERNO_PROMETHEUS_URL")]
    pub prometheus_url: String,
    /// File with a bearer token for Prometheus (re-read on every query).
    #[arg(long, env = "INFERNO_PROMETHEUS_TOKEN_PATH")]
    pub prometheus_token_file: Option<PathBuf>,
    /// PEM file of Prometheus's CA.
    #[arg(long, env = "INFERNO_PROMETHEUS_CA_PATH")]
    pub prometheus_ca_file: Option<PathBuf>,
    /// Skip TLS verification of Prometheus.
    #[arg(long, env = "INFERNO_PROMETHEUS_INSECURE", value_parser = clap::builder::BoolishValueParser::new())]
    pub prometheus_insecure: bool,
    /// Shortest window of the queries (PromQL duration): a server's rates, token means and
    /// latencies are measured over it when it holds --min-requests completed requests.
    #[arg(long, default_value = "1m", env = "INFERNO_PROMETHEUS_WINDOW")]
    pub prometheus_window: String,
    /// Longest window (PromQL duration) [default: 8 x --prometheus-window]: quieter servers
    /// are measured over 2, 4, ... times the shortest window, up to this.
    #[arg(long, env = "INFERNO_PROMETHEUS_MAX_WINDOW")]
    pub prometheus_max_window: Option<String>,
    /// Completed requests a window must hold before a server's rate is measured over it
    /// rather than a longer one (50: a rate within ~14%, one standard error); 0 = always the
    /// shortest window.
    #[arg(long, default_value_t = Windows::DEFAULT_MIN_REQUESTS, env = "INFERNO_COLLECTOR_MIN_REQUESTS")]
    pub min_requests: u32,
    /// Deadline of all the queries of one collection, seconds.
    #[arg(long, default_value_t = 5.0, env = "INFERNO_PROMETHEUS_TIMEOUT")]
    pub prometheus_timeout: f64,
    /// Pods younger than this many seconds are not counted as ready.
    #[arg(long, default_value_t = 0.0, env = "INFERNO_STARTUP_DELAY")]
    pub startup_delay: f64,
    /// Emulated clusters only: the servers' clock runs this many times faster than the wall
    /// clock (a time-scaled benchmark), so measured request rates are divided by it.
    #[arg(long, default_value_t = 1.0, env = "INFERNO_COLLECTOR_TIME_SCALE")]
    pub time_scale: f64,
    /// Log format: plain or json.
    #[arg(long, default_value = "plain", env = "INFERNO_LOG_FORMAT")]
    pub log_format: LogFormat,
}

impl Args {
    /// The listen address: the flag, else COLLECTOR_HOST / COLLECTOR_PORT, else 127.0.0.1:3301.
    pub fn listen_address(&self) -> Result<SocketAddr, ListenError> {
        LISTEN.address(self.listen)
    }

    /// The gRPC address and the credential calls must carry; refuses an address beyond
    /// loopback without a credential, naming the flag (or env vars) that set it.
    pub fn serving(&self) -> Result<(SocketAddr, Option<Credential>), ArgsError> {
        let (addr, what) = LISTEN.resolve(self.listen)?;
        let credential = self
            .auth_token_file
            .as_deref()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Credential::from_file)
            .transpose()
            .map_err(ArgsError::Credential)?;
        inferno_telemetry::auth::check_exposure(&what, addr, credential.as_ref())?;
        Ok((addr, credential))
    }

    /// The windows the flags ask for (with the time scale).
    pub fn windows(&self) -> Result<Windows, ArgsError> {
        let window = |flag: &'static str| move |source| ArgsError::Window { flag, source };
        let shortest =
            parse_duration(&self.prometheus_window).map_err(window("--prometheus-window"))?;
        let longest = match &self.prometheus_max_window {
            Some(text) if !text.trim().is_empty() => {
                parse_duration(text).map_err(window("--prometheus-max-window"))?
            }
            _ => shortest.saturating_mul(Windows::DEFAULT_SPAN),
        };
        Ok(Windows::new(shortest, longest, self.min_requests)
            .map_err(window("--prometheus-max-window"))?
            .with_time_scale(self.time_scale))
    }

    /// Checks the numbers and the windows.
    pub fn check(&self) -> Result<(), ArgsError> {
        self.windows()?;
        let checks = [
            (
                "--time-scale",
                "> 0",
                self.time_scale,
                self.time_scale > 0.0,
            ),
            (
                "--prometheus-timeout",
                "> 0",
                self.prometheus_timeout,
                self.prometheus_timeout > 0.0,
            ),
            (
                "--startup-delay",
                ">= 0",
                self.startup_delay,
                self.startup_delay >= 0.0,
            ),
        ];
        for (flag, bound, value, within) in checks {
            if !(value.is_finite() && within) {
                return Err(ArgsError::OutOfRange { flag, bound, value });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn windows(args: &[&str]) -> Windows {
        Args::try_parse_from(std::iter::once("inferno-collector").chain(args.iter().copied()))
            .unwrap()
            .windows()
            .unwrap()
    }

    /// The longest window is 8 times the shortest unless given; the minimum defaults to 50.
    #[test]
    fn window_flags_make_the_ladder() {
        let unset = |var: &str| std::env::var_os(var).is_none();
        if unset("INFERNO_PROMETHEUS_WINDOW")
            && unset("INFERNO_PROMETHEUS_MAX_WINDOW")
            && unset("INFERNO_COLLECTOR_MIN_REQUESTS")
        {
            assert_eq!(windows(&[]), Windows::new(60, 480, 50).unwrap());
            assert_eq!(
                windows(&["--prometheus-window", "30s"]).seconds(),
                [30, 60, 120, 240]
            );
        }
        assert_eq!(
            windows(&[
                "--prometheus-window",
                "1m",
                "--prometheus-max-window",
                "5m",
                "--min-requests",
                "0",
                "--time-scale",
                "10"
            ]),
            Windows::new(60, 300, 0).unwrap().with_time_scale(10.0)
        );
    }

    fn check(args: &[&str]) -> Result<(), ArgsError> {
        Args::try_parse_from(std::iter::once("inferno-collector").chain(args.iter().copied()))
            .unwrap()
            .check()
    }

    #[test]
    fn bad_numbers_and_windows_are_named_with_their_value() {
        assert!(check(&[]).is_ok());
        let err = check(&["--prometheus-window", "5 min"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"--prometheus-window: "5 min": expected a PromQL duration like 30s, 1m, 2h (not 0)"#
        );
        let err = check(&["--prometheus-max-window", "30s"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--prometheus-max-window: the longest window (30 s) is shorter than the shortest (60 s)"
        );
        let err = check(&["--prometheus-window", "0s"]).unwrap_err();
        assert!(
            err.to_string().starts_with("--prometheus-window: \"0s\""),
            "{err}"
        );
        let err = check(&["--time-scale", "0"]).unwrap_err();
        assert_eq!(err.to_string(), "--time-scale: must be > 0, got 0");
        let err = check(&["--prometheus-timeout", "NaN"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--prometheus-timeout: must be > 0, got NaN"
        );
        let err = check(&["--startup-delay=-1.5"]).unwrap_err();
        assert!(matches!(
            err,
            ArgsError::OutOfRange { flag: "--startup-delay", value, .. } if value == -1.5
        ));
        assert_eq!(err.to_string(), "--startup-delay: must be >= 0, got -1.5");
    }
}
