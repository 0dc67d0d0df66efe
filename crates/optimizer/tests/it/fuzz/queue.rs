//! The `queue` family: gRPC queue requests with extreme fields, to the `Analyze`, `Size` and
//! `OptimalConcurrency` handlers of the optimizer service.

use super::values::{extreme, show, Extreme};
use inferno_optimizer::grpc::{Metrics, OptimizerService};
use inferno_proto::v1::{self, optimizer_server::Optimizer};
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::Path;
use std::sync::Arc;

/// The request's fields, in proto order, with their JSON names.
const FIELDS: [&str; 11] = [
    "rps",
    "maxBatchSize",
    "avgInputTokens",
    "avgOutputTokens",
    "alpha",
    "beta",
    "gamma",
    "maxQueueSize",
    "targetTtft",
    "targetItl",
    "outTokensCv",
];

/// One case of the family.
#[derive(Debug, Clone)]
pub(in crate::fuzz) struct Case {
    base: v1::QueueRequest,
    overrides: Vec<(Index, Extreme)>,
}

pub(in crate::fuzz) fn case() -> impl Strategy<Value = Case> {
    // The overrides first: a failure shrinks to the fewest extreme fields first.
    (
        proptest::collection::vec((any::<Index>(), extreme()), 0..=3),
        (
            0.01..50.0f64,
            prop_oneof![1 => Just(0i32), 4 => 1..=512i32],
            0.0..4096.0f64,
            1.0..2048.0f64,
        ),
        (0.5..300.0f64, 0.001..1.0f64, 0.0..0.05f64, 0..=256i32),
        (
            prop_oneof![1 => Just(0.0), 3 => 10.0..10_000.0f64],
            prop_oneof![1 => Just(0.0), 3 => 1.0..500.0f64],
        ),
    )
        .prop_map(
            |(overrides, (rps, batch, input, output), (alpha, beta, gamma, queue), (ttft, itl))| {
                Case {
                    base: v1::QueueRequest {
                        rps,
                        max_batch_size: batch,
                        avg_input_tokens: input,
                        avg_output_tokens: output,
                        alpha,
                        beta,
                        gamma,
                        max_queue_size: queue,
                        target_ttft: ttft,
                        target_itl: itl,
                        out_tokens_cv: 0.0,
                    },
                    overrides,
                }
            },
        )
}

impl Case {
    fn request(&self) -> (v1::QueueRequest, Vec<String>) {
        let mut r = self.base;
        let mut changes = Vec::new();
        for (field, v) in &self.overrides {
            let i = field.index(FIELDS.len());
            let (f, n) = (v.float(), v.int32());
            let slot = match i {
                0 => &mut r.rps,
                1 => {
                    r.max_batch_size = n;
                    changes.push(format!("{} = {n}", FIELDS[i]));
                    continue;
                }
                2 => &mut r.avg_input_tokens,
                3 => &mut r.avg_output_tokens,
                4 => &mut r.alpha,
                5 => &mut r.beta,
                6 => &mut r.gamma,
                7 => {
                    r.max_queue_size = n;
                    changes.push(format!("{} = {n}", FIELDS[i]));
                    continue;
                }
                8 => &mut r.target_ttft,
                9 => &mut r.target_itl,
                _ => &mut r.out_tokens_cv,
            };
            *slot = f;
            changes.push(format!("{} = {}", FIELDS[i], show(f)));
        }
        (r, changes)
    }

    pub(in crate::fuzz) fn run(&self) -> Result<&'static str, String> {
        let (request, _) = self.request();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("fuzz harness: runtime: {e}"))?;
        let service = OptimizerService::new(false, Arc::new(Metrics::default()));
        let mut answered = 0;
        let check = |rpc: &str, status: Option<tonic::Status>| match status {
            Some(s) if matches!(s.code(), tonic::Code::Internal | tonic::Code::Unknown) => {
                Err(format!("{rpc} answered {:?}: {}", s.code(), s.message()))
            }
            Some(_) => Ok(0),
            None => Ok(1),
        };
        runtime.block_on(async {
            let r = tonic::Request::new(request);
            answered += check("Analyze", service.analyze(r).await.err())?;
            let r = tonic::Request::new(request);
            answered += check("Size", service.size(r).await.err())?;
            let r = tonic::Request::new(request);
            answered += check(
                "OptimalConcurrency",
                service.optimal_concurrency(r).await.err(),
            )?;
            Ok::<_, String>(())
        })?;
        Ok(match answered {
            0 => "refused by all three calls",
            3 => "answered by all three calls",
            _ => "answered by some calls",
        })
    }

    pub(in crate::fuzz) fn describe(&self) -> String {
        let (r, changes) = self.request();
        let mut s = format!("Analyze, Size, OptimalConcurrency with {}", json(&r));
        if changes.is_empty() {
            s.push_str("\n  no extreme field");
        } else {
            s.push_str(&format!("\n  extreme: {}", changes.join(", ")));
        }
        s
    }

    pub(in crate::fuzz) fn changes(&self) -> Vec<String> {
        self.request().1
    }

    pub(in crate::fuzz) fn write_repro(&self, dir: &Path) -> std::io::Result<()> {
        let (r, _) = self.request();
        std::fs::write(dir.join("request.json"), format!("{}\n", json(&r)))?;
        std::fs::write(
            dir.join("README.txt"),
            format!(
                "{}\n\nsend with: grpcurl -plaintext -d @ 127.0.0.1:3302 inferno.v1.Optimizer/Analyze < request.json \
                 (NaN and infinity are written as the strings proto JSON uses)\n",
                self.describe()
            ),
        )
    }
}

/// The request in proto3 JSON, as grpcurl reads it (NaN and infinities as the strings proto3
/// JSON uses).
fn json(r: &v1::QueueRequest) -> String {
    inferno_proto::json::to_string(r)
}
