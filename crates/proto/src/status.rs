//! INVALID_ARGUMENT with details: every status a server answers for a bad request carries a
//! `google.rpc.BadRequest` with one field violation per problem (the field's path in the
//! request, proto field names, and what is wrong with it), so a client can point at the field
//! without parsing the message (AIP-193). The message still says it all, for people.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// One problem of a request: the field's path (`system.accelerator_data.accelerators[0].cost`,
/// `rps`; the request itself is "") and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field's path in the request, proto field names joined by `.`, list indices in `[]`.
    pub field: String,
    /// What is wrong with it, value included.
    pub description: String,
}

impl Violation {
    /// A violation of `field`.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// INVALID_ARGUMENT with `message` and a `google.rpc.BadRequest` holding `violations`.
pub fn invalid_argument(message: impl Into<String>, violations: Vec<Violation>) -> Status {
    let details = ErrorDetails::with_bad_request(
        violations
            .into_iter()
            .map(|v| FieldViolation::new(v.field, v.description))
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// The field violations of `status` (none when it carries no `BadRequest`): what a client
/// reads.
pub fn violations(status: &Status) -> Vec<Violation> {
    status
        .get_details_bad_request()
        .map(|b| {
            b.field_violations
                .into_iter()
                .map(|v| Violation::new(v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

/// `camelCase` (a JSON or data-file name) as `snake_case` (the proto field name); dots and
/// list indices pass through (`perfParms.alpha` -> `perf_parms.alpha`).
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            previous_lower = false;
        } else {
            out.push(if c == '-' { '_' } else { c });
            previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_travel_in_the_status() {
        let s = invalid_argument(
            "rps: must be > 0",
            vec![Violation::new("rps", "must be > 0")],
        );
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "rps: must be > 0");
        // Through the wire form, as a client gets it.
        let mut headers = tonic::codegen::http::HeaderMap::new();
        s.add_header(&mut headers).unwrap();
        let back = Status::from_header_map(&headers).unwrap();
        assert_eq!(violations(&back), [Violation::new("rps", "must be > 0")]);
        assert!(violations(&Status::invalid_argument("bare")).is_empty());
    }

    #[test]
    fn camel_case_becomes_snake_case() {
        assert_eq!(snake_case("maxBatchSize"), "max_batch_size");
        assert_eq!(snake_case("targetTTFT"), "target_ttft");
        assert_eq!(snake_case("perfParms.alpha"), "perf_parms.alpha");
        assert_eq!(snake_case("slo-itl"), "slo_itl");
        assert_eq!(snake_case("RPS"), "rps");
        assert_eq!(
            snake_case("servers[3].minNumReplicas"),
            "servers[3].min_num_replicas"
        );
    }
}
