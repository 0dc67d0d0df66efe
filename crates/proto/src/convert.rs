//! Conversions between the generated `inferno.v1` messages and the `inferno-api` data types.
//!
//! Proto -> API is total (`From`): absent sub-messages become defaults, as missing JSON fields
//! do. API -> proto is `TryFrom` because the data files' integers are 64-bit and the contract's
//! are 32-bit: an out-of-range value is an error naming its field.

use crate::v1;
use inferno_api as api;

/// An API or domain value that does not fit the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: {problem}")]
pub struct ConvertError {
    /// The field, as a path (e.g. `servers[3].minNumReplicas`).
    pub field: String,
    /// Why it does not fit, with the value (`1099511627776 does not fit a 32-bit integer`).
    pub problem: String,
}

pub(crate) fn int(field: impl FnOnce() -> String, value: i64) -> Result<i32, ConvertError> {
    i32::try_from(value).map_err(|_| ConvertError {
        field: field(),
        problem: format!("{value} does not fit a 32-bit integer"),
    })
}

/// Seconds of the data as an optional Duration (0 = absent, the default); a value that is not
/// a finite number has no Duration.
fn seconds(field: &str, value: f64) -> Result<Option<prost_types::Duration>, ConvertError> {
    if !value.is_finite() {
        return Err(ConvertError {
            field: format!("optimizer.{field}"),
            problem: format!("{value} is not a finite number of seconds"),
        });
    }
    Ok(crate::time::nonzero_secs(value))
}

// ---- proto -> api -------------------------------------------------------------------------

impl From<v1::PowerSpec> for api::PowerSpec {
    fn from(p: v1::PowerSpec) -> Self {
        Self {
            idle: p.idle.into(),
            full: p.full.into(),
            mid_power: p.mid_power.into(),
            mid_util: p.mid_util,
        }
    }
}

impl From<v1::AcceleratorSpec> for api::AcceleratorSpec {
    fn from(a: v1::AcceleratorSpec) -> Self {
        Self {
            name: a.name,
            acc_type: a.r#type,
            multiplicity: a.multiplicity.into(),
            mem_size: a.mem_size.into(),
            mem_bw: a.mem_bandwidth.into(),
            power: a.power.map(Into::into).unwrap_or_default(),
            cost: a.cost,
        }
    }
}

impl From<v1::AcceleratorData> for api::AcceleratorData {
    fn from(d: v1::AcceleratorData) -> Self {
        Self {
            accelerators: d.accelerators.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<v1::AcceleratorCount> for api::AcceleratorCount {
    fn from(c: v1::AcceleratorCount) -> Self {
        Self {
            acc_type: c.r#type,
            count: c.count.into(),
        }
    }
}

impl From<v1::CapacityData> for api::CapacityData {
    fn from(d: v1::CapacityData) -> Self {
        Self {
            count: d.counts.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<v1::PerfParams> for api::PerfParms {
    fn from(p: v1::PerfParams) -> Self {
        Self {
            alpha: p.alpha,
            beta: p.beta,
            gamma: p.gamma,
        }
    }
}

impl From<v1::ModelAcceleratorPerfData> for api::ModelAcceleratorPerfData {
    fn from(m: v1::ModelAcceleratorPerfData) -> Self {
        Self {
            name: m.name,
            acc: m.accelerator,
            acc_count: m.accelerator_count.into(),
            max_batch_size: m.max_batch_size.into(),
            at_tokens: m.at_tokens.into(),
            perf_parms: m.perf_params.map(Into::into).unwrap_or_default(),
        }
    }
}

impl From<v1::ModelData> for api::ModelData {
    fn from(d: v1::ModelData) -> Self {
        Self {
            models: d.models.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<v1::ModelTarget> for api::ModelTarget {
    fn from(t: v1::ModelTarget) -> Self {
        Self {
            model: t.model,
            slo_itl: t.slo_itl,
            slo_ttft: t.slo_ttft,
            slo_tps: t.slo_tps,
        }
    }
}

impl From<v1::ServiceClassSpec> for api::ServiceClassSpec {
    fn from(c: v1::ServiceClassSpec) -> Self {
        Self {
            name: c.name,
            priority: c.priority.into(),
            model_targets: c.model_targets.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<v1::ServiceClassData> for api::ServiceClassData {
    fn from(d: v1::ServiceClassData) -> Self {
        Self {
            service_classes: d.service_classes.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<v1::ServerLoadSpec> for api::ServerLoadSpec {
    fn from(l: v1::ServerLoadSpec) -> Self {
        Self {
            arrival_rate: l.arrival_rate,
            throughput: l.throughput,
            avg_in_tokens: l.avg_in_tokens.into(),
            avg_out_tokens: l.avg_out_tokens.into(),
            out_tokens_cv: l.out_tokens_cv,
        }
    }
}

impl From<v1::AllocationData> for api::AllocationData {
    fn from(a: v1::AllocationData) -> Self {
        Self {
            accelerator: a.accelerator,
            num_replicas: a.num_replicas.into(),
            max_batch: a.max_batch.into(),
            cost: a.cost,
            itl_average: a.itl_average,
            ttft_average: a.ttft_average,
            load: a.load.map(Into::into).unwrap_or_default(),
        }
    }
}

impl From<v1::ServerSpec> for api::ServerSpec {
    fn from(s: v1::ServerSpec) -> Self {
        Self {
            name: s.name,
            class: s.class,
            model: s.model,
            keep_accelerator: s.keep_accelerator,
            min_num_replicas: s.min_num_replicas.into(),
            max_batch_size: s.max_batch_size.into(),
            max_queue_size: s.max_queue_size.into(),
            current_alloc: s.current_alloc.map(Into::into).unwrap_or_default(),
            desired_alloc: s.desired_alloc.map(Into::into).unwrap_or_default(),
        }
    }
}

impl From<v1::ServerData> for api::ServerData {
    fn from(d: v1::ServerData) -> Self {
        Self {
            servers: d.servers.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<v1::OptimizerSpec> for api::OptimizerSpec {
    fn from(o: v1::OptimizerSpec) -> Self {
        Self {
            unlimited: o.unlimited,
            heterogeneous: o.heterogeneous,
            milp_solver: o.milp_solver,
            use_cplex: o.use_cplex,
            delayed_best_effort: o.delayed_best_effort,
            saturation_policy: o.saturation_policy,
            batch_sizing: o.batch_sizing,
            solver: o.solver,
            time_limit_seconds: crate::time::secs_or_zero(o.time_limit.as_ref()),
            startup_seconds: crate::time::secs_or_zero(o.startup_delay.as_ref()),
            payback_seconds: crate::time::secs_or_zero(o.payback_period.as_ref()),
            improve_iterations: o.improve_iterations.map(Into::into),
            iteration_limit: o.iteration_limit.map(Into::into),
        }
    }
}

impl From<v1::SystemSpec> for api::SystemSpec {
    fn from(s: v1::SystemSpec) -> Self {
        Self {
            accelerator_data: s.accelerator_data.map(Into::into).unwrap_or_default(),
            model_data: s.model_data.map(Into::into).unwrap_or_default(),
            service_class_data: s.service_class_data.map(Into::into).unwrap_or_default(),
            server_data: s.server_data.map(Into::into).unwrap_or_default(),
            optimizer_data: api::OptimizerData {
                optimizer: s
                    .optimizer_data
                    .and_then(|o| o.optimizer)
                    .map(Into::into)
                    .unwrap_or_default(),
            },
            capacity_data: s.capacity_data.map(Into::into).unwrap_or_default(),
        }
    }
}

impl From<v1::AllocationSolution> for api::AllocationSolution {
    fn from(s: v1::AllocationSolution) -> Self {
        Self {
            allocations: s
                .allocations
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect(),
        }
    }
}

// ---- api -> proto -------------------------------------------------------------------------

impl TryFrom<&api::AcceleratorSpec> for v1::AcceleratorSpec {
    type Error = ConvertError;
    fn try_from(a: &api::AcceleratorSpec) -> Result<Self, ConvertError> {
        let f = |field: &str| format!("accelerator {:?}.{field}", a.name);
        Ok(Self {
            name: a.name.clone(),
            r#type: a.acc_type.clone(),
            multiplicity: int(|| f("multiplicity"), a.multiplicity)?,
            mem_size: int(|| f("memSize"), a.mem_size)?,
            mem_bandwidth: int(|| f("memBW"), a.mem_bw)?,
            power: Some(v1::PowerSpec {
                idle: int(|| f("power.idle"), a.power.idle)?,
                full: int(|| f("power.full"), a.power.full)?,
                mid_power: int(|| f("power.midPower"), a.power.mid_power)?,
                mid_util: a.power.mid_util,
            }),
            cost: a.cost,
        })
    }
}

impl TryFrom<&api::AcceleratorData> for v1::AcceleratorData {
    type Error = ConvertError;
    fn try_from(d: &api::AcceleratorData) -> Result<Self, ConvertError> {
        Ok(Self {
            accelerators: d
                .accelerators
                .iter()
                .map(TryInto::try_into)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl TryFrom<&api::AcceleratorCount> for v1::AcceleratorCount {
    type Error = ConvertError;
    fn try_from(c: &api::AcceleratorCount) -> Result<Self, ConvertError> {
        Ok(Self {
            r#type: c.acc_type.clone(),
            count: int(|| format!("capacity {:?}.count", c.acc_type), c.count)?,
        })
    }
}

impl TryFrom<&api::CapacityData> for v1::CapacityData {
    type Error = ConvertError;
    fn try_from(d: &api::CapacityData) -> Result<Self, ConvertError> {
        Ok(Self {
            counts: d
                .count
                .iter()
                .map(TryInto::try_into)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl From<&api::PerfParms> for v1::PerfParams {
    fn from(p: &api::PerfParms) -> Self {
        Self {
            alpha: p.alpha,
            beta: p.beta,
            gamma: p.gamma,
        }
    }
}

impl TryFrom<&api::ModelAcceleratorPerfData> for v1::ModelAcceleratorPerfData {
    type Error = ConvertError;
    fn try_from(m: &api::ModelAcceleratorPerfData) -> Result<Self, ConvertError> {
        let f = |field: &str| format!("model {:?} on {:?}.{field}", m.name, m.acc);
        Ok(Self {
            name: m.name.clone(),
            accelerator: m.acc.clone(),
            accelerator_count: int(|| f("accCount"), m.acc_count)?,
            max_batch_size: int(|| f("maxBatchSize"), m.max_batch_size)?,
            at_tokens: int(|| f("atTokens"), m.at_tokens)?,
            perf_params: Some((&m.perf_parms).into()),
        })
    }
}

impl TryFrom<&api::ModelData> for v1::ModelData {
    type Error = ConvertError;
    fn try_from(d: &api::ModelData) -> Result<Self, ConvertError> {
        Ok(Self {
            models: d
                .models
                .iter()
                .map(TryInto::try_into)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl From<&api::ModelTarget> for v1::ModelTarget {
    fn from(t: &api::ModelTarget) -> Self {
        Self {
            model: t.model.clone(),
            slo_itl: t.slo_itl,
            slo_ttft: t.slo_ttft,
            slo_tps: t.slo_tps,
        }
    }
}

impl TryFrom<&api::ServiceClassSpec> for v1::ServiceClassSpec {
    type Error = ConvertError;
    fn try_from(c: &api::ServiceClassSpec) -> Result<Self, ConvertError> {
        Ok(Self {
            name: c.name.clone(),
            priority: int(|| format!("class {:?}.priority", c.name), c.priority)?,
            model_targets: c.model_targets.iter().map(Into::into).collect(),
        })
    }
}

impl TryFrom<&api::ServiceClassData> for v1::ServiceClassData {
    type Error = ConvertError;
    fn try_from(d: &api::ServiceClassData) -> Result<Self, ConvertError> {
        Ok(Self {
            service_classes: d
                .service_classes
                .iter()
                .map(TryInto::try_into)
                .collect::<Result<_, _>>()?,
        })
    }
}

fn load(l: &api::ServerLoadSpec, path: &str) -> Result<v1::ServerLoadSpec, ConvertError> {
    Ok(v1::ServerLoadSpec {
        arrival_rate: l.arrival_rate,
        throughput: l.throughput,
        avg_in_tokens: int(|| format!("{path}.avgInTokens"), l.avg_in_tokens)?,
        avg_out_tokens: int(|| format!("{path}.avgOutTokens"), l.avg_out_tokens)?,
        out_tokens_cv: l.out_tokens_cv,
    })
}

/// An allocation, with `path` naming it in errors.
pub(crate) fn allocation(
    a: &api::AllocationData,
    path: &str,
) -> Result<v1::AllocationData, ConvertError> {
    Ok(v1::AllocationData {
        accelerator: a.accelerator.clone(),
        num_replicas: int(|| format!("{path}.numReplicas"), a.num_replicas)?,
        max_batch: int(|| format!("{path}.maxBatch"), a.max_batch)?,
        cost: a.cost,
        itl_average: a.itl_average,
        ttft_average: a.ttft_average,
        load: Some(load(&a.load, &format!("{path}.load"))?),
    })
}

impl TryFrom<&api::AllocationData> for v1::AllocationData {
    type Error = ConvertError;
    fn try_from(a: &api::AllocationData) -> Result<Self, ConvertError> {
        allocation(a, "allocation")
    }
}

impl TryFrom<&api::ServerSpec> for v1::ServerSpec {
    type Error = ConvertError;
    fn try_from(s: &api::ServerSpec) -> Result<Self, ConvertError> {
        let f = |field: &str| format!("server {:?}.{field}", s.name);
        Ok(Self {
            name: s.name.clone(),
            class: s.class.clone(),
            model: s.model.clone(),
            keep_accelerator: s.keep_accelerator,
            min_num_replicas: int(|| f("minNumReplicas"), s.min_num_replicas)?,
            max_batch_size: int(|| f("maxBatchSize"), s.max_batch_size)?,
            max_queue_size: int(|| f("maxQueueSize"), s.max_queue_size)?,
            current_alloc: Some(allocation(&s.current_alloc, &f("currentAlloc"))?),
            desired_alloc: Some(allocation(&s.desired_alloc, &f("desiredAlloc"))?),
        })
    }
}

impl TryFrom<&api::ServerData> for v1::ServerData {
    type Error = ConvertError;
    fn try_from(d: &api::ServerData) -> Result<Self, ConvertError> {
        Ok(Self {
            servers: d
                .servers
                .iter()
                .map(TryInto::try_into)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl TryFrom<&api::OptimizerSpec> for v1::OptimizerSpec {
    type Error = ConvertError;
    fn try_from(o: &api::OptimizerSpec) -> Result<Self, ConvertError> {
        let f = |field: &'static str| move || format!("optimizer.{field}");
        Ok(Self {
            unlimited: o.unlimited,
            heterogeneous: o.heterogeneous,
            milp_solver: o.milp_solver,
            use_cplex: o.use_cplex,
            delayed_best_effort: o.delayed_best_effort,
            saturation_policy: o.saturation_policy.clone(),
            batch_sizing: o.batch_sizing.clone(),
            solver: o.solver.clone(),
            time_limit: seconds("timeLimitSeconds", o.time_limit_seconds)?,
            startup_delay: seconds("startupSeconds", o.startup_seconds)?,
            payback_period: seconds("paybackSeconds", o.payback_seconds)?,
            improve_iterations: o
                .improve_iterations
                .map(|n| int(f("improveIterations"), n))
                .transpose()?,
            iteration_limit: o
                .iteration_limit
                .map(|n| int(f("iterationLimit"), n))
                .transpose()?,
        })
    }
}

impl TryFrom<&api::SystemSpec> for v1::SystemSpec {
    type Error = ConvertError;
    fn try_from(s: &api::SystemSpec) -> Result<Self, ConvertError> {
        Ok(Self {
            accelerator_data: Some((&s.accelerator_data).try_into()?),
            model_data: Some((&s.model_data).try_into()?),
            service_class_data: Some((&s.service_class_data).try_into()?),
            server_data: Some((&s.server_data).try_into()?),
            optimizer_data: Some(v1::OptimizerData {
                optimizer: Some((&s.optimizer_data.optimizer).try_into()?),
            }),
            capacity_data: Some((&s.capacity_data).try_into()?),
        })
    }
}

impl TryFrom<&api::AllocationSolution> for v1::AllocationSolution {
    type Error = ConvertError;
    fn try_from(s: &api::AllocationSolution) -> Result<Self, ConvertError> {
        let allocations = s
            .allocations
            .iter()
            .map(|(k, v)| Ok((k.clone(), allocation(v, &format!("allocations[{k:?}]"))?)))
            .collect::<Result<_, ConvertError>>()?;
        Ok(Self { allocations })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_integers_name_their_field() {
        let s = api::ServerSpec {
            name: "s".into(),
            min_num_replicas: 1 << 40,
            ..Default::default()
        };
        let e = v1::ServerSpec::try_from(&s).unwrap_err();
        assert_eq!(e.field, "server \"s\".minNumReplicas");
        let o = api::OptimizerSpec {
            iteration_limit: Some(1 << 40),
            ..Default::default()
        };
        let e = v1::OptimizerSpec::try_from(&o).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.problem.as_str()),
            (
                "optimizer.iterationLimit",
                "1099511627776 does not fit a 32-bit integer"
            )
        );
        let o = api::OptimizerSpec {
            improve_iterations: Some(-(1 << 40)),
            ..Default::default()
        };
        let e = v1::OptimizerSpec::try_from(&o).unwrap_err();
        assert_eq!(e.field, "optimizer.improveIterations");
        let o = api::OptimizerSpec {
            time_limit_seconds: f64::INFINITY,
            ..Default::default()
        };
        let e = v1::OptimizerSpec::try_from(&o).unwrap_err();
        assert_eq!(e.field, "optimizer.timeLimitSeconds");
    }

    /// Seconds of the data are Durations on the wire, absent when 0 (the default).
    #[test]
    fn optimizer_seconds_are_durations() {
        let o = api::OptimizerSpec {
            time_limit_seconds: 2.5,
            startup_seconds: 120.0,
            ..Default::default()
        };
        let wire = v1::OptimizerSpec::try_from(&o).unwrap();
        assert_eq!(wire.time_limit.unwrap().nanos, 500_000_000);
        assert_eq!(wire.payback_period, None);
        assert_eq!(api::OptimizerSpec::from(wire), o);
    }
}
