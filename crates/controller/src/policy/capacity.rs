//! What the cluster has of each accelerator type, what a decision takes of it, and how many
//! replicas a server's current kind (accelerator and batch cap) needs: the optimizer's own
//! unit accounting and sizing (`inferno_optimizer::system` and `candidate`) on the system it
//! was asked about (the planned demand, the tuned parameters, the targets less their margins).
//!
//! [`super::Policy::settle`] changes the optimizer's answer: it keeps a kind the optimizer
//! left, holds replicas up. The optimizer kept its answer within the capacity of each type;
//! these changes must too, or the cluster is asked for GPUs it does not have (their pods
//! stay pending).

use inferno_api::{AllocationData, SystemSpec};
use inferno_optimizer::candidate::{
    create, full_batch_meets_itl, BatchSizing, ServerContext, SizingCache,
};
use inferno_optimizer::queue::{Analyzer, Metrics, QueueConfig};
use inferno_optimizer::system::System;
use inferno_optimizer::Cancel;
use std::collections::{BTreeMap, HashMap};

/// How far above the KV cache's count a current batch cap may stay (the optimizer's
/// `STAY_ABOVE` for priced changes).
const STAY_ABOVE: f64 = 1.1;

/// The share of the demand the model may turn away from a count that carries it (rounding).
const TURNED_AWAY: f64 = 0.001;

/// The units of each accelerator type a decision takes, as it is being settled.
#[derive(Debug)]
pub(super) struct Units<'a> {
    system: System<'a>,
    /// Units taken of each type (by the system's type index).
    used: Vec<u64>,
    /// Whether capacity binds (not `unlimited`, capacity planning).
    limited: bool,
    /// Index of each server of the system by name.
    servers: HashMap<&'a str, usize>,
    cache: SizingCache,
}

/// A kind (accelerator and batch cap) sized for a server's planned demand.
#[derive(Debug, Clone)]
pub(super) struct Kept {
    /// Replicas that carry the planned demand within the targets.
    pub(super) replicas: i64,
    /// The batch cap sized: the one asked for, or the batch rule's when asked for none (0).
    pub(super) batch: i64,
    /// Cents/hour of one replica.
    pub(super) unit_cost: f64,
    /// Planned demand, requests/min.
    pub(super) planned_rpm: f64,
    /// What one replica carries within the planned targets, requests/min (the optimizer's
    /// capacity per replica: the count is the demand over it, rounded up).
    pub(super) per_pod_rpm: f64,
    /// One replica's queue problem, to predict the latencies at another count.
    queue: Option<QueueConfig>,
    /// Load to carry, requests/s.
    demand: f64,
    /// The planned TTFT and ITL targets, ms (0 = none).
    targets: (f64, f64),
}

impl Kept {
    /// One replica's queue problem (the kind's parameters, tokens and cap), if the sizing
    /// had one.
    pub(super) fn queue(&self) -> Option<&QueueConfig> {
        self.queue.as_ref()
    }

    /// The fewest replicas of this kind, from `from` up to `upto`, that carry `factor` times
    /// the planned demand within the planned targets, by the model (`from` when the model
    /// cannot say: nothing to hold on), and turn away no larger share of it than the count
    /// sized for the planned demand turns away of that (at least [`TURNED_AWAY`]). One analyzer
    /// for every count tried.
    ///
    /// Why relative: the model has no queue in front of a pod, and where no target binds a
    /// kind the sizing fills its pods to where the model turns part of the demand away (real
    /// pods queue it). Asked to turn nothing away, a count carried 1.1 times the demand only
    /// well above the sizing's own: mixtral on the ramp was held at 29-32 pods for ten
    /// minutes of a plateau that the sizing, and the clairvoyant, ran on 25.
    pub(super) fn fewest_carrying(&self, from: i64, upto: i64, factor: f64) -> i64 {
        if self.demand <= 0.0 {
            return from;
        }
        let Some(analyzer) = self.queue.and_then(|q| Analyzer::new(q).ok()) else {
            return from;
        };
        let turned_away = |rate: f64, m: &Metrics| (1.0 - m.throughput / rate).max(0.0);
        let sized = self.demand / self.replicas.max(1) as f64;
        let allowed = analyzer
            .analyze(sized)
            .map_or(0.0, |m| turned_away(sized, &m))
            .max(TURNED_AWAY);
        let (ttft, itl) = self.targets;
        let carries = |replicas: i64| {
            let rate = self.demand * factor / replicas as f64;
            replicas > 0
                && analyzer.analyze(rate).is_ok_and(|m| {
                    turned_away(rate, &m) <= allowed
                        && (ttft <= 0.0 || m.ttft <= ttft)
                        && (itl <= 0.0 || m.itl <= itl)
                })
        };
        let mut replicas = from;
        while replicas < upto && !carries(replicas) {
            replicas += 1;
        }
        replicas
    }

    /// The fewest replicas of this kind, from `from` up to `upto`, that turn away at most
    /// `limit` of the planned demand by the model (its blocking: the model has no queue in
    /// front of a pod), with the share that `from` replicas turn away; None when the model
    /// cannot say. One analyzer for every count tried.
    pub(super) fn turning_away_at_most(
        &self,
        limit: f64,
        from: i64,
        upto: i64,
    ) -> Option<(i64, f64)> {
        if from <= 0 || self.demand <= 0.0 {
            return None;
        }
        let analyzer = self.queue.and_then(|q| Analyzer::new(q).ok())?;
        let turned_away = |replicas: i64| {
            let rate = self.demand / replicas as f64;
            analyzer
                .analyze(rate)
                .map_or(0.0, |m| (1.0 - m.throughput / rate).max(0.0))
        };
        let first = turned_away(from);
        let mut replicas = from;
        while replicas < upto && turned_away(replicas) > limit {
            replicas += 1;
        }
        Some((replicas, first))
    }

    /// Sets `alloc` to `replicas` of this kind (the accelerator and batch cap of `current`),
    /// with its cost and the model's latencies at that count.
    pub(super) fn apply(
        &self,
        alloc: &mut AllocationData,
        current: &AllocationData,
        replicas: i64,
    ) {
        alloc.accelerator = current.accelerator.clone();
        alloc.max_batch = current.max_batch;
        alloc.num_replicas = replicas;
        alloc.cost = self.unit_cost * replicas as f64;
        let predicted = self
            .queue
            .filter(|_| replicas > 0 && self.demand > 0.0)
            .and_then(|q| Analyzer::new(q).ok())
            .and_then(|a| a.analyze(self.demand / replicas as f64).ok());
        if let Some(m) = predicted {
            alloc.itl_average = m.itl;
            alloc.ttft_average = m.ttft;
        }
    }
}

impl<'a> Units<'a> {
    /// The units `allocations` take of each type of `system`.
    pub(super) fn new(
        system: &'a SystemSpec,
        allocations: &BTreeMap<String, AllocationData>,
    ) -> Self {
        let system = System::new(system);
        let servers = system
            .servers()
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let mut units = Self {
            used: vec![0; system.types.len()],
            limited: !system.spec.optimizer_data.optimizer.unlimited,
            servers,
            cache: SizingCache::new(Cancel::new()),
            system,
        };
        for (server, alloc) in allocations {
            if let Some((t, n)) = units.taken(server, alloc) {
                units.used[t] = units.used[t].saturating_add(n);
            }
        }
        units
    }

    /// (type index, units of it one replica takes) of `server`'s model on `accelerator`;
    /// `None` when the data does not know the server, the accelerator or the pair.
    fn kind(&self, server: &str, accelerator: &str) -> Option<(usize, u64)> {
        let model = &self.system.servers()[*self.servers.get(server)?].model;
        let acc = self.system.accelerator_index(accelerator)?;
        let perf = self.system.perf(model, acc)?;
        Some((
            self.system.accelerators[acc].type_index,
            self.system.units_per_replica(acc, perf),
        ))
    }

    /// (type index, units) `alloc` of `server` takes.
    fn taken(&self, server: &str, alloc: &AllocationData) -> Option<(usize, u64)> {
        let (t, per) = self.kind(server, &alloc.accelerator)?;
        Some((t, per.saturating_mul(alloc.num_replicas.max(0) as u64)))
    }

    /// The accelerator type of `accelerator` and the units the cluster has of it.
    pub(super) fn capacity(&self, accelerator: &str) -> Option<(&str, u64)> {
        let acc = self.system.accelerator_index(accelerator)?;
        let t = self.system.accelerators[acc].type_index;
        Some((
            self.system.types[t].as_str(),
            self.system.capacity.get(t).copied().unwrap_or(0),
        ))
    }

    /// The most replicas of `accelerator` `server` may have: the units of its type the other
    /// servers' allocations leave (`before` is the server's allocation as counted so far),
    /// over the units one replica takes. `None` when nothing binds: capacity planning
    /// (`unlimited`), or a kind the data does not describe (no allocation of the optimizer's
    /// is on one).
    pub(super) fn room(
        &self,
        server: &str,
        accelerator: &str,
        before: &AllocationData,
    ) -> Option<i64> {
        if !self.limited {
            return None;
        }
        let (t, per) = self.kind(server, accelerator)?;
        let own = self
            .taken(server, before)
            .filter(|(bt, _)| *bt == t)
            .map_or(0, |(_, n)| n);
        let others = self.used[t].saturating_sub(own);
        let free = self
            .system
            .capacity
            .get(t)
            .copied()
            .unwrap_or(0)
            .saturating_sub(others);
        Some(i64::try_from(free / per.max(1)).unwrap_or(i64::MAX))
    }

    /// Records that `server`'s allocation went from `before` to `after`.
    pub(super) fn update(&mut self, server: &str, before: &AllocationData, after: &AllocationData) {
        if let Some((t, n)) = self.taken(server, before) {
            self.used[t] = self.used[t].saturating_sub(n);
        }
        if let Some((t, n)) = self.taken(server, after) {
            self.used[t] = self.used[t].saturating_add(n);
        }
    }

    /// The replicas of `kind`'s accelerator and batch cap that carry `server`'s planned demand
    /// within its planned targets, as the optimizer sizes a candidate; or why the kind cannot
    /// be sized (not in the data, targets out of its reach, ...).
    pub(super) fn size(&self, server: &str, kind: &AllocationData) -> Result<Kept, String> {
        self.size_kind(server, &kind.accelerator, kind.max_batch)
    }

    /// [`Units::size`] of `accelerator` at batch cap `cap`; at the batch rule's cap for it
    /// (as the optimizer sizes a new kind) when `cap` is 0.
    pub(super) fn size_kind(
        &self,
        server: &str,
        accelerator: &str,
        cap: i64,
    ) -> Result<Kept, String> {
        let index = *self
            .servers
            .get(server)
            .ok_or("the server is not in the data")?;
        let acc = self
            .system
            .accelerator_index(accelerator)
            .ok_or("no such accelerator in the data")?;
        let planned = &self.system.servers()[index];
        let mut spec = planned.clone();
        // The batch size override: the candidate has the kind's cap.
        spec.max_batch_size = cap;
        let ctx = ServerContext::new(&self.system, index)
            .map_err(|e| format!("no candidate at all: {e:?}"))?;
        let ctx = ServerContext { spec: &spec, ..ctx };
        // The system's batch rule: it sets the cap when none is asked for, and is moot when
        // one is.
        let sizing = BatchSizing::parse(&self.system.spec.optimizer_data.optimizer.batch_sizing)
            .unwrap_or_default();
        let c = create(&self.system, &ctx, acc, sizing, &self.cache).map_err(|e| e.to_string())?;
        let replicas = i64::try_from(c.replicas).unwrap_or(i64::MAX);
        Ok(Kept {
            replicas,
            batch: i64::from(c.batch),
            unit_cost: if c.replicas > 0 {
                c.cost / c.replicas as f64
            } else {
                0.0
            },
            planned_rpm: planned.current_alloc.load.arrival_rate,
            per_pod_rpm: c.capacity_per_replica * 60.0,
            queue: c.queue(&self.system, &ctx),
            demand: ctx.demand,
            targets: (ctx.target.slo_ttft, ctx.target.slo_itl),
        })
    }

    /// Whether the optimizer's `fit` rule lets `server` stay at batch cap `cap` on
    /// `accelerator`, as it does when changes are priced: at most the catalog's
    /// `maxBatchSize`, and at most 10% over the requests its KV cache (`maxBatchSize x
    /// atTokens` tokens) holds at `tokens` per request (the caller's typical value), else at
    /// the planned tokens (the token means wander a few per cent from window to window).
    /// True when the data does not say.
    pub(super) fn cap_allowed(
        &self,
        server: &str,
        accelerator: &str,
        cap: i64,
        tokens: Option<i64>,
    ) -> bool {
        let Some(&index) = self.servers.get(server) else {
            return true;
        };
        let planned = &self.system.servers()[index];
        let Some(perf) = self
            .system
            .accelerator_index(accelerator)
            .and_then(|acc| self.system.perf(&planned.model, acc))
        else {
            return true;
        };
        if perf.max_batch_size <= 0 {
            return true;
        }
        let load = &planned.current_alloc.load;
        let tokens =
            tokens.unwrap_or_else(|| load.avg_in_tokens.max(0) + load.avg_out_tokens.max(0));
        // The requests the cache holds, not rounded down: rounded, a cap's 10% shrank to 7%
        // (G2 holds 36.99 of granite's 1,052 tokens: 36, and a cap of 40 was over 39.6), and
        // granite's cap went 38 -> 40 -> 36 -> 40 on the ramp benchmark with token means
        // that moved by 8%.
        let fits = if perf.at_tokens > 0 && tokens > 0 {
            ((perf.max_batch_size * perf.at_tokens) as f64 / tokens as f64).max(1.0)
        } else {
            perf.max_batch_size as f64
        };
        cap <= perf.max_batch_size && cap as f64 <= fits * STAY_ABOVE
    }

    /// Whether a full batch at `cap` on `accelerator` meets `server`'s ITL target as the
    /// optimizer's `fit` rule asks of a cap that stays (its [`full_batch_meets_itl`]); true
    /// under the other rules and when the data does not say.
    pub(super) fn cap_meets_itl(&self, server: &str, accelerator: &str, cap: i64) -> bool {
        let fit = BatchSizing::parse(&self.system.spec.optimizer_data.optimizer.batch_sizing)
            == Some(BatchSizing::Fit);
        let Some(&index) = self.servers.get(server) else {
            return true;
        };
        let planned = &self.system.servers()[index];
        let perf = self
            .system
            .accelerator_index(accelerator)
            .and_then(|acc| self.system.perf(&planned.model, acc));
        let (Some(perf), Ok(ctx), Ok(cap)) = (
            perf,
            ServerContext::new(&self.system, index),
            u32::try_from(cap),
        ) else {
            return true;
        };
        !fit || full_batch_meets_itl(&ctx, perf, cap)
    }

    /// The units each type has and the allocations take, by type name.
    pub(super) fn usage(&self) -> BTreeMap<String, (u64, u64)> {
        self.system
            .types
            .iter()
            .enumerate()
            .map(|(t, name)| {
                let cap = self.system.capacity.get(t).copied().unwrap_or(0);
                (name.clone(), (self.used[t], cap))
            })
            .collect()
    }
}

/// Per accelerator type, the units `settled` takes minus the units `optimized` takes (the
/// servers of `system`; kinds the data does not describe count for nothing).
pub fn settled_change(
    system: &SystemSpec,
    optimized: &BTreeMap<String, AllocationData>,
    settled: &BTreeMap<String, AllocationData>,
) -> BTreeMap<String, i64> {
    let before = Units::new(system, optimized).usage();
    let after = Units::new(system, settled).usage();
    after
        .into_iter()
        .map(|(t, (used, _))| {
            let was = before.get(&t).map_or(0, |(u, _)| *u);
            let d = i64::try_from(used).unwrap_or(i64::MAX) - i64::try_from(was).unwrap_or(0);
            (t, d)
        })
        .filter(|(_, d)| *d != 0)
        .collect()
}
