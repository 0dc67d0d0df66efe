//! Unknown Inferno labels on a managed Deployment: a problem of the collection that names the
//! Deployment, the label and the key it most likely meant.

use inferno_collector::collect::{Collector, Metrics};
use inferno_collector::discover::Discovery;
use inferno_core::contract::KNOWN;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn misspelt_label_is_a_problem_naming_deployment_label_and_known_key() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/samples");
    let mut preload = kubesim::load_dir(&samples).unwrap();
    let deployment = preload
        .iter_mut()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "premium-llama-13b")
        .expect("sample deployment");
    let labels = deployment["metadata"]["labels"].as_object_mut().unwrap();
    let rpm = labels
        .remove("inferno.server.load.rpm")
        .expect("load label");
    labels.insert("inferno.server.laod.rpm".into(), rpm);
    let config = kubesim::Config {
        preload,
        ..kubesim::Config::default()
    };
    let sim = kubesim::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let client = kube::Client::try_from(kube::Config::new(sim.url().parse().unwrap())).unwrap();
    let collector = Collector::new(
        Discovery::start(client, Vec::new(), Duration::ZERO),
        None,
        inferno_collector::window::Windows::around(60).unwrap(),
        Duration::from_secs(2),
        Arc::new(Metrics::default()),
    );
    let report = collector.collect().await.unwrap();
    assert_eq!(
        report.problems,
        [(
            String::new(),
            r#"deployment infer/premium-llama-13b: unknown label "inferno.server.laod.rpm" (ignored); did you mean "inferno.server.load.rpm"?"#
                .to_owned()
        )]
    );
    // The server is still collected, without the misspelt label's load.
    let server = report
        .servers
        .iter()
        .find(|s| s.deployment.name == "premium-llama-13b")
        .unwrap();
    assert_eq!(server.observation.spec.current_alloc.load.arrival_rate, 0.0);
    sim.shutdown().await.unwrap();
}

/// The load emulator's labels are part of the contract, not unknown labels.
#[test]
fn the_emulators_labels_are_known() {
    use inferno_emulator::labels as emulator;
    for key in [
        emulator::MANAGED,
        emulator::NAME,
        emulator::MODEL,
        emulator::CLASS,
        emulator::ACCELERATOR,
        emulator::MAX_BATCH,
        emulator::LOAD_RPM,
        emulator::LOAD_IN_TOKENS,
        emulator::LOAD_OUT_TOKENS,
        emulator::LOAD_NUM_TOKENS,
        emulator::NOMINAL_RPM,
        emulator::NOMINAL_IN_TOKENS,
        emulator::NOMINAL_OUT_TOKENS,
        emulator::NOMINAL_NUM_TOKENS,
    ] {
        assert!(KNOWN.contains(&key), "{key}");
    }
}
