//! Files on disk: missing files, malformed files and invalid data name the file.

use crate::{sample_dir, TempDir, FILES};
use inferno_api::*;

#[test]
fn missing_file_names_its_path() {
    for file in FILES {
        let tmp = TempDir::copy_of(&format!("missing-{file}"), "small");
        std::fs::remove_file(tmp.path().join(file)).unwrap();
        match load_dir(tmp.path()) {
            Err(Error::Io { path, source }) => {
                assert_eq!(path, tmp.path().join(file));
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("{file}: expected an IO error, got {other:?}"),
        }
    }
    let err = load_path(&sample_dir("no-such-dir")).unwrap_err();
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn malformed_file_names_file_line_and_field() {
    let tmp = TempDir::copy_of("malformed", "small");
    let text = std::fs::read_to_string(tmp.path().join("server-data.json")).unwrap();
    // Line 10 of the file holds the first `"AvgInTokens": 128`.
    assert!(text
        .lines()
        .nth(9)
        .unwrap()
        .contains("\"AvgInTokens\": 128"));
    tmp.write(
        "server-data.json",
        &text.replacen("\"AvgInTokens\": 128", "\"AvgInTokens\": 128.5", 1),
    );
    match load_dir(tmp.path()) {
        Err(Error::Json {
            file,
            message,
            line,
            column,
        }) => {
            assert_eq!(
                file,
                tmp.path().join("server-data.json").display().to_string()
            );
            assert_eq!(line, 10);
            assert!(column > 0);
            assert!(
                message.contains("servers[0].currentAlloc.load.avgInTokens"),
                "{message}"
            );
        }
        other => panic!("expected a JSON error, got {other:?}"),
    }
    tmp.write("server-data.json", "{\"servers\": [}");
    let err = load_dir(tmp.path()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("server-data.json:1:14: "), "{text}");
}

#[test]
fn unreadable_system_file_is_a_json_error() {
    let tmp = TempDir::new("bad-system");
    let path = tmp.write(
        "system.json",
        "{\"system\": {\"capacityData\": {\"count\": [{\"count\": \"x\"}]}}}",
    );
    let err = load_path(&path).unwrap_err();
    let Error::Json { file, message, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(file, &path.display().to_string());
    assert!(
        message.contains("`system.capacityData.count[0].count`"),
        "{message}"
    );
}

#[test]
fn three_errors_give_three_problems() {
    let tmp = TempDir::copy_of("three-errors", "small");
    let text = r#"{"models":[
        {"name":"granite_13b","acc":"AIU2","accCount":1,"perfParms":{"alpha":-1,"beta":1}},
        {"name":"granite_13b","acc":"AIU2","accCount":1,"perfParms":{"alpha":1}},
        {"name":"granite_13b","acc":"H100","accCount":1,"perfParms":{"alpha":1}},
        {"name":"llama_13b","acc":"G2","perfParms":{"alpha":1}},
        {"name":"llama_70b","acc":"G2","perfParms":{"alpha":1}},
        {"name":"granite_34b","acc":"G2","perfParms":{"alpha":1}},
        {"name":"mixtral_8_7b","acc":"G2","perfParms":{"alpha":1}}
    ]}"#;
    let models = tmp.write("model-data.json", text).display().to_string();
    let Err(Error::Invalid(problems)) = load_dir(tmp.path()) else {
        panic!("expected invalid data");
    };
    let at: Vec<_> = problems
        .iter()
        .map(|p| {
            (
                p.severity,
                p.file.as_str(),
                p.entity.as_str(),
                p.field.as_str(),
            )
        })
        .collect();
    let e = Severity::Error;
    assert_eq!(
        at,
        [
            (
                e,
                models.as_str(),
                "model \"granite_13b\" on \"AIU2\"",
                "perfParms.alpha"
            ),
            (
                e,
                models.as_str(),
                "model \"granite_13b\" on \"AIU2\"",
                "name"
            ),
            (
                e,
                models.as_str(),
                "model \"granite_13b\" on \"H100\"",
                "acc"
            ),
        ]
    );
}

#[test]
fn warnings_are_returned_with_the_data() {
    let tmp = TempDir::copy_of("warnings", "small");
    let text = std::fs::read_to_string(tmp.path().join("accelerator-data.json")).unwrap();
    tmp.write(
        "accelerator-data.json",
        &text.replacen("\"multiplicity\": 1,", "", 1),
    );
    let loaded = load_dir(tmp.path()).unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    let w = &loaded.warnings[0];
    assert_eq!(
        (w.severity, w.entity.as_str(), w.field.as_str()),
        (Severity::Warning, "accelerator \"L4\"", "multiplicity")
    );
    assert_eq!(loaded.spec.accelerator("L4").unwrap().multiplicity, 1);
}

#[test]
fn errors_of_several_files_come_together() {
    let tmp = TempDir::copy_of("several-files", "small");
    tmp.write(
        "capacity-data.json",
        r#"{"count":[{"type":"A100","count":-1}]}"#,
    );
    tmp.write(
        "optimizer-data.json",
        r#"{"optimizer":{"saturationPolicy":"Greedy"}}"#,
    );
    let Err(Error::Invalid(problems)) = load_dir(tmp.path()) else {
        panic!("expected invalid data");
    };
    let files: Vec<_> = problems
        .iter()
        .map(|p| p.file.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(files, ["capacity-data.json", "optimizer-data.json"]);
}
