//! The test systems of the controller's unit tests: one model `m` on a few accelerator kinds,
//! the `Free` class, given servers and capacities (the policy's and the move reasons' tests
//! build on it).

use inferno_api::{
    AcceleratorCount, AcceleratorData, AcceleratorSpec, CapacityData, ModelAcceleratorPerfData,
    ModelData, ModelTarget, PerfParms, ServerSpec, ServiceClassData, ServiceClassSpec, SystemSpec,
};

/// (TTFT, ITL) targets of the `Free` class, ms.
pub(crate) const TARGETS: (f64, f64) = (1000.0, 80.0);

/// An accelerator of the test data: name, type, multiplicity, cost (cents/hour), the model's
/// iteration parameters on it (llama-13b's catalog figures) and its batch size.
pub(crate) type Kind = (&'static str, &'static str, i64, f64, [f64; 3], i64);

/// What the optimizer is asked: the model `m` on every one of `kinds`, the `Free` class with
/// [`TARGETS`], `servers` as planned, `capacity` units per type.
pub(crate) fn system(
    kinds: &[Kind],
    servers: &[ServerSpec],
    capacity: &[(&str, i64)],
) -> SystemSpec {
    SystemSpec {
        accelerator_data: AcceleratorData {
            accelerators: kinds
                .iter()
                .map(|(name, t, multiplicity, cost, _, _)| AcceleratorSpec {
                    name: (*name).into(),
                    acc_type: (*t).into(),
                    multiplicity: *multiplicity,
                    cost: *cost,
                    ..AcceleratorSpec::default()
                })
                .collect(),
        },
        model_data: ModelData {
            models: kinds
                .iter()
                .map(
                    |(name, _, _, _, [alpha, beta, gamma], batch)| ModelAcceleratorPerfData {
                        name: "m".into(),
                        acc: (*name).into(),
                        acc_count: 1,
                        max_batch_size: *batch,
                        at_tokens: 512,
                        perf_parms: PerfParms {
                            alpha: *alpha,
                            beta: *beta,
                            gamma: *gamma,
                        },
                    },
                )
                .collect(),
        },
        service_class_data: ServiceClassData {
            service_classes: vec![ServiceClassSpec {
                name: "Free".into(),
                priority: 1,
                model_targets: vec![ModelTarget {
                    model: "m".into(),
                    slo_itl: TARGETS.1,
                    slo_ttft: TARGETS.0,
                    slo_tps: 0.0,
                }],
            }],
        },
        server_data: inferno_api::ServerData {
            servers: servers.to_vec(),
        },
        capacity_data: CapacityData {
            count: capacity
                .iter()
                .map(|(t, n)| AcceleratorCount {
                    acc_type: (*t).into(),
                    count: *n,
                })
                .collect(),
        },
        ..SystemSpec::default()
    }
}
