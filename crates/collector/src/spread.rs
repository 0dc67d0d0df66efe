//! The spread of a server's output lengths: the coefficient of variation (standard deviation /
//! mean) of the generated tokens per request, fitted to vLLM's bucket histogram
//! `vllm:request_generation_tokens` over the server's window.
//!
//! A bucket histogram gives the share of requests at or below each bound, not a second moment:
//! within a bucket the lengths could be anywhere. So a shape is assumed: lognormal, as output
//! lengths of LLM traffic are commonly modelled. Its mean is the window's exact one (histogram
//! sum / count), so one parameter is left: for each `sigma`, `mu = ln(mean) - sigma^2 / 2`, and
//! the `sigma` kept is the one whose CDF is closest (least squares) to the empirical one at the
//! finite bounds; `cv = sqrt(exp(sigma^2) - 1)`. Simulated with vLLM's 1-2-5 bounds, 300
//! lognormal requests of cv 0.25 to 1 give `E[m^2] / E[m]^2` 2-7 % off on average (up to
//! 25 % in one window at cv 1); putting each request anywhere in its bucket with equal chance
//! (uniform within the bucket) reads it 25-53 % high at 300 requests (up to 88 % at 30).
//! docs/collector.md has the details.

use inferno_api::limits::{show, MAX_COV};

/// Requests a window must hold for a fit: with fewer, a handful of requests in the tail decide
/// the spread.
pub const MIN_REQUESTS: f64 = 20.0;

/// The `sigma` searched: from nearly 0 (every request the same length; low enough that a
/// point mass on a bound up to ~1e5 tokens still fits best there, see [`points`]) to 3
/// (cv 90, near [`MAX_COV`]).
const SIGMA_RANGE: (f64, f64) = (1e-6, 3.0);
/// Points of the coarse (logarithmic) grid over [`SIGMA_RANGE`] before the golden-section
/// refinement: a step of ~5 %, fine enough not to skip a local minimum of a smooth loss.
const GRID: usize = 300;

/// One pod's bucket series over a window: (upper bound `le`, cumulative count), in any order,
/// `+Inf` included; a `le` that is not a number is NaN.
pub type Buckets = Vec<(f64, f64)>;

/// A pod's name and its bucket series over the window (None when it has none).
pub type PodSeries<'a> = (&'a str, Option<&'a [(f64, f64)]>);

/// A checked histogram: cumulative counts at ascending finite bounds, and the total.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// (finite upper bound, cumulative count), ascending, counts non-decreasing.
    pub bounds: Vec<(f64, f64)>,
    /// The `+Inf` bucket: every request.
    pub total: f64,
}

/// What makes a pod's buckets no histogram (the message names neither the series nor the pod;
/// the caller does).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BrokenBuckets {
    /// The pod counted requests but has no bucket series, while other pods have them.
    #[error("no bucket series, while other pods of the server have them")]
    Missing,
    /// A series whose `le` is not a number.
    #[error("a bucket whose le is not a number")]
    BadBound,
    /// The same bound twice.
    #[error("le={} twice", le_text(*le))]
    Duplicate {
        /// The bound.
        le: f64,
    },
    /// A count that is not a finite number >= 0 (a counter reset gives a negative one).
    #[error("le={}: count must be a finite number >= 0, got {}", le_text(*le), show(*count))]
    BadCount {
        /// The bound.
        le: f64,
        /// Its count.
        count: f64,
    },
    /// No `+Inf` bucket: no total.
    #[error("no le=+Inf bucket")]
    NoTotal,
    /// A cumulative count below that of a smaller bound (a count above the total included).
    #[error(
        "cumulative counts fall: le={} has {}, le={} has {}",
        le_text(*lower),
        show(*lower_count),
        le_text(*upper),
        show(*upper_count)
    )]
    Falling {
        /// The smaller bound.
        lower: f64,
        /// Its count.
        lower_count: f64,
        /// The larger bound.
        upper: f64,
        /// Its (smaller) count.
        upper_count: f64,
    },
}

/// A bound as Prometheus writes it.
fn le_text(le: f64) -> String {
    if le == f64::INFINITY {
        "+Inf".into()
    } else {
        show(le)
    }
}

/// What the histogram says of the server's output lengths.
#[derive(Debug, Clone, PartialEq)]
pub enum Spread {
    /// The fitted coefficient of variation, in `[0, MAX_COV]`.
    Measured(f64),
    /// Nothing to fit: no bucket series, no measured mean, or fewer than [`MIN_REQUESTS`]
    /// requests (or no finite bound).
    Nothing,
    /// A pod's buckets are no histogram: nothing is fitted.
    Broken {
        /// The pod.
        pod: String,
        /// Why.
        why: BrokenBuckets,
    },
}

/// One pod's buckets, checked: every `le` a number and once, every count finite and >= 0,
/// cumulative counts non-decreasing up to `+Inf`.
pub fn checked(buckets: &[(f64, f64)]) -> Result<Histogram, BrokenBuckets> {
    let mut sorted = buckets.to_vec();
    if sorted.iter().any(|(le, _)| le.is_nan()) {
        return Err(BrokenBuckets::BadBound);
    }
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    for w in sorted.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(BrokenBuckets::Duplicate { le: w[0].0 });
        }
    }
    if let Some(&(le, count)) = sorted.iter().find(|(_, c)| !(c.is_finite() && *c >= 0.0)) {
        return Err(BrokenBuckets::BadCount { le, count });
    }
    for w in sorted.windows(2) {
        if w[1].1 < w[0].1 {
            return Err(BrokenBuckets::Falling {
                lower: w[0].0,
                lower_count: w[0].1,
                upper: w[1].0,
                upper_count: w[1].1,
            });
        }
    }
    match sorted.pop() {
        Some((le, total)) if le == f64::INFINITY => Ok(Histogram {
            bounds: sorted,
            total,
        }),
        _ => Err(BrokenBuckets::NoTotal),
    }
}

/// The server's histogram: the pods' cumulative counts summed per bound, at the finite bounds
/// every pod has (vLLM's bounds stop at the model's context length, which may differ between
/// pods; a cumulative count is summable only at a bound both have). None when no pod has
/// bucket series; the first broken pod otherwise.
pub fn combine(pods: &[PodSeries<'_>]) -> Result<Option<Histogram>, Spread> {
    if pods.iter().all(|(_, b)| b.is_none()) {
        return Ok(None);
    }
    let broken = |pod: &str, why| Spread::Broken {
        pod: pod.to_owned(),
        why,
    };
    let mut sum: Option<Histogram> = None;
    for &(pod, buckets) in pods {
        let h = checked(buckets.ok_or_else(|| broken(pod, BrokenBuckets::Missing))?)
            .map_err(|why| broken(pod, why))?;
        sum = Some(match sum {
            None => h,
            Some(s) => Histogram {
                bounds: s
                    .bounds
                    .iter()
                    .filter_map(|&(b, c)| {
                        let (_, other) = h.bounds.iter().find(|(hb, _)| *hb == b)?;
                        Some((b, c + other))
                    })
                    .collect(),
                total: s.total + h.total,
            },
        });
    }
    Ok(sum)
}

/// The spread of the lengths whose window mean is `mean` (tokens) and whose buckets are those of
/// `pods` (each `None` when it has no bucket series): [`combine`]d, then [`fit_cv`] when it
/// holds at least [`MIN_REQUESTS`] requests.
pub fn measure(mean: f64, pods: &[PodSeries<'_>]) -> Spread {
    let h = match combine(pods) {
        Ok(Some(h)) => h,
        Ok(None) => return Spread::Nothing,
        Err(broken) => return broken,
    };
    if !(mean.is_finite() && mean > 0.0) || h.total < MIN_REQUESTS || h.bounds.is_empty() {
        return Spread::Nothing;
    }
    Spread::Measured(fit_cv(mean, &h))
}

/// The standard normal CDF. Rust's `f64` has no stable `erf`; Abramowitz and Stegun 7.1.26
/// (absolute error below 1.5e-7) is far finer than a fit to a bucket histogram needs, and
/// saves a dependency. The tail is computed as the small number it is (erfc), not as 1 minus
/// a number near 1.
pub fn phi(z: f64) -> f64 {
    const P: f64 = 0.327_591_1;
    const A: [f64; 5] = [
        0.254_829_592,
        -0.284_496_736,
        1.421_413_741,
        -1.453_152_027,
        1.061_405_429,
    ];
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + P * x);
    let poly = A.iter().rev().fold(0.0, |acc, a| acc * t + a) * t;
    let tail = 0.5 * poly * (-x * x).exp();
    if z >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// The (log bound, empirical CDF) points the lognormal is fitted to. Lengths are whole tokens
/// and `le` is inclusive, so the bucket `le=b` holds the lengths below `b + 0.5` of a
/// continuous length rounded to whole tokens: the CDF is compared there. Without it, requests
/// all of one length that is a bound (`max_tokens` of 50 or 1000 is common; the emulator
/// always generates `max_tokens`) read as a cv of about 0.6: a lognormal whose mean is `b` puts
/// only `Phi(sigma / 2)`, about half, of its mass at or below `b`.
fn points(h: &Histogram) -> Vec<(f64, f64)> {
    h.bounds
        .iter()
        .map(|&(b, c)| ((b + 0.5).ln(), c / h.total))
        .collect()
}

/// The lognormal sigma of mean `mean` whose CDF is closest to the histogram's at its finite
/// bounds (least squares): a logarithmic grid over `SIGMA_RANGE`, then a golden-section
/// search around the best point of the grid.
pub fn fit_sigma(mean: f64, h: &Histogram) -> f64 {
    let points = points(h);
    let ln_mean = mean.ln();
    let loss = |s: f64| -> f64 {
        let mu = ln_mean - s * s / 2.0;
        points
            .iter()
            .map(|&(lb, f)| (f - phi((lb - mu) / s)).powi(2))
            .sum()
    };
    let (lo, hi) = SIGMA_RANGE;
    let grid: Vec<f64> = (0..=GRID)
        .map(|i| lo * (hi / lo).powf(i as f64 / GRID as f64))
        .collect();
    // The first of equal losses: when the buckets cannot tell spreads apart (every request in
    // one bucket), the least spread.
    let (best, _) =
        grid.iter()
            .map(|&s| loss(s))
            .enumerate()
            .fold(
                (0, f64::INFINITY),
                |(bi, bl), (i, l)| {
                    if l < bl {
                        (i, l)
                    } else {
                        (bi, bl)
                    }
                },
            );
    let (mut a, mut b) = (grid[best.saturating_sub(1)], grid[(best + 1).min(GRID)]);
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..60 {
        let (c, d) = (b - ratio * (b - a), a + ratio * (b - a));
        if loss(c) <= loss(d) {
            b = d;
        } else {
            a = c;
        }
    }
    let refined = (a + b) / 2.0;
    if loss(refined) <= loss(grid[best]) {
        refined
    } else {
        grid[best]
    }
}

/// The coefficient of variation of the lognormal fitted to `h` with mean `mean` ([`fit_sigma`]),
/// in `[0, MAX_COV]`.
pub fn fit_cv(mean: f64, h: &Histogram) -> f64 {
    let s = fit_sigma(mean, h);
    (s * s).exp_m1().sqrt().clamp(0.0, MAX_COV)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// vLLM's 1-2-5 bounds, as the emulator exports them.
    const BOUNDS: [f64; 19] = [
        1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5,
        2e5, 5e5, 1e6,
    ];

    /// The standard normal quantile, by bisection on [`phi`] (whose accuracy is checked below).
    fn quantile(p: f64) -> f64 {
        let (mut lo, mut hi) = (-10.0, 10.0);
        for _ in 0..100 {
            let mid = (lo + hi) / 2.0;
            if phi(mid) < p {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (lo + hi) / 2.0
    }

    /// `n` requests whose lengths are the `(i + 0.5) / n` quantiles of the lognormal of mean
    /// `mean` and coefficient of variation `cv`, rounded to whole tokens (at least 1): a
    /// deterministic sample.
    fn lognormal(n: usize, mean: f64, cv: f64) -> Vec<f64> {
        let s = (1.0 + cv * cv).ln().sqrt();
        let mu = mean.ln() - s * s / 2.0;
        (0..n)
            .map(|i| {
                let z = quantile((i as f64 + 0.5) / n as f64);
                (mu + s * z).exp().round().max(1.0)
            })
            .collect()
    }

    /// The cumulative bucket counts of `lengths` at [`BOUNDS`] and `+Inf` (`le` inclusive).
    fn buckets(lengths: &[f64]) -> Buckets {
        BOUNDS
            .iter()
            .chain([&f64::INFINITY])
            .map(|&b| (b, lengths.iter().filter(|&&m| m <= b).count() as f64))
            .collect()
    }

    fn mean(lengths: &[f64]) -> f64 {
        lengths.iter().sum::<f64>() / lengths.len() as f64
    }

    /// The sample's own coefficient of variation.
    fn cv_of(lengths: &[f64]) -> f64 {
        let m = mean(lengths);
        let var = lengths.iter().map(|x| (x - m).powi(2)).sum::<f64>() / lengths.len() as f64;
        var.sqrt() / m
    }

    fn measured(lengths: &[f64]) -> f64 {
        let b = buckets(lengths);
        match measure(mean(lengths), &[("p", Some(&b))]) {
            Spread::Measured(cv) => cv,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn phi_is_the_normal_cdf() {
        for (z, p) in [
            (0.0, 0.5),
            (1.0, 0.841_344_746),
            (-1.0, 0.158_655_254),
            (1.96, 0.975_002_105),
            (-2.0, 0.022_750_132),
            (-5.0, 2.866_515_7e-7),
        ] {
            assert!((phi(z) - p).abs() < 2e-7, "phi({z}) = {} not {p}", phi(z));
        }
        // The tail stays a small positive number, not 0 or below.
        assert!(phi(-8.0) > 0.0 && phi(-8.0) < 1e-14);
    }

    /// Lognormal lengths of mean 1024 and cv 0.5, then 1.0: the fit finds the cv within 10 %.
    #[test]
    fn a_lognormal_spread_is_recovered() {
        for cv in [0.5, 1.0] {
            let lengths = lognormal(1000, 1024.0, cv);
            let fitted = measured(&lengths);
            assert!(
                (fitted / cv - 1.0).abs() < 0.1,
                "cv {cv}: fitted {fitted} (sample's own {})",
                cv_of(&lengths)
            );
        }
        // Far apart: a wider spread reads wider.
        assert!(measured(&lognormal(1000, 1024.0, 0.5)) < measured(&lognormal(1000, 1024.0, 1.0)));
    }

    /// Every request the same length, inside a bucket or on its bound (`max_tokens` of 1000 or
    /// 50): a small cv, not the ~0.6 a fit at the bound itself gives.
    #[test]
    fn requests_of_one_length_have_little_spread() {
        for length in [1024.0, 1000.0, 50.0, 1.0, 7.0, 2e4, 1e5] {
            let cv = measured(&[length; 40]);
            assert!(cv < 0.01, "all at {length}: cv {cv}");
        }
    }

    #[test]
    fn fewer_than_20_requests_are_not_fitted() {
        let lengths = lognormal(19, 1024.0, 1.0);
        let b = buckets(&lengths);
        assert_eq!(measure(mean(&lengths), &[("p", Some(&b))]), Spread::Nothing);
        let lengths = lognormal(20, 1024.0, 1.0);
        let b = buckets(&lengths);
        assert!(matches!(
            measure(mean(&lengths), &[("p", Some(&b))]),
            Spread::Measured(cv) if cv > 0.5
        ));
        // No mean measured, no bucket series, no finite bound: nothing either.
        assert_eq!(measure(f64::NAN, &[("p", Some(&b))]), Spread::Nothing);
        assert_eq!(measure(0.0, &[("p", Some(&b))]), Spread::Nothing);
        assert_eq!(measure(100.0, &[("p", None), ("q", None)]), Spread::Nothing);
        let inf: Buckets = vec![(f64::INFINITY, 50.0)];
        assert_eq!(measure(100.0, &[("p", Some(&inf))]), Spread::Nothing);
    }

    /// Buckets that are no histogram are not fitted, and say why.
    #[test]
    fn broken_buckets_are_not_fitted() {
        let broken = |b: Buckets| match measure(
            100.0,
            &[("ok", Some(&buckets(&[100.0; 30]))), ("p", Some(&b))],
        ) {
            Spread::Broken { pod, why } => {
                assert_eq!(pod, "p");
                why.to_string()
            }
            other => panic!("{other:?}"),
        };
        let inf = f64::INFINITY;
        assert_eq!(
            broken(vec![(50.0, 10.0), (100.0, 5.0), (inf, 30.0)]),
            "cumulative counts fall: le=50 has 10, le=100 has 5"
        );
        assert_eq!(
            broken(vec![(50.0, 10.0), (100.0, 40.0), (inf, 30.0)]),
            "cumulative counts fall: le=100 has 40, le=+Inf has 30"
        );
        assert_eq!(
            broken(vec![(50.0, -3.0), (inf, 30.0)]),
            "le=50: count must be a finite number >= 0, got -3"
        );
        assert_eq!(
            broken(vec![(50.0, f64::NAN), (inf, 30.0)]),
            "le=50: count must be a finite number >= 0, got NaN"
        );
        assert_eq!(
            broken(vec![(50.0, 10.0), (100.0, 30.0)]),
            "no le=+Inf bucket"
        );
        assert_eq!(
            broken(vec![(f64::NAN, 10.0), (inf, 30.0)]),
            "a bucket whose le is not a number"
        );
        assert_eq!(
            broken(vec![(50.0, 10.0), (50.0, 10.0), (inf, 30.0)]),
            "le=50 twice"
        );
        assert_eq!(
            match measure(100.0, &[("ok", Some(&buckets(&[100.0; 30]))), ("p", None)]) {
                Spread::Broken { pod, why } => format!("{pod}: {why}"),
                other => panic!("{other:?}"),
            },
            "p: no bucket series, while other pods of the server have them"
        );
    }

    /// Two pods: their cumulative counts are summed per bound, at the bounds both have. Short
    /// requests on one pod and long ones on the other are a wider spread than either alone.
    #[test]
    fn pods_are_summed_per_bound() {
        let short = lognormal(200, 100.0, 0.3);
        let long = lognormal(200, 2000.0, 0.3);
        let (a, b) = (buckets(&short), buckets(&long));
        let h = combine(&[("a", Some(&a)), ("b", Some(&b))])
            .unwrap()
            .unwrap();
        assert_eq!(h.total, 400.0);
        let both = buckets(&[short.clone(), long.clone()].concat());
        assert_eq!(h.bounds, both[..BOUNDS.len()]);
        let all = mean(&[short.clone(), long.clone()].concat());
        let cv = fit_cv(all, &h);
        assert!(cv > 0.8, "{cv}");
        assert!(measured(&short) < 0.5 && measured(&long) < 0.5);
        // A pod whose bounds stop earlier (a shorter context): only the common bounds.
        let cut: Buckets = a.iter().copied().filter(|(le, _)| *le != 1e6).collect();
        let h = combine(&[("a", Some(&cut)), ("b", Some(&b))])
            .unwrap()
            .unwrap();
        assert_eq!(h.bounds.len(), BOUNDS.len() - 1);
        assert_eq!(h.total, 400.0);
    }
}
