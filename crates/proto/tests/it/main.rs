//! Round trips of the sample data through the contract, and its conventions (`lint`).

mod lint;

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

/// The optimizer's optional counts keep their presence: absent stays absent, and 0 stays 0
/// (values out of the data's range too: judging them is the validation's part).
#[test]
fn optional_optimizer_fields_round_trip() {
    let mut spec = sample("small");
    for (improve, limit) in [
        (None, None),
        (Some(0), None),
        (None, Some(1)),
        (Some(200), Some(3000)),
        (Some(-1), Some(0)),
    ] {
        let o = &mut spec.optimizer_data.optimizer;
        o.improve_iterations = improve;
        o.iteration_limit = limit;
        let msg = v1::SystemSpec::try_from(&spec).unwrap();
        let decoded = v1::SystemSpec::decode(msg.encode_to_vec().as_slice()).unwrap();
        let flags = decoded.optimizer_data.clone().unwrap().optimizer.unwrap();
        let wire = (flags.improve_iterations, flags.iteration_limit);
        assert_eq!(wire, (improve.map(|n| n as i32), limit.map(|n| n as i32)));
        let back: SystemSpec = decoded.into();
        assert_eq!(back, spec, "{improve:?} {limit:?}");
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
    // JSON names (grpcurl's) are the lowerCamelCase of the field names.
    for name in [
        "improveIterations",
        "iterationLimit",
        "sloItl",
        "memBandwidth",
    ] {
        assert!(text.contains(name), "{name}");
    }
}
