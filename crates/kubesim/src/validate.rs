//! Defaulting and validation of incoming objects: the checks a real API server makes that our
//! clients can run into (names, labels, Deployment replicas and selectors, Pod containers), and
//! the defaults kubectl shows back (Deployment strategy, Pod restart policy, ...).

use crate::error::{ApiError, FieldError};
use crate::meta;
use crate::resource::ResourceType;
use crate::selector::{check_label_key, check_label_value, LabelSelector};
use serde_json::{json, Value};

/// Fills defaults into `obj` and validates it; `old` is the stored object on updates.
pub(crate) fn prepare(
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let mut errs = Vec::new();
    check_metadata(rt, obj, &mut errs);
    match (rt.group, rt.plural) {
        ("apps", "deployments") | ("apps", "replicasets") => {
            workload(rt, obj, old, &mut errs);
        }
        ("autoscaling", "horizontalpodautoscalers") => crate::hpa::spec::prepare(obj, &mut errs),
        ("", "pods") => {
            if obj.get("spec").is_none_or(Value::is_null) {
                errs.push(FieldError::required("spec"));
            } else {
                pod_spec(&mut obj["spec"], "spec", &mut errs);
            }
            if old.is_none() {
                let status = obj
                    .as_object_mut()
                    .and_then(|o| o.get_mut("status"))
                    .filter(|s| s.is_object());
                if status.is_none_or(|s| s.get("phase").is_none()) {
                    obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
                }
            }
        }
        ("", "namespaces") => {
            let name = meta::name(obj).to_string();
            let labels = meta::metadata_mut(obj)
                .entry("labels")
                .or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            if obj.get("spec").is_none_or(Value::is_null) {
                obj["spec"] = json!({"finalizers": ["kubernetes"]});
            }
            if obj["status"]["phase"].is_null() {
                obj["status"] = json!({"phase": "Active"});
            }
        }
        ("", "configmaps") | ("", "secrets") => {
            for field in ["data", "binaryData", "stringData"] {
                if let Some(map) = obj.get(field).and_then(Value::as_object) {
                    for (k, v) in map {
                        if !v.is_string() {
                            errs.push(FieldError::invalid(
                                &format!("{field}[{k}]"),
                                v,
                                "must be a string",
                            ));
                        }
                    }
                }
            }
        }
        _ => {}
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(rt, meta::name(obj), &errs))
    }
}

/// `fieldValidation=Strict`: top-level and `metadata` fields the type does not have are a 400
/// (`strict decoding error: unknown field "spce"`), as a real server answers a typo.
pub(crate) fn check_known_fields(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    const META: &[&str] = &[
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    ];
    let own: &[&str] = match (rt.group, rt.plural) {
        ("", "configmaps") => &["data", "binaryData", "immutable"],
        ("", "secrets") => &["data", "stringData", "type", "immutable"],
        ("", "serviceaccounts") => &[
            "secrets",
            "imagePullSecrets",
            "automountServiceAccountToken",
        ],
        ("", "events") => return Ok(()),
        ("events.k8s.io", "events") => &crate::events_v1::FIELDS,
        ("rbac.authorization.k8s.io", _) => &["rules", "aggregationRule", "subjects", "roleRef"],
        ("coordination.k8s.io", _) => &["spec"],
        _ => &["spec", "status"],
    };
    let unknown = |path: &str, k: &str| {
        ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: strict decoding error: unknown \
             field \"{path}{k}\"",
            rt.kind, rt.version, rt.kind
        ))
    };
    if let Some(o) = obj.as_object() {
        for k in o.keys() {
            // `$`-keys are strategic merge patch directives.
            if !k.starts_with('$')
                && !matches!(k.as_str(), "apiVersion" | "kind" | "metadata")
                && !own.contains(&k.as_str())
            {
                return Err(unknown("", k));
            }
        }
    }
    if let Some(md) = obj.get("metadata").and_then(Value::as_object) {
        if let Some(k) = md
            .keys()
            .find(|k| !k.starts_with('$') && !META.contains(&k.as_str()))
        {
            return Err(unknown("metadata.", k));
        }
    }
    Ok(())
}

fn check_metadata(rt: &ResourceType, obj: &Value, errs: &mut Vec<FieldError>) {
    let name = meta::name(obj);
    let name_ok = match (rt.group, rt.plural) {
        ("", "namespaces") => name.len() <= 63 && !name.contains('.') && is_dns_subdomain(name),
        ("rbac.authorization.k8s.io", _) => {
            !name.is_empty() && !name.contains('/') && !name.contains('%') && name != "."
        }
        _ => is_dns_subdomain(name),
    };
    if name.is_empty() {
        errs.push(FieldError::required("metadata.name"));
    } else if !name_ok {
        errs.push(FieldError::invalid(
            "metadata.name",
            &json!(name),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
             characters, '-' or '.', and must start and end with an alphanumeric character",
        ));
    }
    for (k, v) in meta::labels(obj) {
        if let Err(why) = check_label_key(k) {
            errs.push(FieldError::invalid("metadata.labels", &json!(k), &why));
        }
        match v.as_str() {
            Some(s) => {
                if let Err(why) = check_label_value(s) {
                    errs.push(FieldError::invalid("metadata.labels", v, &why));
                }
            }
            None => errs.push(FieldError::invalid(
                "metadata.labels",
                v,
                "must be a string",
            )),
        }
    }
    if let Some(ann) = meta::metadata(obj)
        .get("annotations")
        .and_then(Value::as_object)
    {
        for (k, v) in ann {
            if let Err(why) = check_label_key(k) {
                errs.push(FieldError::invalid("metadata.annotations", &json!(k), &why));
            }
            if !v.is_string() {
                errs.push(FieldError::invalid(
                    "metadata.annotations",
                    v,
                    "must be a string",
                ));
            }
        }
    }
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !p.starts_with('-')
                && !p.ends_with('-')
        })
}

/// Deployments and ReplicaSets: replicas, selector, template.
fn workload(rt: &ResourceType, obj: &mut Value, old: Option<&Value>, errs: &mut Vec<FieldError>) {
    if !obj.get("spec").is_some_and(Value::is_object) {
        errs.push(FieldError::required("spec"));
        return;
    }
    let spec = &mut obj["spec"];
    match &spec["replicas"] {
        Value::Null => spec["replicas"] = json!(1),
        v if v
            .as_i64()
            .is_some_and(|n| n >= 0 && n <= i64::from(i32::MAX)) => {}
        v if v.as_i64().is_some() => errs.push(FieldError::invalid(
            "spec.replicas",
            v,
            "must be greater than or equal to 0",
        )),
        v => errs.push(FieldError::invalid(
            "spec.replicas",
            v,
            "must be an integer",
        )),
    }
    if rt.plural == "deployments" {
        strategy(&mut spec["strategy"], errs);
        for (field, default) in [
            ("revisionHistoryLimit", 10),
            ("progressDeadlineSeconds", 600),
        ] {
            if spec[field].is_null() {
                spec[field] = json!(default);
            }
        }
    }
    let selector = match &spec["selector"] {
        Value::Null => {
            errs.push(FieldError::required("spec.selector"));
            None
        }
        sel => match LabelSelector::from_object(sel) {
            Ok(s) if s.is_empty() => {
                errs.push(FieldError::invalid(
                    "spec.selector",
                    sel,
                    "empty selector is invalid for deployment",
                ));
                None
            }
            Ok(s) => Some(s),
            Err(why) => {
                errs.push(FieldError::invalid("spec.selector", sel, &why));
                None
            }
        },
    };
    if let Some(old) = old {
        if !old["spec"]["selector"].is_null() && old["spec"]["selector"] != spec["selector"] {
            errs.push(FieldError::invalid(
                "spec.selector",
                &spec["selector"],
                "field is immutable",
            ));
        }
    }
    let template = &mut spec["template"];
    let labels = template["metadata"]["labels"].clone();
    match (&selector, labels.as_object()) {
        (Some(sel), Some(l)) if sel.matches(l) => {}
        (Some(_), _) => errs.push(FieldError::invalid(
            "spec.template.metadata.labels",
            &labels,
            "`selector` does not match template `labels`",
        )),
        (None, _) => {}
    }
    if template["spec"].is_object() {
        pod_spec(&mut template["spec"], "spec.template.spec", errs);
    } else {
        errs.push(FieldError::required("spec.template.spec.containers"));
    }
}

/// A Deployment's `spec.strategy`: defaults (`RollingUpdate`, 25 %/25 %) and the API server's
/// checks (known type, non-negative int-or-percent values, `maxUnavailable` at most 100 %, not
/// both zero, no `rollingUpdate` with `Recreate`).
fn strategy(st: &mut Value, errs: &mut Vec<FieldError>) {
    if !st.is_object() {
        *st = json!({});
    }
    if st["type"].is_null() {
        st["type"] = json!("RollingUpdate");
    }
    match st["type"].as_str() {
        Some("RollingUpdate") => {
            let ru = &mut st["rollingUpdate"];
            if !ru.is_object() {
                *ru = json!({});
            }
            let mut zero = true;
            for field in ["maxUnavailable", "maxSurge"] {
                if ru[field].is_null() {
                    ru[field] = json!("25%");
                }
                let path = format!("spec.strategy.rollingUpdate.{field}");
                match int_or_percent(&ru[field]) {
                    Err(why) => errs.push(FieldError::invalid(&path, &ru[field], why)),
                    Ok((n, pct)) => {
                        if field == "maxUnavailable" && pct && n > 100 {
                            errs.push(FieldError::invalid(
                                &path,
                                &ru[field],
                                "must not be greater than 100%",
                            ));
                        }
                        zero &= n == 0;
                    }
                }
            }
            if zero {
                errs.push(FieldError::invalid(
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    &ru["maxUnavailable"],
                    "may not be 0 when `maxSurge` is 0",
                ));
            }
        }
        Some("Recreate") => {
            if !st["rollingUpdate"].is_null() {
                errs.push(FieldError::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        _ => errs.push(FieldError::not_supported(
            "spec.strategy.type",
            &st["type"],
            &["Recreate", "RollingUpdate"],
        )),
    }
}

/// An int-or-percent value: the number and whether it is a percentage.
fn int_or_percent(v: &Value) -> Result<(i64, bool), &'static str> {
    let (n, pct) = match v {
        Value::Number(n) => (n.as_i64().ok_or("must be an integer")?, false),
        Value::String(s) => {
            let n = s
                .strip_suffix('%')
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<i64>().ok())
                .ok_or("a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")?;
            (n, true)
        }
        _ => return Err("must be an integer or percentage (e.g. '5%')"),
    };
    if n < 0 {
        return Err("must be greater than or equal to 0");
    }
    Ok((n, pct))
}

/// A pod spec (of a Pod or a pod template): containers required, defaults filled.
fn pod_spec(spec: &mut Value, path: &str, errs: &mut Vec<FieldError>) {
    match spec["containers"].as_array_mut() {
        Some(cs) if !cs.is_empty() => {
            for (i, c) in cs.iter_mut().enumerate() {
                if !c["name"].is_string() {
                    errs.push(FieldError::required(&format!(
                        "{path}.containers[{i}].name"
                    )));
                }
                let Some(image) = c["image"].as_str().map(str::to_string) else {
                    errs.push(FieldError::required(&format!(
                        "{path}.containers[{i}].image"
                    )));
                    continue;
                };
                let pull = if image.ends_with(":latest") || !image.contains(':') {
                    "Always"
                } else {
                    "IfNotPresent"
                };
                if let Some(ports) = c["ports"].as_array_mut() {
                    for port in ports.iter_mut().filter(|p| p["protocol"].is_null()) {
                        port["protocol"] = json!("TCP");
                    }
                }
                for (field, default) in [
                    ("imagePullPolicy", json!(pull)),
                    ("terminationMessagePath", json!("/dev/termination-log")),
                    ("terminationMessagePolicy", json!("File")),
                    ("resources", json!({})),
                ] {
                    if c[field].is_null() {
                        c[field] = default;
                    }
                }
            }
        }
        _ => errs.push(FieldError::required(&format!("{path}.containers"))),
    }
    for (field, default) in [
        ("restartPolicy", json!("Always")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        ("securityContext", json!({})),
    ] {
        if spec[field].is_null() {
            spec[field] = default;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{CONFIGMAPS, DEPLOYMENTS, NAMESPACES};

    fn deployment(replicas: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "labels": {"app": "web"}},
               "spec": {"replicas": replicas,
                        "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}})
    }

    #[test]
    fn deployment_defaults() {
        let mut d = deployment(Value::Null);
        prepare(&DEPLOYMENTS, &mut d, None).unwrap();
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
    }

    #[test]
    fn deployment_validation() {
        let e = prepare(&DEPLOYMENTS, &mut deployment(json!(-1)), None).unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.details.as_ref().unwrap()["causes"][0]["field"],
            "spec.replicas"
        );

        let mut d = deployment(json!(1));
        d["spec"]["template"]["metadata"]["labels"]["app"] = json!("other");
        let e = prepare(&DEPLOYMENTS, &mut d, None).unwrap_err();
        assert!(
            e.message.contains("does not match template"),
            "{}",
            e.message
        );

        let mut d = deployment(json!(1));
        d["spec"]["selector"] = json!({"matchLabels": {"app": "web", "x": "y"}});
        d["spec"]["template"]["metadata"]["labels"]["x"] = json!("y");
        let old = deployment(json!(1));
        let e = prepare(&DEPLOYMENTS, &mut d, Some(&old)).unwrap_err();
        assert!(e.message.contains("field is immutable"), "{}", e.message);

        let mut d = deployment(json!(1));
        d["metadata"]["labels"]["bad key!"] = json!("v");
        d["metadata"]["name"] = json!("Web");
        let e = prepare(&DEPLOYMENTS, &mut d, None).unwrap_err();
        assert_eq!(e.details.unwrap()["causes"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn deployment_strategy() {
        let with = |st: Value| {
            let mut d = deployment(json!(2));
            d["spec"]["strategy"] = st;
            prepare(&DEPLOYMENTS, &mut d, None).map(|()| d["spec"]["strategy"].clone())
        };
        let st = with(json!({"rollingUpdate": {"maxSurge": 1}})).unwrap();
        assert_eq!(
            st,
            json!({"type": "RollingUpdate",
                   "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}})
        );
        assert!(with(json!({"type": "Recreate"})).is_ok());
        let field = |st: Value| {
            let e = with(st).unwrap_err();
            assert_eq!(e.code, 422);
            let cause = &e.details.unwrap()["causes"][0];
            (
                cause["field"].as_str().unwrap().to_string(),
                cause["message"].as_str().unwrap().to_string(),
            )
        };
        let (f, m) = field(json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}));
        assert_eq!(f, "spec.strategy.rollingUpdate.maxUnavailable");
        assert_eq!(
            m,
            "Invalid value: \"0%\": may not be 0 when `maxSurge` is 0"
        );
        let (f, _) = field(json!({"rollingUpdate": {"maxSurge": -1}}));
        assert_eq!(f, "spec.strategy.rollingUpdate.maxSurge");
        let (_, m) = field(json!({"rollingUpdate": {"maxUnavailable": "150%"}}));
        assert!(m.ends_with("must not be greater than 100%"), "{m}");
        let (_, m) = field(json!({"rollingUpdate": {"maxSurge": "x"}}));
        assert!(m.contains("valid percent string"), "{m}");
        let (f, m) = field(json!({"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}));
        assert_eq!(f, "spec.strategy.rollingUpdate");
        assert!(m.starts_with("Forbidden: "), "{m}");
        let (f, m) = field(json!({"type": "Blue"}));
        assert_eq!(f, "spec.strategy.type");
        assert_eq!(
            m,
            "Unsupported value: \"Blue\": supported values: \"Recreate\", \"RollingUpdate\""
        );
    }

    #[test]
    fn strict_fields() {
        let d = deployment(json!(1));
        assert!(check_known_fields(&DEPLOYMENTS, &d).is_ok());
        let mut typo = d.clone();
        typo["spce"] = json!({});
        let e = check_known_fields(&DEPLOYMENTS, &typo).unwrap_err();
        assert_eq!(e.code, 400);
        assert!(
            e.message
                .ends_with("strict decoding error: unknown field \"spce\""),
            "{}",
            e.message
        );
        let mut typo = d;
        typo["metadata"]["lables"] = json!({});
        assert!(check_known_fields(&DEPLOYMENTS, &typo).is_err());
        let cm = json!({"metadata": {"name": "c"}, "data": {}, "spec": {}});
        assert!(check_known_fields(&CONFIGMAPS, &cm).is_err());
    }

    #[test]
    fn namespaces_and_configmaps() {
        let mut ns = json!({"metadata": {"name": "infer"}});
        prepare(&NAMESPACES, &mut ns, None).unwrap();
        assert_eq!(
            ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "infer"
        );
        assert_eq!(ns["status"]["phase"], "Active");
        let mut bad = json!({"metadata": {"name": "a.b"}});
        assert!(prepare(&NAMESPACES, &mut bad, None).is_err());
        let mut cm = json!({"metadata": {"name": "c"}, "data": {"k": 1}});
        assert_eq!(prepare(&CONFIGMAPS, &mut cm, None).unwrap_err().code, 422);
    }
}
