//! Unknown fields in the data files: warnings by default, errors when loading strictly.

use crate::{sample_dir, TempDir};
use inferno_api::*;

/// The small sample with the first `arrivalRate` of the server data misspelt.
fn misspelt(name: &str) -> (TempDir, String) {
    let tmp = TempDir::copy_of(name, "small");
    let text = std::fs::read_to_string(tmp.path().join("server-data.json")).unwrap();
    assert!(text.contains("\"arrivalRate\""));
    let file = tmp
        .write(
            "server-data.json",
            &text.replacen("\"arrivalRate\"", "\"arivalRate\"", 1),
        )
        .display()
        .to_string();
    (tmp, file)
}

#[test]
fn unknown_field_is_a_warning_naming_file_entity_path_and_intended_field() {
    let (tmp, file) = misspelt("unknown-warning");
    let loaded = load_dir(tmp.path()).unwrap();
    let first = &loaded.spec.server_data.servers[0];
    assert_eq!(first.current_alloc.load.arrival_rate, 0.0);
    assert_eq!(
        loaded.warnings,
        [Problem {
            severity: Severity::Warning,
            file,
            entity: format!("server {:?}", first.name),
            field: "servers[0].currentAlloc.load.arivalRate".to_owned(),
            message: r#"unknown field "arivalRate" (ignored); did you mean "arrivalRate"?"#
                .to_owned(),
        }]
    );
    assert_eq!(load_path(tmp.path()).unwrap(), loaded);
}

#[test]
fn strict_loading_makes_unknown_fields_errors_listed_with_validation_problems() {
    let (tmp, file) = misspelt("unknown-strict");
    let optimizer = tmp.path().join("optimizer-data.json");
    tmp.write(
        "optimizer-data.json",
        r#"{"optimizer": {"solver": "bogus", "milpSolvr": true}}"#,
    );
    let strict = LoadOptions { strict: true };
    let Err(Error::Invalid(problems)) = load_dir_with(tmp.path(), strict) else {
        panic!("expected invalid data");
    };
    let at: Vec<_> = problems
        .iter()
        .map(|p| (p.severity, p.file.clone(), p.field.as_str()))
        .collect();
    let optimizer = optimizer.display().to_string();
    assert_eq!(
        at,
        [
            (Severity::Error, optimizer.clone(), "optimizer.milpSolvr"),
            (
                Severity::Error,
                file,
                "servers[0].currentAlloc.load.arivalRate"
            ),
            (Severity::Error, optimizer, "solver"),
        ]
    );
    let err = load_path_with(tmp.path(), strict).unwrap_err().to_string();
    assert!(
        err.starts_with("invalid data: 3 error(s), 0 warning(s)\n"),
        "{err}"
    );
    assert!(
        err.contains(
            r#"field optimizer.milpSolvr: unknown field "milpSolvr"; did you mean "milpSolver"?"#
        ),
        "{err}"
    );

    // Not strict: the solver is still an error, the unknown fields are warnings beside it.
    let Err(Error::Invalid(problems)) = load_dir(tmp.path()) else {
        panic!("expected invalid data");
    };
    let warnings = problems.iter().filter(|p| !p.is_error()).count();
    assert_eq!((problems.len(), warnings), (3, 2));
}

#[test]
fn strict_loading_of_clean_data_is_loading() {
    let strict = LoadOptions { strict: true };
    for name in ["small", "large"] {
        let dir = sample_dir(name);
        assert_eq!(
            load_dir_with(&dir, strict).unwrap(),
            load_dir(&dir).unwrap()
        );
    }
}

#[test]
fn system_file_unknown_fields() {
    let tmp = TempDir::new("unknown-system");
    let spec = load_dir(&sample_dir("small")).unwrap().spec;
    let mut value = serde_json::to_value(SystemData { system: spec }).unwrap();
    value["system"]["serverData"]["servers"][3]["minReplicas"] = 1.into();
    let path = tmp.write("sys.json", &value.to_string());
    let loaded = load_path(&path).unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    let w = &loaded.warnings[0];
    assert_eq!(w.file, path.display().to_string());
    assert_eq!(w.field, "system.serverData.servers[3].minReplicas");
    assert!(
        w.to_string().contains(r#"did you mean "minNumReplicas"?"#),
        "{w}"
    );
    let strict = LoadOptions { strict: true };
    assert!(matches!(
        load_path_with(&path, strict),
        Err(Error::Invalid(p)) if p.len() == 1 && p[0].is_error()
    ));
}
