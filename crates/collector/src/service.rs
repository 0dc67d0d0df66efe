//! The `inferno.v1.Collector` gRPC service and its server (127.0.0.1:3301 by default), with
//! health, reflection and `/metrics` on the same port, optionally behind a bearer token; and the
//! read-only ops listener (`/healthz`, `/metrics`) for probes and Prometheus.

use crate::collect::{Collected, Collector, Metrics, Report};
use crate::promql::Quantity;
use inferno_proto::v1::{self, collector_server::CollectorServer};
use inferno_telemetry::ServeOptions;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tonic::{Response, Status};
use tracing::instrument;

/// The gRPC face of a [`Collector`].
#[derive(Debug, Clone)]
pub struct CollectorService {
    collector: Collector,
}

fn replica(
    c: &Collected,
    pod: &str,
    values: &std::collections::BTreeMap<Quantity, f64>,
) -> inferno_api::ServerSpec {
    let mut spec = c.observation.spec.clone();
    spec.name = format!("{}/{}", spec.name, pod.rsplit('/').next().unwrap_or(pod));
    let a = &mut spec.current_alloc;
    a.num_replicas = 1;
    let throughput = values.get(&Quantity::Throughput).copied().unwrap_or(0.0);
    a.load.arrival_rate = throughput;
    a.load.throughput = throughput;
    a.itl_average = values
        .get(&Quantity::Itl)
        .or_else(|| values.get(&Quantity::ItlLegacy))
        .map_or(0.0, |s| s * 1000.0);
    a.ttft_average = values.get(&Quantity::Ttft).map_or(0.0, |s| s * 1000.0);
    spec
}

/// A report as the contract carries it.
pub fn response(report: &Report, namespaces: &[String]) -> Result<v1::CollectResponse, Status> {
    let bad = |e: inferno_proto::ConvertError| Status::internal(e.to_string());
    let mut out = v1::CollectResponse::default();
    for c in report
        .servers
        .iter()
        .filter(|c| namespaces.is_empty() || namespaces.contains(&c.deployment.namespace))
    {
        let name = c.observation.spec.name.clone();
        if let Some(reason) = &c.observation.unusable {
            // Not sized with a load of 0 or 1e308: unplaced, so nothing changes.
            out.unplaced.push(v1::UnplacedServer {
                server: name.clone(),
                code: "invalid-load".into(),
                reason: reason.clone(),
            });
        } else {
            out.servers
                .push((&c.observation.spec).try_into().map_err(bad)?);
            for (pod, values) in &c.pods {
                out.replicas
                    .push((&replica(c, pod, values)).try_into().map_err(bad)?);
            }
        }
        out.kube_resources.insert(
            name.clone(),
            v1::ServerKubeInfo {
                uid: c.deployment.uid.clone(),
                name: c.deployment.name.clone(),
                space: c.deployment.namespace.clone(),
            },
        );
        out.observations.push(v1::ServerObservation {
            server: name,
            ready_replicas: i32::try_from(c.observation.ready_replicas).unwrap_or(i32::MAX),
            sources: c
                .observation
                .sources
                .iter()
                .map(|(field, source)| v1::FieldSource {
                    field: field.to_string(),
                    source: source.name().to_string(),
                })
                .collect(),
            running: c.observation.running,
            waiting: c.observation.waiting,
            kv_cache_usage: c.observation.kv_cache_usage,
        });
    }
    out.problems = report
        .problems
        .iter()
        .map(|(subject, message)| v1::CollectProblem {
            subject: subject.clone(),
            message: message.clone(),
        })
        .collect();
    Ok(out)
}

#[tonic::async_trait]
impl v1::collector_server::Collector for CollectorService {
    #[instrument(skip_all, fields(rpc = "Collect"))]
    async fn collect(
        &self,
        r: tonic::Request<v1::CollectRequest>,
    ) -> Result<Response<v1::CollectResponse>, Status> {
        let namespaces = r.into_inner().namespaces;
        let report = self.collector.collect().await.map_err(|e| {
            Status::unavailable(format!("kubernetes: cannot list deployments: {e}"))
        })?;
        Ok(Response::new(response(&report, &namespaces)?))
    }
}

/// Serves `collector` on `listener`, without a credential, until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    collector: Collector,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    run_with(
        listener,
        collector,
        metrics,
        ServeOptions::default(),
        shutdown,
    )
    .await
}

/// Serves `collector` on `listener` as `options` say (with a credential, every call but health,
/// reflection and GET /metrics needs the bearer token) until `shutdown` completes.
pub async fn run_with(
    listener: TcpListener,
    collector: Collector,
    metrics: Arc<Metrics>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let service =
        CollectorServer::new(CollectorService { collector }).max_encoding_message_size(usize::MAX);
    let http = inferno_telemetry::metrics_route(move || metrics.render());
    inferno_telemetry::serve_with(listener, service, http, options, shutdown).await
}

/// Serves the read-only ops pages on `listener` (GET /healthz, GET /metrics) until `shutdown`
/// completes.
pub async fn run_ops(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = inferno_telemetry::ops_router(move || metrics.render());
    inferno_telemetry::serve_ops(listener, router, shutdown).await
}
