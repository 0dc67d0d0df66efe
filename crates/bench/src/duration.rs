//! Durations in scenario files: a number of seconds or `90s`, `10m`, `2h`, `1h30m`, `250ms`.

use serde::{Deserialize, Deserializer};

/// Seconds of scenario time.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Seconds(pub f64);

impl Seconds {
    /// Parses `90`, `90s`, `10m`, `2h`, `1h30m`, `250ms`, `1.5m`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if let Ok(v) = t.parse::<f64>() {
            return Ok(Self(v));
        }
        let mut total = 0.0;
        let mut rest = t;
        if rest.is_empty() {
            return Err("empty duration".into());
        }
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| format!("{text:?}: a number needs a unit (ms, s, m, h)"))?;
            let value: f64 = rest[..digits]
                .parse()
                .map_err(|_| format!("{text:?}: expected a duration like 90s, 10m, 1h30m"))?;
            rest = &rest[digits..];
            let (unit, len) = if rest.starts_with("ms") {
                (0.001, 2)
            } else if rest.starts_with('s') {
                (1.0, 1)
            } else if rest.starts_with('m') {
                (60.0, 1)
            } else if rest.starts_with('h') {
                (3600.0, 1)
            } else {
                return Err(format!("{text:?}: unknown unit (ms, s, m, h)"));
            };
            total += value * unit;
            rest = &rest[len..];
        }
        Ok(Self(total))
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(v) => Ok(Self(v)),
            Raw::Text(t) => Self::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.0;
        if s >= 3600.0 && (s % 3600.0) == 0.0 {
            write!(f, "{}h", s / 3600.0)
        } else if s >= 60.0 && (s % 60.0) == 0.0 {
            write!(f, "{}m", s / 60.0)
        } else {
            write!(f, "{s}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        for (t, v) in [
            ("90", 90.0),
            ("90s", 90.0),
            ("10m", 600.0),
            ("1h30m", 5400.0),
            ("250ms", 0.25),
            ("1.5m", 90.0),
        ] {
            assert_eq!(Seconds::parse(t), Ok(Seconds(v)), "{t}");
        }
        assert!(Seconds::parse("10").is_ok());
        assert!(Seconds::parse("10x").unwrap_err().contains("unknown unit"));
        assert!(Seconds::parse("").is_err());
        assert_eq!(Seconds(600.0).to_string(), "10m");
    }
}
