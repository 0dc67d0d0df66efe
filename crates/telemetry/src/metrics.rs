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

use prometheus_client::encoding::prometheus_text;
pub use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`encode`] writes: `text/plain; version=0.0.4; charset=utf-8`.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// `registry` in the Prometheus text format, version 0.0.4.
pub fn encode(registry: &Registry) -> String {
    let mut out = String::with_capacity(4096);
    // Writing into a String cannot fail, and our metrics' encoders only fail on a failed write.
    prometheus_text::encode(&mut out, registry).expect("writing to a String does not fail");
    out
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
