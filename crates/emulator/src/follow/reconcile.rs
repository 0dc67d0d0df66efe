//! Making the host match what should run: start servers for new pods, stop those of pods that
//! went away, follow allocation and load label changes, rewrite the targets file.

use super::desired::{Desired, Drive, PodServer};
use super::resolve::settings;
use super::targets::{self, Target};
use super::FollowConfig;
use crate::config::{LoadSpec, ServerSpec, TokenDist};
use crate::host::{Host, ServerHandle};
use crate::rng::stable_hash;
use crate::server::AllocationUpdate;
use std::collections::{BTreeMap, BTreeSet};
use tracing::{info, warn};

/// A server started for a pod, with the labels it was last set from.
#[derive(Debug)]
struct Running {
    handle: ServerHandle,
    applied: PodServer,
    /// Seed of the server; internal loads use `seed + n` for the n-th load started.
    seed: u64,
    loads_started: u64,
}

/// The follow mode's state: servers by name and the last targets file written.
#[derive(Debug)]
pub(crate) struct Reconciler {
    host: Host,
    config: FollowConfig,
    running: BTreeMap<String, Running>,
    written: Option<String>,
    problems: BTreeSet<String>,
}

impl Reconciler {
    pub(crate) fn new(host: Host, config: FollowConfig) -> Self {
        Self {
            host,
            config,
            running: BTreeMap::new(),
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

        let gone: Vec<String> = self
            .running
            .iter()
            .filter(|(key, r)| {
                desired
                    .servers
                    .get(*key)
                    .is_none_or(|d| d.model != r.applied.model)
            })
            .map(|(key, _)| key.clone())
            .collect();
        for key in gone {
            self.stop(&key, "pod gone or changed model").await;
        }
        for (key, want) in desired.servers {
            match self.running.get_mut(&key) {
                Some(r) => follow_labels(&self.host, &self.config, r, want),
                None => self.start(key, want).await,
            }
        }
        self.write_targets();
    }

    /// Stops every server and empties the targets file.
    pub(crate) async fn stop_all(&mut self) {
        let keys: Vec<String> = self.running.keys().cloned().collect();
        for key in keys {
            self.stop(&key, "shutting down").await;
        }
        self.write_targets();
    }

    async fn stop(&mut self, key: &str, reason: &str) {
        if self.running.remove(key).is_some() {
            if let Err(e) = self.host.stop_server(key).await {
                warn!(server = key, error = %e, "cannot stop the server");
            }
            info!(server = key, reason, "server stopped");
        }
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
