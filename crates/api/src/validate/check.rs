//! The entry points of validation and their outcomes: [`validate()`] (problems only),
//! [`check`] and `finish` (a [`Loaded`] system or [`Error::Invalid`]) and [`check_each_server`]
//! (bad servers set aside as [`Rejected`]). Separate from the checks so that how problems
//! become a verdict is in one place.

use super::accelerators::{accelerators, capacity};
use super::checker::Checker;
use super::classes::classes;
use super::file_names::FileNames;
use super::models::models;
use super::optimizer::optimizer;
use super::problem::{entity, Problem};
use super::servers::servers;
use crate::error::{Error, Result};
use crate::load::Loaded;
use crate::types::SystemSpec;

/// Validates `spec`, normalises it in place and returns every problem found, in file order.
///
/// Normalisations (each reported as a warning, except `accCount` 0): accelerator multiplicity
/// 0 becomes 1; model `accCount` <= 0 becomes 1; class priority outside 1..=100 becomes 100.
pub fn validate(spec: &mut SystemSpec, files: &FileNames) -> Vec<Problem> {
    run(spec, files).problems
}

fn run(spec: &mut SystemSpec, files: &FileNames) -> Checker {
    let mut c = Checker::default();
    accelerators(&mut c, spec, &files.accelerators);
    capacity(&mut c, spec, &files.capacity);
    models(&mut c, spec, &files.models);
    classes(&mut c, spec, &files.service_classes);
    servers(&mut c, spec, &files.servers);
    optimizer(&mut c, spec, &files.optimizer);
    c
}

/// A server that [`check_each_server`] set aside because its own data is invalid.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// Its index in the servers as given.
    pub index: usize,
    /// Its name (empty if it has none).
    pub name: String,
    /// The problems of its own data (at least one error), in file order.
    pub problems: Vec<Problem>,
}

impl Rejected {
    /// Its errors as one line: `field F: what; field G: what`.
    pub fn reason(&self) -> String {
        let lines: Vec<String> = self
            .problems
            .iter()
            .filter(|p| p.is_error())
            .map(|p| {
                if p.field.is_empty() {
                    p.message.clone()
                } else {
                    format!("field {}: {}", p.field, p.message)
                }
            })
            .collect();
        lines.join("; ")
    }
}

/// The result of [`check_each_server`]: the usable system and the servers set aside.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checked {
    /// The system without the rejected servers, normalised, with the remaining warnings.
    pub loaded: Loaded,
    /// Servers whose own data is invalid, in the order given.
    pub rejected: Vec<Rejected>,
}

/// Validates and normalises `spec` as [`check`] does, except that a server whose own data is
/// invalid (its name, model, class, limits, current allocation or load) does not fail the
/// whole: it is removed from the system and returned in [`Checked::rejected`] with its
/// problems, so that one bad server does not stop the decisions for the others. Servers that
/// share a name are all rejected, so that no copy takes over another's decisions.
///
/// Errors in the shared data (accelerators, capacity, models, classes, optimizer flags) still
/// fail with [`Error::Invalid`], listing every problem.
pub fn check_each_server(mut spec: SystemSpec, files: &FileNames) -> Result<Checked> {
    let mut c = run(&mut spec, files);
    let shared_error = c
        .problems
        .iter()
        .zip(&c.servers)
        .any(|(p, server)| p.is_error() && server.is_none());
    if shared_error {
        return Err(Error::Invalid(c.problems));
    }
    for (first, later) in std::mem::take(&mut c.duplicates) {
        let s = &spec.server_data.servers[first];
        let e = entity("server", &s.name, "servers", first);
        c.server = Some(first);
        let message = format!("duplicate, also defined at servers[{later}]");
        c.error((&files.servers, &e), "name", message);
    }
    let mut bad = vec![false; spec.server_data.servers.len()];
    for (p, server) in c.problems.iter().zip(&c.servers) {
        if let (true, Some(i)) = (p.is_error(), server) {
            bad[*i] = true;
        }
    }
    let mut own: Vec<Vec<Problem>> = vec![Vec::new(); bad.len()];
    let mut warnings = Vec::new();
    for (p, server) in c.problems.into_iter().zip(c.servers) {
        match server {
            Some(i) if bad[i] => own[i].push(p),
            _ => warnings.push(p),
        }
    }
    let mut rejected = Vec::new();
    for (index, problems) in own.into_iter().enumerate() {
        if bad[index] {
            let name = spec.server_data.servers[index].name.clone();
            rejected.push(Rejected {
                index,
                name,
                problems,
            });
        }
    }
    // In place: a system of 200,000 servers is not copied to drop a few.
    if !rejected.is_empty() {
        let mut index = 0;
        spec.server_data.servers.retain(|_| {
            index += 1;
            !bad[index - 1]
        });
    }
    Ok(Checked {
        loaded: Loaded { spec, warnings },
        rejected,
    })
}

/// Validates and normalises `spec`: [`Error::Invalid`] with every problem if any is an error,
/// else the system and its warnings.
pub fn check(spec: SystemSpec, files: &FileNames) -> Result<Loaded> {
    finish(spec, files, Vec::new())
}

/// [`check`] with problems found earlier (while parsing legacy shapes) put first.
pub(crate) fn finish(
    mut spec: SystemSpec,
    files: &FileNames,
    mut problems: Vec<Problem>,
) -> Result<Loaded> {
    problems.extend(validate(&mut spec, files));
    if problems.iter().any(Problem::is_error) {
        return Err(Error::Invalid(problems));
    }
    Ok(Loaded {
        spec,
        warnings: problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::fixtures::*;

    /// Issue 16: one server's bad data is set aside with its problems; the others stay.
    #[test]
    fn check_each_server_sets_bad_servers_aside() {
        let mut spec = system();
        let mut copy = server("p", "Premium", "llama");
        copy.current_alloc.load.arrival_rate = 1.0;
        spec.server_data.servers.extend([
            server("bad-load", "Premium", "llama"),
            server("no-model", "Premium", "gpt"),
            server("no-class", "Gold", "llama"),
            copy,
        ]);
        spec.server_data.servers[2].current_alloc.load.arrival_rate = f64::INFINITY;
        spec.server_data.servers[2].max_batch_size = 1 << 32;
        let checked = check_each_server(spec, &FileNames::single("req")).unwrap();
        let kept: Vec<&str> = checked
            .loaded
            .spec
            .server_data
            .servers
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(kept, ["f"]);
        let rejected: Vec<(usize, &str)> = checked
            .rejected
            .iter()
            .map(|r| (r.index, r.name.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [
                (0, "p"),
                (2, "bad-load"),
                (3, "no-model"),
                (4, "no-class"),
                (5, "p")
            ]
        );
        let reason = checked.rejected[1].reason();
        assert!(
            reason.contains("field maxBatchSize: must be an integer in [0, 4096], got 4294967296")
                && reason.contains("field currentAlloc.load.arrivalRate: must be a finite number"),
            "{reason}"
        );
        assert!(checked.rejected[0]
            .reason()
            .contains("also defined at servers[5]"));
        assert!(checked.rejected[4]
            .reason()
            .contains("first defined at servers[0]"));
        assert!(checked.rejected[2]
            .reason()
            .contains("unknown model \"gpt\""));

        // Shared data still fails the whole, with every problem.
        let mut spec = system();
        spec.model_data.models[0].perf_parms.alpha = -1.0;
        spec.server_data.servers[0]
            .current_alloc
            .load
            .avg_out_tokens = -1;
        let Err(Error::Invalid(all)) = check_each_server(spec, &FileNames::default()) else {
            panic!("shared error accepted");
        };
        assert_eq!(all.len(), 2, "{all:#?}");
    }

    #[test]
    fn check_splits_errors_and_warnings() {
        let mut spec = system();
        spec.accelerator_data.accelerators[0].multiplicity = 0;
        let loaded = check(spec.clone(), &FileNames::default()).unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert_eq!(loaded.spec.accelerator_data.accelerators[0].multiplicity, 1);
        spec.capacity_data.count[0].count = -1;
        spec.capacity_data.count[1].count = -1;
        let err = check(spec, &FileNames::single("sys.json")).unwrap_err();
        let Error::Invalid(all) = &err else {
            panic!("{err:?}");
        };
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|p| p.file == "sys.json"));
        let text = err.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], "invalid data: 2 error(s), 1 warning(s)");
        assert_eq!(lines[1], all[0].to_string());
    }
}
