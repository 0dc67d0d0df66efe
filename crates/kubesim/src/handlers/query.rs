//! Query parameters of API requests (`labelSelector`, `watch`, `resourceVersion`, `limit`,
//! `dryRun`, ...), percent-decoded.

use crate::error::ApiError;
use crate::resource::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use std::collections::HashMap;

/// Decoded query parameters; a repeated parameter keeps its last value.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query(HashMap<String, String>);

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Query {
    /// Parses a raw query string.
    pub(crate) fn parse(raw: &str) -> Self {
        Self(
            raw.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (percent_decode(k), percent_decode(v))
                })
                .collect(),
        )
    }

    /// A parameter's value.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A boolean parameter (`true`/`1`).
    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }

    /// `labelSelector`.
    pub(crate) fn labels(&self) -> Result<LabelSelector, ApiError> {
        LabelSelector::parse(self.get("labelSelector").unwrap_or(""))
    }

    /// `fieldSelector` for objects of `rt`.
    pub(crate) fn fields(&self, rt: &ResourceType) -> Result<FieldSelector, ApiError> {
        FieldSelector::parse(self.get("fieldSelector").unwrap_or(""), rt)
    }

    /// `dryRun=All`.
    pub(crate) fn dry_run(&self) -> Result<bool, ApiError> {
        match self.get("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "invalid dry run option {other:?}: only \"All\" is supported"
            ))),
        }
    }

    /// A non-negative integer parameter.
    pub(crate) fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid {key}: {v:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        let q = Query::parse(
            "labelSelector=inferno.server.managed%3Dtrue%2Capp+in+%28a%29&watch=1&limit=500&x=%zz",
        );
        assert_eq!(
            q.get("labelSelector"),
            Some("inferno.server.managed=true,app in (a)")
        );
        assert!(q.flag("watch"));
        assert_eq!(q.number("limit").unwrap(), Some(500));
        assert_eq!(q.get("x"), Some("%zz"));
        assert!(Query::parse("limit=x").number("limit").is_err());
        assert_eq!(q.labels().unwrap().0.len(), 2);
        assert!(!Query::parse("").dry_run().unwrap());
        assert!(Query::parse("dryRun=All").dry_run().unwrap());
    }
}
