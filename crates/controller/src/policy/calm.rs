//! Calm and safe changes of [`super::Policy::settle`] (docs/controller.md, "Decisions that hold
//! up"): which kind (GPU type and batch cap) stays against the optimizer's answer, and how far
//! down a scale-down may go on what the pods have shown.

use super::capacity::Units;
use super::held::{Exchange, Kind};
use super::{ServerPlan, ServerState, Settings};
use inferno_api::AllocationData;
use inferno_core::Strategy;
use std::time::Duration;
use tokio::time::Instant;

/// A scale-down on the current kind goes only to a count that carries the planned demand
/// this much higher (a dead band against flapping between two counts).
const SCALE_DOWN_BAND: f64 = 0.1;

/// A rollout restarts every pod (a model load each). It goes ahead only on a measurement of
/// the current kind as it is (every pod serving for the steady cycles, enough requests, a
/// load that held within its noise over the window: not the first thin window of a loop that
/// starts, nor pods still loading, nor a load on the move), not within a
/// scale-down window of the last change, and only when it saves more than the sizing's own
/// noise: the current kind `cur`, sized for the same planned demand, must cost
/// `kind_hysteresis` more than the optimizer's `alloc`, both over two scale-down windows, the
/// first at the replicas the window holds. Otherwise `alloc` becomes the current
/// kind, sized for itself. A current kind that does not fit its type's `room`, or whose batch
/// cap the optimizer's batch rule no longer allows (over the catalog's maximum or the KV
/// cache), is never kept. One whose full batch is over the ITL target (the `fit` rule) goes
/// whatever it saves, but only on a settled measurement and after a scale-down window of the
/// kind: the model's ITL at a full batch rests on the tuned split between alpha and gamma,
/// which moves while the tuner learns (on the ramp benchmark llama went MI250/45 -> G2/39 ->
/// G2/34 -> MI250/45 in its first 90 s when such a cap went at once). A kind that must go for
/// its batch cap goes the cheapest way out over the same horizon, start-up included: the
/// optimizer's kind, or the current accelerator at the batch rule's cap for it (the optimizer
/// prices neither the pods the window holds nor the start-up, and a change of accelerator
/// changes the count the most). `startup_of` is the start-up of an accelerator's pods.
#[allow(clippy::too_many_arguments)]
pub(super) fn keep_kind(
    units: &Units<'_>,
    server: &str,
    alloc: &mut AllocationData,
    cur: &AllocationData,
    room: Option<i64>,
    st: &ServerState,
    plan: &mut ServerPlan,
    settings: &Settings,
    startup_of: &dyn Fn(&str) -> Duration,
    strategy: Strategy,
    now: Instant,
) {
    let startup = startup_of(&alloc.accelerator);
    let (from, to) = (
        format!("{}/{}", cur.accelerator, cur.max_batch),
        format!("{}/{}", alloc.accelerator, alloc.max_batch),
    );
    // Why a rollout goes ahead is said as well as why one does not: it restarts every pod.
    let goes = |plan: &mut ServerPlan, why: String| {
        plan.notes
            .push(format!("{to} rolled out from {from}: {why}"))
    };
    let kept = match units.size(server, cur) {
        Ok(kept) if kept.replicas > 0 => kept,
        Ok(_) => return goes(plan, format!("{from} cannot be sized")),
        Err(why) => return goes(plan, format!("{from} cannot be sized ({why})")),
    };
    if room.is_some_and(|r| kept.replicas > r) {
        return goes(
            plan,
            format!(
                "{from} would need {} replicas, more than the cluster has room for",
                kept.replicas
            ),
        );
    }
    let window = settings.scale_down_window;
    // The scale-down window holds capacity across a change of kind, so for its first window
    // either kind runs at least the pods of it that carry what the window holds (see
    // `held`), no more than carry what runs; the two are costed over the payback horizon of
    // two windows, the first at the counts held and the second at their own. Costed at the
    // optimizer's count, a rollout on the ramp benchmark took llama from 3 G2 pods (69
    // cents/h) to the 1 MI300X pod (65) found cheaper, and the window held 3 of them (195) for
    // five minutes. Held one for one, 23 2xG2 pods of mixtral were 23 MI300X pods, and no
    // rollout to them ever paid. (A rollout runs the new kind at the running count until its
    // pods serve, see `Policy::settle`; that start-up is what `must_save` asks it to pay back.)
    let hold = if st.falling(plan.rate_error) {
        window.mul_f64(super::FALL_WINDOW)
    } else {
        window
    };
    let cur_kind: Kind = (cur.accelerator.clone(), cur.max_batch);
    let new_kind: Kind = (alloc.accelerator.clone(), alloc.max_batch);
    let held_as = |kind: &Kind| {
        let exchange = Exchange::new(units, server, kind, st.kinds_held().chain([&cur_kind]));
        let running = exchange.count(&cur_kind, cur.num_replicas);
        st.highest_held(now, hold, &exchange)
            .map_or(0, |h| h.min(running))
    };
    let (held_cur, held_new) = (held_as(&cur_kind), held_as(&new_kind));
    let over_two_windows =
        |unit: f64, replicas: i64, held: i64| unit * (replicas.max(held) + replicas) as f64 / 2.0;
    let new_unit = if alloc.num_replicas > 0 {
        alloc.cost / alloc.num_replicas as f64
    } else {
        0.0
    };
    let new_cost = over_two_windows(new_unit, alloc.num_replicas, held_new);
    let kept_cost = over_two_windows(kept.unit_cost, kept.replicas, held_cur);
    let at_held = if held_cur > kept.replicas || held_new > alloc.num_replicas {
        format!(
            " over the next two scale-down windows (the first at what the window holds: \
             {held_cur} of {}/{}, or {held_new} of {}/{})",
            cur.accelerator, cur.max_batch, alloc.accelerator, alloc.max_batch
        )
    } else {
        String::new()
    };
    // The rollout runs the running count of the new kind until its pods serve, or the count
    // whose rollout keeps them serving (see `Policy::settle`), and those pods are paid for
    // before they serve.
    let keeping = strategy.keeping(cur.num_replicas).unwrap_or(0);
    let starting = |replicas: i64| replicas.max(cur.num_replicas).max(keeping);
    let need = must_save(
        settings,
        startup,
        new_cost,
        new_unit * starting(alloc.num_replicas) as f64,
    );
    // A kind that must go goes the cheapest way out over the payback horizon, its start-up
    // included: the optimizer's kind, or the current accelerator at the batch rule's cap.
    let leave = |alloc: &mut AllocationData, plan: &mut ServerPlan, why: String| {
        let cost = |kind: &Kind, unit: f64, replicas: i64| {
            let held = held_as(kind);
            over_two_windows(unit, replicas, held)
                + start_up_cost(
                    settings,
                    startup_of(&kind.0),
                    unit * starting(replicas) as f64,
                )
        };
        let trimmed = units
            .size_kind(server, &cur.accelerator, 0)
            .ok()
            .filter(|t| t.replicas > 0 && t.batch != cur.max_batch)
            .filter(|t| room.is_none_or(|r| t.replicas <= r))
            .filter(|_| alloc.accelerator != cur.accelerator);
        if let Some(t) = trimmed {
            let kind: Kind = (cur.accelerator.clone(), t.batch);
            let (out, stay) = (
                cost(&new_kind, new_unit, alloc.num_replicas),
                cost(&kind, t.unit_cost, t.replicas),
            );
            if stay <= out {
                plan.notes.push(format!(
                    "{}/{} rolled out from {from}: {why}; it costs {stay:.1} cents/h over the \
                     next two scale-down windows, start-up included, and {to}, {out:.1}",
                    kind.0, kind.1
                ));
                let at = AllocationData {
                    accelerator: kind.0,
                    max_batch: kind.1,
                    ..AllocationData::default()
                };
                t.apply(alloc, &at, t.replicas);
                return;
            }
        }
        goes(plan, why);
    };
    // A cap the batch rule no longer allows (over the catalog's maximum, or well over what
    // the KV cache holds at the typical tokens of the last windows) is no kind to keep.
    if !units.cap_allowed(server, &cur.accelerator, cur.max_batch, st.typical_tokens()) {
        return leave(
            alloc,
            plan,
            format!(
                "the batch rule no longer allows a cap of {} (the catalog's maximum, or the KV \
                 cache at the typical tokens)",
                cur.max_batch
            ),
        );
    }
    let age = st.kind_since.map(|t| now.saturating_duration_since(t));
    let why = if !st.settled {
        "the pods are not all serving, the window is thin, or the load moved beyond its noise \
         over it: not a measurement to restart them on"
            .to_string()
    } else if let Some(age) = age.filter(|a| *a < window) {
        // The sizing of a kind just left is the least sure of all (its tuned parameters, the
        // new kind's untried ones): llama went 2xG2 -> MI300X -> 2xG2 a minute apart at a
        // constant load.
        format!(
            "the pods became {}/{} {:.0} s ago; a kind stays {:.0} s",
            cur.accelerator,
            cur.max_batch,
            // In the servers' clock, as the rates and the start-ups are.
            age.as_secs_f64() * settings.time_scale,
            window.as_secs_f64() * settings.time_scale
        )
    } else if !units.cap_meets_itl(server, &cur.accelerator, cur.max_batch) {
        return leave(
            alloc,
            plan,
            format!("a full batch of {from} is over the ITL target by the model"),
        );
    } else if kept_cost - new_cost <= need {
        format!(
            "it would save {:.1} of {kept_cost:.1} cents/h{at_held}, within the {need:.1} a \
             rollout must save (the larger of --kind-hysteresis, {:.0}% of {new_cost:.1}, and \
             the start-up of {} pods of {}/{}, {:.0} s, over two scale-down windows, \
             {:.0} s)",
            (kept_cost - new_cost).max(0.0),
            settings.kind_hysteresis * 100.0,
            starting(alloc.num_replicas),
            alloc.accelerator,
            alloc.max_batch,
            // In the servers' clock, as the start-up was learnt and the report's rates are.
            startup.as_secs_f64() * settings.time_scale,
            2.0 * window.as_secs_f64() * settings.time_scale
        )
    } else {
        return goes(
            plan,
            format!(
                "it saves {:.1} of {kept_cost:.1} cents/h{at_held}, more than the {need:.1} a \
             rollout must save",
                kept_cost - new_cost
            ),
        );
    };
    plan.notes.push(format!(
        "{from} kept (not rolled out to {to}): {why}; {} replicas of it for the planned {:.1} \
         req/min, not the {} sized for the new kind",
        kept.replicas, kept.planned_rpm, alloc.num_replicas
    ));
    kept.apply(alloc, cur, kept.replicas);
}

/// What a rollout must save, cents/h: at least `kind_hysteresis` of the new kind's cost
/// `new_cost` (the sizing of one kind moves by about that much from cycle to cycle), and
/// enough to pay for itself within two scale-down windows: the `starting` pods of the new kind
/// (cents/h) cost their price for `startup` before they serve, paid back by a saving `s` in
/// `startup x starting / s`. Two windows, because a kind stays at least one and the loop holds
/// capacity for one. With the defaults (300 s) and as many new pods as run, a 60 s start-up
/// asks 10% of their cost, a 120 s one 20%: on the drift benchmark (120 s for every pod) llama
/// went G2 -> MI300X -> G2 ten minutes apart, each a rolling update of up to 10 pods that held
/// its tuner without a window and cut off 17 requests longer than the pods' grace period.
/// The starting pods are the running count, not the new kind's: the Deployment would take the
/// old pods down to the new count before the new ones serve, so the rollout keeps the count
/// (see `Policy::settle`): at the start of the ramp benchmark's fall llama's 8 G2 pods (23
/// cents/h each) went to MI300X/62, sized at 2-3 pods (65 each), and ran 8 MI300X pods (520
/// cents/h) for two and a half minutes.
fn must_save(settings: &Settings, startup: Duration, new_cost: f64, starting: f64) -> f64 {
    let hysteresis = settings.kind_hysteresis * new_cost;
    if startup.is_zero() || settings.scale_down_window.is_zero() {
        // Nothing to pay back, or no horizon to pay it back in: the hysteresis alone.
        return hysteresis;
    }
    hysteresis.max(start_up_cost(settings, startup, starting))
}

/// The start-up of pods costing `starting` cents/h, `startup` long, spread over the payback
/// horizon of two scale-down windows, cents/h (0 with nothing to pay back, or no horizon to
/// pay it back in).
fn start_up_cost(settings: &Settings, startup: Duration, starting: f64) -> f64 {
    let payback = 2.0 * settings.scale_down_window.as_secs_f64();
    if startup.is_zero() || payback <= 0.0 {
        return 0.0;
    }
    starting * startup.as_secs_f64() / payback
}

/// The replicas a scale-down of `cur` to `replicas` may go to, on what the pods have shown:
/// never fewer than the planned demand needs at the rate pods of the kind carried when
/// saturated (the model was wrong then, on the unsafe side), and on the current kind only to
/// a count that carries the planned demand with [`SCALE_DOWN_BAND`] to spare (a count that
/// carries it just so goes back up at the next wobble of the rate: 1 -> 2 -> 1 -> 2 pods at a
/// constant load on the ramp benchmark). At most the replicas running.
pub(super) fn scale_down_floor(
    units: &Units<'_>,
    server: &str,
    alloc: &AllocationData,
    cur: &AllocationData,
    st: &ServerState,
    plan: &mut ServerPlan,
    mut replicas: i64,
) -> i64 {
    let kind = (alloc.accelerator.clone(), alloc.max_batch);
    if let Some((_, carry)) = st.carry.as_ref().filter(|(k, c)| *k == kind && *c > 0.0) {
        let floor = ((st.sized_rpm / carry).ceil() as i64).min(cur.num_replicas);
        if floor > replicas {
            plan.notes.push(format!(
                "scale-down {} -> {replicas} held at {floor}: pods of {}/{} carried {carry:.1} \
                 req/min each when saturated, and {:.1} req/min are planned",
                cur.num_replicas, kind.0, kind.1, st.sized_rpm
            ));
            replicas = floor;
        }
    }
    let same = alloc.accelerator == cur.accelerator && alloc.max_batch == cur.max_batch;
    if let Some(kept) = units.size(server, cur).ok().filter(|_| same) {
        let low = replicas;
        replicas = kept.fewest_carrying(replicas, cur.num_replicas, 1.0 + SCALE_DOWN_BAND);
        if replicas > low {
            plan.notes.push(format!(
                "scale-down {} -> {low} held at {replicas}: {low} would carry the planned \
                 {:.1} req/min with less than {:.0}% to spare",
                cur.num_replicas,
                kept.planned_rpm,
                SCALE_DOWN_BAND * 100.0
            ));
        }
    }
    replicas
}
