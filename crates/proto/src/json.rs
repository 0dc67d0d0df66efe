//! The proto3 JSON mapping of the contract's messages, as grpcurl prints and reads them: field
//! names in lowerCamelCase, enums by name, `google.protobuf.Timestamp` as RFC 3339 text,
//! `google.protobuf.Duration` as seconds with an `s` (`"0.264s"`), 64-bit integers as strings.
//! The controller's `/invoke`, `/tuning` and cycle log and the optimizer's `system` command
//! write their messages with it, so a JSON reader sees the shape a gRPC client sees.
//!
//! Every field is written, defaults included (as `grpcurl -emit-defaults` does), except a
//! message or `optional` field that is not set.

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use std::sync::LazyLock;

/// The descriptors of every `inferno.v1` file and the well-known types they import.
static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET)
        .expect("the build script writes a valid descriptor set")
});

/// A JSON text that is not the message it should be.
#[derive(Debug, thiserror::Error)]
#[error("not a valid {message} in proto3 JSON: {reason}")]
pub struct JsonError {
    /// The message's full name, e.g. `inferno.v1.QueueRequest`.
    pub message: String,
    /// What is wrong (the parser's words, with the line and column).
    pub reason: String,
}

fn dynamic<M: prost::Message + prost::Name>(m: &M) -> DynamicMessage {
    let desc = POOL
        .get_message_by_name(&M::full_name())
        .expect("every generated message is in the descriptor set");
    // The bytes were just encoded from a message of this very type.
    DynamicMessage::decode(desc, m.encode_to_vec().as_slice())
        .expect("a message decodes as its own descriptor")
}

fn options() -> SerializeOptions {
    SerializeOptions::new().skip_default_fields(false)
}

/// `m` as a JSON value.
pub fn to_value<M: prost::Message + prost::Name>(m: &M) -> serde_json::Value {
    dynamic(m)
        .serialize_with_options(serde_json::value::Serializer, &options())
        .expect("every message has a JSON form")
}

/// `m` as JSON text on one line (a JSONL record).
pub fn to_string<M: prost::Message + prost::Name>(m: &M) -> String {
    let mut out = Vec::new();
    write(m, &mut serde_json::Serializer::new(&mut out));
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// `m` as indented JSON text.
pub fn to_string_pretty<M: prost::Message + prost::Name>(m: &M) -> String {
    let mut out = Vec::new();
    write(m, &mut serde_json::Serializer::pretty(&mut out));
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

fn write<M, W, F>(m: &M, serializer: &mut serde_json::Serializer<W, F>)
where
    M: prost::Message + prost::Name,
    W: std::io::Write,
    F: serde_json::ser::Formatter,
{
    dynamic(m)
        .serialize_with_options(serializer, &options())
        .expect("writing JSON to memory cannot fail");
}

/// The message of type `M` that `text` states in proto3 JSON (either spelling of a field name,
/// the lowerCamelCase one or the proto one, as the mapping allows).
pub fn from_str<M: prost::Message + prost::Name + Default>(text: &str) -> Result<M, JsonError> {
    let name = M::full_name();
    let error = |reason: String| JsonError {
        message: name.clone(),
        reason,
    };
    let desc = POOL
        .get_message_by_name(&name)
        .expect("every generated message is in the descriptor set");
    let mut de = serde_json::Deserializer::from_str(text);
    let message = DynamicMessage::deserialize(desc, &mut de).map_err(|e| error(e.to_string()))?;
    de.end().map_err(|e| error(e.to_string()))?;
    message.transcode_to().map_err(|e| error(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1;

    #[test]
    fn durations_timestamps_and_enums_take_their_json_forms() {
        let report = v1::CycleReport {
            cycle: 3,
            start_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            outcome: v1::cycle_report::Outcome::Ok.into(),
            duration: Some(prost_types::Duration {
                seconds: 0,
                nanos: 264_000_000,
            }),
            ..Default::default()
        };
        let v = to_value(&report);
        assert_eq!(v["cycle"], 3);
        assert_eq!(v["startTime"], "2023-11-14T22:13:20Z");
        assert_eq!(v["outcome"], "OK");
        assert_eq!(v["duration"], "0.264s");
        // Defaults are written; a message that is not set is not.
        assert_eq!(v["dryRun"], false);
        assert_eq!(v["servers"], serde_json::json!([]));
        assert!(v.get("solution").is_none(), "{v}");
        let back: v1::CycleReport = from_str(&to_string(&report)).unwrap();
        assert_eq!(back, report);
    }

    /// Numbers that JSON has no literal for are the strings proto3 JSON uses.
    #[test]
    fn nan_and_infinities_are_strings() {
        let q = v1::QueueRequest {
            rps: f64::NAN,
            alpha: f64::INFINITY,
            beta: f64::NEG_INFINITY,
            ..Default::default()
        };
        let v = to_value(&q);
        assert_eq!(
            (&v["rps"], &v["alpha"], &v["beta"]),
            (&"NaN".into(), &"Infinity".into(), &"-Infinity".into())
        );
        let back: v1::QueueRequest = from_str(&to_string(&q)).unwrap();
        assert!(back.rps.is_nan() && back.alpha == f64::INFINITY);
    }

    #[test]
    fn a_wrong_text_names_the_message() {
        let e = from_str::<v1::QueueRequest>(r#"{"RPS": 3}"#).unwrap_err();
        assert_eq!(e.message, "inferno.v1.QueueRequest");
        assert!(e.reason.contains("RPS"), "{e}");
        let q: v1::QueueRequest = from_str(r#"{"rps": 3, "target_ttft": 60}"#).unwrap();
        assert_eq!((q.rps, q.target_ttft), (3.0, 60.0));
    }
}
