//! prometheus-adapter's external metrics, as kubesim's HPA controller evaluates them: the
//! `externalRules` of the adapter's configuration file (the same file the adapter reads, parsed
//! as strictly as it parses it), discovery (the series each rule's `seriesQuery` matches,
//! filtered and named by `seriesFilters` and `name`), and the query of one HPA metric: the
//! rule's `metricsQuery` template with `<<.Series>>`, `<<.LabelMatchers>>` (the HPA's metric
//! selector, then the HPA's namespace on the label `resources` maps to namespaces) and
//! `<<.GroupBy>>` (empty for external metrics) filled in, as the adapter's `BuildExternal` does.
//!
//! What is not modelled: `rules` and `resourceRules` (custom and resource metrics) are read and
//! ignored; `labelValueReplacements` only changes `LabelValuesByName`, which kubesim's
//! templates cannot use; templates may use only the three fields above.

use super::prometheus::PrometheusApi;
use super::MetricError;
use crate::selector::{LabelSelector, Requirement};
use crate::{Error, Result};
use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// How far back discovery looks for series: prometheus-adapter's default
/// `--metrics-relist-interval`.
const RELIST_SECONDS: f64 = 600.0;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    rules: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    resource_rules: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    external_rules: Vec<RuleFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuleFile {
    series_query: String,
    #[serde(default)]
    series_filters: Vec<FilterFile>,
    #[serde(default)]
    resources: ResourcesFile,
    #[serde(default)]
    name: NameFile,
    #[serde(default)]
    metrics_query: String,
    #[serde(default)]
    label_value_replacements: Vec<serde_yaml_ng::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FilterFile {
    #[serde(default)]
    is: String,
    #[serde(default)]
    is_not: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourcesFile {
    #[serde(default)]
    template: String,
    #[serde(default)]
    overrides: BTreeMap<String, GroupResourceFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupResourceFile {
    #[serde(default)]
    group: String,
    resource: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NameFile {
    #[serde(default)]
    matches: String,
    #[serde(default, rename = "as")]
    as_: String,
}

/// One piece of a `metricsQuery` template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Series,
    LabelMatchers,
    GroupBy,
}

/// One external rule, compiled.
#[derive(Debug, Clone)]
struct Rule {
    series_query: String,
    /// Regular expressions a series name must match (`true`) or not match (`false`); the
    /// name's `matches` is the last.
    filters: Vec<(Regex, bool)>,
    name_matches: Regex,
    name_as: String,
    /// The label carrying the namespace, or why there is none.
    namespace_label: std::result::Result<String, String>,
    metrics_query: Vec<Piece>,
}

/// The `externalRules` of a prometheus-adapter configuration, compiled: what
/// [`crate::HpaConfig::rules`] holds.
#[derive(Debug, Clone)]
pub struct AdapterRules {
    rules: Vec<Rule>,
}

/// An external metric the rules expose: its rule and the Prometheus series behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exposed {
    rule: usize,
    series: String,
}

/// What discovery found: the external metrics by name, and the errors of the rules whose
/// series could not be listed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Discovered {
    metrics: BTreeMap<String, Exposed>,
    errors: Vec<String>,
}

fn template(text: &str) -> std::result::Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<<") {
        if start > 0 {
            out.push(Piece::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find(">>")
            .ok_or_else(|| format!("unclosed action in {text:?}"))?;
        out.push(match after[..end].trim() {
            ".Series" => Piece::Series,
            ".LabelMatchers" => Piece::LabelMatchers,
            ".GroupBy" => Piece::GroupBy,
            other => {
                return Err(format!(
                    "<<{other}>> in {text:?}: kubesim's adapter knows <<.Series>>, \
                     <<.LabelMatchers>> and <<.GroupBy>> only"
                ))
            }
        });
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_string()));
    }
    Ok(out)
}

/// The label the resource template gives the namespace resource (`<<.Resource>>` is the
/// singular `namespace`, `<<.Group>>` the empty core group).
fn namespace_label(r: &ResourcesFile) -> std::result::Result<String, String> {
    let namespace = r.overrides.iter().find(|(_, gr)| {
        gr.group.is_empty() && matches!(gr.resource.as_str(), "namespace" | "namespaces")
    });
    if let Some((label, _)) = namespace {
        return Ok(label.clone());
    }
    if r.template.is_empty() {
        return Err(
            "no generic resource label form specified for this metric (resources \
                    maps no label to namespaces)"
                .into(),
        );
    }
    let label = r
        .template
        .replace("<<.Resource>>", "namespace")
        .replace("<< .Resource >>", "namespace")
        .replace("<<.Group>>", "")
        .replace("<< .Group >>", "");
    if label.contains("<<") {
        return Err(format!(
            "resources.template {:?}: kubesim knows <<.Group>> and <<.Resource>> only",
            r.template
        ));
    }
    Ok(label)
}

fn compile(i: usize, r: RuleFile) -> std::result::Result<Rule, String> {
    let at = |m: String| format!("externalRules[{i}]: {m}");
    let regex =
        |what: &str, re: &str| Regex::new(re).map_err(|e| at(format!("{what} {re:?}: {e}")));
    let mut filters = Vec::new();
    for f in &r.series_filters {
        match (f.is.as_str(), f.is_not.as_str()) {
            (re, "") if !re.is_empty() => filters.push((regex("seriesFilters", re)?, true)),
            ("", re) if !re.is_empty() => filters.push((regex("seriesFilters", re)?, false)),
            ("", "") => {
                return Err(at(
                    "a series filter needs an `is` or `isNot` expression".into()
                ))
            }
            _ => {
                return Err(at(
                    "a series filter cannot have both `is` and `isNot`".into()
                ))
            }
        }
    }
    let matches = if r.name.matches.is_empty() {
        ".*"
    } else {
        &r.name.matches
    };
    let name_matches = regex("name.matches", matches)?;
    if !r.name.matches.is_empty() {
        filters.push((name_matches.clone(), true));
    }
    let name_as = match (r.name.as_.as_str(), name_matches.captures_len() - 1) {
        ("", 0) => "$0".to_string(),
        ("", 1) => "$1".to_string(),
        ("", _) => {
            return Err(at(format!(
                "must specify an 'as' value for name matcher {matches:?}"
            )))
        }
        (s, _) => s.to_string(),
    };
    if r.metrics_query.trim().is_empty() {
        return Err(at("metricsQuery is empty".into()));
    }
    let _ = r.label_value_replacements;
    Ok(Rule {
        series_query: r.series_query,
        filters,
        name_matches,
        name_as,
        namespace_label: namespace_label(&r.resources),
        metrics_query: template(&r.metrics_query).map_err(at)?,
    })
}

/// `value` quoted as Go's `%q` quotes a label value.
fn quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One label matcher of a selector requirement, as the adapter writes it: one value `=`/`!=`
/// (`=~`/`!~` for `in`/`notin`), several joined by `|` into a regular expression, `!=""` for
/// "set" and `=""` for "not set".
fn matcher(r: &Requirement) -> std::result::Result<String, String> {
    Ok(match r {
        Requirement::Equals(k, v) => format!("{k}={}", quote(v)),
        Requirement::NotEquals(k, v) => format!("{k}!={}", quote(v)),
        Requirement::In(k, vs) | Requirement::NotIn(k, vs) => {
            let mut vs = vs.clone();
            vs.sort();
            let op = if matches!(r, Requirement::In(..)) {
                "=~"
            } else {
                "!~"
            };
            if vs.is_empty() {
                return Err(format!("{k}: `in`/`notin` needs values"));
            }
            format!("{k}{op}{}", quote(&vs.join("|")))
        }
        Requirement::Exists(k) => format!("{k}!=\"\""),
        Requirement::NotExists(k) => format!("{k}=\"\""),
        Requirement::GreaterThan(k, _) | Requirement::LessThan(k, _) => {
            return Err(format!("{k}: operator not supported by query builder"))
        }
    })
}

fn key(r: &Requirement) -> &str {
    match r {
        Requirement::Exists(k)
        | Requirement::NotExists(k)
        | Requirement::Equals(k, _)
        | Requirement::NotEquals(k, _)
        | Requirement::In(k, _)
        | Requirement::NotIn(k, _)
        | Requirement::GreaterThan(k, _)
        | Requirement::LessThan(k, _) => k,
    }
}

impl AdapterRules {
    /// Parses the text of a prometheus-adapter configuration file (unknown fields are errors,
    /// as the adapter's strict parsing makes them).
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let file: ConfigFile = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        let _ = (&file.rules, &file.resource_rules);
        if file.external_rules.is_empty() {
            return Err("no externalRules".into());
        }
        let rules = file
            .external_rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| compile(i, r))
            .collect::<std::result::Result<_, _>>()?;
        Ok(Self { rules })
    }

    /// Reads and parses the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let fail = |message: String| Error::AdapterConfig {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        Self::parse(&text).map_err(fail)
    }

    /// Runs every rule's `seriesQuery` and names the series that pass its filters.
    pub(crate) async fn discover(&self, api: &PrometheusApi, now: f64) -> Discovered {
        let mut out = Discovered::default();
        for (i, rule) in self.rules.iter().enumerate() {
            let series = match api.series(&rule.series_query, now - RELIST_SECONDS).await {
                Ok(s) => s,
                Err(e) => {
                    out.errors
                        .push(format!("externalRules[{i}] seriesQuery: {e}"));
                    continue;
                }
            };
            let names: BTreeSet<&str> = series
                .iter()
                .filter_map(|s| s.get("__name__").map(String::as_str))
                .collect();
            for name in names {
                if let Some(metric) = rule.metric_name(name) {
                    out.metrics.insert(
                        metric,
                        Exposed {
                            rule: i,
                            series: name.to_string(),
                        },
                    );
                }
            }
        }
        out
    }

    /// The PromQL of external metric `name` for an HPA in `namespace` whose metric selects
    /// `selector` (a `metav1.LabelSelector`, `Null` for all), as the adapter builds it.
    pub(crate) fn query(
        &self,
        discovered: &Discovered,
        name: &str,
        namespace: &str,
        selector: &Value,
    ) -> std::result::Result<String, MetricError> {
        let Some(exposed) = discovered.metrics.get(name) else {
            let known: Vec<&str> = discovered.metrics.keys().map(String::as_str).collect();
            let mut why = format!(
                "no rule of the adapter configuration exposes an external metric {name:?} \
                 (exposed: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
            for e in &discovered.errors {
                why.push_str(&format!("; {e}"));
            }
            return Err(MetricError::Adapter(why));
        };
        let rule = &self.rules[exposed.rule];
        let selector = if selector.is_null() {
            LabelSelector::default()
        } else {
            LabelSelector::from_object(selector)
                .map_err(|e| MetricError::Adapter(format!("metric selector: {e}")))?
        };
        let mut reqs = selector.0;
        // LabelSelectorAsSelector orders the requirements by key.
        reqs.sort_by(|a, b| key(a).cmp(key(b)));
        let mut matchers = reqs
            .iter()
            .map(matcher)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(MetricError::Adapter)?;
        let label = rule
            .namespace_label
            .as_ref()
            .map_err(|e| MetricError::Adapter(format!("externalRules[{}]: {e}", exposed.rule)))?;
        matchers.push(format!("{label}={}", quote(namespace)));
        let query: String = rule
            .metrics_query
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Series => exposed.series.clone(),
                Piece::LabelMatchers => matchers.join(","),
                Piece::GroupBy => String::new(),
            })
            .collect();
        Ok(query)
    }
}

impl Rule {
    /// The external metric name of series `name`, when it passes the filters.
    fn metric_name(&self, name: &str) -> Option<String> {
        if !self
            .filters
            .iter()
            .all(|(re, positive)| re.is_match(name) == *positive)
        {
            return None;
        }
        let caps = self.name_matches.captures(name)?;
        let mut out = String::new();
        caps.expand(&self.name_as, &mut out);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULE: &str = r#"
externalRules:
  - seriesQuery: 'inferno_actuator_desired_replicas{deployment!=""}'
    resources:
      overrides:
        exported_namespace: {resource: namespace}
    name:
      matches: ^inferno_actuator_(desired_replicas)$
      as: inferno_actuator_$1
    metricsQuery: max(<<.Series>>{<<.LabelMatchers>>}) by (deployment)
"#;

    fn discovered(rules: &AdapterRules, names: &[&str]) -> Discovered {
        let mut d = Discovered::default();
        for name in names {
            for (i, r) in rules.rules.iter().enumerate() {
                if let Some(m) = r.metric_name(name) {
                    d.metrics.insert(
                        m,
                        Exposed {
                            rule: i,
                            series: name.to_string(),
                        },
                    );
                }
            }
        }
        d
    }

    #[test]
    fn builds_the_query_as_the_adapter_does() {
        let rules = AdapterRules::parse(RULE).unwrap();
        let d = discovered(
            &rules,
            &[
                "inferno_actuator_desired_replicas",
                "inferno_actuator_current_replicas",
            ],
        );
        assert_eq!(
            d.metrics.keys().collect::<Vec<_>>(),
            ["inferno_actuator_desired_replicas"]
        );
        let q = rules
            .query(
                &d,
                "inferno_actuator_desired_replicas",
                "infer",
                &json!({"matchLabels": {"deployment": "web", "server": "s1"}}),
            )
            .unwrap();
        assert_eq!(
            q,
            "max(inferno_actuator_desired_replicas{deployment=\"web\",server=\"s1\",\
             exported_namespace=\"infer\"}) by (deployment)"
        );
        let q = rules
            .query(
                &d,
                "inferno_actuator_desired_replicas",
                "infer",
                &json!({"matchExpressions": [
                    {"key": "deployment", "operator": "In", "values": ["b", "a"]},
                    {"key": "server", "operator": "Exists"},
                    {"key": "a", "operator": "NotIn", "values": ["x"]}]}),
            )
            .unwrap();
        assert!(
            q.contains("{a!~\"x\",deployment=~\"a|b\",server!=\"\",exported_namespace=\"infer\"}"),
            "{q}"
        );
        let e = rules
            .query(&d, "inferno_desired_replicas", "infer", &Value::Null)
            .unwrap_err();
        assert!(
            e.to_string().contains(
                "no rule of the adapter configuration exposes an external metric \
                 \"inferno_desired_replicas\" (exposed: inferno_actuator_desired_replicas)"
            ),
            "{e}"
        );
    }

    #[test]
    fn templates_defaults_and_mistakes() {
        let rules = AdapterRules::parse(
            r#"
externalRules:
  - seriesQuery: '{__name__=~"^queue_.*"}'
    seriesFilters: [{isNot: "_total$"}]
    resources: {template: "<<.Resource>>"}
    name: {matches: "^queue_(.*)$"}
    metricsQuery: sum(<< .Series >>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
rules: []
"#,
        )
        .unwrap();
        let d = discovered(&rules, &["queue_depth", "queue_items_total"]);
        assert_eq!(d.metrics.keys().collect::<Vec<_>>(), ["depth"]);
        assert_eq!(
            rules.query(&d, "depth", "ns", &Value::Null).unwrap(),
            "sum(queue_depth{namespace=\"ns\"}) by ()"
        );
        for (text, error) in [
            ("externalRules: []", "no externalRules"),
            (
                "externalRules: [{seriesQuery: x, metricQuery: y}]",
                "unknown field `metricQuery`",
            ),
            (
                "externalRules: [{seriesQuery: x, metricsQuery: '<<.Foo>>'}]",
                "<<.Foo>>",
            ),
            ("externalRules: [{seriesQuery: x}]", "metricsQuery is empty"),
            (
                "externalRules: [{seriesQuery: x, metricsQuery: y, name: {matches: '(a)(b)'}}]",
                "must specify an 'as' value",
            ),
            (
                "externalRules: [{seriesQuery: x, metricsQuery: y, seriesFilters: [{}]}]",
                "needs an `is` or `isNot`",
            ),
        ] {
            let e = AdapterRules::parse(text).unwrap_err();
            assert!(e.contains(error), "{text}: {e}");
        }
        // Without a namespace label the query cannot be built (the adapter's error).
        let rules =
            AdapterRules::parse("externalRules: [{seriesQuery: 'm', metricsQuery: 'm'}]").unwrap();
        let d = discovered(&rules, &["m"]);
        let e = rules.query(&d, "m", "ns", &Value::Null).unwrap_err();
        assert!(
            e.to_string().contains("no generic resource label form"),
            "{e}"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
