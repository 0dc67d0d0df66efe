//! The Kubernetes contract, written once: the label keys of managed Deployments, the selector
//! that finds them, the data ConfigMaps, and the one reader of a Deployment's labels (collector,
//! actuator, emulator and manifests all use it, so a label means the same thing everywhere).
//!
//! A label under Inferno's prefix that nothing reads (a misspelt key) is reported with the
//! closest known key, never silently ignored; a number out of its range, or a fraction where an
//! integer is needed (`min-replicas="1.5"`), is reported and not used, never rounded.

use inferno_api::limits::show;
use std::collections::BTreeMap;

/// The ConfigMap of the static data (accelerators, models, service classes, optimizer flags).
pub const STATIC_CONFIGMAP: &str = "inferno-static-data";
/// The ConfigMap of the dynamic data (capacities), re-read every cycle.
pub const DYNAMIC_CONFIGMAP: &str = "inferno-dynamic-data";

/// The label selector of managed Deployments (`inferno.server.managed=true`).
pub fn managed_selector() -> String {
    format!("{}=true", keys::MANAGED)
}

/// Label keys of the contract.
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
    /// min-replicas label (None if absent, invalid, or above max-replicas).
    pub min_replicas: Option<i64>,
    /// max-replicas label.
    pub max_replicas: Option<i64>,
    /// Arrival-rate label, requests/minute.
    pub rpm: Option<f64>,
    /// Input-tokens label.
    pub in_tokens: Option<f64>,
    /// Output-tokens label (or the seed's numtokens).
    pub out_tokens: Option<f64>,
    /// Labels that are set but cannot be used, by key: what is wrong with each
    /// (`label K="V": why`). A load label here means "the Deployment says something about its
    /// load that cannot be read", which is not the same as no label (see
    /// [`ServerLabels::unusable`]).
    pub invalid: BTreeMap<&'static str, String>,
}

impl ServerLabels {
    /// Why the load label behind `field` cannot be used, when it is set but invalid and no
    /// other label stands in for it.
    pub fn unusable(&self, field: LoadField) -> Option<&str> {
        let (value, keys): (Option<f64>, &[&str]) = match field {
            LoadField::Rpm => (self.rpm, &[keys::LOAD_RPM]),
            LoadField::InTokens => (self.in_tokens, &[keys::LOAD_IN]),
            LoadField::OutTokens => (self.out_tokens, &[keys::LOAD_OUT, keys::LOAD_NUM]),
        };
        if value.is_some() {
            return None;
        }
        keys.iter()
            .find_map(|k| self.invalid.get(k))
            .map(String::as_str)
    }
}

/// A load field that a label can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadField {
    /// `inferno.server.load.rpm`.
    Rpm,
    /// `inferno.server.load.intokens`.
    InTokens,
    /// `inferno.server.load.outtokens` (else `numtokens`).
    OutTokens,
}

/// The valid range of a numeric label: `(largest value, integer only)`, from
/// [`inferno_api::limits`].
pub fn range(key: &str) -> Option<(f64, bool)> {
    use inferno_api::limits::{MAX_BATCH_SIZE, MAX_RATE_RPM, MAX_REPLICAS, MAX_TOKENS};
    Some(match key {
        keys::MAX_BATCH => (MAX_BATCH_SIZE as f64, true),
        keys::MIN_REPLICAS | keys::MAX_REPLICAS => (MAX_REPLICAS as f64, true),
        keys::LOAD_RPM => (MAX_RATE_RPM, false),
        keys::LOAD_IN | keys::LOAD_OUT | keys::LOAD_NUM => (MAX_TOKENS, false),
        _ => return None,
    })
}

/// What is wrong with a numeric label's value ([`number`]); the message names neither the
/// Deployment nor the label (the caller does).
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum BadNumber {
    /// It does not parse as a number.
    #[error("not a number")]
    NotANumber,
    /// The key needs an integer in `[0, max]`.
    #[error("must be an integer in [0, {}], got {}", show(*max), show(*value))]
    NotAnInteger {
        /// The largest valid value.
        max: f64,
        /// The value given.
        value: f64,
    },
    /// The key needs a finite number in `[0, max]`.
    #[error("must be a finite number in [0, {}], got {}", show(*max), show(*value))]
    OutOfRange {
        /// The largest valid value.
        max: f64,
        /// The value given.
        value: f64,
    },
}

/// Reads the numeric label `raw` of `key`: its value, or what is wrong with it. Integer-valued
/// keys ([`range`]) accept integer-valued spellings (`2`, `2.0`, `1e3`) and refuse fractions.
pub fn number(key: &str, raw: &str) -> Result<f64, BadNumber> {
    use inferno_api::limits::in_range;
    let (max, integer) = range(key).unwrap_or((f64::MAX, false));
    let Ok(v) = raw.parse::<f64>() else {
        return Err(BadNumber::NotANumber);
    };
    // Integer-valued spellings ("2", "2.0", "1e3") are integers; "1.5" is not rounded.
    match (in_range(v, max), integer) {
        (true, false) => Ok(v),
        (true, true) if v.fract() == 0.0 => Ok(v),
        (_, true) => Err(BadNumber::NotAnInteger { max, value: v }),
        (false, false) => Err(BadNumber::OutOfRange { max, value: v }),
    }
}

/// Reads the labels of the Deployment `namespace/name`. Returns None when it has no server
/// name (such a Deployment is skipped). A numeric label that is not a number, not in its range
/// ([`range`]) or not an integer where one is needed is reported in `warnings` (naming the
/// Deployment, the label and the value), recorded in [`ServerLabels::invalid`] and not used; an
/// unknown label under Inferno's prefix is reported too (see [`unknown`]).
pub fn read(
    namespace: &str,
    name: &str,
    labels: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Option<ServerLabels> {
    let labels: BTreeMap<&str, &str> = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let deploy = format!("{namespace}/{name}");
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
    let mut invalid = BTreeMap::new();
    let mut value = |k: &'static str| -> Option<f64> {
        let raw = labels.get(k)?.trim();
        if raw.is_empty() {
            return None;
        }
        match number(k, raw) {
            Ok(v) => Some(v),
            Err(why) => {
                let what = format!("label {k}={raw:?}: {why}");
                warnings.push(format!("deployment {deploy}: {what}; not used"));
                invalid.insert(k, what);
                None
            }
        }
    };
    // In range, so the conversions are exact.
    let max_batch = value(keys::MAX_BATCH).map_or(0, |v| v as i64);
    let mut min_replicas = value(keys::MIN_REPLICAS).map(|v| v as i64);
    let max_replicas = value(keys::MAX_REPLICAS).map(|v| v as i64);
    let rpm = value(keys::LOAD_RPM);
    let in_tokens = value(keys::LOAD_IN);
    let out_tokens = value(keys::LOAD_OUT).or_else(|| value(keys::LOAD_NUM));
    if let (Some(min), Some(max)) = (min_replicas, max_replicas) {
        if min > max {
            // The maximum is the hard one (the actuator never goes above it): asking the
            // optimizer for more than it would be a decision that cannot be applied.
            let what = format!(
                "label {}={:?} is above {}={:?}",
                keys::MIN_REPLICAS,
                text(keys::MIN_REPLICAS),
                keys::MAX_REPLICAS,
                text(keys::MAX_REPLICAS)
            );
            warnings.push(format!(
                "deployment {deploy}: {what}; min-replicas not used"
            ));
            invalid.insert(keys::MIN_REPLICAS, what);
            min_replicas = None;
        }
    }
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
        invalid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The labels of Deployment `infer/d1`.
    fn deployment<const N: usize>(labels: [(&str, &str); N]) -> BTreeMap<String, String> {
        labels
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn read(labels: &BTreeMap<String, String>, warnings: &mut Vec<String>) -> Option<ServerLabels> {
        super::read("infer", "d1", labels, warnings)
    }

    #[test]
    fn reads_every_label() {
        let mut w = Vec::new();
        let l = read(
            &deployment([
                (keys::NAME, "premium-llama"),
                (keys::MODEL, "llama_13b"),
                (keys::CLASS, "Premium"),
                (keys::ACCELERATOR, "G2"),
                (keys::MAX_BATCH, "38"),
                (keys::MIN_REPLICAS, "1"),
                (keys::LOAD_RPM, "60.5"),
                (keys::LOAD_IN, "128"),
                (keys::LOAD_OUT, "1024"),
            ]),
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
        assert!(read(&deployment([(keys::MODEL, "m")]), &mut w).is_none());
        assert!(
            w[0].contains("infer/d1") && w[0].contains("skipped"),
            "{w:?}"
        );
    }

    #[test]
    fn unknown_labels_name_the_closest_known_key() {
        let mut w = Vec::new();
        let l = read(
            &deployment([
                (keys::NAME, "s"),
                ("inferno.server.laod.rpm", "60"),
                ("Inferno.server.class", "P"),
                ("inferno.server.colour", "red"),
                ("app", "x"),
                ("app.kubernetes.io/name", "y"),
                (keys::LOAD_NOMINAL[0], "60"),
                ("inferno-server.model", "m"),
            ]),
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
        assert!(read(&deployment([("inferno.server.nmae", "s")]), &mut w).is_none());
        assert!(
            w[0].contains(r#"did you mean "inferno.server.name"?"#),
            "{w:?}"
        );
        assert!(w[1].contains("skipped"), "{w:?}");
    }

    #[test]
    fn bad_numbers_are_ignored_with_warnings() {
        let mut w = Vec::new();
        let l = read(
            &deployment([
                (keys::NAME, "s"),
                (keys::LOAD_RPM, "lots"),
                (keys::MAX_BATCH, "-3"),
                (keys::LOAD_NUM, "512"),
            ]),
            &mut w,
        )
        .unwrap();
        assert_eq!((l.rpm, l.max_batch, l.out_tokens), (None, 0, Some(512.0)));
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(l.class, "");
    }

    #[test]
    fn numbers_out_of_range_are_named_and_not_used() {
        let mut w = Vec::new();
        let l = read(
            &deployment([
                (keys::NAME, "s"),
                (keys::LOAD_RPM, "1e308"),
                (keys::LOAD_IN, "2e6"),
                (keys::LOAD_OUT, "inf"),
                (keys::LOAD_NUM, "300"),
                (keys::MIN_REPLICAS, "1.5"),
                (keys::MAX_REPLICAS, "10001"),
                (keys::MAX_BATCH, "4097"),
            ]),
            &mut w,
        )
        .unwrap();
        assert_eq!(
            (l.rpm, l.in_tokens, l.out_tokens),
            (None, None, Some(300.0)),
            "numtokens stands in for a bad outtokens"
        );
        assert_eq!(
            (l.min_replicas, l.max_replicas, l.max_batch),
            (None, None, 0)
        );
        assert_eq!(
            w,
            [
                r#"deployment infer/d1: label inferno.server.allocation.maxbatchsize="4097": must be an integer in [0, 4096], got 4097; not used"#,
                r#"deployment infer/d1: label inferno.server.min-replicas="1.5": must be an integer in [0, 10000], got 1.5; not used"#,
                r#"deployment infer/d1: label inferno.server.max-replicas="10001": must be an integer in [0, 10000], got 10001; not used"#,
                r#"deployment infer/d1: label inferno.server.load.rpm="1e308": must be a finite number in [0, 10000000], got 1e308; not used"#,
                r#"deployment infer/d1: label inferno.server.load.intokens="2e6": must be a finite number in [0, 1048576], got 2000000; not used"#,
                r#"deployment infer/d1: label inferno.server.load.outtokens="inf": must be a finite number in [0, 1048576], got inf; not used"#,
            ]
        );
        assert!(l.unusable(LoadField::Rpm).unwrap().contains("1e308"));
        assert!(l.unusable(LoadField::InTokens).is_some());
        assert_eq!(l.unusable(LoadField::OutTokens), None);
    }

    #[test]
    fn integers_may_be_written_as_numbers_but_not_as_fractions() {
        let mut w = Vec::new();
        let l = read(
            &deployment([
                (keys::NAME, "s"),
                (keys::MIN_REPLICAS, "2.0"),
                (keys::MAX_REPLICAS, "1e3"),
                (keys::MAX_BATCH, "4096"),
                (keys::LOAD_RPM, "10000000"),
            ]),
            &mut w,
        )
        .unwrap();
        assert_eq!(
            (l.min_replicas, l.max_replicas, l.max_batch, l.rpm),
            (Some(2), Some(1000), 4096, Some(1e7))
        );
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn inverted_replica_bounds_are_a_problem() {
        let mut w = Vec::new();
        let l = read(
            &deployment([
                (keys::NAME, "s"),
                (keys::MIN_REPLICAS, "5"),
                (keys::MAX_REPLICAS, "2"),
            ]),
            &mut w,
        )
        .unwrap();
        assert_eq!((l.min_replicas, l.max_replicas), (None, Some(2)));
        assert_eq!(
            w,
            [
                r#"deployment infer/d1: label inferno.server.min-replicas="5" is above inferno.server.max-replicas="2"; min-replicas not used"#
            ]
        );
        // Equal bounds are fine.
        let mut w = Vec::new();
        let l = read(
            &deployment([
                (keys::NAME, "s"),
                (keys::MIN_REPLICAS, "3"),
                (keys::MAX_REPLICAS, "3"),
            ]),
            &mut w,
        )
        .unwrap();
        assert_eq!((l.min_replicas, l.max_replicas), (Some(3), Some(3)));
        assert!(w.is_empty());
    }
}
