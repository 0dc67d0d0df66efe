//! Server-side printing: the `meta.k8s.io/v1` `Table` that `kubectl get` asks for (`Accept:
//! application/json;as=Table;v=v1;g=meta.k8s.io`), with the columns a real API server prints for
//! each type.

use crate::meta;
use crate::resource::{ResourceType, EVENTS};
use serde_json::{json, Value};
use std::sync::Arc;

/// Whether an `Accept` header asks for a `Table`.
pub(crate) fn wants_table(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let p: Vec<&str> = part.split(';').map(str::trim).collect();
        p.contains(&"as=Table") && p.contains(&"g=meta.k8s.io")
    })
}

struct Column {
    name: &'static str,
    kind: &'static str,
    priority: u8,
}

const fn col(name: &'static str, kind: &'static str, priority: u8) -> Column {
    Column {
        name,
        kind,
        priority,
    }
}

fn columns(rt: &ResourceType) -> Vec<Column> {
    match (rt.group, rt.plural) {
        ("apps", "deployments") => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Up-to-date", "integer", 0),
            col("Available", "integer", 0),
            col("Age", "string", 0),
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        ("apps", "replicasets") => vec![
            col("Name", "string", 0),
            col("Desired", "integer", 0),
            col("Current", "integer", 0),
            col("Ready", "integer", 0),
            col("Age", "string", 0),
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        ("", "pods") => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "string", 0),
            col("Age", "string", 0),
            col("IP", "string", 1),
            col("Node", "string", 1),
            col("Nominated Node", "string", 1),
            col("Readiness Gates", "string", 1),
        ],
        ("", "namespaces") => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Age", "string", 0),
        ],
        ("", "configmaps") => vec![
            col("Name", "string", 0),
            col("Data", "integer", 0),
            col("Age", "string", 0),
        ],
        ("", "secrets") => vec![
            col("Name", "string", 0),
            col("Type", "string", 0),
            col("Data", "integer", 0),
            col("Age", "string", 0),
        ],
        // One printer for both versions, as in a real server (it prints the internal type).
        ("", "events") | ("events.k8s.io", "events") => vec![
            col("Last Seen", "string", 0),
            col("Type", "string", 0),
            col("Reason", "string", 0),
            col("Object", "string", 0),
            col("Subobject", "string", 1),
            col("Source", "string", 1),
            col("Message", "string", 0),
            col("First Seen", "string", 1),
            col("Count", "string", 1),
            col("Name", "string", 1),
        ],
        ("coordination.k8s.io", "leases") => vec![
            col("Name", "string", 0),
            col("Holder", "string", 0),
            col("Age", "string", 0),
        ],
        ("autoscaling", "horizontalpodautoscalers") => vec![
            col("Name", "string", 0),
            col("Reference", "string", 0),
            col("Targets", "string", 0),
            col("MinPods", "string", 0),
            col("MaxPods", "integer", 0),
            col("Replicas", "integer", 0),
            col("Age", "string", 0),
        ],
        _ => vec![col("Name", "string", 0), col("Age", "string", 0)],
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn containers_and_images(spec: &Value) -> (String, String) {
    let cs = spec["containers"].as_array().cloned().unwrap_or_default();
    let names: Vec<String> = cs.iter().map(|c| s(&c["name"])).collect();
    let images: Vec<String> = cs.iter().map(|c| s(&c["image"])).collect();
    (names.join(","), images.join(","))
}

fn selector_string(sel: &Value) -> String {
    crate::selector::LabelSelector::from_object(sel)
        .map(|s| s.to_query())
        .unwrap_or_default()
}

fn cells(rt: &ResourceType, o: &Value) -> Vec<Value> {
    let name = json!(meta::name(o));
    let age = json!(meta::age(Some(meta::meta_str(o, "creationTimestamp"))));
    let st = &o["status"];
    match (rt.group, rt.plural) {
        ("apps", "deployments") => {
            let (c, i) = containers_and_images(&o["spec"]["template"]["spec"]);
            vec![
                name,
                json!(format!(
                    "{}/{}",
                    int(&st["readyReplicas"]),
                    int(&o["spec"]["replicas"])
                )),
                json!(int(&st["updatedReplicas"])),
                json!(int(&st["availableReplicas"])),
                age,
                json!(c),
                json!(i),
                json!(selector_string(&o["spec"]["selector"])),
            ]
        }
        ("apps", "replicasets") => {
            let (c, i) = containers_and_images(&o["spec"]["template"]["spec"]);
            vec![
                name,
                json!(int(&o["spec"]["replicas"])),
                json!(int(&st["replicas"])),
                json!(int(&st["readyReplicas"])),
                age,
                json!(c),
                json!(i),
                json!(selector_string(&o["spec"]["selector"])),
            ]
        }
        ("", "pods") => {
            let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
            let statuses = st["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let ready = statuses.iter().filter(|c| c["ready"] == true).count();
            let restarts: i64 = statuses.iter().map(|c| int(&c["restartCount"])).sum();
            let waiting = statuses
                .iter()
                .find_map(|c| c["state"]["waiting"]["reason"].as_str().map(str::to_string));
            let status = if !meta::meta_str(o, "deletionTimestamp").is_empty() {
                "Terminating".to_string()
            } else {
                waiting.unwrap_or_else(|| s(&st["phase"]))
            };
            let ip = st["podIP"].as_str().unwrap_or("<none>");
            let node = o["spec"]["nodeName"].as_str().unwrap_or("<none>");
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(status),
                json!(restarts.to_string()),
                age,
                json!(ip),
                json!(node),
                json!("<none>"),
                json!("<none>"),
            ]
        }
        ("", "namespaces") => vec![name, json!(s(&st["phase"])), age],
        ("", "configmaps") => {
            let n = ["data", "binaryData"]
                .iter()
                .map(|f| o[*f].as_object().map_or(0, |m| m.len()))
                .sum::<usize>();
            vec![name, json!(n), age]
        }
        ("", "secrets") => {
            let n = o["data"].as_object().map_or(0, |m| m.len());
            vec![name, json!(s(&o["type"])), json!(n), age]
        }
        ("events.k8s.io", "events") => cells(&EVENTS, &crate::events_v1::to_core(o)),
        ("", "events") => {
            // As the real printer: a series' last observation is the last time seen, an Event
            // of the new API (no legacy timestamps) was first seen at its eventTime.
            let first = [o["firstTimestamp"].as_str(), o["eventTime"].as_str()]
                .into_iter()
                .flatten()
                .find(|t| !t.is_empty())
                .unwrap_or(meta::meta_str(o, "creationTimestamp"));
            let last = [
                o["series"]["lastObservedTime"].as_str(),
                o["lastTimestamp"].as_str(),
            ]
            .into_iter()
            .flatten()
            .find(|t| !t.is_empty())
            .unwrap_or(first);
            let count = match o["series"]["count"].as_i64() {
                Some(n) => n,
                None => int(&o["count"]).max(1),
            };
            let inv = &o["involvedObject"];
            let object = format!("{}/{}", s(&inv["kind"]).to_lowercase(), s(&inv["name"]));
            let non_empty = |a: &Value, b: &Value| {
                let a = s(a);
                if a.is_empty() {
                    s(b)
                } else {
                    a
                }
            };
            let component = non_empty(&o["source"]["component"], &o["reportingComponent"]);
            let instance = non_empty(&o["source"]["host"], &o["reportingInstance"]);
            let source = if instance.is_empty() {
                component
            } else {
                format!("{component}, {instance}")
            };
            vec![
                json!(meta::age(Some(last))),
                json!(s(&o["type"])),
                json!(s(&o["reason"])),
                json!(object),
                json!(s(&inv["fieldPath"])),
                json!(source),
                json!(s(&o["message"])),
                json!(meta::age(Some(first))),
                json!(count.to_string()),
                name,
            ]
        }
        ("coordination.k8s.io", "leases") => {
            vec![name, json!(s(&o["spec"]["holderIdentity"])), age]
        }
        ("autoscaling", "horizontalpodautoscalers") => {
            let spec = &o["spec"];
            let target = &spec["scaleTargetRef"];
            let min = match spec["minReplicas"].as_i64() {
                Some(n) => n.to_string(),
                None => "<unset>".into(),
            };
            vec![
                name,
                json!(format!("{}/{}", s(&target["kind"]), s(&target["name"]))),
                json!(hpa_targets(spec, st)),
                json!(min),
                json!(int(&spec["maxReplicas"])),
                json!(int(&st["currentReplicas"])),
                age,
            ]
        }
        _ => vec![name, age],
    }
}

/// The TARGETS column of an HPA as kubectl's printer writes it: `current/target` per metric
/// (`(avg)` after an average-value target, `<unknown>` before a value was read), the first two
/// metrics and `+ N more...`. The metric types other than External print the same way.
fn hpa_targets(spec: &Value, status: &Value) -> String {
    let metrics = spec["metrics"].as_array().cloned().unwrap_or_default();
    if metrics.is_empty() {
        return "<none>".into();
    }
    let current = status["currentMetrics"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut parts = Vec::new();
    for (i, m) in metrics.iter().enumerate().take(2) {
        let kind = match m["type"].as_str() {
            Some("External") => "external",
            Some("Pods") => "pods",
            Some("Object") => "object",
            Some("ContainerResource") => "containerResource",
            _ => "resource",
        };
        let target = &m[kind]["target"];
        let cur = current
            .get(i)
            .map(|c| &c[kind]["current"])
            .unwrap_or(&Value::Null);
        let shown = |field: &str| match cur[field].as_str() {
            Some(v) => v.to_string(),
            None => match cur[field].as_i64() {
                Some(n) => n.to_string(),
                None => "<unknown>".into(),
            },
        };
        let part = if !target["averageValue"].is_null() {
            format!(
                "{}/{} (avg)",
                shown("averageValue"),
                s(&target["averageValue"])
            )
        } else if !target["value"].is_null() {
            format!("{}/{}", shown("value"), s(&target["value"]))
        } else {
            let cur = match cur["averageUtilization"].as_i64() {
                Some(n) => format!("{n}%"),
                None => "<unknown>".into(),
            };
            format!("{cur}/{}%", int(&target["averageUtilization"]))
        };
        let prefix = match (kind, m[kind]["name"].as_str()) {
            ("resource" | "containerResource", Some(n)) => format!("{n}: "),
            _ => String::new(),
        };
        parts.push(format!("{prefix}{part}"));
    }
    let mut out = parts.join(", ");
    if metrics.len() > 2 {
        out.push_str(&format!(" + {} more...", metrics.len() - 2));
    }
    out
}

/// A `Table` of `items`; `include_object` is the `includeObject` query parameter (`Metadata`,
/// the default, `Object` or `None`).
pub(crate) fn table(
    rt: &ResourceType,
    items: &[Arc<Value>],
    resource_version: u64,
    include_object: &str,
    continue_token: Option<&str>,
) -> Value {
    let defs: Vec<Value> = columns(rt)
        .iter()
        .map(|c| {
            let mut d = json!({"name": c.name, "type": c.kind, "format": "",
                               "description": c.name, "priority": c.priority});
            if c.name == "Name" {
                d["format"] = json!("name");
            }
            d
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let object = match include_object {
                "None" => Value::Null,
                "Object" => (**o).clone(),
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                            "metadata": o["metadata"]}),
            };
            json!({"cells": cells(rt, o), "object": object})
        })
        .collect();
    let mut md = json!({"resourceVersion": resource_version.to_string()});
    if let Some(c) = continue_token {
        md["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": md,
           "columnDefinitions": defs, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{DEPLOYMENTS, PODS};

    #[test]
    fn deployment_and_pod_rows() {
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
        let d = Arc::new(
            json!({"metadata": {"name": "web", "creationTimestamp": meta::now()},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}),
        );
        let t = table(&DEPLOYMENTS, &[d], 7, "Metadata", None);
        assert_eq!(
            t["rows"][0]["cells"].as_array().unwrap()[..4],
            [json!("web"), json!("2/3"), json!(3), json!(2)]
        );
        assert_eq!(t["rows"][0]["cells"][7], "app=web");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(t["metadata"]["resourceVersion"], "7");
        let p = Arc::new(json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIP": "127.0.0.1",
                       "containerStatuses": [{"ready": true, "restartCount": 0}]}}));
        let t = table(&PODS, &[p], 1, "None", None);
        assert_eq!(t["rows"][0]["cells"][1], "1/1");
        assert_eq!(t["rows"][0]["cells"][2], "Running");
        assert!(t["rows"][0]["object"].is_null());
    }

    #[test]
    fn event_rows_of_both_versions() {
        // Ages in whole minutes, so that a second passing does not change them.
        let first = meta::rfc3339(meta::now_secs() - 7200);
        let last = meta::rfc3339(meta::now_secs() - 1800);
        let v1 = Arc::new(json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.1", "creationTimestamp": first},
            "eventTime": format!("{}.123456Z", first.trim_end_matches('Z')),
            "series": {"count": 3, "lastObservedTime": last},
            "regarding": {"kind": "Deployment", "name": "web"},
            "reason": "Scaled", "note": "1 -> 2", "type": "Normal",
            "reportingController": "inferno-actuator", "reportingInstance": "pod-1"}));
        let t = table(
            &crate::resource::EVENTS_V1,
            std::slice::from_ref(&v1),
            1,
            "Object",
            None,
        );
        let cells = t["rows"][0]["cells"].as_array().unwrap();
        assert_eq!(
            cells[..],
            [
                json!("30m"),
                json!("Normal"),
                json!("Scaled"),
                json!("deployment/web"),
                json!(""),
                json!("inferno-actuator, pod-1"),
                json!("1 -> 2"),
                json!("120m"),
                json!("3"),
                json!("web.1")
            ]
        );
        // The object is the one of the version asked for; the core printer shows the same.
        assert_eq!(t["rows"][0]["object"]["note"], "1 -> 2");
        let core = Arc::new(crate::events_v1::to_core(&v1));
        assert_eq!(
            table(&EVENTS, &[core], 1, "None", None)["rows"][0]["cells"],
            json!(cells)
        );
        let legacy = Arc::new(
            json!({"metadata": {"name": "e"}, "source": {"component": "kubelet"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "count": 0, "lastTimestamp": last}),
        );
        let t = table(&EVENTS, &[legacy], 1, "None", None);
        assert_eq!(t["rows"][0]["cells"][5], "kubelet");
        assert_eq!(t["rows"][0]["cells"][8], "1");
    }
}
