//! The static data (accelerators, models, service classes, optimizer flags) and the dynamic data
//! (capacity), from a directory (the mounted ConfigMaps) or from the ConfigMaps themselves
//! through the API. A read that fails keeps the last good data and reports the problem.
//! Unknown fields of the files in use are reported with every refresh and logged once.

use inferno_api::{
    check, parse_file, AcceleratorData, CapacityData, DataFile, FileNames, ModelData,
    OptimizerData, Problem, ServiceClassData, SystemSpec,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use tracing::warn;

/// File names inside the data directory / keys inside the ConfigMaps.
pub const STATIC_FILES: [&str; 4] = [
    "accelerator-data.json",
    "model-data.json",
    "serviceclass-data.json",
    "optimizer-data.json",
];
/// The dynamic file.
pub const CAPACITY_FILE: &str = "capacity-data.json";
/// The ConfigMaps holding the static files and the capacity (the Kubernetes contract).
pub use inferno_core::contract::{DYNAMIC_CONFIGMAP, STATIC_CONFIGMAP};

/// Why the data could not be read: names the file or the ConfigMap and key.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file of the data directory cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// The API did not answer for a ConfigMap.
    #[error("cannot read configmap {namespace}/{name}: {source}")]
    ConfigMap {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: &'static str,
        /// What the API said.
        #[source]
        source: kube::Error,
    },
    /// A ConfigMap does not exist.
    #[error("configmap {namespace}/{name} not found")]
    NoConfigMap {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: &'static str,
    },
    /// A ConfigMap lacks a file.
    #[error("configmap {namespace}/{name} has no key {key}")]
    NoKey {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: &'static str,
        /// The file name it should hold.
        key: String,
    },
    /// A file does not parse, or the data is inconsistent (the problems name the files).
    #[error(transparent)]
    Invalid(#[from] inferno_api::Error),
}

/// Where the data comes from.
#[derive(Clone)]
pub enum Source {
    /// A directory (trailing slash optional).
    Dir(PathBuf),
    /// The two ConfigMaps in a namespace, read through the API.
    ConfigMaps {
        /// Client.
        client: kube::Client,
        /// Namespace of the ConfigMaps.
        namespace: String,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(p) => write!(f, "Dir({})", p.display()),
            Self::ConfigMaps { namespace, .. } => write!(f, "ConfigMaps({namespace})"),
        }
    }
}

impl Source {
    /// The texts of `files`, keyed by file name, with the label errors should name.
    async fn read(&self, files: &[&str]) -> Result<BTreeMap<String, (String, String)>, DataError> {
        let mut out = BTreeMap::new();
        match self {
            Self::Dir(dir) => {
                for f in files {
                    let path = dir.join(f);
                    let text = match tokio::fs::read_to_string(&path).await {
                        Ok(text) => text,
                        Err(source) => return Err(DataError::File { path, source }),
                    };
                    out.insert(f.to_string(), (path.display().to_string(), text));
                }
            }
            Self::ConfigMaps { client, namespace } => {
                let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
                for f in files {
                    let cm = if *f == CAPACITY_FILE {
                        DYNAMIC_CONFIGMAP
                    } else {
                        STATIC_CONFIGMAP
                    };
                    let map = api
                        .get_opt(cm)
                        .await
                        .map_err(|source| DataError::ConfigMap {
                            namespace: namespace.clone(),
                            name: cm,
                            source,
                        })?
                        .ok_or_else(|| DataError::NoConfigMap {
                            namespace: namespace.clone(),
                            name: cm,
                        })?;
                    let text = map.data.and_then(|d| d.get(*f).cloned()).ok_or_else(|| {
                        DataError::NoKey {
                            namespace: namespace.clone(),
                            name: cm,
                            key: f.to_string(),
                        }
                    })?;
                    out.insert(
                        f.to_string(),
                        (format!("configmap {namespace}/{cm} key {f}"), text),
                    );
                }
            }
        }
        Ok(out)
    }
}

/// The data the controller holds between cycles.
#[derive(Debug, Clone, Default)]
pub struct Data {
    /// Last good static + dynamic data (servers empty).
    pub spec: Option<SystemSpec>,
    /// The unknown (ignored) fields of the files `spec` was read from, by file name.
    pub unknown: BTreeMap<String, Vec<Problem>>,
}

/// Parses one file, keeping its unknown fields under its name.
fn parse<T: DataFile>(
    file: &str,
    (label, text): &(String, String),
    unknown: &mut BTreeMap<String, Vec<Problem>>,
) -> Result<T, DataError> {
    let parsed = parse_file::<T>(text, label)?;
    unknown.insert(file.to_owned(), parsed.unknown);
    Ok(parsed.value)
}

/// The problems of `now` that `before` did not have: each is logged once, when it appears.
fn appeared<'a>(
    before: &BTreeMap<String, Vec<Problem>>,
    now: &'a BTreeMap<String, Vec<Problem>>,
) -> Vec<&'a Problem> {
    let before: HashSet<&Problem> = before.values().flatten().collect();
    now.values()
        .flatten()
        .filter(|p| !before.contains(p))
        .collect()
}

/// Reads and validates the static files (when `with_static`) and the capacity; on success
/// replaces the held data and returns its warnings (the unknown fields of every file in use,
/// then the validation warnings), on failure keeps it and returns the problem.
pub async fn refresh(
    source: &Source,
    data: &mut Data,
    with_static: bool,
) -> Result<Vec<String>, DataError> {
    let mut files: Vec<&str> = Vec::new();
    if with_static || data.spec.is_none() {
        files.extend(STATIC_FILES);
    }
    files.push(CAPACITY_FILE);
    let texts = source.read(&files).await?;
    let mut spec = data.spec.clone().unwrap_or_default();
    let mut labels = FileNames::default();
    let mut unknown = data.unknown.clone();
    for (file, read) in &texts {
        let u = &mut unknown;
        let label = read.0.clone();
        match file.as_str() {
            "accelerator-data.json" => {
                spec.accelerator_data = parse::<AcceleratorData>(file, read, u)?;
                labels.accelerators = label;
            }
            "model-data.json" => {
                spec.model_data = parse::<ModelData>(file, read, u)?;
                labels.models = label;
            }
            "serviceclass-data.json" => {
                spec.service_class_data = parse::<ServiceClassData>(file, read, u)?;
                labels.service_classes = label;
            }
            "optimizer-data.json" => {
                spec.optimizer_data = parse::<OptimizerData>(file, read, u)?;
                labels.optimizer = label;
            }
            _ => {
                spec.capacity_data = parse::<CapacityData>(file, read, u)?;
                labels.capacity = label;
            }
        }
    }
    let loaded = check(spec, &labels).map_err(|e| match e {
        // The unknown fields may well be the cause (a misspelt name is an empty name).
        inferno_api::Error::Invalid(problems) => {
            let all = unknown
                .values()
                .flatten()
                .cloned()
                .chain(problems)
                .collect();
            inferno_api::Error::Invalid(all)
        }
        e => e,
    })?;
    for p in appeared(&data.unknown, &unknown) {
        warn!(file = %p.file, entity = %p.entity, field = %p.field, "{}", p.message);
    }
    data.spec = Some(loaded.spec);
    data.unknown = unknown;
    let unknown = data.unknown.values().flatten();
    Ok(unknown
        .chain(&loaded.warnings)
        .map(ToString::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(file: &str, fields: &[&str]) -> (String, Vec<Problem>) {
        let problems = fields
            .iter()
            .map(|f| Problem::unknown_field((file, "optimizer", f), f, None, false))
            .collect();
        (file.to_owned(), problems)
    }

    #[tokio::test]
    async fn a_missing_file_is_named() {
        let dir = PathBuf::from("/nonexistent/inferno-data");
        let err = refresh(&Source::Dir(dir.clone()), &mut Data::default(), true)
            .await
            .unwrap_err();
        let path = dir.join(STATIC_FILES[0]);
        assert!(
            matches!(&err, DataError::File { path: p, .. } if *p == path),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("cannot read {}: ", path.display())),
            "{text}"
        );
    }

    #[test]
    fn unknown_fields_are_logged_when_they_appear() {
        let none = BTreeMap::new();
        let one: BTreeMap<_, _> = [unknown("o.json", &["a"])].into();
        let two: BTreeMap<_, _> = [unknown("o.json", &["a"]), unknown("c.json", &["b"])].into();
        let fields = |ps: Vec<&Problem>| ps.iter().map(|p| p.field.clone()).collect::<Vec<_>>();
        assert_eq!(fields(appeared(&none, &one)), ["a"]);
        assert_eq!(fields(appeared(&one, &one)), Vec::<String>::new());
        assert_eq!(fields(appeared(&one, &two)), ["b"]);
        assert_eq!(fields(appeared(&two, &one)), Vec::<String>::new());
        assert_eq!(fields(appeared(&none, &two)), ["b", "a"]);
    }
}
