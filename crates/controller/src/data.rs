//! The static data (accelerators, models, service classes, optimizer flags) and the dynamic data
//! (capacity), from a directory (the mounted ConfigMaps) or from the ConfigMaps themselves
//! through the API. A read that fails keeps the last good data and reports the problem.

use inferno_api::{
    check, parse_accelerators, parse_capacity, parse_models, parse_optimizer,
    parse_service_classes, FileNames, SystemSpec,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// File names inside the data directory / keys inside the ConfigMaps.
pub const STATIC_FILES: [&str; 4] = [
    "accelerator-data.json",
    "model-data.json",
    "serviceclass-data.json",
    "optimizer-data.json",
];
/// The dynamic file.
pub const CAPACITY_FILE: &str = "capacity-data.json";
/// ConfigMap holding the static files.
pub const STATIC_CONFIGMAP: &str = "inferno-static-data";
/// ConfigMap holding the capacity.
pub const DYNAMIC_CONFIGMAP: &str = "inferno-dynamic-data";

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
    async fn read(&self, files: &[&str]) -> Result<BTreeMap<String, (String, String)>, String> {
        let mut out = BTreeMap::new();
        match self {
            Self::Dir(dir) => {
                for f in files {
                    let path = dir.join(f);
                    let text = tokio::fs::read_to_string(&path)
                        .await
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
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
                        .map_err(|e| format!("cannot read configmap {namespace}/{cm}: {e}"))?
                        .ok_or_else(|| format!("configmap {namespace}/{cm} not found"))?;
                    let text = map
                        .data
                        .and_then(|d| d.get(*f).cloned())
                        .ok_or_else(|| format!("configmap {namespace}/{cm} has no key {f}"))?;
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
}

/// Reads and validates the static files (when `with_static`) and the capacity; on success
/// replaces the held data, on failure keeps it and returns the problem.
pub async fn refresh(
    source: &Source,
    data: &mut Data,
    with_static: bool,
) -> Result<Vec<String>, String> {
    let mut files: Vec<&str> = Vec::new();
    if with_static || data.spec.is_none() {
        files.extend(STATIC_FILES);
    }
    files.push(CAPACITY_FILE);
    let texts = source.read(&files).await?;
    let mut spec = data.spec.clone().unwrap_or_default();
    let mut labels = FileNames::default();
    for (file, (label, text)) in &texts {
        let err = |e: inferno_api::Error| e.to_string();
        match file.as_str() {
            "accelerator-data.json" => {
                spec.accelerator_data = parse_accelerators(text, label).map_err(err)?;
                labels.accelerators = label.clone();
            }
            "model-data.json" => {
                spec.model_data = parse_models(text, label).map_err(err)?;
                labels.models = label.clone();
            }
            "serviceclass-data.json" => {
                spec.service_class_data = parse_service_classes(text, label).map_err(err)?;
                labels.service_classes = label.clone();
            }
            "optimizer-data.json" => {
                spec.optimizer_data = parse_optimizer(text, label).map_err(err)?;
                labels.optimizer = label.clone();
            }
            _ => {
                spec.capacity_data = parse_capacity(text, label).map_err(err)?;
                labels.capacity = label.clone();
            }
        }
    }
    let loaded = check(spec, &labels).map_err(|e| e.to_string())?;
    data.spec = Some(loaded.spec);
    Ok(loaded.warnings.iter().map(ToString::to_string).collect())
}
