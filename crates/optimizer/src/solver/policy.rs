//! Saturation policies: best effort for servers whose candidates all failed to fit (spec 4.4).

use super::greedy::Greedy;
use super::{placement, Entry, Solution};
use crate::cancel::Cancel;
use crate::system::System;
use rayon::prelude::*;

/// What to do with servers that cannot get all the replicas their targets need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SaturationPolicy {
    /// Leave them unplaced.
    #[default]
    None,
    /// In order, give each as many replicas as fit on its best candidate that fits any.
    PriorityExhaustive,
    /// Share what is left one replica at a time across all of them.
    RoundRobin,
    /// Round robin within each priority, higher priorities first.
    PriorityRoundRobin,
}

impl SaturationPolicy {
    /// The names [`Self::parse`] accepts (in any case), as written in the data files.
    pub const NAMES: [&'static str; 4] = [
        "None",
        "PriorityExhaustive",
        "RoundRobin",
        "PriorityRoundRobin",
    ];

    /// Parses the `saturationPolicy` field ("" = None; case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "" | "none" => Some(Self::None),
            "priorityexhaustive" => Some(Self::PriorityExhaustive),
            "roundrobin" => Some(Self::RoundRobin),
            "priorityroundrobin" => Some(Self::PriorityRoundRobin),
            _ => None,
        }
    }

    /// The name as written in the data files.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "None",
            Self::PriorityExhaustive => "PriorityExhaustive",
            Self::RoundRobin => "RoundRobin",
            Self::PriorityRoundRobin => "PriorityRoundRobin",
        }
    }
}

/// Applies `policy` to the unallocated entries `list` (in the order they failed). Returns the
/// entries still unplaced.
pub(crate) fn best_effort(
    greedy: &Greedy<'_, '_>,
    entries: &mut [Entry<'_>],
    list: Vec<usize>,
    available: &mut [u64],
    solution: &mut Solution,
) -> Vec<usize> {
    let (policy, system, cache) = (greedy.options.policy, greedy.system, greedy.cache);
    let cancel = cache.cancel();
    let sizing = greedy.options.batch_sizing;
    if policy == SaturationPolicy::None || list.is_empty() {
        return list;
    }
    // Best effort may use any candidate: size them all now, in parallel (thousands of
    // servers may be left when GPUs are scarce).
    let mut wanted = vec![false; entries.len()];
    for &i in &list {
        wanted[i] = true;
    }
    entries
        .par_iter_mut()
        .zip(&wanted)
        .filter(|(_, w)| **w)
        .for_each(|(e, _)| e.stream.fill(usize::MAX, system, &e.ctx, sizing, cache));
    match policy {
        SaturationPolicy::None => list,
        SaturationPolicy::PriorityExhaustive => {
            exhaustive(system, entries, list, available, solution)
        }
        SaturationPolicy::RoundRobin => {
            round_robin(system, entries, list, available, solution, cancel)
        }
        SaturationPolicy::PriorityRoundRobin => {
            let mut left = Vec::new();
            let mut start = 0;
            while start < list.len() {
                let priority = entries[list[start]].ctx.priority;
                let end = start
                    + list[start..]
                        .iter()
                        .take_while(|&&i| entries[i].ctx.priority == priority)
                        .count();
                left.extend(round_robin(
                    system,
                    entries,
                    list[start..end].to_vec(),
                    available,
                    solution,
                    cancel,
                ));
                start = end;
            }
            left
        }
    }
}

fn type_of(system: &System<'_>, acc: usize) -> usize {
    system.accelerators[acc].type_index
}

fn exhaustive(
    system: &System<'_>,
    entries: &[Entry<'_>],
    list: Vec<usize>,
    available: &mut [u64],
    solution: &mut Solution,
) -> Vec<usize> {
    let mut left = Vec::new();
    for i in list {
        let e = &entries[i];
        let fit = e.stream.taken.iter().find_map(|c| {
            let k = (available[type_of(system, c.acc)] / c.units_per_replica).min(c.replicas);
            (k > 0).then_some((c, k))
        });
        match fit {
            Some((c, k)) => {
                available[type_of(system, c.acc)] -= k * c.units_per_replica;
                let p = placement(system, &e.ctx, c, k);
                solution.placements.insert(p.server.clone(), p);
            }
            None => left.push(i),
        }
    }
    left
}

fn round_robin(
    system: &System<'_>,
    entries: &[Entry<'_>],
    list: Vec<usize>,
    available: &mut [u64],
    solution: &mut Solution,
    cancel: &Cancel,
) -> Vec<usize> {
    // (entry, chosen candidate, replicas granted)
    let mut grants: Vec<(usize, Option<usize>, u64)> = list.iter().map(|&i| (i, None, 0)).collect();
    // One replica to one server, if its candidate still wants and fits one.
    let grant = |g: &mut (usize, Option<usize>, u64), available: &mut [u64]| -> bool {
        let Some(ci) = g.1 else {
            return false;
        };
        let c = &entries[g.0].stream.taken[ci];
        let t = type_of(system, c.acc);
        if g.2 < c.replicas && available[t] >= c.units_per_replica {
            available[t] -= c.units_per_replica;
            g.2 += 1;
            true
        } else {
            false
        }
    };
    // First pass: each server's candidate is fixed on its visit (the best that fits one
    // replica now, after the grants before it), and gets its first replica.
    let mut active = Vec::with_capacity(grants.len());
    for (k, g) in grants.iter_mut().enumerate() {
        g.1 = entries[g.0]
            .stream
            .taken
            .iter()
            .position(|c| available[type_of(system, c.acc)] >= c.units_per_replica);
        if grant(g, available) {
            active.push(k);
        }
    }
    // Then one replica per active server per pass, in order. A server leaves for good once it
    // has all it needs or its type is exhausted, so the work is the replicas granted (at most
    // MAX_REPLICAS per server), not passes x servers.
    while !active.is_empty() && !cancel.is_cancelled() {
        active.retain(|&k| grant(&mut grants[k], available));
    }
    let mut left = Vec::new();
    for (i, ci, granted) in grants {
        match ci {
            Some(ci) if granted > 0 => {
                let e = &entries[i];
                let p = placement(system, &e.ctx, &e.stream.taken[ci], granted);
                solution.placements.insert(p.server.clone(), p);
            }
            _ => left.push(i),
        }
    }
    left
}
