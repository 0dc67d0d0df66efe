//! A small Prometheus HTTP API client: instant vector queries with a deadline, optional bearer
//! token (re-read from its file on every request, as projected tokens rotate) and custom CA.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

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

/// A failed query.
#[derive(Debug, thiserror::Error)]
pub enum PromError {
    /// The configuration cannot be used (bad CA file, ...).
    #[error("prometheus configuration: {0}")]
    Config(String),
    /// Transport failure, timeout, or a non-success HTTP status.
    #[error("prometheus request failed: {0}")]
    Http(String),
    /// The answer is not a Prometheus API answer, or reports an error.
    #[error("prometheus answered with an error: {0}")]
    Api(String),
}

/// One sample of an instant vector: its labels and finite value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Series labels.
    pub labels: BTreeMap<String, String>,
    /// Value (NaN and infinities are dropped before this point).
    pub value: f64,
}

/// The client.
#[derive(Debug, Clone)]
pub struct Prometheus {
    http: reqwest::Client,
    config: PrometheusConfig,
}

impl Prometheus {
    /// A client; `timeout` bounds every query.
    pub fn new(config: PrometheusConfig, timeout: Duration) -> Result<Self, PromError> {
        // reqwest is built without a crypto provider: use ring, as kube does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
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
        Ok(Self { http, config })
    }

    /// Runs an instant query; returns the vector's finite samples.
    pub async fn query(&self, promql: &str) -> Result<Vec<Sample>, PromError> {
        let url = format!("{}/api/v1/query", self.config.url.trim_end_matches('/'));
        let mut request = self.http.post(&url).form(&[("query", promql)]);
        if let Some(file) = &self.config.token_file {
            let token = std::fs::read_to_string(file)
                .map_err(|e| PromError::Config(format!("token file {}: {e}", file.display())))?;
            request = request.bearer_auth(token.trim());
        }
        let response = request
            .send()
            .await
            .map_err(|e| PromError::Http(e.to_string()))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| PromError::Http(format!("{status}: {e}")))?;
        parse(&body)
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

/// The finite value of a `[timestamp, "value"]` pair.
fn value(pair: &Value) -> Option<f64> {
    pair.get(1)?
        .as_str()?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_nan_and_inf() {
        let body = json!({"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"pod": "a"}, "value": [1.0, "2.5"]},
            {"metric": {"pod": "b"}, "value": [1.0, "NaN"]},
            {"metric": {"pod": "c"}, "value": [1.0, "+Inf"]},
        ]}});
        let s = parse(&body).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].labels["pod"].as_str(), s[0].value), ("a", 2.5));
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
