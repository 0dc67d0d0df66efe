//! A request from outside the server (HTTP or [`crate::ServerHandle::complete`]) on its way
//! through the engine: the reply it gets ([`Outcome`], [`Completion`]) and the [`Waiter`] that
//! carries the reply channel and keeps the server's in-flight count while the engine holds it.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

/// A completed request, times in emulated ms from its arrival (the `emulator` object of an
/// HTTP completion).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Completion {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Generated tokens (all `max_tokens`: the emulator never stops early).
    pub completion_tokens: u32,
    /// Arrival to first admission into the batch.
    pub queue_ms: f64,
    /// Arrival to first token (queue time included).
    pub ttft_ms: f64,
    /// Arrival to last token.
    pub e2e_ms: f64,
    /// Mean time per output token after the first, `(e2e - ttft) / (completion_tokens - 1)`;
    /// 0 for a single token (vLLM's `request_time_per_output_token`).
    pub itl_ms: f64,
    /// How many times the request was preempted (and recomputed).
    pub preemptions: u32,
}

/// The engine's reply to a request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// All tokens generated.
    Done(Completion),
    /// The request can never run (its context exceeds the KV cache).
    Rejected(String),
}

/// The reply channel of one outside request. While it exists (from submission until the
/// engine answers or drops it) the request counts in its server's in-flight number, so that
/// number is exact whether or not the caller still waits for the reply.
#[derive(Debug)]
pub(crate) struct Waiter {
    // Declared first so it drops first: a request dropped at a stop leaves the count before
    // its caller hears the channel close.
    counted: Counted,
    tx: oneshot::Sender<Outcome>,
}

/// One unit of an in-flight count, given back on drop.
#[derive(Debug)]
struct Counted(Arc<AtomicU64>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Waiter {
    /// A waiter counted in `counter`, and the receiver of its reply.
    pub(crate) fn new(counter: &Arc<AtomicU64>) -> (Self, oneshot::Receiver<Outcome>) {
        let (tx, rx) = oneshot::channel();
        counter.fetch_add(1, Ordering::SeqCst);
        let counted = Counted(counter.clone());
        (Self { counted, tx }, rx)
    }

    /// Answers the request (the caller may have gone: then nobody hears it).
    pub(crate) fn send(self, outcome: Outcome) {
        let Self { counted, tx } = self;
        // Released first, so a caller that has its reply never sees its own request counted.
        drop(counted);
        let _ = tx.send(outcome);
    }
}
