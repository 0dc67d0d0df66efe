//! A scripted Prometheus HTTP API on 127.0.0.1: answers each query by what its metric name
//! contains, or misbehaves on purpose.

use axum::extract::RawForm;
use axum::http::HeaderMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// How the fake behaves.
#[derive(Debug, Clone)]
pub(crate) enum Behaviour {
    /// Every pod gets the same values under a steady load, per minute of each query's window:
    /// (completed requests, itl s, ttft s, prompt tokens, generated tokens, requests counted by
    /// the token histograms). Counts grow with the window; latencies do not. The output-length
    /// buckets hold those requests in the shares of [`OUTPUT_SHARES`].
    Values {
        pods: Vec<(String, String)>,
        values: [f64; 6],
    },
    /// Every pod gets the same values, written as Prometheus writes them (`"+Inf"`, `"NaN"`,
    /// `"1e308"`), in the order of `Values`, whatever the window.
    Text {
        pods: Vec<(String, String)>,
        values: [&'static str; 6],
    },
    /// Every value is NaN.
    NaN { pods: Vec<(String, String)> },
    /// Every pod holds `outstanding` requests now (running + waiting, last sample); nothing else
    /// is measured.
    Holding {
        pods: Vec<(String, String)>,
        outstanding: f64,
    },
    /// A valid, empty answer padded to this many bytes.
    Huge(usize),
    /// Empty vectors.
    Empty,
    /// `status: error`.
    Error,
    /// Never answers: the client's timeout has to end the query.
    Hung,
}

/// The cumulative share of the requests at or below each output-length bound (`le` written as
/// vLLM's Python client and as Go write them): spread, around a mean of a few hundred tokens.
const OUTPUT_SHARES: [(&str, f64); 6] = [
    ("100.0", 0.05),
    ("200", 0.2),
    ("500.0", 0.6),
    ("1000.0", 0.9),
    ("2000", 1.0),
    ("+Inf", 1.0),
];

/// The output-length buckets of `requests` requests on every pod.
fn buckets(pods: &[(String, String)], requests: f64) -> serde_json::Value {
    let result: Vec<serde_json::Value> = pods
        .iter()
        .flat_map(|(ns, pod)| {
            OUTPUT_SHARES.iter().map(move |(le, share)| {
                serde_json::json!({"metric": {"namespace": ns, "pod": pod, "le": le},
                    "value": [1.0, (requests * share).to_string()]})
            })
        })
        .collect();
    serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}})
}

fn vector(pods: &[(String, String)], v: &str) -> serde_json::Value {
    let result: Vec<serde_json::Value> = pods
        .iter()
        .map(|(ns, pod)| serde_json::json!({"metric": {"namespace": ns, "pod": pod}, "value": [1.0, v]}))
        .collect();
    serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}})
}

/// The window of `query` in minutes (its first `[<n>s]`, not a regex's `[a-z0-9]`), 1 if it
/// has none.
fn minutes(query: &str) -> f64 {
    query
        .split('[')
        .skip(1)
        .find_map(|rest| rest.split_once("s]")?.0.parse::<f64>().ok())
        .map_or(1.0, |s| s / 60.0)
}

fn answer(b: &Behaviour, query: &str) -> serde_json::Value {
    match b {
        Behaviour::Values { pods, values }
            if query.contains("vllm:request_generation_tokens_bucket") =>
        {
            buckets(pods, values[5] * minutes(query))
        }
        Behaviour::Values { pods, values } => {
            let m = minutes(query);
            let counted = [true, false, false, true, true, true];
            let text: Vec<String> = values
                .iter()
                .zip(counted)
                .map(|(v, c)| if c { v * m } else { *v }.to_string())
                .collect();
            let text: [&str; 6] = std::array::from_fn(|i| text[i].as_str());
            answer_text(pods, &text, query)
        }
        Behaviour::Text { pods, values } => answer_text(pods, values, query),
        Behaviour::NaN { pods } => vector(pods, "NaN"),
        // The held-now query is the only one summing the bare gauge (no range, no offset).
        Behaviour::Holding { pods, outstanding }
            if query.starts_with("sum by(namespace, pod)(vllm:num_requests_running{") =>
        {
            vector(pods, &outstanding.to_string())
        }
        Behaviour::Holding { .. } => {
            serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": []}})
        }
        Behaviour::Huge(bytes) => {
            let pad = " ".repeat(*bytes);
            serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": []}, "pad": pad})
        }
        Behaviour::Empty => {
            serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": []}})
        }
        Behaviour::Error => {
            serde_json::json!({"status": "error", "errorType": "bad_data", "error": "scripted failure"})
        }
        Behaviour::Hung => unreachable!("a hung Prometheus never answers"),
    }
}

/// The answer to `query` when every pod has `values` (see [`Behaviour::Values`]), and a series
/// at every window's start; nothing for the backlog, the gauges, the legacy ITL and the
/// output-length buckets.
fn answer_text(pods: &[(String, String)], values: &[&str; 6], query: &str) -> serde_json::Value {
    let v = if query.starts_with("count by(") {
        // Every pod's series reach back to the window's start.
        "1"
    } else if query.contains("last_over_time(vllm:request_success_total") {
        values[0]
    } else if query.contains("vllm:request_time_per_output_token_seconds") {
        values[1]
    } else if query.contains("time_to_first_token") {
        values[2]
    } else if query.contains("vllm:request_prompt_tokens_sum") {
        values[3]
    } else if query.contains("vllm:request_generation_tokens_sum") {
        values[4]
    } else if query.contains("_tokens_count") {
        values[5]
    } else {
        return serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": []}});
    };
    vector(pods, v)
}

fn decode(form: &[u8]) -> String {
    let text = String::from_utf8_lossy(form);
    let raw = text
        .split('&')
        .find_map(|kv| kv.strip_prefix("query="))
        .unwrap_or("");
    let mut out = Vec::new();
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&raw[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Starts the fake; returns its base URL and the queries it saw.
pub(crate) async fn start(behaviour: Behaviour) -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/api/v1/query",
        axum::routing::post(move |headers: HeaderMap, RawForm(form): RawForm| {
            let behaviour = behaviour.clone();
            let log = log.clone();
            async move {
                let query = decode(&form);
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                // The log records the Authorization header with each query: "<auth>|<query>".
                log.lock().unwrap().push(format!("{auth}|{query}"));
                if let Behaviour::Hung = behaviour {
                    std::future::pending::<()>().await;
                }
                answer(&behaviour, &query).to_string()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}
