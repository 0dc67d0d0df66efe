//! A Dockerfile reader (stages, instructions, `ARG` defaults, the `cargo build` command line)
//! and the checks of an Inferno image: multi-stage, one binary built with
//! `cargo build --release --locked -p PACKAGE --bin BIN`, a runtime stage that is not a Rust
//! image and holds only that binary, as a non-root user, with that binary as entrypoint.

use crate::workspace::{Version, Workspace};
use crate::Problem;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One instruction (continuation lines joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Upper-case keyword (`RUN`).
    pub keyword: String,
    /// The rest of the line.
    pub args: String,
    /// 1-based line where it starts.
    pub line: usize,
}

/// A build stage: `FROM base [AS name]` and what follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The base image with `ARG` defaults substituted.
    pub base: String,
    /// The stage name (`AS name`).
    pub name: Option<String>,
    /// Its instructions.
    pub instructions: Vec<Instruction>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Defaults of the `ARG`s before the first `FROM`.
    pub args: BTreeMap<String, String>,
    /// The stages in order; the last is the image.
    pub stages: Vec<Stage>,
}

/// The `cargo build` of a `RUN` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CargoBuild {
    /// `--release`.
    pub release: bool,
    /// `--locked`.
    pub locked: bool,
    /// `-p` / `--package`.
    pub packages: Vec<String>,
    /// `--bin`.
    pub bins: Vec<String>,
    /// `--features` (comma or space separated values, each flag).
    pub features: Vec<String>,
    /// `--no-default-features`.
    pub no_default_features: bool,
    /// `--all-features`.
    pub all_features: bool,
    /// Other arguments.
    pub other: Vec<String>,
}

/// A `COPY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// `--from=` stage or image.
    pub from: Option<String>,
    /// Sources.
    pub sources: Vec<String>,
    /// Destination.
    pub dest: String,
}

fn substitute(text: &str, args: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (k, v) in args {
        out = out
            .replace(&format!("${{{k}}}"), v)
            .replace(&format!("${k}"), v);
    }
    out
}

impl Dockerfile {
    /// Parses the text of a Dockerfile (`path` names it in problems).
    pub fn parse(text: &str, path: &Path) -> Result<Self, String> {
        let mut instructions = Vec::new();
        let mut current: Option<(usize, String)> = None;
        for (i, raw) in text.lines().enumerate() {
            let trimmed = raw.trim();
            if trimmed.starts_with('#') {
                continue;
            }
            if current.is_none() && trimmed.is_empty() {
                continue;
            }
            let (line, mut acc) = current.take().unwrap_or((i + 1, String::new()));
            match trimmed.strip_suffix('\\') {
                Some(part) => {
                    acc.push_str(part.trim());
                    acc.push(' ');
                    current = Some((line, acc));
                }
                None => {
                    acc.push_str(trimmed);
                    instructions.push((line, acc));
                }
            }
        }
        if let Some((line, _)) = current {
            return Err(format!(
                "line {line}: the last instruction is continued past the end"
            ));
        }
        let mut args = BTreeMap::new();
        let mut stages: Vec<Stage> = Vec::new();
        for (line, text) in instructions {
            let (keyword, rest) = text.split_once(char::is_whitespace).unwrap_or((&text, ""));
            let keyword = keyword.to_ascii_uppercase();
            let rest = rest.trim().to_string();
            if keyword == "FROM" {
                let words: Vec<&str> = rest
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--"))
                    .collect();
                let (base, name) = match words.as_slice() {
                    [base] => (*base, None),
                    [base, as_, name] if as_.eq_ignore_ascii_case("as") => {
                        (*base, Some(name.to_string()))
                    }
                    _ => return Err(format!("line {line}: cannot read FROM {rest}")),
                };
                stages.push(Stage {
                    base: substitute(base, &args),
                    name,
                    instructions: Vec::new(),
                });
            } else if let Some(stage) = stages.last_mut() {
                stage.instructions.push(Instruction {
                    keyword,
                    args: rest,
                    line,
                });
            } else if keyword == "ARG" {
                if let Some((k, v)) = rest.split_once('=') {
                    args.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
                }
            } else {
                return Err(format!("line {line}: {keyword} before the first FROM"));
            }
        }
        if stages.is_empty() {
            return Err("no FROM".into());
        }
        Ok(Self {
            path: path.to_path_buf(),
            args,
            stages,
        })
    }

    /// Reads and parses a Dockerfile.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        Self::parse(&text, path)
    }

    /// The image stage (the last one).
    pub fn runtime(&self) -> &Stage {
        self.stages.last().expect("parse requires a FROM")
    }

    /// Every `cargo build` in `RUN` instructions of any stage, with the stage index.
    pub fn cargo_builds(&self) -> Vec<(usize, CargoBuild)> {
        let mut out = Vec::new();
        for (i, stage) in self.stages.iter().enumerate() {
            for ins in stage.instructions.iter().filter(|i| i.keyword == "RUN") {
                for command in ins.args.split("&&").flat_map(|c| c.split(';')) {
                    let words: Vec<&str> = command.split_whitespace().collect();
                    if let Some(p) = words.windows(2).position(|w| w == ["cargo", "build"]) {
                        out.push((i, CargoBuild::parse(&words[p + 2..])));
                    }
                }
            }
        }
        out
    }

    /// The `ENTRYPOINT` of the image in exec form, if it has one.
    pub fn entrypoint(&self) -> Option<Vec<String>> {
        let ins = self
            .runtime()
            .instructions
            .iter()
            .rfind(|i| i.keyword == "ENTRYPOINT")?;
        serde_json::from_str(&ins.args).ok()
    }

    /// The image's `USER`, if set.
    pub fn user(&self) -> Option<&str> {
        self.runtime()
            .instructions
            .iter()
            .rfind(|i| i.keyword == "USER")
            .map(|i| i.args.as_str())
    }

    /// The image's `EXPOSE`d ports.
    pub fn exposed(&self) -> Vec<u16> {
        self.runtime()
            .instructions
            .iter()
            .filter(|i| i.keyword == "EXPOSE")
            .flat_map(|i| i.args.split_whitespace())
            .filter_map(|p| p.split('/').next()?.parse().ok())
            .collect()
    }

    /// The `COPY`s of a stage.
    pub fn copies(stage: &Stage) -> Vec<Copy> {
        stage
            .instructions
            .iter()
            .filter(|i| i.keyword == "COPY")
            .map(|i| {
                let mut from = None;
                let mut paths = Vec::new();
                for w in i.args.split_whitespace() {
                    if let Some(f) = w.strip_prefix("--from=") {
                        from = Some(f.to_string());
                    } else if !w.starts_with("--") {
                        paths.push(w.to_string());
                    }
                }
                let dest = paths.pop().unwrap_or_default();
                Copy {
                    from,
                    sources: paths,
                    dest,
                }
            })
            .collect()
    }
}

impl CargoBuild {
    /// Reads the arguments after `cargo build` (up to the end of that command).
    pub fn parse(words: &[&str]) -> Self {
        let mut b = Self::default();
        let mut it = words.iter().copied();
        while let Some(w) = it.next() {
            let (flag, inline) = match w.split_once('=') {
                Some((f, v)) if f.starts_with('-') => (f, Some(v.to_string())),
                _ => (w, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| it.next().map(str::to_string))
                    .unwrap_or_default()
            };
            match flag {
                "--release" | "-r" => b.release = true,
                "--locked" => b.locked = true,
                "-p" | "--package" => b.packages.push(value()),
                "--bin" => b.bins.push(value()),
                "-F" | "--features" => b.features.extend(
                    value()
                        .split([',', ' '])
                        .filter(|f| !f.is_empty())
                        .map(str::to_string),
                ),
                "--no-default-features" => b.no_default_features = true,
                "--all-features" => b.all_features = true,
                _ => b.other.push(w.to_string()),
            }
        }
        b
    }
}

fn is_rust_image(base: &str) -> bool {
    let image = base.rsplit('/').next().unwrap_or(base);
    image == "rust" || image.starts_with("rust:") || image.starts_with("rust@")
}

/// Tag of the Rust builder image (`rust:1.95-bookworm` -> 1.95).
fn rust_tag_version(base: &str) -> Option<Version> {
    let tag = base.rsplit_once(':')?.1;
    Version::parse(tag.split('-').next()?)
}

/// What an image is supposed to build: the Dockerfile's file stem names the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// Package built.
    pub package: String,
    /// Binary built and run.
    pub bin: String,
    /// Path of the binary in the image (the entrypoint).
    pub path: String,
}

/// Checks one Dockerfile against the workspace: returns what it builds (when it can tell) and
/// the problems. `min_rust` is the toolchain the built package needs, when known.
pub fn check(
    df: &Dockerfile,
    file: &Path,
    ws: &Workspace,
    mut min_rust: impl FnMut(&str) -> Option<(Version, String)>,
) -> (Option<Built>, Vec<Problem>) {
    let mut problems = Vec::new();
    let mut report = |m: String| problems.push(Problem::new(file, "", m));
    if df.stages.len() < 2 {
        report(
            "not multi-stage: build in one stage, copy the binary into a small runtime stage"
                .into(),
        );
    }
    let runtime = df.runtime();
    if is_rust_image(&runtime.base) {
        report(format!("the runtime stage is based on the Rust image {}; use a small base (distroless, debian-slim)", runtime.base));
    }
    let builds = df.cargo_builds();
    let (stage_index, build) = match builds.as_slice() {
        [one] => one.clone(),
        [] => {
            report("no `cargo build` in any RUN".into());
            return (None, problems);
        }
        _ => {
            report(format!(
                "{} `cargo build` commands; one image, one binary",
                builds.len()
            ));
            return (None, problems);
        }
    };
    let builder = &df.stages[stage_index];
    if stage_index + 1 == df.stages.len() {
        report("cargo build runs in the runtime stage".into());
    }
    if !is_rust_image(&builder.base) {
        report(format!(
            "the builder stage is based on {}, not a Rust image",
            builder.base
        ));
    }
    if !build.release {
        report("cargo build without --release".into());
    }
    if !build.locked {
        report("cargo build without --locked (Cargo.lock must decide the versions)".into());
    }
    if build.all_features || build.no_default_features {
        report("cargo build with --all-features/--no-default-features: build what `cargo build --release` builds".into());
    }
    if !build.other.is_empty() {
        report(format!(
            "cargo build with unexpected arguments {:?}",
            build.other
        ));
    }
    let (package, bin) = match (build.packages.as_slice(), build.bins.as_slice()) {
        ([p], [b]) => (p.clone(), b.clone()),
        _ => {
            report(format!(
                "cargo build must name one package and one binary (-p PACKAGE --bin BIN), has -p {:?} --bin {:?}",
                build.packages, build.bins
            ));
            return (None, problems);
        }
    };
    match ws.packages.get(&package) {
        None => report(format!("package {package} is not in the workspace")),
        Some(p) => {
            if !p.bins.contains(&bin) {
                report(format!(
                    "package {package} has no binary {bin} (it has {:?})",
                    p.bins
                ));
            }
            for f in &build.features {
                if !p.features.contains(f) {
                    report(format!("package {package} has no feature {f}"));
                }
            }
        }
    }
    if let Some((need, who)) = min_rust(&package) {
        match rust_tag_version(&builder.base) {
            Some(have) if have >= need => {}
            Some(have) => report(format!(
                "builder toolchain {have} is older than {need}, the rust-version of {who}"
            )),
            None => report(format!(
                "cannot read the toolchain version of the builder image {}",
                builder.base
            )),
        }
    }
    // The runtime stage: only the binary, copied from the builder.
    let builder_ref = builder
        .name
        .clone()
        .unwrap_or_else(|| stage_index.to_string());
    let copies = Dockerfile::copies(runtime);
    let mut path = None;
    for c in &copies {
        let only_bin =
            c.sources.len() == 1 && c.sources[0].rsplit('/').next() == Some(bin.as_str());
        if c.from.as_deref() != Some(builder_ref.as_str()) || !only_bin {
            report(format!(
                "the runtime stage copies {:?} from {:?}: it must copy only {bin} from stage {builder_ref}",
                c.sources, c.from
            ));
        } else {
            path = Some(if c.dest.ends_with('/') {
                format!("{}{bin}", c.dest)
            } else {
                c.dest.clone()
            });
        }
    }
    if runtime.instructions.iter().any(|i| i.keyword == "ADD") {
        report("the runtime stage uses ADD: copy only the binary".into());
    }
    let Some(path) = path else {
        report(format!("the runtime stage does not copy {bin}"));
        return (None, problems);
    };
    match df.user() {
        None => report("no USER in the runtime stage: the image would run as root".into()),
        Some(u) => {
            let user = u.split(':').next().unwrap_or("");
            if user == "root" || user.parse::<u32>() == Ok(0) {
                report(format!("USER {u} is root"));
            }
        }
    }
    match df.entrypoint() {
        Some(e) if e.len() == 1 && e[0] == path => {}
        Some(e) => report(format!("ENTRYPOINT {e:?} is not [{path:?}]")),
        None => report("no ENTRYPOINT in exec form (JSON array)".into()),
    }
    (Some(Built { package, bin, path }), problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const GOOD: &str = r#"# syntax=docker/dockerfile:1
ARG RUST_VERSION=1.95
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/src/target \
    cargo build --release --locked -p inferno-x --bin inferno-x \
    && install -D target/release/inferno-x /out/inferno-x

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/inferno-x /usr/local/bin/
USER 65532:65532
EXPOSE 3300
ENTRYPOINT ["/usr/local/bin/inferno-x"]
"#;

    fn ws() -> Workspace {
        let pkg = crate::workspace::Package {
            name: "inferno-x".into(),
            version: "0.1.0".into(),
            dir: PathBuf::new(),
            bins: BTreeSet::from(["inferno-x".to_string()]),
            features: BTreeSet::new(),
            workspace_deps: BTreeSet::new(),
            external_deps: BTreeSet::new(),
        };
        Workspace {
            root: PathBuf::new(),
            packages: BTreeMap::from([("inferno-x".to_string(), pkg)]),
        }
    }

    fn problems(text: &str) -> Vec<String> {
        let df = Dockerfile::parse(text, Path::new("x.Dockerfile")).unwrap();
        check(&df, Path::new("x.Dockerfile"), &ws(), |_| {
            Some((Version(1, 89, 0), "kube 5.0.0".into()))
        })
        .1
        .into_iter()
        .map(|p| p.message)
        .collect()
    }

    #[test]
    fn reads_stages_and_the_build() {
        let df = Dockerfile::parse(GOOD, Path::new("x")).unwrap();
        assert_eq!(df.stages.len(), 2);
        assert_eq!(df.stages[0].base, "docker.io/library/rust:1.95-bookworm");
        assert_eq!(df.stages[0].name.as_deref(), Some("builder"));
        assert_eq!(df.exposed(), [3300]);
        assert_eq!(df.user(), Some("65532:65532"));
        let (i, b) = &df.cargo_builds()[0];
        assert_eq!(*i, 0);
        assert!(b.release && b.locked);
        assert_eq!(
            (b.packages.as_slice(), b.bins.as_slice()),
            (
                &["inferno-x".to_string()][..],
                &["inferno-x".to_string()][..]
            )
        );
        let (built, p) = check(&df, Path::new("x"), &ws(), |_| None);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(built.unwrap().path, "/usr/local/bin/inferno-x");
    }

    #[test]
    fn finds_what_is_wrong() {
        assert_eq!(problems(GOOD), Vec::<String>::new());
        let cases = [
            (
                "--bin inferno-x \\",
                "--bin inferno-y \\",
                "has no binary inferno-y",
            ),
            (
                "-p inferno-x",
                "-p inferno-z",
                "package inferno-z is not in the workspace",
            ),
            ("--release --locked", "--locked", "without --release"),
            ("--release --locked", "--release", "without --locked"),
            (
                "--locked -p",
                "--locked --features gpu -p",
                "has no feature gpu",
            ),
            (
                "RUST_VERSION=1.95",
                "RUST_VERSION=1.88",
                "builder toolchain 1.88.0 is older than 1.89.0, the rust-version of kube 5.0.0",
            ),
            ("USER 65532:65532", "USER root", "USER root is root"),
            ("USER 65532:65532\n", "", "no USER"),
            (
                "FROM gcr.io/distroless/cc-debian12:nonroot",
                "FROM rust:1.95",
                "runtime stage is based on the Rust image",
            ),
            (
                "COPY --from=builder /out/inferno-x",
                "COPY --from=builder /src",
                "must copy only inferno-x",
            ),
            (
                "[\"/usr/local/bin/inferno-x\"]",
                "/usr/local/bin/inferno-x",
                "no ENTRYPOINT in exec form",
            ),
            (
                "[\"/usr/local/bin/inferno-x\"]",
                "[\"/bin/inferno-x\"]",
                "is not [\"/usr/local/bin/inferno-x\"]",
            ),
        ];
        for (from, to, expect) in cases {
            assert!(GOOD.contains(from), "{from}");
            let p = problems(&GOOD.replace(from, to));
            assert!(p.iter().any(|m| m.contains(expect)), "{to}: {p:?}");
        }
        let single = "FROM rust:1.95\nRUN cargo build --release --locked -p inferno-x --bin inferno-x\nUSER 1\nENTRYPOINT [\"/x\"]\n";
        let p = problems(single);
        assert!(p.iter().any(|m| m.starts_with("not multi-stage")), "{p:?}");
        assert!(Dockerfile::parse("RUN x\n", Path::new("x")).is_err());
        assert!(Dockerfile::parse("FROM a \\\n", Path::new("x")).is_err());
    }
}
