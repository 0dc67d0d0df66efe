//! HTTP front: one axum fallback handler parses Kubernetes API paths into a [`Route`] and
//! dispatches by verb to discovery, the object handlers ([`objects`]), the scale subresource
//! ([`scale`]) and watches ([`crate::watch`]).

mod objects;
mod query;
pub(crate) mod scale;

pub(crate) use query::Query;

use crate::discovery;
use crate::error::ApiError;
use crate::openapi;
use crate::resource::{self, ResourceType};
use crate::store::Store;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What handlers share.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<Store>,
    /// Becomes `true` on shutdown; open watches end then.
    pub(crate) stop: watch::Receiver<bool>,
    pub(crate) bookmark_interval: Duration,
    pub(crate) server_address: String,
}

/// A parsed request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(String),
    GroupVersion(String, String),
    OpenApi(String),
    /// A collection: in namespace `ns`, or in all namespaces / cluster-scoped with `None`.
    Collection {
        rt: &'static ResourceType,
        ns: Option<String>,
    },
    /// One object, or one of its subresources.
    Object {
        rt: &'static ResourceType,
        ns: String,
        name: String,
        sub: Option<String>,
    },
}

/// Parses a request path.
pub(crate) fn parse_route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest): (&str, &str, &[&str]) = match segs.as_slice() {
        ["version"] => return Some(Route::Version),
        ["healthz" | "livez" | "readyz", ..] => return Some(Route::Health),
        ["openapi", ..] => return Some(Route::OpenApi(path.to_string())),
        ["api"] => return Some(Route::CoreVersions),
        ["apis"] => return Some(Route::Groups),
        ["apis", g] => return Some(Route::Group(g.to_string())),
        ["api", v, rest @ ..] => ("", v, rest),
        ["apis", g, v, rest @ ..] => (g, v, rest),
        _ => return None,
    };
    let find = |plural: &str| resource::find(group, version, plural);
    Some(match rest {
        [] => Route::GroupVersion(group.to_string(), version.to_string()),
        ["namespaces", ns, plural, tail @ ..] if find(plural).is_some_and(|r| r.namespaced) => {
            let rt = find(plural)?;
            match tail {
                [] => Route::Collection {
                    rt,
                    ns: Some(ns.to_string()),
                },
                [name] => Route::Object {
                    rt,
                    ns: ns.to_string(),
                    name: name.to_string(),
                    sub: None,
                },
                [name, sub] => Route::Object {
                    rt,
                    ns: ns.to_string(),
                    name: name.to_string(),
                    sub: Some(sub.to_string()),
                },
                _ => return None,
            }
        }
        [plural] => Route::Collection {
            rt: find(plural)?,
            ns: None,
        },
        [plural, name, tail @ ..] => {
            let rt = find(plural).filter(|r| !r.namespaced)?;
            let sub = match tail {
                [] => None,
                [sub] => Some(sub.to_string()),
                _ => return None,
            };
            Route::Object {
                rt,
                ns: String::new(),
                name: name.to_string(),
                sub,
            }
        }
    })
}

/// The axum router serving the whole API.
pub(crate) fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .fallback(dispatch)
        .layer(DefaultBodyLimit::max(16 << 20))
        .with_state(state)
}

/// A JSON response.
pub(crate) fn json_response(code: u16, body: &Value) -> Response {
    json_response_as(code, body, "application/json")
}

fn json_response_as(code: u16, body: &Value, content_type: &str) -> Response {
    let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        code,
        [(header::CONTENT_TYPE, content_type.to_string())],
        Body::from(body.to_string()),
    )
        .into_response()
}

/// A `Status` response for an error.
pub(crate) fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status())
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn dispatch(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let query = Query::parse(uri.query().unwrap_or(""));
    let accept = header_str(&headers, header::ACCEPT);
    let content_type = header_str(&headers, header::CONTENT_TYPE);
    let response = match parse_route(path) {
        None => error_response(&ApiError::no_route()),
        Some(route) => handle(&state, &method, route, &query, accept, content_type, &body).await,
    };
    tracing::debug!(%method, %uri, status = response.status().as_u16(), "request");
    response
}

async fn handle(
    state: &AppState,
    method: &Method,
    route: Route,
    query: &Query,
    accept: &str,
    content_type: &str,
    body: &[u8],
) -> Response {
    let get_only = |v: Option<Value>| match (method, v) {
        (&Method::GET, Some(v)) => json_response(200, &v),
        (&Method::GET, None) => error_response(&ApiError::no_route()),
        _ => error_response(&ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    };
    match route {
        Route::Version => get_only(Some(discovery::version())),
        Route::Health => (StatusCode::OK, "ok").into_response(),
        Route::OpenApi(path) => match openapi::document(&path) {
            Some(doc) if method == Method::GET => json_response(200, &doc),
            _ => error_response(&ApiError::no_route()),
        },
        Route::CoreVersions if discovery::wants_aggregated(accept) && method == Method::GET => {
            json_response_as(200, &discovery::aggregated(true), discovery::AGGREGATED_V2)
        }
        Route::Groups if discovery::wants_aggregated(accept) && method == Method::GET => {
            json_response_as(200, &discovery::aggregated(false), discovery::AGGREGATED_V2)
        }
        Route::CoreVersions => get_only(Some(discovery::core_versions(&state.server_address))),
        Route::Groups => get_only(Some(discovery::group_list())),
        Route::Group(g) => get_only(discovery::group(&g)),
        Route::GroupVersion(g, v) => get_only(discovery::resource_list(&g, &v)),
        Route::Collection { rt, ns } => {
            objects::collection(state, method, rt, ns, query, accept, content_type, body).await
        }
        Route::Object {
            rt,
            ns,
            name,
            sub: Some(sub),
        } if sub == "scale" && rt.scale => {
            scale::handle(state, method, rt, &ns, &name, query, content_type, body)
        }
        Route::Object { rt, ns, name, sub } => objects::object(
            state,
            method,
            rt,
            &ns,
            &name,
            sub.as_deref(),
            query,
            accept,
            content_type,
            body,
        ),
    }
}

/// Parses a request body: JSON, YAML when the content type says so, or the protobuf of the
/// few kinds [`crate::proto`] knows.
pub(crate) fn parse_body(body: &[u8], content_type: &str) -> Result<Value, ApiError> {
    if content_type.starts_with(crate::proto::CONTENT_TYPE) {
        return crate::proto::decode(body);
    }
    let yaml = content_type.contains("yaml");
    let parsed = if yaml {
        serde_yaml_ng::from_slice::<Value>(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        ApiError::bad_request(format!(
            "error decoding {}: {e}",
            if yaml { "YAML" } else { "JSON" }
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{DEPLOYMENTS, NAMESPACES, PODS};

    #[test]
    fn routes() {
        assert_eq!(parse_route("/version"), Some(Route::Version));
        assert_eq!(parse_route("/api"), Some(Route::CoreVersions));
        assert_eq!(
            parse_route("/apis/apps/v1"),
            Some(Route::GroupVersion("apps".into(), "v1".into()))
        );
        assert_eq!(
            parse_route("/api/v1/pods"),
            Some(Route::Collection {
                rt: &PODS,
                ns: None
            })
        );
        assert_eq!(
            parse_route("/apis/apps/v1/namespaces/infer/deployments/web/scale"),
            Some(Route::Object {
                rt: &DEPLOYMENTS,
                ns: "infer".into(),
                name: "web".into(),
                sub: Some("scale".into())
            })
        );
        assert_eq!(
            parse_route("/api/v1/namespaces/infer"),
            Some(Route::Object {
                rt: &NAMESPACES,
                ns: String::new(),
                name: "infer".into(),
                sub: None
            })
        );
        assert_eq!(
            parse_route("/api/v1/namespaces/infer/pods"),
            Some(Route::Collection {
                rt: &PODS,
                ns: Some("infer".into())
            })
        );
        assert_eq!(parse_route("/api/v1/pods/x"), None);
        assert_eq!(parse_route("/apis/batch/v1/jobs"), None);
        assert_eq!(parse_route("/nope"), None);
    }
}
