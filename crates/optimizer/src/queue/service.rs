//! Iteration-time model of a continuously-batching engine (spec 1.1).
//!
//! One iteration takes `alpha + beta * computed tokens + gamma * KV tokens read` ms. A request
//! with `n` input and `m` output tokens spends `c = nc(B)` iterations in chunked prefill and `m`
//! in decode; everything per request follows in closed form from `(alpha, beta, gamma, n, m, c)`.
//!
//! Output lengths spread around their mean `m` (coefficient of variation `cv`): a request of
//! `m_i` tokens stays `m_i` iterations, so the requests a batch holds are the long ones more
//! often, and the KV they read averages `n + (E[m^2]/E[m] + 1)/2` per request, not
//! `n + (m + 1)/2`. The other requests' share of an iteration (the slope) uses
//! `m_kv = E[m^2]/E[m] = m (1 + cv^2)` in its KV term; the focal request's own ITL and the
//! service time stay at the mean. `cv = 0` is the reference's model (spec 1.1) exactly.

use crate::error::{Error, Result};
use inferno_api::limits::{self, MAX_BATCH_SIZE, MAX_PERF_PARM, MAX_TOKENS};

/// Default token budget per iteration (vLLM's `max_num_batched_tokens`).
pub const DEFAULT_MAX_TOKENS: u32 = 8192;

/// Iteration-time parameters (ms, ms/token, ms/token).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerfParams {
    /// Fixed overhead per iteration, ms.
    pub alpha: f64,
    /// Time per computed token, ms.
    pub beta: f64,
    /// Time per KV-cache token read, ms.
    pub gamma: f64,
}

/// The per-request service model at every batch occupancy `1..=max_batch`.
#[derive(Debug, Clone)]
pub struct ServiceModel {
    params: PerfParams,
    in_tokens: f64,
    out_tokens: f64,
    /// `E[m^2]/E[m]`: the mean output length of the requests a batch holds, for their KV.
    kv_out_tokens: f64,
    /// `chunks[b - 1]` = nc(b), the prefill chunk count at occupancy b.
    chunks: Vec<u32>,
    /// Computed tokens per iteration (the chunk counts' budget).
    budget: f64,
}

impl ServiceModel {
    /// Builds the model for occupancies `1..=max_batch` with token budget `max_tokens`
    /// (0 = [`DEFAULT_MAX_TOKENS`]). Every input must be within `inferno_api::limits`, which
    /// bounds the work and memory of the model: `max_batch` in 1..=`MAX_BATCH_SIZE`, the token
    /// counts and budget at most `MAX_TOKENS` (at least 1 output token), the parameters at most
    /// `MAX_PERF_PARM`.
    pub fn new(
        params: PerfParams,
        in_tokens: f64,
        out_tokens: f64,
        max_batch: u32,
        max_tokens: u32,
    ) -> Result<Self> {
        within("alpha", params.alpha, MAX_PERF_PARM)?;
        within("beta", params.beta, MAX_PERF_PARM)?;
        within("gamma", params.gamma, MAX_PERF_PARM)?;
        within("avgInputTokens", in_tokens, MAX_TOKENS)?;
        if !(out_tokens.is_finite() && (1.0..=MAX_TOKENS).contains(&out_tokens)) {
            return Err(Error::invalid(
                "avgOutputTokens",
                format!(
                    "must be a finite number in [1, {}], got {}",
                    limits::show(MAX_TOKENS),
                    limits::show(out_tokens)
                ),
            ));
        }
        if !(1..=MAX_BATCH_SIZE).contains(&i64::from(max_batch)) {
            return Err(Error::invalid(
                "maxBatchSize",
                format!("must be an integer in [1, {MAX_BATCH_SIZE}], got {max_batch}"),
            ));
        }
        within("maxTokens", f64::from(max_tokens), MAX_TOKENS)?;
        let budget = if max_tokens == 0 {
            DEFAULT_MAX_TOKENS
        } else {
            max_tokens
        };
        let chunks = chunk_table(in_tokens, out_tokens, f64::from(budget), max_batch);
        Ok(Self {
            params,
            in_tokens,
            out_tokens,
            kv_out_tokens: out_tokens,
            chunks,
            budget: f64::from(budget),
        })
    }

    /// The same model with output lengths spread by coefficient of variation `cv` (module
    /// doc); `cv` must be in `[0, MAX_COV]`.
    pub fn with_out_cv(mut self, cv: f64) -> Result<Self> {
        within("outTokensCv", cv, limits::MAX_COV)?;
        self.kv_out_tokens = kv_out_tokens(self.out_tokens, cv);
        Ok(self)
    }

    /// Largest occupancy the model covers.
    pub fn max_batch(&self) -> u32 {
        self.chunks.len() as u32
    }

    /// Iteration parameters.
    pub fn params(&self) -> PerfParams {
        self.params
    }

    /// Mean input tokens per request.
    pub fn in_tokens(&self) -> f64 {
        self.in_tokens
    }

    /// Mean output tokens per request.
    pub fn out_tokens(&self) -> f64 {
        self.out_tokens
    }

    /// nc(b): prefill chunks at occupancy `b`, clamped to `1..=max_batch`.
    pub fn chunks(&self, b: u32) -> u32 {
        let i = b.clamp(1, self.max_batch()) as usize - 1;
        self.chunks[i]
    }

    /// Prefill work of the focal request over its life, ms: `(beta + gamma (c+1)/2) n`.
    fn prefill_work(&self, c: f64) -> f64 {
        let p = self.params;
        (p.beta + p.gamma * (c + 1.0) / 2.0) * self.in_tokens
    }

    /// Marginal iteration cost of one request at `c` chunks, ms:
    /// `(w_pf(c) + w_dec) / (c + m)`.
    pub fn slope(&self, c: u32) -> f64 {
        let p = self.params;
        let (n, m, c) = (self.in_tokens, self.out_tokens, f64::from(c));
        let decode = p.beta * m + p.gamma * m * (n + (self.kv_out_tokens + 1.0) / 2.0);
        (self.prefill_work(c) + decode) / (c + m)
    }

    /// Iteration time at integer occupancy `b`, ms.
    pub fn iteration_time(&self, b: u32) -> f64 {
        let c = self.chunks(b);
        self.params.alpha + f64::from(b) * self.slope(c)
    }

    /// Residence (service) time of one request at occupancy `b`, ms: `(c + m) T_it(b)`.
    pub fn service_time(&self, b: u32) -> f64 {
        let c = self.chunks(b);
        (f64::from(c) + self.out_tokens) * self.iteration_time(b)
    }

    /// Service rate of the whole batch at occupancy `b`, requests/ms: `b / tau(b)`.
    pub fn service_rate(&self, b: u32) -> f64 {
        f64::from(b) / self.service_time(b)
    }

    /// `service_rate(b)` for every b in `1..=max_batch`, computing each chunk count's slope
    /// once (the chunk count changes rarely along b).
    pub fn service_rates(&self) -> Vec<f64> {
        let (alpha, m) = (self.params.alpha, self.out_tokens);
        let mut rates = Vec::with_capacity(self.chunks.len());
        let mut cached = (0u32, 0.0f64);
        for (i, &c) in self.chunks.iter().enumerate() {
            if cached.0 != c {
                cached = (c, self.slope(c));
            }
            let b = (i + 1) as f64;
            rates.push(b / ((f64::from(c) + m) * (alpha + b * cached.1)));
        }
        rates
    }

    /// Background iteration at a real-valued occupancy: overhead plus the other `b - 1`.
    fn background(&self, b: f64, c: u32) -> f64 {
        (self.params.alpha + (b - 1.0) * self.slope(c)).max(0.0)
    }

    /// Chunk count used for a real-valued occupancy: nc(round-half-up(b)).
    fn chunks_at(&self, b: f64) -> u32 {
        let rounded = (b + 0.5).floor().clamp(1.0, f64::from(self.max_batch()));
        self.chunks(rounded as u32)
    }

    /// Prefill latency at (real-valued) occupancy `b`, ms: `c bg(b) + w_pf(c)`.
    pub fn prefill(&self, b: f64) -> f64 {
        let c = self.chunks_at(b);
        f64::from(c) * self.background(b, c) + self.prefill_work(f64::from(c))
    }

    /// [`ServiceModel::itl`] at integer occupancy `b`, which may lie beyond the model's table:
    /// its chunk count found directly (in steps logarithmic in the count) rather than from a
    /// table of every occupancy up to it. What a full batch of a cap sees, for the batch rule's
    /// ITL cap, which would otherwise build a table up to each candidate's cap to read one
    /// entry of it.
    pub fn itl_at(&self, b: u32) -> f64 {
        let b = b.max(1);
        let c = chunks_for(
            u64::from(b),
            1,
            self.in_tokens,
            self.out_tokens,
            self.budget,
        );
        self.itl_with(f64::from(b), u32::try_from(c).unwrap_or(u32::MAX))
    }

    /// Inter-token latency at (real-valued) occupancy `b`, ms:
    /// `bg(b) + beta + gamma (n + (m+1)/2)`.
    pub fn itl(&self, b: f64) -> f64 {
        self.itl_with(b, self.chunks_at(b))
    }

    /// The ITL at occupancy `b` with `c` prefill chunks.
    fn itl_with(&self, b: f64, c: u32) -> f64 {
        let p = self.params;
        let kv = self.in_tokens + (self.out_tokens + 1.0) / 2.0;
        self.background(b, c) + p.beta + p.gamma * kv
    }
}

/// The largest batch service rate `max_{b <= max_batch} b / tau(b)` (requests/ms), and the rate
/// at `max_batch` itself, without building the model: within a run of equal chunk counts the
/// rate grows with b, so only run ends (the thresholds `b_c`) and `max_batch` are evaluated.
/// The cost grows with `max_batch` (times the logarithm of the chunk counts), never with the
/// token counts.
pub fn peak_service_rate(
    params: PerfParams,
    in_tokens: f64,
    out_tokens: f64,
    out_cv: f64,
    max_batch: u32,
) -> (f64, f64) {
    let budget = f64::from(DEFAULT_MAX_TOKENS);
    let (n, m) = (in_tokens, out_tokens);
    let kv_m = kv_out_tokens(m, out_cv);
    let rate = |b: u64, c: f64| -> f64 {
        let prefill = (params.beta + params.gamma * (c + 1.0) / 2.0) * n;
        let decode = params.beta * m + params.gamma * m * (n + (kv_m + 1.0) / 2.0);
        let slope = (prefill + decode) / (c + m);
        b as f64 / ((c + m) * (params.alpha + b as f64 * slope))
    };
    let top = u64::from(max_batch.max(1));
    let mut best = 0.0f64;
    let mut c = 1u64;
    let mut b = 1u64;
    loop {
        c = chunks_for(b, c, n, m, budget);
        // The run of chunk count c ends at its threshold (or at the top).
        let end = threshold(c, n, m, budget).min(top);
        let r = rate(end, c as f64);
        if end >= top {
            return (best.max(r), r);
        }
        best = best.max(r);
        b = end + 1;
    }
}

/// `E[m^2]/E[m] = m (1 + cv^2)`: the mean length of the requests a batch holds (module doc).
/// A `cv` that is not a finite number >= 0 counts as 0 here; the model's constructor refuses it.
fn kv_out_tokens(m: f64, cv: f64) -> f64 {
    let cv = if cv.is_finite() && cv > 0.0 { cv } else { 0.0 };
    m * (1.0 + cv * cv)
}

/// A number within `[0, max]`, or an error naming the field.
fn within(field: &'static str, v: f64, max: f64) -> Result<()> {
    match limits::out_of_range(v, max) {
        None => Ok(()),
        Some(why) => Err(Error::invalid(field, why)),
    }
}

/// Largest occupancy that admits `c` prefill chunks: `floor((c+m)(T - n/c) / (n+m))`, >= 0.
pub fn chunk_threshold(c: u32, n: f64, m: f64, budget: f64) -> u64 {
    threshold(u64::from(c), n, m, budget)
}

fn threshold(c: u64, n: f64, m: f64, budget: f64) -> u64 {
    let c = c as f64;
    let b = ((c + m) * (budget - n / c) / (n + m)).floor();
    if b > 0.0 {
        b as u64
    } else {
        0
    }
}

/// nc(b): the least chunk count `c >= from` whose threshold reaches `b`. Thresholds grow with
/// `c` without bound (`n/c -> 0`), so it exists; it is found by galloping from `from` and then
/// bisecting, in steps logarithmic in the distance (a linear walk took `b (n+m) / T` steps:
/// half a million for a long prompt, and forever for an absurd one).
fn chunks_for(b: u64, from: u64, n: f64, m: f64, budget: f64) -> u64 {
    let reaches = |c: u64| threshold(c, n, m, budget) >= b;
    if reaches(from) {
        return from;
    }
    // Invariant: threshold(lo) < b.
    let (mut lo, mut step) = (from, 1u64);
    let mut hi = loop {
        let probe = lo.saturating_add(step);
        if reaches(probe) || probe == u64::MAX {
            break probe;
        }
        lo = probe;
        step = step.saturating_mul(2);
    };
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reaches(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// nc(b) for b = 1..=max_batch (chunk counts beyond `u32::MAX`, which no valid input reaches,
/// saturate).
fn chunk_table(n: f64, m: f64, budget: f64, max_batch: u32) -> Vec<u32> {
    let mut table = Vec::with_capacity(max_batch as usize);
    // The run of chunk count `c` ends at its threshold: only past it is the next count
    // looked for (one threshold per run, not one per occupancy).
    let (mut c, mut end) = (1u64, 0u64);
    for b in 1..=u64::from(max_batch) {
        if b > end {
            c = chunks_for(b, c, n, m, budget);
            end = threshold(c, n, m, budget);
        }
        table.push(u32::try_from(c).unwrap_or(u32::MAX));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_match_spec_6_2() {
        let cases: [((f64, f64), [u64; 7]); 3] = [
            ((4096.0, 64.0), [64, 97, 109, 117, 122, 126, 129]),
            ((4096.0, 256.0), [241, 364, 406, 428, 442, 452, 459]),
            ((4096.0, 1024.0), [820, 1231, 1369, 1439, 1481, 1510, 1531]),
        ];
        for ((n, m), want) in cases {
            let got: Vec<u64> = (1..=7).map(|c| chunk_threshold(c, n, m, 8192.0)).collect();
            assert_eq!(got, want, "n={n} m={m}");
        }
        assert_eq!(chunk_threshold(1, 2048.0, 1024.0, 8192.0), 2050);
        assert_eq!(chunk_threshold(2, 2048.0, 1024.0, 8192.0), 2394);
        assert_eq!(chunk_threshold(1, 256.0, 1024.0, 8192.0), 6355);
    }

    #[test]
    fn the_itl_at_an_occupancy_is_the_tables() {
        let mut rng = crate::synthetic::Rng::new(5);
        let params = PerfParams {
            alpha: 10.0,
            beta: 0.05,
            gamma: 0.001,
        };
        for _ in 0..200 {
            let (n, m) = (
                rng.range(0.0, 20_000.0).floor(),
                rng.range(1.0, 4_000.0).floor(),
            );
            let cap = rng.range(1.0, 512.0) as u32;
            let budget = rng.range(256.0, 16_384.0) as u32;
            let full = ServiceModel::new(params, n, m, cap, budget)
                .and_then(|s| s.with_out_cv(0.5))
                .unwrap();
            let one = ServiceModel::new(params, n, m, 1, budget)
                .and_then(|s| s.with_out_cv(0.5))
                .unwrap();
            for b in [1, cap / 2, cap] {
                let want = full.itl(f64::from(b.max(1)));
                assert_eq!(one.itl_at(b), want, "n={n} m={m} b={b} T={budget}");
                assert_eq!(full.itl_at(b), want, "n={n} m={m} b={b} T={budget}");
            }
        }
    }

    #[test]
    fn the_table_holds_the_least_chunk_count_at_every_occupancy() {
        let mut rng = crate::synthetic::Rng::new(3);
        for _ in 0..300 {
            let (n, m) = (
                rng.range(0.0, 20_000.0).floor(),
                rng.range(1.0, 4_000.0).floor(),
            );
            let budget = rng.range(64.0, 16_384.0).floor();
            let table = chunk_table(n, m, budget, 512);
            for (i, &c) in table.iter().enumerate() {
                let b = i as u64 + 1;
                let c = u64::from(c);
                assert!(
                    threshold(c, n, m, budget) >= b,
                    "n={n} m={m} T={budget} b={b}"
                );
                assert!(
                    c == 1 || threshold(c - 1, n, m, budget) < b,
                    "n={n} m={m} T={budget} b={b}: {c} is not the least"
                );
            }
        }
    }

    #[test]
    fn chunk_counts_match_spec_examples() {
        let p = PerfParams {
            alpha: 8.0,
            beta: 0.033,
            gamma: 0.000333,
        };
        let s = ServiceModel::new(p, 4096.0, 64.0, 200, 0).unwrap();
        assert_eq!(s.chunks(64), 1);
        assert_eq!(s.chunks(65), 2);
        assert_eq!(s.chunks(128), 7);
        assert_eq!(s.chunks(200), 39);
    }

    #[test]
    fn residence_identity_holds() {
        // tau(B) - prefill(B) = m * itl(B) for integer B (spec 1.1).
        let p = PerfParams {
            alpha: 8.0,
            beta: 0.033,
            gamma: 0.000333,
        };
        let s = ServiceModel::new(p, 4096.0, 64.0, 200, 0).unwrap();
        for b in [1u32, 7, 64, 65, 128, 200] {
            let lhs = s.service_time(b) - s.prefill(f64::from(b));
            let rhs = 64.0 * s.itl(f64::from(b));
            approx::assert_relative_eq!(lhs, rhs, max_relative = 1e-12);
        }
    }

    #[test]
    fn peak_rate_matches_the_model() {
        let p = PerfParams {
            alpha: 8.0,
            beta: 0.033,
            gamma: 0.000333,
        };
        for (n, m, cv, top) in [
            (4096.0, 64.0, 0.0, 200),
            (256.0, 1024.0, 0.0, 256),
            (256.0, 1024.0, 0.5, 256),
            (4082.0, 9.0, 1.5, 105),
            (0.0, 5.0, 0.0, 40),
        ] {
            let s = ServiceModel::new(p, n, m, top, 0)
                .unwrap()
                .with_out_cv(cv)
                .unwrap();
            let rates = s.service_rates();
            let (peak, at_top) = peak_service_rate(p, n, m, cv, top);
            let want = rates.iter().copied().fold(0.0, f64::max);
            approx::assert_relative_eq!(peak, want, max_relative = 1e-12);
            approx::assert_relative_eq!(at_top, rates[rates.len() - 1], max_relative = 1e-12);
        }
    }

    /// Output lengths spread: the others' share of an iteration is the mean over the requests
    /// of their work over the mean of their iterations (renewal-reward), which for two lengths
    /// 512 and 1536 (mean 1024, cv 0.5) is computed here request by request; the focal
    /// request's own ITL term stays at the mean length, and cv 0 is the reference's model.
    #[test]
    fn spread_lengths_read_the_kv_of_the_long_requests_a_batch_holds() {
        let p = PerfParams {
            alpha: 20.0,
            beta: 0.1,
            gamma: 0.003,
        };
        let (n, top) = (128.0, 64);
        let plain = ServiceModel::new(p, n, 1024.0, top, 0).unwrap();
        let spread = plain.clone().with_out_cv(0.5).unwrap();
        let c = plain.chunks(20);
        let cf = f64::from(c);
        let work = |m: f64| {
            (p.beta + p.gamma * (cf + 1.0) / 2.0) * n
                + p.beta * m
                + p.gamma * m * (n + (m + 1.0) / 2.0)
        };
        let renewal = (work(512.0) + work(1536.0)) / 2.0 / (cf + 1024.0);
        approx::assert_relative_eq!(spread.slope(c), renewal, max_relative = 1e-12);
        assert!(
            spread.slope(c) > plain.slope(c) * 1.1,
            "the long requests weigh"
        );
        // The focal request's own term: the same; the others' part: theirs.
        let own = p.beta + p.gamma * (n + (1024.0 + 1.0) / 2.0);
        approx::assert_relative_eq!(
            spread.itl(20.0) - own,
            p.alpha + 19.0 * spread.slope(c),
            max_relative = 1e-12
        );
        let same = plain.clone().with_out_cv(0.0).unwrap();
        assert_eq!(same.service_rates(), plain.service_rates());
        for bad in [-0.1, f64::NAN, f64::INFINITY, 101.0] {
            let err = plain.clone().with_out_cv(bad).unwrap_err().to_string();
            assert!(err.contains("outTokensCv"), "{err}");
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        let p = PerfParams {
            alpha: 1.0,
            beta: 0.0,
            gamma: 0.0,
        };
        assert!(ServiceModel::new(p, 10.0, 0.5, 4, 0).is_err());
        assert!(ServiceModel::new(p, -1.0, 10.0, 4, 0).is_err());
        assert!(ServiceModel::new(p, 1.0, 10.0, 0, 0).is_err());
        let nan = PerfParams {
            alpha: f64::NAN,
            ..p
        };
        assert!(ServiceModel::new(nan, 1.0, 10.0, 4, 0).is_err());
    }
}
