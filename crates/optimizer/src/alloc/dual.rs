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
        if usage(0.0) <= cap {
            pi[k] = 0.0;
            continue;
        }
        // Usage falls as the price rises; at `most` (+ margin) nobody wants the type. The
        // least clearing price to 1e-12 relative is plenty: about 40 halvings.
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
        pi[k] = hi;
    }
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
