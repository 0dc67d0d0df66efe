//! Continuous batching with chunked prefill: which requests run in the next iteration and with
//! how many tokens each, and what happened when the iteration ends. Pure bookkeeping in
//! emulated milliseconds; no clock, no IO.
//!
//! The policy is vLLM's (V1) scheduler, simplified to what the queueing model of spec 1.1
//! describes. Each iteration has a budget of `max_num_tokens` computed tokens. Running requests
//! are served first, in admission order: one still in prefill gets the next chunk of its prompt
//! (as much as the remaining budget allows), one in decode gets one token. Then waiting
//! requests are admitted in FIFO order while the batch has fewer than `max_batch` requests and
//! budget is left, each with a first chunk. As in the model, a request spends its prefill
//! iterations without output and then emits one token per decode iteration, so it takes
//! `c + m` iterations (real vLLM samples the first token at the end of the last prefill chunk).
//!
//! The KV cache holds `kv_capacity` tokens; every computed token occupies one slot until its
//! request finishes. When a running request needs a slot and none is free, the most recently
//! admitted running request is preempted (recompute: its slots are freed, it goes back to the
//! front of the queue and later prefills its prompt and the tokens generated so far again);
//! no new request is admitted in an iteration that preempted.
//!
//! The work of an iteration is reported as computed tokens and KV tokens read, where a request
//! reads its whole context including the tokens computed in this iteration: a prefill chunk
//! ending at prompt position `p` reads `p`, decode step `j` reads `n + j`. Summed over a
//! request's life that is exactly the model's `w_pf(c)` and `w_dec`.

use std::collections::VecDeque;

/// The scheduler's limits; all can change between iterations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Max requests in the batch (vLLM `max_num_seqs`), >= 1.
    pub(crate) max_batch: u32,
    /// Computed tokens per iteration (vLLM `max_num_batched_tokens`), >= 1.
    pub(crate) max_num_tokens: u32,
    /// KV cache slots, tokens.
    pub(crate) kv_capacity: u64,
}

/// One request in the scheduler.
#[derive(Debug)]
struct Seq<T> {
    prompt: u32,
    max_tokens: u32,
    arrival: f64,
    /// First admission to the batch (preemptions do not reset it).
    admitted: Option<f64>,
    /// Tokens to prefill: the prompt, or prompt + generated tokens after a preemption.
    target: u32,
    prefilled: u32,
    generated: u32,
    first_token: Option<f64>,
    last_token: f64,
    preemptions: u32,
    prompt_counted: bool,
    /// KV slots held.
    kv: u64,
    /// Tokens computed in the iteration in flight (0 = not scheduled).
    step: u32,
    /// The iteration in flight is a decode step.
    decoding: bool,
    payload: T,
}

impl<T> Seq<T> {
    fn in_prefill(&self) -> bool {
        self.prefilled < self.target
    }

    fn preempt(&mut self) {
        self.kv = 0;
        self.prefilled = 0;
        self.target = self.prompt.saturating_add(self.generated);
        self.preemptions += 1;
        self.step = 0;
    }
}

/// What one iteration computes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Work {
    /// Requests that compute something in this iteration.
    pub(crate) batch: u32,
    /// Prompt tokens computed (prefill chunks).
    pub(crate) prefill_tokens: u64,
    /// Decode tokens computed (one per decoding request).
    pub(crate) decode_tokens: u64,
    /// KV-cache tokens read.
    pub(crate) kv_tokens: u64,
    /// Requests preempted while planning this iteration.
    pub(crate) preempted: u32,
}

impl Work {
    /// Tokens computed: prefill chunks plus decode tokens.
    pub(crate) fn computed_tokens(&self) -> u64 {
        self.prefill_tokens + self.decode_tokens
    }
}

/// A request that generated all its tokens; times in emulated ms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Finished<T> {
    pub(crate) prompt_tokens: u32,
    pub(crate) generated: u32,
    pub(crate) arrival: f64,
    pub(crate) admitted: f64,
    pub(crate) first_token: f64,
    pub(crate) finish: f64,
    pub(crate) preemptions: u32,
    pub(crate) payload: T,
}

impl<T> Finished<T> {
    /// Arrival to first admission.
    pub(crate) fn queue_time(&self) -> f64 {
        self.admitted - self.arrival
    }
    /// Arrival to first token.
    pub(crate) fn ttft(&self) -> f64 {
        self.first_token - self.arrival
    }
    /// Arrival to last token.
    pub(crate) fn e2e(&self) -> f64 {
        self.finish - self.arrival
    }
    /// First admission to first token.
    pub(crate) fn prefill_time(&self) -> f64 {
        self.first_token - self.admitted
    }
    /// First token to last token.
    pub(crate) fn decode_time(&self) -> f64 {
        self.finish - self.first_token
    }
    /// First admission to last token.
    pub(crate) fn inference_time(&self) -> f64 {
        self.finish - self.admitted
    }
    /// Mean time per output token after the first (vLLM's request-level TPOT); none for a
    /// single-token request.
    pub(crate) fn tpot(&self) -> Option<f64> {
        (self.generated > 1).then(|| self.decode_time() / f64::from(self.generated - 1))
    }
}

/// What happened in one iteration, for the metrics and the replies.
#[derive(Debug)]
pub(crate) struct Events<T> {
    /// Times to first token of the requests that emitted their first token, ms.
    pub(crate) ttft: Vec<f64>,
    /// Inter-token intervals of every token after a request's first, ms.
    pub(crate) itl: Vec<f64>,
    /// Prompt tokens of the requests whose first prefill completed.
    pub(crate) prompt_tokens: u64,
    /// Tokens generated.
    pub(crate) generation_tokens: u64,
    /// Requests that completed.
    pub(crate) finished: Vec<Finished<T>>,
}

impl<T> Default for Events<T> {
    fn default() -> Self {
        Self {
            ttft: Vec::new(),
            itl: Vec::new(),
            prompt_tokens: 0,
            generation_tokens: 0,
            finished: Vec::new(),
        }
    }
}

impl<T> Events<T> {
    /// Empties the lists, keeping their allocations.
    pub(crate) fn clear(&mut self) {
        self.ttft.clear();
        self.itl.clear();
        self.prompt_tokens = 0;
        self.generation_tokens = 0;
        self.finished.clear();
    }
}

/// The waiting queue, the running batch and the KV cache of one engine.
#[derive(Debug)]
pub(crate) struct Scheduler<T> {
    limits: Limits,
    waiting: VecDeque<Seq<T>>,
    /// In admission order; preemption takes from the back.
    running: Vec<Seq<T>>,
    kv_used: u64,
    in_flight: bool,
}

impl<T> Scheduler<T> {
    /// An empty scheduler.
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits: sanitize(limits),
            waiting: VecDeque::new(),
            running: Vec::new(),
            kv_used: 0,
            in_flight: false,
        }
    }

    /// Changes the limits from the next iteration on and returns the payloads of requests that
    /// can no longer complete (prompt + max tokens above the new KV capacity), which are dropped.
    /// A smaller batch cap does not preempt: running requests finish, admission waits.
    pub(crate) fn set_limits(&mut self, limits: Limits) -> Vec<T> {
        debug_assert!(!self.in_flight, "limits change between iterations");
        self.limits = sanitize(limits);
        let cap = self.limits.kv_capacity;
        let fits = |s: &Seq<T>| u64::from(s.prompt) + u64::from(s.max_tokens) <= cap;
        let mut dropped = Vec::new();
        let mut kept = Vec::with_capacity(self.running.len());
        for s in self.running.drain(..) {
            if fits(&s) {
                kept.push(s);
            } else {
                self.kv_used -= s.kv;
                dropped.push(s.payload);
            }
        }
        self.running = kept;
        let mut kept = VecDeque::with_capacity(self.waiting.len());
        for s in self.waiting.drain(..) {
            if fits(&s) {
                kept.push_back(s);
            } else {
                dropped.push(s.payload);
            }
        }
        self.waiting = kept;
        dropped
    }

    /// Queues a request that arrived at `arrival` (ms). Returns the payload back if the request
    /// can never complete: no output asked for, or its full context exceeds the KV capacity.
    pub(crate) fn submit(
        &mut self,
        arrival: f64,
        prompt: u32,
        max_tokens: u32,
        payload: T,
    ) -> Result<(), T> {
        if max_tokens == 0 || u64::from(prompt) + u64::from(max_tokens) > self.limits.kv_capacity {
            return Err(payload);
        }
        self.waiting.push_back(Seq {
            prompt,
            max_tokens,
            arrival,
            admitted: None,
            target: prompt,
            prefilled: 0,
            generated: 0,
            first_token: None,
            last_token: arrival,
            preemptions: 0,
            prompt_counted: false,
            kv: 0,
            step: 0,
            decoding: false,
            payload,
        });
        Ok(())
    }

    /// Plans the iteration starting at `now`: serves running requests, preempts if the KV cache
    /// is full, admits waiting ones. `None` when there is nothing to compute.
    pub(crate) fn schedule(&mut self, now: f64) -> Option<Work> {
        debug_assert!(!self.in_flight, "schedule called twice without complete");
        let Limits {
            max_batch,
            max_num_tokens,
            kv_capacity,
        } = self.limits;
        let mut budget = max_num_tokens;
        let mut work = Work::default();
        let mut i = 0;
        while i < self.running.len() && budget > 0 {
            let s = &self.running[i];
            let decoding = !s.in_prefill();
            let need = if decoding {
                1
            } else {
                (s.target - s.prefilled).min(budget)
            };
            // Free slots by preempting from the back; the request itself goes last.
            while self.kv_used + u64::from(need) > kv_capacity && self.running.len() > i + 1 {
                let mut victim = self.running.pop().expect("len > i + 1");
                self.kv_used -= victim.kv;
                victim.preempt();
                self.waiting.push_front(victim);
                work.preempted += 1;
            }
            if self.kv_used + u64::from(need) > kv_capacity {
                let mut me = self.running.remove(i);
                self.kv_used -= me.kv;
                me.preempt();
                self.waiting.push_front(me);
                work.preempted += 1;
                break;
            }
            let s = &mut self.running[i];
            s.step = need;
            s.decoding = decoding;
            s.kv += u64::from(need);
            self.kv_used += u64::from(need);
            budget -= need;
            if decoding {
                work.decode_tokens += 1;
            } else {
                work.prefill_tokens += u64::from(need);
            }
            work.kv_tokens += s.kv;
            work.batch += 1;
            i += 1;
        }
        if work.preempted == 0 {
            while self.running.len() < max_batch as usize && budget > 0 {
                let Some(head) = self.waiting.front() else {
                    break;
                };
                let need = (head.target - head.prefilled).min(budget);
                if self.kv_used + u64::from(need) > kv_capacity {
                    break;
                }
                let mut s = self.waiting.pop_front().expect("front exists");
                s.admitted.get_or_insert(now);
                s.step = need;
                s.decoding = !s.in_prefill();
                s.kv += u64::from(need);
                self.kv_used += u64::from(need);
                budget -= need;
                if s.decoding {
                    work.decode_tokens += 1;
                } else {
                    work.prefill_tokens += u64::from(need);
                }
                work.kv_tokens += s.kv;
                work.batch += 1;
                self.running.push(s);
            }
        }
        if work.batch == 0 {
            return None;
        }
        self.in_flight = true;
        Some(work)
    }

    /// Ends the iteration planned by [`Self::schedule`] at `end` (ms) and records what
    /// happened into `events` (appended; clear it first if it is reused).
    pub(crate) fn complete(&mut self, end: f64, events: &mut Events<T>) {
        debug_assert!(self.in_flight, "complete without schedule");
        self.in_flight = false;
        let mut i = 0;
        while i < self.running.len() {
            let s = &mut self.running[i];
            if s.step == 0 {
                i += 1;
                continue;
            }
            if s.decoding {
                s.generated += 1;
                events.generation_tokens += 1;
                match s.first_token {
                    None => {
                        s.first_token = Some(end);
                        events.ttft.push(end - s.arrival);
                    }
                    Some(_) => events.itl.push(end - s.last_token),
                }
                s.last_token = end;
            } else {
                s.prefilled += s.step;
                if !s.in_prefill() && !s.prompt_counted {
                    s.prompt_counted = true;
                    events.prompt_tokens += u64::from(s.prompt);
                }
            }
            s.step = 0;
            if s.generated >= s.max_tokens {
                let s = self.running.remove(i);
                self.kv_used -= s.kv;
                events.finished.push(Finished {
                    prompt_tokens: s.prompt,
                    generated: s.generated,
                    arrival: s.arrival,
                    admitted: s.admitted.unwrap_or(s.arrival),
                    first_token: s.first_token.unwrap_or(end),
                    finish: end,
                    preemptions: s.preemptions,
                    payload: s.payload,
                });
            } else {
                i += 1;
            }
        }
    }

    /// Requests in the batch.
    pub(crate) fn running(&self) -> usize {
        self.running.len()
    }

    /// Requests in the queue.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// KV slots in use.
    #[cfg(test)]
    pub(crate) fn kv_used(&self) -> u64 {
        self.kv_used
    }

    /// Fraction of the KV cache in use, in [0, 1].
    pub(crate) fn kv_usage(&self) -> f64 {
        if self.limits.kv_capacity == 0 {
            return 0.0;
        }
        (self.kv_used as f64 / self.limits.kv_capacity as f64).min(1.0)
    }

    /// Drops every request and returns their payloads (shutdown).
    pub(crate) fn drain(&mut self) -> Vec<T> {
        self.kv_used = 0;
        self.in_flight = false;
        self.running
            .drain(..)
            .chain(self.waiting.drain(..))
            .map(|s| s.payload)
            .collect()
    }
}

fn sanitize(limits: Limits) -> Limits {
    Limits {
        max_batch: limits.max_batch.max(1),
        max_num_tokens: limits.max_num_tokens.max(1),
        kv_capacity: limits.kv_capacity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_batch: u32, max_num_tokens: u32, kv_capacity: u64) -> Limits {
        Limits {
            max_batch,
            max_num_tokens,
            kv_capacity,
        }
    }

    /// Runs iterations of unit length until idle; returns the works and all events.
    fn run(s: &mut Scheduler<u32>, t0: f64) -> (Vec<Work>, Events<u32>) {
        let mut works = Vec::new();
        let mut events = Events::default();
        let mut t = t0;
        while let Some(w) = s.schedule(t) {
            t += 1.0;
            s.complete(t, &mut events);
            works.push(w);
            assert!(works.len() < 100_000, "no progress");
        }
        (works, events)
    }

    #[test]
    fn one_request_prefills_in_chunks_then_decodes() {
        let mut s = Scheduler::new(limits(4, 100, 10_000));
        s.submit(0.0, 250, 3, 7).unwrap();
        let (works, events) = run(&mut s, 0.0);
        // 250 prompt tokens in chunks of 100, 100, 50, then 3 decode steps.
        let computed: Vec<u64> = works.iter().map(|w| w.computed_tokens()).collect();
        assert_eq!(computed, [100, 100, 50, 1, 1, 1]);
        let kv: Vec<u64> = works.iter().map(|w| w.kv_tokens).collect();
        assert_eq!(kv, [100, 200, 250, 251, 252, 253]);
        assert_eq!(events.prompt_tokens, 250);
        assert_eq!(events.generation_tokens, 3);
        assert_eq!(events.ttft, [4.0]);
        assert_eq!(events.itl, [1.0, 1.0]);
        let f = &events.finished[0];
        assert_eq!((f.payload, f.generated, f.finish), (7, 3, 6.0));
        assert_eq!(
            (f.queue_time(), f.prefill_time(), f.decode_time()),
            (0.0, 4.0, 2.0)
        );
        assert_eq!(f.tpot(), Some(1.0));
        assert_eq!(s.kv_used(), 0);
    }

    #[test]
    fn kv_tokens_read_sum_to_the_model_work() {
        // Over a request's life: prefill reads n (c+1)/2 with c equal chunks, decode reads
        // m n + m (m+1)/2 (spec 1.1 w_pf and w_dec divided by gamma).
        let (n, m, c) = (300u64, 20u64, 3u64);
        let mut s = Scheduler::new(limits(1, 100, 10_000));
        s.submit(0.0, n as u32, m as u32, 0).unwrap();
        let (works, _) = run(&mut s, 0.0);
        assert_eq!(works.len() as u64, c + m);
        let kv: u64 = works.iter().map(|w| w.kv_tokens).sum();
        assert_eq!(kv * 2, n * (c + 1) + 2 * m * n + m * (m + 1));
        let computed: u64 = works.iter().map(|w| w.computed_tokens()).sum();
        assert_eq!(computed, n + m);
    }

    #[test]
    fn admission_stops_at_max_batch_and_queue_is_fifo() {
        let mut s = Scheduler::new(limits(2, 8192, 100_000));
        for k in 0..5 {
            s.submit(0.0, 10, 2, k).unwrap();
        }
        let w = s.schedule(0.0).unwrap();
        assert_eq!((w.batch, w.prefill_tokens), (2, 20));
        assert_eq!((s.running(), s.waiting()), (2, 3));
        let mut events = Events::default();
        s.complete(1.0, &mut events);
        let (_, rest) = run(&mut s, 1.0);
        let order: Vec<u32> = rest.finished.iter().map(|f| f.payload).collect();
        assert_eq!(order, [0, 1, 2, 3, 4]);
        // Requests 2 and 3 waited for 0 and 1 to finish (prefill at 0, decode at 1 and 2).
        assert_eq!(rest.finished[2].admitted, 3.0);
        assert_eq!(rest.finished[2].queue_time(), 3.0);
    }

    #[test]
    fn token_budget_is_shared_with_decodes_first() {
        let mut s = Scheduler::new(limits(8, 100, 100_000));
        s.submit(0.0, 60, 5, 0).unwrap();
        s.submit(0.0, 60, 5, 1).unwrap();
        // Iteration 1: 60 for the first, 40 (a chunk) for the second.
        let w = s.schedule(0.0).unwrap();
        assert_eq!((w.batch, w.prefill_tokens), (2, 100));
        let mut ev = Events::default();
        s.complete(1.0, &mut ev);
        assert_eq!(ev.prompt_tokens, 60);
        // Iteration 2: the first decodes (1 token), the second finishes its prompt (20).
        s.submit(1.0, 500, 5, 2).unwrap();
        let w = s.schedule(1.0).unwrap();
        assert_eq!((w.decode_tokens, w.prefill_tokens), (1, 20 + 79));
        assert_eq!(w.kv_tokens, 61 + 60 + 79);
        s.complete(2.0, &mut ev);
        assert_eq!(ev.prompt_tokens, 120);
    }

    #[test]
    fn full_kv_cache_preempts_the_latest_and_recomputes() {
        // Room for 25 tokens: two requests of 10 + 5 cannot both finish at once.
        let mut s = Scheduler::new(limits(4, 8192, 25));
        s.submit(0.0, 10, 5, 0).unwrap();
        s.submit(0.0, 10, 5, 1).unwrap();
        let (works, events) = run(&mut s, 0.0);
        let preempted: u32 = works.iter().map(|w| w.preempted).sum();
        assert!(preempted >= 1);
        let order: Vec<(u32, u32)> = events
            .finished
            .iter()
            .map(|f| (f.payload, f.preemptions))
            .collect();
        assert_eq!(order[0], (0, 0));
        assert_eq!(order[1].0, 1);
        assert!(order[1].1 >= 1);
        assert_eq!(events.generation_tokens, 10);
        // The prompt is counted once, the recomputation of prompt + generated is extra work.
        assert_eq!(events.prompt_tokens, 20);
        let prefill: u64 = works.iter().map(|w| w.prefill_tokens).sum();
        assert!(prefill > 20);
        assert!(works.iter().all(|w| w.kv_tokens > 0));
        assert_eq!(s.kv_used(), 0);
    }

    #[test]
    fn impossible_requests_are_refused_and_shrinking_capacity_drops_them() {
        let mut s = Scheduler::new(limits(4, 8192, 100));
        assert_eq!(s.submit(0.0, 90, 11, 9), Err(9));
        assert_eq!(s.submit(0.0, 1, 0, 8), Err(8));
        s.submit(0.0, 50, 10, 1).unwrap();
        s.submit(0.0, 20, 10, 2).unwrap();
        let mut dropped = s.set_limits(limits(4, 8192, 40));
        dropped.sort_unstable();
        assert_eq!(dropped, [1]);
        assert_eq!(s.waiting(), 1);
        let (_, ev) = run(&mut s, 0.0);
        assert_eq!(ev.finished.len(), 1);
    }

    #[test]
    fn smaller_batch_cap_lets_running_requests_finish() {
        let mut s = Scheduler::new(limits(3, 8192, 100_000));
        for k in 0..4 {
            s.submit(0.0, 5, 3, k).unwrap();
        }
        s.schedule(0.0).unwrap();
        s.complete(1.0, &mut Events::default());
        assert_eq!(s.running(), 3);
        assert!(s.set_limits(limits(1, 8192, 100_000)).is_empty());
        let w = s.schedule(1.0).unwrap();
        assert_eq!(w.batch, 3, "running requests keep running");
        s.complete(2.0, &mut Events::default());
        let (_, ev) = run(&mut s, 2.0);
        assert_eq!(ev.finished.len(), 4);
    }

    #[test]
    fn usage_and_drain() {
        let mut s = Scheduler::new(limits(4, 8192, 200));
        s.submit(0.0, 50, 10, 1).unwrap();
        s.submit(0.0, 50, 10, 2).unwrap();
        s.schedule(0.0).unwrap();
        s.complete(1.0, &mut Events::default());
        assert_eq!(s.kv_used(), 100);
        assert_eq!(s.kv_usage(), 0.5);
        let mut all = s.drain();
        all.sort_unstable();
        assert_eq!(all, [1, 2]);
        assert_eq!((s.running(), s.waiting(), s.kv_used()), (0, 0, 0));
    }
}
