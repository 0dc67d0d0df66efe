//! The gRPC status of each optimizer [`Error`]: the one place that decides what a failed
//! computation answers (the table is in docs/api.md, "Status codes").

use crate::error::Error;
use tonic::{Code, Status};

/// The code `e` answers with. The match has no catch-all on purpose: a new variant must pick
/// its code here (INTERNAL is for bugs, and none of these is one).
pub(crate) fn code(e: &Error) -> Code {
    match e {
        // The request's data is at fault (an out-of-domain model input, a service rate that is
        // zero or not finite, a rate <= 0, targets below what the model can reach at any rate,
        // no servers): retrying it unchanged cannot help.
        Error::InvalidInput { .. }
        | Error::DegenerateService { .. }
        | Error::NonPositiveRate(_)
        | Error::TargetBelowRegion { .. }
        | Error::NoServers => Code::InvalidArgument,
        // The flag goes up when the request's future is dropped (the client went away, tonic's
        // own timer). A deadline the service enforces itself is answered DEADLINE_EXCEEDED
        // before the computation's result is awaited (`service::compute`), so a client sees
        // this code only when it is still listening as the computation stops.
        Error::Cancelled => Code::Cancelled,
    }
}

/// The field of a queue request an error is about (proto field names), when it is one: the
/// `google.rpc.BadRequest` violation an INVALID_ARGUMENT carries.
fn field(e: &Error) -> Option<String> {
    match e {
        Error::InvalidInput { field, .. } => Some(inferno_proto::status::snake_case(field)),
        Error::NonPositiveRate(_) => Some("rps".into()),
        Error::TargetBelowRegion { metric, .. } => {
            Some(format!("target_{}", metric.to_ascii_lowercase()))
        }
        Error::DegenerateService { .. } => Some("alpha".into()),
        Error::NoServers => Some("system.server_data.servers".into()),
        Error::Cancelled => None,
    }
}

impl From<Error> for Status {
    /// The status `code` gives, with the error's message; INVALID_ARGUMENT with a
    /// `google.rpc.BadRequest` naming the field.
    fn from(e: Error) -> Self {
        let code = code(&e);
        match field(&e) {
            Some(field) if code == Code::InvalidArgument => {
                let message = e.to_string();
                let violation = inferno_proto::status::Violation::new(field, message.clone());
                inferno_proto::status::invalid_argument(message, vec![violation])
            }
            _ => Status::new(code, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(e: Error) -> (Code, String) {
        let message = e.to_string();
        let s = Status::from(e);
        assert_eq!(s.message(), message, "the message is the error's");
        (s.code(), message)
    }

    #[test]
    fn bad_input_is_invalid_argument() {
        let cases = [
            Error::InvalidInput {
                field: "maxBatchSize",
                message: "must be an integer in [0, 4096], got 5000".into(),
            },
            Error::DegenerateService {
                batch: 1,
                rate: 0.0,
            },
            Error::NonPositiveRate(0.0),
            Error::TargetBelowRegion {
                metric: "ITL",
                target: 1.0,
                lowest: 8.5,
            },
            Error::NoServers,
        ];
        let fields = [
            "max_batch_size",
            "alpha",
            "rps",
            "target_itl",
            "system.server_data.servers",
        ];
        for (e, field) in cases.into_iter().zip(fields) {
            let message = e.to_string();
            let s = Status::from(e);
            assert_eq!(s.code(), Code::InvalidArgument, "{message}");
            // Which field is at fault, for a client: google.rpc.BadRequest. Before: the
            // message alone.
            let v = inferno_proto::status::violations(&s);
            assert_eq!(v.len(), 1, "{message}");
            assert_eq!(
                (v[0].field.as_str(), v[0].description.as_str()),
                (field, message.as_str())
            );
        }
    }

    #[test]
    fn cancellation_is_cancelled() {
        let (code, message) = status(Error::Cancelled);
        assert_eq!(code, Code::Cancelled);
        assert!(message.starts_with("cancelled"), "{message}");
    }

    #[test]
    fn question_mark_converts() {
        fn rpc() -> Result<(), Status> {
            Err(Error::NonPositiveRate(-1.0))?
        }
        let s = rpc().unwrap_err();
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "request rate must be > 0 req/s, got -1");
    }
}
