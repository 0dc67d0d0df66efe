//! Phase profiles: a multiplier of the nominal RPM over time, from a YAML list of
//! `{duration, ratio}` entries. The multiplier starts at 1; each phase moves it linearly from
//! where the previous phase ended to its `ratio` over its `duration`; after the last phase it
//! holds.

use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;

/// One phase: reach `ratio` x nominal after `duration` seconds, linearly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Phase {
    /// Length, seconds (>= 0; 0 is a step).
    pub duration: f64,
    /// Multiplier of the nominal RPM at the end of the phase (> 0).
    pub ratio: f64,
}

/// A profile; the empty profile is the constant 1.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Phases {
    phases: Vec<Phase>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum File {
    List(Vec<RawPhase>),
    Map { phases: Vec<RawPhase> },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhase {
    duration: RawDuration,
    #[serde(default)]
    ratio: Option<f64>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(f64),
    Text(String),
}

/// Seconds in a duration written as a number (`90`) or Go-style (`90s`, `6m`, `1h30m`,
/// `500ms`).
pub fn parse_duration(text: &str) -> std::result::Result<f64, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<f64>() {
        return Ok(n);
    }
    let bad = || format!("bad duration {text:?} (want seconds or e.g. 90s, 6m, 1h30m, 500ms)");
    let mut rest = t;
    let mut total = 0.0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

impl Phases {
    /// A profile from phases, validated: durations finite and >= 0, ratios finite and > 0.
    pub fn new(phases: Vec<Phase>) -> std::result::Result<Self, String> {
        for (i, p) in phases.iter().enumerate() {
            if !(p.duration.is_finite() && p.duration >= 0.0) {
                return Err(format!(
                    "phase {}: duration must be >= 0 s, got {}",
                    i + 1,
                    p.duration
                ));
            }
            if !(p.ratio.is_finite() && p.ratio > 0.0) {
                return Err(format!(
                    "phase {}: ratio must be > 0, got {}",
                    i + 1,
                    p.ratio
                ));
            }
        }
        Ok(Self { phases })
    }

    /// Parses the YAML text of a phases file: a list of `{duration, ratio}` (or a map with such
    /// a list under `phases`). A phase without `ratio` holds the previous one.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let raw: File = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        let raw = match raw {
            File::List(l) | File::Map { phases: l } => l,
        };
        let mut phases = Vec::with_capacity(raw.len());
        let mut previous = 1.0;
        for (i, r) in raw.into_iter().enumerate() {
            let duration = match r.duration {
                RawDuration::Seconds(s) => s,
                RawDuration::Text(t) => {
                    parse_duration(&t).map_err(|e| format!("phase {}: {e}", i + 1))?
                }
            };
            let ratio = r.ratio.unwrap_or(previous);
            previous = ratio;
            phases.push(Phase { duration, ratio });
        }
        Self::new(phases)
    }

    /// Reads and parses a phases file.
    pub fn load(path: &Path) -> Result<Self> {
        let fail = |message: String| Error::Phases {
            path: path.into(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        Self::parse(&text).map_err(fail)
    }

    /// The phases.
    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// The multiplier `t` seconds after the start.
    pub fn multiplier(&self, t: f64) -> f64 {
        let mut from = 1.0;
        let mut start = 0.0;
        for p in &self.phases {
            if t < start + p.duration {
                return from + (p.ratio - from) * (t - start) / p.duration;
            }
            from = p.ratio;
            start += p.duration;
        }
        from
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(90.0));
        assert_eq!(parse_duration("90s"), Ok(90.0));
        assert_eq!(parse_duration("6m"), Ok(360.0));
        assert_eq!(parse_duration("1h30m"), Ok(5400.0));
        assert_eq!(parse_duration("500ms"), Ok(0.5));
        for bad in ["", "m", "6x", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ramps_chain_and_the_last_value_holds() {
        let p = Phases::parse(
            "- {duration: 60, ratio: 1.0}\n- {duration: 1m, ratio: 3.0}\n- {duration: 60}\n\
             - {duration: 0, ratio: 0.5}\n",
        )
        .unwrap();
        let at = |t| p.multiplier(t);
        assert_eq!(at(0.0), 1.0);
        assert_eq!(at(59.0), 1.0);
        assert_eq!(at(60.0), 1.0);
        assert_eq!(at(90.0), 2.0);
        assert_eq!(at(120.0), 3.0);
        assert_eq!(at(179.0), 3.0);
        assert_eq!(at(180.0), 0.5);
        assert_eq!(at(1e9), 0.5);
        assert_eq!(Phases::default().multiplier(5.0), 1.0);
        let spec = Phases::parse(
            "phases:\n- {duration: 6m, ratio: 1}\n- {duration: 5m, ratio: 5}\n- {duration: 0s}\n",
        )
        .unwrap();
        assert_eq!(spec.multiplier(360.0 + 150.0), 3.0);
        assert_eq!(spec.multiplier(1e6), 5.0);
    }

    #[test]
    fn invalid_files() {
        for bad in [
            "- {duration: -1, ratio: 1}",
            "- {duration: 10, ratio: 0}",
            "- {duration: 10, ratio: 1, extra: 2}",
            "- {ratio: 2}",
            "- {duration: soon, ratio: 2}",
            "nope",
        ] {
            assert!(Phases::parse(bad).is_err(), "{bad}");
        }
    }
}
