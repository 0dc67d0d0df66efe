//! The schema of the data files: every field of every struct with its canonical spelling and
//! JSON type, plus the legacy and obsolete fields that are known but not read. The walk matches
//! keys and checks types against these tables; the tests here keep them equal to the serde
//! types of [`crate::types`]. Separate because it is data, not logic.

/// The JSON type of a field.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
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
pub(super) struct Schema {
    pub(super) fields: &'static [Field],
}

#[derive(Debug)]
pub(super) struct Field {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    /// Read only to be rewritten by the legacy conversions, or (kind [`Kind::Ignored`]) not
    /// read at all; not a field of the Rust type.
    #[cfg_attr(not(test), allow(dead_code))] // read by the schema tests
    pub(super) legacy: bool,
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
pub(super) static ACCELERATOR_DATA: Schema = Schema {
    fields: &[f("accelerators", Kind::List(&ACCELERATOR))],
};
static COUNT: Schema = Schema {
    fields: &[f("type", Str), f("count", Int)],
};
pub(super) static CAPACITY_DATA: Schema = Schema {
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
pub(super) static MODEL_DATA: Schema = Schema {
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
pub(super) static SERVICE_CLASS_DATA: Schema = Schema {
    fields: &[f("serviceClasses", Kind::List(&SERVICE_CLASS))],
};
pub(super) static LOAD: Schema = Schema {
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
pub(super) static SERVER_DATA: Schema = Schema {
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
        f("startupSeconds", Float),
        f("paybackSeconds", Float),
        f("improveIterations", Int),
        f("iterationLimit", Int),
    ],
};
pub(super) static OPTIMIZER_DATA: Schema = Schema {
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
pub(super) static SYSTEM_ROOT: Schema = Schema {
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
pub(super) static SOLUTION: Schema = Schema {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::walk::fold_eq;
    use crate::types::*;
    use serde_json::Value;

    fn sample_values() -> Vec<(&'static str, Value)> {
        // Non-empty nested lists and maps so that every nested struct shows its keys, and the
        // optional fields set, which are not written when absent.
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
            optimizer_data: OptimizerData {
                optimizer: OptimizerSpec {
                    improve_iterations: Some(0),
                    iteration_limit: Some(1),
                    ..Default::default()
                },
            },
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
}
