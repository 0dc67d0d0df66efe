//! The monitoring material of `deploy/monitoring` (docs/monitoring.md) checked with the real
//! tools: the PrometheusRule's groups pass `promtool check rules` and the unit tests of
//! `deploy/monitoring/tests/alerts-test.yaml` (`promtool test rules`); every query of the
//! Grafana dashboard parses (each wrapped as a recording rule for `promtool check rules`); every
//! metric, label and label value they name is one the scraped services register (their
//! sources); `kubectl kustomize deploy/monitoring` renders the monitors, the rule and the
//! dashboard's ConfigMap; and the monitors select what deploy/inferno renders.
//!
//! promtool comes from $PROMTOOL, the PATH or /usr/bin/promtool (Debian's `prometheus` package,
//! which `make tools` installs), kubectl from $KUBECTL or the PATH; with CI=true a missing tool
//! fails the test, otherwise it is skipped with a message.

use super::common::{in_ci, root, TempDir};
use inferno_testkit::process::output_blocking;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// The longest one promtool or kubectl command may take.
const BOUND: Duration = Duration::from_secs(60);

/// The crates whose programs the monitors scrape, and so the only places a metric may come from.
const SCRAPED: [&str; 5] = [
    "controller",
    "collector",
    "optimizer",
    "actuator",
    "telemetry",
];

/// Labels the Prometheus Operator gives every target (PodMonitor and ServiceMonitor), not the
/// programs.
const TARGET_LABELS: [&str; 7] = [
    "job",
    "namespace",
    "pod",
    "container",
    "endpoint",
    "instance",
    "service",
];

/// What Grafana puts for its variables, for promtool to parse the queries.
const VARIABLES: [(&str, &str); 6] = [
    ("$__rate_interval", "2m"),
    ("$__interval", "1m"),
    ("$__range", "1h"),
    ("$namespace", "inferno"),
    ("$server", "vllm-001"),
    ("$datasource", "prometheus"),
];

fn dir() -> PathBuf {
    root().join("deploy/monitoring")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The documents of a multi-document YAML text.
fn documents(text: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("a YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

/// promtool from `$PROMTOOL`, the PATH or /usr/bin/promtool; `None` (skip) when missing
/// outside CI, a panic in CI (the rule of `inferno_testkit::tools`).
fn promtool() -> Option<PathBuf> {
    let works = |p: &PathBuf| {
        Command::new(p)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let found = match std::env::var_os("PROMTOOL") {
        Some(p) => Some(PathBuf::from(p)).filter(works),
        None => ["promtool", "/usr/bin/promtool"]
            .into_iter()
            .map(PathBuf::from)
            .find(works),
    };
    let hint = "`make tools` installs it (Debian package prometheus), or set PROMTOOL";
    if found.is_none() {
        assert!(!in_ci(), "promtool is required in CI (CI=true): {hint}");
        eprintln!("SKIPPED: promtool not found; {hint}");
    }
    found
}

/// `program args` in `cwd`, under [`BOUND`].
fn run(program: &Path, args: &[&str], cwd: &Path) -> Output {
    output_blocking(
        Command::new(program).args(args).current_dir(cwd),
        None,
        BOUND,
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `promtool check rules FILE` of `groups`, written to `dir/name`: passes, and finds `n` rules.
fn check_rules(promtool: &Path, dir: &Path, name: &str, groups: &Value, n: usize) {
    std::fs::write(
        dir.join(name),
        serde_yaml_ng::to_string(&json!({ "groups": groups })).unwrap(),
    )
    .unwrap();
    let out = run(promtool, &["check", "rules", name], dir);
    let said = text(&out);
    assert!(out.status.success(), "promtool check rules {name}:\n{said}");
    assert!(
        said.contains(&format!("SUCCESS: {n} rules found")),
        "{n} rules expected:\n{said}"
    );
}

/// `spec.groups` of the PrometheusRule.
fn rule_groups() -> Value {
    let rule = yaml(&dir().join("prometheusrule.yaml"));
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["kind"], "PrometheusRule");
    let groups = rule["spec"]["groups"].clone();
    assert!(
        groups.as_array().is_some_and(|g| !g.is_empty()),
        "no groups"
    );
    groups
}

fn rules(groups: &Value) -> Vec<Value> {
    groups
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").clone())
        .collect()
}

fn alerts(groups: &Value) -> Vec<Value> {
    rules(groups)
        .into_iter()
        .filter(|r| r.get("alert").is_some())
        .collect()
}

fn expr(rule: &Value) -> &str {
    rule["expr"].as_str().expect("expr is a string")
}

/// The queries of the dashboard, as written (Grafana's variables in them): each panel
/// target's `expr`, rows' nested panels included, and the selector of each variable's
/// `label_values(SELECTOR, LABEL)` with its label.
fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(targets) = m.get("targets").and_then(Value::as_array) {
                    for t in targets {
                        let e = t["expr"].as_str().expect("every target has an expr");
                        out.push(e.to_string());
                    }
                }
                for (k, v) in m {
                    if k != "targets" {
                        walk(v, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if var["type"] != "query" {
            continue;
        }
        let q = var["query"]["query"]
            .as_str()
            .or(var["query"].as_str())
            .unwrap();
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or_else(|| panic!("variable {}: not label_values(..): {q}", var["name"]));
        let (selector, label) = inner.rsplit_once(',').unwrap();
        // `by (LABEL)` so that the label goes through the same checks as the grouping labels.
        out.push(format!("group by ({}) ({selector})", label.trim()));
    }
    out
}

fn dashboard() -> Value {
    let path = dir().join("grafana-dashboard.json");
    serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `query` with Grafana's variables replaced by values, as a data source would receive it.
fn substituted(query: &str) -> String {
    let mut q = query.to_string();
    for (var, value) in VARIABLES {
        q = q.replace(&format!("${{{}}}", &var[1..]), value);
        q = q.replace(var, value);
    }
    assert!(!q.contains('$'), "a variable left in {q}");
    q
}

#[test]
fn the_rule_passes_promtool_check_rules() {
    let groups = rule_groups();
    let n = rules(&groups).len();
    // Every alert has a severity, a summary and a description that names its runbook section.
    let doc = read(&root().join("docs/monitoring.md"));
    let anchors: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| slug(h.trim_start_matches('#')))
        .collect();
    for a in alerts(&groups) {
        let name = a["alert"].as_str().unwrap();
        assert!(
            ["critical", "warning", "info"]
                .contains(&a["labels"]["severity"].as_str().unwrap_or("")),
            "{name}: severity critical, warning or info"
        );
        for key in ["summary", "description"] {
            assert!(
                a["annotations"][key]
                    .as_str()
                    .is_some_and(|s| !s.trim().is_empty()),
                "{name}: no {key}"
            );
        }
        let description = a["annotations"]["description"].as_str().unwrap();
        let anchor = format!("docs/monitoring.md#{}", name.to_ascii_lowercase());
        assert!(
            description.contains(&anchor),
            "{name}: the description names {anchor}"
        );
        assert!(
            anchors.contains(&name.to_ascii_lowercase()),
            "{name}: no section ### {name} in docs/monitoring.md"
        );
    }
    let Some(promtool) = promtool() else { return };
    let tmp = TempDir::new("rules");
    check_rules(&promtool, tmp.path(), "rules.yaml", &groups, n);
}

/// GitHub's anchor of a heading: lower case, spaces to hyphens, other punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn the_alerts_pass_their_unit_tests() {
    let groups = rule_groups();
    let tests_file = dir().join("tests/alerts-test.yaml");
    let tests = yaml(&tests_file);
    assert_eq!(tests["rule_files"], json!(["rules.yaml"]));
    // Every alert is tested firing and silent.
    let mut cases: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for t in tests["tests"].as_array().unwrap() {
        for case in t["alert_rule_test"].as_array().into_iter().flatten() {
            let name = case["alertname"].as_str().unwrap().to_string();
            let firing = case["exp_alerts"].as_array().is_some_and(|a| !a.is_empty());
            let entry = cases.entry(name).or_default();
            if firing {
                entry.0 += 1;
            } else {
                entry.1 += 1;
            }
        }
    }
    let names: BTreeSet<String> = alerts(&groups)
        .iter()
        .map(|a| a["alert"].as_str().unwrap().to_string())
        .collect();
    for name in &names {
        let (firing, silent) = cases.get(name).copied().unwrap_or_default();
        assert!(
            firing > 0 && silent > 0,
            "{name}: {firing} firing and {silent} silent case(s) in {}",
            tests_file.display()
        );
    }
    for tested in cases.keys() {
        assert!(names.contains(tested), "{tested} is tested but not a rule");
    }
    let Some(promtool) = promtool() else { return };
    let tmp = TempDir::new("rules-test");
    check_rules(
        &promtool,
        tmp.path(),
        "rules.yaml",
        &groups,
        rules(&groups).len(),
    );
    std::fs::copy(&tests_file, tmp.path().join("alerts-test.yaml")).unwrap();
    let out = run(
        &promtool,
        &["test", "rules", "alerts-test.yaml"],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "promtool test rules alerts-test.yaml:\n{}",
        text(&out)
    );
    assert!(text(&out).contains("SUCCESS"), "{}", text(&out));
}

#[test]
fn every_dashboard_query_parses() {
    let d = dashboard();
    assert_eq!(d["schemaVersion"], 39);
    assert_eq!(d["uid"], "inferno");
    let vars = d["templating"]["list"].as_array().unwrap();
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name}"))
    };
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    assert_eq!(var("server")["type"], "query");
    // Every panel reads the data source of the variable; ids are unique.
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().unwrap() {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "panel id {} twice",
            p["id"]
        );
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
            assert!(
                p["targets"].as_array().is_some_and(|t| !t.is_empty()),
                "{}: no query",
                p["title"]
            );
        }
    }
    let queries = dashboard_queries(&d);
    assert!(queries.len() > 20, "{} queries", queries.len());
    let Some(promtool) = promtool() else { return };
    let wrapped: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| json!({ "record": format!("dashboard:query_{i}"), "expr": substituted(q) }))
        .collect();
    let tmp = TempDir::new("dashboard");
    let groups = json!([{ "name": "dashboard", "rules": wrapped }]);
    check_rules(
        &promtool,
        tmp.path(),
        "dashboard.yaml",
        &groups,
        queries.len(),
    );
}

#[test]
fn every_metric_and_label_is_one_the_services_register() {
    let code = Code::load();
    let groups = rule_groups();
    let recorded: BTreeSet<String> = rules(&groups)
        .iter()
        .filter_map(|r| r["record"].as_str().map(String::from))
        .collect();
    let mut sources: Vec<(String, String)> = rules(&groups)
        .iter()
        .map(|r| {
            (
                format!(
                    "rule {}",
                    r["alert"].as_str().or(r["record"].as_str()).unwrap()
                ),
                expr(r).to_string(),
            )
        })
        .collect();
    for q in dashboard_queries(&dashboard()) {
        sources.push(("dashboard".into(), q));
    }
    let tests = yaml(&dir().join("tests/alerts-test.yaml"));
    for t in tests["tests"].as_array().unwrap() {
        for s in t["input_series"].as_array().into_iter().flatten() {
            let series = s["series"].as_str().unwrap().to_string();
            sources.push(("alerts-test.yaml".into(), series));
        }
    }
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for (whence, e) in &sources {
        let scan = scan(e);
        assert!(!scan.selectors.is_empty(), "{whence}: no metric in {e}");
        let mut homes = Vec::new();
        for (name, matchers) in &scan.selectors {
            names.insert(name.clone());
            if name == "up" {
                homes.push(None);
            } else if name.contains(':') {
                if !recorded.contains(name) {
                    problems.push(format!(
                        "{whence}: {name} is not a recording rule of the PrometheusRule"
                    ));
                }
                continue;
            } else if !(name.starts_with("inferno_") || name.starts_with("process_")) {
                problems.push(format!("{whence}: {name} is not a metric of Inferno"));
                continue;
            } else {
                match code.home(name) {
                    Some(home) => homes.push(Some(home)),
                    None => {
                        problems.push(format!(
                            "{whence}: {name} is registered nowhere in crates/{{{}}}/src",
                            SCRAPED.join(",")
                        ));
                        continue;
                    }
                }
            }
            let home = homes.last().copied().flatten();
            for (label, op, value) in matchers {
                if let Some(p) = code.label_problem(home, label, op, value) {
                    problems.push(format!("{whence}: {name}: {p}"));
                }
            }
        }
        for label in &scan.grouping {
            let known = TARGET_LABELS.contains(&label.as_str())
                || label == "le"
                || homes.iter().flatten().any(|h| code.has_label(h, label));
            if !known {
                problems.push(format!("{whence}: label {label} of no metric in the query"));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    // The families the issue asks the dashboard and the alerts for are among those checked.
    for name in [
        "inferno_controller_cycles_total",
        "inferno_controller_cycle_duration_seconds_bucket",
        "inferno_controller_stage_seconds_total",
        "inferno_actuator_desired_replicas",
        "inferno_actuator_current_replicas",
        "inferno_controller_server_latency_milliseconds",
        "inferno_controller_server_cost_cents_per_hour",
        "inferno_controller_server_info",
        "inferno_controller_tuned_parameter",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "inferno_build_info",
    ] {
        assert!(names.contains(name), "{name} is used nowhere");
    }
}

/// The sources of the scraped services without their tests and comments: where a metric's
/// name is registered as a string literal, and its labels are fields or literals.
struct Code {
    /// Crate name and the text of its `src/**/*.rs`.
    crates: Vec<(&'static str, String)>,
}

impl Code {
    fn load() -> Self {
        fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    rs_files(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let crates = SCRAPED
            .iter()
            .map(|c| {
                let mut files = Vec::new();
                rs_files(&root().join("crates").join(c).join("src"), &mut files);
                let text: String = files
                    .iter()
                    .map(|f| {
                        read(f)
                            .lines()
                            // A module's tests come last: they name metrics as a page shows them.
                            .take_while(|l| l.trim() != "#[cfg(test)]")
                            .filter(|l| !l.trim_start().starts_with("//"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .collect::<Vec<_>>()
                    .join("\n");
                (*c, text)
            })
            .collect();
        Self { crates }
    }

    /// The crate registering `name`: the name, or the name without the suffix the exposition
    /// adds (`_total` of a counter, `_bucket`/`_sum`/`_count` of a histogram, `_info` of an
    /// info), as a string literal.
    fn home(&self, name: &str) -> Option<&'static str> {
        let mut bases = vec![name];
        for suffix in ["_total", "_bucket", "_sum", "_count", "_info"] {
            bases.extend(name.strip_suffix(suffix));
        }
        self.crates
            .iter()
            .find(|(_, text)| bases.iter().any(|b| text.contains(&format!("\"{b}\""))))
            .map(|(c, _)| *c)
    }

    fn text(&self, home: &str) -> &str {
        &self.crates.iter().find(|(c, _)| *c == home).unwrap().1
    }

    /// Whether crate `home` has a label `label`: a field `label:` of a label set, or `"label"`.
    fn has_label(&self, home: &str, label: &str) -> bool {
        let text = self.text(home);
        text.contains(&format!("\"{label}\""))
            || text
                .match_indices(&format!("{label}:"))
                .any(|(i, _)| !text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
    }

    /// What is wrong with the matcher `label op value` of a metric of crate `home` (None for
    /// `up`), if anything: a label the crate does not have, or, for a label whose values the
    /// code fixes (a `&'static str` field: outcome, kind, stage, reason, ...), a value it never
    /// writes. Free-form values (server, model, namespace, ...) are data, not checked.
    fn label_problem(
        &self,
        home: Option<&str>,
        label: &str,
        op: &str,
        value: &str,
    ) -> Option<String> {
        // A target label in a query is the target's; a program's own label of that name
        // arrives renamed `exported_<name>` (the actuator's Deployment namespace).
        if TARGET_LABELS.contains(&label) {
            return None;
        }
        let label = label.strip_prefix("exported_").unwrap_or(label);
        let home = home?;
        if !self.has_label(home, label) {
            return Some(format!("label {label} is not one of crates/{home}"));
        }
        let text = self.text(home);
        if !text.contains(&format!("{label}: &'static str")) {
            return None;
        }
        let literal = |v: &str| {
            v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        let values: Vec<&str> = match op {
            "=" => vec![value],
            "=~" => value.split('|').collect(),
            _ => vec![],
        };
        if value.contains('$') || !values.iter().all(|v| literal(v)) {
            return None;
        }
        values
            .into_iter()
            .find(|v| !text.contains(&format!("\"{v}\"")))
            .map(|v| format!("{label}=\"{v}\" is written nowhere in crates/{home}"))
    }
}

/// A label matcher: label, operator (`=`, `!=`, `=~`, `!~`), value.
type Matcher = (String, String, String);

/// The metric selectors of a PromQL expression and the labels it groups or matches by.
#[derive(Debug, Default, PartialEq)]
struct Scan {
    /// Each metric name with its label matchers.
    selectors: Vec<(String, Vec<Matcher>)>,
    /// The labels of `by`, `without`, `on`, `ignoring`, `group_left` and `group_right`.
    grouping: Vec<String>,
}

/// Words that are operators, aggregations or modifiers, never metric names.
const KEYWORDS: [&str; 20] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "atan2",
    "inf",
    "nan",
];

const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// A small PromQL scanner: enough to find the metric names (identifiers not followed by `(`
/// and not keywords), their matchers, and the grouping labels. Strings, durations and numbers
/// are skipped.
fn scan(expr: &str) -> Scan {
    let s: Vec<char> = expr.chars().collect();
    let mut out = Scan::default();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let skip_ws = |mut j: usize| {
        while j < s.len() && s[j].is_whitespace() {
            j += 1;
        }
        j
    };
    // The index after the string that starts at `j`.
    let string_end = |j: usize| {
        let quote = s[j];
        let mut k = j + 1;
        while k < s.len() && s[k] != quote {
            k += if s[k] == '\\' { 2 } else { 1 };
        }
        k + 1
    };
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < s.len() && ident(s[i]) {
                i += 1;
            }
            let word: String = s[start..i].iter().collect();
            let j = skip_ws(i);
            let next = s.get(j).copied();
            if GROUPING.contains(&word.as_str()) {
                if next == Some('(') {
                    let end = j + s[j..].iter().position(|&c| c == ')').expect("a closing )");
                    let list: String = s[j + 1..end].iter().collect();
                    out.grouping.extend(
                        list.split(',')
                            .map(|l| l.trim().to_string())
                            .filter(|l| !l.is_empty()),
                    );
                    i = end + 1;
                }
            } else if next == Some('(') || KEYWORDS.contains(&word.as_str()) {
                // A function, an aggregation or an operator.
            } else {
                let mut matchers = Vec::new();
                if next == Some('{') {
                    let mut k = skip_ws(j + 1);
                    while k < s.len() && s[k] != '}' {
                        let l0 = k;
                        while k < s.len() && ident(s[k]) {
                            k += 1;
                        }
                        let label: String = s[l0..k].iter().collect();
                        k = skip_ws(k);
                        let o0 = k;
                        while k < s.len() && "=!~".contains(s[k]) {
                            k += 1;
                        }
                        let op: String = s[o0..k].iter().collect();
                        k = skip_ws(k);
                        let end = string_end(k);
                        let value: String = s[k + 1..end - 1].iter().collect();
                        matchers.push((label, op, value));
                        k = skip_ws(end);
                        if s.get(k) == Some(&',') {
                            k = skip_ws(k + 1);
                        }
                    }
                    i = k + 1;
                }
                out.selectors.push((word, matchers));
            }
        } else if c.is_ascii_digit() || c == '.' {
            while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == '.') {
                i += 1;
            }
        } else if c == '"' || c == '\'' || c == '`' {
            i = string_end(i);
        } else if c == '[' || c == '{' {
            let close = if c == '[' { ']' } else { '}' };
            i += s[i..]
                .iter()
                .position(|&x| x == close)
                .unwrap_or(s.len() - i)
                + 1;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn the_scanner_finds_names_matchers_and_grouping_labels() {
    let s = scan(
        "sum by (program) (rate(process_cpu_seconds_total{job=\"inferno\",namespace=~\"a|b\"}[$__rate_interval]) \
         * on (namespace, pod) group_left (program) inferno_build_info) > 0.5 or vector(0) \
         / ignoring (kind) x:y:z offset 5m",
    );
    assert_eq!(
        s.selectors,
        vec![
            (
                "process_cpu_seconds_total".to_string(),
                vec![
                    ("job".into(), "=".into(), "inferno".into()),
                    ("namespace".into(), "=~".into(), "a|b".into())
                ]
            ),
            ("inferno_build_info".to_string(), vec![]),
            ("x:y:z".to_string(), vec![]),
        ]
    );
    assert_eq!(
        s.grouping,
        ["program", "namespace", "pod", "program", "kind"]
    );
}

#[test]
fn a_renamed_metric_or_label_is_caught() {
    let code = Code::load();
    assert_eq!(
        code.home("inferno_controller_cycles_total"),
        Some("controller")
    );
    assert_eq!(code.home("inferno_build_info"), Some("telemetry"));
    assert_eq!(code.home("process_cpu_seconds_total"), Some("telemetry"));
    assert_eq!(
        code.home("inferno_actuator_desired_replicas"),
        Some("actuator")
    );
    assert_eq!(code.home("inferno_controller_cycles_count_total"), None);
    assert_eq!(code.home("inferno_desired_replicas"), None, "the old name");
    let c = Some("controller");
    assert_eq!(code.label_problem(c, "kind", "=", "measured"), None);
    assert_eq!(code.label_problem(c, "outcome", "=", "failed"), None);
    assert!(code.label_problem(c, "kind", "=", "observed").is_some());
    assert!(code.label_problem(c, "flavour", "=", "ok").is_some());
    // A value the code fixes is checked; a free-form one (server, namespace) is data.
    let a = Some("actuator");
    assert_eq!(code.label_problem(a, "reason", "=", "not-managed"), None);
    assert!(code.label_problem(a, "reason", "=", "unmanaged").is_some());
    assert_eq!(code.label_problem(a, "server", "=", "anything"), None);
    assert_eq!(
        code.label_problem(a, "exported_namespace", "=", "infer"),
        None
    );
    assert!(code
        .label_problem(a, "exported_cluster", "=", "x")
        .is_some());
    assert_eq!(
        code.label_problem(None, "container", "=", "controller"),
        None
    );
}

/// The objects `kubectl kustomize DIR` renders.
fn kustomize(kubectl: &Path, dir: &Path) -> Vec<Value> {
    let out = run(kubectl, &["kustomize", &dir.display().to_string()], &root());
    assert!(
        out.status.success(),
        "kubectl kustomize {}:\n{}",
        dir.display(),
        text(&out)
    );
    documents(&String::from_utf8_lossy(&out.stdout))
}

fn kinds(objects: &[Value]) -> Vec<(String, String, String)> {
    let mut k: Vec<_> = objects
        .iter()
        .map(|o| {
            let s = |v: &Value| v.as_str().unwrap_or("").to_string();
            (
                s(&o["kind"]),
                s(&o["metadata"]["namespace"]),
                s(&o["metadata"]["name"]),
            )
        })
        .collect();
    k.sort();
    k
}

#[test]
fn kustomize_renders_the_monitors_the_rule_and_the_dashboard() {
    let Some(kubectl) = inferno_testkit::tools::kubectl() else {
        return;
    };
    let objects = kustomize(&kubectl, &dir());
    let kind = |k: &str| (k.to_string(), "inferno".to_string(), "inferno".to_string());
    let dashboard_map = (
        "ConfigMap".to_string(),
        "inferno".to_string(),
        "inferno-grafana-dashboard".to_string(),
    );
    assert_eq!(
        kinds(&objects),
        [
            dashboard_map.clone(),
            kind("PodMonitor"),
            kind("PrometheusRule")
        ]
    );
    let cm = objects.iter().find(|o| o["kind"] == "ConfigMap").unwrap();
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let json: Value = serde_json::from_str(cm["data"]["inferno.json"].as_str().unwrap()).unwrap();
    assert_eq!(
        json,
        dashboard(),
        "the ConfigMap holds grafana-dashboard.json"
    );
    let rule = objects
        .iter()
        .find(|o| o["kind"] == "PrometheusRule")
        .unwrap();
    assert_eq!(rule["spec"]["groups"], rule_groups());

    // The ServiceMonitor instead, as the kustomization's comment says: swap the two lines.
    let tmp = TempDir::new("monitoring-kustomize");
    for f in [
        "podmonitor.yaml",
        "servicemonitor.yaml",
        "prometheusrule.yaml",
        "grafana-dashboard.json",
    ] {
        std::fs::copy(dir().join(f), tmp.path().join(f)).unwrap();
    }
    let k = read(&dir().join("kustomization.yaml"));
    assert!(
        k.contains("  - podmonitor.yaml\n  # - servicemonitor.yaml\n"),
        "{k}"
    );
    let swapped = k.replace(
        "  - podmonitor.yaml\n  # - servicemonitor.yaml\n",
        "  # - podmonitor.yaml\n  - servicemonitor.yaml\n",
    );
    std::fs::write(tmp.path().join("kustomization.yaml"), swapped).unwrap();
    assert_eq!(
        kinds(&kustomize(&kubectl, tmp.path())),
        [
            dashboard_map,
            kind("PrometheusRule"),
            kind("ServiceMonitor")
        ]
    );
}

/// The `port`s of a monitor's endpoints.
fn monitor_ports(monitor: &Value, endpoints: &str) -> Vec<String> {
    monitor["spec"][endpoints]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["path"], "/metrics");
            assert_eq!(e["interval"], "30s");
            e["port"].as_str().unwrap().to_string()
        })
        .collect()
}

fn is_subset(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .unwrap()
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
}

#[test]
fn the_monitors_select_what_deploy_inferno_renders() {
    let want = ["http", "ops-collector", "ops-optimizer", "ops-actuator"];
    let pod_monitor = yaml(&dir().join("podmonitor.yaml"));
    let service_monitor = yaml(&dir().join("servicemonitor.yaml"));
    for m in [&pod_monitor, &service_monitor] {
        assert_eq!(m["apiVersion"], "monitoring.coreos.com/v1");
        assert_eq!(m["metadata"]["namespace"], "inferno");
        // job="inferno" either way, as the rules and the dashboard select.
        assert_eq!(m["spec"]["jobLabel"], "app.kubernetes.io/name");
        assert_eq!(
            m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
            "inferno"
        );
    }
    assert_eq!(monitor_ports(&pod_monitor, "podMetricsEndpoints"), want);
    assert_eq!(monitor_ports(&service_monitor, "endpoints"), want);
    assert_eq!(
        service_monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"],
        "metrics"
    );

    let Some(kubectl) = inferno_testkit::tools::kubectl() else {
        return;
    };
    let objects = kustomize(&kubectl, &root().join("deploy/inferno"));
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment" && o["metadata"]["name"] == "inferno")
        .expect("deploy/inferno renders Deployment inferno");
    let template = &deployment["spec"]["template"];
    assert!(
        is_subset(
            &pod_monitor["spec"]["selector"]["matchLabels"],
            &template["metadata"]["labels"]
        ),
        "the PodMonitor's selector {} does not match the pod's labels {}",
        pod_monitor["spec"]["selector"]["matchLabels"],
        template["metadata"]["labels"]
    );
    let container_ports: BTreeSet<&str> = template["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .filter_map(|p| p["name"].as_str())
        .collect();
    for p in want {
        assert!(
            container_ports.contains(p),
            "no container port {p}: {container_ports:?}"
        );
    }
    let services: Vec<&Value> = objects
        .iter()
        .filter(|o| {
            o["kind"] == "Service"
                && o["metadata"]["namespace"] == "inferno"
                && is_subset(
                    &service_monitor["spec"]["selector"]["matchLabels"],
                    &o["metadata"]["labels"],
                )
        })
        .collect();
    assert_eq!(
        services.len(),
        1,
        "one Service in deploy/inferno for the ServiceMonitor's selector {}",
        service_monitor["spec"]["selector"]["matchLabels"]
    );
    let service = services[0];
    assert!(
        is_subset(
            &service["spec"]["selector"],
            &template["metadata"]["labels"]
        ),
        "Service {} does not select the inferno pod",
        service["metadata"]["name"]
    );
    let service_ports: BTreeSet<&str> = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for p in want {
        assert!(
            service_ports.contains(p),
            "Service {} has no port {p}",
            service["metadata"]["name"]
        );
    }
}
