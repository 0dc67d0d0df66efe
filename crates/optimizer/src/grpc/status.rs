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

impl From<Error> for Status {
    /// The status `code` gives, with the error's message.
    fn from(e: Error) -> Self {
        Status::new(code(&e), e.to_string())
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
        for e in cases {
            let (code, message) = status(e);
            assert_eq!(code, Code::InvalidArgument, "{message}");
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
