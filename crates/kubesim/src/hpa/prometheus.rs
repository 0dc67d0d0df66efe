//! The two calls of the Prometheus HTTP API that prometheus-adapter makes for external
//! metrics: `/api/v1/series` (the series a rule's `seriesQuery` matches, for discovery) and
//! `/api/v1/query` (the rule's `metricsQuery`, an instant query). Both are form-encoded POSTs,
//! each bounded by [`TIMEOUT`].

use super::MetricError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// The longest one call may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A Prometheus HTTP API at a base URL.
#[derive(Debug, Clone)]
pub(crate) struct PrometheusApi {
    http: reqwest::Client,
    base: String,
}

/// The labels of one series (`__name__` included).
pub(crate) type Labels = BTreeMap<String, String>;

impl PrometheusApi {
    /// A client of the API at `base` (`http://127.0.0.1:9090`).
    pub(crate) fn new(base: &str) -> Result<Self, MetricError> {
        // reqwest is built without a TLS crypto provider (as everywhere in the workspace):
        // use ring, as kube does, in case the URL is https.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| MetricError::Prometheus {
                url: base.to_string(),
                message: e.to_string(),
            })?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    /// The base URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    async fn call(&self, path: &str, form: &[(&str, String)]) -> Result<Value, MetricError> {
        let url = format!("{}{path}", self.base);
        let fail = |message: String| MetricError::Prometheus {
            url: url.clone(),
            message,
        };
        let response = self
            .http
            .post(&url)
            .form(form)
            .send()
            .await
            .map_err(|e| fail(causes(&e)))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| fail(format!("HTTP {status}: {}", causes(&e))))?;
        if body["status"] != "success" {
            return Err(fail(format!(
                "HTTP {status}: {} {}",
                body["errorType"].as_str().unwrap_or("error"),
                body["error"].as_str().unwrap_or("(no message)")
            )));
        }
        Ok(body["data"].clone())
    }

    /// The series matching `selector` seen since `start` (Unix seconds).
    pub(crate) async fn series(
        &self,
        selector: &str,
        start: f64,
    ) -> Result<Vec<Labels>, MetricError> {
        let data = self
            .call(
                "/api/v1/series",
                &[
                    ("match[]", selector.to_string()),
                    ("start", format!("{start:.3}")),
                ],
            )
            .await?;
        Ok(data
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                s.as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .collect())
    }

    /// The values of the instant query `promql` now: one per sample of a vector, or the
    /// scalar.
    pub(crate) async fn query(&self, promql: &str) -> Result<Vec<f64>, MetricError> {
        let data = self
            .call("/api/v1/query", &[("query", promql.to_string())])
            .await?;
        let value = |v: &Value| -> Result<f64, MetricError> {
            v[1].as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| MetricError::Prometheus {
                    url: format!("{}/api/v1/query", self.base),
                    message: format!("no value in {v}"),
                })
        };
        match data["resultType"].as_str() {
            Some("vector") => data["result"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| value(&s["value"]))
                .collect(),
            Some("scalar") => Ok(vec![value(&data["result"])?]),
            other => Err(MetricError::Adapter(format!(
                "the metrics query {promql:?} gives a {}, not an instant vector",
                other.unwrap_or("nothing")
            ))),
        }
    }
}

/// An error and its causes (reqwest's own message names only the URL).
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
