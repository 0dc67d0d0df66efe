//! Fuzzing (issue 16, "no panic, no hang, on any input"): the data loader, the queue model and
//! the solvers on mutated and generated inputs, through the entry points users reach.
//!
//! Three families of cases, each a proptest strategy (so a failing case shrinks to a small one):
//! - `files` ([`files`]): the sample data files (`samples/small` and `samples/large` as
//!   directories, `samples/small` as one system JSON, the queue problem `samples/problem.json`)
//!   with random edits (special numbers, wrong types, nulls, deleted, duplicated and re-spelt
//!   keys, repeated elements, deep nesting, truncation, stray bytes), run through the CLI
//!   (`inferno_optimizer::cli::run`: `solve`, `analyze`, `size`, `concurrency`);
//! - `systems` ([`systems`]): generated systems (a few accelerators, models, classes, servers)
//!   with a few fields set to extreme values, validated (`inferno_api::check`, as the gRPC
//!   service does) and solved with the system's own options and with each solver under a small
//!   time limit, or sent to the gRPC `OptimizeOne` handler;
//! - `queue` ([`queue`]): gRPC queue requests with extreme fields, sent to the `Analyze`, `Size`
//!   and `OptimalConcurrency` handlers.
//!
//! The property: every case ends, without a panic, a crash (abort, out of memory, stack
//! overflow) or an INTERNAL status. An input the library cannot use must be refused with an
//! error, which passes. Cases run in a child process (this test binary, running the ignored
//! test [`child`]), under a memory cap, so a crash or a hang is reported with its input instead
//! of taking the test (or the machine) down; the parent restarts the child after the case.
//!
//! Durations are measured and the slowest cases printed; only the long mode fails on time.
//!
//! Environment:
//! - `INFERNO_FUZZ_CASES` (else `PROPTEST_CASES`): cases in all, split over the families
//!   (default 1000; 20,000 in the long mode);
//! - `INFERNO_FUZZ_SEED`: a number, or `random` (printed, to replay); default a fixed seed;
//! - `INFERNO_FUZZ_LONG=1` (`make fuzz`): a case running over `INFERNO_FUZZ_HANG_SECONDS`
//!   (default 10) is killed and fails. Without it nothing fails on time (a case running over
//!   10 s is announced on stderr while it runs) unless `INFERNO_FUZZ_HANG_SECONDS` is set;
//! - `INFERNO_FUZZ_MEMORY_MB`: the child's address-space cap (default 4096; 0 = none);
//! - `INFERNO_FUZZ_ONLY=family[:index]`: one family, or one case (replay a failure);
//! - `INFERNO_FUZZ_SHRINK=0`: report failures without shrinking them.
//!
//! Failures are written to `target/tmp/fuzz/failures/<n>-<family>-<index>/` (the input files,
//! as the CLI or a gRPC client would send them), original and shrunk.
//!
//! Public functions called (adapt here when their signatures change):
//! `inferno_optimizer::cli::{run, Args}`, `inferno_api::check`, `inferno_api::FileNames::single`,
//! `inferno_optimizer::{solve, SolveOptions::from_spec, SolverKind}`,
//! `inferno_optimizer::grpc::{OptimizerService::new, Metrics}` with the
//! `inferno_proto::v1::optimizer_server::Optimizer` methods `analyze`, `size`,
//! `optimal_concurrency`, `optimize_one`, and `inferno_proto::v1::SystemSpec::try_from`.

mod files;
mod queue;
mod systems;
mod values;

use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Default seed: the same cases on every run.
const DEFAULT_SEED: u64 = 0x1616_f022;
/// Cases of the default run, all families together.
const DEFAULT_CASES: u64 = 1000;
/// Cases of the long run.
const LONG_CASES: u64 = 20_000;
/// The long mode's limit per case.
const LONG_HANG_SECONDS: f64 = 10.0;
/// A case running this long is announced on stderr while it runs (without failing).
const NOTICE_AFTER: Duration = Duration::from_secs(10);
/// Shrinking: most candidates tried per failure kind, and longest time one candidate may take
/// (a slower one counts as "not the same failure"; this only affects how small the reported
/// input gets, never whether the test fails).
const SHRINK_TRIES: usize = 500;
const SHRINK_TRY_LIMIT: Duration = Duration::from_secs(10);
/// Shrinking one failure stops after this long (with the smallest failing input so far).
const SHRINK_TIME: Duration = Duration::from_secs(60);
/// Of a crashed child's stderr, this many bytes are kept.
const STDERR_TAIL: usize = 4096;
/// Prefix of the protocol lines a child writes on stdout.
const PROTOCOL: &str = "@fuzz ";

/// The three kinds of cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Family {
    Files,
    Systems,
    Queue,
}

impl Family {
    const ALL: [Family; 3] = [Family::Files, Family::Systems, Family::Queue];

    fn name(self) -> &'static str {
        match self {
            Family::Files => "files",
            Family::Systems => "systems",
            Family::Queue => "queue",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == s)
    }

    /// Share of the cases, in percent.
    fn share(self) -> u64 {
        match self {
            Family::Files => 45,
            Family::Systems => 35,
            Family::Queue => 20,
        }
    }

    fn strategy(self) -> BoxedStrategy<Input> {
        match self {
            Family::Files => files::case().prop_map(Input::Files).boxed(),
            Family::Systems => systems::case().prop_map(Input::Systems).boxed(),
            Family::Queue => queue::case().prop_map(Input::Queue).boxed(),
        }
    }
}

/// One generated case.
#[derive(Debug, Clone)]
enum Input {
    Files(files::Case),
    Systems(systems::Case),
    Queue(queue::Case),
}

impl Input {
    /// Runs the case. `Ok` names the path it took (for the tallies: how many cases got past
    /// validation); `Err` is a failure that is not a panic (an INTERNAL status).
    fn run(&self, work: &Path) -> Result<&'static str, String> {
        match self {
            Input::Files(c) => c.run(work),
            Input::Systems(c) => c.run(),
            Input::Queue(c) => c.run(),
        }
    }

    /// What the case is, in a few lines.
    fn describe(&self) -> String {
        match self {
            Input::Files(c) => c.describe(),
            Input::Systems(c) => c.describe(),
            Input::Queue(c) => c.describe(),
        }
    }

    /// The edits or extreme fields that make the case, one line each.
    fn changes(&self) -> Vec<String> {
        match self {
            Input::Files(c) => c.changes(),
            Input::Systems(c) => c.changes(),
            Input::Queue(c) => c.changes(),
        }
    }

    /// Writes the input as a user would give it (files, request JSON) into `dir`.
    fn write_repro(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        match self {
            Input::Files(c) => c.write_repro(dir),
            Input::Systems(c) => c.write_repro(dir),
            Input::Queue(c) => c.write_repro(dir),
        }
    }
}

/// Case `index` of `family` under `seed`: its own random stream, so any case can be made
/// again without the ones before it.
fn tree(family: Family, seed: u64, index: u64) -> Box<dyn ValueTree<Value = Input>> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&index.to_le_bytes());
    bytes[16] = family as u8 + 1;
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    family
        .strategy()
        .new_tree(&mut runner)
        .expect("the fuzz strategies have no filters")
}

/// The candidate a shrink reached after `outcomes` (true = the candidate failed the same way):
/// the last failing one, else the original case.
fn shrunk(family: Family, seed: u64, index: u64, outcomes: &[bool]) -> Input {
    let mut t = tree(family, seed, index);
    let Some(last) = outcomes.iter().rposition(|&failed| failed) else {
        return t.current();
    };
    t.simplify();
    for &failed in &outcomes[..last] {
        if failed {
            t.simplify();
        } else {
            t.complicate();
        }
    }
    t.current()
}

/// Settings, from the environment.
#[derive(Debug, Clone)]
struct Settings {
    seed: u64,
    random_seed: bool,
    cases: u64,
    long: bool,
    hang_limit: Option<Duration>,
    memory_mb: u64,
    only: Option<(Family, Option<u64>)>,
    shrink: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

impl Settings {
    fn from_env() -> Self {
        let long = env("INFERNO_FUZZ_LONG").is_some_and(|v| v != "0");
        let (seed, random_seed) = match env("INFERNO_FUZZ_SEED").as_deref() {
            Some("random") => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64);
                (nanos ^ u64::from(std::process::id()).rotate_left(32), true)
            }
            Some(s) => (
                parse_u64(s).unwrap_or_else(|| panic!("INFERNO_FUZZ_SEED: not a number: {s}")),
                false,
            ),
            None => (DEFAULT_SEED, false),
        };
        let cases = env("INFERNO_FUZZ_CASES")
            .or_else(|| env("PROPTEST_CASES"))
            .map(|s| parse_u64(&s).unwrap_or_else(|| panic!("INFERNO_FUZZ_CASES: {s}")))
            .unwrap_or(if long { LONG_CASES } else { DEFAULT_CASES });
        let hang_limit = match env("INFERNO_FUZZ_HANG_SECONDS") {
            Some(s) => Some(s.parse::<f64>().unwrap_or_else(|_| {
                panic!("INFERNO_FUZZ_HANG_SECONDS: not a number of seconds: {s}")
            })),
            None => long.then_some(LONG_HANG_SECONDS),
        }
        .map(Duration::from_secs_f64);
        let memory_mb = env("INFERNO_FUZZ_MEMORY_MB")
            .map(|s| parse_u64(&s).unwrap_or_else(|| panic!("INFERNO_FUZZ_MEMORY_MB: {s}")))
            .unwrap_or(4096);
        let only = env("INFERNO_FUZZ_ONLY").map(|s| {
            let (family, index) = match s.split_once(':') {
                Some((f, i)) => (f, Some(i)),
                None => (s.as_str(), None),
            };
            let family = Family::parse(family).unwrap_or_else(|| {
                panic!("INFERNO_FUZZ_ONLY: unknown family {family:?} (files, systems, queue)")
            });
            let index =
                index.map(|i| parse_u64(i).unwrap_or_else(|| panic!("INFERNO_FUZZ_ONLY: {s}")));
            (family, index)
        });
        Self {
            seed,
            random_seed,
            cases,
            long,
            hang_limit,
            memory_mb,
            only,
            shrink: env("INFERNO_FUZZ_SHRINK").is_none_or(|v| v != "0"),
        }
    }

    /// The case ranges to run, per family.
    fn plan(&self) -> Vec<(Family, std::ops::Range<u64>)> {
        match self.only {
            Some((family, Some(i))) => vec![(family, i..i + 1)],
            Some((family, None)) => vec![(family, 0..self.cases)],
            None => Family::ALL
                .into_iter()
                .map(|f| (f, 0..(self.cases * f.share()).div_ceil(100)))
                .collect(),
        }
    }
}

/// Scratch directory of this test binary's fuzz runs.
fn scratch() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz")
}

/// Writes straight to the process's stderr, past the test harness's capture: progress and the
/// summary are seen even when the test passes or hangs.
fn say(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
    let _ = err.flush();
}

// ---------------------------------------------------------------------------------------------
// The child: runs cases and says how each ended.

/// A panic seen by the hook: message, location and the project's frames of the stack.
#[derive(Debug, Clone)]
struct PanicRecord {
    message: String,
    location: String,
    frames: Vec<String>,
}

static LAST_PANIC: Mutex<Option<PanicRecord>> = Mutex::new(None);

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let mut last = LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some() {
            return;
        }
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(non-string panic payload)".to_string());
        let location = info
            .location()
            .map_or_else(|| "unknown location".to_string(), |l| l.to_string());
        let trace = std::backtrace::Backtrace::force_capture().to_string();
        let frames = project_frames(&trace);
        // A panic inside the standard library (Duration::from_secs_f64, slice indexing, ...)
        // is placed at the project's innermost frame, the line that called it.
        let location = match frames.first() {
            Some(f) if location.starts_with("/rustc/") => {
                let at = f.split_once(" at ").map_or(f.as_str(), |(_, at)| at);
                format!("{} (in {location})", at.trim_start_matches("./"))
            }
            _ => location,
        };
        *last = Some(PanicRecord {
            message,
            location,
            frames,
        });
    }));
}

/// The frames of the project's crates (function and file:line), innermost first.
fn project_frames(trace: &str) -> Vec<String> {
    let lines: Vec<&str> = trace.lines().collect();
    let mut frames = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let func = line.trim();
        let Some((_, name)) = func.split_once(": ") else {
            continue;
        };
        if !name.starts_with("inferno_") || name.contains("panic") {
            continue;
        }
        let at = lines
            .get(i + 1)
            .map(|l| l.trim())
            .filter(|l| l.starts_with("at "))
            .map(|l| format!(" {l}"))
            .unwrap_or_default();
        frames.push(format!("{name}{at}"));
        if frames.len() == 10 {
            break;
        }
    }
    frames
}

/// How one case ended, in the child.
enum Outcome {
    /// Ended; the path it took.
    Passed(&'static str),
    /// Failed: signature (what makes two failures the same), message.
    Failed(String, String),
}

fn run_case(input: &Input, work: &Path) -> (Outcome, Duration) {
    *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let start = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| input.run(work)));
    let took = start.elapsed();
    let panic = LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).take();
    let describe = |p: &PanicRecord| {
        let mut s = format!("{}\n  at {}", p.message, p.location);
        for f in &p.frames {
            s.push_str("\n    ");
            s.push_str(f);
        }
        s
    };
    let outcome = match result {
        Ok(Ok(path)) => Outcome::Passed(path),
        Ok(Err(failure)) => match &panic {
            // An INTERNAL status from a task that panicked: report the panic.
            Some(p) => Outcome::Failed(
                format!("panic at {}", p.location),
                format!("{failure}\n{}", describe(p)),
            ),
            None => {
                let first: String = failure
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(60)
                    .collect();
                Outcome::Failed(format!("error {first}"), failure)
            }
        },
        Err(_) => match &panic {
            Some(p) => Outcome::Failed(format!("panic at {}", p.location), describe(p)),
            None => Outcome::Failed("panic".into(), "panic without a message".into()),
        },
    };
    (outcome, took)
}

fn emit(event: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{PROTOCOL}{event}");
    let _ = out.flush();
}

fn child_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("fuzz child: {name} is not set"))
}

/// The child process: runs the cases (or shrink candidates) the parent asked for.
#[test]
#[ignore = "a child process of fuzz::no_panic_no_hang; does nothing unless INFERNO_FUZZ_CHILD is set"]
fn child() {
    let Ok(mode) = std::env::var("INFERNO_FUZZ_CHILD") else {
        return;
    };
    install_panic_hook();
    let family = Family::parse(&child_env("INFERNO_FUZZ_FAMILY")).expect("family");
    let seed = parse_u64(&child_env("INFERNO_FUZZ_SEED")).expect("seed");
    let work = scratch().join(format!("work-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("fuzz scratch directory");
    match mode.as_str() {
        "run" => {
            let from = parse_u64(&child_env("INFERNO_FUZZ_FROM")).expect("from");
            let to = parse_u64(&child_env("INFERNO_FUZZ_TO")).expect("to");
            for i in from..to {
                let input = tree(family, seed, i).current();
                emit(&json!({"ev": "start", "i": i}));
                let (outcome, took) = run_case(&input, &work);
                let us = took.as_micros() as u64;
                emit(&match outcome {
                    Outcome::Passed(path) => json!({"ev": "done", "i": i, "us": us, "path": path}),
                    Outcome::Failed(sig, msg) => {
                        json!({"ev": "done", "i": i, "us": us, "sig": sig, "msg": msg})
                    }
                });
            }
        }
        "shrink" => {
            let index = parse_u64(&child_env("INFERNO_FUZZ_INDEX")).expect("index");
            let signature = child_env("INFERNO_FUZZ_SIGNATURE");
            let max: usize = child_env("INFERNO_FUZZ_MAX_TRIES").parse().expect("tries");
            let prior: Vec<bool> = child_env("INFERNO_FUZZ_OUTCOMES")
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .map(|c| c == 'f')
                .collect();
            let mut t = tree(family, seed, index);
            let mut more = t.simplify();
            for &failed in &prior {
                if !more {
                    break;
                }
                more = if failed { t.simplify() } else { t.complicate() };
            }
            let mut k = prior.len();
            while more && k < max {
                emit(&json!({"ev": "try", "k": k}));
                let (outcome, took) = run_case(&t.current(), &work);
                let same = matches!(&outcome, Outcome::Failed(sig, _) if *sig == signature);
                emit(&json!({"ev": "tried", "k": k, "same": same, "us": took.as_micros() as u64}));
                more = if same { t.simplify() } else { t.complicate() };
                k += 1;
            }
            emit(&json!({"ev": "end"}));
        }
        other => panic!("INFERNO_FUZZ_CHILD: unknown mode {other}"),
    }
    let _ = std::fs::remove_dir_all(&work);
}

// ---------------------------------------------------------------------------------------------
// The parent: starts children, watches them, collects failures and durations.

/// A running child.
struct Running {
    process: Child,
    events: Receiver<Value>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(settings: &Settings, family: Family, vars: &[(&str, String)]) -> Self {
        let exe = std::env::current_exe().expect("the test binary");
        let mut cmd = if settings.memory_mb > 0 {
            // The cap keeps a runaway allocation (8 GiB for one request, issue 16) from taking
            // the machine down: the child aborts instead, and the case is reported as a crash.
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(r#"ulimit -v "$1" 2>/dev/null; shift; exec "$@""#)
                .arg("sh")
                .arg((settings.memory_mb * 1024).to_string())
                .arg(exe);
            c
        } else {
            Command::new(exe)
        };
        cmd.args([
            "--exact",
            "fuzz::child",
            "--ignored",
            "--test-threads",
            "1",
            "-q",
        ])
        .env("INFERNO_FUZZ_FAMILY", family.name())
        .env("INFERNO_FUZZ_SEED", settings.seed.to_string())
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut process = cmd.spawn().expect("start the fuzz child process");
        let stdout = process.stdout.take().expect("child stdout");
        let mut stderr_pipe = process.stderr.take().expect("child stderr");
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(event) = line.strip_prefix(PROTOCOL) {
                    if let Ok(v) = serde_json::from_str(event) {
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let tail = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                t.extend_from_slice(&buf[..n]);
                if t.len() > 2 * STDERR_TAIL {
                    let cut = t.len() - STDERR_TAIL;
                    t.drain(..cut);
                }
            }
        });
        Self {
            process,
            events,
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    fn kill(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }

    /// Waits for the child to end; its exit status and the end of its stderr.
    fn finish(&mut self) -> (String, String) {
        let status = self
            .process
            .wait()
            .map_or_else(|e| format!("wait failed: {e}"), |s| s.to_string());
        if let Some(r) = self.stderr_reader.take() {
            let _ = r.join();
        }
        let bytes = self
            .stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let text = String::from_utf8_lossy(&bytes);
        let tail: String = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        (status, tail)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.process.try_wait() {
            self.kill();
        }
    }
}

/// The signature of a child that died during a case.
fn crash_signature(status: &str, stderr: &str) -> String {
    if stderr.contains("memory allocation of") {
        "crash: memory allocation failed (abort)".into()
    } else if stderr.contains("has overflowed its stack") {
        "crash: stack overflow".into()
    } else {
        format!("crash: {status}")
    }
}

/// One failed case.
#[derive(Debug, Clone)]
struct Failure {
    family: Family,
    index: u64,
    signature: String,
    message: String,
    took: Duration,
}

/// A finished case's duration.
#[derive(Debug, Clone, Copy)]
struct Timing {
    family: Family,
    index: u64,
    took: Duration,
}

#[derive(Debug, Default)]
struct Results {
    failures: Vec<Failure>,
    timings: Vec<Timing>,
    /// (family, path) -> cases.
    paths: BTreeMap<(Family, String), u64>,
    restarts: u64,
}

fn run_family(settings: &Settings, family: Family, range: std::ops::Range<u64>, r: &mut Results) {
    let mut next = range.start;
    while next < range.end {
        let mut child = Running::start(
            settings,
            family,
            &[
                ("INFERNO_FUZZ_CHILD", "run".into()),
                ("INFERNO_FUZZ_FROM", next.to_string()),
                ("INFERNO_FUZZ_TO", range.end.to_string()),
            ],
        );
        let mut current: Option<(u64, Instant, bool)> = None;
        loop {
            match child.events.recv_timeout(Duration::from_millis(250)) {
                Ok(ev) => match ev["ev"].as_str() {
                    Some("start") => {
                        current = Some((ev["i"].as_u64().unwrap_or(next), Instant::now(), false));
                    }
                    Some("done") => {
                        let index = ev["i"].as_u64().unwrap_or(next);
                        let took = Duration::from_micros(ev["us"].as_u64().unwrap_or(0));
                        r.timings.push(Timing {
                            family,
                            index,
                            took,
                        });
                        let limit = settings.hang_limit.filter(|&l| took > l);
                        let sig = match (ev["sig"].as_str(), limit) {
                            (Some(sig), _) => Some(sig.to_string()),
                            (None, Some(_)) => Some("hang".to_string()),
                            (None, None) => None,
                        };
                        let msg = match (ev["msg"].as_str(), limit) {
                            (Some(msg), _) => msg.to_string(),
                            (None, Some(l)) => format!(
                                "took {:.1} s, over the limit of {:.1} s",
                                took.as_secs_f64(),
                                l.as_secs_f64()
                            ),
                            (None, None) => String::new(),
                        };
                        match sig {
                            Some(signature) => {
                                *r.paths.entry((family, "FAILED".into())).or_default() += 1;
                                r.failures.push(Failure {
                                    family,
                                    index,
                                    signature,
                                    message: msg,
                                    took,
                                });
                            }
                            None => {
                                let path = ev["path"].as_str().unwrap_or("?").to_string();
                                *r.paths.entry((family, path)).or_default() += 1;
                            }
                        }
                        next = index + 1;
                        current = None;
                    }
                    _ => {}
                },
                Err(RecvTimeoutError::Timeout) => {
                    let Some((index, began, noticed)) = current.as_mut() else {
                        continue;
                    };
                    let took = began.elapsed();
                    if settings.hang_limit.is_some_and(|limit| took > limit) {
                        child.kill();
                        *r.paths.entry((family, "FAILED".into())).or_default() += 1;
                        r.failures.push(Failure {
                            family,
                            index: *index,
                            signature: "hang".into(),
                            message: format!(
                                "still running after {:.1} s; killed",
                                took.as_secs_f64()
                            ),
                            took,
                        });
                        r.timings.push(Timing {
                            family,
                            index: *index,
                            took,
                        });
                        next = *index + 1;
                        r.restarts += 1;
                        break;
                    }
                    if took > NOTICE_AFTER && !*noticed {
                        *noticed = true;
                        let input = tree(family, settings.seed, *index).current();
                        say(&format!(
                            "fuzz: {}#{index} still running after {} s (only the long mode fails on time): {}",
                            family.name(),
                            NOTICE_AFTER.as_secs(),
                            indent(&input.describe())
                        ));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let (status, stderr) = child.finish();
                    match current {
                        Some((index, began, _)) => {
                            let took = began.elapsed();
                            *r.paths.entry((family, "FAILED".into())).or_default() += 1;
                            r.failures.push(Failure {
                                family,
                                index,
                                signature: crash_signature(&status, &stderr),
                                message: format!(
                                    "child process died ({status}); its stderr ends:\n{stderr}"
                                ),
                                took,
                            });
                            r.timings.push(Timing {
                                family,
                                index,
                                took,
                            });
                            next = index + 1;
                            r.restarts += 1;
                        }
                        None if next < range.end => {
                            panic!(
                                "fuzz child for {} stopped before case {next} ({status}); its stderr ends:\n{stderr}",
                                family.name()
                            );
                        }
                        None => {}
                    }
                    break;
                }
            }
        }
    }
}

/// Shrinks failure `f`: the outcomes of the candidates tried (true = failed the same way).
fn shrink(settings: &Settings, f: &Failure) -> Vec<bool> {
    let mut outcomes: Vec<bool> = Vec::new();
    let began = Instant::now();
    let try_limit = match f.signature.as_str() {
        "hang" => settings.hang_limit.unwrap_or(SHRINK_TRY_LIMIT),
        _ => SHRINK_TRY_LIMIT,
    };
    let (max, shrink_time) = if f.signature == "hang" {
        (20, 3 * SHRINK_TIME)
    } else {
        (SHRINK_TRIES, SHRINK_TIME)
    };
    'respawn: while outcomes.len() < max {
        let prior: String = outcomes
            .iter()
            .map(|&x| if x { 'f' } else { 'p' })
            .collect();
        let mut child = Running::start(
            settings,
            f.family,
            &[
                ("INFERNO_FUZZ_CHILD", "shrink".into()),
                ("INFERNO_FUZZ_INDEX", f.index.to_string()),
                ("INFERNO_FUZZ_SIGNATURE", f.signature.clone()),
                ("INFERNO_FUZZ_MAX_TRIES", max.to_string()),
                // "-" keeps the variable set when nothing was tried yet.
                ("INFERNO_FUZZ_OUTCOMES", format!("-{prior}")),
            ],
        );
        let mut trying: Option<Instant> = None;
        loop {
            if began.elapsed() > shrink_time {
                child.kill();
                break 'respawn;
            }
            match child.events.recv_timeout(Duration::from_millis(250)) {
                Ok(ev) => match ev["ev"].as_str() {
                    Some("try") => trying = Some(Instant::now()),
                    Some("tried") => {
                        outcomes.push(ev["same"].as_bool().unwrap_or(false));
                        trying = None;
                    }
                    Some("end") => break 'respawn,
                    _ => {}
                },
                Err(RecvTimeoutError::Timeout) => {
                    if trying.is_some_and(|t| t.elapsed() > try_limit) {
                        child.kill();
                        outcomes.push(f.signature == "hang");
                        continue 'respawn;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let (status, stderr) = child.finish();
                    if trying.is_none() {
                        break 'respawn;
                    }
                    outcomes.push(crash_signature(&status, &stderr) == f.signature);
                    continue 'respawn;
                }
            }
        }
    }
    outcomes
}

fn indent(text: &str) -> String {
    text.replace('\n', "\n    ")
}

fn report(settings: &Settings, r: &Results, took: Duration) -> (String, bool) {
    let mut s = String::new();
    let total: u64 = r.timings.len() as u64;
    s.push_str(&format!(
        "fuzz: seed {:#x}{}, {} cases in {:.1} s{}{}\n",
        settings.seed,
        if settings.random_seed {
            " (random; INFERNO_FUZZ_SEED=<this> replays)"
        } else {
            ""
        },
        total,
        took.as_secs_f64(),
        if settings.long { ", long mode" } else { "" },
        match settings.hang_limit {
            Some(l) => format!(", a case over {:.0} s fails", l.as_secs_f64()),
            None => String::new(),
        },
    ));
    for family in Family::ALL {
        let paths: Vec<String> = r
            .paths
            .iter()
            .filter(|((f, _), _)| *f == family)
            .map(|((_, p), n)| format!("{p} {n}"))
            .collect();
        if !paths.is_empty() {
            s.push_str(&format!("  {}: {}\n", family.name(), paths.join(", ")));
        }
    }
    let in_cases: Duration = r.timings.iter().map(|t| t.took).sum();
    let in_failed: Duration = r.failures.iter().map(|f| f.took).sum();
    s.push_str(&format!(
        "time in the cases: {:.1} s, of which {:.1} s in failed ones\n",
        in_cases.as_secs_f64(),
        in_failed.as_secs_f64()
    ));
    let mut slow = r.timings.clone();
    slow.sort_by_key(|t| std::cmp::Reverse(t.took));
    s.push_str("slowest cases:\n");
    for t in slow.iter().take(3) {
        let input = tree(t.family, settings.seed, t.index).current();
        s.push_str(&format!(
            "  {}#{} {:.3} s: {}\n",
            t.family.name(),
            t.index,
            t.took.as_secs_f64(),
            indent(&input.describe())
        ));
    }
    let mut groups: BTreeMap<&str, Vec<&Failure>> = BTreeMap::new();
    for f in &r.failures {
        groups.entry(&f.signature).or_default().push(f);
    }
    let failed = !groups.is_empty();
    if failed {
        s.push_str(&format!(
            "{} failed cases, {} kinds of failure:\n",
            r.failures.len(),
            groups.len()
        ));
    }
    let failures_dir = scratch().join("failures");
    for (n, (signature, list)) in groups.iter().enumerate() {
        let first = list[0];
        let input = tree(first.family, settings.seed, first.index).current();
        let cases: Vec<String> = list
            .iter()
            .take(12)
            .map(|f| format!("{}#{}", f.family.name(), f.index))
            .collect();
        s.push_str(&format!(
            "\n[{}] {signature}: {} case(s) ({}{})\n  first: {}#{} ({:.3} s): {}\n  {}\n",
            n + 1,
            list.len(),
            cases.join(" "),
            if list.len() > 12 { " ..." } else { "" },
            first.family.name(),
            first.index,
            first.took.as_secs_f64(),
            indent(&input.describe()),
            indent(&first.message),
        ));
        // Hangs and crashes have no location to tell their causes apart: list every case.
        if !signature.starts_with("panic") && !signature.starts_with("error") && list.len() > 1 {
            s.push_str("  every case (its edits or extreme fields):\n");
            for f in list.iter().take(100) {
                let input = tree(f.family, settings.seed, f.index).current();
                s.push_str(&format!(
                    "    {}#{} ({:.1} s): {}\n",
                    f.family.name(),
                    f.index,
                    f.took.as_secs_f64(),
                    input.changes().join("; ")
                ));
            }
        }
        let dir = failures_dir.join(format!("{}-{}-{}", n + 1, first.family.name(), first.index));
        let _ = std::fs::remove_dir_all(&dir);
        if input.write_repro(&dir.join("original")).is_ok() {
            s.push_str(&format!(
                "  input files: {}\n",
                dir.join("original").display()
            ));
        }
        if settings.shrink {
            let outcomes = shrink(settings, first);
            let tried = outcomes.len();
            let fails = outcomes.iter().filter(|&&x| x).count();
            if fails > 0 {
                let small = shrunk(first.family, settings.seed, first.index, &outcomes);
                let _ = small.write_repro(&dir.join("shrunk"));
                s.push_str(&format!(
                    "  shrunk ({tried} candidates tried, {fails} failed the same way): {}\n  shrunk input files: {}\n",
                    indent(&small.describe()),
                    dir.join("shrunk").display()
                ));
            } else {
                s.push_str(&format!(
                    "  (no smaller input fails the same way; {tried} candidates tried)\n"
                ));
            }
        }
        s.push_str(&format!(
            "  replay: INFERNO_FUZZ_SEED={:#x} INFERNO_FUZZ_ONLY={}:{}\n",
            settings.seed,
            first.family.name(),
            first.index
        ));
    }
    (s, failed)
}

/// The fuzz test: see the module documentation.
#[test]
fn no_panic_no_hang() {
    let settings = Settings::from_env();
    let started = Instant::now();
    // The failures of the last run, and scratch directories of children that crashed.
    if let Ok(entries) = std::fs::read_dir(scratch()) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("work-") || name == "failures" {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let mut results = Results::default();
    let plan = settings.plan();
    say(&format!(
        "fuzz: seed {:#x}, {} ({}); memory cap {} MB per child",
        settings.seed,
        plan.iter()
            .map(|(f, r)| format!("{} {}", f.name(), r.end - r.start))
            .collect::<Vec<_>>()
            .join(", "),
        if settings.long {
            "long mode"
        } else {
            "INFERNO_FUZZ_CASES=N for more"
        },
        settings.memory_mb
    ));
    for (family, range) in plan {
        run_family(&settings, family, range, &mut results);
    }
    let took = started.elapsed();
    let (text, failed) = report(&settings, &results, took);
    say(&text);
    assert!(
        !failed,
        "fuzzing found {} failed cases; the report above (on stderr) has each kind of failure with its input",
        results.failures.len()
    );
}
