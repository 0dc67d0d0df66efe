//! From a run's measurements to `summary.json`, `summary.md` and the record files.

use crate::cluster::Books;
use crate::policies::Policy;
use crate::run::Measured;
use crate::traffic::{Outcome, RequestRecord};
use crate::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Request and change counts of one policy, for one server or in total.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Score {
    /// Requests that arrived.
    pub arrived: u64,
    /// Served within both targets.
    pub met_both: u64,
    /// Served within the TTFT target.
    pub met_ttft: u64,
    /// Served within the ITL target.
    pub met_itl: u64,
    /// No ready pod within the gateway's wait.
    pub rejected: u64,
    /// Refused by the server (larger than its KV cache).
    pub refused: u64,
    /// Cut off by a pod's removal.
    pub cut_off: u64,
    /// Still running when the run ended.
    pub unfinished: u64,
    /// met_both / arrived.
    pub attainment: f64,
    /// GPU cost over the scenario (every pod that held GPUs, starting and terminating ones
    /// too), cents.
    pub gpu_cost_cents: f64,
    /// gpuCostCents / the clairvoyant's (absent without a clairvoyant run).
    pub cost_ratio: Option<f64>,
    /// Direction changes of the replica count.
    pub replica_reversals: u64,
    /// Changes of the GPU type.
    pub accelerator_changes: u64,
    /// Changes of the batch cap.
    pub batch_changes: u64,
    /// Pod-template changes (rolling updates).
    pub rollouts: u64,
}

/// Median and 95th percentile of |measured / predicted - 1|.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PredictionError {
    /// Median.
    pub median: f64,
    /// 95th percentile.
    pub p95: f64,
    /// (cycle, server) windows compared.
    pub windows: u64,
}

/// Measured against predicted latency, for the inferno policy.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Prediction {
    /// TTFT.
    pub ttft: PredictionError,
    /// ITL.
    pub itl: PredictionError,
}

/// One policy's results.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySummary {
    /// Policy name.
    pub policy: String,
    /// Over all servers.
    pub total: Score,
    /// Per server, by name.
    pub servers: BTreeMap<String, Score>,
    /// For the inferno policy: measured vs predicted latencies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    /// Controller cycles seen (inferno).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycles: Option<u64>,
}

/// `summary.json`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Scenario file.
    pub file: String,
    /// Scenario seconds.
    pub duration_s: f64,
    /// Scenario seconds per wall second.
    pub time_scale: f64,
    /// Seed.
    pub seed: u64,
    /// Per policy, in report order.
    pub policies: Vec<PolicySummary>,
    /// Largest lateness of a request's dispatch, wall ms (harness health).
    pub max_dispatch_lag_ms: f64,
    /// Problems that make the result doubtful.
    pub warnings: Vec<String>,
}

fn add(score: &mut Score, r: &RequestRecord) {
    score.arrived += 1;
    score.met_both += u64::from(r.met_both());
    score.met_ttft += u64::from(r.met_ttft);
    score.met_itl += u64::from(r.met_itl);
    match r.outcome {
        Outcome::Served => {}
        Outcome::Rejected => score.rejected += 1,
        Outcome::Refused => score.refused += 1,
        Outcome::CutOff => score.cut_off += 1,
        Outcome::Unfinished => score.unfinished += 1,
    }
}

/// Direction changes in a sequence of counts.
pub fn reversals(counts: &[u32]) -> u64 {
    let mut last = 0i64;
    let mut n = 0;
    for w in counts.windows(2) {
        let d = (i64::from(w[1]) - i64::from(w[0])).signum();
        if d != 0 {
            if last != 0 && d != last {
                n += 1;
            }
            last = d;
        }
    }
    n
}

fn changes(score: &mut Score, b: &Books) {
    let d = &b.deployment;
    let counts: Vec<u32> = d.replicas.iter().map(|x| x.1).collect();
    score.replica_reversals += reversals(&counts);
    score.accelerator_changes += d.accelerators.len().saturating_sub(1) as u64;
    score.batch_changes += u64::from(d.batch_changes);
    score.rollouts += u64::from(d.rollouts);
    score.gpu_cost_cents += b.cost_cents;
}

/// The `q` quantile (0..1) of `v` (nearest rank); 0 for an empty slice.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// |measured mean / predicted - 1| per (cycle, server): the mean latency of the requests that
/// arrived in the period after the cycle, against the cycle's prediction.
fn prediction(m: &Measured, policy: usize) -> Prediction {
    let period = m.plan.scenario.period.0;
    let mut by_server: BTreeMap<&str, Vec<&RequestRecord>> = BTreeMap::new();
    for r in m
        .records
        .iter()
        .filter(|r| r.policy == policy && r.outcome == Outcome::Served)
    {
        by_server.entry(r.server.as_str()).or_default().push(r);
    }
    let (mut ttft, mut itl) = (Vec::new(), Vec::new());
    for c in &m.cycles {
        let Some(servers) = c.record["servers"].as_array() else {
            continue;
        };
        for s in servers {
            let name = s["name"].as_str().unwrap_or_default();
            let Some(list) = by_server.get(name) else {
                continue;
            };
            let window: Vec<&&RequestRecord> = list
                .iter()
                .filter(|r| r.at >= c.at && r.at < c.at + period)
                .collect();
            if window.len() < 5 {
                continue;
            }
            let n = window.len() as f64;
            for (key, measured, out) in [
                (
                    "predictedTtft",
                    window.iter().map(|r| r.ttft_ms).sum::<f64>() / n,
                    &mut ttft,
                ),
                (
                    "predictedItl",
                    window.iter().map(|r| r.itl_ms).sum::<f64>() / n,
                    &mut itl,
                ),
            ] {
                let predicted = s[key].as_f64().unwrap_or(0.0);
                if predicted > 0.0 {
                    out.push((measured / predicted - 1.0).abs());
                }
            }
        }
    }
    let err = |v: &mut Vec<f64>| PredictionError {
        windows: v.len() as u64,
        median: quantile(v, 0.5),
        p95: quantile(v, 0.95),
    };
    Prediction {
        ttft: err(&mut ttft),
        itl: err(&mut itl),
    }
}

/// Summarises a run.
pub fn summarise(m: &Measured) -> Summary {
    let mut policies = Vec::new();
    for (pi, policy) in m.policies.iter().enumerate() {
        let mut servers: BTreeMap<String, Score> = m
            .plan
            .servers
            .iter()
            .map(|b| (b.name.clone(), Score::default()))
            .collect();
        let mut total = Score::default();
        for r in m.records.iter().filter(|r| r.policy == pi) {
            add(&mut total, r);
            if let Some(s) = servers.get_mut(&r.server) {
                add(s, r);
            }
        }
        for (si, b) in m.plan.servers.iter().enumerate() {
            let books = &m.books[pi][si];
            changes(&mut total, books);
            if let Some(s) = servers.get_mut(&b.name) {
                changes(s, books);
            }
        }
        let inferno = *policy == Policy::Inferno;
        policies.push(PolicySummary {
            policy: policy.name().into(),
            total,
            servers,
            prediction: inferno.then(|| prediction(m, pi)),
            cycles: inferno.then_some(m.cycles.len() as u64),
        });
    }
    let clairvoyant = policies
        .iter()
        .find(|p| p.policy == Policy::Clairvoyant.name())
        .cloned();
    for p in &mut policies {
        let ratio = |own: f64, reference: f64| (reference > 0.0).then(|| own / reference);
        p.total.attainment = attainment(&p.total);
        if let Some(c) = &clairvoyant {
            p.total.cost_ratio = ratio(p.total.gpu_cost_cents, c.total.gpu_cost_cents);
        }
        for (name, s) in p.servers.iter_mut() {
            s.attainment = attainment(s);
            if let Some(c) = clairvoyant.as_ref().and_then(|c| c.servers.get(name)) {
                s.cost_ratio = ratio(s.gpu_cost_cents, c.gpu_cost_cents);
            }
        }
    }
    Summary {
        scenario: m.plan.name.clone(),
        file: m.plan.file.display().to_string(),
        duration_s: m.plan.scenario.duration.0,
        time_scale: m.plan.scenario.time_scale,
        seed: m.plan.scenario.seed,
        policies,
        max_dispatch_lag_ms: m.max_dispatch_lag_ms,
        warnings: m.warnings.clone(),
    }
}

fn attainment(s: &Score) -> f64 {
    if s.arrived == 0 {
        1.0
    } else {
        s.met_both as f64 / s.arrived as f64
    }
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

fn row(name: &str, s: &Score) -> String {
    format!(
        "| {name} | {} | {:.1}% | {} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} |\n",
        s.arrived,
        100.0 * s.attainment,
        pct(s.met_ttft, s.arrived),
        pct(s.met_itl, s.arrived),
        s.rejected + s.refused,
        s.cut_off,
        s.unfinished,
        s.gpu_cost_cents,
        s.cost_ratio.map_or("-".into(), |r| format!("{r:.2}")),
        s.replica_reversals,
        s.accelerator_changes,
        s.batch_changes,
        s.rollouts,
    )
}

const HEADER: &str = "| policy | arrived | attainment | met TTFT | met ITL | rejected | cut off | unfinished | GPU cost (cents) | cost ratio | replica reversals | GPU changes | batch changes | rollouts |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";

/// The Markdown report.
pub fn markdown(s: &Summary) -> String {
    let mut out = format!(
        "# {}\n\nScenario `{}`: {:.0} min of scenario time at time scale {}, seed {}.\n\n",
        s.scenario,
        s.file,
        s.duration_s / 60.0,
        s.time_scale,
        s.seed
    );
    out.push_str(HEADER);
    for p in &s.policies {
        out.push_str(&row(&p.policy, &p.total));
    }
    for p in &s.policies {
        if let Some(pr) = &p.prediction {
            out.push_str(&format!(
                "\n{}: |measured/predicted - 1| over {} cycle windows: TTFT median {:.2}, p95 {:.2}; ITL median {:.2}, p95 {:.2} ({} cycles).\n",
                p.policy,
                pr.ttft.windows.max(pr.itl.windows),
                pr.ttft.median,
                pr.ttft.p95,
                pr.itl.median,
                pr.itl.p95,
                p.cycles.unwrap_or(0)
            ));
        }
    }
    if s.policies.iter().any(|p| p.servers.len() > 1)
        && s.policies.first().is_some_and(|p| p.servers.len() <= 12)
    {
        out.push_str("\n## Per server\n");
        let names: Vec<&String> = s.policies[0].servers.keys().collect();
        for name in names {
            out.push_str(&format!("\n### {name}\n\n{HEADER}"));
            for p in &s.policies {
                if let Some(sc) = p.servers.get(name) {
                    out.push_str(&row(&p.policy, sc));
                }
            }
        }
    }
    if !s.warnings.is_empty() {
        out.push_str("\n## Warnings\n\n");
        for w in &s.warnings {
            out.push_str(&format!("- {w}\n"));
        }
    }
    out
}

fn write_jsonl<T: Serialize>(path: &Path, items: impl Iterator<Item = T>) -> Result<()> {
    let io = |e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut w = std::io::BufWriter::new(file);
    for item in items {
        serde_json::to_writer(&mut w, &item).map_err(|e| io(e.into()))?;
        w.write_all(b"\n").map_err(io)?;
    }
    w.flush().map_err(io)
}

/// Writes summary.json, summary.md and per policy `requests.jsonl` and `samples.jsonl`.
pub fn write(m: &Measured, s: &Summary, out: &Path) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| Error::Io { path, source: e }
    };
    let json = out.join("summary.json");
    std::fs::write(&json, serde_json::to_string_pretty(s).unwrap_or_default())
        .map_err(io(&json))?;
    let md = out.join("summary.md");
    std::fs::write(&md, markdown(s)).map_err(io(&md))?;
    for (pi, policy) in m.policies.iter().enumerate() {
        let dir = out.join(policy.name());
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        write_jsonl(
            &dir.join("requests.jsonl"),
            m.records.iter().filter(|r| r.policy == pi),
        )?;
        write_jsonl(
            &dir.join("samples.jsonl"),
            m.samples.iter().filter(|x| x.policy == pi),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversals_count_direction_changes() {
        assert_eq!(reversals(&[1, 2, 3, 3, 4]), 0);
        assert_eq!(reversals(&[1, 3, 2, 4, 4, 1]), 3);
        assert_eq!(reversals(&[]), 0);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&mut v, 0.5), 2.0);
        assert_eq!(quantile(&mut v, 0.95), 4.0);
        assert_eq!(quantile(&mut [], 0.5), 0.0);
    }
}
