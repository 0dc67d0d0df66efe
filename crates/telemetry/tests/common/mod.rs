//! What both test binaries use: a stand-in gRPC service.

/// A stand-in gRPC service named `test.Echo`: answers OK to any call, with a header saying it
/// was reached.
#[derive(Clone)]
pub(crate) struct Echo;

impl tonic::server::NamedService for Echo {
    const NAME: &'static str = "test.Echo";
}

impl tower_service::Service<axum::http::Request<tonic::body::Body>> for Echo {
    type Response = axum::http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: axum::http::Request<tonic::body::Body>) -> Self::Future {
        let mut response = tonic::Status::ok("").into_http::<tonic::body::Body>();
        response
            .headers_mut()
            .insert("echo-reached", axum::http::HeaderValue::from_static("yes"));
        std::future::ready(Ok(response))
    }
}
