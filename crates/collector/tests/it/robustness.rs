//! Bad inputs from outside the pod (issue 16): Prometheus samples, Prometheus misbehaving, and
//! Deployment labels. Each is named in the collection's problems and none reaches a decision.

use crate::discovery::{cluster, collector, deployment, pods, settled};
use crate::fake_prometheus::{self, Behaviour};
use inferno_collector::prometheus::{Prometheus, PrometheusConfig};
use inferno_core::Source;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use std::path::Path;
use std::time::Duration;

fn large_system() -> inferno_api::SystemSpec {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/large");
    inferno_api::load_dir(&dir).unwrap().spec
}

/// Samples of 1e308, +Inf, NaN or below zero used to become an infinite (or negative) ITL/TTFT,
/// and the optimizer then refused the whole system. Now each is dropped for its pod with a
/// problem naming the series, the pod and the value, and the collected system stays valid.
#[tokio::test]
async fn bad_samples_are_dropped_and_named_and_the_system_stays_valid() {
    let c = cluster().await;
    let first = settled(&collector(&c, &[], None, Duration::from_secs(2))).await;
    let system = large_system();
    let good = ["12", "0.02", "0.15", "1000", "5000", "10"];
    let with = |i: usize, v: &'static str| {
        let mut values = good;
        values[i] = v;
        values
    };
    let cases = [
        (
            with(1, "1e308"),
            "vllm:request_time_per_output_token_seconds",
            "1e308",
        ),
        (
            with(1, "+Inf"),
            "vllm:request_time_per_output_token_seconds",
            "inf",
        ),
        (with(2, "-0.5"), "vllm:time_to_first_token_seconds", "-0.5"),
        (
            with(2, "1e308"),
            "vllm:time_to_first_token_seconds",
            "1e308",
        ),
        (with(0, "NaN"), "vllm:request_success_total", "NaN"),
        (with(0, "-Inf"), "vllm:request_success_total", "-inf"),
        (with(0, "1e308"), "vllm:request_success_total", "1e308"),
        // 1e308 prompt tokens over 10 requests.
        (with(3, "1e308"), "vllm:request_prompt_tokens_sum", "1e307"),
    ];
    for (values, series, shown) in cases {
        let case = format!("{series} = {shown}");
        let (url, _) = fake_prometheus::start(Behaviour::Text {
            pods: pods(&first),
            values,
        })
        .await;
        let r = collector(&c, &[], Some(&url), Duration::from_secs(2))
            .collect()
            .await
            .unwrap();
        let mut spec = system.clone();
        spec.server_data.servers = r
            .servers
            .iter()
            .map(|s| s.observation.spec.clone())
            .collect();
        assert_eq!(spec.server_data.servers.len(), 3, "{case}");
        if let Err(e) = inferno_api::check(spec, &inferno_api::FileNames::single("collected")) {
            panic!("{case}: the collected system is invalid: {e}");
        }
        let s = r
            .servers
            .iter()
            .find(|s| s.observation.spec.name == "vllm-001")
            .unwrap();
        let a = &s.observation.spec.current_alloc;
        assert!(
            a.itl_average.is_finite() && a.ttft_average.is_finite(),
            "{case}: {a:?}"
        );
        // What the bad sample would have given is unknown now: 0 with a source that says so,
        // or the load label.
        let (field, source, value) = match series {
            "vllm:request_time_per_output_token_seconds" => {
                ("itlAverage", Source::Unknown, a.itl_average)
            }
            "vllm:time_to_first_token_seconds" => ("ttftAverage", Source::Unknown, a.ttft_average),
            "vllm:request_success_total" => ("arrivalRate", Source::Label, a.load.arrival_rate),
            _ => ("avgInTokens", Source::Label, a.load.avg_in_tokens as f64),
        };
        let expected = if source == Source::Label {
            if field == "arrivalRate" {
                30.0
            } else {
                128.0
            }
        } else {
            0.0
        };
        assert_eq!(
            (crate::discovery::source(&r, "vllm-001", field), value),
            (source, expected),
            "{case}"
        );
        let pod = &s.deployment.ready_pods[0];
        assert!(
            r.problems.iter().any(|(subject, m)| subject == "vllm-001"
                && m.contains(series)
                && m.contains(&format!("infer/{pod}"))
                && m.contains(&format!("got {shown}"))),
            "{case}: {:?}",
            r.problems
        );
    }
    c.sim.shutdown().await.unwrap();
}

fn prometheus(url: &str, timeout: Duration) -> Prometheus {
    let config = PrometheusConfig {
        url: url.into(),
        ..Default::default()
    };
    Prometheus::new(config, timeout).unwrap()
}

/// A Prometheus timeout is reported as one (it was "request failed: error sending request").
#[tokio::test]
async fn a_prometheus_timeout_says_so() {
    let (url, _) = fake_prometheus::start(Behaviour::Hung).await;
    let e = prometheus(&url, Duration::from_millis(200))
        .query("up")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "Prometheus query timed out after 0.2 s: {url}/api/v1/query up"
        )),
        "{e}"
    );
}

/// A refused connection names the address.
#[tokio::test]
async fn a_connect_error_names_the_address() {
    let port = inferno_testkit::free_port();
    let e = prometheus(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5))
        .query("up")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!(
            "cannot connect to Prometheus at 127.0.0.1:{port} ("
        )),
        "{e}"
    );
}

/// An answer larger than the limit is refused for its query, not read into memory whole.
#[tokio::test]
async fn a_huge_prometheus_answer_is_refused() {
    let (url, _) = fake_prometheus::start(Behaviour::Huge(17 << 20)).await;
    let e = prometheus(&url, Duration::from_secs(10))
        .query("up")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("answer larger than 16 MiB") && e.contains(&format!("{url}/api/v1/query up")),
        "{e}"
    );
    let (url, _) = fake_prometheus::start(Behaviour::Huge(1 << 20)).await;
    assert!(prometheus(&url, Duration::from_secs(10))
        .query("up")
        .await
        .unwrap()
        .is_empty());
}

fn labels(name: &str, extra: &[(&str, &str)]) -> serde_json::Value {
    let mut l = serde_json::json!({
        "inferno.server.managed": "true", "inferno.server.name": name,
        "inferno.server.model": "llama_13b", "inferno.server.class": "Premium",
        "inferno.server.allocation.accelerator": "MI250",
        "inferno.server.allocation.maxbatchsize": "8",
        "inferno.server.load.rpm": "30", "inferno.server.load.intokens": "128",
        "inferno.server.load.outtokens": "1024",
    });
    for (k, v) in extra {
        l[*k] = serde_json::json!(v);
    }
    l
}

/// `inferno.server.load.rpm=1e308` used to scale a Deployment 1 -> 256: a load label out of its
/// range is now a problem naming the Deployment, the label and the value, and a server whose load
/// is unusable is left out of the decision. Replica labels out of range, fractional or inverted
/// are problems too, and their values are not used.
#[tokio::test]
async fn labels_out_of_range_are_named_and_not_used() {
    let c = cluster().await;
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "infer");
    let cases: [(&str, &[(&str, &str)]); 7] = [
        ("flood", &[("inferno.server.load.rpm", "1e308")]),
        ("nan", &[("inferno.server.load.rpm", "NaN")]),
        ("long", &[("inferno.server.load.intokens", "1e9")]),
        ("fraction", &[("inferno.server.min-replicas", "1.5")]),
        (
            "inverted",
            &[
                ("inferno.server.min-replicas", "5"),
                ("inferno.server.max-replicas", "2"),
            ],
        ),
        ("ceiling", &[("inferno.server.max-replicas", "1e308")]),
        (
            "batch",
            &[("inferno.server.allocation.maxbatchsize", "2147483647")],
        ),
    ];
    for (name, extra) in cases {
        let d = deployment("infer", name, labels(name, extra));
        api.create(&PostParams::default(), &d).await.unwrap();
    }
    let r = collector(&c, &[], None, Duration::from_secs(1))
        .collect()
        .await
        .unwrap();
    let answer = r.collected(&[]);
    let problems: Vec<String> = r.problems.iter().map(|(_, m)| m.clone()).collect();
    let has = |text: &str| {
        assert!(
            problems.iter().any(|m| m.contains(text)),
            "no problem with {text:?} in {problems:#?}"
        );
    };
    has(
        r#"deployment infer/flood: label inferno.server.load.rpm="1e308": must be a finite number in [0, 10000000], got 1e308; not used"#,
    );
    has(
        r#"deployment infer/nan: label inferno.server.load.rpm="NaN": must be a finite number in [0, 10000000], got NaN; not used"#,
    );
    has(
        r#"deployment infer/long: label inferno.server.load.intokens="1e9": must be a finite number in [0, 1048576], got 1000000000; not used"#,
    );
    has(
        r#"deployment infer/fraction: label inferno.server.min-replicas="1.5": must be an integer in [0, 10000], got 1.5; not used"#,
    );
    has(
        r#"deployment infer/inverted: label inferno.server.min-replicas="5" is above inferno.server.max-replicas="2"; min-replicas not used"#,
    );
    has(
        r#"deployment infer/ceiling: label inferno.server.max-replicas="1e308": must be an integer in [0, 10000], got 1e308; not used"#,
    );
    has(
        r#"deployment infer/batch: label inferno.server.allocation.maxbatchsize="2147483647": must be an integer in [0, 4096], got 2147483647; not used"#,
    );

    let server = |name: &str| answer.servers.iter().find(|s| s.name == name);
    // No load for these: left out of the decision, never sized with 1e308 or 0.
    for name in ["flood", "nan", "long"] {
        assert!(
            server(name).is_none(),
            "{name} must not reach the optimizer"
        );
    }
    assert_eq!(server("fraction").unwrap().min_num_replicas, 0);
    assert_eq!(server("inverted").unwrap().min_num_replicas, 0);
    assert_eq!(server("batch").unwrap().current_alloc.max_batch, 0);
    assert!(server("ceiling").is_some() && server("vllm-001").is_some());
    // ... reported unplaced with the reason, their Deployments kept for the actuator to hold.
    let unplaced: Vec<(&str, &str, &str)> = answer
        .unplaced
        .iter()
        .map(|u| (u.server.as_str(), u.code.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(
        unplaced,
        [
            (
                "flood",
                "invalid-load",
                r#"arrival rate unknown: label inferno.server.load.rpm="1e308": must be a finite number in [0, 10000000], got 1e308, and Prometheus measured no rate"#
            ),
            (
                "long",
                "invalid-load",
                r#"avgInTokens unknown: label inferno.server.load.intokens="1e9": must be a finite number in [0, 1048576], got 1000000000, and Prometheus measured none"#
            ),
            (
                "nan",
                "invalid-load",
                r#"arrival rate unknown: label inferno.server.load.rpm="NaN": must be a finite number in [0, 10000000], got NaN, and Prometheus measured no rate"#
            ),
        ]
    );
    for name in ["flood", "nan", "long"] {
        assert_eq!(answer.refs[name].name, name);
        assert!(
            r.problems.iter().any(|(subject, m)| subject == name
                && m.starts_with("load unusable, left out of this cycle's decision: ")),
            "{name}: {:?}",
            r.problems
        );
    }
    c.sim.shutdown().await.unwrap();
}

/// A copy of a Deployment carrying the same server name used to take the server over when its
/// name sorted first. The oldest Deployment keeps it; the copy is skipped with a problem naming
/// both.
#[tokio::test]
async fn a_copy_does_not_take_over_a_server() {
    let c = cluster().await;
    let api: Api<Deployment> = Api::namespaced(c.client.clone(), "infer");
    let original = api.get("premium-llama-13b").await.unwrap();
    let created = original.metadata.creation_timestamp.clone().unwrap().0;
    // Creation times have second precision: wait for the copy to be strictly younger.
    inferno_testkit::wait::until_sync("the next second", Duration::from_secs(5), || {
        (k8s_openapi::jiff::Timestamp::now().as_second() > created.as_second()).then_some(())
    })
    .await;
    let labels = serde_json::to_value(original.metadata.labels.unwrap()).unwrap();
    api.create(
        &PostParams::default(),
        &deployment("infer", "a-copy", labels),
    )
    .await
    .unwrap();
    let r = collector(&c, &[], None, Duration::from_secs(1))
        .collect()
        .await
        .unwrap();
    let owners: Vec<&str> = r
        .servers
        .iter()
        .filter(|s| s.observation.spec.name == "vllm-001")
        .map(|s| s.deployment.name.as_str())
        .collect();
    assert_eq!(owners, ["premium-llama-13b"]);
    assert!(
        r.problems.iter().any(|(subject, m)| subject == "vllm-001"
            && m.contains("deployment infer/a-copy")
            && m.contains("deployment infer/premium-llama-13b")),
        "{:?}",
        r.problems
    );
    c.sim.shutdown().await.unwrap();
}

/// The gRPC port is loopback by default.
#[test]
fn grpc_listens_on_loopback_by_default() {
    use clap::Parser;
    let args = inferno_collector::args::Args::try_parse_from(["inferno-collector"]).unwrap();
    if std::env::var_os("COLLECTOR_HOST").is_none() && std::env::var_os("COLLECTOR_PORT").is_none()
    {
        assert_eq!(
            args.listen_address().unwrap(),
            "127.0.0.1:3301".parse().unwrap()
        );
    }
}

/// Listening beyond loopback without a credential is refused at start-up, naming the flag.
#[test]
fn the_binary_refuses_a_public_address_without_a_credential() {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_inferno-collector"));
    cmd.args(["--listen", "0.0.0.0:0"])
        .env_remove("INFERNO_AUTH_TOKEN_FILE")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST");
    // The old binary served instead of refusing: never wait forever for it.
    let out = inferno_testkit::process::output_blocking(&mut cmd, None, Duration::from_secs(60));
    let (status, stderr) = (out.status, String::from_utf8_lossy(&out.stderr));
    assert!(!status.success());
    assert!(
        stderr.contains(
            "--listen 0.0.0.0:0: refusing to listen beyond loopback without a credential"
        ),
        "{stderr}"
    );
}

/// With a credential, Collect needs the bearer token (health stays open); the ops listener
/// serves /healthz and /metrics to anyone, read-only.
#[tokio::test]
async fn collect_needs_the_token_and_the_ops_pages_are_open() {
    use inferno_collector::collect::Metrics;
    use inferno_proto::v1::{collector_client::CollectorClient, CollectRequest};
    use inferno_telemetry::{auth::client_interceptor, Credential, ServeOptions};
    use std::sync::Arc;
    let c = cluster().await;
    let col = collector(&c, &[], None, Duration::from_secs(1));
    settled(&col).await;
    let metrics = Arc::new(Metrics::default());
    let credential = Credential::new("0123456789abcdef-collector").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = ServeOptions {
        timeout: None,
        credential: Some(credential.clone()),
    };
    tokio::spawn(inferno_collector::service::run_with(
        listener,
        col,
        metrics.clone(),
        options,
        std::future::pending(),
    ));
    let ops = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ops_addr = ops.local_addr().unwrap();
    tokio::spawn(inferno_collector::service::run_ops(
        ops,
        metrics,
        std::future::pending(),
    ));

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let e = CollectorClient::new(channel.clone())
        .collect(CollectRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated, "{e}");
    let wrong = Credential::new("not-the-right-token-at-all").unwrap();
    let e = CollectorClient::with_interceptor(channel.clone(), client_interceptor(Some(wrong)))
        .collect(CollectRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");
    let r = CollectorClient::with_interceptor(channel, client_interceptor(Some(credential)))
        .collect(CollectRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.servers.len(), 3);

    let _ = rustls::crypto::ring::default_provider().install_default();
    let get = |path: &str| {
        let url = format!("http://{ops_addr}{path}");
        async move {
            let response = reqwest::get(&url).await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(get("/healthz").await, (200, "ok\n".to_string()));
    let (status, text) = get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        text.contains("inferno_collector_samples_dropped_total 0")
            && text.contains("inferno_collector_servers_unusable 0"),
        "{text}"
    );
    // The families every service shares (inferno_telemetry::metrics::common).
    for family in ["inferno_build_info{", "process_start_time_seconds "] {
        assert!(text.contains(family), "no {family} in {text}");
    }
    c.sim.shutdown().await.unwrap();
}

/// The flags of the listeners: --ops-listen's default and the token file, which must hold a
/// usable token.
#[test]
fn listener_flags() {
    use clap::Parser;
    use inferno_collector::args::Args;
    let args = Args::try_parse_from(["inferno-collector"]).unwrap();
    if std::env::var_os("INFERNO_COLLECTOR_OPS_LISTEN").is_none() {
        assert_eq!(args.ops_listen, "0.0.0.0:3311".parse().unwrap());
    }
    let dir = std::env::temp_dir().join(format!("inferno-collector-args-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "0123456789abcdef-collector\n").unwrap();
    let token_arg = token.to_str().unwrap();
    let open = Args::try_parse_from([
        "inferno-collector",
        "--listen",
        "0.0.0.0:3301",
        "--auth-token-file",
        token_arg,
    ])
    .unwrap();
    let (addr, credential) = open.serving().unwrap();
    assert_eq!(addr, "0.0.0.0:3301".parse().unwrap());
    assert!(credential.is_some());
    let refused = Args::try_parse_from(["inferno-collector", "--listen", "0.0.0.0:3301"]).unwrap();
    if std::env::var_os("INFERNO_AUTH_TOKEN_FILE").is_none() {
        let e = refused.serving().unwrap_err().to_string();
        assert!(e.starts_with("--listen 0.0.0.0:3301: refusing"), "{e}");
    }
    std::fs::write(&token, "short\n").unwrap();
    let e = open.serving().unwrap_err().to_string();
    assert!(
        e.starts_with("--auth-token-file: auth token file ") && e.contains("too short"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
