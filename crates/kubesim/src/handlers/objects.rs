//! The verbs on collections (list, watch, create, deletecollection) and on objects (get,
//! update, patch, delete, and the `status` subresource).

use super::{error_response, json_response, parse_body, AppState, Query};
use crate::error::ApiError;
use crate::meta;
use crate::patch::PatchType;
use crate::resource::ResourceType;
use crate::store::{DeleteOptions, Propagation, Subresource};
use crate::table;
use axum::http::Method;
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;

fn respond(result: Result<(u16, Value), ApiError>) -> Response {
    match result {
        Ok((code, v)) => json_response(code, &v),
        Err(e) => error_response(&e),
    }
}

fn not_allowed(method: &Method) -> ApiError {
    ApiError::method_not_allowed(format!(
        "the server does not allow this method on the requested resource ({method})"
    ))
}

/// Verbs on `/…/{plural}` and `/…/namespaces/{ns}/{plural}`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn collection(
    state: &AppState,
    method: &Method,
    rt: &'static ResourceType,
    ns: Option<String>,
    query: &Query,
    accept: &str,
    content_type: &str,
    body: &[u8],
) -> Response {
    match *method {
        Method::GET if query.flag("watch") => {
            crate::watch::serve(state, rt, ns, query, table::wants_table(accept))
        }
        Method::GET => respond(list(state, rt, ns.as_deref(), query, accept)),
        Method::POST if ns.is_some() || !rt.namespaced => respond(create(
            state,
            rt,
            ns.as_deref().unwrap_or(""),
            query,
            content_type,
            body,
        )),
        Method::DELETE => respond(delete_collection(state, rt, ns.as_deref(), query, body)),
        _ => error_response(&not_allowed(method)),
    }
}

fn encode_continue(obj: &Value) -> String {
    format!("{}\u{0}{}", meta::namespace(obj), meta::name(obj))
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_continue(token: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::bad_request("continue key is not valid");
    if !token.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Vec<u8> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let s = String::from_utf8(bytes).map_err(|_| bad())?;
    let (ns, name) = s.split_once('\u{0}').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

fn list(
    state: &AppState,
    rt: &'static ResourceType,
    ns: Option<&str>,
    query: &Query,
    accept: &str,
) -> Result<(u16, Value), ApiError> {
    let labels = query.labels()?;
    let fields = query.fields(rt)?;
    let (mut items, rv) = state.store.list(rt, ns, &labels, &fields);
    if let Some(token) = query.get("continue").filter(|t| !t.is_empty()) {
        let after = decode_continue(token)?;
        items
            .retain(|o| (meta::namespace(o), meta::name(o)) > (after.0.as_str(), after.1.as_str()));
    }
    let mut next = None;
    let mut remaining = 0;
    if let Some(limit) = query.number("limit")?.filter(|l| *l > 0) {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        if items.len() > limit {
            remaining = items.len() - limit;
            items.truncate(limit);
            next = items.last().map(|o| encode_continue(o));
        }
    }
    if table::wants_table(accept) {
        let include = query.get("includeObject").unwrap_or("Metadata");
        return Ok((200, table::table(rt, &items, rv, include, next.as_deref())));
    }
    let mut md = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = next {
        md["continue"] = json!(c);
        md["remainingItemCount"] = json!(remaining);
    }
    let items: Vec<Value> = items.iter().map(|o| (**o).clone()).collect();
    Ok((
        200,
        json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(), "metadata": md,
               "items": items}),
    ))
}

/// Rejects unknown fields when the request asks for `fieldValidation=Strict`.
fn strict(rt: &ResourceType, query: &Query, obj: &Value) -> Result<(), ApiError> {
    if query.get("fieldValidation") == Some("Strict") {
        crate::validate::check_known_fields(rt, obj)?;
    }
    Ok(())
}

/// Checks that a body's `apiVersion` and `kind`, when present, are those of `rt`.
pub(super) fn check_type(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    if !api_version.is_empty() && api_version != rt.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API \
             version ({})",
            rt.api_version()
        )));
    }
    let kind = obj["kind"].as_str().unwrap_or("");
    if !kind.is_empty() && kind != rt.kind {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    Ok(())
}

fn create(
    state: &AppState,
    rt: &'static ResourceType,
    ns: &str,
    query: &Query,
    content_type: &str,
    body: &[u8],
) -> Result<(u16, Value), ApiError> {
    let obj = parse_body(body, content_type)?;
    check_type(rt, &obj)?;
    strict(rt, query, &obj)?;
    let created = state.store.create(rt, ns, obj, query.dry_run()?)?;
    tracing::info!(
        kind = rt.kind,
        namespace = ns,
        name = meta::name(&created),
        "created"
    );
    Ok((201, created))
}

fn delete_options(query: &Query, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        parse_body(body, "application/json")?
    };
    let policy = body["propagationPolicy"]
        .as_str()
        .or(query.get("propagationPolicy"))
        .unwrap_or("Background");
    let propagation = match policy {
        "Background" | "" => Propagation::Background,
        "Foreground" => Propagation::Foreground,
        "Orphan" => Propagation::Orphan,
        other => {
            return Err(ApiError::bad_request(format!(
                "invalid propagationPolicy {other:?}"
            )))
        }
    };
    let grace_period_seconds =
        match (&body["gracePeriodSeconds"], query.get("gracePeriodSeconds")) {
            (Value::Null, None | Some("")) => None,
            (Value::Null, Some(q)) => Some(q.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("invalid gracePeriodSeconds: {q:?}"))
            })?),
            (v, _) => Some(v.as_i64().ok_or_else(|| {
                ApiError::bad_request(format!("invalid gracePeriodSeconds: {v}"))
            })?),
        };
    let orphan = body["orphanDependents"] == true || query.flag("orphanDependents");
    let dry_run = body["dryRun"]
        .as_array()
        .is_some_and(|d| d.iter().any(|x| x == "All"))
        || query.dry_run()?;
    Ok(DeleteOptions {
        propagation: if orphan {
            Propagation::Orphan
        } else {
            propagation
        },
        uid: body["preconditions"]["uid"].as_str().map(str::to_string),
        resource_version: body["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_string),
        dry_run,
        grace_period_seconds,
    })
}

fn delete_collection(
    state: &AppState,
    rt: &'static ResourceType,
    ns: Option<&str>,
    query: &Query,
    body: &[u8],
) -> Result<(u16, Value), ApiError> {
    let labels = query.labels()?;
    let fields = query.fields(rt)?;
    let opts = delete_options(query, body)?;
    let deleted = state
        .store
        .delete_collection(rt, ns, &labels, &fields, &opts);
    let rv = state.store.resource_version();
    Ok((
        200,
        json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(),
               "metadata": {"resourceVersion": rv.to_string()}, "items": deleted}),
    ))
}

/// Verbs on one object and its `status` subresource.
#[allow(clippy::too_many_arguments)]
pub(super) fn object(
    state: &AppState,
    method: &Method,
    rt: &'static ResourceType,
    ns: &str,
    name: &str,
    sub: Option<&str>,
    query: &Query,
    accept: &str,
    content_type: &str,
    body: &[u8],
) -> Response {
    let target = match sub {
        None => Subresource::Main,
        Some("status") if rt.status => Subresource::Status,
        Some(_) => return error_response(&ApiError::no_route()),
    };
    let store = &state.store;
    let result = match *method {
        Method::GET => store.get_arc(rt, ns, name).map(|o| {
            if table::wants_table(accept) {
                let include = query.get("includeObject").unwrap_or("Metadata");
                let rv = meta::resource_version(&o);
                (200, table::table(rt, &[o], rv, include, None))
            } else {
                (200, Arc::unwrap_or_clone(o))
            }
        }),
        Method::PUT => (|| {
            let obj = parse_body(body, content_type)?;
            check_type(rt, &obj)?;
            strict(rt, query, &obj)?;
            let out = store.update(rt, ns, name, obj, target, query.dry_run()?)?;
            Ok((200, out))
        })(),
        Method::PATCH => (|| {
            let kind = PatchType::from_content_type(content_type)
                .ok_or_else(|| ApiError::unsupported_media_type(content_type))?;
            let patch = parse_body(body, content_type)?;
            if kind == PatchType::Apply {
                check_type(rt, &patch)?;
            }
            if kind != PatchType::Json {
                strict(rt, query, &patch)?;
            }
            let existed = store.get_arc(rt, ns, name).is_ok();
            let out = store.patch(rt, ns, name, kind, &patch, target, query.dry_run()?)?;
            Ok((if existed { 200 } else { 201 }, out))
        })(),
        Method::DELETE if target == Subresource::Main => (|| {
            let opts = delete_options(query, body)?;
            let out = store.delete(rt, ns, name, &opts)?;
            tracing::info!(kind = rt.kind, namespace = ns, name, "deleted");
            Ok((200, out))
        })(),
        _ => Err(not_allowed(method)),
    };
    respond(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let o = json!({"metadata": {"namespace": "infer", "name": "web-1"}});
        let t = encode_continue(&o);
        assert_eq!(
            decode_continue(&t).unwrap(),
            ("infer".to_string(), "web-1".to_string())
        );
        assert!(decode_continue("zz").is_err());
        assert!(decode_continue("abc").is_err());
    }

    #[test]
    fn grace_period_from_query_or_body() {
        let q = Query::parse("gracePeriodSeconds=0");
        assert_eq!(
            delete_options(&q, b"").unwrap().grace_period_seconds,
            Some(0)
        );
        let body = br#"{"gracePeriodSeconds": 5, "propagationPolicy": "Background"}"#;
        let none = Query::default();
        assert_eq!(
            delete_options(&none, body).unwrap().grace_period_seconds,
            Some(5)
        );
        assert_eq!(
            delete_options(&none, b"").unwrap().grace_period_seconds,
            None
        );
        assert!(delete_options(&Query::parse("gracePeriodSeconds=x"), b"").is_err());
        assert!(delete_options(&none, br#"{"gracePeriodSeconds": "1"}"#).is_err());
    }
}
