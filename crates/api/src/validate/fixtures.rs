//! A small valid system, builders for its rows, and the helpers the validation tests share to
//! edit it and assert on the one problem the edit causes.

use crate::types::*;
use crate::validate::{validate, FileNames, Problem, Severity};

pub(super) fn accelerator(name: &str, acc_type: &str, multiplicity: i64) -> AcceleratorSpec {
    AcceleratorSpec {
        name: name.to_owned(),
        acc_type: acc_type.to_owned(),
        multiplicity,
        cost: 10.0 * multiplicity as f64,
        ..Default::default()
    }
}

pub(super) fn model(name: &str, acc: &str) -> ModelAcceleratorPerfData {
    ModelAcceleratorPerfData {
        name: name.to_owned(),
        acc: acc.to_owned(),
        acc_count: 1,
        max_batch_size: 64,
        at_tokens: 512,
        perf_parms: PerfParms {
            alpha: 20.0,
            beta: 0.04,
            gamma: 0.001,
        },
    }
}

pub(super) fn class(name: &str, priority: i64, models: &[&str]) -> ServiceClassSpec {
    let target = |m: &&str| ModelTarget {
        model: (*m).to_owned(),
        slo_itl: 80.0,
        slo_ttft: 1000.0,
        slo_tps: 0.0,
    };
    ServiceClassSpec {
        name: name.to_owned(),
        priority,
        model_targets: models.iter().map(target).collect(),
    }
}

pub(super) fn server(name: &str, class: &str, model: &str) -> ServerSpec {
    let mut s = ServerSpec {
        name: name.to_owned(),
        class: class.to_owned(),
        model: model.to_owned(),
        ..Default::default()
    };
    s.current_alloc.load = ServerLoadSpec {
        arrival_rate: 60.0,
        throughput: 0.0,
        avg_in_tokens: 128,
        avg_out_tokens: 1024,
        out_tokens_cv: 0.0,
    };
    s
}

/// Two accelerators of two types, one model on both, classes Premium and Free, 2 servers.
pub(crate) fn system() -> SystemSpec {
    let count = |t: &str, n| AcceleratorCount {
        acc_type: t.to_owned(),
        count: n,
    };
    SystemSpec {
        accelerator_data: AcceleratorData {
            accelerators: vec![accelerator("A100", "A100", 1), accelerator("4xG2", "G2", 4)],
        },
        model_data: ModelData {
            models: vec![model("llama", "A100"), model("llama", "4xG2")],
        },
        service_class_data: ServiceClassData {
            service_classes: vec![
                class("Premium", 1, &["llama"]),
                class("Free", 3, &["llama"]),
            ],
        },
        server_data: ServerData {
            servers: vec![server("p", "Premium", "llama"), server("f", "", "llama")],
        },
        optimizer_data: OptimizerData::default(),
        capacity_data: CapacityData {
            count: vec![count("A100", 8), count("G2", 16)],
        },
    }
}

pub(super) fn problems(spec: &mut SystemSpec) -> Vec<Problem> {
    validate(spec, &FileNames::default())
}

/// The single problem of `spec` after `edit`.
pub(super) fn only(edit: impl FnOnce(&mut SystemSpec)) -> Problem {
    let mut spec = system();
    edit(&mut spec);
    let mut all = problems(&mut spec);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.remove(0)
}

#[track_caller]
pub(super) fn assert_at(p: &Problem, severity: Severity, file: &str, entity: &str, field: &str) {
    let got = (
        p.severity,
        p.file.as_str(),
        p.entity.as_str(),
        p.field.as_str(),
    );
    assert_eq!(got, (severity, file, entity, field), "{p}");
}

pub(super) const ACC: &str = "accelerator-data.json";
pub(super) const CAP: &str = "capacity-data.json";
pub(super) const MOD: &str = "model-data.json";
pub(super) const CLS: &str = "serviceclass-data.json";
pub(super) const SRV: &str = "server-data.json";
pub(super) const OPT: &str = "optimizer-data.json";
pub(super) use Severity::{Error as E, Warning as W};
