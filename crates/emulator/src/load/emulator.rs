//! [`LoadEmulator`]: lists the managed Deployments, computes each one's next load labels and
//! writes them with a conditional merge patch, retrying with fresh state until the write lands.

use super::noise::{Draws, Noise};
use super::walk::{next_labels, skew_factors, Memory, Params};
use super::LoadConfig;
use crate::error::{Error, Result};
use crate::labels;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams, Patch, PatchParams};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use tracing::{info, warn};

/// Field manager of the emulator's label writes.
pub const FIELD_MANAGER: &str = "inferno-load-emulator";

/// First pause before retrying a failed write; doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);
/// Longest pause between retries.
const RETRY_MAX: Duration = Duration::from_secs(2);

/// The labels written to one Deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The labels the patch set (load labels, and nominal labels recorded on first sight).
    pub labels: BTreeMap<String, String>,
}

/// What one update did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepReport {
    /// Index of the update (0 for the first).
    pub step: u64,
    /// Phase multiplier of the nominal RPM (revert mode).
    pub multiplier: f64,
    /// Deployments written, by namespace and name.
    pub written: Vec<Written>,
    /// Writes that failed and were retried with fresh state.
    pub retries: u32,
    /// Deployments that vanished (or stopped being managed) before they could be written.
    pub gone: Vec<String>,
    /// Deployments whose write failed for good (e.g. 403, 422), with the error.
    pub failed: Vec<(String, String)>,
}

/// The load emulator: a Kubernetes client, the walk's configuration, and per-Deployment noise
/// streams and memory.
pub struct LoadEmulator {
    client: kube::Client,
    config: LoadConfig,
    step: u64,
    noise: BTreeMap<(String, String), Noise>,
    memory: BTreeMap<(String, String), Memory>,
}

impl std::fmt::Debug for LoadEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadEmulator")
            .field("config", &self.config)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

fn key_of(d: &Deployment) -> (String, String) {
    (
        d.metadata.namespace.clone().unwrap_or_default(),
        d.metadata.name.clone().unwrap_or_default(),
    )
}

fn is_managed(d: &Deployment) -> bool {
    d.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(labels::MANAGED))
        .is_some_and(|v| v == "true")
}

/// Whether a failed call may succeed when repeated: conflicts, throttling, server errors and
/// transport errors.
fn retryable(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 409 || s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

enum Outcome {
    Written(BTreeMap<String, String>),
    Unchanged,
    Gone,
    Failed(String),
}

impl LoadEmulator {
    /// An emulator over `client`; fails if the configuration is invalid.
    pub fn new(client: kube::Client, config: LoadConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            client,
            config,
            step: 0,
            noise: BTreeMap::new(),
            memory: BTreeMap::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LoadConfig {
        &self.config
    }

    /// How many updates were made (the index of the next one).
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Lists the managed Deployments and updates each (see [`LoadEmulator::step_from`]).
    pub async fn step(&mut self) -> Result<StepReport> {
        let params = ListParams::default().labels(&labels::managed_selector());
        let mut listed = Vec::new();
        let scopes: Vec<Api<Deployment>> = if self.config.namespaces.is_empty() {
            vec![Api::all(self.client.clone())]
        } else {
            self.config
                .namespaces
                .iter()
                .map(|ns| Api::namespaced(self.client.clone(), ns))
                .collect()
        };
        for api in scopes {
            match api.list(&params).await {
                Ok(list) => listed.extend(list.items),
                Err(source) => {
                    self.step += 1;
                    return Err(Error::Kube {
                        context: "listing managed deployments".into(),
                        source,
                    });
                }
            }
        }
        Ok(self.step_from(listed).await)
    }

    /// One update of the given Deployments as they were listed (possibly stale): the next
    /// labels are computed from each object and written with a merge patch of
    /// `metadata.labels` conditional on its `resourceVersion`. A conflict, throttling, server
    /// or transport error re-reads the Deployment and recomputes from the fresh labels with
    /// the same draws, until the write lands; only a Deployment that is gone (or no longer
    /// managed) or an error no retry can fix ends it. Nothing is created or deleted.
    pub async fn step_from(&mut self, listed: Vec<Deployment>) -> StepReport {
        let mut listed: Vec<Deployment> = listed
            .into_iter()
            .filter(is_managed)
            .filter(|d| {
                self.config.namespaces.is_empty()
                    || self
                        .config
                        .namespaces
                        .iter()
                        .any(|ns| Some(ns) == d.metadata.namespace.as_ref())
            })
            .collect();
        listed.sort_by_key(key_of);
        listed.dedup_by_key(|d| key_of(d));
        let step = self.step;
        self.step += 1;
        let t = step as f64 * self.config.interval.as_secs_f64();
        let multiplier = self.config.phases.multiplier(t);
        let seed = self.config.seed;
        let draws: Vec<Draws> = listed
            .iter()
            .map(|d| {
                let (ns, name) = key_of(d);
                self.noise
                    .entry((ns.clone(), name.clone()))
                    .or_insert_with(|| Noise::new(seed, &ns, &name))
                    .next_draws()
            })
            .collect();
        let u: Vec<f64> = draws.iter().map(|d| d.skew).collect();
        let skews = skew_factors(&u, self.config.skew);
        let params = Params {
            mode: self.config.mode,
            alpha: self.config.alpha,
            theta: self.config.theta,
        };
        let jobs = listed
            .into_iter()
            .zip(draws)
            .zip(skews)
            .map(|((d, draws), skew)| {
                let key = key_of(&d);
                let memory = self.memory.remove(&key).unwrap_or_default();
                let api: Api<Deployment> = Api::namespaced(self.client.clone(), &key.0);
                async move {
                    let mut memory = memory;
                    let mut retries = 0;
                    let outcome = update_one(
                        &api,
                        d,
                        &mut memory,
                        params,
                        &draws,
                        multiplier,
                        skew,
                        &mut retries,
                    )
                    .await;
                    (key, memory, outcome, retries)
                }
            });
        let results = futures::future::join_all(jobs).await;
        let mut report = StepReport {
            step,
            multiplier,
            ..StepReport::default()
        };
        for ((ns, name), memory, outcome, retries) in results {
            report.retries += retries;
            let id = format!("{ns}/{name}");
            match outcome {
                Outcome::Written(labels) => {
                    self.memory.insert((ns.clone(), name.clone()), memory);
                    report.written.push(Written {
                        namespace: ns,
                        name,
                        labels,
                    });
                }
                Outcome::Unchanged => {
                    self.memory.insert((ns, name), memory);
                }
                Outcome::Gone => report.gone.push(id),
                Outcome::Failed(e) => {
                    self.memory.insert((ns, name), memory);
                    report.failed.push((id, e));
                }
            }
        }
        report
    }

    /// Updates at once, then every interval, until `shutdown` completes; with `once`, updates
    /// once and returns (an error if a listing or a write failed).
    pub async fn run(mut self, once: bool, shutdown: impl Future<Output = ()>) -> Result<()> {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(self.config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = &mut shutdown => return Ok(()),
            }
            let report = tokio::select! {
                r = self.step() => r,
                () = &mut shutdown => return Ok(()),
            };
            match report {
                Ok(r) => {
                    for w in &r.written {
                        info!(deployment = %format!("{}/{}", w.namespace, w.name),
                            labels = ?w.labels, "load labels written");
                    }
                    for (d, e) in &r.failed {
                        warn!(deployment = %d, error = %e, "load labels not written");
                    }
                    info!(
                        step = r.step,
                        multiplier = r.multiplier,
                        retries = r.retries,
                        "{} deployment(s) updated",
                        r.written.len()
                    );
                    if once && !r.failed.is_empty() {
                        return Err(Error::LoadUpdate(format!(
                            "{} deployment(s) not updated: {}",
                            r.failed.len(),
                            r.failed
                                .iter()
                                .map(|(d, e)| format!("{d}: {e}"))
                                .collect::<Vec<_>>()
                                .join("; ")
                        )));
                    }
                }
                Err(e) if once => return Err(e),
                Err(e) => warn!(error = %e, "update skipped"),
            }
            if once {
                return Ok(());
            }
        }
    }
}

/// Writes the next labels of one Deployment, retrying with fresh state.
#[allow(clippy::too_many_arguments)]
async fn update_one(
    api: &Api<Deployment>,
    listed: Deployment,
    memory: &mut Memory,
    params: Params,
    draws: &Draws,
    multiplier: f64,
    skew: f64,
    retries: &mut u32,
) -> Outcome {
    let name = listed.metadata.name.clone().unwrap_or_default();
    let mut current = listed;
    let mut pause = RETRY_FIRST;
    loop {
        if !is_managed(&current) {
            return Outcome::Gone;
        }
        let uid = current.metadata.uid.clone().unwrap_or_default();
        if memory.uid != uid {
            *memory = Memory {
                uid,
                ..Memory::default()
            };
        }
        let labels = current.metadata.labels.clone().unwrap_or_default();
        let next = next_labels(params, &labels, memory, draws, multiplier, skew);
        if !next.missing.is_empty() {
            warn!(deployment = %name, missing = ?next.missing, "load labels missing; not created");
        }
        let changes: BTreeMap<String, String> = next
            .labels
            .into_iter()
            .filter(|(k, v)| labels.get(k) != Some(v))
            .collect();
        if changes.is_empty() {
            return Outcome::Unchanged;
        }
        let body = serde_json::json!({
            "metadata": {
                "resourceVersion": current.metadata.resource_version,
                "labels": changes,
            }
        });
        let patch_params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        let error = match api.patch(&name, &patch_params, &Patch::Merge(&body)).await {
            Ok(_) => return Outcome::Written(changes),
            Err(e) if is_not_found(&e) => return Outcome::Gone,
            Err(e) if retryable(&e) => e,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        // Re-read until the Deployment is readable again, then recompute from its labels.
        let mut error = error;
        loop {
            *retries += 1;
            warn!(deployment = %name, error = %error, retry = *retries,
                "label write failed; retrying with fresh state");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_MAX);
            match api.get_opt(&name).await {
                Ok(Some(d)) => {
                    current = d;
                    break;
                }
                Ok(None) => return Outcome::Gone,
                Err(e) if retryable(&e) => error = e,
                Err(e) => return Outcome::Failed(e.to_string()),
            }
        }
    }
}
