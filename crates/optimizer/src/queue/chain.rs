//! The birth-death chain of one replica (spec 1.2-1.3), solved without overflow.
//!
//! State k = requests present (waiting + in service), 0..=K with K = N + Q. Births at rate
//! lambda below K; deaths at `mu_k = s_min(k, N)`. The stationary law is
//! `p_k ∝ prod_{j<=k} lambda / mu_j`. Instead of the reference's float64 recursion with
//! rescaling loops, the mode `k*` of `log p_k = k log lambda - sum_{j<=k} log mu_j` is found
//! first (prefix sums of `log mu` are precomputed once per analyzer), then the probabilities
//! are built by multiplying outwards from `p_{k*} = 1`. Every value is then in `[0, 1]`, so
//! nothing can overflow, whatever lambda and the rates are.

use crate::error::{Error, Result};

/// Precomputed service rates of one chain.
#[derive(Debug, Clone)]
pub(crate) struct Chain {
    /// N: states above N have the service rate of N.
    max_batch: usize,
    /// Q: waiting room.
    max_queue: usize,
    /// `mu[k]` for k = 1..=N (index 0 unused), requests/ms.
    mu: Vec<f64>,
    /// `inv_mu[k] = 1 / mu[k]`.
    inv_mu: Vec<f64>,
    /// `log_mu_sum[k] = sum_{j=1..=k} ln mu_j` for k = 0..=N.
    log_mu_sum: Vec<f64>,
    /// `ln mu_N`, the log-rate of every state above N.
    log_mu_top: f64,
    /// Whether `mu` is non-decreasing in k (always, unless the token budget splits prefills):
    /// then the mode is found by binary search and the probabilities fall monotonically on
    /// both sides of it, so negligible tails can be cut.
    monotone: bool,
}

/// Normalised stationary moments of the chain at one arrival rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ChainState {
    /// Probability of the empty state.
    pub(crate) p_empty: f64,
    /// Probability of the full state (blocking probability).
    pub(crate) p_full: f64,
    /// Mean number in system.
    pub(crate) mean_in_system: f64,
    /// Mean number in service: `sum min(k, N) p_k`.
    pub(crate) mean_in_service: f64,
}

impl Chain {
    /// Builds the chain from the batch service rates `rates[b - 1] = s_b`, requests/ms.
    pub(crate) fn new(rates: &[f64], max_queue: u32) -> Result<Self> {
        let max_batch = rates.len();
        if max_batch == 0 {
            return Err(Error::invalid("maxBatchSize", "must be >= 1"));
        }
        let mut mu = Vec::with_capacity(max_batch + 1);
        mu.push(0.0);
        for (i, &s) in rates.iter().enumerate() {
            // A zero, infinite or NaN rate made the reference loop forever (spec 7.18).
            if !(s.is_finite() && s > 0.0) {
                return Err(Error::DegenerateService {
                    batch: i as u32 + 1,
                    rate: s,
                });
            }
            mu.push(s);
        }
        let monotone = rates.windows(2).all(|w| w[0] <= w[1]);
        // Log prefix sums are needed only to locate the mode of a non-monotone chain.
        let log_mu_sum = if monotone {
            Vec::new()
        } else {
            let mut sums = Vec::with_capacity(max_batch + 1);
            sums.push(0.0);
            for (i, s) in rates.iter().enumerate() {
                sums.push(sums[i] + s.ln());
            }
            sums
        };
        let inv_mu = mu.iter().map(|m| 1.0 / m).collect();
        let log_mu_top = mu[max_batch].ln();
        let max_queue = max_queue as usize;
        Ok(Self {
            max_batch,
            max_queue,
            mu,
            inv_mu,
            log_mu_sum,
            log_mu_top,
            monotone,
        })
    }

    fn states(&self) -> usize {
        self.max_batch + self.max_queue
    }

    fn rate(&self, k: usize) -> f64 {
        self.mu[k.min(self.max_batch)]
    }

    /// The most probable state at arrival rate `lambda` (requests/ms, > 0).
    fn mode(&self, lambda: f64) -> usize {
        let (n, big_k) = (self.max_batch, self.states());
        if self.monotone {
            // p_k / p_{k-1} = lambda / mu_k: the chain climbs while mu_k < lambda.
            let head = self.mu[1..].partition_point(|&m| m < lambda);
            return if head == n && big_k > n && lambda > self.mu[n] {
                big_k
            } else {
                head
            };
        }
        let log_lambda = lambda.ln();
        let log_p = |k: usize| -> f64 {
            let head = self.log_mu_sum[k.min(n)];
            let tail = k.saturating_sub(n) as f64 * self.log_mu_top;
            k as f64 * log_lambda - head - tail
        };
        let (mut best, mut best_log) = (0, 0.0);
        for k in 1..=n.min(big_k) {
            let l = log_p(k);
            if l > best_log {
                best = k;
                best_log = l;
            }
        }
        // Above N the log-probability is linear in k, so only the last state can beat N.
        if big_k > n && log_p(big_k) > best_log {
            best = big_k;
        }
        best
    }

    /// Solves the chain at arrival rate `lambda` (requests/ms, finite, > 0).
    pub(crate) fn solve(&self, lambda: f64) -> ChainState {
        let big_k = self.states();
        let n = self.max_batch;
        let mode = self.mode(lambda);
        let inv_lambda = 1.0 / lambda;
        // Probabilities are relative to p_mode = 1. Where they fall monotonically away from
        // the mode, terms below 1e-30 are cut: all the rest together weigh less than
        // 1e-30 * K. Otherwise only underflow is cut.
        let negligible = if self.monotone { 1e-30 } else { 1e-300 };
        let (mut total, mut in_system, mut in_service) = (1.0, mode as f64, mode.min(n) as f64);
        let mut p_empty = if mode == 0 { 1.0 } else { 0.0 };
        let mut p_full = if mode == big_k { 1.0 } else { 0.0 };

        // Walk down from the mode (ratio mu_{k+1} / lambda), then up (lambda / mu_k). States
        // above N share mu_N, so their ratio is constant and their in-service count is N.
        let nf = n as f64;
        let mut p = 1.0;
        let mut k = mode;
        let mut cut = false;
        while k > 0 {
            p *= self.rate(k) * inv_lambda;
            k -= 1;
            if p < negligible {
                p = 0.0;
                cut = true;
                break;
            }
            let kf = k as f64;
            total += p;
            in_system += kf * p;
            in_service += kf.min(nf) * p;
        }
        if mode > 0 {
            p_empty = if cut { 0.0 } else { p };
        }
        let mut p = 1.0;
        let mut k = mode + 1;
        let head_end = n.min(big_k);
        while k <= head_end {
            p *= lambda * self.inv_mu[k];
            if p < negligible && self.monotone {
                p = 0.0;
                break;
            }
            let kf = k as f64;
            total += p;
            in_system += kf * p;
            in_service += kf * p;
            k += 1;
        }
        if p > 0.0 && k <= big_k {
            let ratio = lambda * self.inv_mu[n];
            let mut kf = k as f64;
            while k <= big_k {
                p *= ratio;
                // The tail above N is geometric: once negligible it stays negligible.
                if p < negligible {
                    p = 0.0;
                    break;
                }
                total += p;
                in_system += kf * p;
                in_service += nf * p;
                k += 1;
                kf += 1.0;
            }
        }
        if mode < big_k {
            p_full = p;
        }
        ChainState {
            p_empty: p_empty / total,
            p_full: p_full / total,
            mean_in_system: in_system / total,
            mean_in_service: in_service / total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    #[test]
    fn mm1k_matches_textbook() {
        // Spec 6.3: one service rate 1.0, K = 10, lambda = 0.5.
        let chain = Chain::new(&[1.0], 9).unwrap();
        let s = chain.solve(0.5);
        assert_relative_eq!(s.mean_in_system, 0.9946263, max_relative = 1e-6);
        assert_relative_eq!(s.p_full, 4.8852e-4, max_relative = 1e-4);
        let x = 0.5 * (1.0 - s.p_full);
        assert_relative_eq!(x, 0.49975574, max_relative = 1e-6);
        assert_relative_eq!(s.mean_in_system / x, 1.9902248, max_relative = 1e-6);
    }

    #[test]
    fn state_dependent_demo_matches_spec() {
        // Spec 6.3 `demos/mm1state`: N = 10, K = 100, s_B = B / (1 + 0.5 B), lambda = 1.
        let rates: Vec<f64> = (1..=10)
            .map(|b| f64::from(b) / (1.0 + 0.5 * f64::from(b)))
            .collect();
        let s = Chain::new(&rates, 90).unwrap().solve(1.0);
        assert_relative_eq!(s.p_empty, 0.12489329, max_relative = 1e-6);
        assert_relative_eq!(s.mean_in_system, 3.0100622, max_relative = 1e-6);
        assert_relative_eq!(s.mean_in_service, 2.9798756, max_relative = 1e-6);
    }

    /// Spec 6.3 `demos/mm1state` searches: the rate where the mean service time S is 2.0 and
    /// where the mean wait W is 1.0 (reference bisection: 0.5000193 and 1.3882675, within its
    /// 1e-6 tolerance on the value).
    #[test]
    fn state_dependent_demo_searches() {
        let rates: Vec<f64> = (1..=10)
            .map(|b| f64::from(b) / (1.0 + 0.5 * f64::from(b)))
            .collect();
        let chain = Chain::new(&rates, 90).unwrap();
        let (lo, hi) = (rates[0] * 0.001, rates[9] * 0.999);
        let root = |f: &dyn Fn(f64) -> f64, target: f64| {
            let (mut a, mut b) = (lo, hi);
            for _ in 0..200 {
                let mid = 0.5 * (a + b);
                if f(mid) < target {
                    a = mid;
                } else {
                    b = mid;
                }
            }
            a
        };
        let service = |l: f64| {
            let s = chain.solve(l);
            s.mean_in_service / (l * (1.0 - s.p_full))
        };
        let wait = |l: f64| {
            let s = chain.solve(l);
            (s.mean_in_system - s.mean_in_service) / (l * (1.0 - s.p_full))
        };
        assert_relative_eq!(root(&service, 2.0), 0.5000193, max_relative = 1e-5);
        assert_relative_eq!(root(&wait, 1.0), 1.3882675, max_relative = 1e-5);
    }

    #[test]
    fn extreme_rates_stay_finite() {
        let rates = vec![1e-3; 64];
        let chain = Chain::new(&rates, 100_000).unwrap();
        for lambda in [1e-300, 1e-12, 1.0, 1e12, 1e300] {
            let s = chain.solve(lambda);
            for v in [s.p_empty, s.p_full, s.mean_in_system, s.mean_in_service] {
                assert!(v.is_finite(), "lambda {lambda}: {s:?}");
            }
            assert!((0.0..=1.0).contains(&s.p_full));
        }
    }

    #[test]
    fn degenerate_rates_are_errors() {
        assert!(Chain::new(&[1.0, f64::INFINITY], 0).is_err());
        assert!(Chain::new(&[0.0], 0).is_err());
        assert!(Chain::new(&[f64::NAN], 0).is_err());
    }
}

#[cfg(test)]
mod slide_tests {
    //! Spec 6.4: the slides' pure-decode model (service rate k / (K_tok (alpha + beta k)),
    //! alpha 19, beta 1, K_tok 1024, K = 200), checked to the printed digits.
    use super::*;
    use approx::assert_relative_eq;

    fn slide(rate_per_min: f64, n: u32) -> (ChainState, f64) {
        let rates: Vec<f64> = (1..=n)
            .map(|k| f64::from(k) / (1024.0 * (19.0 + f64::from(k))))
            .collect();
        let lambda = rate_per_min / 60_000.0;
        let s = Chain::new(&rates, 200 - n).unwrap().solve(lambda);
        (s, lambda * (1.0 - s.p_full))
    }

    #[test]
    fn slide_32_sample() {
        let (s, x) = slide(30.0, 32);
        assert_relative_eq!(s.p_empty, 5.7982e-7, max_relative = 1e-4);
        assert_relative_eq!(s.p_full, 2.0382e-17, max_relative = 1e-3);
        assert_relative_eq!(s.mean_in_system, 21.24, max_relative = 5e-4);
        assert_relative_eq!(s.mean_in_service, 20.90, max_relative = 5e-4);
        assert_relative_eq!(s.mean_in_system / x, 42_481.0, max_relative = 1e-4);
        assert_relative_eq!(s.mean_in_service / x, 41_808.0, max_relative = 1e-4);
    }

    #[test]
    fn slide_10_wait_limiting() {
        let (s, x) = slide(36.613, 48);
        assert_relative_eq!(s.p_empty, 3.0013e-9, max_relative = 1e-3);
        let wait = (s.mean_in_system - s.mean_in_service) / x;
        assert_relative_eq!(wait, 1000.0, max_relative = 2e-3);
        assert_relative_eq!(s.mean_in_service / x / 1024.0, 53.1, max_relative = 1e-3);
    }

    #[test]
    fn slide_33_batch_24_and_48() {
        let (s, x) = slide(30.0, 24);
        assert_relative_eq!(s.p_empty, 4.6112e-7, max_relative = 1e-4);
        assert_relative_eq!(s.mean_in_system / x, 51_416.5, max_relative = 1e-5);
        assert_relative_eq!(
            (s.mean_in_system - s.mean_in_service) / x,
            10_436.0,
            max_relative = 1e-4
        );
        let (s, x) = slide(30.0, 48);
        assert_relative_eq!(s.p_full, 1.0472e-26, max_relative = 1e-3);
        assert_relative_eq!(s.mean_in_service / x, 41_966.1, max_relative = 1e-5);
    }
}
