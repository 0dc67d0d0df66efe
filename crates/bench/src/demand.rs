//! The loop's measured demand against the requests that arrived (inferno): each cycle's
//! measured arrival rate (`plan.measuredRpm`, over `plan.window`) against the requests the
//! benchmark sent the server in the same window, ending when the cycle started. Every decision
//! starts from this number; a rate read 40% high or low at a scale-up orders pods for a load
//! that is not there, or none for one that is.

use crate::policies::inferno::Cycle;
use crate::summary::PredictionError;
use crate::traffic::RequestRecord;
use serde::Serialize;
use std::collections::BTreeMap;

/// |measured / arrived - 1| of the measured arrival rate, over all servers and per server.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DemandAccuracy {
    /// Over every (cycle, server) window compared.
    pub all: PredictionError,
    /// Per server, by name.
    pub by_server: BTreeMap<String, PredictionError>,
}

/// Windows that saw fewer arrivals are left out: their relative error is one request's luck.
const MIN_ARRIVED: usize = 5;

/// The accuracy of the measured rate of the cycles in `cycles` against `arrivals` (each
/// server's arrival times, scenario seconds, sorted); None when no cycle carries a measured
/// rate with its window (a controller that does not report the window).
pub fn accuracy(cycles: &[Cycle], arrivals: &BTreeMap<&str, Vec<f64>>) -> Option<DemandAccuracy> {
    let mut by_server: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut all = Vec::new();
    for c in cycles {
        let Some(servers) = c.record["servers"].as_array() else {
            continue;
        };
        for s in servers {
            let name = s["name"].as_str().unwrap_or_default();
            let plan = &s["plan"];
            let (Some(measured), Some(window)) = (
                plan["measuredRpm"].as_f64(),
                plan["window"].as_str().and_then(seconds),
            ) else {
                continue;
            };
            let Some(times) = arrivals.get(name) else {
                continue;
            };
            if window <= 0.0 || c.started < window {
                continue;
            }
            let (from, to) = (c.started - window, c.started);
            let n = times.partition_point(|t| *t < to) - times.partition_point(|t| *t < from);
            if n < MIN_ARRIVED {
                continue;
            }
            let arrived = n as f64 * 60.0 / window;
            let err = measured / arrived - 1.0;
            all.push(err);
            by_server.entry(name.to_string()).or_default().push(err);
        }
    }
    if all.is_empty() {
        return None;
    }
    Some(DemandAccuracy {
        all: PredictionError::of(all),
        by_server: by_server
            .into_iter()
            .map(|(k, v)| (k, PredictionError::of(v)))
            .collect(),
    })
}

/// Each server's arrival times (every request, whatever became of it), sorted.
pub fn arrivals(records: &[RequestRecord], policy: usize) -> BTreeMap<&str, Vec<f64>> {
    let mut by_server: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.policy == policy) {
        by_server.entry(r.server.as_str()).or_default().push(r.at);
    }
    for v in by_server.values_mut() {
        v.sort_by(f64::total_cmp);
    }
    by_server
}

/// Seconds of a protobuf JSON duration (`"120s"`, `"0.500s"`).
fn seconds(text: &str) -> Option<f64> {
    text.strip_suffix('s')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cycle(started: f64, measured: f64, window: &str) -> Cycle {
        Cycle {
            at: started + 1.0,
            started,
            record: json!({"servers": [
                {"name": "s", "plan": {"measuredRpm": measured, "window": window}},
                {"name": "label-only", "plan": {"measuredRpm": 10.0}},
            ]}),
        }
    }

    #[test]
    fn the_measured_rate_is_compared_with_the_arrivals_of_its_window() {
        // One request a second from 0 to 299: 60 req/min in every window.
        let times: Vec<f64> = (0..300).map(f64::from).collect();
        let arrivals = BTreeMap::from([("s", times), ("label-only", vec![1.0; 100])]);
        let cycles = [
            // Exact, 20% high, 50% low over 2 minutes.
            cycle(120.0, 60.0, "60s"),
            cycle(150.0, 72.0, "60s"),
            cycle(240.0, 30.0, "120s"),
            // A window reaching back before the run: not compared.
            cycle(30.0, 60.0, "60s"),
        ];
        let a = accuracy(&cycles, &arrivals).unwrap();
        assert_eq!(a.all.windows, 3);
        assert!((a.all.median - 0.2).abs() < 1e-9, "{a:?}");
        assert!((a.all.p95 - 0.5).abs() < 1e-9, "{a:?}");
        assert_eq!(
            a.by_server.len(),
            1,
            "a server without a window is not compared"
        );
        // A controller that reports no window: nothing to say.
        let old = Cycle {
            at: 120.0,
            started: 120.0,
            record: json!({"servers": [{"name": "s", "plan": {"measuredRpm": 60.0}}]}),
        };
        assert_eq!(accuracy(&[old], &arrivals), None);
    }

    #[test]
    fn durations_read_as_protobuf_writes_them() {
        assert_eq!(seconds("120s"), Some(120.0));
        assert_eq!(seconds("0.500s"), Some(0.5));
        assert_eq!(seconds("120"), None);
    }
}
