//! Start-up delays per pod: how long a new pod stays Pending before it is Running and Ready.
//! A real cluster takes minutes to start a pod that loads a 70B model and seconds for a small
//! one; an autoscaler's decisions depend on that, so kubesim lets the caller say which pods
//! start how fast (rules on labels and node selectors, or a per-pod annotation).

use crate::error::{Error, Result};
use crate::meta;
use crate::selector::LabelSelector;
use serde_json::{Map, Value};
use std::time::Duration;

/// The pod annotation (usually set in a Deployment's pod template) giving that pod's start-up
/// delay in cluster seconds; it overrides the [`StartupRule`]s.
pub const STARTUP_ANNOTATION: &str = "kubesim.inferno.dev/startup-seconds";

/// A start-up delay for the pods a label selector matches.
#[derive(Debug, Clone, PartialEq)]
pub struct StartupRule {
    /// A label selector in `labelSelector` syntax (`inferno.server.model=llama_70b`,
    /// `gpu in (H100,A100)`), matched against the pod's labels merged with its
    /// `spec.nodeSelector`; empty matches every pod.
    pub selector: String,
    /// Cluster seconds from the pod's creation until it is Running and Ready (>= 0).
    pub seconds: f64,
}

impl StartupRule {
    /// Parses `SECONDS:SELECTOR` (`120:inferno.server.model=llama_70b`), the syntax of
    /// `--startup`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |message: String| Error::Config {
            setting: format!("start-up rule {s:?}"),
            message,
        };
        let (seconds, selector) = s.trim().split_once(':').ok_or_else(|| {
            bad("expected SECONDS:SELECTOR, e.g. 120:inferno.server.model=llama_70b".into())
        })?;
        let seconds: f64 = seconds
            .trim()
            .parse()
            .map_err(|_| bad(format!("{:?} is not a number of seconds", seconds.trim())))?;
        let rule = Self {
            selector: selector.trim().to_string(),
            seconds,
        };
        rule.compile().map_err(|e| match e {
            Error::Config { message, .. } => bad(message),
            other => other,
        })?;
        Ok(rule)
    }

    /// Parses a `;`-separated list of `SECONDS:SELECTOR` rules (the syntax of
    /// `KUBESIM_STARTUP`); empty items are skipped.
    pub fn parse_list(s: &str) -> Result<Vec<Self>> {
        s.split(';')
            .filter(|item| !item.trim().is_empty())
            .map(Self::parse)
            .collect()
    }

    /// Checks the rule and parses its selector.
    fn compile(&self) -> Result<(LabelSelector, f64)> {
        let bad = |message: String| Error::Config {
            setting: format!("start-up rule {}:{}", self.seconds, self.selector),
            message,
        };
        if !self.seconds.is_finite() || self.seconds < 0.0 {
            return Err(bad(format!(
                "seconds must be a finite number >= 0, not {}",
                self.seconds
            )));
        }
        let selector = LabelSelector::parse(&self.selector)
            .map_err(|e| bad(format!("bad selector {:?}: {}", self.selector, e.message)))?;
        Ok((selector, self.seconds))
    }
}

impl std::str::FromStr for StartupRule {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// The rules, compiled, with the default delay: what the kubelet stand-in asks.
#[derive(Debug, Clone)]
pub(crate) struct StartupRules {
    rules: Vec<(LabelSelector, f64)>,
    default: f64,
}

impl StartupRules {
    /// Compiles `rules`; an invalid one is an error naming its position.
    pub(crate) fn new(rules: &[StartupRule], default: Duration) -> Result<Self> {
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                r.compile().map_err(|e| match e {
                    Error::Config { message, .. } => Error::Config {
                        setting: format!("startup[{i}] ({}:{})", r.seconds, r.selector),
                        message,
                    },
                    other => other,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            rules,
            default: default.as_secs_f64(),
        })
    }

    /// The pod's start-up delay in cluster seconds: its annotation, else the first matching
    /// rule, else the default.
    pub(crate) fn seconds(&self, pod: &Value) -> f64 {
        let annotation = pod["metadata"]["annotations"][STARTUP_ANNOTATION].as_str();
        if let Some(text) = annotation {
            match text.trim().parse::<f64>() {
                Ok(s) if s.is_finite() && s >= 0.0 => return s,
                _ => tracing::warn!(
                    pod = meta::name(pod),
                    value = text,
                    "ignoring {STARTUP_ANNOTATION}: not a number of seconds >= 0"
                ),
            }
        }
        let mut labels: Map<String, Value> = pod["spec"]["nodeSelector"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        labels.extend(meta::labels(pod).clone());
        self.rules
            .iter()
            .find(|(sel, _)| sel.matches(&labels))
            .map_or(self.default, |(_, s)| *s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_rules() {
        let r = StartupRule::parse("120:inferno.server.model=llama_70b").unwrap();
        assert_eq!(r.seconds, 120.0);
        assert_eq!(r.selector, "inferno.server.model=llama_70b");
        let r: StartupRule = " 0.5 : gpu in (H100,A100) ".parse().unwrap();
        assert_eq!(
            (r.seconds, r.selector.as_str()),
            (0.5, "gpu in (H100,A100)")
        );
        let all = StartupRule::parse_list("120:a=b;;60:gpu=H100;").unwrap();
        assert_eq!(all.len(), 2);
        for bad in ["120", "x:a=b", "-1:a=b", "inf:a=b", "NaN:a=b", "1:a b"] {
            let e = StartupRule::parse(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("start-up rule {bad:?}")), "{e}");
        }
        assert!(StartupRule::parse_list("1:a=b;2").is_err());
    }

    #[test]
    fn first_match_annotation_then_default() {
        let rules = [
            StartupRule::parse("120:model=big").unwrap(),
            StartupRule::parse("60:gpu=H100").unwrap(),
            StartupRule::parse("30:gpu").unwrap(),
        ];
        let r = StartupRules::new(&rules, Duration::from_secs(2)).unwrap();
        let pod = |labels: Value, node: Value, ann: Value| {
            json!({"metadata": {"labels": labels, "annotations": ann},
                   "spec": {"nodeSelector": node}})
        };
        let none = json!({});
        assert_eq!(
            r.seconds(&pod(
                json!({"model": "big"}),
                json!({"gpu": "H100"}),
                none.clone()
            )),
            120.0
        );
        assert_eq!(
            r.seconds(&pod(
                json!({"model": "small"}),
                json!({"gpu": "H100"}),
                none.clone()
            )),
            60.0
        );
        assert_eq!(
            r.seconds(&pod(json!({"gpu": "A100"}), none.clone(), none.clone())),
            30.0
        );
        assert_eq!(r.seconds(&pod(json!({}), none.clone(), none.clone())), 2.0);
        let ann = json!({STARTUP_ANNOTATION: "7.5"});
        assert_eq!(
            r.seconds(&pod(json!({"model": "big"}), none.clone(), ann)),
            7.5
        );
        let bad = json!({STARTUP_ANNOTATION: "soon"});
        assert_eq!(r.seconds(&pod(json!({"model": "big"}), none, bad)), 120.0);

        let invalid = [StartupRule {
            selector: "a=b".into(),
            seconds: f64::NAN,
        }];
        let e = StartupRules::new(&invalid, Duration::ZERO).unwrap_err();
        assert!(e.to_string().starts_with("startup[0]"), "{e}");
    }
}
