//! Command-line flags of `inferno-controller`, with the seed's environment variables as defaults.

use crate::grpc::Endpoints;
use inferno_telemetry::auth::CredentialError;
use inferno_telemetry::{Credential, ListenAddress, ListenError, LogFormat};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Flags that make no sense; each message names the flag (or the env vars) and the value.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// CONTROLLER_HOST / CONTROLLER_PORT make no address.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The token file gives no credential.
    #[error("--auth-token-file: {0}")]
    Credential(#[source] CredentialError),
    /// A stage deadline that is no positive number of seconds.
    #[error("{flag}: must be > 0 seconds, got {value}")]
    Deadline {
        /// The flag (`--optimize-timeout`).
        flag: &'static str,
        /// What it is.
        value: f64,
    },
    /// `--period` is no number of seconds >= 0 (clap names the flag).
    #[error("expected seconds >= 0 (fractions allowed), got {0:?}")]
    Period(String),
}

/// The address without --listen: the seed's CONTROLLER_HOST / CONTROLLER_PORT, else all
/// interfaces (POST|GET /invoke is for callers outside the pod) port 3300.
const LISTEN: ListenAddress =
    ListenAddress::seed("CONTROLLER_HOST", "CONTROLLER_PORT", "0.0.0.0", 3300);

/// Flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "inferno-controller",
    version,
    about = "Inferno controller: runs collect -> optimize -> apply"
)]
pub struct Args {
    /// Address to listen on [default: $CONTROLLER_HOST:$CONTROLLER_PORT, else 0.0.0.0:3300].
    #[arg(long, env = "INFERNO_CONTROLLER_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Seconds between cycles (fractions allowed); 0 = only on GET /invoke or gRPC Invoke.
    #[arg(long, default_value_t = 60.0, env = "INFERNO_CONTROL_PERIOD", value_parser = parse_period)]
    pub period: f64,
    /// Re-read the static data every cycle (capacity is always re-read).
    #[arg(long, env = "INFERNO_CONTROL_DYNAMIC", value_parser = clap::builder::BoolishValueParser::new())]
    pub dynamic: bool,
    /// Directory with the data files (the mounted ConfigMaps); trailing slash optional. When
    /// absent, the ConfigMaps inferno-static-data / inferno-dynamic-data are read through the API.
    #[arg(long, env = "INFERNO_DATA_PATH")]
    pub data_path: Option<PathBuf>,
    /// Namespace of the data ConfigMaps (when --data-path is absent).
    #[arg(long, default_value = "inferno", env = "INFERNO_DATA_NAMESPACE")]
    pub data_namespace: String,
    /// Collector URL [default: http://$COLLECTOR_HOST:$COLLECTOR_PORT, else
    /// http://127.0.0.1:3301].
    #[arg(long, env = "INFERNO_COLLECTOR_URL")]
    pub collector: Option<String>,
    /// Optimizer URL [default: http://127.0.0.1:$OPTIMIZER_PORT (the seed's INFERNO_PORT where
    /// unset), else http://127.0.0.1:3302].
    #[arg(long, env = "INFERNO_OPTIMIZER_URL")]
    pub optimizer: Option<String>,
    /// Actuator URL [default: http://$ACTUATOR_HOST:$ACTUATOR_PORT, else
    /// http://127.0.0.1:3303].
    #[arg(long, env = "INFERNO_ACTUATOR_URL")]
    pub actuator: Option<String>,
    /// File holding the bearer token (a mounted Secret): required on POST|GET /invoke and gRPC
    /// Invoke, and sent on the calls to the collector, optimizer and actuator. Unset: no
    /// token is asked for or sent.
    #[arg(long, env = "INFERNO_AUTH_TOKEN_FILE")]
    pub auth_token_file: Option<PathBuf>,
    /// Deadline of the collect stage, seconds.
    #[arg(long, default_value_t = 20.0, env = "INFERNO_COLLECT_TIMEOUT")]
    pub collect_timeout: f64,
    /// Deadline of the optimize stage, seconds.
    #[arg(long, default_value_t = 30.0, env = "INFERNO_OPTIMIZE_TIMEOUT")]
    pub optimize_timeout: f64,
    /// Deadline of the apply stage, seconds.
    #[arg(long, default_value_t = 20.0, env = "INFERNO_APPLY_TIMEOUT")]
    pub apply_timeout: f64,
    /// JSONL file to append one record per cycle to.
    #[arg(long, env = "INFERNO_CYCLE_LOG")]
    pub cycle_log: Option<PathBuf>,
    /// Decide but never apply.
    #[arg(long, env = "INFERNO_DRY_RUN", value_parser = clap::builder::BoolishValueParser::new())]
    pub dry_run: bool,
    /// After each cycle's apply, ask the optimizer why it decided as it did (brief: GPU prices,
    /// the capacity-free lower bound, headroom per server) for the cycle report and the
    /// metrics (`--explain false`: do not).
    #[arg(long, env = "INFERNO_EXPLAIN", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub explain: bool,
    /// Run cycles only while holding a coordination.k8s.io Lease (for more than one replica).
    #[arg(long, env = "INFERNO_LEADER_ELECT", value_parser = clap::builder::BoolishValueParser::new())]
    pub leader_elect: bool,
    /// Lease name.
    #[arg(long, default_value = "inferno-controller", env = "INFERNO_LEASE_NAME")]
    pub lease_name: String,
    /// Lease namespace [default: $POD_NAMESPACE, else inferno].
    #[arg(long, env = "INFERNO_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Identity in the Lease [default: $POD_NAME, else $HOSTNAME].
    #[arg(long, env = "INFERNO_IDENTITY")]
    pub identity: Option<String>,
    /// Lease duration, seconds.
    #[arg(long, default_value_t = 15, env = "INFERNO_LEASE_DURATION")]
    pub lease_duration: u64,
    /// Log format: plain or json.
    #[arg(long, default_value = "plain", env = "INFERNO_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Scale down only to the highest recommendation of this many seconds (scale up at once).
    #[arg(long, default_value_t = 300.0, env = "INFERNO_SCALE_DOWN_WINDOW", value_parser = parse_period)]
    pub scale_down_window: f64,
    /// Plan for the measured arrival rate plus this many standard errors (0..=10).
    #[arg(long, default_value_t = 1.0, env = "INFERNO_DEMAND_CONFIDENCE", value_parser = parse_confidence)]
    pub demand_confidence: f64,
    /// Size so that requests waiting on the servers drain within this many seconds (0 = ignore
    /// the backlog).
    #[arg(long, default_value_t = 60.0, env = "INFERNO_BACKLOG_DRAIN", value_parser = parse_period)]
    pub backlog_drain: f64,
    /// Ignore measured latency: no demand boost, scale-downs while over target allowed.
    #[arg(long, env = "INFERNO_NO_LATENCY_FEEDBACK", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_latency_feedback: bool,
    /// Size the mean ITL this fraction under its target (0..=0.9), so that most requests, not
    /// only the mean, meet it.
    #[arg(long, default_value_t = 0.15, env = "INFERNO_ITL_MARGIN", value_parser = parse_margin)]
    pub itl_margin: f64,
    /// The same for the mean TTFT.
    #[arg(long, default_value_t = 0.0, env = "INFERNO_TTFT_MARGIN", value_parser = parse_margin)]
    pub ttft_margin: f64,
    /// A new GPU type or batch cap must cost this fraction less than the current kind sized
    /// for the same planned demand (0..=0.9): a rollout restarts every pod.
    #[arg(long, default_value_t = 0.1, env = "INFERNO_KIND_HYSTERESIS", value_parser = parse_margin)]
    pub kind_hysteresis: f64,
    /// Never fewer pods than turn away at most this share (0..=0.5) of the planned demand by
    /// the queueing model, whose pods turn away what real ones queue (off by default: the
    /// optimizer's count stands; docs/controller.md).
    #[arg(long, env = "INFERNO_MAX_TURNED_AWAY", value_parser = parse_share)]
    pub max_turned_away: Option<f64>,
    /// Seconds a new pod takes to serve (model load): a rising load is planned for this far
    /// ahead, plus one cycle.
    #[arg(long, default_value_t = 60.0, env = "INFERNO_CONTROLLER_STARTUP_DELAY", value_parser = parse_period)]
    pub startup_delay: f64,
    /// Plan with the catalog's alpha/beta/gamma as given, not tuned from the servers'
    /// latencies (docs/tuning.md).
    #[arg(long, env = "INFERNO_NO_TUNING", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_tuning: bool,
    /// Keep what the loop learnt (tuned parameters, start-up times) in this ConfigMap of the
    /// data namespace, read back at start; "" keeps it in memory only.
    #[arg(long, default_value = "", env = "INFERNO_TUNING_CONFIGMAP")]
    pub tuning_configmap: String,
    /// Servers' seconds per second of this clock: only for time-scaled benchmarks, as the
    /// collector's flag of the same name.
    #[arg(long, default_value_t = 1.0, env = "INFERNO_TIME_SCALE", value_parser = parse_time_scale)]
    pub time_scale: f64,
}

fn parse_time_scale(s: &str) -> Result<f64, String> {
    parse_number(s, 0.001, 1000.0)
}

fn parse_number(s: &str, lo: f64, hi: f64) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (lo..=hi).contains(&v) => Ok(v),
        _ => Err(format!("expected a number in [{lo}, {hi}], got {s:?}")),
    }
}

fn parse_confidence(s: &str) -> Result<f64, String> {
    parse_number(s, 0.0, 10.0)
}

fn parse_margin(s: &str) -> Result<f64, String> {
    parse_number(s, 0.0, 0.9)
}

fn parse_share(s: &str) -> Result<f64, String> {
    parse_number(s, 0.0, 0.5)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Where to reach a service in the pod: `*_HOST` names the host (a listen-all address such
/// as 0.0.0.0, which is where a service listens, not a place to connect to, means this host),
/// else 127.0.0.1: the services listen on loopback, and `localhost` may resolve to ::1 first.
fn url(
    env: &impl Fn(&str) -> Option<String>,
    flag: &Option<String>,
    host: &str,
    port: &str,
    default_port: u16,
) -> String {
    flag.clone().unwrap_or_else(|| {
        let host = env(host)
            .filter(|h| !matches!(h.as_str(), "0.0.0.0" | "::" | "[::]"))
            .unwrap_or_else(|| LOOPBACK.into());
        let port = env(port).unwrap_or_else(|| default_port.to_string());
        format!("http://{host}:{port}")
    })
}

/// The default host of the collector, optimizer and actuator.
const LOOPBACK: &str = "127.0.0.1";

fn seconds(flag: &'static str, value: f64) -> Result<Duration, ArgsError> {
    if value.is_finite() && value > 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(ArgsError::Deadline { flag, value })
    }
}

impl Args {
    /// How the loop judges (crate::policy).
    pub fn policy(&self) -> crate::policy::Settings {
        crate::policy::Settings {
            scale_down_window: Duration::from_secs_f64(self.scale_down_window),
            confidence: self.demand_confidence,
            backlog_drain: Duration::from_secs_f64(self.backlog_drain),
            feedback: !self.no_latency_feedback,
            itl_margin: self.itl_margin,
            ttft_margin: self.ttft_margin,
            kind_hysteresis: self.kind_hysteresis,
            max_turned_away: self.max_turned_away,
            startup_delay: Duration::from_secs_f64(self.startup_delay),
            tuning: !self.no_tuning,
            time_scale: self.time_scale,
            ..crate::policy::Settings::default()
        }
    }

    /// The listen address: the flag, else CONTROLLER_HOST / CONTROLLER_PORT, else 0.0.0.0:3300.
    pub fn listen_address(&self) -> Result<SocketAddr, ListenError> {
        LISTEN.address(self.listen)
    }

    /// Collector, optimizer and actuator URLs, defaults from the process environment.
    pub fn endpoints(&self) -> Endpoints {
        self.endpoints_with(&env)
    }

    /// Collector, optimizer and actuator URLs, defaults from `env`.
    pub fn endpoints_with(&self, env: &impl Fn(&str) -> Option<String>) -> Endpoints {
        // OPTIMIZER_HOST (INFERNO_HOST) is the optimizer's own listen address, not a place to
        // connect to: only its port is taken from the environment. OPTIMIZER_PORT says whose
        // port it is; INFERNO_PORT is the seed's name for it, read where it is unset.
        let optimizer = self.optimizer.clone().unwrap_or_else(|| {
            let port = env("OPTIMIZER_PORT")
                .or_else(|| env("INFERNO_PORT"))
                .unwrap_or_else(|| "3302".into());
            format!("http://{LOOPBACK}:{port}")
        });
        Endpoints {
            collector: url(
                env,
                &self.collector,
                "COLLECTOR_HOST",
                "COLLECTOR_PORT",
                3301,
            ),
            optimizer,
            actuator: url(env, &self.actuator, "ACTUATOR_HOST", "ACTUATOR_PORT", 3303),
        }
    }

    /// The credential of `--auth-token-file`, if set. Errors name the flag and the file.
    pub fn credential(&self) -> Result<Option<Credential>, ArgsError> {
        self.auth_token_file
            .as_deref()
            .map(Credential::from_file)
            .transpose()
            .map_err(ArgsError::Credential)
    }

    /// The stage deadlines, checked.
    pub fn deadlines(&self) -> Result<crate::cycle::Deadlines, ArgsError> {
        Ok(crate::cycle::Deadlines {
            collect: seconds("--collect-timeout", self.collect_timeout)?,
            optimize: seconds("--optimize-timeout", self.optimize_timeout)?,
            apply: seconds("--apply-timeout", self.apply_timeout)?,
        })
    }

    /// Lease namespace and identity.
    pub fn lease(&self) -> (String, String) {
        let ns = self
            .lease_namespace
            .clone()
            .or_else(|| env("POD_NAMESPACE"))
            .unwrap_or_else(|| "inferno".into());
        let id = self
            .identity
            .clone()
            .or_else(|| env("POD_NAME"))
            .or_else(|| env("HOSTNAME"))
            .unwrap_or_else(|| format!("inferno-controller-{}", std::process::id()));
        (ns, id)
    }
}

/// `--period`: a finite number of seconds >= 0.
fn parse_period(text: &str) -> Result<f64, ArgsError> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(ArgsError::Period(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("inferno-controller").chain(args.iter().copied()))
    }

    #[test]
    fn a_bad_deadline_names_the_flag_and_the_value() {
        let args = parse(&["--optimize-timeout", "0"]).unwrap();
        let err = args.deadlines().unwrap_err();
        assert!(matches!(
            err,
            ArgsError::Deadline { flag: "--optimize-timeout", value } if value == 0.0
        ));
        assert_eq!(
            err.to_string(),
            "--optimize-timeout: must be > 0 seconds, got 0"
        );
        let args = parse(&["--collect-timeout", "inf"]).unwrap();
        let err = args.deadlines().unwrap_err().to_string();
        assert_eq!(err, "--collect-timeout: must be > 0 seconds, got inf");
        let d = parse(&["--apply-timeout", "2.5"])
            .unwrap()
            .deadlines()
            .unwrap();
        assert_eq!(d.apply, Duration::from_millis(2500));
    }

    #[test]
    fn the_optimizer_port_has_one_clear_name_and_the_seeds_still_works() {
        let args = parse(&[]).unwrap();
        let with = |vars: &'static [(&'static str, &'static str)]| {
            args.endpoints_with(&|name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            })
            .optimizer
        };
        assert_eq!(with(&[]), "http://127.0.0.1:3302");
        assert_eq!(with(&[("OPTIMIZER_PORT", "4302")]), "http://127.0.0.1:4302");
        assert_eq!(with(&[("INFERNO_PORT", "5302")]), "http://127.0.0.1:5302");
        assert_eq!(
            with(&[("OPTIMIZER_PORT", "4302"), ("INFERNO_PORT", "5302")]),
            "http://127.0.0.1:4302"
        );
    }

    #[test]
    fn a_bad_period_names_the_value() {
        assert_eq!(parse(&["--period", "0.5"]).unwrap().period, 0.5);
        let err = parse(&["--period=-1"]).unwrap_err().to_string();
        assert!(
            err.contains("--period")
                && err.contains(r#"expected seconds >= 0 (fractions allowed), got "-1""#),
            "{err}"
        );
    }
}
