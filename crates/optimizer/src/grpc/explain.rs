//! The Explain RPC's answer: [`crate::explain::Explanation`] as `inferno.v1.ExplainResponse`.

use crate::explain::{Alternative, Delta, Explanation, Summary};
use inferno_proto::v1;
use inferno_proto::v1::explain_response::PricedBy;
use inferno_proto::v1::explained_candidate::Limit;

/// Counts in the messages are 32-bit (JSON numbers, not strings): larger ones saturate.
fn count(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn summary(s: &Summary) -> v1::AnswerSummary {
    v1::AnswerSummary {
        cost: s.cost,
        served: count(s.served),
        not_served: count(s.not_served),
        units: s
            .units
            .iter()
            .map(|(t, u)| (t.clone(), count(*u)))
            .collect(),
    }
}

fn change(d: &Delta) -> v1::CapacityChange {
    v1::CapacityChange {
        cost: d.cost,
        served: i32::try_from(d.served).unwrap_or(if d.served < 0 { i32::MIN } else { i32::MAX }),
        objective: d.objective,
    }
}

fn candidate(a: &Alternative) -> v1::ExplainedCandidate {
    let binds = match a.binds {
        "ttft" => Limit::Ttft,
        "itl" => Limit::Itl,
        "tps" => Limit::Tps,
        "batch" => Limit::Batch,
        _ => Limit::Unspecified,
    };
    v1::ExplainedCandidate {
        accelerator: a.accelerator.clone(),
        accelerator_type: a.accelerator_type.clone(),
        replicas: count(a.replicas),
        batch: a.batch,
        cost: a.cost,
        value: a.value,
        ttft: a.ttft,
        itl: a.itl,
        binds: binds.into(),
    }
}

pub(crate) fn explain_response(e: &Explanation, warnings: Vec<String>) -> v1::ExplainResponse {
    v1::ExplainResponse {
        decision: Some(summary(&e.decision)),
        lower_bound: Some(summary(&e.lower_bound)),
        priced_by: match e.priced_by {
            "exact" => PricedBy::Exact,
            _ => PricedBy::Lp,
        }
        .into(),
        types: e
            .types
            .iter()
            .map(|t| v1::TypeExplanation {
                name: t.name.clone(),
                capacity: count(t.capacity),
                used: count(t.used),
                unlimited_use: count(t.unlimited_use),
                binding: t.binding,
                one_more: t.one_more.as_ref().map(change),
                one_less: t.one_less.as_ref().map(change),
                dual_price: t.dual_price,
                clears_from: t.clears_between.map(|r| r.0),
                clears_to: t.clears_between.and_then(|r| r.1),
            })
            .collect(),
        classes: e
            .classes
            .iter()
            .map(|c| v1::ClassExplanation {
                name: c.name.clone(),
                priority: i32::try_from(c.priority).unwrap_or(i32::MAX),
                cost: c.cost,
                looser_cost: c.looser_cost,
            })
            .collect(),
        servers: e
            .servers
            .iter()
            .map(|s| v1::ServerExplanation {
                name: s.name.clone(),
                class: s.class.clone(),
                priority: i32::try_from(s.priority).unwrap_or(i32::MAX),
                demand_rpm: s.demand_rpm,
                chosen: s.chosen.as_ref().map(candidate),
                best_effort: s.best_effort,
                alternatives: s.alternatives.iter().map(candidate).collect(),
                margin: s.margin,
                headroom_rpm: s.headroom_rpm,
                unplaced: s.unplaced.clone().unwrap_or_default(),
                switch: s.switch.as_ref().map(|w| v1::TypeSwitch {
                    cheapest: w.now.clone(),
                    tighter_scale: w.tighter.as_ref().map(|x| x.0),
                    tighter_type: w.tighter.as_ref().map(|x| x.1.clone()).unwrap_or_default(),
                    looser_scale: w.looser.as_ref().map(|x| x.0),
                    looser_type: w.looser.as_ref().map(|x| x.1.clone()).unwrap_or_default(),
                }),
            })
            .collect(),
        warnings,
    }
}
