//! The live view: one table per cycle, from the controller's report.

use serde_json::Value;
use std::fmt::Write;

fn num(v: &Value, digits: usize) -> String {
    v.as_f64()
        .map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

/// Renders a cycle report (the JSON of `GET /invoke`).
pub fn render(report: &Value, elapsed_s: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cycle {} at {:.0}s: {}{}  total cost {} cents/hr, {} change(s), {:.0} ms",
        report["cycle"],
        elapsed_s,
        report["outcome"].as_str().unwrap_or("?"),
        report["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        num(&report["totalCost"], 0),
        report["changes"],
        report["timing"]["totalMs"].as_f64().unwrap_or(0.0),
    );
    let _ = writeln!(
        out,
        "  {:<10} {:<8} {:<13} {:>7} {:>9}  {:<14} {:>5}  {:>17}  {:>19}",
        "SERVER",
        "CLASS",
        "MODEL",
        "RPM",
        "IN/OUT",
        "GPU x N",
        "BATCH",
        "ITL ms pred/meas",
        "TTFT ms pred/meas"
    );
    for s in report["servers"].as_array().into_iter().flatten() {
        let gpu = if s["unplaced"].as_str().is_some_and(|u| !u.is_empty()) {
            "unplaced".to_string()
        } else {
            format!(
                "{} x {}",
                s["accelerator"].as_str().unwrap_or(""),
                s["replicas"]
            )
        };
        let _ = writeln!(
            out,
            "  {:<10} {:<8} {:<13} {:>7} {:>9}  {:<14} {:>5}  {:>17}  {:>19}",
            s["name"].as_str().unwrap_or(""),
            s["class"].as_str().unwrap_or(""),
            s["model"].as_str().unwrap_or(""),
            num(&s["rpm"], 1),
            format!("{}/{}", s["avgInTok"], s["avgOutTok"]),
            gpu,
            s["maxBatch"],
            format!("{}/{}", num(&s["predictedItl"], 1), num(&s["itl"], 1)),
            format!("{}/{}", num(&s["predictedTtft"], 1), num(&s["ttft"], 1)),
        );
    }
    for p in report["problems"].as_array().into_iter().flatten().take(3) {
        let _ = writeln!(out, "  note: {}", p.as_str().unwrap_or(""));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_report() {
        let r = serde_json::json!({
            "cycle": 3, "outcome": "ok", "reason": "", "totalCost": 1234.0, "changes": 1, "timing": {"totalMs": 12.0},
            "servers": [{"name": "vllm-001", "class": "Premium", "model": "llama_13b", "rpm": 30.0, "avgInTok": 128, "avgOutTok": 1024,
                         "accelerator": "G2", "replicas": 3, "maxBatch": 38, "predictedItl": 40.5, "itl": 38.0, "predictedTtft": 90.0, "ttft": 80.0, "unplaced": ""}],
            "problems": ["prometheus: no answer"]
        });
        let text = render(&r, 12.0);
        assert!(
            text.contains("cycle 3 at 12s: ok  total cost 1234 cents/hr"),
            "{text}"
        );
        assert!(
            text.contains("G2 x 3")
                && text.contains("40.5/38.0")
                && text.contains("note: prometheus"),
            "{text}"
        );
    }
}
