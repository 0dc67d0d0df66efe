//! Checks of the server data: names, the model and class each server refers to (and whether it
//! can be placed), its limits and its current allocation and load. Every problem here is about
//! one server's own data, which is what lets [`super::check_each_server`] set it aside.

use super::checker::{At, Checker, MAX_TOKEN_COUNT};
use super::problem::{entity, Severity};
use crate::limits::{
    MAX_BATCH_SIZE, MAX_COST, MAX_COV, MAX_LATENCY_MS, MAX_QUEUE_SIZE, MAX_RATE_RPM, MAX_REPLICAS,
};
use crate::types::{AllocationData, SystemSpec, FREE_CLASS};
use std::collections::{HashMap, HashSet};

pub(super) fn servers(c: &mut Checker, spec: &SystemSpec, file: &str) {
    let models: HashSet<&str> = spec
        .model_data
        .models
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    let mut seen = HashMap::new();
    for (i, s) in spec.server_data.servers.iter().enumerate() {
        c.server = Some(i);
        let e = entity("server", &s.name, "servers", i);
        let at = (file, e.as_str());
        if let Some(&first) = seen.get(&s.name) {
            c.duplicates.push((first, i));
        }
        c.name(
            at,
            ("name", &s.name),
            s.name.clone(),
            ("servers", i),
            &mut seen,
        );
        let model_known = models.contains(s.model.as_str());
        if s.model.is_empty() {
            c.error(at, "model", "must not be empty".to_owned());
        } else if !model_known {
            c.error(at, "model", format!("unknown model {:?}", s.model));
        }
        match spec.service_class(s.class_name()) {
            None if s.class.is_empty() => {
                let message = format!(
                    "empty (read as {FREE_CLASS:?}) but no class {FREE_CLASS:?} is defined: the \
                     server cannot be placed"
                );
                c.warn(at, "class", message);
            }
            None => c.error(at, "class", format!("unknown class {:?}", s.class)),
            Some(class) if model_known && class.target(&s.model).is_none() => {
                let message = format!(
                    "class {:?} has no target for model {:?}: the server cannot be placed",
                    class.name, s.model
                );
                c.warn(at, "class", message);
            }
            Some(_) => {}
        }
        let sev = Severity::Error;
        c.count(sev, at, "minNumReplicas", s.min_num_replicas, MAX_REPLICAS);
        c.count(sev, at, "maxBatchSize", s.max_batch_size, MAX_BATCH_SIZE);
        c.count(sev, at, "maxQueueSize", s.max_queue_size, MAX_QUEUE_SIZE);
        current_allocation(c, at, &s.current_alloc);
        let acc = &s.current_alloc.accelerator;
        if s.keep_accelerator && !acc.is_empty() && spec.accelerator(acc).is_none() {
            let message = format!(
                "unknown accelerator {acc:?} with keepAccelerator set: the server cannot be placed"
            );
            c.warn(at, "currentAlloc.accelerator", message);
        }
    }
    c.server = None;
}

/// The current allocation (the desired one is an output and is not checked).
fn current_allocation(c: &mut Checker, at: At<'_>, a: &AllocationData) {
    let sev = Severity::Error;
    c.count(
        sev,
        at,
        "currentAlloc.numReplicas",
        a.num_replicas,
        MAX_REPLICAS,
    );
    c.count(
        sev,
        at,
        "currentAlloc.maxBatch",
        a.max_batch,
        MAX_BATCH_SIZE,
    );
    c.number(sev, at, "currentAlloc.cost", a.cost, MAX_COST);
    let latency = MAX_LATENCY_MS;
    c.number(sev, at, "currentAlloc.itlAverage", a.itl_average, latency);
    c.number(sev, at, "currentAlloc.ttftAverage", a.ttft_average, latency);
    let load = &a.load;
    let rate = MAX_RATE_RPM;
    c.number(
        sev,
        at,
        "currentAlloc.load.arrivalRate",
        load.arrival_rate,
        rate,
    );
    c.number(
        sev,
        at,
        "currentAlloc.load.throughput",
        load.throughput,
        rate,
    );
    let tokens = MAX_TOKEN_COUNT;
    c.count(
        sev,
        at,
        "currentAlloc.load.avgInTokens",
        load.avg_in_tokens,
        tokens,
    );
    c.count(
        sev,
        at,
        "currentAlloc.load.avgOutTokens",
        load.avg_out_tokens,
        tokens,
    );
    c.number(
        sev,
        at,
        "currentAlloc.load.outTokensCv",
        load.out_tokens_cv,
        MAX_COV,
    );
}

#[cfg(test)]
mod tests {
    use crate::types::*;
    use crate::validate::fixtures::*;

    #[test]
    fn server_names_and_references() {
        let p = only(|s| s.server_data.servers.push(server("", "Premium", "llama")));
        assert_at(&p, E, SRV, "servers[2]", "name");
        let p = only(|s| s.server_data.servers.push(server("p", "Premium", "llama")));
        assert_at(&p, E, SRV, "server \"p\"", "name");
        let p = only(|s| s.server_data.servers[0].model = "gpt".to_owned());
        assert_at(&p, E, SRV, "server \"p\"", "model");
        let p = only(|s| s.server_data.servers[0].model.clear());
        assert_at(&p, E, SRV, "server \"p\"", "model");
        let p = only(|s| s.server_data.servers[0].class = "Gold".to_owned());
        assert_at(&p, E, SRV, "server \"p\"", "class");
    }

    #[test]
    fn server_placement_warnings() {
        // Empty class means Free, which must exist for the server to be placed.
        let p = only(|s| s.service_class_data.service_classes[1].name = "Bronze".to_owned());
        assert_at(&p, W, SRV, "server \"f\"", "class");
        let p = only(|s| {
            s.service_class_data.service_classes[0]
                .model_targets
                .clear()
        });
        assert_at(&p, W, SRV, "server \"p\"", "class");
        let p = only(|s| {
            let server = &mut s.server_data.servers[0];
            server.keep_accelerator = true;
            server.current_alloc.accelerator = "H100".to_owned();
        });
        assert_at(&p, W, SRV, "server \"p\"", "currentAlloc.accelerator");
        // Without keepAccelerator an unknown current accelerator is just replaced.
        let mut spec = system();
        spec.server_data.servers[0].current_alloc.accelerator = "H100".to_owned();
        assert_eq!(problems(&mut spec), vec![]);
    }

    #[test]
    fn server_numbers() {
        type Edit = fn(&mut ServerSpec);
        let cases: [(&str, Edit); 12] = [
            ("minNumReplicas", |s| s.min_num_replicas = -1),
            ("maxBatchSize", |s| s.max_batch_size = -1),
            ("maxQueueSize", |s| s.max_queue_size = -1),
            ("currentAlloc.numReplicas", |s| {
                s.current_alloc.num_replicas = -1
            }),
            ("currentAlloc.maxBatch", |s| s.current_alloc.max_batch = -1),
            ("currentAlloc.cost", |s| s.current_alloc.cost = -1.0),
            ("currentAlloc.itlAverage", |s| {
                s.current_alloc.itl_average = f64::NAN
            }),
            ("currentAlloc.ttftAverage", |s| {
                s.current_alloc.ttft_average = -1.0
            }),
            ("currentAlloc.load.arrivalRate", |s| {
                s.current_alloc.load.arrival_rate = -60.0
            }),
            ("currentAlloc.load.throughput", |s| {
                s.current_alloc.load.throughput = f64::INFINITY
            }),
            ("currentAlloc.load.avgInTokens", |s| {
                s.current_alloc.load.avg_in_tokens = -1
            }),
            ("currentAlloc.load.avgOutTokens", |s| {
                s.current_alloc.load.avg_out_tokens = -1
            }),
        ];
        for (field, edit) in cases {
            let p = only(|s| edit(&mut s.server_data.servers[1]));
            assert_at(&p, E, SRV, "server \"f\"", field);
        }
        // The desired allocation is an output and is not checked.
        let mut spec = system();
        spec.server_data.servers[0].desired_alloc.cost = -1.0;
        assert_eq!(problems(&mut spec), vec![]);
    }
}
