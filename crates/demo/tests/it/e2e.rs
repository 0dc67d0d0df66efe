//! End to end on loopback: kubesim with the three sample Deployments, emulated vLLM servers for
//! their pods (driven by the Deployments' load labels), a real Prometheus scraping them, and the
//! four Inferno services as separate processes. The test moves the load labels itself (the load
//! emulator is exercised by its own tests; here the ramp must be exact) and invokes cycles.
//!
//! Needs the workspace binaries (`cargo test --workspace` builds them) and Prometheus (`make
//! test` installs it; with CI=true a missing one fails the test).

use inferno_demo::stack::{prometheus_binary, Config, Stack};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn bin_dir() -> PathBuf {
    // target/<profile>/deps/it-<hash> -> target/<profile>
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf()
}

fn server<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or(&Value::Null)
}

/// Every managed Deployment's replicas, by server name.
async fn replicas(client: &kube::Client) -> Vec<(String, i32)> {
    let list = Api::<Deployment>::namespaced(client.clone(), "infer")
        .list(&ListParams::default())
        .await
        .unwrap();
    list.items
        .iter()
        .map(|d| {
            let name = d
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("inferno.server.name"))
                .cloned()
                .unwrap_or_default();
            (name, d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(-1))
        })
        .collect()
}

async fn set_load(client: &kube::Client, deployment: &str, rpm: f64) {
    let p =
        serde_json::json!({"metadata": {"labels": {"inferno.server.load.rpm": format!("{rpm}")}}});
    Api::<Deployment>::namespaced(client.clone(), "infer")
        .patch(deployment, &PatchParams::default(), &Patch::Merge(p))
        .await
        .unwrap();
}

/// Invokes cycles until `done` holds for the report or the time is up; returns the last report.
async fn until(
    stack: &Stack,
    client: &kube::Client,
    secs: u64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let report = stack.invoke().await.unwrap();
        for (name, n) in replicas(client).await {
            assert!(n > 0, "{name} was scaled to zero (policy hold): {report}");
        }
        if done(&report) {
            return report;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{what}: not reached in {secs}s; last report {report}"
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

fn placed_within_slo(report: &Value) {
    for s in report["servers"].as_array().unwrap() {
        if s["unplaced"].as_str().unwrap_or("").is_empty() {
            let (itl, slo_itl) = (
                s["predictedItl"].as_f64().unwrap(),
                s["sloItl"].as_f64().unwrap(),
            );
            let (ttft, slo_ttft) = (
                s["predictedTtft"].as_f64().unwrap(),
                s["sloTtft"].as_f64().unwrap(),
            );
            assert!(
                slo_itl == 0.0 || itl <= slo_itl * (1.0 + 1e-9),
                "{}: ITL {itl} > {slo_itl}",
                s["name"]
            );
            assert!(
                slo_ttft == 0.0 || ttft <= slo_ttft * (1.0 + 1e-9),
                "{}: TTFT {ttft} > {slo_ttft}",
                s["name"]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_follows_the_load() {
    let with_prometheus = prometheus_binary().is_some();
    if !with_prometheus {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "prometheus is required in CI (make test installs it)"
        );
        eprintln!("NOTE: prometheus not found: the loop runs on load labels only");
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    let work = std::env::temp_dir().join(format!("inferno-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let config = Config {
        bin_dir: bin_dir(),
        repo,
        work: work.clone(),
        prometheus: true,
        load_emulator: false,
        phases: None,
        load_interval: 5.0,
        period: 0,
        unplaced: "hold".into(),
        prometheus_window: "15s".into(),
        scrape_interval: 1,
        scale_down_window: 10,
    };
    let mut stack = Stack::start(config)
        .await
        .unwrap_or_else(|e| panic!("stack: {e}"));
    let client =
        kube::Client::try_from(kube::Config::new(stack.urls.kubesim.parse().unwrap())).unwrap();
    // Answers of 512 tokens keep requests (and so the measured rates) quick enough to follow
    // the labels, and batches moderate (the batch scales with 1/outTokens).
    for d in [
        "premium-llama-13b",
        "bronze-granite-13b",
        "free-mixtral-8-7b",
    ] {
        let p =
            serde_json::json!({"metadata": {"labels": {"inferno.server.load.outtokens": "512"}}});
        Api::<Deployment>::namespaced(client.clone(), "infer")
            .patch(d, &PatchParams::default(), &Patch::Merge(p))
            .await
            .unwrap();
    }

    // 1. The three sample servers are placed, within their SLOs by the model's prediction.
    // A server's load was measured through Prometheus (not taken from its label) when the
    // policy planned from a measured rate (one with a standard error) and requests completed.
    let measured = move |s: &Value| {
        !with_prometheus
            || (s["throughput"].as_f64().unwrap_or(0.0) > 0.0
                && s["plan"]["rateError"].as_f64().unwrap_or(0.0) > 0.0)
    };
    let first = until(
        &stack,
        &client,
        300,
        "first placement from measured load",
        |r| {
            r["outcome"] == "OK"
                && r["servers"].as_array().is_some_and(|s| {
                    s.len() == 3
                        && s.iter()
                            .all(|s| s["replicas"].as_i64().unwrap_or(0) > 0 && measured(s))
                })
        },
    )
    .await;
    placed_within_slo(&first);
    // What vllm-001 is given (GPUs x replicas) is measured by its cost.
    let cost = |r: &Value| server(r, "vllm-001")["cost"].as_f64().unwrap_or(0.0);
    let base = cost(&first);

    // 2. Load up on vllm-001 to 50 requests/s (about 750 in flight): more GPUs, as measured
    //    through Prometheus when it runs.
    set_load(&client, "premium-llama-13b", 3000.0).await;
    let up = until(&stack, &client, 300, "scale up", |r| {
        let s = server(r, "vllm-001");
        r["outcome"] == "OK"
            && cost(r) > base
            && measured(s)
            && (!with_prometheus || s["rpm"].as_f64().unwrap_or(0.0) > 1500.0)
    })
    .await;
    placed_within_slo(&up);
    let high = cost(&up);
    let decided = server(&up, "vllm-001");
    let d = Api::<Deployment>::namespaced(client.clone(), "infer")
        .get("premium-llama-13b")
        .await
        .unwrap();
    assert_eq!(
        d.spec.unwrap().replicas.map(i64::from),
        decided["replicas"].as_i64(),
        "the actuator applied the replicas"
    );
    assert_eq!(
        d.metadata.labels.unwrap()["inferno.server.allocation.accelerator"],
        decided["accelerator"].as_str().unwrap(),
        "and the accelerator"
    );

    // 3. Load down again: fewer GPUs.
    set_load(&client, "premium-llama-13b", 20.0).await;
    until(&stack, &client, 300, "scale down", |r| {
        let s = server(r, "vllm-001");
        r["outcome"] == "OK"
            && cost(r) < high
            && measured(s)
            && (!with_prometheus || s["rpm"].as_f64().unwrap_or(f64::MAX) < 300.0)
    })
    .await;

    // 4. Prometheus stopped: cycles go on from the load labels, and say so.
    if with_prometheus {
        stack.kill("prometheus").await;
        let r = until(&stack, &client, 60, "labels only", |r| {
            r["outcome"] == "OK"
                && r["problems"].as_array().is_some_and(|p| {
                    p.iter()
                        .any(|p| p.as_str().unwrap_or("").contains("prometheus"))
                })
        })
        .await;
        assert_eq!(
            server(&r, "vllm-001")["rpm"].as_f64(),
            Some(20.0),
            "the rpm label is used"
        );
    }

    // 5. A killed optimizer fails the cycle cleanly; it recovers when the optimizer returns.
    stack.kill("optimizer").await;
    let failed = stack.invoke().await.unwrap();
    assert_eq!(failed["outcome"], "FAILED");
    assert!(
        failed["reason"].as_str().unwrap().starts_with("optimize:"),
        "{failed}"
    );
    stack.start_optimizer().await.unwrap();
    until(&stack, &client, 60, "recovery", |r| r["outcome"] == "OK").await;

    // The controller kept one JSONL record per cycle.
    let records = std::fs::read_to_string(&stack.cycle_log).unwrap();
    assert!(records.lines().count() >= 5);
    stack.stop().await;
    let _ = std::fs::remove_dir_all(&work);
}
