//! In-process gRPC servers standing in for the collector and the actuator.

use inferno_proto::v1::{self, actuator_server::ActuatorServer, collector_server::CollectorServer};
use inferno_telemetry::{Credential, ServeOptions};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tonic::{Request, Response, Status};

/// What the fake collector answers, and how.
#[derive(Debug, Default)]
pub(crate) struct CollectorState {
    pub(crate) response: v1::CollectResponse,
    /// When set, every answer first takes a permit: the test decides when a call completes.
    pub(crate) gate: Option<Arc<tokio::sync::Semaphore>>,
    pub(crate) calls: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct FakeCollector(pub(crate) Arc<Mutex<CollectorState>>);

#[tonic::async_trait]
impl v1::collector_server::Collector for FakeCollector {
    async fn collect(
        &self,
        _: Request<v1::CollectRequest>,
    ) -> Result<Response<v1::CollectResponse>, Status> {
        let (response, gate) = {
            let mut s = self.0.lock().unwrap();
            s.calls += 1;
            (s.response.clone(), s.gate.clone())
        };
        if let Some(gate) = gate {
            gate.acquire().await.unwrap().forget();
        }
        Ok(Response::new(response))
    }
}

/// Requests the fake actuator received.
#[derive(Debug, Clone, Default)]
pub(crate) struct FakeActuator(pub(crate) Arc<Mutex<Vec<v1::ApplyRequest>>>);

#[tonic::async_trait]
impl v1::actuator_server::Actuator for FakeActuator {
    async fn apply(
        &self,
        r: Request<v1::ApplyRequest>,
    ) -> Result<Response<v1::ApplyResponse>, Status> {
        let r = r.into_inner();
        use v1::deployment_result::Outcome;
        let results = r
            .deployments
            .iter()
            .map(|(server, k)| v1::DeploymentResult {
                server: server.clone(),
                deployment: k.name.clone(),
                namespace: k.namespace.clone(),
                after: r.allocations.get(server).cloned(),
                applied: !r.dry_run && r.allocations.contains_key(server),
                outcome: match (r.dry_run, r.allocations.contains_key(server)) {
                    (_, false) => Outcome::Unchanged,
                    (true, true) => Outcome::DryRun,
                    (false, true) => Outcome::Applied,
                }
                .into(),
                ..Default::default()
            })
            .collect();
        let dry_run = r.dry_run;
        self.0.lock().unwrap().push(r);
        Ok(Response::new(v1::ApplyResponse { results, dry_run }))
    }
}

/// Serves `service` as the Inferno services do (health, reflection, and the bearer token when
/// `credential` is set) on 127.0.0.1:0; returns the address and a stop handle.
pub(crate) async fn serve<S>(
    service: S,
    credential: Option<Credential>,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>)
where
    S: tower_service::Service<
            axum::http::Request<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse,
    S::Future: Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = ServeOptions {
        timeout: None,
        credential,
    };
    tokio::spawn(async move {
        inferno_telemetry::serve_with(
            listener,
            service,
            inferno_proto::REFLECTION_DESCRIPTORS,
            axum::Router::new(),
            options,
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    (addr, stop)
}

pub(crate) async fn collector(
    state: Arc<Mutex<CollectorState>>,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    serve(CollectorServer::new(FakeCollector(state)), None).await
}

pub(crate) async fn actuator(
    state: FakeActuator,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    serve(ActuatorServer::new(state), None).await
}
