//! Unknown fields in the data files: problems of every cycle while the data holds them, whether
//! the files come from a directory or from the ConfigMaps.

use crate::fakes::{self, CollectorState};
use inferno_controller::cycle::{self, Deadlines, Stages};
use inferno_controller::data::{
    refresh, Data, Source, CAPACITY_FILE, DYNAMIC_CONFIGMAP, STATIC_CONFIGMAP, STATIC_FILES,
};
use inferno_controller::grpc::{Clients, Endpoints};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn sample(file: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/small");
    std::fs::read_to_string(dir.join(file)).unwrap()
}

/// The small sample's optimizer data with `delayedBestEffort` misspelt.
fn misspelt_optimizer() -> String {
    let text = sample("optimizer-data.json");
    assert!(text.contains("\"delayedBestEffort\""));
    text.replace("\"delayedBestEffort\"", "\"delayedBestEfort\"")
}

/// A data directory (the mounted ConfigMaps) with the optimizer data misspelt.
fn data_dir(tag: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("inferno-controller-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for file in STATIC_FILES.iter().chain([&CAPACITY_FILE]) {
        std::fs::write(dir.join(file), sample(file)).unwrap();
    }
    std::fs::write(dir.join("optimizer-data.json"), misspelt_optimizer()).unwrap();
    dir
}

const MISSPELT: &str = r#"field optimizer.delayedBestEfort: unknown field "delayedBestEfort" (ignored); did you mean "delayedBestEffort"?"#;

#[tokio::test]
async fn unknown_fields_are_problems_of_every_cycle_until_fixed() {
    let dir = data_dir("unknown");
    // No server discovered: every cycle ends after the data and the collection, as `skipped`.
    let (collector, _stop) =
        fakes::collector(Arc::new(Mutex::new(CollectorState::default()))).await;
    let url = format!("http://{collector}");
    let endpoints = Endpoints {
        collector: url.clone(),
        optimizer: url.clone(),
        actuator: url,
    };
    let mut stages = Stages {
        ports: Clients::connect(endpoints, None).unwrap(),
        source: Source::Dir(dir.clone()),
        dynamic: false,
        deadlines: Deadlines {
            collect: Duration::from_secs(5),
            optimize: Duration::from_secs(5),
            apply: Duration::from_secs(5),
        },
        dry_run: true,
        explain: true,
        policy: Default::default(),
    };
    let expected = format!(
        "warning: {}: optimizer: {MISSPELT}",
        dir.join("optimizer-data.json").display()
    );
    let mut data = Data::default();
    for n in 1..=2 {
        // The static data is read once; its unknown fields are reported with every cycle.
        let report = cycle::run(&mut stages, &mut data, n, true).await;
        assert_eq!(report.outcome, "skipped", "{}", report.reason);
        assert_eq!(
            report.problems,
            std::slice::from_ref(&expected),
            "cycle {n}"
        );
    }

    let capacity =
        sample(CAPACITY_FILE).replacen("\"count\": 1024", "\"count\": 1024, \"kind\": 1", 1);
    std::fs::write(dir.join(CAPACITY_FILE), capacity).unwrap();
    let report = cycle::run(&mut stages, &mut data, 3, true).await;
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    assert!(
        report.problems[0].contains(&format!(
            "{}: capacity type \"L4\": field count[0].kind: unknown field \"kind\" (ignored)",
            dir.join(CAPACITY_FILE).display()
        )),
        "{:?}",
        report.problems
    );
    assert_eq!(report.problems[1], expected);

    // Fixed, and re-read (static data every cycle): the problem is gone.
    std::fs::write(
        dir.join("optimizer-data.json"),
        sample("optimizer-data.json"),
    )
    .unwrap();
    std::fs::write(dir.join(CAPACITY_FILE), sample(CAPACITY_FILE)).unwrap();
    stages.dynamic = true;
    let report = cycle::run(&mut stages, &mut data, 4, true).await;
    assert_eq!(report.problems, Vec::<String>::new());
    assert!(
        data.unknown.values().all(Vec::is_empty),
        "{:?}",
        data.unknown
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn unknown_fields_of_configmaps_name_the_configmap_key() {
    let sim = kubesim::start("127.0.0.1:0".parse().unwrap(), kubesim::Config::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "inferno"}});
    namespaces
        .create(&PostParams::default(), &serde_json::from_value(ns).unwrap())
        .await
        .unwrap();
    let configmap = |name: &str, data: BTreeMap<&str, String>| -> ConfigMap {
        serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "inferno"}, "data": data}))
        .unwrap()
    };
    let mut files: BTreeMap<&str, String> = STATIC_FILES.iter().map(|f| (*f, sample(f))).collect();
    files.insert("optimizer-data.json", misspelt_optimizer());
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "inferno");
    let post = PostParams::default();
    api.create(&post, &configmap(STATIC_CONFIGMAP, files))
        .await
        .unwrap();
    let capacity = [(CAPACITY_FILE, sample(CAPACITY_FILE))].into();
    api.create(&post, &configmap(DYNAMIC_CONFIGMAP, capacity))
        .await
        .unwrap();

    let source = Source::ConfigMaps {
        client,
        namespace: "inferno".into(),
    };
    let mut data = Data::default();
    let warnings = refresh(&source, &mut data, true).await.unwrap();
    assert_eq!(
        warnings,
        [format!("warning: configmap inferno/{STATIC_CONFIGMAP} key optimizer-data.json: optimizer: {MISSPELT}")]
    );
    // The optimizer data was read all the same (the misspelt flag is off).
    assert!(
        !data
            .spec
            .as_ref()
            .unwrap()
            .optimizer_data
            .optimizer
            .delayed_best_effort
    );

    // Invalid data: the error lists the unknown fields (of the capacity, and of the optimizer data
    // still in use) with the validation errors, as they may be the cause (here a misspelt type
    // leaves it empty).
    let broken =
        serde_json::json!({"data": {CAPACITY_FILE: r#"{"count": [{"typ": "G2", "count": 1}]}"#}});
    api.patch(
        DYNAMIC_CONFIGMAP,
        &PatchParams::default(),
        &Patch::Merge(broken),
    )
    .await
    .unwrap();
    let err = refresh(&source, &mut data, false)
        .await
        .unwrap_err()
        .to_string();
    let label = format!("configmap inferno/{DYNAMIC_CONFIGMAP} key {CAPACITY_FILE}");
    assert!(
        err.starts_with("invalid data: 1 error(s), 2 warning(s)\n"),
        "{err}"
    );
    assert!(
        err.contains(&format!(r#"warning: {label}: count[0]: field count[0].typ: unknown field "typ" (ignored); did you mean "type"?"#)),
        "{err}"
    );
    assert!(
        err.contains(&format!("{label}: count[0]: field type: must not be empty")),
        "{err}"
    );
    sim.shutdown().await.unwrap();
}
