//! The schema walk: a serde visitor that reads one JSON text against a [`Schema`] the way Go's
//! `encoding/json` does (keys folded case-insensitively, exact spelling first, `null` leaves a
//! field at zero, integers must be integral) and yields a `serde_json::Value` with canonical
//! keys, recording unknown keys on the way. Separate because it is the part that must match the
//! reference decoder's rules, and the tests here pin those rules.

use super::closest::closest;
use super::schema::{Kind, Schema};
use super::unknown::Unknown;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess};
use serde::de::{Unexpected, Visitor};
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::fmt;

/// Go's case-insensitive key match: ASCII letters fold, and so do the two non-ASCII runes whose
/// case orbit contains an ASCII letter (U+017F long s ~ `s`, U+212A Kelvin sign ~ `k`).
pub(super) fn fold_eq(field: &str, key: &str) -> bool {
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

/// Where a value sits in the document, for error messages.
pub(super) enum JsonPath<'a> {
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
pub(super) enum Segment {
    Field(&'static str),
    Index(usize),
    Key(String),
}

/// Seed and visitor of one value of a known [`Kind`]; yields `None` for JSON `null`.
pub(super) struct Node<'a> {
    pub(super) kind: Kind,
    pub(super) path: &'a JsonPath<'a>,
    /// Where unknown keys are recorded.
    pub(super) unknown: &'a RefCell<Vec<Unknown>>,
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
    use crate::*;

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
}
