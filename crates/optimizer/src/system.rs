//! An indexed, normalised view of a [`SystemSpec`] for the solvers: accelerators, types and
//! capacities by index, perf data by (model, accelerator), targets by (class, model).
//!
//! Normalisation repeats the data-file rules so the engine is safe on unvalidated input (a
//! gRPC request, say): multiplicity 0 counts as 1, accCount <= 0 as 1, priority outside
//! 1..=100 as 100, an empty class as `Free`.

use inferno_api::{ModelTarget, PerfParms, ServerSpec, SystemSpec};
use std::collections::HashMap;

pub use inferno_api::FREE_CLASS;
/// Priority of classes that give none (or an out-of-range one), and of unknown classes.
pub const LOWEST_PRIORITY: i64 = 100;

/// One accelerator kind, indexed.
#[derive(Debug, Clone)]
pub struct Accelerator {
    /// Name, e.g. `4xA100`.
    pub name: String,
    /// Index of its type in [`System::types`].
    pub type_index: usize,
    /// Cards of the type per instance (>= 1).
    pub multiplicity: u64,
    /// Cost per instance, cents/hr.
    pub cost: f64,
}

/// Perf data of one model on one accelerator.
#[derive(Debug, Clone, Copy)]
pub struct Perf {
    /// Instances of the accelerator per replica (>= 1).
    pub acc_count: u64,
    /// Max batch size measured at `at_tokens`.
    pub max_batch_size: i64,
    /// Tokens per request at which `max_batch_size` holds.
    pub at_tokens: i64,
    /// Iteration-time parameters.
    pub parms: PerfParms,
}

/// The solver's view of a system.
#[derive(Debug, Clone)]
pub struct System<'a> {
    /// The data as given.
    pub spec: &'a SystemSpec,
    /// Accelerators in file order.
    pub accelerators: Vec<Accelerator>,
    /// Accelerator types, in order of first appearance (accelerators, then capacity rows).
    pub types: Vec<String>,
    /// Units available per type (0 when the capacity file omits a type).
    pub capacity: Vec<u64>,
    acc_by_name: HashMap<&'a str, usize>,
    /// Perf data by model, then accelerator index.
    perf: HashMap<&'a str, Vec<Option<Perf>>>,
    classes: HashMap<&'a str, (i64, HashMap<&'a str, &'a ModelTarget>)>,
}

impl<'a> System<'a> {
    /// Indexes `spec`. Later duplicates are ignored (validation reports them).
    pub fn new(spec: &'a SystemSpec) -> Self {
        let mut types: Vec<String> = Vec::new();
        let type_index = |t: &str, types: &mut Vec<String>| -> usize {
            match types.iter().position(|x| x == t) {
                Some(i) => i,
                None => {
                    types.push(t.to_string());
                    types.len() - 1
                }
            }
        };
        let mut accelerators = Vec::new();
        let mut acc_by_name = HashMap::new();
        for a in &spec.accelerator_data.accelerators {
            if acc_by_name.contains_key(a.name.as_str()) {
                continue;
            }
            acc_by_name.insert(a.name.as_str(), accelerators.len());
            accelerators.push(Accelerator {
                name: a.name.clone(),
                type_index: type_index(&a.acc_type, &mut types),
                multiplicity: a.multiplicity.max(1) as u64,
                cost: a.cost,
            });
        }
        let mut capacity = vec![0; types.len()];
        for c in &spec.capacity_data.count {
            let i = type_index(&c.acc_type, &mut types);
            if i >= capacity.len() {
                capacity.resize(i + 1, 0);
            }
            capacity[i] = c.count.max(0) as u64;
        }
        let mut perf: HashMap<&'a str, Vec<Option<Perf>>> = HashMap::new();
        for m in &spec.model_data.models {
            // Rows naming an unknown accelerator are ignored (validation reports them).
            let Some(&acc) = acc_by_name.get(m.acc.as_str()) else {
                continue;
            };
            let row = perf
                .entry(m.name.as_str())
                .or_insert_with(|| vec![None; accelerators.len()]);
            row[acc].get_or_insert(Perf {
                acc_count: m.acc_count.max(1) as u64,
                max_batch_size: m.max_batch_size,
                at_tokens: m.at_tokens,
                parms: m.perf_parms,
            });
        }
        let mut classes = HashMap::new();
        for c in &spec.service_class_data.service_classes {
            let priority = if (1..=LOWEST_PRIORITY).contains(&c.priority) {
                c.priority
            } else {
                LOWEST_PRIORITY
            };
            let entry = classes
                .entry(c.name.as_str())
                .or_insert((priority, HashMap::new()));
            for t in &c.model_targets {
                entry.1.entry(t.model.as_str()).or_insert(t);
            }
        }
        Self {
            spec,
            accelerators,
            types,
            capacity,
            acc_by_name,
            perf,
            classes,
        }
    }

    /// Servers in file order.
    pub fn servers(&self) -> &'a [ServerSpec] {
        &self.spec.server_data.servers
    }

    /// Index of the accelerator called `name`.
    pub fn accelerator_index(&self, name: &str) -> Option<usize> {
        self.acc_by_name.get(name).copied()
    }

    /// Perf data of `model` on accelerator `acc`.
    pub fn perf(&self, model: &str, acc: usize) -> Option<&Perf> {
        self.perf.get(model)?.get(acc)?.as_ref()
    }

    /// Whether any accelerator has perf data for `model`.
    pub fn has_model(&self, model: &str) -> bool {
        self.perf
            .get(model)
            .is_some_and(|row| row.iter().any(Option::is_some))
    }

    /// Priority of a class (lowest for unknown classes).
    pub fn priority(&self, class: &str) -> i64 {
        self.classes
            .get(class_or_free(class))
            .map_or(LOWEST_PRIORITY, |c| c.0)
    }

    /// Whether the class exists.
    pub fn has_class(&self, class: &str) -> bool {
        self.classes.contains_key(class_or_free(class))
    }

    /// Targets of `model` in `class`.
    pub fn target(&self, class: &str, model: &str) -> Option<&'a ModelTarget> {
        self.classes
            .get(class_or_free(class))
            .and_then(|c| c.1.get(model).copied())
    }

    /// Units of its type one replica of `model` on `acc` takes.
    pub fn units_per_replica(&self, acc: usize, perf: &Perf) -> u64 {
        perf.acc_count
            .saturating_mul(self.accelerators[acc].multiplicity)
    }
}

/// The class a server belongs to: its own, or `Free` when it names none.
pub fn class_or_free(class: &str) -> &str {
    if class.is_empty() {
        FREE_CLASS
    } else {
        class
    }
}
