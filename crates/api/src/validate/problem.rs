//! What validation (and reading) reports: [`Problem`] with its [`Severity`], its one-line
//! display, and the naming of entities shared with the reports of unknown fields. Separate so
//! that everything which judges the data speaks one format.

use std::fmt;

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
    ///
    /// [`FileNames`]: crate::FileNames
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

/// `kind "name"`, or `list[index]` when the name is empty.
pub(crate) fn entity(kind: &str, name: &str, list: &str, index: usize) -> String {
    if name.is_empty() {
        format!("{list}[{index}]")
    } else {
        format!("{kind} {name:?}")
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::fixtures::*;

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
}
