//! The API server's side of `autoscaling/v2` HorizontalPodAutoscalers: the defaults it writes
//! (`minReplicas: 1`, a CPU target when no metric is given, the unset fields of a `behavior`)
//! and the checks a client can run into (a target to scale, `maxReplicas` at least 1 and at
//! least `minReplicas`, known metric and target types, positive targets, scaling policies in
//! range), worded as the API server words them.

use super::quantity;
use crate::error::FieldError;
use serde_json::{json, Value};

/// The metric source types of `autoscaling/v2`.
pub(crate) const METRIC_TYPES: [&str; 5] = [
    "ContainerResource",
    "External",
    "Object",
    "Pods",
    "Resource",
];

/// The field of a metric spec (or status) holding a source of `kind` (`External` ->
/// `external`).
pub(crate) fn source_field(kind: &str) -> &'static str {
    match kind {
        "External" => "external",
        "Object" => "object",
        "Pods" => "pods",
        "ContainerResource" => "containerResource",
        _ => "resource",
    }
}

/// What `scaleUp` is when `behavior` does not say: no stabilization, at most 4 pods or 100 %
/// more per 15 s, whichever is more.
fn scale_up_defaults() -> Value {
    json!({"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15}]})
}

/// What `scaleDown` is when `behavior` does not say: up to 100 % fewer per 15 s. Its
/// stabilization window stays unset in the object: the controller applies its own default
/// (kube-controller-manager's `--horizontal-pod-autoscaler-downscale-stabilization`, 300 s).
fn scale_down_defaults() -> Value {
    json!({"selectPolicy": "Max", "policies": [
        {"type": "Percent", "value": 100, "periodSeconds": 15}]})
}

/// The scaling rules of one direction, the unset fields taken from `defaults`.
pub(crate) fn rules_with_defaults(rules: &Value, defaults: Value) -> Value {
    let mut out = defaults;
    if let Some(given) = rules.as_object() {
        for (k, v) in given {
            if !v.is_null() {
                out[k] = v.clone();
            }
        }
    }
    out
}

/// The effective `behavior`: both directions with every default filled in (what the API
/// server stores when `behavior` is given, and what the controller applies when it is not).
pub(crate) fn behavior_with_defaults(behavior: &Value) -> Value {
    json!({
        "scaleUp": rules_with_defaults(&behavior["scaleUp"], scale_up_defaults()),
        "scaleDown": rules_with_defaults(&behavior["scaleDown"], scale_down_defaults()),
    })
}

/// Fills the defaults into an HPA and validates it; field errors go to `errs`.
pub(crate) fn prepare(obj: &mut Value, errs: &mut Vec<FieldError>) {
    if !obj.get("spec").is_some_and(Value::is_object) {
        errs.push(FieldError::required("spec"));
        return;
    }
    let spec = &mut obj["spec"];
    for field in ["kind", "name"] {
        let v = &spec["scaleTargetRef"][field];
        if v.as_str().is_none_or(str::is_empty) {
            errs.push(FieldError::required(&format!(
                "spec.scaleTargetRef.{field}"
            )));
        }
    }
    if spec["minReplicas"].is_null() {
        spec["minReplicas"] = json!(1);
    }
    let min = &spec["minReplicas"];
    let min_n = min.as_i64();
    match min_n {
        Some(n) if (1..=i64::from(i32::MAX)).contains(&n) => {}
        // 0 needs the HPAScaleToZero feature gate (alpha), off by default.
        Some(_) => errs.push(FieldError::invalid(
            "spec.minReplicas",
            min,
            "must be greater than or equal to 1",
        )),
        None => errs.push(FieldError::invalid(
            "spec.minReplicas",
            min,
            "must be an integer",
        )),
    }
    let max = &spec["maxReplicas"];
    match max.as_i64() {
        None if max.is_null() => errs.push(FieldError::required("spec.maxReplicas")),
        None => errs.push(FieldError::invalid(
            "spec.maxReplicas",
            max,
            "must be an integer",
        )),
        Some(n) if n < 1 || n > i64::from(i32::MAX) => errs.push(FieldError::invalid(
            "spec.maxReplicas",
            max,
            "must be greater than or equal to 1",
        )),
        Some(n) if min_n.is_some_and(|m| n < m) => errs.push(FieldError::invalid(
            "spec.maxReplicas",
            max,
            "must be greater than or equal to `minReplicas`",
        )),
        Some(_) => {}
    }
    if spec["metrics"].as_array().is_none_or(Vec::is_empty) {
        spec["metrics"] = json!([{"type": "Resource", "resource": {"name": "cpu",
            "target": {"type": "Utilization", "averageUtilization": 80}}}]);
    }
    for (i, m) in spec["metrics"].as_array().into_iter().flatten().enumerate() {
        metric(m, &format!("spec.metrics[{i}]"), errs);
    }
    if spec["behavior"].is_object() {
        let behavior = behavior_with_defaults(&spec["behavior"]);
        for dir in ["scaleUp", "scaleDown"] {
            rules(&behavior[dir], &format!("spec.behavior.{dir}"), errs);
        }
        spec["behavior"] = behavior;
    }
}

fn metric(m: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let kind = m["type"].as_str().unwrap_or_default();
    if !METRIC_TYPES.contains(&kind) {
        errs.push(FieldError::not_supported(
            &format!("{path}.type"),
            &m["type"],
            &METRIC_TYPES,
        ));
        return;
    }
    let field = source_field(kind);
    let source = &m[field];
    let path = format!("{path}.{field}");
    if !source.is_object() {
        errs.push(FieldError::required(&path));
        return;
    }
    let name = match kind {
        "External" | "Object" | "Pods" => &source["metric"]["name"],
        _ => &source["name"],
    };
    if name.as_str().is_none_or(str::is_empty) {
        let name_path = match kind {
            "External" | "Object" | "Pods" => format!("{path}.metric.name"),
            _ => format!("{path}.name"),
        };
        errs.push(FieldError::required(&name_path));
    }
    let target = &source["target"];
    let tpath = format!("{path}.target");
    let ttype = target["type"].as_str().unwrap_or_default();
    let (field, positive_quantity) = match ttype {
        "Value" => ("value", true),
        "AverageValue" => ("averageValue", true),
        "Utilization" => ("averageUtilization", false),
        _ => {
            errs.push(FieldError::not_supported(
                &format!("{tpath}.type"),
                &target["type"],
                &["AverageValue", "Utilization", "Value"],
            ));
            return;
        }
    };
    let v = &target[field];
    let fpath = format!("{tpath}.{field}");
    if v.is_null() {
        errs.push(FieldError::required(&fpath));
    } else if positive_quantity {
        match quantity::parse_milli(v) {
            Some(n) if n > 0 => {}
            Some(_) => errs.push(FieldError::invalid(&fpath, v, "must be positive")),
            None => errs.push(FieldError::invalid(
                &fpath,
                v,
                "quantities must match the regular expression \
                 '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
            )),
        }
    } else if v.as_i64().is_none_or(|n| n <= 0) {
        errs.push(FieldError::invalid(&fpath, v, "must be greater than 0"));
    }
}

fn rules(r: &Value, path: &str, errs: &mut Vec<FieldError>) {
    let window = &r["stabilizationWindowSeconds"];
    if !window.is_null() && window.as_i64().is_none_or(|w| !(0..=3600).contains(&w)) {
        errs.push(FieldError::invalid(
            &format!("{path}.stabilizationWindowSeconds"),
            window,
            "must be less than or equal to 3600 and greater than or equal to 0",
        ));
    }
    let select = &r["selectPolicy"];
    if !matches!(select.as_str(), Some("Max" | "Min" | "Disabled")) {
        errs.push(FieldError::not_supported(
            &format!("{path}.selectPolicy"),
            select,
            &["Disabled", "Max", "Min"],
        ));
    }
    let policies = r["policies"].as_array().cloned().unwrap_or_default();
    if policies.is_empty() && select != "Disabled" {
        errs.push(FieldError::required(&format!("{path}.policies")));
    }
    for (i, p) in policies.iter().enumerate() {
        let ppath = format!("{path}.policies[{i}]");
        if !matches!(p["type"].as_str(), Some("Pods" | "Percent")) {
            errs.push(FieldError::not_supported(
                &format!("{ppath}.type"),
                &p["type"],
                &["Percent", "Pods"],
            ));
        }
        if p["value"].as_i64().is_none_or(|v| v <= 0) {
            errs.push(FieldError::invalid(
                &format!("{ppath}.value"),
                &p["value"],
                "must be greater than zero",
            ));
        }
        if p["periodSeconds"]
            .as_i64()
            .is_none_or(|s| !(1..=1800).contains(&s))
        {
            errs.push(FieldError::invalid(
                &format!("{ppath}.periodSeconds"),
                &p["periodSeconds"],
                "must be greater than zero and less than or equal to 1800",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa(spec: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": spec})
    }

    fn errors(mut obj: Value) -> (Value, Vec<String>) {
        let mut errs = Vec::new();
        prepare(&mut obj, &mut errs);
        let errs = errs
            .into_iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        (obj, errs)
    }

    fn external(target: Value) -> Value {
        json!({"type": "External", "external": {"metric": {"name": "m",
            "selector": {"matchLabels": {"deployment": "web"}}}, "target": target}})
    }

    #[test]
    fn defaults() {
        let (obj, errs) = errors(hpa(json!({
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 5})));
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(obj["spec"]["minReplicas"], 1);
        assert_eq!(
            obj["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            80
        );
        assert!(
            obj["spec"].get("behavior").is_none(),
            "left unset when not given"
        );
        let (obj, errs) = errors(hpa(json!({
            "scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5,
            "metrics": [external(json!({"type": "AverageValue", "averageValue": "1"}))],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}})));
        assert!(errs.is_empty(), "{errs:?}");
        let b = &obj["spec"]["behavior"];
        assert_eq!(b["scaleDown"]["stabilizationWindowSeconds"], 0);
        assert_eq!(b["scaleDown"]["policies"][0]["type"], "Percent");
        assert_eq!(b["scaleUp"]["stabilizationWindowSeconds"], 0);
        assert_eq!(b["scaleUp"]["policies"].as_array().unwrap().len(), 2);
        assert_eq!(b["scaleUp"]["selectPolicy"], "Max");
        // The scale-down window stays unset when not given: the controller's default applies.
        let b = behavior_with_defaults(&json!({}));
        assert!(b["scaleDown"].get("stabilizationWindowSeconds").is_none());
    }

    #[test]
    fn validation() {
        let (_, errs) = errors(hpa(json!({"minReplicas": 3, "maxReplicas": 2,
            "metrics": [external(json!({"type": "AverageValue", "averageValue": "0"})),
                        external(json!({"type": "Value"})),
                        external(json!({"type": "Average", "value": "1"})),
                        {"type": "Memory"}],
            "behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 0,
                                                   "periodSeconds": 1801}]}}})));
        assert_eq!(
            errs,
            [
                "spec.scaleTargetRef.kind: Required value",
                "spec.scaleTargetRef.name: Required value",
                "spec.maxReplicas: Invalid value: 2: must be greater than or equal to \
                 `minReplicas`",
                "spec.metrics[0].external.target.averageValue: Invalid value: \"0\": must be \
                 positive",
                "spec.metrics[1].external.target.value: Required value",
                "spec.metrics[2].external.target.type: Unsupported value: \"Average\": \
                 supported values: \"AverageValue\", \"Utilization\", \"Value\"",
                "spec.metrics[3].type: Unsupported value: \"Memory\": supported values: \
                 \"ContainerResource\", \"External\", \"Object\", \"Pods\", \"Resource\"",
                "spec.behavior.scaleUp.policies[0].value: Invalid value: 0: must be greater \
                 than zero",
                "spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 1801: must be \
                 greater than zero and less than or equal to 1800",
            ]
        );
        let (_, errs) = errors(hpa(json!({"scaleTargetRef": {"kind": "D", "name": "w"},
            "minReplicas": 0})));
        assert_eq!(
            errs,
            [
                "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
                "spec.maxReplicas: Required value"
            ]
        );
        let (_, errs) = errors(json!({"metadata": {"name": "x"}}));
        assert_eq!(errs, ["spec: Required value"]);
    }
}
