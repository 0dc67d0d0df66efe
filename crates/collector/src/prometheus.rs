//! A small Prometheus HTTP API client: instant vector queries with a deadline, optional bearer
//! token (re-read from its file on every request, as projected tokens rotate) and custom CA.
//! Answers are read up to [`MAX_BODY_BYTES`]; every error names the query it belongs to.

use inferno_api::limits::show;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Largest answer read, bytes (16 MiB): a vector of one sample per pod of a few thousand pods
/// is well under 1 MiB; beyond this the answer is refused, never held in memory whole.
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// Longest part of a query shown in an error (the selector lists every pod).
const SHOWN_QUERY_CHARS: usize = 200;

/// How to reach Prometheus.
#[derive(Debug, Clone, Default)]
pub struct PrometheusConfig {
    /// Base URL, e.g. `http://prometheus:9090`.
    pub url: String,
    /// File holding a bearer token (re-read on every query).
    pub token_file: Option<PathBuf>,
    /// PEM file of the CA that signs Prometheus's certificate.
    pub ca_file: Option<PathBuf>,
    /// Skip TLS verification.
    pub insecure: bool,
}

/// A failed query. Every variant but `Config` names the query (`<url> <promql>`).
#[derive(Debug, thiserror::Error)]
pub enum PromError {
    /// The configuration cannot be used (bad CA file, ...).
    #[error("prometheus configuration: {0}")]
    Config(String),
    /// No complete answer within the deadline.
    #[error("Prometheus query timed out after {} s: {target}", show(.after.as_secs_f64()))]
    Timeout {
        /// The deadline.
        after: Duration,
        /// `<url> <promql>`.
        target: String,
    },
    /// No connection to Prometheus's address.
    #[error("cannot connect to Prometheus at {address} ({target}): {detail}")]
    Connect {
        /// `host:port`.
        address: String,
        /// `<url> <promql>`.
        target: String,
        /// What the connection attempt said.
        detail: String,
    },
    /// The answer is larger than [`MAX_BODY_BYTES`].
    #[error("prometheus answer larger than {} MiB refused: {target}", MAX_BODY_BYTES >> 20)]
    TooLarge {
        /// `<url> <promql>`.
        target: String,
    },
    /// Another transport failure, or a non-success HTTP status without an API answer.
    #[error("prometheus request failed: {0}")]
    Http(String),
    /// The answer is not a Prometheus API answer, or reports an error.
    #[error("prometheus answered with an error: {0}")]
    Api(String),
}

/// One sample of an instant vector: its labels and value as Prometheus gave it (NaN and
/// infinities included: the collector checks every value against its range and names the bad
/// ones).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Series labels.
    pub labels: BTreeMap<String, String>,
    /// Value (NaN when the answer's value is not a number).
    pub value: f64,
}

/// The client.
#[derive(Debug, Clone)]
pub struct Prometheus {
    http: reqwest::Client,
    config: PrometheusConfig,
    timeout: Duration,
}

/// `host:port` of `url` (as written, for messages).
fn address(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.chars().all(|c| c.is_ascii_digit()) && !host.ends_with(']'));
    if has_port {
        host.to_string()
    } else if url.starts_with("https") {
        format!("{host}:443")
    } else {
        format!("{host}:80")
    }
}

/// The causes of `e`, innermost last (reqwest's own message names only the URL).
fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

impl Prometheus {
    /// A client; `timeout` bounds every query (connecting, waiting and reading the answer).
    pub fn new(config: PrometheusConfig, timeout: Duration) -> Result<Self, PromError> {
        // reqwest is built without a crypto provider: use ring, as kube does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(timeout)
            .danger_accept_invalid_certs(config.insecure);
        if let Some(ca) = &config.ca_file {
            let pem = std::fs::read(ca)
                .map_err(|e| PromError::Config(format!("CA file {}: {e}", ca.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| PromError::Config(format!("CA file {}: {e}", ca.display())))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| PromError::Config(e.to_string()))?;
        Ok(Self {
            http,
            config,
            timeout,
        })
    }

    /// Runs an instant query under the client's timeout; returns the vector's samples.
    pub async fn query(&self, promql: &str) -> Result<Vec<Sample>, PromError> {
        self.query_within(promql, self.timeout).await
    }

    /// Runs an instant query that must be answered, whole, within `deadline`.
    pub async fn query_within(
        &self,
        promql: &str,
        deadline: Duration,
    ) -> Result<Vec<Sample>, PromError> {
        self.query_at(promql, deadline, None).await
    }

    /// [`Self::query_within`], evaluated at `at` (Unix seconds; None: Prometheus' now). The
    /// queries of one collection are evaluated at one instant, so that quantities divided or
    /// added across queries (a histogram's sum and count, completions and the backlog's
    /// change, a pod's first samples and its last) come from the same scrapes.
    pub async fn query_at(
        &self,
        promql: &str,
        deadline: Duration,
        at: Option<f64>,
    ) -> Result<Vec<Sample>, PromError> {
        let url = format!("{}/api/v1/query", self.config.url.trim_end_matches('/'));
        let mut shown: String = promql.chars().take(SHOWN_QUERY_CHARS).collect();
        if shown.len() < promql.len() {
            shown.push_str("...");
        }
        let target = format!("{url} {shown}");
        match tokio::time::timeout(deadline, self.fetch(&url, promql, at, &target)).await {
            Ok(answer) => parse(&answer?),
            Err(_) => Err(PromError::Timeout {
                after: deadline,
                target,
            }),
        }
    }

    /// Sends the query and reads the answer, at most [`MAX_BODY_BYTES`] of it.
    async fn fetch(
        &self,
        url: &str,
        promql: &str,
        at: Option<f64>,
        target: &str,
    ) -> Result<Value, PromError> {
        let mut form = vec![("query", promql.to_string())];
        if let Some(at) = at {
            form.push(("time", format!("{at:.3}")));
        }
        let mut request = self.http.post(url).form(&form);
        if let Some(file) = &self.config.token_file {
            let token = std::fs::read_to_string(file)
                .map_err(|e| PromError::Config(format!("token file {}: {e}", file.display())))?;
            request = request.bearer_auth(token.trim());
        }
        let transport = |e: reqwest::Error| {
            if e.is_connect() {
                PromError::Connect {
                    address: address(url),
                    target: target.to_string(),
                    // reqwest's own message repeats the URL: its causes say what happened.
                    detail: std::error::Error::source(&e).map_or_else(|| e.to_string(), causes),
                }
            } else {
                PromError::Http(format!("{target}: {}", causes(&e)))
            }
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        let too_large = || PromError::TooLarge {
            target: target.to_string(),
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| {
            PromError::Http(format!(
                "{target}: HTTP {status}, and the answer is not JSON: {e}"
            ))
        })
    }
}

/// Parses a `/api/v1/query` answer.
pub fn parse(body: &Value) -> Result<Vec<Sample>, PromError> {
    if body["status"] != "success" {
        let error = body["error"].as_str().unwrap_or("no status in the answer");
        return Err(PromError::Api(error.to_string()));
    }
    let data = &body["data"];
    match data["resultType"].as_str() {
        Some("vector") => {}
        Some("scalar") => {
            let v = value(&data["result"]);
            return Ok(v
                .map(|value| {
                    vec![Sample {
                        labels: BTreeMap::new(),
                        value,
                    }]
                })
                .unwrap_or_default());
        }
        other => return Err(PromError::Api(format!("unexpected result type {other:?}"))),
    }
    let result = data["result"]
        .as_array()
        .ok_or_else(|| PromError::Api("no result array".into()))?;
    Ok(result
        .iter()
        .filter_map(|series| {
            let labels = series["metric"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            Some(Sample {
                labels,
                value: value(&series["value"])?,
            })
        })
        .collect())
}

/// The value of a `[timestamp, "value"]` pair, as written (`"+Inf"`, `"NaN"` included; a value
/// that is not a number reads as NaN, so it is reported, not skipped).
fn value(pair: &Value) -> Option<f64> {
    let text = pair.get(1)?.as_str()?;
    Some(text.parse::<f64>().unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_every_value_for_the_checks() {
        // Dropping them here made them disappear without a word: the collector names them.
        let body = json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"pod": "a"}, "value": [1.0, "2.5"]},
            {"metric": {"pod": "b"}, "value": [1.0, "NaN"]},
            {"metric": {"pod": "c"}, "value": [1.0, "+Inf"]},
            {"metric": {"pod": "d"}, "value": [1.0, "-Inf"]},
            {"metric": {"pod": "e"}, "value": [1.0, "lots"]},
        ]}});
        let s = parse(&body).unwrap();
        let v: Vec<f64> = s.iter().map(|s| s.value).collect();
        assert_eq!(v[0], 2.5);
        assert!(v[1].is_nan() && v[4].is_nan());
        assert_eq!((v[2], v[3]), (f64::INFINITY, f64::NEG_INFINITY));
    }

    #[test]
    fn addresses_of_urls() {
        assert_eq!(address("http://127.0.0.1:9"), "127.0.0.1:9");
        assert_eq!(address("http://prom:9090/prefix/api/v1/query"), "prom:9090");
        assert_eq!(address("https://prom.example/"), "prom.example:443");
        assert_eq!(address("http://user:pw@prom/x"), "prom:80");
        assert_eq!(address("http://[::1]:9090/"), "[::1]:9090");
        assert_eq!(address("http://[::1]/"), "[::1]:80");
    }

    #[test]
    fn errors_are_errors() {
        let e = parse(&json!({"status": "error", "error": "parse error at char 3"})).unwrap_err();
        assert!(e.to_string().contains("parse error"));
        assert!(parse(
            &json!({"status": "success", "data": {"resultType": "matrix", "result": []}})
        )
        .is_err());
        assert!(parse(&json!("garbage")).is_err());
    }
}
