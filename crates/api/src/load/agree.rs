//! Tests: the fast path and the walk agree. Whatever the fast path reads, the walk reads to the
//! same value (to the bit: compared as serialised JSON too) with nothing dropped and no legacy
//! problem; and every text that needs the walk (other spellings, `null`s, unknown, obsolete and
//! legacy keys, arrays for structs, keys beside `system`, repeated keys, wrong types) is refused
//! by the fast path, and the public parse reports exactly what the walk reports.

use super::parse::{parse_file, DataFile, Parsed};
use super::read::{FileKind, Read};
use crate::types::*;
use crate::validate::fixtures;
use proptest::prelude::*;
use serde::Serialize;
use std::fmt::Debug;
use std::path::Path;

const FILE: &str = "f.json";

/// Whether the fast path reads `text` as `T`; when it does, the walk must read the same.
fn agree<T: FileKind + Serialize + PartialEq + Debug>(text: &str) -> bool {
    let Some(fast) = T::fast(text) else {
        return false;
    };
    let walked = T::walk(text, FILE)
        .unwrap_or_else(|e| panic!("the walk refuses what the fast path read: {e}\n{text}"));
    assert!(walked.dropped.is_empty(), "{:?}\n{text}", walked.dropped);
    assert!(walked.legacy.is_empty(), "{:?}\n{text}", walked.legacy);
    let json = |v: &T| serde_json::to_string(v).unwrap();
    // As JSON too, which tells -0.0 from 0.0.
    assert_eq!(json(&fast), json(&walked.value), "{text}");
    assert_eq!(fast, walked.value, "{text}");
    true
}

/// [`agree`] for every kind of file; how many kinds the fast path read `text` as.
fn agree_all(text: &str) -> usize {
    [
        agree::<AcceleratorData>(text),
        agree::<CapacityData>(text),
        agree::<ModelData>(text),
        agree::<OptimizerData>(text),
        agree::<ServerData>(text),
        agree::<ServiceClassData>(text),
        agree::<SystemSpec>(text),
        agree::<AllocationSolution>(text),
    ]
    .into_iter()
    .filter(|fast| *fast)
    .count()
}

/// `text` must take the walk: the fast path refuses it, and the public parse gives what the
/// walk gives (the value and every warning, or the same error, position included).
fn walks<T: FileKind + DataFile + PartialEq + Debug>(text: &str) -> Result<Parsed<T>, String> {
    assert!(T::fast(text).is_none(), "the fast path read {text}");
    let public = parse_file::<T>(text, FILE);
    match (public, T::walk(text, FILE).and_then(Read::parsed)) {
        (Ok(public), Ok(walked)) => {
            assert_eq!(public, walked, "{text}");
            Ok(public)
        }
        (Err(public), Err(walked)) => {
            assert_eq!(public.to_string(), walked.to_string(), "{text}");
            Err(public.to_string())
        }
        (public, walked) => panic!("{text}: public {public:?}, walk {:?}", walked.is_ok()),
    }
}

/// The fields of the warnings of `parsed` (their JSON paths).
fn warned<T>(parsed: &Result<Parsed<T>, String>) -> Vec<&str> {
    match parsed {
        Ok(parsed) => parsed.unknown.iter().map(|p| p.field.as_str()).collect(),
        Err(e) => panic!("{e}"),
    }
}

fn value<T>(parsed: Result<Parsed<T>, String>) -> T {
    parsed.unwrap_or_else(|e| panic!("{e}")).value
}

fn sample_dir(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../samples")
        .join(name)
}

/// The kind of a sample file by its name: does the fast path read it, and agree if so.
fn agree_file(name: &str, text: &str) -> bool {
    match name {
        "accelerator-data.json" => agree::<AcceleratorData>(text),
        "capacity-data.json" => agree::<CapacityData>(text),
        "model-data.json" => agree::<ModelData>(text),
        "optimizer-data.json" => agree::<OptimizerData>(text),
        "server-data.json" => agree::<ServerData>(text),
        "serviceclass-data.json" => agree::<ServiceClassData>(text),
        _ => unreachable!("{name}"),
    }
}

/// Every canonical rendering of a system: wrapped and bare, compact and pretty, and each part
/// as its own file. The fast path must read them all, to the walk's value.
fn canonical_forms_agree(spec: &SystemSpec) {
    let wrapped = SystemData {
        system: spec.clone(),
    };
    for text in [
        serde_json::to_string(&wrapped).unwrap(),
        serde_json::to_string_pretty(&wrapped).unwrap(),
        serde_json::to_string(spec).unwrap(),
        serde_json::to_string_pretty(spec).unwrap(),
    ] {
        assert!(agree::<SystemSpec>(&text), "{text}");
        assert_eq!(&SystemSpec::fast(&text).unwrap(), spec);
    }
    assert!(agree::<AcceleratorData>(&pretty(&spec.accelerator_data)));
    assert!(agree::<CapacityData>(&pretty(&spec.capacity_data)));
    assert!(agree::<ModelData>(&pretty(&spec.model_data)));
    assert!(agree::<OptimizerData>(&pretty(&spec.optimizer_data)));
    assert!(agree::<ServerData>(&pretty(&spec.server_data)));
    assert!(agree::<ServiceClassData>(&pretty(&spec.service_class_data)));
}

fn pretty<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap()
}

#[test]
fn samples_agree() {
    let mut fast = Vec::new();
    for dir in ["small", "large"] {
        for name in [
            "accelerator-data.json",
            "capacity-data.json",
            "model-data.json",
        ] {
            let text = std::fs::read_to_string(sample_dir(dir).join(name)).unwrap();
            assert!(agree_file(name, &text), "{dir}/{name} is canonical");
        }
        // Spelt otherwise in the samples: `milpsolver`, `AvgInTokens`; the walk reads them.
        for name in [
            "optimizer-data.json",
            "server-data.json",
            "serviceclass-data.json",
        ] {
            let text = std::fs::read_to_string(sample_dir(dir).join(name)).unwrap();
            fast.push((dir, name, agree_file(name, &text)));
        }
        let spec = crate::load_dir(&sample_dir(dir)).unwrap().spec;
        canonical_forms_agree(&spec);
    }
    assert!(fast
        .iter()
        .any(|(_, name, fast)| *name == "serviceclass-data.json" && *fast));
    assert!(fast
        .iter()
        .any(|(_, name, fast)| *name == "server-data.json" && !*fast));
    // What the walk reads from the samples' other spellings, the fast path reads from the
    // canonical spelling.
    let text = std::fs::read_to_string(sample_dir("small").join("server-data.json")).unwrap();
    let walked = value(walks::<ServerData>(&text));
    assert_eq!(walked.servers[0].current_alloc.load.avg_in_tokens, 128);
    let canonical = serde_json::to_string(&walked).unwrap();
    assert_eq!(ServerData::fast(&canonical), Some(walked));
}

#[test]
fn fixtures_agree() {
    let mut spec = fixtures::system();
    canonical_forms_agree(&spec);
    // Large, and with every field set.
    spec.optimizer_data.optimizer = OptimizerSpec {
        unlimited: true,
        heterogeneous: true,
        milp_solver: true,
        solver: "milp".to_owned(),
        time_limit_seconds: 2.5,
        use_cplex: true,
        delayed_best_effort: true,
        saturation_policy: "RoundRobin".to_owned(),
        batch_sizing: "fit".to_owned(),
        startup_seconds: 30.0,
        payback_seconds: 600.0,
        improve_iterations: Some(0),
        iteration_limit: Some(500),
    };
    spec.accelerator_data.accelerators[0].power = PowerSpec {
        idle: 1,
        full: 2,
        mid_power: 3,
        mid_util: 0.6,
    };
    spec.accelerator_data.accelerators[0].mem_bw = 2000;
    spec.service_class_data.service_classes[0].model_targets[0].slo_tps = 1e-3;
    let template = spec.server_data.servers[0].clone();
    spec.server_data.servers = (0..3000)
        .map(|i| {
            let mut s = template.clone();
            s.name = format!("server-{i}");
            s.keep_accelerator = i % 2 == 0;
            s.min_num_replicas = i % 3;
            s.max_batch_size = i;
            s.max_queue_size = -i;
            s.current_alloc.load.arrival_rate = i as f64 / 7.0;
            s.current_alloc.load.throughput = 1.0 / (i as f64 + 0.3);
            s.desired_alloc.accelerator = "A100".to_owned();
            s.desired_alloc.num_replicas = i;
            s.desired_alloc.max_batch = 2 * i;
            s.desired_alloc.cost = i as f64 * 0.1;
            s.desired_alloc.itl_average = 1e-300 * i as f64;
            s.desired_alloc.ttft_average = f64::MAX / (i as f64 + 1.0);
            s
        })
        .collect();
    canonical_forms_agree(&spec);
    let solution = AllocationSolution {
        allocations: spec
            .server_data
            .servers
            .iter()
            .map(|s| (s.name.clone(), s.desired_alloc.clone()))
            .collect(),
    };
    assert!(agree::<AllocationSolution>(
        &serde_json::to_string(&solution).unwrap()
    ));
}

#[test]
fn leaves_agree_to_the_bit() {
    for text in [
        // Integers and extremes in float fields, the walk's `as f64` and serde's.
        r#"{"models":[{"perfParms":{"alpha":3,"beta":-7,"gamma":18446744073709551615}}]}"#,
        r#"{"models":[{"perfParms":{"alpha":-0.0,"beta":5e-324,"gamma":1.7976931348623157e308}}]}"#,
        r#"{"models":[{"perfParms":{"alpha":0.1,"beta":2.2250738585072014e-308,"gamma":1E2}}]}"#,
        r#"{"models":[{"perfParms":{"alpha":9007199254740993,"beta":123456789012345678901234567890}}]}"#,
        r#"{"models":[{"accCount":-9223372036854775808,"maxBatchSize":9223372036854775807}]}"#,
        // Strings with escapes; a key escaped into its canonical spelling is that spelling.
        r#"{"models":[{"name":"\u00e9\n\"\\\/\ud83d\ude00","acc":""}]}"#,
        r#"{"models":[{"n\u0061me":"m"}]}"#,
        // Whitespace everywhere, empty objects and arrays.
        " \n\t{ \"models\" : [ { } , {\r\n} ] } \n",
        "{}",
        r#"{"models":[]}"#,
        // An allocation named twice: the last one, on both paths.
        r#"{"allocations":{"s":{"numReplicas":1},"t":{},"s":{"cost":2}}}"#,
        r#"{"system":{}}"#,
        r#"{"capacityData":{"count":[{"type":"A","count":2}]}}"#,
    ] {
        assert!(agree_all(text) > 0, "{text}");
    }
}

#[test]
fn optional_fields_agree() {
    // Given, 0 included, on the fast path, alone, in a system file and bare.
    for (text, improve, limit) in [
        (r#"{"optimizer":{}}"#, None, None),
        (r#"{"optimizer":{"improveIterations":0}}"#, Some(0), None),
        (
            r#"{"optimizer":{"solver":"lagrangian","iterationLimit":50,"improveIterations":7}}"#,
            Some(7),
            Some(50),
        ),
        // Out of range: read alike on both paths, refused by the validation.
        (
            r#"{"optimizer":{"improveIterations":-1,"iterationLimit":0}}"#,
            Some(-1),
            Some(0),
        ),
    ] {
        assert!(agree::<OptimizerData>(text), "{text}");
        let o = OptimizerData::fast(text).unwrap().optimizer;
        assert_eq!((o.improve_iterations, o.iteration_limit), (improve, limit));
        for system in [
            format!(r#"{{"system":{{"optimizerData":{text}}}}}"#),
            format!(r#"{{"optimizerData":{text}}}"#),
        ] {
            assert!(agree::<SystemSpec>(&system), "{system}");
            let o = SystemSpec::fast(&system).unwrap().optimizer_data.optimizer;
            assert_eq!((o.improve_iterations, o.iteration_limit), (improve, limit));
        }
    }
    // Absent ones are not written, so a default file stays what it was.
    let text = serde_json::to_string(&OptimizerData::default()).unwrap();
    assert!(!text.contains("improveIterations") && !text.contains("iterationLimit"));
    // `null` is absent (Go's nil pointer), without a warning; another spelling is read.
    let text = r#"{"optimizer":{"improveIterations":null,"iterationLimit":null}}"#;
    let parsed = walks::<OptimizerData>(text);
    assert_eq!(warned(&parsed), Vec::<&str>::new());
    assert_eq!(value(parsed), OptimizerData::default());
    let text = r#"{"optimizer":{"ImproveIterations":3,"iterationlimit":9}}"#;
    let o = value(walks::<OptimizerData>(text)).optimizer;
    assert_eq!(
        (o.improve_iterations, o.iteration_limit),
        (Some(3), Some(9))
    );
    // Not integers: errors naming the field.
    for field in ["improveIterations", "iterationLimit"] {
        for bad in ["1.5", "1e3", "\"3\"", "true", "9223372036854775808"] {
            let text = format!(r#"{{"optimizer":{{"{field}":{bad}}}}}"#);
            let error = walks::<OptimizerData>(&text).unwrap_err();
            assert!(
                error.contains(&format!("optimizer.{field}")),
                "{bad}: {error}"
            );
        }
    }
}

#[test]
fn other_spellings_take_the_walk() {
    let spec = value(walks::<OptimizerData>(
        r#"{"optimizer":{"milpsolver":true}}"#,
    ));
    assert!(spec.optimizer.milp_solver);
    let spec = value(walks::<OptimizerData>(r#"{"OPTIMIZER":{"SOLVER":"milp"}}"#));
    assert_eq!(spec.optimizer.solver, "milp");
    let text = r#"{"System":{"serverData":{"servers":[{"Name":"a","currentAlloc":{"load":{"AvgInTokens":1}}}]}}}"#;
    let spec = value(walks::<SystemSpec>(text));
    assert_eq!(spec.server_data.servers[0].name, "a");
    assert_eq!(
        spec.server_data.servers[0].current_alloc.load.avg_in_tokens,
        1
    );
    // Go's two non-ASCII folds: long s, Kelvin sign.
    let text = "{\"serviceClasses\":[{\"name\":\"P\",\"modelTargets\":[{\"\u{17f}lo-itl\":3}]}]}";
    let classes = value(walks::<ServiceClassData>(text));
    assert_eq!(classes.service_classes[0].model_targets[0].slo_itl, 3.0);
    let text = "{\"servers\":[{\"\u{212a}eepAccelerator\":true}]}";
    assert!(value(walks::<ServerData>(text)).servers[0].keep_accelerator);
}

#[test]
fn nulls_take_the_walk() {
    assert_eq!(value(walks::<ModelData>("null")), ModelData::default());
    let text = r#"{"models":[null,{"name":null,"accCount":null,"perfParms":null}]}"#;
    let models = value(walks::<ModelData>(text)).models;
    assert_eq!(models, vec![Default::default(), Default::default()]);
    let text = r#"{"servers":[{"name":"a","class":null,"currentAlloc":{"load":null}}]}"#;
    assert_eq!(value(walks::<ServerData>(text)).servers[0].name, "a");
    let text = r#"{"allocations":{"s":null}}"#;
    let allocations = value(walks::<AllocationSolution>(text)).allocations;
    assert_eq!(allocations["s"], AllocationData::default());
    // `system: null` is no `system` key: the bare fields are read, and nothing is reported.
    let text = r#"{"system":null,"capacityData":{"count":[{"type":"A","count":2}]}}"#;
    let parsed = walks::<SystemSpec>(text);
    assert_eq!(warned(&parsed), Vec::<&str>::new());
    assert_eq!(value(parsed).capacity_of("A"), 2);
}

#[test]
fn unknown_and_obsolete_keys_take_the_walk() {
    let parsed = walks::<OptimizerData>(r#"{"optimizer":{"milpSolvr":true}}"#);
    assert_eq!(warned(&parsed), ["optimizer.milpSolvr"]);
    let text = r#"{"system":{"serverData":{"servers":[{"name":"a","clas":"P"}]}},"sistem":1}"#;
    let parsed = walks::<SystemSpec>(text);
    assert_eq!(
        warned(&parsed),
        ["system.serverData.servers[0].clas", "sistem"]
    );
    assert_eq!(value(parsed).server_data.servers[0].class, "");
    // A `null` value is still a key the data did not mean to have.
    assert_eq!(warned(&walks::<CapacityData>(r#"{"cont":null}"#)), ["cont"]);
    let parsed = walks::<AllocationSolution>(r#"{"allocations":{"s":{"numReplica":2}}}"#);
    assert_eq!(warned(&parsed), [r#"allocations["s"].numReplica"#]);
    // Obsolete fields: known, so not reported, and not read either.
    let text = r#"{"servers":[{"currentAlloc":{"waitAverage":3,"load":{"arrivalCOV":0}}}]}"#;
    assert_eq!(warned(&walks::<ServerData>(text)), Vec::<&str>::new());
    let text = r#"{"models":[{"name":"m","decodeParms":{"alpha":1}}]}"#;
    assert_eq!(warned(&walks::<ModelData>(text)), Vec::<&str>::new());
}

#[test]
fn legacy_shapes_take_the_walk() {
    let text = r#"{"models":[{"name":"m","acc":"A","alpha":20.5,"beta":0.41}]}"#;
    let perf = value(walks::<ModelData>(text)).models[0].perf_parms;
    assert_eq!((perf.alpha, perf.beta), (20.5, 0.41));
    let text = r#"{"servers":[{"currentAlloc":{"load":{"avgLength":1024}}}]}"#;
    let servers = value(walks::<ServerData>(text)).servers;
    assert_eq!(servers[0].current_alloc.load.avg_out_tokens, 1024);
    let text = r#"{"allocations":{"s":{"load":{"avgLength":7}}}}"#;
    let allocations = value(walks::<AllocationSolution>(text)).allocations;
    assert_eq!(allocations["s"].load.avg_out_tokens, 7);
    let text = r#"{"serviceClasses":[{"name":"P","model":"m","priority":1,"slo-ttw":500},
        {"name":"Q","modelTargets":[{"model":"m","slo-ttw":7}]}]}"#;
    let classes = value(walks::<ServiceClassData>(text)).service_classes;
    assert_eq!(classes[0].model_targets[0].slo_ttft, 500.0);
    assert_eq!(classes[1].model_targets[0].slo_ttft, 7.0);
    // Legacy rows that disagree on a priority: an error, in a system file too.
    let rows = r#"{"serviceClasses":[{"name":"P","model":"a","priority":1},
        {"name":"P","model":"b","priority":2}]}"#;
    let error = walks::<ServiceClassData>(rows).unwrap_err();
    assert!(error.contains("disagree on the priority"), "{error}");
    let text = format!(r#"{{"system":{{"serviceClassData":{rows},"modelData":{{}}}}}}"#);
    let error = walks::<SystemSpec>(&text).unwrap_err();
    assert!(error.contains("disagree on the priority"), "{error}");
}

#[test]
fn arrays_for_structs_take_the_walk() {
    // serde's derives would read these, the fields by position; Go refuses them.
    for (text, field) in [
        (r#"{"optimizer":[true]}"#, "field `optimizer`"),
        (r#"{"servers":[["a","P"]]}"#, "field `servers[0]`"),
        (
            r#"{"models":[{"perfParms":[1,2,3]}]}"#,
            "field `models[0].perfParms`",
        ),
        ("[]", "at the top level"),
    ] {
        let error = match text {
            t if t.contains("optimizer") => walks::<OptimizerData>(t).unwrap_err(),
            t if t.contains("servers") => walks::<ServerData>(t).unwrap_err(),
            t => walks::<ModelData>(t).unwrap_err(),
        };
        assert!(
            error.contains("expected an object") && error.contains(field),
            "{error}"
        );
    }
    let error = walks::<AllocationSolution>(r#"{"allocations":{"s":["G2",2]}}"#).unwrap_err();
    assert!(error.contains(r#"allocations["s"]"#), "{error}");
    let error = walks::<SystemSpec>(r#"{"system":[[]]}"#).unwrap_err();
    assert!(error.contains("field `system`"), "{error}");
}

#[test]
fn keys_beside_system_take_the_walk() {
    let text = r#"{"system":{"capacityData":{"count":[{"type":"A","count":1}]}},
        "capacityData":{"count":[{"type":"A","count":9}]},"modelData":{}}"#;
    let parsed = walks::<SystemSpec>(text);
    assert_eq!(warned(&parsed), ["capacityData", "modelData"]);
    assert_eq!(value(parsed).capacity_of("A"), 1);
}

#[test]
fn repeated_keys_take_the_walk() {
    for (text, milp) in [
        // The exact spelling wins over others, else the last one.
        (
            r#"{"optimizer":{"milpSolver":true,"milpsolver":false}}"#,
            true,
        ),
        (
            r#"{"optimizer":{"milpsolver":false,"milpSolver":true}}"#,
            true,
        ),
        (
            r#"{"optimizer":{"MILPSOLVER":true,"milpsolver":false}}"#,
            false,
        ),
        (
            r#"{"optimizer":{"milpSolver":false,"milpSolver":true}}"#,
            true,
        ),
        (r#"{"optimizer":{"milpSolver":true},"optimizer":{}}"#, false),
    ] {
        let spec = value(walks::<OptimizerData>(text));
        assert_eq!(spec.optimizer.milp_solver, milp, "{text}");
    }
}

#[test]
fn type_and_syntax_errors_take_the_walk() {
    let text = "{\n  \"servers\": [\n    {\"name\": \"a\"},\n    {\"currentAlloc\": {\"load\": \
                {\"avgInTokens\": 12.5}}}\n  ]\n}";
    let error = walks::<ServerData>(text).unwrap_err();
    assert!(
        error.starts_with("f.json:4:") && error.contains("servers[1].currentAlloc.load"),
        "{error}"
    );
    for bad in [
        "1.0",
        "1e2",
        "-0",
        "9223372036854775808",
        "\"3\"",
        "true",
        "{}",
    ] {
        let text = format!(r#"{{"count":[{{"type":"A","count":{bad}}}]}}"#);
        let error = walks::<CapacityData>(&text).unwrap_err();
        assert!(error.contains("count[0].count"), "{bad}: {error}");
    }
    for text in ["", "{", "{} x", r#"{"count":[}"#, "\u{feff}{}"] {
        walks::<CapacityData>(text).unwrap_err();
    }
}

/// The small sample system, canonical and compact: the text the damage below starts from.
fn canonical_small() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        let spec = crate::load_dir(&sample_dir("small")).unwrap().spec;
        serde_json::to_string(&SystemData { system: spec }).unwrap()
    })
}

/// What a damaged text gets at one place.
fn damage() -> impl Strategy<Value = String> {
    prop::sample::select(
        &[
            "",
            "null",
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            "\"",
            "1",
            "-0",
            ".5",
            "e9",
            " ",
            "true",
            "\"x\":1,",
            "\"name\":\"a\",",
            "\"alpha\":1,",
            "\"avgLength\":2,",
            "[]",
            "{}",
        ][..],
    )
    .prop_map(str::to_owned)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Damage anywhere in a canonical text: wherever the fast path still reads it, it reads
    /// what the walk reads, and it refuses whatever carries a warning.
    #[test]
    fn damaged_texts_agree(at in 0.0..1.0f64, cut in 0..4usize, with in damage(),
                           flip in any::<bool>()) {
        let text = canonical_small();
        let i = (text.len() as f64 * at) as usize;
        let end = (i + cut).min(text.len());
        let mut damaged = format!("{}{with}{}", &text[..i], &text[end..]);
        if flip {
            // One key letter in another case.
            if let Some(j) = damaged[i..].find(|c: char| c.is_ascii_lowercase()) {
                damaged.replace_range(i + j..i + j + 1, &damaged[i + j..i + j + 1].to_uppercase());
            }
        }
        agree_all(&damaged);
    }

    /// Every kind, read from any other kind's canonical text, agrees.
    #[test]
    fn canonical_texts_of_random_values_agree(rate in any::<f64>(), tokens in any::<i64>(),
                                              name in any::<String>(), cost in any::<f64>()) {
        let mut spec = fixtures::system();
        let server = &mut spec.server_data.servers[0];
        server.name = name;
        server.current_alloc.load.arrival_rate = if rate.is_finite() { rate } else { 0.0 };
        server.current_alloc.load.avg_in_tokens = tokens;
        server.desired_alloc.cost = if cost.is_finite() { cost } else { 0.0 };
        let text = serde_json::to_string(&SystemData { system: spec.clone() }).unwrap();
        prop_assert!(agree::<SystemSpec>(&text));
        let text = serde_json::to_string(&spec).unwrap();
        prop_assert!(agree_all(&text) >= 1);
    }
}
