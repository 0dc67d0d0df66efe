//! The actuator's one gRPC edge, and the only place it touches `inferno.v1`: the
//! `inferno.v1.Actuator` service turns the request into the domain's [`ApplyRequest`], has the
//! [`Actuator`] apply it, and turns the domain's [`Applied`] back into the answer (both
//! conversions are `inferno-proto`'s). An [`Error`] becomes a status here, and only here (the
//! table is in docs/api.md, "The Actuator RPC").

use crate::apply::Actuator;
use crate::error::Error;
use crate::outcome;
use inferno_core::{Applied, ApplyRequest};
use inferno_proto::v1::{self, actuator_server::ActuatorServer};
use tonic::{Code, Response, Status};
use tracing::instrument;

/// The encoded descriptor sets reflection serves.
pub const DESCRIPTORS: &[&[u8]] = inferno_proto::REFLECTION_DESCRIPTORS;

/// The gRPC face of an [`Actuator`].
#[derive(Debug, Clone)]
pub struct ActuatorService {
    actuator: Actuator,
}

/// The `inferno.v1.Actuator` server of `actuator`.
pub fn server(actuator: Actuator) -> ActuatorServer<ActuatorService> {
    ActuatorServer::new(ActuatorService { actuator })
}

#[tonic::async_trait]
impl v1::actuator_server::Actuator for ActuatorService {
    #[instrument(skip_all, fields(rpc = "Apply"))]
    async fn apply(
        &self,
        r: tonic::Request<v1::ApplyRequest>,
    ) -> Result<Response<v1::ApplyResponse>, Status> {
        let request = ApplyRequest::try_from(r.into_inner()).map_err(|e| {
            let violation = inferno_proto::status::Violation::new(
                inferno_proto::status::snake_case(&e.field),
                e.message.clone(),
            );
            inferno_proto::status::invalid_argument(e.to_string(), vec![violation])
        })?;
        let outcomes = self.actuator.apply(&request).await;
        let applied = outcome::applied(&outcomes, request.dry_run);
        Ok(Response::new(encode(&applied)?))
    }
}

/// The answer on the wire.
fn encode(applied: &Applied) -> Result<v1::ApplyResponse, Error> {
    Ok(v1::ApplyResponse::try_from(applied)?)
}

/// The code `e` answers with. No catch-all on purpose: a new variant must pick its code here.
pub fn code(e: &Error) -> Code {
    match e {
        // Nothing the client sent can make the actuator report a number beyond 32 bits: a bug.
        Error::Encode(_) => Code::Internal,
    }
}

impl From<Error> for Status {
    /// The status [`code`] gives, with the error's message.
    fn from(e: Error) -> Self {
        Status::new(code(&e), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inferno_api::AllocationData;
    use inferno_core::{DeploymentResult, Outcome};

    #[test]
    fn an_answer_that_does_not_fit_the_wire_is_internal_and_names_the_field() {
        let result = DeploymentResult {
            server: "s".into(),
            deployment: "d".into(),
            namespace: "ns".into(),
            old: None,
            new: Some(AllocationData {
                num_replicas: 1 << 40,
                ..AllocationData::default()
            }),
            outcome: Outcome::Applied,
            reason: String::new(),
            error: String::new(),
            code: String::new(),
        };
        let applied = Applied {
            results: vec![result],
            dry_run: false,
        };
        let e = encode(&applied).unwrap_err();
        let message = e.to_string();
        let status = Status::from(e);
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), message, "the message is the error's");
        assert!(
            message.starts_with("cannot encode the answer: field results[\"s\"].after")
                && message.contains("1099511627776"),
            "{message}"
        );
    }

    #[test]
    fn an_answer_in_range_encodes() {
        let applied = Applied {
            results: Vec::new(),
            dry_run: true,
        };
        assert!(encode(&applied).unwrap().dry_run);
    }
}
