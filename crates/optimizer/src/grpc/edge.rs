//! What the service sees of a call before tonic's generated code decodes it, and of the answer
//! after: the arrival time (so that the handler's deadline starts when tonic's own timer does)
//! and the status of a request that is not valid protobuf.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Instant;
use tonic::body::Body;
use tonic::codegen::{http, BoxFuture, Service};
use tonic::server::NamedService;

/// When the call reached the service, in the request's extensions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival(pub(crate) Instant);

/// Wraps the generated server: stamps each call with its [`Arrival`], and answers a request
/// body that is not valid protobuf with INVALID_ARGUMENT instead of the INTERNAL that tonic's
/// prost codec gives it (the request is at fault, so retrying it cannot help).
#[derive(Debug, Clone)]
pub(crate) struct Edge<S> {
    inner: S,
}

impl<S> Edge<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: NamedService> NamedService for Edge<S> {
    const NAME: &'static str = S::NAME;
}

/// What prost's `DecodeError` says at the start of every message (tonic passes it on as the
/// status message). A test pins it, so a tonic or prost upgrade that changes it is noticed.
const DECODE_ERROR: &str = "failed to decode Protobuf message";

impl<S, B> Service<http::Request<B>> for Edge<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(Arrival(Instant::now()));
        let call = self.inner.call(request);
        Box::pin(async move {
            let mut response = call.await?;
            // A request that fails to decode is answered with headers only (no message).
            let headers = response.headers_mut();
            let undecodable = tonic::Status::from_header_map(headers).is_some_and(|s| {
                s.code() == tonic::Code::Internal && s.message().starts_with(DECODE_ERROR)
            });
            if undecodable {
                let code = tonic::Code::InvalidArgument as i32;
                headers.insert("grpc-status", http::HeaderValue::from(code));
            }
            Ok(response)
        })
    }
}
