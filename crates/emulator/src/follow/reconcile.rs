//! Making the host match what should run: start servers for new pods, stop those of pods that
//! went away, drain those of Terminating pods and then remove the pods (the kubelet's part of
//! graceful termination), follow allocation and load label changes, rewrite the targets file.

use super::desired::{Desired, Drive, PodServer, Terminating};
use super::resolve::settings;
use super::targets::{self, Target};
use super::FollowConfig;
use crate::config::{LoadSpec, ServerSpec, TokenDist};
use crate::error::Error;
use crate::host::{Host, ServerHandle};
use crate::rng::stable_hash;
use crate::server::AllocationUpdate;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Preconditions};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tracing::{info, warn, Instrument};

/// A server started for a pod, with the labels it was last set from.
#[derive(Debug)]
struct Running {
    handle: ServerHandle,
    applied: PodServer,
    /// Seed of the server; internal loads use `seed + n` for the n-th load started.
    seed: u64,
    loads_started: u64,
    /// Set once the pod is Terminating.
    draining: Option<Background>,
}

/// A task of the follower's own (draining a server, removing a pod) and whether it reached
/// its goal.
#[derive(Debug)]
struct Background {
    done: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Background {
    /// Spawns `work`, which returns whether it reached its goal, and wakes the reconciler when
    /// it ends.
    fn spawn(
        changed: &Arc<Notify>,
        span: tracing::Span,
        work: impl std::future::Future<Output = bool> + Send + 'static,
    ) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let (flag, changed) = (done.clone(), changed.clone());
        let task = tokio::spawn(
            async move {
                flag.store(work.await, Ordering::SeqCst);
                changed.notify_one();
            }
            .instrument(span),
        );
        Self { done, task }
    }

    fn done(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    /// Ended without reaching its goal (to be tried again).
    fn failed(&self) -> bool {
        self.task.is_finished() && !self.done()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The follow mode's state: servers by name, the follower's own tasks, the last targets file
/// written.
pub(crate) struct Reconciler {
    host: Host,
    config: FollowConfig,
    client: kube::Client,
    /// Wakes the reconcile loop; the follower's own tasks notify it when they end.
    changed: Arc<Notify>,
    running: BTreeMap<String, Running>,
    /// Removals (`DELETE` with `gracePeriodSeconds=0`) of Terminating pods by pod uid, kept
    /// while the pod is listed.
    removals: BTreeMap<String, Background>,
    written: Option<String>,
    problems: BTreeSet<String>,
}

impl Reconciler {
    pub(crate) fn new(
        host: Host,
        config: FollowConfig,
        client: kube::Client,
        changed: Arc<Notify>,
    ) -> Self {
        Self {
            host,
            config,
            client,
            changed,
            running: BTreeMap::new(),
            removals: BTreeMap::new(),
            written: None,
            problems: BTreeSet::new(),
        }
    }

    /// Applies `desired`, then rewrites the targets file if its content changed.
    pub(crate) async fn apply(&mut self, desired: Desired) {
        let problems: BTreeSet<String> = desired.problems.into_iter().collect();
        for p in problems.difference(&self.problems) {
            warn!("{p}");
        }
        self.problems = problems;

        let mut gone = Vec::new();
        let mut terminating = Vec::new();
        let mut drained = Vec::new();
        for (key, r) in &self.running {
            if desired
                .servers
                .get(key)
                .is_some_and(|d| d.model == r.applied.model)
            {
                continue;
            }
            match (desired.terminating.get(key), &r.draining) {
                (Some(t), None) => terminating.push(t.clone()),
                (Some(t), Some(d)) if d.done() => drained.push((key.clone(), t.clone())),
                (Some(_), Some(_)) => {}
                (None, _) => gone.push(key.clone()),
            }
        }
        for key in gone {
            self.stop(&key, "pod gone, not ready or changed model")
                .await;
        }
        for t in terminating {
            self.drain(t);
        }
        for (key, t) in drained {
            // The server has stopped: its target goes, and the pod can be removed.
            self.running.remove(&key);
            self.start_removal(&key, &t);
        }
        for (key, want) in desired.servers {
            match self.running.get_mut(&key) {
                Some(r) => follow_labels(&self.host, &self.config, r, want),
                None => self.start(key, want).await,
            }
        }
        self.remove_terminated(&desired.terminating);
        self.write_targets();
    }

    /// Stops every server (requests in flight are cut off) and empties the targets file.
    pub(crate) async fn stop_all(&mut self) {
        self.removals.clear();
        let keys: Vec<String> = self.running.keys().cloned().collect();
        for key in keys {
            self.stop(&key, "shutting down").await;
        }
        self.write_targets();
    }

    /// Stops a server at once: its pod went away (for a Terminating pod: before its requests
    /// finished), stopped being ready, changed model, or the follower shuts down.
    async fn stop(&mut self, key: &str, reason: &str) {
        let Some(r) = self.running.remove(key) else {
            return;
        };
        let draining = r.draining.is_some();
        // Aborts a drain still waiting (dropping it); a drain that was stopping the server has
        // at least signalled the stop, which `ServerHandle::stop` then waits for.
        drop(r.draining);
        let in_flight = r.handle.in_flight();
        match self.host.stop_server(key).await {
            Ok(()) => {}
            Err(Error::NoSuchServer(_)) => r.handle.stop().await,
            Err(e) => warn!(server = key, error = %e, "cannot stop the server"),
        }
        if draining {
            info!(
                server = key,
                reason,
                in_flight,
                "server stopped while draining a terminating pod: requests cut off"
            );
        } else {
            info!(server = key, reason, in_flight, "server stopped");
        }
    }

    /// The pod is Terminating: stop its server's internal load (it has left the Service's
    /// endpoints), let the requests in flight finish, then stop the server.
    fn drain(&mut self, t: Terminating) {
        let key = format!("{}/{}", t.namespace, t.pod);
        let Some(r) = self.running.get_mut(&key) else {
            return;
        };
        let (handle, host) = (r.handle.clone(), self.host.clone());
        let s = handle.snapshot();
        info!(server = %key, in_flight = handle.in_flight(), running = s.running,
            waiting = s.waiting, "pod terminating: stopping the load, draining the requests");
        let span = tracing::info_span!("drain", server = %key);
        r.draining = Some(Background::spawn(&self.changed, span, async move {
            if let Err(e) = handle.drain().await {
                warn!(error = %e, "drain ended early");
            }
            match host.stop_server(handle.name()).await {
                Ok(()) | Err(Error::NoSuchServer(_)) => {}
                Err(e) => warn!(error = %e, "cannot stop the server"),
            }
            info!("terminating pod drained: server stopped");
            true
        }));
    }

    /// Removes the Terminating pods that have no server (any more) and are ours: those whose
    /// server drained, and those of managed Deployments (never ready, or whose server never
    /// started). A removal that failed is tried again; removals of pods no longer listed are
    /// forgotten.
    fn remove_terminated(&mut self, terminating: &BTreeMap<String, Terminating>) {
        let listed: BTreeSet<&str> = terminating.values().map(|t| t.uid.as_str()).collect();
        self.removals.retain(|uid, _| listed.contains(uid.as_str()));
        for (key, t) in terminating {
            if self.running.contains_key(key) {
                continue;
            }
            let go = match self.removals.get(&t.uid) {
                None => t.managed,
                Some(r) => r.failed(),
            };
            if go {
                self.start_removal(key, t);
            }
        }
    }

    fn start_removal(&mut self, key: &str, t: &Terminating) {
        if t.uid.is_empty() {
            return;
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &t.namespace);
        let (pod, uid) = (t.pod.clone(), t.uid.clone());
        let span = tracing::info_span!("remove", pod = %key);
        let removal = Background::spawn(&self.changed, span, async move {
            remove_pod(&api, &pod, &uid).await
        });
        self.removals.insert(t.uid.clone(), removal);
    }

    async fn start(&mut self, key: String, want: PodServer) {
        let s = settings(
            self.host.catalog(),
            &want.model,
            &want.accelerator,
            want.max_batch,
        );
        if let Some(why) = &s.fallback {
            warn!(server = %key, "{why}");
        }
        let seed = self.config.seed.wrapping_add(stable_hash(&key));
        let load = self
            .config
            .drive
            .then(|| want.drive.as_ref().map(|d| load_spec(d, seed)))
            .flatten();
        let spec = ServerSpec {
            name: key.clone(),
            model: want.model.clone(),
            accelerator: want.accelerator.clone(),
            port: 0,
            perf: Some(s.perf),
            max_batch_size: s.max_batch,
            time_scale: self.config.time_scale,
            seed,
            load: load.clone(),
            ..ServerSpec::default()
        };
        match self.host.start_server(spec).await {
            Ok(handle) => {
                info!(server = %key, deployment = %want.deployment, port = handle.port(),
                    rate = load.as_ref().map_or(0.0, |l| l.rate), "pod ready: server started");
                self.running.insert(
                    key,
                    Running {
                        handle,
                        applied: want,
                        seed,
                        loads_started: u64::from(load.is_some()),
                        draining: None,
                    },
                );
            }
            Err(e) => warn!(server = %key, error = %e, "cannot start a server (retried later)"),
        }
    }

    fn write_targets(&mut self) {
        let list: Vec<Target> = self
            .running
            .values()
            .map(|r| {
                Target::new(
                    r.handle.addr(),
                    &r.applied.namespace,
                    &r.applied.pod,
                    &r.applied.deployment,
                    &r.applied.model,
                )
            })
            .collect();
        let text = targets::render(&list);
        if self.written.as_deref() == Some(text.as_str()) {
            return;
        }
        match targets::write_atomic(&self.config.targets_file, &text) {
            Ok(()) => {
                info!(path = %self.config.targets_file.display(), targets = list.len(),
                    "targets file written");
                self.written = Some(text);
            }
            Err(e) => warn!(path = %self.config.targets_file.display(), error = %e,
                "cannot write the targets file (retried later)"),
        }
    }
}

/// Deletes a Terminating pod at once (`gracePeriodSeconds=0`, as the kubelet does once its
/// containers have exited), only if it is still the pod of that uid. Whether it is gone.
async fn remove_pod(api: &Api<Pod>, pod: &str, uid: &str) -> bool {
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: Some(uid.into()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(pod, &params).await {
        Ok(_) => {
            info!("terminating pod removed (grace period 0)");
            true
        }
        // Already gone, or the name now belongs to another pod: nothing left to remove.
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => true,
        Err(e) => {
            warn!(error = %e, "cannot remove the terminating pod (retried later)");
            false
        }
    }
}

/// The internal load for a pod's share, seeded.
fn load_spec(d: &Drive, seed: u64) -> LoadSpec {
    LoadSpec {
        rate: d.rate,
        in_tokens: TokenDist::Fixed(d.in_tokens),
        out_tokens: TokenDist::Fixed(d.out_tokens),
        seed,
    }
}

/// Moves a running server to the allocation and load its Deployment's labels now say.
fn follow_labels(host: &Host, config: &FollowConfig, r: &mut Running, want: PodServer) {
    let key = r.handle.name().to_string();
    if want.accelerator != r.applied.accelerator || want.max_batch != r.applied.max_batch {
        let s = settings(
            host.catalog(),
            &want.model,
            &want.accelerator,
            want.max_batch,
        );
        if let Some(why) = s
            .fallback
            .as_ref()
            .filter(|_| want.accelerator != r.applied.accelerator)
        {
            warn!(server = %key, "{why}");
        }
        let update = AllocationUpdate {
            accelerator: Some(want.accelerator.clone()),
            perf: Some(s.perf),
            max_batch_size: Some(s.max_batch),
        };
        match r.handle.update(update) {
            Ok(a) => info!(server = %key, accelerator = %a.accelerator,
                max_batch = a.max_batch_size, "allocation labels changed: server follows"),
            Err(e) => {
                warn!(server = %key, error = %e, "cannot change the allocation (retried later)");
                return;
            }
        }
    }
    if config.drive && want.drive != r.applied.drive {
        let result = match &want.drive {
            Some(d) => {
                let spec = load_spec(d, r.seed.wrapping_add(r.loads_started));
                r.handle.start_load(spec).map(|()| r.loads_started += 1)
            }
            None => r.handle.stop_load(),
        };
        if let Err(e) = result {
            warn!(server = %key, error = %e, "cannot change the load (retried later)");
            return;
        }
    }
    r.applied = want;
}
