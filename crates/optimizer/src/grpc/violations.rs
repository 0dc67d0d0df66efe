//! The `google.rpc.BadRequest` field violations of an INVALID_ARGUMENT: where in the request
//! each problem is (a path of proto field names, `system.accelerator_data.accelerators[0].cost`)
//! and what is wrong. The data layer names a problem by entity (`accelerator "X"`) and by the
//! data file's field name (`memBW`); this module finds the entity in the request and spells the
//! field as the contract does.

use inferno_api::{Problem, SystemSpec};
use inferno_proto::status::{invalid_argument, snake_case, Violation};
use tonic::Status;

/// INVALID_ARGUMENT for a request whose system data is invalid: the message lists every
/// problem (as the data layer writes them), the details hold one violation per error. Paths
/// start at `root` (`system.` for OptimizeOne; "" for the stored system of stateful mode).
pub(crate) fn invalid_data(e: inferno_api::Error, names: &Names, root: &str) -> Status {
    let violations = match &e {
        inferno_api::Error::Invalid(problems) => problems
            .iter()
            .filter(|p| p.is_error())
            .map(|p| violation(p, names, root))
            .collect(),
        _ => Vec::new(),
    };
    invalid_argument(e.to_string(), violations)
}

/// INVALID_ARGUMENT for one `field` of the request (a proto path) and what is wrong with it;
/// the message says both.
pub(crate) fn invalid_field(field: &str, problem: impl Into<String>) -> Status {
    let problem = problem.into();
    invalid_argument(
        format!("field {field}: {problem}"),
        vec![Violation::new(field, problem)],
    )
}

/// INVALID_ARGUMENT for problems stated as `field: what` (the queue calls' checks, field names
/// in their JSON spelling): the message joins them, each is a violation of its field.
pub(crate) fn invalid_fields(problems: Vec<String>) -> Status {
    let violations = problems
        .iter()
        .map(|p| match p.split_once(": ") {
            Some((field, what)) => Violation::new(snake_case(field), what),
            None => Violation::new("", p.as_str()),
        })
        .collect();
    invalid_argument(problems.join("; "), violations)
}

/// The names of a system's entities, in request order: where each is in the request.
#[derive(Debug, Default)]
pub(crate) struct Names {
    accelerators: Vec<String>,
    capacities: Vec<String>,
    /// (model, accelerator).
    models: Vec<(String, String)>,
    classes: Vec<String>,
    servers: Vec<String>,
}

impl Names {
    /// The names of `spec`'s entities.
    pub(crate) fn of(spec: &SystemSpec) -> Self {
        Self {
            accelerators: spec
                .accelerator_data
                .accelerators
                .iter()
                .map(|a| a.name.clone())
                .collect(),
            capacities: spec
                .capacity_data
                .count
                .iter()
                .map(|c| c.acc_type.clone())
                .collect(),
            models: spec
                .model_data
                .models
                .iter()
                .map(|m| (m.name.clone(), m.acc.clone()))
                .collect(),
            classes: spec
                .service_class_data
                .service_classes
                .iter()
                .map(|c| c.name.clone())
                .collect(),
            servers: spec
                .server_data
                .servers
                .iter()
                .map(|s| s.name.clone())
                .collect(),
        }
    }
}

/// The violation of one data problem.
fn violation(p: &Problem, names: &Names, root: &str) -> Violation {
    let entity = entity_path(&p.entity, names);
    let field = field_name(&p.field);
    let path = [format!("{root}{entity}"), field]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(".");
    Violation::new(path, format!("{}: {}", p.entity, p.message))
}

/// The two quoted names of an entity (`model "m" on "G2"` -> `m`, `G2`).
fn quoted(entity: &str) -> Vec<String> {
    entity
        .split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The path of an entity inside a SystemSpec, with its index when the request holds it.
fn entity_path(entity: &str, all: &Names) -> String {
    let names = quoted(entity);
    let name = names.first().map_or("", String::as_str);
    let indexed = |list: &str, index: Option<usize>| match index {
        Some(i) => format!("{list}[{i}]"),
        None => list.to_owned(),
    };
    // An entity without a name: `servers[3]`, the data file's list and index.
    if let Some((list, rest)) = entity.split_once('[') {
        if !entity.contains('"') {
            let path = match list {
                "accelerators" => "accelerator_data.accelerators",
                "count" => "capacity_data.counts",
                "models" => "model_data.models",
                "serviceClasses" => "service_class_data.service_classes",
                "servers" => "server_data.servers",
                _ => return String::new(),
            };
            return format!("{path}[{rest}");
        }
    }
    let position = |list: &[String]| list.iter().position(|x| x == name);
    if entity.starts_with("accelerator ") {
        indexed("accelerator_data.accelerators", position(&all.accelerators))
    } else if entity.starts_with("capacity type ") {
        indexed("capacity_data.counts", position(&all.capacities))
    } else if entity.starts_with("model ") {
        let acc = names.get(1).map_or("", String::as_str);
        let i = all.models.iter().position(|(m, a)| m == name && a == acc);
        indexed("model_data.models", i)
    } else if entity.starts_with("class ") {
        indexed("service_class_data.service_classes", position(&all.classes))
    } else if entity.starts_with("server ") {
        indexed("server_data.servers", position(&all.servers))
    } else if entity == "optimizer" {
        "optimizer_data.optimizer".into()
    } else {
        String::new()
    }
}

/// A data file's field name (a dotted path) as the contract's field path.
fn field_name(field: &str) -> String {
    field
        .split('.')
        .map(|part| match part {
            "memBW" => "mem_bandwidth".to_owned(),
            "acc" => "accelerator".to_owned(),
            "accCount" => "accelerator_count".to_owned(),
            "perfParms" => "perf_params".to_owned(),
            "count" => "counts".to_owned(),
            "timeLimitSeconds" => "time_limit".to_owned(),
            "startupSeconds" => "startup_delay".to_owned(),
            "paybackSeconds" => "payback_period".to_owned(),
            other => snake_case(other),
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use inferno_api::{AcceleratorSpec, ModelAcceleratorPerfData, ServerSpec};
    use inferno_proto::status::violations;

    fn spec() -> SystemSpec {
        let mut s = SystemSpec::default();
        s.accelerator_data.accelerators = ["A", "X"]
            .map(|n| AcceleratorSpec {
                name: n.into(),
                ..Default::default()
            })
            .into();
        s.model_data.models.push(ModelAcceleratorPerfData {
            name: "m".into(),
            acc: "X".into(),
            ..Default::default()
        });
        s.server_data.servers.push(ServerSpec {
            name: "s".into(),
            ..Default::default()
        });
        s
    }

    fn problem(entity: &str, field: &str) -> Problem {
        Problem {
            severity: inferno_api::Severity::Error,
            file: "OptimizeOne request".into(),
            entity: entity.into(),
            field: field.into(),
            message: "bad".into(),
        }
    }

    #[test]
    fn problems_point_at_their_field_in_the_request() {
        let cases = [
            (
                r#"accelerator "X""#,
                "cost",
                "system.accelerator_data.accelerators[1].cost",
            ),
            (
                r#"accelerator "X""#,
                "memBW",
                "system.accelerator_data.accelerators[1].mem_bandwidth",
            ),
            (
                r#"model "m" on "X""#,
                "perfParms.alpha",
                "system.model_data.models[0].perf_params.alpha",
            ),
            (
                r#"server "s""#,
                "minNumReplicas",
                "system.server_data.servers[0].min_num_replicas",
            ),
            (r#"server "t""#, "model", "system.server_data.servers.model"),
            ("servers[3]", "name", "system.server_data.servers[3].name"),
            (
                "optimizer",
                "timeLimitSeconds",
                "system.optimizer_data.optimizer.time_limit",
            ),
        ];
        for (entity, field, path) in cases {
            let names = Names::of(&spec());
            assert_eq!(
                violation(&problem(entity, field), &names, "system.").field,
                path
            );
        }
    }

    #[test]
    fn invalid_data_details_every_error_but_no_warning() {
        let mut warning = problem(r#"accelerator "A""#, "multiplicity");
        warning.severity = inferno_api::Severity::Warning;
        let e = inferno_api::Error::Invalid(vec![warning, problem(r#"accelerator "X""#, "cost")]);
        let s = invalid_data(e, &Names::of(&spec()), "system.");
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        assert_eq!(
            violations(&s),
            [Violation::new(
                "system.accelerator_data.accelerators[1].cost",
                r#"accelerator "X": bad"#
            )]
        );
    }

    #[test]
    fn queue_problems_are_violations_of_their_fields() {
        let s = invalid_fields(vec![
            "maxBatchSize: must be an integer in [0, 4096], got 5000".into(),
            "rps: must be > 0".into(),
        ]);
        assert_eq!(
            s.message(),
            "maxBatchSize: must be an integer in [0, 4096], got 5000; rps: must be > 0"
        );
        assert_eq!(
            violations(&s),
            [
                Violation::new(
                    "max_batch_size",
                    "must be an integer in [0, 4096], got 5000"
                ),
                Violation::new("rps", "must be > 0"),
            ]
        );
    }
}
