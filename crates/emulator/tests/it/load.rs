//! The load emulator against kubesim. Expected label values are computed here from the
//! formulas of control-loop spec section 6 (with the emulator's public noise streams), not
//! with the library's walk functions.

use crate::cluster::{cluster, settle, Cluster, NS};
use crate::support::{init_logs, TempDir};
use inferno_emulator::labels::{
    LOAD_IN_TOKENS, LOAD_NUM_TOKENS, LOAD_OUT_TOKENS, LOAD_RPM, NOMINAL_IN_TOKENS,
    NOMINAL_OUT_TOKENS, NOMINAL_RPM,
};
use inferno_emulator::load::{LoadConfig, LoadEmulator, Mode, Noise, Phase, Phases};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

type Labels = BTreeMap<String, String>;

fn num(l: &Labels, k: &str) -> f64 {
    l[k].parse()
        .unwrap_or_else(|_| panic!("{k}={:?} is not a number", l[k]))
}

/// RPM as the emulator writes it: 4 decimals.
fn rpm4(x: f64) -> f64 {
    format!("{x:.4}").parse().unwrap()
}

fn config(mode: Mode, alpha: f64, seed: u64) -> LoadConfig {
    LoadConfig {
        namespaces: vec![NS.into()],
        interval: Duration::from_secs(30),
        mode,
        alpha,
        seed,
        ..LoadConfig::default()
    }
}

async fn all_labels(c: &Cluster) -> BTreeMap<String, Labels> {
    let mut out = BTreeMap::new();
    for name in c.names().await {
        out.insert(name.clone(), c.labels(&name).await);
    }
    out
}

/// Uids, replicas and template of every Deployment, and the number of pods: what the load
/// emulator must never change.
async fn shape(c: &Cluster) -> (Vec<(String, String, i32, String)>, usize) {
    settle(c).await;
    let list = c.deployments().list(&Default::default()).await.unwrap();
    let mut deps: Vec<(String, String, i32, String)> = list
        .items
        .into_iter()
        .map(|d| {
            let spec = d.spec.unwrap();
            (
                d.metadata.name.unwrap(),
                d.metadata.uid.unwrap(),
                spec.replicas.unwrap_or(1),
                serde_json::to_string(&spec.template).unwrap(),
            )
        })
        .collect();
    deps.sort();
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(c.client.clone(), NS);
    let n = pods.list(&Default::default()).await.unwrap().items.len();
    (deps, n)
}

#[tokio::test]
async fn walk_mode_is_the_seed_walk_with_its_clamps() {
    init_logs();
    let c = cluster().await;
    let before = shape(&c).await;
    // numtokens on one Deployment (the seed's label), so that all four labels walk.
    let names = c.names().await;
    c.set_labels(&names[0], &[(LOAD_NUM_TOKENS, Some("2048"))])
        .await;
    let start = all_labels(&c).await;
    let alpha = 0.9;
    let seed = 11;
    let mut emu = LoadEmulator::new(c.client.clone(), config(Mode::Walk, alpha, seed)).unwrap();

    // sigma = alpha x the value first seen, per Deployment and label.
    let keys = [LOAD_RPM, LOAD_IN_TOKENS, LOAD_OUT_TOKENS, LOAD_NUM_TOKENS];
    let mut noise: BTreeMap<&String, Noise> =
        names.iter().map(|n| (n, Noise::new(seed, NS, n))).collect();
    let mut expected = start.clone();
    let mut clamped = BTreeMap::new();
    for step in 0..25 {
        let report = emu.step().await.unwrap();
        assert_eq!(report.step, step);
        assert_eq!(report.written.len(), names.len());
        for name in &names {
            let d = noise.get_mut(name).unwrap().next_draws();
            let z = [d.rpm, d.in_tokens, d.out_tokens, d.num_tokens];
            let e = expected.get_mut(name).unwrap();
            for (k, z) in keys.iter().zip(z) {
                if !start[name].contains_key(*k) {
                    continue;
                }
                let sigma = alpha * num(&start[name], k);
                let cur = num(e, k);
                let next = if *k == LOAD_RPM {
                    // new = cur + N(0,1) sigma, clamped to [6, 240], written with 4 decimals.
                    rpm4((cur + z * sigma).clamp(6.0, 240.0))
                } else {
                    // Rounded up, clamped to [100, 10000].
                    (cur + z * sigma).ceil().clamp(100.0, 10_000.0)
                };
                if [6.0, 240.0, 100.0, 10_000.0].contains(&next) {
                    *clamped.entry(*k).or_insert(0) += 1;
                }
                e.insert(k.to_string(), next.to_string());
            }
        }
        let got = all_labels(&c).await;
        for name in &names {
            for k in keys {
                match start[name].get(k) {
                    None => assert!(!got[name].contains_key(k), "{name} {k} created"),
                    Some(_) => {
                        let (g, e) = (num(&got[name], k), num(&expected[name], k));
                        assert_eq!(g, e, "step {step} {name} {k}");
                        if k == LOAD_RPM {
                            assert!((6.0..=240.0).contains(&g));
                        } else {
                            assert!((100.0..=10_000.0).contains(&g) && g.fract() == 0.0);
                        }
                    }
                }
            }
            // Walk mode writes no nominal labels and keeps the others.
            for (k, v) in &start[name] {
                if !keys.contains(&k.as_str()) {
                    assert_eq!(got[name].get(k), Some(v), "{name} {k}");
                }
            }
            assert!(!got[name].contains_key(NOMINAL_RPM));
        }
    }
    // With alpha 0.9 over 25 steps, the clamps are reached (checked above that they hold).
    assert!(clamped.contains_key(LOAD_RPM), "{clamped:?}");
    assert!(clamped.keys().any(|k| *k != LOAD_RPM), "{clamped:?}");
    assert_eq!(shape(&c).await, before, "nothing created or deleted");
}

#[tokio::test]
async fn revert_mode_ramps_with_the_phases_and_records_nominals() {
    init_logs();
    let c = cluster().await;
    let start = all_labels(&c).await;
    let names = c.names().await;
    // No noise, no skew: the exact mean-reverting path under the phase profile
    // 60 s at 1, ramp to 3 over 60 s, hold; one update every 30 s of phase time.
    let phases = Phases::new(vec![
        Phase {
            duration: 60.0,
            ratio: 1.0,
        },
        Phase {
            duration: 60.0,
            ratio: 3.0,
        },
    ])
    .unwrap();
    let theta = 0.5;
    let cfg = LoadConfig {
        theta,
        skew: 0.0,
        phases,
        ..config(Mode::Revert, 0.0, 1)
    };
    let mut emu = LoadEmulator::new(c.client.clone(), cfg).unwrap();
    let multipliers = [1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0];
    let mut rpm: BTreeMap<&String, f64> = names
        .iter()
        .map(|n| (n, num(&start[n], LOAD_RPM)))
        .collect();
    for (step, m) in multipliers.iter().enumerate() {
        let report = emu.step().await.unwrap();
        assert_eq!(report.multiplier, *m, "step {step}");
        let got = all_labels(&c).await;
        for name in &names {
            let nominal = num(&start[name], LOAD_RPM) * m;
            let cur = rpm[name];
            let next = rpm4((cur + theta * (nominal - cur)).clamp(nominal / 10.0, nominal * 10.0));
            rpm.insert(name, next);
            assert_eq!(num(&got[name], LOAD_RPM), next, "step {step} {name}");
            // Nominals recorded from the values found at start; tokens stay at them.
            assert_eq!(num(&got[name], NOMINAL_RPM), num(&start[name], LOAD_RPM));
            for (k, nk) in [
                (LOAD_IN_TOKENS, NOMINAL_IN_TOKENS),
                (LOAD_OUT_TOKENS, NOMINAL_OUT_TOKENS),
            ] {
                assert_eq!(got[name][k], start[name][k]);
                assert_eq!(got[name][nk], start[name][k]);
            }
        }
    }
    // The ramp reached 3x: half-way pulls towards 3 x nominal.
    for name in &names {
        let nominal = num(&start[name], LOAD_RPM);
        assert!(
            rpm[name] > 2.5 * nominal && rpm[name] < 3.0 * nominal,
            "{name} {}",
            rpm[name]
        );
    }

    // Clamps: a load far above 10 x nominal is pulled back to it at once.
    let name = &names[0];
    c.set_labels(name, &[(LOAD_RPM, Some("1000000"))]).await;
    emu.step().await.unwrap();
    let nominal = num(&start[name], LOAD_RPM) * 3.0;
    assert_eq!(num(&c.labels(name).await, LOAD_RPM), rpm4(nominal * 10.0));
    // An edited nominal label is the new nominal.
    c.set_labels(
        name,
        &[
            (NOMINAL_IN_TOKENS, Some("1000")),
            (LOAD_IN_TOKENS, Some("1")),
        ],
    )
    .await;
    emu.step().await.unwrap();
    // 1 + 0.5 x (1000 - 1) = 500.5, clamped to [100, 10000], rounded: 501 (round half away).
    assert_eq!(c.labels(name).await[LOAD_IN_TOKENS], "501");
}

#[tokio::test]
async fn revert_mode_with_noise_and_skew_is_seeded() {
    init_logs();
    let c = cluster().await;
    let start = all_labels(&c).await;
    let names = c.names().await;
    assert!(names.len() >= 2);
    let (alpha, theta, skew, seed) = (0.1, 0.2, 0.3, 99);
    let cfg = LoadConfig {
        theta,
        skew,
        ..config(Mode::Revert, alpha, seed)
    };
    let mut emu = LoadEmulator::new(c.client.clone(), cfg.clone()).unwrap();
    let mut noise: Vec<Noise> = names.iter().map(|n| Noise::new(seed, NS, n)).collect();
    let mut cur: Vec<Labels> = names.iter().map(|n| start[n].clone()).collect();
    let mut sequence = Vec::new();
    for step in 0..6 {
        let report = emu.step().await.unwrap();
        sequence.push(report.written.clone());
        let draws: Vec<_> = noise.iter_mut().map(Noise::next_draws).collect();
        // Skew weights w_i = (1 - s)/n + s u_i / sum(u); the RPM target is n w_i x nominal.
        let n = names.len() as f64;
        let sum: f64 = draws.iter().map(|d| d.skew).sum();
        let got = all_labels(&c).await;
        for (i, name) in names.iter().enumerate() {
            let d = draws[i];
            let k = n * ((1.0 - skew) / n + skew * d.skew / sum);
            let nominal = num(&start[name], LOAD_RPM);
            let c0 = num(&cur[i], LOAD_RPM);
            let next = c0 + theta * (nominal * k - c0) + d.rpm * alpha * nominal;
            let next = rpm4(next.clamp(nominal / 10.0, nominal * 10.0));
            assert_eq!(num(&got[name], LOAD_RPM), next, "step {step} {name}");
            for (key, z) in [
                (LOAD_IN_TOKENS, d.in_tokens),
                (LOAD_OUT_TOKENS, d.out_tokens),
            ] {
                let nominal = num(&start[name], key);
                let c0 = num(&cur[i], key);
                let next = (c0 + theta * (nominal - c0) + z * alpha * nominal)
                    .clamp(nominal / 10.0, nominal * 10.0)
                    .round()
                    .max(1.0);
                assert_eq!(num(&got[name], key), next, "step {step} {name} {key}");
            }
            cur[i] = got[name].clone();
        }
    }

    // Same seed, same inputs, another cluster: the same label sequence.
    let other = cluster().await;
    let mut again = LoadEmulator::new(other.client.clone(), cfg).unwrap();
    for written in &sequence {
        assert_eq!(&again.step().await.unwrap().written, written);
    }
}

#[tokio::test]
async fn concurrent_edits_survive_and_conflicts_are_retried_with_fresh_state() {
    init_logs();
    let c = cluster().await;
    let before = shape(&c).await;
    let names = c.names().await;
    let (alpha, seed) = (0.5, 5);
    let mut emu = LoadEmulator::new(c.client.clone(), config(Mode::Walk, alpha, seed)).unwrap();
    let sigma: BTreeMap<String, f64> = {
        let l = all_labels(&c).await;
        names
            .iter()
            .map(|n| (n.clone(), alpha * num(&l[n], LOAD_RPM)))
            .collect()
    };
    let mut noise: BTreeMap<&String, Noise> =
        names.iter().map(|n| (n, Noise::new(seed, NS, n))).collect();

    // A stale list: someone changes the first Deployment (another label and its rpm) after it
    // was read, so the conditional write conflicts and is redone from the fresh labels.
    let stale = c
        .deployments()
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    let victim = &names[0];
    c.set_labels(victim, &[("team", Some("blue")), (LOAD_RPM, Some("50"))])
        .await;
    let report = emu.step_from(stale).await;
    assert!(report.retries >= 1, "{report:?}");
    assert_eq!(report.written.len(), names.len());
    let got = c.labels(victim).await;
    assert_eq!(got["team"], "blue");
    let z = noise.get_mut(victim).unwrap().next_draws().rpm;
    assert_eq!(
        num(&got, LOAD_RPM),
        rpm4((50.0 + z * sigma[victim]).clamp(6.0, 240.0)),
        "computed from the fresh value"
    );
    for n in &names[1..] {
        noise.get_mut(n).unwrap().next_draws();
    }

    // A writer hammering another label while the emulator updates: both sets of writes land.
    let writer = {
        let api = c.deployments();
        let victim = victim.clone();
        tokio::spawn(async move {
            for i in 0..200 {
                let body = serde_json::json!({"metadata": {"labels": {"counter": i.to_string()}}});
                api.patch(
                    &victim,
                    &Default::default(),
                    &kube::api::Patch::Merge(&body),
                )
                .await
                .unwrap();
            }
        })
    };
    let mut rpm = num(&c.labels(victim).await, LOAD_RPM);
    let mut retries = 0;
    for _ in 0..10 {
        let report = emu.step().await.unwrap();
        retries += report.retries;
        assert_eq!(report.written.len(), names.len(), "{report:?}");
        let z = noise.get_mut(victim).unwrap().next_draws().rpm;
        rpm = rpm4((rpm + z * sigma[victim]).clamp(6.0, 240.0));
        for n in &names[1..] {
            noise.get_mut(n).unwrap().next_draws();
        }
    }
    writer.await.unwrap();
    let got = c.labels(victim).await;
    assert_eq!(got["counter"], "199");
    assert_eq!(got["team"], "blue");
    assert_eq!(num(&got, LOAD_RPM), rpm);
    eprintln!("conflicts retried while another writer ran: {retries}");

    // A Deployment deleted after the list is reported gone and not recreated.
    let stale = c
        .deployments()
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    c.delete(victim).await;
    let report = emu.step_from(stale).await;
    assert_eq!(report.gone, [format!("{NS}/{victim}")]);
    assert_eq!(report.written.len(), names.len() - 1);
    assert!(c.deployments().get_opt(victim).await.unwrap().is_none());
    let (deps, _) = shape(&c).await;
    assert_eq!(deps.len(), before.0.len() - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_once_with_flags_and_env() {
    init_logs();
    let c = cluster().await;
    let dir = TempDir::new("load-bin");
    let kubeconfig = dir.path().join("kubeconfig");
    c.sim.write_kubeconfig(&kubeconfig).unwrap();
    let start = all_labels(&c).await;
    let phases = dir.path().join("phases.yaml");
    std::fs::write(&phases, "- {duration: 0, ratio: 2.0}\n").unwrap();
    let bin = env!("CARGO_BIN_EXE_inferno-load-emulator");
    let out = tokio::task::spawn_blocking({
        let (kubeconfig, phases) = (kubeconfig.clone(), phases.clone());
        move || {
            Command::new(bin)
                .args(["--namespace", NS, "--once", "--phases"])
                .arg(&phases)
                .env("KUBECONFIG", &kubeconfig)
                .env("INFERNO_LOAD_ALPHA", "0")
                .env("INFERNO_LOAD_SKEW", "0")
                .env("INFERNO_LOAD_THETA", "1")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    // theta 1, no noise: the load jumps to 2 x nominal.
    for (name, l) in all_labels(&c).await {
        assert_eq!(
            num(&l, LOAD_RPM),
            rpm4(2.0 * num(&start[&name], LOAD_RPM)),
            "{log}"
        );
    }
    assert!(log.contains("deployment(s) updated"), "{log}");

    // Validation errors name the flag and exit non-zero.
    let out = Command::new(bin)
        .args(["--once", "--skew", "3"])
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--skew"));
}

/// `LoadEmulator::run` with `once` makes exactly one update.
#[tokio::test]
async fn run_once_updates_once() {
    let c = cluster().await;
    let start = all_labels(&c).await;
    let emu = LoadEmulator::new(c.client.clone(), config(Mode::Walk, 0.5, 3)).unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        emu.run(true, std::future::pending()),
    )
    .await
    .unwrap()
    .unwrap();
    let now = all_labels(&c).await;
    let mut noise: BTreeMap<String, Noise> = start
        .keys()
        .map(|n| (n.clone(), Noise::new(3, NS, n)))
        .collect();
    for (name, l) in now {
        let z = noise.get_mut(&name).unwrap().next_draws().rpm;
        let s = num(&start[&name], LOAD_RPM);
        assert_eq!(num(&l, LOAD_RPM), rpm4((s + z * 0.5 * s).clamp(6.0, 240.0)));
    }
}
