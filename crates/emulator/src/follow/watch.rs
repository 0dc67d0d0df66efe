//! Watch-backed caches of managed Deployments and of pods (kube-rs reflectors), one pair per
//! namespace or one cluster-wide pair; every change wakes the reconciler.

use crate::labels;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Resource;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::warn;

/// The caches and the tasks feeding them; dropping it stops the watches.
pub(crate) struct Watches {
    deployments: Vec<Store<Deployment>>,
    pods: Vec<Store<Pod>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Watches {
    /// Starts the watches on the current runtime; `changed` is notified after every event.
    pub(crate) fn start(
        client: &kube::Client,
        namespaces: &[String],
        changed: Arc<Notify>,
    ) -> Self {
        let mut w = Self {
            deployments: Vec::new(),
            pods: Vec::new(),
            tasks: Vec::new(),
        };
        let scopes: Vec<Option<&str>> = if namespaces.is_empty() {
            vec![None]
        } else {
            namespaces.iter().map(|n| Some(n.as_str())).collect()
        };
        for ns in scopes {
            let managed = watcher::Config::default().labels(&labels::managed_selector());
            let (store, task) = cache::<Deployment>(api(client, ns), managed, changed.clone());
            w.deployments.push(store);
            w.tasks.push(task);
            let (store, task) =
                cache::<Pod>(api(client, ns), watcher::Config::default(), changed.clone());
            w.pods.push(store);
            w.tasks.push(task);
        }
        w
    }

    /// Whether every cache holds its initial list.
    pub(crate) fn ready(&self) -> bool {
        let ready =
            |r: Option<Result<(), reflector::store::WriterDropped>>| matches!(r, Some(Ok(())));
        self.deployments
            .iter()
            .all(|s| ready(s.wait_until_ready().now_or_never()))
            && self
                .pods
                .iter()
                .all(|s| ready(s.wait_until_ready().now_or_never()))
    }

    /// The cached Deployments and pods.
    pub(crate) fn snapshot(&self) -> (Vec<Arc<Deployment>>, Vec<Arc<Pod>>) {
        (
            self.deployments.iter().flat_map(Store::state).collect(),
            self.pods.iter().flat_map(Store::state).collect(),
        )
    }
}

impl Drop for Watches {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn api<K>(client: &kube::Client, ns: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// A reflector over `api`, driven by a task that notifies `changed` on every event.
fn cache<K>(
    api: Api<K>,
    config: watcher::Config,
    changed: Arc<Notify>,
) -> (Store<K>, JoinHandle<()>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(writer, watcher(api, config)).default_backoff();
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => changed.notify_one(),
                Err(e) => warn!(kind = %K::kind(&K::DynamicType::default()), error = %e,
                    "watch error (retrying)"),
            }
        }
    });
    (reader, task)
}
