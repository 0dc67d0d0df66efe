//! Conversions between the `inferno.v1` messages of the cycle's three RPCs and the domain core
//! (`inferno-core`). Each RPC edge uses exactly two: the client encodes its request and decodes
//! the response; the server does the opposite.
//!
//! Domain -> proto is `TryFrom` (64-bit integers of the data meet 32-bit fields, and a name the
//! contract has no enum value for cannot be sent: either is a [`ConvertError`] naming its
//! field). Proto -> domain is `TryFrom` too: a value the contract does not know (an outcome, a
//! field source from a newer peer) is a [`DecodeError`], never a silent default.
//!
//! The domain spells its names in words (`out-of-capacity`, `gap reached`, `dry-run`); the
//! contract's enums spell the same words in capitals (`OUT_OF_CAPACITY`, `GAP_REACHED`,
//! `DRY_RUN`): [`to_wire`] and [`from_wire`] are the one mapping between them, and the tests
//! check it for every domain name.

use crate::convert::{allocation, int, ConvertError};
use crate::time;
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

fn allocations(
    map: &BTreeMap<String, inferno_api::AllocationData>,
) -> Result<std::collections::HashMap<String, v1::AllocationData>, ConvertError> {
    map.iter()
        .map(|(k, v)| Ok((k.clone(), allocation(v, &format!("allocations[{k:?}]"))?)))
        .collect()
}

/// The enum value (as the message holds it) of a domain `name`: its words in capitals joined
/// by `_` (`out-of-capacity`, `gap reached` -> `OUT_OF_CAPACITY`, `GAP_REACHED`). "" is the
/// unspecified value (0); a name without a value is an error naming `field`.
pub(crate) fn to_wire<E: Into<i32>>(
    name: &str,
    parse: fn(&str) -> Option<E>,
    field: impl FnOnce() -> String,
) -> Result<i32, ConvertError> {
    if name.is_empty() {
        return Ok(0);
    }
    parse(&name.to_ascii_uppercase().replace(['-', ' '], "_"))
        .map(Into::into)
        .ok_or_else(|| ConvertError {
            field: field(),
            problem: format!("{name:?} has no value in the contract"),
        })
}

/// The domain name of an enum value: its words in lower case joined by `separator` (the
/// domain's `-` or ` `); "" for the unspecified value (0). A value this build does not know is
/// an error naming `field`.
pub(crate) fn from_wire<E: TryFrom<i32>>(
    value: i32,
    name: fn(&E) -> &'static str,
    separator: &str,
    field: impl FnOnce() -> String,
) -> Result<String, DecodeError> {
    if value == 0 {
        return Ok(String::new());
    }
    let e = E::try_from(value).map_err(|_| DecodeError {
        field: field(),
        message: format!("unknown enum value {value}"),
    })?;
    Ok(name(&e).to_ascii_lowercase().replace('_', separator))
}

fn unplaced_code(u: &core::Unplaced, field: impl FnOnce() -> String) -> Result<i32, ConvertError> {
    to_wire(&u.code, v1::unplaced_server::Code::from_str_name, field)
}

fn unplaced_to_wire(u: &core::Unplaced, field: &str) -> Result<v1::UnplacedServer, ConvertError> {
    Ok(v1::UnplacedServer {
        server: u.server.clone(),
        code: unplaced_code(u, || format!("{field}.code"))?,
        reason: u.reason.clone(),
    })
}

fn unplaced_from_wire(u: v1::UnplacedServer, field: &str) -> Result<core::Unplaced, DecodeError> {
    Ok(core::Unplaced {
        code: from_wire(u.code, v1::unplaced_server::Code::as_str_name, "-", || {
            format!("{field}.code")
        })?,
        server: u.server,
        reason: u.reason,
    })
}

// ---- Collect ------------------------------------------------------------------------------

impl From<&core::ServerRef> for v1::DeploymentRef {
    fn from(r: &core::ServerRef) -> Self {
        Self {
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            uid: r.uid.clone(),
        }
    }
}

impl From<v1::DeploymentRef> for core::ServerRef {
    fn from(r: v1::DeploymentRef) -> Self {
        Self {
            name: r.name,
            namespace: r.namespace,
            uid: r.uid,
        }
    }
}

fn source_to_wire(s: core::Source) -> i32 {
    to_wire(
        s.name(),
        v1::field_source::Source::from_str_name,
        String::new,
    )
    .expect("every source has a value (tested)")
}

fn strategy_to_wire(s: core::Strategy) -> v1::RolloutStrategy {
    match s {
        core::Strategy::Recreate => v1::RolloutStrategy {
            recreate: true,
            ..Default::default()
        },
        core::Strategy::Rolling {
            max_unavailable,
            max_surge,
        } => v1::RolloutStrategy {
            recreate: false,
            max_unavailable: max_unavailable.to_string(),
            max_surge: max_surge.to_string(),
        },
    }
}

/// `s` at `field` (e.g. `observations[0].strategy`), an empty budget being Kubernetes' 25%.
fn strategy_from_wire(s: v1::RolloutStrategy, field: &str) -> Result<core::Strategy, DecodeError> {
    if s.recreate {
        return Ok(core::Strategy::Recreate);
    }
    let budget = |value: &str, name: &str| -> Result<core::Budget, DecodeError> {
        if value.is_empty() {
            return Ok(core::Budget::Percent(25));
        }
        value.parse().map_err(|message| DecodeError {
            field: format!("{field}.{name}"),
            message,
        })
    };
    Ok(core::Strategy::Rolling {
        max_unavailable: budget(&s.max_unavailable, "maxUnavailable")?,
        max_surge: budget(&s.max_surge, "maxSurge")?,
    })
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
            deployments: c.refs.iter().map(|(k, r)| (k.clone(), r.into())).collect(),
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
                                source: source_to_wire(s.source),
                            })
                            .collect(),
                        running: o.running,
                        waiting: o.waiting,
                        kv_cache_usage: o.kv_cache_usage,
                        rolling: o.rolling,
                        strategy: Some(strategy_to_wire(o.strategy)),
                        demand: Some(v1::DemandEstimate {
                            window: time::nonzero_secs(o.demand.window_seconds),
                            requests: o.demand.requests,
                            rate_error: o.demand.rate_error,
                        }),
                        pods: o
                            .pods
                            .iter()
                            .map(|p| v1::PodLoad {
                                pod: p.pod.clone(),
                                outstanding: p.outstanding,
                                startup_duration: time::nonzero_secs(p.startup_seconds),
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
            unplaced: c
                .unplaced
                .iter()
                .enumerate()
                .map(|(i, u)| unplaced_to_wire(u, &format!("unplaced[{i}]")))
                .collect::<Result<_, _>>()?,
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
                        let field = || format!("observations[{i}].sources[{j}].source");
                        let name =
                            from_wire(s.source, v1::field_source::Source::as_str_name, "-", field)?;
                        Ok(core::FieldSource {
                            source: name.parse().map_err(|e: core::UnknownName| DecodeError {
                                field: field(),
                                message: e.to_string(),
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
                    rolling: o.rolling,
                    // Absent: Kubernetes' default.
                    strategy: o.strategy.map_or_else(
                        || Ok(core::Strategy::default()),
                        |s| strategy_from_wire(s, &format!("observations[{i}].strategy")),
                    )?,
                    // Absent: nothing measured.
                    demand: o
                        .demand
                        .map_or_else(core::Demand::default, |d| core::Demand {
                            window_seconds: time::secs_or_zero(d.window.as_ref()),
                            requests: d.requests,
                            rate_error: d.rate_error,
                        }),
                    pods: o
                        .pods
                        .into_iter()
                        .map(|p| core::PodLoad {
                            pod: p.pod,
                            outstanding: p.outstanding,
                            // Absent: 0, not known.
                            startup_seconds: time::secs_or_zero(p.startup_duration.as_ref()),
                        })
                        .collect(),
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(Self {
            servers: c.servers.into_iter().map(Into::into).collect(),
            replicas: c.replicas.into_iter().map(Into::into).collect(),
            refs: c
                .deployments
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
            unplaced: c
                .unplaced
                .into_iter()
                .enumerate()
                .map(|(i, u)| unplaced_from_wire(u, &format!("unplaced[{i}]")))
                .collect::<Result<_, _>>()?,
        })
    }
}

// ---- Optimize -----------------------------------------------------------------------------

/// The domain's solver summary as the contract's report.
pub(crate) fn solve_report(s: &core::SolveSummary) -> Result<v1::SolveReport, ConvertError> {
    use v1::solve_report::{Solver, Status};
    Ok(v1::SolveReport {
        solver: to_wire(&s.solver, Solver::from_str_name, || "report.solver".into())?,
        status: to_wire(&s.status, Status::from_str_name, || "report.status".into())?,
        objective: s.objective,
        bound: s.bound,
        gap: s.gap,
        not_fully_served: s.not_fully_served,
        iterations: s.iterations,
        solver_duration: Some(time::from_millis(s.solver_ms)),
        unserved_floor: s
            .unserved_floor
            .as_ref()
            .map(|f| {
                Ok(v1::UnservedFloor {
                    priority: int(|| "report.unservedFloor.priority".into(), f.priority)?,
                    unserved: f.unserved,
                    at_least: f.at_least,
                })
            })
            .transpose()?,
    })
}

impl TryFrom<v1::OptimizeResponse> for core::Decision {
    type Error = DecodeError;
    fn try_from(r: v1::OptimizeResponse) -> Result<Self, DecodeError> {
        use v1::solve_report::{Solver, Status};
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
        let report = r
            .report
            .map(|s| {
                Ok::<_, DecodeError>(core::SolveSummary {
                    solver: from_wire(s.solver, Solver::as_str_name, " ", || {
                        "report.solver".into()
                    })?,
                    status: from_wire(s.status, Status::as_str_name, " ", || {
                        "report.status".into()
                    })?,
                    objective: s.objective,
                    bound: s.bound,
                    gap: s.gap,
                    not_fully_served: s.not_fully_served,
                    iterations: s.iterations,
                    solver_ms: s.solver_duration.as_ref().map_or(0.0, time::millis),
                    unserved_floor: s.unserved_floor.map(|f| core::UnservedFloor {
                        priority: i64::from(f.priority),
                        unserved: f.unserved,
                        at_least: f.at_least,
                    }),
                })
            })
            .transpose()?;
        Ok(Self {
            allocations: r
                .solution
                .map(|s| inferno_api::AllocationSolution::from(s).allocations)
                .unwrap_or_default(),
            unplaced: r
                .unplaced
                .into_iter()
                .enumerate()
                .map(|(i, u)| unplaced_from_wire(u, &format!("unplaced[{i}]")))
                .collect::<Result<_, _>>()?,
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
                duration_ms: s.duration.as_ref().map_or(0.0, time::millis),
            }),
            best_effort: r.best_effort,
            warnings: r.warnings,
            report,
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
            unplaced: d
                .unplaced
                .iter()
                .enumerate()
                .map(|(i, u)| unplaced_to_wire(u, &format!("unplaced[{i}]")))
                .collect::<Result<_, _>>()?,
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
                duration: Some(time::from_millis(s.duration_ms)),
            }),
            best_effort: d.best_effort.clone(),
            warnings: d.warnings.clone(),
            report: d.report.as_ref().map(solve_report).transpose()?,
            heterogeneous,
        })
    }
}

// ---- Apply --------------------------------------------------------------------------------

fn move_cause_to_wire(c: core::MoveCause) -> i32 {
    to_wire(
        c.name(),
        v1::accelerator_move::Cause::from_str_name,
        String::new,
    )
    .expect("every move cause has a value (tested)")
}

impl TryFrom<&core::ApplyRequest> for v1::ApplyRequest {
    type Error = ConvertError;
    fn try_from(r: &core::ApplyRequest) -> Result<Self, ConvertError> {
        Ok(Self {
            allocations: allocations(&r.allocations)?,
            deployments: r.refs.iter().map(|(k, v)| (k.clone(), v.into())).collect(),
            dry_run: r.dry_run,
            unplaced: r
                .unplaced
                .iter()
                .map(|(k, u)| Ok((k.clone(), unplaced_to_wire(u, &format!("unplaced[{k:?}]"))?)))
                .collect::<Result<_, ConvertError>>()?,
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
            moves: r
                .moves
                .iter()
                .map(|(server, m)| {
                    let wire = v1::AcceleratorMove {
                        cause: move_cause_to_wire(m.cause),
                        reason: m.reason.clone(),
                    };
                    (server.clone(), wire)
                })
                .collect(),
        })
    }
}

impl TryFrom<v1::ApplyRequest> for core::ApplyRequest {
    type Error = DecodeError;
    fn try_from(r: v1::ApplyRequest) -> Result<Self, DecodeError> {
        let unplaced = r
            .unplaced
            .into_iter()
            .map(|(server, u)| {
                let mut u = unplaced_from_wire(u, &format!("unplaced[{server:?}]"))?;
                // The map's key names the server; a message that leaves it out still means it.
                u.server.clone_from(&server);
                Ok((server, u))
            })
            .collect::<Result<_, DecodeError>>()?;
        let moves = r
            .moves
            .into_iter()
            .map(|(server, m)| {
                let field = || format!("moves[{server:?}].cause");
                let name = from_wire(
                    m.cause,
                    v1::accelerator_move::Cause::as_str_name,
                    " ",
                    field,
                )?;
                let cause = name.parse().map_err(|e: core::UnknownName| DecodeError {
                    field: field(),
                    message: e.to_string(),
                })?;
                Ok((
                    server,
                    core::Move {
                        cause,
                        reason: m.reason,
                    },
                ))
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(Self {
            allocations: r
                .allocations
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
            refs: r
                .deployments
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
            moves,
        })
    }
}

fn outcome_to_wire(o: core::Outcome) -> v1::deployment_result::Outcome {
    v1::deployment_result::Outcome::from_str_name(&o.name().to_ascii_uppercase().replace('-', "_"))
        .expect("every outcome has a value (tested)")
}

/// The wire value of an apply outcome (the controller's report names it too).
impl From<core::Outcome> for v1::deployment_result::Outcome {
    fn from(o: core::Outcome) -> Self {
        outcome_to_wire(o)
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
            before: side(&r.old, "before")?,
            after: side(&r.new, "after")?,
            applied: r.applied(),
            error: r.error.clone(),
            reason: r.reason.clone(),
            outcome: outcome_to_wire(r.outcome).into(),
            refusal: to_wire(
                &r.code,
                v1::deployment_result::Refusal::from_str_name,
                || format!("results[{:?}].refusal", r.server),
            )?,
        })
    }
}

impl TryFrom<v1::DeploymentResult> for core::DeploymentResult {
    type Error = DecodeError;
    fn try_from(r: v1::DeploymentResult) -> Result<Self, DecodeError> {
        use v1::deployment_result::{Outcome, Refusal};
        let field = |f: &str| format!("results[{:?}].{f}", r.server);
        let outcome = from_wire(r.outcome, Outcome::as_str_name, "-", || field("outcome"))?;
        let outcome = outcome
            .parse()
            .map_err(|e: core::UnknownName| DecodeError {
                field: field("outcome"),
                message: e.to_string(),
            })?;
        let code = from_wire(r.refusal, Refusal::as_str_name, "-", || field("refusal"))?;
        Ok(Self {
            outcome,
            server: r.server,
            deployment: r.deployment,
            namespace: r.namespace,
            old: r.before.map(Into::into),
            new: r.after.map(Into::into),
            reason: r.reason,
            error: r.error,
            code,
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
        let startup = wire.observations[0].pods[0].startup_duration.unwrap();
        assert_eq!(time::secs(&startup), 95.5);
        // Not known: absent, not "0s".
        assert_eq!(wire.observations[0].pods[1].startup_duration, None);
        assert_eq!(
            wire.unplaced[0].code(),
            v1::unplaced_server::Code::InvalidLoad
        );
        assert_eq!(core::Collected::try_from(wire.clone()).unwrap(), c);
        // An older collector sends no estimate: nothing measured.
        let mut old = wire;
        old.observations[0].demand = None;
        let decoded = core::Collected::try_from(old).unwrap();
        assert_eq!(decoded.observations[0].demand, core::Demand::default());
    }

    #[test]
    fn a_rollout_strategy_round_trips_and_a_bad_budget_names_its_field() {
        let mut c = core::Collected {
            observations: vec![core::Observation {
                server: "s".into(),
                strategy: core::Strategy::Rolling {
                    max_unavailable: core::Budget::Pods(0),
                    max_surge: core::Budget::Percent(50),
                },
                ..Default::default()
            }],
            ..Default::default()
        };
        let wire = v1::CollectResponse::try_from(&c).unwrap();
        assert_eq!(core::Collected::try_from(wire).unwrap(), c);
        c.observations[0].strategy = core::Strategy::Recreate;
        let wire = v1::CollectResponse::try_from(&c).unwrap();
        assert_eq!(core::Collected::try_from(wire.clone()).unwrap(), c);
        // An older collector sends none: Kubernetes' default.
        let mut old = wire.clone();
        old.observations[0].strategy = None;
        let decoded = core::Collected::try_from(old).unwrap();
        assert_eq!(decoded.observations[0].strategy, core::Strategy::default());
        let mut bad = wire;
        bad.observations[0].strategy = Some(v1::RolloutStrategy {
            recreate: false,
            max_unavailable: "1".into(),
            max_surge: "lots".into(),
        });
        let e = core::Collected::try_from(bad).unwrap_err();
        assert_eq!(e.field, "observations[0].strategy.maxSurge");
        assert!(e.message.contains("\"lots\""), "{}", e.message);
    }

    #[test]
    fn an_unknown_source_is_an_error_naming_its_field() {
        let wire = v1::CollectResponse {
            observations: vec![v1::ServerObservation {
                sources: vec![v1::FieldSource {
                    field: "arrivalRate".into(),
                    source: 99,
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let e = core::Collected::try_from(wire.clone()).unwrap_err();
        assert_eq!(e.field, "observations[0].sources[0].source");
        assert_eq!(e.message, "unknown enum value 99");
        // Unspecified is no source either.
        let mut unset = wire;
        unset.observations[0].sources[0].source = 0;
        let e = core::Collected::try_from(unset).unwrap_err();
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
            moves: [(
                "s".to_string(),
                core::Move {
                    cause: core::MoveCause::Capacity,
                    reason: "capacity: 1 x G2 needs 1 of the 0 G2 units left".into(),
                },
            )]
            .into(),
            ..Default::default()
        };
        let wire = v1::ApplyRequest::try_from(&r).unwrap();
        assert_eq!(wire.pod_loads["s"].outstanding["s-2"], 12.5);
        assert_eq!(
            wire.moves["s"].cause(),
            v1::accelerator_move::Cause::Capacity
        );
        assert_eq!(
            wire.unplaced["t"].code(),
            v1::unplaced_server::Code::OutOfCapacity
        );
        assert_eq!(core::ApplyRequest::try_from(wire).unwrap(), r);

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
            outcome: 0,
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

    /// Every name the domain uses has its enum value, and comes back the same.
    #[test]
    fn every_domain_name_has_an_enum_value() {
        use v1::deployment_result::{Outcome, Refusal};
        use v1::solve_report::{Solver, Status};
        fn round_trip<E: Into<i32> + TryFrom<i32>>(
            names: &[&str],
            parse: fn(&str) -> Option<E>,
            name: fn(&E) -> &'static str,
            separator: &str,
        ) {
            for n in names {
                let v = to_wire(n, parse, String::new).unwrap_or_else(|e| panic!("{e}"));
                assert_ne!(v, 0, "{n}");
                assert_eq!(&from_wire(v, name, separator, String::new).unwrap(), n);
            }
        }
        let sources: Vec<&str> = core::Source::ALL.iter().map(|s| s.name()).collect();
        use v1::field_source::Source;
        round_trip(&sources, Source::from_str_name, Source::as_str_name, "-");
        let outcomes: Vec<&str> = core::Outcome::ALL.iter().map(|o| o.name()).collect();
        round_trip(&outcomes, Outcome::from_str_name, Outcome::as_str_name, "-");
        for o in core::Outcome::ALL {
            assert_eq!(
                outcome_to_wire(o).as_str_name(),
                o.name().to_ascii_uppercase().replace('-', "_")
            );
        }
        let causes: Vec<&str> = core::MoveCause::ALL.iter().map(|c| c.name()).collect();
        use v1::accelerator_move::Cause;
        round_trip(&causes, Cause::from_str_name, Cause::as_str_name, " ");
        // The optimizer's and the collector's codes (solver/reason.rs, the collector's
        // invalid-load), the actuator's refusals (guard.rs), the solvers and their statuses.
        use v1::unplaced_server::Code;
        let codes = [
            "unknown-class",
            "no-target",
            "no-perf-data",
            "invalid-load",
            "kept-accelerator-unknown",
            "invalid-data",
            "slo-unattainable",
            "out-of-capacity",
        ];
        round_trip(&codes, Code::from_str_name, Code::as_str_name, "-");
        let refusals = [
            "invalid-target",
            "namespace-not-watched",
            "not-managed",
            "uid-missing",
            "uid-mismatch",
            "name-mismatch",
            "out-of-range",
        ];
        round_trip(&refusals, Refusal::from_str_name, Refusal::as_str_name, "-");
        let solvers = ["greedy", "unlimited", "milp", "lagrangian"];
        round_trip(&solvers, Solver::from_str_name, Solver::as_str_name, " ");
        let statuses = [
            "optimal",
            "gap reached",
            "time limit",
            "iteration limit",
            "heuristic",
            "cancelled",
        ];
        round_trip(&statuses, Status::from_str_name, Status::as_str_name, " ");
        // A name without a value is an error naming its field, never the unspecified value.
        let e = to_wire("guess", Code::from_str_name, || "unplaced[0].code".into()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field unplaced[0].code: \"guess\" has no value in the contract"
        );
    }
}
