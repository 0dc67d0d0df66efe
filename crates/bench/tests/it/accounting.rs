//! Honest accounting: a policy that drops or delays requests scores lower, never higher.
//! In process, without the loop's processes: the clairvoyant policy on a step down, once with
//! pods that drain (grace period) and once with pods killed at once.

use inferno_bench::policies::Policy;
use inferno_bench::run::{run, Options};
use inferno_bench::scenario::{Plan, Scenario};
use inferno_bench::summary::summarise;
use std::path::Path;

const SCENARIO: &str = r#"
data: ../../../../samples/large
servers:
  - {name: Premium-llama_13b, rpm: 60, inTokens: 128, outTokens: 512}
load:
  - {for: 60s, multiplier: 4}
  - {for: 60s, multiplier: 0.3}
duration: 2m
timeScale: 20
period: 15s
seed: 11
startup: {default: 10s}
pods: {gracePeriod: GRACE}
"#;

async fn score(grace: &str, policies: Vec<Policy>) -> inferno_bench::summary::Summary {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/accounting.yaml");
    let scenario: Scenario =
        serde_yaml_ng::from_str(&SCENARIO.replace("GRACE", grace)).expect("scenario");
    let plan = Plan::from_scenario(scenario, &file).expect("plan");
    let out = std::env::temp_dir().join(format!(
        "inferno-bench-accounting-{}-{grace}",
        std::process::id()
    ));
    let measured = run(
        plan,
        &Options {
            out: out.clone(),
            policies,
            bin_dir: out.clone(),
        },
    )
    .await
    .expect("run");
    let _ = std::fs::remove_dir_all(&out);
    summarise(&measured)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_cut_off_by_a_scale_down_are_misses() {
    let drained = score("60s", vec![Policy::Clairvoyant]).await;
    let killed = score("0s", vec![Policy::Clairvoyant]).await;
    let (d, k) = (&drained.policies[0].total, &killed.policies[0].total);
    assert_eq!(d.arrived, k.arrived, "same requests");
    // Draining pods finish their requests; pods killed at once cut theirs off.
    assert_eq!(d.cut_off, 0, "{d:?}");
    assert!(k.cut_off > 0, "the scale-down must cut requests off: {k:?}");
    assert!(k.met_both + k.cut_off <= k.arrived);
    assert!(
        k.attainment < d.attainment,
        "cutting requests off must score lower: {k:?} vs {d:?}"
    );
    // Draining pods keep costing while they drain.
    assert!(d.gpu_cost_cents > k.gpu_cost_cents, "{d:?} vs {k:?}");
}
