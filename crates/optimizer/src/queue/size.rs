//! Sizing: the largest request rate one replica carries within its targets (spec 2.1-2.2).
//!
//! Each latency target is read as "metric(rate) <= target". A target met at the top of the rate
//! range does not bind; one missed at the bottom is unattainable; otherwise the crossing is
//! bracketed and found with Brent's method, which keeps the bracket (so it cannot diverge) and
//! converges superlinearly: about 15 chain solves for both targets together (the second search
//! starts from the bracket the first left) instead of the reference's up to 2 x 102 float32
//! evaluations. The answer is always the feasible end of the final bracket, so the returned
//! rate meets the target.

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
        for (field, v) in [
            ("targetTtft", targets.ttft),
            ("targetItl", targets.itl),
            ("targetTPS", targets.tps),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(
                    field,
                    format!("must be a finite number >= 0, got {v}"),
                ));
            }
        }
        let range = self.rate_range();
        let (lo, hi) = (range.min / 1000.0, range.max / 1000.0);
        // Every evaluation gives both TTFT and ITL; the second search starts from the tightest
        // bracket the first one left, and the final metrics are looked up, not recomputed.
        let mut probes: Vec<Metrics> = Vec::with_capacity(32);
        let at_lo = self.metrics_at(lo);
        let at_hi = self.metrics_at(hi);
        probes.extend([at_lo, at_hi]);
        let mut solve =
            |metric: &'static str, target: f64, pick: fn(&Metrics) -> f64| -> Result<f64> {
                if target <= 0.0 || pick(&at_hi) <= target {
                    return Ok(hi);
                }
                if pick(&at_lo) > target {
                    return Err(Error::TargetBelowRegion {
                        metric,
                        target,
                        lowest: pick(&at_lo),
                    });
                }
                let (mut a, mut b) = (&at_lo, &at_hi);
                for p in &probes {
                    if pick(p) <= target && p.offered_rate > a.offered_rate {
                        a = p;
                    }
                }
                for p in &probes {
                    if pick(p) > target
                        && p.offered_rate > a.offered_rate
                        && p.offered_rate < b.offered_rate
                    {
                        b = p;
                    }
                }
                let (a, ga, b, gb) = (
                    a.offered_rate / 1000.0,
                    pick(a) - target,
                    b.offered_rate / 1000.0,
                    pick(b) - target,
                );
                let g = |lambda: f64| {
                    let m = self.metrics_at(lambda);
                    probes.push(m);
                    pick(&m) - target
                };
                Ok(largest_feasible(g, a, ga, b, gb, target))
            };
        let lambda_ttft = solve("TTFT", targets.ttft, |m| m.ttft)?;
        let lambda_itl = solve("ITL", targets.itl, |m| m.itl)?;
        let lambda_tps = if targets.tps > 0.0 {
            TPS_RATE_FRACTION * hi
        } else {
            hi
        };

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
        let cached = probes
            .iter()
            .find(|p| p.offered_rate == lambda * 1000.0)
            .copied();
        let metrics = match cached {
            Some(m) => m,
            None => {
                probes.push(self.metrics_at(lambda));
                probes[probes.len() - 1]
            }
        };
        let evaluations = probes.len() as u32;
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
/// Brent's method (inverse quadratic interpolation, secant, bisection fallback); returns the
/// feasible end of the final bracket.
fn largest_feasible(
    mut g: impl FnMut(f64) -> f64,
    a: f64,
    ga: f64,
    b: f64,
    gb: f64,
    scale: f64,
) -> f64 {
    // b: best estimate; c: the other end of the bracket; a: previous b.
    let (mut a, mut fa, mut b, mut fb) = (a, ga, b, gb);
    let (mut c, mut fc) = (a, fa);
    let mut d = b - a;
    let mut e = d;
    for _ in 0..MAX_ITERATIONS {
        if (fb > 0.0) == (fc > 0.0) {
            (c, fc) = (a, fa);
            d = b - a;
            e = d;
        }
        if fc.abs() < fb.abs() {
            (a, fa) = (b, fb);
            (b, fb) = (c, fc);
            (c, fc) = (a, fa);
        }
        let tol = RATE_TOLERANCE * b.abs();
        let half = 0.5 * (c - b);
        let feasible_close = fb <= 0.0 && -fb <= VALUE_TOLERANCE * scale;
        if half.abs() <= tol || fb == 0.0 || feasible_close {
            break;
        }
        if e.abs() >= tol && fa.abs() > fb.abs() {
            let s = fb / fa;
            let (mut p, mut q) = if a == c {
                (2.0 * half * s, 1.0 - s)
            } else {
                let (q, r) = (fa / fc, fb / fc);
                (
                    s * (2.0 * half * q * (q - r) - (b - a) * (r - 1.0)),
                    (q - 1.0) * (r - 1.0) * (s - 1.0),
                )
            };
            if p > 0.0 {
                q = -q;
            }
            p = p.abs();
            if 2.0 * p < (3.0 * half * q - (tol * q).abs()).min((e * q).abs()) {
                e = d;
                d = p / q;
            } else {
                d = half;
                e = d;
            }
        } else {
            d = half;
            e = d;
        }
        (a, fa) = (b, fb);
        b += if d.abs() > tol { d } else { tol.copysign(half) };
        fb = g(b);
    }
    if fb <= 0.0 {
        b
    } else {
        c
    }
}
