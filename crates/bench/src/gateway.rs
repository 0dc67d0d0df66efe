//! The load balancer in front of one Deployment: what a Service or an inference gateway does.
//!
//! Requests go to the ready, not-terminating pod with the fewest requests outstanding (the
//! gateway's own count, as a least-request balancer keeps it). A pod leaves the set the moment
//! it starts terminating, as it leaves the Service's endpoints; requests already sent to it
//! stay there. With no pod in the set a request waits for one (see `policy`'s dispatcher).

use inferno_emulator::ServerHandle;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// One ready pod.
#[derive(Debug, Clone)]
struct Endpoint {
    pod: String,
    server: ServerHandle,
    outstanding: Arc<AtomicU64>,
}

/// A pod picked for one request; dropping it ends the request's share of the count.
#[derive(Debug)]
pub struct Lease {
    /// The pod's name.
    pub pod: String,
    /// Its emulated server.
    pub server: ServerHandle,
    outstanding: Arc<AtomicU64>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The endpoints of one Deployment.
#[derive(Debug, Default)]
pub struct Gateway {
    endpoints: Mutex<Vec<Endpoint>>,
    changed: Notify,
}

impl Gateway {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Endpoint>> {
        self.endpoints.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a ready pod and wakes the requests waiting for one.
    pub fn add(&self, pod: &str, server: ServerHandle) {
        let mut e = self.lock();
        e.retain(|x| x.pod != pod);
        e.push(Endpoint {
            pod: pod.to_string(),
            server,
            outstanding: Arc::new(AtomicU64::new(0)),
        });
        drop(e);
        self.changed.notify_waiters();
    }

    /// Removes a pod (terminating or gone).
    pub fn remove(&self, pod: &str) {
        self.lock().retain(|x| x.pod != pod);
    }

    /// The pod with the fewest outstanding requests (ties: the first added).
    pub fn pick(&self) -> Option<Lease> {
        let e = self.lock();
        let best = e
            .iter()
            .min_by_key(|x| x.outstanding.load(Ordering::Relaxed))?;
        best.outstanding.fetch_add(1, Ordering::Relaxed);
        Some(Lease {
            pod: best.pod.clone(),
            server: best.server.clone(),
            outstanding: best.outstanding.clone(),
        })
    }

    /// Waits for a pod until `deadline`; None when none came.
    pub async fn wait_pick(&self, deadline: tokio::time::Instant) -> Option<Lease> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(l) = self.pick() {
                return Some(l);
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(deadline) => return self.pick(),
            }
        }
    }

    /// The servers of the ready pods (for the hpa baseline's metrics).
    pub fn servers(&self) -> Vec<ServerHandle> {
        self.lock().iter().map(|x| x.server.clone()).collect()
    }

    /// Number of ready pods.
    pub fn ready(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use inferno_emulator::{Host, PerfParms, ServerSpec};
    use std::time::Duration;

    async fn server(host: &Host, name: &str) -> ServerHandle {
        host.start_server(ServerSpec {
            name: name.into(),
            model: "m".into(),
            perf: Some(PerfParms {
                alpha: 10.0,
                beta: 0.1,
                gamma: 0.001,
            }),
            max_batch_size: 8,
            time_scale: 100.0,
            ..ServerSpec::default()
        })
        .await
        .expect("server starts")
    }

    #[tokio::test]
    async fn a_request_waits_for_a_ready_pod_or_is_rejected() {
        let host = Host::loopback(None);
        let gw = Arc::new(Gateway::default());
        let soon = tokio::time::Instant::now() + Duration::from_millis(50);
        assert!(
            gw.wait_pick(soon).await.is_none(),
            "no pod: rejected at the deadline"
        );

        let waiting = {
            let gw = gw.clone();
            tokio::spawn(async move {
                gw.wait_pick(tokio::time::Instant::now() + Duration::from_secs(30))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        gw.add("p1", server(&host, "p1").await);
        let lease = waiting
            .await
            .expect("joins")
            .expect("the new pod is picked");
        assert_eq!(lease.pod, "p1");
        host.shutdown().await;
    }

    #[tokio::test]
    async fn least_outstanding_pod_first_and_terminating_pods_leave() {
        let host = Host::loopback(None);
        let gw = Gateway::default();
        gw.add("a", server(&host, "a").await);
        gw.add("b", server(&host, "b").await);
        let first = gw.pick().expect("a pod");
        let second = gw.pick().expect("a pod");
        assert_ne!(first.pod, second.pod, "the busier pod is avoided");
        drop(first);
        let third = gw.pick().expect("a pod");
        assert_ne!(third.pod, second.pod);
        gw.remove("a");
        gw.remove("b");
        assert!(gw.pick().is_none());
        assert_eq!(gw.ready(), 0);
        host.shutdown().await;
    }
}
