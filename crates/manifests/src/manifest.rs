//! Loading manifests: every YAML document of every `.yaml`/`.yml` file under a directory, as
//! JSON values with the file and position they came from. `kustomization.yaml` files are not
//! Kubernetes objects and are loaded apart ([`load_kustomization`]); YAML files that hold no
//! object at all (program data) are listed apart ([`Tree::other`]).

use crate::{Error, Result};
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One object of a manifest file.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The file it is in.
    pub file: PathBuf,
    /// Its position among the file's documents (0-based, empty documents not counted).
    pub index: usize,
    /// The object.
    pub value: Value,
}

/// File names that are kustomize configuration, not objects.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

impl Object {
    /// `apiVersion`, or "".
    pub fn api_version(&self) -> &str {
        self.value["apiVersion"].as_str().unwrap_or("")
    }

    /// `kind`, or "".
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or("")
    }

    /// `metadata.name`, or "".
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or("")
    }

    /// `metadata.namespace`, when set.
    pub fn namespace(&self) -> Option<&str> {
        self.value["metadata"]["namespace"].as_str()
    }

    /// `metadata.labels[key]`, when set and a string.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.value["metadata"]["labels"][key].as_str()
    }

    /// `Kind namespace/name` or `Kind name`, for messages.
    pub fn id(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{} {ns}/{}", self.kind(), self.name()),
            None => format!("{} {}", self.kind(), self.name()),
        }
    }

    /// Whether this is `kind` named `name` (in `namespace` when given).
    pub fn is(&self, kind: &str, namespace: Option<&str>, name: &str) -> bool {
        self.kind() == kind
            && self.name() == name
            && (namespace.is_none() || self.namespace() == namespace)
    }
}

/// The objects of one manifest text; `file` names it in errors and in the objects. `List`
/// kinds are not unpacked: the manifests here do not use them.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Object>> {
    let mut out = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(doc).map_err(|e| Error::Parse {
            path: file.to_path_buf(),
            message: e.to_string(),
        })?;
        if value.is_null() {
            continue;
        }
        if value.get("kind").is_none() {
            return Err(Error::Parse {
                path: file.to_path_buf(),
                message: format!(
                    "document {} is not a Kubernetes object (no kind)",
                    out.len()
                ),
            });
        }
        out.push(Object {
            file: file.to_path_buf(),
            index: out.len(),
            value,
        });
    }
    Ok(out)
}

/// The objects of one file.
pub fn load_file(path: &Path) -> Result<Vec<Object>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// The `.yaml`/`.yml` files under `dir` (recursively, sorted), kustomization files excepted.
pub fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| Error::Io {
            path: d.clone(),
            source,
        })?;
        for entry in entries {
            let path = entry
                .map_err(|source| Error::Io {
                    path: d.clone(),
                    source,
                })?
                .path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                dirs.push(path);
            } else if (name.ends_with(".yaml") || name.ends_with(".yml"))
                && !KUSTOMIZATION_FILES.contains(&name)
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// What a directory holds: Kubernetes objects, and YAML files that are not objects at all
/// (data for a program, such as the load emulator's phases: a list, or mappings without
/// `kind`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tree {
    /// The objects of the manifest files, in file order.
    pub objects: Vec<Object>,
    /// The other YAML files.
    pub other: Vec<PathBuf>,
}

/// Whether a YAML text holds Kubernetes objects: some document is a mapping with `kind`.
pub fn is_manifest(text: &str) -> bool {
    serde_yaml_ng::Deserializer::from_str(text)
        .any(|doc| Value::deserialize(doc).is_ok_and(|v| v.get("kind").is_some()))
}

/// Every YAML file under `dir`: the objects of the manifests (a file mixing objects and
/// other documents is an error), and the files that hold no object.
pub fn load_tree(dir: &Path) -> Result<Tree> {
    let mut tree = Tree::default();
    for f in yaml_files(dir)? {
        let text = std::fs::read_to_string(&f).map_err(|source| Error::Io {
            path: f.clone(),
            source,
        })?;
        if is_manifest(&text) {
            tree.objects.extend(parse(&text, &f)?);
        } else {
            tree.other.push(f);
        }
    }
    Ok(tree)
}

/// The objects of every manifest file under `dir`, in file order ([`load_tree`] without the
/// other files).
pub fn load_dir(dir: &Path) -> Result<Vec<Object>> {
    Ok(load_tree(dir)?.objects)
}

/// The kustomization of `dir`, when it has one: its file and content.
pub fn load_kustomization(dir: &Path) -> Result<Option<(PathBuf, Value)>> {
    for name in KUSTOMIZATION_FILES {
        let path = dir.join(name);
        if path.is_file() {
            let mut objects = load_file(&path)?;
            if objects.len() != 1 {
                return Err(Error::Parse {
                    path,
                    message: format!("expected one document, found {}", objects.len()),
                });
            }
            return Ok(Some((path, objects.remove(0).value)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_with_positions() {
        let text = "# comment only\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: b, namespace: a, labels: {x: \"1\"}}\n";
        let objs = parse(text, Path::new("f.yaml")).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(
            (objs[0].index, objs[0].id()),
            (0, "Namespace a".to_string())
        );
        assert_eq!(
            (objs[1].index, objs[1].id()),
            (1, "ServiceAccount a/b".to_string())
        );
        assert_eq!(objs[1].label("x"), Some("1"));
        assert!(objs[1].is("ServiceAccount", Some("a"), "b"));
        assert!(!objs[1].is("ServiceAccount", Some("c"), "b"));
        assert!(parse("- a\n- b\n", Path::new("l.yaml")).is_err());
        assert!(parse("a: [\n", Path::new("bad.yaml")).is_err());
        assert!(!is_manifest("# phases\n- {duration: 60, ratio: 1.0}\n"));
        assert!(!is_manifest("phases: []\n"));
        assert!(is_manifest(text));
    }
}
