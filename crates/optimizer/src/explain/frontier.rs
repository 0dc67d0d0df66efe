//! Targets against cost: what a class's servers cost as its targets tighten or loosen (the
//! frontier), and for one server, how far its targets must move before another GPU type is
//! its cheapest. Both with capacities ignored: the targets' own price.

use super::Solve;
use crate::error::Error;
use crate::solver::{Solution, SolveOptions};
use inferno_api::SystemSpec;
use std::collections::BTreeMap;

/// Scales of the frontier: every TTFT and ITL target of the class times these.
pub const SCALES: [f64; 10] = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0];

/// One point of a class's frontier.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontierPoint {
    /// The targets' scale (1 = as given).
    pub scale: f64,
    /// The class's servers' cost, cents/hr.
    pub cost: f64,
    /// Its servers that can be served at all.
    pub served: u64,
    /// Units per type its servers take.
    pub units: BTreeMap<String, u64>,
}

/// `spec` with every TTFT and ITL target of `class` times `scale`.
pub(super) fn scaled(spec: &SystemSpec, class: &str, scale: f64) -> SystemSpec {
    let mut out = spec.clone();
    for c in &mut out.service_class_data.service_classes {
        if c.name == class {
            for t in &mut c.model_targets {
                t.slo_itl *= scale;
                t.slo_ttft *= scale;
            }
        }
    }
    out
}

/// The frontier of `class`: its servers' cost at each of [`SCALES`].
pub(super) fn frontier(
    spec: &SystemSpec,
    options: &SolveOptions,
    class: &str,
    solve: &Solve<'_>,
) -> Result<Vec<FrontierPoint>, Error> {
    let unlimited = SolveOptions {
        unlimited: true,
        ..*options
    };
    SCALES
        .iter()
        .map(|&scale| {
            let s = solve(&scaled(spec, class, scale), &unlimited)?;
            Ok(point(spec, class, scale, &s))
        })
        .collect()
}

/// What `class`'s servers cost, serve and take in `s`, labelled with `scale`.
pub(super) fn point(spec: &SystemSpec, class: &str, scale: f64, s: &Solution) -> FrontierPoint {
    let mut p = FrontierPoint {
        scale,
        cost: 0.0,
        served: 0,
        units: BTreeMap::new(),
    };
    for server in spec.server_data.servers.iter().filter(|x| x.class == class) {
        if let Some(placed) = s.placements.get(&server.name) {
            p.cost += placed.allocation.cost;
            p.served += 1;
            if !placed.accelerator_type.is_empty() {
                *p.units.entry(placed.accelerator_type.clone()).or_default() += placed.units;
            }
        }
    }
    p
}

/// Where another GPU type becomes a server's cheapest: the scale of its class's targets and
/// that type, looking tighter (scale below 1) and looser (above 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Switch {
    /// The type at scale 1 (capacities ignored).
    pub now: String,
    /// The largest scale below 1 (within 0.25) at which another type is cheapest, and it.
    pub tighter: Option<(f64, String)>,
    /// The smallest scale above 1 (within 4) at which another type is cheapest, and it.
    pub looser: Option<(f64, String)>,
}

/// Grid points on each side, and bisection steps within the bracket found: the scale to
/// well under 1%.
const GRID: usize = 12;
const STEPS: usize = 6;

/// For server `name` alone (its class's targets scaled, capacities ignored), where its
/// cheapest type changes; None when it has no candidate at scale 1.
pub(super) fn switch(
    spec: &SystemSpec,
    options: &SolveOptions,
    name: &str,
    solve: &Solve<'_>,
) -> Result<Option<Switch>, Error> {
    let Some(server) = spec.server_data.servers.iter().find(|s| s.name == name) else {
        return Ok(None);
    };
    let mut alone = spec.clone();
    alone.server_data.servers = vec![server.clone()];
    let unlimited = SolveOptions {
        unlimited: true,
        ..*options
    };
    let type_at = |scale: f64| -> Result<Option<String>, Error> {
        let s = solve(&scaled(&alone, &server.class, scale), &unlimited)?;
        Ok(s.placements.get(name).map(|p| p.accelerator_type.clone()))
    };
    let Some(now) = type_at(1.0)? else {
        return Ok(None);
    };
    // From scale 1 towards `end`, on a geometric grid, the first scale where the type
    // differs; then bisected between it and the grid point before (to about 1%).
    let search = |end: f64| -> Result<Option<(f64, String)>, Error> {
        let mut same = 1.0;
        for k in 1..=GRID {
            let at = end.powf(k as f64 / GRID as f64);
            let Some(t) = type_at(at)?.filter(|t| *t != now) else {
                same = at;
                continue;
            };
            let (mut differs, mut found) = (at, t);
            for _ in 0..STEPS {
                let mid = (same * differs).sqrt();
                match type_at(mid)?.filter(|t| *t != now) {
                    Some(t) => {
                        differs = mid;
                        found = t;
                    }
                    None => same = mid,
                }
            }
            return Ok(Some((differs, found)));
        }
        Ok(None)
    };
    Ok(Some(Switch {
        tighter: search(0.25)?,
        looser: search(4.0)?,
        now,
    }))
}
