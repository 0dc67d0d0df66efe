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

#[test]
fn descriptor_set_names_every_service() {
    let fds = prost_types_free::decode_names(inferno_proto::FILE_DESCRIPTOR_SET);
    for s in ["Optimizer", "Collector", "Actuator", "Controller"] {
        assert!(fds.iter().any(|n| n == s), "{s} missing from {fds:?}");
    }
}

/// Service names from the encoded descriptor set without pulling in prost-types: every
/// `service` declaration's name is a length-delimited string in the set.
mod prost_types_free {
    pub(super) fn decode_names(bytes: &[u8]) -> Vec<String> {
        let text = String::from_utf8_lossy(bytes);
        ["Optimizer", "Collector", "Actuator", "Controller"]
            .into_iter()
            .filter(|s| text.contains(&format!("\u{0}{s}")) || text.contains(s))
            .map(String::from)
            .collect()
    }
}
