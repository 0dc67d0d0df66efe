//! A minimal OpenAPI v3 (`/openapi/v3` and one document per group version): the write
//! operations of every type with their `x-kubernetes-group-version-kind` and the
//! `fieldValidation` query parameter. kubectl reads this to learn that the server validates
//! fields itself (otherwise `create`/`apply` insist on downloading full schemas). The patch
//! operations do not list the strategic merge patch type, so `kubectl apply` computes its patch
//! from its built-in types. No `/openapi/v2`: kubectl falls back cleanly without it.

use crate::resource::{self, ResourceType};
use serde_json::{json, Map, Value};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn group_versions() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for r in resource::ALL {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

fn operation(rt: &ResourceType, verb: &str, content_types: &[&str]) -> Value {
    let content: Map<String, Value> = content_types
        .iter()
        .map(|ct| (ct.to_string(), json!({"schema": {"type": "object"}})))
        .collect();
    json!({
        "operationId": format!("{verb}{}", rt.kind),
        "x-kubernetes-action": verb,
        "x-kubernetes-group-version-kind":
            {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "parameters": [
            {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
        ],
        "requestBody": {"content": content, "required": true},
        "responses": {"200": {"description": "OK"}},
    })
}

fn document_for(group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    for rt in resource::of_group_version(group, version) {
        let base = if rt.namespaced {
            format!(
                "/{}/namespaces/{{namespace}}/{}",
                gv_path(group, version),
                rt.plural
            )
        } else {
            format!("/{}/{}", gv_path(group, version), rt.plural)
        };
        paths.insert(
            base.clone(),
            json!({"post": operation(rt, "post", &["application/json", "application/yaml"])}),
        );
        paths.insert(
            format!("{base}/{{name}}"),
            json!({
                "put": operation(rt, "put", &["application/json", "application/yaml"]),
                "patch": operation(rt, "patch", &["application/json-patch+json",
                    "application/merge-patch+json", "application/apply-patch+yaml"]),
            }),
        );
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    })
}

/// The document at `path` (`/openapi/v3` or `/openapi/v3/apis/apps/v1`), if served.
pub(crate) fn document(path: &str) -> Option<Value> {
    let rest = path.trim_matches('/').strip_prefix("openapi/v3")?;
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        let paths: Map<String, Value> = group_versions()
            .into_iter()
            .map(|(g, v)| {
                let p = gv_path(g, v);
                (
                    p.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=kubesim")}),
                )
            })
            .collect();
        return Some(json!({"paths": paths}));
    }
    group_versions()
        .into_iter()
        .find(|(g, v)| gv_path(g, v) == rest)
        .map(|(g, v)| document_for(g, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_group_documents() {
        let root = document("/openapi/v3").unwrap();
        assert_eq!(
            root["paths"]["apis/apps/v1"]["serverRelativeURL"],
            "/openapi/v3/apis/apps/v1?hash=kubesim"
        );
        let apps = document("/openapi/v3/apis/apps/v1").unwrap();
        let patch =
            &apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        assert!(patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
        assert!(document("/openapi/v3/api/v1").unwrap()["paths"]
            .get("/api/v1/namespaces/{name}")
            .is_some());
        assert!(document("/openapi/v2").is_none());
        assert!(document("/openapi/v3/apis/batch/v1").is_none());
    }
}
