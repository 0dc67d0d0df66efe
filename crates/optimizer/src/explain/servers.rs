//! What each server got, what it would have cost on every other type, and how much more load
//! its allocation carries.

use super::{Solve, Switch};
use crate::candidate::Candidate;
use crate::error::Error;
use crate::queue::{Analyzer, Binding, Targets};
use crate::solver::{Entry, Placement, Solution, SolveOptions};
use crate::system::System;

/// One server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerExplanation {
    /// The server's name.
    pub name: String,
    /// Its class.
    pub class: String,
    /// The class's priority (1 = most important).
    pub priority: i64,
    /// The load it must carry, requests/min.
    pub demand_rpm: f64,
    /// What the decision gave it (None: not placed).
    pub chosen: Option<Alternative>,
    /// Placed with fewer replicas than its targets need (a saturation policy).
    pub best_effort: bool,
    /// Its best candidate on every other type, least value first.
    pub alternatives: Vec<Alternative>,
    /// By how much the choice won: the cheapest alternative's cost less the chosen one's,
    /// cents/hr (negative when a cheaper type was full).
    pub margin: Option<f64>,
    /// Load the chosen allocation carries within the targets beyond the demand, requests/min:
    /// more than this and it needs one more replica.
    pub headroom_rpm: Option<f64>,
    /// Why it was not placed, when it was not.
    pub unplaced: Option<String>,
    /// How far its class's targets must move before another type is its cheapest
    /// (capacities ignored; systems of at most [`super::EXACT_PRICES_UP_TO`] servers).
    pub switch: Option<Switch>,
}

/// One candidate of a server.
#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    /// The accelerator.
    pub accelerator: String,
    /// Its type.
    pub accelerator_type: String,
    /// Replicas.
    pub replicas: u64,
    /// Batch cap per replica.
    pub batch: u32,
    /// Cost, cents/hr.
    pub cost: f64,
    /// The value the solvers minimise (the cost unless changes are priced).
    pub value: f64,
    /// Predicted mean TTFT per replica at its share of the load, ms.
    pub ttft: f64,
    /// Predicted mean ITL, ms.
    pub itl: f64,
    /// What limits a replica's load: the `ttft` or `itl` target, the throughput class's rule
    /// (`tps`), or `batch`: neither target, the most a replica carries at its batch cap.
    pub binds: &'static str,
}

/// `entries[index[i]]` is server `i`'s, every candidate sized (None: it has no context).
pub(super) fn servers(
    system: &System<'_>,
    entries: &[Entry<'_>],
    index: &[Option<usize>],
    options: &SolveOptions,
    decision: &Solution,
    full: bool,
    solve: &Solve<'_>,
) -> Result<Vec<ServerExplanation>, Error> {
    let spec = system.spec;
    // Each server's switch takes some forty solves of it alone: for small systems only.
    let switches = full && spec.server_data.servers.len() <= super::EXACT_PRICES_UP_TO;
    let mut out = Vec::with_capacity(index.len());
    for (at, s) in index.iter().zip(&spec.server_data.servers) {
        let placement = decision.placements.get(&s.name);
        let mut x = ServerExplanation {
            name: s.name.clone(),
            class: s.class.clone(),
            priority: system.priority(&s.class),
            demand_rpm: 0.0,
            chosen: None,
            best_effort: placement.is_some_and(|p| p.best_effort),
            alternatives: Vec::new(),
            margin: None,
            headroom_rpm: None,
            unplaced: decision
                .unplaced
                .iter()
                .find(|u| u.server == s.name)
                .map(|u| u.reason.to_string()),
            switch: None,
        };
        if switches {
            x.switch = super::frontier::switch(spec, options, &s.name, solve)?;
        }
        if let Some(&i) = at.as_ref() {
            candidates(system, &entries[i], placement, &mut x);
        }
        out.push(x);
    }
    Ok(out)
}

/// The server's demand, its chosen candidate against its best on every other type, the
/// margin and the headroom.
fn candidates(
    system: &System<'_>,
    e: &Entry<'_>,
    placement: Option<&Placement>,
    x: &mut ServerExplanation,
) {
    x.demand_rpm = e.ctx.demand * 60.0;
    let describe = |c: &Candidate| alternative(system, &e.ctx, c);
    let chosen = placement.and_then(|p| {
        e.stream
            .taken
            .iter()
            .find(|c| system.accelerators[c.acc].name == p.allocation.accelerator)
    });
    let chosen_type = chosen.map(|c| system.accelerators[c.acc].type_index);
    // The stream hands candidates out least value first: the first on a type is its best.
    let mut seen = Vec::new();
    for c in &e.stream.taken {
        let t = system.accelerators[c.acc].type_index;
        if Some(t) == chosen_type || seen.contains(&t) {
            continue;
        }
        seen.push(t);
        x.alternatives.push(describe(c));
    }
    if let (Some(c), Some(p)) = (chosen, placement) {
        x.margin = x
            .alternatives
            .iter()
            .map(|a| a.cost)
            .reduce(f64::min)
            .map(|m| m - p.allocation.cost);
        if !p.best_effort && c.capacity_per_replica.is_finite() {
            let carried = c.capacity_per_replica * c.replicas as f64;
            x.headroom_rpm = Some(((carried - e.ctx.demand) * 60.0).max(0.0));
        }
        x.chosen = Some(describe(c));
    }
}

fn alternative(
    system: &System<'_>,
    ctx: &crate::candidate::ServerContext<'_>,
    c: &Candidate,
) -> Alternative {
    let acc = &system.accelerators[c.acc];
    let targets = Targets {
        ttft: ctx.target.slo_ttft,
        itl: ctx.target.slo_itl,
        tps: ctx.target.slo_tps,
    };
    let binds = c
        .queue(system, ctx)
        .and_then(|q| Analyzer::new(q).ok())
        .and_then(|a| a.size(&targets).ok())
        .map_or("batch", |s| match s.binding {
            Binding::None => "batch",
            Binding::Ttft => "ttft",
            Binding::Itl => "itl",
            Binding::Tps => "tps",
        });
    Alternative {
        accelerator: acc.name.clone(),
        accelerator_type: system.types[acc.type_index].clone(),
        replicas: c.replicas,
        batch: c.batch,
        cost: c.cost,
        value: c.value,
        ttft: c.ttft,
        itl: c.itl,
        binds,
    }
}
