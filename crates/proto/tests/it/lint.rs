//! The contract's conventions (docs/api.md, "Conventions"), checked on the .proto files: no
//! `json_name` (proto3 JSON is the lowerCamelCase of the field names), snake_case field names,
//! every enum with `<ENUM>_UNSPECIFIED = 0`, times as `google.protobuf.Timestamp` (no string
//! named like a time) and spans as `google.protobuf.Duration` (no number named like one), no
//! home-made `Empty`. buf has no rule for most of these; `buf lint` (the rules it has) runs
//! too when buf is installed.

use std::path::{Path, PathBuf};

fn proto_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto")
}

/// Every .proto file of the contract, with its text.
fn files() -> Vec<(PathBuf, String)> {
    let dir = proto_dir().join("inferno/v1");
    let mut out: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "proto"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    out.sort();
    assert!(out.len() >= 5, "the contract's files: {out:?}");
    out
}

/// The text without comments, as tokens: words (with dots, `<`, `>` and `,` kept inside map
/// types), `=`, `;`, `{`, `}`, `[`, `]`, and quoted strings.
fn tokens(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = code.chars().peekable();
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if !word.is_empty() {
            out.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                flush(&mut word, &mut out);
                let mut s = String::from('"');
                for c in chars.by_ref() {
                    s.push(c);
                    if c == '"' {
                        break;
                    }
                }
                out.push(s);
            }
            '=' | ';' | '{' | '}' | '[' | ']' | '(' | ')' => {
                flush(&mut word, &mut out);
                out.push(c.to_string());
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    // `map<string, Foo>` was split at the space: join it back.
    let mut joined: Vec<String> = Vec::new();
    for t in out {
        match joined.last_mut() {
            Some(last) if last.starts_with("map<") && !last.ends_with('>') => last.push_str(&t),
            _ => joined.push(t),
        }
    }
    joined
}

fn snake_case(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_')
}

/// `CamelCase` as `UPPER_SNAKE_CASE`.
fn upper_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// What breaks the conventions in one file's text, one line each.
fn problems(text: &str) -> Vec<String> {
    let t = tokens(text);
    let mut out = Vec::new();
    // The kind of each open block: message, enum, service, oneof, rpc options, option values.
    let mut blocks: Vec<(String, String)> = Vec::new();
    // Per open enum: whether its first value was `<ENUM>_UNSPECIFIED = 0`.
    let mut enum_values: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let word = t[i].as_str();
        let next = |k: usize| t.get(i + k).map_or("", String::as_str);
        match word {
            "message" | "enum" | "service" | "oneof" if next(2) == "{" => {
                let name = next(1).to_string();
                if word == "message" && name == "Empty" {
                    out.push("message Empty: use google.protobuf.Empty".into());
                }
                if word == "enum" {
                    enum_values.push(0);
                }
                blocks.push((word.to_string(), name));
                i += 3;
                continue;
            }
            "{" => blocks.push(("other".into(), String::new())),
            "}" => {
                if let Some((kind, name)) = blocks.pop() {
                    if kind == "enum" && enum_values.pop() == Some(0) {
                        out.push(format!("enum {name}: no values"));
                    }
                }
            }
            "json_name" => out.push(format!("json_name option near {:?}", next(2))),
            _ => {}
        }
        let inside = blocks.last().map(|(k, n)| (k.as_str(), n.as_str()));
        // An enum value: NAME = number ;
        if let Some(("enum", name)) = inside {
            if next(1) == "=" && word != "option" && word != "reserved" {
                let first = enum_values.last_mut().unwrap();
                if *first == 0 {
                    let want = format!("{}_UNSPECIFIED", upper_snake(name));
                    if word != want || next(2) != "0" {
                        out.push(format!(
                            "enum {name}: the first value is {word} = {}, not {want} = 0",
                            next(2)
                        ));
                    }
                }
                *first += 1;
            }
        }
        // A field: [repeated|optional] type name = number
        if matches!(inside, Some(("message", _)) | Some(("oneof", _)))
            && next(2) == "="
            && !matches!(word, "option" | "reserved" | "message" | "enum" | "oneof")
        {
            let (ty, name) = (word, next(1));
            if !snake_case(name) {
                out.push(format!("field {name}: not snake_case"));
            }
            let ends = |suffixes: &[&str]| {
                suffixes
                    .iter()
                    .any(|s| name == s.trim_start_matches('_') || name.ends_with(s))
            };
            if ty == "string" && ends(&["_time", "_at", "ts", "_timestamp", "_date"]) {
                out.push(format!(
                    "field {name}: a time in a string; use google.protobuf.Timestamp"
                ));
            }
            if matches!(
                ty,
                "double" | "float" | "int32" | "int64" | "uint32" | "uint64"
            ) && ends(&["_ms", "_seconds", "_secs", "_millis", "_nanos", "_duration"])
            {
                out.push(format!(
                    "field {name}: a duration in a number; use google.protobuf.Duration"
                ));
            }
        }
        i += 1;
    }
    out
}

#[test]
fn the_contract_follows_the_conventions() {
    for (path, text) in files() {
        let found = problems(&text);
        assert!(
            found.is_empty(),
            "{}:\n{}",
            path.display(),
            found.join("\n")
        );
    }
}

/// The check itself finds each kind of problem (the contract before it followed the
/// conventions had every one of them).
#[test]
fn the_check_finds_each_problem() {
    let bad = r#"
        syntax = "proto3";
        package inferno.v1;
        message Empty {}
        message Load {
          double rps = 1 [json_name = "RPS"];
          int32 avgInTokens = 2;
          string started_at = 3;
          string ts = 4;
          double duration_ms = 5;
          double window_seconds = 6;
          map<string, string> unplaced_codes = 7;
          // string commented_at = 8;
        }
        enum Outcome {
          APPLIED = 0;
        }
        message Result {
          enum State {
            STATE_UNSPECIFIED = 0;
            DONE = 1;
          }
          State state = 1;
        }
        service S {
          rpc Get(Load) returns (Result) {}
        }
    "#;
    let found = problems(bad);
    let expected = [
        "message Empty: use google.protobuf.Empty",
        "json_name option near \"\\\"RPS\\\"\"",
        "field avgInTokens: not snake_case",
        "field started_at: a time in a string; use google.protobuf.Timestamp",
        "field ts: a time in a string; use google.protobuf.Timestamp",
        "field duration_ms: a duration in a number; use google.protobuf.Duration",
        "field window_seconds: a duration in a number; use google.protobuf.Duration",
        "enum Outcome: the first value is APPLIED = 0, not OUTCOME_UNSPECIFIED = 0",
    ];
    assert_eq!(found, expected);
}

/// The rules buf has (STANDARD and COMMENTS, less the departures proto/buf.yaml lists), with
/// the real `buf lint` when it is installed (`make tools`); in CI a missing buf fails.
#[test]
fn buf_lint_passes() {
    let Some(buf) = inferno_testkit::tools::buf() else {
        return;
    };
    let out = std::process::Command::new(buf)
        .arg("lint")
        .current_dir(proto_dir())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "buf lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
