//! Checks of the accelerator data and the capacity data (the counts of each accelerator type),
//! including the normalisation of multiplicity 0 to 1.

use super::checker::Checker;
use super::problem::{entity, Severity};
use crate::limits::{MAX_COST, MAX_UNITS};
use crate::types::SystemSpec;
use std::collections::HashMap;

pub(super) fn accelerators(c: &mut Checker, spec: &mut SystemSpec, file: &str) {
    let mut seen = HashMap::new();
    for (i, a) in spec.accelerator_data.accelerators.iter_mut().enumerate() {
        let e = entity("accelerator", &a.name, "accelerators", i);
        let at = (file, e.as_str());
        let key = a.name.clone();
        c.name(at, ("name", &a.name), key, ("accelerators", i), &mut seen);
        if a.acc_type.is_empty() {
            c.error(at, "type", "must not be empty".to_owned());
        }
        match a.multiplicity {
            0 => {
                c.warn(at, "multiplicity", "0 (or missing) is read as 1".to_owned());
                a.multiplicity = 1;
            }
            m if m < 0 => c.error(at, "multiplicity", format!("must be >= 1, got {m}")),
            m => c.count(Severity::Error, at, "multiplicity", m, MAX_UNITS),
        }
        c.number(Severity::Error, at, "cost", a.cost, MAX_COST);
        // Informational fields (unused by the optimizer): warnings only, and no upper bound.
        let info = |c: &mut Checker, field: &str, v: i64| {
            if v < 0 {
                c.warn(at, field, format!("must be >= 0, got {v}"));
            }
        };
        info(c, "memSize", a.mem_size);
        info(c, "memBW", a.mem_bw);
        info(c, "power.idle", a.power.idle);
        info(c, "power.full", a.power.full);
        info(c, "power.midPower", a.power.mid_power);
        let u = a.power.mid_util;
        if !(0.0..=1.0).contains(&u) {
            c.warn(
                at,
                "power.midUtil",
                format!("must be within 0..=1, got {u}"),
            );
        }
    }
}

pub(super) fn capacity(c: &mut Checker, spec: &SystemSpec, file: &str) {
    let mut seen = HashMap::new();
    for (i, row) in spec.capacity_data.count.iter().enumerate() {
        let e = entity("capacity type", &row.acc_type, "count", i);
        let at = (file, e.as_str());
        let key = row.acc_type.clone();
        c.name(at, ("type", &row.acc_type), key, ("count", i), &mut seen);
        c.count(Severity::Error, at, "count", row.count, MAX_UNITS);
    }
}

#[cfg(test)]
mod tests {
    use crate::validate::fixtures::*;

    #[test]
    fn accelerator_numbers() {
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let p = only(|s| s.accelerator_data.accelerators[0].cost = bad);
            assert_at(&p, E, ACC, "accelerator \"A100\"", "cost");
        }
        let p = only(|s| s.accelerator_data.accelerators[1].multiplicity = -4);
        assert_at(&p, E, ACC, "accelerator \"4xG2\"", "multiplicity");
    }

    #[test]
    fn multiplicity_zero_is_one_with_a_warning() {
        let mut spec = system();
        spec.accelerator_data.accelerators[0].multiplicity = 0;
        let all = problems(&mut spec);
        assert_eq!(all.len(), 1);
        assert_at(&all[0], W, ACC, "accelerator \"A100\"", "multiplicity");
        assert_eq!(spec.accelerator_data.accelerators[0].multiplicity, 1);
    }

    #[test]
    fn informational_accelerator_fields_warn() {
        let p = only(|s| s.accelerator_data.accelerators[0].mem_size = -1);
        assert_at(&p, W, ACC, "accelerator \"A100\"", "memSize");
        let p = only(|s| s.accelerator_data.accelerators[0].power.idle = -1);
        assert_at(&p, W, ACC, "accelerator \"A100\"", "power.idle");
        let p = only(|s| s.accelerator_data.accelerators[0].power.mid_util = 1.5);
        assert_at(&p, W, ACC, "accelerator \"A100\"", "power.midUtil");
    }

    #[test]
    fn accelerator_names() {
        let p = only(|s| {
            s.accelerator_data
                .accelerators
                .push(accelerator("", "A100", 1))
        });
        assert_at(&p, E, ACC, "accelerators[2]", "name");
        let p = only(|s| {
            s.accelerator_data
                .accelerators
                .push(accelerator("A100", "A100", 1))
        });
        assert_at(&p, E, ACC, "accelerator \"A100\"", "name");
        assert!(p.message.contains("accelerators[0]"), "{p}");
        let p = only(|s| s.accelerator_data.accelerators[0].acc_type.clear());
        assert_at(&p, E, ACC, "accelerator \"A100\"", "type");
    }

    #[test]
    fn capacity_rows() {
        let p = only(|s| s.capacity_data.count[1].count = -1);
        assert_at(&p, E, CAP, "capacity type \"G2\"", "count");
        let p = only(|s| s.capacity_data.count[1].acc_type.clear());
        assert_at(&p, E, CAP, "count[1]", "type");
        let p = only(|s| s.capacity_data.count[1].acc_type = "A100".to_owned());
        assert_at(&p, E, CAP, "capacity type \"A100\"", "type");
    }
}
