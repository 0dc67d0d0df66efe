//! One text to one typed value, per kind of data file ([`FileKind`]): the fast path when it
//! accepts the text, else the walk with the kind's schema, its legacy shapes rewritten, and
//! serde decoding the result; either way, what was dropped and what the legacy rows got wrong
//! is kept for whoever judges it. Also the conversion of serde's errors into [`Error::Json`]
//! with file, line and column. Separate from the walk itself, which knows nothing of the kinds.

use super::fast;
use super::files::LoadOptions;
use super::legacy::{legacy_alloc, legacy_classes, legacy_models, legacy_servers};
use super::parse::Parsed;
use super::schema::{
    Kind, Schema, ACCELERATOR_DATA, CAPACITY_DATA, MODEL_DATA, OPTIMIZER_DATA, SERVER_DATA,
    SERVICE_CLASS_DATA, SOLUTION, SYSTEM_ROOT,
};
use super::unknown::{dropped_problems, Dropped, Why};
use super::walk::{JsonPath, Node};
use crate::error::{Error, Result};
use crate::types::{
    AcceleratorData, AllocationSolution, CapacityData, ModelData, OptimizerData, ServerData,
    ServiceClassData, SystemSpec,
};
use crate::validate::Problem;
use serde::de::{DeserializeOwned, DeserializeSeed};
use serde_json::{Map, Value};
use std::cell::RefCell;

/// One file as read, before anyone judges it.
pub(super) struct Read<T> {
    pub(super) value: T,
    /// Keys that were not read.
    pub(super) dropped: Vec<Dropped>,
    /// Errors of legacy rows (service classes disagreeing on a priority).
    pub(super) legacy: Vec<Problem>,
}

impl<T> Read<T> {
    /// The content and its unknown fields, or [`Error::Invalid`] when legacy rows conflict.
    pub(super) fn parsed(self) -> Result<Parsed<T>> {
        if !self.legacy.is_empty() {
            return Err(Error::Invalid(self.legacy));
        }
        Ok(Parsed {
            value: self.value,
            unknown: dropped_problems(self.dropped, LoadOptions::default()),
        })
    }
}

/// Reads `text` of kind `T`: the fast path, else the walk. `file` labels errors and problems.
pub(super) fn read<T: FileKind>(text: &str, file: &str) -> Result<Read<T>> {
    match T::fast(text) {
        // The fast path accepts only texts from which the walk drops nothing and rewrites
        // nothing.
        Some(value) => Ok(Read {
            value,
            dropped: Vec::new(),
            legacy: Vec::new(),
        }),
        None => T::walk(text, file),
    }
}

/// A kind of data file and its two readers, which give the same value wherever `fast` gives
/// one (the tests of `agree` hold them to it).
pub(super) trait FileKind: DeserializeOwned {
    /// The value straight from the text, or `None` when only the walk can read it.
    fn fast(text: &str) -> Option<Self> {
        fast::read(text)
    }

    /// The schema walk, with every warning, legacy rewrite and positioned error.
    fn walk(text: &str, file: &str) -> Result<Read<Self>>;
}

/// Walks `text` with `schema` (unknown keys outside any named row belong to entity `top`), lets
/// `fix` rewrite legacy shapes (returning their problems), then decodes.
fn walk<T: DeserializeOwned>(
    text: &str,
    file: &str,
    schema: &'static Schema,
    top: &str,
    fix: impl FnOnce(&mut Value, &str) -> Vec<Problem>,
) -> Result<Read<T>> {
    let (mut value, dropped) = parse_value(text, file, schema, top)?;
    let legacy = fix(&mut value, file);
    Ok(Read {
        value: decode(value, file)?,
        dropped,
        legacy,
    })
}

/// No legacy shape to rewrite.
fn current(_: &mut Value, _: &str) -> Vec<Problem> {
    Vec::new()
}

impl FileKind for AcceleratorData {
    fn walk(text: &str, file: &str) -> Result<Read<Self>> {
        walk(text, file, &ACCELERATOR_DATA, "accelerator data", current)
    }
}

impl FileKind for CapacityData {
    fn walk(text: &str, file: &str) -> Result<Read<Self>> {
        walk(text, file, &CAPACITY_DATA, "capacity data", current)
    }
}

impl FileKind for OptimizerData {
    fn walk(text: &str, file: &str) -> Result<Read<Self>> {
        walk(text, file, &OPTIMIZER_DATA, "optimizer data", current)
    }
}

impl FileKind for ModelData {
    fn walk(text: &str, file: &str) -> Result<Read<Self>> {
        walk(text, file, &MODEL_DATA, "model data", |value, _| {
            legacy_models(value);
            Vec::new()
        })
    }
}

impl FileKind for ServerData {
    fn walk(text: &str, file: &str) -> Result<Read<Self>> {
        walk(text, file, &SERVER_DATA, "server data", |value, _| {
            legacy_servers(value);
            Vec::new()
        })
    }
}

impl FileKind for ServiceClassData {
    fn walk(text: &str, file: &str) -> Result<Read<Self>> {
        walk(
            text,
            file,
            &SERVICE_CLASS_DATA,
            "service-class data",
            legacy_classes,
        )
    }
}

impl FileKind for AllocationSolution {
    fn walk(text: &str, file: &str) -> Result<Read<Self>> {
        walk(text, file, &SOLUTION, "solution", |value, _| {
            if let Some(Value::Object(allocs)) = value.get_mut("allocations") {
                allocs.values_mut().for_each(legacy_alloc);
            }
            Vec::new()
        })
    }
}

impl FileKind for SystemSpec {
    fn fast(text: &str) -> Option<Self> {
        fast::system(text)
    }

    fn walk(text: &str, file: &str) -> Result<Read<Self>> {
        let (mut value, mut dropped) = parse_value(text, file, &SYSTEM_ROOT, "system")?;
        if let Some(system) = value.get_mut("system") {
            let system = system.take();
            // The bare keys next to `system` are fields of the bare form, but they are not read.
            if let Value::Object(root) = &value {
                for key in root.keys().filter(|k| *k != "system") {
                    dropped.push(Dropped {
                        file: file.to_owned(),
                        entity: "system".to_owned(),
                        field: key.clone(),
                        why: Why::BesideSystem(key.clone()),
                    });
                }
            }
            value = system;
        }
        if let Some(models) = value.get_mut("modelData") {
            legacy_models(models);
        }
        if let Some(servers) = value.get_mut("serverData") {
            legacy_servers(servers);
        }
        let legacy = match value.get_mut("serviceClassData") {
            Some(classes) => legacy_classes(classes, file),
            None => Vec::new(),
        };
        Ok(Read {
            value: decode(value, file)?,
            dropped,
            legacy,
        })
    }
}

/// Walks `text` with `schema`, returning an object with canonical keys and every unknown key
/// (`top` is the entity of keys outside any named row).
fn parse_value(
    text: &str,
    file: &str,
    schema: &'static Schema,
    top: &str,
) -> Result<(Value, Vec<Dropped>)> {
    let mut de = serde_json::Deserializer::from_str(text);
    let unknown = RefCell::new(Vec::new());
    let node = Node {
        kind: Kind::Struct(schema),
        path: &JsonPath::Root,
        unknown: &unknown,
    };
    let value = node
        .deserialize(&mut de)
        .and_then(|value| de.end().map(|()| value))
        .map_err(|e| json_error(file, &e))?;
    // A top-level `null` leaves the Go value untouched: all fields zero.
    let value = value.unwrap_or_else(|| Value::Object(Map::new()));
    let dropped = unknown
        .into_inner()
        .into_iter()
        .map(|u| u.locate(&value, file, top))
        .collect();
    Ok((value, dropped))
}

/// Reads the typed value; the schema walk has already checked every type.
fn decode<T: DeserializeOwned>(value: Value, file: &str) -> Result<T> {
    serde_json::from_value(value).map_err(|e| json_error(file, &e))
}

fn json_error(file: &str, e: &serde_json::Error) -> Error {
    let (line, column) = (e.line(), e.column());
    let text = e.to_string();
    let suffix = format!(" at line {line} column {column}");
    let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
    Error::Json {
        file: file.to_owned(),
        message,
        line,
        column,
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    #[test]
    fn system_wrapped_or_bare() {
        let bare = r#"{"optimizerData":{"optimizer":{"unlimited":true}},"capacityData":{"count":[{"type":"A","count":2}]}}"#;
        let wrapped = format!(r#"{{"System":{bare}}}"#);
        let a = parse_system(bare, "a").unwrap();
        let b = parse_system(&wrapped, "b").unwrap();
        assert_eq!(a, b);
        assert!(a.optimizer_data.optimizer.unlimited);
        assert_eq!(a.capacity_of("A"), 2);
        let text = r#"{"system":{"modelData":{"models":[{"alpha":1}]},
            "serverData":{"servers":[{"currentAlloc":{"load":{"avgLength":3}}}]}}}"#;
        let spec = parse_system(text, "s").unwrap();
        assert_eq!(spec.model_data.models[0].perf_parms.alpha, 1.0);
        assert_eq!(
            spec.server_data.servers[0]
                .current_alloc
                .load
                .avg_out_tokens,
            3
        );
    }

    #[test]
    fn solution_parses_and_round_trips() {
        let text = r#"{"allocations":{"b":{"accelerator":"G2","numReplicas":2,"cost":46,
            "load":{"arrivalRate":60,"AvgInTokens":128}},"a":{}}}"#;
        let solution = parse_solution(text, "sol.json").unwrap();
        assert_eq!(solution.allocations["b"].num_replicas, 2);
        assert_eq!(solution.allocations["b"].load.avg_in_tokens, 128);
        let again = serde_json::to_string(&solution).unwrap();
        assert_eq!(parse_solution(&again, "x").unwrap(), solution);
    }
}
