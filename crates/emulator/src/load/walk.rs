//! The two label walks of control-loop spec section 6, as pure functions of the current labels,
//! what was remembered about the Deployment and the update's draws.
//!
//! - `walk` (spec 6.1, the seed): `new = cur + N(0,1) sigma` with `sigma = alpha x` the value
//!   first seen; RPM clamped to [6, 240]; tokens rounded up, then clamped to [100, 10000].
//! - `revert` (spec 6.2): `new = cur + theta (target - cur) + N(0,1) alpha nominal`, clamped
//!   to [nominal / 10, 10 nominal]; for RPM, `nominal` is the nominal RPM times the phase
//!   multiplier and `target` is that times the Deployment's skew factor; tokens are rounded and
//!   at least 1.

use super::noise::Draws;
use crate::labels;
use std::collections::BTreeMap;

/// Seed walk: lowest RPM.
pub const WALK_RPM_MIN: f64 = 6.0;
/// Seed walk: highest RPM.
pub const WALK_RPM_MAX: f64 = 240.0;
/// Seed walk: fewest tokens.
pub const WALK_TOKENS_MIN: f64 = 100.0;
/// Seed walk: most tokens.
pub const WALK_TOKENS_MAX: f64 = 10_000.0;

/// Which walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// The seed's unbounded random walk with clamps (spec 6.1).
    Walk,
    /// The mean-reverting walk towards nominal values, with phases and skew (spec 6.2).
    Revert,
}

/// The walk's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Params {
    pub(crate) mode: Mode,
    pub(crate) alpha: f64,
    pub(crate) theta: f64,
}

/// One load label and its nominal counterpart.
#[derive(Debug, Clone, Copy)]
struct Key {
    label: &'static str,
    nominal: &'static str,
    rpm: bool,
    /// Expected on every managed Deployment (a warning when missing).
    expected: bool,
}

const KEYS: [Key; 4] = [
    Key {
        label: labels::LOAD_RPM,
        nominal: labels::NOMINAL_RPM,
        rpm: true,
        expected: true,
    },
    Key {
        label: labels::LOAD_IN_TOKENS,
        nominal: labels::NOMINAL_IN_TOKENS,
        rpm: false,
        expected: true,
    },
    Key {
        label: labels::LOAD_OUT_TOKENS,
        nominal: labels::NOMINAL_OUT_TOKENS,
        rpm: false,
        expected: true,
    },
    Key {
        label: labels::LOAD_NUM_TOKENS,
        nominal: labels::NOMINAL_NUM_TOKENS,
        rpm: false,
        expected: false,
    },
];

/// What the emulator remembers about one Deployment between updates.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Memory {
    /// UID the memory belongs to (a replaced Deployment starts afresh).
    pub(crate) uid: String,
    /// Walk: sigma per label, from the value first seen.
    pub(crate) sigma: BTreeMap<&'static str, f64>,
    /// Revert: nominal value per label, from the nominal label or the value first seen.
    pub(crate) nominal: BTreeMap<&'static str, f64>,
}

/// The labels to write for one Deployment, and the expected load labels it lacks.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Next {
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) missing: Vec<&'static str>,
}

fn draw(d: &Draws, label: &str) -> f64 {
    match label {
        labels::LOAD_RPM => d.rpm,
        labels::LOAD_IN_TOKENS => d.in_tokens,
        labels::LOAD_OUT_TOKENS => d.out_tokens,
        _ => d.num_tokens,
    }
}

/// Seed walk of RPM.
pub fn walk_rpm(cur: f64, sigma: f64, z: f64) -> f64 {
    (cur + z * sigma).clamp(WALK_RPM_MIN, WALK_RPM_MAX)
}

/// Seed walk of a token count: rounded up, then clamped.
pub fn walk_tokens(cur: f64, sigma: f64, z: f64) -> f64 {
    (cur + z * sigma)
        .ceil()
        .clamp(WALK_TOKENS_MIN, WALK_TOKENS_MAX)
}

/// Mean-reverting step towards `target` with noise scale and clamps from `nominal`.
pub fn revert(cur: f64, nominal: f64, target: f64, theta: f64, alpha: f64, z: f64) -> f64 {
    let next = cur + theta * (target - cur) + z * alpha * nominal;
    next.clamp(nominal / 10.0, nominal * 10.0)
}

/// Mean-reverting step of a token count: [`revert`] towards the nominal, rounded, >= 1.
pub fn revert_tokens(cur: f64, nominal: f64, theta: f64, alpha: f64, z: f64) -> f64 {
    revert(cur, nominal, nominal, theta, alpha, z)
        .round()
        .max(1.0)
}

/// The next load labels of a Deployment whose labels are `current`.
///
/// `multiplier` is the phase multiplier and `skew` the Deployment's skew factor (revert only).
/// `memory` is filled on first sight and reused on retries, so a retry with fresh labels and
/// the same draws is the same update applied to the fresh state.
pub(crate) fn next_labels(
    p: Params,
    current: &BTreeMap<String, String>,
    memory: &mut Memory,
    d: &Draws,
    multiplier: f64,
    skew: f64,
) -> Next {
    let mut out = Next::default();
    for k in KEYS {
        let cur = labels::number(current, k.label).filter(|v| *v >= 0.0);
        match p.mode {
            Mode::Walk => {
                let Some(cur) = cur else {
                    if k.expected {
                        out.missing.push(k.label);
                    }
                    continue;
                };
                let sigma = *memory.sigma.entry(k.label).or_insert(p.alpha * cur);
                let z = draw(d, k.label);
                let value = if k.rpm {
                    labels::format_rpm(walk_rpm(cur, sigma, z))
                } else {
                    format!("{}", walk_tokens(cur, sigma, z))
                };
                out.labels.insert(k.label.into(), value);
            }
            Mode::Revert => {
                let labelled = labels::number(current, k.nominal).filter(|v| *v >= 0.0);
                let nominal = match (labelled, memory.nominal.get(k.label), cur) {
                    (Some(n), _, _) => n,
                    (None, Some(n), _) => *n,
                    (None, None, Some(c)) => c,
                    (None, None, None) => {
                        if k.expected {
                            out.missing.push(k.label);
                        }
                        continue;
                    }
                };
                memory.nominal.insert(k.label, nominal);
                if labelled.is_none() {
                    let text = if k.rpm {
                        labels::format_rpm(nominal)
                    } else {
                        format!("{}", nominal.round().max(1.0))
                    };
                    out.labels.insert(k.nominal.into(), text);
                }
                let cur = cur.unwrap_or(nominal);
                let z = draw(d, k.label);
                let value = if k.rpm {
                    let nominal = nominal * multiplier;
                    labels::format_rpm(revert(cur, nominal, nominal * skew, p.theta, p.alpha, z))
                } else {
                    format!("{}", revert_tokens(cur, nominal, p.theta, p.alpha, z))
                };
                out.labels.insert(k.label.into(), value);
            }
        }
    }
    out
}

/// Skew factors of the Deployments of one update from their uniform draws `u`:
/// `k_i = n w_i` with `w_i = (1 - skew) / n + skew u_i / sum(u)` (the spec's pod weights,
/// normalised), so the factors average 1 and a single Deployment always gets 1.
pub fn skew_factors(u: &[f64], skew: f64) -> Vec<f64> {
    let n = u.len() as f64;
    let sum: f64 = u.iter().sum();
    u.iter()
        .map(|ui| {
            if sum > 0.0 {
                (1.0 - skew) + skew * n * ui / sum
            } else {
                1.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels_of(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const Z: Draws = Draws {
        skew: 0.5,
        rpm: 1.0,
        in_tokens: -1.0,
        out_tokens: 2.0,
        num_tokens: 0.5,
    };

    #[test]
    fn seed_walk_formula_and_clamps() {
        let p = Params {
            mode: Mode::Walk,
            alpha: 0.5,
            theta: 0.0,
        };
        let cur = labels_of(&[(labels::LOAD_RPM, "30"), (labels::LOAD_NUM_TOKENS, "1000")]);
        let mut m = Memory::default();
        let next = next_labels(p, &cur, &mut m, &Z, 1.0, 1.0);
        // 30 + 1 x 15; ceil(1000 + 0.5 x 500).
        assert_eq!(next.labels[labels::LOAD_RPM], "45");
        assert_eq!(next.labels[labels::LOAD_NUM_TOKENS], "1250");
        assert_eq!(
            next.missing,
            [labels::LOAD_IN_TOKENS, labels::LOAD_OUT_TOKENS]
        );
        // Sigma stays the one first seen.
        let cur = labels_of(&[(labels::LOAD_RPM, "230"), (labels::LOAD_NUM_TOKENS, "120")]);
        let down = Draws {
            num_tokens: -1.0,
            ..Z
        };
        let next = next_labels(p, &cur, &mut m, &down, 1.0, 1.0);
        assert_eq!(next.labels[labels::LOAD_RPM], "240");
        assert_eq!(next.labels[labels::LOAD_NUM_TOKENS], "100");
        assert_eq!(walk_rpm(7.0, 15.0, -1.0), 6.0);
        assert_eq!(walk_tokens(99.2, 0.0, 0.0), 100.0);
        assert_eq!(walk_tokens(500.2, 0.0, 0.0), 501.0);
    }

    #[test]
    fn revert_records_nominals_and_reverts() {
        let p = Params {
            mode: Mode::Revert,
            alpha: 0.1,
            theta: 0.5,
        };
        let cur = labels_of(&[
            (labels::LOAD_RPM, "60"),
            (labels::LOAD_IN_TOKENS, "512"),
            (labels::LOAD_OUT_TOKENS, "100"),
            (labels::NOMINAL_OUT_TOKENS, "200"),
        ]);
        let mut m = Memory::default();
        let next = next_labels(p, &cur, &mut m, &Z, 2.0, 1.5);
        // RPM: nominal 60 x 2 = 120, target 180: 60 + 0.5 x 120 + 1 x 0.1 x 120 = 132.
        assert_eq!(next.labels[labels::LOAD_RPM], "132");
        assert_eq!(next.labels[labels::NOMINAL_RPM], "60");
        // In: 512 + 0 - 51.2 = 460.8 -> 461.
        assert_eq!(next.labels[labels::LOAD_IN_TOKENS], "461");
        assert_eq!(next.labels[labels::NOMINAL_IN_TOKENS], "512");
        // Out: nominal label 200: 100 + 50 + 2 x 20 = 190; the nominal label is not rewritten.
        assert_eq!(next.labels[labels::LOAD_OUT_TOKENS], "190");
        assert!(!next.labels.contains_key(labels::NOMINAL_OUT_TOKENS));
        assert!(!next.labels.contains_key(labels::LOAD_NUM_TOKENS));
        assert!(next.missing.is_empty());
        assert_eq!(revert(1.0, 100.0, 100.0, 0.0, 0.0, 0.0), 10.0);
        assert_eq!(revert(5000.0, 100.0, 100.0, 0.0, 0.0, 0.0), 1000.0);
        assert_eq!(revert_tokens(1.0, 2.0, 0.0, 0.0, -100.0), 1.0);
    }

    #[test]
    fn skew_factors_average_one() {
        assert_eq!(skew_factors(&[0.3], 0.9), [1.0]);
        let k = skew_factors(&[0.1, 0.5, 0.9], 0.3);
        assert!((k.iter().sum::<f64>() - 3.0).abs() < 1e-12);
        assert!((k[0] - (0.7 + 0.3 * 3.0 * 0.1 / 1.5)).abs() < 1e-12);
        assert_eq!(skew_factors(&[0.1, 0.5], 0.0), [1.0, 1.0]);
    }
}
