//! Reading a managed Deployment's labels: who the server is, what it runs, and the load labels
//! used when Prometheus has nothing. A label under Inferno's prefix that nothing reads (a
//! misspelt key) is reported with the closest known key, never silently ignored.

use serde_json::Value;
use std::collections::BTreeMap;

/// Label keys of the Kubernetes contract.
pub mod keys {
    /// `"true"` on managed Deployments.
    pub const MANAGED: &str = "inferno.server.managed";
    /// Server name (required).
    pub const NAME: &str = "inferno.server.name";
    /// Model name.
    pub const MODEL: &str = "inferno.server.model";
    /// Service class (empty = Free).
    pub const CLASS: &str = "inferno.server.class";
    /// Accelerator of the current allocation.
    pub const ACCELERATOR: &str = "inferno.server.allocation.accelerator";
    /// Max batch size of the current allocation.
    pub const MAX_BATCH: &str = "inferno.server.allocation.maxbatchsize";
    /// Lower bound on replicas (fed to the optimizer as minNumReplicas).
    pub const MIN_REPLICAS: &str = "inferno.server.min-replicas";
    /// Upper bound on replicas (enforced by the actuator).
    pub const MAX_REPLICAS: &str = "inferno.server.max-replicas";
    /// Load label: arrival rate, requests/minute.
    pub const LOAD_RPM: &str = "inferno.server.load.rpm";
    /// Load label: input tokens per request.
    pub const LOAD_IN: &str = "inferno.server.load.intokens";
    /// Load label: output tokens per request.
    pub const LOAD_OUT: &str = "inferno.server.load.outtokens";
    /// The seed's single token label (read as output tokens when `outtokens` is absent).
    pub const LOAD_NUM: &str = "inferno.server.load.numtokens";
    /// Nominal load labels: written and read by the load emulator (the load it returns to),
    /// not by the collector.
    pub const LOAD_NOMINAL: [&str; 4] = [
        "inferno.server.load.nominal.rpm",
        "inferno.server.load.nominal.intokens",
        "inferno.server.load.nominal.outtokens",
        "inferno.server.load.nominal.numtokens",
    ];
    /// Keys starting with this (in any case) are Inferno's: an unknown one is reported.
    pub const PREFIX: &str = "inferno";
}

/// Every label key of the contract: those the collector reads, and the load emulator's.
pub const KNOWN: [&str; 16] = [
    keys::MANAGED,
    keys::NAME,
    keys::MODEL,
    keys::CLASS,
    keys::ACCELERATOR,
    keys::MAX_BATCH,
    keys::MIN_REPLICAS,
    keys::MAX_REPLICAS,
    keys::LOAD_RPM,
    keys::LOAD_IN,
    keys::LOAD_OUT,
    keys::LOAD_NUM,
    keys::LOAD_NOMINAL[0],
    keys::LOAD_NOMINAL[1],
    keys::LOAD_NOMINAL[2],
    keys::LOAD_NOMINAL[3],
];

/// What is wrong with label `key`, when it looks like Inferno's ([`keys::PREFIX`]) but is not
/// one of [`KNOWN`]: the message, with the closest known key.
pub fn unknown(key: &str) -> Option<String> {
    let ours = key
        .get(..keys::PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(keys::PREFIX));
    if !ours || KNOWN.contains(&key) {
        return None;
    }
    let mut message = format!("unknown label {key:?} (ignored)");
    if let Some(s) = inferno_api::closest(key, KNOWN) {
        message.push_str(&format!("; did you mean {s:?}?"));
    }
    Some(message)
}

/// What the labels of one Deployment say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerLabels {
    /// Server name.
    pub name: String,
    /// Model.
    pub model: String,
    /// Class as labelled ("" = Free).
    pub class: String,
    /// Accelerator.
    pub accelerator: String,
    /// Max batch size (0 if absent or invalid).
    pub max_batch: i64,
    /// min-replicas label.
    pub min_replicas: Option<i64>,
    /// max-replicas label.
    pub max_replicas: Option<i64>,
    /// Arrival-rate label, requests/minute.
    pub rpm: Option<f64>,
    /// Input-tokens label.
    pub in_tokens: Option<f64>,
    /// Output-tokens label (or the seed's numtokens).
    pub out_tokens: Option<f64>,
}

/// Reads the labels of `deployment` (a Deployment object). Returns None when it has no
/// server name (such a Deployment is skipped). Invalid numbers are reported in `warnings`
/// and read as absent, and so are unknown labels under Inferno's prefix (see [`unknown`]).
pub fn read(deployment: &Value, warnings: &mut Vec<String>) -> Option<ServerLabels> {
    let labels: BTreeMap<&str, &str> = deployment["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                .collect()
        })
        .unwrap_or_default();
    let deploy = format!(
        "{}/{}",
        deployment["metadata"]["namespace"].as_str().unwrap_or(""),
        deployment["metadata"]["name"].as_str().unwrap_or("")
    );
    for key in labels.keys() {
        if let Some(message) = unknown(key) {
            warnings.push(format!("deployment {deploy}: {message}"));
        }
    }
    let name = labels.get(keys::NAME).copied().unwrap_or("").trim();
    if name.is_empty() {
        warnings.push(format!(
            "deployment {deploy}: no {} label; skipped",
            keys::NAME
        ));
        return None;
    }
    let text = |k: &str| labels.get(k).copied().unwrap_or("").trim().to_string();
    let mut number = |k: &str| -> Option<f64> {
        let raw = labels.get(k)?.trim();
        if raw.is_empty() {
            return None;
        }
        match raw.parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Some(v),
            _ => {
                warnings.push(format!(
                    "deployment {deploy}: label {k}={raw:?} is not a number >= 0; ignored"
                ));
                None
            }
        }
    };
    let max_batch = number(keys::MAX_BATCH).map_or(0, |v| v as i64);
    let min_replicas = number(keys::MIN_REPLICAS).map(|v| v as i64);
    let max_replicas = number(keys::MAX_REPLICAS).map(|v| v as i64);
    let rpm = number(keys::LOAD_RPM);
    let in_tokens = number(keys::LOAD_IN);
    let out_tokens = number(keys::LOAD_OUT).or_else(|| number(keys::LOAD_NUM));
    Some(ServerLabels {
        name: name.to_string(),
        model: text(keys::MODEL),
        class: text(keys::CLASS),
        accelerator: text(keys::ACCELERATOR),
        max_batch,
        min_replicas,
        max_replicas,
        rpm,
        in_tokens,
        out_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(labels: Value) -> Value {
        json!({"metadata": {"namespace": "infer", "name": "d1", "labels": labels}})
    }

    #[test]
    fn reads_every_label() {
        let mut w = Vec::new();
        let l = read(
            &deployment(json!({
                keys::NAME: "premium-llama", keys::MODEL: "llama_13b", keys::CLASS: "Premium",
                keys::ACCELERATOR: "G2", keys::MAX_BATCH: "38", keys::MIN_REPLICAS: "1",
                keys::LOAD_RPM: "60.5", keys::LOAD_IN: "128", keys::LOAD_OUT: "1024"
            })),
            &mut w,
        )
        .unwrap();
        assert_eq!(
            (l.name.as_str(), l.model.as_str(), l.class.as_str()),
            ("premium-llama", "llama_13b", "Premium")
        );
        assert_eq!(
            (l.max_batch, l.min_replicas, l.rpm),
            (38, Some(1), Some(60.5))
        );
        assert_eq!((l.in_tokens, l.out_tokens), (Some(128.0), Some(1024.0)));
        assert!(w.is_empty());
    }

    #[test]
    fn missing_name_is_skipped_with_a_warning() {
        let mut w = Vec::new();
        assert!(read(&deployment(json!({keys::MODEL: "m"})), &mut w).is_none());
        assert!(
            w[0].contains("infer/d1") && w[0].contains("skipped"),
            "{w:?}"
        );
    }

    #[test]
    fn unknown_labels_name_the_closest_known_key() {
        let mut w = Vec::new();
        let l = read(
            &deployment(json!({
                keys::NAME: "s", "inferno.server.laod.rpm": "60", "Inferno.server.class": "P",
                "inferno.server.colour": "red", "app": "x", "app.kubernetes.io/name": "y",
                keys::LOAD_NOMINAL[0]: "60", "inferno-server.model": "m"
            })),
            &mut w,
        )
        .unwrap();
        assert_eq!((l.rpm, l.class.as_str(), l.model.as_str()), (None, "", ""));
        assert_eq!(
            w,
            [
                r#"deployment infer/d1: unknown label "Inferno.server.class" (ignored); did you mean "inferno.server.class"?"#,
                r#"deployment infer/d1: unknown label "inferno-server.model" (ignored); did you mean "inferno.server.model"?"#,
                r#"deployment infer/d1: unknown label "inferno.server.colour" (ignored)"#,
                r#"deployment infer/d1: unknown label "inferno.server.laod.rpm" (ignored); did you mean "inferno.server.load.rpm"?"#,
            ]
        );
        // A misspelt name label: skipped, and the reason is plain.
        let mut w = Vec::new();
        assert!(read(&deployment(json!({"inferno.server.nmae": "s"})), &mut w).is_none());
        assert!(
            w[0].contains(r#"did you mean "inferno.server.name"?"#),
            "{w:?}"
        );
        assert!(w[1].contains("skipped"), "{w:?}");
    }

    #[test]
    fn bad_numbers_are_ignored_with_warnings() {
        let mut w = Vec::new();
        let l = read(&deployment(json!({keys::NAME: "s", keys::LOAD_RPM: "lots", keys::MAX_BATCH: "-3", keys::LOAD_NUM: "512"})), &mut w).unwrap();
        assert_eq!((l.rpm, l.max_batch, l.out_tokens), (None, 0, Some(512.0)));
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(l.class, "");
    }
}
