//! One collection: discover, query Prometheus for every ready pod at once (concurrently, each
//! query under the deadline), assemble each server. Nothing here fails the cycle except the
//! Kubernetes list itself: Prometheus trouble, bad samples and bad labels become problems of the
//! cycle, and the labels take over where they can.

use crate::aggregate::{assemble, Observation, Samples};
use crate::discover::{Discovery, Found};
use crate::error::Result;
use crate::prometheus::Prometheus;
use crate::promql::{query, selector, Quantity};
use crate::window::Windows;
use inferno_core::contract::{self as labels, ServerLabels};
use std::collections::{BTreeMap, HashSet};
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
        let values = match (&self.prometheus, pods.is_empty()) {
            (Some(prom), false) => self.query_all(prom, &pods, &mut report.problems).await,
            _ => Samples::default(),
        };
        let mut unusable = 0;
        for (d, l) in servers {
            let keys: Vec<String> = d
                .ready_pods
                .iter()
                .map(|p| format!("{}/{}", d.namespace, p))
                .collect();
            let observation = assemble(&l, d.desired, &keys, &values, &self.windows);
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
    /// [`Quantity::PER_WINDOW`] once per window of the ladder, those of [`Quantity::ONCE`] over
    /// the shortest. Raw values (checked later, per server) keyed `ns/pod`.
    async fn query_all(
        &self,
        prom: &Prometheus,
        pods: &[(String, String)],
        problems: &mut Vec<(String, String)>,
    ) -> Samples {
        let sel = selector(pods);
        let start = Instant::now();
        let deadline = self.deadline;
        let ladder = self.windows.seconds();
        let shortest = ladder.first().copied().unwrap_or(0);
        // (window index, None for the quantities queried once; quantity; its PromQL).
        let mut planned = Vec::new();
        for (i, &w) in ladder.iter().enumerate() {
            for q in Quantity::PER_WINDOW {
                planned.extend(query(q, &sel, w, i == 0).map(|text| (Some(i), q, w, text)));
            }
        }
        for q in Quantity::ONCE {
            planned.extend(query(q, &sel, shortest, true).map(|text| (None, q, shortest, text)));
        }
        let runs = planned.into_iter().map(|(window, q, w, text)| async move {
            (window, q, w, prom.query_within(&text, deadline).await)
        });
        // Each query ends by its own deadline (the client's timeout), so that a timeout is
        // reported as one, naming the query.
        let results = futures::future::join_all(runs).await;
        self.metrics.queried(results.len(), start.elapsed());
        let mut samples = Samples {
            windows: vec![Default::default(); ladder.len()],
            once: Default::default(),
        };
        let wanted: HashSet<(&str, &str)> =
            pods.iter().map(|(n, p)| (n.as_str(), p.as_str())).collect();
        let mut failed = Vec::new();
        for (window, q, w, result) in results {
            let values = match window {
                Some(i) => &mut samples.windows[i],
                None => &mut samples.once,
            };
            match result {
                Ok(found) => {
                    for s in found {
                        let (ns, pod) = (s.labels.get("namespace"), s.labels.get("pod"));
                        if let (Some(ns), Some(pod)) = (ns, pod) {
                            // Series of pods that are gone (or not ready) are not averaged in.
                            if wanted.contains(&(ns.as_str(), pod.as_str())) {
                                values
                                    .entry(format!("{ns}/{pod}"))
                                    .or_default()
                                    .insert(q, s.value);
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
        samples
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
