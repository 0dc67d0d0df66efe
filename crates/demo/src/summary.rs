//! The summary printed when the demo stops: cycles by outcome, cost, the applied changes by
//! kind, and what the emulated servers served over the whole run (their vLLM counters and
//! histograms, read from Prometheus) against the targets. Pure: the caller runs [`queries`] and
//! hands the answers to [`served`].

use crate::deployed::Deployed;
use crate::display::{marked, wrap, Change, ROW};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The targets of a server, as the last report gave them, and its Deployment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Server {
    /// Service class.
    pub class: String,
    /// Deployment name (how Prometheus labels its pods' series).
    pub deployment: String,
    /// ITL target, ms (0: none).
    pub slo_itl: f64,
    /// TTFT target, ms (0: none).
    pub slo_ttft: f64,
}

/// Applied changes, counted by kind (one change of a server can be of several kinds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kinds {
    /// Changes applied (one per server and cycle).
    pub changes: usize,
    /// More replicas.
    pub replicas_up: usize,
    /// Fewer replicas.
    pub replicas_down: usize,
    /// Another GPU type.
    pub gpu: usize,
    /// Another batch size.
    pub batch: usize,
}

/// Everything counted over the cycles of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Cycles that ended ok.
    pub ok: usize,
    /// Cycles skipped (no managed server).
    pub skipped: usize,
    /// Cycles that failed.
    pub failed: usize,
    /// Total cost of each ok cycle, cents/hour.
    pub costs: Vec<f64>,
    /// Applied changes by kind.
    pub kinds: Kinds,
    /// Servers seen, by name.
    pub servers: BTreeMap<String, Server>,
}

impl Tally {
    /// Cycles counted.
    pub fn cycles(&self) -> usize {
        self.ok + self.skipped + self.failed
    }

    /// Counts one cycle: its report, its changes and the Deployments after it.
    pub fn add(
        &mut self,
        report: &Value,
        changes: &[Change],
        deployed: &BTreeMap<String, Deployed>,
    ) {
        match report["outcome"].as_str() {
            Some("OK") => {
                self.ok += 1;
                self.costs.push(report["totalCost"].as_f64().unwrap_or(0.0));
            }
            Some("SKIPPED") => self.skipped += 1,
            _ => self.failed += 1,
        }
        for c in changes {
            self.kinds.changes += 1;
            match c.replicas {
                Some((old, new)) if new > old => self.kinds.replicas_up += 1,
                Some(_) => self.kinds.replicas_down += 1,
                None => {}
            }
            self.kinds.gpu += usize::from(c.accelerator.is_some());
            self.kinds.batch += usize::from(c.batch.is_some());
        }
        for s in report["servers"].as_array().into_iter().flatten() {
            let name = s["name"].as_str().unwrap_or("").to_string();
            let entry = self.servers.entry(name.clone()).or_default();
            entry.class = s["class"].as_str().unwrap_or("").to_string();
            entry.slo_itl = s["sloItl"].as_f64().unwrap_or(0.0);
            entry.slo_ttft = s["sloTtft"].as_f64().unwrap_or(0.0);
            if let Some(d) = deployed.get(&name) {
                entry.deployment = d.deployment.clone();
            }
        }
    }
}

/// Which counter a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Completed requests.
    Requests,
    /// TTFT histogram buckets.
    TtftBuckets,
    /// TTFT sum, seconds.
    TtftSum,
    /// TTFT count.
    TtftCount,
    /// Per-request ITL histogram buckets.
    ItlBuckets,
    /// Per-request ITL sum, seconds.
    ItlSum,
    /// Per-request ITL count.
    ItlCount,
}

/// The PromQL of each [`Part`], per Deployment over the last `range_s` seconds. A pod's
/// counters start at 0 with its server and only grow, so the largest value of each series is
/// all it served until its last scrape; summing them counts pods removed during the run too.
pub fn queries(namespace: &str, range_s: u64) -> Vec<(Part, String)> {
    let total = |metric: &str, by: &str| {
        format!("sum by({by})(max_over_time({metric}{{namespace=\"{namespace}\"}}[{range_s}s]))")
    };
    const TTFT: &str = "vllm:time_to_first_token_seconds";
    const ITL: &str = "vllm:request_time_per_output_token_seconds";
    vec![
        (
            Part::Requests,
            total("vllm:request_success_total", "deployment"),
        ),
        (
            Part::TtftBuckets,
            total(&format!("{TTFT}_bucket"), "deployment, le"),
        ),
        (Part::TtftSum, total(&format!("{TTFT}_sum"), "deployment")),
        (
            Part::TtftCount,
            total(&format!("{TTFT}_count"), "deployment"),
        ),
        (
            Part::ItlBuckets,
            total(&format!("{ITL}_bucket"), "deployment, le"),
        ),
        (Part::ItlSum, total(&format!("{ITL}_sum"), "deployment")),
        (Part::ItlCount, total(&format!("{ITL}_count"), "deployment")),
    ]
}

/// A cumulative histogram: `(upper bound, observations <= it)`, its sum and count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hist {
    /// Buckets sorted by upper bound (the last one `+Inf`).
    pub buckets: Vec<(f64, f64)>,
    /// Sum of the observations.
    pub sum: f64,
    /// Number of observations.
    pub count: f64,
}

impl Hist {
    /// The mean observation, when there is one.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0.0).then(|| self.sum / self.count)
    }

    /// The share of observations at most `limit`: exact when `limit` is a bucket bound, else
    /// the range the two bounds around it allow (`lo <= share <= hi`). None without
    /// observations.
    pub fn within(&self, limit: f64) -> Option<(f64, f64)> {
        let total = if self.count > 0.0 {
            self.count
        } else {
            self.buckets.last().map_or(0.0, |b| b.1)
        };
        if total <= 0.0 {
            return None;
        }
        let close = |le: f64| (le - limit).abs() <= limit.abs() * 1e-9;
        let lo = self
            .buckets
            .iter()
            .filter(|(le, _)| *le < limit || close(*le))
            .map(|b| b.1)
            .fold(0.0, f64::max);
        let hi = self
            .buckets
            .iter()
            .filter(|(le, _)| *le > limit || close(*le))
            .map(|b| b.1)
            .fold(total, f64::min);
        Some((lo / total, hi / total))
    }
}

/// What one Deployment's pods served over the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Served {
    /// Completed requests.
    pub requests: f64,
    /// Time to first token, seconds.
    pub ttft: Hist,
    /// Per-request inter-token latency, seconds.
    pub itl: Hist,
}

/// The values of a Prometheus instant-vector answer: `(labels, value)`.
fn samples(answer: &Value) -> impl Iterator<Item = (&Value, f64)> {
    answer["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let v = r["value"][1].as_str()?;
            let v = match v {
                "+Inf" => f64::INFINITY,
                v => v.parse().ok()?,
            };
            Some((&r["metric"], v))
        })
}

/// Reads the answers to [`queries`] into what each Deployment served.
pub fn served(answers: &[(Part, Value)]) -> BTreeMap<String, Served> {
    let mut out: BTreeMap<String, Served> = BTreeMap::new();
    for (part, answer) in answers {
        for (labels, v) in samples(answer) {
            let Some(deployment) = labels["deployment"].as_str() else {
                continue;
            };
            let s = out.entry(deployment.to_string()).or_default();
            let le = || match labels["le"].as_str() {
                Some("+Inf") => Some(f64::INFINITY),
                Some(le) => le.parse().ok(),
                None => None,
            };
            match part {
                Part::Requests => s.requests = v,
                Part::TtftSum => s.ttft.sum = v,
                Part::TtftCount => s.ttft.count = v,
                Part::ItlSum => s.itl.sum = v,
                Part::ItlCount => s.itl.count = v,
                Part::TtftBuckets => s.ttft.buckets.extend(le().map(|le| (le, v))),
                Part::ItlBuckets => s.itl.buckets.extend(le().map(|le| (le, v))),
            }
        }
    }
    for s in out.values_mut() {
        for h in [&mut s.ttft, &mut s.itl] {
            h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
    }
    out
}

/// A share (or the range of it) in percent.
pub fn percent(share: Option<(f64, f64)>) -> String {
    match share {
        None => "-".into(),
        Some((lo, hi)) if hi - lo < 0.0005 => format!("{:.1} %", lo * 100.0),
        Some((lo, hi)) => format!("{:.1}-{:.1} %", lo * 100.0, hi * 100.0),
    }
}

/// Renders the summary of a run of `elapsed_s` seconds. `served` is what each Deployment
/// served, or why it could not be measured.
pub fn render(
    tally: &Tally,
    elapsed_s: f64,
    served: Result<&BTreeMap<String, Served>, &str>,
) -> String {
    let mut out = String::new();
    let cycles = tally.cycles();
    let _ = writeln!(
        out,
        "Summary of {elapsed_s:.0} s: {cycles} cycle(s), {} ok, {} skipped, {} failed",
        tally.ok, tally.skipped, tally.failed
    );
    if let (Some(first), Some(last)) = (tally.costs.first(), tally.costs.last()) {
        let mean = tally.costs.iter().sum::<f64>() / tally.costs.len() as f64;
        let _ = writeln!(
            out,
            "  cost, cents/hr: first {first:.0}, last {last:.0}, mean {mean:.0} (over the {} ok cycles)",
            tally.costs.len()
        );
    }
    let k = &tally.kinds;
    let _ = writeln!(
        out,
        "  changes applied: {} (replicas {}: {} up, {} down; GPU type {}; batch size {})",
        k.changes,
        k.replicas_up + k.replicas_down,
        k.replicas_up,
        k.replicas_down,
        k.gpu,
        k.batch
    );
    let served = match served {
        Ok(s) => s,
        Err(why) => {
            let _ = writeln!(out, "  requests served and latencies: not measured ({why})");
            return out;
        }
    };
    let _ = writeln!(
        out,
        "  served over the run (Prometheus: every pod's vLLM counters, pods removed during the run included):"
    );
    let _ = writeln!(
        out,
        "    {:<9} {:<8} {:>8}  {:>8} {:>7} {:>13}  {:>7} {:>7} {:>13}",
        "SERVER",
        "CLASS",
        "REQUESTS",
        "TTFT tgt",
        "mean ms",
        "within tgt",
        "ITL tgt",
        "mean ms",
        "within tgt"
    );
    let empty = Served::default();
    let mut total = 0.0;
    for (name, s) in &tally.servers {
        let d = served.get(&s.deployment).unwrap_or(&empty);
        total += d.requests;
        let target = |t: f64| {
            if t > 0.0 {
                format!("{t:.0} ms")
            } else {
                "-".into()
            }
        };
        let within = |h: &Hist, t: f64| {
            if t > 0.0 {
                percent(h.within(t / 1000.0))
            } else {
                "-".into()
            }
        };
        let _ = writeln!(
            out,
            "    {:<9} {:<8} {:>8.0}  {:>8} {:>7} {:>13}  {:>7} {:>7} {:>13}",
            name,
            s.class,
            d.requests,
            target(s.slo_ttft),
            marked(d.ttft.mean().map(|m| m * 1000.0), s.slo_ttft, 0),
            within(&d.ttft, s.slo_ttft),
            target(s.slo_itl),
            marked(d.itl.mean().map(|m| m * 1000.0), s.slo_itl, 1),
            within(&d.itl, s.slo_itl),
        );
    }
    let _ = writeln!(out, "    {:<18} {total:>8.0}", "all");
    out.push_str(&wrap(
        "within tgt: the share of requests whose own TTFT (ITL) was at most the target, from the \
         servers' histograms; a range where the target lies between two bucket bounds. Requests \
         still queued at the end are in neither. The share within both targets at once cannot be \
         measured (separate histograms). The optimizer's targets are on the means.",
        "  ",
        ROW,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(rows: &[(&str, Option<&str>, &str)]) -> Value {
        let result: Vec<Value> = rows
            .iter()
            .map(|(d, le, v)| {
                let mut metric = serde_json::json!({"deployment": d});
                if let Some(le) = le {
                    metric["le"] = (*le).into();
                }
                serde_json::json!({"metric": metric, "value": [1.0, v]})
            })
            .collect();
        serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}})
    }

    fn answers() -> Vec<(Part, Value)> {
        vec![
            (
                Part::Requests,
                vector(&[("premium", None, "100"), ("bronze", None, "40")]),
            ),
            (
                Part::TtftBuckets,
                vector(&[
                    ("premium", Some("+Inf"), "100"),
                    ("premium", Some("0.5"), "70"),
                    ("premium", Some("1"), "90"),
                    ("bronze", Some("1"), "10"),
                    ("bronze", Some("2.5"), "30"),
                    ("bronze", Some("+Inf"), "40"),
                ]),
            ),
            (
                Part::TtftSum,
                vector(&[("premium", None, "60"), ("bronze", None, "100")]),
            ),
            (
                Part::TtftCount,
                vector(&[("premium", None, "100"), ("bronze", None, "40")]),
            ),
            (
                Part::ItlBuckets,
                vector(&[
                    ("premium", Some("0.075"), "95"),
                    ("premium", Some("0.1"), "100"),
                    ("premium", Some("+Inf"), "100"),
                ]),
            ),
            (Part::ItlSum, vector(&[("premium", None, "3")])),
            (Part::ItlCount, vector(&[("premium", None, "100")])),
        ]
    }

    #[test]
    fn the_share_within_a_target_is_exact_on_a_bound_and_a_range_between_bounds() {
        let s = served(&answers());
        let p = &s["premium"];
        assert_eq!(p.requests, 100.0);
        assert_eq!(p.ttft.buckets[0], (0.5, 70.0), "sorted by bound");
        assert_eq!(p.ttft.within(1.0), Some((0.9, 0.9)));
        assert_eq!(p.itl.within(0.08), Some((0.95, 1.0)));
        assert_eq!(s["bronze"].ttft.within(2.0), Some((0.25, 0.75)));
        assert_eq!(s["bronze"].ttft.mean(), Some(2.5));
        assert_eq!(Hist::default().within(1.0), None);
        assert_eq!(percent(Some((0.9, 0.9))), "90.0 %");
        assert_eq!(percent(Some((0.25, 0.75))), "25.0-75.0 %");
    }

    #[test]
    fn queries_take_every_pods_largest_count_per_deployment() {
        let q = queries("infer", 160);
        assert_eq!(q.len(), 7);
        assert_eq!(
            q[0].1,
            "sum by(deployment)(max_over_time(vllm:request_success_total{namespace=\"infer\"}[160s]))"
        );
        assert!(
            q[1].1.contains("by(deployment, le)")
                && q[1].1.contains("time_to_first_token_seconds_bucket")
        );
    }

    fn change(replicas: Option<(i64, i64)>, gpu: bool, batch: bool) -> Change {
        Change {
            server: "vllm-001".into(),
            replicas,
            accelerator: gpu.then(|| ("H100".into(), "G2".into())),
            batch: batch.then(|| ("8".into(), "16".into())),
            reason: String::new(),
        }
    }

    fn tally() -> Tally {
        let report = |outcome: &str, cost: f64| {
            serde_json::json!({"outcome": outcome, "totalCost": cost, "servers": [
                {"name": "vllm-001", "class": "Premium", "sloItl": 80.0, "sloTtft": 1000.0},
                {"name": "vllm-002", "class": "Bronze", "sloItl": 80.0, "sloTtft": 2000.0}]})
        };
        let deployed: BTreeMap<String, Deployed> =
            [("vllm-001", "premium"), ("vllm-002", "bronze")]
                .into_iter()
                .map(|(s, d)| {
                    (
                        s.to_string(),
                        Deployed {
                            deployment: d.into(),
                            ..Deployed::default()
                        },
                    )
                })
                .collect();
        let mut t = Tally::default();
        t.add(
            &report("OK", 300.0),
            &[change(Some((4, 1)), true, true), change(None, false, true)],
            &deployed,
        );
        t.add(&report("FAILED", 0.0), &[], &deployed);
        t.add(
            &report("OK", 500.0),
            &[change(Some((1, 3)), false, false)],
            &deployed,
        );
        t.add(&report("OK", 400.0), &[], &deployed);
        t
    }

    #[test]
    fn the_tally_counts_outcomes_costs_and_changes_by_kind() {
        let t = tally();
        assert_eq!((t.ok, t.skipped, t.failed), (3, 0, 1));
        assert_eq!(t.costs, [300.0, 500.0, 400.0]);
        assert_eq!(
            t.kinds,
            Kinds {
                changes: 3,
                replicas_up: 1,
                replicas_down: 1,
                gpu: 1,
                batch: 2
            }
        );
        assert_eq!(t.servers["vllm-002"].deployment, "bronze");
    }

    #[test]
    fn the_summary_shows_cost_changes_served_requests_and_shares() {
        let s = served(&answers());
        let text = render(&tally(), 100.0, Ok(&s));
        for part in [
            "Summary of 100 s: 4 cycle(s), 3 ok, 0 skipped, 1 failed",
            "cost, cents/hr: first 300, last 400, mean 400 (over the 3 ok cycles)",
            "changes applied: 3 (replicas 2: 1 up, 1 down; GPU type 1; batch size 2)",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        let row = |name: &str| text.lines().find(|l| l.contains(name)).unwrap().to_string();
        let premium = row("vllm-001");
        assert!(
            premium.contains(" 100 ") && premium.contains("1000 ms") && premium.contains("600 "),
            "{premium}"
        );
        assert!(
            premium.contains("90.0 %")
                && premium.contains("30.0")
                && premium.contains("95.0-100.0 %"),
            "{premium}"
        );
        // Bronze's mean TTFT (2.5 s) misses its 2 s target; no ITL was recorded.
        let bronze = row("vllm-002");
        assert!(
            bronze.contains("2500!") && bronze.contains("25.0-75.0 %"),
            "{bronze}"
        );
        assert!(row("all").contains("140"), "{text}");
        assert!(
            text.replace("\n  ", " ")
                .contains("within both targets at once cannot be measured"),
            "{text}"
        );
        let text = render(&tally(), 100.0, Err("Prometheus is not running"));
        assert!(
            text.contains("not measured (Prometheus is not running)"),
            "{text}"
        );
        assert!(!text.contains("REQUESTS"), "{text}");
    }
}
