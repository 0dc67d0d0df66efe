//! Domain results -> `inferno.v1` messages.

use crate::queue::{Concurrency, Metrics, Sizing};
use crate::solver::{Solution, SolveReport};
use inferno_proto::v1;
use inferno_proto::v1::unplaced_server::Code;
use inferno_proto::v1::{size_response::Binding, solve_report};
use tonic::Status;

/// A solution as the service returns it.
pub(crate) fn optimize_response(
    solution: &Solution,
    warnings: Vec<String>,
) -> Result<v1::OptimizeResponse, Status> {
    // Straight from the placements: a copy in the data-file types first doubled the peak of
    // a large answer.
    let allocations = solution
        .placements
        .iter()
        .map(|(server, p)| Ok((server.clone(), (&p.allocation).try_into()?)))
        .collect::<Result<_, inferno_proto::ConvertError>>()
        .map_err(|e| Status::internal(e.to_string()))?;
    let solution_msg = v1::AllocationSolution { allocations };
    Ok(v1::OptimizeResponse {
        solution: Some(solution_msg),
        unplaced: solution
            .unplaced
            .iter()
            .map(|u| v1::UnplacedServer {
                server: u.server.clone(),
                code: unplaced_code(u.reason.code()).into(),
                reason: u.reason.to_string(),
            })
            .collect(),
        total_cost: solution.total_cost(),
        usage: solution
            .usage
            .iter()
            .map(|(t, (used, cap))| v1::TypeUsage {
                r#type: t.clone(),
                used: u32_sat(*used),
                capacity: u32_sat(*cap),
            })
            .collect(),
        stats: Some(v1::SolveStats {
            candidates_sized: u32_sat(solution.stats.candidates_sized),
            candidates_skipped: u32_sat(solution.stats.candidates_skipped),
            sizings: u32_sat(solution.stats.sizings),
            cache_hits: u32_sat(solution.stats.cache_hits),
            duration: Some(inferno_proto::time::from_std(solution.stats.duration)),
        }),
        best_effort: solution
            .placements
            .values()
            .filter(|p| p.best_effort)
            .map(|p| p.server.clone())
            .collect(),
        warnings,
        report: Some(report(&solution.report)?),
        heterogeneous: solution
            .placements
            .values()
            .filter(|p| !p.parts.is_empty())
            .map(|p| v1::HeterogeneousAllocation {
                server: p.server.clone(),
                parts: p
                    .parts
                    .iter()
                    .map(|x| v1::AllocationPart {
                        accelerator: x.accelerator.clone(),
                        num_replicas: i32::try_from(x.replicas).unwrap_or(i32::MAX),
                        cost: x.cost,
                        rps_per_replica: x.rate_per_replica,
                        itl_average: x.itl,
                        ttft_average: x.ttft,
                        rho: x.rho,
                    })
                    .collect(),
            })
            .collect(),
    })
}

/// The enum value of an unplaced server's code (`out-of-capacity` -> `OUT_OF_CAPACITY`).
fn unplaced_code(code: &str) -> Code {
    Code::from_str_name(&code.to_ascii_uppercase().replace('-', "_"))
        .expect("every reason's code has a value (tested)")
}

/// The report on the wire. The names the solver gives (`greedy`, `gap reached`) are its
/// report's enum values; one without a value is a bug (INTERNAL).
fn report(r: &SolveReport) -> Result<v1::SolveReport, Status> {
    let value = |name: &str| name.to_ascii_uppercase().replace(' ', "_");
    let unknown = |what: &str, name: &str| {
        Status::internal(format!(
            "the solver's {what} {name:?} has no value in the contract"
        ))
    };
    Ok(v1::SolveReport {
        solver: solve_report::Solver::from_str_name(&value(r.solver))
            .ok_or_else(|| unknown("name", r.solver))?
            .into(),
        status: solve_report::Status::from_str_name(&value(r.status))
            .ok_or_else(|| unknown("status", r.status))?
            .into(),
        objective: r.objective,
        bound: r.bound,
        gap: r.gap,
        not_fully_served: u32_sat(r.not_fully_served),
        iterations: r.iterations,
        solver_duration: Some(inferno_proto::time::from_std(r.solver_time)),
        unserved_floor: r.unserved_floor.map(|f| v1::UnservedFloor {
            priority: i32::try_from(f.priority).unwrap_or(i32::MAX),
            unserved: u32_sat(f.unserved),
            at_least: u32_sat(f.at_least),
        }),
    })
}

fn u32_sat(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

pub(crate) fn queue_metrics(m: &Metrics) -> v1::QueueMetrics {
    v1::QueueMetrics {
        offered_rps: m.offered_rate,
        throughput: m.throughput,
        avg_resp_time: m.resp_time,
        avg_wait_time: m.wait_time,
        avg_num_in_serv: m.num_in_service,
        avg_prefill_time: m.prefill_time,
        avg_ttft: m.ttft,
        avg_itl: m.itl,
        max_rps: m.max_rate,
        rho: m.rho,
        blocking: m.blocking,
    }
}

pub(crate) fn size_response(s: &Sizing) -> v1::SizeResponse {
    v1::SizeResponse {
        rps_target_ttft: s.rate_ttft,
        rps_target_itl: s.rate_itl,
        binding: match s.binding {
            crate::queue::Binding::None => Binding::TopOfRange,
            crate::queue::Binding::Ttft => Binding::Ttft,
            crate::queue::Binding::Itl => Binding::Itl,
            crate::queue::Binding::Tps => Binding::Tps,
        }
        .into(),
        metrics: Some(queue_metrics(&s.metrics)),
    }
}

pub(crate) fn concurrency_response(c: &Concurrency) -> v1::ConcurrencyResponse {
    let int = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    v1::ConcurrencyResponse {
        concurrency: int(c.concurrency),
        throughput: c.throughput,
        max_batch_itl: int(c.m_itl),
        max_batch_prefill: int(c.m_tpf),
        oracle_calls: int(c.oracle_calls),
        probes: c.probes.iter().map(|&p| int(p)).collect(),
        feasible: c.feasible,
        metrics: c.metrics.as_ref().map(queue_metrics),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::solver::Reason;

    /// Every unplaced reason's code is a value of the contract's enum (the code is matched by
    /// name, so a new reason must get its value).
    #[test]
    fn every_reason_code_has_a_value() {
        let reasons = [
            Reason::UnknownClass(String::new()),
            Reason::NoTarget,
            Reason::NoModelData,
            Reason::InvalidLoad(String::new()),
            Reason::KeptAcceleratorUnknown(String::new()),
            Reason::InvalidData(String::new()),
            Reason::Unattainable(Vec::new()),
        ];
        for r in reasons {
            assert_ne!(unplaced_code(r.code()), Code::Unspecified, "{}", r.code());
        }
        assert_eq!(unplaced_code("out-of-capacity"), Code::OutOfCapacity);
    }
}
