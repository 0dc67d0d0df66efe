//! The HTTP API of one emulated server over loopback: completions, models, health, metrics,
//! error shapes, the control endpoints.

use crate::support::{get, init_logs, post, put, request};
use inferno_emulator::{Host, PerfParms, ServerSpec};
use inferno_testkit::wait;
use serde_json::{json, Value};

/// alpha 10 ms, beta 0.01 ms/token, no gamma; 10x faster than real time.
pub(crate) fn spec(name: &str) -> ServerSpec {
    ServerSpec {
        name: name.into(),
        model: "granite_13b".into(),
        accelerator: "A100".into(),
        perf: Some(PerfParms {
            alpha: 10.0,
            beta: 0.01,
            gamma: 0.0,
        }),
        max_batch_size: 8,
        time_scale: 10.0,
        ..ServerSpec::default()
    }
}

/// The value of the sample line `name{labels}` in a metrics text.
pub(crate) fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn completion_has_the_openai_shape_and_emulated_timings() {
    init_logs();
    let host = Host::loopback(None);
    let h = host.start_server(spec("shape")).await.unwrap();
    let r = post(
        h.addr(),
        "/v1/completions",
        r#"{"model":"granite_13b","prompt":"one two three four","max_tokens":5,"temperature":0}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["model"], "granite_13b");
    assert!(v["id"].as_str().unwrap().starts_with("cmpl-shape-"));
    assert_eq!(v["choices"][0]["index"], 0);
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(
        v["choices"][0]["text"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .count(),
        5
    );
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 5, "total_tokens": 9})
    );
    // Alone on the server: prefill (10 + 0.04) then 5 decodes (10 + 0.01 each), emulated ms.
    let e = &v["emulator"];
    let ttft = e["ttft_ms"].as_f64().unwrap() - e["queue_ms"].as_f64().unwrap();
    let e2e = e["e2e_ms"].as_f64().unwrap() - e["queue_ms"].as_f64().unwrap();
    assert!((ttft - 20.05).abs() < 1e-6, "{e}");
    assert!((e2e - 60.09).abs() < 1e-6, "{e}");

    // Token-id prompts, the prompt_tokens extension, the default max_tokens (16).
    let v = post(h.addr(), "/v1/completions", r#"{"prompt":[1,2,3,4,5,6,7]}"#)
        .await
        .json();
    assert_eq!(v["usage"]["prompt_tokens"], 7);
    assert_eq!(v["usage"]["completion_tokens"], 16);
    let v = post(
        h.addr(),
        "/v1/completions",
        r#"{"prompt":"x","prompt_tokens":300,"max_tokens":2}"#,
    )
    .await
    .json();
    assert_eq!(v["usage"]["prompt_tokens"], 300);

    let text = get(h.addr(), "/metrics").await.body;
    let m = |s: &str| sample(&text, s);
    assert_eq!(
        m("vllm:request_success_total{model_name=\"granite_13b\",finished_reason=\"length\"}"),
        3.0
    );
    assert_eq!(
        m("vllm:prompt_tokens_total{model_name=\"granite_13b\"}"),
        311.0
    );
    assert_eq!(
        m("vllm:generation_tokens_total{model_name=\"granite_13b\"}"),
        23.0
    );
    assert_eq!(
        m("vllm:time_to_first_token_seconds_count{model_name=\"granite_13b\"}"),
        3.0
    );
    // One observation per finished request, of its own prompt (4, 7, 300) and output (5, 16,
    // 2) tokens, in vLLM's 1-2-5 buckets.
    for (series, value) in [
        ("vllm:request_prompt_tokens_sum", 311.0),
        ("vllm:request_prompt_tokens_count", 3.0),
        ("vllm:request_generation_tokens_sum", 23.0),
        ("vllm:request_generation_tokens_count", 3.0),
    ] {
        assert_eq!(m(&format!("{series}{{model_name=\"granite_13b\"}}")), value);
    }
    let bucket = |name: &str, le: &str| {
        m(&format!(
            "vllm:request_{name}_tokens_bucket{{model_name=\"granite_13b\",le=\"{le}\"}}"
        ))
    };
    assert_eq!(
        ["5", "10", "200", "500", "+Inf"].map(|le| bucket("prompt", le)),
        [1.0, 2.0, 2.0, 3.0, 3.0]
    );
    assert_eq!(
        ["2", "5", "10", "20"].map(|le| bucket("generation", le)),
        [1.0, 2.0, 2.0, 3.0]
    );
    host.shutdown().await;
}

#[tokio::test]
async fn errors_have_the_openai_shape() {
    init_logs();
    let host = Host::loopback(None);
    let mut s = spec("errors");
    s.kv_cache_tokens = 1000;
    let h = host.start_server(s).await.unwrap();
    let cases: [(&str, u16, &str); 8] = [
        (r#"{"model":"other","prompt":"a"}"#, 404, "does not exist"),
        (r#"{"prompt":"a","stream":true}"#, 400, "streaming"),
        (r#"{"prompt":"a","n":2}"#, 400, "n = 1"),
        (r#"{"max_tokens":3}"#, 400, "prompt is required"),
        (r#"{"prompt":"a","max_tokens":0}"#, 400, "at least 1"),
        (r#"{"prompt":["a","b"]}"#, 400, "batched"),
        (
            r#"{"prompt":"a","prompt_tokens":990,"max_tokens":20}"#,
            400,
            "maximum context length is 1000",
        ),
        ("{not json", 400, "invalid JSON"),
    ];
    for (body, status, message) in cases {
        let r = post(h.addr(), "/v1/completions", body).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        let v = r.json();
        assert!(
            v["error"]["message"].as_str().unwrap().contains(message),
            "{body}: {v}"
        );
        assert_eq!(v["error"]["code"], status);
    }
    let r = get(h.addr(), "/nope").await;
    assert_eq!(r.status, 404);
    host.shutdown().await;
}

#[tokio::test]
async fn models_health_and_metrics_endpoints() {
    init_logs();
    let host = Host::loopback(None);
    let h = host.start_server(spec("meta")).await.unwrap();
    let r = get(h.addr(), "/health").await;
    assert_eq!(r.status, 200);
    let v = get(h.addr(), "/v1/models").await.json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "granite_13b");
    let r = get(h.addr(), "/metrics").await;
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    for name in [
        "vllm:request_success_total",
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:num_preemptions_total",
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "vllm:time_to_first_token_seconds",
        "vllm:request_time_per_output_token_seconds",
        "vllm:time_per_output_token_seconds",
        "vllm:request_queue_time_seconds",
        "vllm:e2e_request_latency_seconds",
        "vllm:request_prompt_tokens",
        "vllm:request_generation_tokens",
    ] {
        assert!(
            r.body
                .lines()
                .any(|l| l.starts_with(&format!("# TYPE {name} "))),
            "no TYPE line for {name}"
        );
    }
    // Every sample line is `name{labels} value` with model_name first.
    for line in r.body.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        assert!(series.contains("{model_name=\"granite_13b\""), "{line}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
    host.shutdown().await;
}

#[tokio::test]
async fn concurrent_requests_queue_behind_the_batch_cap() {
    init_logs();
    let host = Host::loopback(None);
    let mut s = spec("cap");
    s.max_batch_size = 2;
    let h = host.start_server(s).await.unwrap();
    let addr = h.addr();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            tokio::spawn(async move {
                post(
                    addr,
                    "/v1/completions",
                    r#"{"prompt":"a b","max_tokens":10}"#,
                )
                .await
                .json()
            })
        })
        .collect();
    let mut queued = Vec::new();
    for t in tasks {
        let v: Value = t.await.unwrap();
        assert_eq!(v["usage"]["completion_tokens"], 10);
        queued.push(v["emulator"]["queue_ms"].as_f64().unwrap());
    }
    queued.sort_by(f64::total_cmp);
    // Two at a time: the last pair waited for about two full requests (11 iterations of
    // 10 ms each); connections opening a few ms apart at 10x shave some of that off. The first
    // started at once, up to the scheduling of a loaded machine (each real ms is 10 emulated
    // ones: 2.5 real ms were seen with both cores busy), so it is compared with the last.
    assert!(queued[5] > 150.0, "{queued:?}");
    assert!(queued[0] < queued[5] / 4.0, "{queued:?}");
    let s = h.snapshot();
    assert_eq!((s.requests, s.generation_tokens), (6, 60));
    assert_eq!((s.running, s.waiting), (0, 0));
    assert!(s.queue.sum > 0.3, "{:?}", s.queue);
    host.shutdown().await;
}

#[tokio::test]
async fn control_endpoints_change_allocation_and_load() {
    init_logs();
    let host = Host::loopback(None);
    let h = host.start_server(spec("control")).await.unwrap();
    let v = get(h.addr(), "/emulator/state").await.json();
    assert_eq!(v["name"], "control");
    assert_eq!(v["allocation"]["maxBatchSize"], 8);
    assert_eq!(v["allocation"]["kvCacheTokens"], 8 * 8192);
    assert_eq!(v["load"], Value::Null);

    let r = put(h.addr(), "/emulator/allocation", r#"{"maxBatchSize":3}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["maxBatchSize"], 3);
    assert_eq!(h.allocation().max_batch_size, 3);
    assert_eq!(h.allocation().kv_cache_tokens, 3 * 8192);
    let r = put(
        h.addr(),
        "/emulator/allocation",
        r#"{"accelerator":"H100","perf":{"alpha":4,"beta":0.002,"gamma":0}}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(h.allocation().perf.alpha, 4.0);
    assert_eq!(h.allocation().accelerator, "H100");
    // Without a catalog an accelerator alone cannot be resolved.
    let r = put(h.addr(), "/emulator/allocation", r#"{"accelerator":"L4"}"#).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let r = put(h.addr(), "/emulator/allocation", r#"{"maxBatchSize":0}"#).await;
    assert_eq!(r.status, 400);
    let r = put(h.addr(), "/emulator/allocation", r#"{"maxBatch":2}"#).await;
    assert_eq!(r.status, 400, "unknown fields are refused");

    // One request at the new parameters: prefill 4 + 0.002, decodes 4.002 each.
    let v = post(
        h.addr(),
        "/v1/completions",
        r#"{"prompt":"a","max_tokens":3}"#,
    )
    .await
    .json();
    let e = &v["emulator"];
    let busy = e["e2e_ms"].as_f64().unwrap() - e["queue_ms"].as_f64().unwrap();
    assert!((busy - 4.0 * 4.002).abs() < 1e-6, "{e}");
    let text = get(h.addr(), "/metrics").await.body;
    assert_eq!(
        sample(
            &text,
            "inferno_emulator_max_batch_size{model_name=\"granite_13b\"}"
        ),
        3.0
    );
    assert!(text.contains("accelerator=\"H100\""));

    let r = put(
        h.addr(),
        "/emulator/load",
        r#"{"rate":50,"inTokens":"4..8","outTokens":3,"seed":3}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(h.load().unwrap().rate, 50.0);
    let r = put(h.addr(), "/emulator/load", r#"{"rate":-1}"#).await;
    assert_eq!(r.status, 400);
    // 50/s emulated at 10x: about 100 requests in 0.2 s of wall time.
    let wait = std::time::Duration::from_secs(10);
    wait::until("50 requests served", wait, || async {
        (h.snapshot().requests > 50).then_some(())
    })
    .await;
    let r = request(h.addr(), "DELETE", "/emulator/load", None)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(h.load().is_none());
    let s = wait::until("the server drained", wait, || async {
        let s = h.snapshot();
        (s.running + s.waiting == 0).then_some(s)
    })
    .await;
    let stopped = s.requests;
    // An absence can only be waited for: a later arrival would show up as a higher count.
    // On the paused clock the 100 ms (1 s emulated, ~50 arrivals of a load still running) pass
    // at once, every timer of the server's tasks firing in order; the clock runs again for the
    // HTTP that follows.
    tokio::time::pause();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    tokio::time::resume();
    assert_eq!(
        h.snapshot().requests,
        stopped,
        "no arrivals after the load stopped"
    );
    let v = get(h.addr(), "/emulator/state").await.json();
    assert_eq!(v["metrics"]["requests"], stopped);
    host.shutdown().await;
}
