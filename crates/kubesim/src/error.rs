//! Errors: [`ApiError`] is what a request fails with and becomes a Kubernetes `Status` object;
//! [`Error`] is what the library API fails with.

use crate::resource::ResourceType;
use serde_json::{json, Value};

/// A failed API request, rendered as a `Status` object with the HTTP code of a real API server.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason} ({code}): {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// `Status.reason` (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `BadRequest`, ...).
    pub reason: &'static str,
    /// Human-readable message, worded as a real API server words it.
    pub message: String,
    /// `Status.details`, when the error is about one object.
    pub details: Option<Value>,
}

/// One field error of an `Invalid` (422) response.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Path of the field (`spec.replicas`).
    pub field: String,
    /// What is wrong, e.g. `Invalid value: -1: must be greater than or equal to 0`.
    pub message: String,
    /// Cause type (`FieldValueInvalid`, `FieldValueRequired`, ...).
    pub reason: &'static str,
}

impl FieldError {
    /// A `FieldValueInvalid` cause.
    pub fn invalid(field: &str, value: &Value, detail: &str) -> Self {
        let shown = match value {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        Self {
            field: field.to_string(),
            message: format!("Invalid value: {shown}: {detail}"),
            reason: "FieldValueInvalid",
        }
    }

    /// A `FieldValueRequired` cause.
    pub fn required(field: &str) -> Self {
        Self {
            field: field.to_string(),
            message: "Required value".to_string(),
            reason: "FieldValueRequired",
        }
    }

    /// A `FieldValueNotSupported` cause: `value` is not one of `supported`.
    pub fn not_supported(field: &str, value: &Value, supported: &[&str]) -> Self {
        let shown = match value {
            Value::String(s) => format!("{s:?}"),
            other => other.to_string(),
        };
        let list: Vec<String> = supported.iter().map(|v| format!("{v:?}")).collect();
        Self {
            field: field.to_string(),
            message: format!(
                "Unsupported value: {shown}: supported values: {}",
                list.join(", ")
            ),
            reason: "FieldValueNotSupported",
        }
    }

    /// A `FieldValueForbidden` cause.
    pub fn forbidden(field: &str, detail: &str) -> Self {
        Self {
            field: field.to_string(),
            message: format!("Forbidden: {detail}"),
            reason: "FieldValueForbidden",
        }
    }
}

fn details(rt: &ResourceType, name: &str) -> Value {
    let mut d = json!({ "name": name, "kind": rt.plural });
    if !rt.group.is_empty() {
        d["group"] = json!(rt.group);
    }
    d
}

impl ApiError {
    /// 404 for a missing object.
    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        Self {
            code: 404,
            reason: "NotFound",
            message: format!("{} {name:?} not found", rt.qualified_plural()),
            details: Some(details(rt, name)),
        }
    }

    /// 404 for a path that names no resource.
    pub fn no_route() -> Self {
        Self {
            code: 404,
            reason: "NotFound",
            message: "the server could not find the requested resource".to_string(),
            details: Some(json!({})),
        }
    }

    /// 409 on create when the name is taken.
    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        Self {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{} {name:?} already exists", rt.qualified_plural()),
            details: Some(details(rt, name)),
        }
    }

    /// 403 for a request the cluster refuses (e.g. creating in a terminating namespace).
    pub fn forbidden(rt: &ResourceType, name: &str, why: &str) -> Self {
        Self {
            code: 403,
            reason: "Forbidden",
            message: format!("{} {name:?} is forbidden: {why}", rt.qualified_plural()),
            details: Some(details(rt, name)),
        }
    }

    /// 409 when a resourceVersion or uid precondition fails.
    pub fn conflict(rt: &ResourceType, name: &str) -> Self {
        Self {
            code: 409,
            reason: "Conflict",
            message: format!(
                "Operation cannot be fulfilled on {} {name:?}: the object has been modified; \
                 please apply your changes to the latest version and try again",
                rt.qualified_plural()
            ),
            details: Some(details(rt, name)),
        }
    }

    /// 422 with field causes.
    pub fn invalid(rt: &ResourceType, name: &str, causes: &[FieldError]) -> Self {
        let list: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        let qualified = if rt.group.is_empty() {
            rt.kind.to_string()
        } else {
            format!("{}.{}", rt.kind, rt.group)
        };
        let message = if list.len() == 1 {
            format!("{qualified} {name:?} is invalid: {}", list[0])
        } else {
            format!("{qualified} {name:?} is invalid: [{}]", list.join(", "))
        };
        let mut d = json!({
            "name": name,
            "kind": rt.kind,
            "causes": causes.iter().map(|c| json!({
                "reason": c.reason, "message": c.message, "field": c.field,
            })).collect::<Vec<_>>(),
        });
        if !rt.group.is_empty() {
            d["group"] = json!(rt.group);
        }
        Self {
            code: 422,
            reason: "Invalid",
            message,
            details: Some(d),
        }
    }

    /// 400 for a malformed request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
            details: None,
        }
    }

    /// 405 for a verb the path does not support.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self {
            code: 405,
            reason: "MethodNotAllowed",
            message: message.into(),
            details: None,
        }
    }

    /// 415 for a patch type kubesim does not know.
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self {
            code: 415,
            reason: "UnsupportedMediaType",
            message: format!("the body of the request was in an unknown format: {content_type}"),
            details: None,
        }
    }

    /// 410 for a watch from a resourceVersion older than the kept history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self {
            code: 410,
            reason: "Expired",
            message: message.into(),
            details: None,
        }
    }

    /// 500 for a broken invariant.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: 500,
            reason: "InternalError",
            message: message.into(),
            details: None,
        }
    }

    /// The `Status` object a real API server sends.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            status["details"] = d.clone();
        }
        status
    }
}

/// What the library API fails with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding, reading or writing failed.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A manifest could not be parsed.
    #[error("{path}: {message}")]
    Manifest {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A setting of [`crate::Config`] (or its command-line flag) is invalid.
    #[error("{setting}: {message}")]
    Config {
        /// The setting (`time_scale`, `startup[1]`, `--startup`, ...).
        setting: String,
        /// What is wrong with it.
        message: String,
    },
    /// prometheus-adapter's configuration (the HPA controller's rules) could not be read or
    /// used.
    #[error("prometheus-adapter configuration {path}: {message}")]
    AdapterConfig {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The API refused an object (e.g. a preloaded manifest).
    #[error("{context}: {source}")]
    Api {
        /// Which object.
        context: String,
        /// The API error.
        #[source]
        source: ApiError,
    },
}

/// Result of the library API.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{DEPLOYMENTS, PODS};

    #[test]
    fn statuses_are_worded_like_the_api_server() {
        let s = ApiError::not_found(&DEPLOYMENTS, "web").to_status();
        assert_eq!(s["message"], "deployments.apps \"web\" not found");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"]["group"], "apps");
        let s = ApiError::already_exists(&PODS, "p").to_status();
        assert_eq!(s["message"], "pods \"p\" already exists");
        assert!(s["details"].get("group").is_none());
        let e = ApiError::invalid(
            &DEPLOYMENTS,
            "web",
            &[FieldError::invalid(
                "spec.replicas",
                &json!(-1),
                "must be greater than or equal to 0",
            )],
        );
        assert_eq!(
            e.message,
            "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be \
             greater than or equal to 0"
        );
        assert_eq!(e.code, 422);
    }
}
