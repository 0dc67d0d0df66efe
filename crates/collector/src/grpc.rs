//! The collector's gRPC edge, and the only place it touches `inferno.v1`: the
//! `inferno.v1.Collector` service, which answers the domain's [`inferno_core::Collected`]
//! converted once (`v1::CollectResponse::try_from`), and the status of each collector [`Error`]
//! (the table is in docs/collector.md, "Status codes").

use crate::collect::Collector;
use crate::error::Error;
use inferno_proto::v1::{self, collector_server::CollectorServer};
use tonic::{Code, Response, Status};
use tracing::instrument;

/// The gRPC face of a [`Collector`].
#[derive(Debug, Clone)]
pub struct CollectorService {
    collector: Collector,
}

/// The tonic service of `collector`, for [`crate::service::run_with`]. Answers are not
/// size-limited: the controller reads every server of the cluster in one message.
pub fn server(collector: Collector) -> CollectorServer<CollectorService> {
    CollectorServer::new(CollectorService { collector }).max_encoding_message_size(usize::MAX)
}

#[tonic::async_trait]
impl v1::collector_server::Collector for CollectorService {
    #[instrument(skip_all, fields(rpc = "Collect"))]
    async fn collect(
        &self,
        r: tonic::Request<v1::CollectRequest>,
    ) -> Result<Response<v1::CollectResponse>, Status> {
        let namespaces = r.into_inner().namespaces;
        let collected = self.collector.collected(&namespaces).await?;
        let answer = v1::CollectResponse::try_from(&collected).map_err(Error::from)?;
        Ok(Response::new(answer))
    }
}

/// The code `e` answers with. No catch-all on purpose: a new variant must pick its code here.
fn code(e: &Error) -> Code {
    match e {
        // The API server is down, slow or refusing: the next cycle may succeed, and nothing is
        // known of any server until then.
        Error::Kubernetes(_) => Code::Unavailable,
        // A count beyond a 32-bit field: a bug, not the caller's fault.
        Error::Encode(_) => Code::Internal,
    }
}

impl From<Error> for Status {
    /// The status the error's variant gives (`UNAVAILABLE`, `INTERNAL`), with its message.
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
    fn a_kubernetes_failure_is_unavailable() {
        let e = kube::Error::Api(
            kube::core::Status::failure("deployments.apps is forbidden", "Forbidden")
                .with_code(403)
                .boxed(),
        );
        let (code, message) = status(Error::from(e));
        assert_eq!(code, Code::Unavailable);
        assert!(
            message.starts_with("kubernetes: cannot list deployments: ")
                && message.contains("forbidden"),
            "{message}"
        );
    }

    #[test]
    fn an_answer_that_cannot_be_encoded_is_internal() {
        let e = inferno_proto::ConvertError {
            field: "servers[0].minNumReplicas".into(),
            problem: "1099511627776 does not fit a 32-bit integer".into(),
        };
        let (code, message) = status(Error::from(e));
        assert_eq!(code, Code::Internal);
        assert!(message.contains("servers[0].minNumReplicas"), "{message}");
    }

    #[test]
    fn a_server_beyond_the_wire_is_an_encode_error() {
        let mut spec = inferno_api::ServerSpec {
            name: "s".into(),
            ..Default::default()
        };
        spec.min_num_replicas = 1 << 40;
        let collected = inferno_core::Collected {
            servers: vec![spec],
            ..Default::default()
        };
        let e = v1::CollectResponse::try_from(&collected).map_err(Error::from);
        assert_eq!(Status::from(e.unwrap_err()).code(), Code::Internal);
    }
}
