//! The `inferno.v1.Collector` gRPC service and its server (port 3301), with health, reflection
//! and `/metrics` on the same port.

use crate::collect::{Collected, Collector, Metrics, Report};
use crate::promql::Quantity;
use inferno_proto::v1::{self, collector_server::CollectorServer};
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
        out.servers
            .push((&c.observation.spec).try_into().map_err(bad)?);
        for (pod, values) in &c.pods {
            out.replicas
                .push((&replica(c, pod, values)).try_into().map_err(bad)?);
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

/// Serves `collector` on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    collector: Collector,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let service =
        CollectorServer::new(CollectorService { collector }).max_encoding_message_size(usize::MAX);
    let http = inferno_telemetry::metrics_route(move || metrics.render());
    inferno_telemetry::serve(listener, service, http, None, shutdown).await
}
