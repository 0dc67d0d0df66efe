//! The Lagrangian dual of the capacity rows: every server's cheapest priced choice at given
//! prices (the relaxed problem), exact coordinate steps on the prices (sweeps), and the bound
//! they prove.
//!
//! These passes run over every choice of every server, dozens of times per solve, and they are
//! most of the Lagrangian's time on large systems. They read the choices as flat columns
//! ([`Flat`]: type, value and units side by side, 20 bytes a choice instead of a 48-byte
//! [`super::Choice`] behind a pointer per server) and run on all cores, in fixed chunks of
//! servers whose partial results are combined in chunk order, so the answer does not depend
//! on how many threads did the work (a float sum is only reproducible in a fixed order).

use super::Problem;
use crate::cancel::Cancel;
use rayon::prelude::*;

/// Servers per parallel chunk: small enough to spread 2,000 servers over the cores, large
/// enough that a chunk's work dwarfs handing it out.
const CHUNK: usize = 256;
/// Choices on a type from which a bisection step of [`sweep`] runs on all cores.
const PARALLEL_CHOICES: usize = 8192;

/// The choices of a problem's servers as flat columns, in the servers' order and each
/// server's order of choices (choice `j` of server `s` is at `start[s] + j`).
#[derive(Debug, Clone, Default)]
pub struct Flat {
    /// Per type, its capacity (`None`: unlimited).
    pub capacity: Vec<Option<u64>>,
    /// Per server, its priority level.
    level: Vec<usize>,
    /// Per server, where its choices start; one more entry at the end.
    start: Vec<usize>,
    /// Per choice: its type, its value, the units it takes.
    ty: Vec<u32>,
    value: Vec<f64>,
    units: Vec<f64>,
}

impl Flat {
    /// An empty problem over these capacities.
    pub fn new(capacity: Vec<Option<u64>>) -> Self {
        Self {
            capacity,
            start: vec![0],
            ..Self::default()
        }
    }

    /// The choices of `p`.
    pub fn of(p: &Problem) -> Self {
        let mut flat = Self::new(p.capacity.clone());
        for s in &p.servers {
            flat.push(
                s.level,
                s.choices.iter().map(|c| (c.ty, c.value, c.units())),
            );
        }
        flat
    }

    /// Adds a server of `level` with `choices` (type, value, units).
    pub fn push(&mut self, level: usize, choices: impl IntoIterator<Item = (usize, f64, u64)>) {
        for (ty, value, units) in choices {
            self.ty.push(ty as u32);
            self.value.push(value);
            self.units.push(units as f64);
        }
        self.level.push(level);
        self.start.push(self.ty.len());
    }

    /// Appends `other`'s servers (over the same types).
    pub fn extend(&mut self, other: Flat) {
        let base = self.ty.len();
        self.level.extend(other.level);
        self.start
            .extend(other.start[1..].iter().map(|&x| x + base));
        self.ty.extend(other.ty);
        self.value.extend(other.value);
        self.units.extend(other.units);
    }

    fn servers(&self) -> usize {
        self.level.len()
    }

    /// The chunks of servers, as ranges.
    fn chunks(&self) -> Vec<std::ops::Range<usize>> {
        (0..self.servers())
            .step_by(CHUNK)
            .map(|a| a..(a + CHUNK).min(self.servers()))
            .collect()
    }

    /// The limited types.
    pub fn limited(&self) -> Vec<usize> {
        (0..self.capacity.len())
            .filter(|&k| self.capacity[k].is_some())
            .collect()
    }
}

/// The relaxed problem at prices `pi`: the sum of every server's priced minimum, the units of
/// each type those choices take, and the choices (None = unserved).
pub(super) fn relaxed(
    p: &Flat,
    pi: &[f64],
    penalties: &[f64],
) -> (f64, Vec<f64>, Vec<Option<usize>>) {
    let parts: Vec<(f64, Vec<f64>, Vec<Option<usize>>)> = p
        .chunks()
        .into_par_iter()
        .map(|servers| {
            let mut usage = vec![0.0; p.capacity.len()];
            let mut total = 0.0;
            let mut picks = Vec::with_capacity(servers.len());
            for s in servers {
                let (from, to) = (p.start[s], p.start[s + 1]);
                let mut best = penalties[p.level[s]];
                let mut pick = None;
                for i in from..to {
                    let priced = p.value[i] + pi[p.ty[i] as usize] * p.units[i];
                    if priced < best {
                        best = priced;
                        pick = Some(i);
                    }
                }
                if let Some(i) = pick {
                    usage[p.ty[i] as usize] += p.units[i];
                }
                picks.push(pick.map(|i| i - from));
                total += best;
            }
            (total, usage, picks)
        })
        .collect();
    let mut usage = vec![0.0; p.capacity.len()];
    let mut total = 0.0;
    let mut picks = Vec::with_capacity(p.servers());
    for (value, used, chosen) in parts {
        total += value;
        for (u, x) in usage.iter_mut().zip(used) {
            *u += x;
        }
        picks.extend(chosen);
    }
    (total, usage, picks)
}

/// The servers of one chunk that have choices on one type, flat: per such server the best
/// priced value away from the type (or its penalty), and its choices on the type (value,
/// units) at `on_k[start[r]..start[r + 1]]`.
#[derive(Default)]
struct Rows {
    away: Vec<f64>,
    start: Vec<usize>,
    on_k: Vec<(f64, f64)>,
    /// The highest price at which some server still prefers the type.
    most: f64,
}

impl Rows {
    fn of(
        p: &Flat,
        servers: std::ops::Range<usize>,
        k: usize,
        pi: &[f64],
        penalties: &[f64],
    ) -> Self {
        let mut rows = Rows::default();
        let k = k as u32;
        for s in servers {
            let mut away = penalties[p.level[s]];
            let first = rows.on_k.len();
            for i in p.start[s]..p.start[s + 1] {
                if p.ty[i] == k {
                    rows.on_k.push((p.value[i], p.units[i]));
                } else {
                    away = away.min(p.value[i] + pi[p.ty[i] as usize] * p.units[i]);
                }
            }
            if rows.on_k.len() == first {
                continue;
            }
            for &(v, u) in &rows.on_k[first..] {
                if u > 0.0 {
                    rows.most = rows.most.max((away - v) / u);
                }
            }
            rows.away.push(away);
            rows.start.push(first);
        }
        rows.start.push(rows.on_k.len());
        rows
    }

    /// Where, as the price of the type rises from 0, a server's units on it change: (price,
    /// change of units), appended to `out`. Each server walks the lower envelope of its
    /// priced choices on the type (lines `v + t u`): the one it takes moves to choices of
    /// fewer units, until its best choice away is cheaper.
    fn events(&self, out: &mut Vec<(f64, f64)>) {
        for (r, &away) in self.away.iter().enumerate() {
            let on_k = &self.on_k[self.start[r]..self.start[r + 1]];
            // The choice taken at price 0 (the first strict minimum, as `usage` picks).
            let mut best = away;
            let mut cur = None;
            for (j, &(v, _)) in on_k.iter().enumerate() {
                if v < best {
                    best = v;
                    cur = Some(j);
                }
            }
            let mut t = 0.0;
            while let Some(a) = cur {
                let (va, ua) = on_k[a];
                // Leaving for the best choice away, or for a choice of fewer units.
                let mut next = (f64::INFINITY, None);
                if ua > 0.0 {
                    next = ((away - va) / ua, None);
                }
                for (b, &(vb, ub)) in on_k.iter().enumerate() {
                    if ub < ua {
                        let at = (vb - va) / (ua - ub);
                        if at >= t && at < next.0 {
                            next = (at, Some(b));
                        }
                    }
                }
                if !next.0.is_finite() {
                    break;
                }
                let units = next.1.map_or(0.0, |b| on_k[b].1);
                out.push((next.0.max(t), units - ua));
                (t, cur) = (next.0.max(t), next.1);
            }
        }
    }

    /// Units of the type these servers take at price `t`. Whole numbers, so a sum of them is
    /// exact in any order.
    fn usage(&self, t: f64) -> f64 {
        let mut total = 0.0;
        for (r, &away) in self.away.iter().enumerate() {
            let mut best = away;
            let mut units = 0.0;
            for &(v, u) in &self.on_k[self.start[r]..self.start[r + 1]] {
                let priced = v + t * u;
                if priced < best {
                    best = priced;
                    units = u;
                }
            }
            total += units;
        }
        total
    }
}

/// One pass of exact coordinate steps: each limited type's price is set to the least price at
/// which the servers that choose it (at the other types' current prices) fit in its capacity.
/// Stops early (prices half set, harmless: they are only a start) once `cancel` is raised.
pub(super) fn sweep(
    p: &Flat,
    limited: &[usize],
    pi: &mut [f64],
    penalties: &[f64],
    cancel: &Cancel,
) {
    let chunks = p.chunks();
    for &k in limited {
        if cancel.is_cancelled() {
            return;
        }
        let cap = p.capacity[k].unwrap_or(0) as f64;
        let rows: Vec<Rows> = chunks
            .par_iter()
            .map(|servers| Rows::of(p, servers.clone(), k, pi, penalties))
            .filter(|r| !r.away.is_empty())
            .collect();
        let most = rows.iter().map(|r| r.most).fold(0.0, f64::max);
        // A bisection step is one pass over the rows, some forty per type: on a few thousand
        // choices, handing the pass out costs more than it saves.
        let choices: usize = rows.iter().map(|r| r.on_k.len()).sum();
        let usage = |t: f64| -> f64 {
            if choices < PARALLEL_CHOICES {
                rows.iter().map(|r| r.usage(t)).sum()
            } else {
                rows.par_iter().map(|r| r.usage(t)).sum()
            }
        };
        let at_zero = usage(0.0);
        if at_zero <= cap {
            pi[k] = 0.0;
            continue;
        }
        // Read off the breakpoints, checked with one pass (a breakpoint computed in floats
        // may sit a rounding off the comparison `usage` makes); bisection where it fails.
        pi[k] = match breakpoint_price(&rows, at_zero, cap) {
            Some(price) if usage(price) <= cap => price,
            _ => bisect_price(usage, most, cap, cancel),
        };
    }
}

/// The least price at which the servers of `rows` take no more than `cap` units of their
/// type, given that they take `at_zero` > `cap` at price 0: their breakpoints
/// ([`Rows::events`]) in order of price, until the units given up bring the usage within
/// `cap`; None if they never do. Just above the breakpoint, as bisection would land.
fn breakpoint_price(rows: &[Rows], at_zero: f64, cap: f64) -> Option<f64> {
    let mut events = Vec::new();
    for r in rows {
        r.events(&mut events);
    }
    events.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut left = at_zero;
    let t = events.iter().find_map(|&(t, du)| {
        left += du;
        (left <= cap).then_some(t)
    })?;
    Some(t + 1e-12 * t.abs() + f64::MIN_POSITIVE)
}

/// The least price at which `usage` (falling as the price rises, no longer above `cap` at
/// `most` and beyond) is within `cap`, to 1e-12 relative: about 40 halvings, one pass each.
fn bisect_price(usage: impl Fn(f64) -> f64, most: f64, cap: f64, cancel: &Cancel) -> f64 {
    let (mut lo, mut hi) = (0.0, most.max(0.0) * (1.0 + 1e-9) + 1e-9);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi || hi - lo <= 1e-12 * hi || cancel.is_cancelled() {
            break;
        }
        if usage(mid) <= cap {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// The Lagrangian dual at prices `pi`: the relaxed value less the priced capacities.
pub(super) fn dual_value(p: &Flat, limited: &[usize], value: f64, pi: &[f64]) -> f64 {
    value
        - limited
            .iter()
            .map(|&k| pi[k] * p.capacity[k].unwrap_or(0) as f64)
            .sum::<f64>()
}

/// The best Lagrangian dual of `p` (with `penalties`) seen from prices `pi` over `sweeps`
/// passes of exact coordinate steps: a lower bound on `p`'s optimum whatever the prices, so
/// a caller with a relaxation of its problem (bounds in place of unsized candidates) gets a
/// proven bound for the cost of a few passes.
pub fn dual_bound(p: &Flat, pi: &[f64], penalties: &[f64], sweeps: u32) -> f64 {
    let limited = p.limited();
    let dual = |pi: &[f64]| dual_value(p, &limited, relaxed(p, pi, penalties).0, pi);
    let mut pi = pi.to_vec();
    let mut best = dual(&pi);
    for _ in 0..sweeps {
        sweep(p, &limited, &mut pi, penalties, &Cancel::new());
        best = best.max(dual(&pi));
    }
    best
}

/// The capacities of limited type `k` that prices `pi` clear (the other prices held): from
/// the units the servers take at a price just above `pi[k]` to those they take just below it
/// (no upper end when `pi[k]` is 0: any capacity above the first clears at price 0). For any
/// capacity in that range `pi[k]` is the type's price in the LP relaxation, the value of one
/// more unit or one less.
pub fn clearing_range(p: &Flat, pi: &[f64], penalties: &[f64], k: usize) -> (f64, Option<f64>) {
    let at = |price: f64| {
        let mut q = pi.to_vec();
        q[k] = price;
        relaxed(p, &q, penalties).1[k]
    };
    let step = pi[k].abs() * 1e-9 + 1e-12;
    let low = at(pi[k] + step);
    let high = (pi[k] > 0.0).then(|| at((pi[k] - step).max(0.0)));
    (low, high)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::Rng;

    /// Servers with one to four choices over three types (some with two or three choices on
    /// the same type, some with none units), values of both signs.
    fn random(rng: &mut Rng, servers: usize) -> Flat {
        let mut flat = Flat::new(vec![Some(0); 3]);
        for _ in 0..servers {
            let n = 1 + (rng.next_f64() * 4.0) as usize;
            let choices: Vec<(usize, f64, u64)> = (0..n)
                .map(|_| {
                    let ty = (rng.next_f64() * 3.0) as usize;
                    let units = (rng.next_f64() * 9.0) as u64;
                    (ty, rng.range(-50.0, 400.0), units)
                })
                .collect();
            flat.push((rng.next_f64() * 2.0) as usize, choices);
        }
        flat
    }

    #[test]
    fn the_breakpoints_give_the_least_clearing_price_that_bisection_finds() {
        let mut rng = Rng::new(5);
        let penalties = [1e4, 1e3];
        let mut compared = 0;
        for _ in 0..200 {
            let servers = 1 + (rng.next_f64() * 300.0) as usize;
            let p = random(&mut rng, servers);
            let pi: Vec<f64> = (0..3).map(|_| rng.range(0.0, 30.0)).collect();
            for k in 0..3 {
                let rows = [Rows::of(&p, 0..p.servers(), k, &pi, &penalties)];
                let usage = |t: f64| rows[0].usage(t);
                let at_zero = usage(0.0);
                let cap = (at_zero * rng.next_f64()).floor();
                if at_zero <= cap {
                    continue;
                }
                let exact = breakpoint_price(&rows, at_zero, cap).expect("a price clears");
                let bisected = bisect_price(usage, rows[0].most, cap, &Cancel::new());
                assert!(usage(exact) <= cap, "{exact} leaves {}", usage(exact));
                // Both the least clearing price, to bisection's tolerance.
                assert!(
                    (exact - bisected).abs() <= 1e-9 * bisected.abs().max(1e-9),
                    "{exact} vs {bisected}"
                );
                compared += 1;
            }
        }
        assert!(compared > 300, "{compared}");
    }
}
