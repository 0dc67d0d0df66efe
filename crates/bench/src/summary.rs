//! From a run's measurements to `summary.json`, `summary.md` and the record files.

use crate::cluster::Books;
use crate::demand::{self, DemandAccuracy};
use crate::policies::inferno::Cycle;
use crate::policies::Policy;
use crate::realised;
use crate::run::Measured;
use crate::scenario::{BenchServer, Phase};
use crate::traffic::{Outcome, RequestRecord};
use crate::{Error, Result};
use serde::Serialize;
use serde_json::Value;
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

/// Median and 95th percentile of |measured / predicted - 1|, and the median of the signed
/// error: a bias shows there, where the absolute error alone cannot tell a model that is off
/// from a check that is noisy.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PredictionError {
    /// Median.
    pub median: f64,
    /// 95th percentile.
    pub p95: f64,
    /// Median of measured / predicted - 1 (positive: measured above the prediction).
    pub bias: f64,
    /// (cycle, server) windows compared.
    pub windows: u64,
}

impl PredictionError {
    /// From the signed errors `measured / predicted - 1` of the windows compared.
    pub fn of(mut signed: Vec<f64>) -> Self {
        let bias = quantile(&mut signed, 0.5);
        let mut abs: Vec<f64> = signed.iter().map(|e| e.abs()).collect();
        Self {
            windows: abs.len() as u64,
            median: quantile(&mut abs, 0.5),
            p95: quantile(&mut abs, 0.95),
            bias,
        }
    }
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

/// The queueing model's own accuracy (inferno): the cycles' `plan.modelCheck` predictions,
/// made at the measured rate for the pods serving then, against what the next period's requests
/// got.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ModelAccuracy {
    /// Every check.
    pub all: Prediction,
    /// Only checks made after the tuner had taken [`TUNED_UPDATES`] measurements of the
    /// server's (model, accelerator): how good the tuned parameters are once they had data.
    pub tuned: Prediction,
    /// Of those, only checks the controller made with every pod serving for two cycles, all of
    /// one kind (`steady`): the state the model describes, without pods starting, a rollout
    /// mixing two kinds, or a queue left from a shortage.
    pub tuned_steady: Prediction,
    /// The tuned checks' model (the parameters and pod shape each check used) evaluated at
    /// the load the period actually brought ([`crate::realised`]): the model and its tuned
    /// parameters alone, without the error of taking the last window's load for the next
    /// period's. Empty for a controller whose checks carry no parameters.
    pub tuned_realised: Prediction,
    /// [`Self::tuned_realised`] per server: a median over all servers can hide one whose
    /// parameters stay off.
    pub tuned_realised_by_server: BTreeMap<String, Prediction>,
}

/// Tuner measurements after which a model check counts as tuned.
pub const TUNED_UPDATES: f64 = 10.0;

/// How long one rise in load took to be absorbed.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RiseRecovery {
    /// Start of the phase that raises the load, scenario seconds.
    pub start_s: f64,
    /// End of the raised stretch (that phase and the phases after it that hold its
    /// multiplier), scenario seconds, at most the run's end.
    pub end_s: f64,
    /// Multiplier before the rise.
    pub from_multiplier: f64,
    /// Multiplier reached.
    pub to_multiplier: f64,
    /// The servers whose load rises so (their requests are pooled).
    pub servers: Vec<String>,
    /// Seconds from `startS` until every [`BUCKET_S`] bucket of arrivals up to `endS` meets
    /// both targets for at least [`RECOVERED`] of its requests; null when the last bucket still
    /// does not (never recovered).
    pub recovery_s: Option<f64>,
}

/// Recovery after the rises in load of a run.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Recovery {
    /// The longest recovery over the rises, seconds; null when one never recovered.
    pub worst_s: Option<f64>,
    /// Per rise, in time order.
    pub phases: Vec<RiseRecovery>,
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
    /// For the inferno policy, when its cycles carry model checks: the model's accuracy at
    /// the measured rate on the serving pods.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelAccuracy>,
    /// For the inferno policy: its measured arrival rates against the requests that arrived
    /// in their windows ([`crate::demand`]; absent when its cycles do not say the window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demand: Option<DemandAccuracy>,
    /// Recovery after each rise in load (absent when no phase raises it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
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

/// The served requests of `policy`, per server name, in arrival order.
fn served(records: &[RequestRecord], policy: usize) -> BTreeMap<&str, Vec<&RequestRecord>> {
    let mut by_server: BTreeMap<&str, Vec<&RequestRecord>> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.policy == policy && r.outcome == Outcome::Served)
    {
        by_server.entry(r.server.as_str()).or_default().push(r);
    }
    by_server
}

/// |measured mean / predicted - 1| per (cycle, server): the mean latency of the requests that
/// arrived in the period after the cycle, against the prediction `predicted` picks from the
/// server's record (TTFT, ITL; None skips the server, a value <= 0 that latency).
fn compare(
    cycles: &[Cycle],
    served: &BTreeMap<&str, Vec<&RequestRecord>>,
    period: f64,
    at: Side,
    predicted: impl Fn(&Value, &[&RequestRecord]) -> Option<(f64, f64)>,
) -> Prediction {
    let (mut ttft, mut itl) = (Vec::new(), Vec::new());
    for c in cycles {
        let Some(servers) = c.record["servers"].as_array() else {
            continue;
        };
        for s in servers {
            let name = s["name"].as_str().unwrap_or_default();
            let Some(list) = served.get(name) else {
                continue;
            };
            let window: Vec<&RequestRecord> = list
                .iter()
                .copied()
                .filter(|r| r.at >= c.at && r.at < c.at + period)
                .collect();
            // The mean of fewer requests says little: their token lengths vary widely.
            if window.len() < 5 {
                continue;
            }
            let Some((predicted_ttft, predicted_itl)) = predicted(s, &window) else {
                continue;
            };
            let n = window.len() as f64;
            for (predicted, measured, out) in [
                (
                    predicted_ttft,
                    window
                        .iter()
                        .map(|r| match at {
                            Side::User => r.ttft_ms,
                            Side::Server => r.ttft_ms - r.wait_ms,
                        })
                        .sum::<f64>()
                        / n,
                    &mut ttft,
                ),
                (
                    predicted_itl,
                    window.iter().map(|r| r.itl_ms).sum::<f64>() / n,
                    &mut itl,
                ),
            ] {
                if predicted > 0.0 {
                    out.push(measured / predicted - 1.0);
                }
            }
        }
    }
    Prediction {
        ttft: PredictionError::of(ttft),
        itl: PredictionError::of(itl),
    }
}

/// The decision's prediction (`predictedTtft` / `predictedItl`) against what users got.
fn prediction(
    cycles: &[Cycle],
    served: &BTreeMap<&str, Vec<&RequestRecord>>,
    period: f64,
) -> Prediction {
    compare(cycles, served, period, Side::User, |s, _| {
        Some((
            s["predictedTtft"].as_f64().unwrap_or(0.0),
            s["predictedItl"].as_f64().unwrap_or(0.0),
        ))
    })
}

/// A server record's `plan.modelCheck`, when it has one.
fn model_check(s: &Value) -> Option<&Value> {
    let c = &s["plan"]["modelCheck"];
    c.is_object().then_some(c)
}

/// Where a TTFT is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    /// As the user saw it: the gateway's wait for a pod included.
    User,
    /// From the pod's receipt of the request: what the queueing model of a pod describes. The
    /// gateway's wait is not in it, and at a time scale of 6 it holds the benchmark's own
    /// dispatch lag (a few wall milliseconds, six times over), 15% of a 45 ms TTFT.
    Server,
}

/// The model checks (`plan.modelCheck`) against what users got, all and tuned; None when no
/// cycle carries one (a controller without them).
fn model_accuracy(
    cycles: &[Cycle],
    served: &BTreeMap<&str, Vec<&RequestRecord>>,
    period: f64,
) -> Option<ModelAccuracy> {
    let any = cycles.iter().any(|c| {
        c.record["servers"]
            .as_array()
            .is_some_and(|v| v.iter().any(|s| model_check(s).is_some()))
    });
    if !any {
        return None;
    }
    let pair = |c: &Value| {
        (
            c["predictedTtft"].as_f64().unwrap_or(0.0),
            c["predictedItl"].as_f64().unwrap_or(0.0),
        )
    };
    fn tuned(s: &Value) -> Option<&Value> {
        model_check(s).filter(|c| c["tunerUpdates"].as_f64().unwrap_or(0.0) >= TUNED_UPDATES)
    }
    Some(ModelAccuracy {
        all: compare(cycles, served, period, Side::Server, |s, _| {
            model_check(s).map(pair)
        }),
        tuned: compare(cycles, served, period, Side::Server, |s, _| {
            tuned(s).map(pair)
        }),
        tuned_steady: compare(cycles, served, period, Side::Server, |s, _| {
            tuned(s)
                .filter(|c| c["steady"].as_bool().unwrap_or(false))
                .map(pair)
        }),
        tuned_realised: compare(cycles, served, period, Side::Server, |s, w| {
            tuned(s).and_then(|c| realised::predicted(c, w, period))
        }),
        tuned_realised_by_server: served
            .keys()
            .map(|&name| {
                let of = compare(cycles, served, period, Side::Server, |s, w| {
                    tuned(s)
                        .filter(|_| s["name"] == name)
                        .and_then(|c| realised::predicted(c, w, period))
                });
                (name.to_string(), of)
            })
            .filter(|(_, p)| p.ttft.windows.max(p.itl.windows) > 0)
            .collect(),
    })
}

/// Width of the buckets of arrivals whose attainment decides a recovery, seconds: the
/// controller's default period, so that a bucket holds enough requests (tens at the shipped
/// rates) for its share not to be one request's luck.
pub const BUCKET_S: f64 = 30.0;

/// The attainment a bucket needs to count as recovered.
pub const RECOVERED: f64 = 0.95;

/// A stretch of raised load: a phase whose multiplier is higher than the previous one's, with
/// the phases after it that hold that multiplier (a ramp followed by a plateau is one rise;
/// burst's 10-s ramp alone would leave no time to recover in).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rise {
    /// Start of the raising phase, scenario seconds.
    pub start: f64,
    /// End of the stretch, at most `duration`.
    pub end: f64,
    /// Multiplier before.
    pub from: f64,
    /// Multiplier reached.
    pub to: f64,
}

/// The rises of a load curve within `[0, duration)`.
pub fn rises(phases: &[Phase], duration: f64) -> Vec<Rise> {
    // (start, end, multiplier before, multiplier reached) of each phase.
    let mut spans = Vec::new();
    let (mut start, mut m) = (0.0, 1.0);
    for p in phases {
        let to = p.multiplier.unwrap_or(m);
        spans.push((start, start + p.length.0, m, to));
        start += p.length.0;
        m = to;
    }
    let mut out = Vec::new();
    for (i, &(start, end, from, to)) in spans.iter().enumerate() {
        if to <= from || start >= duration {
            continue;
        }
        let mut end = end;
        let mut j = i + 1;
        while j < spans.len() && spans[j].3 == spans[j].2 {
            end = spans[j].1;
            j += 1;
        }
        // After the last phase its load holds to the end of the run.
        if j == spans.len() {
            end = duration;
        }
        let end = end.min(duration);
        if end > start {
            out.push(Rise {
                start,
                end,
                from,
                to,
            });
        }
    }
    out
}

/// Seconds from `start` until the attainment of the arrivals in every [`BUCKET_S`] bucket up
/// to `end` is at least [`RECOVERED`]: the start of the first bucket with requests after the
/// last one below it; 0 when none is below; None when the last bucket with requests is below
/// (never recovered). `arrivals` are (arrival time, met both targets). A remainder of under
/// half a bucket at the end joins the last bucket: alone it would hold too few requests.
pub fn recovery_time(arrivals: &[(f64, bool)], start: f64, end: f64) -> Option<f64> {
    let length = end - start;
    let mut n = (length / BUCKET_S).floor() as usize;
    if n == 0 || length - n as f64 * BUCKET_S >= BUCKET_S / 2.0 {
        n += 1;
    }
    let mut buckets = vec![(0u64, 0u64); n];
    for &(at, met) in arrivals {
        if at < start || at >= end {
            continue;
        }
        let k = (((at - start) / BUCKET_S).floor() as usize).min(n - 1);
        buckets[k].0 += 1;
        buckets[k].1 += u64::from(met);
    }
    let last_bad = buckets
        .iter()
        .rposition(|&(arrived, met)| arrived > 0 && (met as f64) < RECOVERED * arrived as f64);
    let Some(bad) = last_bad else {
        return Some(0.0);
    };
    buckets[bad + 1..]
        .iter()
        .position(|b| b.0 > 0)
        .map(|k| (bad + 1 + k) as f64 * BUCKET_S)
}

/// Recovery of `policy` after every rise of the servers' load curves; servers whose load rises
/// over the same stretch from and to the same multipliers are pooled (with the scenario's
/// `load`, all of them). None when no phase raises the load.
pub fn recovery(
    servers: &[BenchServer],
    duration: f64,
    records: &[RequestRecord],
    policy: usize,
) -> Option<Recovery> {
    let mut groups: Vec<(Rise, Vec<&str>)> = Vec::new();
    for b in servers {
        for r in rises(&b.phases, duration) {
            match groups.iter_mut().find(|(g, _)| *g == r) {
                Some((_, names)) => names.push(&b.name),
                None => groups.push((r, vec![&b.name])),
            }
        }
    }
    if groups.is_empty() {
        return None;
    }
    groups.sort_by(|a, b| a.0.start.total_cmp(&b.0.start));
    let phases: Vec<RiseRecovery> = groups
        .into_iter()
        .map(|(rise, names)| {
            let arrivals: Vec<(f64, bool)> = records
                .iter()
                .filter(|r| r.policy == policy && names.contains(&r.server.as_str()))
                .map(|r| (r.at, r.met_both()))
                .collect();
            RiseRecovery {
                start_s: rise.start,
                end_s: rise.end,
                from_multiplier: rise.from,
                to_multiplier: rise.to,
                servers: names.into_iter().map(String::from).collect(),
                recovery_s: recovery_time(&arrivals, rise.start, rise.end),
            }
        })
        .collect();
    let worst_s = phases
        .iter()
        .map(|p| p.recovery_s)
        .try_fold(0.0, |w: f64, r| r.map(|r| w.max(r)));
    Some(Recovery { worst_s, phases })
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
        let period = m.plan.scenario.period.0;
        let served = served(&m.records, pi);
        policies.push(PolicySummary {
            policy: policy.name().into(),
            total,
            servers,
            prediction: inferno.then(|| prediction(&m.cycles, &served, period)),
            model: inferno
                .then(|| model_accuracy(&m.cycles, &served, period))
                .flatten(),
            demand: inferno
                .then(|| demand::accuracy(&m.cycles, &demand::arrivals(&m.records, pi)))
                .flatten(),
            recovery: recovery(&m.plan.servers, m.plan.scenario.duration.0, &m.records, pi),
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

/// "over N cycle windows: TTFT median .., p95 .., bias ..; ITL median .., p95 .., bias ..".
fn errors(pr: &Prediction) -> String {
    format!(
        "over {} cycle windows: TTFT median {:.2}, p95 {:.2}, bias {:+.2}; ITL median {:.2}, p95 \
         {:.2}, bias {:+.2}",
        pr.ttft.windows.max(pr.itl.windows),
        pr.ttft.median,
        pr.ttft.p95,
        pr.ttft.bias,
        pr.itl.median,
        pr.itl.p95,
        pr.itl.bias,
    )
}

fn spread(e: &PredictionError) -> String {
    format!(
        "over {} cycle windows: median {:.2}, p95 {:.2}, bias {:+.2}",
        e.windows, e.median, e.p95, e.bias
    )
}

fn seconds(r: Option<f64>) -> String {
    r.map_or("never".into(), |r| format!("{r:.0} s"))
}

/// Rises beyond this many get no column of their own (the worst still covers them).
const RISE_COLUMNS: usize = 6;

/// The recovery of every policy, worst and per rise ("" when no phase raises the load).
fn recovery_table(s: &Summary) -> String {
    let Some(first) = s.policies.iter().find_map(|p| p.recovery.as_ref()) else {
        return String::new();
    };
    let servers = s.policies.first().map_or(0, |p| p.servers.len());
    let shown = if first.phases.len() <= RISE_COLUMNS {
        first.phases.len()
    } else {
        0
    };
    let mut out = format!(
        "\nRecovery after a rise in load: scenario seconds from its start until every {BUCKET_S} s of arrivals meets both targets for at least {:.0}% of its requests, to the end of the raised load (never: not by then).\n\n| policy | worst |",
        100.0 * RECOVERED
    );
    for r in &first.phases[..shown] {
        let whose = if r.servers.len() < servers {
            format!(" ({} of {servers} servers)", r.servers.len())
        } else {
            String::new()
        };
        out.push_str(&format!(
            " {:.0}-{:.0} s, {}x -> {}x{whose} |",
            r.start_s, r.end_s, r.from_multiplier, r.to_multiplier
        ));
    }
    out.push_str(&format!("\n|---|---|{}\n", "---|".repeat(shown)));
    for p in &s.policies {
        let Some(rec) = &p.recovery else { continue };
        out.push_str(&format!("| {} | {} |", p.policy, seconds(rec.worst_s)));
        for r in rec.phases.iter().take(shown) {
            out.push_str(&format!(" {} |", seconds(r.recovery_s)));
        }
        out.push('\n');
    }
    if shown < first.phases.len() {
        out.push_str(&format!(
            "\n({} rises; each policy's are in summary.json, `recovery.phases`.)\n",
            first.phases.len()
        ));
    }
    out
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
                "\n{}: |measured/predicted - 1| {} ({} cycles).\n",
                p.policy,
                errors(pr),
                p.cycles.unwrap_or(0)
            ));
        }
        if let Some(m) = &p.model {
            let shown = |pr: &Prediction| {
                if pr.ttft.windows.max(pr.itl.windows) == 0 {
                    "no window (tuning off, or too few cycles)".to_string()
                } else {
                    errors(pr)
                }
            };
            out.push_str(&format!(
                "\n{} model check (the model at the measured rate on the ready pods): |measured/predicted - 1| {}; after {TUNED_UPDATES} tuner updates {}; of those, with every pod serving (steady) {}.\n\n{} model at the realised load (the same tuned checks' parameters at the period's own arrivals per serving pod and token counts): |measured/predicted - 1| {}.\n",
                p.policy,
                errors(&m.all),
                shown(&m.tuned),
                shown(&m.tuned_steady),
                p.policy,
                shown(&m.tuned_realised),
            ));
            for (name, pr) in &m.tuned_realised_by_server {
                out.push_str(&format!("- {name}: {}\n", errors(pr)));
            }
        }
        if let Some(d) = &p.demand {
            out.push_str(&format!(
                "\n{} demand (the measured arrival rate against the requests that arrived in its window): |measured/arrived - 1| {}.\n",
                p.policy,
                spread(&d.all)
            ));
            for (name, e) in &d.by_server {
                out.push_str(&format!("- {name}: {}\n", spread(e)));
            }
        }
    }
    out.push_str(&recovery_table(s));
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
    use crate::duration::Seconds;
    use crate::scenario::Shape;
    use serde_json::json;

    fn request(policy: usize, server: &str, at: f64, ttft: f64, itl: f64) -> RequestRecord {
        RequestRecord {
            policy,
            server: server.into(),
            server_index: 0,
            id: 0,
            at,
            prompt: 100,
            output: 100,
            outcome: Outcome::Served,
            pod: "p".into(),
            wait_ms: 0.0,
            ttft_ms: ttft,
            itl_ms: itl,
            e2e_ms: ttft + 99.0 * itl,
            preemptions: 0,
            met_ttft: true,
            met_itl: true,
        }
    }

    /// Ten served requests of `server` spread over `[from, from + 30)`.
    fn ten(server: &str, from: f64, ttft: f64, itl: f64) -> Vec<RequestRecord> {
        (0..10)
            .map(|i| request(0, server, from + 3.0 * f64::from(i), ttft, itl))
            .collect()
    }

    fn cycle(at: f64, servers: Value) -> Cycle {
        Cycle {
            at,
            started: at,
            record: json!({ "servers": servers }),
        }
    }

    fn phase(seconds: f64, multiplier: Option<f64>) -> Phase {
        Phase {
            length: Seconds(seconds),
            multiplier,
            shape: Shape::Linear,
            in_tokens: None,
            out_tokens: None,
        }
    }

    #[test]
    fn the_model_check_leaves_the_gateways_wait_out_and_the_decision_keeps_it() {
        // Ten requests with a TTFT of 150 ms, 50 of them waiting at the gateway for a pod.
        let records: Vec<RequestRecord> = ten("a", 0.0, 150.0, 10.0)
            .into_iter()
            .map(|mut r| {
                r.wait_ms = 50.0;
                r
            })
            .collect();
        let cycles = [cycle(
            0.0,
            json!([{"name": "a", "predictedTtft": 100.0, "predictedItl": 10.0,
                "plan": {"modelCheck":
                    {"predictedTtft": 100.0, "predictedItl": 10.0, "tunerUpdates": 12,
                        "steady": true}}}]),
        )];
        let served = served(&records, 0);
        let user = prediction(&cycles, &served, 30.0);
        assert_eq!(user.ttft.median, 0.5, "the user waited 150 ms");
        let model = model_accuracy(&cycles, &served, 30.0).unwrap();
        assert_eq!(model.tuned_steady.ttft.median, 0.0, "the pod took 100 ms");
    }

    #[test]
    fn model_checks_are_compared_with_the_period_after_their_cycle() {
        // Server a: TTFT 100/200/300 ms and ITL 10/20/30 ms in the periods from 0, 30 and 60.
        let mut records = ten("a", 0.0, 100.0, 10.0);
        records.extend(ten("a", 30.0, 200.0, 20.0));
        records.extend(ten("a", 60.0, 300.0, 30.0));
        records.extend(ten("b", 60.0, 50.0, 5.0));
        // Neither another policy's requests nor unserved ones count.
        records.extend((0..20).map(|i| request(1, "a", 30.0 + f64::from(i), 9000.0, 900.0)));
        let mut rejected = request(0, "a", 31.0, 0.0, 0.0);
        rejected.outcome = Outcome::Rejected;
        records.push(rejected);
        let cycles = [
            // The decision's prediction matches the period before the cycle, the model check
            // the one after it.
            cycle(
                30.0,
                json!([{"name": "a", "predictedTtft": 100.0, "predictedItl": 10.0,
                    "plan": {"modelCheck":
                        {"predictedTtft": 200.0, "predictedItl": 20.0, "tunerUpdates": 3}}}]),
            ),
            cycle(
                60.0,
                json!([
                    {"name": "a", "predictedTtft": 300.0, "predictedItl": 30.0,
                        "plan": {"modelCheck":
                            {"predictedTtft": 240.0, "predictedItl": 60.0, "tunerUpdates": 12,
                            "steady": false}}},
                    // Nothing to check: in the decision's comparison only.
                    {"name": "b", "predictedTtft": 50.0, "predictedItl": 5.0, "plan": {}}
                ]),
            ),
        ];
        let served = served(&records, 0);

        let decision = prediction(&cycles, &served, 30.0);
        assert_eq!(decision.ttft.windows, 3);
        assert_eq!((decision.ttft.median, decision.ttft.p95), (0.0, 1.0));
        assert_eq!((decision.itl.median, decision.itl.p95), (0.0, 1.0));

        let model = model_accuracy(&cycles, &served, 30.0).expect("cycles carry model checks");
        let all = &model.all;
        assert_eq!((all.ttft.windows, all.itl.windows), (2, 2));
        // a at 30: exact; a at 60: TTFT 300 measured / 240 predicted, ITL 30 / 60.
        assert_eq!((all.ttft.median, all.ttft.p95), (0.0, 0.25));
        assert_eq!((all.itl.median, all.itl.p95), (0.0, 0.5));
        // Only the check made after 12 tuner updates.
        let tuned = &model.tuned;
        assert_eq!((tuned.ttft.windows, tuned.itl.windows), (1, 1));
        assert_eq!((tuned.ttft.median, tuned.itl.median), (0.25, 0.5));
        // ... made while pods were changing: not in the steady figure.
        assert_eq!(model.tuned_steady.ttft.windows, 0);
        let mut steady = cycles.clone();
        steady[1].record["servers"][0]["plan"]["modelCheck"]["steady"] = json!(true);
        let model = model_accuracy(&steady, &served, 30.0).unwrap();
        assert_eq!(model.tuned_steady, model.tuned);

        // The model at the realised load needs the check's model: none here.
        assert_eq!(model.tuned_realised.ttft.windows, 0);
        assert!(model.tuned_realised_by_server.is_empty());
        // With it, per server: a's check at 60 counts, b has none.
        let mut with_model = steady.clone();
        with_model[1].record["servers"][0]["plan"]["modelCheck"]["params"] =
            json!({"alpha": 20.0, "beta": 0.1, "gamma": 0.002});
        with_model[1].record["servers"][0]["plan"]["modelCheck"]["maxBatch"] = json!(32);
        let model = model_accuracy(&with_model, &served, 30.0).unwrap();
        assert_eq!(model.tuned_realised.itl.windows, 1);
        assert_eq!(
            model.tuned_realised_by_server.keys().collect::<Vec<_>>(),
            ["a"]
        );
        assert_eq!(model.tuned_realised_by_server["a"], model.tuned_realised);
        assert_ne!(model.tuned_realised, model.tuned, "another prediction");

        // A controller that reports no model check gets no model figure.
        let old = [cycle(
            30.0,
            json!([{"name": "a", "predictedTtft": 200.0, "predictedItl": 20.0, "plan": {}}]),
        )];
        assert_eq!(model_accuracy(&old, &served, 30.0), None);
    }

    #[test]
    fn rises_run_over_the_phases_that_hold_them() {
        // The ramp: up over 5 minutes, held 10, down.
        let ramp = [
            phase(600.0, Some(1.0)),
            phase(300.0, Some(5.0)),
            phase(600.0, None),
            phase(300.0, Some(1.0)),
            phase(600.0, None),
        ];
        let r = rises(&ramp, 2400.0);
        assert_eq!(
            r,
            [Rise {
                start: 600.0,
                end: 1500.0,
                from: 1.0,
                to: 5.0
            }]
        );
        // A day: a fall first, two rises, an explicit multiplier equal to the last one is a
        // hold, and the last phase's load holds to the end of the run (then cut at it).
        let day = [
            phase(360.0, Some(0.3)),
            phase(600.0, Some(1.5)),
            phase(360.0, Some(1.0)),
            phase(600.0, Some(2.0)),
            phase(60.0, Some(2.0)),
        ];
        let r = rises(&day, 2500.0);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!(
            (r[0].start, r[0].end, r[0].from, r[0].to),
            (360.0, 960.0, 0.3, 1.5)
        );
        assert_eq!(
            (r[1].start, r[1].end, r[1].from, r[1].to),
            (1320.0, 2500.0, 1.0, 2.0)
        );
        assert_eq!(rises(&day, 1000.0).len(), 1, "a rise after the run's end");
    }

    /// `n` arrivals evenly in `[from, from + 30)`, the first `met` of them within both targets.
    fn bucket(from: f64, n: u32, met: u32) -> Vec<(f64, bool)> {
        (0..n)
            .map(|i| (from + 30.0 * f64::from(i) / f64::from(n), i < met))
            .collect()
    }

    #[test]
    fn recovery_is_the_start_of_the_good_buckets_that_last() {
        // Window [100, 250): buckets bad, good, bad (90%), empty, good; misses outside it.
        let mut a = bucket(70.0, 10, 0);
        a.extend(bucket(100.0, 10, 5));
        a.extend(bucket(130.0, 10, 10));
        a.extend(bucket(160.0, 20, 18));
        a.extend(bucket(220.0, 20, 20));
        a.extend(bucket(250.0, 10, 0));
        assert_eq!(recovery_time(&a, 100.0, 250.0), Some(120.0));
        // The last bucket below: never.
        a.extend(bucket(220.0, 5, 0));
        assert_eq!(recovery_time(&a, 100.0, 250.0), None);
        // Nothing below from the start.
        assert_eq!(recovery_time(&bucket(0.0, 20, 20), 0.0, 30.0), Some(0.0));
        // A 10-s remainder joins the last bucket: one miss among 40 requests is 97.5%, where
        // alone it would be 0%.
        let mut b = bucket(0.0, 20, 20);
        b.extend(bucket(30.0, 39, 39));
        b.push((65.0, false));
        assert_eq!(recovery_time(&b, 0.0, 70.0), Some(0.0));
        // A 20-s remainder is a bucket of its own.
        assert_eq!(recovery_time(&b, 0.0, 80.0), None);
    }

    #[test]
    fn recovery_pools_the_servers_of_a_rise_and_reports_the_worst() {
        let up = vec![phase(60.0, Some(1.0)), phase(60.0, Some(2.0))];
        let server = |name: &str, phases: Vec<Phase>| {
            let mut s = crate::plan::tests::test_server(60.0, phases);
            s.name = name.into();
            s
        };
        let servers = [
            server("a", up.clone()),
            server("b", up),
            // A rise that the fall after it ends.
            server("c", vec![phase(90.0, Some(3.0)), phase(30.0, Some(1.0))]),
        ];
        let at = |policy: usize, server: &str, t: f64, met: bool| {
            let mut r = request(policy, server, t, 100.0, 10.0);
            r.met_ttft = met;
            r
        };
        let mut records = Vec::new();
        for i in 0..20 {
            let t = 60.0 + 3.0 * f64::from(i);
            // a misses in the first bucket of its rise, b in none: pooled, 50% then 100%.
            records.push(at(0, "a", t, t >= 90.0));
            records.push(at(0, "b", t, true));
            // c's rise, [0, 90): misses until 60.
            records.push(at(0, "c", 4.5 * f64::from(i), 4.5 * f64::from(i) >= 60.0));
            // Another policy that misses everything.
            records.push(at(1, "a", t, false));
        }
        let r = recovery(&servers, 120.0, &records, 0).expect("two rises");
        assert_eq!(r.phases.len(), 2);
        let (c, ab) = (&r.phases[0], &r.phases[1]);
        assert_eq!(
            (c.servers.clone(), c.start_s, c.end_s),
            (vec!["c".to_string()], 0.0, 90.0)
        );
        assert_eq!(c.recovery_s, Some(60.0));
        assert_eq!(ab.servers, ["a", "b"]);
        assert_eq!((ab.start_s, ab.end_s, ab.to_multiplier), (60.0, 120.0, 2.0));
        assert_eq!(ab.recovery_s, Some(30.0));
        assert_eq!(r.worst_s, Some(60.0));
        let other = recovery(&servers, 120.0, &records, 1).expect("the same rises");
        assert_eq!(other.phases[1].recovery_s, None);
        assert_eq!(other.worst_s, None, "one rise never recovered");
        // No rise, no figure.
        assert_eq!(recovery(&servers[..1], 60.0, &records, 0), None);
    }

    #[test]
    fn the_report_shows_the_model_check_and_the_recovery() {
        let err = |median: f64, windows: u64| PredictionError {
            median,
            p95: 2.0 * median,
            bias: -median / 2.0,
            windows,
        };
        let pred = |m: f64, w: u64| Prediction {
            ttft: err(m, w),
            itl: err(m / 2.0, w),
        };
        let rise = |recovery_s| RiseRecovery {
            start_s: 600.0,
            end_s: 1500.0,
            from_multiplier: 1.0,
            to_multiplier: 5.0,
            servers: vec!["s".into()],
            recovery_s,
        };
        let policy = |name: &str, model: Option<ModelAccuracy>, recovery_s| PolicySummary {
            policy: name.into(),
            total: Score::default(),
            servers: BTreeMap::from([("s".to_string(), Score::default())]),
            prediction: model.is_some().then(|| pred(0.5, 40)),
            demand: model.is_some().then(|| DemandAccuracy {
                all: PredictionError {
                    median: 0.02,
                    p95: 0.16,
                    bias: -0.01,
                    windows: 237,
                },
                by_server: BTreeMap::new(),
            }),
            model,
            recovery: Some(Recovery {
                worst_s: recovery_s,
                phases: vec![rise(recovery_s)],
            }),
            cycles: None,
        };
        let summary = Summary {
            scenario: "x".into(),
            file: "x.yaml".into(),
            duration_s: 2400.0,
            time_scale: 6.0,
            seed: 1,
            policies: vec![
                policy(
                    "inferno",
                    Some(ModelAccuracy {
                        all: pred(0.2, 30),
                        tuned: pred(0.1, 12),
                        tuned_steady: pred(0.05, 8),
                        tuned_realised: pred(0.04, 11),
                        tuned_realised_by_server: BTreeMap::from([("a".into(), pred(0.04, 11))]),
                    }),
                    Some(90.0),
                ),
                policy("hpa", None, None),
            ],
            max_dispatch_lag_ms: 0.0,
            warnings: vec![],
        };
        let md = markdown(&summary);
        assert!(
            md.contains("inferno model check (the model at the measured rate on the ready pods): |measured/predicted - 1| over 30 cycle windows: TTFT median 0.20, p95 0.40, bias -0.10; ITL median 0.10, p95 0.20, bias -0.05; after 10 tuner updates over 12 cycle windows: TTFT median 0.10"),
            "{md}"
        );
        assert!(
            md.contains("inferno model at the realised load (the same tuned checks' parameters at the period's own arrivals per serving pod and token counts): |measured/predicted - 1| over 11 cycle windows: TTFT median 0.04"),
            "{md}"
        );
        assert!(
            md.contains("\n- a: over 11 cycle windows: TTFT median 0.04"),
            "{md}"
        );
        assert!(
            md.contains("| policy | worst | 600-1500 s, 1x -> 5x |\n|---|---|---|\n"),
            "{md}"
        );
        assert!(
            md.contains("| inferno | 90 s | 90 s |\n| hpa | never | never |\n"),
            "{md}"
        );
        assert_eq!(md.matches("model check").count(), 1, "{md}");
        assert!(
            md.contains("inferno demand (the measured arrival rate against the requests that arrived in its window): |measured/arrived - 1| over 237 cycle windows: median 0.02, p95 0.16, bias -0.01.\n"),
            "{md}"
        );
        assert_eq!(md.matches(" demand (").count(), 1, "{md}");
        let json = serde_json::to_value(&summary).expect("serialises");
        assert_eq!(json["policies"][0]["model"]["tuned"]["ttft"]["windows"], 12);
        assert_eq!(json["policies"][0]["prediction"]["itl"]["bias"], -0.125);
        assert_eq!(json["policies"][0]["recovery"]["worstS"], 90.0);
        assert_eq!(
            json["policies"][1]["recovery"]["phases"][0]["recoveryS"],
            Value::Null
        );
        assert!(json["policies"][1].get("model").is_none());
    }

    #[test]
    fn reversals_count_direction_changes() {
        assert_eq!(reversals(&[1, 2, 3, 3, 4]), 0);
        assert_eq!(reversals(&[1, 3, 2, 4, 4, 1]), 3);
        assert_eq!(reversals(&[]), 0);
    }

    /// Two checks with the same absolute errors: one model reads high, the other low.
    #[test]
    fn the_error_keeps_its_sign_in_the_bias() {
        let high = PredictionError::of(vec![0.3, -0.1, 0.2]);
        let low = PredictionError::of(vec![-0.3, 0.1, -0.2]);
        assert_eq!((high.median, high.p95, high.windows), (0.2, 0.3, 3));
        assert_eq!((low.median, low.p95, low.windows), (0.2, 0.3, 3));
        assert_eq!((high.bias, low.bias), (0.2, -0.2));
        assert_eq!(PredictionError::of(Vec::new()).windows, 0);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&mut v, 0.5), 2.0);
        assert_eq!(quantile(&mut v, 0.95), 4.0);
        assert_eq!(quantile(&mut [], 0.5), 0.0);
    }
}
