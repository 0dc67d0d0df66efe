//! Validation and normalisation of a parsed system: every problem is collected, none stops
//! the others.

use crate::error::{Error, Result};
use crate::limits::{
    self, MAX_BATCH_SIZE, MAX_COST, MAX_LATENCY_MS, MAX_PERF_PARM, MAX_QUEUE_SIZE, MAX_RATE_RPM,
    MAX_REPLICAS, MAX_TIME_LIMIT_SECONDS, MAX_TPS, MAX_UNITS,
};
use crate::load::Loaded;
use crate::types::{AllocationData, SystemSpec, FREE_CLASS};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

/// How bad a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The data cannot be used; loading fails.
    Error,
    /// The data was used as normalised (or is suspicious); loading goes on.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem found in the data: where it is (file, entity, field) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// The file holding the entity (see [`FileNames`]).
    pub file: String,
    /// The entity, e.g. `model "llama_13b" on "G2"`, or `servers[3]` when it has no name.
    pub entity: String,
    /// The field (JSON name, dotted path inside the entity), e.g. `perfParms.alpha`.
    pub field: String,
    /// What is wrong, including the offending value.
    pub message: String,
}

impl Problem {
    /// Whether this problem is of severity [`Severity::Error`].
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// A key of the input that nothing reads, at `field` of `entity` in `file`: a warning
    /// `unknown field "key" (ignored); did you mean "suggestion"?`, or when `strict` an error
    /// (without "ignored"). `suggestion` is the likely intended name (see [`crate::closest`]).
    pub fn unknown_field(
        (file, entity, field): (&str, &str, &str),
        key: &str,
        suggestion: Option<&str>,
        strict: bool,
    ) -> Problem {
        let mut message = format!("unknown field {key:?}");
        if !strict {
            message.push_str(" (ignored)");
        }
        if let Some(s) = suggestion {
            message.push_str(&format!("; did you mean {s:?}?"));
        }
        Problem {
            severity: if strict {
                Severity::Error
            } else {
                Severity::Warning
            },
            file: file.to_owned(),
            entity: entity.to_owned(),
            field: field.to_owned(),
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        write!(f, "{}: {}: ", self.file, self.entity)?;
        if !self.field.is_empty() {
            write!(f, "field {}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// The file names used to label problems, one per data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileNames {
    /// Label of the accelerator data (`accelerator-data.json`).
    pub accelerators: String,
    /// Label of the capacity data (`capacity-data.json`).
    pub capacity: String,
    /// Label of the model data (`model-data.json`).
    pub models: String,
    /// Label of the optimizer data (`optimizer-data.json`).
    pub optimizer: String,
    /// Label of the server data (`server-data.json`).
    pub servers: String,
    /// Label of the service-class data (`serviceclass-data.json`).
    pub service_classes: String,
}

impl Default for FileNames {
    /// The bare file names of the data files.
    fn default() -> Self {
        let s = str::to_owned;
        FileNames {
            accelerators: s("accelerator-data.json"),
            capacity: s("capacity-data.json"),
            models: s("model-data.json"),
            optimizer: s("optimizer-data.json"),
            servers: s("server-data.json"),
            service_classes: s("serviceclass-data.json"),
        }
    }
}

impl FileNames {
    /// The data files of directory `dir` (its path joined with each bare name).
    pub fn in_dir(dir: &Path) -> Self {
        let d = |name: &str| dir.join(name).display().to_string();
        let base = FileNames::default();
        FileNames {
            accelerators: d(&base.accelerators),
            capacity: d(&base.capacity),
            models: d(&base.models),
            optimizer: d(&base.optimizer),
            servers: d(&base.servers),
            service_classes: d(&base.service_classes),
        }
    }

    /// One label for everything, e.g. a combined `system-data.json`.
    pub fn single(file: &str) -> Self {
        let s = || file.to_owned();
        FileNames {
            accelerators: s(),
            capacity: s(),
            models: s(),
            optimizer: s(),
            servers: s(),
            service_classes: s(),
        }
    }
}

/// Saturation policies of the reference (`""` means `None`).
pub const SATURATION_POLICIES: [&str; 4] = [
    "None",
    "PriorityExhaustive",
    "PriorityRoundRobin",
    "RoundRobin",
];

/// Batch-size rules (`""` means `scaled`).
pub const BATCH_SIZINGS: [&str; 2] = ["scaled", "search"];
/// Values of `solver` in the optimizer data (case-insensitive; empty = greedy).
pub const SOLVERS: [&str; 3] = ["greedy", "milp", "lagrangian"];

/// Validates `spec`, normalises it in place and returns every problem found, in file order.
///
/// Normalisations (each reported as a warning, except `accCount` 0): accelerator multiplicity
/// 0 becomes 1; model `accCount` <= 0 becomes 1; class priority outside 1..=100 becomes 100.
pub fn validate(spec: &mut SystemSpec, files: &FileNames) -> Vec<Problem> {
    run(spec, files).problems
}

fn run(spec: &mut SystemSpec, files: &FileNames) -> Checker {
    let mut c = Checker::default();
    accelerators(&mut c, spec, &files.accelerators);
    capacity(&mut c, spec, &files.capacity);
    models(&mut c, spec, &files.models);
    classes(&mut c, spec, &files.service_classes);
    servers(&mut c, spec, &files.servers);
    optimizer(&mut c, spec, &files.optimizer);
    c
}

/// A server that [`check_each_server`] set aside because its own data is invalid.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// Its index in the servers as given.
    pub index: usize,
    /// Its name (empty if it has none).
    pub name: String,
    /// The problems of its own data (at least one error), in file order.
    pub problems: Vec<Problem>,
}

impl Rejected {
    /// Its errors as one line: `field F: what; field G: what`.
    pub fn reason(&self) -> String {
        let lines: Vec<String> = self
            .problems
            .iter()
            .filter(|p| p.is_error())
            .map(|p| {
                if p.field.is_empty() {
                    p.message.clone()
                } else {
                    format!("field {}: {}", p.field, p.message)
                }
            })
            .collect();
        lines.join("; ")
    }
}

/// The result of [`check_each_server`]: the usable system and the servers set aside.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checked {
    /// The system without the rejected servers, normalised, with the remaining warnings.
    pub loaded: Loaded,
    /// Servers whose own data is invalid, in the order given.
    pub rejected: Vec<Rejected>,
}

/// Validates and normalises `spec` as [`check`] does, except that a server whose own data is
/// invalid (its name, model, class, limits, current allocation or load) does not fail the
/// whole: it is removed from the system and returned in [`Checked::rejected`] with its
/// problems, so that one bad server does not stop the decisions for the others. Servers that
/// share a name are all rejected, so that no copy takes over another's decisions.
///
/// Errors in the shared data (accelerators, capacity, models, classes, optimizer flags) still
/// fail with [`Error::Invalid`], listing every problem.
pub fn check_each_server(mut spec: SystemSpec, files: &FileNames) -> Result<Checked> {
    let mut c = run(&mut spec, files);
    let shared_error = c
        .problems
        .iter()
        .zip(&c.servers)
        .any(|(p, server)| p.is_error() && server.is_none());
    if shared_error {
        return Err(Error::Invalid(c.problems));
    }
    for (first, later) in std::mem::take(&mut c.duplicates) {
        let s = &spec.server_data.servers[first];
        let e = entity("server", &s.name, "servers", first);
        c.server = Some(first);
        let message = format!("duplicate, also defined at servers[{later}]");
        c.error((&files.servers, &e), "name", message);
    }
    let mut bad = vec![false; spec.server_data.servers.len()];
    for (p, server) in c.problems.iter().zip(&c.servers) {
        if let (true, Some(i)) = (p.is_error(), server) {
            bad[*i] = true;
        }
    }
    let mut own: Vec<Vec<Problem>> = vec![Vec::new(); bad.len()];
    let mut warnings = Vec::new();
    for (p, server) in c.problems.into_iter().zip(c.servers) {
        match server {
            Some(i) if bad[i] => own[i].push(p),
            _ => warnings.push(p),
        }
    }
    let mut rejected = Vec::new();
    for (index, problems) in own.into_iter().enumerate() {
        if bad[index] {
            let name = spec.server_data.servers[index].name.clone();
            rejected.push(Rejected {
                index,
                name,
                problems,
            });
        }
    }
    // In place: a system of 200,000 servers is not copied to drop a few.
    if !rejected.is_empty() {
        let mut index = 0;
        spec.server_data.servers.retain(|_| {
            index += 1;
            !bad[index - 1]
        });
    }
    Ok(Checked {
        loaded: Loaded { spec, warnings },
        rejected,
    })
}

/// Validates and normalises `spec`: [`Error::Invalid`] with every problem if any is an error,
/// else the system and its warnings.
pub fn check(spec: SystemSpec, files: &FileNames) -> Result<Loaded> {
    finish(spec, files, Vec::new())
}

/// [`check`] with problems found earlier (while parsing legacy shapes) put first.
pub(crate) fn finish(
    mut spec: SystemSpec,
    files: &FileNames,
    mut problems: Vec<Problem>,
) -> Result<Loaded> {
    problems.extend(validate(&mut spec, files));
    if problems.iter().any(Problem::is_error) {
        return Err(Error::Invalid(problems));
    }
    Ok(Loaded {
        spec,
        warnings: problems,
    })
}

/// Where a problem is: (file, entity).
type At<'a> = (&'a str, &'a str);

/// Largest token count of the integer token fields (`atTokens`, `avgInTokens`, `avgOutTokens`).
const MAX_TOKEN_COUNT: i64 = limits::MAX_TOKENS as i64;

#[derive(Default)]
struct Checker {
    problems: Vec<Problem>,
    /// Per problem, the index of the server whose own data it is about (None: shared data).
    servers: Vec<Option<usize>>,
    /// The server being checked, if any: problems pushed now are about its own data.
    server: Option<usize>,
    /// Servers sharing a name: (first index, later index).
    duplicates: Vec<(usize, usize)>,
}

impl Checker {
    fn push(&mut self, severity: Severity, (file, entity): At<'_>, field: &str, message: String) {
        self.problems.push(Problem {
            severity,
            file: file.to_owned(),
            entity: entity.to_owned(),
            field: field.to_owned(),
            message,
        });
        self.servers.push(self.server);
    }

    fn error(&mut self, at: At<'_>, field: &str, message: String) {
        self.push(Severity::Error, at, field, message);
    }

    fn warn(&mut self, at: At<'_>, field: &str, message: String) {
        self.push(Severity::Warning, at, field, message);
    }

    /// A number that must be finite and within `[0, max]` (`inferno_api::limits`).
    fn number(&mut self, severity: Severity, at: At<'_>, field: &str, v: f64, max: f64) {
        if let Some(message) = limits::out_of_range(v, max) {
            self.push(severity, at, field, message);
        }
    }

    /// An integer (count, size, tokens) that must be within `[0, max]`.
    fn count(&mut self, severity: Severity, at: At<'_>, field: &str, v: i64, max: i64) {
        if let Some(message) = limits::count_out_of_range(v, max) {
            self.push(severity, at, field, message);
        }
    }

    /// A name that must be non-empty and whose `key` must be new in `seen` (key -> index).
    fn name<K: std::hash::Hash + Eq>(
        &mut self,
        at: At<'_>,
        (field, value): (&str, &str),
        key: K,
        (list, index): (&str, usize),
        seen: &mut HashMap<K, usize>,
    ) {
        if value.is_empty() {
            self.error(at, field, "must not be empty".to_owned());
        } else if let Some(first) = seen.get(&key) {
            let message = format!("duplicate, first defined at {list}[{first}]");
            self.error(at, field, message);
        } else {
            seen.insert(key, index);
        }
    }
}

/// `kind "name"`, or `list[index]` when the name is empty.
pub(crate) fn entity(kind: &str, name: &str, list: &str, index: usize) -> String {
    if name.is_empty() {
        format!("{list}[{index}]")
    } else {
        format!("{kind} {name:?}")
    }
}

fn accelerators(c: &mut Checker, spec: &mut SystemSpec, file: &str) {
    let mut seen = HashMap::new();
    for (i, a) in spec.accelerator_data.accelerators.iter_mut().enumerate() {
        let e = entity("accelerator", &a.name, "accelerators", i);
        let at = (file, e.as_str());
        let key = a.name.clone();
        c.name(at, ("name", &a.name), key, ("accelerators", i), &mut seen);
        if a.acc_type.is_empty() {
            c.error(at, "type", "must not be empty".to_owned());
        }
        match a.multiplicity {
            0 => {
                c.warn(at, "multiplicity", "0 (or missing) is read as 1".to_owned());
                a.multiplicity = 1;
            }
            m if m < 0 => c.error(at, "multiplicity", format!("must be >= 1, got {m}")),
            m => c.count(Severity::Error, at, "multiplicity", m, MAX_UNITS),
        }
        c.number(Severity::Error, at, "cost", a.cost, MAX_COST);
        // Informational fields (unused by the optimizer): warnings only, and no upper bound.
        let info = |c: &mut Checker, field: &str, v: i64| {
            if v < 0 {
                c.warn(at, field, format!("must be >= 0, got {v}"));
            }
        };
        info(c, "memSize", a.mem_size);
        info(c, "memBW", a.mem_bw);
        info(c, "power.idle", a.power.idle);
        info(c, "power.full", a.power.full);
        info(c, "power.midPower", a.power.mid_power);
        let u = a.power.mid_util;
        if !(0.0..=1.0).contains(&u) {
            c.warn(
                at,
                "power.midUtil",
                format!("must be within 0..=1, got {u}"),
            );
        }
    }
}

fn capacity(c: &mut Checker, spec: &SystemSpec, file: &str) {
    let mut seen = HashMap::new();
    for (i, row) in spec.capacity_data.count.iter().enumerate() {
        let e = entity("capacity type", &row.acc_type, "count", i);
        let at = (file, e.as_str());
        let key = row.acc_type.clone();
        c.name(at, ("type", &row.acc_type), key, ("count", i), &mut seen);
        c.count(Severity::Error, at, "count", row.count, MAX_UNITS);
    }
}

fn models(c: &mut Checker, spec: &mut SystemSpec, file: &str) {
    let accelerators: HashSet<&str> = spec
        .accelerator_data
        .accelerators
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    let mut seen = HashMap::new();
    for (i, m) in spec.model_data.models.iter_mut().enumerate() {
        let e = if m.name.is_empty() && m.acc.is_empty() {
            format!("models[{i}]")
        } else {
            format!("model {:?} on {:?}", m.name, m.acc)
        };
        let at = (file, e.as_str());
        if m.name.is_empty() {
            c.error(at, "name", "must not be empty".to_owned());
        }
        if m.acc.is_empty() {
            c.error(at, "acc", "must not be empty".to_owned());
        } else if !accelerators.contains(m.acc.as_str()) {
            c.error(at, "acc", format!("unknown accelerator {:?}", m.acc));
        }
        if !m.name.is_empty() && !m.acc.is_empty() {
            let key = (m.name.clone(), m.acc.clone());
            c.name(at, ("name", &m.name), key, ("models", i), &mut seen);
        }
        if m.acc_count < 0 {
            c.warn(at, "accCount", format!("{} is read as 1", m.acc_count));
        }
        if m.acc_count <= 0 {
            m.acc_count = 1;
        }
        c.count(Severity::Error, at, "accCount", m.acc_count, MAX_UNITS);
        let sev = Severity::Error;
        c.count(sev, at, "maxBatchSize", m.max_batch_size, MAX_BATCH_SIZE);
        c.count(sev, at, "atTokens", m.at_tokens, MAX_TOKEN_COUNT);
        let p = m.perf_parms;
        c.number(sev, at, "perfParms.alpha", p.alpha, MAX_PERF_PARM);
        c.number(sev, at, "perfParms.beta", p.beta, MAX_PERF_PARM);
        c.number(sev, at, "perfParms.gamma", p.gamma, MAX_PERF_PARM);
        if p.alpha == 0.0 && p.beta == 0.0 && p.gamma == 0.0 {
            let message = "alpha, beta and gamma are all 0 (or missing): the optimizer skips \
                           this (model, accelerator) pair"
                .to_owned();
            c.warn(at, "perfParms", message);
        }
    }
}

fn classes(c: &mut Checker, spec: &mut SystemSpec, file: &str) {
    let models: HashSet<&str> = spec
        .model_data
        .models
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    let mut seen = HashMap::new();
    for (i, class) in spec
        .service_class_data
        .service_classes
        .iter_mut()
        .enumerate()
    {
        let e = entity("class", &class.name, "serviceClasses", i);
        let at = (file, e.as_str());
        let key = class.name.clone();
        c.name(
            at,
            ("name", &class.name),
            key,
            ("serviceClasses", i),
            &mut seen,
        );
        if !(1..=100).contains(&class.priority) {
            let message = format!("{} is outside 1..=100, read as 100", class.priority);
            c.warn(at, "priority", message);
            class.priority = 100;
        }
        let mut targets = HashMap::new();
        for (j, t) in class.model_targets.iter().enumerate() {
            let te = if t.model.is_empty() {
                format!("{e} modelTargets[{j}]")
            } else {
                format!("{e} target {:?}", t.model)
            };
            let at = (file, te.as_str());
            let key = t.model.clone();
            c.name(
                at,
                ("model", &t.model),
                key,
                ("modelTargets", j),
                &mut targets,
            );
            if !t.model.is_empty() && !models.contains(t.model.as_str()) {
                let message = format!("unknown model {:?} (no row in the model data)", t.model);
                c.error(at, "model", message);
            }
            c.number(Severity::Error, at, "slo-itl", t.slo_itl, MAX_LATENCY_MS);
            c.number(Severity::Error, at, "slo-ttft", t.slo_ttft, MAX_LATENCY_MS);
            c.number(Severity::Error, at, "slo-tps", t.slo_tps, MAX_TPS);
        }
    }
}

fn servers(c: &mut Checker, spec: &SystemSpec, file: &str) {
    let models: HashSet<&str> = spec
        .model_data
        .models
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    let mut seen = HashMap::new();
    for (i, s) in spec.server_data.servers.iter().enumerate() {
        c.server = Some(i);
        let e = entity("server", &s.name, "servers", i);
        let at = (file, e.as_str());
        if let Some(&first) = seen.get(&s.name) {
            c.duplicates.push((first, i));
        }
        c.name(
            at,
            ("name", &s.name),
            s.name.clone(),
            ("servers", i),
            &mut seen,
        );
        let model_known = models.contains(s.model.as_str());
        if s.model.is_empty() {
            c.error(at, "model", "must not be empty".to_owned());
        } else if !model_known {
            c.error(at, "model", format!("unknown model {:?}", s.model));
        }
        match spec.service_class(s.class_name()) {
            None if s.class.is_empty() => {
                let message = format!(
                    "empty (read as {FREE_CLASS:?}) but no class {FREE_CLASS:?} is defined: the \
                     server cannot be placed"
                );
                c.warn(at, "class", message);
            }
            None => c.error(at, "class", format!("unknown class {:?}", s.class)),
            Some(class) if model_known && class.target(&s.model).is_none() => {
                let message = format!(
                    "class {:?} has no target for model {:?}: the server cannot be placed",
                    class.name, s.model
                );
                c.warn(at, "class", message);
            }
            Some(_) => {}
        }
        let sev = Severity::Error;
        c.count(sev, at, "minNumReplicas", s.min_num_replicas, MAX_REPLICAS);
        c.count(sev, at, "maxBatchSize", s.max_batch_size, MAX_BATCH_SIZE);
        c.count(sev, at, "maxQueueSize", s.max_queue_size, MAX_QUEUE_SIZE);
        current_allocation(c, at, &s.current_alloc);
        let acc = &s.current_alloc.accelerator;
        if s.keep_accelerator && !acc.is_empty() && spec.accelerator(acc).is_none() {
            let message = format!(
                "unknown accelerator {acc:?} with keepAccelerator set: the server cannot be placed"
            );
            c.warn(at, "currentAlloc.accelerator", message);
        }
    }
    c.server = None;
}

/// The current allocation (the desired one is an output and is not checked).
fn current_allocation(c: &mut Checker, at: At<'_>, a: &AllocationData) {
    let sev = Severity::Error;
    c.count(
        sev,
        at,
        "currentAlloc.numReplicas",
        a.num_replicas,
        MAX_REPLICAS,
    );
    c.count(
        sev,
        at,
        "currentAlloc.maxBatch",
        a.max_batch,
        MAX_BATCH_SIZE,
    );
    c.number(sev, at, "currentAlloc.cost", a.cost, MAX_COST);
    let latency = MAX_LATENCY_MS;
    c.number(sev, at, "currentAlloc.itlAverage", a.itl_average, latency);
    c.number(sev, at, "currentAlloc.ttftAverage", a.ttft_average, latency);
    let load = &a.load;
    let rate = MAX_RATE_RPM;
    c.number(
        sev,
        at,
        "currentAlloc.load.arrivalRate",
        load.arrival_rate,
        rate,
    );
    c.number(
        sev,
        at,
        "currentAlloc.load.throughput",
        load.throughput,
        rate,
    );
    let tokens = MAX_TOKEN_COUNT;
    c.count(
        sev,
        at,
        "currentAlloc.load.avgInTokens",
        load.avg_in_tokens,
        tokens,
    );
    c.count(
        sev,
        at,
        "currentAlloc.load.avgOutTokens",
        load.avg_out_tokens,
        tokens,
    );
}

fn optimizer(c: &mut Checker, spec: &SystemSpec, file: &str) {
    let o = &spec.optimizer_data.optimizer;
    let at = (file, "optimizer");
    let policy = o.saturation_policy.as_str();
    if !policy.is_empty() && !SATURATION_POLICIES.contains(&policy) {
        let message = format!(
            "unknown policy {policy:?}; expected one of {} (or empty)",
            SATURATION_POLICIES.join(", ")
        );
        c.error(at, "saturationPolicy", message);
    }
    let sizing = o.batch_sizing.as_str();
    if !sizing.is_empty() && !BATCH_SIZINGS.contains(&sizing) {
        let message = format!("unknown rule {sizing:?}; expected scaled or search (or empty)");
        c.error(at, "batchSizing", message);
    }
    let solver = o.solver.to_ascii_lowercase();
    if !solver.is_empty() && !SOLVERS.contains(&solver.as_str()) {
        let message = format!(
            "unknown solver {:?}; expected one of {} (or empty)",
            o.solver,
            SOLVERS.join(", ")
        );
        c.error(at, "solver", message);
    }
    if o.heterogeneous && solver == "lagrangian" {
        let message = "heterogeneous allocations are solved by the MILP; the Lagrangian solver \
                       handles one accelerator kind per server"
            .to_string();
        c.error(at, "heterogeneous", message);
    }
    if o.milp_solver && !solver.is_empty() && solver != "milp" {
        let message = format!("milpSolver is true but solver is {:?}", o.solver);
        c.error(at, "solver", message);
    }
    if let Some(why) = limits::out_of_range(o.time_limit_seconds, MAX_TIME_LIMIT_SECONDS) {
        c.error(
            at,
            "timeLimitSeconds",
            format!("{why} seconds (0 = the default)"),
        );
    }
}

#[cfg(test)]
mod fixtures {
    //! A small valid system and builders for its rows.

    use crate::types::*;

    pub(super) fn accelerator(name: &str, acc_type: &str, multiplicity: i64) -> AcceleratorSpec {
        AcceleratorSpec {
            name: name.to_owned(),
            acc_type: acc_type.to_owned(),
            multiplicity,
            cost: 10.0 * multiplicity as f64,
            ..Default::default()
        }
    }

    pub(super) fn model(name: &str, acc: &str) -> ModelAcceleratorPerfData {
        ModelAcceleratorPerfData {
            name: name.to_owned(),
            acc: acc.to_owned(),
            acc_count: 1,
            max_batch_size: 64,
            at_tokens: 512,
            perf_parms: PerfParms {
                alpha: 20.0,
                beta: 0.04,
                gamma: 0.001,
            },
        }
    }

    pub(super) fn class(name: &str, priority: i64, models: &[&str]) -> ServiceClassSpec {
        let target = |m: &&str| ModelTarget {
            model: (*m).to_owned(),
            slo_itl: 80.0,
            slo_ttft: 1000.0,
            slo_tps: 0.0,
        };
        ServiceClassSpec {
            name: name.to_owned(),
            priority,
            model_targets: models.iter().map(target).collect(),
        }
    }

    pub(super) fn server(name: &str, class: &str, model: &str) -> ServerSpec {
        let mut s = ServerSpec {
            name: name.to_owned(),
            class: class.to_owned(),
            model: model.to_owned(),
            ..Default::default()
        };
        s.current_alloc.load = ServerLoadSpec {
            arrival_rate: 60.0,
            throughput: 0.0,
            avg_in_tokens: 128,
            avg_out_tokens: 1024,
        };
        s
    }

    /// Two accelerators of two types, one model on both, classes Premium and Free, 2 servers.
    pub(super) fn system() -> SystemSpec {
        let count = |t: &str, n| AcceleratorCount {
            acc_type: t.to_owned(),
            count: n,
        };
        SystemSpec {
            accelerator_data: AcceleratorData {
                accelerators: vec![accelerator("A100", "A100", 1), accelerator("4xG2", "G2", 4)],
            },
            model_data: ModelData {
                models: vec![model("llama", "A100"), model("llama", "4xG2")],
            },
            service_class_data: ServiceClassData {
                service_classes: vec![
                    class("Premium", 1, &["llama"]),
                    class("Free", 3, &["llama"]),
                ],
            },
            server_data: ServerData {
                servers: vec![server("p", "Premium", "llama"), server("f", "", "llama")],
            },
            optimizer_data: OptimizerData::default(),
            capacity_data: CapacityData {
                count: vec![count("A100", 8), count("G2", 16)],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use crate::types::*;

    fn problems(spec: &mut SystemSpec) -> Vec<Problem> {
        validate(spec, &FileNames::default())
    }

    /// The single problem of `spec` after `edit`.
    fn only(edit: impl FnOnce(&mut SystemSpec)) -> Problem {
        let mut spec = system();
        edit(&mut spec);
        let mut all = problems(&mut spec);
        assert_eq!(all.len(), 1, "{all:#?}");
        all.remove(0)
    }

    #[track_caller]
    fn assert_at(p: &Problem, severity: Severity, file: &str, entity: &str, field: &str) {
        let got = (
            p.severity,
            p.file.as_str(),
            p.entity.as_str(),
            p.field.as_str(),
        );
        assert_eq!(got, (severity, file, entity, field), "{p}");
    }

    const ACC: &str = "accelerator-data.json";
    const CAP: &str = "capacity-data.json";
    const MOD: &str = "model-data.json";
    const CLS: &str = "serviceclass-data.json";
    const SRV: &str = "server-data.json";
    const OPT: &str = "optimizer-data.json";
    use Severity::{Error as E, Warning as W};

    #[test]
    fn fixture_is_clean() {
        assert_eq!(problems(&mut system()), vec![]);
    }

    #[test]
    fn display_names_file_entity_and_field() {
        let p = only(|s| s.model_data.models[0].perf_parms.alpha = -1.0);
        let expected = r#"model-data.json: model "llama" on "A100": field perfParms.alpha: must be a finite number in [0, 1000000], got -1"#;
        assert_eq!(p.to_string(), expected);
        let p = only(|s| s.service_class_data.service_classes[0].priority = 0);
        assert!(p
            .to_string()
            .starts_with("warning: serviceclass-data.json: class \"Premium\": "));
    }

    #[test]
    fn accelerator_numbers() {
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let p = only(|s| s.accelerator_data.accelerators[0].cost = bad);
            assert_at(&p, E, ACC, "accelerator \"A100\"", "cost");
        }
        let p = only(|s| s.accelerator_data.accelerators[1].multiplicity = -4);
        assert_at(&p, E, ACC, "accelerator \"4xG2\"", "multiplicity");
    }

    #[test]
    fn multiplicity_zero_is_one_with_a_warning() {
        let mut spec = system();
        spec.accelerator_data.accelerators[0].multiplicity = 0;
        let all = problems(&mut spec);
        assert_eq!(all.len(), 1);
        assert_at(&all[0], W, ACC, "accelerator \"A100\"", "multiplicity");
        assert_eq!(spec.accelerator_data.accelerators[0].multiplicity, 1);
    }

    #[test]
    fn informational_accelerator_fields_warn() {
        let p = only(|s| s.accelerator_data.accelerators[0].mem_size = -1);
        assert_at(&p, W, ACC, "accelerator \"A100\"", "memSize");
        let p = only(|s| s.accelerator_data.accelerators[0].power.idle = -1);
        assert_at(&p, W, ACC, "accelerator \"A100\"", "power.idle");
        let p = only(|s| s.accelerator_data.accelerators[0].power.mid_util = 1.5);
        assert_at(&p, W, ACC, "accelerator \"A100\"", "power.midUtil");
    }

    #[test]
    fn accelerator_names() {
        let p = only(|s| {
            s.accelerator_data
                .accelerators
                .push(accelerator("", "A100", 1))
        });
        assert_at(&p, E, ACC, "accelerators[2]", "name");
        let p = only(|s| {
            s.accelerator_data
                .accelerators
                .push(accelerator("A100", "A100", 1))
        });
        assert_at(&p, E, ACC, "accelerator \"A100\"", "name");
        assert!(p.message.contains("accelerators[0]"), "{p}");
        let p = only(|s| s.accelerator_data.accelerators[0].acc_type.clear());
        assert_at(&p, E, ACC, "accelerator \"A100\"", "type");
    }

    #[test]
    fn capacity_rows() {
        let p = only(|s| s.capacity_data.count[1].count = -1);
        assert_at(&p, E, CAP, "capacity type \"G2\"", "count");
        let p = only(|s| s.capacity_data.count[1].acc_type.clear());
        assert_at(&p, E, CAP, "count[1]", "type");
        let p = only(|s| s.capacity_data.count[1].acc_type = "A100".to_owned());
        assert_at(&p, E, CAP, "capacity type \"A100\"", "type");
    }

    #[test]
    fn model_references_and_names() {
        let p = only(|s| s.model_data.models.push(model("llama", "H100")));
        assert_at(&p, E, MOD, "model \"llama\" on \"H100\"", "acc");
        let p = only(|s| s.model_data.models.push(model("llama", "A100")));
        assert_at(&p, E, MOD, "model \"llama\" on \"A100\"", "name");
        assert!(p.message.contains("models[0]"), "{p}");
        let p = only(|s| s.model_data.models.push(model("", "A100")));
        assert_at(&p, E, MOD, "model \"\" on \"A100\"", "name");
        let p = only(|s| s.model_data.models.push(model("other", "")));
        assert_at(&p, E, MOD, "model \"other\" on \"\"", "acc");
    }

    #[test]
    fn model_numbers() {
        let m = "model \"llama\" on \"4xG2\"";
        let p = only(|s| s.model_data.models[1].max_batch_size = -1);
        assert_at(&p, E, MOD, m, "maxBatchSize");
        let p = only(|s| s.model_data.models[1].at_tokens = -1);
        assert_at(&p, E, MOD, m, "atTokens");
        let p = only(|s| s.model_data.models[1].perf_parms.beta = f64::NAN);
        assert_at(&p, E, MOD, m, "perfParms.beta");
        let p = only(|s| s.model_data.models[1].perf_parms.gamma = f64::NEG_INFINITY);
        assert_at(&p, E, MOD, m, "perfParms.gamma");
        let p = only(|s| s.model_data.models[1].perf_parms = PerfParms::default());
        assert_at(&p, W, MOD, m, "perfParms");
    }

    #[test]
    fn acc_count_is_normalised() {
        let mut spec = system();
        spec.model_data.models[0].acc_count = 0;
        spec.model_data.models[1].acc_count = -3;
        let all = problems(&mut spec);
        assert_eq!(all.len(), 1, "{all:#?}");
        assert_at(&all[0], W, MOD, "model \"llama\" on \"4xG2\"", "accCount");
        assert_eq!(spec.model_data.models[0].acc_count, 1);
        assert_eq!(spec.model_data.models[1].acc_count, 1);
    }

    #[test]
    fn class_names_and_priority() {
        let mut spec = system();
        spec.service_class_data.service_classes[0].name.clear();
        spec.server_data.servers[0].class.clear();
        let all = problems(&mut spec);
        assert_eq!(all.len(), 1, "{all:#?}");
        assert_at(&all[0], E, CLS, "serviceClasses[0]", "name");
        let p = only(|s| {
            s.service_class_data
                .service_classes
                .push(class("Free", 3, &[]))
        });
        assert_at(&p, E, CLS, "class \"Free\"", "name");
        for bad in [0, -1, 101] {
            let mut spec = system();
            spec.service_class_data.service_classes[1].priority = bad;
            let all = problems(&mut spec);
            assert_eq!(all.len(), 1, "{all:#?}");
            assert_at(&all[0], W, CLS, "class \"Free\"", "priority");
            assert_eq!(spec.service_class_data.service_classes[1].priority, 100);
        }
    }

    #[test]
    fn class_targets() {
        let t = |m: &str| format!("class \"Premium\" target \"{m}\"");
        let p = only(|s| {
            s.service_class_data.service_classes[0] = class("Premium", 1, &["llama", "gpt"])
        });
        assert_at(&p, E, CLS, &t("gpt"), "model");
        assert!(p.message.contains("unknown model"), "{p}");
        let p = only(|s| {
            s.service_class_data.service_classes[0] = class("Premium", 1, &["llama", "llama"])
        });
        assert_at(&p, E, CLS, &t("llama"), "model");
        assert!(p.message.contains("modelTargets[0]"), "{p}");
        let p =
            only(|s| s.service_class_data.service_classes[0] = class("Premium", 1, &["llama", ""]));
        assert_at(&p, E, CLS, "class \"Premium\" modelTargets[1]", "model");
        fn target(s: &mut SystemSpec) -> &mut ModelTarget {
            &mut s.service_class_data.service_classes[0].model_targets[0]
        }
        let p = only(|s| target(s).slo_itl = -1.0);
        assert_at(&p, E, CLS, &t("llama"), "slo-itl");
        let p = only(|s| target(s).slo_ttft = f64::NAN);
        assert_at(&p, E, CLS, &t("llama"), "slo-ttft");
        let p = only(|s| target(s).slo_tps = -0.5);
        assert_at(&p, E, CLS, &t("llama"), "slo-tps");
    }

    #[test]
    fn server_names_and_references() {
        let p = only(|s| s.server_data.servers.push(server("", "Premium", "llama")));
        assert_at(&p, E, SRV, "servers[2]", "name");
        let p = only(|s| s.server_data.servers.push(server("p", "Premium", "llama")));
        assert_at(&p, E, SRV, "server \"p\"", "name");
        let p = only(|s| s.server_data.servers[0].model = "gpt".to_owned());
        assert_at(&p, E, SRV, "server \"p\"", "model");
        let p = only(|s| s.server_data.servers[0].model.clear());
        assert_at(&p, E, SRV, "server \"p\"", "model");
        let p = only(|s| s.server_data.servers[0].class = "Gold".to_owned());
        assert_at(&p, E, SRV, "server \"p\"", "class");
    }

    #[test]
    fn server_placement_warnings() {
        // Empty class means Free, which must exist for the server to be placed.
        let p = only(|s| s.service_class_data.service_classes[1].name = "Bronze".to_owned());
        assert_at(&p, W, SRV, "server \"f\"", "class");
        let p = only(|s| {
            s.service_class_data.service_classes[0]
                .model_targets
                .clear()
        });
        assert_at(&p, W, SRV, "server \"p\"", "class");
        let p = only(|s| {
            let server = &mut s.server_data.servers[0];
            server.keep_accelerator = true;
            server.current_alloc.accelerator = "H100".to_owned();
        });
        assert_at(&p, W, SRV, "server \"p\"", "currentAlloc.accelerator");
        // Without keepAccelerator an unknown current accelerator is just replaced.
        let mut spec = system();
        spec.server_data.servers[0].current_alloc.accelerator = "H100".to_owned();
        assert_eq!(problems(&mut spec), vec![]);
    }

    #[test]
    fn server_numbers() {
        type Edit = fn(&mut ServerSpec);
        let cases: [(&str, Edit); 12] = [
            ("minNumReplicas", |s| s.min_num_replicas = -1),
            ("maxBatchSize", |s| s.max_batch_size = -1),
            ("maxQueueSize", |s| s.max_queue_size = -1),
            ("currentAlloc.numReplicas", |s| {
                s.current_alloc.num_replicas = -1
            }),
            ("currentAlloc.maxBatch", |s| s.current_alloc.max_batch = -1),
            ("currentAlloc.cost", |s| s.current_alloc.cost = -1.0),
            ("currentAlloc.itlAverage", |s| {
                s.current_alloc.itl_average = f64::NAN
            }),
            ("currentAlloc.ttftAverage", |s| {
                s.current_alloc.ttft_average = -1.0
            }),
            ("currentAlloc.load.arrivalRate", |s| {
                s.current_alloc.load.arrival_rate = -60.0
            }),
            ("currentAlloc.load.throughput", |s| {
                s.current_alloc.load.throughput = f64::INFINITY
            }),
            ("currentAlloc.load.avgInTokens", |s| {
                s.current_alloc.load.avg_in_tokens = -1
            }),
            ("currentAlloc.load.avgOutTokens", |s| {
                s.current_alloc.load.avg_out_tokens = -1
            }),
        ];
        for (field, edit) in cases {
            let p = only(|s| edit(&mut s.server_data.servers[1]));
            assert_at(&p, E, SRV, "server \"f\"", field);
        }
        // The desired allocation is an output and is not checked.
        let mut spec = system();
        spec.server_data.servers[0].desired_alloc.cost = -1.0;
        assert_eq!(problems(&mut spec), vec![]);
    }

    /// Issue 16: values far beyond any real server (they made one sizing take minutes or
    /// allocate gigabytes) are errors naming the file, the entity, the field and the bound.
    #[test]
    fn upper_bounds_name_the_field_and_the_limit() {
        type Edit = fn(&mut SystemSpec);
        let m = "model \"llama\" on \"4xG2\"";
        let f = "server \"f\"";
        let cases: [(&str, &str, &str, &str, Edit); 17] = [
            (
                ACC,
                "accelerator \"A100\"",
                "cost",
                "[0, 1000000000], got 1e308",
                |s| s.accelerator_data.accelerators[0].cost = 1e308,
            ),
            (
                ACC,
                "accelerator \"4xG2\"",
                "multiplicity",
                "[0, 1000000], got 4294967296",
                |s| s.accelerator_data.accelerators[1].multiplicity = 1 << 32,
            ),
            (
                CAP,
                "capacity type \"G2\"",
                "count",
                "[0, 1000000], got 9223372036854775807",
                |s| s.capacity_data.count[1].count = i64::MAX,
            ),
            (
                MOD,
                m,
                "maxBatchSize",
                "an integer in [0, 4096], got 100000000",
                |s| s.model_data.models[1].max_batch_size = 100_000_000,
            ),
            (
                MOD,
                m,
                "atTokens",
                "an integer in [0, 1048576], got 100000000",
                |s| s.model_data.models[1].at_tokens = 100_000_000,
            ),
            (MOD, m, "accCount", "[0, 1000000], got 2000000", |s| {
                s.model_data.models[1].acc_count = 2_000_000
            }),
            (
                MOD,
                m,
                "perfParms.gamma",
                "[0, 1000000], got 10000000",
                |s| s.model_data.models[1].perf_parms.gamma = 1e7,
            ),
            (
                CLS,
                "class \"Premium\" target \"llama\"",
                "slo-ttft",
                "[0, 3600000], got 1e300",
                |s| s.service_class_data.service_classes[0].model_targets[0].slo_ttft = 1e300,
            ),
            (
                CLS,
                "class \"Premium\" target \"llama\"",
                "slo-tps",
                "[0, 1000000000], got 10000000000",
                |s| s.service_class_data.service_classes[0].model_targets[0].slo_tps = 1e10,
            ),
            (
                SRV,
                f,
                "maxBatchSize",
                "an integer in [0, 4096], got 4294967296",
                |s| s.server_data.servers[1].max_batch_size = 1 << 32,
            ),
            (SRV, f, "maxQueueSize", "[0, 16384], got 16385", |s| {
                s.server_data.servers[1].max_queue_size = 16_385
            }),
            (SRV, f, "minNumReplicas", "[0, 10000], got 10001", |s| {
                s.server_data.servers[1].min_num_replicas = 10_001
            }),
            (
                SRV,
                f,
                "currentAlloc.numReplicas",
                "[0, 10000], got 2147483647",
                |s| s.server_data.servers[1].current_alloc.num_replicas = 2_147_483_647,
            ),
            (
                SRV,
                f,
                "currentAlloc.load.arrivalRate",
                "[0, 10000000], got 1e308",
                |s| s.server_data.servers[1].current_alloc.load.arrival_rate = 1e308,
            ),
            (
                SRV,
                f,
                "currentAlloc.load.avgInTokens",
                "[0, 1048576], got 9223372036854775807",
                |s| s.server_data.servers[1].current_alloc.load.avg_in_tokens = i64::MAX,
            ),
            (
                SRV,
                f,
                "currentAlloc.ttftAverage",
                "[0, 3600000], got inf",
                |s| s.server_data.servers[1].current_alloc.ttft_average = f64::INFINITY,
            ),
            (
                OPT,
                "optimizer",
                "timeLimitSeconds",
                "[0, 3600], got 1e300 seconds",
                |s| s.optimizer_data.optimizer.time_limit_seconds = 1e300,
            ),
        ];
        for (file, entity, field, message, edit) in cases {
            let p = only(edit);
            assert_at(&p, E, file, entity, field);
            assert!(p.message.contains(message), "{p}");
        }
        // The largest valid values are valid.
        let mut spec = system();
        let server = &mut spec.server_data.servers[1];
        server.max_batch_size = 4096;
        server.max_queue_size = 16_384;
        server.current_alloc.load.avg_in_tokens = 1 << 20;
        server.current_alloc.load.arrival_rate = 1e7;
        spec.optimizer_data.optimizer.time_limit_seconds = 3600.0;
        assert_eq!(problems(&mut spec), vec![]);
    }

    /// Issue 16: one server's bad data is set aside with its problems; the others stay.
    #[test]
    fn check_each_server_sets_bad_servers_aside() {
        let mut spec = system();
        let mut copy = server("p", "Premium", "llama");
        copy.current_alloc.load.arrival_rate = 1.0;
        spec.server_data.servers.extend([
            server("bad-load", "Premium", "llama"),
            server("no-model", "Premium", "gpt"),
            server("no-class", "Gold", "llama"),
            copy,
        ]);
        spec.server_data.servers[2].current_alloc.load.arrival_rate = f64::INFINITY;
        spec.server_data.servers[2].max_batch_size = 1 << 32;
        let checked = check_each_server(spec, &FileNames::single("req")).unwrap();
        let kept: Vec<&str> = checked
            .loaded
            .spec
            .server_data
            .servers
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(kept, ["f"]);
        let rejected: Vec<(usize, &str)> = checked
            .rejected
            .iter()
            .map(|r| (r.index, r.name.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [
                (0, "p"),
                (2, "bad-load"),
                (3, "no-model"),
                (4, "no-class"),
                (5, "p")
            ]
        );
        let reason = checked.rejected[1].reason();
        assert!(
            reason.contains("field maxBatchSize: must be an integer in [0, 4096], got 4294967296")
                && reason.contains("field currentAlloc.load.arrivalRate: must be a finite number"),
            "{reason}"
        );
        assert!(checked.rejected[0]
            .reason()
            .contains("also defined at servers[5]"));
        assert!(checked.rejected[4]
            .reason()
            .contains("first defined at servers[0]"));
        assert!(checked.rejected[2]
            .reason()
            .contains("unknown model \"gpt\""));

        // Shared data still fails the whole, with every problem.
        let mut spec = system();
        spec.model_data.models[0].perf_parms.alpha = -1.0;
        spec.server_data.servers[0]
            .current_alloc
            .load
            .avg_out_tokens = -1;
        let Err(Error::Invalid(all)) = check_each_server(spec, &FileNames::default()) else {
            panic!("shared error accepted");
        };
        assert_eq!(all.len(), 2, "{all:#?}");
    }

    #[test]
    fn optimizer_strings() {
        for good in [
            "",
            "None",
            "PriorityExhaustive",
            "PriorityRoundRobin",
            "RoundRobin",
        ] {
            let mut spec = system();
            spec.optimizer_data.optimizer.saturation_policy = good.to_owned();
            assert_eq!(problems(&mut spec), vec![], "{good}");
        }
        for good in ["", "scaled", "search"] {
            let mut spec = system();
            spec.optimizer_data.optimizer.batch_sizing = good.to_owned();
            assert_eq!(problems(&mut spec), vec![], "{good}");
        }
        let p = only(|s| s.optimizer_data.optimizer.saturation_policy = "roundrobin".to_owned());
        assert_at(&p, E, OPT, "optimizer", "saturationPolicy");
        let p = only(|s| s.optimizer_data.optimizer.batch_sizing = "Search".to_owned());
        assert_at(&p, E, OPT, "optimizer", "batchSizing");
    }

    #[test]
    fn solver_fields() {
        for good in ["", "greedy", "MILP", "Lagrangian"] {
            let mut spec = system();
            spec.optimizer_data.optimizer.solver = good.to_owned();
            spec.optimizer_data.optimizer.time_limit_seconds = 2.5;
            assert_eq!(problems(&mut spec), vec![], "{good}");
        }
        let mut spec = system();
        spec.optimizer_data.optimizer.heterogeneous = true;
        spec.optimizer_data.optimizer.milp_solver = true;
        assert_eq!(problems(&mut spec), vec![]);
        let p = only(|s| s.optimizer_data.optimizer.solver = "simplex".to_owned());
        assert_at(&p, E, OPT, "optimizer", "solver");
        let p = only(|s| {
            s.optimizer_data.optimizer.solver = "lagrangian".to_owned();
            s.optimizer_data.optimizer.heterogeneous = true;
        });
        assert_at(&p, E, OPT, "optimizer", "heterogeneous");
        let p = only(|s| {
            s.optimizer_data.optimizer.solver = "greedy".to_owned();
            s.optimizer_data.optimizer.milp_solver = true;
        });
        assert_at(&p, E, OPT, "optimizer", "solver");
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let p = only(|s| s.optimizer_data.optimizer.time_limit_seconds = bad);
            assert_at(&p, E, OPT, "optimizer", "timeLimitSeconds");
        }
    }

    #[test]
    fn every_problem_at_once() {
        let mut spec = system();
        spec.model_data.models[0].perf_parms.alpha = -1.0;
        spec.model_data.models[0].at_tokens = -1;
        spec.model_data.models[1].acc = "H100".to_owned();
        spec.server_data.servers[0].class = "Gold".to_owned();
        spec.optimizer_data.optimizer.saturation_policy = "x".to_owned();
        let all = problems(&mut spec);
        let at: Vec<_> = all
            .iter()
            .map(|p| (p.file.as_str(), p.field.as_str()))
            .collect();
        let expected = [
            (MOD, "atTokens"),
            (MOD, "perfParms.alpha"),
            (MOD, "acc"),
            (SRV, "class"),
            (OPT, "saturationPolicy"),
        ];
        assert_eq!(at, expected);
    }

    #[test]
    fn check_splits_errors_and_warnings() {
        let mut spec = system();
        spec.accelerator_data.accelerators[0].multiplicity = 0;
        let loaded = check(spec.clone(), &FileNames::default()).unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert_eq!(loaded.spec.accelerator_data.accelerators[0].multiplicity, 1);
        spec.capacity_data.count[0].count = -1;
        spec.capacity_data.count[1].count = -1;
        let err = check(spec, &FileNames::single("sys.json")).unwrap_err();
        let Error::Invalid(all) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|p| p.file == "sys.json"));
        let text = err.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], "invalid data: 2 error(s), 1 warning(s)");
        assert_eq!(lines[1], all[0].to_string());
    }

    #[test]
    fn file_names() {
        let files = FileNames::in_dir(Path::new("data"));
        assert_eq!(
            files.models,
            Path::new("data")
                .join("model-data.json")
                .display()
                .to_string()
        );
        assert_eq!(
            FileNames::default().service_classes,
            "serviceclass-data.json"
        );
    }
}
