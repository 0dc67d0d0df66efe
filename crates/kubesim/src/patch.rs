//! The patch types of `PATCH` requests: JSON patch (RFC 6902) and JSON merge patch (RFC 7386),
//! applied by the `json-patch` crate; strategic merge patch (merge patch where known lists merge
//! by key, with the `$patch`, `$retainKeys`, `$setElementOrder` and `$deleteFromPrimitiveList`
//! directives kubectl sends), which that crate does not have, and server-side apply (treated as a
//! strategic merge of the applied configuration).

use ::json_patch::{PatchErrorKind, PatchOperation};
use serde::Deserialize;
use serde_json::Value;

/// The patch type named by a request's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// The patch type of a `Content-Type` header value.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or("").trim();
        match base {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// Applies an RFC 6902 JSON patch (an array of operations) to `doc`, all or nothing.
///
/// The operations are `json_patch`'s; the messages of a patch that does not apply are worded
/// as the API server's patch library words them (`replace operation does not apply: doc is
/// missing key: /metadata/labels/x`), which kubectl prints and callers match on.
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops
        .as_array()
        .ok_or("a JSON patch must be an array of operations")?
        .iter()
        .enumerate()
        .map(|(i, op)| {
            PatchOperation::deserialize(op).map_err(|e| format!("invalid operation {i}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    ::json_patch::patch(doc, &ops).map_err(|e| describe(&ops[e.operation], &e.kind))
}

/// The API server's wording of why `op` does not apply.
fn describe(op: &PatchOperation, kind: &PatchErrorKind) -> String {
    let path = op.path();
    match (op, kind) {
        (PatchOperation::Test(_), _) => format!("test operation failed at {path}"),
        (PatchOperation::Replace(_), PatchErrorKind::InvalidPointer) => {
            format!("replace operation does not apply: doc is missing key: {path}")
        }
        (PatchOperation::Move(m), PatchErrorKind::InvalidFromPointer) => format!(
            "move operation does not apply: doc is missing from path: {}",
            m.from
        ),
        (PatchOperation::Copy(c), PatchErrorKind::InvalidFromPointer) => format!(
            "copy operation does not apply: doc is missing from path: {}",
            c.from
        ),
        (PatchOperation::Move(m), PatchErrorKind::CannotMoveInsideItself) => format!(
            "move operation does not apply: cannot move {} into its own child {path}",
            m.from
        ),
        (_, PatchErrorKind::InvalidPointer) => {
            format!(
                "{} operation does not apply: doc is missing path: {path}",
                op_name(op)
            )
        }
        (_, other) => format!("{} operation at {path}: {other}", op_name(op)),
    }
}

fn op_name(op: &PatchOperation) -> &'static str {
    match op {
        PatchOperation::Add(_) => "add",
        PatchOperation::Remove(_) => "remove",
        PatchOperation::Replace(_) => "replace",
        PatchOperation::Move(_) => "move",
        PatchOperation::Copy(_) => "copy",
        PatchOperation::Test(_) => "test",
    }
}

/// Applies an RFC 7386 JSON merge patch: objects merge recursively, `null` deletes, anything
/// else (lists included) replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    ::json_patch::merge(target, patch);
}

/// The merge key of list `field` whose items look like `sample`, when the list merges by key.
fn merge_key(field: &str, sample: Option<&Value>) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "readinessGates" => "conditionType",
        "ports" => {
            if sample.is_some_and(|s| s.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ownerReferences" => "uid",
        "conditions" => "type",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

/// Lists of scalars that merge as sets.
fn is_primitive_merge_list(field: &str) -> bool {
    field == "finalizers"
}

/// Removes every `$`-directive from a patch value.
fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Applies a strategic merge patch to `target`.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") || !target.is_object() {
        *target = strip_directives(patch);
        return;
    }
    let t = target.as_object_mut().expect("checked above");
    let mut orders: Vec<(&str, &Vec<Value>)> = Vec::new();
    for (k, v) in p {
        if let Some(field) = k.strip_prefix("$setElementOrder/") {
            if let Some(order) = v.as_array() {
                orders.push((field, order));
            }
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(gone)) = (t.get_mut(field), v.as_array()) {
                list.retain(|x| !gone.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() || v.get("$patch").and_then(Value::as_str) == Some("delete") {
            t.remove(k);
            continue;
        }
        match (t.get_mut(k), v) {
            (Some(existing @ Value::Object(_)), Value::Object(_)) => strategic_merge(existing, v),
            (Some(Value::Array(existing)), Value::Array(items)) => {
                merge_list(k, existing, items);
            }
            _ => {
                // A new list still drops `$patch: delete` items.
                let mut fresh = Value::Array(Vec::new());
                if let (Value::Array(items), Value::Array(out)) = (v, &mut fresh) {
                    merge_list(k, out, items);
                    t.insert(k.clone(), fresh);
                } else {
                    t.insert(k.clone(), strip_directives(v));
                }
            }
        }
    }
    if let Some(keep) = p.get("$retainKeys").and_then(Value::as_array) {
        t.retain(|k, _| keep.iter().any(|x| x.as_str() == Some(k)));
    }
    for (field, order) in orders {
        if let Some(Value::Array(list)) = t.get_mut(field) {
            reorder(field, list, order);
        }
    }
}

fn merge_list(field: &str, existing: &mut Vec<Value>, items: &[Value]) {
    let key = merge_key(field, items.first().or(existing.first()));
    match key {
        Some(key) if items.iter().all(Value::is_object) => {
            // `$patch: replace` inside a keyed list replaces the whole list.
            if items.iter().any(|i| i["$patch"] == "replace") {
                *existing = items
                    .iter()
                    .filter(|i| i["$patch"] != "replace")
                    .map(strip_directives)
                    .collect();
                return;
            }
            for item in items {
                let id = &item[key];
                let pos = existing.iter().position(|e| &e[key] == id && !id.is_null());
                if item["$patch"] == "delete" {
                    if let Some(i) = pos {
                        existing.remove(i);
                    }
                    continue;
                }
                match pos {
                    Some(i) => strategic_merge(&mut existing[i], item),
                    None => existing.push(strip_directives(item)),
                }
            }
        }
        _ if is_primitive_merge_list(field) => {
            for item in items {
                if !existing.contains(item) {
                    existing.push(item.clone());
                }
            }
        }
        _ => *existing = items.iter().map(strip_directives).collect(),
    }
}

fn reorder(field: &str, list: &mut [Value], order: &[Value]) {
    let key = merge_key(field, list.first());
    let rank = |v: &Value| {
        order
            .iter()
            .position(|o| match key {
                Some(k) => o[k] == v[k],
                None => o == v,
            })
            .unwrap_or(usize::MAX)
    };
    // Stable: items the order does not mention keep their relative place at the end.
    list.sort_by_key(rank);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types() {
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchType::Merge)
        );
        assert_eq!(
            PatchType::from_content_type("application/json-patch+json"),
            Some(PatchType::Json)
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
    }

    #[test]
    fn json_patch_operations() {
        let mut doc = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1,
                             "list": [1, 2]}});
        json_patch(
            &mut doc,
            &json!([
                {"op": "replace", "path": "/spec/replicas", "value": 3},
                {"op": "add", "path": "/metadata/labels/inferno.server~1x", "value": "y"},
                {"op": "remove", "path": "/metadata/labels/a"},
                {"op": "add", "path": "/spec/list/-", "value": 3},
                {"op": "add", "path": "/spec/list/0", "value": 0},
                {"op": "test", "path": "/spec/list/3", "value": 3},
                {"op": "copy", "from": "/spec/replicas", "path": "/spec/copied"},
                {"op": "move", "from": "/spec/copied", "path": "/spec/moved"},
            ]),
        )
        .unwrap();
        assert_eq!(
            doc,
            json!({"metadata": {"labels": {"inferno.server/x": "y"}},
                   "spec": {"replicas": 3, "list": [0, 1, 2, 3], "moved": 3}})
        );
    }

    #[test]
    fn json_patch_failures_leave_reasons() {
        let doc = json!({"metadata": {"labels": {}}});
        for (ops, want) in [
            (
                json!([{"op": "replace", "path": "/metadata/labels/x", "value": "1"}]),
                "missing key",
            ),
            (json!([{"op": "remove", "path": "/spec/x"}]), "missing path"),
            (
                json!([{"op": "test", "path": "/metadata", "value": 1}]),
                "test",
            ),
            (
                json!([{"op": "add", "path": "/a/b", "value": 1}]),
                "missing path",
            ),
            (json!([{"op": "frobnicate", "path": "/a"}]), "unknown"),
            (json!({"op": "add"}), "array"),
            (
                json!([{"op": "add", "path": "/a"}]),
                "invalid operation 0: missing field `value`",
            ),
            (
                json!([{"op": "move", "from": "/x", "path": "/y"}]),
                "move operation does not apply: doc is missing from path: /x",
            ),
            (
                json!([{"op": "copy", "from": "/x", "path": "/y"}]),
                "copy operation does not apply: doc is missing from path: /x",
            ),
            (
                json!([{"op": "move", "from": "/metadata", "path": "/metadata/m"}]),
                "into its own child",
            ),
        ] {
            let err = json_patch(&mut doc.clone(), &ops).unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn a_json_patch_that_fails_changes_nothing() {
        let before = json!({"metadata": {"labels": {"a": "1"}}});
        let mut doc = before.clone();
        let err = json_patch(
            &mut doc,
            &json!([
                {"op": "add", "path": "/metadata/labels/b", "value": "2"},
                {"op": "test", "path": "/metadata/labels/a", "value": "other"},
            ]),
        )
        .unwrap_err();
        assert_eq!(err, "test operation failed at /metadata/labels/a");
        assert_eq!(doc, before);
    }

    #[test]
    fn merge_patch_rfc7386() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(
            &mut doc,
            &json!({"a": "z", "c": {"f": null, "h": 1}, "l": [3]}),
        );
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e", "h": 1}, "l": [3]}));
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut doc = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "b:1"}],
            "tolerations": [{"key": "t"}],
            "finalizers": ["x"]}});
        strategic_merge(
            &mut doc,
            &json!({"spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}],
                "containers": [
                    {"name": "a", "image": "a:2", "env": [{"name": "Y", "value": "2"}]},
                    {"name": "c", "image": "c:1"},
                    {"name": "b", "$patch": "delete"}],
                "tolerations": [{"key": "u"}],
                "finalizers": ["y"]}}),
        );
        assert_eq!(
            doc,
            json!({"spec": {"containers": [
                {"name": "a", "image": "a:2", "env": [{"name": "X", "value": "1"},
                                                      {"name": "Y", "value": "2"}]},
                {"name": "c", "image": "c:1"}],
                "tolerations": [{"key": "u"}],
                "finalizers": ["x", "y"]}})
        );
    }

    #[test]
    fn strategic_merge_directives() {
        let mut doc = json!({"metadata": {"labels": {"a": "1", "b": "2"}},
                             "spec": {"strategy": {"type": "RollingUpdate",
                                                   "rollingUpdate": {"maxSurge": 1}},
                                      "finalizers": ["x", "y"]}});
        strategic_merge(
            &mut doc,
            &json!({"metadata": {"labels": {"a": null, "c": "3"}},
                    "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                             "$deleteFromPrimitiveList/finalizers": ["x"]}}),
        );
        assert_eq!(
            doc,
            json!({"metadata": {"labels": {"b": "2", "c": "3"}},
                   "spec": {"strategy": {"type": "Recreate"}, "finalizers": ["y"]}})
        );
        let mut doc = json!({"data": {"a": "1"}});
        strategic_merge(&mut doc, &json!({"data": {"$patch": "replace", "b": "2"}}));
        assert_eq!(doc, json!({"data": {"b": "2"}}));
    }
}
