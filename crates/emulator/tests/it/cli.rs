//! The program: `cli::run` in-process with a servers file and flags, and the real binary with
//! a ports file and SIGTERM.

use crate::support::{get, init_logs, post, samples, TempDir};
use clap::Parser;
use inferno_emulator::cli::{self, Args};
use inferno_testkit::{process, wait};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The ports file, once written whole (it ends with a newline).
async fn read_ports(path: &Path, limit: Duration) -> Value {
    wait::until_sync("the ports file", limit, || {
        let text = std::fs::read_to_string(path).ok()?;
        text.ends_with('\n')
            .then(|| serde_json::from_str(&text).unwrap())
    })
    .await
}

fn addr(ports: &Value, name: &str) -> SocketAddr {
    let port = ports[name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} in {ports}"));
    SocketAddr::from(([127, 0, 0, 1], port as u16))
}

#[tokio::test]
async fn run_hosts_servers_from_a_file_and_flags_until_shutdown() {
    init_logs();
    let dir = TempDir::new("cli");
    let servers = dir.path().join("servers.json");
    std::fs::write(
        &servers,
        r#"[{"name": "from-file", "model": "granite_13b", "accelerator": "L4",
             "timeScale": 20, "load": {"rate": 5, "inTokens": "10..20", "outTokens": 4}}]"#,
    )
    .unwrap();
    let ports = dir.path().join("ports.json");
    let args = Args::try_parse_from([
        "inferno-vllm-emulator",
        "--model-data",
        samples().join("small/model-data.json").to_str().unwrap(),
        "--servers-file",
        servers.to_str().unwrap(),
        "--server",
        "name=flagged,accelerator=A100,max-batch-size=4,time-scale=20",
        "--ports-file",
        ports.to_str().unwrap(),
    ])
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(cli::run(args, async move {
        let _ = stopped.await;
    }));
    let ports = read_ports(&ports, Duration::from_secs(10)).await;
    let file = addr(&ports, "from-file");
    let flagged = addr(&ports, "flagged");
    let state = get(flagged, "/emulator/state").await.json();
    assert_eq!(state["allocation"]["maxBatchSize"], 4);
    assert_eq!(state["allocation"]["accelerator"], "A100");
    assert_eq!(state["allocation"]["perf"]["alpha"], 20.58);
    let state = get(file, "/emulator/state").await.json();
    assert_eq!(state["allocation"]["perf"]["alpha"], 137.2);
    assert_eq!(state["load"]["inTokens"], "10..20");
    let v = post(
        flagged,
        "/v1/completions",
        r#"{"prompt":"hi","max_tokens":2}"#,
    )
    .await
    .json();
    assert_eq!(v["usage"]["total_tokens"], 3);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("run returns after shutdown")
        .unwrap()
        .unwrap();
    assert!(crate::support::request(flagged, "GET", "/health", None)
        .await
        .is_err());
}

#[tokio::test]
async fn run_reports_bad_configuration() {
    let dir = TempDir::new("cli-bad");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"[{"name": "x", "modle": "typo"}]"#).unwrap();
    let cases: [(&[&str], &str); 3] = [
        (
            &["--servers-file", bad.to_str().unwrap()],
            "not a list of server specs",
        ),
        (&["--server", "name=a,model=m"], "no performance data"),
        (
            &["--alpha", "1", "--time-scale", "0"],
            "timeScale must be > 0",
        ),
    ];
    for (extra, message) in cases {
        let mut argv = vec!["inferno-vllm-emulator"];
        argv.extend_from_slice(extra);
        let args = Args::try_parse_from(argv).unwrap();
        let err = cli::run(args, std::future::pending()).await.unwrap_err();
        assert!(err.to_string().contains(message), "{extra:?}: {err}");
    }
}

#[tokio::test]
async fn binary_serves_until_sigterm() {
    let dir = TempDir::new("bin");
    let ports = dir.path().join("ports.json");
    // Killed on drop: a failed check leaves no server behind.
    let mut child = process::Guard(
        Command::new(env!("CARGO_BIN_EXE_inferno-vllm-emulator"))
            .args([
                "--alpha",
                "5",
                "--beta",
                "0.01",
                "--time-scale",
                "10",
                "--name",
                "solo",
            ])
            .arg("--ports-file")
            .arg(&ports)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let ports = read_ports(&ports, Duration::from_secs(20)).await;
    let solo = addr(&ports, "solo");
    assert_eq!(get(solo, "/health").await.status, 200);
    let v = post(
        solo,
        "/v1/completions",
        r#"{"prompt":"a b c","max_tokens":3}"#,
    )
    .await
    .json();
    assert_eq!(v["usage"]["total_tokens"], 6);
    let status = process::terminate(&mut child, Duration::from_secs(10)).await;
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("emulated vLLM server listening"), "{log}");
    assert!(log.contains("SIGTERM received"), "{log}");
}
