//! Sizing: the largest request rate one replica carries within its targets (spec 2.1-2.2).
//!
//! Each latency target is read as "metric(rate) <= target". A target met at the top of the rate
//! range does not bind; one missed at the bottom is unattainable; otherwise the crossing is
//! bracketed and found with the Illinois variant of regula falsi, which keeps the bracket
//! (so it cannot diverge) and converges superlinearly, typically in under 15 chain solves
//! instead of the reference's up to 100 float32 halvings. The answer is always the feasible
//! end of the final bracket, so the returned rate meets the target.

use super::analyzer::{Analyzer, Metrics};
use crate::error::{Error, Result};

/// Stop when the bracket is this narrow relative to the rate.
const RATE_TOLERANCE: f64 = 1e-10;
/// Or when the feasible end is this close to the target, relative.
const VALUE_TOLERANCE: f64 = 1e-9;
/// Hard cap on iterations of the root finder.
const MAX_ITERATIONS: usize = 100;
/// Fraction of the maximum rate used for a throughput (TPS) class.
const TPS_RATE_FRACTION: f64 = 0.9;

/// Service-level targets of a replica; 0 means "not set".
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Targets {
    /// Mean time-to-first-token target, ms.
    pub ttft: f64,
    /// Mean inter-token-latency target, ms.
    pub itl: f64,
    /// Throughput target, tokens/s (only its presence matters to sizing, as in the reference).
    pub tps: f64,
}

/// Which constraint set the sized rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// No target binds: the rate is the top of the range.
    None,
    /// The TTFT target.
    Ttft,
    /// The ITL target.
    Itl,
    /// The throughput-class rule (0.9 of the maximum rate).
    Tps,
}

/// Result of [`Analyzer::size`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizing {
    /// Largest rate meeting the TTFT target (top of range if unset), requests/s.
    pub rate_ttft: f64,
    /// Largest rate meeting the ITL target (top of range if unset), requests/s.
    pub rate_itl: f64,
    /// Rate allowed by the TPS rule (top of range if unset), requests/s.
    pub rate_tps: f64,
    /// The constraint that binds.
    pub binding: Binding,
    /// Performance at the binding rate; `metrics.throughput` is the replica's capacity.
    pub metrics: Metrics,
    /// Chain solves spent.
    pub evaluations: u32,
}

impl Sizing {
    /// Requests/s one replica carries within the targets.
    pub fn capacity(&self) -> f64 {
        self.metrics.throughput
    }
}

impl Analyzer {
    /// The maximum rate meeting every set target, and the performance there.
    pub fn size(&self, targets: &Targets) -> Result<Sizing> {
        for (field, v) in [("targetTTFT", targets.ttft), ("targetITL", targets.itl), ("targetTPS", targets.tps)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(field, format!("must be a finite number >= 0, got {v}")));
            }
        }
        let range = self.rate_range();
        let (lo, hi) = (range.min / 1000.0, range.max / 1000.0);
        let mut evaluations = 0u32;
        let mut eval = |lambda: f64| {
            evaluations += 1;
            self.metrics_at(lambda)
        };
        let at_lo = eval(lo);
        let at_hi = eval(hi);
        let mut solve = |metric: &'static str, target: f64, pick: fn(&Metrics) -> f64| -> Result<f64> {
            if target <= 0.0 || pick(&at_hi) <= target {
                return Ok(hi);
            }
            if pick(&at_lo) > target {
                return Err(Error::TargetBelowRegion { metric, target, lowest: pick(&at_lo) });
            }
            let g = |lambda: f64| pick(&eval(lambda)) - target;
            Ok(largest_feasible(g, lo, pick(&at_lo) - target, hi, pick(&at_hi) - target, target))
        };
        let lambda_ttft = solve("TTFT", targets.ttft, |m| m.ttft)?;
        let lambda_itl = solve("ITL", targets.itl, |m| m.itl)?;
        let lambda_tps = if targets.tps > 0.0 { TPS_RATE_FRACTION * hi } else { hi };

        let lambda = lambda_ttft.min(lambda_itl).min(lambda_tps);
        let binding = if lambda >= hi {
            Binding::None
        } else if lambda == lambda_tps {
            Binding::Tps
        } else if lambda == lambda_ttft {
            Binding::Ttft
        } else {
            Binding::Itl
        };
        let metrics = eval(lambda);
        Ok(Sizing {
            rate_ttft: lambda_ttft * 1000.0,
            rate_itl: lambda_itl * 1000.0,
            rate_tps: lambda_tps * 1000.0,
            binding,
            metrics,
            evaluations,
        })
    }
}

/// The largest x in `[a, b]` with `g(x) <= 0`, given `g(a) <= 0 < g(b)`, assuming one crossing.
/// Illinois regula falsi; returns the feasible end of the final bracket.
fn largest_feasible(
    mut g: impl FnMut(f64) -> f64,
    mut a: f64,
    mut ga: f64,
    mut b: f64,
    mut gb: f64,
    scale: f64,
) -> f64 {
    let mut last_side = 0i8;
    for _ in 0..MAX_ITERATIONS {
        if b - a <= RATE_TOLERANCE * b || -ga <= VALUE_TOLERANCE * scale {
            break;
        }
        let mut x = (a * gb - b * ga) / (gb - ga);
        if !(x > a && x < b) {
            x = 0.5 * (a + b);
        }
        let gx = g(x);
        if gx <= 0.0 {
            (a, ga) = (x, gx);
            if last_side == -1 {
                gb *= 0.5;
            }
            last_side = -1;
        } else {
            (b, gb) = (x, gx);
            if last_side == 1 {
                ga *= 0.5;
            }
            last_side = 1;
        }
    }
    a
}
