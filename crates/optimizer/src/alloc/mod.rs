//! The allocation problem in abstract form, and its exact and large-scale solvers.
//!
//! The solvers here see no queueing model: each server has a priority level and a list of
//! options (an accelerator type, replicas, units, value), and each type may have a capacity.
//! [`crate::solver`] builds a [`Problem`] from the sized candidates and maps the answer back.
//!
//! Objective (docs/solvers.md): minimise the total value of the served servers plus a penalty
//! per server left unserved. The penalties are lexicographic: serving one more server of a
//! priority level is worth more than anything that can happen to every lower level and to
//! every cost, so the optimum serves as many top-priority servers as possible, then as many of
//! the next level, and so on, and only then minimises value.

mod dual;
mod lagrange;
mod milp;
mod polish;
mod repair;

pub use dual::{clearing_range, dual_bound, Flat};
pub use lagrange::{lagrangian, lagrangian_with, LagrangeOptions};
pub use milp::{milp, milp_cancellable, milp_limited, Limit};

use std::time::Duration;

/// One way to serve a server.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Index of the accelerator type in [`Problem::capacity`].
    pub ty: usize,
    /// Replicas when the server is served by this choice alone (single mode).
    pub replicas: u64,
    /// Units of the type one replica takes.
    pub units_per_replica: u64,
    /// Value of serving the server by this choice alone (single mode).
    pub value: f64,
    /// Value of one replica (heterogeneous mode).
    pub value_per_replica: f64,
    /// Load one replica carries, requests/s (heterogeneous mode).
    pub rate_per_replica: f64,
}

impl Choice {
    /// Units the choice takes in single mode.
    pub fn units(&self) -> u64 {
        self.replicas.saturating_mul(self.units_per_replica)
    }
}

/// A server to serve.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// Priority level: 0 is the most important.
    pub level: usize,
    /// Load to carry, requests/s (heterogeneous mode).
    pub demand: f64,
    /// Replicas it needs at least (heterogeneous mode).
    pub min_replicas: u64,
    /// Its options; none means it cannot be served.
    pub choices: Vec<Choice>,
}

impl Server {
    /// Replicas of choice `c` that carry the whole load alone (heterogeneous mode): more of
    /// that choice is never useful.
    pub fn max_replicas(&self, c: &Choice) -> u64 {
        let by_rate = if self.demand > 0.0 && c.rate_per_replica > 0.0 {
            (self.demand / c.rate_per_replica).ceil() as u64
        } else {
            0
        };
        by_rate.max(self.min_replicas).max(1)
    }
}

/// An allocation problem.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Problem {
    /// Units available per type; `None` means unlimited.
    pub capacity: Vec<Option<u64>>,
    /// The servers.
    pub servers: Vec<Server>,
}

/// What each server gets: (choice index, replicas) pairs; empty = unserved. In single mode a
/// served server has exactly one pair with the choice's replicas.
pub type Assignment = Vec<Vec<(usize, u64)>>;

/// How a solve ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Proven optimal (within the solver's tolerance).
    Optimal,
    /// The gap target was reached.
    GapReached,
    /// The time limit stopped the search; the best allocation found is returned.
    TimeLimit,
    /// The iteration budget ran out (Lagrangian).
    IterationLimit,
    /// The cancellation flag stopped the search; the best allocation found is returned.
    Cancelled,
}

impl Status {
    /// Lower-case name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Optimal => "optimal",
            Self::GapReached => "gap reached",
            Self::TimeLimit => "time limit",
            Self::IterationLimit => "iteration limit",
            Self::Cancelled => "cancelled",
        }
    }
}

/// The answer of a solver.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The allocation (always feasible).
    pub assignment: Assignment,
    /// Its objective: values plus unserved penalties.
    pub objective: f64,
    /// A proven lower bound on the optimum.
    pub bound: f64,
    /// How the search ended.
    pub status: Status,
    /// Subgradient iterations or branch-and-bound nodes.
    pub iterations: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Lagrangian: the prices per unit of each type that gave the bound (empty for the MILP).
    pub prices: Vec<f64>,
}

impl Outcome {
    /// Relative gap `(objective - bound) / |objective|`, 0 when they meet.
    pub fn gap(&self) -> f64 {
        relative_gap(self.objective, self.bound)
    }
}

/// `(objective - bound) / max(|objective|, 1e-9)`, never negative.
pub fn relative_gap(objective: f64, bound: f64) -> f64 {
    ((objective - bound) / objective.abs().max(1e-9)).max(0.0)
}

impl Problem {
    /// Number of priority levels (1 + the largest level).
    pub fn levels(&self) -> usize {
        self.servers.iter().map(|s| s.level + 1).max().unwrap_or(0)
    }

    /// The penalty of leaving a server of each level unserved. With `D` the largest change in
    /// total value any allocation can make, the lowest level's penalty is `1 + D` and each
    /// level's is `1 + D` plus the penalties of all servers below it, so one more server
    /// served at a level outweighs everything below it.
    pub fn penalties(&self, multi: bool) -> Vec<f64> {
        let span: f64 = self
            .servers
            .iter()
            .map(|s| {
                let values = s.choices.iter().map(|c| {
                    if multi {
                        c.value_per_replica * s.max_replicas(c) as f64
                    } else {
                        c.value
                    }
                });
                let (lo, hi) = values.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
                hi - lo
            })
            .sum();
        self.penalties_over(span)
    }

    /// The penalties when every allocation's values lie within `span` of each other (the sum
    /// over servers of their values' ranges, 0 included).
    pub fn penalties_over(&self, span: f64) -> Vec<f64> {
        let levels = self.levels();
        let mut count = vec![0usize; levels];
        for s in &self.servers {
            count[s.level] += 1;
        }
        let mut penalty = vec![0.0; levels];
        let mut below = 0.0;
        for l in (0..levels).rev() {
            penalty[l] = 1.0 + span + below;
            below += penalty[l] * count[l] as f64;
        }
        penalty
    }

    /// Objective of `a`: the values of the served plus the penalties of the unserved.
    pub fn objective(&self, a: &Assignment, multi: bool, penalties: &[f64]) -> f64 {
        self.servers
            .iter()
            .zip(a)
            .map(|(s, parts)| {
                if parts.is_empty() {
                    return penalties[s.level];
                }
                parts
                    .iter()
                    .map(|&(c, n)| {
                        let c = &s.choices[c];
                        if multi {
                            c.value_per_replica * n as f64
                        } else {
                            c.value
                        }
                    })
                    .sum()
            })
            .fold(0.0, |acc, v| acc + v)
    }

    /// Units of each type `a` takes.
    pub fn usage(&self, a: &Assignment) -> Vec<u64> {
        let mut used = vec![0u64; self.capacity.len()];
        for (s, parts) in self.servers.iter().zip(a) {
            for &(c, n) in parts {
                let c = &s.choices[c];
                used[c.ty] = used[c.ty].saturating_add(n.saturating_mul(c.units_per_replica));
            }
        }
        used
    }

    /// Whether `a` fits the capacities and serves each served server fully.
    pub fn feasible(&self, a: &Assignment, multi: bool) -> bool {
        let fits = self
            .usage(a)
            .iter()
            .zip(&self.capacity)
            .all(|(&u, cap)| cap.is_none_or(|cap| u <= cap));
        let served_fully = self.servers.iter().zip(a).all(|(s, parts)| {
            if parts.is_empty() {
                return true;
            }
            if multi {
                let rate: f64 = parts
                    .iter()
                    .map(|&(c, n)| s.choices[c].rate_per_replica * n as f64)
                    .sum();
                let replicas: u64 = parts.iter().map(|p| p.1).sum();
                rate >= s.demand * (1.0 - 1e-6) && replicas >= s.min_replicas
            } else {
                parts.len() == 1 && parts[0].1 == s.choices[parts[0].0].replicas
            }
        });
        fits && served_fully
    }

    /// Servers left unserved by `a`, per level.
    pub fn unserved(&self, a: &Assignment) -> Vec<usize> {
        let mut count = vec![0; self.levels()];
        for (s, parts) in self.servers.iter().zip(a) {
            if parts.is_empty() {
                count[s.level] += 1;
            }
        }
        count
    }
}

#[cfg(test)]
mod tests;
