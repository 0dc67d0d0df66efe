//! Reading the data files with the decoding rules of the reference (Go `encoding/json`).
//!
//! The text is walked once with a schema of every field (the `Schema` tables below), which
//! renames each object key to its canonical spelling (keys match case-insensitively, as in Go),
//! drops JSON `null`s (Go leaves the field at its zero value), and checks each value's type while
//! the parser still knows the line and column. Unknown keys are dropped too, as Go drops them,
//! but never silently: each is recorded with its JSON path and the closest known field, and
//! becomes a warning (an error when reading strictly). The result is a `serde_json::Value` with
//! canonical keys that the serde derives of [`crate::types`] read. Legacy (SEED) shapes are then
//! rewritten into the current ones.

use crate::error::{Error, Result};
use crate::types::{
    AcceleratorData, AllocationSolution, CapacityData, ModelData, OptimizerData, ServerData,
    ServiceClassData, SystemSpec,
};
use crate::validate::{self, FileNames, Problem, Severity};
use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess};
use serde::de::{Unexpected, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// A validated system and the warnings found while reading and validating it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// The system, normalised (see [`crate::validate()`]).
    pub spec: SystemSpec,
    /// Problems of severity [`Severity::Warning`] (unknown fields first, then validation);
    /// empty when the data is clean.
    pub warnings: Vec<Problem>,
}

/// How [`load_dir_with`] and [`load_path_with`] treat what they cannot use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Unknown fields are errors: loading fails with [`Error::Invalid`] listing each of them and
    /// every validation problem. Otherwise (the default) each is a warning and is ignored.
    pub strict: bool,
}

/// One file's content and the unknown fields that reading it ignored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed<T> {
    /// The content.
    pub value: T,
    /// One [`Severity::Warning`] per ignored key: the file, the entity holding it (named as
    /// validation names it), its JSON path as the field (`servers[2].currentAlloc.load.arivalRate`)
    /// and, in the message, the closest known field of the same object when one is close.
    pub unknown: Vec<Problem>,
}

/// A type read from one JSON text: the six data files, a whole system, a solution.
///
/// `parse` reports unknown fields in [`Parsed::unknown`]; the `parse_*` functions drop them.
pub trait DataFile: Sized {
    /// Parses `text`; `file` labels errors and problems.
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>>;
}

impl DataFile for AcceleratorData {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read_accelerators(text, file)?.parsed()
    }
}

impl DataFile for CapacityData {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read_capacity(text, file)?.parsed()
    }
}

impl DataFile for ModelData {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read_models(text, file)?.parsed()
    }
}

impl DataFile for OptimizerData {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read_optimizer(text, file)?.parsed()
    }
}

impl DataFile for ServerData {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read_servers(text, file)?.parsed()
    }
}

/// Fails with [`Error::Invalid`] if legacy rows of one class disagree on its priority.
impl DataFile for ServiceClassData {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read_service_classes(text, file)?.parsed()
    }
}

/// `{"system": {...}}` (as `system-data.json`) or a bare `SystemSpec`. If the top-level object
/// has a `system` key, only that key is read (the others are reported as ignored). Fails with
/// [`Error::Invalid`] if legacy service-class rows disagree on a priority.
impl DataFile for SystemSpec {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read_system(text, file)?.parsed()
    }
}

/// `{"allocations": {"<server>": AllocationData}}`.
impl DataFile for AllocationSolution {
    fn parse(text: &str, file: &str) -> Result<Parsed<Self>> {
        read(text, file, &SOLUTION, "solution", |value, _| {
            if let Some(Value::Object(allocs)) = value.get_mut("allocations") {
                allocs.values_mut().for_each(legacy_alloc);
            }
            Vec::new()
        })?
        .parsed()
    }
}

/// Parses one file's text as `T`, with the unknown fields it ignored; `file` labels problems.
pub fn parse_file<T: DataFile>(text: &str, file: &str) -> Result<Parsed<T>> {
    T::parse(text, file)
}

/// Parses `accelerator-data.json`; `file` labels errors. Unknown fields are dropped (see
/// [`parse_file`]).
pub fn parse_accelerators(text: &str, file: &str) -> Result<AcceleratorData> {
    Ok(parse_file(text, file)?.value)
}

/// Parses `capacity-data.json`; `file` labels errors. Unknown fields are dropped (see
/// [`parse_file`]).
pub fn parse_capacity(text: &str, file: &str) -> Result<CapacityData> {
    Ok(parse_file(text, file)?.value)
}

/// Parses `model-data.json` (legacy flat `alpha`/`beta` rows included); `file` labels errors.
/// Unknown fields are dropped (see [`parse_file`]).
pub fn parse_models(text: &str, file: &str) -> Result<ModelData> {
    Ok(parse_file(text, file)?.value)
}

/// Parses `optimizer-data.json`; `file` labels errors. Unknown fields are dropped (see
/// [`parse_file`]).
pub fn parse_optimizer(text: &str, file: &str) -> Result<OptimizerData> {
    Ok(parse_file(text, file)?.value)
}

/// Parses `server-data.json` (legacy `avgLength` included); `file` labels errors. Unknown fields
/// are dropped (see [`parse_file`]).
pub fn parse_servers(text: &str, file: &str) -> Result<ServerData> {
    Ok(parse_file(text, file)?.value)
}

/// Parses `serviceclass-data.json` (legacy flat rows included); `file` labels errors. Unknown
/// fields are dropped (see [`parse_file`]).
///
/// Fails with [`Error::Invalid`] if legacy rows of one class disagree on its priority.
pub fn parse_service_classes(text: &str, file: &str) -> Result<ServiceClassData> {
    Ok(parse_file(text, file)?.value)
}

/// Parses a whole system: `{"system": {...}}` (as `system-data.json`) or a bare `SystemSpec`.
/// Unknown fields are dropped (see [`parse_file`]).
///
/// If the top-level object has a `system` key, only that key is read. Fails with
/// [`Error::Invalid`] if legacy service-class rows disagree on a priority.
pub fn parse_system(text: &str, file: &str) -> Result<SystemSpec> {
    Ok(parse_file(text, file)?.value)
}

/// Parses an optimizer solution `{"allocations": {"<server>": AllocationData}}`. Unknown fields
/// are dropped (see [`parse_file`]).
pub fn parse_solution(text: &str, file: &str) -> Result<AllocationSolution> {
    Ok(parse_file(text, file)?.value)
}

/// [`load_dir_with`] with the default options (unknown fields are warnings).
pub fn load_dir(dir: &Path) -> Result<Loaded> {
    load_dir_with(dir, LoadOptions::default())
}

/// Reads the six data files of `dir`, then validates and normalises the system.
///
/// The files are `accelerator-data.json`, `capacity-data.json`, `model-data.json`,
/// `optimizer-data.json`, `server-data.json` and `serviceclass-data.json`; all must exist.
/// Fails on the first unreadable or malformed file, else with every problem at once: the
/// validation errors, and under [`LoadOptions::strict`] the unknown fields of every file.
pub fn load_dir_with(dir: &Path, options: LoadOptions) -> Result<Loaded> {
    let files = FileNames::in_dir(dir);
    let base = FileNames::default();
    let text = |name: &str| read_text(&dir.join(name));
    let accelerators = read_accelerators(&text(&base.accelerators)?, &files.accelerators)?;
    let capacity = read_capacity(&text(&base.capacity)?, &files.capacity)?;
    let models = read_models(&text(&base.models)?, &files.models)?;
    let optimizer = read_optimizer(&text(&base.optimizer)?, &files.optimizer)?;
    let servers = read_servers(&text(&base.servers)?, &files.servers)?;
    let classes = read_service_classes(&text(&base.service_classes)?, &files.service_classes)?;
    let mut dropped = accelerators.dropped;
    dropped.extend(capacity.dropped);
    dropped.extend(models.dropped);
    dropped.extend(optimizer.dropped);
    dropped.extend(servers.dropped);
    dropped.extend(classes.dropped);
    let mut problems = dropped_problems(dropped, options);
    problems.extend(classes.legacy);
    let spec = SystemSpec {
        accelerator_data: accelerators.value,
        model_data: models.value,
        service_class_data: classes.value,
        server_data: servers.value,
        optimizer_data: optimizer.value,
        capacity_data: capacity.value,
    };
    validate::finish(spec, &files, problems)
}

/// [`load_path_with`] with the default options (unknown fields are warnings).
pub fn load_path(path: &Path) -> Result<Loaded> {
    load_path_with(path, LoadOptions::default())
}

/// Loads a directory of data files (see [`load_dir_with`]) or one system JSON file (see
/// [`parse_system`]), then validates and normalises the system.
pub fn load_path_with(path: &Path, options: LoadOptions) -> Result<Loaded> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_dir() {
        return load_dir_with(path, options);
    }
    let text = read_text(path)?;
    let file = path.display().to_string();
    let system = read_system(&text, &file)?;
    let mut problems = dropped_problems(system.dropped, options);
    problems.extend(system.legacy);
    validate::finish(system.value, &FileNames::single(&file), problems)
}

/// Reads a file as text; invalid UTF-8 becomes U+FFFD, as Go's decoder does in strings.
fn read_text(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// One file as read, before anyone judges it.
struct Read<T> {
    value: T,
    /// Keys that were not read.
    dropped: Vec<Dropped>,
    /// Errors of legacy rows (service classes disagreeing on a priority).
    legacy: Vec<Problem>,
}

impl<T> Read<T> {
    /// The content and its unknown fields, or [`Error::Invalid`] when legacy rows conflict.
    fn parsed(self) -> Result<Parsed<T>> {
        if !self.legacy.is_empty() {
            return Err(Error::Invalid(self.legacy));
        }
        Ok(Parsed {
            value: self.value,
            unknown: dropped_problems(self.dropped, LoadOptions::default()),
        })
    }
}

/// A key of the text that reading dropped, and where it is.
#[derive(Debug)]
struct Dropped {
    file: String,
    entity: String,
    /// Its JSON path.
    field: String,
    why: Why,
}

#[derive(Debug)]
enum Why {
    /// No field of its object has this name; the closest one that does.
    Unknown(String, Option<&'static str>),
    /// A field of the bare system form next to a `system` key.
    BesideSystem(String),
}

/// Dropped keys as problems: warnings, or errors when reading strictly.
fn dropped_problems(dropped: Vec<Dropped>, options: LoadOptions) -> Vec<Problem> {
    let strict = options.strict;
    dropped
        .into_iter()
        .map(|d| {
            let at = (d.file.as_str(), d.entity.as_str(), d.field.as_str());
            match d.why {
                Why::Unknown(key, suggestion) => {
                    Problem::unknown_field(at, &key, suggestion, strict)
                }
                Why::BesideSystem(key) => Problem {
                    severity: if strict {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    message: if strict {
                        format!("{key:?} beside \"system\": only the \"system\" key is read")
                    } else {
                        format!(
                            "{key:?} ignored: the file has a \"system\" key, and only that key \
                             is read"
                        )
                    },
                    file: d.file,
                    entity: d.entity,
                    field: d.field,
                },
            }
        })
        .collect()
}

/// Walks `text` with `schema` (unknown keys outside any named row belong to entity `top`), lets
/// `fix` rewrite legacy shapes (returning their problems), then decodes.
fn read<T: DeserializeOwned>(
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

fn read_accelerators(text: &str, file: &str) -> Result<Read<AcceleratorData>> {
    read(text, file, &ACCELERATOR_DATA, "accelerator data", current)
}

fn read_capacity(text: &str, file: &str) -> Result<Read<CapacityData>> {
    read(text, file, &CAPACITY_DATA, "capacity data", current)
}

fn read_optimizer(text: &str, file: &str) -> Result<Read<OptimizerData>> {
    read(text, file, &OPTIMIZER_DATA, "optimizer data", current)
}

fn read_models(text: &str, file: &str) -> Result<Read<ModelData>> {
    read(text, file, &MODEL_DATA, "model data", |value, _| {
        legacy_models(value);
        Vec::new()
    })
}

fn read_servers(text: &str, file: &str) -> Result<Read<ServerData>> {
    read(text, file, &SERVER_DATA, "server data", |value, _| {
        legacy_servers(value);
        Vec::new()
    })
}

fn read_service_classes(text: &str, file: &str) -> Result<Read<ServiceClassData>> {
    read(
        text,
        file,
        &SERVICE_CLASS_DATA,
        "service-class data",
        legacy_classes,
    )
}

fn read_system(text: &str, file: &str) -> Result<Read<SystemSpec>> {
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

// ---------------------------------------------------------------------------------------------
// Legacy shapes

/// SEED model rows carry flat `alpha`/`beta` (ms, ms/token) and no `perfParms`.
fn legacy_models(data: &mut Value) {
    let Some(Value::Array(rows)) = data.get_mut("models") else {
        return;
    };
    for row in rows.iter_mut().filter_map(Value::as_object_mut) {
        if row.contains_key("perfParms") || !(row.contains_key("alpha") || row.contains_key("beta"))
        {
            continue;
        }
        let mut parms = Map::new();
        for key in ["alpha", "beta"] {
            if let Some(v) = row.get(key) {
                parms.insert(key.to_owned(), v.clone());
            }
        }
        row.insert("perfParms".to_owned(), Value::Object(parms));
    }
}

fn legacy_servers(data: &mut Value) {
    let Some(Value::Array(servers)) = data.get_mut("servers") else {
        return;
    };
    for server in servers.iter_mut() {
        for key in ["currentAlloc", "desiredAlloc"] {
            if let Some(alloc) = server.get_mut(key) {
                legacy_alloc(alloc);
            }
        }
    }
}

/// SEED loads carry `avgLength` (output tokens per request) instead of `avgOutTokens`.
fn legacy_alloc(alloc: &mut Value) {
    let Some(Value::Object(load)) = alloc.get_mut("load") else {
        return;
    };
    if !load.contains_key("avgOutTokens") {
        if let Some(len) = load.get("avgLength").cloned() {
            load.insert("avgOutTokens".to_owned(), len);
        }
    }
}

/// Keys that make a service-class row a SEED flat row (one row per (class, model)).
const FLAT_CLASS_KEYS: [&str; 5] = ["model", "slo-itl", "slo-ttft", "slo-ttw", "slo-tps"];

/// Groups SEED flat service-class rows into nested classes, in order of first appearance.
///
/// `slo-ttw` (queueing wait) becomes `slo-ttft` when the latter is absent. TTFT includes the
/// wait, so as a bound on means this is conservative; SEED itself sized for a mean wait of
/// `slo-ttw / 2.9957` (a 95th-percentile reading), which the converted target does not repeat.
/// Returns a problem for every row whose priority differs from the first row of its class.
fn legacy_classes(data: &mut Value, file: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(Value::Array(rows)) = data.get_mut("serviceClasses") else {
        return problems;
    };
    let mut out: Vec<Value> = Vec::with_capacity(rows.len());
    let mut groups: HashMap<String, usize> = HashMap::new();
    // The schema walk made every row an object.
    let rows_taken = std::mem::take(rows);
    for mut row in rows_taken.into_iter().filter_map(|row| match row {
        Value::Object(row) => Some(row),
        _ => None,
    }) {
        let flat = !row.contains_key("modelTargets")
            && FLAT_CLASS_KEYS.iter().any(|k| row.contains_key(*k));
        if !flat {
            if let Some(Value::Array(targets)) = row.get_mut("modelTargets") {
                for target in targets.iter_mut().filter_map(Value::as_object_mut) {
                    ttw_to_ttft(target);
                }
            }
            out.push(Value::Object(row));
            continue;
        }
        ttw_to_ttft(&mut row);
        let mut target = Map::new();
        for key in ["model", "slo-itl", "slo-ttft", "slo-tps"] {
            if let Some(v) = row.remove(key) {
                target.insert(key.to_owned(), v);
            }
        }
        let name = row
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let priority = row.get("priority").and_then(Value::as_i64).unwrap_or(0);
        match groups.get(&name) {
            Some(&i) => {
                let class = &mut out[i];
                let first = class.get("priority").and_then(Value::as_i64).unwrap_or(0);
                if first != priority {
                    problems.push(Problem {
                        severity: Severity::Error,
                        file: file.to_owned(),
                        entity: format!("class {name:?}"),
                        field: "priority".to_owned(),
                        message: format!(
                            "legacy rows of this class disagree on the priority: {first} and \
                             {priority}"
                        ),
                    });
                }
                if let Some(Value::Array(targets)) = class.get_mut("modelTargets") {
                    targets.push(Value::Object(target));
                }
            }
            None => {
                let mut class = Map::new();
                class.insert("name".to_owned(), Value::from(name.clone()));
                class.insert("priority".to_owned(), Value::from(priority));
                let targets = vec![Value::Object(target)];
                class.insert("modelTargets".to_owned(), Value::Array(targets));
                groups.insert(name, out.len());
                out.push(Value::Object(class));
            }
        }
    }
    *rows = out;
    problems
}

fn ttw_to_ttft(target: &mut Map<String, Value>) {
    if !target.contains_key("slo-ttft") {
        if let Some(ttw) = target.get("slo-ttw").cloned() {
            target.insert("slo-ttft".to_owned(), ttw);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Schema of the data files

/// The JSON type of a field.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Integer literal within the 64-bit signed range (Go rejects `1.0` and `1e2` for ints).
    Int,
    /// Any number.
    Float,
    Bool,
    Str,
    Struct(&'static Schema),
    /// Array of structs.
    List(&'static Schema),
    /// Object of structs keyed by arbitrary strings.
    Dict(&'static Schema),
    /// Anything: an obsolete field, known (so not reported as unknown) but dropped unread.
    Ignored,
}

/// The fields of one struct, with their canonical (serde) names.
#[derive(Debug)]
struct Schema {
    fields: &'static [Field],
}

#[derive(Debug)]
struct Field {
    name: &'static str,
    kind: Kind,
    /// Read only to be rewritten by the legacy conversions, or (kind [`Kind::Ignored`]) not
    /// read at all; not a field of the Rust type.
    #[cfg_attr(not(test), allow(dead_code))] // read by the schema tests
    legacy: bool,
}

const fn f(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        legacy: false,
    }
}

const fn legacy(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        legacy: true,
    }
}

/// A field of older versions of the data that nothing reads any more (docs/data-files.md).
const fn obsolete(name: &'static str) -> Field {
    legacy(name, Kind::Ignored)
}

use Kind::{Bool, Float, Int, Str};

static POWER: Schema = Schema {
    fields: &[
        f("idle", Int),
        f("full", Int),
        f("midPower", Int),
        f("midUtil", Float),
    ],
};
static ACCELERATOR: Schema = Schema {
    fields: &[
        f("name", Str),
        f("type", Str),
        f("multiplicity", Int),
        f("memSize", Int),
        f("memBW", Int),
        f("power", Kind::Struct(&POWER)),
        f("cost", Float),
    ],
};
static ACCELERATOR_DATA: Schema = Schema {
    fields: &[f("accelerators", Kind::List(&ACCELERATOR))],
};
static COUNT: Schema = Schema {
    fields: &[f("type", Str), f("count", Int)],
};
static CAPACITY_DATA: Schema = Schema {
    fields: &[f("count", Kind::List(&COUNT))],
};
static PERF: Schema = Schema {
    fields: &[f("alpha", Float), f("beta", Float), f("gamma", Float)],
};
static MODEL: Schema = Schema {
    fields: &[
        f("name", Str),
        f("acc", Str),
        f("accCount", Int),
        f("maxBatchSize", Int),
        f("atTokens", Int),
        f("perfParms", Kind::Struct(&PERF)),
        legacy("alpha", Float),
        legacy("beta", Float),
        obsolete("decodeParms"),
        obsolete("prefillParms"),
    ],
};
static MODEL_DATA: Schema = Schema {
    fields: &[f("models", Kind::List(&MODEL))],
};
static TARGET: Schema = Schema {
    fields: &[
        f("model", Str),
        f("slo-itl", Float),
        f("slo-ttft", Float),
        f("slo-tps", Float),
        legacy("slo-ttw", Float),
    ],
};
static SERVICE_CLASS: Schema = Schema {
    fields: &[
        f("name", Str),
        f("priority", Int),
        f("modelTargets", Kind::List(&TARGET)),
        legacy("model", Str),
        legacy("slo-itl", Float),
        legacy("slo-ttft", Float),
        legacy("slo-ttw", Float),
        legacy("slo-tps", Float),
    ],
};
static SERVICE_CLASS_DATA: Schema = Schema {
    fields: &[f("serviceClasses", Kind::List(&SERVICE_CLASS))],
};
static LOAD: Schema = Schema {
    fields: &[
        f("arrivalRate", Float),
        f("throughput", Float),
        f("avgInTokens", Int),
        f("avgOutTokens", Int),
        legacy("avgLength", Int),
        obsolete("arrivalCOV"),
        obsolete("serviceCOV"),
    ],
};
static ALLOCATION: Schema = Schema {
    fields: &[
        f("accelerator", Str),
        f("numReplicas", Int),
        f("maxBatch", Int),
        f("cost", Float),
        f("itlAverage", Float),
        f("ttftAverage", Float),
        f("load", Kind::Struct(&LOAD)),
        obsolete("waitAverage"),
        obsolete("avgConcurrency"),
    ],
};
static SERVER: Schema = Schema {
    fields: &[
        f("name", Str),
        f("class", Str),
        f("model", Str),
        f("keepAccelerator", Bool),
        f("minNumReplicas", Int),
        f("maxBatchSize", Int),
        f("maxQueueSize", Int),
        f("currentAlloc", Kind::Struct(&ALLOCATION)),
        f("desiredAlloc", Kind::Struct(&ALLOCATION)),
    ],
};
static SERVER_DATA: Schema = Schema {
    fields: &[f("servers", Kind::List(&SERVER))],
};
static OPTIMIZER: Schema = Schema {
    fields: &[
        f("unlimited", Bool),
        f("heterogeneous", Bool),
        f("milpSolver", Bool),
        f("solver", Str),
        f("timeLimitSeconds", Float),
        f("useCplex", Bool),
        f("delayedBestEffort", Bool),
        f("saturationPolicy", Str),
        f("batchSizing", Str),
    ],
};
static OPTIMIZER_DATA: Schema = Schema {
    fields: &[f("optimizer", Kind::Struct(&OPTIMIZER))],
};
static SYSTEM_SPEC: Schema = Schema {
    fields: &[
        f("acceleratorData", Kind::Struct(&ACCELERATOR_DATA)),
        f("modelData", Kind::Struct(&MODEL_DATA)),
        f("serviceClassData", Kind::Struct(&SERVICE_CLASS_DATA)),
        f("serverData", Kind::Struct(&SERVER_DATA)),
        f("optimizerData", Kind::Struct(&OPTIMIZER_DATA)),
        f("capacityData", Kind::Struct(&CAPACITY_DATA)),
    ],
};
/// `{"system": SystemSpec}` or a bare `SystemSpec`.
static SYSTEM_ROOT: Schema = Schema {
    fields: &[
        f("system", Kind::Struct(&SYSTEM_SPEC)),
        f("acceleratorData", Kind::Struct(&ACCELERATOR_DATA)),
        f("modelData", Kind::Struct(&MODEL_DATA)),
        f("serviceClassData", Kind::Struct(&SERVICE_CLASS_DATA)),
        f("serverData", Kind::Struct(&SERVER_DATA)),
        f("optimizerData", Kind::Struct(&OPTIMIZER_DATA)),
        f("capacityData", Kind::Struct(&CAPACITY_DATA)),
    ],
};
static SOLUTION: Schema = Schema {
    fields: &[f("allocations", Kind::Dict(&ALLOCATION))],
};

/// Every schema, for the tests that compare them with the serde types.
#[cfg(test)]
static SCHEMAS: [(&str, &Schema); 20] = [
    ("power", &POWER),
    ("accelerator", &ACCELERATOR),
    ("accelerator data", &ACCELERATOR_DATA),
    ("count", &COUNT),
    ("capacity data", &CAPACITY_DATA),
    ("perf", &PERF),
    ("model", &MODEL),
    ("model data", &MODEL_DATA),
    ("target", &TARGET),
    ("service class", &SERVICE_CLASS),
    ("service class data", &SERVICE_CLASS_DATA),
    ("load", &LOAD),
    ("allocation", &ALLOCATION),
    ("server", &SERVER),
    ("server data", &SERVER_DATA),
    ("optimizer", &OPTIMIZER),
    ("optimizer data", &OPTIMIZER_DATA),
    ("system spec", &SYSTEM_SPEC),
    ("system root", &SYSTEM_ROOT),
    ("solution", &SOLUTION),
];

/// Go's case-insensitive key match: ASCII letters fold, and so do the two non-ASCII runes whose
/// case orbit contains an ASCII letter (U+017F long s ~ `s`, U+212A Kelvin sign ~ `k`).
fn fold_eq(field: &str, key: &str) -> bool {
    let mut key = key.chars().map(|c| match c {
        '\u{17f}' => 's',
        '\u{212a}' => 'k',
        c => c.to_ascii_lowercase(),
    });
    let mut field = field.chars().map(|c| c.to_ascii_lowercase());
    loop {
        match (field.next(), key.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// The name in `known` that `key` most likely misspells, if any is close: compared without case,
/// within a few edits (one per three characters of the shorter name, at least 1, at most 3), or
/// one containing the other (at least 4 characters), fewest edits first, then first in `known`.
///
/// Used for "did you mean" in the messages about unknown fields and labels.
///
/// ```
/// let fields = ["arrivalRate", "throughput", "avgInTokens", "avgOutTokens"];
/// assert_eq!(inferno_api::closest("arivalRate", fields), Some("arrivalRate"));
/// assert_eq!(inferno_api::closest("AVGINTOKEN", fields), Some("avgInTokens"));
/// assert_eq!(inferno_api::closest("color", fields), None);
/// ```
pub fn closest<'a>(key: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let key = key.to_lowercase();
    let key_len = key.chars().count();
    let mut best: Option<(usize, &'a str)> = None;
    for name in known {
        let lower = name.to_lowercase();
        let shorter = key_len.min(lower.chars().count());
        let edits = strsim::damerau_levenshtein(&key, &lower);
        let contained = shorter >= 4 && (key.contains(&lower) || lower.contains(&key));
        let close = edits <= (shorter / 3).clamp(1, 3) || contained;
        if close && best.is_none_or(|(fewest, _)| edits < fewest) {
            best = Some((edits, name));
        }
    }
    best.map(|(_, name)| name)
}

// ---------------------------------------------------------------------------------------------
// The schema walk

/// Where a value sits in the document, for error messages.
enum JsonPath<'a> {
    Root,
    Field(&'a JsonPath<'a>, &'static str),
    Index(&'a JsonPath<'a>, usize),
    Key(&'a JsonPath<'a>, &'a str),
}

impl fmt::Display for JsonPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonPath::Root => Ok(()),
            JsonPath::Field(JsonPath::Root, name) => f.write_str(name),
            JsonPath::Field(parent, name) => write!(f, "{parent}.{name}"),
            JsonPath::Index(parent, i) => write!(f, "{parent}[{i}]"),
            JsonPath::Key(parent, key) => write!(f, "{parent}[{key:?}]"),
        }
    }
}

impl JsonPath<'_> {
    /// The path as owned segments, root first.
    fn segments(&self) -> Vec<Segment> {
        let mut out = match self {
            JsonPath::Root => return Vec::new(),
            JsonPath::Field(parent, _) | JsonPath::Index(parent, _) | JsonPath::Key(parent, _) => {
                parent.segments()
            }
        };
        out.push(match self {
            JsonPath::Root => unreachable!("returned above"),
            JsonPath::Field(_, name) => Segment::Field(name),
            JsonPath::Index(_, i) => Segment::Index(*i),
            JsonPath::Key(_, key) => Segment::Key((*key).to_owned()),
        });
        out
    }
}

/// One step of a stored JSON path.
#[derive(Debug)]
enum Segment {
    Field(&'static str),
    Index(usize),
    Key(String),
}

/// A key that matched no field of its struct, recorded during the walk.
#[derive(Debug)]
struct Unknown {
    /// The path of the object holding the key.
    at: Vec<Segment>,
    key: String,
    /// The closest known field of that object.
    suggestion: Option<&'static str>,
}

impl Unknown {
    /// Where it is, with the entity named from the decoded `root` (as validation names it).
    fn locate(self, root: &Value, file: &str, top: &str) -> Dropped {
        let mut field = String::new();
        for segment in &self.at {
            match segment {
                Segment::Field(name) if field.is_empty() => field.push_str(name),
                Segment::Field(name) => field.push_str(&format!(".{name}")),
                Segment::Index(i) => field.push_str(&format!("[{i}]")),
                Segment::Key(key) => field.push_str(&format!("[{key:?}]")),
            }
        }
        if !field.is_empty() {
            field.push('.');
        }
        field.push_str(&self.key);
        Dropped {
            file: file.to_owned(),
            entity: entity_at(root, &self.at, top),
            field,
            why: Why::Unknown(self.key, self.suggestion),
        }
    }
}

/// The entity holding the object at `at`: the innermost named row (`server "a"`, `servers[2]`
/// when it has no name, `class "P" target "m"`, `optimizer`, `allocation "s"`), else `top`.
fn entity_at(root: &Value, at: &[Segment], top: &str) -> String {
    let mut entity = top.to_owned();
    let mut value = root;
    let mut segments = at.iter().peekable();
    while let Some(segment) = segments.next() {
        let Segment::Field(name) = segment else {
            continue;
        };
        value = &value[*name];
        match segments.peek() {
            Some(Segment::Index(i)) => {
                value = &value[*i];
                let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or("");
                entity = match *name {
                    "accelerators" => validate::entity("accelerator", text("name"), name, *i),
                    "count" => validate::entity("capacity type", text("type"), name, *i),
                    "models" if text("name").is_empty() && text("acc").is_empty() => {
                        format!("models[{i}]")
                    }
                    "models" => format!("model {:?} on {:?}", text("name"), text("acc")),
                    "serviceClasses" => validate::entity("class", text("name"), name, *i),
                    "modelTargets" if text("model").is_empty() => {
                        format!("{entity} modelTargets[{i}]")
                    }
                    "modelTargets" => format!("{entity} target {:?}", text("model")),
                    "servers" => validate::entity("server", text("name"), name, *i),
                    _ => format!("{name}[{i}]"),
                };
                segments.next();
            }
            Some(Segment::Key(key)) => {
                value = &value[key.as_str()];
                entity = format!("allocation {key:?}");
                segments.next();
            }
            _ if *name == "optimizer" => entity = "optimizer".to_owned(),
            _ => {}
        }
    }
    entity
}

/// Seed and visitor of one value of a known [`Kind`]; yields `None` for JSON `null`.
struct Node<'a> {
    kind: Kind,
    path: &'a JsonPath<'a>,
    /// Where unknown keys are recorded.
    unknown: &'a RefCell<Vec<Unknown>>,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Option<Value>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            Kind::Int => "an integer",
            Kind::Float => "a number",
            Kind::Bool => "a boolean",
            Kind::Str => "a string",
            Kind::Struct(_) | Kind::Dict(_) => "an object",
            Kind::List(_) => "an array",
            Kind::Ignored => "any value",
        };
        match self.path {
            JsonPath::Root => write!(f, "{what} at the top level"),
            path => write!(f, "{what} for field `{path}`"),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        match self.kind {
            Kind::Bool => Ok(Some(Value::Bool(v))),
            _ => Err(E::invalid_type(Unexpected::Bool(v), &self)),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        match self.kind {
            Kind::Int => Ok(Some(Value::from(v))),
            Kind::Float => Ok(Some(Value::from(v as f64))),
            _ => Err(E::invalid_type(Unexpected::Signed(v), &self)),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        match self.kind {
            Kind::Int => match i64::try_from(v) {
                Ok(v) => Ok(Some(Value::from(v))),
                Err(_) => Err(E::custom(format_args!(
                    "integer {v} out of range for field `{}`",
                    self.path
                ))),
            },
            Kind::Float => Ok(Some(Value::from(v as f64))),
            _ => Err(E::invalid_type(Unexpected::Unsigned(v), &self)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        match self.kind {
            Kind::Float => Ok(Some(Value::from(v))),
            _ => Err(E::invalid_type(Unexpected::Float(v), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        match self.kind {
            Kind::Str => Ok(Some(Value::String(v.to_owned()))),
            _ => Err(E::invalid_type(Unexpected::Str(v), &self)),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let Kind::List(schema) = self.kind else {
            return Err(de::Error::invalid_type(Unexpected::Seq, &self));
        };
        let mut items = Vec::new();
        loop {
            let path = JsonPath::Index(self.path, items.len());
            let node = Node {
                kind: Kind::Struct(schema),
                path: &path,
                unknown: self.unknown,
            };
            match seq.next_element_seed(node)? {
                // A `null` element decodes as a zero struct.
                Some(item) => items.push(item.unwrap_or_else(|| Value::Object(Map::new()))),
                None => return Ok(Some(Value::Array(items))),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        match self.kind {
            Kind::Struct(schema) => visit_struct(schema, self.path, self.unknown, map),
            Kind::Dict(schema) => {
                let mut out = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    let path = JsonPath::Key(self.path, &key);
                    let node = Node {
                        kind: Kind::Struct(schema),
                        path: &path,
                        unknown: self.unknown,
                    };
                    let value = map.next_value_seed(node)?;
                    out.insert(key, value.unwrap_or_else(|| Value::Object(Map::new())));
                }
                Ok(Some(Value::Object(out)))
            }
            _ => Err(de::Error::invalid_type(Unexpected::Map, &self)),
        }
    }
}

/// Reads one struct: keys are matched to fields exactly, else case-insensitively; an exact
/// spelling wins over other spellings of the same field, otherwise the last occurrence wins.
/// A key that matches no field is skipped, as Go skips it, and recorded in `unknown`.
fn visit_struct<'de, A: MapAccess<'de>>(
    schema: &'static Schema,
    path: &JsonPath<'_>,
    unknown: &RefCell<Vec<Unknown>>,
    mut map: A,
) -> Result<Option<Value>, A::Error> {
    let mut slots: Vec<Option<(Value, bool)>> = vec![None; schema.fields.len()];
    while let Some(key) = map.next_key::<String>()? {
        let exact = schema.fields.iter().position(|f| f.name == key);
        let Some(i) = exact.or_else(|| schema.fields.iter().position(|f| fold_eq(f.name, &key)))
        else {
            map.next_value::<IgnoredAny>()?;
            let suggestion = closest(&key, schema.fields.iter().map(|f| f.name));
            unknown.borrow_mut().push(Unknown {
                at: path.segments(),
                key,
                suggestion,
            });
            continue;
        };
        let field = &schema.fields[i];
        if let Kind::Ignored = field.kind {
            map.next_value::<IgnoredAny>()?;
            continue;
        }
        let field_path = JsonPath::Field(path, field.name);
        let node = Node {
            kind: field.kind,
            path: &field_path,
            unknown,
        };
        // `null` leaves the field as it is (Go semantics); the value is still type-checked.
        let Some(value) = map.next_value_seed(node)? else {
            continue;
        };
        let exact = exact.is_some();
        if !matches!(slots[i], Some((_, true))) || exact {
            slots[i] = Some((value, exact));
        }
    }
    let mut out = Map::new();
    for (field, slot) in schema.fields.iter().zip(slots) {
        if let Some((value, _)) = slot {
            out.insert(field.name.to_owned(), value);
        }
    }
    Ok(Some(Value::Object(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::*;

    fn sample_values() -> Vec<(&'static str, Value)> {
        // Non-empty nested lists and maps so that every nested struct shows its keys.
        let alloc = AllocationData::default();
        let spec = SystemSpec {
            accelerator_data: AcceleratorData {
                accelerators: vec![AcceleratorSpec::default()],
            },
            model_data: ModelData {
                models: vec![ModelAcceleratorPerfData::default()],
            },
            service_class_data: ServiceClassData {
                service_classes: vec![ServiceClassSpec {
                    model_targets: vec![ModelTarget::default()],
                    ..Default::default()
                }],
            },
            server_data: ServerData {
                servers: vec![ServerSpec::default()],
            },
            optimizer_data: OptimizerData::default(),
            capacity_data: CapacityData {
                count: vec![AcceleratorCount::default()],
            },
        };
        let solution = AllocationSolution {
            allocations: [("s".to_owned(), alloc)].into(),
        };
        vec![
            ("system spec", serde_json::to_value(&spec).unwrap()),
            ("solution", serde_json::to_value(&solution).unwrap()),
        ]
    }

    /// The schema tables must name exactly the serde fields of the Rust types.
    fn check_schema(name: &str, schema: &Schema, value: &Value) {
        let Value::Object(obj) = value else {
            panic!("{name}: not an object: {value}");
        };
        let mut expected: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut got: Vec<&str> = schema
            .fields
            .iter()
            .filter(|f| !f.legacy)
            .map(|f| f.name)
            .collect();
        expected.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, expected, "schema {name}");
        for field in schema.fields.iter().filter(|f| !f.legacy) {
            let v = &obj[field.name];
            match field.kind {
                Kind::Struct(s) => check_schema(field.name, s, v),
                Kind::List(s) => check_schema(field.name, s, &v[0]),
                Kind::Dict(s) => check_schema(
                    field.name,
                    s,
                    v.as_object().unwrap().values().next().unwrap(),
                ),
                Kind::Int => assert!(v.is_i64(), "{name}.{}: {v}", field.name),
                Kind::Float => assert!(v.is_f64(), "{name}.{}: {v}", field.name),
                Kind::Bool => assert!(v.is_boolean(), "{name}.{}", field.name),
                Kind::Str => assert!(v.is_string(), "{name}.{}", field.name),
                Kind::Ignored => unreachable!("obsolete fields are legacy"),
            }
        }
    }

    #[test]
    fn schemas_match_serde_types() {
        let values = sample_values();
        check_schema("system spec", &SYSTEM_SPEC, &values[0].1);
        check_schema("solution", &SOLUTION, &values[1].1);
    }

    #[test]
    fn field_names_are_unique_under_case_folding() {
        for (name, schema) in &SCHEMAS {
            for (i, a) in schema.fields.iter().enumerate() {
                for b in &schema.fields[i + 1..] {
                    assert!(!fold_eq(a.name, b.name), "{name}: {} ~ {}", a.name, b.name);
                }
            }
        }
    }

    #[test]
    fn fold_eq_is_go_folding() {
        assert!(fold_eq("milpSolver", "MILPSOLVER"));
        assert!(fold_eq("slo-itl", "SLO-ITL"));
        assert!(fold_eq("slo-itl", "\u{17f}lo-itl"));
        assert!(fold_eq("keepAccelerator", "\u{212a}eepAccelerator"));
        assert!(!fold_eq("milpSolver", "milp_solver"));
        assert!(!fold_eq("name", "names"));
        assert!(!fold_eq("name", "nam"));
    }

    fn optimizer(text: &str) -> OptimizerSpec {
        parse_optimizer(text, "o.json").unwrap().optimizer
    }

    #[test]
    fn keys_match_case_insensitively() {
        assert!(optimizer(r#"{"optimizer":{"milpsolver":true}}"#).milp_solver);
        assert!(optimizer(r#"{"OPTIMIZER":{"MILPSOLVER":true}}"#).milp_solver);
        assert!(optimizer(r#"{"Optimizer":{"MilpSolver":true}}"#).milp_solver);
        let o = optimizer(r#"{"optimizer":{"Solver":"lagrangian","timelimitseconds":2.5}}"#);
        assert_eq!(
            (o.solver.as_str(), o.time_limit_seconds),
            ("lagrangian", 2.5)
        );
        let text =
            r#"{"servers":[{"currentAlloc":{"load":{"AvgInTokens":128,"avgouttokens":7}}}]}"#;
        let load = &parse_servers(text, "s.json").unwrap().servers[0]
            .current_alloc
            .load;
        assert_eq!((load.avg_in_tokens, load.avg_out_tokens), (128, 7));
        let text = r#"{"serviceClasses":[{"NAME":"a","modelTargets":[{"SLO-ITL":3}]}]}"#;
        let classes = parse_service_classes(text, "c.json").unwrap();
        assert_eq!(classes.service_classes[0].name, "a");
        assert_eq!(classes.service_classes[0].model_targets[0].slo_itl, 3.0);
    }

    #[test]
    fn exact_spelling_wins_else_last_occurrence() {
        let spec = optimizer(r#"{"optimizer":{"milpSolver":true,"milpsolver":false}}"#);
        assert!(spec.milp_solver);
        let spec = optimizer(r#"{"optimizer":{"milpsolver":false,"milpSolver":true}}"#);
        assert!(spec.milp_solver);
        let spec = optimizer(r#"{"optimizer":{"MILPSOLVER":true,"milpsolver":false}}"#);
        assert!(!spec.milp_solver);
        let spec = optimizer(r#"{"optimizer":{"milpSolver":false,"milpSolver":true}}"#);
        assert!(spec.milp_solver);
    }

    #[test]
    fn missing_fields_are_zero_and_unknown_fields_ignored() {
        assert_eq!(optimizer("{}"), OptimizerSpec::default());
        assert_eq!(optimizer(r#"{"optimizer":{}}"#), OptimizerSpec::default());
        let text = r#"{"extra":[1,{"x":null}],"models":[{"name":"m","bogus":{"a":[1,2]}}]}"#;
        let models = parse_models(text, "m.json").unwrap();
        let expected = ModelAcceleratorPerfData {
            name: "m".to_owned(),
            ..Default::default()
        };
        assert_eq!(models.models, vec![expected]);
    }

    fn unknown<T: DataFile>(text: &str) -> Vec<(String, String, String)> {
        let parsed = parse_file::<T>(text, "f.json").unwrap();
        parsed
            .unknown
            .into_iter()
            .map(|p| {
                assert_eq!((p.severity, p.file.as_str()), (Severity::Warning, "f.json"));
                (p.entity, p.field, p.message)
            })
            .collect()
    }

    fn row(entity: &str, field: &str, message: &str) -> (String, String, String) {
        (entity.to_owned(), field.to_owned(), message.to_owned())
    }

    #[test]
    fn unknown_fields_name_entity_path_and_closest_field() {
        let text = r#"{"servers":[{"name":"a"},
            {"currentAlloc":{"load":{"arivalRate":60,"avgInTokens":128}},"name":"b"},
            {"maxBatch":8}],"extra":{"x":[1]}}"#;
        let parsed = parse_file::<ServerData>(text, "f.json").unwrap();
        assert_eq!(parsed.value.servers[1].current_alloc.load.arrival_rate, 0.0);
        assert_eq!(
            parsed.value.servers[1].current_alloc.load.avg_in_tokens,
            128
        );
        assert_eq!(
            unknown::<ServerData>(text),
            [
                row(
                    "server \"b\"",
                    "servers[1].currentAlloc.load.arivalRate",
                    "unknown field \"arivalRate\" (ignored); did you mean \"arrivalRate\"?"
                ),
                row(
                    "servers[2]",
                    "servers[2].maxBatch",
                    "unknown field \"maxBatch\" (ignored); did you mean \"maxBatchSize\"?"
                ),
                row("server data", "extra", "unknown field \"extra\" (ignored)"),
            ]
        );
    }

    #[test]
    fn unknown_fields_in_every_kind_of_row() {
        let text = r#"{"accelerators":[{"name":"G2","cots":1,"power":{"idel":1}}]}"#;
        assert_eq!(
            unknown::<AcceleratorData>(text),
            [
                row(
                    "accelerator \"G2\"",
                    "accelerators[0].cots",
                    "unknown field \"cots\" (ignored); did you mean \"cost\"?"
                ),
                row(
                    "accelerator \"G2\"",
                    "accelerators[0].power.idel",
                    "unknown field \"idel\" (ignored); did you mean \"idle\"?"
                ),
            ]
        );
        let text = r#"{"count":[{"type":"A","cnt":1}]}"#;
        assert_eq!(unknown::<CapacityData>(text)[0].0, "capacity type \"A\"");
        let text = r#"{"models":[{"name":"m","acc":"A","perfParms":{"gama":1}},{"x":1}]}"#;
        let rows = unknown::<ModelData>(text);
        assert_eq!(
            (rows[0].0.as_str(), rows[1].0.as_str()),
            ("model \"m\" on \"A\"", "models[1]")
        );
        assert!(rows[0].2.ends_with("did you mean \"gamma\"?"), "{rows:?}");
        let text = r#"{"serviceClasses":[{"name":"P","modelTargets":[{"model":"m","slo_itl":3},{"x":1}]},
            {"name":"Q","model":"m","slo-tft":9}]}"#;
        assert_eq!(
            unknown::<ServiceClassData>(text),
            [
                row(
                    "class \"P\" target \"m\"",
                    "serviceClasses[0].modelTargets[0].slo_itl",
                    "unknown field \"slo_itl\" (ignored); did you mean \"slo-itl\"?"
                ),
                row(
                    "class \"P\" modelTargets[1]",
                    "serviceClasses[0].modelTargets[1].x",
                    "unknown field \"x\" (ignored)"
                ),
                row(
                    "class \"Q\"",
                    "serviceClasses[1].slo-tft",
                    "unknown field \"slo-tft\" (ignored); did you mean \"slo-ttft\"?"
                ),
            ]
        );
        let text = r#"{"optimizer":{"timeLimit":3},"optimiser":{}}"#;
        assert_eq!(
            unknown::<OptimizerData>(text),
            [
                row(
                    "optimizer",
                    "optimizer.timeLimit",
                    "unknown field \"timeLimit\" (ignored); did you mean \"timeLimitSeconds\"?"
                ),
                row(
                    "optimizer data",
                    "optimiser",
                    "unknown field \"optimiser\" (ignored); did you mean \"optimizer\"?"
                ),
            ]
        );
        let text = r#"{"allocations":{"s":{"numReplica":2}}}"#;
        assert_eq!(
            unknown::<AllocationSolution>(text),
            [row(
                "allocation \"s\"",
                "allocations[\"s\"].numReplica",
                "unknown field \"numReplica\" (ignored); did you mean \"numReplicas\"?"
            )]
        );
    }

    #[test]
    fn case_legacy_and_obsolete_keys_are_not_unknown() {
        let text = r#"{"SERVERS":[{"Name":"a","currentAlloc":{"waitAverage":3,"avgConcurrency":2,
            "load":{"ARRIVALRATE":1,"avgLength":5,"arrivalCOV":0,"serviceCOV":{"x":1}}}}]}"#;
        assert_eq!(unknown::<ServerData>(text), []);
        let text =
            r#"{"models":[{"name":"m","alpha":1,"decodeParms":{"alpha":1},"prefillParms":[]}]}"#;
        assert_eq!(unknown::<ModelData>(text), []);
        let text = r#"{"serviceClasses":[{"name":"P","model":"m","slo-ttw":4,"SLO-ITL":3}]}"#;
        assert_eq!(unknown::<ServiceClassData>(text), []);
        // The parse_* functions drop them as before.
        let text = r#"{"optimizer":{"milpSolvr":true}}"#;
        assert_eq!(optimizer(text), OptimizerSpec::default());
        assert_eq!(unknown::<OptimizerData>(text).len(), 1);
        // A `null` value is still a key the data did not mean to have.
        assert_eq!(unknown::<CapacityData>(r#"{"cont":null}"#).len(), 1);
    }

    #[test]
    fn unknown_fields_of_a_system_file() {
        let text = r#"{"system":{"serverData":{"servers":[{"name":"a","clas":"P"}]},
            "capacitydata":{"count":[]},"modeldata":{"foo":1}},"capacityData":{"count":[]},"sistem":1}"#;
        let parsed = parse_file::<SystemSpec>(text, "f.json").unwrap();
        assert_eq!(parsed.value.server_data.servers[0].name, "a");
        assert_eq!(
            unknown::<SystemSpec>(text),
            [
                row("server \"a\"", "system.serverData.servers[0].clas", "unknown field \"clas\" (ignored); did you mean \"class\"?"),
                row("system", "system.modelData.foo", "unknown field \"foo\" (ignored)"),
                row("system", "sistem", "unknown field \"sistem\" (ignored); did you mean \"system\"?"),
                row("system", "capacityData", "\"capacityData\" ignored: the file has a \"system\" key, and only that key is read"),
            ]
        );
        let bare = r#"{"serverData":{"servers":[{"name":"a","clas":"P"}]}}"#;
        assert_eq!(
            unknown::<SystemSpec>(bare)[0].1,
            "serverData.servers[0].clas"
        );
    }

    #[test]
    fn closest_is_a_likely_misspelling() {
        let load = LOAD.fields.iter().map(|f| f.name);
        assert_eq!(closest("arivalRate", load.clone()), Some("arrivalRate"));
        assert_eq!(closest("throughPut", load.clone()), Some("throughput"));
        assert_eq!(closest("avgOutToken", load.clone()), Some("avgOutTokens"));
        assert_eq!(closest("avgTokens", load.clone()), Some("avgInTokens"));
        assert_eq!(closest("rate", load.clone()), Some("arrivalRate"));
        assert_eq!(closest("latency", load.clone()), None);
        assert_eq!(closest("", load), None);
        assert_eq!(closest("nmae", ["name", "model"]), Some("name"));
        assert_eq!(closest("x", ["a", "ab"]), Some("a"));
        assert_eq!(closest("model", ["models", "model"]), Some("model"));
        let labels = ["inferno.server.load.rpm", "inferno.server.min-replicas"];
        assert_eq!(closest("inferno.server.laod.rpm", labels), Some(labels[0]));
        assert_eq!(closest("inferno.server.replicas", labels), None);
        assert_eq!(closest("inferno.server.foo", labels), None);
    }

    #[test]
    fn null_means_zero() {
        assert_eq!(
            parse_models("null", "m.json").unwrap(),
            ModelData::default()
        );
        let text = r#"{"models":[null,{"name":null,"accCount":null,"perfParms":null}]}"#;
        let models = parse_models(text, "m.json").unwrap();
        assert_eq!(models.models, vec![Default::default(), Default::default()]);
        // A later `null` does not erase an earlier value.
        let text = r#"{"models":[{"name":"a","Name":null}]}"#;
        assert_eq!(parse_models(text, "m.json").unwrap().models[0].name, "a");
        let text = r#"{"allocations":{"s":null}}"#;
        let solution = parse_solution(text, "sol.json").unwrap();
        assert_eq!(solution.allocations["s"], AllocationData::default());
    }

    fn json_err<T: fmt::Debug>(r: Result<T>) -> (String, String, usize, usize) {
        match r {
            Err(Error::Json {
                file,
                message,
                line,
                column,
            }) => (file, message, line, column),
            other => panic!("expected a JSON error, got {other:?}"),
        }
    }

    #[test]
    fn integer_fields_reject_non_integral_numbers() {
        for bad in [
            "1.5",
            "1.0",
            "1e2",
            "-0.5",
            "9223372036854775808",
            "\"3\"",
            "true",
        ] {
            let text = format!("{{\"count\":[{{\"type\":\"A\",\"count\":{bad}}}]}}");
            let (file, message, line, _) = json_err(parse_capacity(&text, "cap.json"));
            assert_eq!(file, "cap.json");
            assert_eq!(line, 1);
            assert!(message.contains("count[0].count"), "{bad}: {message}");
        }
        let text = r#"{"count":[{"count":-9223372036854775808}]}"#;
        assert_eq!(parse_capacity(text, "c").unwrap().count[0].count, i64::MIN);
    }

    #[test]
    fn float_fields_accept_integers() {
        let text =
            r#"{"models":[{"perfParms":{"alpha":3,"beta":1e-2,"gamma":18446744073709551615}}]}"#;
        let p = parse_models(text, "m.json").unwrap().models[0].perf_parms;
        assert_eq!(
            (p.alpha, p.beta, p.gamma),
            (3.0, 0.01, 18446744073709551615.0)
        );
    }

    #[test]
    fn type_errors_name_file_position_and_field() {
        let text =
            "{\n  \"servers\": [\n    {\"name\": \"a\"},\n    {\"currentAlloc\": {\"load\": \
                    {\"AvgInTokens\": 12.5}}}\n  ]\n}";
        let (file, message, line, column) = json_err(parse_servers(text, "server-data.json"));
        assert_eq!(file, "server-data.json");
        assert_eq!(line, 4);
        assert!(column > 40, "{column}");
        assert!(
            message.contains("field `servers[1].currentAlloc.load.avgInTokens`"),
            "{message}"
        );
        let (_, message, ..) = json_err(parse_servers(r#"{"servers":{"a":1}}"#, "s"));
        assert!(
            message.contains("expected an array for field `servers`"),
            "{message}"
        );
        let (_, message, ..) = json_err(parse_servers("[]", "s"));
        assert!(
            message.contains("expected an object at the top level"),
            "{message}"
        );
        let (_, message, ..) =
            json_err(parse_solution(r#"{"allocations":{"x":{"cost":"1"}}}"#, "s"));
        assert!(message.contains(r#"allocations["x"].cost"#), "{message}");
    }

    #[test]
    fn syntax_errors_name_position() {
        let (file, message, line, column) = json_err(parse_capacity("{\n  \"count\": [\n", "c"));
        assert_eq!((file.as_str(), line), ("c", 3));
        assert!(message.contains("EOF"), "{message}");
        assert_eq!(column, 0);
        let (_, message, line, _) = json_err(parse_capacity("{} x", "c"));
        assert!(message.contains("trailing"), "{message}");
        assert_eq!(line, 1);
        let (_, _, line, column) = json_err(parse_capacity("", "c"));
        assert_eq!((line, column), (1, 0));
        let err = parse_capacity("{\"count\": 1}", "cap.json").unwrap_err();
        assert!(err.to_string().starts_with("cap.json:1:"), "{err}");
    }

    #[test]
    fn legacy_flat_alpha_beta() {
        let text = r#"{"models":[{"name":"m","acc":"A","alpha":20.5,"Beta":0.41}]}"#;
        let p = parse_models(text, "m.json").unwrap().models[0].perf_parms;
        assert_eq!(
            p,
            PerfParms {
                alpha: 20.5,
                beta: 0.41,
                gamma: 0.0
            }
        );
        // perfParms wins over flat fields.
        let text = r#"{"models":[{"alpha":1,"perfParms":{"alpha":2}}]}"#;
        let p = parse_models(text, "m.json").unwrap().models[0].perf_parms;
        assert_eq!(p.alpha, 2.0);
    }

    #[test]
    fn legacy_avg_length() {
        let text = r#"{"servers":[{"currentAlloc":{"load":{"arrivalRate":60,"avgLength":1024}}},
            {"currentAlloc":{"load":{"avgLength":5,"avgOutTokens":7}}}]}"#;
        let servers = parse_servers(text, "s.json").unwrap().servers;
        assert_eq!(servers[0].current_alloc.load.avg_out_tokens, 1024);
        assert_eq!(servers[1].current_alloc.load.avg_out_tokens, 7);
    }

    #[test]
    fn legacy_flat_service_classes() {
        let text = r#"{"serviceClasses":[
            {"name":"Premium","model":"llama","priority":1,"slo-itl":40,"slo-ttw":500},
            {"name":"Batch","model":"llama","priority":4,"slo-tps":2000},
            {"name":"Premium","model":"granite","priority":1,"slo-itl":30,"slo-ttw":400,"slo-ttft":900}
        ]}"#;
        let classes = parse_service_classes(text, "c.json")
            .unwrap()
            .service_classes;
        let target = |model: &str, itl: f64, ttft: f64, tps: f64| ModelTarget {
            model: model.to_owned(),
            slo_itl: itl,
            slo_ttft: ttft,
            slo_tps: tps,
        };
        let expected = vec![
            ServiceClassSpec {
                name: "Premium".to_owned(),
                priority: 1,
                model_targets: vec![
                    target("llama", 40.0, 500.0, 0.0),
                    target("granite", 30.0, 900.0, 0.0),
                ],
            },
            ServiceClassSpec {
                name: "Batch".to_owned(),
                priority: 4,
                model_targets: vec![target("llama", 0.0, 0.0, 2000.0)],
            },
        ];
        assert_eq!(classes, expected);
        // slo-ttw in a nested target is mapped the same way.
        let text =
            r#"{"serviceClasses":[{"name":"P","modelTargets":[{"model":"m","slo-ttw":7}]}]}"#;
        let classes = parse_service_classes(text, "c.json")
            .unwrap()
            .service_classes;
        assert_eq!(classes[0].model_targets[0].slo_ttft, 7.0);
    }

    #[test]
    fn legacy_priority_conflict_is_a_problem() {
        let text = r#"{"serviceClasses":[{"name":"P","model":"a","priority":1},
            {"name":"P","model":"b","priority":2},{"name":"P","model":"c","priority":1}]}"#;
        let Err(Error::Invalid(problems)) = parse_service_classes(text, "c.json") else {
            panic!("expected a priority conflict");
        };
        assert_eq!(problems.len(), 1);
        let p = &problems[0];
        assert_eq!(
            (p.file.as_str(), p.entity.as_str(), p.field.as_str()),
            ("c.json", "class \"P\"", "priority")
        );
        assert!(p.is_error());
        // The same rows inside a system file.
        let system = format!(r#"{{"system":{{"serviceClassData":{text}}}}}"#);
        assert!(
            matches!(parse_system(&system, "sys.json"), Err(Error::Invalid(p)) if p.len() == 1)
        );
    }

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

    #[test]
    fn invalid_utf8_is_replaced() {
        let dir = std::env::temp_dir().join(format!("inferno-api-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sys.json");
        std::fs::write(
            &path,
            b"{\"capacityData\":{\"count\":[{\"type\":\"A\xff\",\"count\":1}]}}",
        )
        .unwrap();
        let text = read_text(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let spec = parse_system(&text, "sys.json").unwrap();
        assert_eq!(spec.capacity_data.count[0].acc_type, "A\u{fffd}");
    }
}
