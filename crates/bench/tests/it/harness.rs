//! The whole harness once, as `make test` runs it: the binary, every policy (the inferno one
//! with the real services and a real Prometheus), a short scenario at a high time scale.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_inferno-bench"))
        .parent()
        .expect("target dir")
        .to_path_buf()
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn short_scenario_accounts_for_every_request_under_every_policy() {
    let dir = bin_dir();
    for b in [
        "inferno-collector",
        "inferno-optimizer",
        "inferno-actuator",
        "inferno-controller",
    ] {
        assert!(
            dir.join(b).exists(),
            "{b} is not built in {}: run `cargo build --workspace --bins` (make test builds it)",
            dir.display()
        );
    }
    let out = std::env::temp_dir().join(format!("inferno-bench-harness-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/short.yaml");
    let status = Command::new(env!("CARGO_BIN_EXE_inferno-bench"))
        .args([
            "run",
            scenario.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ])
        .env("INFERNO_BENCH_BIN_DIR", &dir)
        .status()
        .expect("inferno-bench runs");
    assert!(
        status.success(),
        "inferno-bench failed; logs in {}",
        out.display()
    );

    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary"))
            .expect("summary.json is JSON");
    assert!(
        summary["warnings"].as_array().expect("warnings").is_empty(),
        "{summary}"
    );
    let policies = summary["policies"].as_array().expect("policies");
    let names: Vec<&str> = policies
        .iter()
        .map(|p| p["policy"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["inferno", "hpa", "static-peak", "clairvoyant"]);

    let mut arrived = None;
    for p in policies {
        let name = p["policy"].as_str().unwrap();
        let t = &p["total"];
        let n = t["arrived"].as_u64().unwrap();
        // The same requests reach every policy.
        assert_eq!(*arrived.get_or_insert(n), n, "{name}");
        assert!(n > 100, "{name}: {n} requests");
        // Every request of the records file is counted once, with its outcome.
        let records = read_jsonl(&out.join(name).join("requests.jsonl"));
        assert_eq!(records.len() as u64, n, "{name}");
        let count = |f: &dyn Fn(&Value) -> bool| records.iter().filter(|r| f(r)).count() as u64;
        let met = count(&|r| r["metTtft"] == true && r["metItl"] == true);
        assert_eq!(t["metBoth"].as_u64().unwrap(), met, "{name}");
        for (field, outcome) in [
            ("rejected", "rejected"),
            ("cutOff", "cutOff"),
            ("unfinished", "unfinished"),
        ] {
            assert_eq!(
                t[field].as_u64().unwrap(),
                count(&|r| r["outcome"] == outcome),
                "{name} {field}"
            );
        }
        // Only served requests can meet a target, and a met target is really met.
        assert_eq!(
            count(&|r| r["outcome"] != "served" && (r["metTtft"] == true || r["metItl"] == true)),
            0
        );
        assert_eq!(
            count(&|r| r["metTtft"] == true && r["ttftMs"].as_f64().unwrap() > 1000.0),
            0,
            "Premium TTFT target"
        );
        let attainment = t["attainment"].as_f64().unwrap();
        assert!((attainment - met as f64 / n as f64).abs() < 1e-12, "{name}");
        assert!(
            t["gpuCostCents"].as_f64().unwrap() > 0.0,
            "{name}: pods cost"
        );
        let samples = read_jsonl(&out.join(name).join("samples.jsonl"));
        assert!(samples.len() >= 12, "{name}: a sample every period");
    }
    let clairvoyant = &policies[3]["total"];
    assert_eq!(clairvoyant["costRatio"].as_f64(), Some(1.0));
    // The loop ran: cycles seen, its measured/predicted comparison made.
    assert!(
        policies[0]["cycles"].as_u64().unwrap() >= 3,
        "{}",
        policies[0]
    );
    assert!(
        policies[0]["prediction"]["itl"]["windows"]
            .as_u64()
            .unwrap()
            > 0
    );
    // The loop measured the load through Prometheus at the scenario's time scale: the
    // collector's rate is per scenario minute (30 to 180 requests/min offered here), not 30
    // times that per wall minute.
    let cycles = read_jsonl(&out.join("inferno/cycles.jsonl"));
    let measured: Vec<f64> = cycles
        .iter()
        .filter(|c| c["outcome"] == "OK")
        .filter_map(|c| c["servers"][0]["rpm"].as_f64())
        .filter(|rpm| *rpm > 0.0)
        .collect();
    assert!(!measured.is_empty(), "no cycle measured a load: {cycles:?}");
    assert!(
        measured.iter().all(|rpm| *rpm < 400.0),
        "rates not scaled: {measured:?}"
    );
    let png = std::fs::read(out.join("timeline.png")).expect("timeline.png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(std::fs::read_to_string(out.join("summary.md"))
        .unwrap()
        .contains("| clairvoyant |"));
    let _ = std::fs::remove_dir_all(&out);
}
