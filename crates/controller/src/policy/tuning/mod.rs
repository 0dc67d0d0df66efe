//! What the loop learns of the servers (docs/tuning.md): the iteration-time parameters of each
//! (model, accelerator), tuned online from the latencies its servers deliver, and how long
//! their pods take to start.
//!
//! The optimizer stays stateless: each cycle it is given the model data with the tuned
//! parameters in place of the catalog's (once the filter trusts them) and the learnt start-up
//! time as the cost of a change.

#[cfg(test)]
mod tests;

use inferno_api::limits::MAX_QUEUE_SIZE;
use inferno_api::{ModelData, PerfParms, ServerSpec};
use inferno_core::Observation;
use inferno_optimizer::queue::PerfParams;
use inferno_optimizer::tune::{latencies, Measurement, Tuner, TunerSettings, TunerState, Verdict};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet, VecDeque};

/// (model, accelerator).
type Key = (String, String);

/// Pods whose mean batch is this fraction of their cap or more run full (as the policy's).
const SATURATED: f64 = super::SATURATED_BATCH;

/// Start-up times kept per (model, accelerator).
const STARTUP_SAMPLES: usize = 9;

/// Pod names remembered so that each pod's start-up counts once; past this the memory starts
/// afresh (a pod seen again then counts again, once).
const MAX_PODS: usize = 10_000;

/// Parameters as reported (ms, ms/token, ms/KV token).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// ms per iteration.
    pub alpha: f64,
    /// ms per computed token.
    pub beta: f64,
    /// ms per KV-cache token read.
    pub gamma: f64,
}

impl From<PerfParams> for Params {
    fn from(p: PerfParams) -> Self {
        Self {
            alpha: p.alpha,
            beta: p.beta,
            gamma: p.gamma,
        }
    }
}

impl From<Params> for PerfParams {
    fn from(p: Params) -> Self {
        PerfParams {
            alpha: p.alpha,
            beta: p.beta,
            gamma: p.gamma,
        }
    }
}

fn perf(p: &PerfParms) -> PerfParams {
    PerfParams {
        alpha: p.alpha,
        beta: p.beta,
        gamma: p.gamma,
    }
}

/// What the loop knows of one (model, accelerator): in the cycle report, `GET /tuning`,
/// the `GetTuning` call and the metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TunedRecord {
    /// Model.
    pub model: String,
    /// Accelerator.
    pub accelerator: String,
    /// The catalog's parameters.
    pub catalog: Params,
    /// The filter's estimate.
    pub estimate: Params,
    /// Its standard deviation.
    pub sd: Params,
    /// What the optimizer is given: the estimate once trusted, else the catalog.
    pub in_use: Params,
    /// Whether the estimate is in use.
    pub trusted: bool,
    /// Measurements taken.
    pub updates: u64,
    /// Measurements rejected as outliers.
    pub rejected: u64,
    /// Median start-up time of its pods seen, seconds of the servers' clock (0 = none seen).
    pub startup_seconds: f64,
    /// Pod start-ups behind it.
    pub startup_samples: usize,
}

/// The model's prediction, with the parameters the loop now holds, of what the current ready
/// pods deliver at the measured rate: checked by the benchmark against the next period's
/// requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelCheck {
    /// Predicted mean ITL, ms.
    pub predicted_itl: f64,
    /// Predicted mean TTFT, ms.
    pub predicted_ttft: f64,
    /// Measurements the tuner of this (model, accelerator) has taken (0 when tuning is off).
    pub tuner_updates: u64,
    /// Every ordered pod has served for the policy's steady cycles, all of one kind: the
    /// state the model describes (no pods starting, no rollout mixing two kinds).
    pub steady: bool,
    /// The parameters the prediction used (what the optimizer is given).
    pub params: Params,
    /// The pods' batch cap it used.
    pub max_batch: u32,
    /// The pods' queue limit it used.
    pub max_queue: u32,
    /// The spread of output lengths it used (coefficient of variation; 0 = none measured).
    pub out_tokens_cv: f64,
}

/// A tuner's state as persisted (the ConfigMap of `--tuning-configmap`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Persisted {
    /// Model.
    pub model: String,
    /// Accelerator.
    pub accelerator: String,
    /// The catalog the state is relative to: a changed catalog starts afresh.
    pub catalog: Params,
    /// The estimate relative to the catalog.
    pub relative: [f64; 3],
    /// Its covariance.
    pub covariance: [[f64; 3]; 3],
    /// Measurements taken.
    pub updates: u64,
    /// Outliers rejected.
    pub rejected: u64,
    /// Start-up times seen, servers' clock seconds.
    #[serde(default)]
    pub startups: Vec<f64>,
}

/// The tuners and start-up times of every (model, accelerator) seen.
#[derive(Debug, Default)]
pub struct Tuning {
    enabled: bool,
    settings: TunerSettings,
    tuners: BTreeMap<Key, Tuner>,
    startups: BTreeMap<Key, VecDeque<f64>>,
    pods: HashSet<String>,
    /// Per trusted (model, accelerator): its tuned ITL over the catalog's at the last window
    /// taken, the slowdown other accelerators of the model are planned with until their own
    /// servers have said otherwise.
    slowdown: BTreeMap<Key, f64>,
    /// States read back at start, taken up when their (model, accelerator) is first seen.
    pending: BTreeMap<Key, Persisted>,
}

fn catalog_of(models: &ModelData, model: &str, acc: &str) -> Option<PerfParams> {
    models
        .models
        .iter()
        .find(|m| m.name == model && m.acc == acc)
        .map(|m| perf(&m.perf_parms))
}

/// The factor `f` such that the catalog's parameters all times `f` give the ITL the tuned
/// ones give at the measurement's operating point: one number for "this model runs f times
/// slower than the catalog says", which carries over to its other accelerators (the tuned
/// parameters one by one do not: at one token mix the filter cannot tell them apart well).
/// Bisection on `f` in the tuner's bounds; the ITL grows with `f`.
fn uniform_slowdown(catalog: PerfParams, tuned: PerfParams, m: &Measurement) -> Option<f64> {
    let target = latencies(tuned, m)?.0;
    let at = |f: f64| {
        let p = PerfParams {
            alpha: catalog.alpha * f,
            beta: catalog.beta * f,
            gamma: catalog.gamma * f,
        };
        latencies(p, m).map(|l| l.0)
    };
    let (mut lo, mut hi) = TunerSettings::default().bounds;
    if at(lo)? > target || at(hi)? < target {
        return None;
    }
    // 20 halvings of a range of 4.8: within 5e-6, far under the filter's uncertainty, at
    // 21 analyses per server and cycle.
    for _ in 0..20 {
        let mid = (lo + hi) / 2.0;
        if at(mid)? < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some((lo + hi) / 2.0)
}

/// One of `server`'s serving pods as the model sees it: the measured rate shared by `ready`
/// pods, the measured token means, the batch cap; latencies not filled in. `None` without a
/// pod serving or a rate.
fn pod(server: &ServerSpec, ready: f64) -> Option<Measurement> {
    let cur = &server.current_alloc;
    if ready.is_nan() || ready < 1.0 || cur.load.arrival_rate <= 0.0 || cur.max_batch < 1 {
        return None;
    }
    Some(Measurement {
        in_tokens: cur.load.avg_in_tokens as f64,
        out_tokens: cur.load.avg_out_tokens.max(1) as f64,
        out_cv: cur.load.out_tokens_cv,
        rate: cur.load.arrival_rate / 60.0 / ready,
        max_batch: cur.max_batch.min(i64::from(u32::MAX)) as u32,
        max_queue: server.max_queue_size.clamp(0, MAX_QUEUE_SIZE) as u32,
        running: 0.0,
        itl_ms: 0.0,
        ttft_ms: 0.0,
    })
}

fn median(v: &VecDeque<f64>) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().collect();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

impl Tuning {
    /// Tuning on or off (start-up times are learnt either way).
    pub fn new(enabled: bool, settings: TunerSettings) -> Self {
        Self {
            enabled,
            settings,
            ..Self::default()
        }
    }

    /// Whether the parameters are tuned.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Takes what `obs` says of `server`'s pods. `serving`: the mean number of ready pods over
    /// the window the latencies were measured in, when every pod ordered serves, all of one
    /// kind, and the window holds at least `min_requests` requests (`None` otherwise); only
    /// then do the latencies describe the current (accelerator, batch). Returns notes for the
    /// report.
    ///
    /// Why the mean over the window and not the pods ready now: the window's arrivals were
    /// shared by the pods that were ready while they came. Divided by the fewer pods left at
    /// the end of a window across a scale-down, its rate put more requests on a pod than any
    /// ran, the model predicted more than the pods delivered, and the filter took the servers
    /// for faster than they are (13.9% off in
    /// `tests::a_window_across_a_scale_down_is_read_at_the_pods_that_served_it`).
    pub fn observe(
        &mut self,
        models: &ModelData,
        server: &ServerSpec,
        obs: Option<&Observation>,
        serving: Option<f64>,
    ) -> Vec<String> {
        let cur = &server.current_alloc;
        let key = (server.model.clone(), cur.accelerator.clone());
        let mut notes = Vec::new();
        let Some(obs) = obs else { return notes };
        self.learn_startups(&key, obs);
        let Some(serving) = serving else { return notes };
        if !self.enabled || cur.accelerator.is_empty() {
            return notes;
        }
        // Pods that queue, or run (nearly) full batches, are beyond what the iteration model
        // describes: a full KV cache preempts and recomputes, a queue's waits are its own. On
        // the drift benchmark such windows (mixtral at its cap, ITL twice the model's) taught
        // the filter parameters 2.4x the catalog's, and every calm window after them was then
        // an "outlier". What saturated pods can carry is measured directly instead (the
        // policy's saturation floor).
        if obs.waiting > 0.0 || obs.running >= SATURATED * cur.max_batch as f64 {
            return notes;
        }
        let Some(catalog) = catalog_of(models, &key.0, &key.1) else {
            return notes;
        };
        let Some(mut m) = pod(server, serving) else {
            return notes;
        };
        let tuner = self.tuner(&key, catalog);
        m = Measurement {
            running: obs.running,
            itl_ms: cur.itl_average,
            ttft_ms: cur.ttft_average,
            ..m
        };
        let was_trusted = tuner.trusted();
        for (what, v) in ["ITL", "TTFT"].into_iter().zip(tuner.observe(&m)) {
            match v {
                Some(Verdict::Rejected { predicted, sigmas }) => notes.push(format!(
                    "tuning: measured {what} rejected as an outlier ({sigmas:+.1} sd from the \
                     predicted {predicted:.1} ms)"
                )),
                Some(Verdict::Step { predicted, sigmas }) => notes.push(format!(
                    "tuning: measured {what} {sigmas:+.1} sd from the predicted {predicted:.1} \
                     ms again: a step change, uncertainty reset"
                )),
                _ => {}
            }
        }
        let trusted = tuner.trusted();
        let params = tuner.params();
        if trusted {
            if let Some(r) = uniform_slowdown(catalog, params, &m) {
                self.slowdown.insert(key.clone(), r);
            }
        }
        if trusted && !was_trusted {
            let p = params;
            notes.push(format!(
                "tuning: {}/{} now planned with alpha {:.3} beta {:.5} gamma {:.7} (catalog \
                 {:.3} {:.5} {:.7})",
                key.0, key.1, p.alpha, p.beta, p.gamma, catalog.alpha, catalog.beta, catalog.gamma
            ));
        }
        notes
    }

    /// The tuner of `key`, created from the catalog, or resumed from a persisted state made on
    /// the same catalog.
    fn tuner(&mut self, key: &Key, catalog: PerfParams) -> &mut Tuner {
        if self.tuners.get(key).is_some_and(|t| t.catalog() != catalog) {
            // The catalog changed under us (new model data): its values are the new prior.
            self.tuners.remove(key);
        }
        let settings = self.settings;
        let pending = self.pending.remove(key);
        self.tuners.entry(key.clone()).or_insert_with(|| {
            match pending.filter(|p| PerfParams::from(p.catalog) == catalog) {
                Some(p) => Tuner::resume(
                    catalog,
                    settings,
                    TunerState {
                        relative: p.relative,
                        covariance: p.covariance,
                        updates: p.updates,
                        rejected: p.rejected,
                    },
                ),
                None => Tuner::new(catalog, settings),
            }
        })
    }

    fn learn_startups(&mut self, key: &Key, obs: &Observation) {
        if key.1.is_empty() {
            return;
        }
        for p in &obs.pods {
            if p.startup_seconds <= 0.0 || self.pods.contains(&p.pod) {
                continue;
            }
            if self.pods.len() >= MAX_PODS {
                self.pods.clear();
            }
            self.pods.insert(p.pod.clone());
            let v = self.startups.entry(key.clone()).or_default();
            v.push_back(p.startup_seconds);
            while v.len() > STARTUP_SAMPLES {
                v.pop_front();
            }
        }
    }

    /// The median start-up time of (model, accelerator)'s pods, servers' clock seconds.
    pub fn startup(&self, model: &str, accelerator: &str) -> Option<f64> {
        self.startups
            .get(&(model.to_string(), accelerator.to_string()))
            .filter(|v| !v.is_empty())
            .map(median)
    }

    /// The longest learnt start-up of any (model, accelerator), servers' clock seconds.
    pub fn longest_startup(&self) -> Option<f64> {
        self.startups
            .values()
            .filter(|v| !v.is_empty())
            .map(median)
            .reduce(f64::max)
    }

    /// Puts the trusted estimates in place of the catalog's parameters in `models`. The other
    /// accelerators of a model some of whose servers have been tuned get the catalog scaled
    /// by the slowdown seen there (the mean over its tuned accelerators): left at the catalog,
    /// every accelerator not running would look better than the one that does, because only
    /// that one has been found out, and the loop would roll a server from one type to the
    /// next as each in turn is found slower than the catalog says.
    pub fn apply(&self, models: &mut ModelData) {
        for m in &mut models.models {
            let own = self
                .tuners
                .get(&(m.name.clone(), m.acc.clone()))
                .filter(|t| t.trusted() && t.catalog() == perf(&m.perf_parms));
            if let Some(t) = own {
                let p = t.params();
                m.perf_parms = PerfParms {
                    alpha: p.alpha,
                    beta: p.beta,
                    gamma: p.gamma,
                };
            } else if let Some(f) = self.model_slowdown(&m.name) {
                let p = &mut m.perf_parms;
                (p.alpha, p.beta, p.gamma) = (p.alpha * f, p.beta * f, p.gamma * f);
            }
        }
    }

    /// The mean slowdown over the trusted accelerators of `model`.
    pub fn model_slowdown(&self, model: &str) -> Option<f64> {
        let seen: Vec<f64> = self
            .slowdown
            .iter()
            .filter(|((m, _), _)| m == model)
            .map(|(_, f)| *f)
            .collect();
        (!seen.is_empty()).then(|| seen.iter().sum::<f64>() / seen.len() as f64)
    }

    /// The model's prediction for `server`'s ready pods at its measured rate, with the
    /// parameters in use (`models` as given to the optimizer).
    pub fn check(
        &self,
        models: &ModelData,
        server: &ServerSpec,
        obs: Option<&Observation>,
    ) -> Option<ModelCheck> {
        let cur = &server.current_alloc;
        let params = catalog_of(models, &server.model, &cur.accelerator)?;
        let m = pod(server, f64::from(obs?.ready_replicas))?;
        let (itl, ttft) = latencies(params, &m)?;
        let updates = self
            .tuners
            .get(&(server.model.clone(), cur.accelerator.clone()))
            .map_or(0, Tuner::updates);
        Some(ModelCheck {
            predicted_itl: itl,
            predicted_ttft: ttft,
            tuner_updates: if self.enabled { updates } else { 0 },
            steady: false,
            params: params.into(),
            max_batch: m.max_batch,
            max_queue: m.max_queue,
            out_tokens_cv: m.out_cv,
        })
    }

    /// Every (model, accelerator) known, for reports.
    pub fn records(&self) -> Vec<TunedRecord> {
        let mut keys: Vec<&Key> = self.tuners.keys().chain(self.startups.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .map(|k| {
                let mut r = TunedRecord {
                    model: k.0.clone(),
                    accelerator: k.1.clone(),
                    ..TunedRecord::default()
                };
                if let Some(t) = self.tuners.get(k) {
                    r.catalog = t.catalog().into();
                    r.estimate = t.estimate().into();
                    r.sd = t.sd().into();
                    r.in_use = t.params().into();
                    r.trusted = t.trusted();
                    r.updates = t.updates();
                    r.rejected = t.rejected();
                }
                if let Some(v) = self.startups.get(k) {
                    r.startup_seconds = median(v);
                    r.startup_samples = v.len();
                }
                r
            })
            .collect()
    }

    /// The state to persist.
    pub fn persisted(&self) -> Vec<Persisted> {
        let mut out: Vec<Persisted> = self
            .tuners
            .iter()
            .map(|(k, t)| {
                let s = t.state();
                Persisted {
                    model: k.0.clone(),
                    accelerator: k.1.clone(),
                    catalog: t.catalog().into(),
                    relative: s.relative,
                    covariance: s.covariance,
                    updates: s.updates,
                    rejected: s.rejected,
                    startups: self
                        .startups
                        .get(k)
                        .map(|v| v.iter().copied().collect())
                        .unwrap_or_default(),
                }
            })
            .collect();
        // Pending states not taken up yet are kept, not lost to a restart before their
        // servers were seen again.
        out.extend(
            self.pending
                .values()
                .filter(|p| {
                    !self
                        .tuners
                        .contains_key(&(p.model.clone(), p.accelerator.clone()))
                })
                .cloned(),
        );
        out
    }

    /// Takes states persisted by an earlier run; each is used when its (model, accelerator)
    /// is first seen, if the catalog is still the one it was tuned from.
    pub fn resume(&mut self, states: Vec<Persisted>) {
        for p in states {
            let key = (p.model.clone(), p.accelerator.clone());
            if !p.startups.is_empty() {
                let v: VecDeque<f64> = p
                    .startups
                    .iter()
                    .copied()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .collect();
                self.startups.insert(key.clone(), v);
            }
            self.pending.insert(key, p);
        }
    }
}
