//! The sample data directories load cleanly, with the counts of their files.

use crate::{sample_dir, TempDir, FILES};
use inferno_api::*;

struct Expected {
    accelerators: usize,
    capacity: usize,
    models: usize,
    servers: usize,
    targets_per_class: &'static [(&'static str, i64, usize)],
}

fn check(name: &str, expected: &Expected) -> SystemSpec {
    let loaded = load_dir(&sample_dir(name)).unwrap();
    assert_eq!(loaded.warnings, vec![], "{name}");
    let spec = loaded.spec;
    assert_eq!(
        spec.accelerator_data.accelerators.len(),
        expected.accelerators
    );
    assert_eq!(spec.capacity_data.count.len(), expected.capacity);
    assert_eq!(spec.model_data.models.len(), expected.models);
    assert_eq!(spec.server_data.servers.len(), expected.servers);
    let classes: Vec<_> = spec
        .service_class_data
        .service_classes
        .iter()
        .map(|c| (c.name.as_str(), c.priority, c.model_targets.len()))
        .collect();
    assert_eq!(classes, expected.targets_per_class);
    // `"milpsolver"` and `"AvgInTokens"` in the files are read case-insensitively.
    let optimizer = &spec.optimizer_data.optimizer;
    assert_eq!(optimizer.saturation_policy, "RoundRobin");
    assert!(!optimizer.milp_solver && !optimizer.unlimited);
    for server in &spec.server_data.servers {
        assert_eq!(
            server.current_alloc.load.avg_in_tokens, 128,
            "{}",
            server.name
        );
        assert_eq!(
            server.current_alloc.load.avg_out_tokens, 1024,
            "{}",
            server.name
        );
    }
    spec
}

#[test]
fn small() {
    let spec = check(
        "small",
        &Expected {
            accelerators: 6,
            capacity: 4,
            models: 30,
            servers: 15,
            targets_per_class: &[("Premium", 1, 5), ("Bronze", 2, 5), ("Free", 3, 5)],
        },
    );
    assert_eq!(spec.capacity_of("A100"), 768);
    assert_eq!(spec.capacity_of("H100"), 0);
    let acc = spec.accelerator("4xA100").unwrap();
    assert_eq!(
        (acc.acc_type.as_str(), acc.multiplicity, acc.cost),
        ("A100", 4, 160.0)
    );
    let perf = spec.perf("granite_13b", "AIU2").unwrap();
    assert_eq!((perf.max_batch_size, perf.at_tokens), (102, 512));
    assert_eq!(perf.perf_parms.gamma, 0.0128125);
    let server = &spec.server_data.servers[0];
    assert_eq!(server.name, "Premium-llama_13b");
    assert_eq!(server.current_alloc.load.arrival_rate, 60.0);
    let target = spec
        .service_class("Free")
        .unwrap()
        .target("granite_13b")
        .unwrap();
    assert_eq!(
        (target.slo_itl, target.slo_ttft, target.slo_tps),
        (160.0, 4000.0, 0.0)
    );
}

#[test]
fn large() {
    let spec = check(
        "large",
        &Expected {
            accelerators: 21,
            capacity: 9,
            models: 189,
            servers: 27,
            targets_per_class: &[
                ("Premium", 1, 9),
                ("Bronze", 2, 9),
                ("Free", 3, 9),
                ("Batch2K", 4, 5),
            ],
        },
    );
    let batch = spec.service_class("Batch2K").unwrap();
    assert!(batch.model_targets.iter().all(|t| t.slo_tps > 0.0));
}

#[test]
fn load_path_of_a_directory_is_load_dir() {
    for name in ["small", "large"] {
        assert_eq!(
            load_path(&sample_dir(name)).unwrap(),
            load_dir(&sample_dir(name)).unwrap()
        );
    }
}

#[test]
fn each_file_round_trips() {
    for name in ["small", "large"] {
        let dir = sample_dir(name);
        let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
        let accelerators = parse_accelerators(&read(FILES[0]), FILES[0]).unwrap();
        let text = serde_json::to_string_pretty(&accelerators).unwrap();
        assert_eq!(parse_accelerators(&text, "x").unwrap(), accelerators);
        let capacity = parse_capacity(&read(FILES[1]), FILES[1]).unwrap();
        let text = serde_json::to_string(&capacity).unwrap();
        assert_eq!(parse_capacity(&text, "x").unwrap(), capacity);
        let models = parse_models(&read(FILES[2]), FILES[2]).unwrap();
        let text = serde_json::to_string(&models).unwrap();
        assert_eq!(parse_models(&text, "x").unwrap(), models);
        let optimizer = parse_optimizer(&read(FILES[3]), FILES[3]).unwrap();
        let text = serde_json::to_string(&optimizer).unwrap();
        assert_eq!(parse_optimizer(&text, "x").unwrap(), optimizer);
        let servers = parse_servers(&read(FILES[4]), FILES[4]).unwrap();
        let text = serde_json::to_string(&servers).unwrap();
        assert_eq!(parse_servers(&text, "x").unwrap(), servers);
        let classes = parse_service_classes(&read(FILES[5]), FILES[5]).unwrap();
        let text = serde_json::to_string(&classes).unwrap();
        assert_eq!(parse_service_classes(&text, "x").unwrap(), classes);
    }
}

#[test]
fn system_round_trips_through_one_file() {
    let tmp = TempDir::new("system-round-trip");
    for name in ["small", "large"] {
        let spec = load_dir(&sample_dir(name)).unwrap().spec;
        let wrapped = SystemData {
            system: spec.clone(),
        };
        let path = tmp.write(
            "system-data.json",
            &serde_json::to_string_pretty(&wrapped).unwrap(),
        );
        let loaded = load_path(&path).unwrap();
        assert_eq!(loaded.spec, spec, "{name}");
        assert_eq!(loaded.warnings, vec![]);
        let bare = serde_json::to_string(&spec).unwrap();
        assert_eq!(parse_system(&bare, "bare").unwrap(), spec, "{name}");
    }
}
