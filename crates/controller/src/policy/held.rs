//! What the scale-down window holds, counted in pods of the kind being decided.
//!
//! The window remembers replica recommendations, each of the kind (accelerator and batch cap)
//! it was made for. Pods of two kinds are not comparable one for one: held so, a window of 23
//! 2xG2/12 pods of mixtral held 23 MI300X/25 pods, and every rollout to the cheaper kind was
//! priced as saving nothing ("it would save 0.0 of 920 cents/h"; on the diurnal benchmark
//! mixtral stayed on 2xG2 all day, 1.33x the clairvoyant's cost). A count of another kind is
//! held as the pods of the new kind that carry what it carries, by the model now (the
//! optimizer's capacity per replica of each kind at the planned demand and targets).

use super::capacity::Units;
use tokio::time::Instant;

/// A kind of pod: accelerator and batch cap.
pub(super) type Kind = (String, i64);

/// A recommendation the scale-down window remembers.
#[derive(Debug, Clone)]
pub(super) struct Held {
    pub(super) at: Instant,
    pub(super) replicas: i64,
    pub(super) kind: Kind,
}

/// Counts of pods of other kinds as pods of one kind (`to`) that carry as much.
#[derive(Debug)]
pub(super) struct Exchange {
    to: Kind,
    /// What one pod of each kind met carries, requests/min (None: the kind cannot be sized
    /// now, and its count is held one for one).
    rates: Vec<(Kind, Option<f64>)>,
}

impl Exchange {
    /// The exchange into `to` for `server`, for the counts of the kinds of `from`.
    pub(super) fn new<'k>(
        units: &Units<'_>,
        server: &str,
        to: &Kind,
        from: impl IntoIterator<Item = &'k Kind>,
    ) -> Self {
        let rate = |kind: &Kind| {
            units
                .size_kind(server, &kind.0, kind.1)
                .ok()
                .map(|k| k.per_pod_rpm)
                .filter(|r| r.is_finite() && *r > 0.0)
        };
        let mut rates: Vec<(Kind, Option<f64>)> = vec![(to.clone(), rate(to))];
        for kind in from {
            if !rates.iter().any(|(k, _)| k == kind) {
                rates.push((kind.clone(), rate(kind)));
            }
        }
        Self {
            to: to.clone(),
            rates,
        }
    }

    /// `replicas` pods of `kind` as pods of the exchange's kind: the fewest that carry as
    /// much (at least one), or `replicas` itself when either kind cannot be sized.
    pub(super) fn count(&self, kind: &Kind, replicas: i64) -> i64 {
        if *kind == self.to || replicas <= 0 {
            return replicas;
        }
        let rate = |k: &Kind| {
            self.rates
                .iter()
                .find(|(r, _)| r == k)
                .and_then(|(_, r)| *r)
        };
        match (rate(kind), rate(&self.to)) {
            (Some(from), Some(to)) => {
                // A hair under a whole pod is that pod (float noise of two sizings).
                let pods = replicas as f64 * from / to;
                ((pods - 1e-6).ceil() as i64).max(1)
            }
            _ => replicas,
        }
    }
}
