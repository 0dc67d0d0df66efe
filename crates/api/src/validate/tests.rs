//! Tests of validation as a whole: the fixture is clean, every problem is reported at once and
//! in file order, and the upper bounds of every section.

use crate::types::*;
use crate::validate::fixtures::*;

#[test]
fn fixture_is_clean() {
    assert_eq!(problems(&mut system()), vec![]);
}

/// Issue 16: values far beyond any real server (they made one sizing take minutes or
/// allocate gigabytes) are errors naming the file, the entity, the field and the bound.
#[test]
fn upper_bounds_name_the_field_and_the_limit() {
    type Edit = fn(&mut SystemSpec);
    let m = "model \"llama\" on \"4xG2\"";
    let f = "server \"f\"";
    let cases: [(&str, &str, &str, &str, Edit); 19] = [
        (
            ACC,
            "accelerator \"A100\"",
            "cost",
            "[0, 1000000000], got 1e308",
            |s| s.accelerator_data.accelerators[0].cost = 1e308,
        ),
        (
            ACC,
            "accelerator \"4xG2\"",
            "multiplicity",
            "[0, 1000000], got 4294967296",
            |s| s.accelerator_data.accelerators[1].multiplicity = 1 << 32,
        ),
        (
            CAP,
            "capacity type \"G2\"",
            "count",
            "[0, 1000000], got 9223372036854775807",
            |s| s.capacity_data.count[1].count = i64::MAX,
        ),
        (
            MOD,
            m,
            "maxBatchSize",
            "an integer in [0, 4096], got 100000000",
            |s| s.model_data.models[1].max_batch_size = 100_000_000,
        ),
        (
            MOD,
            m,
            "atTokens",
            "an integer in [0, 1048576], got 100000000",
            |s| s.model_data.models[1].at_tokens = 100_000_000,
        ),
        (MOD, m, "accCount", "[0, 1000000], got 2000000", |s| {
            s.model_data.models[1].acc_count = 2_000_000
        }),
        (
            MOD,
            m,
            "perfParms.gamma",
            "[0, 1000000], got 10000000",
            |s| s.model_data.models[1].perf_parms.gamma = 1e7,
        ),
        (
            CLS,
            "class \"Premium\" target \"llama\"",
            "slo-ttft",
            "[0, 3600000], got 1e300",
            |s| s.service_class_data.service_classes[0].model_targets[0].slo_ttft = 1e300,
        ),
        (
            CLS,
            "class \"Premium\" target \"llama\"",
            "slo-tps",
            "[0, 1000000000], got 10000000000",
            |s| s.service_class_data.service_classes[0].model_targets[0].slo_tps = 1e10,
        ),
        (
            SRV,
            f,
            "maxBatchSize",
            "an integer in [0, 4096], got 4294967296",
            |s| s.server_data.servers[1].max_batch_size = 1 << 32,
        ),
        (SRV, f, "maxQueueSize", "[0, 16384], got 16385", |s| {
            s.server_data.servers[1].max_queue_size = 16_385
        }),
        (SRV, f, "minNumReplicas", "[0, 10000], got 10001", |s| {
            s.server_data.servers[1].min_num_replicas = 10_001
        }),
        (
            SRV,
            f,
            "currentAlloc.numReplicas",
            "[0, 10000], got 2147483647",
            |s| s.server_data.servers[1].current_alloc.num_replicas = 2_147_483_647,
        ),
        (
            SRV,
            f,
            "currentAlloc.load.arrivalRate",
            "[0, 10000000], got 1e308",
            |s| s.server_data.servers[1].current_alloc.load.arrival_rate = 1e308,
        ),
        (
            SRV,
            f,
            "currentAlloc.load.avgInTokens",
            "[0, 1048576], got 9223372036854775807",
            |s| s.server_data.servers[1].current_alloc.load.avg_in_tokens = i64::MAX,
        ),
        (
            SRV,
            f,
            "currentAlloc.ttftAverage",
            "[0, 3600000], got inf",
            |s| s.server_data.servers[1].current_alloc.ttft_average = f64::INFINITY,
        ),
        (
            OPT,
            "optimizer",
            "timeLimitSeconds",
            "[0, 3600], got 1e300 seconds",
            |s| s.optimizer_data.optimizer.time_limit_seconds = 1e300,
        ),
        (
            OPT,
            "optimizer",
            "improveIterations",
            "[0, 1000000], got 9223372036854775807",
            |s| s.optimizer_data.optimizer.improve_iterations = Some(i64::MAX),
        ),
        (
            OPT,
            "optimizer",
            "iterationLimit",
            "[1, 1000000], got 2147483647",
            |s| s.optimizer_data.optimizer.iteration_limit = Some(2_147_483_647),
        ),
    ];
    for (file, entity, field, message, edit) in cases {
        let p = only(edit);
        assert_at(&p, E, file, entity, field);
        assert!(p.message.contains(message), "{p}");
    }
    // The largest valid values are valid.
    let mut spec = system();
    let server = &mut spec.server_data.servers[1];
    server.max_batch_size = 4096;
    server.max_queue_size = 16_384;
    server.current_alloc.load.avg_in_tokens = 1 << 20;
    server.current_alloc.load.arrival_rate = 1e7;
    spec.optimizer_data.optimizer.time_limit_seconds = 3600.0;
    spec.optimizer_data.optimizer.improve_iterations = Some(1_000_000);
    spec.optimizer_data.optimizer.iteration_limit = Some(1_000_000);
    assert_eq!(problems(&mut spec), vec![]);
}

#[test]
fn every_problem_at_once() {
    let mut spec = system();
    spec.model_data.models[0].perf_parms.alpha = -1.0;
    spec.model_data.models[0].at_tokens = -1;
    spec.model_data.models[1].acc = "H100".to_owned();
    spec.server_data.servers[0].class = "Gold".to_owned();
    spec.optimizer_data.optimizer.saturation_policy = "x".to_owned();
    let all = problems(&mut spec);
    let at: Vec<_> = all
        .iter()
        .map(|p| (p.file.as_str(), p.field.as_str()))
        .collect();
    let expected = [
        (MOD, "atTokens"),
        (MOD, "perfParms.alpha"),
        (MOD, "acc"),
        (SRV, "class"),
        (OPT, "saturationPolicy"),
    ];
    assert_eq!(at, expected);
}
