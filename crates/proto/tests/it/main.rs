//! Round trips of the sample data through the contract.

use inferno_api::{load_path, SystemSpec};
use inferno_proto::v1;
use prost::Message;
use std::path::Path;

fn sample(name: &str) -> SystemSpec {
    load_path(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../samples")
            .join(name),
    )
    .unwrap()
    .spec
}

#[test]
fn samples_round_trip_through_proto_and_wire() {
    for name in ["small", "large"] {
        let spec = sample(name);
        let msg = v1::SystemSpec::try_from(&spec).unwrap();
        // Through the wire encoding too.
        let decoded = v1::SystemSpec::decode(msg.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, msg);
        let back: SystemSpec = decoded.into();
        assert_eq!(back, spec, "{name}");
    }
}

#[test]
fn absent_messages_read_as_defaults() {
    let spec: SystemSpec = v1::SystemSpec::default().into();
    assert_eq!(spec, SystemSpec::default());
}

/// The embedded descriptor set (served by reflection) declares every service of the contract.
#[test]
fn descriptor_set_names_every_service() {
    let text = String::from_utf8_lossy(inferno_proto::FILE_DESCRIPTOR_SET);
    for file in [
        "inferno/v1/types.proto",
        "inferno/v1/optimizer.proto",
        "inferno/v1/controller.proto",
    ] {
        assert!(text.contains(file), "{file}");
    }
    for service in ["Optimizer", "Collector", "Actuator", "Controller"] {
        assert!(text.contains(service), "{service}");
    }
}
