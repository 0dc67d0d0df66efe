//! The `scale` subresource (`autoscaling/v1` `Scale`) of Deployments and ReplicaSets: GET,
//! PUT and PATCH, applied atomically to the owner's `spec.replicas`.

use super::{error_response, json_response, parse_body, AppState, Query};
use crate::error::{ApiError, FieldError};
use crate::meta;
use crate::patch::PatchType;
use crate::resource::ResourceType;
use crate::selector::LabelSelector;
use crate::store::{self, Subresource};
use axum::http::Method;
use axum::response::Response;
use serde_json::{json, Value};

static SCALE: ResourceType = ResourceType {
    group: "autoscaling",
    version: "v1",
    plural: "scale",
    singular: "scale",
    kind: "Scale",
    namespaced: true,
    short_names: &[],
    categories: &[],
    status: false,
    scale: false,
    generation: false,
};

/// The `Scale` view of a Deployment or ReplicaSet.
pub(crate) fn scale_of(obj: &Value) -> Value {
    let md = meta::metadata(obj);
    let selector = LabelSelector::from_object(&obj["spec"]["selector"])
        .map(|s| s.to_query())
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": md.get("name"),
            "namespace": md.get("namespace"),
            "uid": md.get("uid"),
            "resourceVersion": md.get("resourceVersion"),
            "creationTimestamp": md.get("creationTimestamp"),
        },
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(0)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0),
                   "selector": selector},
    })
}

/// Writes a changed `Scale` into its owner `obj`: validates replicas and carries the Scale's
/// resourceVersion over as the write's precondition (what a PUT of the subresource does; the
/// HPA controller writes through it too).
pub(crate) fn apply_scale(obj: &mut Value, scale: &Value) -> Result<(), ApiError> {
    let name = meta::name(obj).to_string();
    let replicas = &scale["spec"]["replicas"];
    let n = match replicas.as_i64() {
        Some(n) if n >= 0 => n,
        Some(_) => {
            return Err(ApiError::invalid(
                &SCALE,
                &name,
                &[FieldError::invalid(
                    "spec.replicas",
                    replicas,
                    "must be greater than or equal to 0",
                )],
            ))
        }
        None if replicas.is_null() => 0,
        None => {
            return Err(ApiError::invalid(
                &SCALE,
                &name,
                &[FieldError::invalid(
                    "spec.replicas",
                    replicas,
                    "must be an integer",
                )],
            ))
        }
    };
    obj["spec"]["replicas"] = json!(n);
    let rv = meta::meta_str(scale, "resourceVersion").to_string();
    meta::metadata_mut(obj).insert("resourceVersion".into(), json!(rv));
    Ok(())
}

/// GET, PUT and PATCH on `…/{plural}/{name}/scale`.
#[allow(clippy::too_many_arguments)]
pub(super) fn handle(
    state: &AppState,
    method: &Method,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    query: &Query,
    content_type: &str,
    body: &[u8],
) -> Response {
    let store = &state.store;
    let result = (|| match *method {
        Method::GET => store.get(rt, ns, name).map(|o| scale_of(&o)),
        Method::PUT => {
            let scale = parse_body(body, content_type)?;
            let dry_run = query.dry_run()?;
            let out = store.modify(rt, ns, name, Subresource::Main, dry_run, |obj| {
                apply_scale(obj, &scale)
            })?;
            Ok(scale_of(&out))
        }
        Method::PATCH => {
            let kind = PatchType::from_content_type(content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
            let patch = parse_body(body, content_type)?;
            let dry_run = query.dry_run()?;
            let out = store.modify(rt, ns, name, Subresource::Main, dry_run, |obj| {
                let mut scale = scale_of(obj);
                store::apply_patch(&mut scale, kind, &patch)?;
                apply_scale(obj, &scale)
            })?;
            tracing::info!(
                kind = rt.kind,
                namespace = ns,
                name,
                replicas = out["spec"]["replicas"].as_i64(),
                "scaled"
            );
            Ok(scale_of(&out))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    })();
    match result {
        Ok(v) => json_response(200, &v),
        Err(e) => error_response(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_view_and_write() {
        let mut d = json!({"metadata": {"name": "web", "namespace": "ns",
                                         "resourceVersion": "5"},
                           "spec": {"replicas": 2,
                                    "selector": {"matchLabels": {"app": "web"}}},
                           "status": {"replicas": 1}});
        let s = scale_of(&d);
        assert_eq!(s["spec"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=web");
        assert_eq!(s["metadata"]["resourceVersion"], "5");
        let mut s2 = s.clone();
        s2["spec"]["replicas"] = json!(4);
        apply_scale(&mut d, &s2).unwrap();
        assert_eq!(d["spec"]["replicas"], 4);
        s2["spec"]["replicas"] = json!(-4);
        let e = apply_scale(&mut d, &s2).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(e
            .message
            .starts_with("Scale.autoscaling \"web\" is invalid"));
    }
}
