//! One collection: discover, query Prometheus for the pods of every server at once
//! (concurrently, each query under the deadline), attribute each series to its server, assemble
//! each server. Nothing here fails the cycle except the
//! Kubernetes list itself: Prometheus trouble, bad samples and bad labels become problems of the
//! cycle, and the labels take over where they can.

use crate::aggregate::{assemble, Observation, Samples};
use crate::discover::{Discovery, Found};
use crate::error::Result;
use crate::prometheus::Prometheus;
use crate::promql::{deployments_selector, is_pod_of, query, selector, Quantity, Selected};
use crate::window::Windows;
use inferno_core::contract::{self as labels, ServerLabels};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// What a [`Collector`] counts, served on `/metrics`.
pub use crate::metrics::Metrics;

/// A managed server as collected.
#[derive(Debug, Clone)]
pub struct Server {
    /// Its Deployment.
    pub deployment: Found,
    /// What was observed.
    pub observation: Observation,
    /// Per reporting pod: (pod, its values).
    pub pods: Vec<(String, BTreeMap<Quantity, f64>)>,
}

/// The result of one collection.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Servers, sorted by name.
    pub servers: Vec<Server>,
    /// Problems of the cycle: (subject, message).
    pub problems: Vec<(String, String)>,
}

/// The collector.
#[derive(Debug, Clone)]
pub struct Collector {
    discovery: Discovery,
    prometheus: Option<Prometheus>,
    windows: Windows,
    deadline: Duration,
    metrics: Arc<Metrics>,
}

impl Collector {
    /// A collector measuring over `windows`; `prometheus` None means labels only.
    pub fn new(
        discovery: Discovery,
        prometheus: Option<Prometheus>,
        windows: Windows,
        deadline: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            discovery,
            prometheus,
            windows,
            deadline,
            metrics,
        }
    }

    /// For emulated servers whose clock runs `time_scale` times faster than the wall clock
    /// (`--time-scale`): measured request rates are divided by it, windows multiplied.
    pub fn with_time_scale(mut self, time_scale: f64) -> Self {
        self.windows = self.windows.with_time_scale(time_scale);
        self
    }

    /// Collects once, in the domain's terms, narrowed to `namespaces` (all when empty): what
    /// the gRPC edge answers (see [`Report::collected`]).
    pub async fn collected(&self, namespaces: &[String]) -> Result<inferno_core::Collected> {
        Ok(self.collect().await?.collected(namespaces))
    }

    /// Collects once. Fails only when the managed Deployments cannot be listed.
    pub async fn collect(&self) -> Result<Report> {
        let found = self.discovery.find().await?;
        let mut report = Report::default();
        let servers = claim(found, &mut report.problems);

        let pods: Vec<(String, String)> = servers
            .iter()
            .flat_map(|(d, _)| {
                d.ready_pods
                    .iter()
                    .map(|p| (d.namespace.clone(), p.clone()))
            })
            .collect();
        let (values, mut members) = match (&self.prometheus, servers.is_empty()) {
            (Some(prom), false) => {
                self.query_all(prom, &servers, &pods, &mut report.problems)
                    .await
            }
            _ => (Samples::default(), BTreeMap::new()),
        };
        let mut unusable = 0;
        for (i, (d, l)) in servers.into_iter().enumerate() {
            let keys: Vec<String> = d
                .ready_pods
                .iter()
                .map(|p| format!("{}/{}", d.namespace, p))
                .collect();
            let gone: Vec<String> = members
                .remove(&i)
                .unwrap_or_default()
                .into_iter()
                .filter(|k| !keys.contains(k))
                .collect();
            let observation = assemble(
                &l,
                d.desired,
                &keys,
                &d.times,
                &gone,
                &values,
                &self.windows,
            );
            let name = &observation.spec.name;
            self.metrics.dropped(observation.samples_dropped);
            report.problems.extend(
                observation
                    .problems
                    .iter()
                    .map(|m| (name.clone(), m.clone())),
            );
            if let Some(why) = &observation.unusable {
                unusable += 1;
                warn!(server = %name, reason = %why, "load unusable; left out of the decision");
                report.problems.push((
                    name.clone(),
                    format!("load unusable, left out of this cycle's decision: {why}"),
                ));
            }
            let pods = observation
                .reporting_pods
                .iter()
                .map(|k| (k.clone(), observation.values[k].clone()))
                .collect();
            report.servers.push(Server {
                deployment: d,
                observation,
                pods,
            });
        }
        report
            .servers
            .sort_by(|a, b| a.observation.spec.name.cmp(&b.observation.spec.name));
        self.metrics.collected(report.servers.len(), unusable);
        info!(
            servers = report.servers.len(),
            unusable,
            pods = pods.len(),
            problems = report.problems.len(),
            "collected"
        );
        Ok(report)
    }

    /// Every quantity for every pod, concurrently, each query under the deadline: those of
    /// [`Quantity::PER_WINDOW`] and [`Quantity::Covered`] once per window
    /// of the ladder over every pod of every server's Deployment, ready or not (its pod-name
    /// pattern), those of [`Quantity::ONCE`] over the shortest window or now, over the ready
    /// `pods`. Raw values (checked later, per server) keyed `ns/pod`, and the pods of each
    /// server (by index into `servers`) that have windowed series.
    async fn query_all(
        &self,
        prom: &Prometheus,
        servers: &[(Found, ServerLabels)],
        pods: &[(String, String)],
        problems: &mut Vec<(String, String)>,
    ) -> (Samples, BTreeMap<usize, BTreeSet<String>>) {
        let every = deployments_selector(
            &servers
                .iter()
                .map(|(d, _)| Selected {
                    namespace: &d.namespace,
                    deployment: &d.name,
                    ready: &d.ready_pods,
                })
                .collect::<Vec<_>>(),
        );
        let ready = selector(pods);
        let start = Instant::now();
        let deadline = self.deadline;
        let ladder = self.windows.seconds();
        let shortest = ladder.first().copied().unwrap_or(0);
        // (window index, None for the quantities queried once; quantity; its PromQL).
        let mut planned = Vec::new();
        for (i, &w) in ladder.iter().enumerate() {
            for q in Quantity::PER_WINDOW.into_iter().chain([Quantity::Covered]) {
                planned.extend(query(q, &every, w).map(|text| (Some(i), q, w, text)));
            }
        }
        // Nothing ready: a selector of no pod is refused by Prometheus, and nothing holds load.
        if !pods.is_empty() {
            for q in Quantity::ONCE {
                planned.extend(query(q, &ready, shortest).map(|text| (None, q, shortest, text)));
            }
        }
        // One instant for every query of the collection (see `Prometheus::query_at`).
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64());
        let runs = planned.into_iter().map(|(window, q, w, text)| async move {
            (window, q, w, prom.query_at(&text, deadline, at).await)
        });
        // Each query ends by its own deadline (the client's timeout), so that a timeout is
        // reported as one, naming the query.
        let results = futures::future::join_all(runs).await;
        self.metrics.queried(results.len(), start.elapsed());
        let mut samples = Samples {
            windows: vec![Default::default(); ladder.len()],
            once: Default::default(),
            covered: vec![Default::default(); ladder.len()],
            buckets: vec![Default::default(); ladder.len()],
        };
        let owners = Owners::new(servers);
        let mut members: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
        let mut failed = Vec::new();
        for (window, q, w, result) in results {
            match result {
                Ok(found) => {
                    for s in found {
                        let (ns, pod) = (s.labels.get("namespace"), s.labels.get("pod"));
                        let (Some(ns), Some(pod)) = (ns, pod) else {
                            continue;
                        };
                        // Windowed counts: every pod of a server's Deployment. What pods hold
                        // now: the ready ones only (a terminating pod is not load to place).
                        let owner = match window {
                            Some(_) => owners.of(ns, pod),
                            None => owners.ready(ns, pod),
                        };
                        let Some(owner) = owner else {
                            continue;
                        };
                        let key = format!("{ns}/{pod}");
                        if window.is_some() {
                            members.entry(owner).or_default().insert(key.clone());
                        }
                        match (window, q) {
                            (Some(i), Quantity::Covered) => {
                                samples.covered[i].insert(key);
                            }
                            (Some(i), Quantity::GenerationBuckets) => {
                                // A bound that is not a number is kept as NaN, for the check
                                // to name it rather than a bucket silently missing.
                                let le = s
                                    .labels
                                    .get("le")
                                    .and_then(|t| t.parse::<f64>().ok())
                                    .unwrap_or(f64::NAN);
                                samples.buckets[i]
                                    .entry(key)
                                    .or_default()
                                    .push((le, s.value));
                            }
                            (Some(i), _) => {
                                samples.windows[i]
                                    .entry(key)
                                    .or_default()
                                    .insert(q, s.value);
                            }
                            (None, _) => {
                                samples.once.entry(key).or_default().insert(q, s.value);
                            }
                        }
                    }
                }
                Err(e) => {
                    self.metrics.query_failed();
                    failed.push(format!("{q:?} over {w}s: {e}"));
                }
            }
        }
        if !failed.is_empty() {
            warn!(failed = failed.len(), first = %failed[0], "prometheus queries failed; labels used where needed");
            // When Prometheus is down every query fails alike: a few say what happened.
            const SHOWN: usize = 3;
            let more = failed.len().saturating_sub(SHOWN);
            failed.truncate(SHOWN);
            if more > 0 {
                failed.push(format!("and {more} more queries"));
            }
            problems.push((
                String::new(),
                format!(
                    "prometheus: {}; load labels used where needed",
                    failed.join("; ")
                ),
            ));
        }
        (samples, members)
    }
}

/// Which server a series belongs to, by its pod's namespace and name.
struct Owners<'a> {
    /// (namespace, ready pod) -> server index.
    ready: HashMap<(&'a str, &'a str), usize>,
    /// (namespace, Deployment name, server index).
    deployments: Vec<(&'a str, &'a str, usize)>,
}

impl<'a> Owners<'a> {
    fn new(servers: &'a [(Found, ServerLabels)]) -> Self {
        let mut ready = HashMap::new();
        let mut deployments = Vec::new();
        for (i, (d, _)) in servers.iter().enumerate() {
            for p in &d.ready_pods {
                ready.insert((d.namespace.as_str(), p.as_str()), i);
            }
            deployments.push((d.namespace.as_str(), d.name.as_str(), i));
        }
        Self { ready, deployments }
    }

    /// The server of a ready pod.
    fn ready(&self, namespace: &str, pod: &str) -> Option<usize> {
        self.ready.get(&(namespace, pod)).copied()
    }

    /// The server of any pod, ready or not: by the ready list, else by the Deployment whose
    /// pods are named like it in its namespace (at most one: [`is_pod_of`]). Not by the ready
    /// list alone: a pod deleted or terminating during the window took every request it
    /// served in the window out of the server's sum.
    fn of(&self, namespace: &str, pod: &str) -> Option<usize> {
        self.ready(namespace, pod).or_else(|| {
            self.deployments
                .iter()
                .find(|(ns, d, _)| *ns == namespace && is_pod_of(d, pod))
                .map(|(_, _, i)| *i)
        })
    }
}

/// Reads each Deployment's labels and gives each server name to one Deployment: the oldest
/// (`creationTimestamp`, then namespace/name), so that a copy carrying the same name never takes
/// a server over. Every other claimant is skipped with a problem naming both Deployments; label
/// problems are added to `problems` too.
pub fn claim(
    found: Vec<Found>,
    problems: &mut Vec<(String, String)>,
) -> Vec<(Found, ServerLabels)> {
    let mut warnings = Vec::new();
    let mut by_name: BTreeMap<String, Vec<(Found, ServerLabels)>> = BTreeMap::new();
    for d in found {
        if let Some(l) = labels::read(&d.namespace, &d.name, &d.labels, &mut warnings) {
            by_name.entry(l.name.clone()).or_default().push((d, l));
        }
    }
    let age = |d: &Found| {
        (
            d.created.is_none(),
            d.created,
            d.namespace.clone(),
            d.name.clone(),
        )
    };
    let mut servers = Vec::new();
    for (name, mut claims) in by_name {
        claims.sort_by_key(|(d, _)| age(d));
        let mut claims = claims.into_iter();
        let Some(owner) = claims.next() else {
            continue;
        };
        let describe = |d: &Found| {
            let created = d.created.map_or("unknown".into(), |t| t.to_string());
            format!("deployment {}/{} (created {created})", d.namespace, d.name)
        };
        for (other, _) in claims {
            warn!(server = %name, skipped = %format!("{}/{}", other.namespace, other.name),
                owner = %format!("{}/{}", owner.0.namespace, owner.0.name), "duplicate server name");
            problems.push((
                name.clone(),
                format!(
                    "duplicate server name: {} skipped; {} keeps the server (the oldest \
                     Deployment does)",
                    describe(&other),
                    describe(&owner.0)
                ),
            ));
        }
        servers.push(owner);
    }
    problems.extend(warnings.into_iter().map(|w| (String::new(), w)));
    servers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(ns: &str, name: &str, created: Option<&str>) -> Found {
        Found {
            labels: [(labels::keys::NAME.to_string(), "s".to_string())].into(),
            namespace: ns.into(),
            name: name.into(),
            uid: format!("uid-{name}"),
            created: created.map(|t| t.parse().unwrap()),
            desired: 1,
            ready_pods: Vec::new(),
            times: BTreeMap::new(),
            rolling: false,
            strategy: Default::default(),
        }
    }

    #[test]
    fn the_oldest_deployment_keeps_a_server_name() {
        let mut problems = Vec::new();
        let servers = claim(
            vec![
                found("a", "copy", Some("2026-02-01T00:00:00Z")),
                found("z", "original", Some("2026-01-01T00:00:00Z")),
                found("a", "undated", None),
            ],
            &mut problems,
        );
        let owners: Vec<&str> = servers.iter().map(|(d, _)| d.name.as_str()).collect();
        assert_eq!(owners, ["original"]);
        assert_eq!(
            problems,
            [
                (
                    "s".to_string(),
                    "duplicate server name: deployment a/copy (created 2026-02-01T00:00:00Z) \
                     skipped; deployment z/original (created 2026-01-01T00:00:00Z) keeps the \
                     server (the oldest Deployment does)"
                        .to_string()
                ),
                (
                    "s".to_string(),
                    "duplicate server name: deployment a/undated (created unknown) skipped; \
                     deployment z/original (created 2026-01-01T00:00:00Z) keeps the server (the \
                     oldest Deployment does)"
                        .to_string()
                ),
            ]
        );
        // Created in the same second: namespace/name decides.
        let mut problems = Vec::new();
        let t = Some("2026-01-01T00:00:00Z");
        let servers = claim(vec![found("b", "x", t), found("a", "y", t)], &mut problems);
        assert_eq!(servers[0].0.namespace, "a");
        assert_eq!(problems.len(), 1);
    }
}
