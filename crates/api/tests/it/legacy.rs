//! A SEED-era data directory: flat alpha/beta, flat service-class rows, `avgLength`.

use crate::TempDir;
use inferno_api::*;

const SEED_MODELS: &str = r#"{"models":[
    {"name":"llama_13b","acc":"A100","accCount":1,"alpha":20.58,"beta":0.41,"maxBatchSize":64,"atTokens":512},
    {"name":"llama_13b","acc":"G2","accCount":1,"alpha":17.15,"beta":0.34,"maxBatchSize":76,"atTokens":512}
]}"#;

const SEED_CLASSES: &str = r#"{"serviceClasses":[
    {"name":"Premium","model":"llama_13b","priority":1,"slo-itl":40,"slo-ttw":500},
    {"name":"Free","model":"llama_13b","priority":3,"slo-itl":200,"slo-ttw":4000},
    {"name":"Batch2K","model":"llama_13b","priority":4,"slo-tps":2000}
]}"#;

const SEED_SERVERS: &str = r#"{"servers":[
    {"name":"premium-llama","class":"Premium","model":"llama_13b",
     "currentAlloc":{"accelerator":"A100","numReplicas":1,"waitAverage":3,
                     "load":{"arrivalRate":30,"avgLength":512,"arrivalCOV":0,"serviceCOV":0}}},
    {"name":"free-llama","model":"llama_13b","currentAlloc":{"load":{"arrivalRate":60,"avgLength":256}}}
]}"#;

fn seed_dir(name: &str) -> TempDir {
    let tmp = TempDir::copy_of(name, "small");
    tmp.write("model-data.json", SEED_MODELS);
    tmp.write("serviceclass-data.json", SEED_CLASSES);
    tmp.write("server-data.json", SEED_SERVERS);
    tmp
}

#[test]
fn seed_directory_loads() {
    let tmp = seed_dir("seed");
    let loaded = load_dir(tmp.path()).unwrap();
    assert_eq!(loaded.warnings, vec![]);
    let spec = loaded.spec;
    let perf = spec.perf("llama_13b", "G2").unwrap().perf_parms;
    assert_eq!(
        perf,
        PerfParms {
            alpha: 17.15,
            beta: 0.34,
            gamma: 0.0
        }
    );
    let premium = spec.service_class("Premium").unwrap();
    assert_eq!(premium.priority, 1);
    let target = premium.target("llama_13b").unwrap();
    assert_eq!((target.slo_itl, target.slo_ttft), (40.0, 500.0));
    let batch = spec
        .service_class("Batch2K")
        .unwrap()
        .target("llama_13b")
        .unwrap();
    assert_eq!(batch.slo_tps, 2000.0);
    let loads: Vec<_> = spec
        .server_data
        .servers
        .iter()
        .map(|s| s.current_alloc.load.avg_out_tokens)
        .collect();
    assert_eq!(loads, [512, 256]);
    assert_eq!(spec.server_data.servers[1].class_name(), FREE_CLASS);
}

#[test]
fn seed_priority_conflict_is_reported_with_other_problems() {
    let tmp = seed_dir("seed-conflict");
    let classes = SEED_CLASSES.replace(
        r#"{"name":"Free","model":"llama_13b","priority":3"#,
        r#"{"name":"Premium","model":"llama_7b","priority":2},{"name":"Free","model":"llama_13b","priority":3"#,
    );
    let file = tmp
        .write("serviceclass-data.json", &classes)
        .display()
        .to_string();
    tmp.write("capacity-data.json", r#"{"count":[{"type":"","count":1}]}"#);
    let Err(Error::Invalid(problems)) = load_dir(tmp.path()) else {
        panic!("expected invalid data");
    };
    let at: Vec<_> = problems
        .iter()
        .map(|p| (p.file.as_str(), p.entity.as_str(), p.field.as_str()))
        .collect();
    let capacity = tmp.path().join("capacity-data.json").display().to_string();
    assert_eq!(
        at,
        [
            (file.as_str(), "class \"Premium\"", "priority"),
            (capacity.as_str(), "count[0]", "type"),
            (
                file.as_str(),
                "class \"Premium\" target \"llama_7b\"",
                "model"
            ),
        ]
    );
}
