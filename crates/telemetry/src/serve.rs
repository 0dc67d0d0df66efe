//! Serving one Inferno gRPC service on a listener together with `grpc.health.v1` (reporting the
//! service as serving), server reflection (v1 and v1alpha, for grpcurl; listing that service
//! and health only) and plain HTTP routes
//! (`/metrics`, and the controller's `/invoke`), until the shutdown future completes.

use std::convert::Infallible;
use std::future::Future;
use tokio::net::TcpListener;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;

use crate::auth::{self, Credential};

/// How [`serve_with`] serves.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Caps every request (a shorter client deadline, `grpc-timeout`, always wins and ends in
    /// DEADLINE_EXCEEDED).
    pub timeout: Option<std::time::Duration>,
    /// When set, every call but health, reflection and GET /metrics|/healthz|/readyz needs
    /// `authorization: Bearer <token>`.
    pub credential: Option<Credential>,
}

/// Serves `service` and the HTTP routes of `http` on `listener`, without a credential.
/// `descriptors` are the encoded file descriptor sets reflection describes `service` with (the
/// caller's protos, e.g. `inferno_proto::FILE_DESCRIPTOR_SET`; health's own are added).
/// `timeout` caps every request (a shorter client deadline, `grpc-timeout`, always wins and
/// ends in DEADLINE_EXCEEDED).
///
/// # Panics
///
/// When a descriptor set is not an encoded `FileDescriptorSet`.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    descriptors: &'static [&'static [u8]],
    http: axum::Router,
    timeout: Option<std::time::Duration>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error>
where
    S: tower_service::Service<axum::http::Request<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse,
    S::Future: Send + 'static,
{
    let options = ServeOptions {
        timeout,
        credential: None,
    };
    serve_with(listener, service, descriptors, http, options, shutdown).await
}

/// Serves `service` and the HTTP routes of `http` on `listener` as `options` say, until
/// `shutdown` completes. Reflection describes `service` with `descriptors`, as for [`serve`].
///
/// # Panics
///
/// When a descriptor set is not an encoded `FileDescriptorSet`.
pub async fn serve_with<S>(
    listener: TcpListener,
    service: S,
    descriptors: &'static [&'static [u8]],
    http: axum::Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error>
where
    S: tower_service::Service<axum::http::Request<Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse,
    S::Future: Send + 'static,
{
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(S::NAME, tonic_health::ServingStatus::Serving)
        .await;
    // Reflection lists this server's own service and health, nothing else the descriptor sets
    // hold (the contract's file has every service; a client of this port can call one). The
    // other sets' types are still described: a status detail (`google.rpc.BadRequest`) is.
    let reflection = || {
        descriptors
            .iter()
            .fold(tonic_reflection::server::Builder::configure(), |b, set| {
                b.register_encoded_file_descriptor_set(set)
            })
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name(S::NAME)
            .with_service_name(service_name(&health_service))
    };
    // Both versions: many grpcurl builds in the wild still ask for v1alpha.
    let reflection_v1 = reflection()
        .build_v1()
        .expect("the descriptor sets are valid encoded protos");
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .expect("the descriptor sets are valid encoded protos");
    let mut routes = Routes::from(http)
        .add_service(service)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    if let Some(credential) = options.credential {
        // Checked in front of every route, gRPC and HTTP alike (tonic's interceptors do not see
        // the path, and the open calls are chosen by path).
        let router = routes.into_axum_router().layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let refusal = auth::refuse(&credential, &request);
                async move {
                    match refusal {
                        Some(response) => response,
                        None => next.run(request).await,
                    }
                }
            },
        ));
        routes = Routes::from(router);
    }
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, service = S::NAME, "serving");
    }
    let mut builder = tonic::transport::Server::builder().accept_http1(true);
    if let Some(t) = options.timeout {
        builder = builder.timeout(t);
    }
    builder
        .add_routes(routes)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
}

/// The gRPC name of a service (`grpc.health.v1.Health`).
fn service_name<T: NamedService>(_: &T) -> &'static str {
    T::NAME
}

/// An HTTP router with `GET /metrics` answering `render()` followed by the families every
/// service shares ([`crate::metrics::common`]: `inferno_build_info` and the process metrics),
/// a page of the format [`crate::metrics::encode`] writes (the response says so in its
/// `Content-Type`).
pub fn metrics_route(render: impl Fn() -> String + Clone + Send + Sync + 'static) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let render = render.clone();
            async move {
                let mut page = render();
                if !page.is_empty() && !page.ends_with('\n') {
                    page.push('\n');
                }
                page.push_str(&crate::metrics::common());
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        crate::metrics::CONTENT_TYPE,
                    )],
                    page,
                )
            }
        }),
    )
}

/// The read-only listener of a service for kubelet probes and Prometheus: `GET /healthz`
/// answers `ok` while the process serves, `GET /metrics` answers `render()` and the shared
/// families ([`metrics_route`]). Add routes (e.g.
/// `/readyz`) with `.merge` or `.route`.
pub fn ops_router(render: impl Fn() -> String + Clone + Send + Sync + 'static) -> axum::Router {
    metrics_route(render).route("/healthz", axum::routing::get(|| async { "ok\n" }))
}

/// Serves `router` (plain HTTP/1.1, read-only pages) on `listener` until `shutdown` completes.
pub async fn serve_ops(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving health and metrics");
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_service::Service;

    async fn page(mut router: axum::Router) -> (axum::http::HeaderMap, String) {
        let request = axum::http::Request::get("/metrics")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = router.call(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (headers, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn the_metrics_page_says_its_format() {
        let (headers, _) = page(ops_router(|| "up 1\n".into())).await;
        assert_eq!(
            headers[axum::http::header::CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
    }

    /// Both routes serve the service's families, then the build and process metrics every
    /// service shares, as one valid page. Before: the service's families only.
    #[tokio::test]
    async fn both_metrics_routes_add_the_build_and_process_metrics() {
        for router in [
            ops_router(|| "up 1".into()),
            metrics_route(|| "# TYPE up gauge\nup 1\n".into()),
        ] {
            let (_, text) = page(router).await;
            let samples = crate::metrics::parse(&text).unwrap();
            assert_eq!(samples[0].name, "up", "{text}");
            let build = samples
                .iter()
                .find(|s| s.name == "inferno_build_info")
                .unwrap_or_else(|| panic!("no build info in\n{text}"));
            assert_eq!(build.value, 1.0);
            assert_eq!(build.label("version"), Some(env!("CARGO_PKG_VERSION")));
            if cfg!(target_os = "linux") {
                for name in [
                    "process_cpu_seconds_total",
                    "process_resident_memory_bytes",
                    "process_start_time_seconds",
                ] {
                    assert!(
                        samples.iter().any(|s| s.name == name),
                        "no {name} in\n{text}"
                    );
                }
            }
        }
    }
}
