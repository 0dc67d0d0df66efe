//! Leader election through a coordination.k8s.io Lease, so that two controllers never run
//! cycles (and actuate) at once. Off by default: a single controller is always the leader.
//! On shutdown the leader releases the Lease, so a standby need not wait for it to expire.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// Whether this controller may run cycles.
#[derive(Debug, Clone)]
pub struct Leadership {
    leading: Arc<AtomicBool>,
    /// The election task, when electing: `release` stops it.
    elector: Option<Arc<Elector>>,
}

#[derive(Debug)]
struct Elector {
    stop: watch::Sender<bool>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Leadership {
    /// No election: always the leader.
    pub fn always() -> Self {
        Self {
            leading: Arc::new(AtomicBool::new(true)),
            elector: None,
        }
    }

    /// Whether this controller holds the lease now.
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// Competes for Lease `namespace/name` as `identity`, renewing every third of `duration`
    /// (and, as a standby, trying that often to take it), until [`Leadership::release`].
    pub fn elect(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        let leading = Arc::new(AtomicBool::new(false));
        let (stop, mut stopped) = watch::channel(false);
        let api: Api<Lease> = Api::namespaced(client, namespace);
        let (name, identity) = (name.to_string(), identity.to_string());
        let flag = leading.clone();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(duration / 3);
            loop {
                // Stop only between rounds: a renewal is never cut off half-way, so none can
                // land after the release below.
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stopped.wait_for(|s| *s) => break,
                }
                let now_leader = match try_acquire(&api, &name, &identity, duration).await {
                    Ok(leader) => leader,
                    Err(e) => {
                        warn!(error = %e, "lease update failed");
                        false
                    }
                };
                if now_leader != flag.swap(now_leader, Ordering::SeqCst) {
                    info!(identity = %identity, leader = now_leader, "leadership changed");
                }
            }
            // Asked even when the last round failed: the lease may still name us.
            flag.store(false, Ordering::SeqCst);
            match release(&api, &name, &identity).await {
                Ok(true) => info!(identity = %identity, lease = %name, "lease released"),
                Ok(false) => {}
                Err(e) => warn!(identity = %identity, lease = %name, error = %e,
                    "cannot release the lease; a standby takes it when it expires"),
            }
        });
        Self {
            leading,
            elector: Some(Arc::new(Elector {
                stop,
                task: tokio::sync::Mutex::new(Some(task)),
            })),
        }
    }

    /// Steps down: stops running for the lease and, when holding it, releases it (clears the
    /// holder, as client-go's `ReleaseOnCancel` does) so a standby takes it at its next try
    /// instead of waiting for it to expire. Returns once done; call it after the last cycle
    /// has finished. Without election it does nothing.
    pub async fn release(&self) {
        let Some(elector) = &self.elector else {
            return;
        };
        let _ = elector.stop.send(true);
        if let Some(task) = elector.task.lock().await.take() {
            let _ = task.await;
        }
    }
}

/// Releases the lease if `identity` holds it: no holder, a renew time of now and a duration of
/// one second. Returns whether it did.
async fn release(api: &Api<Lease>, name: &str, identity: &str) -> Result<bool, kube::Error> {
    let Some(mut lease) = api.get_opt(name).await? else {
        return Ok(false);
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    if spec.holder_identity.as_deref() != Some(identity) {
        return Ok(false);
    }
    let now = Timestamp::now();
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.acquire_time = Some(MicroTime(now));
    spec.renew_time = Some(MicroTime(now));
    // replace carries the resourceVersion read above: if someone else wrote the lease since,
    // it is no longer ours to release (409).
    match api.replace(name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

/// One round: create, renew or take over the lease. Returns whether we hold it.
async fn try_acquire(
    api: &Api<Lease>,
    name: &str,
    identity: &str,
    duration: Duration,
) -> Result<bool, kube::Error> {
    let now = Timestamp::now();
    let seconds = i32::try_from(duration.as_secs()).unwrap_or(i32::MAX).max(1);
    let Some(mut lease) = api.get_opt(name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(identity.into()),
                lease_duration_seconds: Some(seconds),
                acquire_time: Some(MicroTime(now)),
                renew_time: Some(MicroTime(now)),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
            Err(e) => Err(e),
        };
    };
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    let renewed = spec.renew_time.as_ref().map(|t| t.0);
    let held_for = i64::from(spec.lease_duration_seconds.unwrap_or(seconds));
    let expired = renewed.is_none_or(|t| t + SignedDuration::from_secs(held_for) < now);
    if holder != identity && !holder.is_empty() && !expired {
        return Ok(false);
    }
    if holder != identity {
        spec.holder_identity = Some(identity.into());
        spec.acquire_time = Some(MicroTime(now));
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.renew_time = Some(MicroTime(now));
    spec.lease_duration_seconds = Some(seconds);
    // replace carries the resourceVersion we read: a concurrent writer makes this a 409.
    match api.replace(name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}
