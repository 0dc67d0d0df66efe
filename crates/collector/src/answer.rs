//! A collection's [`Report`] in the domain's terms ([`inferno_core::Collected`]): what the cycle
//! reads, and what the gRPC edge ([`crate::grpc`]) converts once for the wire.
//!
//! A server whose load cannot be used is unplaced (code [`INVALID_LOAD`]) rather than sized
//! with a load of 0 or 1e308, and its Deployment stays in the references, so that the actuator,
//! which gets no allocation for it, applies its unplaced policy and says why.

use crate::collect::{Report, Server};
use crate::promql::Quantity;
use inferno_api::ServerSpec;
use inferno_core::{Collected, FieldSource, Observation, Problem, ServerRef, Unplaced};
use std::collections::BTreeMap;

/// The unplaced code of a server whose load cannot be used.
pub const INVALID_LOAD: &str = "invalid-load";

/// The spec of one reporting pod of `server`, named `server/pod`, with one replica and the
/// pod's own arrivals, throughput and latencies.
fn replica(server: &Server, pod: &str, values: &BTreeMap<Quantity, f64>) -> ServerSpec {
    let mut spec = server.observation.spec.clone();
    spec.name = format!("{}/{}", spec.name, pod.rsplit('/').next().unwrap_or(pod));
    let a = &mut spec.current_alloc;
    a.num_replicas = 1;
    a.load.arrival_rate = values.get(&Quantity::Arrivals).copied().unwrap_or(0.0);
    a.load.throughput = values.get(&Quantity::Throughput).copied().unwrap_or(0.0);
    a.itl_average = values
        .get(&Quantity::Itl)
        .or_else(|| values.get(&Quantity::ItlLegacy))
        .map_or(0.0, |s| s * 1000.0);
    a.ttft_average = values.get(&Quantity::Ttft).map_or(0.0, |s| s * 1000.0);
    spec
}

impl Report {
    /// The servers of `namespaces` (all when empty) as the cycle reads them: servers with a
    /// usable load and their reporting pods, the unplaced ones, every server's Deployment and
    /// observation, and every problem of the collection.
    pub fn collected(&self, namespaces: &[String]) -> Collected {
        let mut out = Collected::default();
        let wanted =
            |s: &&Server| namespaces.is_empty() || namespaces.contains(&s.deployment.namespace);
        for s in self.servers.iter().filter(wanted) {
            let o = &s.observation;
            let name = o.spec.name.clone();
            if let Some(reason) = &o.unusable {
                out.unplaced.push(Unplaced {
                    server: name.clone(),
                    code: INVALID_LOAD.into(),
                    reason: reason.clone(),
                });
            } else {
                out.servers.push(o.spec.clone());
                out.replicas
                    .extend(s.pods.iter().map(|(pod, values)| replica(s, pod, values)));
            }
            out.refs.insert(
                name.clone(),
                ServerRef {
                    name: s.deployment.name.clone(),
                    namespace: s.deployment.namespace.clone(),
                    uid: s.deployment.uid.clone(),
                },
            );
            out.observations.push(Observation {
                server: name,
                ready_replicas: o.ready_replicas,
                sources: o
                    .sources
                    .iter()
                    .map(|&(field, source)| FieldSource {
                        field: field.into(),
                        source,
                    })
                    .collect(),
                running: o.running,
                waiting: o.waiting,
                kv_cache_usage: o.kv_cache_usage,
                demand: o.demand,
                pods: o.pod_loads.clone(),
                rolling: s.deployment.rolling,
                strategy: s.deployment.strategy,
            });
        }
        // Problems are the cycle's, whatever the namespace.
        out.problems = self
            .problems
            .iter()
            .map(|(subject, message)| Problem {
                subject: subject.clone(),
                message: message.clone(),
            })
            .collect();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{assemble, Samples};
    use crate::discover::{Found, PodTimes};
    use crate::window::Windows;
    use inferno_core::contract::{keys, ServerLabels};
    use inferno_core::Source;

    /// Server `name` of Deployment `namespace/name-deploy` with two ready pods, of which `a`
    /// completed 30 requests in the last minute while 6 more queued, and holds 4, `b` holds 1
    /// (none reported when its rpm label is `invalid`); `rpm` is its load label.
    fn server(namespace: &str, name: &str, rpm: Option<f64>, invalid: bool) -> Server {
        let mut labels = ServerLabels {
            name: name.into(),
            model: "m".into(),
            accelerator: "G2".into(),
            rpm,
            ..ServerLabels::default()
        };
        if invalid {
            labels.invalid.insert(
                keys::LOAD_RPM,
                "label inferno.server.load.rpm=\"lots\": not a number".into(),
            );
        }
        let pods = [
            format!("{namespace}/{name}-a"),
            format!("{namespace}/{name}-b"),
        ];
        // `b` has not reported yet; an invalid load label comes without any measurement.
        let mut samples = Samples {
            windows: vec![Default::default()],
            once: Default::default(),
            covered: vec![Default::default()],
            buckets: vec![Default::default()],
        };
        if !invalid {
            let a = [(Quantity::Requests, 30.0), (Quantity::Backlog, 6.0)];
            samples.windows[0].insert(pods[0].clone(), a.into());
            samples
                .once
                .insert(pods[0].clone(), [(Quantity::Outstanding, 4.0)].into());
            samples
                .once
                .insert(pods[1].clone(), [(Quantity::Outstanding, 1.0)].into());
        }
        let windows = Windows::new(60, 60, 50).unwrap();
        let times = BTreeMap::from([(
            format!("{name}-a"),
            PodTimes {
                startup: 95.0,
                ready_for: None,
            },
        )]);
        let observation = assemble(&labels, 2, &pods, &times, &[], &samples, &windows);
        let pods = observation
            .reporting_pods
            .iter()
            .map(|k| (k.clone(), observation.values[k].clone()))
            .collect();
        Server {
            deployment: Found {
                labels: BTreeMap::new(),
                namespace: namespace.into(),
                name: format!("{name}-deploy"),
                uid: format!("uid-{name}"),
                created: None,
                desired: 2,
                ready_pods: Vec::new(),
                times,
                rolling: false,
                strategy: Default::default(),
            },
            observation,
            pods,
        }
    }

    fn report() -> Report {
        Report {
            servers: vec![
                server("infer", "good", None, false),
                server("infer", "broken", None, true),
                server("other", "elsewhere", Some(60.0), false),
            ],
            problems: vec![("broken".into(), "load unusable".into())],
        }
    }

    #[test]
    fn an_invalid_load_is_unplaced_but_its_deployment_is_kept() {
        let c = report().collected(&[]);
        let names = |specs: &[ServerSpec]| -> Vec<String> {
            specs.iter().map(|s| s.name.clone()).collect()
        };
        assert_eq!(names(&c.servers), ["good", "elsewhere"]);
        assert_eq!(names(&c.replicas), ["good/good-a", "elsewhere/elsewhere-a"]);
        assert_eq!(c.replicas[0].current_alloc.num_replicas, 1);
        // Each pod's own arrivals and completions.
        let load = &c.replicas[0].current_alloc.load;
        assert_eq!((load.arrival_rate, load.throughput), (36.0, 30.0));
        assert_eq!(
            c.unplaced,
            [Unplaced {
                server: "broken".into(),
                code: INVALID_LOAD.into(),
                reason: "arrival rate unknown: label inferno.server.load.rpm=\"lots\": not a \
                         number, and Prometheus measured no rate"
                    .into(),
            }]
        );
        assert_eq!(
            c.refs["broken"],
            ServerRef {
                name: "broken-deploy".into(),
                namespace: "infer".into(),
                uid: "uid-broken".into(),
            }
        );
        assert_eq!(c.refs.len(), 3);
        // Every server is observed, the unplaced one too, with the domain's sources.
        let o: Vec<(&str, u32, Source)> = c
            .observations
            .iter()
            .map(|o| (o.server.as_str(), o.ready_replicas, o.sources[0].source))
            .collect();
        assert_eq!(
            o,
            [
                ("good", 2, Source::PrometheusPartial),
                ("broken", 2, Source::Unknown),
                ("elsewhere", 2, Source::PrometheusPartial),
            ]
        );
        assert_eq!(c.observations[0].sources[0].field, "arrivalRate");
        // The estimate of the measured rate, and what each pod holds.
        let good = &c.observations[0];
        assert_eq!(
            (good.demand.window_seconds, good.demand.requests),
            (60.0, 36.0)
        );
        assert_eq!(good.demand.rate_error, 6.0);
        let loads: Vec<(&str, f64, f64)> = good
            .pods
            .iter()
            .map(|p| (p.pod.as_str(), p.outstanding, p.startup_seconds))
            .collect();
        assert_eq!(loads, [("good-a", 4.0, 95.0), ("good-b", 1.0, 0.0)]);
        // The partial measurement comes with its estimate.
        assert!(c.observations[2].demand.requests > 0.0);
        assert_eq!(
            c.problems,
            [Problem {
                subject: "broken".into(),
                message: "load unusable".into(),
            }]
        );
    }

    #[test]
    fn the_namespace_filter_narrows_servers_not_problems() {
        let c = report().collected(&["other".into()]);
        assert_eq!(c.servers.len(), 1);
        assert_eq!(c.servers[0].name, "elsewhere");
        assert_eq!(c.refs.keys().collect::<Vec<_>>(), ["elsewhere"]);
        assert_eq!(c.observations.len(), 1);
        assert!(c.unplaced.is_empty());
        assert_eq!(c.problems.len(), 1);
        let c = report().collected(&["infer".into(), "other".into()]);
        assert_eq!((c.servers.len(), c.unplaced.len(), c.refs.len()), (2, 1, 3));
        assert!(report().collected(&["nowhere".into()]).refs.is_empty());
    }
}
