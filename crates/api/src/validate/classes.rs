//! Checks of the service-class data: names, the normalisation of priorities, and each model
//! target (a known model, once per class, SLOs in range).

use super::checker::Checker;
use super::problem::{entity, Severity};
use crate::limits::{MAX_LATENCY_MS, MAX_TPS};
use crate::types::SystemSpec;
use std::collections::{HashMap, HashSet};

pub(super) fn classes(c: &mut Checker, spec: &mut SystemSpec, file: &str) {
    let models: HashSet<&str> = spec
        .model_data
        .models
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    let mut seen = HashMap::new();
    for (i, class) in spec
        .service_class_data
        .service_classes
        .iter_mut()
        .enumerate()
    {
        let e = entity("class", &class.name, "serviceClasses", i);
        let at = (file, e.as_str());
        let key = class.name.clone();
        c.name(
            at,
            ("name", &class.name),
            key,
            ("serviceClasses", i),
            &mut seen,
        );
        if !(1..=100).contains(&class.priority) {
            let message = format!("{} is outside 1..=100, read as 100", class.priority);
            c.warn(at, "priority", message);
            class.priority = 100;
        }
        let mut targets = HashMap::new();
        for (j, t) in class.model_targets.iter().enumerate() {
            let te = if t.model.is_empty() {
                format!("{e} modelTargets[{j}]")
            } else {
                format!("{e} target {:?}", t.model)
            };
            let at = (file, te.as_str());
            let key = t.model.clone();
            c.name(
                at,
                ("model", &t.model),
                key,
                ("modelTargets", j),
                &mut targets,
            );
            if !t.model.is_empty() && !models.contains(t.model.as_str()) {
                let message = format!("unknown model {:?} (no row in the model data)", t.model);
                c.error(at, "model", message);
            }
            c.number(Severity::Error, at, "slo-itl", t.slo_itl, MAX_LATENCY_MS);
            c.number(Severity::Error, at, "slo-ttft", t.slo_ttft, MAX_LATENCY_MS);
            c.number(Severity::Error, at, "slo-tps", t.slo_tps, MAX_TPS);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::types::*;
    use crate::validate::fixtures::*;

    #[test]
    fn class_names_and_priority() {
        let mut spec = system();
        spec.service_class_data.service_classes[0].name.clear();
        spec.server_data.servers[0].class.clear();
        let all = problems(&mut spec);
        assert_eq!(all.len(), 1, "{all:#?}");
        assert_at(&all[0], E, CLS, "serviceClasses[0]", "name");
        let p = only(|s| {
            s.service_class_data
                .service_classes
                .push(class("Free", 3, &[]))
        });
        assert_at(&p, E, CLS, "class \"Free\"", "name");
        for bad in [0, -1, 101] {
            let mut spec = system();
            spec.service_class_data.service_classes[1].priority = bad;
            let all = problems(&mut spec);
            assert_eq!(all.len(), 1, "{all:#?}");
            assert_at(&all[0], W, CLS, "class \"Free\"", "priority");
            assert_eq!(spec.service_class_data.service_classes[1].priority, 100);
        }
    }

    #[test]
    fn class_targets() {
        let t = |m: &str| format!("class \"Premium\" target \"{m}\"");
        let p = only(|s| {
            s.service_class_data.service_classes[0] = class("Premium", 1, &["llama", "gpt"])
        });
        assert_at(&p, E, CLS, &t("gpt"), "model");
        assert!(p.message.contains("unknown model"), "{p}");
        let p = only(|s| {
            s.service_class_data.service_classes[0] = class("Premium", 1, &["llama", "llama"])
        });
        assert_at(&p, E, CLS, &t("llama"), "model");
        assert!(p.message.contains("modelTargets[0]"), "{p}");
        let p =
            only(|s| s.service_class_data.service_classes[0] = class("Premium", 1, &["llama", ""]));
        assert_at(&p, E, CLS, "class \"Premium\" modelTargets[1]", "model");
        fn target(s: &mut SystemSpec) -> &mut ModelTarget {
            &mut s.service_class_data.service_classes[0].model_targets[0]
        }
        let p = only(|s| target(s).slo_itl = -1.0);
        assert_at(&p, E, CLS, &t("llama"), "slo-itl");
        let p = only(|s| target(s).slo_ttft = f64::NAN);
        assert_at(&p, E, CLS, &t("llama"), "slo-ttft");
        let p = only(|s| target(s).slo_tps = -0.5);
        assert_at(&p, E, CLS, &t("llama"), "slo-tps");
    }
}
