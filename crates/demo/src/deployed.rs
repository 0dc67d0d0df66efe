//! What each managed Deployment runs and is driven with, read from kubesim's Deployment list:
//! the "before" and "after" of a cycle's changes, and the load the emulated servers generate.

use inferno_emulator::labels;
use serde_json::Value;
use std::collections::BTreeMap;

/// One managed Deployment, as its spec and labels say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deployed {
    /// Deployment name (the `deployment` label Prometheus puts on its pods' series).
    pub deployment: String,
    /// `spec.replicas`.
    pub replicas: i64,
    /// Accelerator label ("" when missing).
    pub accelerator: String,
    /// Batch-size label ("" when missing).
    pub max_batch: String,
    /// Driven load, requests per minute over all pods (the `load.rpm` label).
    pub rpm: Option<f64>,
    /// Driven prompt tokens per request (`load.intokens`, else `load.numtokens`).
    pub in_tokens: Option<u32>,
    /// Driven generated tokens per request (`load.outtokens`, else `load.numtokens`).
    pub out_tokens: Option<u32>,
}

/// The managed Deployments of a Deployment list (`GET .../deployments`), by server name
/// (`inferno.server.name`); Deployments without that label are left out.
pub fn by_server(list: &Value) -> BTreeMap<String, Deployed> {
    let mut out = BTreeMap::new();
    for d in list["items"].as_array().into_iter().flatten() {
        let labels: BTreeMap<String, String> = d["metadata"]["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
        if labels.get(labels::MANAGED).map(String::as_str) != Some("true") {
            continue;
        }
        let Some(server) = labels.get(labels::NAME) else {
            continue;
        };
        let label = |key: &str| labels.get(key).cloned().unwrap_or_default();
        let tokens = |key: &str| {
            labels::tokens(&labels, key)
                .or_else(|| labels::tokens(&labels, labels::LOAD_NUM_TOKENS))
        };
        out.insert(
            server.clone(),
            Deployed {
                deployment: d["metadata"]["name"].as_str().unwrap_or("").to_string(),
                replicas: d["spec"]["replicas"].as_i64().unwrap_or(1),
                accelerator: label(labels::ACCELERATOR),
                max_batch: label(labels::MAX_BATCH),
                rpm: labels::number(&labels, labels::LOAD_RPM).filter(|r| *r > 0.0),
                in_tokens: tokens(labels::LOAD_IN_TOKENS),
                out_tokens: tokens(labels::LOAD_OUT_TOKENS),
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_allocation_and_driven_load_by_server() {
        let list = serde_json::json!({"items": [
            {"metadata": {"name": "premium-llama-13b", "labels": {
                "inferno.server.managed": "true", "inferno.server.name": "vllm-001",
                "inferno.server.allocation.accelerator": "MI250",
                "inferno.server.allocation.maxbatchsize": "8",
                "inferno.server.load.rpm": "32.5044", "inferno.server.load.intokens": "128",
                "inferno.server.load.outtokens": "919"}},
             "spec": {"replicas": 4}},
            {"metadata": {"name": "other", "labels": {"inferno.server.managed": "true",
                "inferno.server.name": "vllm-009", "inferno.server.load.numtokens": "300"}},
             "spec": {"replicas": 2}},
            {"metadata": {"name": "unmanaged", "labels": {"inferno.server.name": "x"}}, "spec": {}}
        ]});
        let d = by_server(&list);
        assert_eq!(d.len(), 2);
        assert_eq!(
            d["vllm-001"],
            Deployed {
                deployment: "premium-llama-13b".into(),
                replicas: 4,
                accelerator: "MI250".into(),
                max_batch: "8".into(),
                rpm: Some(32.5044),
                in_tokens: Some(128),
                out_tokens: Some(919),
            }
        );
        let other = &d["vllm-009"];
        assert_eq!(
            (other.in_tokens, other.out_tokens, other.rpm),
            (Some(300), Some(300), None)
        );
    }
}
