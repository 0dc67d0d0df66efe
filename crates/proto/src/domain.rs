//! Conversions between the `inferno.v1` messages of the cycle's three RPCs and the domain core
//! (`inferno-core`). Each RPC edge uses exactly two: the client encodes its request and decodes
//! the response; the server does the opposite.
//!
//! Domain -> proto is `TryFrom` (64-bit integers of the data meet 32-bit fields: an
//! out-of-range value is a [`ConvertError`] naming its field). Proto -> domain is `TryFrom` too:
//! a name the contract does not know (an outcome, a field source) is a [`DecodeError`], never
//! a silent default.

use crate::convert::{allocation, ConvertError};
use crate::v1;
use inferno_core as core;
use std::collections::BTreeMap;

/// A message that does not say what the contract allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: {message}")]
pub struct DecodeError {
    /// The field, as a path (e.g. `results[2].outcome`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn count(field: &str, value: i32) -> Result<u32, DecodeError> {
    u32::try_from(value).map_err(|_| DecodeError {
        field: field.into(),
        message: format!("{value} is negative"),
    })
}

fn int(field: impl FnOnce() -> String, value: i64) -> Result<i32, ConvertError> {
    i32::try_from(value).map_err(|_| ConvertError {
        field: field(),
        value,
    })
}

fn allocations(
    map: &BTreeMap<String, inferno_api::AllocationData>,
) -> Result<std::collections::HashMap<String, v1::AllocationData>, ConvertError> {
    map.iter()
        .map(|(k, v)| Ok((k.clone(), allocation(v, &format!("allocations[{k:?}]"))?)))
        .collect()
}

// ---- Collect ------------------------------------------------------------------------------

impl From<&core::ServerRef> for v1::ServerKubeInfo {
    fn from(r: &core::ServerRef) -> Self {
        Self {
            uid: r.uid.clone(),
            name: r.name.clone(),
            space: r.namespace.clone(),
        }
    }
}

impl From<v1::ServerKubeInfo> for core::ServerRef {
    fn from(r: v1::ServerKubeInfo) -> Self {
        Self {
            name: r.name,
            namespace: r.space,
            uid: r.uid,
        }
    }
}

impl From<core::Unplaced> for v1::UnplacedServer {
    fn from(u: core::Unplaced) -> Self {
        Self {
            server: u.server,
            code: u.code,
            reason: u.reason,
        }
    }
}

impl From<v1::UnplacedServer> for core::Unplaced {
    fn from(u: v1::UnplacedServer) -> Self {
        Self {
            server: u.server,
            code: u.code,
            reason: u.reason,
        }
    }
}

impl TryFrom<&core::Collected> for v1::CollectResponse {
    type Error = ConvertError;
    fn try_from(c: &core::Collected) -> Result<Self, ConvertError> {
        let specs =
            |list: &[inferno_api::ServerSpec]| -> Result<Vec<v1::ServerSpec>, ConvertError> {
                list.iter().map(TryInto::try_into).collect()
            };
        Ok(Self {
            servers: specs(&c.servers)?,
            replicas: specs(&c.replicas)?,
            kube_resources: c.refs.iter().map(|(k, r)| (k.clone(), r.into())).collect(),
            observations: c
                .observations
                .iter()
                .map(|o| {
                    Ok(v1::ServerObservation {
                        server: o.server.clone(),
                        ready_replicas: int(
                            || format!("observations[{:?}].readyReplicas", o.server),
                            i64::from(o.ready_replicas),
                        )?,
                        sources: o
                            .sources
                            .iter()
                            .map(|s| v1::FieldSource {
                                field: s.field.clone(),
                                source: s.source.name().into(),
                            })
                            .collect(),
                        running: o.running,
                        waiting: o.waiting,
                        kv_cache_usage: o.kv_cache_usage,
                        demand: Some(v1::DemandEstimate {
                            window_seconds: o.demand.window_seconds,
                            requests: o.demand.requests,
                            rate_error: o.demand.rate_error,
                        }),
                        pods: o
                            .pods
                            .iter()
                            .map(|p| v1::PodLoad {
                                pod: p.pod.clone(),
                                outstanding: p.outstanding,
                                startup_seconds: p.startup_seconds,
                            })
                            .collect(),
                    })
                })
                .collect::<Result<_, ConvertError>>()?,
            problems: c
                .problems
                .iter()
                .map(|p| v1::CollectProblem {
                    subject: p.subject.clone(),
                    message: p.message.clone(),
                })
                .collect(),
            unplaced: c.unplaced.iter().cloned().map(Into::into).collect(),
        })
    }
}

impl TryFrom<v1::CollectResponse> for core::Collected {
    type Error = DecodeError;
    fn try_from(c: v1::CollectResponse) -> Result<Self, DecodeError> {
        let observations = c
            .observations
            .into_iter()
            .enumerate()
            .map(|(i, o)| {
                let sources = o
                    .sources
                    .into_iter()
                    .enumerate()
                    .map(|(j, s)| {
                        Ok(core::FieldSource {
                            source: s.source.parse().map_err(|e: core::UnknownName| {
                                DecodeError {
                                    field: format!("observations[{i}].sources[{j}].source"),
                                    message: e.to_string(),
                                }
                            })?,
                            field: s.field,
                        })
                    })
                    .collect::<Result<_, DecodeError>>()?;
                Ok(core::Observation {
                    ready_replicas: count(
                        &format!("observations[{i}].readyReplicas"),
                        o.ready_replicas,
                    )?,
                    server: o.server,
                    sources,
                    running: o.running,
                    waiting: o.waiting,
                    kv_cache_usage: o.kv_cache_usage,
                    // Absent from an older collector: nothing measured.
                    demand: o
                        .demand
                        .map_or_else(core::Demand::default, |d| core::Demand {
                            window_seconds: d.window_seconds,
                            requests: d.requests,
                            rate_error: d.rate_error,
                        }),
                    pods: o
                        .pods
                        .into_iter()
                        .map(|p| core::PodLoad {
                            pod: p.pod,
                            outstanding: p.outstanding,
                            // Absent from an older collector: 0, not known.
                            startup_seconds: p.startup_seconds,
                        })
                        .collect(),
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(Self {
            servers: c.servers.into_iter().map(Into::into).collect(),
            replicas: c.replicas.into_iter().map(Into::into).collect(),
            refs: c
                .kube_resources
                .into_iter()
                .map(|(k, r)| (k, r.into()))
                .collect(),
            observations,
            problems: c
                .problems
                .into_iter()
                .map(|p| core::Problem {
                    subject: p.subject,
                    message: p.message,
                })
                .collect(),
            unplaced: c.unplaced.into_iter().map(Into::into).collect(),
        })
    }
}

// ---- Optimize -----------------------------------------------------------------------------

impl TryFrom<v1::OptimizeResponse> for core::Decision {
    type Error = DecodeError;
    fn try_from(r: v1::OptimizeResponse) -> Result<Self, DecodeError> {
        let heterogeneous = r
            .heterogeneous
            .into_iter()
            .map(|h| core::Heterogeneous {
                server: h.server,
                parts: h
                    .parts
                    .into_iter()
                    .map(|p| core::AllocationPart {
                        accelerator: p.accelerator,
                        num_replicas: i64::from(p.num_replicas),
                        cost: p.cost,
                        rps_per_replica: p.rps_per_replica,
                        itl_average: p.itl_average,
                        ttft_average: p.ttft_average,
                        rho: p.rho,
                    })
                    .collect(),
            })
            .collect();
        Ok(Self {
            allocations: r
                .solution
                .map(|s| inferno_api::AllocationSolution::from(s).allocations)
                .unwrap_or_default(),
            unplaced: r.unplaced.into_iter().map(Into::into).collect(),
            total_cost: r.total_cost,
            usage: r
                .usage
                .into_iter()
                .map(|u| core::TypeUsage {
                    acc_type: u.r#type,
                    used: u.used,
                    capacity: u.capacity,
                })
                .collect(),
            stats: r.stats.map(|s| core::SolveStats {
                candidates_sized: s.candidates_sized,
                candidates_skipped: s.candidates_skipped,
                sizings: s.sizings,
                cache_hits: s.cache_hits,
                duration_ms: s.duration_ms,
            }),
            best_effort: r.best_effort,
            warnings: r.warnings,
            report: r.report.map(|s| core::SolveSummary {
                solver: s.solver,
                status: s.status,
                objective: s.objective,
                bound: s.bound,
                gap: s.gap,
                not_fully_served: s.not_fully_served,
                iterations: s.iterations,
                solver_ms: s.solver_ms,
                unserved_floor: s.unserved_floor.map(|f| core::UnservedFloor {
                    priority: f.priority,
                    unserved: f.unserved,
                    at_least: f.at_least,
                }),
            }),
            heterogeneous,
        })
    }
}

impl TryFrom<&core::Decision> for v1::OptimizeResponse {
    type Error = ConvertError;
    fn try_from(d: &core::Decision) -> Result<Self, ConvertError> {
        let heterogeneous = d
            .heterogeneous
            .iter()
            .map(|h| {
                Ok(v1::HeterogeneousAllocation {
                    server: h.server.clone(),
                    parts: h
                        .parts
                        .iter()
                        .map(|p| {
                            Ok(v1::AllocationPart {
                                accelerator: p.accelerator.clone(),
                                num_replicas: int(
                                    || format!("heterogeneous[{:?}].numReplicas", h.server),
                                    p.num_replicas,
                                )?,
                                cost: p.cost,
                                rps_per_replica: p.rps_per_replica,
                                itl_average: p.itl_average,
                                ttft_average: p.ttft_average,
                                rho: p.rho,
                            })
                        })
                        .collect::<Result<_, ConvertError>>()?,
                })
            })
            .collect::<Result<_, ConvertError>>()?;
        Ok(Self {
            solution: Some(v1::AllocationSolution {
                allocations: allocations(&d.allocations)?,
            }),
            unplaced: d.unplaced.iter().cloned().map(Into::into).collect(),
            total_cost: d.total_cost,
            usage: d
                .usage
                .iter()
                .map(|u| v1::TypeUsage {
                    r#type: u.acc_type.clone(),
                    used: u.used,
                    capacity: u.capacity,
                })
                .collect(),
            stats: d.stats.as_ref().map(|s| v1::SolveStats {
                candidates_sized: s.candidates_sized,
                candidates_skipped: s.candidates_skipped,
                sizings: s.sizings,
                cache_hits: s.cache_hits,
                duration_ms: s.duration_ms,
            }),
            best_effort: d.best_effort.clone(),
            warnings: d.warnings.clone(),
            report: d.report.as_ref().map(|s| v1::SolveReport {
                solver: s.solver.clone(),
                status: s.status.clone(),
                objective: s.objective,
                bound: s.bound,
                gap: s.gap,
                not_fully_served: s.not_fully_served,
                iterations: s.iterations,
                solver_ms: s.solver_ms,
                unserved_floor: s.unserved_floor.as_ref().map(|f| v1::UnservedFloor {
                    priority: f.priority,
                    unserved: f.unserved,
                    at_least: f.at_least,
                }),
            }),
            heterogeneous,
        })
    }
}

// ---- Apply --------------------------------------------------------------------------------

impl TryFrom<&core::ApplyRequest> for v1::ApplyRequest {
    type Error = ConvertError;
    fn try_from(r: &core::ApplyRequest) -> Result<Self, ConvertError> {
        Ok(Self {
            allocations: allocations(&r.allocations)?,
            kube_resources: r.refs.iter().map(|(k, v)| (k.clone(), v.into())).collect(),
            dry_run: r.dry_run,
            unplaced_reasons: r
                .unplaced
                .iter()
                .map(|(k, u)| (k.clone(), u.reason.clone()))
                .collect(),
            unplaced_codes: r
                .unplaced
                .iter()
                .map(|(k, u)| (k.clone(), u.code.clone()))
                .collect(),
            // Pod names are unique in a namespace: a pod listed twice keeps its last load.
            pod_loads: r
                .pod_loads
                .iter()
                .map(|(server, pods)| {
                    let outstanding = pods.iter().map(|p| (p.pod.clone(), p.outstanding));
                    let loads = v1::ServerPodLoads {
                        outstanding: outstanding.collect(),
                    };
                    (server.clone(), loads)
                })
                .collect(),
        })
    }
}

impl From<v1::ApplyRequest> for core::ApplyRequest {
    fn from(r: v1::ApplyRequest) -> Self {
        let mut codes = r.unplaced_codes;
        let mut unplaced: BTreeMap<String, core::Unplaced> = r
            .unplaced_reasons
            .into_iter()
            .map(|(server, reason)| {
                let code = codes.remove(&server).unwrap_or_default();
                (
                    server.clone(),
                    core::Unplaced {
                        server,
                        code,
                        reason,
                    },
                )
            })
            .collect();
        // A code without a reason is still a code.
        for (server, code) in codes {
            unplaced.insert(
                server.clone(),
                core::Unplaced {
                    server,
                    code,
                    reason: String::new(),
                },
            );
        }
        Self {
            allocations: r
                .allocations
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
            refs: r
                .kube_resources
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
            dry_run: r.dry_run,
            unplaced,
            // Sorted by pod name: the wire's map has no order.
            pod_loads: r
                .pod_loads
                .into_iter()
                .map(|(server, loads)| {
                    let mut pods: Vec<core::PodLoad> = loads
                        .outstanding
                        .into_iter()
                        // The actuator orders pods by what they hold; their start-up times
                        // are not sent to it.
                        .map(|(pod, outstanding)| core::PodLoad {
                            pod,
                            outstanding,
                            startup_seconds: 0.0,
                        })
                        .collect();
                    pods.sort_by(|a, b| a.pod.cmp(&b.pod));
                    (server, pods)
                })
                .collect(),
        }
    }
}

impl TryFrom<&core::DeploymentResult> for v1::DeploymentResult {
    type Error = ConvertError;
    fn try_from(r: &core::DeploymentResult) -> Result<Self, ConvertError> {
        let side = |a: &Option<inferno_api::AllocationData>, which: &str| {
            a.as_ref()
                .map(|a| allocation(a, &format!("results[{:?}].{which}", r.server)))
                .transpose()
        };
        Ok(Self {
            server: r.server.clone(),
            deployment: r.deployment.clone(),
            namespace: r.namespace.clone(),
            old: side(&r.old, "old")?,
            new: side(&r.new, "new")?,
            applied: r.applied(),
            error: r.error.clone(),
            reason: r.reason.clone(),
            outcome: r.outcome.name().into(),
            code: r.code.clone(),
        })
    }
}

impl TryFrom<v1::DeploymentResult> for core::DeploymentResult {
    type Error = DecodeError;
    fn try_from(r: v1::DeploymentResult) -> Result<Self, DecodeError> {
        Ok(Self {
            outcome: r
                .outcome
                .parse()
                .map_err(|e: core::UnknownName| DecodeError {
                    field: format!("results[{:?}].outcome", r.server),
                    message: e.to_string(),
                })?,
            server: r.server,
            deployment: r.deployment,
            namespace: r.namespace,
            old: r.old.map(Into::into),
            new: r.new.map(Into::into),
            reason: r.reason,
            error: r.error,
            code: r.code,
        })
    }
}

impl TryFrom<v1::ApplyResponse> for core::Applied {
    type Error = DecodeError;
    fn try_from(r: v1::ApplyResponse) -> Result<Self, DecodeError> {
        Ok(Self {
            results: r
                .results
                .into_iter()
                .map(TryInto::try_into)
                .collect::<Result<_, _>>()?,
            dry_run: r.dry_run,
        })
    }
}

impl TryFrom<&core::Applied> for v1::ApplyResponse {
    type Error = ConvertError;
    fn try_from(a: &core::Applied) -> Result<Self, ConvertError> {
        Ok(Self {
            results: a
                .results
                .iter()
                .map(TryInto::try_into)
                .collect::<Result<_, _>>()?,
            dry_run: a.dry_run,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inferno_api::AllocationData;

    fn alloc(acc: &str, replicas: i64, batch: i64) -> AllocationData {
        AllocationData {
            accelerator: acc.into(),
            num_replicas: replicas,
            max_batch: batch,
            cost: 12.5,
            ..Default::default()
        }
    }

    #[test]
    fn collected_round_trips() {
        let c = core::Collected {
            servers: vec![inferno_api::ServerSpec {
                name: "s".into(),
                ..Default::default()
            }],
            refs: [(
                "s".to_string(),
                core::ServerRef {
                    name: "d".into(),
                    namespace: "ns".into(),
                    uid: "u".into(),
                },
            )]
            .into(),
            observations: vec![core::Observation {
                server: "s".into(),
                ready_replicas: 3,
                sources: vec![core::FieldSource {
                    field: "arrivalRate".into(),
                    source: core::Source::PrometheusPartial,
                }],
                running: 1.5,
                demand: core::Demand {
                    window_seconds: 120.0,
                    requests: 100.0,
                    rate_error: 5.0,
                },
                pods: vec![
                    core::PodLoad {
                        pod: "s-a".into(),
                        outstanding: 3.0,
                        startup_seconds: 95.5,
                    },
                    core::PodLoad {
                        pod: "s-b".into(),
                        outstanding: 0.0,
                        startup_seconds: 0.0,
                    },
                ],
                ..Default::default()
            }],
            problems: vec![core::Problem {
                subject: "s".into(),
                message: "m".into(),
            }],
            unplaced: vec![core::Unplaced {
                server: "t".into(),
                code: "invalid-load".into(),
                reason: "r".into(),
            }],
            ..Default::default()
        };
        let wire = v1::CollectResponse::try_from(&c).unwrap();
        assert_eq!(wire.observations[0].pods.len(), 2);
        assert_eq!(wire.observations[0].pods[0].startup_seconds, 95.5);
        assert_eq!(core::Collected::try_from(wire.clone()).unwrap(), c);
        // An older collector sends no estimate: nothing measured.
        let mut old = wire;
        old.observations[0].demand = None;
        let decoded = core::Collected::try_from(old).unwrap();
        assert_eq!(decoded.observations[0].demand, core::Demand::default());
    }

    #[test]
    fn an_unknown_source_is_an_error_naming_its_field() {
        let wire = v1::CollectResponse {
            observations: vec![v1::ServerObservation {
                sources: vec![v1::FieldSource {
                    field: "arrivalRate".into(),
                    source: "guess".into(),
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let e = core::Collected::try_from(wire).unwrap_err();
        assert_eq!(e.field, "observations[0].sources[0].source");
    }

    #[test]
    fn apply_request_and_results_round_trip() {
        let r = core::ApplyRequest {
            allocations: [("s".to_string(), alloc("A100", 3, 64))].into(),
            dry_run: true,
            unplaced: [(
                "t".to_string(),
                core::Unplaced {
                    server: "t".into(),
                    code: "out-of-capacity".into(),
                    reason: "no A100".into(),
                },
            )]
            .into(),
            pod_loads: [(
                "s".to_string(),
                vec![
                    core::PodLoad {
                        pod: "s-1".into(),
                        outstanding: 0.0,
                        ..Default::default()
                    },
                    core::PodLoad {
                        pod: "s-2".into(),
                        outstanding: 12.5,
                        ..Default::default()
                    },
                ],
            )]
            .into(),
            ..Default::default()
        };
        let wire = v1::ApplyRequest::try_from(&r).unwrap();
        assert_eq!(wire.pod_loads["s"].outstanding["s-2"], 12.5);
        assert_eq!(core::ApplyRequest::from(wire), r);

        let applied = core::Applied {
            results: vec![core::DeploymentResult {
                server: "s".into(),
                deployment: "d".into(),
                namespace: "ns".into(),
                old: Some(alloc("A100", 1, 64)),
                new: Some(alloc("A100", 3, 64)),
                outcome: core::Outcome::Applied,
                reason: "slo".into(),
                error: String::new(),
                code: String::new(),
            }],
            dry_run: false,
        };
        let wire = v1::ApplyResponse::try_from(&applied).unwrap();
        assert!(wire.results[0].applied);
        assert_eq!(core::Applied::try_from(wire).unwrap(), applied);
    }

    #[test]
    fn an_unknown_outcome_is_an_error() {
        let wire = v1::DeploymentResult {
            server: "s".into(),
            outcome: "ok".into(),
            ..Default::default()
        };
        let e = core::DeploymentResult::try_from(wire).unwrap_err();
        assert_eq!(e.field, "results[\"s\"].outcome");
    }

    #[test]
    fn decision_round_trips_and_big_replicas_are_named() {
        let mut d = core::Decision {
            allocations: [("s".to_string(), alloc("H100", 2, 128))].into(),
            total_cost: 25.0,
            usage: vec![core::TypeUsage {
                acc_type: "H100".into(),
                used: 2,
                capacity: 8,
            }],
            report: Some(core::SolveSummary {
                solver: "greedy".into(),
                status: "heuristic".into(),
                unserved_floor: Some(core::UnservedFloor {
                    priority: 1,
                    unserved: 2,
                    at_least: 1,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let wire = v1::OptimizeResponse::try_from(&d).unwrap();
        assert_eq!(core::Decision::try_from(wire).unwrap(), d);
        d.allocations.get_mut("s").unwrap().num_replicas = 1 << 40;
        let e = v1::OptimizeResponse::try_from(&d).unwrap_err();
        assert_eq!(e.field, "allocations[\"s\"].numReplicas");
    }
}
