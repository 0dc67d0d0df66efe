//! The `inferno-vllm-emulator` program: flags, the fixed list of servers they describe, and
//! [`run`], which hosts them until shutdown; or, with the `follow` subcommand, one server per
//! pod of a Kubernetes API server ([`crate::follow`]).

use crate::config::{Catalog, LoadSpec, ServerSpec, TokenDist, DEFAULT_MAX_NUM_TOKENS};
use crate::error::{Error, Result};
use crate::follow::FollowArgs;
use crate::host::Host;
use clap::{Args as ClapArgs, Parser, Subcommand};
use inferno_api::PerfParms;
use inferno_telemetry::LogFormat;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Hosts emulated vLLM servers: continuous batching with the alpha/beta/gamma iteration
/// model, OpenAI `/v1/completions`, vLLM-named Prometheus `/metrics`.
///
/// With no `--server` and no `--servers-file`, one server is built from the defaults below.
/// With the `follow` subcommand, one server per ready pod of the managed Deployments instead.
#[derive(Debug, Clone, Parser)]
#[command(name = "inferno-vllm-emulator", version, about, long_about = None)]
pub struct Args {
    /// `follow`: servers for the pods of a Kubernetes API server; none: the servers of the
    /// flags below.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// One server as comma-separated key=value pairs; the keys are the names of the default
    /// flags below without their dashes (name, model, accelerator, port, alpha, beta, gamma,
    /// max-batch-size, max-num-tokens, kv-cache-tokens, time-scale, noise, seed, rate,
    /// in-tokens, out-tokens); missing keys take the defaults. Repeat for more servers.
    #[arg(
        long = "server",
        value_name = "SPEC",
        env = "INFERNO_EMULATOR_SERVERS",
        value_delimiter = ';'
    )]
    pub servers: Vec<String>,

    /// JSON file with a list of server specs (camelCase fields: name, model, accelerator,
    /// port, perf {alpha, beta, gamma}, maxBatchSize, maxNumTokens, kvCacheTokens,
    /// timeScale, noise, seed, load {rate, inTokens, outTokens, seed}). Entries do not inherit
    /// the default flags.
    #[arg(long, value_name = "PATH", env = "INFERNO_EMULATOR_SERVERS_FILE")]
    pub servers_file: Option<PathBuf>,

    /// model-data.json (or a data directory holding one): performance parameters and the
    /// default batch cap per (model, accelerator) for servers without alpha/beta/gamma.
    #[arg(long, value_name = "PATH", env = "INFERNO_EMULATOR_MODEL_DATA")]
    pub model_data: Option<PathBuf>,

    /// Address the servers listen on.
    #[arg(long, default_value = "127.0.0.1", env = "INFERNO_EMULATOR_HOST")]
    pub host: IpAddr,

    /// Write `{"<name>": <port>, ...}` here once every server listens.
    #[arg(long, value_name = "PATH", env = "INFERNO_EMULATOR_PORTS_FILE")]
    pub ports_file: Option<PathBuf>,

    /// Log format: plain or json.
    #[arg(
        long,
        default_value = "plain",
        env = "INFERNO_LOG_FORMAT",
        global = true
    )]
    pub log_format: LogFormat,

    /// Defaults of every server given by flags.
    #[command(flatten)]
    pub defaults: Defaults,
}

/// The program's subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// One emulated server per Running and Ready pod of the managed Deployments, following
    /// their labels, with a Prometheus file_sd targets file.
    Follow(FollowArgs),
}

/// Per-server settings given once for all `--server` entries (and the implicit server).
#[derive(Debug, Clone, ClapArgs)]
pub struct Defaults {
    /// Server name (the implicit server's; `--server` entries default to `<name>-<index>`).
    #[arg(long, default_value = "emulator", env = "INFERNO_EMULATOR_NAME")]
    pub name: String,
    /// Served model name (the `model_name` label).
    #[arg(long, default_value = "granite_13b", env = "INFERNO_EMULATOR_MODEL")]
    pub model: String,
    /// Accelerator name (catalog lookup key).
    #[arg(long, default_value = "", env = "INFERNO_EMULATOR_ACCELERATOR")]
    pub accelerator: String,
    /// Port; 0 picks a free one.
    #[arg(long, default_value_t = 0, env = "INFERNO_EMULATOR_PORT")]
    pub port: u16,
    /// Iteration overhead alpha, ms (with beta/gamma: overrides the catalog).
    #[arg(long, env = "INFERNO_EMULATOR_ALPHA")]
    pub alpha: Option<f64>,
    /// Time per computed token beta, ms.
    #[arg(long, env = "INFERNO_EMULATOR_BETA")]
    pub beta: Option<f64>,
    /// Time per KV-cache token read gamma, ms.
    #[arg(long, env = "INFERNO_EMULATOR_GAMMA")]
    pub gamma: Option<f64>,
    /// Batch cap; 0 takes the catalog's maxBatchSize, else 256.
    #[arg(long, default_value_t = 0, env = "INFERNO_EMULATOR_MAX_BATCH_SIZE")]
    pub max_batch_size: u32,
    /// Token budget per iteration (chunked prefill).
    #[arg(long, default_value_t = DEFAULT_MAX_NUM_TOKENS, env = "INFERNO_EMULATOR_MAX_NUM_TOKENS")]
    pub max_num_tokens: u32,
    /// KV cache capacity, tokens; 0 = max batch size x max num tokens.
    #[arg(long, default_value_t = 0, env = "INFERNO_EMULATOR_KV_CACHE_TOKENS")]
    pub kv_cache_tokens: u64,
    /// Emulated time runs this many times faster than the wall clock.
    #[arg(long, default_value_t = 1.0, env = "INFERNO_EMULATOR_TIME_SCALE")]
    pub time_scale: f64,
    /// Log-sd of the mean-one log-normal noise on iteration times (0 = none).
    #[arg(long, default_value_t = 0.0, env = "INFERNO_EMULATOR_NOISE")]
    pub noise: f64,
    /// Seed of noise and load (server i uses seed + i).
    #[arg(long, default_value_t = 1, env = "INFERNO_EMULATOR_SEED")]
    pub seed: u64,
    /// Internal Poisson load, requests per emulated second (0 = off).
    #[arg(long, default_value_t = 0.0, env = "INFERNO_EMULATOR_RATE")]
    pub rate: f64,
    /// Prompt tokens of internal requests: N or LO..HI (uniform).
    #[arg(long, default_value = "128", env = "INFERNO_EMULATOR_IN_TOKENS")]
    pub in_tokens: TokenDist,
    /// Generated tokens of internal requests: N or LO..HI (uniform).
    #[arg(long, default_value = "128", env = "INFERNO_EMULATOR_OUT_TOKENS")]
    pub out_tokens: TokenDist,
}

impl Defaults {
    /// The spec these defaults describe, for server number `index`.
    fn spec(&self, name: String, index: u64) -> ServerSpec {
        let perf =
            (self.alpha.is_some() || self.beta.is_some() || self.gamma.is_some()).then(|| {
                PerfParms {
                    alpha: self.alpha.unwrap_or(0.0),
                    beta: self.beta.unwrap_or(0.0),
                    gamma: self.gamma.unwrap_or(0.0),
                }
            });
        let seed = self.seed.wrapping_add(index);
        ServerSpec {
            name,
            model: self.model.clone(),
            accelerator: self.accelerator.clone(),
            port: self.port,
            perf,
            max_batch_size: self.max_batch_size,
            max_num_tokens: self.max_num_tokens,
            kv_cache_tokens: self.kv_cache_tokens,
            time_scale: self.time_scale,
            noise: self.noise,
            seed,
            load: (self.rate > 0.0).then_some(LoadSpec {
                rate: self.rate,
                in_tokens: self.in_tokens,
                out_tokens: self.out_tokens,
                seed,
            }),
        }
    }
}

/// Parses one `--server` value on top of the defaults.
pub fn parse_server_flag(text: &str, defaults: &Defaults, index: u64) -> Result<ServerSpec> {
    let fail = |message: String| Error::ServerFlag {
        spec: text.into(),
        message,
    };
    let mut d = defaults.clone();
    let mut name = format!("{}-{index}", defaults.name);
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| fail(format!("{pair:?} is not key=value")))?;
        let (key, value) = (key.trim(), value.trim());
        let bad = |what: &str| fail(format!("{key}: {value:?} is not {what}"));
        let num = |v: &str| v.parse::<f64>().map_err(|_| bad("a number"));
        match key {
            "name" => name = value.into(),
            "model" => d.model = value.into(),
            "accelerator" | "acc" => d.accelerator = value.into(),
            "port" => d.port = value.parse().map_err(|_| bad("a port"))?,
            "alpha" => d.alpha = Some(num(value)?),
            "beta" => d.beta = Some(num(value)?),
            "gamma" => d.gamma = Some(num(value)?),
            "max-batch-size" => d.max_batch_size = value.parse().map_err(|_| bad("an integer"))?,
            "max-num-tokens" => d.max_num_tokens = value.parse().map_err(|_| bad("an integer"))?,
            "kv-cache-tokens" => {
                d.kv_cache_tokens = value.parse().map_err(|_| bad("an integer"))?
            }
            "time-scale" => d.time_scale = num(value)?,
            "noise" => d.noise = num(value)?,
            "seed" => d.seed = value.parse().map_err(|_| bad("an integer"))?,
            "rate" => d.rate = num(value)?,
            "in-tokens" => d.in_tokens = value.parse().map_err(fail)?,
            "out-tokens" => d.out_tokens = value.parse().map_err(fail)?,
            other => return Err(fail(format!("unknown key {other:?}"))),
        }
    }
    // An explicit seed is the server's own; the default one is offset by the index.
    let index = if text.contains("seed=") { 0 } else { index };
    Ok(d.spec(name, index))
}

/// Reads a JSON list of server specs.
pub fn read_servers_file(path: &Path) -> Result<Vec<ServerSpec>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| Error::ServersFile {
        path: path.into(),
        source,
    })
}

impl Args {
    /// The servers these flags describe.
    pub fn server_specs(&self) -> Result<Vec<ServerSpec>> {
        let mut specs = Vec::new();
        if let Some(path) = &self.servers_file {
            specs.extend(read_servers_file(path)?);
        }
        for (i, text) in self.servers.iter().enumerate() {
            specs.push(parse_server_flag(text, &self.defaults, i as u64)?);
        }
        if specs.is_empty() {
            specs.push(self.defaults.spec(self.defaults.name.clone(), 0));
        }
        Ok(specs)
    }

    /// The catalog named by `--model-data`.
    pub fn catalog(&self) -> Result<Option<Catalog>> {
        self.model_data.as_deref().map(Catalog::load).transpose()
    }
}

/// Starts every server the flags describe, writes the ports file, serves until `shutdown`
/// completes, then stops them all. A server that fails to start stops the ones started.
/// With `follow`, runs [`crate::follow::run_args`] instead.
pub async fn run(args: Args, shutdown: impl Future<Output = ()>) -> Result<()> {
    if let Some(Command::Follow(follow)) = args.command {
        return crate::follow::run_args(follow, shutdown).await;
    }
    let specs = args.server_specs()?;
    let host = Host::new(args.host, args.catalog()?);
    let mut ports = serde_json::Map::new();
    for spec in specs {
        match host.start_server(spec).await {
            Ok(h) => {
                ports.insert(h.name().into(), h.port().into());
            }
            Err(e) => {
                host.shutdown().await;
                return Err(e);
            }
        }
    }
    if let Some(path) = &args.ports_file {
        let text = serde_json::Value::Object(ports).to_string();
        if let Err(source) = std::fs::write(path, text + "\n") {
            host.shutdown().await;
            return Err(Error::Io {
                path: path.clone(),
                source,
            });
        }
    }
    shutdown.await;
    host.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["inferno-vllm-emulator"];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).unwrap()
    }

    #[test]
    fn implicit_server_from_defaults() {
        let a = args(&[
            "--alpha",
            "8",
            "--beta",
            "0.016",
            "--rate",
            "2",
            "--in-tokens",
            "10..20",
        ]);
        let specs = a.server_specs().unwrap();
        assert_eq!(specs.len(), 1);
        let s = &specs[0];
        assert_eq!(s.name, "emulator");
        assert_eq!(s.perf.unwrap().gamma, 0.0);
        let load = s.load.as_ref().unwrap();
        assert_eq!(
            (load.rate, load.in_tokens),
            (2.0, TokenDist::Uniform(10, 20))
        );
        assert!(args(&[]).server_specs().unwrap()[0].perf.is_none());
    }

    #[test]
    fn server_flags_override_defaults() {
        let a = args(&[
            "--alpha",
            "8",
            "--server",
            "name=a,port=8001,max-batch-size=16,rate=3,out-tokens=5",
            "--server",
            "accelerator=L4,beta=0.5,seed=42",
        ]);
        let specs = a.server_specs().unwrap();
        assert_eq!(specs[0].name, "a");
        assert_eq!((specs[0].port, specs[0].max_batch_size), (8001, 16));
        assert_eq!(
            specs[0].load.as_ref().unwrap().out_tokens,
            TokenDist::Fixed(5)
        );
        assert_eq!(specs[1].name, "emulator-1");
        assert_eq!(specs[1].accelerator, "L4");
        assert_eq!(specs[1].perf.unwrap().alpha, 8.0);
        assert_eq!(specs[1].perf.unwrap().beta, 0.5);
        assert_eq!(specs[1].seed, 42);
        assert_eq!(specs[0].seed, 1);
        assert!(specs[1].load.is_none());
        for bad in ["nokey", "port=x", "what=1", "in-tokens=9..1"] {
            assert!(parse_server_flag(bad, &a.defaults, 0).is_err(), "{bad}");
        }
    }
}
