//! A checked scenario: concrete servers with their nominal load and load curve, the data's
//! system with the scenario's capacity, and the lookups a run needs (start-up delays, true
//! parameters over time).

use crate::error::{Error, Result};
use crate::scenario::{Factors, Phase, Scenario, ServerEntry, Servers, Shape};
use inferno_api::{ServerSpec, SystemSpec};
use rand::{RngExt, SeedableRng};
use std::path::{Path, PathBuf};

/// A server of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchServer {
    /// Server name (the `inferno.server.name` label).
    pub name: String,
    /// Deployment name (the server name made a DNS label).
    pub deployment: String,
    /// Service class.
    pub class: String,
    /// Model.
    pub model: String,
    /// Nominal rate, requests/min (multiplier 1).
    pub rpm: f64,
    /// Nominal mean prompt tokens.
    pub in_tokens: f64,
    /// Nominal mean output tokens.
    pub out_tokens: f64,
    /// Load phases.
    pub phases: Vec<Phase>,
    /// TTFT target, ms.
    pub ttft_target_ms: f64,
    /// ITL target, ms.
    pub itl_target_ms: f64,
}

/// The load of a server at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadAt {
    /// Offered rate, requests/min.
    pub rpm: f64,
    /// Mean prompt tokens.
    pub in_tokens: f64,
    /// Mean output tokens.
    pub out_tokens: f64,
}

impl BenchServer {
    /// The offered load at scenario time `t` seconds: the phases in order, the last one's
    /// values held after its end.
    pub fn load_at(&self, t: f64) -> LoadAt {
        let mut start = 0.0;
        let mut m = 1.0;
        let (mut inn, mut out) = (self.in_tokens, self.out_tokens);
        for p in &self.phases {
            if t < start {
                break;
            }
            let end = start + p.length.0;
            let target = p.multiplier.unwrap_or(m);
            inn = p.in_tokens.unwrap_or(inn);
            out = p.out_tokens.unwrap_or(out);
            let f = if p.length.0 > 0.0 {
                ((t - start) / p.length.0).clamp(0.0, 1.0)
            } else {
                1.0
            };
            m = match p.shape {
                Shape::Step => target,
                Shape::Linear => m + (target - m) * f,
                Shape::Smooth => m + (target - m) * (1.0 - (std::f64::consts::PI * f).cos()) / 2.0,
            };
            start = end;
        }
        LoadAt {
            rpm: self.rpm * m,
            in_tokens: inn,
            out_tokens: out,
        }
    }

    /// The highest offered load between `from` and `to` (scenario seconds), sampled every
    /// second, with the token means at that moment.
    pub fn peak(&self, from: f64, to: f64) -> LoadAt {
        let mut best = self.load_at(from);
        let mut t = from;
        while t <= to {
            let l = self.load_at(t);
            if l.rpm > best.rpm {
                best = l;
            }
            t += 1.0;
        }
        let l = self.load_at(to);
        if l.rpm > best.rpm {
            best = l;
        }
        best
    }
}

/// A checked scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Name.
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// As written (knobs).
    pub scenario: Scenario,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The data's system, with the scenario's capacity.
    pub system: SystemSpec,
    /// The servers.
    pub servers: Vec<BenchServer>,
}

impl Plan {
    /// Reads and checks a scenario file.
    pub fn load(file: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(file).map_err(|e| Error::Io {
            path: file.to_path_buf(),
            source: e,
        })?;
        let scenario: Scenario = serde_yaml_ng::from_str(&text).map_err(|e| Error::Scenario {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::from_scenario(scenario, file)
    }

    /// Checks a parsed scenario; `file` names it in errors and anchors `data`.
    pub fn from_scenario(scenario: Scenario, file: &Path) -> Result<Self> {
        let bad = |message: String| Error::Scenario {
            file: file.to_path_buf(),
            message,
        };
        let data_dir = file
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .join(&scenario.data);
        let loaded = inferno_api::load_dir(&data_dir)
            .map_err(|e| bad(format!("data {}: {e}", data_dir.display())))?;
        let mut system = loaded.spec;
        check_knobs(&scenario).map_err(bad)?;
        let sizing = scenario.batch_sizing.as_str();
        if !inferno_api::BATCH_SIZINGS.contains(&sizing) {
            return Err(bad(format!(
                "batchSizing: unknown rule {sizing:?}; expected one of {}",
                inferno_api::BATCH_SIZINGS.join(", ")
            )));
        }
        system.optimizer_data.optimizer.batch_sizing = sizing.to_string();
        for (acc, count) in &scenario.capacity {
            if *count < 0 {
                return Err(bad(format!("capacity.{acc}: must be >= 0, got {count}")));
            }
            match system
                .capacity_data
                .count
                .iter_mut()
                .find(|c| &c.acc_type == acc)
            {
                Some(c) => c.count = *count,
                None => {
                    return Err(bad(format!(
                        "capacity.{acc}: no accelerator type {acc:?} in the data's capacity file"
                    )))
                }
            }
        }
        let servers = expand_servers(&scenario, &system).map_err(bad)?;
        let name = scenario.name.clone().unwrap_or_else(|| {
            file.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "scenario".into())
        });
        Ok(Self {
            name,
            file: file.to_path_buf(),
            scenario,
            data_dir,
            system,
            servers,
        })
    }

    /// Scenario seconds per wall second.
    pub fn time_scale(&self) -> f64 {
        self.scenario.time_scale
    }

    /// The start-up delay of a pod of `model` on `accelerator`, scenario seconds.
    pub fn startup_seconds(&self, model: &str, accelerator: &str) -> f64 {
        self.scenario
            .startup
            .rules
            .iter()
            .find(|r| {
                r.model.as_deref().is_none_or(|m| m == model)
                    && r.accelerator.as_deref().is_none_or(|a| a == accelerator)
            })
            .map_or(self.scenario.startup.default.0, |r| r.seconds.0)
    }

    /// The longest start-up delay of any pod of `model`, scenario seconds.
    pub fn max_startup_seconds(&self) -> f64 {
        self.scenario
            .startup
            .rules
            .iter()
            .map(|r| r.seconds.0)
            .fold(self.scenario.startup.default.0, f64::max)
    }

    /// The true-parameter factors of (model, accelerator) at scenario time `t`.
    pub fn factors_at(&self, model: &str, accelerator: &str, t: f64) -> Factors {
        let Some(m) = self.scenario.mismatch.iter().find(|m| {
            m.model.as_deref().is_none_or(|x| x == model)
                && m.accelerator.as_deref().is_none_or(|x| x == accelerator)
        }) else {
            return Factors::default();
        };
        let Some(end) = m.drift_to else {
            return m.start;
        };
        let f = (t / self.scenario.duration.0).clamp(0.0, 1.0);
        let mix = |a: f64, b: f64| a + (b - a) * f;
        Factors {
            alpha: mix(m.start.alpha, end.alpha),
            beta: mix(m.start.beta, end.beta),
            gamma: mix(m.start.gamma, end.gamma),
        }
    }
}

fn positive(what: &str, v: f64) -> std::result::Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("{what}: must be a finite number > 0, got {v}"))
    }
}

fn check_knobs(s: &Scenario) -> std::result::Result<(), String> {
    positive("duration", s.duration.0)?;
    positive("timeScale", s.time_scale)?;
    if s.time_scale > 1000.0 {
        return Err(format!("timeScale: at most 1000, got {}", s.time_scale));
    }
    positive("period", s.period.0)?;
    if s.startup.default.0 < 0.0 {
        return Err("startup.default: must be >= 0".into());
    }
    for (i, r) in s.startup.rules.iter().enumerate() {
        if !(r.seconds.0 >= 0.0 && r.seconds.0.is_finite()) {
            return Err(format!("startup.rules[{i}].seconds: must be >= 0"));
        }
    }
    for (i, m) in s.mismatch.iter().enumerate() {
        for (what, f) in [("", Some(m.start)), ("driftTo.", m.drift_to)] {
            let Some(f) = f else { continue };
            for (k, v) in [("alpha", f.alpha), ("beta", f.beta), ("gamma", f.gamma)] {
                positive(&format!("mismatch[{i}].{what}{k}"), v)?;
            }
        }
    }
    positive("noise.burstiness", s.noise.burstiness)?;
    if !(s.noise.tokens_cv >= 0.0 && s.noise.tokens_cv.is_finite()) {
        return Err(format!(
            "noise.tokensCv: must be >= 0, got {}",
            s.noise.tokens_cv
        ));
    }
    if !(s.noise.iteration >= 0.0 && s.noise.iteration <= 2.0) {
        return Err(format!(
            "noise.iteration: must be in [0, 2], got {}",
            s.noise.iteration
        ));
    }
    if !(s.gateway.max_wait.0.is_finite() && s.gateway.max_wait.0 >= 0.0) {
        return Err("gateway.maxWait: must be >= 0".into());
    }
    if !(s.pods.grace_period.0.is_finite() && s.pods.grace_period.0 >= 0.0) {
        return Err("pods.gracePeriod: must be >= 0".into());
    }
    positive("hpa.kvCacheTarget", s.hpa.kv_cache_target)?;
    positive("hpa.waitingTarget", s.hpa.waiting_target)?;
    positive("hpa.sync", s.hpa.sync.0)?;
    if s.hpa.min_replicas < 1 || s.hpa.max_replicas < s.hpa.min_replicas {
        return Err("hpa: need 1 <= minReplicas <= maxReplicas".into());
    }
    check_phases("load", &s.load)
}

fn check_phases(what: &str, phases: &[Phase]) -> std::result::Result<(), String> {
    for (i, p) in phases.iter().enumerate() {
        if !(p.length.0 >= 0.0 && p.length.0.is_finite()) {
            return Err(format!("{what}[{i}].for: must be >= 0"));
        }
        if let Some(m) = p.multiplier {
            if !(m >= 0.0 && m.is_finite() && m <= 1000.0) {
                return Err(format!(
                    "{what}[{i}].multiplier: must be in [0, 1000], got {m}"
                ));
            }
        }
        for (k, v) in [("inTokens", p.in_tokens), ("outTokens", p.out_tokens)] {
            if let Some(v) = v {
                if !(v >= 1.0 && v.is_finite() && v <= 1e6) {
                    return Err(format!("{what}[{i}].{k}: must be in [1, 1e6], got {v}"));
                }
            }
        }
    }
    Ok(())
}

/// A DNS-label Deployment name for a server name (`Premium-llama_13b` -> `premium-llama-13b`).
pub fn deployment_name(server: &str) -> String {
    let mut out: String = server
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-');
    let out = if out.len() > 50 { &out[..50] } else { out };
    if out.is_empty() {
        "server".into()
    } else {
        out.trim_end_matches('-').to_string()
    }
}

fn targets(system: &SystemSpec, class: &str, model: &str) -> Option<(f64, f64)> {
    let class = if class.is_empty() {
        inferno_api::FREE_CLASS
    } else {
        class
    };
    system
        .service_class_data
        .service_classes
        .iter()
        .find(|c| c.name == class)?
        .model_targets
        .iter()
        .find(|t| t.model == model)
        .map(|t| (t.slo_ttft, t.slo_itl))
}

fn bench_server(
    system: &SystemSpec,
    data: &ServerSpec,
    name: String,
    rpm: f64,
    phases: Vec<Phase>,
) -> std::result::Result<BenchServer, String> {
    let (ttft, itl) = targets(system, &data.class, &data.model).ok_or_else(|| {
        format!(
            "servers: {name}: class {:?} has no targets for model {:?} in the data",
            data.class, data.model
        )
    })?;
    let load = &data.current_alloc.load;
    Ok(BenchServer {
        deployment: deployment_name(&name),
        name,
        class: data.class.clone(),
        model: data.model.clone(),
        rpm,
        in_tokens: load.avg_in_tokens.max(1) as f64,
        out_tokens: load.avg_out_tokens.max(1) as f64,
        phases,
        ttft_target_ms: ttft,
        itl_target_ms: itl,
    })
}

fn expand_servers(
    s: &Scenario,
    system: &SystemSpec,
) -> std::result::Result<Vec<BenchServer>, String> {
    let known: Vec<&str> = system
        .server_data
        .servers
        .iter()
        .map(|x| x.name.as_str())
        .collect();
    let find = |name: &str| {
        system
            .server_data
            .servers
            .iter()
            .find(|x| x.name == name)
            .ok_or_else(|| {
                let hint = inferno_api::closest(name, known.iter().copied())
                    .map(|c| format!("; did you mean {c:?}?"))
                    .unwrap_or_default();
                format!("servers: no server {name:?} in the data{hint}")
            })
    };
    let mut out = Vec::new();
    match &s.servers {
        Servers::List(list) => {
            if list.is_empty() {
                return Err("servers: the list is empty".into());
            }
            for entry in list {
                let server = match entry {
                    ServerEntry::Name(n) => {
                        let d = find(n)?;
                        bench_server(
                            system,
                            d,
                            n.clone(),
                            d.current_alloc.load.arrival_rate,
                            s.load.clone(),
                        )?
                    }
                    ServerEntry::Custom(o) => {
                        let d = find(&o.name)?;
                        let phases = o.load.clone().unwrap_or_else(|| s.load.clone());
                        check_phases(&format!("servers.{}.load", o.name), &phases)?;
                        let mut b = bench_server(
                            system,
                            d,
                            o.name.clone(),
                            o.rpm.unwrap_or(d.current_alloc.load.arrival_rate),
                            phases,
                        )?;
                        b.in_tokens = o.in_tokens.unwrap_or(b.in_tokens);
                        b.out_tokens = o.out_tokens.unwrap_or(b.out_tokens);
                        b
                    }
                };
                out.push(server);
            }
        }
        Servers::Generate { generate: g } => {
            if g.count == 0 || g.count > 500 {
                return Err(format!(
                    "servers.generate.count: must be in [1, 500], got {}",
                    g.count
                ));
            }
            if !(g.rpm[0] > 0.0 && g.rpm[1] >= g.rpm[0] && g.rpm[1].is_finite()) {
                return Err("servers.generate.rpm: need 0 < min <= max".into());
            }
            let from: Vec<&ServerSpec> = if g.from.is_empty() {
                system.server_data.servers.iter().collect()
            } else {
                g.from.iter().map(|n| find(n)).collect::<Result<_, _>>()?
            };
            if from.is_empty() {
                return Err("servers.generate: the data has no servers to copy".into());
            }
            let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(s.seed ^ 0x5eed);
            for i in 0..g.count {
                let d = from[i % from.len()];
                let u: f64 = rng.random();
                let rpm = g.rpm[0] + (g.rpm[1] - g.rpm[0]) * u;
                out.push(bench_server(
                    system,
                    d,
                    format!("{}-{:03}", d.name, i + 1),
                    (rpm * 100.0).round() / 100.0,
                    s.load.clone(),
                )?);
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for b in &out {
        positive(&format!("servers: {}: rpm", b.name), b.rpm)?;
        if !seen.insert(b.deployment.clone()) {
            return Err(format!(
                "servers: two servers map to the Deployment name {:?}",
                b.deployment
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::duration::Seconds;

    /// A Premium server of nominal `rpm` with 100/200 tokens (also for the arrivals' tests).
    pub(crate) fn test_server(rpm: f64, phases: Vec<Phase>) -> BenchServer {
        BenchServer {
            name: "s".into(),
            deployment: "s".into(),
            class: "Premium".into(),
            model: "m".into(),
            rpm,
            in_tokens: 100.0,
            out_tokens: 200.0,
            phases,
            ttft_target_ms: 1000.0,
            itl_target_ms: 50.0,
        }
    }

    fn server(phases: Vec<Phase>) -> BenchServer {
        test_server(60.0, phases)
    }

    fn phase(len: f64, m: Option<f64>, shape: Shape) -> Phase {
        Phase {
            length: Seconds(len),
            multiplier: m,
            shape,
            in_tokens: None,
            out_tokens: None,
        }
    }

    #[test]
    fn ramp_phases_give_the_load_curve() {
        let s = server(vec![
            phase(600.0, Some(1.0), Shape::Step),
            phase(300.0, Some(5.0), Shape::Linear),
            phase(600.0, None, Shape::Step),
            phase(300.0, Some(1.0), Shape::Smooth),
        ]);
        assert_eq!(s.load_at(0.0).rpm, 60.0);
        assert_eq!(s.load_at(599.0).rpm, 60.0);
        assert!((s.load_at(750.0).rpm - 180.0).abs() < 1e-9);
        assert_eq!(s.load_at(1000.0).rpm, 300.0);
        assert!((s.load_at(1650.0).rpm - 180.0).abs() < 1e-9);
        assert_eq!(s.load_at(5000.0).rpm, 60.0);
        assert_eq!(s.peak(0.0, 2000.0).rpm, 300.0);
    }

    #[test]
    fn token_changes_hold_from_their_phase() {
        let mut p = phase(100.0, Some(2.0), Shape::Step);
        p.out_tokens = Some(50.0);
        let s = server(vec![phase(100.0, None, Shape::Step), p]);
        assert_eq!(s.load_at(50.0).out_tokens, 200.0);
        assert_eq!(s.load_at(150.0).out_tokens, 50.0);
        assert_eq!(s.load_at(150.0).rpm, 120.0);
    }

    #[test]
    fn every_shipped_scenario_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benchmarks");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("benchmarks/") {
            let file = entry.expect("an entry").path();
            if file.extension().is_some_and(|x| x == "yaml") {
                let plan = Plan::load(&file).unwrap_or_else(|e| panic!("{e}"));
                names.push(plan.name);
            }
        }
        names.sort();
        assert_eq!(
            names,
            ["burst", "diurnal", "drift", "many", "ramp", "shortage"]
        );
    }

    #[test]
    fn drift_scenario_has_its_slow_start_and_drifting_servers() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benchmarks/drift.yaml");
        let plan = Plan::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let end = plan.scenario.duration.0;
        // (model, factor at the start, at the end), on every factor and any accelerator.
        for (model, start, last) in [
            ("llama_13b", 1.3, 1.45),
            ("granite_13b", 0.7, 0.6),
            ("mixtral_8_7b", 1.3, 1.5),
        ] {
            for (t, want) in [(0.0, start), (end / 2.0, (start + last) / 2.0), (end, last)] {
                let f = plan.factors_at(model, "H100", t);
                for got in [f.alpha, f.beta, f.gamma] {
                    assert!((got - want).abs() < 1e-9, "{model} at {t}: {f:?}");
                }
            }
            for acc in ["H100", "MI300X", "G2"] {
                assert_eq!(plan.startup_seconds(model, acc), 120.0, "{model} on {acc}");
            }
        }
        // The ramp's load and requests, so that the two runs differ only in the servers.
        let ramp = Plan::load(&file.with_file_name("ramp.yaml")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plan.servers, ramp.servers);
        assert_eq!(
            (
                plan.scenario.seed,
                plan.scenario.duration,
                plan.scenario.period
            ),
            (
                ramp.scenario.seed,
                ramp.scenario.duration,
                ramp.scenario.period
            )
        );
    }

    #[test]
    fn deployment_names_are_dns_labels() {
        assert_eq!(deployment_name("Premium-llama_13b"), "premium-llama-13b");
        assert_eq!(deployment_name("__x..Y__"), "x-y");
    }
}
