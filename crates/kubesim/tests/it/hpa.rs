//! HorizontalPodAutoscalers: the `autoscaling/v2` resource over HTTP (discovery, defaults,
//! validation, status, the printed table), the HPA controller against a fake Prometheus (the
//! query the adapter rule builds, scaling, the failures it reports), and end to end: the HPAs
//! of `deploy/autoscaling/hpa.yaml`, applied with the real kubectl, follow
//! `inferno_actuator_desired_replicas` as a real Prometheus scrapes it, through the rule of
//! `deploy/autoscaling/prometheus-adapter-rules.yaml`; the KEDA queries of
//! `keda-scaledobject.yaml` give the same values. With CI=true a missing kubectl or Prometheus
//! fails the last test; elsewhere it is skipped with a message.

use super::common::{deployment, eventually, get, request, server, server_with, TempDir};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::routing::{get as route_get, post};
use axum::Router;
use inferno_testkit::kubectl::Kubectl;
use inferno_testkit::prometheus::Prometheus;
use inferno_testkit::{tools, wait};
use kubesim::resource::{DEPLOYMENTS, HORIZONTAL_POD_AUTOSCALERS};
use kubesim::{AdapterRules, Config, HpaConfig};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn autoscaling(file: &str) -> PathBuf {
    repo().join("deploy/autoscaling").join(file)
}

/// The shipped adapter rules.
fn shipped_rules() -> AdapterRules {
    AdapterRules::load(&autoscaling("prometheus-adapter-rules.yaml")).expect("the shipped rules")
}

/// An HPA following external metric `inferno_actuator_desired_replicas` of Deployment `target`
/// as the shipped ones do (AverageValue 1, no stabilization, no rate limit).
fn hpa(name: &str, target: &str, min: i64, max: i64) -> Value {
    json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min, "maxReplicas": max,
            "metrics": [{"type": "External", "external": {
                "metric": {"name": "inferno_actuator_desired_replicas",
                           "selector": {"matchLabels": {"deployment": target}}},
                "target": {"type": "AverageValue", "averageValue": "1"}}}],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0,
                            "policies": [{"type": "Pods", "value": 100, "periodSeconds": 15}]},
                "scaleDown": {"stabilizationWindowSeconds": 0,
                              "policies": [{"type": "Percent", "value": 100,
                                            "periodSeconds": 15}]}}
        }
    })
}

fn condition<'a>(hpa: &'a Value, kind: &str) -> &'a Value {
    hpa["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

#[tokio::test]
async fn the_resource_over_http() {
    let k = server().await;
    let a = k.addr();
    let groups = get(a, "/apis").await.json();
    let autoscaling = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "autoscaling")
        .expect("group autoscaling")
        .clone();
    assert_eq!(
        autoscaling["preferredVersion"]["groupVersion"],
        "autoscaling/v2"
    );
    let list = get(a, "/apis/autoscaling/v2").await.json();
    assert_eq!(list["resources"][0]["name"], "horizontalpodautoscalers");
    assert_eq!(list["resources"][0]["shortNames"], json!(["hpa"]));
    assert_eq!(
        list["resources"][1]["name"],
        "horizontalpodautoscalers/status"
    );

    let base = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers";
    // The API server's defaults: minReplicas 1, a CPU target without metrics.
    let bare = json!({"metadata": {"name": "bare"}, "spec": {"maxReplicas": 3,
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}});
    let r = request(a, "POST", base, &[JSON], &bare.to_string()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    assert_eq!(created["apiVersion"], "autoscaling/v2");
    assert_eq!(created["spec"]["minReplicas"], 1);
    assert_eq!(created["spec"]["metrics"][0]["resource"]["name"], "cpu");
    assert_eq!(created["metadata"]["generation"], 1);
    // Validation, worded as the API server words it.
    let mut bad = hpa("bad", "web", 4, 2);
    bad["spec"]["metrics"][0]["external"]["target"]["averageValue"] = json!("-1");
    let r = request(a, "POST", base, &[JSON], &bad.to_string()).await;
    assert_eq!(r.status, 422, "{}", r.body);
    let message = r.json()["message"].as_str().unwrap().to_string();
    assert!(
        message.starts_with("HorizontalPodAutoscaler.autoscaling \"bad\" is invalid: ")
            && message.contains(
                "spec.maxReplicas: Invalid value: 2: must be greater than or \
                                 equal to `minReplicas`"
            )
            && message.contains(
                "spec.metrics[0].external.target.averageValue: Invalid value: \
                                 \"-1\": must be positive"
            ),
        "{message}"
    );
    // The status subresource changes only the status.
    let r = request(
        a,
        "POST",
        base,
        &[JSON],
        &hpa("web", "web", 1, 10).to_string(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let status = json!({"metadata": {"name": "web"}, "spec": {"maxReplicas": 99},
        "status": {"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": [
            {"type": "External", "external": {"metric": {"name": "inferno_actuator_desired_replicas"},
                                              "current": {"averageValue": "1500m"}}}]}});
    let r = request(
        a,
        "PUT",
        &format!("{base}/web/status"),
        &[JSON],
        &status.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = r.json();
    assert_eq!(got["spec"]["maxReplicas"], 10);
    assert_eq!(got["status"]["desiredReplicas"], 3);
    // kubectl's table.
    let accept = ("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io");
    let table = request(a, "GET", base, &[accept], "").await.json();
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        [
            "Name",
            "Reference",
            "Targets",
            "MinPods",
            "MaxPods",
            "Replicas",
            "Age"
        ]
    );
    let rows: BTreeMap<String, Value> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["cells"][0].as_str().unwrap().to_string(),
                r["cells"].clone(),
            )
        })
        .collect();
    assert_eq!(rows["web"][1], "Deployment/web");
    assert_eq!(rows["web"][2], "1500m/1 (avg)");
    assert_eq!(rows["web"][3], "1");
    assert_eq!(rows["web"][4], 10);
    assert_eq!(rows["web"][5], 2);
    assert_eq!(rows["bare"][2], "cpu: <unknown>/80%");
}

/// What the fake Prometheus answers and saw.
#[derive(Debug, Default)]
struct FakeState {
    /// The value of the metric per deployment; a missing one gives an empty vector.
    values: HashMap<String, f64>,
    /// Answer every query with a 400 and this error.
    error: Option<String>,
    /// The queries received.
    queries: Vec<String>,
}

type Fake = Arc<Mutex<FakeState>>;

/// A JSON answer (the workspace's axum is built without its `json` feature).
fn answer(
    status: StatusCode,
    body: &Value,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], String) {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// The value of `key` in a form-encoded body.
fn form_value(body: &str, key: &str) -> String {
    let raw = body
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_default();
    let bytes = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

async fn fake_series() -> impl axum::response::IntoResponse {
    answer(
        StatusCode::OK,
        &json!({"status": "success", "data": [
            {"__name__": "inferno_actuator_desired_replicas", "deployment": "web",
             "exported_namespace": "default"},
            {"__name__": "inferno_actuator_current_replicas", "deployment": "web",
             "exported_namespace": "default"}]}),
    )
}

async fn fake_query(State(fake): State<Fake>, body: String) -> impl axum::response::IntoResponse {
    let mut fake = fake.lock().unwrap();
    let query = form_value(&body, "query");
    fake.queries.push(query.clone());
    if let Some(e) = &fake.error {
        return answer(
            StatusCode::BAD_REQUEST,
            &json!({"status": "error", "errorType": "bad_data", "error": e}),
        );
    }
    let result: Vec<Value> = fake
        .values
        .iter()
        .filter(|(d, _)| query.contains(&format!("deployment=\"{d}\"")))
        .map(|(d, v)| json!({"metric": {"deployment": d}, "value": [0, v.to_string()]}))
        .collect();
    answer(
        StatusCode::OK,
        &json!({"status": "success", "data": {"resultType": "vector", "result": result}}),
    )
}

/// A Prometheus HTTP API answering the series and query calls from `fake`.
async fn fake_prometheus(fake: Fake) -> SocketAddr {
    let app = Router::new()
        .route("/api/v1/series", post(fake_series))
        .route("/api/v1/query", post(fake_query))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// The HPA controller on a 100x clock (a sync every 0.15 s) against a fake Prometheus: the
/// query the shipped rule builds, the Deployment following the metric, the status and Events,
/// and the failures (Prometheus refusing the query, no sample, no such Deployment, a metric
/// type kubesim does not serve).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controller_against_a_fake_prometheus() {
    let fake = Fake::default();
    fake.lock().unwrap().values.insert("web".into(), 3.0);
    let prometheus = fake_prometheus(fake.clone()).await;
    let k = server_with(Config {
        pod_ready_delay: Duration::from_secs(1),
        time_scale: 100.0,
        hpa: Some(HpaConfig::new(
            format!("http://{prometheus}"),
            shipped_rules(),
        )),
        ..Default::default()
    })
    .await;
    let store = k.store();
    store
        .create(&DEPLOYMENTS, "default", deployment("web", 1), false)
        .unwrap();
    store
        .create(
            &HORIZONTAL_POD_AUTOSCALERS,
            "default",
            hpa("web", "web", 1, 10),
            false,
        )
        .unwrap();
    let replicas = || {
        store.get(&DEPLOYMENTS, "default", "web").unwrap()["spec"]["replicas"]
            .as_i64()
            .unwrap()
    };
    eventually("web scaled to 3", || (replicas() == 3).then_some(())).await;
    assert_eq!(
        fake.lock().unwrap().queries[0],
        "max(inferno_actuator_desired_replicas{deployment=\"web\",\
         exported_namespace=\"default\"}) by (deployment)"
    );
    let status = eventually("the status after the pods started", || {
        let h = store
            .get(&HORIZONTAL_POD_AUTOSCALERS, "default", "web")
            .unwrap();
        (h["status"]["currentMetrics"][0]["external"]["current"]["averageValue"] == "1")
            .then_some(h)
    })
    .await;
    assert_eq!(status["status"]["desiredReplicas"], 3);
    assert_eq!(status["status"]["currentReplicas"], 3);
    assert_eq!(status["status"]["observedGeneration"], 1);
    assert!(status["status"]["lastScaleTime"].is_string());
    assert_eq!(condition(&status, "AbleToScale")["status"], "True");
    assert_eq!(
        condition(&status, "ScalingActive")["reason"],
        "ValidMetricFound"
    );
    assert_eq!(
        condition(&status, "ScalingActive")["message"],
        "the HPA was able to successfully calculate a replica count from external metric \
         inferno_actuator_desired_replicas(deployment=web)"
    );
    assert_eq!(
        condition(&status, "ScalingLimited")["reason"],
        "DesiredWithinRange"
    );
    // A fractional metric is rounded up; above maxReplicas the HPA stops at it.
    fake.lock().unwrap().values.insert("web".into(), 4.2);
    eventually("web scaled to 5", || (replicas() == 5).then_some(())).await;
    fake.lock().unwrap().values.insert("web".into(), 40.0);
    let limited = eventually("web held at maxReplicas", || {
        let h = store
            .get(&HORIZONTAL_POD_AUTOSCALERS, "default", "web")
            .unwrap();
        (replicas() == 10 && condition(&h, "ScalingLimited")["status"] == "True").then_some(h)
    })
    .await;
    assert_eq!(
        condition(&limited, "ScalingLimited")["reason"],
        "TooManyReplicas"
    );
    // The Events of the rescales.
    let (events, _) = store.list(
        &kubesim::resource::EVENTS,
        Some("default"),
        &Default::default(),
        &kubesim::FieldSelector::parse("reason=SuccessfulRescale", &kubesim::resource::EVENTS)
            .unwrap(),
    );
    let messages: Vec<&str> = events
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        messages.contains(
            &"New size: 3; reason: external metric \
              inferno_actuator_desired_replicas(deployment=web) above target"
        ),
        "{messages:?}"
    );

    // No sample: the HPA keeps the replicas and says why.
    fake.lock().unwrap().values.clear();
    let failed = eventually("ScalingActive=False", || {
        let h = store
            .get(&HORIZONTAL_POD_AUTOSCALERS, "default", "web")
            .unwrap();
        (condition(&h, "ScalingActive")["status"] == "False").then_some(h)
    })
    .await;
    assert_eq!(
        condition(&failed, "ScalingActive")["reason"],
        "FailedGetExternalMetric"
    );
    assert_eq!(
        condition(&failed, "ScalingActive")["message"],
        "the HPA was unable to compute the replica count: unable to get external metric \
         default/inferno_actuator_desired_replicas/deployment=web: no metrics returned from \
         external metrics API"
    );
    // Prometheus refusing the query.
    fake.lock().unwrap().error = Some("parse error".into());
    let refused = eventually("Prometheus' error in the condition", || {
        let h = store
            .get(&HORIZONTAL_POD_AUTOSCALERS, "default", "web")
            .unwrap();
        let m = condition(&h, "ScalingActive")["message"]
            .as_str()?
            .to_string();
        m.contains("parse error").then_some(m)
    })
    .await;
    assert!(
        refused.contains(&format!(
            "Prometheus at http://{prometheus}/api/v1/query: HTTP 400 Bad Request: bad_data \
             parse error"
        )),
        "{refused}"
    );
    assert_eq!(replicas(), 10, "nothing measured, nothing changed");

    // An HPA whose Deployment does not exist, and one on a CPU target.
    store
        .create(
            &HORIZONTAL_POD_AUTOSCALERS,
            "default",
            hpa("ghost", "ghost", 1, 10),
            false,
        )
        .unwrap();
    let mut cpu = hpa("cpu", "web", 1, 10);
    cpu["spec"]["metrics"] = json!([{"type": "Resource", "resource": {"name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 50}}}]);
    store
        .create(&HORIZONTAL_POD_AUTOSCALERS, "default", cpu, false)
        .unwrap();
    eventually("both report why they cannot scale", || {
        let ghost = store
            .get(&HORIZONTAL_POD_AUTOSCALERS, "default", "ghost")
            .unwrap();
        let cpu = store
            .get(&HORIZONTAL_POD_AUTOSCALERS, "default", "cpu")
            .unwrap();
        let able = condition(&ghost, "AbleToScale");
        let active = condition(&cpu, "ScalingActive");
        (able["reason"] == "FailedGetScale"
            && able["message"]
                == "the HPA controller was unable to get the target's current scale: \
                    deployments.apps \"ghost\" not found"
            && active["reason"] == "FailedGetResourceMetric")
            .then_some(())
    })
    .await;
}

/// The `/metrics` page the test serves in place of the actuator in recommend mode:
/// `inferno_actuator_desired_replicas` per Deployment, settable.
#[derive(Debug, Clone, Default)]
struct Page(Arc<Mutex<BTreeMap<String, i64>>>);

impl Page {
    fn set(&self, deployment: &str, replicas: i64) {
        self.0.lock().unwrap().insert(deployment.into(), replicas);
    }

    fn remove(&self, deployment: &str) {
        self.0.lock().unwrap().remove(deployment);
    }

    fn text(&self) -> String {
        let mut out = String::from(
            "# HELP inferno_actuator_desired_replicas Replicas Inferno decided.\n\
             # TYPE inferno_actuator_desired_replicas gauge\n",
        );
        for (i, (d, n)) in self.0.lock().unwrap().iter().enumerate() {
            out.push_str(&format!(
                "inferno_actuator_desired_replicas{{server=\"vllm-00{}\",namespace=\"infer\",\
                 deployment=\"{d}\"}} {n}\n",
                i + 1
            ));
        }
        out
    }

    async fn serve(&self) -> SocketAddr {
        let page = self.clone();
        let app = Router::new().route(
            "/metrics",
            route_get(move || {
                let page = page.clone();
                async move { page.text() }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }
}

/// How long a change of the gauge may take to reach the Deployment, wall time: a scrape (1 s),
/// a sync (1.5 s at the 10x clock below) and the scale. At that clock it is 100 cluster
/// seconds, well under the 300 s scale-down window an HPA without the shipped `behavior` would
/// wait: the test fails if the shipped HPAs stop following at once.
const FOLLOW: Duration = Duration::from_secs(10);

/// End to end on the emulated cluster: a real Prometheus scrapes the gauge as the shipped
/// PodMonitor does (the target's namespace label `inferno`, so the page's `namespace` becomes
/// `exported_namespace`); kubesim's HPA controller evaluates the shipped adapter rule against
/// it; the real kubectl applies the sample Deployments and the shipped HPAs; the Deployments'
/// replicas follow the gauge (3 -> 5 -> 2); the KEDA queries give the gauge; a gauge that is
/// gone leaves the replicas alone and the HPA says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_hpas_follow_the_desired_replicas_on_a_real_prometheus() {
    let Some(kubectl) = tools::kubectl() else {
        return;
    };
    let Some(prometheus_bin) = tools::prometheus() else {
        return;
    };
    let page = Page::default();
    for (d, n) in [
        ("premium-llama-13b", 3),
        ("bronze-granite-13b", 2),
        ("free-mixtral-8-7b", 4),
    ] {
        page.set(d, n);
    }
    let page_addr = page.serve().await;
    let prom = Prometheus::start(
        &prometheus_bin,
        "inferno",
        "inferno",
        &[(page_addr, "inferno-7d9f8-abcde")],
    )
    .await;
    prom.wait_scraped(Duration::from_secs(30)).await;
    let k = server_with(Config {
        pod_ready_delay: Duration::from_secs(2),
        time_scale: 10.0,
        hpa: Some(HpaConfig::new(prom.url(), shipped_rules())),
        ..Default::default()
    })
    .await;
    let dir = TempDir::new("kubesim-hpa");
    let kubeconfig = dir.path().join("kubeconfig");
    k.write_kubeconfig(&kubeconfig).unwrap();
    let kc = Kubectl::new(kubectl, kubeconfig)
        .cache_dir(dir.path().join("cache"))
        .current_dir(repo());
    kc.ok(&["apply", "-f", "deploy/samples/ns.yaml"]).await;
    kc.ok(&[
        "apply",
        "-f",
        "deploy/samples/dep1.yaml,deploy/samples/dep2.yaml,deploy/samples/dep3.yaml",
    ])
    .await;
    let out = kc
        .run(&["apply", "-f", "deploy/autoscaling/hpa.yaml"])
        .await;
    assert!(out.ok && out.stderr.is_empty(), "{out:?}");
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "horizontalpodautoscaler.autoscaling/premium-llama-13b created",
            "horizontalpodautoscaler.autoscaling/bronze-granite-13b created",
            "horizontalpodautoscaler.autoscaling/free-mixtral-8-7b created",
        ]
    );

    let replicas = |d: &str| {
        k.store().get(&DEPLOYMENTS, "infer", d).unwrap()["spec"]["replicas"]
            .as_i64()
            .unwrap()
    };
    let follow = |d: &'static str, n: i64| {
        let replicas = &replicas;
        async move {
            let seen = wait::within_sync(FOLLOW, || (replicas(d) == n).then_some(())).await;
            assert!(
                seen.is_some(),
                "{d}: replicas {} after {FOLLOW:?}, the gauge says {n}",
                replicas(d)
            );
        }
    };
    // The samples start at 4, 3 and 3 replicas; the HPAs take them to the gauge.
    follow("premium-llama-13b", 3).await;
    follow("bronze-granite-13b", 2).await;
    follow("free-mixtral-8-7b", 4).await;
    page.set("premium-llama-13b", 5);
    follow("premium-llama-13b", 5).await;
    page.set("premium-llama-13b", 2);
    follow("premium-llama-13b", 2).await;
    assert_eq!(replicas("bronze-granite-13b"), 2);
    assert_eq!(replicas("free-mixtral-8-7b"), 4);

    // What kubectl shows once the pods have settled.
    let row = wait::within(FOLLOW, || async {
        let out = kc
            .ok(&[
                "get",
                "hpa",
                "premium-llama-13b",
                "-n",
                "infer",
                "--no-headers",
            ])
            .await;
        let cells: Vec<String> = out.split_whitespace().map(str::to_string).collect();
        (cells.get(2).map(String::as_str) == Some("1/1")).then_some(cells)
    })
    .await
    .expect("kubectl get hpa shows 1/1 (avg) once the pods settled");
    assert_eq!(
        row[..7],
        [
            "premium-llama-13b",
            "Deployment/premium-llama-13b",
            "1/1",
            "(avg)",
            "1",
            "100",
            "2"
        ]
    );
    let h = kc
        .json(&[
            "get",
            "hpa",
            "premium-llama-13b",
            "-n",
            "infer",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(h["status"]["desiredReplicas"], 2);
    assert_eq!(condition(&h, "ScalingActive")["reason"], "ValidMetricFound");
    let events = kc
        .ok(&[
            "get",
            "events",
            "-n",
            "infer",
            "--field-selector",
            "reason=SuccessfulRescale,involvedObject.name=premium-llama-13b",
            "-o",
            "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}",
        ])
        .await;
    for n in [3, 5, 2] {
        assert!(
            events.contains(&format!("New size: {n}; reason: ")),
            "{events}"
        );
    }

    // KEDA's queries, run against the same Prometheus, give the gauge.
    let keda = std::fs::read_to_string(autoscaling("keda-scaledobject.yaml")).unwrap();
    let mut checked = 0;
    for doc in serde_yaml_ng::Deserializer::from_str(&keda) {
        let so: Value = serde::Deserialize::deserialize(doc).unwrap();
        let d = so["spec"]["scaleTargetRef"]["name"].as_str().unwrap();
        let trigger = &so["spec"]["triggers"][0];
        assert_eq!(trigger["metricType"], "AverageValue");
        assert_eq!(trigger["metadata"]["threshold"], "1");
        let query = trigger["metadata"]["query"].as_str().unwrap();
        let got = prom.query(query, None).await;
        assert_eq!(got.len(), 1, "{query}: {got:?}");
        assert_eq!(got[0].1, replicas(d) as f64, "{query}");
        checked += 1;
    }
    assert_eq!(checked, 3);

    // The gauge gone (the actuator not scraped): no scaling, and the HPA says why.
    page.remove("premium-llama-13b");
    let h = wait::within(FOLLOW, || async {
        let h = kc
            .json(&[
                "get",
                "hpa",
                "premium-llama-13b",
                "-n",
                "infer",
                "-o",
                "json",
            ])
            .await;
        (condition(&h, "ScalingActive")["status"] == "False").then_some(h)
    })
    .await
    .expect("ScalingActive=False once the gauge is gone");
    assert_eq!(
        condition(&h, "ScalingActive")["reason"],
        "FailedGetExternalMetric"
    );
    assert!(
        condition(&h, "ScalingActive")["message"]
            .as_str()
            .unwrap()
            .ends_with("no metrics returned from external metrics API"),
        "{h}"
    );
    assert_eq!(replicas("premium-llama-13b"), 2);
    assert_eq!(replicas("free-mixtral-8-7b"), 4);
}

/// The binary's flags: the controller needs both the Prometheus URL and the rules file, and a
/// rules file that cannot be read (or a URL that is none) stops it at start with a message.
#[tokio::test]
async fn the_binary_refuses_an_incomplete_hpa_setup() {
    let dir = TempDir::new("kubesim-hpa-flags");
    let kubeconfig = dir.path().join("kubeconfig");
    let run = |args: Vec<String>| {
        let kubeconfig = kubeconfig.clone();
        async move {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kubesim"));
            cmd.args(["--listen", "127.0.0.1:0", "--kubeconfig"])
                .arg(&kubeconfig)
                .args(args)
                .env_remove("KUBESIM_HPA_PROMETHEUS")
                .env_remove("KUBESIM_HPA_ADAPTER_CONFIG");
            let out =
                inferno_testkit::process::output(&mut cmd, None, Duration::from_secs(20)).await;
            assert!(!out.status.success(), "{out:?}");
            String::from_utf8_lossy(&out.stderr).into_owned()
        }
    };
    let rules = autoscaling("prometheus-adapter-rules.yaml")
        .display()
        .to_string();
    let e = run(vec!["--hpa-prometheus".into(), "http://127.0.0.1:9".into()]).await;
    assert!(
        e.contains("the following required arguments were not provided")
            && e.contains("--hpa-adapter-config <PATH>"),
        "{e}"
    );
    let e = run(vec!["--hpa-adapter-config".into(), rules.clone()]).await;
    assert!(e.contains("--hpa-prometheus <URL>"), "{e}");
    let missing = dir.path().join("missing.yaml").display().to_string();
    let e = run(vec![
        "--hpa-prometheus".into(),
        "http://127.0.0.1:9".into(),
        "--hpa-adapter-config".into(),
        missing.clone(),
    ])
    .await;
    assert!(
        e.contains(&format!("prometheus-adapter configuration {missing}: ")),
        "{e}"
    );
    let e = run(vec![
        "--hpa-prometheus".into(),
        "127.0.0.1:9090".into(),
        "--hpa-adapter-config".into(),
        rules,
    ])
    .await;
    assert!(
        e.contains("hpa.prometheus: must be an http:// or https:// URL, not \"127.0.0.1:9090\""),
        "{e}"
    );
}
