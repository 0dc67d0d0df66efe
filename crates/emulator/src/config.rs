//! What an emulated server is: [`ServerSpec`] (as written in a servers file or built from
//! flags), its internal load [`LoadSpec`], token-count distributions [`TokenDist`], and the
//! [`Catalog`] of performance parameters per (model, accelerator) read from `model-data.json`.

use crate::error::{Error, Result};
use inferno_api::{ModelAcceleratorPerfData, ModelData, PerfParms};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// vLLM's default `max_num_seqs`, used when neither the spec nor the catalog gives a batch cap.
pub const DEFAULT_MAX_BATCH_SIZE: u32 = 256;

/// Default token budget per iteration (vLLM's `max_num_batched_tokens` with chunked prefill).
pub const DEFAULT_MAX_NUM_TOKENS: u32 = 8192;

/// A token-count distribution: a fixed count or a uniform integer range.
///
/// Written `"512"` (or the JSON number `512`) for a fixed count and `"256..1024"` for the
/// uniform range 256 to 1024 inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenDist {
    /// Always this many tokens.
    Fixed(u32),
    /// Uniform on `lo..=hi`.
    Uniform(u32, u32),
}

impl TokenDist {
    /// Mean of the distribution.
    pub fn mean(&self) -> f64 {
        match *self {
            Self::Fixed(n) => f64::from(n),
            Self::Uniform(lo, hi) => (f64::from(lo) + f64::from(hi)) / 2.0,
        }
    }

    /// Largest value the distribution can take.
    pub fn max(&self) -> u32 {
        match *self {
            Self::Fixed(n) | Self::Uniform(_, n) => n,
        }
    }

    /// Smallest value the distribution can take.
    pub fn min(&self) -> u32 {
        match *self {
            Self::Fixed(n) | Self::Uniform(n, _) => n,
        }
    }
}

impl fmt::Display for TokenDist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(n) => write!(f, "{n}"),
            Self::Uniform(lo, hi) => write!(f, "{lo}..{hi}"),
        }
    }
}

impl FromStr for TokenDist {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let int = |t: &str| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| format!("bad token count {t:?} in {s:?} (want N or LO..HI)"))
        };
        match s.split_once("..") {
            None => Ok(Self::Fixed(int(s)?)),
            Some((lo, hi)) => {
                let (lo, hi) = (int(lo)?, int(hi)?);
                if lo > hi {
                    return Err(format!("empty token range {s:?}"));
                }
                Ok(if lo == hi {
                    Self::Fixed(lo)
                } else {
                    Self::Uniform(lo, hi)
                })
            }
        }
    }
}

impl Serialize for TokenDist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Fixed(n) => s.serialize_u32(*n),
            Self::Uniform(..) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for TokenDist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u32),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(Self::Fixed(n)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// An internal Poisson load: requests arrive at `rate` per emulated second with token counts
/// drawn independently from `inTokens` and `outTokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadSpec {
    /// Arrival rate, requests per emulated second (> 0).
    pub rate: f64,
    /// Prompt tokens per request (>= 1).
    pub in_tokens: TokenDist,
    /// Generated tokens per request (>= 1).
    pub out_tokens: TokenDist,
    /// Seed of the arrival and token draws.
    pub seed: u64,
}

impl Default for LoadSpec {
    fn default() -> Self {
        Self {
            rate: 1.0,
            in_tokens: TokenDist::Fixed(128),
            out_tokens: TokenDist::Fixed(128),
            seed: 1,
        }
    }
}

impl LoadSpec {
    /// Checks the rate and the token ranges.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(format!("load rate must be > 0 req/s, got {}", self.rate));
        }
        if self.in_tokens.min() == 0 {
            return Err("load inTokens must be >= 1".into());
        }
        if self.out_tokens.min() == 0 {
            return Err("load outTokens must be >= 1".into());
        }
        Ok(())
    }
}

/// One emulated server as configured: identity, performance, engine limits, pacing and an
/// optional internal load. Missing JSON fields take the [`Default`] values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerSpec {
    /// Unique name within a host (logs, `/emulator/state`, response ids).
    pub name: String,
    /// Served model name: the `model_name` label of every metric and the OpenAI `model`.
    pub model: String,
    /// Accelerator name; with no `perf`, (model, accelerator) is looked up in the catalog.
    pub accelerator: String,
    /// Port on the host's address; 0 picks a free one.
    pub port: u16,
    /// Iteration-time parameters (ms); `None` looks them up in the catalog.
    pub perf: Option<PerfParms>,
    /// Max requests in the batch; 0 takes the catalog's `maxBatchSize`, else 256.
    pub max_batch_size: u32,
    /// Token budget per iteration (chunked prefill); 0 means 8192.
    pub max_num_tokens: u32,
    /// KV cache capacity, tokens; 0 means max batch size x token budget, enough that a
    /// server never preempts unless a request holds more than 8192 tokens of context.
    pub kv_cache_tokens: u64,
    /// Emulated time runs this many times faster than wall time (> 0).
    pub time_scale: f64,
    /// Log-standard-deviation of the mean-one log-normal factor on iteration times (>= 0).
    pub noise: f64,
    /// Seed of the noise draws.
    pub seed: u64,
    /// Internal Poisson load started with the server.
    pub load: Option<LoadSpec>,
}

impl Default for ServerSpec {
    fn default() -> Self {
        Self {
            name: String::new(),
            model: String::new(),
            accelerator: String::new(),
            port: 0,
            perf: None,
            max_batch_size: 0,
            max_num_tokens: DEFAULT_MAX_NUM_TOKENS,
            kv_cache_tokens: 0,
            time_scale: 1.0,
            noise: 0.0,
            seed: 1,
            load: None,
        }
    }
}

/// Performance rows of `model-data.json`, looked up by (model, accelerator).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    models: ModelData,
}

impl Catalog {
    /// A catalog over already parsed model data.
    pub fn new(models: ModelData) -> Self {
        Self { models }
    }

    /// Reads `model-data.json`, or the `model-data.json` inside a data directory.
    pub fn load(path: &Path) -> Result<Self> {
        let file = if path.is_dir() {
            path.join("model-data.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
            path: file.clone(),
            source,
        })?;
        let models = inferno_api::parse_models(&text, &file.display().to_string())?;
        Ok(Self::new(models))
    }

    /// The row of `model` on `accelerator`.
    pub fn get(&self, model: &str, accelerator: &str) -> Option<&ModelAcceleratorPerfData> {
        self.models
            .models
            .iter()
            .find(|m| m.name == model && m.acc == accelerator)
    }

    /// The first row of `model` in file order, whatever its accelerator.
    pub fn first_of_model(&self, model: &str) -> Option<&ModelAcceleratorPerfData> {
        self.models.models.iter().find(|m| m.name == model)
    }

    /// Iteration parameters of `model` on `accelerator`, or [`Error::UnknownPerf`].
    pub fn perf(&self, model: &str, accelerator: &str) -> Result<PerfParms> {
        self.get(model, accelerator)
            .map(|row| row.perf_parms)
            .ok_or_else(|| Error::UnknownPerf {
                model: model.into(),
                accelerator: accelerator.into(),
            })
    }
}

/// Checks iteration parameters: finite, non-negative, not all zero (an iteration must take
/// time, or the engine would spin).
pub(crate) fn check_perf(perf: &PerfParms) -> std::result::Result<(), String> {
    for (name, v) in [
        ("alpha", perf.alpha),
        ("beta", perf.beta),
        ("gamma", perf.gamma),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(format!("{name} must be finite and >= 0, got {v}"));
        }
    }
    if perf.alpha == 0.0 && perf.beta == 0.0 && perf.gamma == 0.0 {
        return Err("alpha, beta and gamma are all 0: iterations would take no time".into());
    }
    Ok(())
}

/// A spec with every default and catalog lookup applied, validated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub(crate) spec: ServerSpec,
    pub(crate) perf: PerfParms,
    pub(crate) max_batch: u32,
    pub(crate) max_num_tokens: u32,
}

/// KV capacity in tokens for a configured value (0 = derived) and a batch cap.
pub(crate) fn kv_capacity(configured: u64, max_batch: u32, max_num_tokens: u32) -> u64 {
    if configured > 0 {
        configured
    } else {
        u64::from(max_batch) * u64::from(max_num_tokens)
    }
}

impl ServerSpec {
    /// Applies defaults and catalog lookups and validates every field.
    pub(crate) fn resolve(self, catalog: Option<&Catalog>) -> Result<Resolved> {
        let invalid = |message: String| Error::InvalidSpec {
            server: self.name.clone(),
            message,
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name must not be empty".into()));
        }
        if self.model.trim().is_empty() {
            return Err(invalid("model must not be empty".into()));
        }
        let row = catalog.and_then(|c| c.get(&self.model, &self.accelerator));
        let perf = match (self.perf, row) {
            (Some(p), _) => p,
            (None, Some(row)) => row.perf_parms,
            (None, None) => {
                return Err(Error::UnknownPerf {
                    model: self.model.clone(),
                    accelerator: self.accelerator.clone(),
                })
            }
        };
        check_perf(&perf).map_err(invalid)?;
        let max_batch = match (self.max_batch_size, row) {
            (0, Some(row)) if row.max_batch_size > 0 => {
                u32::try_from(row.max_batch_size).unwrap_or(u32::MAX)
            }
            (0, _) => DEFAULT_MAX_BATCH_SIZE,
            (n, _) => n,
        };
        let max_num_tokens = if self.max_num_tokens == 0 {
            DEFAULT_MAX_NUM_TOKENS
        } else {
            self.max_num_tokens
        };
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(invalid(format!(
                "timeScale must be > 0, got {}",
                self.time_scale
            )));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(invalid(format!("noise must be >= 0, got {}", self.noise)));
        }
        if let Some(load) = &self.load {
            load.validate().map_err(invalid)?;
        }
        Ok(Resolved {
            spec: self,
            perf,
            max_batch,
            max_num_tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let models = inferno_api::parse_models(
            r#"{"models":[{"name":"m","acc":"A100","maxBatchSize":64,"atTokens":512,
                "perfParms":{"alpha":20,"beta":0.04,"gamma":0.001}}]}"#,
            "model-data.json",
        )
        .unwrap();
        Catalog::new(models)
    }

    fn spec() -> ServerSpec {
        ServerSpec {
            name: "a".into(),
            model: "m".into(),
            accelerator: "A100".into(),
            ..ServerSpec::default()
        }
    }

    #[test]
    fn token_dists_parse_and_print() {
        assert_eq!("512".parse(), Ok(TokenDist::Fixed(512)));
        assert_eq!("10..20".parse(), Ok(TokenDist::Uniform(10, 20)));
        assert_eq!("7..7".parse(), Ok(TokenDist::Fixed(7)));
        assert!("20..10".parse::<TokenDist>().is_err());
        assert!("x".parse::<TokenDist>().is_err());
        assert_eq!(TokenDist::Uniform(10, 20).to_string(), "10..20");
        assert_eq!(TokenDist::Uniform(10, 20).mean(), 15.0);
        let load: LoadSpec =
            serde_json::from_str(r#"{"rate":2,"inTokens":100,"outTokens":"5..9"}"#).unwrap();
        assert_eq!(load.in_tokens, TokenDist::Fixed(100));
        assert_eq!(load.out_tokens, TokenDist::Uniform(5, 9));
        assert_eq!(load.seed, 1);
        let back: LoadSpec = serde_json::from_value(serde_json::to_value(&load).unwrap()).unwrap();
        assert_eq!(back, load);
    }

    #[test]
    fn catalog_fills_perf_and_batch() {
        let r = spec().resolve(Some(&catalog())).unwrap();
        assert_eq!(r.perf.alpha, 20.0);
        assert_eq!(r.max_batch, 64);
        assert_eq!(r.max_num_tokens, 8192);
        let explicit = ServerSpec {
            perf: Some(PerfParms {
                alpha: 1.0,
                beta: 0.0,
                gamma: 0.0,
            }),
            max_batch_size: 8,
            accelerator: "nope".into(),
            ..spec()
        };
        let r = explicit.resolve(None).unwrap();
        assert_eq!((r.perf.alpha, r.max_batch), (1.0, 8));
        let no_batch = ServerSpec {
            max_batch_size: 0,
            ..explicitly_perf()
        };
        assert_eq!(no_batch.resolve(None).unwrap().max_batch, 256);
    }

    fn explicitly_perf() -> ServerSpec {
        ServerSpec {
            perf: Some(PerfParms {
                alpha: 5.0,
                beta: 0.01,
                gamma: 0.0,
            }),
            ..spec()
        }
    }

    #[test]
    fn bad_specs_are_rejected() {
        let unknown = ServerSpec {
            accelerator: "H100".into(),
            ..spec()
        };
        assert!(matches!(
            unknown.resolve(Some(&catalog())),
            Err(Error::UnknownPerf { .. })
        ));
        for bad in [
            ServerSpec {
                name: " ".into(),
                ..explicitly_perf()
            },
            ServerSpec {
                time_scale: 0.0,
                ..explicitly_perf()
            },
            ServerSpec {
                noise: -1.0,
                ..explicitly_perf()
            },
            ServerSpec {
                perf: Some(PerfParms::default()),
                ..spec()
            },
            ServerSpec {
                load: Some(LoadSpec {
                    rate: 0.0,
                    ..LoadSpec::default()
                }),
                ..explicitly_perf()
            },
        ] {
            assert!(
                matches!(bad.clone().resolve(None), Err(Error::InvalidSpec { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn kv_capacity_defaults_to_batch_times_budget() {
        assert_eq!(kv_capacity(0, 4, 8192), 32768);
        assert_eq!(kv_capacity(1000, 4, 8192), 1000);
    }
}
