//! Legacy (SEED) shapes rewritten into the current ones on the canonical JSON value, before
//! serde reads it: flat model `alpha`/`beta`, load `avgLength`, flat service-class rows and
//! `slo-ttw`. Separate so the current types stay free of compatibility fields.

use crate::validate::{Problem, Severity};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// SEED model rows carry flat `alpha`/`beta` (ms, ms/token) and no `perfParms`.
pub(super) fn legacy_models(data: &mut Value) {
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

pub(super) fn legacy_servers(data: &mut Value) {
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
pub(super) fn legacy_alloc(alloc: &mut Value) {
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
pub(super) fn legacy_classes(data: &mut Value, file: &str) -> Vec<Problem> {
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

#[cfg(test)]
mod tests {
    use crate::*;

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
}
