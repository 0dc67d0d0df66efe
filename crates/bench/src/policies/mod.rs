//! The policies a run compares (docs/benchmark.md, "Policies").

pub mod hpa;
pub mod inferno;
pub mod planned;

/// A policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Policy {
    /// The real loop.
    Inferno,
    /// A reactive threshold autoscaler on the initial GPU type.
    Hpa,
    /// The optimizer's answer for each server's peak load, held.
    StaticPeak,
    /// The optimizer's answer for the true load and parameters, ahead of each change.
    Clairvoyant,
}

impl Policy {
    /// Every policy, in report order.
    pub const ALL: [Policy; 4] = [
        Policy::Inferno,
        Policy::Hpa,
        Policy::StaticPeak,
        Policy::Clairvoyant,
    ];

    /// Name (command line, reports, namespace suffix).
    pub fn name(self) -> &'static str {
        match self {
            Policy::Inferno => "inferno",
            Policy::Hpa => "hpa",
            Policy::StaticPeak => "static-peak",
            Policy::Clairvoyant => "clairvoyant",
        }
    }

    /// Parses `inferno|hpa|static-peak|clairvoyant|all` (comma-separated lists too).
    pub fn parse_list(text: &str) -> Result<Vec<Policy>, String> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "all" {
                out.extend(Self::ALL);
                continue;
            }
            let p = Self::ALL
                .into_iter()
                .find(|p| p.name() == part)
                .ok_or_else(|| {
                    format!("unknown policy {part:?} (inferno, hpa, static-peak, clairvoyant, all)")
                })?;
            out.push(p);
        }
        out.sort();
        out.dedup();
        if out.is_empty() {
            return Err("no policy given".into());
        }
        Ok(out)
    }
}
