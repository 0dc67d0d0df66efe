//! The optimizer's answer for a given load: what `static-peak` holds, what `clairvoyant`
//! switches to, and the common starting point of every policy.

use crate::cluster::Allocation;
use crate::scenario::{LoadAt, Plan};
use inferno_api::{AllocationData, ServerLoadSpec, ServerSpec, SystemSpec};
use inferno_optimizer::{solve, SolveOptions};

/// Which iteration parameters the optimizer is given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Parameters {
    /// The catalog's (what Inferno knows).
    Catalog,
    /// The emulated servers' true ones at scenario time `t` (what only a clairvoyant knows).
    TrueAt(f64),
}

/// The system the optimizer sees for `loads` (one per server of the plan).
pub fn system(plan: &Plan, loads: &[LoadAt], params: Parameters) -> SystemSpec {
    let mut spec = plan.system.clone();
    // The clairvoyant also knows how the output lengths spread; the catalog's view does not.
    let out_tokens_cv = match params {
        Parameters::Catalog => 0.0,
        Parameters::TrueAt(_) => plan.scenario.noise.spread(),
    };
    spec.server_data.servers = plan
        .servers
        .iter()
        .zip(loads)
        .map(|(b, l)| ServerSpec {
            name: b.name.clone(),
            class: b.class.clone(),
            model: b.model.clone(),
            current_alloc: AllocationData {
                load: ServerLoadSpec {
                    arrival_rate: l.rpm,
                    throughput: 0.0,
                    avg_in_tokens: l.in_tokens.round().max(1.0) as i64,
                    avg_out_tokens: l.out_tokens.round().max(1.0) as i64,
                    out_tokens_cv,
                },
                ..AllocationData::default()
            },
            ..ServerSpec::default()
        })
        .collect();
    if let Parameters::TrueAt(t) = params {
        for row in &mut spec.model_data.models {
            let f = plan.factors_at(&row.name, &row.acc, t);
            row.perf_parms.alpha *= f.alpha;
            row.perf_parms.beta *= f.beta;
            row.perf_parms.gamma *= f.gamma;
        }
    }
    spec
}

/// The optimizer's allocation per server; None for a server it could not place.
pub fn allocate(plan: &Plan, loads: &[LoadAt], params: Parameters) -> Vec<Option<Allocation>> {
    let spec = system(plan, loads, params);
    let options = SolveOptions::from_spec(&spec).unwrap_or_default();
    let solution = solve(&spec, &options);
    plan.servers
        .iter()
        .map(|b| {
            let p = solution.placements.get(&b.name)?;
            let a = &p.allocation;
            (!a.accelerator.is_empty() && a.num_replicas > 0).then(|| Allocation {
                accelerator: a.accelerator.clone(),
                replicas: a.num_replicas.clamp(1, 10_000) as u32,
                batch: a.max_batch.clamp(1, 4096) as u32,
            })
        })
        .collect()
}

/// A fallback for a server the optimizer could not place: one replica on the cheapest
/// accelerator the catalog has for its model, at the catalog's batch size.
pub fn fallback(plan: &Plan, server: usize) -> Option<Allocation> {
    let b = &plan.servers[server];
    let sys = &plan.system;
    sys.model_data
        .models
        .iter()
        .filter(|m| m.name == b.model)
        .filter_map(|m| Some((sys.accelerator(&m.acc)?.cost * m.acc_count.max(1) as f64, m)))
        .min_by(|x, y| x.0.total_cmp(&y.0))
        .map(|(_, m)| Allocation {
            accelerator: m.acc.clone(),
            replicas: 1,
            batch: m.max_batch_size.clamp(1, 4096) as u32,
        })
}
