//! The HTTP face of one emulated server: the vLLM/OpenAI endpoints and a small control API.
//!
//! | route | what |
//! |---|---|
//! | `POST /v1/completions` | OpenAI completions; answers when all `max_tokens` are generated |
//! | `GET /v1/models` | the served model |
//! | `GET /health` | 200 while the server runs |
//! | `GET /metrics` | Prometheus text format, vLLM metric names |
//! | `GET /emulator/state` | allocation, internal load, time scale, metrics snapshot (JSON) |
//! | `PUT /emulator/allocation` | change accelerator / perf / max batch size ([`AllocationUpdate`]) |
//! | `PUT /emulator/load`, `DELETE /emulator/load` | start ([`crate::LoadSpec`]) or stop the internal load |

use crate::error::Error;
use crate::server::{AllocationUpdate, Server};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Tokens generated when a request gives no `max_tokens` (OpenAI's completions default).
const DEFAULT_MAX_TOKENS: u32 = 16;

/// The router of one server.
pub(crate) fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/v1/completions", post(completions))
        .route("/v1/models", get(models))
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/metrics", get(metrics))
        .route("/emulator/state", get(state))
        .route("/emulator/allocation", put(allocation))
        .route("/emulator/load", put(start_load).delete(stop_load))
        .with_state(server)
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// An error in the OpenAI shape.
fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    json_response(
        status,
        &json!({"error": {
            "message": message.into(),
            "type": kind,
            "param": null,
            "code": status.as_u16(),
        }}),
    )
}

fn bad_request(message: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "BadRequestError", message)
}

fn from_error(e: Error) -> Response {
    match e {
        Error::Refused { message, .. } => bad_request(message),
        Error::Stopped(_) | Error::CutOff(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailableError",
            e.to_string(),
        ),
        Error::UnknownPerf { .. } => error(StatusCode::NOT_FOUND, "NotFoundError", e.to_string()),
        _ => bad_request(e.to_string()),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid JSON body: {e}"))
}

async fn metrics(State(server): State<Arc<Server>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            inferno_telemetry::metrics::CONTENT_TYPE,
        )],
        server.render_metrics(),
    )
        .into_response()
}

async fn models(State(server): State<Arc<Server>>) -> Response {
    let a = server.allocation();
    json_response(
        StatusCode::OK,
        &json!({"object": "list", "data": [{
            "id": server.model,
            "object": "model",
            "created": unix_now(),
            "owned_by": "inferno-emulator",
            "root": server.model,
            "max_model_len": a.kv_cache_tokens,
        }]}),
    )
}

async fn state(State(server): State<Arc<Server>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "name": server.name,
            "model": server.model,
            "address": server.addr.to_string(),
            "timeScale": server.time_scale,
            "allocation": server.allocation(),
            "load": server.load(),
            "metrics": server.snapshot(),
        }),
    )
}

async fn allocation(State(server): State<Arc<Server>>, body: Bytes) -> Response {
    let update: AllocationUpdate = match parse(&body) {
        Ok(u) => u,
        Err(message) => return bad_request(message),
    };
    match server.update(update) {
        Ok(a) => json_response(StatusCode::OK, &json!(a)),
        Err(e) => from_error(e),
    }
}

async fn start_load(State(server): State<Arc<Server>>, body: Bytes) -> Response {
    let load = match parse(&body) {
        Ok(l) => l,
        Err(message) => return bad_request(message),
    };
    match server.set_load(Some(load)) {
        Ok(()) => json_response(StatusCode::OK, &json!({"load": server.load()})),
        Err(e) => from_error(e),
    }
}

async fn stop_load(State(server): State<Arc<Server>>) -> Response {
    match server.set_load(None) {
        Ok(()) => json_response(StatusCode::OK, &json!({"load": null})),
        Err(e) => from_error(e),
    }
}

/// The prompt forms OpenAI accepts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Prompt {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenLists(Vec<Vec<u32>>),
}

/// The fields of an OpenAI completions request the emulator reads; others are ignored.
#[derive(Debug, Deserialize)]
struct CompletionRequest {
    model: Option<String>,
    prompt: Option<Prompt>,
    max_tokens: Option<u32>,
    /// Extension: the prompt length in tokens, overriding the count taken from `prompt`.
    prompt_tokens: Option<u32>,
    stream: Option<bool>,
    n: Option<u32>,
}

/// Prompt length in tokens: whitespace-separated words of a text (a crude but stable stand-in
/// for a tokenizer), the length of a token-id list; at least 1.
fn count_prompt(req: &CompletionRequest) -> Result<u32, &'static str> {
    if let Some(n) = req.prompt_tokens {
        return Ok(n.max(1));
    }
    let words = |t: &str| t.split_whitespace().count();
    let n = match &req.prompt {
        None => return Err("prompt is required (or the prompt_tokens extension)"),
        Some(Prompt::Text(t)) => words(t),
        Some(Prompt::Tokens(ids)) => ids.len(),
        Some(Prompt::Texts(ts)) if ts.len() == 1 => words(&ts[0]),
        Some(Prompt::TokenLists(ls)) if ls.len() == 1 => ls[0].len(),
        Some(_) => return Err("batched prompts are not supported: send one prompt"),
    };
    Ok(u32::try_from(n).unwrap_or(u32::MAX).max(1))
}

fn filler(tokens: u32) -> String {
    const WORDS: [&str; 8] = [
        "lorem",
        "ipsum",
        "dolor",
        "sit",
        "amet",
        "consectetur",
        "adipiscing",
        "elit",
    ];
    let mut text = String::with_capacity(tokens as usize * 7);
    for i in 0..tokens as usize {
        text.push(' ');
        text.push_str(WORDS[i % WORDS.len()]);
    }
    text
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn completions(State(server): State<Arc<Server>>, body: Bytes) -> Response {
    let req: CompletionRequest = match parse(&body) {
        Ok(r) => r,
        Err(message) => return bad_request(message),
    };
    if let Some(model) = &req.model {
        if *model != server.model {
            return error(
                StatusCode::NOT_FOUND,
                "NotFoundError",
                format!("The model `{model}` does not exist."),
            );
        }
    }
    if req.stream == Some(true) {
        return bad_request("streaming is not supported by the emulator");
    }
    if req.n.is_some_and(|n| n != 1) {
        return bad_request("only n = 1 is supported");
    }
    let prompt = match count_prompt(&req) {
        Ok(n) => n,
        Err(message) => return bad_request(message),
    };
    let max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    let done = match server.complete(prompt, max_tokens).await {
        Ok(done) => done,
        Err(e) => return from_error(e),
    };
    let id = server.next_id();
    json_response(
        StatusCode::OK,
        &json!({
            "id": format!("cmpl-{}-{id}", server.name),
            "object": "text_completion",
            "created": unix_now(),
            "model": server.model,
            "choices": [{
                "index": 0,
                "text": filler(done.completion_tokens),
                "logprobs": null,
                "finish_reason": "length",
            }],
            "usage": {
                "prompt_tokens": done.prompt_tokens,
                "completion_tokens": done.completion_tokens,
                "total_tokens": done.prompt_tokens + done.completion_tokens,
            },
            "emulator": {
                "queue_ms": done.queue_ms,
                "ttft_ms": done.ttft_ms,
                "e2e_ms": done.e2e_ms,
                "itl_ms": done.itl_ms,
                "preemptions": done.preemptions,
            },
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> CompletionRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn prompt_lengths() {
        assert_eq!(
            count_prompt(&req(json!({"prompt": "a b  c\nd"}))).ok(),
            Some(4)
        );
        assert_eq!(count_prompt(&req(json!({"prompt": ""}))).ok(), Some(1));
        assert_eq!(
            count_prompt(&req(json!({"prompt": [1, 2, 3]}))).ok(),
            Some(3)
        );
        assert_eq!(count_prompt(&req(json!({"prompt": ["x y"]}))).ok(), Some(2));
        assert_eq!(
            count_prompt(&req(json!({"prompt": [[5, 6]]}))).ok(),
            Some(2)
        );
        assert_eq!(
            count_prompt(&req(json!({"prompt": "x", "prompt_tokens": 300}))).ok(),
            Some(300)
        );
        assert!(count_prompt(&req(json!({"prompt": ["a", "b"]}))).is_err());
        assert!(count_prompt(&req(json!({}))).is_err());
    }

    #[test]
    fn filler_has_one_word_per_token() {
        assert_eq!(filler(3), " lorem ipsum dolor");
        assert_eq!(filler(20).split_whitespace().count(), 20);
        assert_eq!(filler(0), "");
    }
}
