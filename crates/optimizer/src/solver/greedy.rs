//! Greedy allocation with capacities (spec 4.3), on a priority queue.
//!
//! Servers are served in order of priority (smaller first), then regret (`delta`, the value
//! lost by falling back to the next candidate; larger first), then the value of the candidate
//! being tried (larger first), then name: a total order, so the result is deterministic. A
//! server whose candidate does not fit moves to its next candidate and re-enters the queue.

use super::policy::best_effort;
use super::{placement, Entry, Reason, Solution, SolveOptions, Unplaced};
use crate::candidate::SizingCache;
use crate::system::System;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Regret of a server with a single candidate left: it must go first within its priority.
const NO_FALLBACK: f64 = f64::MAX;

pub(crate) struct Greedy<'s, 'a> {
    pub(crate) system: &'s System<'a>,
    pub(crate) options: &'s SolveOptions,
    pub(crate) cache: &'s SizingCache,
}

/// A server in the queue; `Ord` puts the one to serve first on top of the max-heap.
#[derive(Debug, Clone, Copy)]
struct Key {
    priority: i64,
    delta: f64,
    value: f64,
    /// Rank of the server's name in ascending name order (the last tie-break).
    name_rank: usize,
    entry: usize,
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .priority
            .cmp(&self.priority)
            .then(self.delta.total_cmp(&other.delta))
            .then(self.value.total_cmp(&other.value))
            .then(other.name_rank.cmp(&self.name_rank))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Key {}

impl<'a> Greedy<'_, 'a> {
    pub(crate) fn run(
        &self,
        entries: &mut [Entry<'a>],
        available: &mut [u64],
        solution: &mut Solution,
    ) {
        let all: Vec<usize> = (0..entries.len()).collect();
        let ranks = name_ranks(entries, &all);
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by_key(|&i| entries[i].ctx.priority);
        let groups: Vec<Vec<usize>> = if self.options.delayed_best_effort {
            vec![order]
        } else {
            order
                .chunk_by(|&a, &b| entries[a].ctx.priority == entries[b].ctx.priority)
                .map(<[usize]>::to_vec)
                .collect()
        };
        let mut left = Vec::new();
        for group in groups {
            let unallocated = self.allocate(entries, &ranks, &group, available, solution);
            left.extend(self.best_effort(entries, unallocated, available, solution));
        }
        for i in left {
            solution
                .unplaced
                .push(unplaced(self.system, &entries[i], available));
        }
    }

    /// Places `list` (priority by priority, each walking its candidates from its current one
    /// as the reference's greedy does) on what is `available`; returns those that fit nowhere.
    pub(crate) fn place(
        &self,
        entries: &mut [Entry<'a>],
        list: &[usize],
        available: &mut [u64],
        solution: &mut Solution,
    ) -> Vec<usize> {
        let ranks = name_ranks(entries, list);
        self.allocate(entries, &ranks, list, available, solution)
    }

    pub(crate) fn best_effort(
        &self,
        entries: &mut [Entry<'a>],
        unallocated: Vec<usize>,
        available: &mut [u64],
        solution: &mut Solution,
    ) -> Vec<usize> {
        best_effort(self, entries, unallocated, available, solution)
    }

    /// Makes sure the entry's current and next candidates are sized; returns its queue item,
    /// or None when it has run out of candidates.
    fn key(&self, entries: &mut [Entry<'a>], ranks: &[usize], i: usize) -> Option<Key> {
        let e = &mut entries[i];
        e.stream.fill(
            e.cur + 2,
            self.system,
            &e.ctx,
            self.options.batch_sizing,
            self.cache,
        );
        let taken = &e.stream.taken;
        let current = taken.get(e.cur)?;
        let delta = taken
            .get(e.cur + 1)
            .map_or(NO_FALLBACK, |next| next.value - current.value);
        Some(Key {
            priority: e.ctx.priority,
            delta,
            value: current.value,
            name_rank: ranks[i],
            entry: i,
        })
    }

    /// Places the servers of `group`; returns those that fit nowhere, in the order they failed.
    fn allocate(
        &self,
        entries: &mut [Entry<'a>],
        ranks: &[usize],
        group: &[usize],
        available: &mut [u64],
        solution: &mut Solution,
    ) -> Vec<usize> {
        let mut unallocated = Vec::new();
        let mut queue: BinaryHeap<Key> = BinaryHeap::new();
        for &i in group {
            match self.key(entries, ranks, i) {
                Some(key) => queue.push(key),
                None => unallocated.push(i),
            }
        }
        while let Some(top) = queue.pop() {
            // A cancelled solve is thrown away: stop at once.
            if self.cache.cancel().is_cancelled() {
                break;
            }
            let i = top.entry;
            let e = &entries[i];
            let c = &e.stream.taken[e.cur];
            let t = self.system.accelerators[c.acc].type_index;
            if available[t] >= c.units() {
                available[t] -= c.units();
                let p = placement(self.system, &e.ctx, c, c.replicas);
                solution.placements.insert(p.server.clone(), p);
                continue;
            }
            entries[i].cur += 1;
            match self.key(entries, ranks, i) {
                Some(key) => queue.push(key),
                None => unallocated.push(i),
            }
        }
        unallocated
    }
}

/// Per entry, the rank of its server's name among those of `list` in ascending order (the
/// queue's last tie-break; entries not in `list` get 0).
fn name_ranks(entries: &[Entry<'_>], list: &[usize]) -> Vec<usize> {
    let mut by_name = list.to_vec();
    by_name.sort_by(|&a, &b| entries[a].ctx.spec.name.cmp(&entries[b].ctx.spec.name));
    let mut ranks = vec![0; entries.len()];
    for (rank, &i) in by_name.iter().enumerate() {
        ranks[i] = rank;
    }
    ranks
}

/// A server left unplaced: out of capacity on its best candidate, or without any candidate.
pub(crate) fn unplaced(system: &System<'_>, e: &Entry<'_>, available: &[u64]) -> Unplaced {
    let reason = match e.stream.taken.first() {
        Some(c) => {
            let acc = &system.accelerators[c.acc];
            Reason::OutOfCapacity {
                accelerator: acc.name.clone(),
                accelerator_type: system.types[acc.type_index].clone(),
                replicas: c.replicas,
                needed: c.units(),
                available: available[acc.type_index],
            }
        }
        None => Reason::no_candidate(system, &e.stream),
    };
    Unplaced {
        server: e.ctx.spec.name.clone(),
        reason,
    }
}
