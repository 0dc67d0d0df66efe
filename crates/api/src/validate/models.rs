//! Checks of the model data: names, the accelerator each row refers to, the normalisation of
//! `accCount`, and the ranges of the performance parameters.

use super::checker::{Checker, MAX_TOKEN_COUNT};
use super::problem::Severity;
use crate::limits::{MAX_BATCH_SIZE, MAX_PERF_PARM, MAX_UNITS};
use crate::types::SystemSpec;
use std::collections::{HashMap, HashSet};

pub(super) fn models(c: &mut Checker, spec: &mut SystemSpec, file: &str) {
    let accelerators: HashSet<&str> = spec
        .accelerator_data
        .accelerators
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    let mut seen = HashMap::new();
    for (i, m) in spec.model_data.models.iter_mut().enumerate() {
        let e = if m.name.is_empty() && m.acc.is_empty() {
            format!("models[{i}]")
        } else {
            format!("model {:?} on {:?}", m.name, m.acc)
        };
        let at = (file, e.as_str());
        if m.name.is_empty() {
            c.error(at, "name", "must not be empty".to_owned());
        }
        if m.acc.is_empty() {
            c.error(at, "acc", "must not be empty".to_owned());
        } else if !accelerators.contains(m.acc.as_str()) {
            c.error(at, "acc", format!("unknown accelerator {:?}", m.acc));
        }
        if !m.name.is_empty() && !m.acc.is_empty() {
            let key = (m.name.clone(), m.acc.clone());
            c.name(at, ("name", &m.name), key, ("models", i), &mut seen);
        }
        if m.acc_count < 0 {
            c.warn(at, "accCount", format!("{} is read as 1", m.acc_count));
        }
        if m.acc_count <= 0 {
            m.acc_count = 1;
        }
        c.count(Severity::Error, at, "accCount", m.acc_count, MAX_UNITS);
        let sev = Severity::Error;
        c.count(sev, at, "maxBatchSize", m.max_batch_size, MAX_BATCH_SIZE);
        c.count(sev, at, "atTokens", m.at_tokens, MAX_TOKEN_COUNT);
        let p = m.perf_parms;
        c.number(sev, at, "perfParms.alpha", p.alpha, MAX_PERF_PARM);
        c.number(sev, at, "perfParms.beta", p.beta, MAX_PERF_PARM);
        c.number(sev, at, "perfParms.gamma", p.gamma, MAX_PERF_PARM);
        if p.alpha == 0.0 && p.beta == 0.0 && p.gamma == 0.0 {
            let message = "alpha, beta and gamma are all 0 (or missing): the optimizer skips \
                           this (model, accelerator) pair"
                .to_owned();
            c.warn(at, "perfParms", message);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::types::*;
    use crate::validate::fixtures::*;

    #[test]
    fn model_references_and_names() {
        let p = only(|s| s.model_data.models.push(model("llama", "H100")));
        assert_at(&p, E, MOD, "model \"llama\" on \"H100\"", "acc");
        let p = only(|s| s.model_data.models.push(model("llama", "A100")));
        assert_at(&p, E, MOD, "model \"llama\" on \"A100\"", "name");
        assert!(p.message.contains("models[0]"), "{p}");
        let p = only(|s| s.model_data.models.push(model("", "A100")));
        assert_at(&p, E, MOD, "model \"\" on \"A100\"", "name");
        let p = only(|s| s.model_data.models.push(model("other", "")));
        assert_at(&p, E, MOD, "model \"other\" on \"\"", "acc");
    }

    #[test]
    fn model_numbers() {
        let m = "model \"llama\" on \"4xG2\"";
        let p = only(|s| s.model_data.models[1].max_batch_size = -1);
        assert_at(&p, E, MOD, m, "maxBatchSize");
        let p = only(|s| s.model_data.models[1].at_tokens = -1);
        assert_at(&p, E, MOD, m, "atTokens");
        let p = only(|s| s.model_data.models[1].perf_parms.beta = f64::NAN);
        assert_at(&p, E, MOD, m, "perfParms.beta");
        let p = only(|s| s.model_data.models[1].perf_parms.gamma = f64::NEG_INFINITY);
        assert_at(&p, E, MOD, m, "perfParms.gamma");
        let p = only(|s| s.model_data.models[1].perf_parms = PerfParms::default());
        assert_at(&p, W, MOD, m, "perfParms");
    }

    #[test]
    fn acc_count_is_normalised() {
        let mut spec = system();
        spec.model_data.models[0].acc_count = 0;
        spec.model_data.models[1].acc_count = -3;
        let all = problems(&mut spec);
        assert_eq!(all.len(), 1, "{all:#?}");
        assert_at(&all[0], W, MOD, "model \"llama\" on \"4xG2\"", "accCount");
        assert_eq!(spec.model_data.models[0].acc_count, 1);
        assert_eq!(spec.model_data.models[1].acc_count, 1);
    }
}
