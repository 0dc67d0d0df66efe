//! Manifests to preload: YAML (multi-document) or JSON files, `List` kinds unpacked.

use crate::error::{Error, Result};
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

/// The objects in one manifest text (`path` only names it in errors).
pub fn parse(text: &str, path: &str) -> Result<Vec<Value>> {
    let bad = |message: String| Error::Manifest {
        path: path.to_string(),
        message,
    };
    let mut docs = Vec::new();
    if text.trim_start().starts_with(['{', '[']) {
        docs.push(serde_json::from_str::<Value>(text).map_err(|e| bad(e.to_string()))?);
    } else {
        for doc in serde_yaml_ng::Deserializer::from_str(text) {
            let v = Value::deserialize(doc).map_err(|e| bad(e.to_string()))?;
            if !v.is_null() {
                docs.push(v);
            }
        }
    }
    let mut out = Vec::new();
    for doc in docs {
        unpack(doc, &mut out);
    }
    for obj in &out {
        if !obj["kind"].is_string() || !obj["apiVersion"].is_string() {
            return Err(bad("an object without kind or apiVersion".to_string()));
        }
    }
    Ok(out)
}

fn unpack(doc: Value, out: &mut Vec<Value>) {
    match doc {
        Value::Array(items) => items.into_iter().for_each(|i| unpack(i, out)),
        Value::Object(ref o)
            if o.get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && o.get("items").is_some_and(Value::is_array) =>
        {
            if let Some(Value::Array(items)) = doc.get("items").cloned() {
                items.into_iter().for_each(|i| unpack(i, out));
            }
        }
        other => out.push(other),
    }
}

/// The objects of every `.yaml`, `.yml` and `.json` file in `dir` (sorted by file name),
/// Namespaces first so that the objects in them can be created.
pub fn load_dir(dir: &Path) -> Result<Vec<Value>> {
    let io = |context: String| move |source| Error::Io { context, source };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(format!("reading {}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(io(format!("reading {}", f.display())))?;
        out.extend(parse(&text, &f.display().to_string())?);
    }
    out.sort_by_key(|o| o["kind"] != "Namespace");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_yaml_and_lists() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\n\
                    apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  \
                    metadata: {name: c}\n";
        let objs = parse(text, "x.yaml").unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[1]["kind"], "ConfigMap");
        let objs = parse(r#"{"apiVersion": "v1", "kind": "Namespace"}"#, "x.json").unwrap();
        assert_eq!(objs.len(), 1);
        assert!(parse("kind: Pod\n", "x.yaml").is_err());
        assert!(parse("a: [", "x.yaml").is_err());
    }
}
