//! What a pod carries at a full batch, from the iteration time its pods showed at the
//! occupancy they ran (docs/controller.md, "A full batch at the pods' own pace").
//!
//! The tuner fits the queueing model at the pods' operating point, and the model's occupancy
//! spreads there as exponential service would spread it, where pods, whose service is a sum of
//! hundreds of iterations, stay near the fluid balance (measured on emulated ones): at three
//! quarters of a pod's maximum rate the chain's mean batch is 25% above the emulated pods'
//! (docs/tuning.md). The tuned parameters then make the model right at that point and the
//! iteration time too short, and a server that no target limits is sized at what its pods
//! carry at a full batch, which that iteration time sets. The pods themselves tell the
//! iteration time at the occupancy they ran: their mean ITL against the model's iteration time
//! there (`ServiceModel::itl`, no queueing in it) is how much slower a batch runs than the
//! parameters say. A full batch runs that much slower too, and carries that much less.

use inferno_optimizer::queue::{QueueConfig, ServiceModel};
use std::collections::VecDeque;

/// Windows whose ratio is taken the median of (noise, and a window that caught a burst).
const SAMPLES: usize = 5;

/// Fewest windows before the ratio counts.
const MIN_SAMPLES: usize = 3;

/// One steady window of the current pods.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Mean requests running per pod.
    running: f64,
    /// Mean ITL, ms.
    itl: f64,
    /// The window's token means and spread of output lengths.
    in_tokens: f64,
    out_tokens: f64,
    out_cv: f64,
}

/// The last steady windows of one server's pods, on one accelerator.
#[derive(Debug, Default)]
pub(super) struct FullBatch {
    accelerator: String,
    samples: VecDeque<Sample>,
}

/// What the pods' windows say of a kind's full batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Pace {
    /// The pods' mean ITL over the model's iteration time at their occupancy (median).
    pub(super) slower: f64,
    /// Requests/min one pod carries at a full batch at that pace.
    pub(super) per_pod_rpm: f64,
}

impl FullBatch {
    /// Takes one window of pods on `accelerator` that ran `running` requests each at a mean
    /// ITL of `itl` ms: a window the tuner takes (every pod serving, a steady load, no queue,
    /// batches under nine tenths of the cap). Windows of another accelerator are forgotten.
    pub(super) fn observe(
        &mut self,
        accelerator: &str,
        running: f64,
        itl: f64,
        tokens: (f64, f64, f64),
    ) {
        if self.accelerator != accelerator {
            self.accelerator = accelerator.to_string();
            self.samples.clear();
        }
        let ok = |v: f64| v.is_finite() && v > 0.0;
        if !(ok(running) && ok(itl) && ok(tokens.1)) {
            return;
        }
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample {
            running,
            itl,
            in_tokens: tokens.0,
            out_tokens: tokens.1,
            out_cv: tokens.2,
        });
    }

    /// The pace of a full batch of `queue`'s kind (its parameters, tokens and cap) on
    /// `accelerator`, when at least [`MIN_SAMPLES`] windows of it were seen and they ran
    /// slower than the parameters say; `None` otherwise (the optimizer's count stands).
    pub(super) fn pace(&self, accelerator: &str, queue: &QueueConfig) -> Option<Pace> {
        if self.accelerator != accelerator || self.samples.len() < MIN_SAMPLES {
            return None;
        }
        let mut ratios: Vec<f64> = self
            .samples
            .iter()
            .filter_map(|s| {
                let at = service(queue, (s.in_tokens, s.out_tokens, s.out_cv))?.itl(s.running);
                (at.is_finite() && at > 0.0).then(|| s.itl / at)
            })
            .collect();
        if ratios.len() < MIN_SAMPLES {
            return None;
        }
        ratios.sort_by(f64::total_cmp);
        let slower = ratios[ratios.len() / 2];
        if slower <= 1.0 {
            return None;
        }
        let full = service(queue, (queue.in_tokens, queue.out_tokens, queue.out_cv))?;
        let per_pod_rpm = full.service_rate(queue.max_batch.max(1)) * 60_000.0 / slower;
        (per_pod_rpm.is_finite() && per_pod_rpm > 0.0).then_some(Pace {
            slower,
            per_pod_rpm,
        })
    }
}

/// The iteration-time model of `queue`'s kind (its parameters, cap and token budget) at the
/// token means and output spread `tokens`.
fn service(queue: &QueueConfig, tokens: (f64, f64, f64)) -> Option<ServiceModel> {
    ServiceModel::new(
        queue.params,
        tokens.0,
        tokens.1,
        queue.max_batch,
        queue.max_tokens,
    )
    .and_then(|m| m.with_out_cv(tokens.2))
    .ok()
}
