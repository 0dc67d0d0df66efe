//! A real Prometheus (Debian package `prometheus`) scrapes two emulated servers every second;
//! the PromQL of control-loop spec 2.4 returns what the emulators served.
//!
//! `make test` installs Prometheus; with CI=true a missing Prometheus fails the test, locally
//! it is skipped with a message. The binary comes from $PROMETHEUS, the PATH or
//! /usr/bin/prometheus.
//!
//! Plan: both servers start idle and Prometheus scrapes their zero counters; then each runs an
//! internal Poisson load for 12 s (server A in real time, server B at time scale 10, so its
//! counters grow 10x faster per wall second) and A also answers a few real HTTP completions;
//! then the loads stop, the servers drain, and Prometheus scrapes the final values. Because
//! every series starts at 0 inside the 1m window, the ratio queries (ITL, TTFT, tokens per
//! request) equal the emulators' own sums and counts exactly; the throughput query, taken over
//! a 10 s window during the load, is compared with the emulators' own counter slope.

use crate::support::{init_logs, post};
use inferno_emulator::{Host, LoadSpec, PerfParms, ServerHandle, ServerSpec, Snapshot, TokenDist};
use inferno_testkit::prometheus::Prometheus;
use inferno_testkit::wait;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Values by `pod` label.
async fn by_pod(prom: &Prometheus, promql: &str, at: Option<f64>) -> HashMap<String, f64> {
    prom.query(promql, at)
        .await
        .into_iter()
        .map(|(labels, v)| (labels.get("pod").cloned().unwrap_or_default(), v))
        .collect()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn server(name: &str, model: &str, perf: PerfParms, time_scale: f64) -> ServerSpec {
    ServerSpec {
        name: name.into(),
        model: model.into(),
        accelerator: "A100".into(),
        perf: Some(perf),
        max_batch_size: 32,
        time_scale,
        ..ServerSpec::default()
    }
}

/// Emulator counter at `t` (unix seconds), linear between recorded snapshots.
fn counter_at(trace: &[(f64, [u64; 2])], pod: usize, t: f64) -> f64 {
    let i = trace
        .partition_point(|(ts, _)| *ts <= t)
        .clamp(1, trace.len() - 1);
    let ((t0, c0), (t1, c1)) = (trace[i - 1], trace[i]);
    let (c0, c1) = (c0[pod] as f64, c1[pod] as f64);
    c0 + (c1 - c0) * ((t - t0) / (t1 - t0)).clamp(0.0, 1.0)
}

fn close(measured: f64, expected: f64, tol: f64) -> bool {
    (measured / expected - 1.0).abs() <= tol
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_two_servers_and_the_spec_queries_match() {
    init_logs();
    let Some(bin) = inferno_testkit::tools::prometheus() else {
        return;
    };
    tokio::time::timeout(Duration::from_secs(120), scenario(bin))
        .await
        .expect("the Prometheus scenario finishes within 120 s");
}

async fn scenario(bin: PathBuf) {
    let host = Host::loopback(None);
    let a = host
        .start_server(server(
            "srv-a",
            "granite_13b",
            PerfParms {
                alpha: 5.0,
                beta: 0.02,
                gamma: 0.0001,
            },
            1.0,
        ))
        .await
        .unwrap();
    let b = host
        .start_server(server(
            "srv-b",
            "llama_8b",
            PerfParms {
                alpha: 8.0,
                beta: 0.016,
                gamma: 0.0005,
            },
            10.0,
        ))
        .await
        .unwrap();
    let pods = ["srv-a-0", "srv-b-0"];
    let handles: [&ServerHandle; 2] = [&a, &b];
    let prom = Prometheus::start(
        &bin,
        "emulator",
        "infer",
        &[(a.addr(), pods[0]), (b.addr(), pods[1])],
    )
    .await;
    let p = &prom;
    let s = format!("namespace=\"infer\",pod=~\"{}|{}\"", pods[0], pods[1]);

    // The zero counters of both servers are scraped before any load.
    let zeros = wait::until("both targets scraped", Duration::from_secs(20), || async {
        let v = by_pod(p, &format!("vllm:request_success_total{{{s}}}"), None).await;
        (v.len() == 2).then_some(v)
    })
    .await;
    assert!(zeros.values().all(|x| *x == 0.0), "{zeros:?}");
    let up = by_pod(p, "up{job=\"emulator\"}", None).await;
    assert_eq!(up.get(pods[0]), Some(&1.0));
    assert_eq!(up.get(pods[1]), Some(&1.0));

    let loads = [
        LoadSpec {
            rate: 30.0,
            in_tokens: TokenDist::Fixed(64),
            out_tokens: TokenDist::Uniform(8, 24),
            seed: 1,
        },
        LoadSpec {
            rate: 4.0,
            in_tokens: TokenDist::Fixed(512),
            out_tokens: TokenDist::Fixed(32),
            seed: 2,
        },
    ];
    for (h, l) in handles.iter().zip(&loads) {
        h.start_load(l.clone()).unwrap();
    }
    // A few real HTTP requests to A, alongside its internal load.
    let addr = a.addr();
    let http: Vec<_> = (0..8)
        .map(|i| {
            tokio::spawn(async move {
                let body = format!(r#"{{"prompt_tokens": {}, "max_tokens": 12}}"#, 100 + i);
                post(addr, "/v1/completions", &body).await.json()
            })
        })
        .collect();
    for t in http {
        let v: Value = t.await.unwrap();
        assert_eq!(v["usage"]["completion_tokens"], 12, "{v}");
    }

    // Record the emulators' own counters while the load runs.
    let mut trace: Vec<(f64, [u64; 2])> = Vec::new();
    let mut batch = [(0.0, 0.0); 2];
    let load_start = Instant::now();
    let snap = |h: &ServerHandle| h.snapshot();
    let first: Vec<Snapshot> = handles.iter().map(|h| snap(h)).collect();
    while load_start.elapsed() < Duration::from_secs(12) {
        trace.push((unix_now(), [a.snapshot().requests, b.snapshot().requests]));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    trace.push((unix_now(), [a.snapshot().requests, b.snapshot().requests]));
    for (i, h) in handles.iter().enumerate() {
        let s = h.snapshot();
        batch[i] = (
            s.batch_ms - first[i].batch_ms,
            s.emulated_ms - first[i].emulated_ms,
        );
    }
    // Evaluate the load-time queries half a second ago, once every scrape up to then is
    // stored: a target's scrapes are stored in order, so a later one for each says so.
    let t_load = unix_now() - 0.5;
    wait::until(
        "a scrape after the load",
        Duration::from_secs(10),
        || async {
            let last = by_pod(p, "timestamp(up{job=\"emulator\"})", None).await;
            (last.len() == 2 && last.values().all(|t| *t > t_load)).then_some(())
        },
    )
    .await;

    // Throughput (RPM) per pod over a 10 s window, against the emulators' counter slope.
    let rpm = by_pod(
        p,
        &format!("sum by(pod)(rate(vllm:request_success_total{{{s}}}[10s]))*60"),
        Some(t_load),
    )
    .await;
    let occupancy = by_pod(
        p,
        &format!("avg by(pod)(avg_over_time(vllm:num_requests_running{{{s}}}[10s]))"),
        Some(t_load),
    )
    .await;
    for (i, pod) in pods.iter().enumerate() {
        let own = (counter_at(&trace, i, t_load) - counter_at(&trace, i, t_load - 10.0)) / 10.0;
        let nominal = loads[i].rate * handles[i].time_scale();
        let got = rpm[*pod] / 60.0;
        eprintln!(
            "{pod}: throughput {got:.2} req/s (Prometheus) vs {own:.2} (emulator counters) vs \
             {nominal:.2} (nominal rate x time scale)"
        );
        assert!(close(got, own, 0.10), "{pod}: {got} vs emulator {own}");
        assert!(
            close(got, nominal, 0.25),
            "{pod}: {got} vs nominal {nominal}"
        );
        let mean_batch = batch[i].0 / batch[i].1;
        let occ = occupancy[*pod];
        eprintln!(
            "{pod}: occupancy {occ:.2} (Prometheus, 10 samples) vs {mean_batch:.2} (time average)"
        );
        assert!(
            (occ - mean_batch).abs() <= 0.5 * mean_batch + 0.5,
            "{pod}: occupancy {occ} vs {mean_batch}"
        );
    }

    // Stop, drain, and wait until Prometheus holds the final counters.
    for h in handles {
        h.stop_load().unwrap();
    }
    wait::until_sync("servers drained", Duration::from_secs(10), || {
        let busy = handles
            .iter()
            .any(|h| h.snapshot().running + h.snapshot().waiting > 0);
        (!busy).then_some(())
    })
    .await;
    let last: Vec<Snapshot> = handles.iter().map(|h| h.snapshot()).collect();
    let final_counters = format!("vllm:request_success_total{{{s}}}");
    let stored = |v: &HashMap<String, f64>| {
        pods.iter()
            .zip(&last)
            .all(|(pod, snap)| v.get(*pod) == Some(&(snap.requests as f64)))
    };
    let reached = wait::within(Duration::from_secs(10), || async {
        stored(&by_pod(p, &final_counters, None).await).then_some(())
    })
    .await;
    if reached.is_none() {
        let v = by_pod(p, &final_counters, None).await;
        panic!(
            "Prometheus {v:?} never reached {:?}",
            last.iter().map(|s| s.requests).collect::<Vec<_>>()
        );
    }
    // A window that holds every sample since the zero counters, however slow this run was (the
    // spec's default is 1m; a longer window changes nothing for a ratio of two rates).
    let w = format!("{}s", (load_start.elapsed().as_secs() + 30).max(60));

    let ratio = |metric: &str| {
        format!(
            "sum by(pod)(rate({metric}_sum{{{s}}}[{w}])) / sum by(pod)(rate({metric}_count{{{s}}}[{w}]))"
        )
    };
    let itl = by_pod(
        p,
        &ratio("vllm:request_time_per_output_token_seconds"),
        None,
    )
    .await;
    let tpot = by_pod(p, &ratio("vllm:time_per_output_token_seconds"), None).await;
    let ttft = by_pod(p, &ratio("vllm:time_to_first_token_seconds"), None).await;
    let queue = by_pod(p, &ratio("vllm:request_queue_time_seconds"), None).await;
    let in_hist = by_pod(p, &ratio("vllm:request_prompt_tokens"), None).await;
    let out_hist = by_pod(p, &ratio("vllm:request_generation_tokens"), None).await;
    let per_pod_tokens = |counter: &str| {
        format!(
            "sum by(pod)(delta({counter}{{{s}}}[{w}])) / sum by(pod)(delta(vllm:request_success_total{{{s}}}[{w}]))"
        )
    };
    let in_tokens = by_pod(p, &per_pod_tokens("vllm:prompt_tokens_total"), None).await;
    let out_tokens = by_pod(p, &per_pod_tokens("vllm:generation_tokens_total"), None).await;
    let exact = |got: f64, want: f64| (got - want).abs() <= 1e-9 * want.abs().max(1e-12);
    for (i, pod) in pods.iter().enumerate() {
        let snap = &last[i];
        let checks = [
            ("ITL s", itl[*pod], snap.itl.mean()),
            ("per-token ITL s", tpot[*pod], snap.tpot.mean()),
            ("TTFT s", ttft[*pod], snap.ttft.mean()),
            ("queue s", queue[*pod], snap.queue.mean()),
            (
                "in tokens/req (histogram)",
                in_hist[*pod],
                snap.request_prompt_tokens.mean(),
            ),
            (
                "out tokens/req (histogram)",
                out_hist[*pod],
                snap.request_generation_tokens.mean(),
            ),
            (
                "in tokens/req",
                in_tokens[*pod],
                snap.prompt_tokens as f64 / snap.requests as f64,
            ),
            (
                "out tokens/req",
                out_tokens[*pod],
                snap.generation_tokens as f64 / snap.requests as f64,
            ),
        ];
        for (what, got, want) in checks {
            eprintln!("{pod}: {what} {got:.6} (Prometheus) vs {want:.6} (emulator)");
            assert!(exact(got, want), "{pod}: {what} {got} vs {want}");
        }
    }
    // The out-token mean of A is its load's (8..24 -> 16) mixed with the HTTP requests' 12.
    assert!(close(out_tokens[pods[1]], 32.0, 1e-9));
    assert!(close(in_tokens[pods[1]], 512.0, 1e-9));

    // The deployment-level token queries of the spec (both pods together): each pod's delta is
    // extrapolated with its own scrape timestamps, so the mix is close, not exact.
    let total = |counter: &str| {
        format!(
            "sum(delta({counter}{{{s}}}[1m])) / sum(delta(vllm:request_success_total{{{s}}}[1m]))"
        )
    };
    let requests: u64 = last.iter().map(|s| s.requests).sum();
    for (counter, served) in [
        (
            "vllm:prompt_tokens_total",
            last.iter().map(|s| s.prompt_tokens).sum::<u64>(),
        ),
        (
            "vllm:generation_tokens_total",
            last.iter().map(|s| s.generation_tokens).sum::<u64>(),
        ),
    ] {
        let got = p.query(&total(counter), None).await;
        assert_eq!(got.len(), 1);
        let want = served as f64 / requests as f64;
        eprintln!(
            "both pods: {counter} per request {:.2} (Prometheus) vs {want:.2}",
            got[0].1
        );
        assert!(
            close(got[0].1, want, 0.05),
            "{counter}: {} vs {want}",
            got[0].1
        );
    }

    // The saturation signals exist for both pods with the model_name label.
    for metric in [
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:num_preemptions_total",
    ] {
        let got = p.query(&format!("{metric}{{{s}}}"), None).await;
        assert_eq!(got.len(), 2, "{metric}: {got:?}");
        let models: Vec<&str> = got.iter().map(|(l, _)| l["model_name"].as_str()).collect();
        assert!(
            models.contains(&"granite_13b") && models.contains(&"llama_8b"),
            "{models:?}"
        );
    }
    host.shutdown().await;
    drop(prom);
}
