//! Discovery of managed Deployments (watch-backed cache, list as fallback) and their ready pods.

use futures::StreamExt;
use inferno_core::{Budget, Strategy};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};
use kube::runtime::{reflector, watcher, WatchStreamExt};
use std::collections::BTreeMap;
use std::time::Duration;
use tracing::warn;

/// A managed Deployment and its ready pods.
#[derive(Debug, Clone)]
pub struct Found {
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
    /// `metadata.creationTimestamp`: of two Deployments claiming one server name, the older keeps
    /// it.
    pub created: Option<k8s_openapi::jiff::Timestamp>,
    /// `spec.replicas`.
    pub desired: i64,
    /// Names of the pods that are Running, Ready and older than the startup delay.
    pub ready_pods: Vec<String>,
    /// When each of the ready pods started serving, by pod name ([`PodTimes`]).
    pub times: BTreeMap<String, PodTimes>,
    /// A rollout is under way ([`rolling`]).
    pub rolling: bool,
    /// `spec.strategy` ([`strategy`]).
    pub strategy: Strategy,
}

/// Finds managed Deployments in all namespaces or the given ones.
#[derive(Clone)]
pub struct Discovery {
    client: kube::Client,
    namespaces: Vec<String>,
    stores: Vec<reflector::Store<Deployment>>,
    startup_delay: Duration,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("namespaces", &self.namespaces)
            .finish_non_exhaustive()
    }
}

impl Discovery {
    /// Starts one watch-backed cache per namespace (one cluster-wide when `namespaces` is
    /// empty); the watch tasks run until the runtime stops.
    pub fn start(client: kube::Client, namespaces: Vec<String>, startup_delay: Duration) -> Self {
        let apis: Vec<Api<Deployment>> = if namespaces.is_empty() {
            vec![Api::all(client.clone())]
        } else {
            namespaces
                .iter()
                .map(|ns| Api::namespaced(client.clone(), ns))
                .collect()
        };
        let stores = apis
            .into_iter()
            .map(|api| {
                let (reader, writer) = reflector::store();
                let stream = reflector(
                    writer,
                    watcher(
                        api,
                        watcher::Config::default()
                            .labels(&inferno_core::contract::managed_selector()),
                    ),
                )
                .default_backoff()
                .touched_objects();
                tokio::spawn(async move {
                    futures::pin_mut!(stream);
                    while let Some(event) = stream.next().await {
                        if let Err(e) = event {
                            warn!(error = %e, "deployment watch error (retrying)");
                        }
                    }
                });
                reader
            })
            .collect();
        Self {
            client,
            namespaces,
            stores,
            startup_delay,
        }
    }

    /// Whether every cache has its initial list.
    fn ready(&self) -> bool {
        use futures::FutureExt;
        self.stores
            .iter()
            .all(|s| matches!(s.wait_until_ready().now_or_never(), Some(Ok(()))))
    }

    /// The managed Deployments, from the cache when it is ready, else by listing.
    pub async fn deployments(&self) -> Result<Vec<Deployment>, kube::Error> {
        let mut all: Vec<Deployment> = if self.ready() {
            self.stores
                .iter()
                .flat_map(|s| s.state())
                .map(|d| (*d).clone())
                .collect()
        } else {
            let params = ListParams::default().labels(&inferno_core::contract::managed_selector());
            let mut out = Vec::new();
            if self.namespaces.is_empty() {
                out.extend(
                    Api::<Deployment>::all(self.client.clone())
                        .list(&params)
                        .await?
                        .items,
                );
            } else {
                for ns in &self.namespaces {
                    out.extend(
                        Api::<Deployment>::namespaced(self.client.clone(), ns)
                            .list(&params)
                            .await?
                            .items,
                    );
                }
            }
            out
        };
        all.sort_by(|a, b| {
            (&a.metadata.namespace, &a.metadata.name)
                .cmp(&(&b.metadata.namespace, &b.metadata.name))
        });
        Ok(all)
    }

    /// Each managed Deployment with its ready pods.
    pub async fn find(&self) -> Result<Vec<Found>, kube::Error> {
        let mut found = Vec::new();
        for d in self.deployments().await? {
            let namespace = d.metadata.namespace.clone().unwrap_or_default();
            let name = d.metadata.name.clone().unwrap_or_default();
            let ready = self.ready_pods(&d, &namespace).await.unwrap_or_else(|e| {
                warn!(%namespace, %name, error = %e, "cannot list pods");
                Vec::new()
            });
            let ready_pods = ready.iter().map(|(p, _)| p.clone()).collect();
            found.push(Found {
                labels: d.metadata.labels.clone().unwrap_or_default(),
                uid: d.metadata.uid.clone().unwrap_or_default(),
                created: d.metadata.creation_timestamp.as_ref().map(|t| t.0),
                desired: d
                    .spec
                    .as_ref()
                    .and_then(|s| s.replicas)
                    .map_or(1, i64::from),
                namespace,
                name,
                ready_pods,
                times: ready.into_iter().collect(),
                rolling: rolling(&d),
                strategy: strategy(&d),
            });
        }
        Ok(found)
    }

    /// The ready pods of `d`, sorted by name, each with its [`PodTimes`].
    async fn ready_pods(
        &self,
        d: &Deployment,
        namespace: &str,
    ) -> Result<Vec<(String, PodTimes)>, kube::Error> {
        let Some(labels) = d
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.as_ref())
        else {
            return Ok(Vec::new());
        };
        let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let pods = Api::<Pod>::namespaced(self.client.clone(), namespace)
            .list(&ListParams::default().labels(&selector.join(",")))
            .await?;
        let now = k8s_openapi::jiff::Timestamp::now();
        let mut ready: Vec<(String, PodTimes)> = pods
            .items
            .into_iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none() && is_ready(p, now, self.startup_delay)
            })
            .filter_map(|p| {
                let times = PodTimes {
                    startup: startup_seconds(&p),
                    ready_for: ready_for(&p, now),
                };
                Some((p.metadata.name?, times))
            })
            .collect();
        ready.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(ready)
    }
}

/// Whether a rollout of `d` is under way, as `kubectl rollout status` reads it: its controller
/// has not yet observed the last change of the spec, or pods of an older template still run
/// (`status.replicas` above `status.updatedReplicas`), or fewer pods than desired have the
/// new one. A Deployment without a status (never seen by a controller) is not rolling: there
/// is nothing to tell.
pub fn rolling(d: &Deployment) -> bool {
    let Some(status) = &d.status else {
        return false;
    };
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let unseen = match (d.metadata.generation, status.observed_generation) {
        (Some(generation), Some(observed)) => observed < generation,
        _ => false,
    };
    unseen || status.replicas.unwrap_or(0) > updated || updated < desired
}

/// How `d` rolls out a new template, Kubernetes' defaults filled in (a rolling update, 25%
/// either way). The API server refuses a malformed budget; one that got past it anyway is
/// taken at the default, with a warning.
pub fn strategy(d: &Deployment) -> Strategy {
    let Some(s) = d.spec.as_ref().and_then(|s| s.strategy.as_ref()) else {
        return Strategy::default();
    };
    if s.type_.as_deref() == Some("Recreate") {
        return Strategy::Recreate;
    }
    let budget = |v: Option<&IntOrString>, field: &str| {
        let parsed = match v {
            None => Ok(Budget::Percent(25)),
            Some(IntOrString::Int(n)) if *n >= 0 => Ok(Budget::Pods(i64::from(*n))),
            Some(IntOrString::Int(n)) => Err(format!("{n} is negative")),
            Some(IntOrString::String(s)) => s.parse::<Budget>(),
        };
        parsed.unwrap_or_else(|e| {
            warn!(
                deployment = d.metadata.name.as_deref().unwrap_or_default(),
                field, error = %e, "taken at 25%"
            );
            Budget::Percent(25)
        })
    };
    let ru = s.rolling_update.as_ref();
    Strategy::Rolling {
        max_unavailable: budget(
            ru.and_then(|r| r.max_unavailable.as_ref()),
            "spec.strategy.rollingUpdate.maxUnavailable",
        ),
        max_surge: budget(
            ru.and_then(|r| r.max_surge.as_ref()),
            "spec.strategy.rollingUpdate.maxSurge",
        ),
    }
}

/// Running, Ready, and started at least `delay` ago.
pub fn is_ready(pod: &Pod, now: k8s_openapi::jiff::Timestamp, delay: Duration) -> bool {
    let Some(status) = &pod.status else {
        return false;
    };
    let running = status.phase.as_deref() == Some("Running");
    let ready = status
        .conditions
        .as_ref()
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let old_enough = status.start_time.as_ref().is_some_and(|t| {
        let age = now.duration_since(t.0);
        age.as_secs_f64() >= delay.as_secs_f64()
    });
    running && ready && old_enough
}

/// When a ready pod started serving, wall-clock seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PodTimes {
    /// How long it took to start ([`startup_seconds`]).
    pub startup: f64,
    /// How long it has been Ready ([`ready_for`]); None when not known.
    pub ready_for: Option<f64>,
}

/// How long `pod` has been Ready at `now`, wall-clock seconds: from the `lastTransitionTime` of
/// its `Ready=True` condition (whole seconds, so up to a second more than the truth). A ready
/// pod gets requests from then on, and its counters start then: the collector needs it to tell
/// a pod first scraped within a window from one that started within it. None without the
/// condition or its time; 0 when the time is after `now` (clocks apart).
pub fn ready_for(pod: &Pod, now: k8s_openapi::jiff::Timestamp) -> Option<f64> {
    let ready = ready_since(pod)?;
    Some(now.duration_since(ready).as_secs_f64().max(0.0))
}

/// The `lastTransitionTime` of `pod`'s `Ready=True` condition, if it has one.
fn ready_since(pod: &Pod) -> Option<k8s_openapi::jiff::Timestamp> {
    let ready = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?;
    Some(ready.last_transition_time.as_ref()?.0)
}

/// How long `pod` took to start, wall-clock seconds: from `metadata.creationTimestamp` to the
/// `lastTransitionTime` of its `Ready=True` condition, so scheduling, image pull and model load
/// all count, as they do for a scale-up. 0 when either time is missing, or when Ready comes
/// before creation: the two are written by different components (API server, kubelet) whose
/// clocks may disagree, and a negative start-up is no estimate. Both times have whole seconds
/// in Kubernetes, so the value is within a second of the truth. A pod that lost Ready and got
/// it back reads the time to its last return (the condition keeps only its last transition).
pub fn startup_seconds(pod: &Pod) -> f64 {
    let created = pod.metadata.creation_timestamp.as_ref();
    match (created, ready_since(pod)) {
        (Some(created), Some(ready)) => ready.duration_since(created.0).as_secs_f64().max(0.0),
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pod created at `created`, whose Ready condition has `status` since `ready`.
    fn pod(created: Option<&str>, ready: Option<&str>, status: &str) -> Pod {
        let mut p = serde_json::json!({
            "metadata": {"name": "p"},
            "status": {"phase": "Running", "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": created},
                {"type": "Ready", "status": status, "lastTransitionTime": ready},
            ]},
        });
        if let Some(t) = created {
            p["metadata"]["creationTimestamp"] = t.into();
        }
        serde_json::from_value(p).unwrap()
    }

    /// A Deployment of `desired` replicas at `generation`, with a status as its controller
    /// wrote it (None: no status).
    fn deployment(generation: i64, desired: i32, status: Option<serde_json::Value>) -> Deployment {
        let mut d = serde_json::json!({
            "metadata": {"name": "d", "generation": generation},
            "spec": {"replicas": desired, "selector": {}, "template": {}},
        });
        if let Some(st) = status {
            d["status"] = st;
        }
        serde_json::from_value(d).unwrap()
    }

    #[test]
    fn a_rollout_is_under_way_while_old_pods_run_or_the_change_is_unseen() {
        use serde_json::json;
        let done = json!({"observedGeneration": 3, "replicas": 4, "updatedReplicas": 4});
        assert!(!rolling(&deployment(3, 4, Some(done.clone()))));
        // Mid-rollout with maxSurge: 4 new pods (some starting) beside 2 old ones still ready.
        let mid = json!({"observedGeneration": 3, "replicas": 6, "updatedReplicas": 4});
        assert!(rolling(&deployment(3, 4, Some(mid))));
        // The template just changed: the controller has not seen generation 4 yet.
        assert!(rolling(&deployment(4, 4, Some(done))));
        // Fewer new pods than desired (maxUnavailable, old ones already gone).
        let short = json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 3});
        assert!(rolling(&deployment(3, 4, Some(short))));
        assert!(
            !rolling(&deployment(3, 4, None)),
            "no status: nothing to tell"
        );
    }

    #[test]
    fn a_strategy_is_read_with_the_defaults_kubernetes_fills_in() {
        use serde_json::json;
        let with = |spec: serde_json::Value| {
            let mut d = serde_json::to_value(deployment(1, 4, None)).unwrap();
            d["spec"]["strategy"] = spec;
            strategy(&serde_json::from_value(d).unwrap())
        };
        assert_eq!(strategy(&deployment(1, 4, None)), Strategy::default());
        assert_eq!(with(json!({"type": "Recreate"})), Strategy::Recreate);
        assert_eq!(
            with(json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}})),
            Strategy::Rolling {
                max_unavailable: Budget::Pods(0),
                max_surge: Budget::Percent(25),
            }
        );
        assert_eq!(
            with(json!({"rollingUpdate": {"maxUnavailable": "50%", "maxSurge": 2}})),
            Strategy::Rolling {
                max_unavailable: Budget::Percent(50),
                max_surge: Budget::Pods(2),
            }
        );
        // Past the API server's validation somehow: the default, not a refusal to collect.
        assert_eq!(
            with(json!({"rollingUpdate": {"maxUnavailable": "most"}})),
            Strategy::default()
        );
    }

    #[test]
    fn startup_is_creation_to_ready() {
        let created = Some("2026-03-01T10:00:00Z");
        let p = pod(created, Some("2026-03-01T10:02:05Z"), "True");
        assert_eq!(startup_seconds(&p), 125.0);
        // Unknown: no creation time, no Ready time, not Ready, no status at all.
        assert_eq!(
            startup_seconds(&pod(None, Some("2026-03-01T10:02:05Z"), "True")),
            0.0
        );
        assert_eq!(startup_seconds(&pod(created, None, "True")), 0.0);
        assert_eq!(
            startup_seconds(&pod(created, Some("2026-03-01T10:02:05Z"), "False")),
            0.0
        );
        let mut bare = p.clone();
        bare.status = None;
        assert_eq!(startup_seconds(&bare), 0.0);
        // Ready before creation (clocks of two components apart): no estimate.
        let p = pod(created, Some("2026-03-01T09:59:58Z"), "True");
        assert_eq!(startup_seconds(&p), 0.0);
    }

    #[test]
    fn ready_for_is_the_time_since_ready() {
        let created = Some("2026-03-01T10:00:00Z");
        let p = pod(created, Some("2026-03-01T10:02:05Z"), "True");
        let at = |t: &str| t.parse::<k8s_openapi::jiff::Timestamp>().unwrap();
        assert_eq!(ready_for(&p, at("2026-03-01T10:02:17Z")), Some(12.0));
        // A Ready time after now (clocks apart) is no negative age.
        assert_eq!(ready_for(&p, at("2026-03-01T10:02:00Z")), Some(0.0));
        assert_eq!(
            ready_for(&pod(created, None, "True"), at("2026-03-01T10:03:00Z")),
            None
        );
        let not_ready = pod(created, Some("2026-03-01T10:02:05Z"), "False");
        assert_eq!(ready_for(&not_ready, at("2026-03-01T10:03:00Z")), None);
    }
}
