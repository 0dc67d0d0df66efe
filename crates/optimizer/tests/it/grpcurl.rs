//! The real grpcurl against the optimizer server (reflection, describe, OptimizeOne with -d @).
//! `make test` installs grpcurl; with CI=true a missing grpcurl fails the test instead of
//! skipping it.

use super::grpc::start;
use super::solver_vectors::sample;
use inferno_optimizer::grpc::ServeConfig;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Runs grpcurl with `args` and `stdin`: success, stdout, stderr. A minute at most.
async fn run(bin: PathBuf, args: Vec<String>, stdin: Option<String>) -> (bool, String, String) {
    let out = inferno_testkit::process::output(
        Command::new(bin).args(&args),
        stdin.map(String::into_bytes),
        Duration::from_secs(60),
    )
    .await;
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[tokio::test]
async fn grpcurl_lists_describes_and_optimizes() {
    let Some(bin) = inferno_testkit::tools::grpcurl() else {
        return;
    };
    let server = start(ServeConfig::default()).await;
    let addr = server.addr.to_string();
    let args = |rest: &[&str]| -> Vec<String> {
        let mut v = vec!["-plaintext".to_string(), "-max-time".into(), "60".into()];
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    };

    // The optimizer's port lists the optimizer and health, not the loop's other services.
    // Before: all four inferno.v1 services on every port.
    let (ok, out, err) = run(bin.clone(), args(&[&addr, "list"]), None).await;
    assert!(ok, "{err}");
    let listed: Vec<&str> = out.lines().collect();
    assert_eq!(listed, ["grpc.health.v1.Health", "inferno.v1.Optimizer"]);

    let (ok, out, err) = run(
        bin.clone(),
        args(&[&addr, "describe", "inferno.v1.Optimizer"]),
        None,
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains(
            "rpc OptimizeOne ( .inferno.v1.SystemData ) returns ( .inferno.v1.OptimizeResponse )"
        ),
        "{out}"
    );
    let (ok, out, _) = run(
        bin.clone(),
        args(&[&addr, "describe", "inferno.v1.ServerLoadSpec"]),
        None,
    )
    .await;
    assert!(
        ok && out.contains("// Offered arrival rate, requests/minute."),
        "{out}"
    );

    // The system as `inferno-optimizer system samples/small` prints it: proto3 JSON.
    let json = |spec: &inferno_api::SystemSpec| {
        inferno_proto::json::to_string(&inferno_proto::v1::SystemData {
            system: Some(spec.try_into().unwrap()),
        })
    };
    let system = json(&sample("small"));
    assert!(system.contains("\"sloItl\""), "{system}");
    let (ok, out, err) = run(
        bin.clone(),
        args(&["-d", "@", &addr, "inferno.v1.Optimizer/OptimizeOne"]),
        Some(system),
    )
    .await;
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["totalCost"], 22564.0);
    let allocations = v["solution"]["allocations"].as_object().unwrap();
    assert_eq!(allocations.len(), 15);
    assert_eq!(allocations["Free-llama_70b"]["accelerator"], "4xA100");
    assert_eq!(allocations["Free-llama_70b"]["numReplicas"], 54);
    assert_eq!(v["report"]["solver"], "GREEDY");
    assert!(
        v["stats"]["duration"].as_str().unwrap().ends_with('s'),
        "a google.protobuf.Duration: {out}"
    );
    let greedy_objective = v["report"]["objective"].as_f64().unwrap();

    // The exact solver, chosen in the optimizer data of the request: proven optimal, never
    // worse than the greedy, with its bound and gap.
    let mut exact = sample("small");
    exact.optimizer_data.optimizer.solver = "milp".into();
    let system = json(&exact);
    let (ok, out, err) = run(
        bin.clone(),
        args(&["-d", "@", &addr, "inferno.v1.Optimizer/OptimizeOne"]),
        Some(system),
    )
    .await;
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let report = &v["report"];
    assert_eq!(report["solver"], "MILP", "{out}");
    assert_eq!(report["status"], "OPTIMAL", "{out}");
    let objective = report["objective"].as_f64().unwrap();
    // The default greedy, improved with prices, reaches this optimum on the small sample.
    assert!(objective <= greedy_objective * (1.0 + 1e-12), "{out}");
    assert!(report["bound"].as_f64().unwrap() <= objective, "{out}");

    let (ok, out, err) = run(
        bin.clone(),
        args(&[&addr, "grpc.health.v1.Health/Check"]),
        None,
    )
    .await;
    assert!(ok && out.contains("SERVING"), "{out}{err}");

    // Invalid input: the status and every problem reach the user.
    refuses_bad_input(bin, &addr, "OptimizeOne").await;
}

/// Explain through the real grpcurl: the large sample's scarce MI300X priced exactly, a
/// server's runners-up, the lower bound; invalid data named as for OptimizeOne.
#[tokio::test]
async fn grpcurl_explains_a_decision() {
    let Some(bin) = inferno_testkit::tools::grpcurl() else {
        return;
    };
    let server = start(ServeConfig::default()).await;
    let addr = server.addr.to_string();
    let args = |rest: &[&str]| -> Vec<String> {
        let mut v = vec!["-plaintext".to_string(), "-max-time".into(), "60".into()];
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    };
    let system = inferno_proto::json::to_string(&inferno_proto::v1::SystemData {
        system: Some((&sample("large")).try_into().unwrap()),
    });
    // Brief, as the control loop asks each cycle: the LP prices, no exact solves, no class
    // costs, no type switches.
    let mut brief: Value = serde_json::from_str(&system).unwrap();
    brief["brief"] = Value::Bool(true);
    let (ok, out, err) = run(
        bin.clone(),
        args(&["-d", "@", &addr, "inferno.v1.Optimizer/Explain"]),
        Some(brief.to_string()),
    )
    .await;
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["pricedBy"], "LP", "{out}");
    assert!(v.get("classes").is_none(), "{out}");
    let mi300x = v["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "MI300X")
        .unwrap();
    assert!(
        mi300x.get("oneLess").is_none() && mi300x["dualPrice"].as_f64().unwrap() > 0.0,
        "{out}"
    );
    assert!(v["servers"][0].get("switch").is_none(), "{out}");

    let (ok, out, err) = run(
        bin.clone(),
        args(&["-d", "@", &addr, "inferno.v1.Optimizer/Explain"]),
        Some(system),
    )
    .await;
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["pricedBy"], "EXACT", "{out}");
    assert_eq!(v["decision"]["cost"], 21161.0, "{out}");
    assert_eq!(v["lowerBound"]["cost"], 20439.0, "{out}");
    let types = v["types"].as_array().unwrap();
    let mi300x = types.iter().find(|t| t["name"] == "MI300X").unwrap();
    assert_eq!(mi300x["binding"], true, "{out}");
    assert_eq!(mi300x["oneLess"]["cost"], 73.0, "{out}");
    assert!(mi300x["dualPrice"].as_f64().unwrap() > 0.0, "{out}");
    let servers = v["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 27);
    let s = servers
        .iter()
        .find(|s| s["name"] == "Premium-llama_7b")
        .unwrap();
    assert_eq!(s["chosen"]["accelerator"], "2xG2", "{out}");
    assert_eq!(s["chosen"]["binds"], "ITL", "{out}");
    assert!(!s["alternatives"].as_array().unwrap().is_empty());
    assert_eq!(s["margin"], 38.0, "{out}");

    refuses_bad_input(bin, &addr, "Explain").await;
}

/// `rpc` of the optimizer at `addr` refuses invalid data through grpcurl with the status, the
/// field named and the field violation of the request.
async fn refuses_bad_input(bin: PathBuf, addr: &str, rpc: &str) {
    let bad = r#"{"system": {"acceleratorData": {"accelerators": [{"name": "X", "type": "X", "cost": -1}]}}}"#;
    let method = format!("inferno.v1.Optimizer/{rpc}");
    let args = ["-plaintext", "-max-time", "60", "-d", "@", addr, &method];
    let (ok, _, err) = run(bin, args.map(String::from).to_vec(), Some(bad.into())).await;
    assert!(!ok);
    assert!(
        err.contains("InvalidArgument") && err.contains("field cost"),
        "{rpc}: {err}"
    );
    // grpcurl prints the google.rpc.BadRequest too (reflection describes it).
    assert!(
        err.contains("google.rpc.BadRequest")
            && err.contains("system.accelerator_data.accelerators[0].cost"),
        "{rpc}: {err}"
    );
}
