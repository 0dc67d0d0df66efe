//! A server's candidates produced lazily in value order.
//!
//! Every accelerator gets a cheap lower bound on its value ([`ServerContext::value_bound`]).
//! The stream sizes accelerators in bound order and hands out a sized candidate only once no
//! unsized accelerator could still beat or tie it, so the order (and thus every solver's
//! result) is exactly that of sizing everything, while candidates that cannot win are never
//! sized.

use crate::candidate::{self, BatchSizing, Candidate, CandidateError, ServerContext, SizingCache};
use crate::system::System;
use std::cmp::Ordering;

/// The documented total order of candidates: value, then cost, then units, then accelerator
/// name (all ascending). It makes every tie deterministic.
pub fn candidate_order(system: &System<'_>, a: &Candidate, b: &Candidate) -> Ordering {
    a.value
        .total_cmp(&b.value)
        .then(a.cost.total_cmp(&b.cost))
        .then(a.units().cmp(&b.units()))
        .then_with(|| {
            system.accelerators[a.acc]
                .name
                .cmp(&system.accelerators[b.acc].name)
        })
}

/// An accelerator not sized yet, with lower bounds on its candidate's value and units
/// ([`ServerContext::bounds`]; `value` is minus infinity, and `units` 0, when it has none):
/// kept, because the solvers that price capacity ask for them again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pending {
    /// No candidate on the accelerator has a lower value.
    pub value: f64,
    /// Nor takes fewer units.
    pub units: u64,
    /// The accelerator's index in the [`System`].
    pub acc: usize,
}

impl Pending {
    /// Whether the bounds are real ones (the accelerator has a finite value bound).
    pub fn bounded(&self) -> bool {
        self.value.is_finite()
    }
}

/// Candidates of one server, in [`candidate_order`], sized on demand.
#[derive(Debug, Clone)]
pub struct CandidateStream {
    /// Unsized accelerators, sorted by bound descending (the next to size is last).
    pending: Vec<Pending>,
    /// Sized but not yet handed out, sorted by candidate order descending.
    ready: Vec<Candidate>,
    /// Handed out, in order.
    pub taken: Vec<Candidate>,
    /// Accelerators that cannot host the server, with the reason.
    pub failures: Vec<(usize, CandidateError)>,
}

impl CandidateStream {
    /// Bounds every accelerator of `ctx` (accelerators without perf data fail at once).
    pub fn new(system: &System<'_>, ctx: &ServerContext<'_>, sizing: BatchSizing) -> Self {
        let mut pending = Vec::with_capacity(ctx.accelerators.len());
        let mut failures = Vec::new();
        for &acc in &ctx.accelerators {
            match ctx.bounds(system, acc, sizing) {
                Some(b) => pending.push(Pending {
                    value: b.value,
                    units: b.units,
                    acc,
                }),
                None if system.perf(&ctx.spec.model, acc).is_none() => {
                    failures.push((acc, CandidateError::NoPerfData));
                }
                // No finite bound (degenerate parameters): size it to learn why, first.
                None => pending.push(Pending {
                    value: f64::NEG_INFINITY,
                    units: 0,
                    acc,
                }),
            }
        }
        pending.sort_by(|a, b| b.value.total_cmp(&a.value).then(b.acc.cmp(&a.acc)));
        Self {
            pending,
            ready: Vec::new(),
            taken: Vec::new(),
            failures,
        }
    }

    /// Makes sure `count` candidates are taken (fewer if the server has fewer).
    pub fn fill(
        &mut self,
        count: usize,
        system: &System<'_>,
        ctx: &ServerContext<'_>,
        sizing: BatchSizing,
        cache: &SizingCache,
    ) {
        // Grown to what is wanted (at most every candidate) at once: doubling left most of a
        // 27,000-server solve's candidate memory unused.
        let most = self.taken.len() + self.ready.len() + self.pending.len();
        let want = count.min(most);
        if want > self.taken.capacity() {
            self.taken.reserve_exact(want - self.taken.len());
        }
        while self.taken.len() < count {
            match self.next(system, ctx, sizing, cache) {
                Some(c) => self.taken.push(c),
                None => break,
            }
        }
    }

    /// Every candidate sized so far: those handed out, then the others.
    pub fn sized(&self) -> impl Iterator<Item = &Candidate> {
        self.taken.iter().chain(self.ready.iter().rev())
    }

    /// Accelerators not sized yet, with their bounds.
    pub fn pending(&self) -> &[Pending] {
        &self.pending
    }

    /// Sizes the pending accelerator `acc` now, out of order (a solver that prices capacity
    /// wants it although cheaper ones exist): it joins the sized ones, and the stream still
    /// hands everything out in [`candidate_order`]. Returns the candidate, or None when `acc`
    /// was not pending or cannot host the server.
    pub fn size_now(
        &mut self,
        acc: usize,
        system: &System<'_>,
        ctx: &ServerContext<'_>,
        sizing: BatchSizing,
        cache: &SizingCache,
    ) -> Option<Candidate> {
        let at = self.pending.iter().position(|p| p.acc == acc)?;
        self.pending.remove(at);
        self.size(acc, system, ctx, sizing, cache).cloned()
    }

    /// Sizes `acc` (taken off `pending` by the caller): the candidate joins `ready` in
    /// [`candidate_order`], or the failure is recorded.
    fn size(
        &mut self,
        acc: usize,
        system: &System<'_>,
        ctx: &ServerContext<'_>,
        sizing: BatchSizing,
        cache: &SizingCache,
    ) -> Option<&Candidate> {
        match candidate::create(system, ctx, acc, sizing, cache) {
            Ok(c) => {
                let at = self
                    .ready
                    .partition_point(|r| candidate_order(system, r, &c) == Ordering::Greater);
                self.ready.insert(at, c);
                self.ready.get(at)
            }
            Err(e) => {
                self.failures.push((acc, e));
                None
            }
        }
    }

    /// Accelerators never sized (their bound could not win).
    pub fn unsized_count(&self) -> usize {
        self.pending.len()
    }

    /// Whether every candidate has been sized and taken.
    pub fn exhausted(&self) -> bool {
        self.pending.is_empty() && self.ready.is_empty()
    }

    fn next(
        &mut self,
        system: &System<'_>,
        ctx: &ServerContext<'_>,
        sizing: BatchSizing,
        cache: &SizingCache,
    ) -> Option<Candidate> {
        loop {
            let best_ready = self.ready.last().map(|c| c.value);
            match (self.pending.last(), best_ready) {
                // Strict: an unsized accelerator whose bound equals the best value could tie
                // and win the tie-break, so it must be sized first.
                (Some(p), Some(v)) if p.value > v => return self.ready.pop(),
                (None, Some(_)) => return self.ready.pop(),
                (None, None) => return None,
                (Some(_), _) => {
                    // A cancelled solve sizes nothing more; its result is thrown away.
                    if cache.cancel().is_cancelled() {
                        return None;
                    }
                    let acc = self.pending.pop()?.acc;
                    self.size(acc, system, ctx, sizing, cache);
                }
            }
        }
    }
}
