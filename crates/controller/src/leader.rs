//! Leader election through a coordination.k8s.io Lease, so that two controllers never run
//! cycles (and actuate) at once. Off by default: a single controller is always the leader.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// Whether this controller may run cycles.
#[derive(Debug, Clone)]
pub struct Leadership {
    leading: Arc<AtomicBool>,
}

impl Leadership {
    /// No election: always the leader.
    pub fn always() -> Self {
        Self {
            leading: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Whether this controller holds the lease now.
    pub fn is_leader(&self) -> bool {
        self.leading.load(Ordering::SeqCst)
    }

    /// Competes for Lease `namespace/name` as `identity`, renewing every third of `duration`,
    /// until the runtime stops.
    pub fn elect(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        let me = Self {
            leading: Arc::new(AtomicBool::new(false)),
        };
        let leading = me.leading.clone();
        let api: Api<Lease> = Api::namespaced(client, namespace);
        let (name, identity) = (name.to_string(), identity.to_string());
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(duration / 3);
            loop {
                ticker.tick().await;
                let now_leader = match try_acquire(&api, &name, &identity, duration).await {
                    Ok(leader) => leader,
                    Err(e) => {
                        warn!(error = %e, "lease update failed");
                        false
                    }
                };
                if now_leader != leading.swap(now_leader, Ordering::SeqCst) {
                    info!(identity = %identity, leader = now_leader, "leadership changed");
                }
            }
        });
        me
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
