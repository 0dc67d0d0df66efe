//! Sends the run's requests to every policy's gateway at their arrival times and records what
//! became of each one.
//!
//! A request's TTFT is measured from its arrival, so time spent waiting for a ready pod counts;
//! its ITL is the emulated server's (last token - first token) / (tokens - 1). A request that
//! finds no ready pod within `gateway.maxWait` is rejected; one whose pod is removed while it
//! runs is cut off; one the server refuses (it cannot fit the KV cache) is refused; one still
//! running when the run's drain time ends is unfinished. All of them are misses.

use crate::arrivals::Request;
use crate::cluster::Cluster;
use crate::scenario::BenchServer;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// All tokens generated.
    Served,
    /// No ready pod within the gateway's wait.
    Rejected,
    /// The server refused it (larger than its KV cache).
    Refused,
    /// Its pod went away while it ran.
    CutOff,
    /// Still running when the run ended.
    Unfinished,
}

/// One request's record (a line of `requests.jsonl`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// Policy index.
    #[serde(skip)]
    pub policy: usize,
    /// Server name.
    pub server: String,
    /// Server index.
    #[serde(skip)]
    pub server_index: usize,
    /// Sequence number within the server (the same request under every policy).
    pub id: u64,
    /// Arrival, scenario seconds.
    pub at: f64,
    /// Prompt tokens.
    pub prompt: u32,
    /// Output tokens.
    pub output: u32,
    /// What became of it.
    pub outcome: Outcome,
    /// The pod that served it ("" when none).
    pub pod: String,
    /// Time waiting for a ready pod, ms.
    pub wait_ms: f64,
    /// Arrival to first token (wait included), ms; 0 when not served.
    pub ttft_ms: f64,
    /// Mean time between output tokens, ms; 0 when not served.
    pub itl_ms: f64,
    /// Arrival to last token, ms; 0 when not served.
    pub e2e_ms: f64,
    /// Preemptions it suffered.
    pub preemptions: u32,
    /// Served within its class's TTFT target.
    pub met_ttft: bool,
    /// Served within its class's ITL target.
    pub met_itl: bool,
}

impl RequestRecord {
    /// Served within both targets.
    pub fn met_both(&self) -> bool {
        self.met_ttft && self.met_itl
    }
}

/// Collects the records; knows the requests still open.
#[derive(Debug, Default)]
pub struct Recorder {
    done: Mutex<Vec<RequestRecord>>,
    open: Mutex<HashMap<u64, RequestRecord>>,
    next: AtomicU64,
    /// Largest lateness of a dispatch behind its arrival time, wall microseconds.
    pub max_lag_us: AtomicU64,
}

impl Recorder {
    fn open(&self, r: RequestRecord) -> u64 {
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token, r);
        token
    }

    fn close(&self, token: u64, f: impl FnOnce(&mut RequestRecord)) {
        let Some(mut r) = self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&token)
        else {
            return;
        };
        f(&mut r);
        self.done.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    }

    /// Requests still open.
    pub fn open_count(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Ends the run: open requests become unfinished; returns every record.
    pub fn finish(&self) -> Vec<RequestRecord> {
        let open: Vec<RequestRecord> = self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, mut r)| {
                r.outcome = Outcome::Unfinished;
                r
            })
            .collect();
        let mut done = std::mem::take(&mut *self.done.lock().unwrap_or_else(|e| e.into_inner()));
        done.extend(open);
        done.sort_by(|a, b| {
            (a.policy, a.server_index, a.id).cmp(&(b.policy, b.server_index, b.id))
        });
        done
    }
}

/// Sends `requests` (one server's, in arrival order) to every policy in `policies`.
pub async fn dispatch(
    cluster: Arc<Cluster>,
    recorder: Arc<Recorder>,
    server: Arc<BenchServer>,
    requests: Vec<Request>,
    policies: Vec<usize>,
    max_wait: f64,
) {
    let clock = cluster.clock();
    for req in requests {
        let due = clock.instant(req.at);
        tokio::time::sleep_until(due).await;
        let lag = tokio::time::Instant::now().saturating_duration_since(due);
        recorder
            .max_lag_us
            .fetch_max(lag.as_micros() as u64, Ordering::Relaxed);
        for &policy in &policies {
            let token = recorder.open(RequestRecord {
                policy,
                server: server.name.clone(),
                server_index: req.server,
                id: req.id,
                at: req.at,
                prompt: req.prompt,
                output: req.output,
                outcome: Outcome::Unfinished,
                pod: String::new(),
                wait_ms: 0.0,
                ttft_ms: 0.0,
                itl_ms: 0.0,
                e2e_ms: 0.0,
                preemptions: 0,
                met_ttft: false,
                met_itl: false,
            });
            tokio::spawn(one(
                cluster.clone(),
                recorder.clone(),
                server.clone(),
                req,
                policy,
                token,
                max_wait,
            ));
        }
    }
}

async fn one(
    cluster: Arc<Cluster>,
    recorder: Arc<Recorder>,
    server: Arc<BenchServer>,
    req: Request,
    policy: usize,
    token: u64,
    max_wait: f64,
) {
    let clock = cluster.clock();
    let arrived = clock.instant(req.at);
    let gateway = cluster.gateway(policy, req.server);
    let lease = match gateway.pick() {
        Some(l) => Some(l),
        None => gateway.wait_pick(arrived + clock.wall(max_wait)).await,
    };
    let Some(lease) = lease else {
        recorder.close(token, |r| r.outcome = Outcome::Rejected);
        return;
    };
    let wait_ms = tokio::time::Instant::now()
        .saturating_duration_since(arrived)
        .as_secs_f64()
        * clock.scale()
        * 1000.0;
    let result = lease.server.complete(req.prompt, req.output).await;
    let pod = lease.pod.clone();
    drop(lease);
    recorder.close(token, |r| {
        r.pod = pod;
        r.wait_ms = wait_ms;
        match result {
            Ok(c) => {
                r.outcome = Outcome::Served;
                r.ttft_ms = wait_ms + c.ttft_ms;
                r.itl_ms = c.itl_ms;
                r.e2e_ms = wait_ms + c.e2e_ms;
                r.preemptions = c.preemptions;
                r.met_ttft = r.ttft_ms <= server.ttft_target_ms;
                r.met_itl = r.itl_ms <= server.itl_target_ms;
            }
            Err(e) if is_cut_off(&e) => r.outcome = Outcome::CutOff,
            Err(_) => r.outcome = Outcome::Refused,
        }
    });
}

fn is_cut_off(e: &inferno_emulator::Error) -> bool {
    matches!(e, inferno_emulator::Error::CutOff(_))
}
