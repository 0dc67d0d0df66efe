//! `events.k8s.io/v1` Events: the `core/v1` Events of the store seen through the API server's
//! conversion, so that an Event written through either API is read through both (`kubectl get
//! events` lists the Events that kube's `Recorder` writes). Every other type is served as
//! stored: [`read`] and [`write`] pass it through.
//!
//! The conversion renames six fields (`regarding` is `involvedObject`, `note` is `message`,
//! `reportingController` is `reportingComponent`, the `deprecated*` fields are the legacy
//! `source`, `firstTimestamp`, `lastTimestamp` and `count`) and keeps the rest, `series`
//! included. Writes through `events.k8s.io/v1` are validated as a real server validates them:
//! the legacy fields stay unset on create, a series counts at least 2, and an update may change
//! only the series (and metadata), which is all kube's `Recorder` patches.

use crate::error::{ApiError, FieldError};
use crate::resource::{ResourceType, EVENTS_V1};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// `(events.k8s.io/v1 name, core/v1 name)` of the fields the versions name differently.
const RENAMED: [(&str, &str); 7] = [
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

/// The fields an `events.k8s.io/v1` Event has besides `apiVersion`, `kind` and `metadata`.
pub(crate) const FIELDS: [&str; 14] = [
    "action",
    "deprecatedCount",
    "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp",
    "deprecatedSource",
    "eventTime",
    "note",
    "reason",
    "regarding",
    "related",
    "reportingController",
    "reportingInstance",
    "series",
    "type",
];

/// Fields that an update through `events.k8s.io/v1` must leave as they are.
const IMMUTABLE: [&str; 13] = [
    "regarding",
    "reason",
    "note",
    "deprecatedSource",
    "deprecatedFirstTimestamp",
    "deprecatedLastTimestamp",
    "deprecatedCount",
    "type",
    "eventTime",
    "action",
    "related",
    "reportingController",
    "reportingInstance",
];

/// The API server's limits on the lengths of an Event's strings.
const NOTE_MAX: usize = 1024;
const SHORT_MAX: usize = 128;

fn is_view(rt: &ResourceType) -> bool {
    std::ptr::eq(rt, &EVENTS_V1)
}

/// Renames the fields of `obj` from one version's names to the other's; a field that only the
/// target version names otherwise is dropped (the source version does not have it).
fn rename(obj: &Value, api_version: &str, to_core: bool) -> Value {
    let Some(fields) = obj.as_object() else {
        return obj.clone();
    };
    let mut out = Map::new();
    for (k, v) in fields {
        let renamed = RENAMED.iter().find_map(|(v1, core)| {
            let (from, to) = if to_core { (v1, core) } else { (core, v1) };
            (k == from).then_some(*to)
        });
        let foreign = RENAMED
            .iter()
            .any(|(v1, core)| k == if to_core { core } else { v1 });
        match renamed {
            Some(to) => {
                out.insert(to.to_string(), v.clone());
            }
            None if foreign => {}
            None => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out.insert("apiVersion".into(), json!(api_version));
    out.insert("kind".into(), json!("Event"));
    Value::Object(out)
}

/// A stored `core/v1` Event as `events.k8s.io/v1` shows it.
pub(crate) fn to_v1(core: &Value) -> Value {
    rename(core, "events.k8s.io/v1", false)
}

/// An `events.k8s.io/v1` Event as the store keeps it (`core/v1`).
pub(crate) fn to_core(v1: &Value) -> Value {
    rename(v1, "v1", true)
}

/// A stored object as a request for `rt` reads it.
pub(crate) fn read(rt: &ResourceType, stored: Arc<Value>) -> Arc<Value> {
    if is_view(rt) {
        Arc::new(to_v1(&stored))
    } else {
        stored
    }
}

/// Like [`read`], for an owned object.
pub(crate) fn read_value(rt: &ResourceType, stored: Value) -> Value {
    if is_view(rt) && !stored.is_null() {
        to_v1(&stored)
    } else {
        stored
    }
}

/// The object to store for `obj`, written through `rt` in namespace `ns`: validated and
/// converted for `events.k8s.io/v1` (against `old`, the stored object, on updates), else as is.
pub(crate) fn write(
    rt: &ResourceType,
    ns: &str,
    obj: Value,
    old: Option<&Value>,
) -> Result<Value, ApiError> {
    if !is_view(rt) || !obj.is_object() {
        return Ok(obj);
    }
    let mut errs = Vec::new();
    match old {
        None => check_create(&obj, &mut errs),
        Some(old) => check_update(&obj, &to_v1(old), &mut errs),
    }
    check_common(&obj, ns, &mut errs);
    if errs.is_empty() {
        Ok(to_core(&obj))
    } else {
        Err(ApiError::invalid(rt, crate::meta::name(&obj), &errs))
    }
}

fn present(obj: &Value, field: &str) -> bool {
    match obj.get(field) {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(n)) => n.as_i64() != Some(0),
        Some(Value::Object(o)) => o.values().any(|v| !v.is_null() && v != ""),
        Some(_) => true,
    }
}

fn str_of<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj[field].as_str().unwrap_or("")
}

/// What only a create checks: an event time, and the legacy fields unset.
fn check_create(obj: &Value, errs: &mut Vec<FieldError>) {
    if !present(obj, "eventTime") {
        errs.push(FieldError::required("eventTime"));
    }
    for field in [
        "deprecatedFirstTimestamp",
        "deprecatedLastTimestamp",
        "deprecatedCount",
        "deprecatedSource",
    ] {
        if present(obj, field) {
            errs.push(FieldError::invalid(field, &json!(""), "needs to be unset"));
        }
    }
}

/// What only an update checks: nothing but the series (and metadata) changes.
fn check_update(new: &Value, old: &Value, errs: &mut Vec<FieldError>) {
    for field in IMMUTABLE {
        let (n, o) = (&new[field], &old[field]);
        if n != o {
            errs.push(FieldError::invalid(field, n, "field is immutable"));
        }
    }
}

/// What both check: the type, the reporting fields, the lengths, the series and the namespace.
fn check_common(obj: &Value, ns: &str, errs: &mut Vec<FieldError>) {
    let type_ = str_of(obj, "type");
    if type_ != "Normal" && type_ != "Warning" {
        errs.push(FieldError::invalid(
            "type",
            &json!(""),
            &format!("has invalid value: {type_}"),
        ));
    }
    let controller = str_of(obj, "reportingController");
    if controller.is_empty() {
        errs.push(FieldError::required("reportingController"));
    } else if let Err(why) = crate::selector::check_label_key(controller) {
        errs.push(FieldError::invalid(
            "reportingController",
            &json!(controller),
            &why,
        ));
    }
    for (field, max) in [
        ("reportingInstance", SHORT_MAX),
        ("action", SHORT_MAX),
        ("reason", SHORT_MAX),
        ("note", NOTE_MAX),
    ] {
        let value = str_of(obj, field);
        if value.is_empty() && field != "note" {
            errs.push(FieldError::required(field));
        } else if value.len() > max {
            errs.push(FieldError::invalid(
                field,
                &json!(""),
                &format!("can have at most {max} characters"),
            ));
        }
    }
    if let Some(series) = obj.get("series").filter(|s| !s.is_null()) {
        if series["count"].as_i64().unwrap_or(0) < 2 {
            errs.push(FieldError::invalid(
                "series.count",
                &json!(""),
                "should be at least 2",
            ));
        }
        if !present(series, "lastObservedTime") {
            errs.push(FieldError::required("series.lastObservedTime"));
        }
    }
    // An Event about a cluster-scoped object lives in `default` (or `kube-system`).
    if str_of(&obj["regarding"], "namespace").is_empty() && ns != "default" && ns != "kube-system" {
        errs.push(FieldError::invalid(
            "regarding.namespace",
            &json!(""),
            "does not match event.namespace",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::EVENTS;

    fn v1() -> Value {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "infer"},
            "eventTime": "2025-01-01T00:00:00.000000Z",
            "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                          "namespace": "infer"},
            "reason": "Scaled", "note": "replicas 1 -> 2", "type": "Normal", "action": "Scale",
            "reportingController": "inferno-actuator", "reportingInstance": "pod-1",
        })
    }

    #[test]
    fn converts_both_ways() {
        let core = to_core(&v1());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["message"], "replicas 1 -> 2");
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["reportingComponent"], "inferno-actuator");
        assert_eq!(core["reportingInstance"], "pod-1");
        assert!(core.get("note").is_none() && core.get("regarding").is_none());
        assert_eq!(to_v1(&core), v1());
        // The legacy fields are the deprecated ones; a field of the other version is dropped.
        let legacy = json!({"metadata": {"name": "x"}, "count": 3, "source": {"component": "c"},
                            "firstTimestamp": "t", "note": "not a core field"});
        let seen = to_v1(&legacy);
        assert_eq!(seen["deprecatedCount"], 3);
        assert_eq!(seen["deprecatedSource"]["component"], "c");
        assert_eq!(seen["deprecatedFirstTimestamp"], "t");
        assert!(seen.get("note").is_none() && seen.get("count").is_none());
    }

    #[test]
    fn other_types_pass_through() {
        let obj = json!({"metadata": {"name": "x"}, "message": "m"});
        assert_eq!(write(&EVENTS, "default", obj.clone(), None).unwrap(), obj);
        assert_eq!(*read(&EVENTS, Arc::new(obj.clone())), obj);
    }

    #[test]
    fn validates_creates() {
        assert!(write(&EVENTS_V1, "infer", v1(), None).is_ok());
        let mut bad = v1();
        for field in ["eventTime", "reportingController", "action"] {
            bad.as_object_mut().unwrap().remove(field);
        }
        bad["type"] = json!("Info");
        bad["deprecatedCount"] = json!(1);
        bad["series"] = json!({"count": 1});
        bad["reason"] = json!("R".repeat(129));
        let e = write(&EVENTS_V1, "infer", bad, None).unwrap_err();
        assert_eq!(e.code, 422);
        let fields: Vec<&str> = e.details.as_ref().unwrap()["causes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["field"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "eventTime",
                "deprecatedCount",
                "type",
                "reportingController",
                "action",
                "reason",
                "series.count",
                "series.lastObservedTime"
            ]
        );
        assert!(e
            .message
            .starts_with("Event.events.k8s.io \"web.1\" is invalid"));
        // An Event about a cluster-scoped object belongs in `default`.
        let mut cluster = v1();
        cluster["regarding"]["namespace"] = json!("");
        assert!(write(&EVENTS_V1, "infer", cluster.clone(), None).is_err());
        assert!(write(&EVENTS_V1, "default", cluster, None).is_ok());
    }

    #[test]
    fn updates_change_only_the_series() {
        let old = to_core(&v1());
        let mut repeated = v1();
        repeated["series"] = json!({"count": 2, "lastObservedTime": "2025-01-01T00:01:00Z"});
        let stored = write(&EVENTS_V1, "infer", repeated.clone(), Some(&old)).unwrap();
        assert_eq!(stored["series"]["count"], 2);
        repeated["note"] = json!("another");
        let e = write(&EVENTS_V1, "infer", repeated, Some(&old)).unwrap_err();
        assert!(e
            .message
            .contains("note: Invalid value: \"another\": field is immutable"));
    }
}
