//! The keys that reading dropped: recorded during the walk ([`Unknown`]), placed in their file
//! and entity ([`Dropped`], named as validation names entities), and turned into [`Problem`]s,
//! warnings or (strict) errors. Separate because it is the one part of reading that judges the
//! data, and its messages are what users see.

use super::files::LoadOptions;
use super::walk::Segment;
use crate::validate::{self, Problem, Severity};
use serde_json::Value;

/// A key of the text that reading dropped, and where it is.
#[derive(Debug)]
pub(super) struct Dropped {
    pub(super) file: String,
    pub(super) entity: String,
    /// Its JSON path.
    pub(super) field: String,
    pub(super) why: Why,
}

#[derive(Debug)]
pub(super) enum Why {
    /// No field of its object has this name; the closest one that does.
    Unknown(String, Option<&'static str>),
    /// A field of the bare system form next to a `system` key.
    BesideSystem(String),
}

/// Dropped keys as problems: warnings, or errors when reading strictly.
pub(super) fn dropped_problems(dropped: Vec<Dropped>, options: LoadOptions) -> Vec<Problem> {
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

/// A key that matched no field of its struct, recorded during the walk.
#[derive(Debug)]
pub(super) struct Unknown {
    /// The path of the object holding the key.
    pub(super) at: Vec<Segment>,
    pub(super) key: String,
    /// The closest known field of that object.
    pub(super) suggestion: Option<&'static str>,
}

impl Unknown {
    /// Where it is, with the entity named from the decoded `root` (as validation names it).
    pub(super) fn locate(self, root: &Value, file: &str, top: &str) -> Dropped {
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

#[cfg(test)]
mod tests {
    use crate::*;

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
        assert_eq!(
            parse_optimizer(text, "o.json").unwrap().optimizer,
            OptimizerSpec::default()
        );
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
}
