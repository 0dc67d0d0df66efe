//! From labels, pods and per-pod Prometheus values to one server's observation, with the source
//! of every load field (Prometheus value -> load label -> 0).
//!
//! The server's window is chosen first ([`Windows::choose`]: the shortest with enough completed
//! requests); every windowed value then comes from that window. The counts of a window (requests,
//! backlog, tokens, latencies) are those of every pod of the server with series in it, ready or
//! not: a pod deleted or terminating during the window served its part of the window's load,
//! and leaving it out read a server at 90 requests/min as 6 to 19 while its pods were replaced. Every sample is checked against
//! its range ([`Quantity::check`]): a NaN, infinite, negative or too large sample is dropped for
//! its pod with a problem naming the series, the window, the pod and the value, so it never
//! enters an average. A load that is neither measured nor given by a usable label, while a load
//! label is set to something unusable, makes the server's load unusable
//! ([`Observation::unusable`]): it is left out of the decision rather than sized for a load of 0
//! or 1e308.

use crate::discover::PodTimes;
use crate::promql::Quantity;
use crate::spread::{measure, Buckets, PodSeries, Spread};
use crate::window::{demand, Windows};
use inferno_api::limits::{in_range, show, MAX_RATE_RPM, MAX_TOKENS};
use inferno_api::{AllocationData, ServerLoadSpec, ServerSpec};
use inferno_core::contract::{LoadField, ServerLabels};
use inferno_core::{Demand, PodLoad, Source};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Per-pod values of one cycle, keyed by pod name.
pub type PodValues = HashMap<String, BTreeMap<Quantity, f64>>;

/// Per-pod bucket series of one window ([`Quantity::GenerationBuckets`]), keyed by pod name.
pub type PodBuckets = HashMap<String, Buckets>;

/// The raw samples of one collection (any pods; unchecked).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    /// Per window of the ladder (in [`Windows::seconds`] order): the quantities of
    /// [`Quantity::PER_WINDOW`] by pod.
    pub windows: Vec<PodValues>,
    /// The quantities of [`Quantity::ONCE`] by pod.
    pub once: PodValues,
    /// Per window of the ladder: the pods with a series at the window's start
    /// ([`Quantity::Covered`]).
    pub covered: Vec<BTreeSet<String>>,
    /// Per window of the ladder: the output-length buckets by pod
    /// ([`Quantity::GenerationBuckets`]; unchecked, checked by [`crate::spread`]).
    pub buckets: Vec<PodBuckets>,
}

/// One server as observed this cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// What the optimizer needs: labels, replicas, load, measured latencies.
    pub spec: ServerSpec,
    /// Ready pods counted.
    pub ready_replicas: u32,
    /// Ready pods that reported to Prometheus (completed requests in the window).
    pub reporting_pods: Vec<String>,
    /// Every pod whose counts entered the measured rates, tokens and latencies: the reporting
    /// pods and the server's pods that are no longer ready (terminating, deleted) but have
    /// series in the window.
    pub counted_pods: Vec<String>,
    /// Source of each field ([`Source`], the domain's), by field name.
    pub sources: Vec<(&'static str, Source)>,
    /// Mean requests running per reporting pod.
    pub running: f64,
    /// Mean requests waiting per reporting pod.
    pub waiting: f64,
    /// Mean KV-cache usage per reporting pod.
    pub kv_cache_usage: f64,
    /// The window used (index into [`Windows::seconds`]).
    pub window: usize,
    /// What the measured arrival rate rests on; default when the rate is not the measured one.
    pub demand: Demand,
    /// Requests running plus waiting now on each ready pod that reported them (bare pod names).
    pub pod_loads: Vec<PodLoad>,
    /// The samples of the server's pods (ready or not) that passed their checks, by pod: the
    /// chosen window's, those queried once (ready pods only), and the derived rates
    /// ([`Quantity::Throughput`], [`Quantity::Arrivals`]).
    pub values: PodValues,
    /// Samples dropped and measurements not used, each naming the series, the pod and the value.
    pub problems: Vec<String>,
    /// How many samples were dropped as invalid.
    pub samples_dropped: usize,
    /// Why the load cannot be used, when it cannot: the server is then left out of the
    /// decision (reported unplaced, its Deployment held).
    pub unusable: Option<String>,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The completed requests of the server's `pods` (ready or not) in each window, for the window
/// choice: summed over the pods with a valid count in it; None for a window that no pod of the
/// server reaches back to the start of (the server is younger, or Prometheus is), or that
/// holds an invalid count, beyond the shortest (always used); None when no pod has a count.
/// Bad samples are named later, in the window chosen.
fn completed(pods: &[String], samples: &Samples) -> Vec<Option<f64>> {
    let covered = |i: usize| {
        i == 0
            || samples
                .covered
                .get(i)
                .is_some_and(|c| pods.iter().any(|p| c.contains(p)))
    };
    (0..samples.windows.len())
        .map(|i| {
            if !covered(i) {
                return None;
            }
            let (mut sum, mut any) = (0.0, false);
            for p in pods {
                let Some(&v) = samples.windows[i]
                    .get(p)
                    .and_then(|v| v.get(&Quantity::Requests))
                else {
                    continue;
                };
                if Quantity::Requests.check(v).is_ok() {
                    sum += v;
                    any = true;
                } else if i > 0 {
                    return None;
                }
            }
            any.then_some(sum)
        })
        .collect()
}

/// The arrivals (completions plus the backlog's change, at least 0) of the server's `pods` in
/// each window, for the window choice's rise test, from their completions `completed` (of
/// [`completed`]); None where that has none.
fn arrived(pods: &[String], samples: &Samples, completed: &[Option<f64>]) -> Vec<Option<f64>> {
    completed
        .iter()
        .enumerate()
        .map(|(i, done)| {
            let done = (*done)?;
            let backlog: f64 = pods
                .iter()
                .filter_map(|p| samples.windows[i].get(p)?.get(&Quantity::Backlog))
                .filter(|v| v.is_finite())
                .sum();
            Some((done + backlog).max(0.0))
        })
        .collect()
}

/// The samples of `pods` in window `chosen` (with those queried once) that pass their checks;
/// a problem for each one dropped (naming `window`), and the quantities that lost a sample.
fn usable(
    pods: &[String],
    samples: &Samples,
    chosen: usize,
    window: &str,
    problems: &mut Vec<String>,
) -> (PodValues, BTreeSet<Quantity>) {
    let mut kept = PodValues::new();
    let mut dropped = BTreeSet::new();
    for pod in pods {
        let windowed = samples.windows.get(chosen).and_then(|w| w.get(pod));
        let once = samples.once.get(pod);
        if windowed.is_none() && once.is_none() {
            continue;
        }
        let mut ok = BTreeMap::new();
        for (&q, &v) in windowed.into_iter().chain(once).flatten() {
            if q.is_latency() && v.is_nan() {
                // 0/0: no request finished in the window. Idle, not broken.
                continue;
            }
            match q.check(v) {
                Ok(()) => {
                    ok.insert(q, v);
                }
                Err(why) => {
                    let over = if q.per_window() {
                        format!(" over {window}")
                    } else {
                        String::new()
                    };
                    problems.push(format!(
                        "pod {pod}: {}{over}: {why}; sample dropped",
                        q.series()
                    ));
                    dropped.insert(q);
                }
            }
        }
        // The token sums are only bounded per request.
        for (sum, count) in [
            (Quantity::PromptSum, Quantity::PromptCount),
            (Quantity::GenerationSum, Quantity::GenerationCount),
        ] {
            let (Some(&tokens), Some(&requests)) = (ok.get(&sum), ok.get(&count)) else {
                continue;
            };
            let per_request = tokens / requests;
            if requests > 0.0 && !in_range(per_request, MAX_TOKENS) {
                problems.push(format!(
                    "pod {pod}: {} / {} over {window} = {} / {}: tokens per request must be a \
                     finite number in [0, {}], got {}; sample dropped",
                    sum.series(),
                    count.series(),
                    show(tokens),
                    show(requests),
                    show(MAX_TOKENS),
                    show(per_request)
                ));
                ok.remove(&sum);
                dropped.insert(sum);
            }
        }
        kept.insert(pod.clone(), ok);
    }
    (kept, dropped)
}

/// The counts of a ready pod that was Ready before the window began but has no sample at its
/// start (Prometheus first scraped it within the window) cover its whole time Ready
/// (`ready_for`, wall seconds), not the window's `wall` seconds: with no sample at the start
/// its count is its last sample alone ([`crate::promql::query`]), from 0 at Ready. Those
/// requests from before the window were in no earlier window (the pod had no series then),
/// so counting them here moves them one window late: on the ramp benchmark mixtral's arrivals
/// read 100-190 req/min high in the cycle after each scale-up (and as low in the cycle before,
/// while the new pods were not yet scraped; a scrape comes up to an interval plus service
/// discovery after Ready, 5 s and more). What it had at its first sample in the window
/// ([`Quantity::FirstCompleted`], [`Quantity::FirstArrived`], [`Quantity::FirstAge`]) came
/// from Ready to that sample, and only the part after the window's start is the window's:
/// taken as if it came evenly over that time. Neither whole nor none is right. Counted at the
/// window's share of its whole time Ready (what is done when Prometheus gives no first
/// sample), eight such pods read mixtral's arrivals 25% high on the ramp benchmark (588
/// req/min where 469 arrived) in the cycle after its top, and the rise planned on it ordered
/// 53 pods: the gateway sends a new pod the next requests first, and each had been sent 14
/// within seconds of Ready, before the window. Counted from their first samples alone, the
/// same data read about right; but with 20 pods new under a queue, whose first samples came
/// later into the window, that read 257 where 385 arrived. docs/collector.md ("Pods scraped
/// late") has each rule against the arrivals, read back from two runs' Prometheus data.
fn first_scraped_late(
    values: &mut PodValues,
    ready_pods: &[String],
    times: &BTreeMap<String, PodTimes>,
    covered: Option<&BTreeSet<String>>,
    wall: f64,
) {
    let Some(covered) = covered else {
        return;
    };
    for key in ready_pods {
        let pod = key.rsplit('/').next().unwrap_or(key);
        let Some(ready) = times.get(pod).and_then(|t| t.ready_for) else {
            continue;
        };
        if covered.contains(key) || ready <= wall {
            continue;
        }
        let Some(v) = values.get_mut(key) else {
            continue;
        };
        let first = (
            v.get(&Quantity::FirstCompleted).copied(),
            v.get(&Quantity::FirstArrived).copied(),
            v.get(&Quantity::FirstAge).copied(),
        );
        if let (Some(completed), Some(arrived), Some(age)) = first {
            // Its counts from 0 at Ready (its last samples alone) less what it had at its
            // first sample, plus the part of that which came after the window began, as if
            // it came evenly from Ready to the first sample.
            let after = if ready > age {
                ((wall - age) / (ready - age)).clamp(0.0, 1.0)
            } else {
                1.0
            };
            let before = 1.0 - after;
            if let Some(x) = v.get_mut(&Quantity::Requests) {
                *x = (*x - completed * before).max(0.0);
            }
            if let Some(x) = v.get_mut(&Quantity::Backlog) {
                *x -= (arrived - completed).max(0.0) * before;
            }
            continue;
        }
        let share = wall / ready;
        for q in [Quantity::Requests, Quantity::Backlog] {
            if let Some(x) = v.get_mut(&q) {
                *x *= share;
            }
        }
    }
}

/// Adds each pod's rates over a window of `seconds` (servers' clock): completions
/// ([`Quantity::Throughput`]) and arrivals ([`Quantity::Arrivals`], completions plus the
/// backlog's change, at least 0); a problem for a rate out of range, which is then not added.
fn rates(
    values: &mut PodValues,
    pods: &[String],
    seconds: f64,
    problems: &mut Vec<String>,
    dropped: &mut BTreeSet<Quantity>,
) {
    let per_minute = 60.0 / seconds;
    for pod in pods {
        let Some(v) = values.get_mut(pod) else {
            continue;
        };
        let Some(&requests) = v.get(&Quantity::Requests) else {
            continue;
        };
        let backlog = v.get(&Quantity::Backlog).copied().unwrap_or(0.0);
        for (q, rate) in [
            (Quantity::Throughput, requests * per_minute),
            (
                Quantity::Arrivals,
                (requests + backlog).max(0.0) * per_minute,
            ),
        ] {
            match q.check(rate) {
                Ok(()) => {
                    v.insert(q, rate);
                }
                Err(why) => {
                    problems.push(format!("pod {pod}: {}: {why}; not used", q.series()));
                    dropped.insert(q);
                }
            }
        }
    }
}

/// Throughput-weighted mean of a latency over the pods that have both (plain mean when every
/// weight is 0).
fn weighted(
    values: &PodValues,
    pods: &[String],
    pick: impl Fn(&BTreeMap<Quantity, f64>) -> Option<f64>,
) -> Option<f64> {
    let pairs: Vec<(f64, f64)> = pods
        .iter()
        .filter_map(|p| {
            let v = values.get(p)?;
            Some((
                pick(v)?,
                v.get(&Quantity::Throughput).copied().unwrap_or(0.0),
            ))
        })
        .collect();
    let total: f64 = pairs.iter().map(|(_, w)| w).sum();
    if total > 0.0 {
        Some(pairs.iter().map(|(x, w)| x * w).sum::<f64>() / total)
    } else {
        mean(pairs.iter().map(|(x, _)| *x))
    }
}

/// Tokens per request over the counted pods from the per-request histogram: Σ sum / Σ count
/// (None when nothing was counted, or out of range, with a problem). Sum and count belong to
/// the same requests, so the ratio is exact whatever the window.
fn per_request(
    values: &PodValues,
    pods: &[String],
    sum: Quantity,
    count: Quantity,
    problems: &mut Vec<String>,
) -> Option<f64> {
    let (mut t, mut r) = (0.0, 0.0);
    for p in pods {
        if let Some(v) = values.get(p) {
            if let (Some(tokens), Some(requests)) = (v.get(&sum), v.get(&count)) {
                t += tokens;
                r += requests;
            }
        }
    }
    if r <= 0.0 {
        return None;
    }
    let v = t / r;
    if !in_range(v, MAX_TOKENS) {
        problems.push(format!(
            "{} / {} over the server's pods = {} / {}: tokens per request must be a finite \
             number in [0, {}], got {}; not used",
            sum.series(),
            count.series(),
            show(t),
            show(r),
            show(MAX_TOKENS),
            show(v)
        ));
        return None;
    }
    Some(v)
}

/// A sum over `n` pods of a rate each in range, checked as a whole (many in range together
/// may not be); None with a problem when out of range.
fn summed(q: Quantity, rate: f64, n: usize, problems: &mut Vec<String>) -> Option<f64> {
    if in_range(rate, MAX_RATE_RPM) {
        return Some(rate);
    }
    problems.push(format!(
        "{} summed over {n} pods: must be a finite number in [0, {}], got {}; not used",
        q.series(),
        show(MAX_RATE_RPM),
        show(rate)
    ));
    None
}

/// The coefficient of variation of the output tokens per request and its source, fitted
/// ([`crate::spread`]) to `buckets`, the output-length buckets of the server's window `window`,
/// of the same pods and requests as the measured mean `mean` (None when the mean is not
/// measured): the counted `pods` whose generation sum and count are in `values`. Nothing to fit (no mean, no bucket series, fewer
/// than [`crate::spread::MIN_REQUESTS`] requests): 0, `default`, as for an idle latency.
/// Buckets that are no histogram: 0, `unknown`, and a problem naming the pod and `window`.
fn out_tokens_cv(
    mean: Option<f64>,
    pods: &[String],
    values: &PodValues,
    buckets: Option<&PodBuckets>,
    window: &str,
    problems: &mut Vec<String>,
) -> (f64, Source) {
    let Some(mean) = mean else {
        return (0.0, Source::Default);
    };
    let pods: Vec<PodSeries<'_>> = pods
        .iter()
        .filter(|p| {
            values.get(*p).is_some_and(|v| {
                v.contains_key(&Quantity::GenerationSum)
                    && v.contains_key(&Quantity::GenerationCount)
            })
        })
        .map(|p| {
            let b = buckets.and_then(|b| b.get(p)).map(Vec::as_slice);
            (p.as_str(), b)
        })
        .collect();
    match measure(mean, &pods) {
        Spread::Measured(cv) => (cv, Source::Prometheus),
        Spread::Nothing => (0.0, Source::Default),
        Spread::Broken { pod, why } => {
            problems.push(format!(
                "pod {pod}: {} over {window}: {why}; outTokensCv not measured (0)",
                Quantity::GenerationBuckets.series()
            ));
            (0.0, Source::Unknown)
        }
    }
}

/// Assembles the observation of one server from its labels, its `spec.replicas`, its ready
/// pods, when each of them started serving (`times`, by bare pod name),
/// its other pods with series in the windows (terminating, deleted: `gone_pods`) and the raw
/// samples of this cycle (any pods; unchecked), measured over `windows`.
pub fn assemble(
    labels: &ServerLabels,
    desired_replicas: i64,
    ready_pods: &[String],
    times: &BTreeMap<String, PodTimes>,
    gone_pods: &[String],
    samples: &Samples,
    windows: &Windows,
) -> Observation {
    let mut problems = Vec::new();
    let mut unusable = Vec::new();
    let all: Vec<String> = ready_pods
        .iter()
        .chain(gone_pods)
        .cloned()
        .collect::<BTreeSet<String>>()
        .into_iter()
        .collect();
    let done = completed(&all, samples);
    let window = windows.choose_rising(&done, &arrived(&all, samples, &done));
    let wall = windows.seconds().get(window).copied().unwrap_or(0);
    let window_name = format!("{wall}s");
    let seconds = windows.server_seconds(window);
    let (mut values, mut dropped) = usable(&all, samples, window, &window_name, &mut problems);
    first_scraped_late(
        &mut values,
        ready_pods,
        times,
        samples.covered.get(window),
        wall as f64,
    );
    rates(&mut values, &all, seconds, &mut problems, &mut dropped);
    let samples_dropped = problems.len();
    let reports = |p: &&String| {
        values
            .get(*p)
            .is_some_and(|v| v.contains_key(&Quantity::Throughput))
    };
    // The rates, tokens and latencies are those of every pod that served requests in the
    // window; what pods hold and use now, of the ready ones.
    let counted: Vec<String> = all.iter().filter(reports).cloned().collect();
    let reporting: Vec<String> = ready_pods.iter().filter(reports).cloned().collect();
    let total = |q: Quantity| -> f64 { counted.iter().filter_map(|p| values[p].get(&q)).sum() };
    let throughput = (!counted.is_empty())
        .then(|| {
            summed(
                Quantity::Throughput,
                total(Quantity::Throughput),
                counted.len(),
                &mut problems,
            )
        })
        .flatten();
    // Arrivals = completions + the change of what is running and waiting. Completions alone
    // stop at the servers' throughput when they are overloaded (the queue grows instead) and
    // lag a rising load; the backlog's change counts both. Clamped per server only: one pod's
    // queue draining into another is not negative demand.
    let arrived = (total(Quantity::Requests) + total(Quantity::Backlog)).max(0.0);
    let measured = (!counted.is_empty())
        .then(|| {
            summed(
                Quantity::Arrivals,
                arrived * 60.0 / seconds,
                counted.len(),
                &mut problems,
            )
        })
        .flatten();
    let mut sources = Vec::new();

    // Arrival: when some ready pods have not reported yet (just started), the pods that did
    // carried the load of the window, so a positive partial sum wins over the load label. The
    // reference (control-loop spec 2.3 point 7) preferred the label; but the label is the
    // nominal load a person wrote, and a loop that scales up starts pods every cycle: it read
    // 90 req/min through a 450 req/min hold and sized for it. A server without ready pods
    // measured only by pods that are gone is partial too.
    let label_rpm = labels.rpm.filter(|v| *v > 0.0);
    let all_reporting = !ready_pods.is_empty() && reporting.len() == ready_pods.len();
    let (arrival, source) = match (measured, label_rpm) {
        // No arrival over the window is also what a Prometheus that scraped nothing new shows
        // (a stalled exporter, a restarted scrape): with a load label saying otherwise, the
        // label wins, so a measurement artefact never reads as "no load" (which would scale
        // the server to zero).
        (Some(m), label) if all_reporting && !(m == 0.0 && label.is_some()) => {
            (m, Source::Prometheus)
        }
        (Some(m), _) if m > 0.0 => (m, Source::PrometheusPartial),
        (_, Some(rpm)) => (rpm, Source::Label),
        (Some(m), None) => (m, Source::PrometheusPartial),
        (None, None) => match (labels.rpm, labels.unusable(LoadField::Rpm)) {
            (Some(rpm), _) => (rpm, Source::Label),
            (None, Some(why)) => {
                unusable.push(format!(
                    "arrival rate unknown: {why}, and Prometheus measured no rate"
                ));
                (0.0, Source::Unknown)
            }
            (None, None) => (0.0, Source::Default),
        },
    };
    sources.push(("arrivalRate", source));
    // Throughput: the completions of the counted pods, or nothing. No label stands in for it,
    // so when nothing was measured its 0 is "not known", and the source says so: a reader of
    // the load (the controller's cycle record) must not take it for "nothing completed".
    let throughput_source = match throughput {
        Some(_) if all_reporting => Source::Prometheus,
        Some(_) => Source::PrometheusPartial,
        None if !counted.is_empty()
            || dropped.contains(&Quantity::Requests)
            || dropped.contains(&Quantity::Throughput) =>
        {
            Source::Unknown
        }
        None => Source::Default,
    };
    sources.push(("throughput", throughput_source));
    let demand = match source {
        Source::Prometheus | Source::PrometheusPartial => demand(arrived, seconds),
        _ => Demand::default(),
    };

    let mut tokens = |field: &'static str, sum: Quantity, count: Quantity, load: LoadField| {
        let label = match load {
            LoadField::InTokens => labels.in_tokens,
            _ => labels.out_tokens,
        };
        match (
            per_request(&values, &counted, sum, count, &mut problems),
            label,
        ) {
            (Some(v), _) => {
                sources.push((field, Source::Prometheus));
                v
            }
            (None, Some(v)) => {
                sources.push((field, Source::Label));
                v
            }
            (None, None) => {
                if let Some(why) = labels.unusable(load) {
                    unusable.push(format!(
                        "{field} unknown: {why}, and Prometheus measured none"
                    ));
                    sources.push((field, Source::Unknown));
                } else {
                    sources.push((field, Source::Default));
                }
                0.0
            }
        }
    };
    let in_tokens = tokens(
        "avgInTokens",
        Quantity::PromptSum,
        Quantity::PromptCount,
        LoadField::InTokens,
    );
    let out_tokens = tokens(
        "avgOutTokens",
        Quantity::GenerationSum,
        Quantity::GenerationCount,
        LoadField::OutTokens,
    );
    // The spread only around a measured mean: a label's mean is not of the window's requests.
    let out_measured = sources.contains(&("avgOutTokens", Source::Prometheus));
    let (out_cv, cv_source) = out_tokens_cv(
        out_measured.then_some(out_tokens),
        &counted,
        &values,
        samples.buckets.get(window),
        &window_name,
        &mut problems,
    );
    sources.push(("outTokensCv", cv_source));

    let itl = weighted(&values, &counted, |v| {
        v.get(&Quantity::Itl)
            .or_else(|| v.get(&Quantity::ItlLegacy))
            .copied()
    });
    let ttft = weighted(&values, &counted, |v| v.get(&Quantity::Ttft).copied());
    // Not measured: 0 in the spec (the data model has no "unknown"); the source tells an idle
    // server ("default") from one whose samples were all invalid ("unknown").
    let latency_source = |value: Option<f64>, quantities: &[Quantity]| match value {
        Some(_) => Source::Prometheus,
        None if quantities.iter().any(|q| dropped.contains(q)) => Source::Unknown,
        None => Source::Default,
    };
    sources.push((
        "itlAverage",
        latency_source(itl, &[Quantity::Itl, Quantity::ItlLegacy]),
    ));
    sources.push(("ttftAverage", latency_source(ttft, &[Quantity::Ttft])));
    let pod_mean = |q: Quantity| {
        mean(reporting.iter().filter_map(|p| values[p].get(&q).copied())).unwrap_or(0.0)
    };
    let (running, waiting, kv_cache_usage) = (
        pod_mean(Quantity::Running),
        pod_mean(Quantity::Waiting),
        pod_mean(Quantity::KvCache),
    );
    // Every ready pod that says what it holds, reporting requests or not: a pod that just
    // started holds little, which is what the choice of pods to remove wants to know. Its
    // start-up is in the servers' clock, like the window, since the controller weighs it
    // against rates and windows of that clock.
    let pod_loads = ready_pods
        .iter()
        .filter_map(|p| {
            let outstanding = *values.get(p)?.get(&Quantity::Outstanding)?;
            let pod = p.rsplit('/').next().unwrap_or(p);
            Some(PodLoad {
                pod: pod.to_owned(),
                outstanding,
                startup_seconds: times
                    .get(pod)
                    .map_or(0.0, |t| windows.server_time(t.startup)),
            })
        })
        .collect();

    let spec = ServerSpec {
        name: labels.name.clone(),
        class: labels.class.clone(),
        model: labels.model.clone(),
        min_num_replicas: labels.min_replicas.unwrap_or(0),
        current_alloc: AllocationData {
            accelerator: labels.accelerator.clone(),
            num_replicas: desired_replicas,
            max_batch: labels.max_batch,
            cost: 0.0,
            itl_average: itl.map_or(0.0, |s| s * 1000.0),
            ttft_average: ttft.map_or(0.0, |s| s * 1000.0),
            load: ServerLoadSpec {
                arrival_rate: arrival,
                throughput: throughput.unwrap_or(0.0),
                // In range (checked above), so the conversions are exact enough.
                avg_in_tokens: in_tokens.round() as i64,
                avg_out_tokens: out_tokens.round() as i64,
                out_tokens_cv: out_cv,
            },
        },
        ..ServerSpec::default()
    };
    Observation {
        spec,
        // More than 4 billion pods is not a cluster: saturate rather than fail.
        ready_replicas: u32::try_from(ready_pods.len()).unwrap_or(u32::MAX),
        reporting_pods: reporting,
        counted_pods: counted,
        sources,
        running,
        waiting,
        kv_cache_usage,
        window,
        demand,
        pod_loads,
        values,
        problems,
        samples_dropped,
        unusable: (!unusable.is_empty()).then(|| unusable.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Quantity::*;

    fn labels() -> ServerLabels {
        ServerLabels {
            name: "s".into(),
            model: "m".into(),
            accelerator: "G2".into(),
            max_batch: 38,
            rpm: Some(90.0),
            in_tokens: Some(100.0),
            out_tokens: Some(200.0),
            ..ServerLabels::default()
        }
    }

    fn no_rpm() -> ServerLabels {
        ServerLabels {
            rpm: None,
            ..labels()
        }
    }

    /// 1, 2, 4 and 8 minutes; 50 requests wanted.
    fn windows() -> Windows {
        Windows::around(60).unwrap()
    }

    /// A steady load: for each pod, counts per minute (requests, backlog change, token sums
    /// and counts) scaled to each window, the rest (latencies, gauges) as given.
    fn steady(pods: &[(&str, &[(Quantity, f64)])]) -> Samples {
        let n = windows().seconds().len();
        let mut s = Samples {
            windows: vec![PodValues::new(); n],
            once: PodValues::new(),
            // Every pod's series reach back beyond the longest window.
            covered: vec![pods.iter().map(|(p, _)| p.to_string()).collect(); n],
            buckets: vec![PodBuckets::new(); n],
        };
        for (pod, values) in pods {
            for &(q, v) in *values {
                if q.per_window() {
                    for (i, w) in windows().seconds().iter().enumerate() {
                        let counted = !q.is_latency();
                        let v = if counted { v * (*w as f64 / 60.0) } else { v };
                        s.windows[i]
                            .entry(pod.to_string())
                            .or_default()
                            .insert(q, v);
                    }
                } else {
                    s.once.entry(pod.to_string()).or_default().insert(q, v);
                }
            }
        }
        s
    }

    fn assemble(labels: &ServerLabels, ready: &[&str], s: &Samples) -> Observation {
        with_gone(labels, ready, &[], s)
    }

    /// With pods of the server that are no longer ready but have series in the windows.
    fn with_gone(labels: &ServerLabels, ready: &[&str], gone: &[&str], s: &Samples) -> Observation {
        let names = |pods: &[&str]| -> Vec<String> { pods.iter().map(|p| p.to_string()).collect() };
        let ready = names(ready);
        super::assemble(
            labels,
            ready.len() as i64,
            &ready,
            &BTreeMap::new(),
            &names(gone),
            s,
            &windows(),
        )
    }

    fn source(o: &Observation, field: &str) -> Source {
        o.sources.iter().find(|(f, _)| *f == field).unwrap().1
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn every_pod_reporting_uses_prometheus() {
        let s = steady(&[
            (
                "a",
                &[
                    (Requests, 60.0),
                    (Itl, 0.020),
                    (Ttft, 0.1),
                    (PromptSum, 6000.0),
                    (PromptCount, 60.0),
                    (GenerationSum, 24000.0),
                    (GenerationCount, 60.0),
                ],
            ),
            (
                "b",
                &[
                    (Requests, 30.0),
                    (Itl, 0.050),
                    (Ttft, 0.4),
                    (PromptSum, 3000.0),
                    (PromptCount, 30.0),
                    (GenerationSum, 12000.0),
                    (GenerationCount, 30.0),
                ],
            ),
        ]);
        let o = assemble(&labels(), &["a", "b"], &s);
        let a = &o.spec.current_alloc;
        assert_eq!((a.load.arrival_rate, a.load.throughput), (90.0, 90.0));
        assert_eq!((a.load.avg_in_tokens, a.load.avg_out_tokens), (100, 400));
        // Weighted by throughput: (60 x 20 + 30 x 50) / 90 ms.
        assert!(close(a.itl_average, 30.0), "{}", a.itl_average);
        assert!(close(a.ttft_average, 200.0));
        assert_eq!(source(&o, "arrivalRate"), Source::Prometheus);
        assert_eq!(source(&o, "throughput"), Source::Prometheus);
        assert_eq!(source(&o, "avgOutTokens"), Source::Prometheus);
        // No bucket series: no spread.
        assert_eq!(a.load.out_tokens_cv, 0.0);
        assert_eq!(source(&o, "outTokensCv"), Source::Default);
        // 90 requests in the shortest window: enough.
        assert_eq!(o.window, 0);
        assert_eq!((o.demand.window_seconds, o.demand.requests), (60.0, 90.0));
        assert!(close(o.demand.rate_error, 90f64.sqrt()));
        assert!(o.problems.is_empty(), "{:?}", o.problems);
    }

    /// Completions stop at what the server can do; the queue grows instead. Arrivals count the
    /// growth: the rate is what was asked for, above the throughput.
    #[test]
    fn an_overloaded_server_shows_its_arrivals_not_its_throughput() {
        let s = steady(&[
            // Saturated at 100 completions a minute, 50 more queued each minute.
            ("a", &[(Requests, 100.0), (Backlog, 50.0)]),
            // Draining: 100 completed, 20 fewer outstanding than a minute ago.
            ("b", &[(Requests, 100.0), (Backlog, -20.0)]),
        ]);
        let o = assemble(&no_rpm(), &["a", "b"], &s);
        let load = &o.spec.current_alloc.load;
        assert_eq!(load.throughput, 200.0);
        assert_eq!(load.arrival_rate, 230.0);
        assert_eq!(source(&o, "arrivalRate"), Source::Prometheus);
        assert_eq!(o.demand.requests, 230.0);
        assert_eq!(o.values["a"][&Arrivals], 150.0);
        assert_eq!(o.values["b"][&Arrivals], 80.0);
        assert_eq!(o.values["a"][&Throughput], 100.0);
    }

    /// A server whose queues drain faster than requests come sees a negative change: the
    /// arrivals are clamped at 0 for the server, never negative.
    #[test]
    fn arrivals_are_never_negative() {
        let s = steady(&[
            ("a", &[(Requests, 10.0), (Backlog, -30.0)]),
            ("b", &[(Requests, 5.0), (Backlog, 0.0)]),
        ]);
        let o = assemble(&no_rpm(), &["a", "b"], &s);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 0.0);
        assert_eq!(o.spec.current_alloc.load.throughput, 15.0);
        assert_eq!(o.demand.requests, 0.0);
        // 15, 30, 60 completions: four minutes. Not a certain 0: as uncertain as one request
        // in four minutes.
        assert_eq!(o.window, 2);
        assert!(close(o.demand.rate_error, 0.25));
        assert_eq!(o.values["a"][&Arrivals], 0.0);
    }

    /// A quiet server is measured over the shortest window that holds enough requests, and
    /// its rate, tokens and latencies all come from that window.
    #[test]
    fn a_quiet_server_uses_a_longer_window() {
        let mut s = steady(&[(
            "a",
            &[
                (Requests, 20.0),
                (PromptSum, 2000.0),
                (PromptCount, 20.0),
                (Itl, 0.02),
            ],
        )]);
        // Each window its own latency, to see which one is used.
        for (i, w) in s.windows.iter_mut().enumerate() {
            w.get_mut("a").unwrap().insert(Itl, 0.01 * (i + 1) as f64);
        }
        // 20, 40, 80, 160 requests: 4 minutes is the first with 50.
        let o = assemble(&no_rpm(), &["a"], &s);
        assert_eq!(o.window, 2);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 20.0);
        assert_eq!(o.spec.current_alloc.load.avg_in_tokens, 100);
        assert!(close(o.spec.current_alloc.itl_average, 30.0));
        assert_eq!((o.demand.window_seconds, o.demand.requests), (240.0, 80.0));
        assert!(close(o.demand.rate_error, 80f64.sqrt() / 4.0));
        // A busier one stays on the shortest.
        let s = steady(&[("a", &[(Requests, 50.0)])]);
        assert_eq!(assemble(&no_rpm(), &["a"], &s).window, 0);
    }

    /// A window no pod of the server reaches back to the start of is never used: its requests
    /// would be spread over minutes the server did not exist, under-counting a new server.
    #[test]
    fn windows_beyond_the_servers_series_are_not_used() {
        let mut s = steady(&[("a", &[(Requests, 10.0)]), ("b", &[(Requests, 10.0)])]);
        // The server is about 3 minutes old: no pod had a series 4 or 8 minutes ago.
        for c in &mut s.covered[2..] {
            c.clear();
        }
        let o = assemble(&no_rpm(), &["a", "b"], &s);
        assert_eq!(o.window, 1);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 20.0);
        assert_eq!(o.demand.requests, 40.0);
    }

    /// A pod that started mid-window does not shorten the server's window: under churn it is
    /// the normal case, and its requests belong to the window like those of the pod it
    /// replaced. The old per-pod guard dropped a server to its shortest window at every new
    /// pod.
    #[test]
    fn a_young_pod_of_an_old_server_keeps_the_long_window() {
        // a (old) served 10/min for 8 minutes; b started 3 minutes ago, 10/min since.
        let mut s = steady(&[("a", &[(Requests, 10.0)]), ("b", &[(Requests, 10.0)])]);
        for (i, minutes) in [(2, 3.0), (3, 3.0)] {
            s.windows[i]
                .get_mut("b")
                .unwrap()
                .insert(Requests, 10.0 * minutes);
            s.covered[i].remove("b");
        }
        let o = assemble(&no_rpm(), &["a", "b"], &s);
        // 20, 40, 70: 4 minutes hold 50.
        assert_eq!(o.window, 2);
        assert_eq!(o.demand.requests, 70.0);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 17.5);
    }

    /// A scale-down mid-window: pod b was deleted 30 s ago, having served half the load until
    /// then. Its series are still in Prometheus for the window, and its requests, tokens and
    /// latencies still count; counting the ready pod alone read the load a quarter lower.
    #[test]
    fn a_pod_removed_mid_window_still_counts() {
        let a: &[(Quantity, f64)] = &[
            (Requests, 60.0),
            (PromptSum, 6000.0),
            (PromptCount, 60.0),
            (GenerationSum, 30000.0),
            (GenerationCount, 60.0),
            (Itl, 0.02),
            (Outstanding, 3.0),
        ];
        // Half a minute of 45/min, 500 tokens in, 100 out, a slower ITL.
        let b: &[(Quantity, f64)] = &[
            (Requests, 45.0),
            (PromptSum, 22500.0),
            (PromptCount, 45.0),
            (GenerationSum, 4500.0),
            (GenerationCount, 45.0),
            (Itl, 0.05),
        ];
        let mut s = steady(&[("ns/a", a), ("ns/b", b)]);
        for w in &mut s.windows {
            let b = w.get_mut("ns/b").unwrap();
            for v in b.values_mut() {
                *v /= 2.0;
            }
            // A latency is a mean, not a count.
            b.insert(Itl, 0.05);
        }
        let o = with_gone(&no_rpm(), &["ns/a"], &["ns/b"], &s);
        let l = &o.spec.current_alloc.load;
        assert_eq!(o.window, 0);
        // 60 + 22.5 requests in the minute.
        assert_eq!(l.arrival_rate, 82.5);
        assert_eq!(source(&o, "arrivalRate"), Source::Prometheus);
        assert_eq!(o.demand.requests, 82.5);
        // (6000 + 11250) / 82.5 and (30000 + 2250) / 82.5 tokens per request.
        assert_eq!((l.avg_in_tokens, l.avg_out_tokens), (209, 391));
        // Weighted by throughput: (60 x 20 + 22.5 x 50) / 82.5 ms.
        assert!(close(o.spec.current_alloc.itl_average, 28.181818181818183));
        assert_eq!(o.counted_pods, ["ns/a", "ns/b"]);
        // What pods hold now and the per-pod entries: the ready ones.
        assert_eq!(o.reporting_pods, ["ns/a"]);
        assert_eq!(o.ready_replicas, 1);
        assert_eq!(o.pod_loads.len(), 1);
        // Without b (the ready pods only, as before): the load reads lower.
        let o = assemble(&no_rpm(), &["ns/a"], &s);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 60.0);
    }

    /// Every ready pod replaced during the window (a rolling update): the new pods have not
    /// completed requests yet, the old ones did. Their arrivals are measured (partial), not the
    /// label's nominal load, and not 0.
    #[test]
    fn a_rolling_update_is_measured_by_the_pods_it_replaced() {
        let mut s = steady(&[("old", &[(Requests, 80.0)]), ("new", &[(Outstanding, 1.0)])]);
        s.covered.iter_mut().for_each(|c| {
            c.remove("new");
        });
        let o = with_gone(&labels(), &["new"], &["old"], &s);
        assert_eq!(
            (
                o.spec.current_alloc.load.arrival_rate,
                source(&o, "arrivalRate")
            ),
            (80.0, Source::PrometheusPartial)
        );
        assert_eq!(o.demand.requests, 80.0);
        // No ready pod at all (every pod restarting): what the gone ones served, partial.
        let o = with_gone(&no_rpm(), &[], &["old"], &s);
        assert_eq!(
            (
                o.spec.current_alloc.load.arrival_rate,
                source(&o, "arrivalRate")
            ),
            (80.0, Source::PrometheusPartial)
        );
    }

    /// Prometheus windows are wall time: with servers running 10 times faster, one wall minute
    /// is ten minutes of theirs, and rates and windows are reported in their time.
    #[test]
    fn a_time_scale_divides_rates_and_stretches_windows() {
        let s = steady(&[("a", &[(Requests, 100.0), (Backlog, 20.0)])]);
        let ready = vec!["a".to_string()];
        let w = windows().with_time_scale(10.0);
        let o = super::assemble(&no_rpm(), 1, &ready, &BTreeMap::new(), &[], &s, &w);
        assert_eq!(o.window, 0);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 12.0);
        assert_eq!(o.spec.current_alloc.load.throughput, 10.0);
        assert_eq!((o.demand.window_seconds, o.demand.requests), (600.0, 120.0));
        assert!(close(o.demand.rate_error, 120f64.sqrt() / 10.0));
    }

    /// Prompt tokens are counted as prefills complete, requests when they finish: the old
    /// counter ratio was off by whatever was in flight. The per-request histograms count the
    /// same requests on both sides; without them, the load labels are used.
    #[test]
    fn token_means_come_from_the_histograms_else_the_labels() {
        let s = steady(&[(
            "a",
            &[
                (Requests, 60.0),
                (PromptSum, 30000.0),
                (PromptCount, 60.0),
                (GenerationSum, 1200.0),
                (GenerationCount, 60.0),
            ],
        )]);
        let o = assemble(&labels(), &["a"], &s);
        let l = &o.spec.current_alloc.load;
        assert_eq!((l.avg_in_tokens, l.avg_out_tokens), (500, 20));
        assert_eq!(source(&o, "avgInTokens"), Source::Prometheus);
        // An exporter without the histograms (older vLLM): the labels.
        let s = steady(&[("a", &[(Requests, 60.0)])]);
        let o = assemble(&labels(), &["a"], &s);
        let l = &o.spec.current_alloc.load;
        assert_eq!((l.avg_in_tokens, l.avg_out_tokens), (100, 200));
        assert_eq!(source(&o, "avgInTokens"), Source::Label);
        assert_eq!(source(&o, "avgOutTokens"), Source::Label);
    }

    /// Output-length buckets `(le, cumulative count)` of `pod` in window `i` of `s`, `+Inf`
    /// last.
    fn buckets(s: &mut Samples, i: usize, pod: &str, counts: &[(f64, f64)]) {
        s.buckets[i].insert(pod.to_string(), counts.to_vec());
    }

    /// Per-minute generation sums and counts of two pods: 30 requests of 200 tokens on
    /// average on `a`, 30 of 500 on `b`.
    fn two_pods() -> Samples {
        steady(&[
            (
                "a",
                &[
                    (Requests, 30.0),
                    (GenerationSum, 6000.0),
                    (GenerationCount, 30.0),
                ],
            ),
            (
                "b",
                &[
                    (Requests, 30.0),
                    (GenerationSum, 15000.0),
                    (GenerationCount, 30.0),
                ],
            ),
        ])
    }

    /// The spread of output lengths is fitted to the server's histogram: the two pods'
    /// cumulative counts summed per bound, around the server's measured mean (350 tokens). The
    /// short requests of `a` and the long ones of `b` are a wider spread than either pod's.
    #[test]
    fn the_output_spread_is_fitted_to_the_pods_summed_buckets() {
        use crate::spread::{fit_cv, Histogram};
        let inf = f64::INFINITY;
        let a = [
            (100.0, 10.0),
            (200.0, 20.0),
            (500.0, 30.0),
            (1e3, 30.0),
            (inf, 30.0),
        ];
        let b = [
            (100.0, 0.0),
            (200.0, 5.0),
            (500.0, 15.0),
            (1e3, 30.0),
            (inf, 30.0),
        ];
        let mut s = two_pods();
        buckets(&mut s, 0, "a", &a);
        buckets(&mut s, 0, "b", &b);
        // Another window's buckets are not this server's window's.
        buckets(&mut s, 1, "a", &[(100.0, 60.0), (inf, 60.0)]);
        let o = assemble(&no_rpm(), &["a", "b"], &s);
        assert_eq!(o.window, 0);
        assert!(o.problems.is_empty(), "{:?}", o.problems);
        let summed = Histogram {
            bounds: vec![(100.0, 10.0), (200.0, 25.0), (500.0, 45.0), (1e3, 60.0)],
            total: 60.0,
        };
        let load = &o.spec.current_alloc.load;
        assert_eq!(load.avg_out_tokens, 350);
        assert_eq!(load.out_tokens_cv, fit_cv(350.0, &summed));
        assert_eq!(source(&o, "outTokensCv"), Source::Prometheus);
        let alone = |h: &[(f64, f64)], mean: f64| {
            fit_cv(
                mean,
                &Histogram {
                    bounds: h[..4].to_vec(),
                    total: 30.0,
                },
            )
        };
        assert!(
            load.out_tokens_cv > alone(&a, 200.0),
            "{}",
            load.out_tokens_cv
        );
        assert!(
            load.out_tokens_cv > alone(&b, 500.0),
            "{}",
            load.out_tokens_cv
        );
        assert!(load.out_tokens_cv > 0.3 && load.out_tokens_cv < 2.0);
    }

    /// Nothing to fit is a cv of 0 from `default` (no buckets, fewer than 20 requests, a mean
    /// from the label); buckets that are no histogram are 0 from `unknown`, with a problem.
    #[test]
    fn an_output_spread_not_measured_is_0_and_says_why() {
        let inf = f64::INFINITY;
        let cv = |o: &Observation| {
            (
                o.spec.current_alloc.load.out_tokens_cv,
                source(o, "outTokensCv"),
            )
        };
        // No bucket series (an exporter without them, a failed query).
        let o = assemble(&no_rpm(), &["a", "b"], &two_pods());
        assert_eq!(cv(&o), (0.0, Source::Default));
        assert!(o.problems.is_empty(), "{:?}", o.problems);
        // 19 requests over the window.
        let mut s = steady(&[(
            "a",
            &[
                (Requests, 60.0),
                (GenerationSum, 3800.0),
                (GenerationCount, 19.0),
            ],
        )]);
        buckets(
            &mut s,
            0,
            "a",
            &[(100.0, 5.0), (200.0, 12.0), (500.0, 19.0), (inf, 19.0)],
        );
        let o = assemble(&no_rpm(), &["a"], &s);
        assert_eq!(cv(&o), (0.0, Source::Default));
        assert!(o.problems.is_empty(), "{:?}", o.problems);
        // Buckets, but no measured mean: the label's mean is not of these requests.
        let mut s = steady(&[("a", &[(Requests, 60.0)])]);
        buckets(&mut s, 0, "a", &[(100.0, 30.0), (500.0, 60.0), (inf, 60.0)]);
        let o = assemble(&labels(), &["a"], &s);
        assert_eq!(source(&o, "avgOutTokens"), Source::Label);
        assert_eq!(cv(&o), (0.0, Source::Default));
        // A pod whose cumulative counts fall (a counter reset in one bucket).
        let mut s = two_pods();
        buckets(&mut s, 0, "a", &[(100.0, 10.0), (500.0, 30.0), (inf, 30.0)]);
        buckets(&mut s, 0, "b", &[(100.0, 20.0), (500.0, 15.0), (inf, 30.0)]);
        let o = assemble(&no_rpm(), &["a", "b"], &s);
        assert_eq!(cv(&o), (0.0, Source::Unknown));
        assert_eq!(
            o.problems,
            ["pod b: vllm:request_generation_tokens_bucket (increase, by le) over 60s: cumulative \
              counts fall: le=100 has 20, le=500 has 15; outTokensCv not measured (0)"]
        );
        // The other measurements stand.
        assert_eq!(o.spec.current_alloc.load.avg_out_tokens, 350);
        assert_eq!(o.unusable, None);
    }

    /// What each ready pod holds now, for the choice of pods to remove: every pod that says,
    /// by its bare name, whether or not it completed requests yet.
    #[test]
    fn pod_loads_are_what_each_ready_pod_holds_now() {
        let s = steady(&[
            ("ns/a", &[(Requests, 60.0), (Outstanding, 7.0)]),
            ("ns/b", &[(Outstanding, 0.0)]),
            ("ns/c", &[(Requests, 60.0)]),
            // Not ready: not listed.
            ("ns/gone", &[(Outstanding, 3.0)]),
        ]);
        let o = assemble(&labels(), &["ns/a", "ns/b", "ns/c"], &s);
        assert_eq!(
            o.pod_loads,
            [
                PodLoad {
                    pod: "a".into(),
                    outstanding: 7.0,
                    startup_seconds: 0.0,
                },
                PodLoad {
                    pod: "b".into(),
                    outstanding: 0.0,
                    startup_seconds: 0.0,
                },
            ]
        );
    }

    /// A quiet server is measured over a longer window, unless its last minute rose well
    /// beyond that window's rate.
    #[test]
    fn a_rise_is_measured_over_the_window_that_shows_it() {
        let mut s = steady(&[("a", &[(Requests, 10.0)])]);
        assert_eq!(assemble(&no_rpm(), &["a"], &s).window, 3);
        // The last minute brought 35 where 10 came before: 4 minutes (65, the first window
        // with 50) read 16.25/min, 2 minutes 22.5, both more than 2 errors (5.9) below 35.
        for w in &mut s.windows {
            *w.get_mut("a").unwrap().get_mut(&Requests).unwrap() += 25.0;
        }
        let o = assemble(&no_rpm(), &["a"], &s);
        assert_eq!(o.window, 0);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 35.0);
    }

    /// Pods that started in 60 s and have been Ready for the seconds given, by bare name.
    fn ready_since(pods: &[(&str, f64)]) -> BTreeMap<String, PodTimes> {
        pods.iter()
            .map(|(pod, ready)| {
                (
                    pod.to_string(),
                    PodTimes {
                        startup: 60.0,
                        ready_for: Some(*ready),
                    },
                )
            })
            .collect()
    }

    /// A pod Ready before the window began but first scraped within it has its count from 0 at
    /// Ready: the window takes its share of that time. One Ready for longer but with a sample
    /// at the window's start, or Ready within the window, counts whole.
    #[test]
    fn a_pod_scraped_late_counts_only_its_share_of_the_window() {
        let mut s = steady(&[
            ("ns/old", &[(Requests, 60.0), (Outstanding, 5.0)]),
            // Ready 90 s ago, first scraped within the 60 s window: 60 arrivals since Ready
            // (45 done, 15 held), 40 of them in the window if they came evenly.
            (
                "ns/late",
                &[(Requests, 45.0), (Backlog, 15.0), (Outstanding, 15.0)],
            ),
            // Ready 30 s ago: everything it counts is the window's.
            (
                "ns/young",
                &[(Requests, 10.0), (Backlog, 5.0), (Outstanding, 5.0)],
            ),
        ]);
        for c in &mut s.covered {
            c.remove("ns/late");
            c.remove("ns/young");
        }
        // Only the shortest window's counts are the per-minute values above.
        s.windows.truncate(1);
        s.covered.truncate(1);
        s.buckets.truncate(1);
        let ready = |late: f64| ready_since(&[("old", 900.0), ("late", late), ("young", 30.0)]);
        let pods: Vec<String> = ["ns/old", "ns/late", "ns/young"].map(String::from).into();
        let arrival = |s: &Samples, times: &BTreeMap<String, PodTimes>| {
            let o = super::assemble(&no_rpm(), 3, &pods, times, &[], s, &windows());
            (o.spec.current_alloc.load.arrival_rate, o.demand.requests)
        };
        assert_eq!(arrival(&s, &ready(90.0)), (60.0 + 40.0 + 15.0, 115.0));
        // Ready within the window after all (30 s ago): whole.
        assert_eq!(arrival(&s, &ready(30.0)).0, 60.0 + 60.0 + 15.0);
        // A sample at the window's start: an ordinary difference, whole.
        s.covered[0].insert("ns/late".to_string());
        assert_eq!(arrival(&s, &ready(90.0)).0, 60.0 + 60.0 + 15.0);
        // No Ready time known: whole, as before.
        s.covered[0].remove("ns/late");
        let mut unknown = ready(90.0);
        unknown.get_mut("late").unwrap().ready_for = None;
        assert_eq!(arrival(&s, &unknown).0, 60.0 + 60.0 + 15.0);
    }

    /// A pod Ready before the window began but first scraped within it is counted from its
    /// first sample there, when Prometheus gave one, plus the part of what it had then that
    /// came after the window began (evenly from Ready to that sample).
    #[test]
    fn a_pod_scraped_late_counts_from_its_first_sample() {
        // Ready 70 s ago, first scraped 50 s ago (within the 60 s window) with 8 done and 12
        // held: 20 sent in the 20 s from Ready, half of them after the window began. Now 25
        // done and 1 held: 6 arrived since the first sample, 16 in the window; 17 completed
        // since, 21 in the window.
        let late = [
            (Requests, 25.0),
            (Backlog, 1.0),
            (Outstanding, 1.0),
            (FirstCompleted, 8.0),
            (FirstArrived, 20.0),
            (FirstAge, 50.0),
        ];
        let mut s = steady(&[
            ("ns/old", &[(Requests, 60.0), (Outstanding, 5.0)]),
            ("ns/late", &late),
        ]);
        for c in &mut s.covered {
            c.remove("ns/late");
        }
        s.windows.truncate(1);
        s.covered.truncate(1);
        s.buckets.truncate(1);
        let times = ready_since(&[("old", 900.0), ("late", 70.0)]);
        let pods: Vec<String> = ["ns/old", "ns/late"].map(String::from).into();
        let o = super::assemble(&no_rpm(), 2, &pods, &times, &[], &s, &windows());
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 60.0 + 16.0);
        assert_eq!(o.spec.current_alloc.load.throughput, 60.0 + 21.0);
        assert_eq!(source(&o, "arrivalRate"), Source::Prometheus);
        // First scraped just as the window began: nothing before it is the window's.
        let mut s2 = s.clone();
        s2.windows[0]
            .get_mut("ns/late")
            .unwrap()
            .insert(FirstAge, 60.0);
        let o = super::assemble(&no_rpm(), 2, &pods, &times, &[], &s2, &windows());
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 60.0 + 6.0);
    }

    /// Each pod's start-up (wall seconds from discovery) is reported in the servers' clock,
    /// like the window: 12 wall seconds at a time scale of 10 are 120 of theirs. A pod whose
    /// start-up is not known reports 0.
    #[test]
    fn pod_startups_are_in_the_servers_clock() {
        let s = steady(&[
            ("ns/a", &[(Requests, 60.0), (Outstanding, 2.0)]),
            ("ns/b", &[(Outstanding, 1.0)]),
        ]);
        let ready = vec!["ns/a".to_string(), "ns/b".to_string()];
        let startup = BTreeMap::from([(
            "a".to_string(),
            PodTimes {
                startup: 12.0,
                ready_for: Some(100.0),
            },
        )]);
        let startups = |w: &Windows| -> Vec<(String, f64)> {
            super::assemble(&labels(), 2, &ready, &startup, &[], &s, w)
                .pod_loads
                .into_iter()
                .map(|p| (p.pod, p.startup_seconds))
                .collect()
        };
        assert_eq!(
            startups(&windows()),
            [("a".to_string(), 12.0), ("b".to_string(), 0.0)]
        );
        assert_eq!(
            startups(&windows().with_time_scale(10.0)),
            [("a".to_string(), 120.0), ("b".to_string(), 0.0)]
        );
    }

    #[test]
    fn a_partial_measurement_wins_over_the_nominal_label() {
        let s = steady(&[("a", &[(Requests, 40.0)])]);
        let o = assemble(&labels(), &["a", "b", "c"], &s);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 40.0);
        assert_eq!(source(&o, "arrivalRate"), Source::PrometheusPartial);
        assert_eq!(o.demand.requests, 80.0);
        // Nothing measured on the pods that report: the label, with no estimate of it.
        let s = steady(&[("a", &[(Requests, 0.0)])]);
        let o = assemble(&labels(), &["a", "b", "c"], &s);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 90.0);
        assert_eq!(source(&o, "arrivalRate"), Source::Label);
        assert_eq!(o.demand, Demand::default());
        let s = steady(&[("a", &[(Requests, 40.0)])]);
        let o = assemble(&no_rpm(), &["a", "b", "c"], &s);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 40.0);
        assert_eq!(source(&o, "arrivalRate"), Source::PrometheusPartial);
        assert_eq!(o.demand.requests, 80.0);
    }

    /// The throughput has a source like every other load field: measured (over every ready
    /// pod or some), or not known. Before: none, so its 0 read as "nothing completed" while
    /// the load came from a label and the servers were busy.
    #[test]
    fn the_throughput_says_whether_it_was_measured() {
        let o = assemble(&labels(), &["a", "b"], &Samples::default());
        assert_eq!(o.spec.current_alloc.load.throughput, 0.0);
        assert_eq!(source(&o, "arrivalRate"), Source::Label);
        assert_eq!(source(&o, "throughput"), Source::Default);
        // Only `a` reported: measured over part of the server.
        let s = steady(&[("a", &[(Requests, 30.0)])]);
        let o = assemble(&labels(), &["a", "b"], &s);
        assert_eq!(o.spec.current_alloc.load.throughput, 30.0);
        assert_eq!(source(&o, "throughput"), Source::PrometheusPartial);
        // Measured, and nothing completed in the window: a real 0.
        let s = steady(&[("a", &[(Requests, 0.0), (Backlog, 10.0)])]);
        let o = assemble(&no_rpm(), &["a"], &s);
        assert_eq!(o.spec.current_alloc.load.throughput, 0.0);
        assert_eq!(source(&o, "throughput"), Source::Prometheus);
        // Every count invalid: not known.
        let s = steady(&[("a", &[(Requests, f64::NAN)])]);
        let o = assemble(&no_rpm(), &["a"], &s);
        assert_eq!(source(&o, "throughput"), Source::Unknown);
    }

    #[test]
    fn no_prometheus_falls_back_to_labels_then_zero() {
        let o = assemble(&labels(), &["a", "b"], &Samples::default());
        let l = &o.spec.current_alloc.load;
        assert_eq!(
            (l.arrival_rate, l.avg_in_tokens, l.avg_out_tokens),
            (90.0, 100, 200)
        );
        assert!(o
            .sources
            .iter()
            .filter(|(f, _)| f.starts_with("avg") || *f == "arrivalRate")
            .all(|(_, s)| *s == Source::Label));
        assert_eq!(o.demand, Demand::default());
        assert!(o.pod_loads.is_empty());
        let bare = ServerLabels {
            name: "s".into(),
            ..ServerLabels::default()
        };
        let o = super::assemble(
            &bare,
            0,
            &[],
            &BTreeMap::new(),
            &[],
            &Samples::default(),
            &windows(),
        );
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 0.0);
        assert!(o.sources.iter().all(|(_, s)| *s == Source::Default));
    }

    #[test]
    fn a_zero_rate_does_not_override_the_load_label() {
        let s = steady(&[("a", &[(Requests, 0.0)])]);
        let o = assemble(&labels(), &["a"], &s);
        assert_eq!(
            (
                o.spec.current_alloc.load.arrival_rate,
                source(&o, "arrivalRate")
            ),
            (90.0, Source::Label)
        );
        let o = assemble(&no_rpm(), &["a"], &s);
        assert_eq!(
            (
                o.spec.current_alloc.load.arrival_rate,
                source(&o, "arrivalRate")
            ),
            (0.0, Source::Prometheus)
        );
    }

    #[test]
    fn legacy_itl_name_is_used_when_the_new_one_is_missing() {
        let s = steady(&[("a", &[(Requests, 10.0), (ItlLegacy, 0.025)])]);
        let o = assemble(&labels(), &["a"], &s);
        assert!(close(o.spec.current_alloc.itl_average, 25.0));
    }

    #[test]
    fn bad_samples_are_dropped_for_their_pod_with_a_problem() {
        let s = steady(&[
            (
                "ns/a",
                &[(Requests, 60.0), (Itl, 1e308), (Ttft, -0.5), (Running, 5.0)],
            ),
            (
                "ns/b",
                &[
                    (Requests, f64::NAN),
                    (Itl, 0.02),
                    (KvCache, 1.5),
                    (Outstanding, -1.0),
                ],
            ),
        ]);
        let o = assemble(&labels(), &["ns/a", "ns/b"], &s);
        assert_eq!(
            o.problems,
            [
                "pod ns/a: vllm:request_time_per_output_token_seconds (mean, s) over 60s: must be a finite number in [0, 3600], got 1e308; sample dropped",
                "pod ns/a: vllm:time_to_first_token_seconds (mean, s) over 60s: must be a finite number in [0, 3600], got -0.5; sample dropped",
                "pod ns/b: vllm:request_success_total (increase) over 60s: must be a finite number >= 0, got NaN; sample dropped",
                "pod ns/b: vllm:kv_cache_usage_perc (mean): must be a finite number in [0, 1], got 1.5; sample dropped",
                "pod ns/b: vllm:num_requests_running + vllm:num_requests_waiting (last): must be a finite number in [0, 20480], got -1; sample dropped",
            ]
        );
        // b did not report requests: a's measured arrivals stand (partial). a's latencies
        // are gone and b does not count (no rate): unknown, 0, never infinite.
        let a = &o.spec.current_alloc;
        assert_eq!(
            (a.load.arrival_rate, source(&o, "arrivalRate")),
            (60.0, Source::PrometheusPartial)
        );
        assert_eq!((a.itl_average, a.ttft_average), (0.0, 0.0));
        assert_eq!(source(&o, "itlAverage"), Source::Unknown);
        assert_eq!(source(&o, "ttftAverage"), Source::Unknown);
        assert_eq!(o.samples_dropped, 5);
        assert_eq!(o.reporting_pods, ["ns/a"]);
        assert_eq!(
            o.values["ns/a"],
            [
                (Requests, 60.0),
                (Running, 5.0),
                (Throughput, 60.0),
                (Arrivals, 60.0)
            ]
            .into()
        );
        assert_eq!(o.unusable, None);
    }

    #[test]
    fn an_idle_pods_nan_latency_is_not_a_problem() {
        let s = steady(&[("a", &[(Requests, 0.0), (Itl, f64::NAN), (Ttft, f64::NAN)])]);
        let o = assemble(&labels(), &["a"], &s);
        assert!(o.problems.is_empty(), "{:?}", o.problems);
        assert_eq!(source(&o, "itlAverage"), Source::Default);
        // An infinite one is: x/0 is not idleness.
        let s = steady(&[("a", &[(Requests, 0.0), (Itl, f64::INFINITY)])]);
        let o = assemble(&labels(), &["a"], &s);
        assert_eq!(o.problems.len(), 1, "{:?}", o.problems);
    }

    #[test]
    fn tokens_are_bounded_per_request() {
        let pod_a: &[(Quantity, f64)] = &[
            (Requests, 60.0),
            (PromptSum, 1e12),
            (PromptCount, 60.0),
            (GenerationSum, 30000.0),
            (GenerationCount, 60.0),
        ];
        let o = assemble(&labels(), &["a"], &steady(&[("a", pod_a)]));
        assert_eq!(
            o.problems,
            ["pod a: vllm:request_prompt_tokens_sum (increase) / vllm:request_prompt_tokens_count (increase) over 60s = 1000000000000 / 60: tokens per request must be a finite number in [0, 1048576], got 16666666666.666666; sample dropped"]
        );
        let l = &o.spec.current_alloc.load;
        assert_eq!((l.avg_in_tokens, l.avg_out_tokens), (100, 500));
        assert_eq!(source(&o, "avgInTokens"), Source::Label);
        assert_eq!(source(&o, "avgOutTokens"), Source::Prometheus);
        // Tokens of a pod whose requests were not counted still count, and can push the
        // server's ratio out of range.
        let pod_b: &[(Quantity, f64)] = &[
            (Requests, 0.0),
            (GenerationSum, 1e300),
            (GenerationCount, 0.0),
        ];
        let o = assemble(
            &labels(),
            &["a", "b"],
            &steady(&[("a", pod_a), ("b", pod_b)]),
        );
        assert!(
            o.problems.iter().any(|p| p.starts_with(
                "vllm:request_generation_tokens_sum (increase) / vllm:request_generation_tokens_count (increase) over the server's pods"
            ) && p.ends_with("got 1.6666666666666668e298; not used")),
            "{:?}",
            o.problems
        );
        assert_eq!(source(&o, "avgOutTokens"), Source::Label);
    }

    #[test]
    fn a_sum_of_rates_beyond_the_range_is_not_used() {
        let s = steady(&[("a", &[(Requests, 6e6)]), ("b", &[(Requests, 6e6)])]);
        let o = assemble(&labels(), &["a", "b"], &s);
        assert_eq!(
            o.problems,
            [
                "vllm:request_success_total (rate, requests/min) summed over 2 pods: must be a finite number in [0, 10000000], got 12000000; not used",
                "arrivals (completed + backlog change, requests/min) summed over 2 pods: must be a finite number in [0, 10000000], got 12000000; not used",
            ]
        );
        assert_eq!(
            (
                o.spec.current_alloc.load.arrival_rate,
                source(&o, "arrivalRate")
            ),
            (90.0, Source::Label)
        );
        // One pod beyond it on its own: named with the pod.
        let s = steady(&[("a", &[(Requests, 1e308)])]);
        let o = assemble(&labels(), &["a"], &s);
        assert_eq!(
            o.problems[0],
            "pod a: vllm:request_success_total (rate, requests/min): must be a finite number in [0, 10000000], got 1e308; not used"
        );
    }

    #[test]
    fn a_bad_load_label_without_a_measurement_makes_the_load_unusable() {
        let bad = |key: &'static str| ServerLabels {
            rpm: None,
            invalid: [(key, format!("label {key}=\"1e308\": out of range"))].into(),
            ..labels()
        };
        let rpm = inferno_core::contract::keys::LOAD_RPM;
        let o = assemble(&bad(rpm), &["a"], &Samples::default());
        assert_eq!(
            o.unusable.as_deref(),
            Some(
                r#"arrival rate unknown: label inferno.server.load.rpm="1e308": out of range, and Prometheus measured no rate"#
            )
        );
        assert_eq!(source(&o, "arrivalRate"), Source::Unknown);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 0.0);
        // Measured by every pod: the label is not needed, the load is usable.
        let s = steady(&[("a", &[(Requests, 12.0)])]);
        let o = assemble(&bad(rpm), &["a"], &s);
        assert_eq!(o.unusable, None);
        assert_eq!(o.spec.current_alloc.load.arrival_rate, 12.0);
        // No label at all is still "nothing known: 0".
        let o = assemble(&no_rpm(), &["a"], &Samples::default());
        assert_eq!(
            (o.unusable.clone(), source(&o, "arrivalRate")),
            (None, Source::Default)
        );
    }
}
