//! The `files` family: the sample data files with random edits, through the CLI.
//!
//! A file is held as a [`J`] tree (objects as member lists, so a key can appear twice; numbers
//! as their text, so `1e400` or `NaN` can be written), edited, written out, optionally damaged
//! as text (truncated, a stray byte), and given to `inferno-optimizer solve` (data directory or
//! one system file) or `analyze` / `size` / `concurrency` (the queue problem file).

use super::values::{extreme, show, Extreme};
use clap::Parser;
use inferno_optimizer::cli::{self, Args};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A JSON document that may hold what `serde_json::Value` cannot: duplicate keys, any number
/// text.
#[derive(Debug, Clone, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl From<&Value> for J {
    fn from(v: &Value) -> Self {
        match v {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => J::Num(n.to_string()),
            Value::String(s) => J::Str(s.clone()),
            Value::Array(a) => J::Arr(a.iter().map(J::from).collect()),
            Value::Object(o) => J::Obj(o.iter().map(|(k, v)| (k.clone(), J::from(v))).collect()),
        }
    }
}

impl J {
    fn write(&self, out: &mut String, depth: usize) {
        let pad = |out: &mut String, d: usize| {
            out.push('\n');
            out.push_str(&"  ".repeat(d.min(64)));
        };
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => out.push_str(n),
            J::Str(s) => out.push_str(&Value::String(s.clone()).to_string()),
            J::Arr(a) if a.is_empty() => out.push_str("[]"),
            J::Obj(o) if o.is_empty() => out.push_str("{}"),
            J::Arr(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    pad(out, depth + 1);
                    v.write(out, depth + 1);
                }
                pad(out, depth);
                out.push(']');
            }
            J::Obj(o) => {
                out.push('{');
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    pad(out, depth + 1);
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push_str(": ");
                    v.write(out, depth + 1);
                }
                pad(out, depth);
                out.push('}');
            }
        }
    }

    fn text(&self) -> String {
        let mut s = String::new();
        self.write(&mut s, 0);
        s.push('\n');
        s
    }

    fn at_mut(&mut self, path: &[usize]) -> Option<&mut J> {
        let Some((&first, rest)) = path.split_first() else {
            return Some(self);
        };
        match self {
            J::Arr(a) => a.get_mut(first)?.at_mut(rest),
            J::Obj(o) => o.get_mut(first)?.1.at_mut(rest),
            _ => None,
        }
    }

    /// Every node: its path and what it is.
    fn nodes(&self, path: &mut Vec<usize>, parent: Parent, out: &mut Vec<Node>) {
        out.push(Node {
            path: path.clone(),
            parent,
            number: matches!(self, J::Num(_)),
        });
        match self {
            J::Arr(a) => {
                for (i, v) in a.iter().enumerate() {
                    path.push(i);
                    v.nodes(path, Parent::Array, out);
                    path.pop();
                }
            }
            J::Obj(o) => {
                for (i, (_, v)) in o.iter().enumerate() {
                    path.push(i);
                    v.nodes(path, Parent::Object, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    /// `servers[2].currentAlloc.load.arrivalRate` for a path (`[0]x857` for a run of the same
    /// index, as deep nesting makes).
    fn show_path(&self, path: &[usize]) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut node = self;
        for &i in path {
            match node {
                J::Arr(a) => {
                    parts.push(format!("[{i}]"));
                    node = &a[i];
                }
                J::Obj(o) => {
                    let dot = if parts.is_empty() { "" } else { "." };
                    parts.push(format!("{dot}{}", o[i].0));
                    node = &o[i].1;
                }
                _ => break,
            }
        }
        if parts.is_empty() {
            return "(whole file)".into();
        }
        let mut s = String::new();
        let mut k = 0;
        while k < parts.len() {
            let run = parts[k..].iter().take_while(|p| **p == parts[k]).count();
            if run > 3 {
                s.push_str(&format!("{}x{run}", parts[k]));
            } else {
                s.push_str(&parts[k..k + run].concat());
            }
            k += run;
        }
        s
    }

    fn brief(&self) -> String {
        let mut t = self.text();
        t = t.split_whitespace().collect::<Vec<_>>().join(" ");
        if t.len() > 60 {
            let cut = (0..=60).rev().find(|&i| t.is_char_boundary(i)).unwrap_or(0);
            t.truncate(cut);
            t.push_str("...");
        }
        t
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parent {
    Root,
    Array,
    Object,
}

#[derive(Debug, Clone)]
struct Node {
    path: Vec<usize>,
    parent: Parent,
    number: bool,
}

fn all_nodes(root: &J) -> Vec<Node> {
    let mut out = Vec::new();
    root.nodes(&mut Vec::new(), Parent::Root, &mut out);
    out
}

/// A sample input: one or more files.
struct Base {
    name: &'static str,
    kind: BaseKind,
    files: Vec<(String, J)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BaseKind {
    /// A data directory (the six files).
    Dir,
    /// One system JSON file.
    System,
    /// A queue problem file.
    Problem,
}

const DATA_FILES: [&str; 6] = [
    "accelerator-data.json",
    "capacity-data.json",
    "model-data.json",
    "optimizer-data.json",
    "server-data.json",
    "serviceclass-data.json",
];

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("fuzz base {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("fuzz base {}: {e}", path.display()))
}

fn data_dir(name: &str) -> Vec<(String, J)> {
    DATA_FILES
        .iter()
        .map(|f| {
            (
                f.to_string(),
                J::from(&read_json(&samples().join(name).join(f))),
            )
        })
        .collect()
}

/// The six files of `name` as one system file, the files' own spellings kept.
fn system_file(name: &str) -> Vec<(String, J)> {
    let keys = [
        "acceleratorData",
        "capacityData",
        "modelData",
        "optimizerData",
        "serverData",
        "serviceClassData",
    ];
    let members = data_dir(name)
        .into_iter()
        .zip(keys)
        .map(|((_, j), k)| (k.to_string(), j))
        .collect();
    vec![(
        format!("{name}-system.json"),
        J::Obj(vec![("system".into(), J::Obj(members))]),
    )]
}

fn bases() -> &'static [Base] {
    static BASES: OnceLock<Vec<Base>> = OnceLock::new();
    BASES.get_or_init(|| {
        vec![
            Base {
                name: "samples/small (directory)",
                kind: BaseKind::Dir,
                files: data_dir("small"),
            },
            Base {
                name: "samples/small as one system file",
                kind: BaseKind::System,
                files: system_file("small"),
            },
            Base {
                name: "samples/problem.json (queue problem)",
                kind: BaseKind::Problem,
                files: vec![(
                    "problem.json".into(),
                    J::from(&read_json(&samples().join("problem.json"))),
                )],
            },
            Base {
                name: "samples/large (directory)",
                kind: BaseKind::Dir,
                files: data_dir("large"),
            },
        ]
    })
}

/// Extra `solve` flags a case may add (the data's own options decide when none).
const SOLVE_FLAGS: &[&[&str]] = &[
    &[],
    &["--solver", "milp"],
    &["--solver", "lagrangian"],
    &["--unlimited"],
    &["--batch-sizing", "search"],
    &["--heterogeneous", "--time-limit", "0.2"],
    &["--strict"],
    &["--size-all"],
    &["--policy", "PriorityExhaustive"],
    &["--delayed-best-effort", "--fail-on-unplaced"],
];

/// What replaces a node.
const REPLACEMENTS: &[&str] = &[
    "null",
    "true",
    "false",
    "\"\"",
    "\"x\"",
    "\"1e308\"",
    "\"NaN\"",
    "[]",
    "{}",
    "[1]",
    "{\"x\": 1}",
    "0",
    "-1",
    "1e308",
];

/// How a key is re-spelt.
#[derive(Debug, Clone, Copy)]
enum Respell {
    Upper,
    Lower,
    DropFirst,
    AppendX,
}

/// One structural edit of a file.
#[derive(Debug, Clone)]
enum Edit {
    /// A number set to an extreme text.
    Number(Index, Extreme),
    /// A number scaled (1e3, 1e6, 1e9, 1e12, -1, 1e-3) or made fractional.
    Scale(Index, Index),
    /// Any node replaced (wrong type, null, empty).
    Replace(Index, Index),
    /// An object member or array element removed.
    Delete(Index),
    /// An object member written a second time, with an extreme number or the same value.
    DuplicateKey(Index, Option<Extreme>),
    /// A key re-spelt.
    Respell(Index, Respell),
    /// An array element repeated.
    Repeat(Index, usize),
    /// A node wrapped in nested arrays.
    Nest(Index, usize),
}

/// Damage to the written text.
#[derive(Debug, Clone)]
enum Damage {
    Truncate(Index),
    Insert(Index, u8),
    Overwrite(Index, u8),
    Cut(Index, usize),
}

/// One case of the family.
#[derive(Debug, Clone)]
pub(in crate::fuzz) struct Case {
    base: usize,
    flags: usize,
    edits: Vec<(Index, Edit)>,
    damage: Option<(Index, Damage)>,
}

fn edit() -> impl Strategy<Value = Edit> {
    let i = any::<Index>;
    prop_oneof![
        8 => (i(), extreme()).prop_map(|(a, v)| Edit::Number(a, v)),
        2 => (i(), i()).prop_map(|(a, f)| Edit::Scale(a, f)),
        3 => (i(), i()).prop_map(|(a, r)| Edit::Replace(a, r)),
        2 => i().prop_map(Edit::Delete),
        1 => (i(), proptest::option::of(extreme())).prop_map(|(a, v)| Edit::DuplicateKey(a, v)),
        1 => (i(), prop_oneof![
            Just(Respell::Upper),
            Just(Respell::Lower),
            Just(Respell::DropFirst),
            Just(Respell::AppendX)
        ])
        .prop_map(|(a, r)| Edit::Respell(a, r)),
        1 => (i(), 1usize..200).prop_map(|(a, n)| Edit::Repeat(a, n)),
        1 => (i(), 1usize..1000).prop_map(|(a, n)| Edit::Nest(a, n)),
    ]
}

fn damage() -> impl Strategy<Value = Damage> {
    let i = any::<Index>;
    prop_oneof![
        i().prop_map(Damage::Truncate),
        (i(), any::<u8>()).prop_map(|(a, b)| Damage::Insert(a, b)),
        (i(), any::<u8>()).prop_map(|(a, b)| Damage::Overwrite(a, b)),
        (i(), 1usize..64).prop_map(|(a, n)| Damage::Cut(a, n)),
    ]
}

pub(in crate::fuzz) fn case() -> impl Strategy<Value = Case> {
    // Bases: small directory, small system file, problem file, large directory.
    let base = prop_oneof![
        3 => Just(0usize),
        3 => Just(1usize),
        2 => Just(2usize),
        1 => Just(3usize),
    ];
    let flags = prop_oneof![4 => Just(0usize), 1 => 1..SOLVE_FLAGS.len()];
    (
        base,
        flags,
        proptest::collection::vec((any::<Index>(), edit()), 1..=4),
        proptest::option::weighted(0.15, (any::<Index>(), damage())),
    )
        .prop_map(|(base, flags, edits, damage)| Case {
            base,
            flags,
            edits,
            damage,
        })
}

/// The files of a case, and what was done to them.
struct Materialized {
    base: &'static Base,
    flags: &'static [&'static str],
    files: Vec<(String, Vec<u8>)>,
    changes: Vec<String>,
}

impl Case {
    fn materialize(&self) -> Materialized {
        let all = bases();
        let base = &all[self.base % all.len()];
        let flags = match base.kind {
            BaseKind::Problem => &[][..],
            _ => SOLVE_FLAGS[self.flags % SOLVE_FLAGS.len()],
        };
        let mut docs: Vec<(String, J)> = base.files.clone();
        let mut changes = Vec::new();
        for (file, e) in &self.edits {
            let f = file.index(docs.len());
            let (name, doc) = &mut docs[f];
            if let Some(change) = apply(doc, e) {
                changes.push(format!("{name}: {change}"));
            }
        }
        let mut files: Vec<(String, Vec<u8>)> = docs
            .iter()
            .map(|(n, j)| (n.clone(), j.text().into_bytes()))
            .collect();
        if let Some((file, d)) = &self.damage {
            let f = file.index(files.len());
            let (name, bytes) = &mut files[f];
            let len = bytes.len().max(1);
            let change = match d {
                Damage::Truncate(at) => {
                    let at = at.index(len);
                    bytes.truncate(at);
                    format!("truncated to {at} bytes")
                }
                Damage::Insert(at, b) => {
                    let at = at.index(len);
                    bytes.insert(at.min(bytes.len()), *b);
                    format!("byte {b:#04x} inserted at {at}")
                }
                Damage::Overwrite(at, b) => {
                    let at = at.index(len);
                    if at < bytes.len() {
                        bytes[at] = *b;
                    }
                    format!("byte at {at} overwritten with {b:#04x}")
                }
                Damage::Cut(at, n) => {
                    let at = at.index(len).min(bytes.len());
                    let end = (at + n).min(bytes.len());
                    bytes.drain(at..end);
                    format!("bytes {at}..{end} cut")
                }
            };
            changes.push(format!("{name}: {change}"));
        }
        Materialized {
            base,
            flags,
            files,
            changes,
        }
    }

    pub(in crate::fuzz) fn run(&self, work: &Path) -> Result<&'static str, String> {
        let m = self.materialize();
        let dir = work.join("data");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("fuzz scratch: {e}"))?;
        for (name, bytes) in &m.files {
            std::fs::write(dir.join(name), bytes).map_err(|e| format!("fuzz scratch: {e}"))?;
        }
        let target = match m.base.kind {
            BaseKind::Dir => dir.clone(),
            _ => dir.join(&m.files[0].0),
        };
        let target = target.display().to_string();
        let commands: Vec<Vec<&str>> = match m.base.kind {
            BaseKind::Problem => ["analyze", "size", "concurrency"]
                .iter()
                .map(|c| vec![*c, "--problem", target.as_str(), "--json"])
                .collect(),
            _ => {
                let mut c = vec!["solve", target.as_str(), "--json"];
                c.extend_from_slice(m.flags);
                // The MILP and Lagrangian run for their time budget (10 s when the data sets
                // none, as documented): that is a chosen budget, not a hang, so each case gets
                // a short one. The file's own timeLimitSeconds is still loaded and validated.
                if !m.flags.contains(&"--time-limit") {
                    c.extend_from_slice(&["--time-limit", "1"]);
                }
                vec![c]
            }
        };
        let mut path = "rejected";
        for c in commands {
            let args = Args::try_parse_from(std::iter::once("inferno-optimizer").chain(c))
                .map_err(|e| format!("fuzz harness: bad arguments: {e}"))?;
            let mut out = Vec::new();
            if cli::run(args, &mut out).is_ok() {
                path = "ran";
            }
        }
        Ok(path)
    }

    pub(in crate::fuzz) fn describe(&self) -> String {
        let m = self.materialize();
        let mut s = m.base.name.to_string();
        if !m.flags.is_empty() {
            s.push_str(&format!(", flags {}", m.flags.join(" ")));
        }
        if m.changes.is_empty() {
            s.push_str(", unchanged");
        }
        for c in &m.changes {
            s.push_str("\n  ");
            s.push_str(c);
        }
        s
    }

    pub(in crate::fuzz) fn changes(&self) -> Vec<String> {
        let m = self.materialize();
        let mut c = vec![m.base.name.to_string()];
        if !m.flags.is_empty() {
            c.push(m.flags.join(" "));
        }
        c.extend(m.changes);
        c
    }

    pub(in crate::fuzz) fn write_repro(&self, dir: &Path) -> std::io::Result<()> {
        let m = self.materialize();
        for (name, bytes) in &m.files {
            std::fs::write(dir.join(name), bytes)?;
        }
        let command = match m.base.kind {
            BaseKind::Problem => {
                "inferno-optimizer analyze|size|concurrency --problem problem.json --json"
                    .to_string()
            }
            BaseKind::Dir => format!("inferno-optimizer solve . --json {}", m.flags.join(" ")),
            BaseKind::System => format!(
                "inferno-optimizer solve {} --json {}",
                m.files[0].0,
                m.flags.join(" ")
            ),
        };
        std::fs::write(
            dir.join("README.txt"),
            format!(
                "{}\n\nrun in this directory:\n  {command}\n",
                self.describe()
            ),
        )
    }
}

const SCALES: [f64; 6] = [1e3, 1e6, 1e9, 1e12, -1.0, 1e-3];

/// Applies one edit; what it did, or None when it had nothing to act on.
fn apply(doc: &mut J, e: &Edit) -> Option<String> {
    let nodes = all_nodes(doc);
    let pick = |at: &Index, ok: &dyn Fn(&Node) -> bool| -> Option<Node> {
        let c: Vec<&Node> = nodes.iter().filter(|n| ok(n)).collect();
        (!c.is_empty()).then(|| c[at.index(c.len())].clone())
    };
    match e {
        Edit::Number(at, v) => {
            let n = pick(at, &|n| n.number)?;
            let shown = doc.show_path(&n.path);
            *doc.at_mut(&n.path)? = J::Num(v.text().to_string());
            Some(format!("{shown} = {}", v.text()))
        }
        Edit::Scale(at, f) => {
            let n = pick(at, &|n| n.number)?;
            let shown = doc.show_path(&n.path);
            let node = doc.at_mut(&n.path)?;
            let J::Num(text) = node else { return None };
            let old: f64 = text.parse().ok()?;
            let i = f.index(SCALES.len() + 1);
            let new = if i == SCALES.len() {
                old + 0.5
            } else {
                old * SCALES[i]
            };
            let text = show(new);
            *node = J::Num(text.clone());
            Some(format!("{shown} = {text}"))
        }
        Edit::Replace(at, r) => {
            let n = pick(at, &|_| true)?;
            let shown = doc.show_path(&n.path);
            let text = REPLACEMENTS[r.index(REPLACEMENTS.len())];
            *doc.at_mut(&n.path)? = J::from(&serde_json::from_str::<Value>(text).ok()?);
            Some(format!("{shown} = {text}"))
        }
        Edit::Delete(at) => {
            let n = pick(at, &|n| n.parent != Parent::Root)?;
            let shown = doc.show_path(&n.path);
            let (last, parent) = n.path.split_last()?;
            match doc.at_mut(parent)? {
                J::Arr(a) => {
                    a.remove(*last);
                }
                J::Obj(o) => {
                    o.remove(*last);
                }
                _ => return None,
            }
            Some(format!("{shown} deleted"))
        }
        Edit::DuplicateKey(at, v) => {
            let n = pick(at, &|n| n.parent == Parent::Object)?;
            let shown = doc.show_path(&n.path);
            let (last, parent) = n.path.split_last()?;
            let J::Obj(o) = doc.at_mut(parent)? else {
                return None;
            };
            let (key, value) = o[*last].clone();
            let value = match v {
                Some(x) => J::Num(x.text().to_string()),
                None => value,
            };
            let brief = value.brief();
            o.push((key, value));
            Some(format!("{shown} written again: {brief}"))
        }
        Edit::Respell(at, how) => {
            let n = pick(at, &|n| n.parent == Parent::Object)?;
            let shown = doc.show_path(&n.path);
            let (last, parent) = n.path.split_last()?;
            let J::Obj(o) = doc.at_mut(parent)? else {
                return None;
            };
            let key = &mut o[*last].0;
            *key = match how {
                Respell::Upper => key.to_uppercase(),
                Respell::Lower => key.to_lowercase(),
                Respell::DropFirst => key.chars().skip(1).collect(),
                Respell::AppendX => format!("{key}x"),
            };
            Some(format!("{shown} key re-spelt {key:?}"))
        }
        Edit::Repeat(at, times) => {
            let n = pick(at, &|n| n.parent == Parent::Array)?;
            let shown = doc.show_path(&n.path);
            let (last, parent) = n.path.split_last()?;
            let J::Arr(a) = doc.at_mut(parent)? else {
                return None;
            };
            let item = a[*last].clone();
            for _ in 0..*times {
                a.insert(*last, item.clone());
            }
            Some(format!("{shown} repeated {times} more times"))
        }
        Edit::Nest(at, depth) => {
            let n = pick(at, &|_| true)?;
            let shown = doc.show_path(&n.path);
            let node = doc.at_mut(&n.path)?;
            let mut v = std::mem::replace(node, J::Null);
            for _ in 0..*depth {
                v = J::Arr(vec![v]);
            }
            *node = v;
            Some(format!("{shown} nested in {depth} arrays"))
        }
    }
}
