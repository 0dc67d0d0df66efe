//! The `/metrics` page of every Inferno program (the four services and the emulated vLLM
//! servers): metrics live in a prometheus-client [`Registry`] (typed counters, gauges and
//! histograms, or a collector reading existing state at scrape time), [`encode`] writes them and
//! [`CONTENT_TYPE`] names what it wrote. Label values are escaped by the library, so a `"`, `\`
//! or newline in a server or model name cannot break a page. [`parse`] reads a page back: the
//! writers' tests use it to prove their output is valid and round-trips.
//!
//! # Format
//!
//! The classic text format, version 0.0.4, not the OpenMetrics 1.0 text prometheus-client writes
//! by default. Prometheus scrapes both; 0.0.4 is chosen because
//! - the emulator stands in for vLLM, whose Python client serves 0.0.4 by default, and it should
//!   look to a scraper like what it emulates;
//! - it keeps the pages as they were: OpenMetrics names a counter's family without `_total` in
//!   `# HELP` / `# TYPE`, adds `# EOF`, and has an `info` type, while the docs and the tests read
//!   `# TYPE inferno_controller_cycles_total counter`;
//! - nothing we expose needs what only OpenMetrics carries (exemplars, units, created times).
//!
//! Counters are registered without `_total`; the encoder appends it (`inferno_controller_cycles`
//! is served as `inferno_controller_cycles_total`). `Registry::register` appends a full stop to
//! the help text, so help strings are given without one.
//!
//! # What every service adds
//!
//! [`common`] is the part of the page the four services share, added after each service's own
//! families by the telemetry crate's `/metrics` routes (`metrics_route`, `ops_router`), so that
//! no service can leave it out:
//! - `inferno_build_info{program,version,revision,profile} 1`: the executable's name
//!   (`inferno-controller`, ...), the crate version, the commit the binary was built from when
//!   the build set `INFERNO_REVISION` (read at compile time with `option_env!`, no build script:
//!   `INFERNO_REVISION=$(git rev-parse --short HEAD) cargo build`; else `unknown`), and `debug`
//!   or `release`. The compiler version is not known without a build script, so it is not given.
//! - the process metrics of the Prometheus client libraries, read from `/proc` at each scrape
//!   (Linux only; elsewhere, and for any file that cannot be read, the family is left out):
//!   `process_cpu_seconds_total` (user + system, `/proc/self/stat` in clock ticks of 1/100 s,
//!   the fixed `USER_HZ` of Linux' interface, as Prometheus' own procfs library takes it),
//!   `process_resident_memory_bytes` (`VmRSS` of `/proc/self/status`),
//!   `process_virtual_memory_bytes`, `process_start_time_seconds` (Unix time: the boot time of
//!   `/proc/stat` plus the process' start in ticks since boot), `process_open_fds`,
//!   `process_max_fds` (the soft limit) and `process_threads`.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
pub use prometheus_client::registry::Registry;
use std::sync::OnceLock;

/// The `Content-Type` of what [`encode`] writes: `text/plain; version=0.0.4; charset=utf-8`.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// `registry` in the Prometheus text format, version 0.0.4.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::with_capacity(4096);
    // Writing into a String cannot fail, and our metrics' encoders only fail on a failed write.
    prometheus_text::encode(&mut out, registry).expect("writing to a String does not fail");
    out
}

/// The families every service's page ends with: `inferno_build_info` and the process metrics
/// (module documentation). Built once; the process metrics are read at each call.
pub fn common() -> String {
    static COMMON: OnceLock<Registry> = OnceLock::new();
    encode(COMMON.get_or_init(|| {
        let mut registry = Registry::default();
        registry.register(
            "inferno_build",
            "The build of this program: its executable, crate version, commit (INFERNO_REVISION \
             at compile time, else unknown) and profile",
            Info::new(build_labels()),
        );
        registry.register_collector(Box::new(Process));
        registry
    }))
}

/// The commit the build was made from: `INFERNO_REVISION` when the compiler ran, else `unknown`.
pub const REVISION: &str = match option_env!("INFERNO_REVISION") {
    Some(r) if !r.is_empty() => r,
    _ => "unknown",
};

/// The labels of `inferno_build_info`.
fn build_labels() -> Vec<(String, String)> {
    let program = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .or_else(|| {
            std::env::args_os().next().and_then(|a| {
                std::path::Path::new(&a)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    [
        ("program", program.as_str()),
        ("version", env!("CARGO_PKG_VERSION")),
        ("revision", REVISION),
        ("profile", profile),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Clock ticks per second of the times in `/proc/<pid>/stat`: `USER_HZ`, 100 on every
/// architecture Inferno runs on (the kernel converts its own tick rate to it).
const USER_HZ: f64 = 100.0;

/// What `/proc` says of this process, each `None` when it could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<f64>,
    /// Virtual memory size, bytes.
    pub virtual_bytes: Option<f64>,
    /// Start time, seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
    /// Open file descriptors.
    pub open_fds: Option<f64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<f64>,
    /// Threads.
    pub threads: Option<f64>,
}

impl ProcessStats {
    /// This process' figures, read from `/proc` (all `None` where there is no `/proc`).
    pub fn read() -> Self {
        let file = |path: &str| std::fs::read_to_string(path).ok();
        let mut stats = file("/proc/self/stat")
            .map(|stat| {
                let boot = file("/proc/stat").as_deref().and_then(boot_time);
                Self::from_stat(&stat, boot)
            })
            .unwrap_or_default();
        stats.resident_bytes = file("/proc/self/status")
            .as_deref()
            .and_then(resident_bytes);
        stats.max_fds = file("/proc/self/limits").as_deref().and_then(max_fds);
        stats.open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            // The directory's own descriptor, open while it is read, is not counted.
            .map(|d| d.count().saturating_sub(1) as f64);
        stats
    }

    /// The figures of a `/proc/<pid>/stat` line, with the start time when the boot time (Unix
    /// seconds) is known. The command name, in parentheses, may hold spaces and parentheses:
    /// the fields are those after its last `)`.
    pub fn from_stat(stat: &str, boot_time: Option<f64>) -> Self {
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        // Field n of proc(5) is fields[n - 3]: the list starts at field 3, the state.
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<f64>().ok());
        let cpu = field(14).zip(field(15)).map(|(u, s)| (u + s) / USER_HZ);
        Self {
            cpu_seconds: cpu,
            threads: field(20),
            start_time_seconds: boot_time.zip(field(22)).map(|(b, t)| b + t / USER_HZ),
            virtual_bytes: field(23),
            ..Self::default()
        }
    }
}

/// `btime` of `/proc/stat`: the boot time, Unix seconds.
fn boot_time(stat: &str) -> Option<f64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// `VmRSS` of `/proc/<pid>/status`, bytes (the file gives kB).
fn resident_bytes(status: &str) -> Option<f64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let mut words = line.split_whitespace();
    let value: f64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => Some(value * 1024.0),
        _ => None,
    }
}

/// The soft limit of `Max open files` in `/proc/<pid>/limits` (None when unlimited).
fn max_fds(limits: &str) -> Option<f64> {
    let line = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// The process metrics, read at each scrape.
#[derive(Debug)]
struct Process;

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let s = ProcessStats::read();
        if let Some(v) = s.cpu_seconds {
            let m = ConstCounter::new(v);
            m.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                m.metric_type(),
            )?)?;
        }
        for (name, help, value) in [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                s.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                s.virtual_bytes,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                s.start_time_seconds,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                s.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors.",
                s.max_fds,
            ),
            ("process_threads", "Number of OS threads.", s.threads),
        ] {
            if let Some(v) = value {
                let m = ConstGauge::new(v);
                m.encode(encoder.encode_descriptor(name, help, None, m.metric_type())?)?;
            }
        }
        Ok(())
    }
}

/// One sample line of a page: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name, with the suffix the line carries (`_total`, `_bucket`, `_sum`, `_count`).
    pub name: String,
    /// Label names and their unescaped values, in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A line of a page that is not valid text format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: &'static str,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// The samples of a page in the text format, version 0.0.4, checking every line: comments
/// are `# HELP name text`, `# TYPE name type` or free text; a sample has a valid metric name,
/// valid label names, quoted label values with only `\\`, `\"` and `\n` escapes, a value and
/// an optional integer timestamp.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let error = |message| ParseError {
            line: i + 1,
            message,
        };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            comment_line(comment.trim_start()).map_err(error)?;
        } else {
            samples.push(sample_line(line).map_err(error)?);
        }
    }
    Ok(samples)
}

fn comment_line(comment: &str) -> Result<(), &'static str> {
    let mut words = comment.splitn(3, ' ');
    match (words.next(), words.next(), words.next()) {
        (Some("HELP"), Some(name), _) if is_metric_name(name) => Ok(()),
        (Some("TYPE"), Some(name), Some(kind)) if is_metric_name(name) => match kind {
            "counter" | "gauge" | "histogram" | "summary" | "untyped" => Ok(()),
            _ => Err("unknown metric type"),
        },
        (Some("HELP" | "TYPE"), _, _) => Err("malformed HELP or TYPE line"),
        _ => Ok(()),
    }
}

fn sample_line(line: &str) -> Result<Sample, &'static str> {
    let end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..end];
    if !is_metric_name(name) {
        return Err("invalid metric name");
    }
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        rest = body;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or("label without a value")?;
            let key = &rest[..eq];
            if !is_label_name(key) {
                return Err("invalid label name");
            }
            let (value, after) = label_value(&rest[eq + 1..])?;
            labels.push((key.to_owned(), value));
            rest = after.strip_prefix(',').unwrap_or(after);
            if !after.starts_with([',', '}']) {
                return Err("expected , or } after a label value");
            }
        }
    }
    let mut fields = rest
        .strip_prefix(' ')
        .ok_or("no space before the value")?
        .split(' ');
    let value = fields.next().map(number).ok_or("no value")??;
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<i64>().map_err(|_| "invalid timestamp")?;
    }
    if fields.next().is_some() {
        return Err("text after the timestamp");
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// A quoted label value, unescaped, and the text after its closing quote.
fn label_value(text: &str) -> Result<(String, &str), &'static str> {
    let body = text.strip_prefix('"').ok_or("label value not quoted")?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &body[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, 'n')) => value.push('\n'),
                _ => return Err("invalid escape in a label value"),
            },
            c => value.push(c),
        }
    }
    Err("unterminated label value")
}

fn number(s: &str) -> Result<f64, &'static str> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        // Rust also reads `inf` and `nan` spelled other ways, which the format does not allow.
        _ if s.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E') => {
            Err("invalid value")
        }
        _ => s.parse().map_err(|_| "invalid value"),
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::histogram::Histogram;
    use std::sync::atomic::AtomicU64;

    #[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
    struct Labels {
        server: String,
    }

    const AWKWARD: &str = "we\"ird\\name\nx";

    #[test]
    fn encodes_the_classic_text_format_with_escaped_labels() {
        let mut registry = Registry::default();
        let cycles = Family::<Labels, Counter>::default();
        registry.register("demo_cycles", "Cycles", cycles.clone());
        let cost = Gauge::<f64, AtomicU64>::default();
        registry.register("demo:cost", "Cost", cost.clone());
        let latency = Histogram::new([0.5, 1.0]);
        registry.register("demo_seconds", "Latency", latency.clone());
        cycles
            .get_or_create(&Labels {
                server: AWKWARD.into(),
            })
            .inc();
        cost.set(0.25);
        latency.observe(1.0);

        let text = encode(&registry);
        for line in [
            "# HELP demo_cycles_total Cycles.",
            "# TYPE demo_cycles_total counter",
            "demo_cycles_total{server=\"we\\\"ird\\\\name\\nx\"} 1",
            "# TYPE demo:cost gauge",
            "demo:cost 0.25",
            "demo_seconds_bucket{le=\"0.5\"} 0",
            "demo_seconds_bucket{le=\"1\"} 1",
            "demo_seconds_bucket{le=\"+Inf\"} 1",
            "demo_seconds_count 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        assert!(!text.contains("# EOF"), "{text}");

        let samples = parse(&text).unwrap();
        let cycle = samples
            .iter()
            .find(|s| s.name == "demo_cycles_total")
            .unwrap();
        assert_eq!(cycle.label("server"), Some(AWKWARD));
        assert_eq!(cycle.value, 1.0);
        let cost = samples.iter().find(|s| s.name == "demo:cost").unwrap();
        assert_eq!(cost.value, 0.25);
    }

    /// A `/proc/<pid>/stat` line whose command name holds a space and a parenthesis.
    const STAT: &str = "4242 (inferno (x) 1) S 1 4242 4242 0 -1 4194560 2500 0 0 0 \
        1234 567 0 0 20 0 9 0 250000 123456789 4321 18446744073709551615";

    #[test]
    fn process_figures_are_read_from_proc_formats() {
        let s = ProcessStats::from_stat(STAT, boot_time("cpu  1 2 3\nbtime 1700000000\n"));
        assert_eq!(s.cpu_seconds, Some(18.01), "(1234 + 567) ticks of 1/100 s");
        assert_eq!(s.threads, Some(9.0));
        assert_eq!(s.start_time_seconds, Some(1_700_002_500.0));
        assert_eq!(s.virtual_bytes, Some(123_456_789.0));
        // Without the boot time there is no start time; a line cut short gives nothing.
        assert_eq!(ProcessStats::from_stat(STAT, None).start_time_seconds, None);
        assert_eq!(
            ProcessStats::from_stat("4242 (x) S 1", None),
            ProcessStats::default()
        );
        assert_eq!(
            resident_bytes("Name:\tinferno\nVmRSS:\t   2048 kB\nThreads:\t9\n"),
            Some(2048.0 * 1024.0)
        );
        assert_eq!(resident_bytes("Name:\tkthreadd\n"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 1048576              files\n";
        assert_eq!(max_fds(limits), Some(1024.0));
        assert_eq!(
            max_fds("Max open files            unlimited            unlimited            files"),
            None
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_sensibly() {
        let s = ProcessStats::read();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = s.start_time_seconds.unwrap();
        assert!(
            start <= now + 1.0 && start > now - 86_400.0,
            "{start} vs {now}"
        );
        assert!(s.cpu_seconds.unwrap() >= 0.0);
        assert!(s.resident_bytes.unwrap() > 1e5, "{s:?}");
        assert!(
            s.virtual_bytes.unwrap() >= s.resident_bytes.unwrap(),
            "{s:?}"
        );
        assert!(
            s.open_fds.unwrap() >= 3.0 && s.threads.unwrap() >= 1.0,
            "{s:?}"
        );
    }

    #[test]
    fn the_common_families_are_a_valid_page() {
        let text = common();
        let samples = parse(&text).unwrap();
        let build = samples
            .iter()
            .find(|s| s.name == "inferno_build_info")
            .unwrap();
        assert_eq!(build.value, 1.0);
        assert_eq!(build.label("revision"), Some(REVISION));
        assert!(build.label("program").is_some_and(|p| !p.is_empty()));
        let profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        assert_eq!(build.label("profile"), Some(profile));
        assert!(text.contains("# TYPE inferno_build_info gauge"), "{text}");
        if cfg!(target_os = "linux") {
            for line in [
                "# TYPE process_cpu_seconds_total counter",
                "# TYPE process_resident_memory_bytes gauge",
                "# TYPE process_start_time_seconds gauge",
                "# TYPE process_open_fds gauge",
                "# TYPE process_max_fds gauge",
                "# TYPE process_virtual_memory_bytes gauge",
                "# TYPE process_threads gauge",
            ] {
                assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
            }
        }
    }

    #[test]
    fn parse_refuses_what_prometheus_refuses() {
        for (text, message) in [
            ("a{b=\"c} 1", "unterminated label value"),
            ("a{b=\"c\\t\"} 1", "invalid escape in a label value"),
            ("a{b=c} 1", "label value not quoted"),
            ("a{1b=\"c\"} 1", "invalid label name"),
            ("a{b=\"c\"d=\"e\"} 1", "expected , or } after a label value"),
            ("1a 1", "invalid metric name"),
            ("a-b 1", "invalid metric name"),
            ("a 1x", "invalid value"),
            ("a inf", "invalid value"),
            ("a", "no value"),
            ("a 1 2 3", "text after the timestamp"),
            ("# TYPE a countr", "unknown metric type"),
        ] {
            let err = parse(&format!("ok 1\n{text}\n")).unwrap_err();
            assert_eq!(err, ParseError { line: 2, message }, "{text}");
        }
        let samples = parse("# free comment\na{b=\"c\",} +Inf 17\nb:c 1e-7\n").unwrap();
        assert_eq!(samples[0].value, f64::INFINITY);
        assert_eq!(samples[0].label("b"), Some("c"));
        assert_eq!(samples[1].value, 1e-7);
    }
}
