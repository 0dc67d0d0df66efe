//! `inferno-optimizer analyze | size | concurrency`: one queue problem (spec 5.4).

use super::table::num;
use super::{CliError, QueueArgs};
use crate::queue::{
    optimal_concurrency, Analyzer, ConcurrencySearch, Metrics, QueueConfig, QueueInput, Targets,
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::Write;
use std::process::ExitCode;

/// `concurrency` searches up to this batch size when the problem gives none.
const DEFAULT_CONCURRENCY_BOUND: u32 = 256;

/// The keys of the problem file, as the API spells them (proto3 JSON of `QueueRequest`; the
/// reference's `RPS`, `targetTTFT` match too, case-insensitively).
const KEYS: [&str; 11] = [
    "rps",
    "maxBatchSize",
    "avgInputTokens",
    "avgOutputTokens",
    "alpha",
    "beta",
    "gamma",
    "maxQueueSize",
    "targetTtft",
    "targetItl",
    "outTokensCv",
];

/// The queue-analysis problem; keys match case-insensitively as in the reference.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Problem {
    rps: f64,
    maxbatchsize: i64,
    avginputtokens: f64,
    avgoutputtokens: f64,
    alpha: f64,
    beta: f64,
    gamma: f64,
    maxqueuesize: i64,
    targetttft: f64,
    targetitl: f64,
    outtokenscv: f64,
}

fn lowercase_keys(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        ),
        other => other,
    }
}

/// A warning (an error when `strict`) for every key of `value` that is not one of [`KEYS`].
fn unknown_keys(value: &Value, file: &str, strict: bool) -> Vec<inferno_api::Problem> {
    let Value::Object(map) = value else {
        return Vec::new();
    };
    let known = |key: &str| KEYS.iter().any(|k| k.eq_ignore_ascii_case(key));
    map.keys()
        .filter(|key| !known(key))
        .map(|key| {
            let at = (file, "queue problem", key.as_str());
            inferno_api::Problem::unknown_field(at, key, inferno_api::closest(key, KEYS), strict)
        })
        .collect()
}

fn problem(args: &QueueArgs) -> Result<(Problem, String), CliError> {
    let (mut p, source) = match &args.problem {
        Some(path) => {
            let (label, text) = if path.as_os_str() == "-" {
                ("stdin".to_string(), super::read_stdin()?)
            } else {
                let label = path.display().to_string();
                let text = std::fs::read_to_string(path)
                    .map_err(|e| CliError::Input(format!("cannot read {label}: {e}")))?;
                (label, text)
            };
            let value: Value = serde_json::from_str(&text)
                .map_err(|e| CliError::Input(format!("{label}: {e}")))?;
            let unknown = unknown_keys(&value, &label, args.strict);
            if args.strict && !unknown.is_empty() {
                return Err(inferno_api::Error::Invalid(unknown).into());
            }
            super::warn(&unknown);
            let p: Problem = serde_json::from_value(lowercase_keys(value))
                .map_err(|e| CliError::Input(format!("{label}: {e}")))?;
            (p, label)
        }
        None => (Problem::default(), "flags".to_string()),
    };
    let set = |slot: &mut f64, v: Option<f64>| {
        if let Some(v) = v {
            *slot = v;
        }
    };
    set(&mut p.rps, args.rps);
    set(&mut p.avginputtokens, args.in_tokens);
    set(&mut p.avgoutputtokens, args.out_tokens);
    set(&mut p.alpha, args.alpha);
    set(&mut p.beta, args.beta);
    set(&mut p.gamma, args.gamma);
    set(&mut p.targetttft, args.target_ttft);
    set(&mut p.targetitl, args.target_itl);
    set(&mut p.outtokenscv, args.out_tokens_cv);
    if let Some(b) = args.max_batch_size {
        p.maxbatchsize = i64::from(b);
    }
    if let Some(q) = args.max_queue_size {
        p.maxqueuesize = i64::from(q);
    }
    Ok((p, source))
}

/// The model's problem, or every field outside `inferno_api::limits` (one line each, naming
/// the source and the field). `maxBatchSize` 0 means `default_batch` where there is one; with
/// `rate`, `RPS` is checked too.
fn config(
    p: &Problem,
    source: &str,
    default_batch: Option<u32>,
    rate: bool,
) -> Result<(QueueConfig, Targets), CliError> {
    let input = QueueInput {
        rps: p.rps,
        max_batch_size: p.maxbatchsize,
        avg_input_tokens: p.avginputtokens,
        avg_output_tokens: p.avgoutputtokens,
        alpha: p.alpha,
        beta: p.beta,
        gamma: p.gamma,
        max_queue_size: p.maxqueuesize,
        target_ttft: p.targetttft,
        target_itl: p.targetitl,
        out_tokens_cv: p.outtokenscv,
    };
    input.check(default_batch, rate).map_err(|errors| {
        let lines: Vec<String> = errors
            .iter()
            .map(|e| format!("{source}: field {e}"))
            .collect();
        CliError::Input(lines.join("\n"))
    })
}

fn metrics_json(m: &Metrics) -> Value {
    json!({
        "offeredRPS": m.offered_rate, "throughput": m.throughput, "avgRespTime": m.resp_time,
        "avgWaitTime": m.wait_time, "avgNumInServ": m.num_in_service, "avgPrefillTime": m.prefill_time,
        "avgTTFT": m.ttft, "avgITL": m.itl, "maxRPS": m.max_rate, "rho": m.rho, "blocking": m.blocking,
    })
}

fn metrics_text(m: &Metrics, out: &mut dyn Write) -> std::io::Result<()> {
    let rows = [
        ("offered rate", num(m.offered_rate, 6), "req/s"),
        ("throughput", num(m.throughput, 6), "req/s"),
        ("blocking", num(m.blocking * 100.0, 4), "%"),
        ("max rate", num(m.max_rate, 6), "req/s"),
        ("response time", num(m.resp_time, 3), "ms"),
        ("waiting time", num(m.wait_time, 3), "ms"),
        ("prefill time", num(m.prefill_time, 3), "ms"),
        ("TTFT", num(m.ttft, 3), "ms"),
        ("ITL", num(m.itl, 3), "ms"),
        ("mean batch", num(m.num_in_service, 3), "requests"),
        ("utilisation", num(m.rho * 100.0, 2), "%"),
    ];
    for (name, v, unit) in rows {
        writeln!(out, "{name:<14} {v:>14} {unit}")?;
    }
    Ok(())
}

fn emit(
    json: bool,
    value: Value,
    text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    out: &mut dyn Write,
) -> Result<ExitCode, CliError> {
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        )?;
    } else {
        text(out)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn analyze(args: &QueueArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let (p, source) = problem(args)?;
    let (config, _) = config(&p, &source, None, true)?;
    let m = Analyzer::new(config)?.analyze(p.rps)?;
    emit(args.json, metrics_json(&m), |o| metrics_text(&m, o), out)
}

pub(crate) fn size(args: &QueueArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let (p, source) = problem(args)?;
    let (config, targets) = config(&p, &source, None, false)?;
    let s = Analyzer::new(config)?.size(&targets)?;
    let mut value = metrics_json(&s.metrics);
    value["RPSTargetTTFT"] = json!(s.rate_ttft);
    value["RPSTargetITL"] = json!(s.rate_itl);
    value["binding"] = json!(format!("{:?}", s.binding));
    emit(
        args.json,
        value,
        |o| {
            writeln!(
                o,
                "{:<14} {:>14} req/s",
                "rate for TTFT",
                num(s.rate_ttft, 6)
            )?;
            writeln!(o, "{:<14} {:>14} req/s", "rate for ITL", num(s.rate_itl, 6))?;
            writeln!(o, "{:<14} {:>14}", "binding", format!("{:?}", s.binding))?;
            metrics_text(&s.metrics, o)
        },
        out,
    )
}

pub(crate) fn concurrency(args: &QueueArgs, out: &mut dyn Write) -> Result<ExitCode, CliError> {
    let (p, source) = problem(args)?;
    let (base, targets) = config(&p, &source, Some(DEFAULT_CONCURRENCY_BOUND), false)?;
    let search = ConcurrencySearch {
        max_batch: base.max_batch,
        ..ConcurrencySearch::default()
    };
    let r = optimal_concurrency(&base, &targets, &search)?;
    let mut value = r.metrics.as_ref().map_or_else(|| json!({}), metrics_json);
    for (k, v) in [
        ("concurrency", json!(r.concurrency)),
        ("throughput", json!(r.throughput)),
        ("M_ITL", json!(r.m_itl)),
        ("M_TPF", json!(r.m_tpf)),
        ("oracleCalls", json!(r.oracle_calls)),
        ("probes", json!(r.probes)),
        ("feasible", json!(r.feasible)),
    ] {
        value[k] = v;
    }
    emit(
        args.json,
        value,
        |o| {
            writeln!(o, "{:<14} {:>14}", "concurrency", r.concurrency)?;
            writeln!(o, "{:<14} {:>14}", "feasible", r.feasible)?;
            writeln!(o, "{:<14} {:>14} req/s", "throughput", num(r.throughput, 6))?;
            writeln!(
                o,
                "{:<14} {:>14}",
                "M_ITL / M_TPF",
                format!("{} / {}", r.m_itl, r.m_tpf)
            )?;
            let probes: Vec<String> = r.probes.iter().map(u32::to_string).collect();
            writeln!(o, "{:<14} {:>14}", "probes", probes.join(","))?;
            match &r.metrics {
                Some(m) => metrics_text(m, o),
                None => Ok(()),
            }
        },
        out,
    )
}
