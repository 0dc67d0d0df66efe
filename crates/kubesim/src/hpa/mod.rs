//! kubesim's HorizontalPodAutoscaler controller (off unless [`crate::Config::hpa`] is set): every
//! sync period it reconciles each `autoscaling/v2` HPA as kube-controller-manager's HPA
//! controller does, with External metrics served the way prometheus-adapter serves them, from a
//! real Prometheus through the adapter's own rules file: discovery of the series the rules
//! expose, the rule's query with the HPA's selector and namespace, the replica count
//! (`ceil(sum / averageValue)` for an `AverageValue` target), the tolerance, `behavior`
//! (stabilization windows and scaling policies), `minReplicas`/`maxReplicas`; then the target's
//! `spec.replicas` through the scale subresource's logic, the HPA's status (current and desired
//! replicas, current metrics, conditions `AbleToScale`, `ScalingActive`, `ScalingLimited`) and
//! the Events the real controller writes.
//!
//! # Layout
//! `spec` (the API server's defaults and checks of the resource), `adapter` (the
//! prometheus-adapter rules: discovery, the query of one metric), `prometheus` (the Prometheus
//! HTTP API), `replicas` (the count one metric asks for), `behavior` (stabilization and
//! policies), `quantity` (Kubernetes quantities in thousandths); this file: the settings and the
//! controller loop.

mod adapter;
mod behavior;
mod prometheus;
mod quantity;
mod replicas;
pub(crate) mod spec;

pub use adapter::AdapterRules;

use crate::controller::{record_event, stopped, Clock};
use crate::handlers::scale::{apply_scale, scale_of};
use crate::meta;
use crate::resource::{self, HORIZONTAL_POD_AUTOSCALERS, PODS};
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Store, Subresource};
use crate::{Error, Result};
use adapter::Discovered;
use behavior::{Behavior, History};
use prometheus::PrometheusApi;
use replicas::Tolerance;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The component the HPA controller's Events name.
const COMPONENT: &str = "horizontal-pod-autoscaler";

/// Settings of the HPA controller. Times are cluster time.
#[derive(Debug, Clone)]
pub struct HpaConfig {
    /// Base URL of the Prometheus HTTP API the rules are evaluated against
    /// (`http://127.0.0.1:9090`): the one prometheus-adapter would be given.
    pub prometheus: String,
    /// The external rules of prometheus-adapter's configuration ([`AdapterRules::load`]).
    pub rules: AdapterRules,
    /// How often every HPA is reconciled: kube-controller-manager's
    /// `--horizontal-pod-autoscaler-sync-period` (default 15 s).
    pub sync_period: Duration,
    /// How far from 1 the usage ratio may be before the HPA acts:
    /// `--horizontal-pod-autoscaler-tolerance` (default 0.1).
    pub tolerance: f64,
    /// The scale-down stabilization window of an HPA whose `behavior` gives none:
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (default 300 s).
    pub downscale_stabilization: Duration,
}

impl HpaConfig {
    /// Settings with kube-controller-manager's defaults.
    pub fn new(prometheus: impl Into<String>, rules: AdapterRules) -> Self {
        Self {
            prometheus: prometheus.into(),
            rules,
            sync_period: Duration::from_secs(15),
            tolerance: 0.1,
            downscale_stabilization: Duration::from_secs(300),
        }
    }

    /// Refuses settings the controller cannot run with.
    pub(crate) fn check(&self) -> Result<()> {
        let fail = |setting: &str, message: String| {
            Err(Error::Config {
                setting: format!("hpa.{setting}"),
                message,
            })
        };
        if !(self.prometheus.starts_with("http://") || self.prometheus.starts_with("https://")) {
            return fail(
                "prometheus",
                format!(
                    "must be an http:// or https:// URL, not {:?}",
                    self.prometheus
                ),
            );
        }
        if self.sync_period.is_zero() {
            return fail("sync_period", "must be > 0".into());
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return fail(
                "tolerance",
                format!("must be a finite number >= 0, not {}", self.tolerance),
            );
        }
        Ok(())
    }
}

/// Why a metric gave no replica count (the message of condition `ScalingActive=False`).
#[derive(Debug, thiserror::Error)]
pub(crate) enum MetricError {
    /// Prometheus could not be reached or refused the query.
    #[error("Prometheus at {url}: {message}")]
    Prometheus {
        /// The URL called.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The rules expose no such metric, or cannot build its query.
    #[error("{0}")]
    Adapter(String),
    /// The query gave no sample (the real HPA's words).
    #[error("no metrics returned from external metrics API")]
    NoMetrics,
}

/// What one HPA's controller keeps between syncs.
#[derive(Debug, Default)]
struct State {
    history: History,
    /// The last warning recorded as an Event (reason, message), so that a lasting failure
    /// is one Event, not one per sync.
    last_warning: Option<(String, String)>,
}

/// The conditions of an HPA's status, each keeping its `lastTransitionTime` while its status
/// stays the same.
struct Conditions {
    old: Vec<Value>,
    new: Vec<Value>,
}

impl Conditions {
    fn new(status: &Value) -> Self {
        Self {
            old: status["conditions"].as_array().cloned().unwrap_or_default(),
            new: Vec::new(),
        }
    }

    fn set(&mut self, kind: &str, status: bool, reason: &str, message: String) {
        let status = if status { "True" } else { "False" };
        let since = self
            .old
            .iter()
            .find(|c| c["type"] == kind && c["status"] == status)
            .map_or_else(|| json!(meta::now()), |c| c["lastTransitionTime"].clone());
        self.new.retain(|c| c["type"] != kind);
        self.new.push(json!({"type": kind, "status": status,
            "lastTransitionTime": since, "reason": reason, "message": message}));
    }

    /// The conditions in the real controller's order, the ones not set this time as they were.
    fn into_value(self) -> Value {
        let mut out = Vec::new();
        for kind in ["AbleToScale", "ScalingActive", "ScalingLimited"] {
            let c = self.new.iter().chain(&self.old).find(|c| c["type"] == kind);
            out.extend(c.cloned());
        }
        Value::Array(out)
    }
}

/// The replica count the metrics ask for, or why there is none.
struct MetricsOutcome {
    /// The highest count of the valid metrics; `None` when every metric failed, or some
    /// failed and the others would scale down.
    replicas: Option<i64>,
    /// The metric that asked for it (`external metric NAME(SELECTOR)`).
    metric: String,
    /// One status per metric (`{"type": ""}` for a failed one, as the real controller leaves
    /// it).
    statuses: Vec<Value>,
    /// The first failure: its condition reason and message.
    failure: Option<(String, String)>,
}

/// The HPA controller task.
#[derive(Debug)]
pub(crate) struct HpaController {
    store: Arc<Store>,
    clock: Clock,
    config: HpaConfig,
    api: PrometheusApi,
    started: Instant,
    /// By HPA uid.
    states: HashMap<String, State>,
}

fn selector_text(sel: &Value) -> String {
    if sel.is_null() {
        return String::new();
    }
    LabelSelector::from_object(sel)
        .map(|s| s.to_query())
        .unwrap_or_else(|_| sel.to_string())
}

impl HpaController {
    /// A controller of the HPAs of `store` (settings checked by the caller).
    pub(crate) fn new(store: Arc<Store>, clock: Clock, config: HpaConfig) -> Result<Self> {
        let api = PrometheusApi::new(&config.prometheus).map_err(|e| Error::Config {
            setting: "hpa.prometheus".into(),
            message: e.to_string(),
        })?;
        Ok(Self {
            store,
            clock,
            config,
            api,
            started: Instant::now(),
            states: HashMap::new(),
        })
    }

    /// Reconciles every HPA each sync period until `stop` turns true.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        tracing::info!(prometheus = self.api.base(), "hpa controller running");
        let period = self.clock.wall(self.config.sync_period.as_secs_f64());
        loop {
            tokio::select! {
                () = self.sync() => {}
                () = stopped(&mut stop) => return,
            }
            tokio::select! {
                () = tokio::time::sleep(period) => {}
                () = stopped(&mut stop) => return,
            }
        }
    }

    /// Cluster seconds since the controller started.
    fn now(&self) -> f64 {
        self.clock.cluster(self.started.elapsed())
    }

    async fn sync(&mut self) {
        let (hpas, _) = self.store.list(
            &HORIZONTAL_POD_AUTOSCALERS,
            None,
            &LabelSelector::default(),
            &FieldSelector::default(),
        );
        self.states
            .retain(|uid, _| hpas.iter().any(|h| meta::uid_of(h) == uid));
        if hpas.is_empty() {
            return;
        }
        let discovered = self
            .config
            .rules
            .discover(&self.api, meta::now_secs_f64())
            .await;
        for hpa in hpas {
            self.reconcile(&hpa, &discovered).await;
        }
    }

    /// Records a Warning Event unless it repeats the last one of this HPA.
    fn warn(&mut self, hpa: &Value, reason: &str, message: &str) {
        let state = self
            .states
            .entry(meta::uid_of(hpa).to_string())
            .or_default();
        let this = (reason.to_string(), message.to_string());
        if state.last_warning.as_ref() == Some(&this) {
            return;
        }
        state.last_warning = Some(this);
        tracing::warn!(
            namespace = meta::namespace(hpa),
            hpa = meta::name(hpa),
            reason,
            "{message}"
        );
        record_event(
            &self.store,
            hpa,
            "Warning",
            reason,
            message.to_string(),
            COMPONENT,
        );
    }

    /// Writes `status` (with `observedGeneration`) as the HPA's status; a write that changes
    /// nothing is no change, so a steady HPA is quiet.
    fn write_status(&self, hpa: &Value, status: Value) {
        let generation = hpa["metadata"]["generation"].clone();
        let written = self.store.modify(
            &HORIZONTAL_POD_AUTOSCALERS,
            meta::namespace(hpa),
            meta::name(hpa),
            Subresource::Status,
            false,
            |o| {
                let mut status = status;
                if !generation.is_null() {
                    status["observedGeneration"] = generation;
                }
                o["status"] = status;
                Ok(())
            },
        );
        if let Err(e) = written {
            tracing::debug!(error = %e, hpa = meta::name(hpa), "hpa status not written");
        }
    }

    async fn reconcile(&mut self, hpa: &Value, discovered: &Discovered) {
        let (ns, name) = (meta::namespace(hpa), meta::name(hpa));
        let spec = &hpa["spec"];
        let old_status = &hpa["status"];
        let mut conditions = Conditions::new(old_status);
        let target = &spec["scaleTargetRef"];
        let (kind, target_name) = (
            target["kind"].as_str().unwrap_or_default(),
            target["name"].as_str().unwrap_or_default(),
        );
        let api_version = target["apiVersion"].as_str().unwrap_or_default();
        let rt = resource::by_kind(api_version, kind).filter(|rt| rt.scale);
        let scaled = match rt {
            None => Err(format!(
                "no scale subresource for kind {kind:?} in {api_version:?} (kubesim scales \
                 Deployments and ReplicaSets)"
            )),
            Some(rt) => self
                .store
                .get(rt, ns, target_name)
                .map(|obj| (rt, obj))
                .map_err(|e| e.message),
        };
        let (rt, target_obj) = match scaled {
            Ok(found) => found,
            Err(why) => {
                let message = format!(
                    "the HPA controller was unable to get the target's current scale: {why}"
                );
                conditions.set("AbleToScale", false, "FailedGetScale", message.clone());
                self.warn(hpa, "FailedGetScale", &message);
                let mut status = old_status.clone();
                if !status.is_object() {
                    status = json!({"currentReplicas": 0, "desiredReplicas": 0});
                }
                status["conditions"] = conditions.into_value();
                self.write_status(hpa, status);
                return;
            }
        };
        let scale = scale_of(&target_obj);
        let current = scale["spec"]["replicas"].as_i64().unwrap_or(0);
        let status_replicas = scale["status"]["replicas"].as_i64().unwrap_or(0);
        let pod_selector = scale["status"]["selector"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        conditions.set(
            "AbleToScale",
            true,
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale".into(),
        );
        let min = spec["minReplicas"].as_i64().unwrap_or(1);
        let max = spec["maxReplicas"].as_i64().unwrap_or(min);
        let behavior = Behavior::from_spec(
            &spec["behavior"],
            self.config.downscale_stabilization.as_secs_f64(),
        );
        let now = self.now();
        let mut statuses = Vec::new();
        let mut reason = String::new();
        let (desired, rescale) = if current == 0 && min != 0 {
            conditions.set(
                "ScalingActive",
                false,
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero".into(),
            );
            (0, false)
        } else if current > max {
            reason = "Current number of replicas above Spec.MaxReplicas".into();
            (max, true)
        } else if current < min {
            reason = "Current number of replicas below Spec.MinReplicas".into();
            (min, true)
        } else {
            let outcome = self
                .metrics(hpa, current, status_replicas, &pod_selector, discovered)
                .await;
            statuses = outcome.statuses;
            let Some(metric_replicas) = outcome.replicas else {
                let (why, message) = outcome.failure.unwrap_or_else(|| {
                    (
                        "InvalidMetricSourceType".into(),
                        "the HPA was unable to compute the replica count: no metrics to compute \
                         it from"
                            .into(),
                    )
                });
                conditions.set("ScalingActive", false, &why, message.clone());
                self.warn(hpa, &why, &message);
                let mut status = json!({
                    "currentReplicas": current,
                    "desiredReplicas": old_status["desiredReplicas"].as_i64().unwrap_or(current),
                    "conditions": conditions.into_value(),
                });
                if !statuses.is_empty() {
                    status["currentMetrics"] = json!(statuses);
                }
                if !old_status["lastScaleTime"].is_null() {
                    status["lastScaleTime"] = old_status["lastScaleTime"].clone();
                }
                self.write_status(hpa, status);
                return;
            };
            conditions.set(
                "ScalingActive",
                true,
                "ValidMetricFound",
                format!(
                    "the HPA was able to successfully calculate a replica count from {}",
                    outcome.metric
                ),
            );
            if metric_replicas > current {
                reason = format!("{} above target", outcome.metric);
            } else if metric_replicas < current {
                reason = "All metrics below target".into();
            }
            let state = self
                .states
                .entry(meta::uid_of(hpa).to_string())
                .or_default();
            let n = behavior::normalize(
                &behavior,
                &mut state.history,
                now,
                current,
                metric_replicas,
                min,
                max,
            );
            conditions.set("AbleToScale", true, n.able.0, n.able.1.into());
            conditions.set(
                "ScalingLimited",
                n.limited.0,
                n.limited.1,
                n.limited.2.into(),
            );
            (n.replicas, n.replicas != current)
        };
        // Scale read, metrics computed: a failure that comes back is worth an Event again.
        if let Some(state) = self.states.get_mut(meta::uid_of(hpa)) {
            state.last_warning = None;
        }
        let mut last_scale = old_status["lastScaleTime"].clone();
        let desired = if rescale {
            let written = self
                .store
                .modify(rt, ns, target_name, Subresource::Main, false, |obj| {
                    let mut s = scale_of(obj);
                    s["spec"]["replicas"] = json!(desired);
                    apply_scale(obj, &s)
                });
            match written {
                Ok(_) => {
                    conditions.set(
                        "AbleToScale",
                        true,
                        "SucceededRescale",
                        format!(
                            "the HPA controller was able to update the target scale to {desired}"
                        ),
                    );
                    tracing::info!(namespace = ns, hpa = name, target = target_name,
                        from = current, to = desired, reason = %reason, "hpa rescaled");
                    record_event(
                        &self.store,
                        hpa,
                        "Normal",
                        "SuccessfulRescale",
                        format!("New size: {desired}; reason: {reason}"),
                        COMPONENT,
                    );
                    let state = self
                        .states
                        .entry(meta::uid_of(hpa).to_string())
                        .or_default();
                    behavior::record_scale(&behavior, &mut state.history, now, current, desired);
                    last_scale = json!(meta::now());
                    desired
                }
                Err(e) => {
                    let message = format!(
                        "the HPA controller was unable to update the target scale: {}",
                        e.message
                    );
                    conditions.set("AbleToScale", false, "FailedUpdateScale", message);
                    self.warn(
                        hpa,
                        "FailedRescale",
                        &format!(
                            "New size: {desired}; reason: {reason}; error: {}",
                            e.message
                        ),
                    );
                    current
                }
            }
        } else {
            current
        };
        let mut status = json!({
            "currentReplicas": current,
            "desiredReplicas": desired,
            "conditions": conditions.into_value(),
        });
        if !statuses.is_empty() {
            status["currentMetrics"] = json!(statuses);
        }
        if !last_scale.is_null() {
            status["lastScaleTime"] = last_scale;
        }
        self.write_status(hpa, status);
    }

    /// The replica count of every metric of `hpa`, combined as the real controller combines
    /// them: the highest; none when all fail, or when some fail and the rest would scale down.
    async fn metrics(
        &self,
        hpa: &Value,
        spec_replicas: i64,
        status_replicas: i64,
        pod_selector: &str,
        discovered: &Discovered,
    ) -> MetricsOutcome {
        let specs = hpa["spec"]["metrics"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let tolerance = self.tolerance(&hpa["spec"]["behavior"]);
        let mut best: Option<(i64, String)> = None;
        let mut statuses = Vec::new();
        let mut failure = None;
        let mut failed = 0;
        for m in &specs {
            match self
                .metric(
                    hpa,
                    m,
                    spec_replicas,
                    status_replicas,
                    pod_selector,
                    discovered,
                    tolerance,
                )
                .await
            {
                Ok((replicas, status, metric)) => {
                    statuses.push(status);
                    if best.as_ref().is_none_or(|(b, _)| replicas > *b) {
                        best = Some((replicas, metric));
                    }
                }
                Err((reason, message)) => {
                    statuses.push(json!({"type": ""}));
                    failed += 1;
                    failure.get_or_insert((
                        reason,
                        format!("the HPA was unable to compute the replica count: {message}"),
                    ));
                }
            }
        }
        let replicas = best.as_ref().map(|(r, _)| *r);
        let usable = failed < specs.len() && !(failed > 0 && replicas.unwrap_or(0) < spec_replicas);
        MetricsOutcome {
            replicas: replicas.filter(|_| usable),
            metric: best.map(|(_, m)| m).unwrap_or_default(),
            statuses,
            failure,
        }
    }

    /// The tolerance: the controller's, or the one `behavior` gives a direction (the
    /// `tolerance` field of Kubernetes 1.33's configurable tolerance).
    fn tolerance(&self, behavior: &Value) -> Tolerance {
        let of = |dir: &str| {
            quantity::parse_milli(&behavior[dir]["tolerance"])
                .map_or(self.config.tolerance, |m| m as f64 / 1000.0)
        };
        Tolerance {
            down: of("scaleDown"),
            up: of("scaleUp"),
        }
    }

    /// One metric's replica count, its status and its name; or the condition reason and the
    /// error.
    #[allow(clippy::too_many_arguments)]
    async fn metric(
        &self,
        hpa: &Value,
        m: &Value,
        spec_replicas: i64,
        status_replicas: i64,
        pod_selector: &str,
        discovered: &Discovered,
        tolerance: Tolerance,
    ) -> std::result::Result<(i64, Value, String), (String, String)> {
        let kind = m["type"].as_str().unwrap_or_default();
        if kind != "External" {
            return Err((
                format!("FailedGet{kind}Metric"),
                format!(
                    "kubesim evaluates External metrics only (through the prometheus-adapter \
                     rules); {kind} metrics need a metrics API it does not serve"
                ),
            ));
        }
        let ns = meta::namespace(hpa);
        let ext = &m["external"];
        let name = ext["metric"]["name"].as_str().unwrap_or_default();
        let selector = &ext["metric"]["selector"];
        let shown = selector_text(selector);
        let fail = |e: MetricError| {
            (
                "FailedGetExternalMetric".to_string(),
                format!("unable to get external metric {ns}/{name}/{shown}: {e}"),
            )
        };
        let query = self
            .config
            .rules
            .query(discovered, name, ns, selector)
            .map_err(fail)?;
        let values = self.api.query(&query).await.map_err(fail)?;
        if values.is_empty() {
            return Err(fail(MetricError::NoMetrics));
        }
        let usage: i64 = values.iter().map(|v| replicas::sample_milli(*v)).sum();
        let target = &ext["target"];
        let metric = format!("external metric {name}({shown})");
        let identifier = json!({"name": name, "selector": selector});
        if let Some(per_pod) = quantity::parse_milli(&target["averageValue"]) {
            let (replicas, average) = replicas::per_pod(status_replicas, per_pod, usage, tolerance);
            let status = json!({"type": "External", "external": {"metric": identifier,
                "current": {"averageValue": quantity::format_milli(average)}}});
            return Ok((replicas, status, metric));
        }
        let Some(value) = quantity::parse_milli(&target["value"]) else {
            return Err((
                "FailedGetExternalMetric".into(),
                "invalid external metric source: neither a value target nor an average value \
                 target was set"
                    .into(),
            ));
        };
        let ready = self.ready_pods(ns, pod_selector);
        let replicas = replicas::by_value(spec_replicas, ready, value, usage, tolerance);
        let status = json!({"type": "External", "external": {"metric": identifier,
            "current": {"value": quantity::format_milli(usage)}}});
        Ok((replicas, status, metric))
    }

    /// The Running and Ready pods the target's selector selects.
    fn ready_pods(&self, ns: &str, selector: &str) -> i64 {
        let Ok(sel) = LabelSelector::parse(selector) else {
            return 0;
        };
        let (pods, _) = self
            .store
            .list(&PODS, Some(ns), &sel, &FieldSelector::default());
        let ready = pods.iter().filter(|p| {
            p["status"]["phase"] == "Running"
                && p["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                })
        });
        i64::try_from(ready.count()).unwrap_or(i64::MAX)
    }
}
