//! What the loop learnt, kept across restarts in a ConfigMap (`--tuning-configmap`,
//! docs/tuning.md): a new controller (a restart, a new leader) resumes the tuned parameters
//! and start-up times instead of planning on the catalog again until it has re-learnt them.

use crate::policy::tuning::Persisted;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams};
use kube::Api;
use std::collections::BTreeMap;

/// The key of the ConfigMap that holds the state (JSON).
pub const KEY: &str = "tuning.json";

/// The field manager of the controller's writes.
const MANAGER: &str = "inferno-controller";

/// A ConfigMap the state is written to and read from.
#[derive(Clone)]
pub struct Store {
    api: Api<ConfigMap>,
    name: String,
    namespace: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "configmap {}/{}", self.namespace, self.name)
    }
}

impl Store {
    /// The ConfigMap `name` in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            namespace: namespace.into(),
        }
    }

    /// The persisted state; empty when the ConfigMap or its key does not exist yet. A state
    /// that cannot be read is an error naming the ConfigMap and key: the caller starts afresh
    /// and says so, it does not stop.
    pub async fn load(&self) -> Result<Vec<Persisted>, String> {
        let cm = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| format!("cannot read {self:?}: {e}"))?;
        let Some(text) = cm.and_then(|c| c.data).and_then(|d| d.get(KEY).cloned()) else {
            return Ok(Vec::new());
        };
        serde_json::from_str(&text).map_err(|e| format!("{self:?} key {KEY}: {e}"))
    }

    /// Writes `state` (server-side apply: created if missing, only our key owned).
    pub async fn save(&self, state: &[Persisted]) -> Result<(), String> {
        let text = serde_json::to_string_pretty(state).map_err(|e| e.to_string())?;
        let cm = ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/part-of".to_string(),
                    "inferno".to_string(),
                )])),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(KEY.to_string(), text)])),
            ..Default::default()
        };
        let patch = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": cm.metadata,
            "data": cm.data,
        });
        self.api
            .patch(
                &self.name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map(|_| ())
            .map_err(|e| format!("cannot write {self:?}: {e}"))
    }
}
