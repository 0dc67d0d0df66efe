//! The Cargo workspace as the images see it: packages, their binaries, features and versions
//! (from `cargo metadata`), the highest `rust-version` among the locked dependencies of a
//! package, and the command-line interface of a binary (found in its sources).

use crate::{Error, Result};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A workspace package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// Package name (`inferno-controller`).
    pub name: String,
    /// Version (`0.1.0`).
    pub version: String,
    /// Directory of its Cargo.toml.
    pub dir: PathBuf,
    /// Binary targets.
    pub bins: BTreeSet<String>,
    /// Features.
    pub features: BTreeSet<String>,
    /// Normal (not dev, not build) dependencies that are workspace members.
    pub workspace_deps: BTreeSet<String>,
    /// Normal dependencies that come from a registry.
    pub external_deps: BTreeSet<String>,
}

/// The workspace members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    /// Root directory.
    pub root: PathBuf,
    /// Packages by name.
    pub packages: BTreeMap<String, Package>,
}

/// The `cargo` to run: `$CARGO` (set by cargo for tests and build scripts), else `cargo`.
pub fn cargo() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

fn metadata(root: &Path, extra: &[&str]) -> Result<Value> {
    let out = Command::new(cargo())
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(extra)
        .current_dir(root)
        .output()
        .map_err(|e| Error::Cargo(format!("cannot run cargo: {e}")))?;
    if !out.status.success() {
        return Err(Error::Cargo(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| Error::Cargo(e.to_string()))
}

impl Workspace {
    /// Runs `cargo metadata --no-deps --offline` in `root`.
    pub fn load(root: &Path) -> Result<Self> {
        Self::from_metadata(root, &metadata(root, &["--no-deps"])?)
    }

    /// The workspace described by `cargo metadata` output.
    pub fn from_metadata(root: &Path, meta: &Value) -> Result<Self> {
        let members: BTreeSet<&str> = meta["workspace_members"]
            .as_array()
            .ok_or_else(|| Error::Cargo("no workspace_members".into()))?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let all = meta["packages"]
            .as_array()
            .ok_or_else(|| Error::Cargo("no packages".into()))?;
        let member_names: BTreeSet<&str> = all
            .iter()
            .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
            .filter_map(|p| p["name"].as_str())
            .collect();
        let mut packages = BTreeMap::new();
        for p in all
            .iter()
            .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
        {
            let text = |v: &Value| v.as_str().unwrap_or("").to_string();
            let name = text(&p["name"]);
            let manifest = PathBuf::from(text(&p["manifest_path"]));
            let bins = p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| {
                    t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "bin"))
                })
                .map(|t| text(&t["name"]))
                .collect();
            let features = p["features"]
                .as_object()
                .map(|f| f.keys().cloned().collect())
                .unwrap_or_default();
            let (mut workspace_deps, mut external_deps) = (BTreeSet::new(), BTreeSet::new());
            for d in p["dependencies"].as_array().into_iter().flatten() {
                if !d["kind"].is_null() {
                    continue;
                }
                let dep = text(&d["name"]);
                if member_names.contains(dep.as_str()) {
                    workspace_deps.insert(dep);
                } else {
                    external_deps.insert(dep);
                }
            }
            packages.insert(
                name.clone(),
                Package {
                    name,
                    version: text(&p["version"]),
                    dir: manifest.parent().map(Path::to_path_buf).unwrap_or_default(),
                    bins,
                    features,
                    workspace_deps,
                    external_deps,
                },
            );
        }
        Ok(Self {
            root: root.to_path_buf(),
            packages,
        })
    }

    /// The package that has binary `bin`.
    pub fn package_of_bin(&self, bin: &str) -> Option<&Package> {
        self.packages.values().find(|p| p.bins.contains(bin))
    }

    /// `package` and the workspace packages it depends on (normal dependencies, transitively).
    pub fn closure(&self, package: &str) -> Vec<&Package> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![package.to_string()];
        let mut out = Vec::new();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(p) = self.packages.get(&name) {
                todo.extend(p.workspace_deps.iter().cloned());
                out.push(p);
            }
        }
        out
    }

    /// What `package`'s binaries accept: environment variables, long flags and subcommands
    /// found in the sources of the package and of its workspace dependencies, plus the
    /// variables read by external dependencies ([`DEPENDENCY_ENV`]). This is per package: two
    /// binaries of one package share the result.
    pub fn interface(&self, package: &str) -> Result<Interface> {
        let mut out = Interface::default();
        for p in self.closure(package) {
            for f in rust_files(&p.dir.join("src"))? {
                let text = std::fs::read_to_string(&f).map_err(|source| Error::Io {
                    path: f.clone(),
                    source,
                })?;
                out.add_source(&text);
            }
            for (dep, vars) in DEPENDENCY_ENV {
                if p.external_deps.contains(*dep) {
                    out.env.extend(vars.iter().map(|v| v.to_string()));
                }
            }
        }
        Ok(out)
    }

    /// `cargo metadata --offline --locked` with the dependency graph as built on Linux
    /// x86-64 (the images' platform), for [`required_rust_version`]. Fails when a dependency
    /// has not been downloaded yet (nothing is downloaded here).
    pub fn locked_metadata(&self) -> Result<Value> {
        metadata(
            &self.root,
            &["--locked", "--filter-platform", "x86_64-unknown-linux-gnu"],
        )
    }
}

/// The highest `rust-version` among `package` and every package it needs to build (normal
/// and build dependencies, transitively, as resolved in `meta`, the output of
/// [`Workspace::locked_metadata`]), with the package that sets it.
pub fn required_rust_version(meta: &Value, package: &str) -> Result<Option<(Version, String)>> {
    let packages: BTreeMap<&str, &Value> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .ok_or_else(|| Error::Cargo("no resolve graph".into()))?
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let start = packages
        .iter()
        .find(|(id, p)| {
            p["name"] == package
                && meta["workspace_members"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m == *id))
        })
        .map(|(id, _)| *id)
        .ok_or_else(|| Error::Cargo(format!("package {package} is not a workspace member")))?;
    let mut seen = BTreeSet::new();
    let mut todo = vec![start];
    let mut best: Option<(Version, String)> = None;
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(p) = packages.get(id) {
            if let Some(v) = p["rust_version"].as_str().and_then(Version::parse) {
                if best.as_ref().is_none_or(|(b, _)| v > *b) {
                    best = Some((
                        v,
                        format!(
                            "{} {}",
                            p["name"].as_str().unwrap_or(""),
                            p["version"].as_str().unwrap_or("")
                        ),
                    ));
                }
            }
        }
        for d in nodes
            .get(id)
            .and_then(|n| n["deps"].as_array())
            .into_iter()
            .flatten()
        {
            let needed = d["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null() || k["kind"] == "build");
            if needed {
                if let Some(pkg) = d["pkg"].as_str() {
                    todo.push(pkg);
                }
            }
        }
    }
    Ok(best)
}

/// A Rust toolchain version (`1.89`, `1.89.0`); a missing patch number is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    /// Parses `MAJOR.MINOR[.PATCH]`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.trim().split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        let patch = match it.next() {
            Some(p) => p.parse().ok()?,
            None => 0,
        };
        it.next().is_none().then_some(Self(major, minor, patch))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// Environment variables read by external crates, for packages that depend on them directly.
pub const DEPENDENCY_ENV: &[(&str, &[&str])] = &[
    // Kubeconfig path; unset or empty falls back to ~/.kube/config, then in-cluster.
    ("kube", &["KUBECONFIG"]),
    // The log filter of tracing_subscriber::EnvFilter::try_from_default_env.
    ("tracing-subscriber", &["RUST_LOG"]),
];

/// The command-line interface of a binary, as found in its sources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    /// Environment variables read.
    pub env: BTreeSet<String>,
    /// Long flags, without the dashes.
    pub flags: BTreeSet<String>,
    /// Subcommands (clap `Subcommand` enum variants, kebab-case).
    pub subcommands: BTreeSet<String>,
}

impl Interface {
    /// Adds what one source file declares.
    pub fn add_source(&mut self, text: &str) {
        self.env.extend(env_names(text));
        self.flags.extend(long_flags(text));
        self.subcommands.extend(subcommands(text));
    }

    /// Problems with a container's `args` (flags and subcommand) for this binary.
    pub fn check_args(&self, args: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        let mut positional_seen = false;
        for a in args {
            if let Some(flag) = a.strip_prefix("--") {
                let name = flag.split_once('=').map_or(flag, |(n, _)| n);
                if !self.flags.contains(name) && !matches!(name, "help" | "version") {
                    out.push(format!("flag --{name} is not one the binary accepts"));
                }
            } else if !positional_seen && !self.subcommands.is_empty() && !a.starts_with('-') {
                positional_seen = true;
                if !self.subcommands.contains(a) {
                    out.push(format!(
                        "{a:?} is not a subcommand (known: {})",
                        self.subcommands
                            .iter()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        out
    }
}

fn rust_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let path = e
                .map_err(|source| Error::Io {
                    path: d.clone(),
                    source,
                })?
                .path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn is_env_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Environment variable names in Rust source: string literals of upper-case names right after
/// `env = ` (clap attributes), `env(`, `var(` or `var_os(` (std::env calls and helpers), and
/// upper-case call arguments with an underscore (names passed to a helper that reads them).
/// A heuristic: a name only printed in a message is not found, nor one built at run time.
pub fn env_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    let mut before = String::new();
    while let Some(q) = rest.find('"') {
        before.push_str(&rest[..q]);
        let after = &rest[q + 1..];
        let Some(end) = after.find('"') else { break };
        let literal = &after[..end];
        let lead = before.trim_end();
        let lead = lead.strip_suffix("::").unwrap_or(lead);
        let introduced = lead.ends_with("env =")
            || lead.ends_with("env=")
            || ["env(", "var(", "var_os("]
                .iter()
                .any(|p| lead.ends_with(p));
        // Names handed to a helper that reads them (`url(&flag, "COLLECTOR_HOST",
        // "COLLECTOR_PORT", 3301)`): call arguments with an underscore.
        let argument = (lead.ends_with('(') || lead.ends_with(',')) && literal.contains('_');
        if (introduced || argument) && is_env_name(literal) {
            out.insert(literal.to_string());
        }
        before.clear();
        before.push('"');
        rest = &after[end + 1..];
    }
    out
}

/// The attribute texts `#[arg(...)]` / `#[command(...)]` of `text`, each with the index just
/// past it.
fn attributes<'a>(text: &'a str, name: &str) -> Vec<(&'a str, usize)> {
    let open = format!("#[{name}(");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(&open) {
        let start = from + i + open.len();
        let mut depth = 1;
        let mut end = start;
        let mut in_str = false;
        for (j, c) in text[start..].char_indices() {
            match c {
                '"' => in_str = !in_str,
                '(' if !in_str => depth += 1,
                ')' if !in_str => {
                    depth -= 1;
                    if depth == 0 {
                        end = start + j;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push((&text[start..end], end + 2));
        from = end + 1;
    }
    out
}

fn kebab(ident: &str) -> String {
    let mut out = String::new();
    for (i, c) in ident.chars().enumerate() {
        if c == '_' {
            out.push('-');
        } else if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Long flags declared with clap's derive: `#[arg(long)]` takes the next field's name in
/// kebab-case, `#[arg(long = "name")]` the name.
pub fn long_flags(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (attr, end) in attributes(text, "arg") {
        let parts: Vec<&str> = attr.split(',').map(str::trim).collect();
        let explicit = parts.iter().find_map(|p| {
            let v = p.strip_prefix("long")?.trim_start().strip_prefix('=')?;
            Some(v.trim().trim_matches('"').to_string())
        });
        if let Some(name) = explicit {
            out.insert(name);
        } else if parts.contains(&"long") {
            // The field follows the attributes: `pub name: Type` or `name: Type`.
            let field = text[end..]
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with("#[") && !l.starts_with("//"))
                .unwrap_or("");
            let field = field.strip_prefix("pub ").unwrap_or(field);
            if let Some((name, _)) = field.split_once(':') {
                out.insert(kebab(name.trim()));
            }
        }
    }
    out
}

/// Subcommands: the variants of enums deriving clap's `Subcommand`, in kebab-case.
pub fn subcommands(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("Subcommand") {
        let at = from + i;
        from = at + 1;
        // Only a derive: `#[derive(..., Subcommand, ...)]` followed by an enum.
        let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
        if !text[line_start..at].contains("#[derive(") {
            continue;
        }
        let Some(e) = text[at..].find("enum ") else {
            break;
        };
        let Some(open) = text[at + e..].find('{') else {
            break;
        };
        let body_start = at + e + open + 1;
        let mut depth = 1;
        let mut body_end = body_start;
        for (j, c) in text[body_start..].char_indices() {
            match c {
                '{' | '(' => depth += 1,
                '}' | ')' => {
                    depth -= 1;
                    if depth == 0 {
                        body_end = body_start + j;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body: String = text[body_start..body_end]
            .lines()
            .map(|l| l.split_once("//").map_or(l, |(code, _)| code))
            .collect::<Vec<_>>()
            .join("\n");
        let mut depth = 0;
        let mut token = String::new();
        for c in body.chars() {
            match c {
                '{' | '(' | '[' => {
                    if depth == 0 && is_variant(&token) {
                        out.insert(kebab(token.trim()));
                    }
                    depth += 1;
                    token.clear();
                }
                '}' | ')' | ']' => {
                    depth -= 1;
                    token.clear();
                }
                ',' if depth == 0 => {
                    if is_variant(&token) {
                        out.insert(kebab(token.trim()));
                    }
                    token.clear();
                }
                _ if depth == 0 => token.push(c),
                _ => {}
            }
        }
        from = body_end;
    }
    out
}

fn is_variant(token: &str) -> bool {
    let t = token.trim();
    !t.is_empty()
        && t.starts_with(|c: char| c.is_ascii_uppercase())
        && t.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_from_attributes_and_calls() {
        let src = r#"
            #[arg(long, default_value_t = 60, env = "INFERNO_CONTROL_PERIOD")]
            let host = env("CONTROLLER_HOST").unwrap_or_else(|| "0.0.0.0".into());
            let p = std::env::var("COLLECTOR_PORT");
            let o = std::env::var_os( "KUBECONFIG");
            let not_env = format!("ABC");
            let lower = env("path");
            let u = url(&self.collector, "COLLECTOR_HOST", "COLLECTOR_PORT", 3301);
            let message = format!("ABC_DEF is {}", x);
        "#;
        let names: Vec<String> = env_names(src).into_iter().collect();
        assert_eq!(
            names,
            [
                "COLLECTOR_HOST",
                "COLLECTOR_PORT",
                "CONTROLLER_HOST",
                "INFERNO_CONTROL_PERIOD",
                "KUBECONFIG"
            ]
        );
    }

    #[test]
    fn flags_and_subcommands() {
        let src = r#"
#[derive(Debug, clap::Parser)]
pub struct Args {
    /// Doc (with parentheses).
    #[arg(long, env = "X_LISTEN")]
    pub listen: Option<SocketAddr>,
    #[arg(
        long = "node-value",
        value_delimiter = ','
    )]
    pub node_values: Vec<String>,
    #[arg(short)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Solve (a system).
    Solve(SolveArgs),
    #[command(name = "x")]
    SystemData { path: PathBuf },
    Serve,
}
"#;
        let flags: Vec<String> = long_flags(src).into_iter().collect();
        assert_eq!(flags, ["listen", "node-value"]);
        let subs: Vec<String> = subcommands(src).into_iter().collect();
        assert_eq!(subs, ["serve", "solve", "system-data"]);
        let i = Interface {
            env: BTreeSet::new(),
            flags: long_flags(src),
            subcommands: subcommands(src),
        };
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(i.check_args(&args(&["serve", "--listen=1"])).is_empty());
        assert_eq!(i.check_args(&args(&["serv"])).len(), 1);
        assert_eq!(i.check_args(&args(&["solve", "--lsten", "x"])).len(), 1);
    }

    #[test]
    fn versions() {
        assert_eq!(Version::parse("1.89"), Some(Version(1, 89, 0)));
        assert!(Version::parse("1.89.1").unwrap() > Version::parse("1.89").unwrap());
        assert_eq!(Version::parse("1"), None);
        assert_eq!(Version::parse("1.x"), None);
        assert_eq!(Version(1, 95, 0).to_string(), "1.95.0");
    }

    #[test]
    fn rust_version_of_the_build_graph() {
        let meta = serde_json::json!({
            "workspace_members": ["a"],
            "packages": [
                {"id": "a", "name": "a", "version": "0.1.0", "rust_version": "1.80"},
                {"id": "b", "name": "b", "version": "1.0.0", "rust_version": "1.85"},
                {"id": "c", "name": "c", "version": "2.0.0", "rust_version": "1.99"},
                {"id": "d", "name": "d", "version": "3.0.0", "rust_version": "1.90"}
            ],
            "resolve": {"nodes": [
                {"id": "a", "deps": [
                    {"pkg": "b", "dep_kinds": [{"kind": null}]},
                    {"pkg": "c", "dep_kinds": [{"kind": "dev"}]}
                ]},
                {"id": "b", "deps": [{"pkg": "d", "dep_kinds": [{"kind": "build"}]}]},
                {"id": "c", "deps": []},
                {"id": "d", "deps": []}
            ]}
        });
        let (v, who) = required_rust_version(&meta, "a").unwrap().unwrap();
        assert_eq!((v, who.as_str()), (Version(1, 90, 0), "d 3.0.0"));
        assert!(required_rust_version(&meta, "zz").is_err());
    }
}
