//! Why a server leaves its accelerator: the rule the cycle report's `moveReason` states
//! (docs/controller.md, "Why a server changes accelerator").
//!
//! The optimizer answers with allocations, not with why it chose them, and the actuator, which
//! writes the Kubernetes Events, receives only the allocations: neither can tell a move the
//! capacity forced from one chosen for cost. The controller can, with what it already holds:
//! the system it asked the optimizer about (the planned demand, the tuned parameters, the
//! targets less their margins), the optimizer's decision, and the optimizer's own sizing
//! (`inferno_optimizer::candidate::create`, as the policy's capacity accounting uses it). A
//! move is the optimizer's (settling keeps kinds and holds replicas up, it moves nobody), so it
//! is judged on the optimizer's decision, before settling. For a server the decision moves from
//! accelerator A to B it sizes the server on A as the optimizer would have, and says, in this
//! order:
//!
//! 1. `not placeable: ...` when A is not in the accelerator data, the model has no
//!    performance data on A, or no count of A carries the planned demand within the targets;
//! 2. `capacity: ...` when capacity binds (not `unlimited`) and the units that sizing takes of
//!    A's type exceed what the other servers' allocations of the decision leave of it;
//! 3. `cost: ...` when A had room and the allocation on B costs less (cents/hour);
//! 4. `objective: ...` otherwise: A had room and was not dearer; the optimizer's objective
//!    (class priorities, the price of a change, its search) preferred B.

use inferno_api::{AllocationData, SystemSpec};
use inferno_core::{Move, MoveCause};
use inferno_optimizer::candidate::{create, CandidateError, ServerContext, SizingCache};
use inferno_optimizer::system::System;
use inferno_optimizer::{BatchSizing, Cancel, ChangeCost};
use std::collections::{BTreeMap, HashMap};

/// What is needed to judge the moves of one cycle's decision.
pub(crate) struct Moves<'a> {
    system: System<'a>,
    /// Index of each server of the system by name.
    servers: HashMap<&'a str, usize>,
    /// Units of each type (by type index) each server's allocation in the decision takes.
    taken: HashMap<&'a str, (usize, u64)>,
    limited: bool,
    sizing: BatchSizing,
    change: ChangeCost,
    cache: SizingCache,
}

impl<'a> Moves<'a> {
    /// The moves of `decision` (the optimizer's allocations) on `planning` (what the optimizer
    /// was asked).
    pub(crate) fn new(
        planning: &'a SystemSpec,
        decision: &'a BTreeMap<String, AllocationData>,
    ) -> Self {
        let system = System::new(planning);
        let servers: HashMap<&str, usize> = system
            .servers()
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let taken = decision
            .iter()
            .filter_map(|(name, a)| {
                let model = &system.servers()[*servers.get(name.as_str())?].model;
                let acc = system.accelerator_index(&a.accelerator)?;
                let perf = system.perf(model, acc)?;
                let units = system
                    .units_per_replica(acc, perf)
                    .saturating_mul(a.num_replicas.max(0) as u64);
                Some((name.as_str(), (system.accelerators[acc].type_index, units)))
            })
            .collect();
        let o = &planning.optimizer_data.optimizer;
        Self {
            limited: !o.unlimited,
            sizing: BatchSizing::parse(&o.batch_sizing).unwrap_or_default(),
            change: ChangeCost::from_seconds(o.startup_seconds, o.payback_seconds),
            cache: SizingCache::new(Cancel::new()),
            servers,
            taken,
            system,
        }
    }

    /// Why `server` goes from accelerator `from` to `to` (module documentation); `None` when
    /// it does not change accelerator (or had none, or gets none).
    pub(crate) fn why(&self, server: &str, from: &str, to: &AllocationData) -> Option<Move> {
        let (cause, reason) = self.judge(server, from, to)?;
        Some(Move { cause, reason })
    }

    /// The cause of a move and the reason in words, starting with the cause's name.
    fn judge(&self, server: &str, from: &str, to: &AllocationData) -> Option<(MoveCause, String)> {
        if from.is_empty() || to.accelerator.is_empty() || from == to.accelerator {
            return None;
        }
        let index = *self.servers.get(server)?;
        let model = &self.system.servers()[index].model;
        let Some(acc) = self.system.accelerator_index(from) else {
            return Some((
                MoveCause::NotPlaceable,
                format!("not placeable: {from:?} is not in the accelerator data"),
            ));
        };
        let ctx = ServerContext::new(&self.system, index)
            .ok()?
            .with_change(self.change);
        let on_from = match create(&self.system, &ctx, acc, self.sizing, &self.cache) {
            Ok(c) => c,
            Err(CandidateError::NoPerfData) => {
                return Some((
                    MoveCause::NotPlaceable,
                    format!("not placeable: no performance data for {model} on {from:?}"),
                ))
            }
            Err(e) => {
                return Some((
                    MoveCause::NotPlaceable,
                    format!(
                        "not placeable: {from:?} cannot carry the planned demand within the \
                         targets ({e})"
                    ),
                ))
            }
        };
        let t = self.system.accelerators[acc].type_index;
        let type_name = &self.system.types[t];
        if self.limited {
            let needed = on_from.replicas.saturating_mul(on_from.units_per_replica);
            let others: u64 = self
                .taken
                .iter()
                .filter(|(name, (tt, _))| **name != server && *tt == t)
                .map(|(_, (_, n))| *n)
                .sum();
            let capacity = self.system.capacity.get(t).copied().unwrap_or(0);
            let free = capacity.saturating_sub(others);
            if needed > free {
                return Some((
                    MoveCause::Capacity,
                    format!(
                        "capacity: {} x {from} needs {needed} of the {capacity} {type_name} \
                         units; the other servers' allocations leave {free}",
                        on_from.replicas
                    ),
                ));
            }
        }
        let (stay, go) = (on_from.cost, to.cost);
        Some(if go < stay {
            (
                MoveCause::Cost,
                format!(
                    "cost: {} x {} at {go:.1} cents/h against {} x {from} at {stay:.1}",
                    to.num_replicas, to.accelerator, on_from.replicas
                ),
            )
        } else {
            (
                MoveCause::Objective,
                format!(
                    "objective: {} x {from} at {stay:.1} cents/h had room; the optimizer chose \
                     {} x {} at {go:.1}",
                    on_from.replicas, to.num_replicas, to.accelerator
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::Kind;
    use inferno_api::{AcceleratorSpec, ServerLoadSpec, ServerSpec};

    /// The kinds with performance data for the model; `L40S` is added without any.
    const KINDS: [Kind; 2] = [
        ("G2", "G2", 1, 23.0, [16.78, 0.073, 0.00228125], 76),
        ("MI300X", "MI300X", 1, 65.0, [7.6, 0.033, 0.00103125], 152),
    ];

    fn server(name: &str, accelerator: &str, rpm: f64) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            class: "Free".into(),
            model: "m".into(),
            current_alloc: AllocationData {
                accelerator: accelerator.into(),
                num_replicas: 1,
                load: ServerLoadSpec {
                    arrival_rate: rpm,
                    avg_in_tokens: 128,
                    avg_out_tokens: 512,
                    ..ServerLoadSpec::default()
                },
                ..AllocationData::default()
            },
            ..ServerSpec::default()
        }
    }

    fn system(servers: Vec<ServerSpec>, g2_units: i64, unlimited: bool) -> SystemSpec {
        let capacity = [("G2", g2_units), ("MI300X", 100), ("L40S", 100)];
        let mut spec = crate::testdata::system(&KINDS, &servers, &capacity);
        spec.accelerator_data.accelerators.push(AcceleratorSpec {
            name: "L40S".into(),
            acc_type: "L40S".into(),
            multiplicity: 1,
            cost: 32.0,
            ..AcceleratorSpec::default()
        });
        spec.optimizer_data.optimizer.unlimited = unlimited;
        spec
    }

    fn alloc(accelerator: &str, replicas: i64, cost: f64) -> AllocationData {
        AllocationData {
            accelerator: accelerator.into(),
            num_replicas: replicas,
            cost,
            ..AllocationData::default()
        }
    }

    /// The reason of server `s`'s move in `decision` on `spec`, checked against its cause.
    fn why(spec: &SystemSpec, decision: &[(&str, AllocationData)]) -> Option<String> {
        let decision: BTreeMap<String, AllocationData> = decision
            .iter()
            .map(|(n, a)| ((*n).to_string(), a.clone()))
            .collect();
        let moves = Moves::new(spec, &decision);
        let from = &spec.server_data.servers[0].current_alloc.accelerator;
        let m = moves.why("s", from, &decision["s"])?;
        // The reason starts with the cause's name: the report and the Event say the same.
        assert!(m.reason.starts_with(&format!("{}: ", m.cause)), "{m:?}");
        Some(m.reason)
    }

    /// A move the capacity forced says so, one to a cheaper type with room left behind says
    /// cost. Before: every accelerator change read "(cost)", whatever forced it.
    #[test]
    fn a_move_says_whether_capacity_forced_it_or_cost_chose_it() {
        // From the dear MI300X to the cheap G2, with room on MI300X: cost.
        let spec = system(vec![server("s", "MI300X", 60.0)], 100, false);
        let got = why(&spec, &[("s", alloc("G2", 1, 23.0))]).unwrap();
        assert!(
            got.starts_with("cost: 1 x G2 at 23.0 cents/h against "),
            "{got}"
        );
        assert!(got.ends_with(" x MI300X at 65.0"), "{got}");

        // From G2 to the dearer MI300X because the other servers took every G2: capacity.
        let spec = system(
            vec![server("s", "G2", 60.0), server("t", "G2", 60.0)],
            2,
            false,
        );
        let decision = [("s", alloc("MI300X", 1, 65.0)), ("t", alloc("G2", 2, 46.0))];
        let got = why(&spec, &decision).unwrap();
        assert_eq!(
            got,
            "capacity: 1 x G2 needs 1 of the 2 G2 units; the other servers' allocations leave 0"
        );
        // The same with room on G2: nothing forced it, and it was not cheaper.
        let spec = system(
            vec![server("s", "G2", 60.0), server("t", "G2", 60.0)],
            3,
            false,
        );
        let got = why(&spec, &decision).unwrap();
        assert!(
            got.starts_with("objective: 1 x G2 at 23.0 cents/h had room"),
            "{got}"
        );
        // Capacity planning (unlimited): capacity never binds.
        let spec = system(
            vec![server("s", "G2", 60.0), server("t", "G2", 60.0)],
            2,
            true,
        );
        assert!(why(&spec, &decision).unwrap().starts_with("objective: "));
    }

    #[test]
    fn a_server_that_cannot_run_where_it_is_is_not_placeable_there() {
        let spec = system(vec![server("s", "MI250", 60.0)], 100, false);
        assert_eq!(
            why(&spec, &[("s", alloc("G2", 1, 23.0))]).unwrap(),
            "not placeable: \"MI250\" is not in the accelerator data"
        );
        let spec = system(vec![server("s", "L40S", 60.0)], 100, false);
        assert_eq!(
            why(&spec, &[("s", alloc("G2", 1, 23.0))]).unwrap(),
            "not placeable: no performance data for m on \"L40S\""
        );
    }

    #[test]
    fn no_move_no_reason() {
        let spec = system(vec![server("s", "G2", 60.0)], 100, false);
        assert_eq!(why(&spec, &[("s", alloc("G2", 2, 46.0))]), None);
        let spec = system(vec![server("s", "", 60.0)], 100, false);
        assert_eq!(why(&spec, &[("s", alloc("G2", 2, 46.0))]), None);
    }
}
