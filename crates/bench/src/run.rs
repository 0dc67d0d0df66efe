//! One run of a scenario under a set of policies, side by side on one cluster, with the same
//! requests sent to each.

use crate::arrivals;
use crate::cluster::{Allocation, Books, Cluster, Tenant};
use crate::planner::{allocate, fallback, Parameters};
use crate::policies::inferno::{Cycle, Loop};
use crate::policies::{hpa, planned, Policy};
use crate::scenario::Plan;
use crate::traffic::{dispatch, Recorder, RequestRecord};
use crate::{Error, Result};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Output directory.
    pub out: PathBuf,
    /// Policies to compare.
    pub policies: Vec<Policy>,
    /// Directory of the Inferno binaries (for the inferno policy).
    pub bin_dir: PathBuf,
}

/// What a Deployment looked like at one sampling instant (a line of `samples.jsonl`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// Scenario seconds.
    pub t: f64,
    /// Policy index.
    #[serde(skip)]
    pub policy: usize,
    /// Server index.
    #[serde(skip)]
    pub server_index: usize,
    /// Server name.
    pub server: String,
    /// Offered load, requests/min.
    pub offered_rpm: f64,
    /// The Deployment's `spec.replicas`.
    pub replicas: u32,
    /// Pods serving (ready, not terminating).
    pub serving: u32,
    /// Pods existing (starting and terminating included).
    pub pods: u32,
    /// Accelerator of the Deployment's template.
    pub accelerator: String,
    /// Batch cap of the Deployment's template.
    pub batch: u32,
    /// GPU cost rate now, cents/hr.
    pub cost_rate: f64,
}

/// Everything a run measured.
#[derive(Debug)]
pub struct Measured {
    /// The plan.
    pub plan: Arc<Plan>,
    /// The policies, in index order.
    pub policies: Vec<Policy>,
    /// Every request under every policy.
    pub records: Vec<RequestRecord>,
    /// Samples every period.
    pub samples: Vec<Sample>,
    /// Books per (policy, server) at the end of the scenario.
    pub books: Vec<Vec<Books>>,
    /// The inferno loop's cycles.
    pub cycles: Vec<Cycle>,
    /// Largest lateness of a dispatch behind its arrival time, wall ms (harness health).
    pub max_dispatch_lag_ms: f64,
    /// Problems that make the result doubtful (a loop process died, ...).
    pub warnings: Vec<String>,
}

fn initial(plan: &Plan, policy: Policy, common: &[Allocation]) -> Vec<Allocation> {
    let chosen = match policy {
        Policy::StaticPeak => planned::static_peak(plan),
        Policy::Clairvoyant => planned::clairvoyant_at(plan, 0.0),
        Policy::Inferno | Policy::Hpa => return common.to_vec(),
    };
    chosen
        .into_iter()
        .zip(common)
        .map(|(a, c)| a.unwrap_or_else(|| c.clone()))
        .collect()
}

/// Runs `plan` under `options.policies`.
pub async fn run(plan: Plan, options: &Options) -> Result<Measured> {
    std::fs::create_dir_all(&options.out).map_err(|e| Error::Io {
        path: options.out.clone(),
        source: e,
    })?;
    // Absolute: Prometheus resolves the targets file against its configuration's directory.
    let out = &options.out.canonicalize().map_err(|e| Error::Io {
        path: options.out.clone(),
        source: e,
    })?;
    let plan = Arc::new(plan);
    let s = &plan.scenario;
    let duration = s.duration.0;
    let tenants: Vec<Tenant> = options
        .policies
        .iter()
        .map(|p| Tenant {
            policy: p.name().into(),
            namespace: format!("bench-{}", p.name()),
            scraped: *p == Policy::Inferno,
        })
        .collect();
    let requests: Vec<Vec<arrivals::Request>> = plan
        .servers
        .iter()
        .enumerate()
        .map(|(i, b)| arrivals::generate(i, b, &s.noise, duration, s.seed))
        .collect();
    tracing::info!(
        scenario = %plan.name,
        servers = plan.servers.len(),
        requests = requests.iter().map(Vec::len).sum::<usize>(),
        policies = ?options.policies.iter().map(|p| p.name()).collect::<Vec<_>>(),
        "starting"
    );

    let cluster = Cluster::start(plan.clone(), tenants.clone(), out.join("targets.json")).await?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let kubelet = tokio::spawn(cluster.clone().run(async move {
        let _ = stop_rx.await;
    }));

    let p = plan.clone();
    let common: Vec<Allocation> = tokio::task::spawn_blocking(move || {
        let loads: Vec<_> = p.servers.iter().map(|b| b.load_at(0.0)).collect();
        allocate(&p, &loads, Parameters::Catalog)
            .into_iter()
            .enumerate()
            .map(|(i, a)| a.or_else(|| fallback(&p, i)))
            .collect::<Option<Vec<_>>>()
    })
    .await
    .map_err(|e| Error::run("optimizer", e))?
    .ok_or_else(|| Error::run("optimizer", "a server has no accelerator in the catalog"))?;
    for (pi, policy) in options.policies.iter().enumerate() {
        let p = plan.clone();
        let c = common.clone();
        let policy = *policy;
        let allocations = tokio::task::spawn_blocking(move || initial(&p, policy, &c))
            .await
            .map_err(|e| Error::run("optimizer", e))?;
        for (si, a) in allocations.iter().enumerate() {
            cluster.create_deployment(pi, si, a)?;
        }
    }
    let warm = Duration::from_secs_f64(plan.max_startup_seconds() * 2.0 / s.time_scale)
        + Duration::from_secs(60);
    cluster.wait_serving(warm).await?;

    let mut inferno = None;
    if let Some(pi) = options.policies.iter().position(|p| *p == Policy::Inferno) {
        let kubeconfig = out.join("kubeconfig");
        cluster.write_kubeconfig(&kubeconfig)?;
        let work = out.join("inferno");
        inferno = Some(
            Loop::start(
                &plan,
                &tenants[pi].namespace,
                &work,
                options.bin_dir.clone(),
                kubeconfig,
                &out.join("targets.json"),
            )
            .await?,
        );
    }

    cluster.start_clock();
    let clock = cluster.clock();
    let recorder = Arc::new(Recorder::default());
    let indices: Vec<usize> = (0..options.policies.len()).collect();
    let mut tasks = Vec::new();
    for (i, reqs) in requests.into_iter().enumerate() {
        tasks.push(tokio::spawn(dispatch(
            cluster.clone(),
            recorder.clone(),
            Arc::new(plan.servers[i].clone()),
            reqs,
            indices.clone(),
            s.gateway.max_wait.0,
        )));
    }
    let mut background = Vec::new();
    for (pi, policy) in options.policies.iter().enumerate() {
        match policy {
            Policy::Hpa => background.push(tokio::spawn(hpa::run(
                cluster.clone(),
                pi,
                plan.servers.len(),
                s.hpa.clone(),
            ))),
            Policy::Clairvoyant => background.push(tokio::spawn(planned::clairvoyant(
                cluster.clone(),
                plan.clone(),
                pi,
            ))),
            Policy::Inferno | Policy::StaticPeak => {}
        }
    }
    if let Some(l) = &inferno {
        let c = cluster.clone();
        background.push(l.follow(move || c.clock()));
    }
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let (c, p, smp) = (cluster.clone(), plan.clone(), samples.clone());
        let n = options.policies.len();
        background.push(tokio::spawn(async move {
            let period = p.scenario.period.0;
            let mut t = 0.0;
            while t <= p.scenario.duration.0 + 1e-9 {
                clock.sleep_until(t).await;
                c.drift();
                let mut batch = Vec::new();
                for pi in 0..n {
                    for (si, b) in p.servers.iter().enumerate() {
                        let a = c.allocation(pi, si);
                        let (pods, serving, _) = c.pod_counts(pi, si);
                        batch.push(Sample {
                            t,
                            policy: pi,
                            server_index: si,
                            server: b.name.clone(),
                            offered_rpm: b.load_at(t).rpm,
                            replicas: a.as_ref().map_or(0, |a| a.replicas),
                            serving,
                            pods,
                            accelerator: a
                                .as_ref()
                                .map(|a| a.accelerator.clone())
                                .unwrap_or_default(),
                            batch: a.as_ref().map_or(0, |a| a.batch),
                            cost_rate: c.cost_rate(pi, si),
                        });
                    }
                }
                smp.lock().unwrap_or_else(|e| e.into_inner()).extend(batch);
                t += period;
            }
        }));
    }

    clock.sleep_until(duration).await;
    let books = cluster.books();
    // Requests still running get a bounded time to finish; what is left is unfinished.
    let drain_end = tokio::time::Instant::now() + clock.wall(300.0).min(Duration::from_secs(120));
    for t in &tasks {
        while !t.is_finished() && tokio::time::Instant::now() < drain_end {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    while recorder.open_count() > 0 && tokio::time::Instant::now() < drain_end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut warnings = Vec::new();
    let mut cycles = Vec::new();
    if let Some(mut l) = inferno {
        for dead in l.dead() {
            warnings.push(format!(
                "the loop's {dead} process exited during the run (see its log)"
            ));
        }
        cycles = l.cycles.lock().unwrap_or_else(|e| e.into_inner()).clone();
        l.stop().await;
    }
    for t in tasks.iter().chain(&background) {
        t.abort();
    }
    let records = recorder.finish();
    let _ = stop_tx.send(());
    let _ = kubelet.await;
    let lag = recorder
        .max_lag_us
        .load(std::sync::atomic::Ordering::Relaxed) as f64
        / 1000.0;
    if lag > 1000.0 {
        warnings.push(format!(
            "requests were dispatched up to {lag:.0} ms (wall) late: the machine could not keep up with time scale {}",
            s.time_scale
        ));
    }
    let samples = std::mem::take(&mut *samples.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(Measured {
        plan,
        policies: options.policies.clone(),
        records,
        samples,
        books,
        cycles,
        max_dispatch_lag_ms: lag,
        warnings,
    })
}
