//! The live view: one table per cycle, from the controller's report (the JSON of `GET /invoke`)
//! and the managed Deployments read before and after the cycle. Pure functions: values in, text
//! out.

use crate::deployed::Deployed;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::{self, Write};

/// Marks a value over its target.
pub const MISS: char = '!';
/// Marks a measured RPM the optimizer was not given (it got the driven rate instead).
pub const NOT_USED: char = '*';

/// Where the measured values come from, for the legend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    /// Prometheus runs and the collector reads it.
    pub prometheus: bool,
    /// The collector's rate window (e.g. `30s`).
    pub window: String,
    /// Prometheus scrape interval, seconds.
    pub scrape_s: u64,
    /// The load emulator's phases file, when the load moves along one.
    pub phases: Option<String>,
}

/// Whether `value` misses `target`: both known (> 0) and the value above.
pub fn misses(value: f64, target: f64) -> bool {
    value > 0.0 && target > 0.0 && value > target
}

/// `value` with `digits` decimals, followed by [`MISS`] when over `target`; "-" when not known
/// (0 or missing: nothing measured).
pub fn marked(value: Option<f64>, target: f64, digits: usize) -> String {
    match value.filter(|v| *v > 0.0) {
        None => "-".into(),
        Some(v) if misses(v, target) => format!("{v:.digits$}{MISS}"),
        Some(v) => format!("{v:.digits$}"),
    }
}

/// One applied change of a server: what moved from what to what, and the actuator's reason.
/// A field is `None` when it did not change (or its old value is unknown).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Change {
    /// Server name.
    pub server: String,
    /// Replicas, old and new.
    pub replicas: Option<(i64, i64)>,
    /// GPU type, old and new.
    pub accelerator: Option<(String, String)>,
    /// Batch size, old and new.
    pub batch: Option<(String, String)>,
    /// Why, as the actuator said.
    pub reason: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some((old, new)) = &self.accelerator {
            parts.push(format!("GPU {old} -> {new}"));
        }
        if let Some((old, new)) = self.replicas {
            parts.push(format!("replicas {old} -> {new}"));
        }
        if let Some((old, new)) = &self.batch {
            parts.push(format!("batch {old} -> {new}"));
        }
        if parts.is_empty() {
            parts.push("labels rewritten".into());
        }
        write!(
            f,
            "{:<9} {}: {}",
            self.server,
            parts.join(", "),
            self.reason
        )
    }
}

fn changed<T: PartialEq>(old: T, new: T) -> Option<(T, T)> {
    (old != new).then_some((old, new))
}

/// The changes the actuator applied in this cycle (servers with `applied`), old and new values
/// taken from the Deployments before and after the cycle; where a Deployment was not read, the
/// report's `oldReplicas` and decision stand in (and GPU type and batch are left out).
pub fn changes(
    report: &Value,
    before: &BTreeMap<String, Deployed>,
    after: &BTreeMap<String, Deployed>,
) -> Vec<Change> {
    let mut out = Vec::new();
    for s in report["servers"].as_array().into_iter().flatten() {
        if s["applied"] != true {
            continue;
        }
        let server = s["name"].as_str().unwrap_or("").to_string();
        let reason = s["note"].as_str().unwrap_or("").to_string();
        let decided_replicas = s["replicas"].as_i64().unwrap_or(0);
        let change = match (before.get(&server), after.get(&server)) {
            (Some(b), Some(a)) => Change {
                replicas: changed(b.replicas, a.replicas),
                accelerator: changed(b.accelerator.clone(), a.accelerator.clone()),
                batch: changed(b.max_batch.clone(), a.max_batch.clone()),
                server,
                reason,
            },
            (b, _) => Change {
                replicas: changed(
                    b.map_or(s["oldReplicas"].as_i64().unwrap_or(0), |b| b.replicas),
                    decided_replicas,
                ),
                server,
                reason,
                ..Change::default()
            },
        };
        out.push(change);
    }
    out
}

/// Servers the actuator did not change although it had something to say (held unplaced, a
/// failed patch): `server: note`.
pub fn not_applied(report: &Value) -> Vec<String> {
    report["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["applied"] != true)
        .filter_map(|s| {
            let note = s["note"].as_str().unwrap_or("");
            (!note.is_empty() && note != "unchanged")
                .then(|| format!("{}: {note}", s["name"].as_str().unwrap_or("")))
        })
        .collect()
}

fn num(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

/// One line of the table (the header or a server): driven values right-aligned against their
/// measured neighbours, targets against their predicted/measured pairs.
fn row(out: &mut String, c: [String; 13]) {
    let line = format!(
        "  {:<9} {:<8} {:<12} {:>7} {:<7} {:>10} {:<9}  {:<11} {:>5}  {:>7} {:<13} {:>8} {}",
        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12]
    );
    let _ = writeln!(out, "{}", line.trim_end());
}

fn opt<T: fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// Width the legend and notes wrap at.
pub(crate) const ROW: usize = 130;

/// A `google.protobuf.Duration` in proto3 JSON (`"0.264s"`) in seconds; 0 when absent.
pub(crate) fn duration_seconds(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.strip_suffix('s'))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0)
}

/// Renders a cycle: the header line, one row per server (targets, predicted and measured
/// values with misses marked, driven and measured load), then each applied change and each
/// server left unchanged with a note. `driven` are the Deployments as the cycle started.
pub fn render(
    report: &Value,
    driven: &BTreeMap<String, Deployed>,
    changes: &[Change],
    measured: &Measured,
    elapsed_s: f64,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cycle {} at {:.0}s: {}{}  total cost {} cents/hr, {} change(s), {:.0} ms",
        report["cycle"],
        elapsed_s,
        report["outcome"]
            .as_str()
            .unwrap_or("?")
            .to_ascii_lowercase(),
        report["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        num(&report["totalCost"], 0),
        changes.len(),
        duration_seconds(&report["duration"]) * 1e3,
    );
    let servers: Vec<&Value> = report["servers"].as_array().into_iter().flatten().collect();
    if !servers.is_empty() {
        row(
            &mut out,
            [
                "SERVER",
                "CLASS",
                "MODEL",
                "RPM drv",
                "meas",
                "IN/OUT drv",
                "meas",
                "GPU x N",
                "BATCH",
                "ITL tgt",
                "pred/meas",
                "TTFT tgt",
                "pred/meas",
            ]
            .map(String::from),
        );
    }
    let mut not_used = Vec::new();
    for s in servers {
        let name = s["name"].as_str().unwrap_or("");
        let d = driven.get(name);
        let gpu = if s["unplaced"].as_str().is_some_and(|u| !u.is_empty()) {
            "unplaced".to_string()
        } else {
            format!(
                "{} x {}",
                s["accelerator"].as_str().unwrap_or(""),
                s["replicas"]
            )
        };
        let throughput = s["throughput"].as_f64().unwrap_or(0.0);
        let rpm = s["rpm"].as_f64().unwrap_or(0.0);
        // A rate measured through Prometheus comes with its standard error (the collector's
        // demand estimate); without one the optimizer got the load label.
        let rate_measured = s["plan"]["rateError"].as_f64().unwrap_or(0.0) > 0.0;
        let meas_rpm = if !measured.prometheus {
            "-".to_string()
        } else if !rate_measured {
            not_used.push(name.to_string());
            format!("{throughput:.1}{NOT_USED}")
        } else {
            format!("{rpm:.1}")
        };
        let drv_tok = format!(
            "{}/{}",
            opt(d.and_then(|d| d.in_tokens)),
            opt(d.and_then(|d| d.out_tokens))
        );
        let meas_tok = if measured.prometheus && throughput > 0.0 {
            format!("{}/{}", s["avgInTokens"], s["avgOutTokens"])
        } else {
            "-".into()
        };
        let target = |v: &Value| {
            let t = v.as_f64().unwrap_or(0.0);
            let shown = if t > 0.0 {
                format!("{t:.0}")
            } else {
                "-".into()
            };
            (t, shown)
        };
        let ((slo_itl, itl_tgt), (slo_ttft, ttft_tgt)) =
            (target(&s["sloItl"]), target(&s["sloTtft"]));
        let pair = |pred: &Value, meas: &Value, target: f64, digits: usize| {
            format!(
                "{}/{}",
                marked(pred.as_f64(), target, digits),
                marked(meas.as_f64(), target, digits)
            )
        };
        row(
            &mut out,
            [
                name.to_string(),
                s["class"].as_str().unwrap_or("").to_string(),
                s["model"].as_str().unwrap_or("").to_string(),
                opt(d.and_then(|d| d.rpm).map(|r| format!("{r:.1}"))),
                meas_rpm,
                drv_tok,
                meas_tok,
                gpu,
                s["maxBatch"].to_string(),
                itl_tgt,
                pair(&s["predictedItl"], &s["itl"], slo_itl, 1),
                ttft_tgt,
                pair(&s["predictedTtft"], &s["ttft"], slo_ttft, 0),
            ],
        );
    }
    for c in changes {
        let _ = writeln!(out, "  changed {c}");
    }
    for n in not_applied(report) {
        let _ = writeln!(out, "  not changed {n}");
    }
    if !not_used.is_empty() {
        let _ = writeln!(
            out,
            "  {NOT_USED} {}: a pod had not reported yet or none completed a request in the window: the optimizer got the driven RPM",
            not_used.join(", ")
        );
    }
    for p in report["problems"].as_array().into_iter().flatten().take(3) {
        let _ = writeln!(out, "  note: {}", p.as_str().unwrap_or(""));
    }
    out
}

/// Wraps `text` at `width` columns, each line indented by `indent`.
pub(crate) fn wrap(text: &str, indent: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.len() + line.len() + 1 + word.len() > width {
            let _ = writeln!(out, "{indent}{line}");
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        let _ = writeln!(out, "{indent}{line}");
    }
    out
}

/// What the columns mean, printed once under the first table: targets and misses, predicted,
/// measured (where from, over what window, what it counts) and driven, and why measured load
/// differs from the driven load.
pub fn legend(m: &Measured) -> String {
    let mut out = String::new();
    out.push_str(&wrap(
        &format!(
            "tgt: the ITL and TTFT targets (ms) of the server's class \
             (samples/large/serviceclass-data.json); {MISS} marks a value over its target. pred: \
             the optimizer's queueing model for the new allocation."
        ),
        "  ",
        ROW,
    ));
    let meas = if m.prometheus {
        format!(
            "meas: Prometheus over the emulated vLLM servers' metrics (scraped every {}s), summed \
             over every pod of the server, as the collector reads it: RPM counts arrivals \
             (requests completed plus the change in those running and waiting, over the shortest \
             of {} and its doublings that holds 50 requests); IN/OUT are the means of the \
             per-request token histograms of the requests that finished; TTFT is the mean over \
             the first tokens in the window, ITL over the requests completed in it.",
            m.scrape_s, m.window
        )
    } else {
        "meas: none (Prometheus is not running): the collector gives the optimizer the driven \
         load labels."
            .to_string()
    };
    out.push_str(&wrap(&meas, "  ", ROW));
    let phases = m
        .phases
        .as_deref()
        .map(|p| format!(", moved by the load emulator along {p}"))
        .unwrap_or_default();
    let mut drv = format!(
        "drv: the load the emulated servers generate now (the Deployment's load labels{phases})."
    );
    if m.prometheus {
        drv.push_str(&format!(
            " meas follows drv within a window: a request counts when it arrives at a pod, and \
             the requests of pods removed in the window still count. The controller plans for \
             meas plus its standard error, a rising trend one start-up ahead and the backlog \
             (docs/controller.md); the optimizer is given that (drv where marked {NOT_USED})."
        ));
    }
    out.push_str(&wrap(&drv, "  ", ROW));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Value {
        serde_json::json!({
            "cycle": 3, "outcome": "OK", "reason": "", "totalCost": 1234.0, "changes": 2, "duration": "0.012s",
            "servers": [
                {"name": "vllm-001", "class": "Premium", "model": "llama_13b", "rpm": 12.5, "throughput": 12.5,
                 "plan": {"rateError": 3.5},
                 "avgInTokens": 205, "avgOutTokens": 1094, "sloItl": 80.0, "sloTtft": 1000.0,
                 "accelerator": "G2", "replicas": 3, "maxBatch": 38, "predictedItl": 40.5, "itl": 38.0,
                 "predictedTtft": 90.0, "ttft": 16800.0, "unplaced": "", "oldReplicas": 4, "applied": true,
                 "note": "scale down to cut cost"},
                {"name": "vllm-002", "class": "Bronze", "model": "granite_13b", "rpm": 60.0, "throughput": 0.0,
                 "avgInTokens": 512, "avgOutTokens": 512, "sloItl": 80.0, "sloTtft": 2000.0,
                 "accelerator": "G2", "replicas": 1, "maxBatch": 76, "predictedItl": 81.0, "itl": 0.0,
                 "predictedTtft": 82.0, "ttft": 0.0, "unplaced": "", "oldReplicas": 3, "applied": true,
                 "note": "accelerator \"H100\" -> \"G2\" (cost)"},
                {"name": "vllm-003", "class": "Free", "model": "mixtral_8_7b", "rpm": 90.0, "throughput": 90.0,
                 "plan": {"rateError": 9.5},
                 "avgInTokens": 256, "avgOutTokens": 512, "sloItl": 320.0, "sloTtft": 4000.0,
                 "accelerator": "", "replicas": 0, "maxBatch": 0, "predictedItl": 0.0, "itl": 30.0,
                 "predictedTtft": 0.0, "ttft": 100.0, "unplaced": "out of capacity", "oldReplicas": 3,
                 "applied": false, "note": "unplaced, held: out of capacity"}
            ],
            "problems": ["prometheus: no answer"]
        })
    }

    fn deployed(replicas: i64, accelerator: &str, batch: &str, rpm: f64) -> Deployed {
        Deployed {
            deployment: "d".into(),
            replicas,
            accelerator: accelerator.into(),
            max_batch: batch.into(),
            rpm: Some(rpm),
            in_tokens: Some(128),
            out_tokens: Some(1024),
        }
    }

    fn snapshots() -> (BTreeMap<String, Deployed>, BTreeMap<String, Deployed>) {
        let before = [
            ("vllm-001", deployed(4, "G2", "8", 30.0)),
            ("vllm-002", deployed(3, "H100", "16", 61.3)),
        ];
        let after = [
            ("vllm-001", deployed(3, "G2", "38", 30.0)),
            ("vllm-002", deployed(1, "G2", "76", 61.3)),
        ];
        let map =
            |v: [(&str, Deployed); 2]| v.into_iter().map(|(k, d)| (k.to_string(), d)).collect();
        (map(before), map(after))
    }

    fn measured(prometheus: bool) -> Measured {
        Measured {
            prometheus,
            window: "30s".into(),
            scrape_s: 2,
            phases: Some("samples/load-phases.yaml".into()),
        }
    }

    #[test]
    fn a_change_names_each_field_old_and_new_and_why() {
        let (before, after) = snapshots();
        let c = changes(&report(), &before, &after);
        assert_eq!(c.len(), 2, "the held server is no change: {c:?}");
        assert_eq!(
            c[0].to_string(),
            "vllm-001  replicas 4 -> 3, batch 8 -> 38: scale down to cut cost"
        );
        assert_eq!(
            c[1].to_string(),
            "vllm-002  GPU H100 -> G2, replicas 3 -> 1, batch 16 -> 76: accelerator \"H100\" -> \"G2\" (cost)"
        );
        // Without the Deployments, the report's replicas stand in.
        let c = changes(&report(), &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(
            c[1].to_string(),
            "vllm-002  replicas 3 -> 1: accelerator \"H100\" -> \"G2\" (cost)"
        );
    }

    #[test]
    fn misses_are_marked_and_unknowns_are_dashes() {
        assert!(misses(16800.0, 2000.0) && !misses(2000.0, 2000.0) && !misses(5.0, 0.0));
        assert_eq!(marked(Some(16800.0), 2000.0, 0), "16800!");
        assert_eq!(marked(Some(1999.4), 2000.0, 0), "1999");
        assert_eq!(marked(Some(0.0), 2000.0, 1), "-");
        assert_eq!(marked(None, 2000.0, 1), "-");
    }

    #[test]
    fn renders_targets_misses_load_and_changes() {
        let (before, after) = snapshots();
        let c = changes(&report(), &before, &after);
        let text = render(&report(), &before, &c, &measured(true), 12.0);
        assert!(
            text.contains("cycle 3 at 12s: ok  total cost 1234 cents/hr, 2 change(s)"),
            "{text}"
        );
        let row = |name: &str| text.lines().find(|l| l.contains(name)).unwrap().to_string();
        let r1 = row("  vllm-001");
        assert!(
            r1.contains("G2 x 3") && r1.contains("30.0 12.5") && r1.contains("128/1024 205/1094"),
            "{r1}"
        );
        assert!(
            r1.contains("80 40.5/38.0") && r1.contains("1000 90/16800!"),
            "{r1}"
        );
        // Predicted over target; nothing measured; the optimizer got the driven RPM.
        let r2 = row("  vllm-002");
        assert!(
            r2.contains("61.3 0.0*") && r2.contains("80 81.0!/-") && r2.contains("2000 82/-"),
            "{r2}"
        );
        assert!(r2.contains("128/1024 -"), "{r2}");
        assert!(row("  vllm-003").contains("unplaced"), "{text}");
        assert!(
            text.contains(
                "  changed vllm-001  replicas 4 -> 3, batch 8 -> 38: scale down to cut cost"
            ),
            "{text}"
        );
        assert!(
            text.contains("  changed vllm-002  GPU H100 -> G2"),
            "{text}"
        );
        assert!(
            text.contains("  not changed vllm-003: unplaced, held: out of capacity"),
            "{text}"
        );
        assert!(
            text.contains("* vllm-002: a pod had not reported yet or none completed a request in the window: the optimizer got the driven RPM"),
            "{text}"
        );
        assert!(text.contains("note: prometheus"), "{text}");
        // Without Prometheus nothing is called measured.
        let text = render(&report(), &before, &c, &measured(false), 12.0);
        assert!(row_of(&text, "  vllm-001").contains("30.0 -"), "{text}");
    }

    fn row_of(text: &str, name: &str) -> String {
        text.lines().find(|l| l.contains(name)).unwrap().to_string()
    }

    #[test]
    fn the_legend_says_where_measured_comes_from_and_why_it_differs() {
        let text = legend(&measured(true));
        for part in [
            "! marks a value over its target",
            "Prometheus over the emulated vLLM servers' metrics (scraped every 2s), summed",
            "over the shortest of 30s and its doublings that holds 50 requests",
            "RPM counts arrivals (requests completed plus the change in those running",
            "drv: the load the emulated servers generate now",
            "samples/load-phases.yaml",
            "meas follows drv within a window: a request counts when it arrives at a pod",
        ] {
            assert!(
                text.replace('\n', " ").replace("   ", " ").contains(part),
                "{part}: {text}"
            );
        }
        assert!(text.lines().all(|l| l.len() <= ROW), "{text}");
        let text = legend(&measured(false));
        assert!(
            text.contains("Prometheus is not running") && !text.contains("follows drv"),
            "{text}"
        );
    }
}
